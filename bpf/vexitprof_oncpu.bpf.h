/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --on-cpu: what a sampled thread of the target was doing, as a key of
 * cpu_samples.  The sample program (bpf/vexitprof.bpf.c, perf_event on the
 * CPU clock) adds the stacks; the context part is here so that the unit test
 * runs it on synthetic thread states.
 *
 * Attribution context, from the thread's state (vexitprof_maps.bpf.h):
 *  - a memory_region_ops_write whose handler is still running (TCG, or QEMU
 *    handling a KVM exit): that MemoryRegion and address;
 *  - else, KVM: the exit the phase says is in progress (KERNEL_EXIT: kvm_exit's
 *    reason and the access it traced; RETURNING/QEMU_EXIT: the exit to QEMU's
 *    reason, and its access when the exit is for it);
 *  - else the phase alone.  Threads without state (no vCPU events, no
 *    write in progress) are told apart by user space from their names.
 */
#ifndef VP_ONCPU_BPF_H
#define VP_ONCPU_BPF_H

/* set by user space with --on-cpu (else the write probe keeps no on-CPU state) */
const volatile __u32 oncpu = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_CPU_MAX_SAMPLES);
	__type(key, struct vp_cpu_key);
	__type(value, __u64);
} cpu_samples SEC(".maps");

/* user and kernel stacks; user space sets max_entries to 1 without --on-cpu */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, VP_CPU_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, VP_CPU_STACK_DEPTH * sizeof(__u64));
} cpu_stacks SEC(".maps");

/*
 * memory_region_ops_write on this thread at user stack pointer sp: its
 * handler starts.  The probe may sit at the entry of a trace function QEMU
 * did not inline (QEMU 10's _nocheck__trace_memory_region_ops_write): then
 * [sp] is that function's return address, which the call of the handler
 * overwrites.  So the frame that calls the handler is taken from sp + 8 on:
 * the caller's words whether the probe was inlined or not.
 */
static __always_inline void vp_oncpu_write(__u64 tk, __u64 sp, __u64 mr, __u64 addr)
{
	struct vp_thread *st = vp_thread_of(tk);

	if (!st)
		return;
	st->wr_sp = 0;
	if (!sp)
		return;
	sp += 8;
	if (bpf_probe_read_user(st->wr_canary, sizeof(st->wr_canary), (const void *)sp))
		return;
	st->wr_mr = mr;
	st->wr_off = addr;
	st->wr_sp = sp;
}

/* Is the write of st still being handled, the thread's user stack pointer being usp? */
static __always_inline bool vp_oncpu_in_write(struct vp_thread *st, __u64 usp)
{
	__u64 w[VP_WR_CANARY];

	if (!st->wr_sp)
		return false;
	if (usp < st->wr_sp && !bpf_probe_read_user(w, sizeof(w), (const void *)st->wr_sp) &&
	    w[0] == st->wr_canary[0] && w[1] == st->wr_canary[1] && w[2] == st->wr_canary[2] &&
	    w[3] == st->wr_canary[3])
		return true;
	/* returned: the frame is gone for good (a new write sets a new one) */
	st->wr_sp = 0;
	return false;
}

/* The attribution part of a sample's key (everything but the stacks). */
static __always_inline void vp_oncpu_ctx(struct vp_cpu_key *k, __u64 tk, __u64 usp)
{
	struct vp_thread *st = vp_thread_get(tk, false);

	k->tid = (__u32)tk;
	if (!st) {
		k->phase = VP_PH_NR;
		return;
	}
	k->phase = st->phase;
	if (vp_oncpu_in_write(st, usp)) {
		k->ctx = VP_CTX_MR;
		k->dir = VP_WRITE;
		k->addr = st->wr_mr;
		k->off = st->wr_off;
		return;
	}
	if (st->phase == VP_PH_KERNEL_EXIT) {
		k->isa = st->exit_isa;
		k->reason = st->exit_reason;
		if (st->cur_state == VP_CUR_NONE)
			return;
	} else if (st->phase == VP_PH_RETURNING || st->phase == VP_PH_QEMU_EXIT) {
		k->reason = st->uexit_reason;
		if (st->qemu_for != VP_QF_CUR)
			return;
	} else {
		return;
	}
	k->ctx = VP_CTX_ACC;
	k->space = st->cur.space;
	k->dir = st->cur.dir;
	k->addr = st->cur.addr;
}

/* Count one sample under k; false (and a drop counted) when cpu_samples is full. */
static __always_inline void vp_oncpu_count(const struct vp_cpu_key *k)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(&cpu_samples, k);

	if (v) {
		__sync_fetch_and_add(v, 1);
	} else if (bpf_map_update_elem(&cpu_samples, k, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&cpu_samples, k);
		if (!v) {
			vp_count(VP_C_CPU_DROPPED, 1);
			return;
		}
		__sync_fetch_and_add(v, 1);
	}
	vp_count(VP_C_CPU_SAMPLES, 1);
}
#endif
