/* SPDX-License-Identifier: GPL-2.0 */
/* Flame graph (and icicle graph) SVG writer for folded stacks: a library, and its CLI
 * vexit-flamegraph. */
#ifndef VP_FLAMEGRAPH_H
#define VP_FLAMEGRAPH_H

#include <stddef.h>
#include <stdio.h>

struct fg_stack {
	const char *frames; /* "a;b;c", outermost frame first */
	unsigned long long weight;
};

struct fg_options {
	const char *title;    /* NULL: "Flame Graph" */
	const char *subtitle; /* NULL: none */
	const char *unit;     /* shown in tooltips; NULL: "samples" */
	int width;	      /* image width in px; <= 0: 1200 */
	int inverted;	      /* icicle graph: root at the top */
	int no_script;	      /* leave out the zoom/search JavaScript */
};

/* Returns 0 or -errno. unit: e.g. "ns" or "samples" (shown in tooltips). */
int flamegraph_write_svg(FILE *out, const struct fg_stack *stacks, size_t n, const char *title,
			 const char *unit);
/* The same with every option; opt may be NULL. */
int flamegraph_write_svg_opts(FILE *out, const struct fg_stack *stacks, size_t n,
			      const struct fg_options *opt);
/*
 * Write the SVG to path.  A regular file is written under a temporary name
 * and renamed, so a failed run leaves no half SVG behind; anything else
 * (/dev/null, a pipe) is written in place, never replaced.  0 or -errno.
 */
int flamegraph_write_file(const char *path, const struct fg_stack *stacks, size_t n,
			  const struct fg_options *opt);
/* Parse folded text (one stack per line, "frames weight"); lines that do not parse are skipped and
 * counted in *bad. Empty lines are skipped without counting. Returns 0 or -errno. */
int flamegraph_parse_folded(FILE *in, struct fg_stack **stacks, size_t *n, size_t *bad);
void flamegraph_free_stacks(struct fg_stack *stacks, size_t n);

#endif
