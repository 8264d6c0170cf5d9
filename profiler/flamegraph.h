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
	/*
	 * Differential flame graph when not NULL: deltas[i] is the change of
	 * stacks[i] between two profiles (in delta_unit), the weights are one of
	 * them ("B").  A frame is coloured by its self change (the sum of the
	 * deltas of the stacks that end in it), as in Brendan Gregg's
	 * differential flame graphs: red grew, blue shrank, the deeper the
	 * colour the larger the change against the largest; white unchanged.
	 */
	const double *deltas;
	const char *delta_unit; /* tooltips of a differential graph; NULL: unit */
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
/* Differential folded text ("frames countA countB" per line, as difffolded.pl writes):
 * weight = countB, (*deltas)[i] = countB - countA (free() it).  Otherwise as
 * flamegraph_parse_folded. */
int flamegraph_parse_diff(FILE *in, struct fg_stack **stacks, double **deltas, size_t *n,
			  size_t *bad);
void flamegraph_free_stacks(struct fg_stack *stacks, size_t n);
/* The colour of a frame of a differential graph: delta against the largest |delta| (> 0). */
void flamegraph_diff_color(double delta, double max_abs, int rgb[3]);

#endif
