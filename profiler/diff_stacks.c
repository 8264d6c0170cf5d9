// SPDX-License-Identifier: GPL-2.0
/*
 * The stacks of a differential flame graph: B's folded stacks as the widths,
 * each stack's change per unit (B - A) as its colour.  The stacks are the
 * sampled on-CPU stacks (on_cpu.stacks) when both profiles have them, else
 * the rows' folded stacks the profiles carry ("stacks": attribute.c decided
 * them, report_folded spelled them, so they read like `vexitprof --folded`);
 * nothing is attributed here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "diff.h"
#include "report.h"

/*
 * p's row stacks, with the vCPU frame (the first) spelled "all" when merge
 * (the other profile merged its vCPUs); in *out.
 */
static int row_stacks(const struct diff_profile *p, bool merge, struct diff_stack **out, size_t *n)
{
	*out = calloc(p->n_row_stacks + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_row_stacks; i++) {
		const char *f = p->row_stacks[i].frames, *rest = strchr(f, ';');

		if (merge && rest ? asprintf(&(*out)[i].frames, "all%s", rest) < 0
				  : !((*out)[i].frames = strdup(f))) {
			*n = i;
			return -ENOMEM;
		}
		(*out)[i].weight = p->row_stacks[i].weight;
	}
	*n = p->n_row_stacks;
	return 0;
}

struct pair {
	const char *frames;
	double wa, wb;
};

static int cmp_pair(const void *x, const void *y)
{
	return strcmp(((const struct pair *)x)->frames, ((const struct pair *)y)->frames);
}

/* One entry per distinct stack of A and B, with both weights. */
static int pair_up(struct diff_graph *g, const struct diff_stack *sa, size_t na,
		   const struct diff_stack *sb, size_t nb, double scale_a, double scale_b)
{
	struct pair *v = calloc(na + nb + 1, sizeof(*v));
	size_t n = 0, k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < na; i++)
		v[n++] = (struct pair){sa[i].frames, sa[i].weight, 0};
	for (size_t i = 0; i < nb; i++)
		v[n++] = (struct pair){sb[i].frames, 0, sb[i].weight};
	qsort(v, n, sizeof(*v), cmp_pair);
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(v[k - 1].frames, v[i].frames)) {
			v[k - 1].wa += v[i].wa;
			v[k - 1].wb += v[i].wb;
		} else {
			v[k++] = v[i];
		}
	}
	g->stacks = calloc(k + 1, sizeof(*g->stacks));
	g->deltas = calloc(k + 1, sizeof(*g->deltas));
	if (!g->stacks || !g->deltas) {
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		/* a stack only A has takes no width in B's shape: counted, not drawn */
		if (v[i].wb <= 0) {
			g->only_a++;
			continue;
		}
		g->stacks[g->n].frames = strdup(v[i].frames);
		if (!g->stacks[g->n].frames) {
			free(v);
			return -ENOMEM;
		}
		g->stacks[g->n].weight = (unsigned long long)(v[i].wb + 0.5);
		g->deltas[g->n++] = diff_delta(v[i].wa * scale_a, v[i].wb * scale_b);
	}
	free(v);
	return 0;
}

static void free_list(struct diff_stack *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].frames);
	free(s);
}

int diff_stacks(struct diff_graph *g, const struct diff_profile *a, const struct diff_profile *b,
		const struct diff_result *r)
{
	struct diff_stack *sa = NULL, *sb = NULL;
	size_t na = 0, nb = 0;
	int err;

	memset(g, 0, sizeof(*g));
	if (a->n_cpu_stacks && b->n_cpu_stacks) {
		g->on_cpu = true;
		g->unit = "samples";
		snprintf(g->delta_unit, sizeof(g->delta_unit), "us per %s", r->per_name);
		return pair_up(g, a->cpu_stacks, a->n_cpu_stacks, b->cpu_stacks, b->n_cpu_stacks,
			       a->ns_per_sample / 1e3 / r->unit_a,
			       b->ns_per_sample / 1e3 / r->unit_b);
	}
	if (!a->has_row_stacks || !b->has_row_stacks)
		return -ENODATA; /* diff.c names the file */
	if (a->row_stacks_ns != b->row_stacks_ns)
		return -EINVAL; /* one source counts, the other times: refused before (source) */
	/* vCPUs apart only when both profiles keep them apart */
	bool merge = !a->per_vcpu || !b->per_vcpu, ns = a->row_stacks_ns;

	err = row_stacks(a, merge, &sa, &na);
	if (!err)
		err = row_stacks(b, merge, &sb, &nb);
	if (!err) {
		double k = ns ? 1e-3 : 1; /* ns -> us */

		g->unit = ns ? "ns" : "dispatches";
		snprintf(g->delta_unit, sizeof(g->delta_unit), "%s per %s",
			 ns ? "us" : "dispatches", r->per_name);
		err = pair_up(g, sa, na, sb, nb, k / r->unit_a, k / r->unit_b);
	}
	free_list(sa, na);
	free_list(sb, nb);
	return err;
}

void diff_graph_free(struct diff_graph *g)
{
	flamegraph_free_stacks(g->stacks, g->n);
	free(g->deltas);
	memset(g, 0, sizeof(*g));
}
