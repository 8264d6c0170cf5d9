/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What one USDT probe hit costs the traced process, for --serve's sampled
 * counting (serve_duty.c takes it out of a window's CPU time): the uprobe
 * trap, sampled on a function of the daemon's own: at start and then
 * now and then, since what a trap costs here changes with the host's load.
 */
#ifndef VP_SERVE_CALIB_H
#define VP_SERVE_CALIB_H

/*
 * A uprobe_multi link (as the windows attach) with an empty program on a
 * function of the daemon's own, attached for its life.  NULL if the kernel
 * said no.
 */
struct calib;
struct calib *calib_new(void);
void calib_free(struct calib *c);
/*
 * One sample of the trap's cost in seconds of the trapping thread's CPU:
 * `calls` calls of the probed function against as many of its unprobed
 * twin, by the thread's CPU clock (preemption does not count).
 */
double calib_sample(struct calib *c, int calls);
#endif
