/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Structures shared by the BPF side (bpf/vexitprof.bpf.c) and user space.
 * Every map keeps aggregates only; nothing is copied per event.
 *
 * Keys carry the vCPU so that two vCPU threads never update the same entry:
 * that is what keeps plain hash maps free of cross-CPU contention here.
 */
#ifndef VP_VEXITPROF_H
#define VP_VEXITPROF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* log2 buckets: slot i holds values v with 2^i <= v < 2^(i+1) (slot 0 also holds 0). */
#define VP_HIST_SLOTS 40
/* A vCPU thread whose index is not known yet is keyed VP_TID_FLAG | tid. */
#define VP_TID_FLAG 0x80000000u
#define VP_NAME_LEN 48
/* TX batch size histogram: linear, one slot per frame count, the last one is ">= VP_TXB_SLOTS-1".
 */
#define VP_TXB_SLOTS 65

#define VP_KVM_RUN 0xAE80u
/* words of a write handler's frame that tell it is still running (struct vp_thread) */
#define VP_WR_CANARY 4

enum vp_isa {
	VP_ISA_VMX = 1,
	VP_ISA_SVM = 2,
};

enum vp_space {
	VP_MMIO = 0,
	VP_PIO = 1,
};

enum vp_dir {
	VP_READ = 0,
	VP_WRITE = 1,
};

/* kvm_mmio's type field */
enum vp_mmio_type {
	VP_MMIO_READ_UNSATISFIED = 0,
	VP_MMIO_READ = 1,
	VP_MMIO_WRITE = 2,
};

/* KVM_EXIT_* values we need to match an exit to QEMU with the access that caused it. */
#define VP_KVM_EXIT_IO	 2
#define VP_KVM_EXIT_MMIO 6
/* A KVM_RUN that returned an error (-EINTR ...) is keyed VP_UEXIT_ERRNO + errno. */
#define VP_UEXIT_ERRNO 0x10000u

/* kvm:kvm_exit / kvm:kvm_entry, one entry per (vcpu, isa, reason). */
struct vp_exit_key {
	__u32 vcpu;
	__u32 isa;
	__u32 reason;
	__u32 pad;
};

struct vp_exit_val {
	__u64 count;	/* kvm_exit seen */
	__u64 timed;	/* of which a kvm_entry closed the exit */
	__u64 total_ns; /* kvm_exit -> kvm_entry, QEMU's user-space time included */
	__u64 user_ns;	/* part of total_ns spent in QEMU user space */
	__u64 hist[VP_HIST_SLOTS];
};

/* kvm:kvm_userspace_exit + the KVM_RUN return/re-entry around it. */
struct vp_uexit_key {
	__u32 vcpu;
	__u32 reason; /* KVM_EXIT_*, or VP_UEXIT_ERRNO + errno */
};

struct vp_uexit_val {
	__u64 count;
	__u64 timed;   /* KVM_RUN re-entered, user time known */
	__u64 user_ns; /* KVM_RUN return -> next KVM_RUN entry */
	__u64 hist[VP_HIST_SLOTS];
};

/* kvm:kvm_mmio / kvm:kvm_pio, one entry per guest access address. */
struct vp_acc_key {
	__u32 vcpu;
	__u8 space; /* enum vp_space */
	__u8 dir;   /* enum vp_dir */
	__u16 pad;
	__u64 addr; /* guest-physical address or port */
};

struct vp_acc_val {
	__u64 count;	 /* guest accesses (a read that went to QEMU counts once) */
	__u64 to_user;	 /* of which exited to QEMU; the rest KVM completed in the kernel */
	__u64 user_ns;	 /* QEMU user-space time charged to these accesses */
	__u64 kernel_ns; /* kvm_exit -> kvm_entry minus user time (0 when those do not fire) */
	__u64 ktimed;	 /* accesses kernel_ns covers */
	__u64 size;	 /* access size in bytes (last seen) */
};

/* USDT memory_region_ops_read/write, one entry per (vcpu, MemoryRegion, offset). */
struct vp_mr_key {
	__u32 vcpu; /* QEMU's cpu_index; 0xffffffff when not from a vCPU */
	__u32 dir;
	__u64 mr;
	__u64 offset;
};

struct vp_mr_val {
	__u64 count;
	__u64 size;
};

/*
 * Bounded detail.  A device with a large RAM-like window (VGA's 128 KiB
 * "vga-lowmem", a framebuffer, a flash) can produce more distinct offsets
 * than any map holds; a full map must not cost other devices their counts.
 *
 * USDT: every (vcpu, dir, MemoryRegion) has a vp_mr_region.  Offsets get a
 * row of their own in mr_ops until the region holds `cap` of them (regions
 * with a register table: no cap but the map's size; the others:
 * VP_MR_CAP_OTHER); later offsets are counted in `folded`, which user space
 * shows as the region's "+other" row.  So a region's total is exact whatever
 * happens to the detail, unless mr_regions itself is full (VP_C_DROPPED).
 */
#define VP_MR_CAP_OTHER 256u
#define VP_MR_CAP_TABLE 0xffffffffu

struct vp_mr_rkey {
	__u32 vcpu;
	__u32 dir;
	__u64 mr;
};

struct vp_mr_region {
	__u64 folded;	/* dispatches at offsets that have no row of their own */
	__u64 map_full; /* of which folded because mr_ops was full, not by the cap */
	__u64 size;	/* access size of the last folded dispatch */
	__u32 offsets;	/* rows this region holds in mr_ops */
	__u32 cap;	/* VP_MR_CAP_OTHER or VP_MR_CAP_TABLE */
};

/*
 * kvm_mmio/kvm_pio see guest addresses before anything names their region,
 * so their detail is bounded per 4 KiB page (per vcpu, space and dir): the
 * first VP_ACC_PAGE_CAP addresses of an MMIO page get rows of their own, the
 * page's other addresses share one row keyed by the page's address with
 * VP_ACC_FOLD set (user space names it "+other" of the page's region).  A
 * register page has far fewer distinct registers (e1000's busiest page,
 * 0x5000, has about 300); I/O ports are never capped.  Folded rows draw from
 * VP_ACC_FOLD_SLOTS slots that detail cannot take.
 */
#define VP_ACC_PAGE_SHIFT 12
#define VP_ACC_PAGE_CAP	  1024u
#define VP_ACC_FOLD	  (1ULL << 63)
#define VP_ACC_FOLD_SLOTS 4096

struct vp_acc_page {
	__u32 addrs;	 /* addresses of the page with a row of their own */
	__u32 fold_slot; /* slot + 1 of the page's folded row in acc_vals (0: none yet) */
};

/*
 * Read once per MemoryRegion: its name, and the region's base in its address
 * space (sum of mr->addr up the container chain), because memory_region_ops_*
 * report absolute addresses and register tables want offsets.
 */
struct vp_mr_name {
	char name[VP_NAME_LEN];
	__u64 base;
	__u64 size;
	__u32 base_ok; /* chain walked to the root without a read fault */
	/* profiler/regnames.c has a register table for it (or it is an I/O port region) */
	__u32 has_table;
	/* name of the root region: "system" (guest-physical memory), "io" (I/O ports) */
	char root[16];
};

/* Offsets inside QEMU's struct MemoryRegion (QEMU 8.x-10.x, x86_64); user space may override. */
#define VP_MR_OFF_CONTAINER 96
#define VP_MR_OFF_SIZE	    112
#define VP_MR_OFF_ADDR	    128
#define VP_MR_OFF_NAME	    232

/* Learned mapping guest address -> MemoryRegion + offset (kernel event paired with USDT). */
struct vp_gpa_key {
	__u64 addr;
	__u32 space;
	__u32 pad;
};

struct vp_gpa_val {
	__u64 mr;
	__u64 offset;
};

/* Per-CPU counters, index into the "counters" array. */
enum vp_counter {
	VP_C_KVM_EXIT,
	VP_C_KVM_ENTRY,
	VP_C_KVM_MMIO,
	VP_C_KVM_PIO,
	VP_C_KVM_UEXIT,
	VP_C_IOCTL_ENTER, /* KVM_RUN entries */
	VP_C_IOCTL_EXIT,
	VP_C_SET_IRQ,
	VP_C_MSI_SET_IRQ,
	VP_C_INJ_VIRQ,
	VP_C_USDT_MR, /* memory_region_ops_read/write */
	VP_C_USDT_E1000,
	VP_C_E1000_TX_BATCHES,
	VP_C_E1000_TX_DESCS,
	VP_C_E1000_TX_FRAMES,
	VP_C_E1000_RX_FRAMES,
	VP_C_E1000_RX_BYTES,
	VP_C_E1000_IRQ_RAISE,
	VP_C_E1000_IRQ_LOWER,
	VP_C_DROPPED,	   /* an aggregate could not be stored (map full): data lost */
	VP_C_UNPAIRED,	   /* kvm_entry without kvm_exit, or the reverse */
	VP_C_USDT_IN_EXIT, /* memory_region_ops while a KVM exit to user space is handled */
	/* a new guest address got the folded row of its page because acc_idx was full */
	VP_C_ACC_FOLD_FULL,
	VP_C_CPU_SAMPLES, /* --on-cpu: samples of the target's threads kept in cpu_samples */
	/* --on-cpu: samples lost (stack map bucket taken by another stack, cpu_samples full) */
	VP_C_CPU_DROPPED,
	VP_C_NR,
};

struct vp_counters {
	__u64 c[VP_C_NR];
};

/*
 * Per-thread state of the BPF side (maps "threads", an array indexed by tid,
 * and "threads_ovf"; see bpf/vexitprof_handlers.bpf.h).  The profiler never
 * touches it (the unit test reads it): vCPU hints and what BPF learned about a thread go through
 * the "tid_vcpu" map (struct vp_tid_info).
 *
 * Aggregates live in arrays indexed by a slot that a hash ("*_idx": key ->
 * slot) hands out the first time a key is seen; the thread caches the slot
 * of its current access, exit and exit to QEMU, so that the hot path does
 * array lookups only.  Every aggregate key carries the vCPU (or the tid), so
 * one thread writes each slot: plain adds, no atomics.
 */
/*
 * Where a vCPU thread is in its KVM_RUN cycle (struct vp_thread's phase; the
 * transitions: the table in bpf/vexitprof_maps.bpf.h).  A normal exit that
 * QEMU handles goes GUEST -> KERNEL_EXIT -> RETURNING -> QEMU_EXIT ->
 * KERNEL_EXIT -> GUEST; one KVM completes in the kernel goes GUEST ->
 * KERNEL_EXIT -> GUEST.  The on-CPU sampler (--on-cpu) reads it too.
 */
enum vp_phase {
	/* user space, no exit to QEMU being handled (not seen in KVM_RUN yet, or it
	   returned without kvm_userspace_exit) */
	VP_PH_OUTSIDE = 0,
	VP_PH_GUEST,	   /* inside KVM_RUN, no kvm_exit open: the guest runs */
	VP_PH_KERNEL_EXIT, /* inside KVM_RUN, kvm_exit .. kvm_entry: KVM handles an exit */
	/* inside KVM_RUN after kvm_userspace_exit, the ioctl not returned yet */
	VP_PH_RETURNING,
	VP_PH_QEMU_EXIT, /* KVM_RUN returned with an exit to QEMU: QEMU handles it */
	VP_PH_NR,
};

/* The thread's current guest access (cur). */
enum vp_cur {
	VP_CUR_NONE = 0,
	/* just traced: the exit to QEMU that may follow is for it */
	VP_CUR_FRESH,
	/* known (its kernel time is charged at kvm_entry), but nothing exits for it */
	VP_CUR_KNOWN,
};

/* What the exit to QEMU in progress is for (set at kvm_userspace_exit). */
enum vp_qemu_for {
	VP_QF_NONE = 0,
	VP_QF_CUR,    /* cur: its user time goes to cur's row */
	VP_QF_PIO_IN, /* a PIO IN: kvm_pio comes on completion and names the port */
};

/* Pairing the exit's guest address with the MemoryRegion QEMU dispatches it to. */
enum vp_pair {
	VP_PAIR_NONE = 0,
	/* the next matching memory_region_ops event names the address */
	VP_PAIR_WANT,
	/* PIO IN: memory_region_ops seen (pair_mr/off), the port comes at completion */
	VP_PAIR_HAVE_MR,
};

struct vp_thread {
	__u32 tid; /* first: claims an array slot (0: free) */
	/* low 32 bits of the thread's start time (a recycled tid is another thread) */
	__u32 start32;
	__u32 vcpu;
	__u8 phase; /* enum vp_phase */
	/*
	 * kvm_exit seen, kvm_entry not yet.  Set in KERNEL_EXIT; apart from the
	 * phase because the window spans the exit's user-space part (RETURNING,
	 * QEMU_EXIT), and because kvm_exit/kvm_entry may never fire (PVM).
	 */
	__u8 exit_open;
	__u8 cur_state; /* enum vp_cur: of cur, below */
	__u8 qemu_for;	/* enum vp_qemu_for */
	__u8 pair;	/* enum vp_pair */
	__u8 pair_dir;
	/* an MMIO read went to QEMU: its completion kvm_mmio READ is not a new access */
	__u8 skip_read;
	__u8 pad;
	__u32 pair_size;
	__u32 uexit_reason;
	__u32 exit_vcpu;
	__u32 exit_isa;
	__u32 exit_reason;
	/* slot + 1 (0: none) of cur in acc_vals, of the exit in exit_vals, of the exit to QEMU */
	__u32 acc_slot;
	__u32 exit_slot;
	__u32 uexit_slot;
	__u32 uexit_vcpu; /* key of uexit_slot: (uexit_vcpu, uexit_reason) */
	__u64 exit_ts;
	__u64 exit_user_ns;
	__u64 ret_ts; /* KVM_RUN returned to user space */
	__u64 pending_user_ns;
	__u64 skip_read_gpa;
	__u64 pair_val;
	__u64 pair_mr;
	__u64 pair_off;
	struct vp_acc_key cur;
	/*
	 * --on-cpu: the memory_region_ops_write whose handler may be running.
	 * The probe fires before QEMU calls the device's write callback, from the
	 * frame that calls it (wr_sp: the probe's stack pointer + 8, see
	 * vp_oncpu_write), so while the callback runs the thread's user stack
	 * pointer is below wr_sp and the words at wr_sp are unchanged (wr_canary);
	 * once it returned, both stop holding.  wr_sp 0: none.
	 */
	__u64 wr_sp;
	__u64 wr_canary[VP_WR_CANARY];
	__u64 wr_mr;
	__u64 wr_off; /* absolute address, as the probe reports it */
	/* fd of KVM_RUN (ioctl tracepoints): /proc/PID/fd/N names the vCPU ("kvm-vcpu:N") */
	__s32 run_fd;
	__u32 pad2;
};

/*
 * --on-cpu sampling (bpf/vexitprof_oncpu.bpf.h): one cpu_samples entry per
 * (thread, attribution context, user stack, kernel stack), the stacks in a
 * bounded stack map, nothing copied per sample.  The stack map hashes each
 * stack to one of VP_CPU_MAX_STACKS buckets; a sample whose bucket holds
 * another stack is dropped (and counted), so the map has room to spare: 32768
 * buckets of 48 frames, 12 MiB, dropped about 5% at 16384 x 64 under TCG
 * iperf (garbage frame-pointer chains make many distinct user stacks).
 */
#define VP_CPU_STACK_DEPTH 48
#define VP_CPU_MAX_STACKS  32768
#define VP_CPU_MAX_SAMPLES 16384
#define VP_CPU_DEFAULT_HZ  499

/* What a sampled thread was handling (beside its phase). */
enum vp_cpu_ctx {
	VP_CTX_NONE = 0,
	VP_CTX_ACC, /* KVM: the guest access of the exit (space, dir, addr = guest address) */
	VP_CTX_MR,  /* USDT: a memory_region_ops_write in progress (addr = MemoryRegion, off) */
};

struct vp_cpu_key {
	__u32 tid;
	__u8 phase; /* enum vp_phase; VP_PH_NR: the thread has no vCPU state */
	__u8 ctx;   /* enum vp_cpu_ctx */
	__u8 space;
	__u8 dir;
	__u32 isa;    /* KERNEL_EXIT: kvm_exit's ISA */
	__u32 reason; /* KERNEL_EXIT: kvm_exit reason; RETURNING/QEMU_EXIT: KVM_EXIT_* */
	__s32 ustack; /* stack map ids, -1: none */
	__s32 kstack;
	__u64 addr;
	__u64 off;
};

/*
 * Map "tid_vcpu", key tid.  User space pre-fills vcpu for threads it can name
 * (QEMU's "CPU n/KVM" thread names), read once when BPF first sees the thread;
 * BPF writes what it learns (vcpu from KVM_RUN's struct kvm_vcpu, or the
 * KVM_RUN fd), once per change, so that rows keyed VP_TID_FLAG | tid resolve.
 */
struct vp_tid_info {
	__s32 vcpu;   /* -1: unknown */
	__s32 run_fd; /* -1: unknown */
};

/* Where the KVM_RUN boundaries come from (user space; reported as "kvm_run_hook"). */
enum vp_run_hook {
	VP_HOOK_NONE = 0,
	VP_HOOK_FENTRY = 1, /* fentry/fexit on kvm_arch_vcpu_ioctl_run */
	/* kvm:kvm_fpu(1) (guest FPU loaded: KVM_RUN entered) + kvm:kvm_userspace_exit */
	VP_HOOK_KVM_FPU = 2,
	VP_HOOK_SYSCALLS = 3, /* syscalls:sys_enter/exit_ioctl + kvm:kvm_userspace_exit */
};

#endif
