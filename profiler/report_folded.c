// SPDX-License-Identifier: GPL-2.0
/*
 * Folded stacks "vcpu;reason;device;register;handler weight" (--folded) and
 * the SVG flame graph drawn from the same stacks (--flamegraph).
 *
 * The stacks partition the traced time, so nothing is counted twice:
 *  - QEMU user-space time (KVM_RUN return .. next KVM_RUN), charged to the
 *    device register that caused the exit when known, under the KVM_EXIT_*
 *    reason; the rest of each reason goes to device "-".
 *  - kernel time of kvm_exit .. kvm_entry minus that user time, under the
 *    hardware exit reason, handler "kvm" (only where kvm_exit fires).
 * Without kernel events (TCG) there is no time, and the weight is the number
 * of memory_region_ops dispatches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"
#include "exit_reasons.h"
#include "flamegraph.h"

struct stacks {
	struct fg_stack *s;
	size_t n;
	bool time; /* weights are ns, else counts */
};

/* ';' separates frames; spaces are fine (the weight is after the last one) */
static void frame(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; *src && i + 1 < len; src++)
		dst[i++] = (*src == ';' || *src == '\n') ? '_' : *src;
	dst[i] = 0;
}

static void add(struct stacks *st, int vcpu, const char *reason, const char *dev, const char *reg,
		const char *handler, unsigned long long w)
{
	char v[16], f[5][80], *line;
	struct fg_stack *ns;

	if (!w)
		return;
	if (vcpu == VP_ALL_VCPUS)
		snprintf(v, sizeof(v), "all");
	else if (vcpu < 0)
		snprintf(v, sizeof(v), "other");
	else
		snprintf(v, sizeof(v), "vcpu%d", vcpu);
	frame(f[0], sizeof(f[0]), v);
	frame(f[1], sizeof(f[1]), reason);
	frame(f[2], sizeof(f[2]), dev);
	frame(f[3], sizeof(f[3]), reg);
	frame(f[4], sizeof(f[4]), handler);
	if (asprintf(&line, "%s;%s;%s;%s;%s", f[0], f[1], f[2], f[3], f[4]) < 0)
		return;
	ns = realloc(st->s, (st->n + 1) * sizeof(*ns));
	if (!ns) {
		free(line);
		return;
	}
	st->s = ns;
	st->s[st->n].frames = line;
	st->s[st->n].weight = w;
	st->n++;
}

static void build(struct stacks *st, const struct vp_report *r)
{
	char b[32], reg[96];

	st->time = r->kvm_accesses || r->n_uexits || r->n_exits;
	if (!st->time) {
		for (size_t i = 0; i < r->n_devs; i++) {
			const struct vp_dev_row *d = &r->devs[i];

			snprintf(reg, sizeof(reg), "%s %s", d->reg, dir_name(d->dir));
			add(st, d->vcpu, "dispatch", d->device, reg, "qemu", d->qemu_ops);
		}
		return;
	}
	for (size_t u = 0; u < r->n_uexits; u++) {
		const struct vp_uexit_row *x = &r->uexits[u];
		unsigned int space = x->reason == VP_KVM_EXIT_MMIO ? VP_MMIO
				     : x->reason == VP_KVM_EXIT_IO ? VP_PIO
								   : ~0u;
		unsigned long long rest = x->v.user_ns;
		const char *rn = uexit_reason_name(x->reason, b, sizeof(b));

		for (size_t i = 0; i < r->n_devs; i++) {
			const struct vp_dev_row *d = &r->devs[i];

			if (d->space != space || d->vcpu != x->vcpu || !d->user_ns)
				continue;
			snprintf(reg, sizeof(reg), "%s %s", d->reg, dir_name(d->dir));
			add(st, d->vcpu, rn, d->device, reg, "qemu", d->user_ns);
			rest = rest > d->user_ns ? rest - d->user_ns : 0;
		}
		add(st, x->vcpu, rn, "-", "-", "qemu", rest);
	}
	for (size_t e = 0; e < r->n_exits; e++) {
		const struct vp_exit_row *x = &r->exits[e];
		unsigned long long k =
		    x->v.total_ns > x->v.user_ns ? x->v.total_ns - x->v.user_ns : 0;

		add(st, x->vcpu, exit_reason_name(x->isa, x->reason, b, sizeof(b)), "-", "-", "kvm",
		    k);
	}
}

static void free_stacks(struct stacks *st)
{
	for (size_t i = 0; i < st->n; i++)
		free((void *)st->s[i].frames);
	free(st->s);
}

void report_folded(FILE *f, const struct vp_report *r)
{
	struct stacks st = {};

	build(&st, r);
	for (size_t i = 0; i < st.n; i++)
		fprintf(f, "%s %llu\n", st.s[i].frames, st.s[i].weight);
	free_stacks(&st);
}

int report_flamegraph(const char *path, const struct vp_report *r)
{
	struct stacks st = {};
	char title[160];
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -1;
	build(&st, r);
	snprintf(title, sizeof(title), "vexitprof: QEMU pid %d, %.1f s", r->pid, r->duration_s);
	err = flamegraph_write_svg(f, st.s, st.n, title, st.time ? "ns" : "accesses");
	free_stacks(&st);
	if (fclose(f) || err)
		return -1;
	return 0;
}
