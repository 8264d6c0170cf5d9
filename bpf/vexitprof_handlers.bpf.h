/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps and event handlers of vexitprof.  Handlers take plain values (thread id,
 * timestamp, record fields) rather than a tracepoint context so that the same
 * code runs attached to the real tracepoints (bpf/vexitprof.bpf.c) and under
 * BPF_PROG_TEST_RUN with synthetic records (tests/unit/test_vexitprof.bpf.c).
 *
 * How one vCPU thread's events fit together (x86 KVM):
 *   kvm_exit .. [kvm_mmio|kvm_pio] .. [kvm_userspace_exit, KVM_RUN returns,
 *   QEMU handles it (USDT memory_region_ops_*), KVM_RUN entered again] ..
 *   kvm_entry
 * An MMIO read that goes to QEMU traces kvm_mmio twice (READ_UNSATISFIED before,
 * READ on completion); a PIO IN that goes to QEMU traces kvm_pio only on
 * completion, after QEMU ran; writes trace once, before KVM decides whether an
 * in-kernel device (coalesced MMIO, ioeventfd) takes them.
 */
#ifndef VP_HANDLERS_BPF_H
#define VP_HANDLERS_BPF_H

#include "bits.bpf.h"

#define VP_MAX_THREADS 1024
#define VP_MAX_EXITS   4096
#define VP_MAX_UEXITS  1024
#define VP_MAX_ACC     8192
#define VP_MAX_MR      8192
#define VP_MAX_MRNAMES 2048
#define VP_MAX_GPA     8192

/* Layout of QEMU's MemoryRegion; rodata, so user space can set it before load. */
const volatile __u32 mr_off_container = VP_MR_OFF_CONTAINER;
const volatile __u32 mr_off_size = VP_MR_OFF_SIZE;
const volatile __u32 mr_off_addr = VP_MR_OFF_ADDR;
const volatile __u32 mr_off_name = VP_MR_OFF_NAME;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct vp_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_EXITS);
	__type(key, struct vp_exit_key);
	__type(value, struct vp_exit_val);
} exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_UEXITS);
	__type(key, struct vp_uexit_key);
	__type(value, struct vp_uexit_val);
} uexits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_ACC);
	__type(key, struct vp_acc_key);
	__type(value, struct vp_acc_val);
} accesses SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_MR);
	__type(key, struct vp_mr_key);
	__type(value, struct vp_mr_val);
} mr_ops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_MRNAMES);
	__type(key, __u64);
	__type(value, struct vp_mr_name);
} mr_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_GPA);
	__type(key, struct vp_gpa_key);
	__type(value, struct vp_gpa_val);
} gpa_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vp_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VP_TXB_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} tx_batch_hist SEC(".maps");

static __always_inline void vp_count(__u32 idx, __u64 n)
{
	__u32 zero = 0;
	struct vp_counters *c = bpf_map_lookup_elem(&counters, &zero);

	if (c && idx < VP_C_NR)
		c->c[idx] += n;
}

/* Lookup or insert a zeroed entry; counts a drop when the map is full. */
static __always_inline void *vp_lookup_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		vp_count(VP_C_DROPPED, 1);
	return v;
}

static __always_inline struct vp_thread *vp_thread(__u32 tid)
{
	struct vp_thread *st = bpf_map_lookup_elem(&threads, &tid);

	if (st)
		return st;
	/* user space pre-fills vCPU threads it found; others are keyed by tid until kvm_exit names
	 * them */
	struct vp_thread init = {};
	init.vcpu = VP_TID_FLAG | tid;
	bpf_map_update_elem(&threads, &tid, &init, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&threads, &tid);
	if (!st)
		vp_count(VP_C_DROPPED, 1);
	return st;
}

static __always_inline struct vp_acc_val *vp_acc(const struct vp_acc_key *k)
{
	static const struct vp_acc_val zero = {};

	return vp_lookup_init(&accesses, k, &zero);
}

static __always_inline int vp_handle_kvm_exit(__u32 tid, __u64 now, __u32 vcpu, __u32 isa,
					      __u32 reason)
{
	static const struct vp_exit_val zero = {};
	struct vp_exit_key key = {.vcpu = vcpu, .isa = isa, .reason = reason};
	struct vp_thread *st;
	struct vp_exit_val *v;

	vp_count(VP_C_KVM_EXIT, 1);
	st = vp_thread(tid);
	if (!st)
		return 0;
	if (st->in_exit)
		vp_count(VP_C_UNPAIRED, 1);
	st->vcpu = vcpu;
	st->in_exit = 1;
	st->exit_ts = now;
	st->exit_vcpu = vcpu;
	st->exit_isa = isa;
	st->exit_reason = reason;
	st->exit_user_ns = 0;
	st->cur_valid = 0;
	st->cur_fresh = 0;
	v = vp_lookup_init(&exits, &key, &zero);
	if (v)
		__sync_fetch_and_add(&v->count, 1);
	return 0;
}

static __always_inline int vp_handle_kvm_entry(__u32 tid, __u64 now, __u32 vcpu)
{
	struct vp_exit_key key = {};
	struct vp_thread *st;
	struct vp_exit_val *v;
	__u64 d, kd;

	vp_count(VP_C_KVM_ENTRY, 1);
	st = bpf_map_lookup_elem(&threads, &tid);
	if (!st || !st->in_exit || st->exit_vcpu != vcpu || now < st->exit_ts) {
		/* the first entry after attaching closes an exit we did not see */
		vp_count(VP_C_UNPAIRED, 1);
		if (st)
			st->in_exit = 0;
		return 0;
	}
	d = now - st->exit_ts;
	key.vcpu = st->exit_vcpu;
	key.isa = st->exit_isa;
	key.reason = st->exit_reason;
	v = bpf_map_lookup_elem(&exits, &key);
	if (v) {
		__sync_fetch_and_add(&v->timed, 1);
		__sync_fetch_and_add(&v->total_ns, d);
		__sync_fetch_and_add(&v->user_ns, st->exit_user_ns);
		__sync_fetch_and_add(&v->hist[vp_hist_slot(d)], 1);
	}
	if (st->cur_valid) {
		struct vp_acc_val *a = bpf_map_lookup_elem(&accesses, &st->cur);

		kd = d > st->exit_user_ns ? d - st->exit_user_ns : 0;
		if (a) {
			__sync_fetch_and_add(&a->kernel_ns, kd);
			__sync_fetch_and_add(&a->ktimed, 1);
		}
	}
	st->in_exit = 0;
	st->cur_valid = 0;
	st->cur_fresh = 0;
	return 0;
}

/* A new guest access: counted once, remembered as what a following exit to QEMU is for. */
static __always_inline void vp_new_access(struct vp_thread *st, __u8 space, __u8 dir, __u64 addr,
					  __u32 size, __u64 val)
{
	struct vp_acc_val *a;

	st->cur.vcpu = st->vcpu;
	st->cur.space = space;
	st->cur.dir = dir;
	st->cur.pad = 0;
	st->cur.addr = addr;
	st->cur_valid = 1;
	st->cur_fresh = 1;
	st->pair_dir = dir;
	st->pair_size = size;
	st->pair_val = val;
	a = vp_acc(&st->cur);
	if (a) {
		__sync_fetch_and_add(&a->count, 1);
		a->size = size;
	}
}

static __always_inline int vp_handle_kvm_mmio(__u32 tid, __u64 now, __u32 type, __u32 len,
					      __u64 gpa, __u64 val)
{
	struct vp_thread *st;

	vp_count(VP_C_KVM_MMIO, 1);
	st = vp_thread(tid);
	if (!st)
		return 0;
	if (type == VP_MMIO_READ && st->skip_read && st->skip_read_gpa == gpa) {
		st->skip_read = 0;
		return 0;
	}
	vp_new_access(st, VP_MMIO, type == VP_MMIO_WRITE ? VP_WRITE : VP_READ, gpa, len, val);
	if (type == VP_MMIO_READ_UNSATISFIED) {
		st->skip_read = 1;
		st->skip_read_gpa = gpa;
	} else if (type == VP_MMIO_READ) {
		/* completed in the kernel: nothing will exit for it */
		st->cur_fresh = 0;
	}
	return 0;
}

static __always_inline void vp_learn_gpa(__u8 space, __u64 addr, __u64 mr, __u64 off)
{
	struct vp_gpa_key gk = {.addr = addr, .space = space};
	struct vp_gpa_val gv = {.mr = mr, .offset = off};

	bpf_map_update_elem(&gpa_map, &gk, &gv, BPF_ANY);
}

static __always_inline int vp_handle_kvm_pio(__u32 tid, __u64 now, __u32 rw, __u32 port, __u32 size,
					     __u32 count, __u32 val)
{
	struct vp_thread *st;
	struct vp_acc_val *a;

	vp_count(VP_C_KVM_PIO, 1);
	st = vp_thread(tid);
	if (!st)
		return 0;
	if (rw) {
		vp_new_access(st, VP_PIO, VP_WRITE, port, size, val);
		return 0;
	}
	/* IN is traced once it has its data: in the kernel right away, or after QEMU supplied it */
	vp_new_access(st, VP_PIO, VP_READ, port, size, val);
	st->cur_fresh = 0;
	if (st->await_pio_in) {
		st->await_pio_in = 0;
		a = bpf_map_lookup_elem(&accesses, &st->cur);
		if (a) {
			__sync_fetch_and_add(&a->to_user, 1);
			__sync_fetch_and_add(&a->user_ns, st->pending_user_ns);
		}
		st->pending_user_ns = 0;
		if (st->pair_have_mr)
			vp_learn_gpa(VP_PIO, port, st->pair_mr, st->pair_off);
		st->pair_have_mr = 0;
		st->pair_pending = 0;
	}
	return 0;
}

static __always_inline int vp_handle_uexit(__u32 tid, __u64 now, __u32 reason, __s32 err)
{
	static const struct vp_uexit_val zero = {};
	struct vp_uexit_key key = {};
	struct vp_thread *st;
	struct vp_uexit_val *v;
	struct vp_acc_val *a;

	vp_count(VP_C_KVM_UEXIT, 1);
	st = vp_thread(tid);
	if (!st)
		return 0;
	if (err < 0)
		reason = VP_UEXIT_ERRNO + (__u32)(-err);
	key.vcpu = st->vcpu;
	key.reason = reason;
	v = vp_lookup_init(&uexits, &key, &zero);
	if (v)
		__sync_fetch_and_add(&v->count, 1);
	st->uexit_valid = 1;
	st->uexit_reason = reason;
	st->cause_valid = 0;
	st->await_pio_in = 0;
	st->pair_pending = 0;
	st->pair_have_mr = 0;
	if (st->cur_fresh && st->cur_valid &&
	    ((reason == VP_KVM_EXIT_MMIO && st->cur.space == VP_MMIO) ||
	     (reason == VP_KVM_EXIT_IO && st->cur.space == VP_PIO))) {
		a = bpf_map_lookup_elem(&accesses, &st->cur);
		if (a)
			__sync_fetch_and_add(&a->to_user, 1);
		st->cause_valid = 1;
		st->pair_pending = 1;
	} else if (reason == VP_KVM_EXIT_IO) {
		st->await_pio_in = 1;
		st->pair_pending = 1;
		st->pair_dir = VP_READ;
		st->pair_size = 0;
	}
	st->cur_fresh = 0;
	return 0;
}

static __always_inline int vp_handle_run_enter(__u32 tid, __u64 now, __s32 fd)
{
	struct vp_uexit_key key = {};
	struct vp_thread *st;
	struct vp_uexit_val *v;
	struct vp_acc_val *a;
	__u64 u;

	vp_count(VP_C_IOCTL_ENTER, 1);
	st = vp_thread(tid);
	if (!st)
		return 0;
	st->in_run = 1;
	st->run_fd = fd;
	if (!st->ret_ts || now < st->ret_ts)
		goto out;
	u = now - st->ret_ts;
	if (st->uexit_valid) {
		key.vcpu = st->vcpu;
		key.reason = st->uexit_reason;
		v = bpf_map_lookup_elem(&uexits, &key);
		if (v) {
			__sync_fetch_and_add(&v->timed, 1);
			__sync_fetch_and_add(&v->user_ns, u);
			__sync_fetch_and_add(&v->hist[vp_hist_slot(u)], 1);
		}
	}
	if (st->cause_valid) {
		a = bpf_map_lookup_elem(&accesses, &st->cur);
		if (a)
			__sync_fetch_and_add(&a->user_ns, u);
	} else if (st->await_pio_in) {
		st->pending_user_ns = u;
	}
	if (st->in_exit)
		st->exit_user_ns += u;
out:
	st->ret_ts = 0;
	st->uexit_valid = 0;
	st->cause_valid = 0;
	if (!st->await_pio_in)
		st->pair_pending = 0;
	return 0;
}

static __always_inline int vp_handle_run_exit(__u32 tid, __u64 now)
{
	struct vp_thread *st = bpf_map_lookup_elem(&threads, &tid);

	if (!st || !st->in_run)
		return 0;
	vp_count(VP_C_IOCTL_EXIT, 1);
	st->in_run = 0;
	st->ret_ts = now;
	return 0;
}

/* Name, base and size of a MemoryRegion, read from QEMU's memory the first time it is seen. */
static __noinline int vp_read_mr(__u64 mr, __u64 name_ptr)
{
	struct vp_mr_name n = {};
	__u64 cur = mr, a = 0, next = 0, root = mr, np = 0;
	int i;

	bpf_probe_read_user_str(n.name, sizeof(n.name), (const void *)name_ptr);
	bpf_probe_read_user(&n.size, sizeof(n.size), (const void *)(mr + mr_off_size));
	for (i = 0; i < 16 && cur; i++) {
		if (bpf_probe_read_user(&a, sizeof(a), (const void *)(cur + mr_off_addr)) ||
		    bpf_probe_read_user(&next, sizeof(next),
					(const void *)(cur + mr_off_container)))
			break;
		n.base += a;
		root = cur;
		cur = next;
	}
	n.base_ok = cur == 0;
	if (n.base_ok && !bpf_probe_read_user(&np, sizeof(np), (const void *)(root + mr_off_name)))
		bpf_probe_read_user_str(n.root, sizeof(n.root), (const void *)np);
	bpf_map_update_elem(&mr_names, &mr, &n, BPF_NOEXIST);
	return 0;
}

/* memory_region_ops_read/write; name_ptr is read once per MemoryRegion (0: do not read). */
static __always_inline int vp_handle_mr_op(__u32 tid, __u32 dir, __s32 cpu_index, __u64 mr,
					   __u64 addr, __u64 value, __u32 size, __u64 name_ptr)
{
	static const struct vp_mr_val zero = {};
	struct vp_mr_key key = {.vcpu = (__u32)cpu_index, .dir = dir, .mr = mr, .offset = addr};
	struct vp_mr_val *v;
	struct vp_thread *st;

	vp_count(VP_C_USDT_MR, 1);
	v = vp_lookup_init(&mr_ops, &key, &zero);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		v->size = size;
	}
	if (name_ptr && !bpf_map_lookup_elem(&mr_names, &mr))
		vp_read_mr(mr, name_ptr);
	st = bpf_map_lookup_elem(&threads, &tid);
	if (!st || !st->pair_pending || st->pair_dir != dir)
		return 0;
	vp_count(VP_C_USDT_IN_EXIT, 1);
	if (st->await_pio_in) {
		st->pair_mr = mr;
		st->pair_off = addr;
		st->pair_have_mr = 1;
		st->pair_pending = 0;
		return 0;
	}
	/*
	 * QEMU flushes coalesced MMIO writes before dispatching the exit, so the
	 * first write seen need not be ours: size and value must match too.
	 */
	if (st->pair_size != size || (dir == VP_WRITE && st->pair_val != value))
		return 0;
	vp_learn_gpa(st->cur.space, st->cur.addr, mr, addr);
	st->pair_pending = 0;
	return 0;
}

static __always_inline int vp_handle_e1000_tx_batch(__u32 descs, __u32 frames)
{
	__u32 slot = frames < VP_TXB_SLOTS - 1 ? frames : VP_TXB_SLOTS - 1;
	__u64 *h;

	vp_count(VP_C_USDT_E1000, 1);
	vp_count(VP_C_E1000_TX_BATCHES, 1);
	vp_count(VP_C_E1000_TX_DESCS, descs);
	vp_count(VP_C_E1000_TX_FRAMES, frames);
	h = bpf_map_lookup_elem(&tx_batch_hist, &slot);
	if (h)
		*h += 1;
	return 0;
}

#endif
