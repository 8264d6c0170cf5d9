/* SPDX-License-Identifier: GPL-2.0 */
/* What tracing costs the traced threads: BPF run-time statistics plus a uprobe-trap calibration. */
#ifndef VP_COST_H
#define VP_COST_H
#include "report.h"

struct vexitprof_bpf;

/* Turns on BPF run-time statistics for as long as the returned fd stays open (-1: unavailable). */
int cost_enable_stats(void);
/* Runs of our programs counted so far (while statistics are on). */
unsigned long long cost_run_count(struct vexitprof_bpf *skel);
/*
 * Time one uprobe hit on a nop of our own of nop_len bytes (1 or 5, as at the
 * target's USDT sites): the trap a USDT probe costs, which BPF statistics do
 * not see.  Needs skel loaded with calib_uprobe.
 */
double cost_calibrate_uprobe(struct vexitprof_bpf *skel, int nop_len);
/* the probed function, and its 1-byte nop (also serve_calib.c's probe site) */
void vexitprof_calib_target1(int i);
extern char vexitprof_calib_nop1[];
/* Fill r->cost from the programs' run_cnt/run_time_ns and the counters. */
void cost_collect(struct vp_report *r, struct vexitprof_bpf *skel, bool stats, double trap_ns);
#endif
