// SPDX-License-Identifier: GPL-2.0
/* vexitprof's options: argp table, parsing and the checks between options. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "env.h"
#include "vexitprof.h"
#include "target.h"
#include "metrics.h"
#include "serve_http.h"

struct env env = {
    .tracefs = "/sys/kernel/tracing",
    .max_registers = METRICS_DEF_REGISTERS,
    .max_series = METRICS_DEF_SERIES,
    .duty_window = VP_DUTY_WINDOW_MS / 1e3,
    .duty_period = VP_DUTY_PERIOD_MS / 1e3,
};

const char *argp_program_version = "vexitprof 0.1";
static const char doc[] =
    "Attribute the VM-exit and device-emulation cost of one QEMU process, down to the device "
    "register.\n\n"
    "Examples:\n"
    "  vexitprof -p $(pidof qemu-system-x86_64)            # table until Ctrl-C\n"
    "  vexitprof -p PID -d 10 --json > out.json            # 10 s, JSON (profiler/JSON.md)\n"
    "  vexitprof -p PID -d 10 --flamegraph exits.svg       # SVG flame graph\n"
    "  vexitprof -p PID -i 1                               # live table every second\n"
    "  vexitprof -p PID -d 10 --on-cpu                     # + where QEMU's CPU time goes\n"
    "  vexitprof diff A.json B.json                        # compare two profiles (diff --help)\n"
    "  vexitprof --serve 127.0.0.1:9477                    # every QEMU on the host, for "
    "Prometheus\n";

enum {
	OPT_JSON = 0x100,
	OPT_FOLDED,
	OPT_FLAME,
	OPT_QMP,
	OPT_NO_USDT,
	OPT_READY,
	OPT_PER_VCPU,
	OPT_HIST,
	OPT_TRACEFS,
	OPT_NO_CALIB,
	OPT_ALL,
	OPT_KVM_RUN,
	OPT_NO_PACKET_PROBES,
	OPT_SERVE,
	OPT_VM,
	OPT_TIMING,
	OPT_MAX_REGISTERS,
	OPT_MAX_SERIES,
	OPT_ON_CPU,
	OPT_EXACT,
	OPT_DUTY,
	OPT_TIMESTAMPS,
};

static const struct argp_option opts[] = {
    {"pid", 'p', "PID", 0, "QEMU process to profile (required)", 0},
    {"duration", 'd', "SEC", 0, "Stop after SEC seconds (default: until Ctrl-C)", 0},
    {"interval", 'i', "SEC", 0, "Live mode: print the table every SEC seconds", 0},
    {"per-vcpu", OPT_PER_VCPU, NULL, 0, "Break every table down by vCPU", 0},
    {"hist", OPT_HIST, NULL, 0, "Print log2 latency histograms", 0},
    {"all", OPT_ALL, NULL, 0,
     "List every device register in the table (default: the busiest, the rest summed up)", 0},
    {"json", OPT_JSON, NULL, 0, "Print the report as JSON (schema: profiler/JSON.md)", 0},
    {"folded", OPT_FOLDED, NULL, 0, "Print folded stacks (vcpu;reason;device;register;handler ns)",
     0},
    {"flamegraph", OPT_FLAME, "FILE", 0, "Write an SVG flame graph to FILE", 0},
    {"qmp", OPT_QMP, "SOCKET", 0, "Name addresses no USDT event named via QMP `info mtree`", 0},
    {"no-usdt", OPT_NO_USDT, NULL, 0, "Kernel events only, do not attach QEMU's USDT probes", 0},
    {"on-cpu", OPT_ON_CPU, "HZ", OPTION_ARG_OPTIONAL,
     "Also sample where QEMU's threads spend CPU, HZ times a second per CPU (default 499), "
     "attributed to the register being handled; --folded/--flamegraph then show these samples",
     0},
    {"ready-file", OPT_READY, "PATH", 0, "Create PATH once every probe is attached", 0},
    {"tracefs", OPT_TRACEFS, "DIR", OPTION_HIDDEN, "Where tracefs is (tests)", 0},
    {"no-packet-probes", OPT_NO_PACKET_PROBES, NULL, 0,
     "Do not attach QEMU's per-packet e1000 probes (one uprobe trap less per packet; no "
     "per-packet figures)",
     0},
    {"no-calibrate", OPT_NO_CALIB, NULL, 0, "Skip the uprobe cost calibration", 0},
    {"kvm-run", OPT_KVM_RUN, "HOOK", 0,
     "How to trace KVM_RUN's boundaries: auto (default: the first that works of) fentry, "
     "kvm_fpu, syscalls",
     0},
    {"verbose", 'v', NULL, 0, "Show libbpf's messages", 0},
    {NULL, 0, NULL, 0, "Fleet mode (a daemon for Prometheus; see vexitprof(8)):", 1},
    {"serve", OPT_SERVE, "[ADDR:]PORT", 0,
     "Attach to every QEMU on the host (and later ones) and serve /metrics; -p PID (repeatable) "
     "limits it",
     1},
    {"vm", OPT_VM, "GLOB", 0, "With --serve: only VMs whose name matches GLOB (repeatable)", 1},
    {"timing", OPT_TIMING, NULL, 0,
     "With --serve: also time exits and accesses (seconds, histograms; default: counts only)", 1},
    {"max-registers", OPT_MAX_REGISTERS, "N", 0,
     "With --serve: registers per device with series of their own, the rest are "
     "register=\"other\" (default 10)",
     1},
    {"max-series", OPT_MAX_SERIES, "N", 0, "With --serve: series per VM at most (default 1000)", 1},
    {"duty", OPT_DUTY, "WINDOW/PERIOD", 0,
     "With --serve: attach QEMU's USDT probes for WINDOW ms of every PERIOD ms and extrapolate "
     "their counts (default " VP_STR(VP_DUTY_WINDOW_MS) "/" VP_STR(VP_DUTY_PERIOD_MS) ")",
     1},
    {"timestamps", OPT_TIMESTAMPS, NULL, 0,
     "With --serve: stamp each VM's samples with the time its maps were read (exact rates "
     "whatever the scrape's delay; Prometheus then marks no ended series stale)",
     1},
    {"exact", OPT_EXACT, NULL, 0,
     "With --serve: keep QEMU's USDT probes attached (exact counts, one trap per access)", 1},
    {},
};

static double parse_sec(const char *arg, struct argp_state *state)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || *end || v <= 0)
		argp_error(state, "invalid number of seconds: %s", arg);
	return v;
}

static int parse_int(const char *arg, const char *what, int min, int max, struct argp_state *state)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || !*arg || v < min || v > max)
		argp_error(state, "invalid %s: %s", what, arg);
	return (int)v;
}

/* the checks between options, --serve's */
static void check_serve(struct argp_state *state)
{
	char host[256], port[8];

	if (http_parse_addr(env.serve, host, sizeof(host), port, sizeof(port)))
		argp_error(state, "--serve %s: expected [ADDR:]PORT (PORT 1-65535)", env.serve);
	if (env.json || env.folded || env.flamegraph || env.interval || env.hist || env.all ||
	    env.qmp)
		argp_error(state, "--serve exposes metrics over HTTP: not with %s",
			   env.json	    ? "--json"
			   : env.folded	    ? "--folded"
			   : env.flamegraph ? "--flamegraph"
			   : env.interval   ? "-i"
			   : env.hist	    ? "--hist"
			   : env.all	    ? "--all"
					    : "--qmp");
	if (env.exact && env.duty_set)
		argp_error(state, "--exact counts all the time: not with --duty");
	if (env.oncpu_hz)
		argp_error(
		    state,
		    "--serve does not sample (--on-cpu): profile one QEMU with -p PID --on-cpu");
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'p':
		env.pid = parse_int(arg, "pid", 1, INT_MAX, state);
		if (env.n_pids == (int)(sizeof(env.pids) / sizeof(env.pids[0])))
			argp_error(state, "too many -p");
		env.pids[env.n_pids++] = env.pid;
		break;
	case OPT_SERVE:
		env.serve = arg;
		break;
	case OPT_VM:
		if (env.n_vms == (int)(sizeof(env.vms) / sizeof(env.vms[0])))
			argp_error(state, "too many --vm");
		env.vms[env.n_vms++] = arg;
		break;
	case OPT_TIMING:
		env.timing = true;
		break;
	case OPT_MAX_REGISTERS:
		env.max_registers = parse_int(arg, "--max-registers", 1, 1000000, state);
		break;
	case OPT_MAX_SERIES:
		env.max_series = parse_int(arg, "--max-series (at least 100)", METRICS_MIN_SERIES,
					   1000000, state);
		break;
	case OPT_EXACT:
		env.exact = true;
		break;
	case OPT_TIMESTAMPS:
		env.timestamps = true;
		break;
	case OPT_DUTY: {
		char *end, *end2 = NULL;
		double w, p;

		errno = 0;
		w = strtod(arg, &end);
		p = *end == '/' ? strtod(end + 1, &end2) : 0;
		if (errno || !end2 || end2 == end + 1 || *end2 || !(w >= 1) || !(p > w) ||
		    p > 3600e3)
			argp_error(state,
				   "--duty %s: expected WINDOW/PERIOD in ms, 1 <= WINDOW < PERIOD",
				   arg);
		env.duty_window = w / 1e3;
		env.duty_period = p / 1e3;
		env.duty_set = true;
		break;
	}
	case 'd':
		env.duration = parse_sec(arg, state);
		break;
	case 'i':
		env.interval = parse_sec(arg, state);
		break;
	case OPT_PER_VCPU:
		env.per_vcpu = true;
		break;
	case OPT_HIST:
		env.hist = true;
		break;
	case OPT_ON_CPU: {
		char *end = NULL;
		long hz = arg ? strtol(arg, &end, 10) : VP_CPU_DEFAULT_HZ;

		if (arg && (end == arg || *end || hz < 1 || hz > 100000))
			argp_error(state, "--on-cpu=%s: expected a rate in Hz (1-100000)", arg);
		env.oncpu_hz = (int)hz;
		break;
	}
	case OPT_JSON:
		env.json = true;
		break;
	case OPT_FOLDED:
		env.folded = true;
		break;
	case OPT_FLAME:
		env.flamegraph = arg;
		break;
	case OPT_QMP:
		env.qmp = arg;
		break;
	case OPT_NO_USDT:
		env.no_usdt = true;
		break;
	case OPT_READY:
		env.ready_file = arg;
		break;
	case OPT_TRACEFS:
		env.tracefs = arg;
		break;
	case OPT_NO_CALIB:
		env.no_calib = true;
		break;
	case OPT_ALL:
		env.all = true;
		break;
	case OPT_NO_PACKET_PROBES:
		env.no_packet_probes = true;
		break;
	case OPT_KVM_RUN:
		if (!strcmp(arg, "auto"))
			env.kvm_run = VP_HOOK_NONE;
		else if (!strcmp(arg, "fentry"))
			env.kvm_run = VP_HOOK_FENTRY;
		else if (!strcmp(arg, "kvm_fpu"))
			env.kvm_run = VP_HOOK_KVM_FPU;
		else if (!strcmp(arg, "syscalls"))
			env.kvm_run = VP_HOOK_SYSCALLS;
		else
			argp_error(state, "--kvm-run: auto, fentry, kvm_fpu or syscalls, not %s",
				   arg);
		break;
	case 'v':
		env.verbose = true;
		break;
	case ARGP_KEY_END:
		if (env.serve) {
			check_serve(state);
			break;
		}
		if (env.n_vms || env.timing || env.max_registers != METRICS_DEF_REGISTERS ||
		    env.max_series != METRICS_DEF_SERIES || env.exact || env.duty_set ||
		    env.timestamps)
			argp_error(state, "--vm, --timing, --max-registers, --max-series, --duty, "
					  "--exact and --timestamps are --serve options");
		if (!env.pid)
			argp_error(state, "-p PID is required");
		if (env.json && env.folded)
			argp_error(state, "--json and --folded both write to stdout: pick one");
		/* live tables would break a JSON document or folded stacks */
		if (env.interval && (env.json || env.folded))
			argp_error(state, "-i prints live tables to stdout: not with %s",
				   env.json ? "--json" : "--folded");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int env_parse(int argc, char **argv)
{
	static const struct argp argp = {opts, parse_arg, NULL, doc, NULL, NULL, NULL};

	argp_err_exit_status = VP_EXIT_USAGE;
	return argp_parse(&argp, argc, argv, 0, NULL, NULL) ? VP_EXIT_USAGE : 0;
}
