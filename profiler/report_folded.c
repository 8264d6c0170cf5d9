// SPDX-License-Identifier: GPL-2.0
/*
 * Folded stacks "vcpu;reason;device;register;handler weight" (--folded) and
 * the SVG flame graph drawn from the same stacks (--flamegraph).  Which
 * stacks there are and what they weigh is attribute.c's decision (r->stacks);
 * this file only spells them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"
#include "flamegraph.h"
#include "oncpu.h"

/* ';' separates frames; spaces are fine (the weight is after the last one) */
static void frame(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; *src && i + 1 < len; src++)
		dst[i++] = (*src == ';' || *src == '\n') ? '_' : *src;
	dst[i] = 0;
}

char *report_stack_line(const struct vp_stack *s)
{
	char v[16], f[5][80], *line;

	frame(f[0], sizeof(f[0]), vcpu_label(s->vcpu, VP_VCPU_FOLDED, v, sizeof(v)));
	frame(f[1], sizeof(f[1]), s->reason);
	frame(f[2], sizeof(f[2]), s->device);
	frame(f[3], sizeof(f[3]), s->reg);
	frame(f[4], sizeof(f[4]), s->handler);
	if (asprintf(&line, "%s;%s;%s;%s;%s", f[0], f[1], f[2], f[3], f[4]) < 0)
		return NULL;
	return line;
}

/* r's stacks as flamegraph input; NULL when out of memory */
static struct fg_stack *fg_stacks(const struct vp_report *r, size_t *n)
{
	struct fg_stack *fs;

	*n = 0;
	if (r->oncpu) {
		/* --on-cpu: the sampled stacks, under the same kind of prefix */
		fs = calloc(r->oncpu->n_stacks + 1, sizeof(*fs));
		for (size_t i = 0; fs && i < r->oncpu->n_stacks; i++) {
			fs[*n].frames = strdup(r->oncpu->stacks[i].line);
			if (fs[*n].frames)
				fs[(*n)++].weight = r->oncpu->stacks[i].samples;
		}
		return fs;
	}
	fs = calloc(r->n_stacks + 1, sizeof(*fs));
	for (size_t i = 0; fs && i < r->n_stacks; i++) {
		char *line = report_stack_line(&r->stacks[i]);

		if (!line)
			continue;
		fs[*n].frames = line;
		fs[(*n)++].weight = r->stacks[i].weight;
	}
	return fs;
}

static void free_stacks(struct fg_stack *fs, size_t n)
{
	for (size_t i = 0; fs && i < n; i++)
		free((void *)fs[i].frames);
	free(fs);
}

void report_folded(FILE *f, const struct vp_report *r)
{
	if (r->oncpu) {
		oncpu_folded(f, r);
		return;
	}
	size_t n;
	struct fg_stack *fs = fg_stacks(r, &n);

	for (size_t i = 0; fs && i < n; i++)
		fprintf(f, "%s %llu\n", fs[i].frames, fs[i].weight);
	free_stacks(fs, n);
}

int report_flamegraph(const char *path, const struct vp_report *r)
{
	char title[160];
	struct fg_options o = {.title = title,
			       .unit = r->oncpu		? "samples"
				       : r->stacks_time ? "ns"
							: "accesses"};
	size_t n;
	struct fg_stack *fs = fg_stacks(r, &n);
	int err;

	if (!fs)
		return -ENOMEM;
	snprintf(title, sizeof(title), "vexitprof: QEMU pid %d, %.1f s%s", r->pid, r->duration_s,
		 r->oncpu ? ", on-CPU samples" : "");
	err = flamegraph_write_file(path, fs, n, &o);
	free_stacks(fs, n);
	return err;
}
