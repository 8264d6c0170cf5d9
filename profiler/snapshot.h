/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The BPF maps read back as they are: plain arrays in the maps' iteration
 * order, no names, no attribution (attribute.c does that).
 */
#ifndef VP_SNAPSHOT_H
#define VP_SNAPSHOT_H
#include <stdbool.h>
#include <stddef.h>
#include "vexitprof.h"

struct vp_snap_exit {
	struct vp_exit_key k;
	struct vp_exit_val v;
};

struct vp_snap_uexit {
	struct vp_uexit_key k;
	struct vp_uexit_val v;
};

struct vp_snap_acc {
	struct vp_acc_key k;
	struct vp_acc_val v;
	/* a page's folded row: its acc_pages entry (page_ok false: none) */
	bool page_ok;
	struct vp_acc_page page;
};

struct vp_snap_mr {
	struct vp_mr_key k;
	struct vp_mr_val v;
};

struct vp_snap_region {
	struct vp_mr_rkey k;
	struct vp_mr_region v;
};

struct vp_snap_name {
	__u64 k; /* the MemoryRegion */
	struct vp_mr_name v;
};

struct vp_snap_gpa {
	struct vp_gpa_key k;
	struct vp_gpa_val v;
};

/* --on-cpu: samples per (thread, context, stacks), and the stacks they name */
struct vp_snap_cpu {
	struct vp_cpu_key k;
	__u64 v;
};

struct vp_snap_stack {
	__s32 id;
	__u32 n; /* frames in ip (the map pads with 0) */
	__u64 ip[VP_CPU_STACK_DEPTH];
};

#define VP_SNAP_ARRAY(type, name)                                                                  \
	struct type *name;                                                                         \
	size_t n_##name

struct vp_snapshot {
	struct vp_counters cnt;
	unsigned long long txb[VP_TXB_SLOTS];
	VP_SNAP_ARRAY(vp_snap_name, names);
	VP_SNAP_ARRAY(vp_snap_gpa, gpa);
	VP_SNAP_ARRAY(vp_snap_exit, exits);
	VP_SNAP_ARRAY(vp_snap_uexit, uexits);
	VP_SNAP_ARRAY(vp_snap_acc, accs);
	VP_SNAP_ARRAY(vp_snap_mr, mrs);
	VP_SNAP_ARRAY(vp_snap_region, regions);
	VP_SNAP_ARRAY(vp_snap_cpu, cpu);
	VP_SNAP_ARRAY(vp_snap_stack, stacks);
};

/* The stack with map id `id` (ids < 0: none, NULL) */
const struct vp_snap_stack *snapshot_stack(const struct vp_snapshot *s, int id);

struct vexitprof_bpf;

/* Read every map; 0 or -errno (a snapshot with a map missing is no snapshot). */
int snapshot_read(struct vp_snapshot *s, struct vexitprof_bpf *skel);
void snapshot_free(struct vp_snapshot *s);
#endif
