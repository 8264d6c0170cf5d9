// SPDX-License-Identifier: GPL-2.0
/*
 * duty_coverage: how well vexitprof --serve's reported error
 * (vexitprof_usdt_relative_error) covers the real error of its sampled
 * counts, on a simulated bursty guest (a TCG vCPU on a loaded host: runs of
 * 2-12 ms at 10-30k events/s, pauses of 2-14 ms), through serve_duty.c
 * itself at the default 10 ms per 1 s.  For 600 seeds: the 30 s increase at
 * t = 60 s against the truth one period earlier (the counters' lag), in
 * units of the gauge / sqrt(3), and three 10 s increases in units of the
 * gauge.  tests/t-vexitprof-serve.sh's tolerances (4 reported errors) come
 * from it.  Build and run from the top of the tree:
 *   cc -O2 -Iprofiler -Ibpf -Ibuild/profiler/vexitprof scripts/bench/duty_coverage.c \
 *      profiler/serve_duty.c -lm -o /tmp/duty_coverage && /tmp/duty_coverage
 */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include "snapshot.h"
#include "serve_duty.h"
/* bursty guest: runs (10k/s) in random bursts, like a TCG vCPU on a loaded host */
int main(void)
{
	int nruns = 600, in1 = 0, in3 = 0, in10s_3 = 0, n10 = 0;
	double sumz = 0;
	for (int run = 0; run < nruns; run++) {
		srand(run + 1);
		struct vp_snapshot s = {0};
		struct vp_duty *d = duty_new(0.010, 1.0, 0, run * 7919 + 1, &s);
		double t = 0, dt = 0.0005, acc = 0, rate = 0, tsw = 0;
		unsigned long long cnt = 0, truth = 0;
		double truthlog[200] = {0}, estlog[200] = {0}, rselog[200] = {0};
		int sec = 0;
		for (int i = 0; t < 62; i++, t += dt) {
			if (t >= tsw) { /* on/off bursts of random length */
				rate = rate > 0 ? 0 : 20000 * (0.5 + rand() / (double)RAND_MAX);
				tsw = t + (rate > 0 ? 0.002 + 0.01 * rand() / (double)RAND_MAX
						    : 0.002 + 0.012 * rand() / (double)RAND_MAX);
			}
			int on = duty_is_on(d);
			acc += rate * dt;
			while (acc >= 1) {
				acc -= 1;
				truth++;
				if (on)
					cnt++;
			}
			if (t >= duty_next(d)) {
				s.cnt.c[VP_C_E1000_TX_FRAMES] = cnt;
				if (on)
					duty_off(d, t, &s);
				else
					duty_on(d, t);
			}
			if (t >= sec) {
				struct vp_snapshot s2 = s;
				struct duty_stats st;
				duty_apply(d, &s2, t);
				duty_get_stats(d, t, &st);
				truthlog[sec] = truth;
				estlog[sec] = s2.cnt.c[VP_C_E1000_TX_FRAMES];
				rselog[sec] = st.rse[1];
				sec++;
			}
		}
		/* 30 s increase at t=60 vs truth shifted by 1 s */
		double e = estlog[60] - estlog[30], tr = truthlog[59] - truthlog[29];
		double sig = rselog[60] / sqrt(3);
		double z = (e - tr) / tr / sig;
		sumz += z * z;
		in1 += fabs(z) <= 1;
		in3 += fabs(z) <= 4;
		for (int b = 0; b < 3; b++) {
			int te = 60 - 10 * b;
			double e10 = estlog[te] - estlog[te - 10],
			       t10 = truthlog[te - 1] - truthlog[te - 11];
			n10++;
			in10s_3 += fabs((e10 - t10) / t10) <= 4 * rselog[te];
		}
		if (run < 3)
			printf("run %d: 30s est %.0f truth %.0f dev %.1f%% rse10 %.3f -> sigma30 "
			       "%.1f%%\n",
			       run, e, tr, 100 * (e - tr) / tr, rselog[60], 100 * sig);
		duty_free(d);
	}
	printf("30 s: within 1 sigma %d/%d, within 4 sigma %d/%d, rms z %.2f; 10 s within 4 sigma "
	       "%d/%d\n",
	       in1, nruns, in3, nruns, sqrt(sumz / nruns), in10s_3, n10);
	return 0;
}
