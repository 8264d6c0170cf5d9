// SPDX-License-Identifier: GPL-2.0
/*
 * vexitprof diff A.json B.json: options, then load both (diff_load.c), check
 * they compare, pick the unit, rank the changes (diff_compare.c), print them
 * (diff_render.c) and draw the differential flame graph (diff_stacks.c and
 * the flame graph writer).
 */
#include <argp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "diff.h"
#include "target.h"

static struct {
	const char *file[2];
	int nfiles;
	enum diff_per per;
	const char *flamegraph;
	bool json, cross_device;
	size_t top;
	double packets[2], bytes[2];
} opt = {.top = 20, .packets = {-1, -1}, .bytes = {-1, -1}};

static const char doc[] =
    "Compare two `vexitprof --json` profiles: per-register accesses, VM exits, exits to QEMU "
    "and (with --on-cpu profiles) QEMU functions, normalized per packet (or per GB, or per "
    "second), largest absolute change first, with each side's value and the ratio B/A.\v"
    "Exit status: 0 compared; 2 bad option; 8 output not written; 10 a file cannot be read; "
    "11 not JSON or not a vexitprof profile; 12 different or unknown schema versions; "
    "13 the profiles cannot be compared (vexitprof.8, DIFF).";

enum { OPT_PER = 0x100, OPT_FLAME, OPT_JSON, OPT_TOP, OPT_PACKETS, OPT_BYTES, OPT_CROSS };

static const struct argp_option opts[] = {
    {"per", OPT_PER, "UNIT", 0,
     "packet (e1000 frames, TX + RX), gb or second (default: packet when both profiles count "
     "packets, else second)",
     0},
    {"flamegraph", OPT_FLAME, "OUT.svg", 0,
     "Differential flame graph: B's stacks, red grew, blue shrank (per unit)", 0},
    {"json", OPT_JSON, NULL, 0, "Print the comparison as JSON", 0},
    {"top", OPT_TOP, "N", 0, "Rows per section (default 20, 0: all)", 0},
    {"packets", OPT_PACKETS, "A,B", 0,
     "Packet counts measured elsewhere (e.g. the host side of the tap), for profiles taken "
     "without the e1000 probes",
     0},
    {"bytes", OPT_BYTES, "A,B", 0, "Byte counts measured elsewhere, for --per gb", 0},
    {"cross-device", OPT_CROSS, NULL, 0,
     "Compare profiles that have no device in common (e.g. e1000 against virtio-net)", 0},
    {},
};

static void pair(const char *arg, double v[2], struct argp_state *state)
{
	char *end;

	errno = 0;
	v[0] = strtod(arg, &end);
	if (errno || *end != ',' || v[0] <= 0)
		argp_error(state, "%s: want two positive counts A,B", arg);
	v[1] = strtod(end + 1, &end);
	if (errno || *end || v[1] <= 0)
		argp_error(state, "%s: want two positive counts A,B", arg);
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case OPT_PER:
		if (!strcmp(arg, "packet"))
			opt.per = DIFF_PER_PACKET;
		else if (!strcasecmp(arg, "gb"))
			opt.per = DIFF_PER_GB;
		else if (!strcmp(arg, "second"))
			opt.per = DIFF_PER_SECOND;
		else
			argp_error(state, "--per: packet, gb or second, not %s", arg);
		break;
	case OPT_FLAME:
		opt.flamegraph = arg;
		break;
	case OPT_JSON:
		opt.json = true;
		break;
	case OPT_TOP:
		errno = 0;
		opt.top = strtoul(arg, &end, 10);
		if (errno || *end || *arg == '-' || !*arg)
			argp_error(state, "--top: a number of rows, not %s", arg);
		break;
	case OPT_PACKETS:
		pair(arg, opt.packets, state);
		break;
	case OPT_BYTES:
		pair(arg, opt.bytes, state);
		break;
	case OPT_CROSS:
		opt.cross_device = true;
		break;
	case ARGP_KEY_ARG:
		if (opt.nfiles == 2)
			argp_error(state, "two profiles: A.json B.json");
		opt.file[opt.nfiles++] = arg;
		break;
	case ARGP_KEY_END:
		if (opt.nfiles != 2)
			argp_error(state, "two profiles: A.json B.json");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int write_graph(const struct diff_result *r, const struct diff_profile *a,
		       const struct diff_profile *b)
{
	struct diff_graph g;
	char title[512], sub[256];
	int err = diff_stacks(&g, a, b, r);

	if (!err) {
		struct fg_options o = {.title = title,
				       .subtitle = sub,
				       .unit = g.unit,
				       .deltas = g.deltas,
				       .delta_unit = g.delta_unit};

		snprintf(title, sizeof(title), "vexitprof diff: %s -> %s", a->path, b->path);
		snprintf(sub, sizeof(sub),
			 "%s of B; colour: self change in %s, red grew, blue shrank, white same",
			 g.on_cpu ? "on-CPU samples" : "folded stacks of the rows", g.delta_unit);
		err = flamegraph_write_file(opt.flamegraph, g.stacks, g.n, &o);
		if (!err && g.only_a)
			fprintf(stderr,
				"vexitprof diff: %zu stack(s) of %s are not in %s and not drawn "
				"(the graph has B's shape)\n",
				g.only_a, a->path, b->path);
	}
	diff_graph_free(&g);
	if (err == -ENODATA) {
		fprintf(stderr,
			"vexitprof diff: --flamegraph: %s has no folded stacks (\"stacks\": "
			"written by a vexitprof before this one); record it again\n",
			a->has_row_stacks ? b->path : a->path);
		return VP_DIFF_EXIT_NOTJSON;
	}
	if (err) {
		fprintf(stderr, "vexitprof diff: --flamegraph %s: %s\n", opt.flamegraph,
			strerror(-err));
		return VP_EXIT_OUTPUT;
	}
	return 0;
}

int diff_main(int argc, char **argv)
{
	static const struct argp argp = {opts, parse_arg, "A.json B.json", doc, NULL, NULL, NULL};
	struct diff_profile p[2] = {0};
	struct diff_result r = {0};
	int rc = 0;

	/* argp names the program by argv[0] in its messages */
	argv[0] = program_invocation_name = program_invocation_short_name = "vexitprof diff";
	argp_err_exit_status = VP_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return VP_EXIT_USAGE;
	for (int i = 0; !rc && i < 2; i++) {
		rc = diff_load(&p[i], opt.file[i]);
		if (opt.packets[i] > 0)
			p[i].packets = opt.packets[i];
		if (opt.bytes[i] > 0)
			p[i].bytes = opt.bytes[i];
	}
	if (!rc)
		rc = diff_check_comparable(&p[0], &p[1], opt.cross_device);
	if (!rc)
		rc = diff_units(&r, &p[0], &p[1], opt.per);
	if (!rc && diff_compare(&r, &p[0], &p[1])) {
		fprintf(stderr, "vexitprof diff: out of memory\n");
		rc = VP_EXIT_ERROR;
	}
	if (!rc) {
		if (opt.json)
			diff_render_json(stdout, &r, &p[0], &p[1], opt.top);
		else
			diff_render_text(stdout, &r, &p[0], &p[1], opt.top);
		if (fflush(stdout) || ferror(stdout)) {
			fprintf(stderr, "vexitprof diff: writing the report: %s\n",
				strerror(errno ? errno : EIO));
			rc = VP_EXIT_OUTPUT;
		}
	}
	if (!rc && opt.flamegraph)
		rc = write_graph(&r, &p[0], &p[1]);
	diff_result_free(&r);
	diff_profile_free(&p[0]);
	diff_profile_free(&p[1]);
	return rc;
}
