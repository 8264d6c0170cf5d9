/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof --serve's sampled counting: QEMU's USDT probes are attached for
 * one short window per period (each USDT hit is a uprobe trap, the cost that
 * matters under TCG), and what they counted in the window is extrapolated
 * over the CPU time QEMU spends outside the windows.  The kernel's
 * tracepoints cost no trap and stay on; their counts are exact.  serve.c
 * attaches and detaches and reads QEMU's CPU clock, this file keeps the
 * schedule and the estimates.
 */
#ifndef VP_SERVE_DUTY_H
#define VP_SERVE_DUTY_H
#include <stdbool.h>

/* the quantities whose estimation error is reported */
enum duty_quantity { DQ_ACCESSES, DQ_TX_FRAMES, DQ_NR };

/* windows the reported error is computed over (10 s at the default period: rate(...[10s])) */
#define DUTY_ERR_WINDOWS 10

/*
 * Used when the hit cost cannot be calibrated: a uprobe trap plus a small
 * BPF program on this machine kind (1-byte nop, Linux 6.x, no KVM).
 */
#define DUTY_DEF_HIT_COST 1.5e-6

struct duty_stats {
	double ratio;		    /* time the probes were attached / time since attach */
	unsigned long long windows; /* windows taken */
	double rse[DQ_NR];	    /* relative standard error over the last DUTY_ERR_WINDOWS */
	bool rse_ok[DQ_NR];	    /* defined: two windows or more, a non-zero mean */
	double cpu_windows;	    /* QEMU's CPU seconds inside windows, traps excluded */
	double cpu_extrapolated;    /* QEMU's CPU seconds outside them the estimates cover */
	double hit_cost;	    /* seconds of QEMU's CPU one counted probe hit costs */
	/* the last DUTY_ERR_WINDOWS windows' probe hits and QEMU CPU seconds (traps in) */
	double hits_recent, cpu_recent;
};

struct vp_duty;
struct vp_snapshot;

/*
 * A schedule of one window of `window` s per `period` s, starting at now
 * (wall, monotonic), each at a random place in its period (no aliasing with
 * what the guest does periodically).  base: the maps when the probes were
 * detached at the start (their counts are not extrapolated), or NULL.
 * cpu: QEMU's process CPU time then (s).  hit_cost: QEMU CPU seconds a
 * probe hit costs (the trap and the BPF program).  NULL if out of memory.
 */
struct vp_duty *duty_new(double window, double period, double now, unsigned int seed,
			 const struct vp_snapshot *base, double cpu, double hit_cost);
void duty_free(struct vp_duty *d);
void duty_set_hit_cost(struct vp_duty *d, double hit_cost);
bool duty_is_on(const struct vp_duty *d);
/* when the probes are to be attached (off) or detached (on) next */
double duty_next(const struct vp_duty *d);
/* the window opened at t, QEMU's CPU clock reading cpu then */
void duty_on(struct vp_duty *d, double t, double cpu);
/* this period's window could not be taken: the gap goes on at the last window's rate */
void duty_skip(struct vp_duty *d, double t);
/*
 * The window closed at t (open since duty_on), QEMU's CPU clock reading cpu
 * then; s: the maps read after that.  Its counts are added as they are,
 * and per CPU second of QEMU they become the rate of the gap that follows.
 * 0, or -ENOMEM (the window's rates are lost, its counts are not).
 */
int duty_off(struct vp_duty *d, double t, double cpu, const struct vp_snapshot *s);
/*
 * s read when QEMU's CPU clock read cpu (NAN: not known, the last reading
 * stands): its USDT-sourced counts become the estimates, monotonic in cpu.
 */
void duty_apply(struct vp_duty *d, struct vp_snapshot *s, double cpu);
void duty_get_stats(const struct vp_duty *d, double now, struct duty_stats *st);
#endif
