// SPDX-License-Identifier: GPL-2.0
/*
 * One VM's report -> Prometheus samples.
 *
 * Cardinality: a register gets series of its own (a "slot") while its device
 * has fewer than max_registers of them and the VM's series budget allows;
 * every other access of that device and direction is counted in
 * register="other".  Slots go to the busiest registers (by count since
 * attach): a register without one takes the slot of its device's least busy
 * register (of the VM's, when the series budget is what stops it) once it
 * has 1.5x (+16) its count (the margin keeps two registers of about the same
 * count from trading places every scrape).
 *   - a slot starts from what "other" already showed of the register: its
 *     count at the previous update (its baseline, 0 if it had no row then,
 *     so a register that gets a slot when it first appears is exact);
 *   - a register that loses its slot goes back to "other" whole (its series
 *     ends; Prometheus marks it stale);
 * so "other" = the rows without a slot + the slots' baselines never shrinks,
 * and per device the series add up to the device's exact total.  A guest
 * that touches thousands of offsets (a framebuffer) costs its own device's
 * "other" row, not other devices' series.
 *
 * Monotonic: every counter sample is also clamped to the largest value it
 * had (a row can vanish from a report, e.g. when an address is named
 * differently once QEMU's pairing is learned): counters never go down.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "report.h"
#include "snapshot.h"
#include "exit_reasons.h"
#include "target.h"

enum { SV_COUNT, SV_EXITS, SV_KCOMP, SV_KNS, SV_UNS, SV_NR };

struct slot {
	int vcpu;
	char device[VP_NAME_LEN];
	char reg[64];
	unsigned int dir;
	unsigned long long base[SV_NR];
};

/* a register (or a device's "other" when reg is NULL) summed over the report's rows */
struct agg {
	int vcpu;
	const char *device, *reg;
	unsigned int dir;
	bool fold;
	unsigned long long v[SV_NR];
};

struct last {
	char *key;
	double v;
};

struct metrics_vm {
	char vm[128];
	int pid;
	char exe[256];
	struct slot *slots;
	size_t n_slots;
	/* the previous update's registers and counts (slots' baselines come from here) */
	struct slot *prev;
	size_t n_prev;
	struct metric_sample *smp;
	size_t n_smp;
	struct last *lt; /* open addressing, lt_cap a power of 2 */
	size_t lt_n, lt_cap;
};

/* samples being built */
struct build {
	struct metrics_vm *m;
	struct metric_sample *smp;
	size_t n, cap;
	int err;
};

struct metrics_vm *metrics_vm_new(const char *vm, int pid, const char *exe)
{
	struct metrics_vm *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	snprintf(m->vm, sizeof(m->vm), "%s", vm);
	snprintf(m->exe, sizeof(m->exe), "%s", exe);
	m->pid = pid;
	return m;
}

static void free_samples(struct metric_sample *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].labels);
	free(s);
}

void metrics_vm_free(struct metrics_vm *m)
{
	if (!m)
		return;
	free_samples(m->smp, m->n_smp);
	for (size_t i = 0; i < m->lt_cap; i++)
		free(m->lt[i].key);
	free(m->lt);
	free(m->slots);
	free(m->prev);
	free(m);
}

const struct metric_sample *metrics_vm_samples(const struct metrics_vm *m, size_t *n)
{
	*n = m->n_smp;
	return m->smp;
}

/* ---- monotonic clamp: the largest value each counter series had ---- */

static unsigned long hash(const char *s)
{
	unsigned long h = 1469598103934665603UL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211UL;
	return h;
}

static struct last *last_slot(struct last *lt, size_t cap, const char *key)
{
	size_t i = hash(key) & (cap - 1);

	while (lt[i].key && strcmp(lt[i].key, key))
		i = (i + 1) & (cap - 1);
	return &lt[i];
}

/* max(v, the value key had before); remembers it.  -ENOMEM: v unclamped. */
static double clamp(struct metrics_vm *m, const char *key, double v, int *err)
{
	struct last *l;

	if (2 * (m->lt_n + 1) > m->lt_cap) {
		size_t cap = m->lt_cap ? 2 * m->lt_cap : 256;
		struct last *nt = calloc(cap, sizeof(*nt));

		if (!nt) {
			*err = -ENOMEM;
			return v;
		}
		for (size_t i = 0; i < m->lt_cap; i++)
			if (m->lt[i].key)
				*last_slot(nt, cap, m->lt[i].key) = m->lt[i];
		free(m->lt);
		m->lt = nt;
		m->lt_cap = cap;
	}
	l = last_slot(m->lt, m->lt_cap, key);
	if (!l->key) {
		l->key = strdup(key);
		if (!l->key) {
			*err = -ENOMEM;
			return v;
		}
		l->v = v;
		m->lt_n++;
	} else if (v < l->v) {
		v = l->v;
	} else {
		l->v = v;
	}
	return v;
}

/* A series starts over (a register got a slot again): forget the largest value it had. */
static void clamp_reset(struct metrics_vm *m, const char *key)
{
	struct last *l;

	if (!m->lt_cap)
		return;
	l = last_slot(m->lt, m->lt_cap, key);
	if (l->key)
		l->v = -1;
}

/* ---- labels ---- */

/* appends name="value" (escaped as the exposition formats want) to buf[len] */
static void add_label(char *buf, size_t len, const char *name, const char *value)
{
	size_t n = strlen(buf);

	if (n + 1 >= len)
		return;
	n += snprintf(buf + n, len - n, "%s%s=\"", n ? "," : "", name);
	for (const char *p = value; *p && n + 3 < len; p++) {
		if (*p == '\\' || *p == '"')
			buf[n++] = '\\', buf[n++] = *p;
		else if (*p == '\n')
			buf[n++] = '\\', buf[n++] = 'n';
		else
			buf[n++] = *p;
	}
	if (n + 2 <= len)
		buf[n++] = '"';
	buf[n < len ? n : len - 1] = 0;
}

static void base_labels(const struct metrics_vm *m, char *buf, size_t len)
{
	char pid[16];

	buf[0] = 0;
	snprintf(pid, sizeof(pid), "%d", m->pid);
	add_label(buf, len, "vm", m->vm);
	add_label(buf, len, "pid", pid);
}

static void vcpu_lbl(char *buf, size_t len, int vcpu, const struct metrics_opts *o)
{
	char v[16];

	if (!o->per_vcpu)
		return;
	if (vcpu >= 0)
		snprintf(v, sizeof(v), "%d", vcpu);
	else
		snprintf(v, sizeof(v), "none");
	add_label(buf, len, "vcpu", v);
}

/* One sample; counters (and histogram parts) are clamped to their largest value. */
static void emit(struct build *b, enum metric_family f, enum metric_suffix sfx, const char *labels,
		 double v, bool counter)
{
	struct metric_sample *s;
	char key[1100];

	if (b->err)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 128;
		struct metric_sample *ns = realloc(b->smp, cap * sizeof(*ns));

		if (!ns) {
			b->err = -ENOMEM;
			return;
		}
		b->smp = ns;
		b->cap = cap;
	}
	if (counter) {
		snprintf(key, sizeof(key), "%d|%d|%s", f, sfx, labels);
		v = clamp(b->m, key, v, &b->err);
	}
	s = &b->smp[b->n];
	s->labels = strdup(labels);
	if (!s->labels) {
		b->err = -ENOMEM;
		return;
	}
	s->fam = f;
	s->sfx = sfx;
	s->value = v;
	b->n++;
}

/* ---- registers ---- */

static int cmp_key(int v1, const char *d1, const char *r1, unsigned int dir1, int v2,
		   const char *d2, const char *r2, unsigned int dir2)
{
	int c;

	if (v1 != v2)
		return v1 < v2 ? -1 : 1;
	if ((c = strcmp(d1, d2)))
		return c;
	if (r1 != r2 && (!r1 || !r2))
		return r1 ? 1 : -1; /* the device's "other" after its registers */
	if (r1 && (c = strcmp(r1, r2)))
		return c;
	return dir1 < dir2 ? -1 : dir1 > dir2;
}

static int cmp_agg(const void *a, const void *b)
{
	const struct agg *x = a, *y = b;

	return cmp_key(x->vcpu, x->device, x->reg, x->dir, y->vcpu, y->device, y->reg, y->dir);
}

static int cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return cmp_key(x->vcpu, x->device, x->reg, x->dir, y->vcpu, y->device, y->reg, y->dir);
}

static int cmp_agg_count_desc(const void *a, const void *b)
{
	const struct agg *const *x = a, *const *y = b;

	if ((*x)->v[SV_COUNT] != (*y)->v[SV_COUNT])
		return (*x)->v[SV_COUNT] > (*y)->v[SV_COUNT] ? -1 : 1;
	return cmp_agg(*x, *y);
}

static struct slot *find_slot(struct metrics_vm *m, const struct agg *a)
{
	struct slot k = {.vcpu = a->vcpu, .dir = a->dir};

	snprintf(k.device, sizeof(k.device), "%s", a->device);
	snprintf(k.reg, sizeof(k.reg), "%s", a->reg);
	return bsearch(&k, m->slots, m->n_slots, sizeof(k), cmp_slot);
}

/* register rows of r summed per (vcpu, device, register, dir); the "+other" rows with reg NULL */
static struct agg *aggregate(const struct vp_report *r, size_t *n)
{
	struct agg *a = calloc(r->n_devs ? r->n_devs : 1, sizeof(*a));
	size_t k = 0;

	if (!a)
		return NULL;
	for (size_t i = 0; i < r->n_devs; i++) {
		const struct vp_dev_row *d = &r->devs[i];

		a[i] = (struct agg){.vcpu = d->vcpu,
				    .device = d->device,
				    .reg = d->folded ? NULL : d->reg,
				    .dir = d->dir,
				    .fold = d->folded};
		a[i].v[SV_COUNT] = d->count;
		a[i].v[SV_EXITS] = d->exits;
		a[i].v[SV_KCOMP] = d->kcount > d->exits ? d->kcount - d->exits : 0;
		a[i].v[SV_KNS] = d->kernel_ns;
		a[i].v[SV_UNS] = d->user_ns;
	}
	qsort(a, r->n_devs, sizeof(*a), cmp_agg);
	for (size_t i = 0; i < r->n_devs; i++) {
		if (k && !cmp_agg(&a[k - 1], &a[i])) {
			for (int j = 0; j < SV_NR; j++)
				a[k - 1].v[j] += a[i].v[j];
		} else {
			a[k++] = a[i];
		}
	}
	*n = k;
	return a;
}

/* series one register (or one "other") costs */
static int reg_series(const struct vp_report *r, const struct metrics_opts *o)
{
	(void)r;
	return 3 + (o->timing ? 2 : 0);
}

static void reg_labels(const struct metrics_vm *m, char *l, size_t len,
		       const struct metrics_opts *o, int vcpu, const char *device, const char *reg,
		       unsigned int dir)
{
	base_labels(m, l, len);
	vcpu_lbl(l, len, vcpu, o);
	add_label(l, len, "device", device);
	add_label(l, len, "register", reg);
	add_label(l, len, "dir", dir_name(dir));
}

static void emit_reg(struct build *b, const struct vp_report *r, const struct metrics_opts *o,
		     int vcpu, const char *device, const char *reg, unsigned int dir,
		     const unsigned long long *v)
{
	char l[1024];

	reg_labels(b->m, l, sizeof(l), o, vcpu, device, reg, dir);
	emit(b, MF_ACCESSES, MS_NONE, l, v[SV_COUNT], true);
	emit(b, MF_EXITS_TO_QEMU, MS_NONE, l, v[SV_EXITS], true);
	/* in-kernel completions exist only where the kernel saw the accesses (KVM) */
	if (r->kvm_accesses)
		emit(b, MF_KERNEL_COMPLETIONS, MS_NONE, l, v[SV_KCOMP], true);
	if (o->timing) {
		emit(b, MF_KERNEL_SECONDS, MS_NONE, l, v[SV_KNS] / 1e9, true);
		emit(b, MF_QEMU_SECONDS, MS_NONE, l, v[SV_UNS] / 1e9, true);
	}
}

/* a device's (and direction's) "other": rows without a slot, plus the slots' baselines */
struct other {
	int vcpu;
	const char *device;
	unsigned int dir;
	unsigned long long v[SV_NR];
};

static struct other *other_of(struct other *os, size_t *n, int vcpu, const char *device,
			      unsigned int dir)
{
	for (size_t i = 0; i < *n; i++)
		if (os[i].vcpu == vcpu && os[i].dir == dir && !strcmp(os[i].device, device))
			return &os[i];
	os[*n] = (struct other){.vcpu = vcpu, .device = device, .dir = dir};
	return &os[(*n)++];
}

static size_t dev_slots(const struct metrics_vm *m, int vcpu, const char *device)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_slots; i++)
		n += m->slots[i].vcpu == vcpu && !strcmp(m->slots[i].device, device);
	return n;
}

static struct slot *new_slot(struct metrics_vm *m)
{
	struct slot *s = realloc(m->slots, (m->n_slots + 1) * sizeof(*s));

	if (!s)
		return NULL;
	m->slots = s;
	return &m->slots[m->n_slots++];
}

static unsigned long long slot_count(const struct slot *s, const struct agg *a, size_t n)
{
	struct agg key = {.vcpu = s->vcpu, .device = s->device, .reg = s->reg, .dir = s->dir};
	const struct agg *row = bsearch(&key, a, n, sizeof(*a), cmp_agg);

	return row ? row->v[SV_COUNT] : 0;
}

/*
 * The least busy slot of c's device (any_device: of the VM) if c is busier by
 * the margin (see the top), else NULL.
 */
static struct slot *weakest_slot(struct metrics_vm *m, const struct agg *c, bool any_device,
				 const struct agg *a, size_t n)
{
	struct slot *w = NULL;
	unsigned long long wc = 0;

	for (size_t i = 0; i < m->n_slots; i++) {
		struct slot *s = &m->slots[i];
		unsigned long long sc;

		if (!any_device && (s->vcpu != c->vcpu || strcmp(s->device, c->device)))
			continue;
		sc = slot_count(s, a, n);
		if (!w || sc < wc)
			w = s, wc = sc;
	}
	return w && c->v[SV_COUNT] > wc + wc / 2 + 16 ? w : NULL;
}

/* c's counts as "other" showed them at the previous update (0: it had no row then) */
static void prev_counts(const struct metrics_vm *m, const struct agg *c, unsigned long long *v)
{
	struct slot k = {.vcpu = c->vcpu, .dir = c->dir}, *p;

	snprintf(k.device, sizeof(k.device), "%s", c->device);
	snprintf(k.reg, sizeof(k.reg), "%s", c->reg);
	p = bsearch(&k, m->prev, m->n_prev, sizeof(k), cmp_slot);
	memset(v, 0, SV_NR * sizeof(*v));
	if (p)
		memcpy(v, p->base, SV_NR * sizeof(*v));
}

/* s (new, or taken from a less busy register) is c's from now on */
static void take_slot(struct metrics_vm *m, struct slot *s, const struct agg *c,
		      const struct metrics_opts *o)
{
	static const enum metric_family fams[] = {MF_ACCESSES, MF_EXITS_TO_QEMU,
						  MF_KERNEL_COMPLETIONS, MF_KERNEL_SECONDS,
						  MF_QEMU_SECONDS};
	char l[1024], key[1100];

	memset(s, 0, sizeof(*s));
	s->vcpu = c->vcpu;
	s->dir = c->dir;
	snprintf(s->device, sizeof(s->device), "%s", c->device);
	snprintf(s->reg, sizeof(s->reg), "%s", c->reg);
	prev_counts(m, c, s->base);
	/* a register that had a slot before starts a new series from its new baseline */
	reg_labels(m, l, sizeof(l), o, s->vcpu, s->device, s->reg, s->dir);
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		snprintf(key, sizeof(key), "%d|%d|%s", fams[i], MS_NONE, l);
		clamp_reset(m, key);
	}
	qsort(m->slots, m->n_slots, sizeof(*m->slots), cmp_slot);
}

/* This update's register counts, for the next update's baselines (sorted like the slots). */
static void remember(struct metrics_vm *m, const struct agg *a, size_t n, struct build *b)
{
	struct slot *p = calloc(n ? n : 1, sizeof(*p));
	size_t k = 0;

	if (!p) {
		b->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (a[i].fold)
			continue;
		p[k].vcpu = a[i].vcpu;
		p[k].dir = a[i].dir;
		snprintf(p[k].device, sizeof(p[k].device), "%s", a[i].device);
		snprintf(p[k].reg, sizeof(p[k].reg), "%s", a[i].reg);
		memcpy(p[k].base, a[i].v, sizeof(p[k].base));
		k++;
	}
	/* a and the slots sort alike, but truncation into the fixed arrays may differ */
	qsort(p, k, sizeof(*p), cmp_slot);
	free(m->prev);
	m->prev = p;
	m->n_prev = k;
}

/*
 * Hand out slots (busiest first) within the limits, then emit every slot and
 * every "other".  used: series already spent on this VM.  Returns how many
 * registers were left in "other" by the limits.
 */
static int registers(struct build *b, const struct vp_report *r, const struct metrics_opts *o,
		     int used)
{
	struct metrics_vm *m = b->m;
	size_t n = 0, n_cand = 0, n_oth = 0;
	struct agg *a = aggregate(r, &n), **cand;
	struct other *os;
	int folded = 0, cost = reg_series(r, o);
	long budget;

	cand = calloc(n + 1, sizeof(*cand));
	os = calloc(n + m->n_slots + 1, sizeof(*os));
	if (!a || !cand || !os) {
		b->err = -ENOMEM;
		goto out;
	}
	/* every (vcpu, device, dir) keeps an "other", so the budget reserves it first */
	for (size_t i = 0; i < m->n_slots; i++)
		other_of(os, &n_oth, m->slots[i].vcpu, m->slots[i].device, m->slots[i].dir);
	for (size_t i = 0; i < n; i++)
		other_of(os, &n_oth, a[i].vcpu, a[i].device, a[i].dir);
	budget = (long)o->max_series - used - (long)(n_oth + m->n_slots) * cost;
	for (size_t i = 0; i < n; i++)
		if (!a[i].fold && !find_slot(m, &a[i]))
			cand[n_cand++] = &a[i];
	qsort(cand, n_cand, sizeof(*cand), cmp_agg_count_desc);
	for (size_t i = 0; i < n_cand; i++) {
		struct agg *c = cand[i];
		struct slot *s = NULL;

		if (dev_slots(m, c->vcpu, c->device) < (size_t)o->max_registers) {
			if (budget >= cost) {
				s = new_slot(m);
				if (!s) {
					b->err = -ENOMEM;
					goto out;
				}
				budget -= cost;
			} else {
				s = weakest_slot(m, c, true, a, n);
			}
		} else {
			s = weakest_slot(m, c, false, a, n);
		}
		if (!s) {
			folded++;
			continue;
		}
		take_slot(m, s, c, o);
	}
	/* the slots' series, their rows' rest into "other" */
	for (size_t i = 0; i < m->n_slots; i++) {
		struct slot *s = &m->slots[i];
		struct other *ot = other_of(os, &n_oth, s->vcpu, s->device, s->dir);
		unsigned long long v[SV_NR] = {};
		struct agg key = {
		    .vcpu = s->vcpu, .device = s->device, .reg = s->reg, .dir = s->dir};
		struct agg *row = bsearch(&key, a, n, sizeof(*a), cmp_agg);

		for (int j = 0; j < SV_NR; j++) {
			unsigned long long now = row ? row->v[j] : 0;

			v[j] = now > s->base[j] ? now - s->base[j] : 0;
			ot->v[j] += now > s->base[j] ? s->base[j] : now;
		}
		emit_reg(b, r, o, s->vcpu, s->device, s->reg, s->dir, v);
	}
	for (size_t i = 0; i < n; i++) {
		if (!a[i].fold && find_slot(m, &a[i]))
			continue;
		struct other *ot = other_of(os, &n_oth, a[i].vcpu, a[i].device, a[i].dir);

		for (int j = 0; j < SV_NR; j++)
			ot->v[j] += a[i].v[j];
	}
	for (size_t i = 0; i < n_oth; i++)
		emit_reg(b, r, o, os[i].vcpu, os[i].device, "other", os[i].dir, os[i].v);
	remember(m, a, n, b);
out:
	free(a);
	free(cand);
	free(os);
	return folded;
}

/* ---- exits by reason ---- */

struct exit_agg {
	int vcpu;
	unsigned int isa, reason;
	bool qemu;
	unsigned long long count, ns;
	__u64 hist[VP_HIST_SLOTS];
};

/* log2 ns slots -> Prometheus buckets: every second power of two from 1 us to 17 s, then +Inf */
#define BUCKET_FIRST 10
#define BUCKET_LAST  34
#define BUCKET_STEP  2

static int bucket_series(void)
{
	return (BUCKET_LAST - BUCKET_FIRST) / BUCKET_STEP + 1 + 1 + 2;
}

static int vcpu_of(const struct vp_report *r, unsigned int v, const struct metrics_opts *o)
{
	if (!o->per_vcpu)
		return VP_ALL_VCPUS;
	if (v & VP_TID_FLAG)
		return target_tid_vcpu(r->pid, v & ~VP_TID_FLAG);
	return (int)v;
}

static struct exit_agg *exit_of(struct exit_agg *e, size_t *n, int vcpu, unsigned int isa,
				unsigned int reason, bool qemu)
{
	for (size_t i = 0; i < *n; i++)
		if (e[i].vcpu == vcpu && e[i].isa == isa && e[i].reason == reason &&
		    e[i].qemu == qemu)
			return &e[i];
	e[*n] = (struct exit_agg){.vcpu = vcpu, .isa = isa, .reason = reason, .qemu = qemu};
	return &e[(*n)++];
}

static void emit_hist(struct build *b, enum metric_family f, const char *l, const __u64 *h,
		      unsigned long long ns)
{
	char lb[1100];
	unsigned long long cum = 0;
	int slot = 0;

	for (int k = BUCKET_FIRST; k <= BUCKET_LAST; k += BUCKET_STEP) {
		/* slot i holds [2^i, 2^(i+1)) ns: the bucket "le 2^k ns" sums slots below k */
		for (; slot < k && slot < VP_HIST_SLOTS; slot++)
			cum += h[slot];
		snprintf(lb, sizeof(lb), "%s,le=\"%g\"", l, (double)(1ULL << k) / 1e9);
		emit(b, f, MS_BUCKET, lb, cum, true);
	}
	for (; slot < VP_HIST_SLOTS; slot++)
		cum += h[slot];
	snprintf(lb, sizeof(lb), "%s,le=\"+Inf\"", l);
	emit(b, f, MS_BUCKET, lb, cum, true);
	emit(b, f, MS_SUM, l, ns / 1e9, true);
	emit(b, f, MS_COUNT, l, cum, true);
}

/* Exits by reason; returns the series they took. */
static int exits(struct build *b, const struct vp_report *r, const struct vp_snapshot *s,
		 const struct metrics_opts *o)
{
	size_t n = 0, max = s->n_exits + s->n_uexits;
	struct exit_agg *e = calloc(max ? max : 1, sizeof(*e));
	int series = 0;

	if (!e) {
		b->err = -ENOMEM;
		return 0;
	}
	for (size_t i = 0; i < s->n_exits; i++) {
		const struct vp_snap_exit *x = &s->exits[i];
		struct exit_agg *a =
		    exit_of(e, &n, vcpu_of(r, x->k.vcpu, o), x->k.isa, x->k.reason, false);

		a->count += x->v.count;
		a->ns += x->v.total_ns;
		for (int j = 0; j < VP_HIST_SLOTS; j++)
			a->hist[j] += x->v.hist[j];
	}
	for (size_t i = 0; i < s->n_uexits; i++) {
		const struct vp_snap_uexit *x = &s->uexits[i];
		struct exit_agg *a = exit_of(e, &n, vcpu_of(r, x->k.vcpu, o), 0, x->k.reason, true);

		a->count += x->v.count;
		a->ns += x->v.user_ns;
		for (int j = 0; j < VP_HIST_SLOTS; j++)
			a->hist[j] += x->v.hist[j];
	}
	for (size_t i = 0; i < n; i++) {
		char l[1024], nb[64];
		const char *rn = e[i].qemu
				     ? uexit_reason_name(e[i].reason, nb, sizeof(nb))
				     : exit_reason_name(e[i].isa, e[i].reason, nb, sizeof(nb));

		base_labels(b->m, l, sizeof(l));
		vcpu_lbl(l, sizeof(l), e[i].vcpu, o);
		if (!e[i].qemu)
			add_label(l, sizeof(l), "isa", isa_name(e[i].isa));
		add_label(l, sizeof(l), "reason", rn);
		emit(b, e[i].qemu ? MF_QEMU_EXITS : MF_EXITS, MS_NONE, l, e[i].count, true);
		series++;
		if (o->timing) {
			emit_hist(b, e[i].qemu ? MF_QEMU_EXIT_DURATION : MF_EXIT_DURATION, l,
				  e[i].hist, e[i].ns);
			series += bucket_series();
		}
	}
	free(e);
	return series;
}

/* ---- the VM's own figures ---- */

static int vm_figures(struct build *b, const struct vp_report *r, double trap_ns)
{
	static const struct {
		const char *source;
		int c;
	} irqs[] = {
	    {"kvm_inj_virq", VP_C_INJ_VIRQ},
	    {"kvm_set_irq", VP_C_SET_IRQ},
	    {"kvm_msi_set_irq", VP_C_MSI_SET_IRQ},
	    {"e1000_irq_raise", VP_C_E1000_IRQ_RAISE},
	};
	static const struct {
		enum metric_family f;
		int c;
	} e1000[] = {
	    {MF_E1000_TX_FRAMES, VP_C_E1000_TX_FRAMES},
	    {MF_E1000_TX_BATCHES, VP_C_E1000_TX_BATCHES},
	    {MF_E1000_TX_DESCRIPTORS, VP_C_E1000_TX_DESCS},
	    {MF_E1000_RX_FRAMES, VP_C_E1000_RX_FRAMES},
	    {MF_E1000_RX_BYTES, VP_C_E1000_RX_BYTES},
	};
	const unsigned long long *c = r->cnt.c;
	char base[512], l[1024];
	int n = 0;

	base_labels(b->m, base, sizeof(base));
	snprintf(l, sizeof(l), "%s", base);
	add_label(l, sizeof(l), "exe", r->exe);
	add_label(l, sizeof(l), "kvm_run", run_hook_name(r->run_hook));
	add_label(l, sizeof(l), "usdt", r->usdt ? "yes" : "no");
	emit(b, MF_VM_INFO, MS_NONE, l, 1, false);
	n++;
	for (size_t i = 0; i < sizeof(irqs) / sizeof(irqs[0]); i++) {
		snprintf(l, sizeof(l), "%s", base);
		add_label(l, sizeof(l), "source", irqs[i].source);
		emit(b, MF_INTERRUPTS, MS_NONE, l, c[irqs[i].c], true);
		n++;
	}
	for (size_t i = 0; r->e1000_usdt && i < sizeof(e1000) / sizeof(e1000[0]); i++) {
		emit(b, e1000[i].f, MS_NONE, base, c[e1000[i].c], true);
		n++;
	}
	snprintf(l, sizeof(l), "%s", base);
	add_label(l, sizeof(l), "kind", "kernel");
	emit(b, MF_PROBE_EVENTS, MS_NONE, l, r->cost.events_kernel, true);
	snprintf(l, sizeof(l), "%s", base);
	add_label(l, sizeof(l), "kind", "usdt");
	emit(b, MF_PROBE_EVENTS, MS_NONE, l, r->cost.events_usdt, true);
	emit(b, MF_PROBE_OVERHEAD, MS_NONE, base, r->cost.events_usdt * trap_ns / 1e9, true);
	emit(b, MF_DROPPED, MS_NONE, base, c[VP_C_DROPPED], true);
	emit(b, MF_UNPAIRED, MS_NONE, base, c[VP_C_UNPAIRED], true);
	return n + 6 + 3; /* and series, series_limit, registers_folded */
}

int metrics_vm_update(struct metrics_vm *m, const struct vp_report *r, const struct vp_snapshot *s,
		      double trap_ns, const struct metrics_opts *o)
{
	struct build b = {.m = m};
	char base[512];
	int used, folded;

	used = vm_figures(&b, r, trap_ns);
	used += exits(&b, r, s, o);
	folded = registers(&b, r, o, used);
	base_labels(m, base, sizeof(base));
	emit(&b, MF_SERIES, MS_NONE, base, b.n + 3, false);
	emit(&b, MF_SERIES_LIMIT, MS_NONE, base, o->max_series, false);
	emit(&b, MF_REGISTERS_FOLDED, MS_NONE, base, folded, false);
	if (b.err) {
		free_samples(b.smp, b.n);
		return b.err;
	}
	free_samples(m->smp, m->n_smp);
	m->smp = b.smp;
	m->n_smp = b.n;
	return 0;
}
