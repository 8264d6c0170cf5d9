// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of vexitprof's BPF handlers without VMX/SVM hardware: synthetic
 * kvm_exit/kvm_entry/kvm_mmio/... records go through the same handler code
 * (BPF_PROG_TEST_RUN on raw_tp wrappers) and the maps must hold exactly the
 * expected aggregates.  Also checks the user-space decode tables and the
 * percentile maths.  Prints "ok N checks" and exits 0, or the first failure.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "test_vexitprof.skel.h"
#include "vexitprof.h"
#include "exit_reasons.h"
#include "hist.h"
#include "report.h"
#include "regnames.h"

static struct test_vexitprof_bpf *skel;
static int checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)
#define EQ(got, want, what)                                                                        \
	CHECK((unsigned long long)(got) == (unsigned long long)(want), "%s: got %llu want %llu",   \
	      what, (unsigned long long)(got), (unsigned long long)(want))

static void run(struct bpf_program *p, int n, ...)
{
	__u64 args[12] = {};
	va_list ap;
	/* all 12: a program may read arguments the record leaves 0 (vp_usp with --on-cpu) */
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		args[i] = va_arg(ap, __u64);
	va_end(ap);
	CHECK(!bpf_prog_test_run_opts(bpf_program__fd(p), &o), "test_run %s", bpf_program__name(p));
}

#define A(x)			   ((__u64)(x))
#define EXIT(tid, t, vcpu, isa, r) run(skel->progs.t_exit, 5, A(tid), A(t), A(vcpu), A(isa), A(r))
#define ENTRY(tid, t, vcpu)	   run(skel->progs.t_entry, 3, A(tid), A(t), A(vcpu))
#define MMIO(tid, t, ty, len, gpa, v)                                                              \
	run(skel->progs.t_mmio, 6, A(tid), A(t), A(ty), A(len), A(gpa), A(v))
#define PIO(tid, t, rw, port, sz, v)                                                               \
	run(skel->progs.t_pio, 7, A(tid), A(t), A(rw), A(port), A(sz), A(1), A(v))
#define UEXIT(tid, t, r, e)   run(skel->progs.t_uexit, 4, A(tid), A(t), A(r), A(e))
#define RUN_ENTER(tid, t, fd) run(skel->progs.t_run_enter, 4, A(tid), A(t), A(fd), A(-1))
/* the fentry/fexit pair on kvm_arch_vcpu_ioctl_run */
#define FENTRY_RUN(tid, t, vcpu) run(skel->progs.t_run_enter, 4, A(tid), A(t), A(-1), A(vcpu))
#define FEXIT_RUN(tid, t, r, e)	 run(skel->progs.t_run_return, 4, A(tid), A(t), A(r), A(e))
#define RUN_EXIT(tid, t)	 run(skel->progs.t_run_exit, 2, A(tid), A(t))
/* the shipped USDT bodies: memory_region_ops_read/write(cpu, mr, addr, value, size, name) */
#define MR_NAMED(tid, dir, cpu, mr, addr, v, sz, name)                                             \
	run((dir) == VP_WRITE ? skel->progs.t_mr_write : skel->progs.t_mr_read, 7, A(tid), A(cpu), \
	    A(mr), A(addr), A(v), A(sz), A(name))
#define MR(tid, dir, cpu, mr, addr, v, sz) MR_NAMED(tid, dir, cpu, mr, addr, v, sz, 0)

/* aggregates: key -> slot in the *_idx hash, value in the *_vals array */
static bool slot_val(struct bpf_map *idx, struct bpf_map *vals, const void *k, void *v)
{
	__u32 slot;

	return !bpf_map_lookup_elem(bpf_map__fd(idx), k, &slot) &&
	       !bpf_map_lookup_elem(bpf_map__fd(vals), &slot, v);
}

static struct vp_exit_val get_exit(__u32 vcpu, __u32 isa, __u32 reason)
{
	struct vp_exit_key k = {.vcpu = vcpu, .isa = isa, .reason = reason};
	struct vp_exit_val v = {};

	CHECK(slot_val(skel->maps.exit_idx, skel->maps.exit_vals, &k, &v),
	      "no exits entry vcpu %u isa %u reason %u", vcpu, isa, reason);
	return v;
}

static struct vp_acc_val get_acc(__u32 vcpu, __u8 space, __u8 dir, __u64 addr)
{
	struct vp_acc_key k = {.vcpu = vcpu, .space = space, .dir = dir, .addr = addr};
	struct vp_acc_val v = {};

	CHECK(slot_val(skel->maps.acc_idx, skel->maps.acc_vals, &k, &v),
	      "no accesses entry vcpu %#x addr %#llx", vcpu, (unsigned long long)addr);
	return v;
}

static struct vp_uexit_val get_uexit(__u32 vcpu, __u32 reason)
{
	struct vp_uexit_key k = {.vcpu = vcpu, .reason = reason};
	struct vp_uexit_val v = {};

	CHECK(slot_val(skel->maps.uexit_idx, skel->maps.uexit_vals, &k, &v),
	      "no uexits entry vcpu %#x reason %u", vcpu, reason);
	return v;
}

static __u64 counter(int idx)
{
	int ncpu = libbpf_num_possible_cpus();
	struct vp_counters *c = calloc(ncpu, sizeof(*c));
	__u32 zero = 0;
	__u64 sum = 0;

	CHECK(c && !bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &zero, c), "counters");
	for (int i = 0; i < ncpu; i++)
		sum += c[i].c[idx];
	free(c);
	return sum;
}

static size_t map_len(struct bpf_map *m, size_t ksz)
{
	char k[64], prev[64];
	size_t n = 0;
	void *p = NULL;

	while (!bpf_map_get_next_key(bpf_map__fd(m), p, k)) {
		memcpy(prev, k, ksz);
		p = prev;
		n++;
	}
	return n;
}

static void test_vmx_pairing(void)
{
	struct vp_exit_val v;

	/* EPT_VIOLATION on vCPU 0 lasting 1500 ns: log2 slot 10 (1024..2047) */
	EXIT(100, 1000, 0, VP_ISA_VMX, 48);
	ENTRY(100, 2500, 0);
	v = get_exit(0, VP_ISA_VMX, 48);
	EQ(v.count, 1, "vmx count");
	EQ(v.timed, 1, "vmx timed");
	EQ(v.total_ns, 1500, "vmx total_ns");
	EQ(v.user_ns, 0, "vmx user_ns");
	EQ(v.hist[10], 1, "vmx hist[10]");
	EQ(hist_total(v.hist, VP_HIST_SLOTS), 1, "vmx hist total");
}

static void test_svm_and_unknown(void)
{
	struct vp_exit_val v;
	char b[32];

	/* SVM npf (0x400) on vCPU 1, 100 ns: slot 6 (64..127) */
	EXIT(101, 5000, 1, VP_ISA_SVM, 0x400);
	ENTRY(101, 5100, 1);
	v = get_exit(1, VP_ISA_SVM, 0x400);
	EQ(v.count, 1, "svm count");
	EQ(v.total_ns, 100, "svm total");
	EQ(v.hist[6], 1, "svm hist[6]");
	/* an unknown VMX reason is kept under its number */
	EXIT(101, 6000, 1, VP_ISA_VMX, 99);
	ENTRY(101, 6010, 1);
	v = get_exit(1, VP_ISA_VMX, 99);
	EQ(v.count, 1, "unknown reason kept");
	CHECK(!strcmp(exit_reason_name(VP_ISA_VMX, 99, b, sizeof(b)), "0x63"), "unknown name %s",
	      b);
	CHECK(!strcmp(exit_reason_name(VP_ISA_VMX, 48, b, sizeof(b)), "EPT_VIOLATION"), "vmx 48");
	CHECK(!strcmp(exit_reason_name(VP_ISA_VMX, 30, b, sizeof(b)), "IO_INSTRUCTION"), "vmx 30");
	CHECK(!strcmp(exit_reason_name(VP_ISA_SVM, 0x400, b, sizeof(b)), "npf"), "svm npf");
	CHECK(!strcmp(exit_reason_name(VP_ISA_SVM, 0x7b, b, sizeof(b)), "io"), "svm io");
	CHECK(!strcmp(exit_reason_name(VP_ISA_VMX, 0x80000021, b, sizeof(b)),
		      "INVALID_STATE|FAILED_VMENTRY"),
	      "failed vmentry: %s", b);
	/* the same code means different things per isa */
	CHECK(!strcmp(exit_reason_name(VP_ISA_SVM, 48, b, sizeof(b)), "write_dr0"), "svm 48");
	CHECK(!strcmp(exit_reason_name(7, 1, b, sizeof(b)), "0x1"), "unknown isa");
	CHECK(!strcmp(uexit_reason_name(6, b, sizeof(b)), "MMIO"), "uexit MMIO");
	CHECK(!strcmp(uexit_reason_name(VP_UEXIT_ERRNO + 4, b, sizeof(b)), "EINTR"), "EINTR");
}

static void test_unpaired(void)
{
	__u64 before = counter(VP_C_UNPAIRED);
	struct vp_exit_val v;

	/* an entry with no exit before it (attached mid-exit) records nothing */
	ENTRY(110, 100, 4);
	EQ(counter(VP_C_UNPAIRED), before + 1, "unpaired entry");
	/* two exits without an entry: both counted, only the second timed */
	EXIT(110, 1000, 4, VP_ISA_VMX, 12);
	EXIT(110, 2000, 4, VP_ISA_VMX, 12);
	ENTRY(110, 2003, 4);
	v = get_exit(4, VP_ISA_VMX, 12);
	EQ(v.count, 2, "double exit count");
	EQ(v.timed, 1, "double exit timed");
	EQ(v.total_ns, 3, "double exit time");
	EQ(counter(VP_C_UNPAIRED), before + 2, "unpaired exit");
	/* an entry for another vCPU does not close this thread's exit */
	EXIT(110, 3000, 4, VP_ISA_VMX, 1);
	ENTRY(110, 3100, 5);
	v = get_exit(4, VP_ISA_VMX, 1);
	EQ(v.timed, 0, "entry of another vcpu");
}

static void test_hist_buckets(void)
{
	static const struct {
		__u64 d;
		int slot;
	} t[] = {{0, 0}, {1, 0}, {2, 1}, {3, 1}, {4, 2}, {1023, 9}, {1024, 10}, {1ULL << 45, 39}};
	struct vp_exit_val v;
	__u64 now = 1000000;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		EXIT(104, now, 3, VP_ISA_VMX, 12);
		ENTRY(104, now + t[i].d, 3);
		now += t[i].d + 10;
	}
	v = get_exit(3, VP_ISA_VMX, 12);
	EQ(v.count, 8, "hist count");
	EQ(v.hist[0], 2, "slot 0");
	EQ(v.hist[1], 2, "slot 1");
	EQ(v.hist[2], 1, "slot 2");
	EQ(v.hist[9], 1, "slot 9");
	EQ(v.hist[10], 1, "slot 10");
	EQ(v.hist[39], 1, "last slot takes the rest");
	EQ(hist_total(v.hist, VP_HIST_SLOTS), 8, "hist total");
	/* percentiles interpolate inside the slot: p50 of {1024..2047 x1} is 1536 */
	__u64 h[VP_HIST_SLOTS] = {};
	h[10] = 2;
	CHECK(hist_percentile(h, VP_HIST_SLOTS, 50) == 1536, "p50 %f",
	      hist_percentile(h, VP_HIST_SLOTS, 50));
}

static void test_mmio_exit_to_qemu(void)
{
	struct vp_acc_val a;
	struct vp_exit_val e;
	struct vp_uexit_val u;
	struct vp_gpa_key gk = {.addr = 0xfebc00c0, .space = VP_MMIO};
	struct vp_gpa_val gv = {};

	/* a read that goes to QEMU: kvm_mmio traces it twice, it is one access */
	RUN_EXIT(102, 8000); /* not inside KVM_RUN as far as we know: ignored */
	RUN_ENTER(102, 9000, 3);
	EXIT(102, 10000, 2, VP_ISA_VMX, 49);
	MMIO(102, 10100, VP_MMIO_READ_UNSATISFIED, 4, 0xfebc00c0, 0);
	UEXIT(102, 10200, VP_KVM_EXIT_MMIO, 0);
	RUN_EXIT(102, 10300);
	MR(102, VP_READ, 2, 0xdead0, 0xfebc00c0, 0x80, 4);
	RUN_ENTER(102, 12300, 3);
	MMIO(102, 12400, VP_MMIO_READ, 4, 0xfebc00c0, 0x80);
	ENTRY(102, 12500, 2);
	a = get_acc(2, VP_MMIO, VP_READ, 0xfebc00c0);
	EQ(a.count, 1, "read counted once");
	EQ(a.to_user, 1, "read went to QEMU");
	EQ(a.user_ns, 2000, "QEMU time charged to the register");
	EQ(a.kernel_ns, 500, "kernel time = exit..entry - user");
	EQ(a.ktimed, 1, "ktimed");
	e = get_exit(2, VP_ISA_VMX, 49);
	EQ(e.total_ns, 2500, "exit time");
	EQ(e.user_ns, 2000, "exit user time");
	u = get_uexit(2, VP_KVM_EXIT_MMIO);
	EQ(u.count, 1, "uexit count");
	EQ(u.timed, 1, "uexit timed");
	EQ(u.user_ns, 2000, "uexit user_ns");
	EQ(u.hist[10], 1, "uexit hist slot 10");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.gpa_map), &gk, &gv), "gpa learned");
	EQ(gv.mr, 0xdead0, "gpa -> MemoryRegion");
	EQ(gv.offset, 0xfebc00c0, "gpa -> absolute address");

	/* a write an in-kernel device takes (coalesced MMIO): no exit to QEMU */
	EXIT(102, 20000, 2, VP_ISA_VMX, 49);
	MMIO(102, 20100, VP_MMIO_WRITE, 4, 0xfebc2818, 5);
	ENTRY(102, 20300, 2);
	a = get_acc(2, VP_MMIO, VP_WRITE, 0xfebc2818);
	EQ(a.count, 1, "coalesced write counted");
	EQ(a.to_user, 0, "coalesced write stayed in the kernel");
	EQ(a.kernel_ns, 300, "coalesced write kernel time");
	/* an in-kernel read (e.g. LAPIC) is traced once as READ */
	EXIT(102, 21000, 2, VP_ISA_VMX, 44);
	MMIO(102, 21100, VP_MMIO_READ, 4, 0xfee00030, 0x14);
	ENTRY(102, 21200, 2);
	a = get_acc(2, VP_MMIO, VP_READ, 0xfee00030);
	EQ(a.count, 1, "in-kernel read");
	EQ(a.to_user, 0, "in-kernel read stayed");
}

static void test_write_pairing_skips_flush(void)
{
	struct vp_gpa_key gk = {.addr = 0xfebc3818, .space = VP_MMIO};
	struct vp_gpa_val gv = {};

	/* QEMU flushes coalesced writes first: only the write with our size and value pairs */
	RUN_ENTER(105, 100, 3);
	MMIO(105, 200, VP_MMIO_WRITE, 4, 0xfebc3818, 7);
	UEXIT(105, 300, VP_KVM_EXIT_MMIO, 0);
	RUN_EXIT(105, 400);
	MR(105, VP_WRITE, 0, 0xaaaa0, 0xfebc2818, 9, 4);
	MR(105, VP_WRITE, 0, 0xbbbb0, 0xfebc3818, 7, 4);
	RUN_ENTER(105, 900, 3);
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.gpa_map), &gk, &gv), "write paired");
	EQ(gv.mr, 0xbbbb0, "paired with the matching write");
	gk.addr = 0xfebc2818;
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.gpa_map), &gk, &gv), "flush not paired");
}

static void test_pio_pvm(void)
{
	__u32 tidv = VP_TID_FLAG | 103, tid = 103;
	struct vp_acc_val a;
	struct vp_thread st = {};
	struct vp_gpa_key gk = {.addr = 0xcfc, .space = VP_PIO};
	struct vp_gpa_val gv = {};

	/* no kvm_exit (PVM): vCPU unknown, keyed by tid; PIO IN is traced on completion */
	RUN_ENTER(103, 0, 7);
	UEXIT(103, 100, VP_KVM_EXIT_IO, 0);
	RUN_EXIT(103, 200);
	MR(103, VP_READ, 0, 0xbeef0, 0xcfc, 0x100e8086, 4);
	RUN_ENTER(103, 1200, 7);
	PIO(103, 1300, 0, 0xcfc, 4, 0x100e8086);
	a = get_acc(tidv, VP_PIO, VP_READ, 0xcfc);
	EQ(a.count, 1, "pio in count");
	EQ(a.to_user, 1, "pio in went to QEMU");
	EQ(a.user_ns, 1000, "pio in user time");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.gpa_map), &gk, &gv), "port learned");
	EQ(gv.mr, 0xbeef0, "port -> MemoryRegion");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.threads), &tid, &st), "thread state");
	EQ(st.run_fd, 7, "KVM_RUN fd remembered");
	/* PIO OUT, exits to QEMU */
	PIO(103, 2000, 1, 0xcf8, 4, 0x80001000);
	UEXIT(103, 2100, VP_KVM_EXIT_IO, 0);
	RUN_EXIT(103, 2200);
	RUN_ENTER(103, 2700, 7);
	a = get_acc(tidv, VP_PIO, VP_WRITE, 0xcf8);
	EQ(a.count, 1, "pio out count");
	EQ(a.to_user, 1, "pio out exit");
	EQ(a.user_ns, 500, "pio out user time");
	/* an IN an in-kernel device answered, then an exit for an IN: not confused */
	PIO(103, 3000, 0, 0x40, 1, 0x12);
	UEXIT(103, 3100, VP_KVM_EXIT_IO, 0);
	RUN_EXIT(103, 3200);
	RUN_ENTER(103, 3300, 7);
	PIO(103, 3400, 0, 0x3fd, 1, 0x60);
	a = get_acc(tidv, VP_PIO, VP_READ, 0x40);
	EQ(a.to_user, 0, "in-kernel IN stays in kernel");
	a = get_acc(tidv, VP_PIO, VP_READ, 0x3fd);
	EQ(a.to_user, 1, "the next IN is the one that exited");
	EQ(a.user_ns, 100, "its user time");
	/* an interrupted KVM_RUN */
	UEXIT(103, 4000, 0, -4);
	EQ(get_uexit(tidv, VP_UEXIT_ERRNO + 4).count, 1, "EINTR keyed by errno");
}

/*
 * KVM_RUN boundaries from fentry/fexit on kvm_arch_vcpu_ioctl_run: fexit
 * stands for kvm_userspace_exit + the ioctl's return, fentry names the vCPU.
 */
static void test_fentry_run(void)
{
	__u32 tidv = VP_TID_FLAG | 106, tid = 106;
	struct vp_acc_val a;
	struct vp_uexit_val u;
	struct vp_tid_info ti = {};
	__u64 gpa = 0xfebc0008;

	/* attached while the thread was inside KVM_RUN: vCPU unknown, keyed by tid */
	MMIO(106, 0, VP_MMIO_READ_UNSATISFIED, 4, gpa, 0);
	FEXIT_RUN(106, 1000, VP_KVM_EXIT_MMIO, 0);
	MR(106, VP_READ, 5, 0xcafe0, gpa, 0x80080783, 4);
	FENTRY_RUN(106, 3000, 5);
	MMIO(106, 3100, VP_MMIO_READ, 4, gpa, 0x80080783);
	a = get_acc(tidv, VP_MMIO, VP_READ, gpa);
	EQ(a.count, 1, "fentry: first read, keyed by tid");
	EQ(a.to_user, 1, "fentry: first read went to QEMU");
	EQ(a.user_ns, 0, "fentry: no KVM_RUN return seen, no user time");
	u = get_uexit(tidv, VP_KVM_EXIT_MMIO);
	EQ(u.count, 1, "fentry: exit to QEMU counted from fexit");
	EQ(u.timed, 0, "fentry: not timed");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.tid_vcpu), &tid, &ti), "tid_vcpu");
	EQ(ti.vcpu, 5, "fentry named the vCPU for user space");
	/* the next exits carry the vCPU and are timed fexit -> fentry */
	for (int i = 0; i < 3; i++) {
		__u64 t = 10000 + i * 10000;

		MMIO(106, t, VP_MMIO_READ_UNSATISFIED, 4, gpa, 0);
		FEXIT_RUN(106, t + 100, VP_KVM_EXIT_MMIO, 0);
		FENTRY_RUN(106, t + 900, 5);
		MMIO(106, t + 1000, VP_MMIO_READ, 4, gpa, 0x80080783);
	}
	a = get_acc(5, VP_MMIO, VP_READ, gpa);
	EQ(a.count, 3, "fentry: reads by vCPU 5");
	EQ(a.to_user, 3, "fentry: all went to QEMU");
	EQ(a.user_ns, 2400, "fentry: QEMU time charged to the register");
	u = get_uexit(5, VP_KVM_EXIT_MMIO);
	EQ(u.count, 3, "fentry: exits to QEMU");
	EQ(u.timed, 3, "fentry: timed");
	EQ(u.user_ns, 2400, "fentry: user time");
	EQ(u.hist[9], 3, "fentry: 800 ns in slot 9");
	/* an interrupted KVM_RUN returns -EINTR */
	FEXIT_RUN(106, 50000, VP_KVM_EXIT_MMIO, -4);
	FENTRY_RUN(106, 50300, 5);
	u = get_uexit(5, VP_UEXIT_ERRNO + 4);
	EQ(u.count, 1, "fentry: EINTR");
	EQ(u.user_ns, 300, "fentry: EINTR user time");
	EQ(get_uexit(5, VP_KVM_EXIT_MMIO).count, 3, "fentry: EINTR not counted as MMIO");
}

/* The per-thread slot cache must not mix up keys that alternate. */
static void test_slot_cache(void)
{
	__u32 tidv = VP_TID_FLAG | 107;

	for (int i = 0; i < 5; i++) {
		MMIO(107, 0, VP_MMIO_WRITE, 4, 0xfebc3818, i);
		MMIO(107, 0, VP_MMIO_WRITE, 4, 0xfebc00d0, i);
		if (i < 2)
			MMIO(107, 0, VP_MMIO_WRITE, 2, 0xfebc3818 + 0x10, i);
	}
	PIO(107, 0, 1, 0x3818, 4, 1); /* same address, other space */
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, 0xfebc3818).count, 5, "cache: TDT");
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, 0xfebc00d0).count, 5, "cache: IMS");
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, 0xfebc3828).count, 2, "cache: third key");
	EQ(get_acc(tidv, VP_PIO, VP_WRITE, 0x3818).count, 1, "cache: space is part of the key");
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, 0xfebc3828).size, 2, "cache: size");
}

/* Thread slots: tid % 4096 of an array, another thread's slot -> hash, recycled tid -> fresh */
static void test_thread_slots(void)
{
	__u32 t1 = 300, t2 = 300 + 4096, idx = 300;
	struct vp_thread st = {};

	MMIO(t1, 0, VP_MMIO_WRITE, 4, 0xfebc3818, 1);
	MMIO(t2, 0, VP_MMIO_WRITE, 4, 0xfebc3818, 1);
	MMIO(t2, 0, VP_MMIO_WRITE, 4, 0xfebc3818, 1);
	EQ(get_acc(VP_TID_FLAG | t1, VP_MMIO, VP_WRITE, 0xfebc3818).count, 1, "slot: first thread");
	EQ(get_acc(VP_TID_FLAG | t2, VP_MMIO, VP_WRITE, 0xfebc3818).count, 2,
	   "slot: colliding thread");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.threads), &idx, &st), "slot");
	EQ(st.tid, t1, "slot belongs to the first thread");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.threads_ovf), &t2, &st),
	      "overflow entry");
	EQ(st.tid, t2, "the other one is in threads_ovf");
	/* the same tid with another start time is another thread: no state carried over */
	RUN_EXIT(t1, 100);
	RUN_ENTER(t1, 200, 9);
	FEXIT_RUN(t1, 300, VP_KVM_EXIT_MMIO, 0);
	RUN_ENTER(t1 | (1ULL << 32), 5000, 9);
	EQ(get_uexit(VP_TID_FLAG | t1, VP_KVM_EXIT_MMIO).timed, 0, "recycled tid: not timed");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.threads), &idx, &st), "slot");
	EQ(st.start32, 1, "recycled tid: slot taken over");
	EQ(st.phase, VP_PH_GUEST, "recycled tid: fresh state");
}

static void test_usdt_and_e1000(void)
{
	struct vp_mr_key k = {.vcpu = 1, .dir = VP_WRITE, .mr = 0x1230, .offset = 0xfebc3818};
	struct vp_mr_val v = {};
	__u32 slot = 3;
	int ncpu = libbpf_num_possible_cpus();
	__u64 *h = calloc(ncpu, sizeof(*h)), sum = 0;

	for (int i = 0; i < 5; i++)
		MR(200, VP_WRITE, 1, 0x1230, 0xfebc3818, i, 4);
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.mr_ops), &k, &v), "mr_ops entry");
	EQ(v.count, 5, "mr_ops count per (vcpu, mr, offset)");
	run(skel->progs.t_tx_batch, 3, A(200), A(4), A(3));
	run(skel->progs.t_tx_batch, 3, A(200), A(2), A(3));
	run(skel->progs.t_tx_batch, 3, A(200), A(200), A(100));
	EQ(counter(VP_C_E1000_TX_FRAMES), 106, "tx frames");
	EQ(counter(VP_C_E1000_TX_BATCHES), 3, "tx batches");
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.tx_batch_hist), &slot, h), "txb");
	for (int i = 0; i < ncpu; i++)
		sum += h[i];
	EQ(sum, 2, "batches of 3 frames");
	slot = VP_TXB_SLOTS - 1;
	sum = 0;
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.tx_batch_hist), &slot, h), "txb");
	for (int i = 0; i < ncpu; i++)
		sum += h[i];
	EQ(sum, 1, "big batch in the last slot");
	free(h);
	EQ(counter(VP_C_E1000_TX_DESCS), 206, "tx descriptors");
	run(skel->progs.t_rx_frame, 2, A(200), A(1514));
	run(skel->progs.t_rx_frame, 2, A(200), A(60));
	EQ(counter(VP_C_E1000_RX_FRAMES), 2, "rx frames");
	EQ(counter(VP_C_E1000_RX_BYTES), 1574, "rx bytes: argument 0");
	run(skel->progs.t_irq_raise, 1, A(200));
	run(skel->progs.t_irq_raise, 1, A(200));
	run(skel->progs.t_irq_lower, 1, A(200));
	EQ(counter(VP_C_E1000_IRQ_RAISE), 2, "irq raised");
	EQ(counter(VP_C_E1000_IRQ_LOWER), 1, "irq lowered");
	EQ(counter(VP_C_USDT_E1000), 3 + 2 + 3, "e1000 USDT events");
	/* after the profile is closed nothing counts any more */
	skel->bss->vp_closed = 1;
	MR(200, VP_WRITE, 1, 0x1230, 0xfebc3818, 0, 4);
	run(skel->progs.t_tx_batch, 3, A(200), A(1), A(1));
	run(skel->progs.t_rx_frame, 2, A(200), A(60));
	run(skel->progs.t_irq_raise, 1, A(200));
	skel->bss->vp_closed = 0;
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.mr_ops), &k, &v), "mr_ops entry");
	EQ(v.count, 5, "closed: memory_region_ops not counted");
	EQ(counter(VP_C_E1000_TX_BATCHES), 3, "closed: tx batch not counted");
	EQ(counter(VP_C_E1000_RX_FRAMES), 2, "closed: rx frame not counted");
	EQ(counter(VP_C_E1000_IRQ_RAISE), 2, "closed: irq not counted");
}

/*
 * A stand-in for QEMU's struct MemoryRegion in this process's memory, which
 * the handlers read as they read QEMU's (vp_read_mr): container, size, addr
 * and name at the offsets of vexitprof.h.
 */
struct fake_mr {
	char b[256];
};

static __u64 fake_mr(struct fake_mr *m, struct fake_mr *container, __u64 addr, __u64 size,
		     const char *name)
{
	__u64 c = (__u64)(unsigned long)container, n = (__u64)(unsigned long)name;

	memset(m, 0, sizeof(*m));
	memcpy(m->b + VP_MR_OFF_CONTAINER, &c, 8);
	memcpy(m->b + VP_MR_OFF_ADDR, &addr, 8);
	memcpy(m->b + VP_MR_OFF_SIZE, &size, 8);
	memcpy(m->b + VP_MR_OFF_NAME, &n, 8);
	return (__u64)(unsigned long)m;
}

static struct fake_mr mr_system, mr_io;

static bool get_region(__u32 vcpu, __u32 dir, __u64 mr, struct vp_mr_region *r)
{
	struct vp_mr_rkey k = {.vcpu = vcpu, .dir = dir, .mr = mr};

	return !bpf_map_lookup_elem(bpf_map__fd(skel->maps.mr_regions), &k, r);
}

/* Rows of region mr in mr_ops, and the dispatches they count */
static size_t mr_rows(__u64 mr, __u64 *sum)
{
	struct vp_mr_key k, *prev = NULL;
	struct vp_mr_val v;
	size_t n = 0;

	*sum = 0;
	while (!bpf_map_get_next_key(bpf_map__fd(skel->maps.mr_ops), prev, &k)) {
		static struct vp_mr_key keep;

		keep = k;
		prev = &keep;
		if (k.mr != mr || bpf_map_lookup_elem(bpf_map__fd(skel->maps.mr_ops), &k, &v))
			continue;
		n++;
		*sum += v.count;
	}
	return n;
}

/*
 * Which regions keep every offset is decided in BPF by name (vp_mr_has_table):
 * it must say yes exactly where profiler/regnames.c names registers.
 */
static void test_mr_table_names(void)
{
	static const char *const names[] = {
	    "e1000-mmio",
	    "e1000e-mmio",
	    "e1000-io",
	    "virtio-pci-common-virtio-net",
	    "virtio-pci-notify-virtio-net",
	    "virtio-pci-notify-pio-virtio-net",
	    "virtio-pci-isr-virtio-net",
	    "virtio-pci-device-virtio-net",
	    "virtio-pci",
	    "msix-table",
	    "msix-pba",
	    "serial",
	    "pci-conf-idx",
	    "pci-conf-data",
	    "vga-lowmem",
	    "virtio-pci-device-virtio-blk",
	    "e1000",
	    "e1000-mmio2",
	    "pc.ram",
	    "serialx",
	};
	static struct fake_mr m[sizeof(names) / sizeof(names[0])];
	char buf[64];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		__u64 mr = fake_mr(&m[i], &mr_system, 0x1000 * i, 0x1000, names[i]);
		struct vp_mr_region r = {};
		bool table = regname_lookup(names[i], 0, buf, sizeof(buf))[0] != '+';

		MR_NAMED(400, VP_WRITE, 0, mr, 0x1000 * i, 0, 4, names[i]);
		CHECK(get_region(0, VP_WRITE, mr, &r), "region %s", names[i]);
		CHECK((r.cap == VP_MR_CAP_TABLE) == table, "%s: BPF says %s, regnames.c %s",
		      names[i], r.cap == VP_MR_CAP_TABLE ? "table" : "no table",
		      table ? "table" : "none");
	}
}

/*
 * Bounded detail on the USDT path: a region without a register table keeps
 * VP_MR_CAP_OTHER offsets and folds the rest, a region with one (or behind
 * I/O ports) keeps them all; either way the region's total is exact.
 */
static void test_mr_detail_cap(void)
{
	static struct fake_mr vga, e1000, com;
	__u64 vmr = fake_mr(&vga, &mr_system, 0xa0000, 0x20000, "vga-lowmem");
	__u64 emr = fake_mr(&e1000, &mr_system, 0xfebc0000, 0x20000, "e1000-mmio");
	/* a region without a table of its own, but behind I/O ports */
	__u64 pmr = fake_mr(&com, &mr_io, 0x2000, 0x1000, "some-pio-dev");
	struct vp_mr_region r = {};
	__u64 sum;
	int n = VP_MR_CAP_OTHER + 100;

	for (int i = 0; i < n; i++) {
		MR_NAMED(401, VP_WRITE, 0, vmr, 0xa0000 + i, i, 1, "vga-lowmem");
		MR_NAMED(401, VP_WRITE, 0, emr, 0xfebc0000 + 4 * i, i, 4, "e1000-mmio");
		MR_NAMED(401, VP_READ, 0, pmr, 0x2000 + i, 0, 1, "some-pio-dev");
	}
	/* the same folded offsets again, and a kept one */
	for (int i = n - 10; i < n; i++)
		MR(401, VP_WRITE, 0, vmr, 0xa0000 + i, i, 1);
	MR(401, VP_WRITE, 0, vmr, 0xa0000, 0, 1);
	EQ(mr_rows(vmr, &sum), VP_MR_CAP_OTHER, "vga: rows kept = cap");
	EQ(sum, VP_MR_CAP_OTHER + 1, "vga: dispatches in kept rows");
	CHECK(get_region(0, VP_WRITE, vmr, &r), "vga region");
	EQ(r.offsets, VP_MR_CAP_OTHER, "vga: offsets");
	EQ(r.folded, 100 + 10, "vga: folded dispatches");
	EQ(r.map_full, 0, "vga: folded by the cap, not a full map");
	EQ(r.size, 1, "vga: folded size");
	EQ(mr_rows(emr, &sum), n, "e1000: every offset kept");
	EQ(sum, n, "e1000: dispatches");
	CHECK(get_region(0, VP_WRITE, emr, &r), "e1000 region");
	EQ(r.folded, 0, "e1000: nothing folded");
	EQ(mr_rows(pmr, &sum), n, "pio region: every port kept");
	CHECK(get_region(0, VP_READ, pmr, &r), "pio region");
	EQ(r.cap, VP_MR_CAP_TABLE, "pio region: no cap");
}

/*
 * Bounded detail on the kernel path: an MMIO page keeps VP_ACC_PAGE_CAP
 * addresses, its other addresses share the page's folded row, which takes
 * everything an access row takes (exits to QEMU, their time); ports are not
 * capped.
 */
static void test_acc_page_cap(void)
{
	__u32 tidv = VP_TID_FLAG | 410;
	__u64 page = 0xa0000, fold = page | VP_ACC_FOLD;
	int n = VP_ACC_PAGE_CAP + 50;
	struct vp_acc_val a;

	for (int i = 0; i < n; i++)
		MMIO(410, 0, VP_MMIO_WRITE, 1, page + i, i);
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, page).count, 1, "page: first address kept");
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, page + VP_ACC_PAGE_CAP - 1).count, 1,
	   "page: last address under the cap kept");
	a = get_acc(tidv, VP_MMIO, VP_WRITE, fold);
	EQ(a.count, 50, "page: the rest in the folded row");
	/* a folded address again, through the thread's slot cache and without it */
	MMIO(410, 0, VP_MMIO_WRITE, 1, page + n - 1, 0);
	MMIO(410, 0, VP_MMIO_WRITE, 1, page + n - 1, 0);
	MMIO(410, 0, VP_MMIO_WRITE, 1, page + 1, 0);
	MMIO(410, 0, VP_MMIO_WRITE, 1, page + n - 2, 0);
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, fold).count, 53, "page: folded again");
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, page + 1).count, 2, "page: kept address again");
	/* reads have their own cap; once it is reached, a read that exits to QEMU charges its
	 * exit and QEMU time to the folded row */
	for (int i = 0; i < (int)VP_ACC_PAGE_CAP; i++)
		MMIO(410, 0, VP_MMIO_READ, 4, page + 4000 - i, 0);
	RUN_ENTER(410, 1000, 3);
	MMIO(410, 1100, VP_MMIO_READ_UNSATISFIED, 1, page + 2000, 0);
	UEXIT(410, 1200, VP_KVM_EXIT_MMIO, 0);
	RUN_EXIT(410, 1300);
	RUN_ENTER(410, 1800, 3);
	MMIO(410, 1900, VP_MMIO_READ, 1, page + 2000, 7);
	for (int i = 0; i < 10; i++)
		MMIO(410, 2000, VP_MMIO_READ, 1, page + 100 + i, 0);
	a = get_acc(tidv, VP_MMIO, VP_READ, fold);
	EQ(a.count, 11, "page: reads past the cap folded (the exiting one once)");
	EQ(a.to_user, 1, "page: folded read went to QEMU");
	EQ(a.user_ns, 500, "page: its QEMU time");
	/* another page starts afresh */
	MMIO(410, 0, VP_MMIO_WRITE, 1, page + 0x1000 + 5, 0);
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, page + 0x1000 + 5).count, 1, "page: next page kept");
	/* I/O ports: never capped */
	for (int i = 0; i < n; i++)
		PIO(410, 0, 1, 0x1000 + i, 1, 0);
	EQ(get_acc(tidv, VP_PIO, VP_WRITE, 0x1000 + n - 1).count, 1, "ports: all kept");
	CHECK(bpf_map_lookup_elem(
		  bpf_map__fd(skel->maps.acc_idx),
		  &(struct vp_acc_key){
		      .vcpu = tidv, .space = VP_PIO, .dir = VP_WRITE, .addr = 0x1000 | VP_ACC_FOLD},
		  &(__u32){0}),
	      "ports: no folded row");
	EQ(counter(VP_C_ACC_FOLD_FULL), 0, "page: folded by the cap, not a full map");
}

/*
 * Full maps: detail goes, totals stay.  Run last: it fills mr_ops and acc_idx.
 * The e1000 here stands for the device whose registers a VGA crowded out.
 */
static void test_maps_full(void)
{
	static struct fake_mr big, e1000x;
	__u64 bmr = fake_mr(&big, &mr_system, 0, 0x100000000ULL, "e1000e-mmio");
	__u64 emr = fake_mr(&e1000x, &mr_system, 0xfebc0000, 0x20000, "e1000-mmio");
	struct vp_mr_region r = {};
	__u32 tidv = VP_TID_FLAG | 420;
	__u64 sum, rows, in_map = map_len(skel->maps.mr_ops, sizeof(struct vp_mr_key));
	__u64 acc_used;

	/* a table region (no cap) that fills mr_ops to the last entry */
	for (__u64 i = 0; in_map + i < bpf_map__max_entries(skel->maps.mr_ops); i++)
		MR_NAMED(420, VP_WRITE, 0, bmr, i * 4, 0, 4, "e1000e-mmio");
	for (int i = 0; i < 3; i++) {
		MR_NAMED(420, VP_WRITE, 0, emr, 0xfebc3818, i, 4, "e1000-mmio");
		MR_NAMED(420, VP_READ, 0, emr, 0xfebc00c0 + 4 * i, i, 4, "e1000-mmio");
	}
	CHECK(get_region(0, VP_WRITE, emr, &r), "full: region");
	EQ(r.folded, 3, "full: TDT writes counted in the region");
	EQ(r.map_full, 3, "full: folded because the map was full");
	CHECK(get_region(0, VP_READ, emr, &r), "full: region");
	EQ(r.folded, 3, "full: ICR reads counted in the region");
	rows = mr_rows(emr, &sum);
	EQ(rows, 0, "full: no row for the crowded-out device");
	EQ(counter(VP_C_DROPPED), 0, "full: nothing dropped");

	/* acc_idx: ports (never capped) take every slot detail may take */
	acc_used = map_len(skel->maps.acc_idx, sizeof(struct vp_acc_key));
	for (__u64 i = 0;
	     acc_used + i < bpf_map__max_entries(skel->maps.acc_vals) - VP_ACC_FOLD_SLOTS; i++)
		PIO(420, 0, 1, (__u32)(0x10000 + i), 1, 0);
	for (int i = 0; i < 4; i++)
		MMIO(420, 0, VP_MMIO_WRITE, 4, 0xfebc3818, i);
	MMIO(420, 0, VP_MMIO_WRITE, 4, 0xfebc3810, 0);
	EQ(get_acc(tidv, VP_MMIO, VP_WRITE, 0xfebc3000 | VP_ACC_FOLD).count, 5,
	   "full: accesses in their page's folded row");
	CHECK(counter(VP_C_ACC_FOLD_FULL) > 0, "full: counted as folded by a full map");
	EQ(counter(VP_C_DROPPED), 0, "full: nothing dropped");
}

/* The default device table folds the tail; --all (and JSON) list every row. */
static char *table(struct vp_report *r, bool all)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f, "open_memstream");
	report_table(f, r, false, all);
	fclose(f);
	return buf;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_table_fold(void)
{
	struct vp_report r = {.duration_s = 1, .nr_vcpus = 1, .usdt = true};
	struct vp_dev_row rows[300] = {};
	char *out, want[128];

	/* a busy TDT, a few busy registers, then 290 written once (MTA[n] after a reset) */
	for (int i = 0; i < 300; i++) {
		struct vp_dev_row *d = &rows[i];

		d->vcpu = VP_ALL_VCPUS;
		snprintf(d->device, sizeof(d->device), "e1000-mmio");
		snprintf(d->reg, sizeof(d->reg), "REG%03d", i);
		d->dir = VP_WRITE;
		d->count = d->qemu_ops = i == 0 ? 1000000 : i < 10 ? 1000 - i : 1;
	}
	r.devs = rows;
	r.n_devs = 300;
	out = table(&r, false);
	EQ(count_lines(out, "\ne1000-mmio "), 10, "fold: 10 rows cover 99.9%");
	snprintf(want, sizeof(want),
		 "... 290 more rows with 290 accesses (0.03%%); --all lists them");
	CHECK(strstr(out, want), "fold line missing:\n%s", out);
	free(out);
	out = table(&r, true);
	EQ(count_lines(out, "\ne1000-mmio "), 300, "--all: every row");
	CHECK(!strstr(out, "more row"), "--all: no fold line");
	free(out);
	/* an even spread: at most 25 rows shown */
	for (int i = 0; i < 300; i++)
		rows[i].count = rows[i].qemu_ops = 1000;
	out = table(&r, false);
	EQ(count_lines(out, "\ne1000-mmio "), 25, "fold: at most 25 rows");
	CHECK(strstr(out, "... 275 more rows with 275000 accesses (91.67%)"), "fold line:\n%s",
	      out);
	free(out);
	/* small tables are never folded, and kernel counts take precedence over QEMU's */
	r.n_devs = 8;
	r.kvm_accesses = true;
	for (int i = 0; i < 8; i++)
		rows[i].kcount = rows[i].count = i == 0 ? 1000000 : 1;
	out = table(&r, false);
	EQ(count_lines(out, "\ne1000-mmio "), 8, "small table unfolded");
	CHECK(!strstr(out, "more row"), "small table: no fold line");
	free(out);
	/* per vCPU, each vCPU's tail is folded on its own */
	r.n_devs = 40;
	r.per_vcpu = true;
	for (int i = 0; i < 40; i++) {
		rows[i].vcpu = i / 20;
		rows[i].kcount = rows[i].count = i % 20 == 0 ? 1000000 : 1;
	}
	out = table(&r, false);
	EQ(count_lines(out, "more rows with 10 accesses"), 2, "per-vCPU fold lines");
	free(out);
}

static struct vp_thread thread_state(__u32 tid)
{
	struct vp_thread st = {};
	__u32 idx = tid & 4095;

	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.threads), &idx, &st), "slot %u", idx);
	EQ(st.tid, tid, "thread slot");
	return st;
}

#define PHASE(tid, ph, ex, what)                                                                   \
	do {                                                                                       \
		struct vp_thread s_ = thread_state(tid);                                           \
		EQ(s_.phase, ph, what ": phase");                                                  \
		EQ(s_.exit_open, ex, what ": exit_open");                                          \
	} while (0)

/*
 * Every phase transition of the table in vexitprof_maps.bpf.h, for the three
 * ways KVM_RUN's boundaries are seen: ioctl tracepoints (kvm_userspace_exit
 * before the ioctl returns), fentry/fexit, and PVM (no kvm_exit/kvm_entry).
 */
static void test_phases(void)
{
	__u64 gpa = 0xfebc3818;

	/* ioctl tracepoints, an MMIO write QEMU handles, then one the kernel completes */
	MMIO(120, 0, VP_MMIO_WRITE, 4, gpa, 1);
	PHASE(120, VP_PH_OUTSIDE, 0, "first event");
	EXIT(120, 10, 0, VP_ISA_VMX, 48);
	PHASE(120, VP_PH_OUTSIDE, 1, "kvm_exit outside KVM_RUN: window only");
	ENTRY(120, 20, 0);
	PHASE(120, VP_PH_OUTSIDE, 0, "kvm_entry closes it");
	RUN_ENTER(120, 100, 3);
	PHASE(120, VP_PH_GUEST, 0, "KVM_RUN entered");
	EXIT(120, 200, 0, VP_ISA_VMX, 48);
	PHASE(120, VP_PH_KERNEL_EXIT, 1, "kvm_exit");
	MMIO(120, 210, VP_MMIO_WRITE, 4, gpa, 7);
	EQ(thread_state(120).cur_state, VP_CUR_FRESH, "write is fresh");
	UEXIT(120, 220, VP_KVM_EXIT_MMIO, 0);
	PHASE(120, VP_PH_RETURNING, 1, "kvm_userspace_exit inside KVM_RUN");
	EQ(thread_state(120).qemu_for, VP_QF_CUR, "exit to QEMU for cur");
	EQ(thread_state(120).cur_state, VP_CUR_KNOWN, "cur no longer fresh");
	RUN_EXIT(120, 230);
	PHASE(120, VP_PH_QEMU_EXIT, 1, "KVM_RUN returned");
	RUN_ENTER(120, 1230, 3);
	PHASE(120, VP_PH_KERNEL_EXIT, 1, "re-entered with the exit open");
	EQ(thread_state(120).qemu_for, VP_QF_NONE, "exit to QEMU done");
	ENTRY(120, 1300, 0);
	PHASE(120, VP_PH_GUEST, 0, "kvm_entry");
	EQ(thread_state(120).cur_state, VP_CUR_NONE, "no current access");
	EQ(get_acc(0, VP_MMIO, VP_WRITE, gpa).user_ns, 1000, "phases: user time");
	EXIT(120, 2000, 0, VP_ISA_VMX, 48);
	MMIO(120, 2010, VP_MMIO_READ, 4, gpa, 7);
	EQ(thread_state(120).cur_state, VP_CUR_KNOWN, "kernel-completed read");
	ENTRY(120, 2100, 0);
	PHASE(120, VP_PH_GUEST, 0, "exit completed in the kernel");
	/* KVM_RUN returns without kvm_userspace_exit (signal, ...) with an exit open */
	EXIT(120, 3000, 0, VP_ISA_VMX, 1);
	RUN_EXIT(120, 3100);
	PHASE(120, VP_PH_OUTSIDE, 1, "returned with the exit open");
	RUN_EXIT(120, 3200);
	EQ(thread_state(120).ret_ts, 3100, "a second return outside KVM_RUN is ignored");
	RUN_ENTER(120, 3300, 3);
	PHASE(120, VP_PH_KERNEL_EXIT, 1, "back in");
	ENTRY(120, 3400, 0);
	ENTRY(120, 3500, 0);
	PHASE(120, VP_PH_GUEST, 0, "stray kvm_entry");

	/* fentry/fexit: the return and kvm_userspace_exit in one event */
	FENTRY_RUN(121, 100, 2);
	PHASE(121, VP_PH_GUEST, 0, "fentry");
	EXIT(121, 200, 2, VP_ISA_VMX, 48);
	FEXIT_RUN(121, 300, VP_KVM_EXIT_MMIO, 0);
	PHASE(121, VP_PH_QEMU_EXIT, 1, "fexit: straight to QEMU_EXIT");
	FENTRY_RUN(121, 400, 2);
	PHASE(121, VP_PH_KERNEL_EXIT, 1, "fentry with the exit open");

	/* PVM: no kvm_exit/kvm_entry, a PIO IN that waits for its completion */
	RUN_ENTER(122, 100, 4);
	UEXIT(122, 200, VP_KVM_EXIT_IO, 0);
	PHASE(122, VP_PH_RETURNING, 0, "PVM: returning");
	EQ(thread_state(122).qemu_for, VP_QF_PIO_IN, "PVM: waits for the IN");
	EQ(thread_state(122).pair, VP_PAIR_WANT, "PVM: pairing wanted");
	RUN_EXIT(122, 300);
	PHASE(122, VP_PH_QEMU_EXIT, 0, "PVM: QEMU handles it");
	MR(122, VP_READ, 0, 0xbeef8, 0x3f8, 0x41, 1);
	EQ(thread_state(122).pair, VP_PAIR_HAVE_MR, "PVM: region seen");
	RUN_ENTER(122, 800, 4);
	PHASE(122, VP_PH_GUEST, 0, "PVM: back in the guest");
	EQ(thread_state(122).qemu_for, VP_QF_PIO_IN, "PVM: the IN still waits");
	EQ(thread_state(122).pair, VP_PAIR_HAVE_MR, "PVM: pairing kept for it");
	PIO(122, 900, 0, 0x3f8, 1, 0x41);
	EQ(thread_state(122).qemu_for, VP_QF_NONE, "PVM: IN completed");
	EQ(thread_state(122).pair, VP_PAIR_NONE, "PVM: paired");
	EQ(get_acc(VP_TID_FLAG | 122, VP_PIO, VP_READ, 0x3f8).user_ns, 500, "PVM: IN user time");
	/* an exit to QEMU for an access that was not fresh: for nothing */
	UEXIT(122, 1000, VP_KVM_EXIT_MMIO, 0);
	EQ(thread_state(122).qemu_for, VP_QF_NONE, "stale cur: not the cause");
	EQ(thread_state(122).pair, VP_PAIR_NONE, "stale cur: no pairing");
}

static struct vp_cpu_key oncpu_key(__u32 tid, __u64 usp)
{
	struct vp_cpu_key k = {};
	__u32 zero = 0;

	run(skel->progs.t_oncpu_ctx, 2, A(tid), A(usp));
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.oncpu_key), &zero, &k), "oncpu_key");
	EQ(k.tid, tid, "sample: tid");
	return k;
}

/*
 * The stack at a write probe: [0] the probe function's return address (the
 * handler's call overwrites it), [1..4] the calling frame (the canary).
 */
static __u64 frame[8] = {0x1111, 0x2222, 0x3333, 0x4444, 0x5555};

/*
 * --on-cpu: what a sample is attributed to.  A write probe opens a window
 * that lasts while the thread's stack pointer is below the probe's and the
 * probe's frame is intact; else the KVM phase and the exit it handles.
 */
static void test_oncpu_ctx(void)
{
	__u64 sp = (__u64)(uintptr_t)&frame[0], gpa = 0xfebc3818;
	struct vp_cpu_key k;

	/* a thread with no state (not a vCPU, no write): phase NR, no context */
	k = oncpu_key(130, 0x7000);
	EQ(k.phase, VP_PH_NR, "no state");
	EQ(k.ctx, VP_CTX_NONE, "no state: no context");
	/* TCG: a write to TDT, its handler running deeper on the stack */
	run(skel->progs.t_mr_write, 8, A(130), A(0), A(0xe1000), A(0xfebc3818), A(5), A(4), A(0),
	    A(sp));
	k = oncpu_key(130, sp - 256);
	EQ(k.phase, VP_PH_OUTSIDE, "TCG thread: outside KVM_RUN");
	EQ(k.ctx, VP_CTX_MR, "in the write's handler");
	EQ(k.addr, 0xe1000, "its MemoryRegion");
	EQ(k.off, 0xfebc3818, "its address");
	EQ(k.dir, VP_WRITE, "a write");
	/* still inside, sampled again */
	EQ(oncpu_key(130, sp - 8).ctx, VP_CTX_MR, "still in the handler");
	/* the handler's call wrote its return address where the probe's was */
	frame[0] = 0x7777;
	EQ(oncpu_key(130, sp).ctx, VP_CTX_MR, "the probe's return address is not the canary");
	frame[0] = 0x1111;
	/* the handler returned: the stack pointer is above the probe's frame */
	k = oncpu_key(130, sp + 64);
	EQ(k.ctx, VP_CTX_NONE, "returned: no context");
	/* and stays closed even when a later call goes as deep again */
	EQ(oncpu_key(130, sp - 256).ctx, VP_CTX_NONE, "closed for good");
	/* another write; then the frame is overwritten by a later call as deep */
	run(skel->progs.t_mr_write, 8, A(130), A(0), A(0xe1000), A(0xfebc0008), A(5), A(4), A(0),
	    A(sp));
	EQ(oncpu_key(130, sp - 256).off, 0xfebc0008, "second write");
	frame[2] = 0x9999;
	EQ(oncpu_key(130, sp - 256).ctx, VP_CTX_NONE, "frame reused: not the write's");
	frame[2] = 0x3333;
	/* a write whose frame cannot be read opens nothing */
	run(skel->progs.t_mr_write, 8, A(130), A(0), A(0xe1000), A(0xfebc3818), A(5), A(4), A(0),
	    A(8));
	EQ(oncpu_key(130, 4).ctx, VP_CTX_NONE, "unreadable frame");

	/* KVM: the phases and the exit in progress */
	RUN_ENTER(131, 100, 3);
	k = oncpu_key(131, 0x7000);
	EQ(k.phase, VP_PH_GUEST, "KVM: guest");
	EQ(k.ctx, VP_CTX_NONE, "guest: no context");
	EXIT(131, 200, 0, VP_ISA_VMX, 48);
	MMIO(131, 210, VP_MMIO_WRITE, 4, gpa, 9);
	k = oncpu_key(131, 0x7000);
	EQ(k.phase, VP_PH_KERNEL_EXIT, "KVM: kernel exit");
	EQ(k.reason, 48, "kernel exit: its reason");
	EQ(k.isa, VP_ISA_VMX, "kernel exit: its ISA");
	EQ(k.ctx, VP_CTX_ACC, "kernel exit: the access");
	EQ(k.addr, gpa, "kernel exit: its address");
	UEXIT(131, 220, VP_KVM_EXIT_MMIO, 0);
	RUN_EXIT(131, 230);
	k = oncpu_key(131, 0x7000);
	EQ(k.phase, VP_PH_QEMU_EXIT, "KVM: QEMU handles the exit");
	EQ(k.reason, VP_KVM_EXIT_MMIO, "QEMU exit: KVM_EXIT_MMIO");
	EQ(k.ctx, VP_CTX_ACC, "QEMU exit: for the access");
	EQ(k.space, VP_MMIO, "QEMU exit: MMIO");
	EQ(k.dir, VP_WRITE, "QEMU exit: write");
	EQ(k.addr, gpa, "QEMU exit: address");
	/* the write's dispatch inside the exit names the region (more precise) */
	run(skel->progs.t_mr_write, 8, A(131), A(0), A(0xe1000), A(gpa), A(9), A(4), A(0), A(sp));
	EQ(oncpu_key(131, sp - 64).ctx, VP_CTX_MR, "QEMU exit: in the write's handler");
	EQ(oncpu_key(131, sp + 64).ctx, VP_CTX_ACC, "QEMU exit: after it, the exit's access");
	RUN_ENTER(131, 1230, 3);
	ENTRY(131, 1300, 0);
	k = oncpu_key(131, 0x7000);
	EQ(k.phase, VP_PH_GUEST, "back in the guest");
	EQ(k.ctx, VP_CTX_NONE, "guest again: no context");
	/* an exit to QEMU for no traced access: reason only */
	UEXIT(131, 2000, VP_KVM_EXIT_IO, 0);
	k = oncpu_key(131, 0x7000);
	EQ(k.phase, VP_PH_RETURNING, "returning");
	EQ(k.reason, VP_KVM_EXIT_IO, "returning: reason");
	EQ(k.ctx, VP_CTX_NONE, "returning: not for an access");
}

/* cpu_samples: counted per key; when full, the sample is a drop, not lost silently */
static void test_oncpu_count(void)
{
	__u64 before = counter(VP_C_CPU_SAMPLES), drops = counter(VP_C_CPU_DROPPED);
	struct vp_cpu_key k = {.tid = 140, .ustack = 1, .kstack = -1};
	__u64 v = 0;

	for (int i = 0; i < 3; i++)
		run(skel->progs.t_oncpu_count, 2, A(140), A(1));
	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.cpu_samples), &k, &v), "sample key");
	EQ(v, 3, "three samples, one key");
	EQ(counter(VP_C_CPU_SAMPLES) - before, 3, "samples counted");
	for (int i = 2; i < VP_CPU_MAX_SAMPLES + 6; i++)
		run(skel->progs.t_oncpu_count, 2, A(140), A(i));
	EQ(counter(VP_C_CPU_DROPPED) - drops, 5, "full: the rest counted as dropped");
	EQ(counter(VP_C_CPU_SAMPLES) - before, 3 + VP_CPU_MAX_SAMPLES - 1, "full: kept samples");
}

int main(void)
{
	skel = test_vexitprof_bpf__open();
	CHECK(skel, "open: %s", strerror(errno));
	/* as with --on-cpu: the write probe also notes the write in progress */
	skel->rodata->oncpu = 1;
	CHECK(!test_vexitprof_bpf__load(skel), "load: %s", strerror(errno));
	test_vmx_pairing();
	test_svm_and_unknown();
	test_unpaired();
	test_hist_buckets();
	test_mmio_exit_to_qemu();
	test_write_pairing_skips_flush();
	test_pio_pvm();
	test_fentry_run();
	test_slot_cache();
	test_thread_slots();
	test_usdt_and_e1000();
	fake_mr(&mr_system, NULL, 0, ~0ULL, "system");
	fake_mr(&mr_io, NULL, 0, 0x10000, "io");
	test_mr_table_names();
	test_mr_detail_cap();
	test_acc_page_cap();
	/* per-vCPU keys: exactly the 8 (vcpu, isa, reason) triples fed above, nothing else */
	EQ(map_len(skel->maps.exit_idx, sizeof(struct vp_exit_key)), 8, "exits entries");
	EQ(counter(VP_C_DROPPED), 0, "nothing dropped");
	test_phases();
	test_oncpu_ctx();
	test_oncpu_count();
	test_maps_full();
	test_vexitprof_bpf__destroy(skel);
	test_table_fold();
	printf("ok %d checks\n", checks);
	return 0;
}
