/*
 * mmio-guest: a bare-metal 32-bit multiboot guest that drives QEMU's e1000
 * with an exact, known number of MMIO and PIO accesses, so that vexitprof's
 * counts can be checked against the truth under real KVM and under TCG.
 *
 * Command line (-append), tokens "key=value", numbers decimal or 0x-hex:
 *   status=N icr=N          N 32-bit reads of STATUS (0x08) / ICR (0xC0)
 *   tdt=N ims=N imc=N rdt=N N 32-bit writes of 0 to TDT (0x3818), IMS (0xD0),
 *                           IMC (0xD8), RDT (0x2818; QEMU coalesces it)
 *   vga=N                   N byte writes to N distinct addresses of the
 *                           legacy VGA window, 0xA0000 + i (i < N <= 131072;
 *                           QEMU's "vga-lowmem" when a VGA exists).  They run
 *                           first: a device with a large RAM-like window must
 *                           not cost a profiler the e1000's counts.
 *   p80=N                   N byte writes to port 0x80 (ioport80: no side
 *                           effect, the cheapest exit that reaches QEMU)
 *   hold=1                  print "VEXIT-HOLD" and wait for one byte on COM1
 *                           before touching PCI or the device
 *   loop=1                  repeat the accesses forever (a steady load)
 *   devid=0x100e            PCI device id to look for (vendor 0x8086)
 * The accesses run in the order listed above (VGA writes first, then all
 * STATUS reads, all ICR reads, ...), between the lines "VEXIT-BEGIN" and "VEXIT-END tsc=<cycles>".
 *
 * The final line states what was done, e.g.
 *   VEXIT-RESULT ok id=8086:100e bdf=00:03.0 bar0=0xfebc0000 status=0 icr=500
 *   tdt=1000 ims=0 imc=0 rdt=0 vga=0 p80=0 pio_cf8=5 pio_cfc=5 com1_rx=0 com1_lsr=0
 *   com1_tx=180 com1_tx_all=195 tsc=123456
 * All PIO counts cover the "measured phase", which starts right after the
 * hold line (or, without hold=1, after the banner line) and ends with the
 * result line's own newline, so com1_tx includes the result line itself.
 * com1_tx_all counts every byte written to COM1 since boot.  com1_lsr counts
 * reads of 0x3FD (polls while holding; a profiler attached during the hold
 * sees only the polls after it attached), com1_rx reads of 0x3F8.  After the
 * line the guest writes once to port 0xF4 (isa-debug-exit): QEMU then exits
 * with status 1 after "ok", 3 after "fail".  Without that device the guest
 * halts with interrupts off.
 */
#include <stdint.h>
#include <stddef.h>

#define COM1	     0x3F8
#define COM1_LSR     (COM1 + 5)
#define LSR_DR	     0x01
#define PCI_ADDR     0xCF8
#define PCI_DATA     0xCFC
#define DEBUG_EXIT   0xF4
#define E1000_VENDOR 0x8086

#define REG_STATUS 0x0008
#define REG_ICR	   0x00C0
#define REG_IMS	   0x00D0
#define REG_IMC	   0x00D8
#define REG_RDT	   0x2818
#define REG_TDT	   0x3818

#define VGA_WINDOW     0xA0000u
#define VGA_WINDOW_LEN 0x20000u

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper, boot_device;
	uint32_t cmdline;
};
#define MB_INFO_CMDLINE (1u << 2)
#define MB_BOOT_MAGIC	0x2BADB002

/* Every port access goes through these counters: a test compares them
 * against what the host saw, so an uncounted access would be a bug. */
static struct {
	uint32_t cf8, cfc, com1_tx, com1_rx, com1_lsr, p80;
	uint32_t com1_tx_all;
} pio;

static struct {
	uint32_t status, icr, tdt, ims, imc, rdt, p80, vga;
	uint32_t hold, loop, devid;
} want = {.devid = 0x100e};

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* No LSR polling before each byte: QEMU's UART takes a THR write at any
 * time, and polling would add an unknowable number of exits to 0x3FD. */
static void putc_com1(char c)
{
	outb(COM1, (uint8_t)c);
	pio.com1_tx++;
	pio.com1_tx_all++;
}

static void puts_com1(const char *s)
{
	while (*s)
		putc_com1(*s++);
}

struct buf {
	char s[512];
	size_t n;
};

static void bput(struct buf *b, const char *s)
{
	while (*s && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = *s++;
	b->s[b->n] = 0;
}

static void bput_u64(struct buf *b, uint64_t v)
{
	char t[24];
	int i = 0;

	do {
		t[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i > 0 && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = t[--i];
	b->s[b->n] = 0;
}

static void bput_hex(struct buf *b, uint32_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";

	while (digits-- > 0 && b->n < sizeof(b->s) - 1)
		b->s[b->n++] = hex[(v >> (4 * digits)) & 0xf];
	b->s[b->n] = 0;
}

static void bput_kv(struct buf *b, const char *k, uint64_t v)
{
	bput(b, " ");
	bput(b, k);
	bput(b, "=");
	bput_u64(b, v);
}

static uint32_t pci_read(uint32_t bdf, uint32_t off)
{
	outl(PCI_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc));
	pio.cf8++;
	pio.cfc++;
	return inl(PCI_DATA);
}

static void pci_write16(uint32_t bdf, uint32_t off, uint16_t v)
{
	outl(PCI_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc));
	pio.cf8++;
	pio.cfc++;
	outw(PCI_DATA + (off & 2), v);
}

/* Only bus 0, function 0: QEMU puts -device e1000 there on pc and q35, and a
 * fixed scan keeps the number of config accesses predictable. */
static int pci_find(uint32_t id, uint32_t *bdf)
{
	for (uint32_t dev = 0; dev < 32; dev++) {
		if (pci_read(dev << 3, 0) == id) {
			*bdf = dev << 3;
			return 0;
		}
	}
	return -1;
}

/* Unrolled so that loop overhead (emulated instruction by instruction under
 * PVM) stays small next to the exits; each access is one mov. */
static void mmio_read_n(volatile uint32_t *r, uint32_t n)
{
	uint32_t v;

	for (; n >= 8; n -= 8) {
		v = *r;
		v = *r;
		v = *r;
		v = *r;
		v = *r;
		v = *r;
		v = *r;
		v = *r;
	}
	for (; n; n--)
		v = *r;
	(void)v;
}

static void mmio_write_n(volatile uint32_t *r, uint32_t n, uint32_t val)
{
	for (; n >= 8; n -= 8) {
		*r = val;
		*r = val;
		*r = val;
		*r = val;
		*r = val;
		*r = val;
		*r = val;
		*r = val;
	}
	for (; n; n--)
		*r = val;
}

static void p80_n(uint32_t n)
{
	for (; n >= 8; n -= 8) {
		outb(0x80, 0);
		outb(0x80, 0);
		outb(0x80, 0);
		outb(0x80, 0);
		outb(0x80, 0);
		outb(0x80, 0);
		outb(0x80, 0);
		outb(0x80, 0);
		pio.p80 += 8;
	}
	for (; n; n--) {
		outb(0x80, 0);
		pio.p80++;
	}
}

static int parse_num(const char *s, const char *end, uint32_t *out)
{
	uint32_t v = 0, base = 10;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (s == end)
		return -1;
	for (; s < end; s++) {
		uint32_t d;

		if (*s >= '0' && *s <= '9')
			d = (uint32_t)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (uint32_t)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (uint32_t)(*s - 'A' + 10);
		else
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

static int key_is(const char *k, const char *kend, const char *name)
{
	while (k < kend && *name && *k == *name) {
		k++;
		name++;
	}
	return k == kend && !*name;
}

/* Returns NULL or the first token that is not a known key=value. */
static const char *parse_cmdline(const char *s, size_t *badlen)
{
	static const struct {
		const char *name;
		uint32_t *val;
	} keys[] = {
	    {"status", &want.status}, {"icr", &want.icr},   {"tdt", &want.tdt},
	    {"ims", &want.ims},	      {"imc", &want.imc},   {"rdt", &want.rdt},
	    {"p80", &want.p80},	      {"hold", &want.hold}, {"loop", &want.loop},
	    {"devid", &want.devid},   {"vga", &want.vga},
	};
	int first = 1;

	while (*s) {
		const char *tok, *eq = NULL, *end;
		size_t i;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		tok = s;
		while (*s && *s != ' ') {
			if (*s == '=' && !eq)
				eq = s;
			s++;
		}
		end = s;
		/* QEMU's multiboot loader prepends the kernel's file name. */
		if (first && !eq) {
			first = 0;
			continue;
		}
		first = 0;
		for (i = 0; eq && i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (key_is(tok, eq, keys[i].name)) {
				if (parse_num(eq + 1, end, keys[i].val))
					break;
				goto next;
			}
		}
		*badlen = (size_t)(end - tok);
		return tok;
	next:;
	}
	return NULL;
}

/* One byte write per address: QEMU's VGA takes its legacy window one byte
 * at a time, so a wider store would be several dispatches. */
static void vga_n(uint32_t n)
{
	volatile uint8_t *w = (volatile uint8_t *)(uintptr_t)VGA_WINDOW;

	for (uint32_t i = 0; i < n; i++)
		w[i] = (uint8_t)i;
}

static void run_accesses(uint8_t *bar)
{
	vga_n(want.vga);
	mmio_read_n((volatile uint32_t *)(bar + REG_STATUS), want.status);
	mmio_read_n((volatile uint32_t *)(bar + REG_ICR), want.icr);
	mmio_write_n((volatile uint32_t *)(bar + REG_TDT), want.tdt, 0);
	mmio_write_n((volatile uint32_t *)(bar + REG_IMS), want.ims, 0);
	mmio_write_n((volatile uint32_t *)(bar + REG_IMC), want.imc, 0);
	mmio_write_n((volatile uint32_t *)(bar + REG_RDT), want.rdt, 0);
	p80_n(want.p80);
}

/* Emits the result line and leaves.  com1_tx must include the line itself,
 * whose length depends on the numbers in it: grow the guess until the
 * length stops changing (it only grows, so this ends in a step or two). */
static void __attribute__((noreturn))
finish(const char *verdict, const char *why, uint32_t id, uint32_t bdf, uint32_t bar0, uint64_t tsc)
{
	uint32_t tx0 = pio.com1_tx, all0 = pio.com1_tx_all, len = 0;
	struct buf b;

	for (;;) {
		b.n = 0;
		bput(&b, "VEXIT-RESULT ");
		bput(&b, verdict);
		if (why) {
			bput(&b, " reason=");
			bput(&b, why);
		}
		bput(&b, " id=");
		bput_hex(&b, id & 0xffff, 4);
		bput(&b, ":");
		bput_hex(&b, id >> 16, 4);
		bput(&b, " bdf=00:");
		bput_hex(&b, bdf >> 3, 2);
		bput(&b, ".");
		bput_hex(&b, bdf & 7, 1);
		bput(&b, " bar0=0x");
		bput_hex(&b, bar0, 8);
		bput_kv(&b, "status", want.status);
		bput_kv(&b, "icr", want.icr);
		bput_kv(&b, "tdt", want.tdt);
		bput_kv(&b, "ims", want.ims);
		bput_kv(&b, "imc", want.imc);
		bput_kv(&b, "rdt", want.rdt);
		bput_kv(&b, "vga", want.vga);
		bput_kv(&b, "p80", pio.p80);
		bput_kv(&b, "pio_cf8", pio.cf8);
		bput_kv(&b, "pio_cfc", pio.cfc);
		bput_kv(&b, "com1_rx", pio.com1_rx);
		bput_kv(&b, "com1_lsr", pio.com1_lsr);
		bput_kv(&b, "com1_tx", tx0 + len);
		bput_kv(&b, "com1_tx_all", all0 + len);
		bput_kv(&b, "tsc", tsc);
		bput(&b, "\n");
		if (b.n == len)
			break;
		len = (uint32_t)b.n;
	}
	puts_com1(b.s);
	outb(DEBUG_EXIT, why ? 1 : 0);
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void wait_release(void)
{
	for (;;) {
		uint64_t t0;

		pio.com1_lsr++;
		if (inb(COM1_LSR) & LSR_DR)
			break;
		/* Pace the polls so a held guest adds few exits to a profile. */
		t0 = rdtsc();
		while (rdtsc() - t0 < 2000000)
			__asm__ volatile("pause");
	}
	pio.com1_rx++;
	(void)inb(COM1);
}

void guest_main(uint32_t magic, const struct mb_info *mbi);

void guest_main(uint32_t magic, const struct mb_info *mbi)
{
	const char *cmdline = "";
	const char *bad;
	size_t badlen = 0;
	uint32_t id, bdf = 0, bar0 = 0, cmd;
	uint64_t t0, t1;

	if (magic == MB_BOOT_MAGIC && (mbi->flags & MB_INFO_CMDLINE))
		cmdline = (const char *)(uintptr_t)mbi->cmdline;

	puts_com1("VEXIT-GUEST mmio-guest cmdline: ");
	puts_com1(cmdline);
	puts_com1("\n");
	bad = parse_cmdline(cmdline, &badlen);
	if (want.hold)
		puts_com1("VEXIT-HOLD\n");
	pio.com1_tx = 0;
	if (bad) {
		static char tok[64];
		size_t i;

		for (i = 0; i < badlen && i < sizeof(tok) - 1; i++)
			tok[i] = bad[i];
		tok[i] = 0;
		finish("fail", tok, 0, 0, 0, 0);
	}
	/* beyond the window the addresses would not be distinct VGA offsets */
	if (want.vga > VGA_WINDOW_LEN)
		finish("fail", "vga-too-large", 0, 0, 0, 0);
	if (want.hold)
		wait_release();

	id = (want.devid << 16) | E1000_VENDOR;
	if (pci_find(id, &bdf))
		finish("fail", "no-device", id, 0, 0, 0);
	bar0 = pci_read(bdf, 0x10);
	if ((bar0 & 1) || (bar0 & ~0xfu) == 0)
		finish("fail", "bar0-not-memory", id, bdf, bar0, 0);
	bar0 &= ~0xfu;
	cmd = pci_read(bdf, 0x04) & 0xffff;
	/* Memory decoding and bus mastering, as a driver would set them. */
	pci_write16(bdf, 0x04, (uint16_t)(cmd | 0x6));

	puts_com1("VEXIT-BEGIN\n");
	t0 = rdtsc();
	run_accesses((uint8_t *)(uintptr_t)bar0);
	t1 = rdtsc();
	if (want.loop) {
		uint64_t pass = 1;
		struct buf b;

		for (;;) {
			b.n = 0;
			bput(&b, "VEXIT-LOOP pass=");
			bput_u64(&b, pass++);
			bput(&b, "\n");
			puts_com1(b.s);
			run_accesses((uint8_t *)(uintptr_t)bar0);
		}
	}
	{
		struct buf b = {.n = 0};

		bput(&b, "VEXIT-END tsc=");
		bput_u64(&b, t1 - t0);
		bput(&b, "\n");
		puts_com1(b.s);
	}
	finish("ok", NULL, id, bdf, bar0, t1 - t0);
}
