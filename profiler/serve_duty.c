// SPDX-License-Identifier: GPL-2.0
/*
 * Sampled counting for --serve (serve_duty.h).
 *
 * Schedule: time since the start is cut into periods of P s; period k gets
 * one window of W s starting at a uniformly random place in [kP, (k+1)P - W].
 * What the probes counted in it, scaled by P / (the window's measured
 * length), is an unbiased estimate of the period's count whatever the guest
 * does (random placement: no aliasing with a periodic guest).  A late
 * window (the daemon descheduled) stands for every period since the last
 * one, so the estimate covers the whole time.
 *
 * Estimates are kept per BPF map entry (the raw keys: the MemoryRegion and
 * offset, a counter's index...), not per report row: attribution then runs
 * on estimated counts exactly as on exact ones, and a map entry never goes
 * away, so every estimate only grows.  Period k's estimate is released
 * linearly over the period after its own: counters rise smoothly (PromQL's
 * rate() over a few periods sees no steps) and lag the guest by one period.
 *
 * Error: the window-to-window spread of the per-period estimates over the
 * last DUTY_ERR_WINDOWS windows, sd / sqrt(n) / mean.  It also holds real
 * changes of the guest's rate, so it leans high (conservative).
 *
 * Which counts come from USDT: memory_region_ops (mr_ops, mr_regions) and
 * the e1000 per-packet counters.  VP_C_USDT_MR/VP_C_USDT_E1000 stay raw:
 * they are the probe hits taken (the traps the overhead metric charges).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fnv.h"
#include "serve_duty.h"
#include "snapshot.h"

enum { EK_COUNTER = 1, EK_TXB, EK_MR, EK_REGION };

struct ekey {
	unsigned char kind, field;
	unsigned char pad[6];
	__u64 a[3]; /* the map's key (at most 24 bytes), or an index */
};

struct est {
	struct ekey k;
	bool used;
	__u64 raw;	/* the map's value at the last window's end */
	double base;	/* released */
	double pend[2]; /* being released (rel[]) */
};

struct vp_duty {
	double window, period, t0;
	unsigned int rng;
	long k, k_last; /* the period of the next/current window; of the last one taken */
	bool on;
	double t_next, t_on, on_total;
	unsigned long long windows;
	/* releases: slot i's estimates rise from rel[i] to rel[i] + period */
	double rel[2];
	bool rel_used[2];
	struct est *tab; /* open addressing, cap a power of 2 */
	size_t n, cap;
	/* the last DUTY_ERR_WINDOWS per-period estimates of each quantity */
	double x[DQ_NR][DUTY_ERR_WINDOWS];
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

static int set_base(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg)
{
	struct est *e = find(d, k, true);

	(void)arg;
	if (!e)
		return -ENOMEM;
	e->raw = *v;
	return 0;
}

struct vp_duty *duty_new(double window, double period, double now, unsigned int seed,
			 const struct vp_snapshot *base)
{
	struct vp_duty *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->window = window;
	d->period = period;
	d->t0 = now;
	d->rng = seed ? seed : 0x9e3779b9u;
	d->k_last = -1;
	schedule(d);
	/* what was counted before: not the schedule's (exact counts, never scaled) */
	if (base && visit(d, (struct vp_snapshot *)base, set_base, NULL)) {
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

bool duty_is_on(const struct vp_duty *d)
{
	return d->on;
}

double duty_next(const struct vp_duty *d)
{
	return d->t_next;
}

void duty_on(struct vp_duty *d, double t)
{
	d->on = true;
	d->t_on = t;
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

/* the fraction of release slot i out at time t */
static double released(const struct vp_duty *d, int i, double t)
{
	double f;

	if (!d->rel_used[i])
		return 0;
	if (isinf(t))
		return 1;
	f = (t - d->rel[i]) / d->period;
	return f <= 0 ? 0 : f >= 1 ? 1 : f;
}

/* Slot i's estimates are out: into base. */
static void fold(struct vp_duty *d, int i)
{
	for (size_t j = 0; j < d->cap; j++)
		if (d->tab[j].used) {
			d->tab[j].base += d->tab[j].pend[i];
			d->tab[j].pend[i] = 0;
		}
	d->rel_used[i] = false;
}

struct add_arg {
	double scale;
	int slot;
	double dx[DQ_NR];
};

static int add_window(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg)
{
	struct add_arg *a = arg;
	struct est *e = find(d, k, true);
	double x;

	if (!e)
		return -ENOMEM;
	/* a map entry's value only grows (a new entry started at 0) */
	x = *v > e->raw ? (double)(*v - e->raw) * a->scale : 0;
	e->raw = *v;
	e->pend[a->slot] += x;
	if (k->kind == EK_COUNTER && k->a[0] == VP_C_E1000_TX_FRAMES)
		a->dx[DQ_TX_FRAMES] += x;
	if (k->kind == EK_MR || (k->kind == EK_REGION && k->field == 0))
		a->dx[DQ_ACCESSES] += x;
	return 0;
}

int duty_off(struct vp_duty *d, double t, const struct vp_snapshot *s)
{
	double w = t - d->t_on, start = d->t0 + (d->k + 1) * d->period;
	struct add_arg a = {};
	int err, i;

	d->on = false;
	d->on_total += w > 0 ? w : 0;
	d->windows++;
	/* this window stands for its period and any skipped since the last one */
	a.scale = w > 0 ? (d->k - d->k_last) * d->period / w : 0;
	d->k_last = d->k;
	/* a release slot: a finished one, else the older goes out at once */
	for (i = 0; i < 2; i++)
		if (d->rel_used[i] && released(d, i, t) >= 1)
			fold(d, i);
	for (i = 0; i < 2 && d->rel_used[i]; i++)
		;
	if (i == 2) {
		i = d->rel[0] <= d->rel[1] ? 0 : 1;
		fold(d, i);
	}
	a.slot = i;
	err = visit(d, (struct vp_snapshot *)s, add_window, &a);
	d->rel[i] = start > t ? start : t;
	d->rel_used[i] = true;
	if (!err) {
		for (int q = 0; q < DQ_NR; q++)
			d->x[q][d->ix] = a.dx[q];
		d->ix = (d->ix + 1) % DUTY_ERR_WINDOWS;
		if (d->nx < DUTY_ERR_WINDOWS)
			d->nx++;
	}
	next_period(d, t);
	return err;
}

struct apply_arg {
	const struct vp_duty *d;
	double f[2];
};

static int apply_one(struct vp_duty *d, const struct ekey *k, __u64 *v, void *arg)
{
	struct apply_arg *a = arg;
	struct est *e = find(d, k, false);

	/* an entry new since the last window's end: no estimate yet */
	*v = e ? (__u64)(e->base + e->pend[0] * a->f[0] + e->pend[1] * a->f[1]) : 0;
	return 0;
}

void duty_apply(const struct vp_duty *d, struct vp_snapshot *s, double now)
{
	struct apply_arg a = {.d = d, .f = {released(d, 0, now), released(d, 1, now)}};
	size_t j = 0;

	visit((struct vp_duty *)d, s, apply_one, &a);
	/* offsets with no estimate yet have no row */
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
