/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof --serve's sampled counting: QEMU's USDT probes are attached for
 * one short window per period (each USDT hit is a uprobe trap, the cost that
 * matters under TCG), and what they counted in the window is extrapolated to
 * the whole period.  The kernel's tracepoints cost no trap and stay on; their
 * counts are exact.  serve.c attaches and detaches, this file keeps the
 * schedule and the estimates.
 */
#ifndef VP_SERVE_DUTY_H
#define VP_SERVE_DUTY_H
#include <stdbool.h>

/* the quantities whose estimation error is reported */
enum duty_quantity { DQ_ACCESSES, DQ_TX_FRAMES, DQ_NR };

/* windows the reported error is computed over (10 s at the default period: rate(...[10s])) */
#define DUTY_ERR_WINDOWS 10

struct duty_stats {
	double ratio;		    /* time the probes were attached / time since attach */
	unsigned long long windows; /* windows taken */
	double rse[DQ_NR];	    /* relative standard error over the last DUTY_ERR_WINDOWS */
	bool rse_ok[DQ_NR];	    /* defined: two windows or more, a non-zero mean */
};

struct vp_duty;
struct vp_snapshot;

/*
 * A schedule of one window of `window` s per `period` s, starting at now,
 * each at a random place in its period (no aliasing with what the guest does
 * periodically).  base: the maps when the probes were detached at the start
 * (their counts are not extrapolated), or NULL.  NULL if out of memory.
 */
struct vp_duty *duty_new(double window, double period, double now, unsigned int seed,
			 const struct vp_snapshot *base);
void duty_free(struct vp_duty *d);
bool duty_is_on(const struct vp_duty *d);
/* when the probes are to be attached (off) or detached (on) next */
double duty_next(const struct vp_duty *d);
/* the probes were attached at t */
void duty_on(struct vp_duty *d, double t);
/* this period's window could not be taken: the next one stands for it too */
void duty_skip(struct vp_duty *d, double t);
/*
 * The probes were detached at t (attached since duty_on's t); s: the maps
 * read after that.  Adds the window's counts, extrapolated to the periods
 * it stands for.  0, or -ENOMEM (the window is lost, the schedule goes on).
 */
int duty_off(struct vp_duty *d, double t, const struct vp_snapshot *s);
/*
 * s read at now: its USDT-sourced counts become the estimates (monotonic in
 * now; an estimate is released over the period after its window, so the
 * counters lag the guest by one period and have no steps).  now INFINITY:
 * everything released (a VM that exited).
 */
void duty_apply(const struct vp_duty *d, struct vp_snapshot *s, double now);
void duty_get_stats(const struct vp_duty *d, double now, struct duty_stats *st);
#endif
