// SPDX-License-Identifier: GPL-2.0
/*
 * vexitprof: attribute VM-exit and device-emulation cost of one QEMU process,
 * down to the device register.  Options, checks, attach, the wait loop.
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "vexitprof.h"
#include "report.h"
#include "target.h"
#include "cost.h"
#include "qmp.h"

static struct env {
	int pid;
	double duration;
	double interval;
	bool per_vcpu, hist, json, folded, no_usdt, verbose, no_calib, all, no_packet_probes;
	int kvm_run; /* enum vp_run_hook; VP_HOOK_NONE: auto */
	const char *flamegraph;
	const char *qmp;
	const char *ready_file;
	const char *tracefs;
} env = {.tracefs = "/sys/kernel/tracing"};

const char *argp_program_version = "vexitprof 0.1";
static const char doc[] =
    "Attribute the VM-exit and device-emulation cost of one QEMU process, down to the device "
    "register.\n\n"
    "Examples:\n"
    "  vexitprof -p $(pidof qemu-system-x86_64)            # table until Ctrl-C\n"
    "  vexitprof -p PID -d 10 --json > out.json            # 10 s, JSON (profiler/JSON.md)\n"
    "  vexitprof -p PID -d 10 --flamegraph exits.svg       # SVG flame graph\n"
    "  vexitprof -p PID -i 1                               # live table every second\n";

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

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case 'p':
		errno = 0;
		env.pid = strtol(arg, &end, 10);
		if (errno || *end || env.pid <= 0)
			argp_error(state, "invalid pid: %s", arg);
		break;
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

/*
 * libbpf explains a failure in many lines; we print one line per failure
 * ourselves, so keep libbpf quiet unless asked.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	if (!env.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static volatile sig_atomic_t stop;

/*
 * BPF run-time statistics at the start of a profile: until our programs ran
 * VP_STATS_RUNS times (a busy guest gets there in a few ms), at most
 * VP_STATS_WINDOW_S seconds.  While on, they add two clock reads to every
 * program run on the host, which would show in the guest's throughput.
 */
#define VP_STATS_WINDOW_S 2.0
#define VP_STATS_RUNS	  20000

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define VP_MAX_LINKS 32

struct attach_state {
	struct bpf_link *links[VP_MAX_LINKS];
	const char *names[VP_MAX_LINKS];
	int n;
};

/* Keep link l (detached at the end); -1 with one line printed, and l detached, if full. */
static int as_add(struct attach_state *as, struct bpf_link *l, const char *name)
{
	if (as->n >= VP_MAX_LINKS) {
		fprintf(stderr,
			"vexitprof: more than %d probes to attach (%s): raise VP_MAX_LINKS\n",
			VP_MAX_LINKS, name);
		bpf_link__destroy(l);
		return -1;
	}
	as->names[as->n] = name;
	as->links[as->n++] = l;
	return 0;
}

/* why a way of tracing KVM_RUN could not be used (for the notice) */
static char hook_err[VP_HOOK_SYSCALLS + 1][96];

/*
 * Name the vCPU threads that exist now, so kernel events are keyed by vCPU even
 * before KVM_RUN or kvm_exit names them.  Only works when QEMU names its
 * threads (-name debug-threads=on); learn_vcpus() covers the rest.
 */
static void prefill_vcpu(int tid, int vcpu, void *arg)
{
	struct vexitprof_bpf *skel = arg;
	struct vp_tid_info ti = {.vcpu = vcpu, .run_fd = -1};
	__u32 key = tid;

	bpf_map_update_elem(bpf_map__fd(skel->maps.tid_vcpu), &key, &ti, BPF_NOEXIST);
}

/* What BPF learned about threads: their vCPU (fentry), or the fd they ran KVM_RUN on. */
static void learn_vcpus(struct vexitprof_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.tid_vcpu);
	__u32 key, prev_key, *prev = NULL;
	struct vp_tid_info ti;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (!bpf_map_lookup_elem(fd, &key, &ti)) {
			if (ti.vcpu >= 0)
				target_note_vcpu(key, ti.vcpu);
			else if (ti.run_fd > 0)
				target_note_run_fd(env.pid, key, ti.run_fd);
		}
		prev_key = key;
		prev = &prev_key;
	}
}

static bool tp_exists(const char *cat, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/events/%s/%s", env.tracefs, cat, name);
	return !access(p, F_OK);
}

struct tp_prog {
	struct bpf_program *prog;
	const char *cat, *name; /* tracepoint; cat NULL: fentry/fexit on function name */
	bool required;
	unsigned int hooks; /* 0: always; else only with these (1 << enum vp_run_hook) */
};

#define H(x) (1u << (x))

/* exe: /proc/PID/exe (attach through it); name: the executable's path, for messages */
static int attach_usdt(struct vexitprof_bpf *skel, struct attach_state *as, const char *exe,
		       const char *name, bool *e1000)
{
	struct {
		struct bpf_program *prog;
		const char *name;
		bool e1000;
	} u[] = {
	    {skel->progs.usdt_mr_read, "memory_region_ops_read", false},
	    {skel->progs.usdt_mr_write, "memory_region_ops_write", false},
	    {skel->progs.usdt_e1000_tx_batch, "e1000_tx_batch", true},
	    {skel->progs.usdt_e1000_rx_frame, "e1000_rx_frame", true},
	    {skel->progs.usdt_e1000_irq_raise, "e1000_irq_raise", true},
	    {skel->progs.usdt_e1000_irq_lower, "e1000_irq_lower", true},
	};
	int ok_e1000 = 0, n_e1000 = 0;
	const char *missing = NULL;

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		struct bpf_link *l;

		if (u[i].e1000 && env.no_packet_probes)
			continue;
		n_e1000 += u[i].e1000;
		l = bpf_program__attach_usdt(u[i].prog, env.pid, exe, "qemu", u[i].name, NULL);

		if (!l) {
			/*
			 * A QEMU without our e1000 patch has none of its probes
			 * (ENOENT: not in the binary) and simply no per-packet
			 * figures.  Any other failure is an error.
			 */
			if (u[i].e1000 && errno == ENOENT) {
				missing = u[i].name;
				continue;
			}
			fprintf(stderr, "vexitprof: cannot attach USDT qemu:%s in %s: %s\n",
				u[i].name, name, strerror(errno));
			return -1;
		}
		if (as_add(as, l, u[i].name))
			return -1;
		ok_e1000 += u[i].e1000;
	}
	/*
	 * Some of the e1000 probes but not all (a QEMU with another version of
	 * the patch): the per-packet figures would mix counted and uncounted
	 * events, e.g. exits per packet from TX frames alone.
	 */
	if (ok_e1000 && ok_e1000 < n_e1000) {
		fprintf(stderr,
			"vexitprof: %s has %d of the %d e1000 USDT probes (no qemu:%s): "
			"per-packet figures would be wrong; --no-packet-probes profiles without "
			"them\n",
			name, ok_e1000, n_e1000, missing);
		return -1;
	}
	*e1000 = ok_e1000 > 0;
	return 0;
}

/*
 * Open, load and attach the kernel side with the KVM_RUN boundaries from hook.
 * Returns 0; -EAGAIN when this way of tracing KVM_RUN cannot be used and it
 * is not the last one to try (hook_err says why, the caller tries the next);
 * -ENOENT when a required tracepoint is missing; -1 on other errors.  One
 * line printed for the errors that are final.
 */
/* length of the nop at QEMU's USDT sites (1, or 5 with qemu-patches/0007), for the calibration */
static int usdt_nop_len = 1;

static int load_and_attach(struct vexitprof_bpf **skelp, struct attach_state *as, int hook,
			   bool last, bool usdt, double *trap_ns)
{
	struct vexitprof_bpf *skel;
	struct bpf_program *p;
	int err;

	skel = *skelp = vexitprof_bpf__open();
	if (!skel) {
		fprintf(stderr, "vexitprof: cannot open the BPF object: %s\n", strerror(errno));
		return -1;
	}
	skel->rodata->targ_tgid = env.pid;
	skel->rodata->run_hook = hook;

	struct tp_prog tps[] = {
	    {skel->progs.tp_kvm_exit, "kvm", "kvm_exit", false, 0},
	    {skel->progs.tp_kvm_entry, "kvm", "kvm_entry", false, 0},
	    {skel->progs.tp_kvm_mmio, "kvm", "kvm_mmio", true, 0},
	    {skel->progs.tp_kvm_pio, "kvm", "kvm_pio", false, 0},
	    {skel->progs.tp_kvm_set_irq, "kvm", "kvm_set_irq", false, 0},
	    {skel->progs.tp_kvm_msi_set_irq, "kvm", "kvm_msi_set_irq", false, 0},
	    {skel->progs.tp_kvm_inj_virq, "kvm", "kvm_inj_virq", false, 0},
	    /* KVM_RUN boundaries, one of three ways */
	    {skel->progs.fentry_kvm_run, NULL, "kvm_arch_vcpu_ioctl_run", true, H(VP_HOOK_FENTRY)},
	    {skel->progs.fexit_kvm_run, NULL, "kvm_arch_vcpu_ioctl_run", true, H(VP_HOOK_FENTRY)},
	    {skel->progs.tp_kvm_fpu, "kvm", "kvm_fpu", true, H(VP_HOOK_KVM_FPU)},
	    {skel->progs.tp_kvm_userspace_exit, "kvm", "kvm_userspace_exit", true,
	     H(VP_HOOK_KVM_FPU) | H(VP_HOOK_SYSCALLS)},
	    {skel->progs.tp_sys_enter_ioctl, "syscalls", "sys_enter_ioctl", false,
	     H(VP_HOOK_SYSCALLS)},
	    {skel->progs.tp_sys_exit_ioctl, "syscalls", "sys_exit_ioctl", false,
	     H(VP_HOOK_SYSCALLS)},
	};
	const size_t ntps = sizeof(tps) / sizeof(tps[0]);

	for (size_t i = 0; i < ntps; i++) {
		if (tps[i].hooks && !(tps[i].hooks & H(hook))) {
			bpf_program__set_autoload(tps[i].prog, false);
			continue;
		}
		if (!tps[i].cat || tp_exists(tps[i].cat, tps[i].name))
			continue;
		if (tps[i].required && tps[i].hooks && !last) {
			snprintf(hook_err[hook], sizeof(hook_err[hook]), "no tracepoint %s:%s",
				 tps[i].cat, tps[i].name);
			return -EAGAIN;
		}
		if (tps[i].required) {
			fprintf(stderr, "vexitprof: tracepoint %s:%s is missing from this kernel\n",
				tps[i].cat, tps[i].name);
			return -ENOENT;
		}
		bpf_program__set_autoload(tps[i].prog, false);
	}
	if (!usdt) {
		bpf_object__for_each_program(p, skel->obj)
		{
			if (!strncmp(bpf_program__name(p), "usdt_", 5))
				bpf_program__set_autoload(p, false);
		}
		bpf_program__set_autoload(skel->progs.calib_uprobe, false);
	}
	err = vexitprof_bpf__load(skel);
	if (err) {
		if (!last) {
			snprintf(hook_err[hook], sizeof(hook_err[hook]), "loading failed: %s",
				 strerror(-err));
			return -EAGAIN;
		}
		fprintf(stderr, "vexitprof: loading the BPF programs failed: %s (run with -v)\n",
			strerror(-err));
		return -1;
	}
	target_vcpu_threads(env.pid, prefill_vcpu, skel);
	/* before anything is attached, so the calibration delays no probe */
	if (usdt && !env.no_calib && !*trap_ns)
		*trap_ns = cost_calibrate_uprobe(skel, usdt_nop_len);

	for (size_t i = 0; i < ntps; i++) {
		struct bpf_link *l;

		if (!bpf_program__autoload(tps[i].prog))
			continue;
		l = bpf_program__attach(tps[i].prog);
		if (!l) {
			if (tps[i].hooks && !last) {
				snprintf(hook_err[hook], sizeof(hook_err[hook]),
					 "attaching failed: %s", strerror(errno));
				return -EAGAIN;
			}
			fprintf(stderr, "vexitprof: cannot attach to %s%s%s: %s\n",
				tps[i].cat ? tps[i].cat : "", tps[i].cat ? ":" : "", tps[i].name,
				strerror(errno));
			return -1;
		}
		if (as_add(as, l, tps[i].name))
			return -1;
	}
	return 0;
}

/* the --flamegraph file holds a complete flame graph */
static bool fg_written;

/* Read the maps into r; a report with counts missing is no report: 0, or an exit code. */
static int collect(struct vp_report *r, struct vexitprof_bpf *skel, struct vp_mtree *mt, bool stats,
		   double trap_ns, bool per_vcpu)
{
	int err;

	r->per_vcpu = per_vcpu;
	report_free(r);
	err = report_collect(r, skel, mt);
	if (err) {
		fprintf(stderr, "vexitprof: reading the BPF maps failed: %s; no report\n",
			strerror(err < 0 ? -err : err));
		return VP_EXIT_ERROR;
	}
	cost_collect(r, skel, stats, trap_ns);
	return 0;
}

/* stdout took everything written so far: 0, else VP_EXIT_OUTPUT with one line printed */
static int check_stdout(bool final)
{
	errno = 0;
	/* fclose at the end: some file systems report write errors only on close */
	if (!fflush(stdout) && !ferror(stdout) && (!final || !fclose(stdout)))
		return 0;
	fprintf(stderr, "vexitprof: cannot write the report to standard output: %s\n",
		errno ? strerror(errno) : "write error");
	return VP_EXIT_OUTPUT;
}

/* Returns 0, or the exit code (one line printed per failure). */
/* t0 .. t1: the profile's span (t1 0: now) */
static int print_report(struct vp_report *r, struct vexitprof_bpf *skel, struct vp_mtree *mt,
			bool stats, double trap_ns, double t0, double t1, bool final)
{
	int rc;

	r->duration_s = (t1 ? t1 : mono()) - t0;
	/* stacks always start with the vCPU */
	rc = collect(r, skel, mt, stats, trap_ns, env.per_vcpu || (final && env.folded));
	if (rc)
		return rc;
	if (!final) {
		report_table(stdout, r, env.hist, env.all);
		return check_stdout(false);
	}
	if (env.json)
		report_json(stdout, r);
	else if (env.folded)
		report_folded(stdout, r);
	else if (!env.interval || !env.flamegraph)
		report_table(stdout, r, env.hist, env.all);
	rc = check_stdout(true);
	if (env.flamegraph) {
		int frc = 0;

		if (!r->per_vcpu)
			frc = collect(r, skel, mt, stats, trap_ns, true);
		errno = 0;
		if (!frc && report_flamegraph(env.flamegraph, r)) {
			fprintf(stderr, "vexitprof: cannot write flame graph %s: %s\n",
				env.flamegraph, errno ? strerror(errno) : "write error");
			frc = VP_EXIT_OUTPUT;
		}
		fg_written = !frc;
		if (!rc)
			rc = frc;
	}
	return rc;
}

/*
 * An output file that cannot be created is a bad option: say so before
 * profiling, not after.  *created: it did not exist (removed again if the
 * profile fails).
 */
static int check_output_file(const char *opt, const char *path, bool *created)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	*created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "vexitprof: %s %s: cannot write: %s\n", opt, path, strerror(errno));
		return VP_EXIT_USAGE;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct argp argp = {opts, parse_arg, NULL, doc, NULL, NULL, NULL};
	struct vexitprof_bpf *skel = NULL;
	struct attach_state as = {};
	struct vp_report rep = {};
	struct vp_mtree mt = {};
	char exe[256] = "", path[64];
	int err, lockfd, holder, stats_fd = -1, rc = VP_EXIT_ERROR, usdt;
	bool stats = false, fg_created = false;
	double t0, t_end, next_live, trap_ns = 0;
	bool e1000 = false;

	argp_err_exit_status = VP_EXIT_USAGE;
	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return VP_EXIT_USAGE;
	libbpf_set_print(libbpf_print);
	/*
	 * From here on a signal ends the profile (or the start-up) through the
	 * cleanup below, which removes the lock file and detaches everything.
	 * A closed pipe on stdout is a write error we report, not a silent death.
	 */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (!target_alive(env.pid)) {
		fprintf(stderr, "vexitprof: no such process: %d\n", env.pid);
		return VP_EXIT_NOPID;
	}
	if (!target_have_caps()) {
		fprintf(stderr,
			"vexitprof: needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN); "
			"try: sudo vexitprof -p %d\n",
			env.pid);
		return VP_EXIT_PERM;
	}
	if (!target_exe(env.pid, exe, sizeof(exe))) {
		fprintf(stderr, "vexitprof: cannot read /proc/%d/exe: %s\n", env.pid,
			strerror(errno));
		return errno == ENOENT ? VP_EXIT_NOPID : VP_EXIT_PERM;
	}
	if (!target_is_qemu(env.pid, exe)) {
		fprintf(stderr, "vexitprof: process %d (%s) is not QEMU (qemu-system-*)\n", env.pid,
			exe);
		return VP_EXIT_NOTQEMU;
	}
	err = target_check_tracefs(env.tracefs);
	if (err)
		return err;
	lockfd = target_lock(env.pid, &holder);
	if (lockfd < 0) {
		if (holder)
			fprintf(stderr,
				"vexitprof: QEMU pid %d is already being profiled by vexitprof pid "
				"%d\n",
				env.pid, holder);
		else
			fprintf(stderr, "vexitprof: cannot take /run/vexitprof/%d.lock: %s\n",
				env.pid, strerror(errno));
		return VP_EXIT_BUSY;
	}
	if (env.flamegraph) {
		rc = check_output_file("--flamegraph", env.flamegraph, &fg_created);
		if (rc)
			goto out;
		rc = VP_EXIT_ERROR;
	}

	/* /proc/PID/exe keeps working even if the binary on disk was replaced or removed */
	snprintf(path, sizeof(path), "/proc/%d/exe", env.pid);
	usdt = env.no_usdt ? 0 : target_has_usdt(path, "qemu", &usdt_nop_len);
	if (usdt < 0) {
		/* not "no USDT probes": we could not look */
		if (usdt == -EINVAL)
			fprintf(stderr, "vexitprof: %s (%s) is not an ELF executable\n", path, exe);
		else
			fprintf(stderr,
				"vexitprof: cannot read QEMU's executable %s (%s): %s; --no-usdt "
				"profiles kernel events only\n",
				path, exe, strerror(-usdt));
		rc = usdt == -ENOENT			 ? VP_EXIT_NOPID
		     : usdt == -EACCES || usdt == -EPERM ? VP_EXIT_PERM
							 : VP_EXIT_ERROR;
		goto out;
	}
	if (!env.no_usdt && !usdt)
		fprintf(
		    stderr,
		    "vexitprof: %s has no USDT probes (not built with the dtrace trace backend): "
		    "kernel events only\n",
		    exe);

	/*
	 * KVM_RUN boundaries: fentry/fexit on kvm_arch_vcpu_ioctl_run, else
	 * kvm:kvm_fpu + kvm:kvm_userspace_exit (as cheap, for this QEMU's threads
	 * only, but the time between them also holds KVM_RUN's own entry and exit
	 * path), else the ioctl syscall tracepoints (exact, but they slow every
	 * system call on the host).  Each failure starts over with the next;
	 * --kvm-run HOOK tries that one only.
	 */
	for (int hook = env.kvm_run ? env.kvm_run : VP_HOOK_FENTRY; hook <= VP_HOOK_SYSCALLS;
	     hook++) {
		bool last = env.kvm_run || hook == VP_HOOK_SYSCALLS;

		err = load_and_attach(&skel, &as, hook, last, usdt > 0, &trap_ns);
		if (!err) {
			rep.run_hook = hook;
			break;
		}
		for (int i = 0; i < as.n; i++)
			bpf_link__destroy(as.links[i]);
		as.n = 0;
		vexitprof_bpf__destroy(skel);
		skel = NULL;
		if (err != -EAGAIN || last) {
			if (err == -ENOENT)
				rc = VP_EXIT_NOTRACE;
			goto out;
		}
		if (env.verbose)
			fprintf(stderr, "vexitprof: KVM_RUN via %s: %s; trying the next way\n",
				run_hook_name(hook), hook_err[hook]);
	}
	if (rep.run_hook == VP_HOOK_SYSCALLS && !env.kvm_run)
		fprintf(stderr,
			"vexitprof: cannot trace KVM_RUN with fentry (%s) nor kvm:kvm_fpu (%s): "
			"using the ioctl syscall tracepoints, which slow every system call on the "
			"host while attached\n",
			hook_err[VP_HOOK_FENTRY], hook_err[VP_HOOK_KVM_FPU]);
	for (int i = 0; i < as.n; i++)
		if (!strcmp(as.names[i], "kvm_exit"))
			rep.exit_tp = true;
	if (usdt > 0) {
		if (attach_usdt(skel, &as, path, exe, &e1000))
			goto out;
		rep.usdt = true;
		rep.e1000_usdt = e1000;
	}
	/*
	 * Run-time statistics cost two clock reads per program run (for every
	 * BPF program on the host), so they are on only for a sampling window:
	 * the mean cost per run is what the estimate needs.
	 */
	stats_fd = cost_enable_stats();
	stats = stats_fd >= 0;
	if (env.qmp && mtree_load(&mt, env.qmp))
		fprintf(stderr, "vexitprof: continuing without QMP names\n");

	rep.pid = env.pid;
	snprintf(rep.exe, sizeof(rep.exe), "%s", exe);
	rep.nr_vcpus = target_vcpu_threads(env.pid, NULL, NULL);
	if (target_count_vcpu_fds(env.pid) > rep.nr_vcpus)
		rep.nr_vcpus = target_count_vcpu_fds(env.pid);
	if (env.ready_file) {
		int fd = open(env.ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr, "vexitprof: cannot create ready file %s: %s\n",
				env.ready_file, strerror(errno));
			goto out;
		}
		close(fd);
	}
	if (!env.json && !env.folded)
		fprintf(stderr, "vexitprof: profiling QEMU pid %d (%s)%s; Ctrl-C to stop\n",
			env.pid, exe, rep.usdt ? " with USDT" : "");

	t0 = mono();
	next_live = t0 + env.interval;
	while (!stop) {
		double now = mono();

		if (env.duration && now - t0 >= env.duration)
			break;
		if (!target_alive(env.pid)) {
			rep.qemu_exited = true;
			fprintf(stderr, "vexitprof: QEMU pid %d exited; reporting what was seen\n",
				env.pid);
			break;
		}
		learn_vcpus(skel);
		if (stats_fd >= 0 &&
		    (now - t0 >= VP_STATS_WINDOW_S || cost_run_count(skel) >= VP_STATS_RUNS)) {
			close(stats_fd);
			stats_fd = -1;
		}
		if (env.interval && now >= next_live) {
			next_live += env.interval;
			rc = print_report(&rep, skel, env.qmp ? &mt : NULL, stats, trap_ns, t0, 0,
					  false);
			if (rc)
				goto out;
		}
		/*
		 * Short naps while the statistics are on, so they go off soon;
		 * never past the end of -d (a signal cuts a nap short).
		 */
		double nap = stats_fd >= 0 ? 0.01 : 0.1;

		if (env.duration && t0 + env.duration - now < nap)
			nap = t0 + env.duration - now;
		if (env.interval && next_live - now < nap)
			nap = next_live - now;
		if (nap > 0)
			usleep((useconds_t)(nap * 1e6));
	}
	/* the profile ends now; detaching below takes a while (and is not in the rates) */
	__atomic_store_n(&skel->bss->vp_closed, 1, __ATOMIC_SEQ_CST);
	t_end = mono();
	/* a vCPU count taken at the start misses threads created later */
	if (!rep.qemu_exited) {
		int n = target_vcpu_threads(env.pid, NULL, NULL);

		learn_vcpus(skel);
		if (n > rep.nr_vcpus)
			rep.nr_vcpus = n;
	}
	/* detach before reading the maps: nothing runs while we read them */
	for (int i = 0; i < as.n; i++)
		bpf_link__destroy(as.links[i]);
	as.n = 0;
	rc = print_report(&rep, skel, env.qmp ? &mt : NULL, stats, trap_ns, t0, t_end, true);
out:
	for (int i = 0; i < as.n; i++)
		bpf_link__destroy(as.links[i]);
	vexitprof_bpf__destroy(skel);
	report_free(&rep);
	mtree_free(&mt);
	if (stats_fd >= 0)
		close(stats_fd);
	if (env.ready_file && rc != VP_EXIT_OK)
		unlink(env.ready_file);
	/* an empty or half-written SVG of ours is no flame graph */
	if (fg_created && !fg_written)
		unlink(env.flamegraph);
	target_unlock(env.pid, lockfd);
	return rc;
}
