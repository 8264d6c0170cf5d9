// SPDX-License-Identifier: GPL-2.0
/* log2 histograms as the BPF side fills them (bpf/bits.bpf.h). */
#include <string.h>
#include "hist.h"

unsigned long long hist_slot_lo(int slot)
{
	return slot == 0 ? 0 : 1ULL << slot;
}

unsigned long long hist_slot_hi(int slot)
{
	return slot >= 63 ? ~0ULL : 1ULL << (slot + 1);
}

unsigned long long hist_total(const __u64 *h, int n)
{
	unsigned long long t = 0;

	for (int i = 0; i < n; i++)
		t += h[i];
	return t;
}

double hist_percentile(const __u64 *h, int n, double p)
{
	unsigned long long total = hist_total(h, n), cum = 0;
	double target = total * p / 100.0;

	if (!total)
		return 0;
	for (int i = 0; i < n; i++) {
		if (!h[i])
			continue;
		if (cum + h[i] >= target) {
			/* values inside a slot are unknown: interpolate linearly */
			double frac = (target - cum) / h[i];
			double lo = hist_slot_lo(i), hi = hist_slot_hi(i);

			return lo + frac * (hi - lo);
		}
		cum += h[i];
	}
	return hist_slot_hi(n - 1);
}

void hist_print(FILE *f, const __u64 *h, int n, const char *unit, const char *indent)
{
	unsigned long long max = 0;
	int first = -1, last = -1;
	char star[41];

	for (int i = 0; i < n; i++) {
		if (h[i] > max)
			max = h[i];
		if (h[i] && first < 0)
			first = i;
		if (h[i])
			last = i;
	}
	if (first < 0)
		return;
	fprintf(f, "%s%21s %-3s : %-10s |%-40s|\n", indent, "", unit, "count", "distribution");
	for (int i = first; i <= last; i++) {
		int w = max ? (int)(h[i] * 40 / max) : 0;

		memset(star, '*', w);
		star[w] = 0;
		fprintf(f, "%s%10llu -> %-10llu : %-10llu |%-40s|\n", indent, hist_slot_lo(i),
			hist_slot_hi(i) - 1, (unsigned long long)h[i], star);
	}
}
