// SPDX-License-Identifier: GPL-2.0
/*
 * The vexitprof handlers wrapped in raw_tp programs, so that BPF_PROG_TEST_RUN
 * can feed them synthetic tracepoint records (thread id and timestamp
 * included) on a machine where kvm_exit/kvm_entry never fire.  Argument
 * layout: c[0] thread (tid | start time << 32), c[1] timestamp (ignored by handlers that take
 * none), then the record's fields.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "vexitprof.h"
#include "vexitprof_handlers.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/vexitprof_unit")
int t_exit(__u64 *c)
{
	return vp_handle_kvm_exit(c[0], c[1], c[2], c[3], c[4]);
}

SEC("raw_tp/vexitprof_unit")
int t_entry(__u64 *c)
{
	return vp_handle_kvm_entry(c[0], c[1], c[2]);
}

SEC("raw_tp/vexitprof_unit")
int t_mmio(__u64 *c)
{
	return vp_handle_kvm_mmio(c[0], c[2], c[3], c[4], c[5]);
}

SEC("raw_tp/vexitprof_unit")
int t_pio(__u64 *c)
{
	return vp_handle_kvm_pio(c[0], c[2], c[3], c[4], c[5], c[6]);
}

SEC("raw_tp/vexitprof_unit")
int t_uexit(__u64 *c)
{
	return vp_handle_uexit(c[0], c[2], (__s32)c[3]);
}

/* tid, t, fd (-1 with fentry), vcpu (-1 with the ioctl tracepoints) */
SEC("raw_tp/vexitprof_unit")
int t_run_enter(__u64 *c)
{
	return vp_handle_run_enter(c[0], c[1], (__s32)c[2], (__s32)c[3]);
}

/* fexit of kvm_arch_vcpu_ioctl_run: tid, t, exit reason, return value */
SEC("raw_tp/vexitprof_unit")
int t_run_return(__u64 *c)
{
	return vp_handle_run_return(c[0], c[1], c[2], (__s32)c[3]);
}

SEC("raw_tp/vexitprof_unit")
int t_run_exit(__u64 *c)
{
	return vp_handle_run_exit(c[0], c[1]);
}

/*
 * USDT handlers: the shipped bodies (vp_usdt_*, vexitprof_handlers.bpf.h)
 * with the probe's arguments taken from the record: c[0] thread, then the
 * probe's arguments in order (c[1] is argument 0).  A name pointer (argument
 * 5 of memory_region_ops_*) points into the test process, which is current
 * while BPF_PROG_TEST_RUN runs a raw_tp program, so it is read as QEMU's is.
 */
struct vp_uargs {
	__u64 *c;
};

static __always_inline __u64 vp_uarg(struct vp_uargs *a, int n)
{
	return a->c[n + 1];
}

static __always_inline __u64 vp_utk(struct vp_uargs *a)
{
	return a->c[0];
}

/* after the probe's six arguments: the user stack pointer (a buffer of the test) */
static __always_inline __u64 vp_usp(struct vp_uargs *a)
{
	return a->c[7];
}

/* --on-cpu: the attribution part of a sample's key, into oncpu_key[0] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vp_cpu_key);
} oncpu_key SEC(".maps");

/* tid, user stack pointer at the sample */
SEC("raw_tp/vexitprof_unit")
int t_oncpu_ctx(__u64 *c)
{
	struct vp_cpu_key k = {};
	__u32 zero = 0;

	vp_oncpu_ctx(&k, c[0], c[1]);
	bpf_map_update_elem(&oncpu_key, &zero, &k, BPF_ANY);
	return 0;
}

/* the sample program's counting (cpu_samples full -> dropped): tid, ustack id */
SEC("raw_tp/vexitprof_unit")
int t_oncpu_count(__u64 *c)
{
	struct vp_cpu_key k = {.tid = (__u32)c[0], .ustack = (__s32)c[1], .kstack = -1};

	vp_oncpu_count(&k);
	return 0;
}

/* tid, cpu_index, mr, addr, value, size, name */
SEC("raw_tp/vexitprof_unit")
int t_mr_read(__u64 *c)
{
	struct vp_uargs a = {.c = c};

	return vp_usdt_mr(&a, VP_READ);
}

SEC("raw_tp/vexitprof_unit")
int t_mr_write(__u64 *c)
{
	struct vp_uargs a = {.c = c};

	return vp_usdt_mr(&a, VP_WRITE);
}

/* tid, descs, frames, tdh, tdt */
SEC("raw_tp/vexitprof_unit")
int t_tx_batch(__u64 *c)
{
	struct vp_uargs a = {.c = c};

	return vp_usdt_e1000_tx_batch(&a);
}

/* tid, size, rdh, rdt */
SEC("raw_tp/vexitprof_unit")
int t_rx_frame(__u64 *c)
{
	struct vp_uargs a = {.c = c};

	return vp_usdt_e1000_rx_frame(&a);
}

SEC("raw_tp/vexitprof_unit")
int t_irq_raise(__u64 *c)
{
	return vp_usdt_e1000_irq(true);
}

SEC("raw_tp/vexitprof_unit")
int t_irq_lower(__u64 *c)
{
	return vp_usdt_e1000_irq(false);
}
