// SPDX-License-Identifier: GPL-2.0
/*
 * Normalize two profiles to one unit (per packet, per GB or per second) and
 * rank every row either has by its absolute change.  Raw counts of two runs
 * of different length or throughput say nothing; per packet they are the
 * cost of the same work.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "diff.h"

static const char *const per_names[] = {
    [DIFF_PER_PACKET] = "packet",
    [DIFF_PER_GB] = "GB",
    [DIFF_PER_SECOND] = "second",
};

/* What one side has of the unit, or why not (why set, return < 0). */
static double unit_of(const struct diff_profile *p, enum diff_per per, const char **why)
{
	switch (per) {
	case DIFF_PER_PACKET:
		if (p->packets > 0)
			return p->packets;
		*why = p->packets < 0 ? "no packet counts (profiled without the e1000 probes)"
				      : "no packets";
		return -1;
	case DIFF_PER_GB:
		if (p->bytes > 0)
			return p->bytes / 1e9;
		*why = p->bytes < 0 ? "no byte counts (vexitprof/1 has the e1000's received bytes "
				      "only, which are all its bytes only when it sent nothing)"
				    : "no bytes";
		return -1;
	default:
		if (p->duration_s > 0)
			return p->duration_s;
		*why = "a duration of 0 s";
		return -1;
	}
}

int diff_units(struct diff_result *r, const struct diff_profile *a, const struct diff_profile *b,
	       enum diff_per per)
{
	const char *why = NULL;
	const struct diff_profile *bad;

	if (per == DIFF_PER_AUTO)
		per = a->packets > 0 && b->packets > 0 ? DIFF_PER_PACKET : DIFF_PER_SECOND;
	r->per = per;
	r->per_name = per_names[per];
	r->unit_a = unit_of(a, per, &why);
	bad = a;
	if (r->unit_a > 0) {
		r->unit_b = unit_of(b, per, &why);
		bad = b;
	}
	if (r->unit_a > 0 && r->unit_b > 0)
		return 0;
	fprintf(stderr, "vexitprof diff: not comparable per %s: %s has %s%s\n", r->per_name,
		bad->path, why,
		per == DIFF_PER_SECOND ? ""
		: per == DIFF_PER_PACKET
		    ? "; --packets A,B gives counts measured elsewhere, --per second compares rates"
		    : "; --bytes A,B gives counts measured elsewhere");
	return VP_DIFF_EXIT_INCOMPARABLE;
}

double diff_delta(double a, double b)
{
	/* 20 samples x 0.1 and 40 x 0.05 are both 2 us, give or take 4e-16 */
	return fabs(b - a) <= 1e-9 * (fabs(a) + fabs(b)) ? 0 : b - a;
}

static int cmp_lines(const void *pa, const void *pb)
{
	const struct diff_line *x = pa, *y = pb;
	double dx = fabs(x->d), dy = fabs(y->d);
	int c;

	if (dx != dy)
		return dx > dy ? -1 : 1;
	if ((c = strcmp(x->name, y->name)))
		return c;
	return strcmp(x->owner ? x->owner : "", y->owner ? y->owner : "");
}

static const struct diff_item *find(const struct diff_profile *p, int s, const struct diff_item *x)
{
	for (size_t i = 0; i < p->n[s]; i++) {
		const struct diff_item *y = &p->items[s][i];

		if (!strcmp(x->name, y->name) &&
		    !strcmp(x->owner ? x->owner : "", y->owner ? y->owner : ""))
			return y;
	}
	return NULL;
}

/* Section s: A's rows (with B's value if B has the row), then B's rows A lacks. */
static int compare_section(struct diff_result *r, const struct diff_profile *a,
			   const struct diff_profile *b, int s, double scale_a, double scale_b)
{
	struct diff_line *v = calloc(a->n[s] + b->n[s] + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -1;
	for (size_t i = 0; i < a->n[s]; i++) {
		const struct diff_item *x = &a->items[s][i], *y = find(b, s, x);

		v[n++] = (struct diff_line){.name = x->name,
					    .owner = x->owner,
					    .a = x->v * scale_a,
					    .b = y ? y->v * scale_b : 0,
					    .a2 = x->v2 * scale_a,
					    .b2 = y ? y->v2 * scale_b : 0};
	}
	for (size_t i = 0; i < b->n[s]; i++) {
		const struct diff_item *y = &b->items[s][i];

		if (!find(a, s, y))
			v[n++] = (struct diff_line){.name = y->name,
						    .owner = y->owner,
						    .b = y->v * scale_b,
						    .b2 = y->v2 * scale_b};
	}
	/* rows that are 0 on both sides say nothing */
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!v[i].a && !v[i].b && !v[i].a2 && !v[i].b2)
			continue;
		v[i].d = diff_delta(v[i].a, v[i].b);
		v[k++] = v[i];
	}
	qsort(v, k, sizeof(*v), cmp_lines);
	r->lines[s] = v;
	r->n[s] = k;
	return 0;
}

int diff_compare(struct diff_result *r, const struct diff_profile *a, const struct diff_profile *b)
{
	for (int s = 0; s < DIFF_FUNCTIONS; s++)
		if (s != DIFF_ACC_TIME && compare_section(r, a, b, s, 1 / r->unit_a, 1 / r->unit_b))
			return -1;
	/* ns -> microseconds per unit */
	r->access_time = !strcmp(a->source, "kvm") && !strcmp(b->source, "kvm");
	if (r->access_time &&
	    compare_section(r, a, b, DIFF_ACC_TIME, 1e-3 / r->unit_a, 1e-3 / r->unit_b))
		return -1;
	r->functions = a->on_cpu && b->on_cpu;
	/* samples -> microseconds per unit */
	if (r->functions &&
	    compare_section(r, a, b, DIFF_FUNCTIONS, a->ns_per_sample / 1e3 / r->unit_a,
			    b->ns_per_sample / 1e3 / r->unit_b))
		return -1;
	return 0;
}

void diff_result_free(struct diff_result *r)
{
	for (int s = 0; s < DIFF_NSECT; s++)
		free(r->lines[s]);
	memset(r, 0, sizeof(*r));
}
