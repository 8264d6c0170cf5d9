/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VP_HIST_H
#define VP_HIST_H
#include <stdio.h>
#include "vexitprof.h"

/* Lower and upper bound (exclusive) of a log2 slot, in the histogram's unit. */
unsigned long long hist_slot_lo(int slot);
unsigned long long hist_slot_hi(int slot);
unsigned long long hist_total(const __u64 *h, int n);
/* Percentile (0 < p < 100) interpolated inside its log2 slot; 0 for an empty histogram. */
double hist_percentile(const __u64 *h, int n, double p);
/* Text histogram like bcc's print_log2_hist, with a unit label ("ns"). */
void hist_print(FILE *f, const __u64 *h, int n, const char *unit, const char *indent);
#endif
