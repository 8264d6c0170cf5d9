// SPDX-License-Identifier: GPL-2.0
/*
 * Sampled counting for --serve (serve_duty.h).
 *
 * Schedule: time since the start is cut into periods of P s; period k gets
 * one window of W s starting at a uniformly random place in [kP, (k+1)P - W]
 * (no aliasing with a periodic guest).  A late window (the daemon
 * descheduled) is simply the next one; the gap before it is longer.
 *
 * Estimates go by QEMU's CPU time, not by the wall clock.  A guest makes
 * progress, and touches its devices, only while QEMU's threads run: a window
 * in which they were off a CPU (a loaded host: a 10 ms window is about a
 * scheduler slice) counts little and says nothing about the rate outside
 * it.  So serve.c reads QEMU's process CPU clock where the window opens and
 * closes (C_w between), and
 *   - a window's counts are exact: they are added as they are;
 *   - inside it every counted hit cost QEMU a trap and a BPF program, c
 *     seconds of its CPU that made no guest progress (the observer effect:
 *     at ~60k hits/s that is a good part of the window), so the guest's
 *     rate per CPU second is r = n / (C_w - H c), H the hits counted
 *     (serve.c passes c = 0 for now: the cost it can measure is not
 *     QEMU's, see its hit_cost(); the rates then lean low by H c / C_w);
 *   - the gap after the window, until the next one opens, gets r times
 *     QEMU's CPU time in it (no probe is armed there, so no traps to take
 *     out; the few between arming and opening, closing and disarming are
 *     neither counted nor subtracted: microseconds of a second).
 * Causal: a scrape sees the windows' counts plus the open gap's CPU so far
 * times the last rate, so the counters follow a VM that goes idle (its CPU
 * stops) at once and never wait for a window.  The gap before the first
 * window is extrapolated at the first window's rate when it closes (one
 * step, once).  A window with too little CPU to say a rate (QEMU off a CPU
 * all along) keeps the last rate.
 *
 * Multiple threads: process CPU time (every thread) is the reference, which
 * assumes the mix of QEMU's threads' CPU inside a window is the one outside
 * it (vCPU threads, I/O threads, the main loop in the same proportions).
 * Averaged over windows at random places it is, unless the guest's work per
 * CPU second differs between threads and their shares change within a
 * period.
 *
 * Estimates are kept per BPF map entry (the raw keys: the MemoryRegion and
 * offset, a counter's index...), not per report row: attribution then runs
 * on estimated counts exactly as on exact ones, and a map entry never goes
 * away, so every estimate only grows (QEMU's CPU time only grows, the rates
 * are >= 0, a window's counts only grow).
 *
 * Error: the window-to-window spread of the rates per CPU second over the
 * last DUTY_ERR_WINDOWS windows, sd / sqrt(n) / mean: the relative standard
 * error of an increase extrapolated over that many gaps.  It also holds real
 * changes of the guest's rate, so it leans high (conservative).
 *
 * Which counts come from USDT: memory_region_ops (mr_ops, mr_regions) and
 * the e1000 per-packet counters.  VP_C_USDT_MR/VP_C_USDT_E1000 stay raw:
 * they are the probe hits taken (the traps the overhead metric charges, H
 * above).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fnv.h"
#include "serve_duty.h"
#include "snapshot.h"

/* less QEMU CPU than this in a window: no rate from it */
#define DUTY_MIN_CPU 1e-4
/*
 * The traps taken out of a window's CPU leave at least this share of it: a
 * hit cost calibrated far too high must not make a rate explode.
 */
#define DUTY_MIN_EFF 0.25

/* EK_HITS: the probe hits (raw counters VP_C_USDT_MR, VP_C_USDT_E1000), never estimated */
enum { EK_COUNTER = 1, EK_TXB, EK_MR, EK_REGION, EK_HITS };

struct ekey {
	unsigned char kind, field;
	unsigned char pad[6];
	__u64 a[3]; /* the map's key (at most 24 bytes), or an index */
};

struct est {
	struct ekey k;
	bool used;
	__u64 raw;   /* the map's value at the last window's end */
	double base; /* the estimate at the last window's end, or gap's if its gap closed */
	double rate; /* per CPU second of QEMU, from the last window with a rate */
};

struct vp_duty {
	double window, period, t0;
	unsigned int rng;
	long k; /* the period of the next/current window */
	bool on;
	double t_next, t_on, on_total;
	unsigned long long windows;
	double hit_cost;
	/* QEMU's CPU clock: at the open window's start, at the last window's end */
	double cpu_on, cpu_off;
	double cpu_seen;  /* the last reading (apply's or a window's) */
	double gap_shown; /* the open gap's CPU the estimates showed (never taken back) */
	bool have_rate;	  /* a window gave rates (else gaps wait for one) */
	double pending;	  /* CPU of gaps before the first rate */
	double cpu_windows, cpu_gaps;
	struct est *tab; /* open addressing, cap a power of 2 */
	size_t n, cap;
	/* the rates of each quantity in the last DUTY_ERR_WINDOWS windows with one */
	double x[DQ_NR][DUTY_ERR_WINDOWS];
	/* and those windows' probe hits and QEMU CPU time, traps included */
	double hits_w[DUTY_ERR_WINDOWS], cpu_w[DUTY_ERR_WINDOWS];
	int nx, ix;
};

static const int usdt_counters[] = {
    VP_C_E1000_TX_BATCHES, VP_C_E1000_TX_DESCS,	 VP_C_E1000_TX_FRAMES, VP_C_E1000_RX_FRAMES,
    VP_C_E1000_RX_BYTES,   VP_C_E1000_IRQ_RAISE, VP_C_E1000_IRQ_LOWER, VP_C_USDT_IN_EXIT,
};
#define N_USDT_COUNTERS (sizeof(usdt_counters) / sizeof(usdt_counters[0]))

static unsigned int rnd(struct vp_duty *d)
{
	/* xorshift32: the places of windows need no more */
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 17;
	d->rng ^= d->rng << 5;
	return d->rng;
}

/* the start of period k's window */
static void schedule(struct vp_duty *d)
{
	double slack = d->period - d->window;

	d->t_next = d->t0 + d->k * d->period + (slack > 0 ? slack * (rnd(d) / 4294967296.0) : 0);
}

static struct est *find(struct vp_duty *d, const struct ekey *k, bool add)
{
	size_t i;

	if (add && 2 * (d->n + 1) > d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 256;
		struct est *nt = calloc(cap, sizeof(*nt));

		if (!nt)
			return NULL;
		for (size_t j = 0; j < d->cap; j++) {
			if (!d->tab[j].used)
				continue;
			i = vp_fnv(VP_FNV0, &d->tab[j].k, sizeof(d->tab[j].k)) & (cap - 1);
			while (nt[i].used)
				i = (i + 1) & (cap - 1);
			nt[i] = d->tab[j];
		}
		free(d->tab);
		d->tab = nt;
		d->cap = cap;
	}
	if (!d->cap)
		return NULL;
	i = vp_fnv(VP_FNV0, k, sizeof(*k)) & (d->cap - 1);
	while (d->tab[i].used && memcmp(&d->tab[i].k, k, sizeof(*k)))
		i = (i + 1) & (d->cap - 1);
	if (d->tab[i].used)
		return &d->tab[i];
	if (!add)
		return NULL;
	d->tab[i] = (struct est){.k = *k, .used = true};
	d->n++;
	return &d->tab[i];
}

static struct ekey key(int kind, int field, const void *raw, size_t len, __u64 index)
{
	struct ekey k = {.kind = kind, .field = field};

	if (raw)
		memcpy(k.a, raw, len < sizeof(k.a) ? len : sizeof(k.a));
	else
		k.a[0] = index;
	return k;
}

/*
 * Every USDT-sourced value of s, with its key: f(d, key, pointer to the value, arg).
 * (The snapshot's values are __u64 or unsigned long long: both 64 bits.)
 */
typedef int (*visit_fn)(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg);

static int visit(struct vp_duty *d, struct vp_snapshot *s, visit_fn f, void *arg)
{
	int err = 0;

	for (size_t i = 0; i < N_USDT_COUNTERS && !err; i++) {
		struct ekey k = key(EK_COUNTER, 0, NULL, 0, usdt_counters[i]);

		err = f(d, &k, (__u64 *)&s->cnt.c[usdt_counters[i]], arg);
	}
	for (size_t i = 0; i < VP_TXB_SLOTS && !err; i++) {
		struct ekey k = key(EK_TXB, 0, NULL, 0, i);

		err = f(d, &k, (__u64 *)&s->txb[i], arg);
	}
	for (size_t i = 0; i < s->n_mrs && !err; i++) {
		struct ekey k = key(EK_MR, 0, &s->mrs[i].k, sizeof(s->mrs[i].k), 0);

		err = f(d, &k, &s->mrs[i].v.count, arg);
	}
	for (size_t i = 0; i < s->n_regions && !err; i++) {
		struct ekey k = key(EK_REGION, 0, &s->regions[i].k, sizeof(s->regions[i].k), 0);

		err = f(d, &k, &s->regions[i].v.folded, arg);
		k.field = 1;
		if (!err)
			err = f(d, &k, &s->regions[i].v.map_full, arg);
	}
	return err;
}

/* The probe hits counted since the last call (s: the maps now); -1 if out of memory. */
static double hits_since(struct vp_duty *d, const struct vp_snapshot *s)
{
	static const int c[] = {VP_C_USDT_MR, VP_C_USDT_E1000};
	double h = 0;

	for (int i = 0; i < 2; i++) {
		struct ekey k = key(EK_HITS, 0, NULL, 0, c[i]);
		struct est *e = find(d, &k, true);

		if (!e)
			return -1;
		h += s->cnt.c[c[i]] > e->raw ? (double)(s->cnt.c[c[i]] - e->raw) : 0;
		e->raw = s->cnt.c[c[i]];
	}
	return h;
}

static int set_base(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg)
{
	struct est *e = find(d, k, true);

	(void)arg;
	if (!e)
		return -ENOMEM;
	e->raw = *v;
	e->base = *v;
	return 0;
}

struct vp_duty *duty_new(double window, double period, double now, unsigned int seed,
			 const struct vp_snapshot *base, double cpu, double hit_cost)
{
	struct vp_duty *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->window = window;
	d->period = period;
	d->t0 = now;
	d->rng = seed ? seed : 0x9e3779b9u;
	d->hit_cost = hit_cost;
	d->cpu_off = d->cpu_seen = cpu;
	schedule(d);
	/* what was counted before: not the schedule's (exact counts, never scaled) */
	if (base &&
	    (visit(d, (struct vp_snapshot *)base, set_base, NULL) || hits_since(d, base) < 0)) {
		duty_free(d);
		return NULL;
	}
	return d;
}

void duty_free(struct vp_duty *d)
{
	if (!d)
		return;
	free(d->tab);
	free(d);
}

void duty_set_hit_cost(struct vp_duty *d, double hit_cost)
{
	d->hit_cost = hit_cost;
}

bool duty_is_on(const struct vp_duty *d)
{
	return d->on;
}

double duty_next(const struct vp_duty *d)
{
	return d->t_next;
}

/* the open gap's CPU as of cpu (never less than what was shown of it) */
static double gap_cpu(const struct vp_duty *d, double cpu)
{
	double g = cpu - d->cpu_off;

	return g > d->gap_shown ? g : d->gap_shown;
}

void duty_on(struct vp_duty *d, double t, double cpu)
{
	double g = gap_cpu(d, cpu);

	/* the gap closes: its extrapolation becomes part of the base */
	if (d->have_rate) {
		for (size_t j = 0; j < d->cap; j++)
			if (d->tab[j].used)
				d->tab[j].base += d->tab[j].rate * g;
		d->cpu_gaps += g;
	} else {
		d->pending += g;
	}
	d->gap_shown = 0;
	d->on = true;
	d->t_on = t;
	d->cpu_on = cpu;
	if (cpu > d->cpu_seen)
		d->cpu_seen = cpu;
	d->t_next = t + d->window;
}

/* the next window: in the next period, or in the one after t if t is late for it */
static void next_period(struct vp_duty *d, double t)
{
	d->k++;
	if (t >= d->t0 + (d->k + 1) * d->period - d->window)
		d->k = (long)floor((t - d->t0) / d->period) + 1;
	schedule(d);
}

void duty_skip(struct vp_duty *d, double t)
{
	next_period(d, t);
}

struct add_arg {
	double eff;	  /* the window's CPU, traps taken out (0: no rate from it) */
	double pending;	  /* gaps before the first rate, extrapolated now */
	double dx[DQ_NR]; /* counts per quantity */
};

static int add_window(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg)
{
	struct add_arg *a = arg;
	struct est *e = find(d, k, true);
	double n;

	if (!e)
		return -ENOMEM;
	/* a map entry's value only grows (a new entry started at 0) */
	n = *v > e->raw ? (double)(*v - e->raw) : 0;
	e->raw = *v;
	e->base += n;
	if (a->eff > 0) {
		e->rate = n / a->eff;
		e->base += e->rate * a->pending;
	}
	if (k->kind == EK_COUNTER && k->a[0] == VP_C_E1000_TX_FRAMES)
		a->dx[DQ_TX_FRAMES] += n;
	if (k->kind == EK_MR || (k->kind == EK_REGION && k->field == 0))
		a->dx[DQ_ACCESSES] += n;
	return 0;
}

int duty_off(struct vp_duty *d, double t, double cpu, const struct vp_snapshot *s)
{
	double w = t - d->t_on, c = cpu - d->cpu_on, hits = 0;
	struct add_arg a = {};
	int err;

	d->on = false;
	d->on_total += w > 0 ? w : 0;
	d->windows++;
	if (cpu > d->cpu_seen)
		d->cpu_seen = cpu;
	/* the hits counted in the window (the traps its CPU time holds) */
	hits = hits_since(d, s);
	if (hits < 0)
		c = 0; /* no rate from this window */
	if (c >= DUTY_MIN_CPU) {
		a.eff = c - hits * d->hit_cost;
		if (a.eff < DUTY_MIN_EFF * c)
			a.eff = DUTY_MIN_EFF * c;
		if (!d->have_rate)
			a.pending = d->pending;
	}
	err = visit(d, (struct vp_snapshot *)s, add_window, &a);
	if (a.eff > 0 && !err) {
		d->cpu_windows += a.eff;
		d->cpu_gaps += a.pending;
		d->pending = 0;
		d->have_rate = true;
		for (int q = 0; q < DQ_NR; q++)
			d->x[q][d->ix] = a.dx[q] / a.eff;
		d->hits_w[d->ix] = hits;
		d->cpu_w[d->ix] = c;
		d->ix = (d->ix + 1) % DUTY_ERR_WINDOWS;
		if (d->nx < DUTY_ERR_WINDOWS)
			d->nx++;
	}
	d->cpu_off = cpu;
	d->gap_shown = 0;
	next_period(d, t);
	return err;
}

struct apply_arg {
	struct vp_duty *d;
	double gap;
};

static int apply_one(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg)
{
	struct apply_arg *a = arg;
	struct est *e = find(d, k, false);

	/* an entry new in the open window: its count so far, exact */
	if (!e)
		return 0;
	*v = (__u64)(e->base + (*v > e->raw ? (double)(*v - e->raw) : 0) + e->rate * a->gap);
	return 0;
}

void duty_apply(struct vp_duty *d, struct vp_snapshot *s, double cpu)
{
	struct apply_arg a = {.d = d};
	size_t j = 0;

	if (isnan(cpu) || cpu < d->cpu_seen)
		cpu = d->cpu_seen;
	d->cpu_seen = cpu;
	if (!d->on && d->have_rate) {
		a.gap = gap_cpu(d, cpu);
		d->gap_shown = a.gap;
	}
	visit(d, s, apply_one, &a);
	/* offsets with no count yet have no row */
	for (size_t i = 0; i < s->n_mrs; i++)
		if (s->mrs[i].v.count)
			s->mrs[j++] = s->mrs[i];
	s->n_mrs = j;
}

void duty_get_stats(const struct vp_duty *d, double now, struct duty_stats *st)
{
	double on = d->on_total + (d->on ? now - d->t_on : 0);

	memset(st, 0, sizeof(*st));
	st->ratio = now > d->t0 ? on / (now - d->t0) : 0;
	st->windows = d->windows;
	st->hit_cost = d->hit_cost;
	st->cpu_windows = d->cpu_windows;
	st->cpu_extrapolated = d->cpu_gaps + (!d->on && d->have_rate ? d->gap_shown : 0);
	for (int i = 0; i < d->nx; i++) {
		st->hits_recent += d->hits_w[i];
		st->cpu_recent += d->cpu_w[i];
	}
	for (int q = 0; q < DQ_NR && d->nx >= 2; q++) {
		double m = 0, v = 0;

		for (int i = 0; i < d->nx; i++)
			m += d->x[q][i];
		m /= d->nx;
		for (int i = 0; i < d->nx; i++)
			v += (d->x[q][i] - m) * (d->x[q][i] - m);
		v /= d->nx - 1;
		if (m > 0) {
			st->rse[q] = sqrt(v / d->nx) / m;
			st->rse_ok[q] = true;
		}
	}
}
