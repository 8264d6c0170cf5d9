// SPDX-License-Identifier: GPL-2.0
/*
 * vexitprof: where a QEMU process's VM exits and device-emulation time go.
 * Thin wrappers: filter by tgid (first thing, before any map access), pull
 * the event's fields, call the shared handlers in vexitprof_handlers.bpf.h.
 *
 * Kernel events are BTF-enabled raw tracepoints (tp_btf: the program gets the
 * tracepoint's arguments, the kernel builds no trace record).  KVM_RUN's
 * boundaries come, in user space's order of preference (run_hook), from
 * fentry/fexit on kvm_arch_vcpu_ioctl_run; from kvm:kvm_fpu (KVM_RUN loading
 * the guest FPU, just after vcpu_load) + kvm:kvm_userspace_exit, for kernels
 * that refuse fentry; or, as a last resort, from the ioctl syscall
 * tracepoints + kvm:kvm_userspace_exit (enabling a syscall tracepoint sends
 * every task on the host through the slow syscall path).  kvm_exit stays a
 * classic tracepoint: its exit reason is computed by the vendor module
 * (kvm_x86_ops.get_exit_info) while the record is built, and is not among
 * the tracepoint's arguments.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "vexitprof.h"

/* bpf_get_stackid's errors (vmlinux.h has no errno values) */
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif

static __always_inline int vp_running_vcpu_id(void);
#define VP_CURRENT_VCPU() vp_running_vcpu_id()
#include "vexitprof_handlers.bpf.h"

/*
 * The QEMU process: set by user space after load, before anything is
 * attached (so --serve can load an object before it knows its QEMU).
 */
__u32 targ_tgid = 0;
/* set by user space before load */
const volatile __u32 run_hook = VP_HOOK_FENTRY; /* enum vp_run_hook */
/*
 * 0: count only, no clock reads (vexitprof --serve without --timing).  Every
 * timestamp is then 1, not 0 (which the handlers read as "nothing open"), so
 * they take the same paths and count the same; all durations are 0.
 */
const volatile __u32 timing = 1;

static __always_inline __u64 vp_now(void)
{
	return timing ? bpf_ktime_get_ns() : 1;
}

char LICENSE[] SEC("license") = "GPL";

/*
 * Our own views of the KVM types (CO-RE): they exist whether KVM is built in
 * (types in vmlinux BTF) or a module (types in /sys/kernel/btf/kvm, which
 * libbpf searches too), and vmlinux.h need not have them.
 */
struct kvm_run___vp {
	__u32 exit_reason;
} __attribute__((preserve_access_index));

struct preempt_notifier___vp {
	struct hlist_node link;
} __attribute__((preserve_access_index));

struct kvm_vcpu___vp {
	struct preempt_notifier___vp preempt_notifier;
	int vcpu_id;
	struct kvm_run___vp *run;
} __attribute__((preserve_access_index));

struct task_struct___vp {
	struct hlist_head preempt_notifiers;
} __attribute__((preserve_access_index));

struct trace_event_raw_kvm_exit___vp {
	unsigned int exit_reason;
	__u32 isa;
	unsigned int vcpu_id;
} __attribute__((preserve_access_index));

/*
 * vcpu_id of the vCPU this thread has loaded (vcpu_load, which KVM_RUN does
 * first).  KVM's per-CPU kvm_running_vcpu is not reachable without
 * CONFIG_KALLSYMS_ALL, but vcpu_load also registers the vCPU's preempt
 * notifier on the thread, and a vCPU thread has no other: follow it back to
 * struct kvm_vcpu.  Runs once per thread (until the thread has a vCPU).
 */
static __always_inline int vp_running_vcpu_id(void)
{
	struct task_struct___vp *t = (void *)bpf_get_current_task_btf();
	struct hlist_node *n;
	struct kvm_vcpu___vp *v;
	int id = -1;

	if (!bpf_core_field_exists(t->preempt_notifiers))
		return -1;
	n = t->preempt_notifiers.first;
	if (!n)
		return -1;
	/* link is the first member of struct preempt_notifier */
	v = (void *)n - bpf_core_field_offset(struct kvm_vcpu___vp, preempt_notifier);
	if (bpf_core_read(&id, sizeof(id), &v->vcpu_id) || id < 0 || id > 0xffff)
		return -1;
	return id;
}

/* The current thread as the handlers name it: tid | low 32 bits of its start time << 32 */
static __always_inline __u64 vp_tk(struct task_struct *t)
{
	return (__u32)t->pid | (__u64)(__u32)t->start_time << 32;
}

/* Is the current thread one of the profiled QEMU's?  The first thing every kernel program does. */
static __always_inline int vp_ours(__u64 *tk)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (t->tgid != targ_tgid || !vp_open())
		return 0;
	*tk = vp_tk(t);
	return 1;
}

SEC("tp/kvm/kvm_exit")
int tp_kvm_exit(struct trace_event_raw_kvm_exit___vp *ctx)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	return vp_handle_kvm_exit(tk, vp_now(), ctx->vcpu_id, ctx->isa, ctx->exit_reason);
}

/* TP_PROTO(struct kvm_vcpu *vcpu, bool immediate_exit) (older kernels: vcpu only) */
SEC("tp_btf/kvm_entry")
int BPF_PROG(tp_kvm_entry, struct kvm_vcpu___vp *vcpu)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	return vp_handle_kvm_entry(tk, vp_now(), vcpu->vcpu_id);
}

/* Up to 8 bytes of an access's data (what the classic record's val holds). */
static __always_inline __u64 vp_data(const void *p, __u32 len)
{
	__u64 v = 0;

	if (!p || !len)
		return 0;
	/* fixed sizes keep the verifier happy; 1, 2, 4 and 8 are what guests do */
	switch (len) {
	case 1:
		bpf_probe_read_kernel(&v, 1, p);
		break;
	case 2:
		bpf_probe_read_kernel(&v, 2, p);
		break;
	case 4:
		bpf_probe_read_kernel(&v, 4, p);
		break;
	default:
		bpf_probe_read_kernel(&v, 8, p);
		if (len < 8)
			v &= (1ULL << (len * 8)) - 1;
	}
	return v;
}

/* TP_PROTO(int type, int len, u64 gpa, void *val) */
SEC("tp_btf/kvm_mmio")
int BPF_PROG(tp_kvm_mmio, int type, int len, __u64 gpa, void *val)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	/* the value only matters for writes (pairing with QEMU's dispatch) */
	return vp_handle_kvm_mmio(tk, type, len, gpa,
				  type == VP_MMIO_WRITE ? vp_data(val, len) : 0);
}

/*
 * TP_PROTO(unsigned int rw, unsigned int port, unsigned int size,
 *          unsigned int count, const void *data)
 */
SEC("tp_btf/kvm_pio")
int BPF_PROG(tp_kvm_pio, unsigned int rw, unsigned int port, unsigned int size, unsigned int count,
	     const void *data)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	return vp_handle_kvm_pio(tk, rw, port, size, count, rw ? (__u32)vp_data(data, size) : 0);
}

/*
 * TP_PROTO(__u32 reason, int errno), traced right after KVM_RUN's work is done:
 * with kvm_fpu it is the return too, with the ioctl tracepoints only the reason.
 */
SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(tp_kvm_userspace_exit, __u32 reason, int err)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	if (run_hook == VP_HOOK_KVM_FPU)
		return vp_handle_run_return(tk, vp_now(), reason, err);
	return vp_handle_uexit(tk, reason, err);
}

/*
 * TP_PROTO(int load): kvm_load_guest_fpu() traces 1 at the start of every
 * KVM_RUN (after vcpu_load), kvm_put_guest_fpu() 0 at its end.  Where fentry
 * is not available, the 1 marks KVM_RUN's entry without the ioctl tracepoints.
 */
SEC("tp_btf/kvm_fpu")
int BPF_PROG(tp_kvm_fpu, int load)
{
	__u64 tk;

	if (!load || !vp_ours(&tk))
		return 0;
	return vp_handle_run_enter(tk, vp_now(), -1, VP_VCPU_LOOKUP);
}

SEC("tp_btf/kvm_set_irq")
int BPF_PROG(tp_kvm_set_irq)
{
	__u64 tk;

	if (vp_ours(&tk))
		vp_count(VP_C_SET_IRQ, 1);
	return 0;
}

SEC("tp_btf/kvm_msi_set_irq")
int BPF_PROG(tp_kvm_msi_set_irq)
{
	__u64 tk;

	if (vp_ours(&tk))
		vp_count(VP_C_MSI_SET_IRQ, 1);
	return 0;
}

SEC("tp_btf/kvm_inj_virq")
int BPF_PROG(tp_kvm_inj_virq)
{
	__u64 tk;

	if (vp_ours(&tk))
		vp_count(VP_C_INJ_VIRQ, 1);
	return 0;
}

/* KVM_RUN boundaries: kvm_vcpu_ioctl(KVM_RUN) calls this and nothing else does */
SEC("fentry/kvm_arch_vcpu_ioctl_run")
int BPF_PROG(fentry_kvm_run, struct kvm_vcpu___vp *vcpu)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	return vp_handle_run_enter(tk, vp_now(), -1, vcpu->vcpu_id);
}

/* kvm_vcpu_ioctl traces kvm_userspace_exit(vcpu->run->exit_reason, r) right after this returns */
SEC("fexit/kvm_arch_vcpu_ioctl_run")
int BPF_PROG(fexit_kvm_run, struct kvm_vcpu___vp *vcpu, int ret)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	return vp_handle_run_return(tk, vp_now(), vcpu->run->exit_reason, ret);
}

/* Fallback KVM_RUN boundaries (see the top of this file) */
SEC("tp/syscalls/sys_enter_ioctl")
int tp_sys_enter_ioctl(struct trace_event_raw_sys_enter *ctx)
{
	__u64 tk;

	if (!vp_ours(&tk) || (__u32)ctx->args[1] != VP_KVM_RUN)
		return 0;
	return vp_handle_run_enter(tk, vp_now(), (__s32)ctx->args[0], -1);
}

SEC("tp/syscalls/sys_exit_ioctl")
int tp_sys_exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	__u64 tk;

	if (!vp_ours(&tk))
		return 0;
	return vp_handle_run_exit(tk, vp_now());
}

/*
 * USDT arguments.  libbpf's bpf_usdt_arg() looks the probe's spec up again
 * for every argument and reads registers with a helper call; these probes
 * fire on every guest access under TCG, so look the spec up once and read
 * registers straight from pt_regs (libbpf's code for other argument kinds).
 */
static __always_inline struct __bpf_usdt_spec *vp_usdt_spec(struct pt_regs *ctx)
{
	int id = __bpf_usdt_spec_id(ctx);

	return id < 0 ? NULL : bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
}

/*
 * One pt_regs field at a constant offset.  Through asm, because clang would
 * otherwise merge the switch below into one load at a computed offset from
 * ctx, which the verifier refuses.
 */
#define VP_REG_OFF(f) __builtin_offsetof(struct pt_regs, f)
#define VP_REG(ctx, f)                                                                             \
	({                                                                                         \
		__u64 __v;                                                                         \
		asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"(VP_REG_OFF(f))); \
		__v;                                                                               \
	})

static __always_inline __u64 vp_usdt_arg(struct pt_regs *ctx, struct __bpf_usdt_spec *spec, int n)
{
	struct __bpf_usdt_arg_spec *a;
	unsigned long val;
	long slow;

	if (n >= BPF_USDT_MAX_ARG_CNT || n >= spec->arg_cnt)
		return 0;
	a = &spec->args[n];
	if (a->arg_type != BPF_USDT_ARG_REG && a->arg_type != BPF_USDT_ARG_REG_DEREF) {
		bpf_usdt_arg(ctx, n, &slow);
		return slow;
	}
#if defined(__TARGET_ARCH_x86)
	/* one register per line: a table */
	/* clang-format off */
	switch (a->reg_off) {
	case VP_REG_OFF(di): val = VP_REG(ctx, di); break;
	case VP_REG_OFF(si): val = VP_REG(ctx, si); break;
	case VP_REG_OFF(dx): val = VP_REG(ctx, dx); break;
	case VP_REG_OFF(cx): val = VP_REG(ctx, cx); break;
	case VP_REG_OFF(r8): val = VP_REG(ctx, r8); break;
	case VP_REG_OFF(r9): val = VP_REG(ctx, r9); break;
	case VP_REG_OFF(ax): val = VP_REG(ctx, ax); break;
	case VP_REG_OFF(bx): val = VP_REG(ctx, bx); break;
	case VP_REG_OFF(bp): val = VP_REG(ctx, bp); break;
	case VP_REG_OFF(r10): val = VP_REG(ctx, r10); break;
	case VP_REG_OFF(r11): val = VP_REG(ctx, r11); break;
	case VP_REG_OFF(r12): val = VP_REG(ctx, r12); break;
	case VP_REG_OFF(r13): val = VP_REG(ctx, r13); break;
	case VP_REG_OFF(r14): val = VP_REG(ctx, r14); break;
	case VP_REG_OFF(r15): val = VP_REG(ctx, r15); break;
	case VP_REG_OFF(sp): val = VP_REG(ctx, sp); break;
	default:
		bpf_usdt_arg(ctx, n, &slow);
		return slow;
	}
	/* clang-format on */
#else
	bpf_usdt_arg(ctx, n, &slow);
	return slow;
#endif
	/* "4@32(%rsp)": in memory, at an offset from the register */
	if (a->arg_type == BPF_USDT_ARG_REG_DEREF &&
	    bpf_probe_read_user(&val, sizeof(val), (void *)val + a->val_off))
		return 0;
	/* 1, 2 or 4-byte arguments: clear (or sign-extend) the upper bits, as libbpf does */
	val <<= a->arg_bitshift;
	if (a->arg_signed)
		val = ((long)val) >> a->arg_bitshift;
	else
		val = val >> a->arg_bitshift;
	return val;
}

/* What the shared USDT handler bodies (vexitprof_handlers.bpf.h) read their arguments from */
struct vp_uargs {
	struct pt_regs *ctx;
	struct __bpf_usdt_spec *spec;
};

static __always_inline __u64 vp_uarg(struct vp_uargs *a, int n)
{
	return vp_usdt_arg(a->ctx, a->spec, n);
}

static __always_inline __u64 vp_utk(struct vp_uargs *a)
{
	return vp_tk(bpf_get_current_task_btf());
}

static __always_inline __u64 vp_usp(struct vp_uargs *a)
{
	return VP_REG(a->ctx, sp);
}

/*
 * USDT programs need no pid filter: libbpf attaches them to this QEMU only.
 * Each is the probe's argument spec plus a body from vexitprof_handlers.bpf.h,
 * which the unit test runs too.
 */
#define VP_USDT_PROG(prog, body)                                                                   \
	SEC("usdt")                                                                                \
	int prog(struct pt_regs *ctx)                                                              \
	{                                                                                          \
		struct vp_uargs a = {.ctx = ctx, .spec = vp_usdt_spec(ctx)};                       \
                                                                                                   \
		if (!a.spec || !vp_usdt_open())                                                    \
			return 0;                                                                  \
		return body;                                                                       \
	}

VP_USDT_PROG(usdt_mr_read, vp_usdt_mr(&a, VP_READ))
VP_USDT_PROG(usdt_mr_write, vp_usdt_mr(&a, VP_WRITE))
VP_USDT_PROG(usdt_e1000_tx_batch, vp_usdt_e1000_tx_batch(&a))
VP_USDT_PROG(usdt_e1000_rx_frame, vp_usdt_e1000_rx_frame(&a))

/* e1000_irq_raise/lower(icr, ims): no argument read, so no spec lookup either */
SEC("usdt")
int usdt_e1000_irq_raise(struct pt_regs *ctx)
{
	if (!vp_usdt_open())
		return 0;
	return vp_usdt_e1000_irq(true);
}

SEC("usdt")
int usdt_e1000_irq_lower(struct pt_regs *ctx)
{
	if (!vp_usdt_open())
		return 0;
	return vp_usdt_e1000_irq(false);
}

/*
 * --serve's sampled counting loads the programs above as uprobe_multi ones
 * (serve_usdt.h): libbpf attaches these to QEMU's probes instead, once, which
 * fills the argument specs and makes the uprobes (file offset, semaphore,
 * spec id) the daemon then attaches the programs above to, window by window.
 */
#define VP_USDT_SITE(name)                                                                         \
	SEC("usdt")                                                                                \
	int usdt_site_##name(struct pt_regs *ctx)                                                  \
	{                                                                                          \
		return 0;                                                                          \
	}

VP_USDT_SITE(mr_read)
VP_USDT_SITE(mr_write)
VP_USDT_SITE(e1000_tx_batch)
VP_USDT_SITE(e1000_rx_frame)
VP_USDT_SITE(e1000_irq_raise)
VP_USDT_SITE(e1000_irq_lower)

/*
 * Calibration: user space attaches this to a function of its own and times
 * calls with and without it, which measures what one traced USDT event costs
 * (uprobe trap included, which BPF run-time statistics do not see).
 */
SEC("uprobe")
int calib_uprobe(void *ctx)
{
	return 0;
}

/*
 * --on-cpu: one perf_event (CPU clock) per CPU, every task; samples of other
 * processes return at once.  The sample's key is the thread's attribution
 * context (vexitprof_oncpu.bpf.h) and its two stacks; the stacks stay in
 * cpu_stacks, the count in cpu_samples: nothing is copied per sample.  A
 * stack whose bucket holds another stack is not stored (no
 * BPF_F_REUSE_STACKID: that would rewrite the ids of stacks already
 * counted): the sample is counted as dropped.
 */
SEC("perf_event")
int oncpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *t;
	struct pt_regs *uregs;
	struct vp_cpu_key k = {};
	__u64 usp = 0;

	if ((__u32)(id >> 32) != targ_tgid || !vp_open())
		return 0;
	t = bpf_get_current_task_btf();
	/* the thread's user-space registers, also when the sample hit it in the kernel */
	uregs = (struct pt_regs *)bpf_task_pt_regs(t);
	if (uregs)
		usp = BPF_CORE_READ(uregs, sp);
	vp_oncpu_ctx(&k, vp_tk(t), usp);
	k.kstack = bpf_get_stackid(ctx, &cpu_stacks, 0);
	k.ustack = bpf_get_stackid(ctx, &cpu_stacks, BPF_F_USER_STACK);
	/* -EFAULT: no stack of that kind (a sample in user mode has no kernel stack) */
	if (k.kstack == -EEXIST || k.ustack == -EEXIST || k.kstack == -ENOMEM ||
	    k.ustack == -ENOMEM) {
		vp_count(VP_C_CPU_DROPPED, 1);
		return 0;
	}
	if (k.kstack < 0)
		k.kstack = -1;
	if (k.ustack < 0)
		k.ustack = -1;
	vp_oncpu_count(&k);
	return 0;
}
