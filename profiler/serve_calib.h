/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What one USDT probe hit costs the traced process, for --serve's sampled
 * counting (serve_duty.c takes it out of a window's CPU time): the uprobe
 * trap, calibrated once on a function of the daemon's own.
 */
#ifndef VP_SERVE_CALIB_H
#define VP_SERVE_CALIB_H

/*
 * The trap's cost in seconds of the trapping thread's CPU: a uprobe_multi
 * link (as the windows attach) with an empty program on a nop_len-byte nop
 * (QEMU's USDT kind), N calls timed against N without, by the thread's CPU
 * clock (preemption does not count), the median of several rounds.  0 if
 * it could not be measured.
 */
double calib_trap_cost(int nop_len);

#endif
