// SPDX-License-Identifier: GPL-2.0
/*
 * duty_coverage: the accuracy of vexitprof --serve's sampled counts, on a
 * simulated TCG guest driven through serve_duty.c itself at the default
 * 10 ms per 1 s.
 *
 * The guest: QEMU gets a CPU in bursts (a loaded host: on for 2-12 ms, off
 * for 2-14 ms) and, while on, the guest makes `rate` events per CPU second
 * on average (an event: one e1000 TX frame, HITS probe hits), in phases of
 * 1-10 ms of its own progress at 0.2-1.8 times that (it does other work
 * between bursts).  Inside a window every
 * hit is a trap of COST s of QEMU's CPU (the observer effect): the guest
 * makes 1 / (1/rate + HITS * COST) events per CPU second there.  QEMU's CPU
 * clock advances while it is on a CPU, in and out of windows.
 *
 * For each rate and seed: the 30 s increase at t = 60 s against the truth,
 * for serve_duty.c's estimator (counts per CPU second of the window, traps
 * taken out, times the CPU outside windows; given the hit cost exactly,
 * none (as serve.c ships it), and 30% off either way) and for the wall-clock one it replaced (each
 * window's count times period / window length).  Mean and sd of the relative error, and how often
 * the error is within 4 of the reported relative errors (vexitprof_usdt_relative_error / sqrt(3)
 * for 30 s; t-vexitprof-serve.sh's tolerance).  Build and run from the top of the tree:
 *   cc -O2 -Iprofiler -Ibpf -Ibuild/profiler/vexitprof scripts/bench/duty_coverage.c \
 *      profiler/serve_duty.c -lm -o /tmp/duty_coverage && /tmp/duty_coverage
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "snapshot.h"
#include "serve_duty.h"

#define HITS  4	     /* probe hits per event (TX frame) */
#define COST  2.5e-6 /* QEMU CPU seconds per hit (trap and BPF program) */
#define DT    5e-5   /* simulation step, s */
#define RUNS  200
#define T_END 61
#define NE    4 /* estimators: the hit cost told exactly, 0 (as shipped), x0.7, x1.3 */

struct run {
	double est[NE], old, truth, rse; /* 30 s increases; the gauge at 60 s */
};

static double urand(void)
{
	return rand() / (double)RAND_MAX;
}

/* one guest: est[i] with the hit cost told the estimator (COST x 1, 0, 0.7, 1.3) */
static void simulate(double rate, int seed, struct run *out)
{
	static const double told[NE] = {1, 0, 0.7, 1.3};
	struct vp_duty *d[NE];
	struct vp_snapshot s = {0};
	double t = 0, cpu = 0, acc = 0, tsw = 0, truth = 0, old = 0, t_on = 0, phase = 0, m = 1,
	       gcpu = 0;
	double tr30 = 0, old30 = 0, est30[NE] = {0}, est60[NE] = {0};
	unsigned long long frames = 0, hits = 0, f_on = 0;
	bool run_cpu = false;
	int sec = 0;

	srand(seed);
	for (int i = 0; i < NE; i++)
		d[i] = duty_new(0.010, 1.0, 0, seed * 7919 + 1, &s, 0, COST * told[i]);
	for (long step = 0; t < T_END; step++, t = step * DT) {
		bool on = duty_is_on(d[0]);

		if (t >= tsw) { /* the scheduler: QEMU on and off a CPU */
			run_cpu = !run_cpu;
			tsw = t + (run_cpu ? 0.002 + 0.010 * urand() : 0.002 + 0.012 * urand());
		}
		if (run_cpu) {
			double per = 1 / (rate * m) + (on ? HITS * COST : 0); /* CPU per event */

			cpu += DT;
			/* the guest's CPU: QEMU's less the traps (inside a window) */
			gcpu += DT / (rate * m) / per;
			if (gcpu >= phase) { /* the guest's own phases, by its progress */
				m = 0.2 + 1.6 * urand();
				phase = gcpu + 0.001 + 0.009 * urand();
			}
			/* inside a window each event also costs its hits' traps */
			acc += DT / per;
			while (acc >= 1) {
				acc -= 1;
				truth++;
				if (on) {
					frames++;
					hits += HITS;
				}
			}
		}
		if (t >= duty_next(d[0])) {
			s.cnt.c[VP_C_E1000_TX_FRAMES] = frames;
			s.cnt.c[VP_C_USDT_E1000] = hits;
			for (int i = 0; i < NE; i++)
				if (on)
					duty_off(d[i], t, cpu, &s);
				else
					duty_on(d[i], t, cpu);
			/* the wall-clock estimator: the window's count x period / length */
			if (on)
				old += (frames - f_on) * 1.0 / (t - t_on);
			else {
				t_on = t;
				f_on = frames;
			}
		}
		if (t >= sec && (sec == 30 || sec == 60)) {
			for (int i = 0; i < NE; i++) {
				struct vp_snapshot s2 = s;

				duty_apply(d[i], &s2, cpu);
				(sec == 30 ? est30 : est60)[i] = s2.cnt.c[VP_C_E1000_TX_FRAMES];
			}
			if (sec == 30) {
				tr30 = truth;
				old30 = old;
			} else {
				struct duty_stats st;

				duty_get_stats(d[0], t, &st);
				out->rse = st.rse[DQ_TX_FRAMES];
				out->truth = truth - tr30;
				out->old = old - old30;
				for (int i = 0; i < NE; i++)
					out->est[i] = est60[i] - est30[i];
			}
		}
		if (t >= sec)
			sec++;
	}
	for (int i = 0; i < NE; i++)
		duty_free(d[i]);
}

int main(void)
{
	static const double rates[] = {1000, 10000, 20000, 30000};

	printf("events/s of guest CPU, observer effect in windows | old (wall clock) | new, hit "
	       "cost exact | none | x0.7 | x1.3 | new within 4 reported errors\n");
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		double m[NE + 1] = {0}, v[NE + 1] = {0};
		int in4 = 0;

		for (int run = 0; run < RUNS; run++) {
			struct run o;
			double e[NE + 1];

			simulate(rates[r], run + 1, &o);
			e[0] = (o.old - o.truth) / o.truth;
			for (int i = 0; i < NE; i++)
				e[i + 1] = (o.est[i] - o.truth) / o.truth;
			for (int i = 0; i <= NE; i++) {
				m[i] += e[i];
				v[i] += e[i] * e[i];
			}
			in4 += fabs(e[1]) <= 4 * o.rse / sqrt(3);
		}
		printf("%6.0f, %4.1f%% |", rates[r],
		       100 * HITS * COST * rates[r] / (1 + HITS * COST * rates[r]));
		for (int i = 0; i <= NE; i++) {
			m[i] /= RUNS;
			printf(" %+5.1f%% (sd %4.1f%%) |", 100 * m[i],
			       100 * sqrt(v[i] / RUNS - m[i] * m[i]));
		}
		printf(" %d/%d\n", in4, RUNS);
	}
	return 0;
}
