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
#include <limits.h>
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
	unsigned long long v_other[SV_NR]; /* groups: their "other" this update */
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
	/*
	 * The (vcpu, device, dir) with an "other" series of their own, and the
	 * exit reasons with series: admitted while the budget allows, for the
	 * VM's life; the rest are counted in device="other" / reason="other".
	 */
	struct slot *groups; /* reg unused; base: what device="other" had shown of it */
	size_t n_groups;
	struct slot *prev_groups; /* the previous update's group totals (in base) */
	size_t n_prev_groups;
	struct exit_key {
		int vcpu;
		unsigned int isa, reason;
		bool qemu;
	} * reasons;
	size_t n_reasons;
	struct metric_sample *smp;
	size_t n_smp;
	struct last *lt; /* open addressing, lt_cap a power of 2 */
	size_t lt_n, lt_cap;
	struct metrics_sampling sampling;
	double t_read;
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
	m->sampling = (struct metrics_sampling){.ratio = 1};
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
	free(m->groups);
	free(m->prev_groups);
	free(m->reasons);
	free(m);
}

void metrics_vm_set_time(struct metrics_vm *m, double t)
{
	m->t_read = t;
}

double metrics_vm_time(const struct metrics_vm *m)
{
	return m->t_read;
}

void metrics_vm_set_sampling(struct metrics_vm *m, const struct metrics_sampling *s)
{
	m->sampling = *s;
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

static struct slot *group_of(struct slot *g, size_t n, int vcpu, const char *device,
			     unsigned int dir)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].vcpu == vcpu && g[i].dir == dir && !strcmp(g[i].device, device))
			return &g[i];
	return NULL;
}

/* the groups' totals now: (vcpu, device, dir) with every row's counts, fold rows included */
static struct slot *group_totals(const struct agg *a, size_t n, size_t *ng)
{
	struct slot *g = calloc(n ? n : 1, sizeof(*g)), *x;

	*ng = 0;
	for (size_t i = 0; g && i < n; i++) {
		x = group_of(g, *ng, a[i].vcpu, a[i].device, a[i].dir);
		if (!x) {
			x = &g[(*ng)++];
			x->vcpu = a[i].vcpu;
			x->dir = a[i].dir;
			snprintf(x->device, sizeof(x->device), "%s", a[i].device);
		}
		for (int j = 0; j < SV_NR; j++)
			x->base[j] += a[i].v[j];
	}
	return g;
}

static int cmp_group_count_desc(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->base[SV_COUNT] != y->base[SV_COUNT]
		   ? (x->base[SV_COUNT] > y->base[SV_COUNT] ? -1 : 1)
		   : 0;
}

static size_t group_slots(const struct metrics_vm *m, const struct slot *g)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_slots; i++)
		n += m->slots[i].vcpu == g->vcpu && m->slots[i].dir == g->dir &&
		     !strcmp(m->slots[i].device, g->device);
	return n;
}

/* g loses its series: its slots go too (what they showed returns to device="other") */
static void evict_group(struct metrics_vm *m, struct slot *g)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n_slots; i++)
		if (!(m->slots[i].vcpu == g->vcpu && m->slots[i].dir == g->dir &&
		      !strcmp(m->slots[i].device, g->device)))
			m->slots[k++] = m->slots[i];
	m->n_slots = k;
	*g = m->groups[--m->n_groups];
}

/*
 * Groups ((vcpu, device, dir), each with an "other" series) get series
 * busiest first within the budget, a busier one taking the place of the least
 * busy (with its slots) by the same margin as registers; a group admitted
 * later starts from what device="other" had shown of it.  Returns the budget
 * left, or LONG_MIN if out of memory.
 */
static long groups(struct metrics_vm *m, const struct slot *gt, size_t ngt, long budget, int cost,
		   const struct metrics_opts *o)
{
	struct slot *cand = malloc((ngt ? ngt : 1) * sizeof(*cand));
	size_t nc = 0;

	if (!cand)
		return LONG_MIN;
	for (size_t i = 0; i < ngt; i++)
		if (!group_of(m->groups, m->n_groups, gt[i].vcpu, gt[i].device, gt[i].dir))
			cand[nc++] = gt[i];
	qsort(cand, nc, sizeof(*cand), cmp_group_count_desc);
	for (size_t i = 0; i < nc; i++) {
		struct slot *g = NULL, *p;
		char l[1024], key[1100];

		if (budget < cost) {
			/* the least busy admitted group, if cand[i] is busier by the margin */
			struct slot *w = NULL;
			unsigned long long wc = 0;

			for (size_t k = 0; k < m->n_groups; k++) {
				const struct slot *now =
				    group_of((struct slot *)gt, ngt, m->groups[k].vcpu,
					     m->groups[k].device, m->groups[k].dir);
				unsigned long long c = now ? now->base[SV_COUNT] : 0;

				if (!w || c < wc)
					w = &m->groups[k], wc = c;
			}
			if (!w || cand[i].base[SV_COUNT] <= wc + wc / 2 + 16)
				break;
			budget += (long)(1 + group_slots(m, w)) * cost;
			evict_group(m, w);
		}
		g = realloc(m->groups, (m->n_groups + 1) * sizeof(*g));
		if (!g) {
			free(cand);
			return LONG_MIN;
		}
		m->groups = g;
		g = &m->groups[m->n_groups++];
		*g = cand[i];
		memset(g->base, 0, sizeof(g->base));
		p = group_of(m->prev_groups, m->n_prev_groups, g->vcpu, g->device, g->dir);
		if (p)
			memcpy(g->base, p->base, sizeof(g->base));
		budget -= cost;
		/* its "other" series starts over */
		reg_labels(m, l, sizeof(l), o, g->vcpu, g->device, "other", g->dir);
		for (int f = MF_ACCESSES; f <= MF_QEMU_SECONDS; f++) {
			snprintf(key, sizeof(key), "%d|%d|%s", f, MS_NONE, l);
			clamp_reset(m, key);
		}
	}
	free(cand);
	return budget;
}

/*
 * Within the VM's series budget (max_series - used, device="other" read and
 * write reserved): groups (see groups(); at most half of the budget), then
 * slots in the admitted groups (busiest first, see the top).  Emits every slot, every group's
 * "other" (its total minus what its slots show minus its baseline) and device="other" (the groups
 * without series, plus the admitted groups' baselines).  Returns how many registers have no series
 * of their own.
 */
static int registers(struct build *b, const struct vp_report *r, const struct metrics_opts *o,
		     int used)
{
	struct metrics_vm *m = b->m;
	size_t n = 0, n_cand = 0, n_dev = 0, ngt = 0;
	struct agg *a = aggregate(r, &n), **cand = NULL;
	struct slot *gt = NULL;
	struct other dev[2];
	int folded = 0, cost = reg_series(r, o);
	long budget = (long)o->max_series - used - 2L * cost;

	gt = a ? group_totals(a, n, &ngt) : NULL;
	cand = calloc(n + 1, sizeof(*cand));
	if (!a || !gt || !cand)
		goto oom;
	/* groups may take half of the budget, registers the rest */
	if (groups(m, gt, ngt, budget / 2 - (long)m->n_groups * cost, cost, o) == LONG_MIN)
		goto oom;
	budget -= (long)(m->n_groups + m->n_slots) * cost;
	for (size_t i = 0; i < n; i++) {
		if (a[i].fold || find_slot(m, &a[i]))
			continue;
		if (group_of(m->groups, m->n_groups, a[i].vcpu, a[i].device, a[i].dir))
			cand[n_cand++] = &a[i];
		else
			folded++;
	}
	qsort(cand, n_cand, sizeof(*cand), cmp_agg_count_desc);
	for (size_t i = 0; i < n_cand; i++) {
		struct agg *c = cand[i];
		struct slot *s = NULL;

		if (dev_slots(m, c->vcpu, c->device) < (size_t)o->max_registers) {
			if (budget >= cost) {
				s = new_slot(m);
				if (!s)
					goto oom;
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
	/* the groups' "other" start as their totals less their baselines; slots take theirs */
	for (size_t i = 0; i < m->n_groups; i++) {
		struct slot *g = &m->groups[i];
		const struct slot *t = group_of(gt, ngt, g->vcpu, g->device, g->dir);

		for (int j = 0; j < SV_NR; j++) {
			unsigned long long tot = t ? t->base[j] : 0;

			g->v_other[j] = tot > g->base[j] ? tot - g->base[j] : 0;
		}
	}
	for (size_t i = 0; i < m->n_slots; i++) {
		struct slot *s = &m->slots[i];
		struct slot *g = group_of(m->groups, m->n_groups, s->vcpu, s->device, s->dir);
		unsigned long long v[SV_NR] = {};
		struct agg key = {
		    .vcpu = s->vcpu, .device = s->device, .reg = s->reg, .dir = s->dir};
		struct agg *row = bsearch(&key, a, n, sizeof(*a), cmp_agg);

		for (int j = 0; j < SV_NR; j++) {
			unsigned long long now = row ? row->v[j] : 0;

			v[j] = now > s->base[j] ? now - s->base[j] : 0;
			if (g)
				g->v_other[j] = g->v_other[j] > v[j] ? g->v_other[j] - v[j] : 0;
		}
		emit_reg(b, r, o, s->vcpu, s->device, s->reg, s->dir, v);
	}
	for (size_t i = 0; i < m->n_groups; i++)
		emit_reg(b, r, o, m->groups[i].vcpu, m->groups[i].device, "other", m->groups[i].dir,
			 m->groups[i].v_other);
	/* device="other": groups without series, and the admitted groups' baselines */
	for (size_t i = 0; i < ngt; i++) {
		struct slot *g =
		    group_of(m->groups, m->n_groups, gt[i].vcpu, gt[i].device, gt[i].dir);
		struct other *ot = other_of(dev, &n_dev, VP_ALL_VCPUS, "other", gt[i].dir);

		for (int j = 0; j < SV_NR; j++)
			ot->v[j] += g ? (gt[i].base[j] < g->base[j] ? gt[i].base[j] : g->base[j])
				      : gt[i].base[j];
	}
	for (size_t i = 0; i < n_dev; i++)
		emit_reg(b, r, o, dev[i].vcpu, "other", "other", dev[i].dir, dev[i].v);
	remember(m, a, n, b);
	free(m->prev_groups);
	m->prev_groups = gt;
	m->n_prev_groups = ngt;
	gt = NULL;
	goto out;
oom:
	b->err = -ENOMEM;
out:
	free(gt);
	free(a);
	free(cand);
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
static int cmp_exit_count_desc(const void *a, const void *b)
{
	const struct exit_agg *x = a, *y = b;

	return x->count != y->count ? (x->count > y->count ? -1 : 1) : 0;
}

static bool reason_admitted(struct metrics_vm *m, const struct exit_agg *e, long *budget, int cost,
			    int *err)
{
	struct exit_key *k;

	for (size_t i = 0; i < m->n_reasons; i++)
		if (m->reasons[i].vcpu == e->vcpu && m->reasons[i].isa == e->isa &&
		    m->reasons[i].reason == e->reason && m->reasons[i].qemu == e->qemu)
			return true;
	if (*budget < cost)
		return false;
	k = realloc(m->reasons, (m->n_reasons + 1) * sizeof(*k));
	if (!k) {
		*err = -ENOMEM;
		return false;
	}
	m->reasons = k;
	m->reasons[m->n_reasons++] =
	    (struct exit_key){.vcpu = e->vcpu, .isa = e->isa, .reason = e->reason, .qemu = e->qemu};
	*budget -= cost;
	return true;
}

/*
 * Exits by reason, within half the VM's remaining series budget: reasons get
 * series busiest first, for the VM's life; the rest are counted in
 * reason="other" (isa="other").  Returns the series they took.
 */
static int exits(struct build *b, const struct vp_report *r, const struct vp_snapshot *s,
		 const struct metrics_opts *o, int used)
{
	size_t n = 0, max = s->n_exits + s->n_uexits;
	/* + the two "other" rows, kernel and QEMU */
	struct exit_agg *e = calloc(max + 2, sizeof(*e)), oth[2] = {};
	int series = 0, cost = 1 + (o->timing ? bucket_series() : 0);
	long budget = ((long)o->max_series - used) / 2 - 2L * cost;
	bool has_oth[2] = {};

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
	qsort(e, n, sizeof(*e), cmp_exit_count_desc);
	budget -= (long)b->m->n_reasons * cost;
	for (size_t i = 0; i < n; i++) {
		struct exit_agg *x = &oth[e[i].qemu];

		if (reason_admitted(b->m, &e[i], &budget, cost, &b->err))
			continue;
		has_oth[e[i].qemu] = true;
		x->qemu = e[i].qemu;
		x->vcpu = VP_ALL_VCPUS;
		x->count += e[i].count;
		x->ns += e[i].ns;
		for (int j = 0; j < VP_HIST_SLOTS; j++)
			x->hist[j] += e[i].hist[j];
		e[i].count = ~0ULL; /* counted in "other" */
	}
	for (int q = 0; q < 2; q++)
		if (has_oth[q])
			e[n++] = oth[q];
	for (size_t i = 0; i < n; i++) {
		char l[1024], nb[64];
		bool other; /* the last rows: the "other" ones */
		const char *rn;

		if (e[i].count == ~0ULL)
			continue;
		other = i >= n - has_oth[0] - has_oth[1];
		rn = other	 ? "other"
		     : e[i].qemu ? uexit_reason_name(e[i].reason, nb, sizeof(nb))
				 : exit_reason_name(e[i].isa, e[i].reason, nb, sizeof(nb));
		base_labels(b->m, l, sizeof(l));
		vcpu_lbl(l, sizeof(l), e[i].vcpu, o);
		if (!e[i].qemu)
			add_label(l, sizeof(l), "isa", other ? "other" : isa_name(e[i].isa));
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
	const struct metrics_sampling *sp = &b->m->sampling;
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
	n += 6;
	if (sp->usdt) {
		static const char *const quantity[] = {"accesses", "e1000_tx_frames"};

		emit(b, MF_USDT_DUTY_RATIO, MS_NONE, base, sp->ratio, false);
		emit(b, MF_USDT_WINDOWS, MS_NONE, base, sp->windows, true);
		n += 2;
		if (sp->ratio < 1) {
			emit(b, MF_USDT_HIT_COST, MS_NONE, base, sp->hit_cost, false);
			emit(b, MF_USDT_EXTRAPOLATED_CPU, MS_NONE, base, sp->cpu_extrapolated, true);
			n += 2;
			if (sp->trap_share_ok) {
				emit(b, MF_USDT_TRAP_SHARE, MS_NONE, base, sp->trap_share, false);
				n++;
			}
		}
		for (int q = 0; q < 2; q++) {
			/* exact counts have no error; a sampled one is shown once known */
			if (sp->ratio < 1 && !sp->rse_ok[q])
				continue;
			if (q == 1 && !r->e1000_usdt)
				continue;
			snprintf(l, sizeof(l), "%s", base);
			add_label(l, sizeof(l), "quantity", quantity[q]);
			emit(b, MF_USDT_RELATIVE_ERROR, MS_NONE, l, sp->ratio < 1 ? sp->rse[q] : 0,
			     false);
			n++;
		}
	}
	return n + 3; /* and series, series_limit, registers_folded */
}

int metrics_vm_update(struct metrics_vm *m, const struct vp_report *r, const struct vp_snapshot *s,
		      double trap_ns, const struct metrics_opts *o)
{
	struct build b = {.m = m};
	char base[512];
	int used, folded;

	used = vm_figures(&b, r, trap_ns);
	used += exits(&b, r, s, o, used);
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
