// SPDX-License-Identifier: GPL-2.0
/* The cost of one USDT probe hit (serve_calib.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cost.h"
#include "serve_calib.h"
#include "serve_usdt.h"

/*
 * The probe sits on cost.c's 1-byte nop, which the kernel emulates after
 * the trap (a 5-byte one Linux 6.18 turns into a call after its first hit:
 * 1.25 us here against 5-7 us; QEMU's probes are 5-byte nops, yet their
 * hits cost as much as the trap, see serve.c's calibrate()).  The twin is
 * the same code without a probe: the difference of the two is the trap.
 */
__attribute__((noinline)) static void twin1(int i)
{
	__asm__ volatile("nop\n" : : "r"(i) : "memory");
}
/* addr's offset in the file mapped there (/proc/self/maps), or 0 */
static __u64 file_offset(const void *addr)
{
	unsigned long a = (unsigned long)addr, lo, hi, off;
	__u64 r = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) == 3 && a >= lo && a < hi) {
			r = a - lo + off;
			break;
		}
	fclose(f);
	return r;
}

/* an empty uprobe_multi program, its fd or -errno */
static int empty_prog(void)
{
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = TRACE_UPROBE_MULTI);
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "vp_calib", "GPL", insns, 2, &o);

	return fd < 0 ? -errno : fd;
}

static int attach(int prog, __u64 off)
{
	union bpf_attr attr;
	struct link_create_umulti lc = {
	    .prog_fd = prog,
	    .attach_type = TRACE_UPROBE_MULTI,
	    .path = (__u64)(unsigned long)"/proc/self/exe",
	    .offsets = (__u64)(unsigned long)&off,
	    .cnt = 1,
	    .pid = getpid(),
	};

	memset(&attr, 0, sizeof(attr));
	memcpy(&attr, &lc, sizeof(lc));
	return syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
}

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double time_calls(void (*f)(int), int n)
{
	double t = thread_cpu();

	for (int i = 0; i < n; i++)
		f(i);
	return thread_cpu() - t;
}

struct calib {
	int prog, link;
};

struct calib *calib_new(void)
{
	__u64 off = file_offset(vexitprof_calib_nop1);
	struct calib *c;

	if (!off)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->prog = empty_prog();
	c->link = c->prog >= 0 ? attach(c->prog, off) : -1;
	if (c->link < 0) {
		calib_free(c);
		return NULL;
	}
	vexitprof_calib_target1(0); /* fault the probe page in */
	return c;
}

void calib_free(struct calib *c)
{
	if (!c)
		return;
	if (c->link >= 0)
		close(c->link);
	if (c->prog >= 0)
		close(c->prog);
	free(c);
}

double calib_sample(struct calib *c, int calls)
{
	double with, base;

	(void)c;
	with = time_calls(vexitprof_calib_target1, calls);
	base = time_calls(twin1, calls);
	return (with - base) / calls;
}
