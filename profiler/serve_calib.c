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
#include "serve_calib.h"

/* as serve_usdt.c: BPF_LINK_CREATE for a uprobe_multi link (this system's uapi is older) */
struct link_create_umulti {
	__u32 prog_fd, target_fd, attach_type, flags;
	__u64 path, offsets, ref_ctr_offsets, cookies;
	__u32 cnt, umulti_flags, pid;
};
#define TRACE_UPROBE_MULTI 48

/* the probe sits on a nop of the kind QEMU's USDT sites use (see cost.c) */
__attribute__((noinline)) void vexitprof_serve_calib1(int i)
{
	__asm__ volatile(".globl vexitprof_serve_nop1\n"
			 "vexitprof_serve_nop1: nop\n"
			 :
			 : "r"(i)
			 : "memory");
}

__attribute__((noinline)) void vexitprof_serve_calib5(int i)
{
	__asm__ volatile(".globl vexitprof_serve_nop5\n"
			 "vexitprof_serve_nop5: .nops 5\n"
			 :
			 : "r"(i)
			 : "memory");
}

extern char vexitprof_serve_nop1[], vexitprof_serve_nop5[];

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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define CALIB_CALLS  5000
#define CALIB_ROUNDS 7

double calib_trap_cost(int nop_len)
{
	void (*f)(int) = nop_len == 5 ? vexitprof_serve_calib5 : vexitprof_serve_calib1;
	__u64 off = file_offset(nop_len == 5 ? vexitprof_serve_nop5 : vexitprof_serve_nop1);
	double d[CALIB_ROUNDS];
	int prog, n = 0;

	if (!off)
		return 0;
	prog = empty_prog();
	if (prog < 0)
		return 0;
	/* rounds of with and without, alternating: a change of load hits both */
	for (int r = 0; r < CALIB_ROUNDS; r++) {
		int l = attach(prog, off);
		double with, base;

		if (l < 0)
			break;
		f(0); /* fault the probe page in (and let the kernel optimize a 5-byte nop) */
		with = time_calls(f, CALIB_CALLS);
		close(l);
		base = time_calls(f, CALIB_CALLS);
		d[n++] = (with - base) / CALIB_CALLS;
	}
	close(prog);
	if (n < CALIB_ROUNDS)
		return 0;
	qsort(d, n, sizeof(d[0]), cmp_double);
	return d[n / 2] > 0 ? d[n / 2] : 0;
}
