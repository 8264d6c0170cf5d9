// SPDX-License-Identifier: GPL-2.0
/*
 * Register and I/O port names.  The e1000 map is the Intel 8254x/8257x
 * register set as QEMU's e1000 and e1000e models know it (hw/net/e1000_regs.h,
 * e1000x_regs.h, e1000_common.h); arrays use QEMU's word indexing, so the
 * index shown is the one QEMU's mac_reg[] uses.  The virtio layouts follow
 * the virtio 1.x PCI transport as QEMU 10 implements it.
 */
#include "regnames.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct reg {
	uint32_t off;
	const char *name;
};

/* Several offsets have more than one name in the headers (RDBAL/RDBAL0,
 * POEMB/PHY_CTRL, RXCFGL/RXMTRL); the table keeps one, the one in QEMU's
 * e1000_common.h register enum. */
static const struct reg e1000_regs[] = {
    {0x00000, "CTRL"},
    {0x00004, "CTRL_DUP"},
    {0x00008, "STATUS"},
    {0x00010, "EECD"},
    {0x00014, "EERD"},
    {0x00018, "CTRL_EXT"},
    {0x0001C, "FLA"},
    {0x00020, "MDIC"},
    {0x00024, "SCTL"},
    {0x00028, "FCAL"},
    {0x0002C, "FCAH"},
    {0x00030, "FCT"},
    {0x00034, "KUMCTRLSTA"},
    {0x00038, "VET"},
    {0x0003C, "MDPHYA"},
    {0x000C0, "ICR"},
    {0x000C4, "ITR"},
    {0x000C8, "ICS"},
    {0x000D0, "IMS"},
    {0x000D8, "IMC"},
    {0x000DC, "EIAC"},
    {0x000E0, "IAM"},
    {0x000E4, "IVAR"},
    {0x000E8, "EITR"},
    {0x00100, "RCTL"},
    {0x00108, "RDTR_A"},
    {0x00110, "RDBAL0_A"},
    {0x00114, "RDBAH0_A"},
    {0x00118, "RDLEN0_A"},
    {0x00120, "RDH0_A"},
    {0x00128, "RDT0_A"},
    {0x00160, "FCRTH_A"},
    {0x00168, "FCRTL_A"},
    {0x00170, "FCTTV"},
    {0x00178, "TXCW"},
    {0x00180, "RXCW"},
    {0x00400, "TCTL"},
    {0x00404, "TCTL_EXT"},
    {0x00410, "TIPG"},
    {0x00420, "TDBAL_A"},
    {0x00424, "TDBAH_A"},
    {0x00428, "TDLEN_A"},
    {0x00430, "TDH_A"},
    {0x00438, "TDT_A"},
    {0x00440, "TIDV_A"},
    {0x00448, "TBT"},
    {0x00458, "AIT"},
    {0x00E00, "LEDCTL"},
    {0x00F00, "EXTCNF_CTRL"},
    {0x00F08, "EXTCNF_SIZE"},
    {0x00F10, "POEMB"},
    {0x01000, "PBA"},
    {0x01008, "PBS"},
    {0x01010, "EEMNGCTL"},
    {0x01014, "EEMNGDATA"},
    {0x01018, "FLMNGCTL"},
    {0x0101C, "FLMNGDATA"},
    {0x01020, "FLMNGCNT"},
    {0x01024, "EEARBC"},
    {0x01028, "FLASHT"},
    {0x0102C, "EEWR"},
    {0x01030, "FLSWCTL"},
    {0x01034, "FLSWDATA"},
    {0x01038, "FLSWCNT"},
    {0x0103C, "FLOP"},
    {0x01050, "FLOL"},
    {0x02008, "ERT"},
    {0x02160, "FCRTL"},
    {0x02168, "FCRTH"},
    {0x02170, "PSRCTL"},
    {0x02410, "RDFH"},
    {0x02418, "RDFT"},
    {0x02420, "RDFHS"},
    {0x02428, "RDFTS"},
    {0x02430, "RDFPC"},
    {0x02800, "RDBAL"},
    {0x02804, "RDBAH"},
    {0x02808, "RDLEN"},
    {0x02810, "RDH"},
    {0x02818, "RDT"},
    {0x02820, "RDTR"},
    {0x02828, "RXDCTL"},
    {0x0282C, "RADV"},
    {0x02900, "RDBAL1"},
    {0x02904, "RDBAH1"},
    {0x02908, "RDLEN1"},
    {0x02910, "RDH1"},
    {0x02918, "RDT1"},
    {0x02928, "RXDCTL1"},
    {0x02C00, "RSRPD"},
    {0x02C08, "RAID"},
    {0x02C10, "CPUVEC"},
    {0x03000, "TXDMAC"},
    {0x03410, "TDFH"},
    {0x03418, "TDFT"},
    {0x03420, "TDFHS"},
    {0x03428, "TDFTS"},
    {0x03430, "TDFPC"},
    {0x03800, "TDBAL"},
    {0x03804, "TDBAH"},
    {0x03808, "TDLEN"},
    {0x03810, "TDH"},
    {0x03818, "TDT"},
    {0x03820, "TIDV"},
    {0x03828, "TXDCTL"},
    {0x0382C, "TADV"},
    {0x03830, "TSPMT"},
    {0x03840, "TARC0"},
    {0x03900, "TDBAL1"},
    {0x03904, "TDBAH1"},
    {0x03908, "TDLEN1"},
    {0x03910, "TDH1"},
    {0x03918, "TDT1"},
    {0x03928, "TXDCTL1"},
    {0x03940, "TARC1"},
    /* Statistics, clear on read. */
    {0x04000, "CRCERRS"},
    {0x04004, "ALGNERRC"},
    {0x04008, "SYMERRS"},
    {0x0400C, "RXERRC"},
    {0x04010, "MPC"},
    {0x04014, "SCC"},
    {0x04018, "ECOL"},
    {0x0401C, "MCC"},
    {0x04020, "LATECOL"},
    {0x04028, "COLC"},
    {0x04030, "DC"},
    {0x04034, "TNCRS"},
    {0x04038, "SEQEC"},
    {0x0403C, "CEXTERR"},
    {0x04040, "RLEC"},
    {0x04048, "XONRXC"},
    {0x0404C, "XONTXC"},
    {0x04050, "XOFFRXC"},
    {0x04054, "XOFFTXC"},
    {0x04058, "FCRUC"},
    {0x0405C, "PRC64"},
    {0x04060, "PRC127"},
    {0x04064, "PRC255"},
    {0x04068, "PRC511"},
    {0x0406C, "PRC1023"},
    {0x04070, "PRC1522"},
    {0x04074, "GPRC"},
    {0x04078, "BPRC"},
    {0x0407C, "MPRC"},
    {0x04080, "GPTC"},
    {0x04088, "GORCL"},
    {0x0408C, "GORCH"},
    {0x04090, "GOTCL"},
    {0x04094, "GOTCH"},
    {0x040A0, "RNBC"},
    {0x040A4, "RUC"},
    {0x040A8, "RFC"},
    {0x040AC, "ROC"},
    {0x040B0, "RJC"},
    {0x040B4, "MGTPRC"},
    {0x040B8, "MGTPDC"},
    {0x040BC, "MGTPTC"},
    {0x040C0, "TORL"},
    {0x040C4, "TORH"},
    {0x040C8, "TOTL"},
    {0x040CC, "TOTH"},
    {0x040D0, "TPR"},
    {0x040D4, "TPT"},
    {0x040D8, "PTC64"},
    {0x040DC, "PTC127"},
    {0x040E0, "PTC255"},
    {0x040E4, "PTC511"},
    {0x040E8, "PTC1023"},
    {0x040EC, "PTC1522"},
    {0x040F0, "MPTC"},
    {0x040F4, "BPTC"},
    {0x040F8, "TSCTC"},
    {0x040FC, "TSCTFC"},
    {0x04100, "IAC"},
    {0x04104, "ICRXPTC"},
    {0x04108, "ICRXATC"},
    {0x0410C, "ICTXPTC"},
    {0x04110, "ICTXATC"},
    {0x04118, "ICTXQEC"},
    {0x0411C, "ICTXQMTC"},
    {0x04120, "ICRXDMTC"},
    {0x04124, "ICRXOC"},
    {0x05000, "RXCSUM"},
    {0x05008, "RFCTL"},
    {0x05010, "MAVTV0"},
    {0x05014, "MAVTV1"},
    {0x05018, "MAVTV2"},
    {0x0501C, "MAVTV3"},
    {0x05800, "WUC"},
    {0x05808, "WUFC"},
    {0x05810, "WUS"},
    {0x05818, "MRQC"},
    {0x05820, "MANC"},
    {0x05824, "MFVAL"},
    {0x05828, "MFUTP01"},
    {0x05830, "MFUTP23"},
    {0x05838, "IPAV"},
    {0x05860, "MANC2H"},
    {0x05864, "RSSIM"},
    {0x05868, "RSSIR"},
    {0x05900, "WUPL"},
    {0x05B00, "GCR"},
    {0x05B08, "FUNCTAG"},
    {0x05B10, "GSCL_1"},
    {0x05B14, "GSCL_2"},
    {0x05B18, "GSCL_3"},
    {0x05B1C, "GSCL_4"},
    {0x05B20, "GSCN_0"},
    {0x05B24, "GSCN_1"},
    {0x05B28, "GSCN_2"},
    {0x05B2C, "GSCN_3"},
    {0x05B30, "FACTPS"},
    {0x05B50, "SWSM"},
    {0x05B54, "FWSM"},
    {0x05B5C, "SW_FW_SYNC"},
    {0x05B64, "GCR2"},
    {0x05B68, "PBACLR"},
    {0x05F40, "FCRTV"},
    {0x08000, "RDFH_A"},
    {0x08008, "RDFT_A"},
    {0x08010, "TDFH_A"},
    {0x08018, "TDFT_A"},
    {0x08F00, "HICR"},
    {0x0B600, "SYSTIML"},
    {0x0B604, "SYSTIMH"},
    {0x0B608, "TIMINCA"},
    {0x0B60C, "TIMADJL"},
    {0x0B610, "TIMADJH"},
    {0x0B614, "TSYNCTXCTL"},
    {0x0B618, "TXSTMPL"},
    {0x0B61C, "TXSTMPH"},
    {0x0B620, "TSYNCRXCTL"},
    {0x0B624, "RXSTMPL"},
    {0x0B628, "RXSTMPH"},
    {0x0B62C, "RXSATRL"},
    {0x0B630, "RXSATRH"},
    {0x0B634, "RXCFGL"},
    {0x0B638, "RXUDP"},
};

struct reg_array {
	uint32_t base, words;
	const char *name;
};

/* Word counts as in QEMU's e1000.c macreg tables where it has the array,
 * else from the 8257x datasheets.  Sorted by base. */
static const struct reg_array e1000_arrays[] = {
    {0x00040, 32, "RA_A"},     /* receive addresses, 82542 alias */
    {0x00600, 128, "VFTA_A"},  /* VLAN filter table, 82542 alias */
    {0x05200, 128, "MTA"},     /* multicast table */
    {0x05400, 32, "RA"},       /* receive addresses: RAL, RAH pairs */
    {0x05600, 128, "VFTA"},    /* VLAN filter table */
    {0x05840, 7, "IP4AT"},     /* IPv4 address table */
    {0x05880, 4, "IP6AT"},     /* IPv6 address table */
    {0x05890, 8, "MDEF"},      /* manageability decision filters */
    {0x05A00, 32, "WUPM"},     /* wakeup packet memory */
    {0x05C00, 32, "RETA"},     /* RSS redirection table */
    {0x05C80, 10, "RSSRK"},    /* RSS random key */
    {0x05F00, 7, "FFLT"},      /* flexible filter length table */
    {0x08800, 448, "HOST_IF"}, /* host interface buffer */
    {0x09000, 255, "FFMT"},    /* flexible filter mask table */
    {0x09400, 64, "FTFT"},     /* flexible TCO filter table */
    {0x09800, 255, "FFVT"},    /* flexible filter value table */
    {0x10000, 16384, "PBM"},   /* packet buffer memory */
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Writes the formatted name to buf; NULL when there is no buf to write to. */
static const char *put(char *buf, size_t buflen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *put(char *buf, size_t buflen, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !buflen)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(buf, buflen, fmt, ap);
	va_end(ap);
	return buf;
}

/* A fixed name: static when there is no buffer, copied otherwise. */
static const char *fixed(char *buf, size_t buflen, const char *name, uint64_t within)
{
	if (!within)
		return buf && buflen ? put(buf, buflen, "%s", name) : name;
	return put(buf, buflen, "%s+%llu", name, (unsigned long long)within);
}

static const char *unknown(char *buf, size_t buflen, uint64_t off)
{
	return put(buf, buflen, "+0x%llx", (unsigned long long)off);
}

static const char *e1000_lookup(uint64_t off, char *buf, size_t buflen)
{
	uint64_t word = off & ~3ull, within = off & 3;
	size_t lo = 0, hi = ARRAY_LEN(e1000_regs), i;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (e1000_regs[mid].off == word)
			return fixed(buf, buflen, e1000_regs[mid].name, within);
		if (e1000_regs[mid].off < word)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = 0; i < ARRAY_LEN(e1000_arrays); i++) {
		const struct reg_array *a = &e1000_arrays[i];

		if (word >= a->base && word < a->base + 4ull * a->words) {
			if (within)
				return put(buf, buflen, "%s[%llu]+%llu", a->name,
					   (unsigned long long)(word - a->base) / 4,
					   (unsigned long long)within);
			return put(buf, buflen, "%s[%llu]", a->name,
				   (unsigned long long)(word - a->base) / 4);
		}
	}
	return unknown(buf, buflen, off);
}

/* e1000's I/O BAR: an indirect window onto the MMIO registers. */
static const char *e1000_io_lookup(uint64_t off, char *buf, size_t buflen)
{
	if (off < 4)
		return fixed(buf, buflen, "IOADDR", off);
	if (off < 8)
		return fixed(buf, buflen, "IODATA", off - 4);
	return unknown(buf, buflen, off);
}

struct field {
	uint32_t off, size;
	const char *name;
};

static const char *field_lookup(const struct field *f, size_t n, uint64_t off, char *buf,
				size_t buflen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (off >= f[i].off && off < f[i].off + f[i].size)
			return fixed(buf, buflen, f[i].name, off - f[i].off);
	}
	return unknown(buf, buflen, off);
}

/* struct virtio_pci_common_cfg, then the virtio 1.2 additions. */
static const struct field virtio_common[] = {
    {0, 4, "device_feature_select"}, {4, 4, "device_feature"},	   {8, 4, "guest_feature_select"},
    {12, 4, "guest_feature"},	     {16, 2, "msix_config"},	   {18, 2, "num_queues"},
    {20, 1, "device_status"},	     {21, 1, "config_generation"}, {22, 2, "queue_select"},
    {24, 2, "queue_size"},	     {26, 2, "queue_msix_vector"}, {28, 2, "queue_enable"},
    {30, 2, "queue_notify_off"},     {32, 4, "queue_desc_lo"},	   {36, 4, "queue_desc_hi"},
    {40, 4, "queue_avail_lo"},	     {44, 4, "queue_avail_hi"},	   {48, 4, "queue_used_lo"},
    {52, 4, "queue_used_hi"},	     {56, 2, "queue_notify_data"}, {58, 2, "queue_reset"},
    {60, 2, "admin_queue_index"},    {62, 2, "admin_queue_num"},
};

/* Legacy (0.9.5) I/O BAR header; the MSI-X vector registers exist only
 * while the guest has MSI-X enabled, which every current driver does, so
 * the device config is taken to start at 24. */
static const struct field virtio_legacy[] = {
    {0, 4, "HOST_FEATURES"},	 {4, 4, "GUEST_FEATURES"}, {8, 4, "QUEUE_PFN"},
    {12, 2, "QUEUE_NUM"},	 {14, 2, "QUEUE_SEL"},	   {16, 2, "QUEUE_NOTIFY"},
    {18, 1, "STATUS"},		 {19, 1, "ISR"},	   {20, 2, "MSI_CONFIG_VECTOR"},
    {22, 2, "MSI_QUEUE_VECTOR"},
};

/* struct virtio_net_config. */
static const struct field virtio_net_cfg[] = {
    {6, 2, "status"},
    {8, 2, "max_virtqueue_pairs"},
    {10, 2, "mtu"},
    {12, 4, "speed"},
    {16, 1, "duplex"},
    {17, 1, "rss_max_key_size"},
    {18, 2, "rss_max_indirection_table_length"},
    {20, 4, "supported_hash_types"},
};

static const char *virtio_common_lookup(uint64_t off, char *buf, size_t buflen)
{
	return field_lookup(virtio_common, ARRAY_LEN(virtio_common), off, buf, buflen);
}

/* QEMU spaces queue doorbells 4 bytes apart, or a page apart with
 * page-per-vq=on; its notify region is 1024 queues long either way, so an
 * offset from 4 KiB up can only be the page-per-vq layout. */
static const char *virtio_notify_lookup(uint64_t off, char *buf, size_t buflen)
{
	uint64_t mult = off >= 0x1000 ? 0x1000 : 4;

	if (off % mult)
		return put(buf, buflen, "notify[%llu]+%llu", (unsigned long long)(off / mult),
			   (unsigned long long)(off % mult));
	return put(buf, buflen, "notify[%llu]", (unsigned long long)(off / mult));
}

/* The PIO doorbell takes the queue index as the written value. */
static const char *virtio_notify_pio_lookup(uint64_t off, char *buf, size_t buflen)
{
	return off < 4 ? fixed(buf, buflen, "notify", off) : unknown(buf, buflen, off);
}

static const char *virtio_isr_lookup(uint64_t off, char *buf, size_t buflen)
{
	return off == 0 ? fixed(buf, buflen, "isr", 0) : unknown(buf, buflen, off);
}

static const char *virtio_net_cfg_lookup(uint64_t off, char *buf, size_t buflen)
{
	if (off < 6)
		return put(buf, buflen, "mac[%llu]", (unsigned long long)off);
	return field_lookup(virtio_net_cfg, ARRAY_LEN(virtio_net_cfg), off, buf, buflen);
}

static const char *virtio_legacy_lookup(uint64_t off, char *buf, size_t buflen)
{
	if (off < 24)
		return field_lookup(virtio_legacy, ARRAY_LEN(virtio_legacy), off, buf, buflen);
	return put(buf, buflen, "config+%llu", (unsigned long long)(off - 24));
}

static const char *msix_table_lookup(uint64_t off, char *buf, size_t buflen)
{
	static const char *const part[] = {"msg_addr_lo", "msg_addr_hi", "msg_data", "vector_ctrl"};

	if (off & 3)
		return put(buf, buflen, "entry[%llu].%s+%llu", (unsigned long long)(off / 16),
			   part[(off / 4) % 4], (unsigned long long)(off & 3));
	return put(buf, buflen, "entry[%llu].%s", (unsigned long long)(off / 16),
		   part[(off / 4) % 4]);
}

static const char *msix_pba_lookup(uint64_t off, char *buf, size_t buflen)
{
	return put(buf, buflen, "pending[%llu]", (unsigned long long)(off / 8));
}

/* 16550 UART: one name per port; DLAB=1 turns 0/1 into the divisor latch. */
static const char *serial_lookup(uint64_t off, char *buf, size_t buflen)
{
	static const char *const names[] = {"RBR/THR", "IER", "IIR/FCR", "LCR",
					    "MCR",     "LSR", "MSR",	 "SCR"};

	return off < 8 ? fixed(buf, buflen, names[off], 0) : unknown(buf, buflen, off);
}

static const char *pci_conf_idx_lookup(uint64_t off, char *buf, size_t buflen)
{
	return off < 4 ? fixed(buf, buflen, "CONFIG_ADDRESS", off) : unknown(buf, buflen, off);
}

static const char *pci_conf_data_lookup(uint64_t off, char *buf, size_t buflen)
{
	return off < 4 ? fixed(buf, buflen, "CONFIG_DATA", off) : unknown(buf, buflen, off);
}

struct region {
	const char *name;
	int prefix; /* name is a prefix: QEMU appends the virtio device's name */
	const char *(*lookup)(uint64_t off, char *buf, size_t buflen);
};

/* "virtio-pci-notify-pio-" must come before its prefix "virtio-pci-notify-". */
static const struct region regions[] = {
    {"e1000-mmio", 0, e1000_lookup},
    {"e1000e-mmio", 0, e1000_lookup},
    {"e1000-io", 0, e1000_io_lookup},
    {"virtio-pci-common-", 1, virtio_common_lookup},
    {"virtio-pci-notify-pio-", 1, virtio_notify_pio_lookup},
    {"virtio-pci-notify-", 1, virtio_notify_lookup},
    {"virtio-pci-isr-", 1, virtio_isr_lookup},
    {"virtio-pci-device-virtio-net", 0, virtio_net_cfg_lookup},
    {"virtio-pci", 0, virtio_legacy_lookup},
    {"msix-table", 0, msix_table_lookup},
    {"msix-pba", 0, msix_pba_lookup},
    {"serial", 0, serial_lookup},
    {"pci-conf-idx", 0, pci_conf_idx_lookup},
    {"pci-conf-data", 0, pci_conf_data_lookup},
};

const char *regname_lookup(const char *region_name, uint64_t offset, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; region_name && i < ARRAY_LEN(regions); i++) {
		const struct region *r = &regions[i];
		size_t n = strlen(r->name);

		if (r->prefix ? !strncmp(region_name, r->name, n) : !strcmp(region_name, r->name))
			return r->lookup(offset, buf, buflen);
	}
	return unknown(buf, buflen, offset);
}

struct port_range {
	uint16_t lo, hi;
	const char *name;
};

/* From QEMU 10's I/O address space ("info mtree") on pc and q35 after
 * SeaBIOS has set up ACPI; PCI I/O BARs (0xc000 up) are assigned at boot
 * and cannot be named here.  Sorted by port. */
static const struct port_range ports[] = {
    {0x0000, 0x000f, "DMA1"},
    {0x0020, 0x0021, "PIC"},
    {0x0040, 0x0043, "PIT"},
    {0x0060, 0x0060, "i8042"},
    {0x0061, 0x0061, "PCSPK"},
    {0x0064, 0x0064, "i8042"},
    {0x0070, 0x0071, "RTC"},
    {0x007e, 0x007f, "kvmvapic"},
    {0x0080, 0x0080, "POST"},
    {0x0081, 0x008f, "DMA page"},
    {0x0092, 0x0092, "port92"},
    {0x00a0, 0x00a1, "PIC2"},
    {0x00b2, 0x00b3, "APM"},
    {0x00c0, 0x00df, "DMA2"},
    {0x00e9, 0x00e9, "debugcon"},
    {0x00f0, 0x00f0, "FPU"},
    {0x00f4, 0x00f7, "isa-debug-exit"},
    {0x0170, 0x0177, "IDE2"},
    {0x01f0, 0x01f7, "IDE1"},
    {0x02e8, 0x02ef, "COM4"},
    {0x02f8, 0x02ff, "COM2"},
    {0x0376, 0x0376, "IDE2"},
    {0x0378, 0x037f, "LPT1"},
    {0x03b0, 0x03df, "VGA"},
    {0x03e8, 0x03ef, "COM3"},
    {0x03f0, 0x03f5, "FDC"},
    {0x03f6, 0x03f6, "IDE1"},
    {0x03f7, 0x03f7, "FDC"},
    {0x03f8, 0x03ff, "COM1"},
    {0x0402, 0x0402, "debugcon"},
    {0x04d0, 0x04d1, "ELCR"},
    {0x0505, 0x0505, "pvpanic"},
    {0x0510, 0x0511, "fw_cfg"},
    {0x0514, 0x051b, "fw_cfg DMA"},
    {0x0600, 0x067f, "ACPI PM"}, /* PIIX4 0x600-0x63f; ICH9 0x600-0x67f with TCO */
    {0x0700, 0x073f, "SMBus"},
    {0x0cc0, 0x0cd7, "ACPI PCI hotplug"}, /* q35 */
    {0x0cd8, 0x0cf7, "ACPI CPU hotplug"}, /* q35 */
    {0x0cf8, 0x0cf8, "PCI_CONFIG_ADDR"},
    /* Byte accesses only; a 32-bit access at 0xcf8 is PCI_CONFIG_ADDR. */
    {0x0cf9, 0x0cf9, "RST_CNT"},
    {0x0cfa, 0x0cfb, "PCI_CONFIG_ADDR"},
    {0x0cfc, 0x0cff, "PCI_CONFIG_DATA"},
    {0x5658, 0x5658, "vmport"},
    {0xae00, 0xae17, "ACPI PCI hotplug"}, /* pc */
    {0xaf00, 0xaf1f, "ACPI CPU hotplug"}, /* pc */
    {0xafe0, 0xafe3, "ACPI GPE0"},	  /* pc */
};

const char *pioname_lookup(uint16_t port)
{
	size_t lo = 0, hi = ARRAY_LEN(ports);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (port < ports[mid].lo)
			hi = mid;
		else if (port > ports[mid].hi)
			lo = mid + 1;
		else
			return ports[mid].name;
	}
	return NULL;
}
