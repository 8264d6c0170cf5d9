/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The BPF side's maps and globals: per-thread progress (struct vp_thread in
 * vexitprof.h, read only by the unit test), the aggregates user space reads
 * back, and what user space sets (rodata, vp_closed).
 */
#ifndef VP_MAPS_BPF_H
#define VP_MAPS_BPF_H

#define VP_MAX_THREADS 1024
#define VP_MAX_EXITS   4096
#define VP_MAX_UEXITS  1024
/* detail rows may take all but VP_ACC_FOLD_SLOTS (vexitprof.h) */
#define VP_MAX_ACC	  32768
#define VP_MAX_ACC_PAGES  8192
#define VP_MAX_MR	  16384
#define VP_MAX_MR_REGIONS 4096
#define VP_MAX_MRNAMES	  2048
#define VP_MAX_GPA	  8192

/* Layout of QEMU's MemoryRegion; rodata, so user space can set it before load. */
const volatile __u32 mr_off_container = VP_MR_OFF_CONTAINER;
const volatile __u32 mr_off_size = VP_MR_OFF_SIZE;
const volatile __u32 mr_off_addr = VP_MR_OFF_ADDR;
const volatile __u32 mr_off_name = VP_MR_OFF_NAME;

/* set once an exit to QEMU waits for its memory_region_ops: until then (TCG) USDT skips pairing */
__u32 pairing_used = 0;

/*
 * Set by user space when the profile ends: every program returns at once
 * from then on, so the report ends at the signal and not when the last
 * uprobe is detached (each detach waits for an RCU grace period; all of
 * them take most of a second).
 */
__u32 vp_closed = 0;

static __always_inline int vp_open(void)
{
	return !*(volatile __u32 *)&vp_closed;
}

/*
 * Set by --serve's sampled counting outside its windows: the USDT programs
 * return at once, so a window counts from the moment every probe is attached
 * to one instant at its end, not from each probe's attach to its detach
 * (detaches run one after another, each waiting for RCU grace periods).
 */
__u32 vp_usdt_paused = 0;
/*
 * And while not paused, with vp_usdt_until set: only while the kernel's
 * monotonic clock is in [vp_usdt_from, vp_usdt_until), so a window's length
 * does not depend on when the daemon gets a CPU (its waking up would also
 * preempt the very threads it counts, at the window's start).
 */
__u64 vp_usdt_from = 0;
__u64 vp_usdt_until = 0;

static __always_inline int vp_usdt_open(void)
{
	__u64 until, now;

	if (*(volatile __u32 *)&vp_usdt_paused)
		return 0;
	until = *(volatile __u64 *)&vp_usdt_until;
	if (!until)
		return 1;
	now = bpf_ktime_get_ns();
	return now >= *(volatile __u64 *)&vp_usdt_from && now < until;
}

/* next free slot of each aggregate array */
__u32 exit_next = 0;
__u32 uexit_next = 0;
__u32 acc_next = 0;

/*
 * A vCPU thread's progress (struct vp_thread, enums in vexitprof.h): its
 * phase in the KVM_RUN cycle, and beside it the few things that are not a
 * phase: exit_open (kvm_exit .. kvm_entry, which spans the exit's QEMU part
 * and may never fire), the current access (cur_state), what the exit to
 * QEMU is for (qemu_for), the MemoryRegion pairing (pair) and skip_read.
 * Like perf's kvm begin/end event ops, each event either begins or ends
 * something; this is every change the handlers make ("-": left alone).  A
 * thread slot starts all 0: OUTSIDE, nothing open (vp_thread_init).
 *
 *   event (handler)           phase                    exit cur    qemu_for  pair      skip
 *   KVM_RUN entered           exit ? KERNEL_EXIT:GUEST  -    -     CUR->NONE WANT->NONE -
 *     (run_enter)                                                            unless PIO_IN
 *   kvm_exit                  GUEST->KERNEL_EXIT        1    NONE  -         -         -
 *   kvm_mmio write/READ_UNSAT -                         -    FRESH -         -         1 (unsat.)
 *   kvm_mmio READ (in kernel) -                         -    KNOWN -         -         -
 *   kvm_mmio READ after QEMU  -                         -    -     -         -         0 (ignored)
 *   kvm_pio OUT               -                         -    FRESH -         -         -
 *   kvm_pio IN (has its data) -                         -    KNOWN PIO_IN->  ->NONE*   -
 *                                                                  NONE*
 *   kvm_userspace_exit        in KVM_RUN ? RETURNING    -    FRESH CUR if cur WANT if    -
 *     (uexit)                   : QEMU_EXIT                  ->    was FRESH qemu_for
 *                                                            KNOWN else      else
 *                                                                  PIO_IN if NONE
 *                                                                  IO else
 *                                                                  NONE
 *   memory_region_ops, PIO_IN -                         -    -     -         WANT->
 *                                                                            HAVE_MR
 *   memory_region_ops matches -                         -    -     -         WANT->NONE -
 *   KVM_RUN returned          RETURNING->QEMU_EXIT,     -    -     -         -         -
 *     (run_exit)              GUEST/KERNEL_EXIT->OUTSIDE
 *   kvm_entry (also stray)    KERNEL_EXIT->GUEST        0    NONE  -         -         -
 *                                                            (paired only)
 *
 * exit = exit_open, cur = cur_state; *: only when an IN exit to QEMU was
 * waiting for it (qemu_for PIO_IN).  In KVM_RUN = GUEST, KERNEL_EXIT or
 * RETURNING; kvm_userspace_exit seen since KVM_RUN was entered = RETURNING
 * or QEMU_EXIT.  kvm_exit outside KVM_RUN (attached mid-run) only opens the
 * window.  HAVE_MR implies qemu_for PIO_IN; FRESH is the only cur_state an
 * exit to QEMU is matched with.
 */
/*
 * Thread state: slot tid % VP_THREAD_SLOTS of an array (an inline lookup,
 * cheaper than task local storage or a hash), claimed by the first vCPU
 * thread that needs it; a thread whose slot another thread holds goes to
 * the threads_ovf hash.  A slot remembers its thread's tid and the low bits
 * of its start time, so a recycled tid never inherits a dead thread's state.
 */
#define VP_THREAD_SLOTS 4096

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VP_THREAD_SLOTS);
	__type(key, __u32);
	__type(value, struct vp_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct vp_thread);
} threads_ovf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct vp_tid_info);
} tid_vcpu SEC(".maps");

/* kvm_exit: (vcpu, isa, reason) -> slot of exit_vals */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_EXITS);
	__type(key, struct vp_exit_key);
	__type(value, __u32);
} exit_idx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VP_MAX_EXITS);
	__type(key, __u32);
	__type(value, struct vp_exit_val);
} exit_vals SEC(".maps");

/* exits to QEMU: (vcpu, reason) -> slot of uexit_vals */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_UEXITS);
	__type(key, struct vp_uexit_key);
	__type(value, __u32);
} uexit_idx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VP_MAX_UEXITS);
	__type(key, __u32);
	__type(value, struct vp_uexit_val);
} uexit_vals SEC(".maps");

/* guest accesses: (vcpu, space, dir, addr) -> slot of acc_vals */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_ACC);
	__type(key, struct vp_acc_key);
	__type(value, __u32);
} acc_idx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VP_MAX_ACC);
	__type(key, __u32);
	__type(value, struct vp_acc_val);
} acc_vals SEC(".maps");

/* kvm_mmio/kvm_pio: addresses with a row of their own per page, and the page's folded row */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_ACC_PAGES);
	__type(key, struct vp_acc_key); /* addr: page | VP_ACC_FOLD */
	__type(value, struct vp_acc_page);
} acc_pages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_MR);
	__type(key, struct vp_mr_key);
	__type(value, struct vp_mr_val);
} mr_ops SEC(".maps");

/* memory_region_ops per (vcpu, dir, MemoryRegion): detail cap and what it folded */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VP_MAX_MR_REGIONS);
	__type(key, struct vp_mr_rkey);
	__type(value, struct vp_mr_region);
} mr_regions SEC(".maps");

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

#endif
