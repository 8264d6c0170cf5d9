// SPDX-License-Identifier: GPL-2.0
/* vexit-flamegraph: folded stacks ("a;b;c weight" per line) to a flame graph SVG; with --diff,
 * two profiles' counts ("a;b;c countA countB") to a differential flame graph. */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flamegraph.h"

static struct {
	struct fg_options o;
	const char *output, *input;
	int diff;
} env = {.input = "-"};

const char *argp_program_version = "vexit-flamegraph 0.1";
static const char doc[] =
    "Reads folded stacks (\"frame1;frame2;frame3 weight\" per line) from FILE or stdin and writes "
    "a flame graph SVG.\vLines that do not parse are skipped and counted on stderr.  With --diff "
    "each line is \"frames countA countB\" (Brendan Gregg's difffolded.pl): frames are as wide "
    "as countB and coloured by their self change countB - countA, red grew, blue shrank, white "
    "unchanged.";

enum { OPT_NO_SCRIPT = 0x100, OPT_DIFF };

static const struct argp_option opts[] = {
    {"output", 'o', "FILE", 0, "Write the SVG to FILE (default: stdout)", 0},
    {"title", 't', "TEXT", 0, "Title (default: \"Flame Graph\")", 0},
    {"subtitle", 's', "TEXT", 0, "Second line under the title", 0},
    {"unit", 'u', "UNIT", 0, "Unit of the weights, shown in tooltips (default: samples)", 0},
    {"width", 'w', "PX", 0, "Image width (default: 1200)", 0},
    {"inverted", 'i', NULL, 0, "Icicle graph: root at the top", 0},
    {"no-script", OPT_NO_SCRIPT, NULL, 0, "Leave out the zoom/search JavaScript", 0},
    {"diff", OPT_DIFF, NULL, 0,
     "Differential flame graph from \"frames countA countB\" lines (width B, colour B - A)", 0},
    {},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case 'o':
		env.output = arg;
		break;
	case 't':
		env.o.title = arg;
		break;
	case 's':
		env.o.subtitle = arg;
		break;
	case 'u':
		env.o.unit = arg;
		break;
	case 'w':
		errno = 0;
		env.o.width = (int)strtol(arg, &end, 10);
		if (errno || *end || env.o.width < 100 || env.o.width > 100000)
			argp_error(state, "bad width '%s'", arg);
		break;
	case 'i':
		env.o.inverted = 1;
		break;
	case OPT_NO_SCRIPT:
		env.o.no_script = 1;
		break;
	case OPT_DIFF:
		env.diff = 1;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num > 0)
			argp_error(state, "one input file at most");
		env.input = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {opts, parse_arg, "[FILE|-]", doc, NULL, NULL, NULL};
	struct fg_stack *stacks = NULL;
	double *deltas = NULL;
	size_t n = 0, bad = 0;
	FILE *in = stdin;
	int err;

	argp_err_exit_status = 2;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	if (strcmp(env.input, "-") && !(in = fopen(env.input, "r"))) {
		fprintf(stderr, "vexit-flamegraph: %s: %s\n", env.input, strerror(errno));
		return 1;
	}
	err = env.diff ? flamegraph_parse_diff(in, &stacks, &deltas, &n, &bad)
		       : flamegraph_parse_folded(in, &stacks, &n, &bad);
	env.o.deltas = deltas;
	if (in != stdin)
		fclose(in);
	if (err) {
		fprintf(stderr, "vexit-flamegraph: reading %s: %s\n", env.input, strerror(-err));
		return 1;
	}
	if (bad)
		fprintf(stderr, "vexit-flamegraph: skipped %zu line(s) that are not \"%s\"\n", bad,
			env.diff ? "frames countA countB" : "frames weight");
	if (env.output)
		err = flamegraph_write_file(env.output, stacks, n, &env.o);
	else
		err = flamegraph_write_svg_opts(stdout, stacks, n, &env.o);
	flamegraph_free_stacks(stacks, n);
	free(deltas);
	if (err) {
		fprintf(stderr, "vexit-flamegraph: writing %s: %s\n",
			env.output ? env.output : "stdout", strerror(-err));
		return 1;
	}
	return 0;
}
