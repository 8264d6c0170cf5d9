// SPDX-License-Identifier: GPL-2.0
/*
 * vexitprof: where a QEMU process's VM exits and device-emulation time go.
 * Thin wrappers: filter by tgid, pull the record fields, call the shared
 * handlers in vexitprof_handlers.bpf.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>
#include "vexitprof.h"
#include "vexitprof_handlers.bpf.h"

/* set by user space before load */
const volatile __u32 targ_tgid = 0;

char LICENSE[] SEC("license") = "GPL";

static __always_inline int vp_ours(__u32 *tid)
{
	__u64 id = bpf_get_current_pid_tgid();

	*tid = (__u32)id;
	return (id >> 32) == targ_tgid;
}

SEC("tp/kvm/kvm_exit")
int tp_kvm_exit(struct trace_event_raw_kvm_exit *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid))
		return 0;
	return vp_handle_kvm_exit(tid, bpf_ktime_get_ns(), ctx->vcpu_id, ctx->isa,
				  ctx->exit_reason);
}

SEC("tp/kvm/kvm_entry")
int tp_kvm_entry(struct trace_event_raw_kvm_entry *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid))
		return 0;
	return vp_handle_kvm_entry(tid, bpf_ktime_get_ns(), ctx->vcpu_id);
}

SEC("tp/kvm/kvm_mmio")
int tp_kvm_mmio(struct trace_event_raw_kvm_mmio *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid))
		return 0;
	return vp_handle_kvm_mmio(tid, bpf_ktime_get_ns(), ctx->type, ctx->len, ctx->gpa, ctx->val);
}

SEC("tp/kvm/kvm_pio")
int tp_kvm_pio(struct trace_event_raw_kvm_pio *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid))
		return 0;
	return vp_handle_kvm_pio(tid, bpf_ktime_get_ns(), ctx->rw, ctx->port, ctx->size, ctx->count,
				 ctx->val);
}

SEC("tp/kvm/kvm_userspace_exit")
int tp_kvm_userspace_exit(struct trace_event_raw_kvm_userspace_exit *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid))
		return 0;
	return vp_handle_uexit(tid, bpf_ktime_get_ns(), ctx->reason, ctx->errno);
}

SEC("tp/kvm/kvm_set_irq")
int tp_kvm_set_irq(void *ctx)
{
	__u32 tid;

	if (vp_ours(&tid))
		vp_count(VP_C_SET_IRQ, 1);
	return 0;
}

SEC("tp/kvm/kvm_msi_set_irq")
int tp_kvm_msi_set_irq(void *ctx)
{
	__u32 tid;

	if (vp_ours(&tid))
		vp_count(VP_C_MSI_SET_IRQ, 1);
	return 0;
}

SEC("tp/kvm/kvm_inj_virq")
int tp_kvm_inj_virq(void *ctx)
{
	__u32 tid;

	if (vp_ours(&tid))
		vp_count(VP_C_INJ_VIRQ, 1);
	return 0;
}

SEC("tp/syscalls/sys_enter_ioctl")
int tp_sys_enter_ioctl(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid) || (__u32)ctx->args[1] != VP_KVM_RUN)
		return 0;
	return vp_handle_run_enter(tid, bpf_ktime_get_ns(), (__s32)ctx->args[0]);
}

SEC("tp/syscalls/sys_exit_ioctl")
int tp_sys_exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid;

	if (!vp_ours(&tid))
		return 0;
	return vp_handle_run_exit(tid, bpf_ktime_get_ns());
}

SEC("usdt")
int BPF_USDT(usdt_mr_read, int cpu_index, void *mr, __u64 addr, __u64 value, unsigned size,
	     const char *name)
{
	return vp_handle_mr_op((__u32)bpf_get_current_pid_tgid(), VP_READ, cpu_index, (__u64)mr,
			       addr, value, size, (__u64)name);
}

SEC("usdt")
int BPF_USDT(usdt_mr_write, int cpu_index, void *mr, __u64 addr, __u64 value, unsigned size,
	     const char *name)
{
	return vp_handle_mr_op((__u32)bpf_get_current_pid_tgid(), VP_WRITE, cpu_index, (__u64)mr,
			       addr, value, size, (__u64)name);
}

SEC("usdt")
int BPF_USDT(usdt_e1000_tx_batch, __u32 descs, __u32 frames, __u32 tdh, __u32 tdt)
{
	return vp_handle_e1000_tx_batch(descs, frames);
}

SEC("usdt")
int BPF_USDT(usdt_e1000_rx_frame, __u64 size, __u32 rdh, __u32 rdt)
{
	vp_count(VP_C_USDT_E1000, 1);
	vp_count(VP_C_E1000_RX_FRAMES, 1);
	vp_count(VP_C_E1000_RX_BYTES, size);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_e1000_irq_raise, __u32 icr, __u32 ims)
{
	vp_count(VP_C_USDT_E1000, 1);
	vp_count(VP_C_E1000_IRQ_RAISE, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_e1000_irq_lower, __u32 icr, __u32 ims)
{
	vp_count(VP_C_USDT_E1000, 1);
	vp_count(VP_C_E1000_IRQ_LOWER, 1);
	return 0;
}

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
