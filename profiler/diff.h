/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof diff A.json B.json: what changed between two profiles, per packet
 * (or per GB, or per second).  One job per file:
 *   diff.c          options, the order of things, exit codes
 *   diff_load.c     read one --json profile (json-c) and check it
 *   diff_compare.c  normalize both sides and rank the changes
 *   diff_stacks.c   the folded stacks of both sides, as B's weights + deltas
 *   diff_render.c   text and JSON output
 */
#ifndef VP_DIFF_H
#define VP_DIFF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "flamegraph.h"

/*
 * Exit codes of `vexitprof diff` (vexitprof.8, DIFF).  0, 2 (bad option) and
 * 8 (output could not be written) mean what they mean for vexitprof; the
 * diff's own failures get codes of their own, above the profiler's.
 */
#define VP_DIFF_EXIT_READ	  10 /* a profile cannot be read (missing, unreadable) */
#define VP_DIFF_EXIT_NOTJSON	  11 /* not JSON, or not a vexitprof profile */
#define VP_DIFF_EXIT_SCHEMA	  12 /* different or unknown schema versions */
#define VP_DIFF_EXIT_INCOMPARABLE 13 /* profiles that cannot be compared */

enum diff_section {
	DIFF_ACCESSES,	/* accesses[]: device register dir, count */
	DIFF_ACC_TIME,	/* accesses[]: QEMU user-space time (KVM profiles only) */
	DIFF_EXITS,	/* exits[]: reason, count */
	DIFF_UEXITS,	/* userspace_exits[]: reason, count */
	DIFF_FUNCTIONS, /* on_cpu.functions[]: self and total time */
	DIFF_NSECT,
};

/* One row of a section, summed over vCPUs (and sizes, addresses). */
struct diff_item {
	char *name;   /* "e1000-mmio TDT write", "MMIO", "xmit_seg" */
	char *owner;  /* the device of an access, the module of a function, else NULL */
	double v, v2; /* count, or for functions self and total samples */
};

/* One folded stack of a profile. */
struct diff_stack {
	char *frames;
	double weight; /* ns or counts (rows), samples (on_cpu) */
};

struct diff_profile {
	const char *path;
	char *schema, *qemu, *source;
	bool per_vcpu;
	double duration_s;
	double packets, bytes; /* < 0: the profile does not say */
	struct diff_item *items[DIFF_NSECT];
	size_t n[DIFF_NSECT];
	bool on_cpu;		       /* has an on_cpu section */
	double ns_per_sample;	       /* on_cpu */
	struct diff_stack *cpu_stacks; /* on_cpu.stacks */
	size_t n_cpu_stacks;
	/* "stacks": the rows' folded stacks as vexitprof decided them (absent before vexitprof/2) */
	bool has_row_stacks;
	bool row_stacks_ns; /* weights are ns, else dispatches */
	struct diff_stack *row_stacks;
	size_t n_row_stacks;
	struct json_object *root;
};

/* Read and check path: 0, or an exit code after one line on stderr. */
int diff_load(struct diff_profile *p, const char *path);
/*
 * 0, or VP_DIFF_EXIT_SCHEMA / VP_DIFF_EXIT_INCOMPARABLE after one line on
 * stderr.  cross_device: allow two profiles whose accesses share no device.
 */
int diff_check_comparable(const struct diff_profile *a, const struct diff_profile *b,
			  bool cross_device);
void diff_profile_free(struct diff_profile *p);

enum diff_per { DIFF_PER_AUTO, DIFF_PER_PACKET, DIFF_PER_GB, DIFF_PER_SECOND };

/* One compared row: values per unit. */
struct diff_line {
	const char *name, *owner;
	double a, b;   /* count per unit (functions: self us per unit) */
	double d;      /* b - a, 0 when below rounding noise */
	double a2, b2; /* functions: total (with callees) us per unit */
};

struct diff_result {
	enum diff_per per;
	const char *per_name;  /* "packet", "GB", "second" */
	double unit_a, unit_b; /* packets, GB or seconds of each side */
	struct diff_line *lines[DIFF_NSECT];
	size_t n[DIFF_NSECT];
	bool functions;	  /* both sides have on_cpu data */
	bool access_time; /* both sides time the exits to QEMU per register (KVM) */
};

/*
 * The units: per as asked (AUTO: packet when both sides count packets,
 * else second); packets/bytes >= 0 override what the profiles say.
 * 0, or VP_DIFF_EXIT_INCOMPARABLE after one line on stderr.
 */
int diff_units(struct diff_result *r, const struct diff_profile *a, const struct diff_profile *b,
	       enum diff_per per);
/* Every row of either side, normalized, largest absolute change first. */
int diff_compare(struct diff_result *r, const struct diff_profile *a, const struct diff_profile *b);
void diff_result_free(struct diff_result *r);
/* b - a, or 0 when the two differ only by floating-point rounding */
double diff_delta(double a, double b);

/* The folded stacks for a differential flame graph: B's weights, B - A per unit. */
struct diff_graph {
	struct fg_stack *stacks;
	double *deltas;
	size_t n;
	size_t only_a;	  /* stacks of A that B does not have (not drawn) */
	bool on_cpu;	  /* from on_cpu.stacks, else from the rows */
	const char *unit; /* of the widths: "samples", "ns", "dispatches" */
	char delta_unit[48];
};
int diff_stacks(struct diff_graph *g, const struct diff_profile *a, const struct diff_profile *b,
		const struct diff_result *r);
void diff_graph_free(struct diff_graph *g);

/* top: lines per section, 0 for all */
void diff_render_text(FILE *f, const struct diff_result *r, const struct diff_profile *a,
		      const struct diff_profile *b, size_t top);
void diff_render_json(FILE *f, const struct diff_result *r, const struct diff_profile *a,
		      const struct diff_profile *b, size_t top);

/* `vexitprof diff ...` (argv[0] is "diff"): an exit code. */
int diff_main(int argc, char **argv);
#endif
