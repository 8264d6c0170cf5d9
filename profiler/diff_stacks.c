// SPDX-License-Identifier: GPL-2.0
/*
 * The stacks of a differential flame graph: B's folded stacks as the widths,
 * each stack's change per unit (B - A) as its colour.  The stacks are the
 * sampled on-CPU stacks (on_cpu.stacks) when both profiles have them, else
 * the folded stacks of the rows "vcpu;reason;device;register dir;handler",
 * rebuilt from the JSON rows by attribute.c's rule (build_stacks: QEMU time
 * of an exit to QEMU charged to the registers of its space, the rest to
 * "-;-", the kernel part of a VM exit to "kvm") and spelled by the folded
 * renderer itself (report_folded), so they read like `vexitprof --folded`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "diff.h"
#include "report.h"

static struct json_object *arr(const struct diff_profile *p, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(p->root, key, &v);
	return v;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : "";
}

static double jnum(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_double(v) : 0;
}

/* the row's vcpu as the JSON has it: -1 for null */
static int raw_vcpu(struct json_object *o)
{
	struct json_object *v;

	return json_object_object_get_ex(o, "vcpu", &v) && json_object_is_type(v, json_type_int)
		   ? json_object_get_int(v)
		   : -1;
}

/* The label report_folded gives it: a merged profile's rows are "all". */
static int vcpu_of(const struct diff_profile *p, int raw, bool merge)
{
	if (merge || !p->per_vcpu)
		return VP_ALL_VCPUS;
	return raw < 0 ? VP_NO_VCPU : raw;
}

static int add(struct vp_report *r, int vcpu, const char *reason, const char *dev, const char *reg,
	       const char *dir, const char *handler, double w)
{
	struct vp_stack *s;

	if (w <= 0)
		return 0;
	s = realloc(r->stacks, (r->n_stacks + 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	r->stacks = s;
	s = &r->stacks[r->n_stacks++];
	memset(s, 0, sizeof(*s));
	s->vcpu = vcpu;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	snprintf(s->device, sizeof(s->device), "%s", dev);
	if (dir)
		snprintf(s->reg, sizeof(s->reg), "%s %s", reg, dir);
	else
		snprintf(s->reg, sizeof(s->reg), "%s", reg);
	s->handler = handler;
	s->weight = (unsigned long long)(w + 0.5);
	return 0;
}

/* attribute.c's build_stacks over the JSON rows */
static int build(struct vp_report *r, const struct diff_profile *p, bool merge, bool *time)
{
	struct json_object *acc = arr(p, "accesses"), *ex = arr(p, "exits"),
			   *uex = arr(p, "userspace_exits");
	size_t na = json_object_array_length(acc), ne = json_object_array_length(ex),
	       nu = json_object_array_length(uex);
	int err = 0;

	*time = !strcmp(p->source, "kvm") || nu || ne;
	if (!*time) {
		for (size_t i = 0; !err && i < na; i++) {
			struct json_object *d = json_object_array_get_idx(acc, i);

			err = add(r, vcpu_of(p, raw_vcpu(d), merge), "dispatch", jstr(d, "device"),
				  jstr(d, "register"), jstr(d, "dir"), "qemu", jnum(d, "qemu_ops"));
		}
		return err;
	}
	for (size_t u = 0; !err && u < nu; u++) {
		struct json_object *x = json_object_array_get_idx(uex, u);
		const char *rn = jstr(x, "reason");
		const char *space = !strcmp(rn, "MMIO") ? "mmio" : !strcmp(rn, "IO") ? "pio" : NULL;
		double rest = jnum(x, "user_ns");
		int vx = raw_vcpu(x);

		for (size_t i = 0; !err && space && i < na; i++) {
			struct json_object *d = json_object_array_get_idx(acc, i);
			double ns = jnum(d, "user_ns");

			if (strcmp(jstr(d, "space"), space) || raw_vcpu(d) != vx || ns <= 0)
				continue;
			err = add(r, vcpu_of(p, vx, merge), rn, jstr(d, "device"),
				  jstr(d, "register"), jstr(d, "dir"), "qemu", ns);
			rest = rest > ns ? rest - ns : 0;
		}
		if (!err)
			err = add(r, vcpu_of(p, vx, merge), rn, "-", "-", NULL, "qemu", rest);
	}
	for (size_t e = 0; !err && e < ne; e++) {
		struct json_object *x = json_object_array_get_idx(ex, e);
		double t = jnum(x, "total_ns"), u = jnum(x, "user_ns");

		err = add(r, vcpu_of(p, raw_vcpu(x), merge), jstr(x, "reason"), "-", "-", NULL,
			  "kvm", t > u ? t - u : 0);
	}
	return err;
}

/* p's row stacks as report_folded prints them, in *out */
static int row_stacks(const struct diff_profile *p, bool merge, struct diff_stack **out, size_t *n,
		      bool *time)
{
	struct vp_report r = {0};
	struct fg_stack *fs = NULL;
	char *text = NULL;
	size_t len = 0, nfs = 0, bad = 0;
	FILE *f;
	int err = build(&r, p, merge, time);

	if (!err && !(f = open_memstream(&text, &len)))
		err = -errno;
	if (!err) {
		report_folded(f, &r);
		if (fclose(f))
			err = -errno;
	}
	free(r.stacks);
	if (!err && (f = fmemopen(text, len, "r"))) {
		err = flamegraph_parse_folded(f, &fs, &nfs, &bad);
		fclose(f);
	} else if (!err && len) {
		err = -errno;
	}
	free(text);
	if (err)
		return err;
	*out = calloc(nfs + 1, sizeof(**out));
	if (!*out) {
		flamegraph_free_stacks(fs, nfs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nfs; i++) {
		(*out)[i].frames = (char *)fs[i].frames; /* ownership moves */
		(*out)[i].weight = (double)fs[i].weight;
	}
	free(fs);
	*n = nfs;
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
	bool ta = false, tb = false;
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
	/* vCPUs apart only when both profiles keep them apart */
	bool merge = !a->per_vcpu || !b->per_vcpu;

	err = row_stacks(a, merge, &sa, &na, &ta);
	if (!err)
		err = row_stacks(b, merge, &sb, &nb, &tb);
	if (!err && ta != tb)
		err = -EINVAL; /* one source counts, the other times: refused before (source) */
	if (!err) {
		double k = ta ? 1e-3 : 1; /* ns -> us */

		g->unit = ta ? "ns" : "dispatches";
		snprintf(g->delta_unit, sizeof(g->delta_unit), "%s per %s",
			 ta ? "us" : "dispatches", r->per_name);
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
