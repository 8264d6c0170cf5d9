/* vexit-flamegraph: folded stacks ("a;b;c weight" per line) to a flame graph SVG. */
#define _GNU_SOURCE
#include "flamegraph.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vexit-flamegraph [options] [FILE|-]\n"
		"Reads folded stacks (\"frame1;frame2;frame3 weight\" per line) from FILE or\n"
		"stdin and writes a flame graph SVG.\n"
		"  -o, --output FILE   write the SVG to FILE (default: stdout)\n"
		"  -t, --title TEXT    title (default: \"Flame Graph\")\n"
		"  -s, --subtitle TEXT second line under the title\n"
		"  -u, --unit UNIT     unit of the weights, shown in tooltips (default: samples)\n"
		"  -w, --width PX      image width (default: 1200)\n"
		"  -i, --inverted      icicle graph: root at the top\n"
		"      --no-script     leave out the zoom/search JavaScript\n"
		"  -h, --help\n"
		"Lines that do not parse are skipped and counted on stderr.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"title", required_argument, NULL, 't'},
	    {"subtitle", required_argument, NULL, 's'},
	    {"unit", required_argument, NULL, 'u'},
	    {"width", required_argument, NULL, 'w'},
	    {"inverted", no_argument, NULL, 'i'},
	    {"no-script", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct fg_options o = {0};
	const char *output = NULL, *input = "-";
	struct fg_stack *stacks = NULL;
	size_t n = 0, bad = 0;
	FILE *in = stdin, *out = stdout;
	char *end, *tmp = NULL;
	int c, err;

	while ((c = getopt_long(argc, argv, "o:t:s:u:w:ih", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 't':
			o.title = optarg;
			break;
		case 's':
			o.subtitle = optarg;
			break;
		case 'u':
			o.unit = optarg;
			break;
		case 'w':
			errno = 0;
			o.width = (int)strtol(optarg, &end, 10);
			if (errno || *end || o.width < 100 || o.width > 100000) {
				fprintf(stderr, "vexit-flamegraph: bad width '%s'\n", optarg);
				return 2;
			}
			break;
		case 'i':
			o.inverted = 1;
			break;
		case 'S':
			o.no_script = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 < argc) {
		usage(stderr);
		return 2;
	}
	if (optind < argc)
		input = argv[optind];
	if (strcmp(input, "-") && !(in = fopen(input, "r"))) {
		fprintf(stderr, "vexit-flamegraph: %s: %s\n", input, strerror(errno));
		return 1;
	}
	err = flamegraph_parse_folded(in, &stacks, &n, &bad);
	if (in != stdin)
		fclose(in);
	if (err) {
		fprintf(stderr, "vexit-flamegraph: reading %s: %s\n", input, strerror(-err));
		return 1;
	}
	if (bad)
		fprintf(stderr,
			"vexit-flamegraph: skipped %zu line(s) that are not \"frames weight\"\n",
			bad);
	/* A regular file is written under a temporary name and renamed, so a
	 * failed run leaves no half SVG behind; anything else (/dev/null, a
	 * pipe) is written in place, never replaced. */
	if (output) {
		struct stat st;
		int regular = stat(output, &st) ? errno == ENOENT : S_ISREG(st.st_mode);

		if (regular && asprintf(&tmp, "%s.tmp", output) < 0) {
			fprintf(stderr, "vexit-flamegraph: out of memory\n");
			flamegraph_free_stacks(stacks, n);
			return 1;
		}
		out = fopen(tmp ? tmp : output, "w");
		if (!out) {
			fprintf(stderr, "vexit-flamegraph: %s: %s\n", tmp ? tmp : output,
				strerror(errno));
			flamegraph_free_stacks(stacks, n);
			free(tmp);
			return 1;
		}
	}
	err = flamegraph_write_svg_opts(out, stacks, n, &o);
	flamegraph_free_stacks(stacks, n);
	if (output) {
		if (fclose(out) && !err)
			err = -errno;
		if (!err && tmp && rename(tmp, output))
			err = -errno;
		if (err && tmp)
			unlink(tmp);
		free(tmp);
	}
	if (err) {
		fprintf(stderr, "vexit-flamegraph: writing %s: %s\n", output ? output : "stdout",
			strerror(-err));
		return 1;
	}
	return 0;
}
