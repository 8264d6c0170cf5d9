/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Event handlers of vexitprof (their maps: vexitprof_maps.bpf.h).  Handlers take plain values
 * (thread id, timestamp, record fields) rather than a tracepoint context so that the same code runs
 * attached to the real events (bpf/vexitprof.bpf.c) and under BPF_PROG_TEST_RUN with synthetic
 * records (tests/unit/test_vexitprof.bpf.c). Threads are named by their tid (and start time),
 * passed in, so that the unit test can play several threads from one.
 *
 * How one vCPU thread's events fit together (x86 KVM):
 *   kvm_exit .. [kvm_mmio|kvm_pio] .. [KVM_RUN returns (kvm_userspace_exit),
 *   QEMU handles it (USDT memory_region_ops_*), KVM_RUN entered again] ..
 *   kvm_entry
 * An MMIO read that goes to QEMU traces kvm_mmio twice (READ_UNSATISFIED before,
 * READ on completion); a PIO IN that goes to QEMU traces kvm_pio only on
 * completion, after QEMU ran; writes trace once, before KVM decides whether an
 * in-kernel device (coalesced MMIO, ioeventfd) takes them.
 *
 * Hot-path rules (vexitprof runs on every exit of the guest): the caller
 * filters by tgid before anything else; no hash lookup once a thread's
 * current access / exit / exit to QEMU is known (their array slots are
 * cached in struct vp_thread); no clock read where no time is needed; plain
 * adds (each aggregate slot has one writer thread, see vexitprof.h).
 * Bounded detail (vexitprof.h) stays off the hot path: a memory_region_ops
 * dispatch at a known offset is one mr_ops lookup, as before; only a new
 * offset, or one past its region's cap, also looks up its region
 * (mr_regions).  A kernel-seen access at a known address is one acc_idx
 * lookup (none while the thread's slot cache holds it); a new address, or
 * one past its page's cap, also looks up its page (acc_pages).
 */
#ifndef VP_HANDLERS_BPF_H
#define VP_HANDLERS_BPF_H

#include "bits.bpf.h"
#include "vexitprof_maps.bpf.h"

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

/*
 * Slot of key in an aggregate array, handed out on first sight: returns slot
 * + 1, or 0 when the array has no slot below max (a drop counted if drop).
 * Two threads racing on a new key both take a slot; the loser's stays unused.
 */
static __always_inline __u32 vp_slot_new(void *idx, const void *key, __u32 *next, __u32 max,
					 bool drop)
{
	__u32 *s;
	__u32 n;

	if (*next >= max)
		goto full;
	n = __sync_fetch_and_add(next, 1);
	if (n >= max)
		goto full;
	if (!bpf_map_update_elem(idx, key, &n, BPF_NOEXIST))
		return n + 1;
	s = bpf_map_lookup_elem(idx, key);
	if (s)
		return *s + 1;
full:
	if (drop)
		vp_count(VP_C_DROPPED, 1);
	return 0;
}

static __always_inline __u32 vp_slot(void *idx, const void *key, __u32 *next, __u32 max)
{
	__u32 *s = bpf_map_lookup_elem(idx, key);

	if (s)
		return *s + 1;
	return vp_slot_new(idx, key, next, max, true);
}

static __always_inline void *vp_slot_val(void *vals, __u32 slot1)
{
	__u32 i = slot1 - 1;

	return slot1 ? bpf_map_lookup_elem(vals, &i) : NULL;
}

#define vp_acc_val(st)	 ((struct vp_acc_val *)vp_slot_val(&acc_vals, (st)->acc_slot))
#define vp_exit_val(st)	 ((struct vp_exit_val *)vp_slot_val(&exit_vals, (st)->exit_slot))
#define vp_uexit_val(st) ((struct vp_uexit_val *)vp_slot_val(&uexit_vals, (st)->uexit_slot))

/* A fresh state for thread tk (tid | start32 << 32) */
static __always_inline void vp_thread_init(struct vp_thread *st, __u64 tk)
{
	__u32 tid = (__u32)tk;
	/* vCPU from user space's hint, else keyed by tid until something names it */
	struct vp_tid_info *h = bpf_map_lookup_elem(&tid_vcpu, &tid);

	/* everything but tid, which claims the slot (see vp_thread_get) */
	__builtin_memset((void *)st + sizeof(st->tid), 0, sizeof(*st) - sizeof(st->tid));
	st->tid = tid;
	st->start32 = tk >> 32;
	st->vcpu = h && h->vcpu >= 0 ? (__u32)h->vcpu : VP_TID_FLAG | tid;
}

/*
 * State of thread tk = tid | (low 32 bits of its start time) << 32; NULL if it
 * has none and !create (or no room: a drop is counted).
 */
static __always_inline struct vp_thread *vp_thread_get(__u64 tk, bool create)
{
	__u32 tid = (__u32)tk, i = tid & (VP_THREAD_SLOTS - 1);
	struct vp_thread *st = bpf_map_lookup_elem(&threads, &i);

	if (!st)
		return NULL;
	if (st->tid == tid) {
		if (st->start32 == (__u32)(tk >> 32))
			return st;
		/* the tid was recycled: the slot's thread is gone */
		if (!create)
			return NULL;
		vp_thread_init(st, tk);
		return st;
	}
	if (!st->tid) {
		if (!create)
			return NULL;
		if (!__sync_val_compare_and_swap(&st->tid, 0, tid)) {
			vp_thread_init(st, tk);
			return st;
		}
	}
	/* the slot is another thread's */
	st = bpf_map_lookup_elem(&threads_ovf, &tid);
	if (st && st->start32 == (__u32)(tk >> 32))
		return st;
	if (!create)
		return NULL;
	if (!st) {
		struct vp_thread init = {};

		bpf_map_update_elem(&threads_ovf, &tid, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&threads_ovf, &tid);
	}
	if (!st) {
		vp_count(VP_C_DROPPED, 1);
		return NULL;
	}
	vp_thread_init(st, tk);
	return st;
}

#define vp_thread_of(tk) vp_thread_get(tk, true)

/* Tell user space what this thread is (once per change). */
static __always_inline void vp_note_thread(struct vp_thread *st)
{
	__u32 tid = st->tid;
	struct vp_tid_info i = {
	    .vcpu = st->vcpu & VP_TID_FLAG ? -1 : (__s32)st->vcpu,
	    .run_fd = st->run_fd,
	};

	bpf_map_update_elem(&tid_vcpu, &tid, &i, BPF_ANY);
}

/* A vCPU index became known (kvm_exit, KVM_RUN): rows from now on carry it. */
static __always_inline void vp_name_vcpu(struct vp_thread *st, __u32 vcpu)
{
	if (st->vcpu == vcpu)
		return;
	st->vcpu = vcpu;
	vp_note_thread(st);
}

/* Inside the KVM_RUN ioctl (the phases a KVM_RUN return leaves). */
static __always_inline bool vp_in_run(const struct vp_thread *st)
{
	return st->phase == VP_PH_GUEST || st->phase == VP_PH_KERNEL_EXIT ||
	       st->phase == VP_PH_RETURNING;
}

/* kvm_entry, or a stray one: the kvm_exit window closes (KVM_RUN goes on in the guest). */
static __always_inline void vp_close_exit(struct vp_thread *st)
{
	st->exit_open = 0;
	if (st->phase == VP_PH_KERNEL_EXIT)
		st->phase = VP_PH_GUEST;
}

static __always_inline int vp_handle_kvm_exit(__u64 tk, __u64 now, __u32 vcpu, __u32 isa,
					      __u32 reason)
{
	struct vp_thread *st;
	struct vp_exit_val *v;

	vp_count(VP_C_KVM_EXIT, 1);
	st = vp_thread_of(tk);
	if (!st)
		return 0;
	if (st->exit_open)
		vp_count(VP_C_UNPAIRED, 1);
	vp_name_vcpu(st, vcpu);
	if (!st->exit_slot || st->exit_vcpu != vcpu || st->exit_isa != isa ||
	    st->exit_reason != reason) {
		struct vp_exit_key key = {.vcpu = vcpu, .isa = isa, .reason = reason};

		st->exit_vcpu = vcpu;
		st->exit_isa = isa;
		st->exit_reason = reason;
		st->exit_slot = vp_slot(&exit_idx, &key, &exit_next, VP_MAX_EXITS);
	}
	st->exit_open = 1;
	/* only from GUEST: an exit seen outside KVM_RUN (attached mid-run) leaves the phase */
	if (st->phase == VP_PH_GUEST)
		st->phase = VP_PH_KERNEL_EXIT;
	st->exit_ts = now;
	st->exit_user_ns = 0;
	st->cur_state = VP_CUR_NONE;
	v = vp_exit_val(st);
	if (v)
		v->count++;
	return 0;
}

static __always_inline int vp_handle_kvm_entry(__u64 tk, __u64 now, __u32 vcpu)
{
	struct vp_thread *st;
	struct vp_exit_val *v;
	struct vp_acc_val *a;
	__u64 d, kd;

	vp_count(VP_C_KVM_ENTRY, 1);
	st = vp_thread_get(tk, false);
	if (!st || !st->exit_open || st->exit_vcpu != vcpu || now < st->exit_ts) {
		/* the first entry after attaching closes an exit we did not see */
		vp_count(VP_C_UNPAIRED, 1);
		if (st)
			vp_close_exit(st);
		return 0;
	}
	d = now - st->exit_ts;
	v = vp_exit_val(st);
	if (v) {
		v->timed++;
		v->total_ns += d;
		v->user_ns += st->exit_user_ns;
		v->hist[vp_hist_slot(d)]++;
	}
	if (st->cur_state != VP_CUR_NONE && (a = vp_acc_val(st))) {
		kd = d > st->exit_user_ns ? d - st->exit_user_ns : 0;
		a->kernel_ns += kd;
		a->ktimed++;
	}
	vp_close_exit(st);
	st->cur_state = VP_CUR_NONE;
	return 0;
}

/*
 * Slot of a guest address (key) that has none yet: a row of its own while
 * its page has fewer than VP_ACC_PAGE_CAP (MMIO) and the array has room,
 * else the page's folded row.  Only the first access to an address (and
 * later ones to a folded address) come here: one acc_pages lookup more.
 */
static __always_inline __u32 vp_acc_slot_new(const struct vp_acc_key *key)
{
	struct vp_acc_key pk = *key;
	struct vp_acc_page *pg;
	__u32 slot;

	pk.addr = (key->addr & ~((1ULL << VP_ACC_PAGE_SHIFT) - 1)) | VP_ACC_FOLD;
	pg = bpf_map_lookup_elem(&acc_pages, &pk);
	if (!pg) {
		struct vp_acc_page init = {};

		bpf_map_update_elem(&acc_pages, &pk, &init, BPF_NOEXIST);
		pg = bpf_map_lookup_elem(&acc_pages, &pk);
	}
	if (!pg || key->space == VP_PIO || pg->addrs < VP_ACC_PAGE_CAP) {
		slot = vp_slot_new(&acc_idx, key, &acc_next, VP_MAX_ACC - VP_ACC_FOLD_SLOTS, false);
		if (slot) {
			if (pg)
				__sync_fetch_and_add(&pg->addrs, 1);
			return slot;
		}
		vp_count(VP_C_ACC_FOLD_FULL, 1);
	}
	if (pg && pg->fold_slot)
		return pg->fold_slot;
	slot = vp_slot(&acc_idx, &pk, &acc_next, VP_MAX_ACC);
	if (pg)
		pg->fold_slot = slot;
	return slot;
}

static __always_inline __u32 vp_acc_slot(const struct vp_acc_key *key)
{
	__u32 *s = bpf_map_lookup_elem(&acc_idx, key);

	return s ? *s + 1 : vp_acc_slot_new(key);
}

/* A new guest access: counted once, remembered as what a following exit to QEMU is for. */
static __always_inline void vp_new_access(struct vp_thread *st, __u8 space, __u8 dir, __u64 addr,
					  __u32 size, __u64 val)
{
	struct vp_acc_val *a;

	if (!st->acc_slot || st->cur.vcpu != st->vcpu || st->cur.space != space ||
	    st->cur.dir != dir || st->cur.addr != addr) {
		st->cur.vcpu = st->vcpu;
		st->cur.space = space;
		st->cur.dir = dir;
		st->cur.pad = 0;
		st->cur.addr = addr;
		st->acc_slot = vp_acc_slot(&st->cur);
	}
	st->cur_state = VP_CUR_FRESH;
	st->pair_dir = dir;
	st->pair_size = size;
	st->pair_val = val;
	a = vp_acc_val(st);
	if (a) {
		a->count++;
		a->size = size;
	}
}

static __always_inline int vp_handle_kvm_mmio(__u64 tk, __u32 type, __u32 len, __u64 gpa, __u64 val)
{
	struct vp_thread *st;

	vp_count(VP_C_KVM_MMIO, 1);
	st = vp_thread_of(tk);
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
		st->cur_state = VP_CUR_KNOWN;
	}
	return 0;
}

static __always_inline void vp_learn_gpa(__u8 space, __u64 addr, __u64 mr, __u64 off)
{
	struct vp_gpa_key gk = {.addr = addr, .space = space};
	struct vp_gpa_val gv = {.mr = mr, .offset = off};

	bpf_map_update_elem(&gpa_map, &gk, &gv, BPF_ANY);
}

static __always_inline int vp_handle_kvm_pio(__u64 tk, __u32 rw, __u32 port, __u32 size,
					     __u32 count, __u32 val)
{
	struct vp_thread *st;
	struct vp_acc_val *a;

	vp_count(VP_C_KVM_PIO, 1);
	st = vp_thread_of(tk);
	if (!st)
		return 0;
	if (rw) {
		vp_new_access(st, VP_PIO, VP_WRITE, port, size, val);
		return 0;
	}
	/* IN is traced once it has its data: in the kernel right away, or after QEMU supplied it */
	vp_new_access(st, VP_PIO, VP_READ, port, size, val);
	st->cur_state = VP_CUR_KNOWN;
	if (st->qemu_for == VP_QF_PIO_IN) {
		st->qemu_for = VP_QF_NONE;
		a = vp_acc_val(st);
		if (a) {
			a->to_user++;
			a->user_ns += st->pending_user_ns;
		}
		st->pending_user_ns = 0;
		if (st->pair == VP_PAIR_HAVE_MR)
			vp_learn_gpa(VP_PIO, port, st->pair_mr, st->pair_off);
		st->pair = VP_PAIR_NONE;
	}
	return 0;
}

/* KVM_RUN returned to user space with exit reason (KVM_EXIT_*), or err < 0 */
static __always_inline void vp_uexit(struct vp_thread *st, __u32 reason, __s32 err)
{
	struct vp_uexit_val *v;
	struct vp_acc_val *a;

	vp_count(VP_C_KVM_UEXIT, 1);
	if (err < 0)
		reason = VP_UEXIT_ERRNO + (__u32)(-err);
	if (!st->uexit_slot || st->uexit_vcpu != st->vcpu || st->uexit_reason != reason) {
		struct vp_uexit_key key = {.vcpu = st->vcpu, .reason = reason};

		st->uexit_vcpu = st->vcpu;
		st->uexit_reason = reason;
		st->uexit_slot = vp_slot(&uexit_idx, &key, &uexit_next, VP_MAX_UEXITS);
	}
	v = vp_uexit_val(st);
	if (v)
		v->count++;
	st->phase = vp_in_run(st) ? VP_PH_RETURNING : VP_PH_QEMU_EXIT;
	st->qemu_for = VP_QF_NONE;
	st->pair = VP_PAIR_NONE;
	if (st->cur_state == VP_CUR_FRESH &&
	    ((reason == VP_KVM_EXIT_MMIO && st->cur.space == VP_MMIO) ||
	     (reason == VP_KVM_EXIT_IO && st->cur.space == VP_PIO))) {
		a = vp_acc_val(st);
		if (a)
			a->to_user++;
		st->qemu_for = VP_QF_CUR;
		st->pair = VP_PAIR_WANT;
	} else if (reason == VP_KVM_EXIT_IO) {
		st->qemu_for = VP_QF_PIO_IN;
		st->pair = VP_PAIR_WANT;
		st->pair_dir = VP_READ;
		st->pair_size = 0;
	}
	if (st->pair == VP_PAIR_WANT && !pairing_used)
		pairing_used = 1;
	if (st->cur_state == VP_CUR_FRESH)
		st->cur_state = VP_CUR_KNOWN;
}

static __always_inline void vp_run_exit(struct vp_thread *st, __u64 now)
{
	if (!vp_in_run(st))
		return;
	vp_count(VP_C_IOCTL_EXIT, 1);
	st->phase = st->phase == VP_PH_RETURNING ? VP_PH_QEMU_EXIT : VP_PH_OUTSIDE;
	st->ret_ts = now;
}

/* kvm:kvm_userspace_exit (with the ioctl tracepoints) */
static __always_inline int vp_handle_uexit(__u64 tk, __u32 reason, __s32 err)
{
	struct vp_thread *st = vp_thread_of(tk);

	if (st)
		vp_uexit(st, reason, err);
	return 0;
}

/* sys_exit_ioctl (any ioctl of the process; only a thread inside KVM_RUN counts) */
static __always_inline int vp_handle_run_exit(__u64 tk, __u64 now)
{
	struct vp_thread *st = vp_thread_get(tk, false);

	if (st)
		vp_run_exit(st, now);
	return 0;
}

/*
 * KVM_RUN returns and what kvm_userspace_exit says (exit reason, return
 * value), in one program: fexit of kvm_arch_vcpu_ioctl_run, or
 * kvm_userspace_exit itself when KVM_RUN's entry comes from kvm_fpu.
 */
static __always_inline int vp_handle_run_return(__u64 tk, __u64 now, __u32 reason, __s32 err)
{
	struct vp_thread *st = vp_thread_of(tk);

	if (!st)
		return 0;
	vp_run_exit(st, now);
	vp_uexit(st, reason, err);
	return 0;
}

/*
 * vcpu argument of vp_handle_run_enter: ask VP_CURRENT_VCPU() (the vcpu_id of
 * the vCPU loaded on this CPU), only while the thread has no vCPU yet.
 */
#define VP_VCPU_LOOKUP (-2)
#ifndef VP_CURRENT_VCPU
#define VP_CURRENT_VCPU() (-1)
#endif

/*
 * KVM_RUN entered: fd >= 0 from the ioctl tracepoint, vcpu >= 0 from the
 * fentry on kvm_arch_vcpu_ioctl_run (struct kvm_vcpu's vcpu_id), or
 * VP_VCPU_LOOKUP (kvm_fpu).
 */
static __always_inline int vp_handle_run_enter(__u64 tk, __u64 now, __s32 fd, __s32 vcpu)
{
	struct vp_thread *st;
	struct vp_uexit_val *v;
	struct vp_acc_val *a;
	bool uexit;
	__u64 u;

	vp_count(VP_C_IOCTL_ENTER, 1);
	st = vp_thread_of(tk);
	if (!st)
		return 0;
	/* kvm_userspace_exit seen since the last KVM_RUN entry: this ends its user time */
	uexit = st->phase == VP_PH_RETURNING || st->phase == VP_PH_QEMU_EXIT;
	if (fd >= 0 && st->run_fd != fd) {
		st->run_fd = fd;
		vp_note_thread(st);
	}
	if (vcpu == VP_VCPU_LOOKUP)
		vcpu = st->vcpu & VP_TID_FLAG ? VP_CURRENT_VCPU() : -1;
	if (vcpu >= 0)
		vp_name_vcpu(st, vcpu);
	if (!st->ret_ts || now < st->ret_ts)
		goto out;
	u = now - st->ret_ts;
	if (uexit && (v = vp_uexit_val(st))) {
		v->timed++;
		v->user_ns += u;
		v->hist[vp_hist_slot(u)]++;
	}
	if (st->qemu_for == VP_QF_CUR) {
		a = vp_acc_val(st);
		if (a)
			a->user_ns += u;
	} else if (st->qemu_for == VP_QF_PIO_IN) {
		st->pending_user_ns = u;
	}
	if (st->exit_open)
		st->exit_user_ns += u;
out:
	st->ret_ts = 0;
	st->phase = st->exit_open ? VP_PH_KERNEL_EXIT : VP_PH_GUEST;
	/* a PIO IN still waits for its completion (kvm_pio), and so does its pairing */
	if (st->qemu_for == VP_QF_CUR)
		st->qemu_for = VP_QF_NONE;
	if (st->qemu_for != VP_QF_PIO_IN && st->pair == VP_PAIR_WANT)
		st->pair = VP_PAIR_NONE;
	return 0;
}

/* s starts with the string literal p; exact: and ends there */
#define VP_STR_IS(s, p, exact) vp_str_starts((s), (p), sizeof(p) - ((exact) ? 0 : 1))

static __always_inline bool vp_str_starts(const char *s, const char *p, int n)
{
	/* a bounded loop (the verifier walks it); runs once per region */
	for (int i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

/*
 * Does profiler/regnames.c name this region's registers?  The same names
 * as its regions[] table (exact, or a prefix where QEMU appends the virtio
 * device's name); the unit test checks the two agree.  I/O port regions
 * count too: their registers are ports, and there are few.
 */
static __always_inline __u32 vp_mr_has_table(const struct vp_mr_name *n)
{
	const char *s = n->name;

	if (VP_STR_IS(n->root, "io", true))
		return 1;
	return VP_STR_IS(s, "e1000-mmio", true) || VP_STR_IS(s, "e1000e-mmio", true) ||
	       VP_STR_IS(s, "e1000-io", true) || VP_STR_IS(s, "virtio-pci-common-", false) ||
	       VP_STR_IS(s, "virtio-pci-notify-", false) ||
	       VP_STR_IS(s, "virtio-pci-isr-", false) ||
	       VP_STR_IS(s, "virtio-pci-device-virtio-net", true) ||
	       VP_STR_IS(s, "virtio-pci", true) || VP_STR_IS(s, "msix-table", true) ||
	       VP_STR_IS(s, "msix-pba", true) || VP_STR_IS(s, "serial", true) ||
	       VP_STR_IS(s, "pci-conf-idx", true) || VP_STR_IS(s, "pci-conf-data", true);
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
	n.has_table = vp_mr_has_table(&n);
	bpf_map_update_elem(&mr_names, &mr, &n, BPF_NOEXIST);
	return 0;
}

static __always_inline void vp_mr_name(__u64 mr, __u64 name_ptr)
{
	if (name_ptr && !bpf_map_lookup_elem(&mr_names, &mr))
		vp_read_mr(mr, name_ptr);
}

/*
 * The includer supplies the USDT probe's arguments: struct vp_uargs,
 * vp_uarg(a, n) (argument n, 0-based), vp_utk(a) (the current thread as
 * tid | start time << 32) and vp_usp(a) (its user stack pointer).  The shipped programs read them
 * from the probe's registers (bpf/vexitprof.bpf.c), the unit test from a synthetic record
 * (tests/unit/test_vexitprof.bpf.c); everything below is the same code.
 */
struct vp_uargs;
static __always_inline __u64 vp_uarg(struct vp_uargs *a, int n);
static __always_inline __u64 vp_utk(struct vp_uargs *a);
/* the user stack pointer at the probe (--on-cpu) */
static __always_inline __u64 vp_usp(struct vp_uargs *a);

#include "vexitprof_oncpu.bpf.h"

/*
 * An offset of a region not seen before on this (vcpu, dir): a row of its
 * own while the region is under its cap and mr_ops has room, else counted
 * in the region's folded total.  Also where a region gets named (its first
 * dispatch per vcpu and dir), so the name is read once, not per event.
 */
static __always_inline void vp_mr_new(struct vp_uargs *ua, const struct vp_mr_key *key, __u32 size)
{
	struct vp_mr_rkey rk = {.vcpu = key->vcpu, .dir = key->dir, .mr = key->mr};
	struct vp_mr_val one = {.count = 1, .size = size};
	struct vp_mr_region *r;
	struct vp_mr_val *v;
	__u64 mr = key->mr;

	r = bpf_map_lookup_elem(&mr_regions, &rk);
	if (!r) {
		struct vp_mr_region init = {.cap = VP_MR_CAP_OTHER};
		struct vp_mr_name *n;

		vp_mr_name(mr, vp_uarg(ua, 5));
		n = bpf_map_lookup_elem(&mr_names, &mr);
		if (n && n->has_table)
			init.cap = VP_MR_CAP_TABLE;
		bpf_map_update_elem(&mr_regions, &rk, &init, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&mr_regions, &rk);
		if (!r) {
			/* the only loss: more (vcpu, dir, region) than mr_regions holds */
			vp_count(VP_C_DROPPED, 1);
			return;
		}
	}
	if (r->offsets < r->cap) {
		if (!bpf_map_update_elem(&mr_ops, key, &one, BPF_NOEXIST)) {
			__sync_fetch_and_add(&r->offsets, 1);
			return;
		}
		/* another CPU added it meanwhile, or mr_ops is full */
		v = bpf_map_lookup_elem(&mr_ops, key);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			return;
		}
		__sync_fetch_and_add(&r->map_full, 1);
	}
	__sync_fetch_and_add(&r->folded, 1);
	r->size = size;
}

/*
 * memory_region_ops_read/write, step 1: count the dispatch.  An offset seen
 * before costs one lookup (the hot path); see vp_mr_new for the others.
 */
static __always_inline void vp_mr_count(struct vp_uargs *ua, __u32 dir, __s32 cpu_index, __u64 mr,
					__u64 addr, __u32 size)
{
	struct vp_mr_key key = {.vcpu = (__u32)cpu_index, .dir = dir, .mr = mr, .offset = addr};
	struct vp_mr_val *v;

	vp_count(VP_C_USDT_MR, 1);
	v = bpf_map_lookup_elem(&mr_ops, &key);
	if (v) {
		/* several non-vCPU threads share cpu_index -1: atomic */
		__sync_fetch_and_add(&v->count, 1);
		v->size = size;
		return;
	}
	vp_mr_new(ua, &key, size);
}

/*
 * Step 2: the thread whose exit to QEMU this dispatch may be handling, or NULL.
 * Only then does the caller need the value (writes are matched on it).
 */
static __always_inline struct vp_thread *vp_mr_pairing(struct vp_uargs *ua, __u32 dir)
{
	struct vp_thread *st;

	if (!pairing_used)
		return NULL;
	st = vp_thread_get(vp_utk(ua), false);
	if (!st || st->pair != VP_PAIR_WANT || st->pair_dir != dir)
		return NULL;
	return st;
}

/* Step 3: learn which MemoryRegion + offset the exiting guest address is. */
static __always_inline void vp_mr_pair(struct vp_thread *st, __u32 dir, __u64 mr, __u64 addr,
				       __u64 value, __u32 size)
{
	vp_count(VP_C_USDT_IN_EXIT, 1);
	if (st->qemu_for == VP_QF_PIO_IN) {
		st->pair_mr = mr;
		st->pair_off = addr;
		st->pair = VP_PAIR_HAVE_MR;
		return;
	}
	/*
	 * QEMU flushes coalesced MMIO writes before dispatching the exit, so the
	 * first write seen need not be ours: size and value must match too.
	 */
	if (st->pair_size != size || (dir == VP_WRITE && st->pair_val != value))
		return;
	vp_learn_gpa(st->cur.space, st->cur.addr, mr, addr);
	st->pair = VP_PAIR_NONE;
}

/*
 * USDT memory_region_ops_read/write(cpu_index, mr, addr, value, size, name):
 * the whole handler (usdt_mr_read/write, and t_mr in the unit test).
 */
static __always_inline int vp_usdt_mr(struct vp_uargs *ua, __u32 dir)
{
	struct vp_thread *st;
	__u64 mr, addr;
	__u32 size;

	if (!vp_open())
		return 0;
	mr = vp_uarg(ua, 1);
	addr = vp_uarg(ua, 2);
	size = vp_uarg(ua, 4);
	vp_mr_count(ua, dir, (__s32)vp_uarg(ua, 0), mr, addr, size);
	/* the write's handler runs next: on-CPU samples until it returns are the write's */
	if (oncpu && dir == VP_WRITE)
		vp_oncpu_write(vp_utk(ua), vp_usp(ua), mr, addr);
	st = vp_mr_pairing(ua, dir);
	if (st)
		vp_mr_pair(st, dir, mr, addr, dir == VP_WRITE ? vp_uarg(ua, 3) : 0, size);
	return 0;
}

/*
 * The global counters for an e1000 USDT event, with the event itself counted,
 * or NULL when the profile is closed (nothing may be counted then).
 */
static __always_inline struct vp_counters *vp_e1000_counters(void)
{
	__u32 zero = 0;
	struct vp_counters *c;

	if (!vp_open())
		return NULL;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		c->c[VP_C_USDT_E1000]++;
	return c;
}

/* USDT e1000_tx_batch(descs, frames, tdh, tdt) */
static __always_inline int vp_usdt_e1000_tx_batch(struct vp_uargs *ua)
{
	__u32 descs, frames, slot;
	struct vp_counters *c;
	__u64 *h;

	if (!vp_open())
		return 0;
	descs = vp_uarg(ua, 0);
	frames = vp_uarg(ua, 1);
	slot = frames < VP_TXB_SLOTS - 1 ? frames : VP_TXB_SLOTS - 1;
	c = vp_e1000_counters();
	if (c) {
		c->c[VP_C_E1000_TX_BATCHES]++;
		c->c[VP_C_E1000_TX_DESCS] += descs;
		c->c[VP_C_E1000_TX_FRAMES] += frames;
	}
	h = bpf_map_lookup_elem(&tx_batch_hist, &slot);
	if (h)
		*h += 1;
	return 0;
}

/* USDT e1000_rx_frame(size, rdh, rdt) */
static __always_inline int vp_usdt_e1000_rx_frame(struct vp_uargs *ua)
{
	struct vp_counters *c = vp_e1000_counters();

	if (c) {
		c->c[VP_C_E1000_RX_FRAMES]++;
		c->c[VP_C_E1000_RX_BYTES] += vp_uarg(ua, 0);
	}
	return 0;
}

/* USDT e1000_irq_raise/lower(icr, ims): counted, arguments not needed */
static __always_inline int vp_usdt_e1000_irq(bool raise)
{
	struct vp_counters *c = vp_e1000_counters();

	if (c) {
		c->c[raise ? VP_C_E1000_IRQ_RAISE : VP_C_E1000_IRQ_LOWER]++;
	}
	return 0;
}

#endif
