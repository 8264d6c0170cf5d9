/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --on-cpu's bytes for "QEMU CPU time per GB": the traffic through the tap
 * devices QEMU holds open, from their interface counters.
 */
#ifndef VP_ONCPU_TAPS_H
#define VP_ONCPU_TAPS_H
#include <stdbool.h>

#define VP_TAPS_MAX 8

struct vp_taps {
	int pid;
	int n;
	struct vp_tap {
		char name[16];		       /* IFNAMSIZ */
		unsigned long long base, last; /* rx + tx bytes: when found, last read */
	} tap[VP_TAPS_MAX];
	char names[VP_TAPS_MAX * 17]; /* "vxt0" or "vxt0,vxt1": for the reports */
};

/* Find pid's taps and note their counters (none found: n == 0). */
void taps_init(struct vp_taps *t, int pid);
/* While QEMU lives: taps opened since, and every tap's counters now. */
void taps_refresh(struct vp_taps *t);
/* Bytes through the taps since each was found (as of the last refresh). */
unsigned long long taps_bytes(const struct vp_taps *t);
#endif
