// SPDX-License-Identifier: GPL-2.0
/*
 * vexitprof: attribute VM-exit and device-emulation cost of one QEMU process,
 * down to the device register.  main() is the order of things: options
 * (env.c), checks on the target (target.c), probe/load/attach (attach.c),
 * the wait loop, then snapshot (snapshot.c) -> attribute (attribute.c) ->
 * one renderer (report_table.c, report_json.c, report_folded.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "env.h"
#include "attach.h"
#include "snapshot.h"
#include "report.h"
#include "target.h"
#include "cost.h"
#include "qmp.h"
#include "serve.h"
#include "diff.h"
#include "oncpu.h"

/*
 * BPF run-time statistics at the start of a profile: until our programs ran
 * VP_STATS_RUNS times (a busy guest gets there in a few ms), at most
 * VP_STATS_WINDOW_S seconds.  While on, they add two clock reads to every
 * program run on the host, which would show in the guest's throughput.
 */
#define VP_STATS_WINDOW_S 2.0
#define VP_STATS_RUNS	  20000

/* One profile: what main() sets up and cleans up. */
struct profile {
	struct vp_attacher *at;
	struct vp_report rep;
	struct vp_mtree mt;
	char exe[256];
	char path[64]; /* /proc/PID/exe: keeps working if the binary was replaced or removed */
	int usdt;      /* QEMU has USDT probes (0: no, 1: yes) */
	int nop_len;   /* length of the nop at QEMU's USDT sites */
	int lockfd, stats_fd;
	bool stats, fg_created, fg_written;
	double t0, t_end;
	/* --on-cpu: thread roles and symbols (kept across reports), the last profile built */
	struct vp_oncpu_state *oncpu_st;
	struct vp_oncpu oncpu;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
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

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The process is a QEMU we may trace, on a host that can: 0, or an exit code. */
static int check_target(struct profile *p)
{
	int holder, err;

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
	if (!target_exe(env.pid, p->exe, sizeof(p->exe))) {
		fprintf(stderr, "vexitprof: cannot read /proc/%d/exe: %s\n", env.pid,
			strerror(errno));
		return errno == ENOENT ? VP_EXIT_NOPID : VP_EXIT_PERM;
	}
	if (!target_is_qemu(env.pid, p->exe)) {
		fprintf(stderr, "vexitprof: process %d (%s) is not QEMU (qemu-system-*)\n", env.pid,
			p->exe);
		return VP_EXIT_NOTQEMU;
	}
	err = target_check_tracefs(env.tracefs);
	if (err)
		return err;
	p->lockfd = target_lock(env.pid, &holder);
	if (p->lockfd >= 0)
		return 0;
	if (holder)
		fprintf(stderr,
			"vexitprof: QEMU pid %d is already being profiled by vexitprof pid %d\n",
			env.pid, holder);
	else
		fprintf(stderr, "vexitprof: cannot take /run/vexitprof/%d.lock: %s\n", env.pid,
			strerror(errno));
	return VP_EXIT_BUSY;
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

/* Does QEMU's executable have USDT probes?  0 (noted in p->usdt), or an exit code. */
static int check_usdt(struct profile *p)
{
	int usdt;

	snprintf(p->path, sizeof(p->path), "/proc/%d/exe", env.pid);
	p->nop_len = 1;
	usdt = env.no_usdt ? 0 : target_has_usdt(p->path, "qemu", &p->nop_len);
	if (usdt < 0) {
		/* not "no USDT probes": we could not look */
		if (usdt == -EINVAL)
			fprintf(stderr, "vexitprof: %s (%s) is not an ELF executable\n", p->path,
				p->exe);
		else
			fprintf(stderr,
				"vexitprof: cannot read QEMU's executable %s (%s): %s; --no-usdt "
				"profiles kernel events only\n",
				p->path, p->exe, strerror(-usdt));
		return usdt == -ENOENT			   ? VP_EXIT_NOPID
		       : usdt == -EACCES || usdt == -EPERM ? VP_EXIT_PERM
							   : VP_EXIT_ERROR;
	}
	if (!env.no_usdt && !usdt)
		fprintf(
		    stderr,
		    "vexitprof: %s has no USDT probes (not built with the dtrace trace backend): "
		    "kernel events only\n",
		    p->exe);
	p->usdt = usdt > 0;
	return 0;
}

/* probe, load, attach; then what the report's header says.  0, or an exit code. */
static int attach(struct profile *p)
{
	struct vp_attach_opts o = {
	    .pid = env.pid,
	    .tracefs = env.tracefs,
	    .kvm_run = env.kvm_run,
	    .usdt = p->usdt,
	    .packet_probes = !env.no_packet_probes,
	    .calibrate = !env.no_calib,
	    .verbose = env.verbose,
	    .usdt_nop_len = p->nop_len,
	    .exe_path = p->path,
	    .exe_name = p->exe,
	    .oncpu_hz = env.oncpu_hz,
	};
	int rc;

	p->at = attacher_new(&o);
	if (!p->at)
		return VP_EXIT_ERROR;
	rc = attacher_probe(p->at);
	if (!rc)
		rc = attacher_load(p->at);
	if (!rc)
		rc = attacher_attach(p->at);
	if (rc)
		return rc;
	if (env.oncpu_hz) {
		/* the threads' names and QEMU's mappings now, while it surely lives */
		p->oncpu_st = oncpu_state_new(env.pid);
		if (!p->oncpu_st) {
			fprintf(stderr, "vexitprof: --on-cpu: out of memory\n");
			return VP_EXIT_ERROR;
		}
	}
	p->rep.run_hook = p->at->hook;
	p->rep.exit_tp = p->at->exit_tp;
	p->rep.usdt = p->usdt;
	p->rep.e1000_usdt = p->at->e1000_usdt;
	/*
	 * Run-time statistics cost two clock reads per program run (for every
	 * BPF program on the host), so they are on only for a sampling window:
	 * the mean cost per run is what the estimate needs.
	 */
	p->stats_fd = cost_enable_stats();
	p->stats = p->stats_fd >= 0;
	if (env.qmp && mtree_load(&p->mt, env.qmp))
		fprintf(stderr, "vexitprof: continuing without QMP names\n");
	p->rep.pid = env.pid;
	snprintf(p->rep.exe, sizeof(p->rep.exe), "%s", p->exe);
	p->rep.nr_vcpus = target_vcpu_threads(env.pid, NULL, NULL);
	if (target_count_vcpu_fds(env.pid) > p->rep.nr_vcpus)
		p->rep.nr_vcpus = target_count_vcpu_fds(env.pid);
	if (env.ready_file) {
		int fd = open(env.ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr, "vexitprof: cannot create ready file %s: %s\n",
				env.ready_file, strerror(errno));
			return VP_EXIT_ERROR;
		}
		close(fd);
	}
	if (!env.json && !env.folded)
		fprintf(stderr, "vexitprof: profiling QEMU pid %d (%s)%s; Ctrl-C to stop\n",
			env.pid, p->exe, p->rep.usdt ? " with USDT" : "");
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

/* The report (final) or a live table: snapshot -> attribute -> render.  0, or an exit code. */
static int print_report(struct profile *p, bool final)
{
	/* stacks always start with the vCPU */
	bool by_vcpu = env.per_vcpu || (final && env.folded);
	struct vp_report *r = &p->rep, fg = {};
	struct vp_snapshot s;
	int rc, err;

	r->duration_s = (final ? p->t_end : mono()) - p->t0;
	err = snapshot_read(&s, p->at->skel);
	if (err) {
		snapshot_free(&s);
		report_free(r);
		fprintf(stderr, "vexitprof: reading the BPF maps failed: %s; no report\n",
			strerror(err < 0 ? -err : err));
		return VP_EXIT_ERROR;
	}
	attribute(r, &s, env.qmp ? &p->mt : NULL, by_vcpu);
	if (p->oncpu_st) {
		oncpu_free(&p->oncpu);
		err = oncpu_build(&p->oncpu, p->oncpu_st, r, &s, &p->at->oncpu);
		if (err) {
			snapshot_free(&s);
			fprintf(stderr, "vexitprof: --on-cpu: cannot build the profile: %s\n",
				strerror(-err));
			return VP_EXIT_ERROR;
		}
		r->oncpu = &p->oncpu;
		if (final && p->oncpu.stripped_exe)
			fprintf(
			    stderr,
			    "vexitprof: %s has no symbol table (stripped): its frames are shown "
			    "as %s+0xoffset\n",
			    p->oncpu.stripped_exe, p->oncpu.stripped_exe);
	}
	cost_collect(r, p->at->skel, p->stats, p->at->trap_ns);
	if (final && env.flamegraph && !by_vcpu) {
		/* the flame graph's stacks start with the vCPU: the same snapshot, per vCPU */
		report_copy_header(&fg, r);
		attribute(&fg, &s, env.qmp ? &p->mt : NULL, true);
	}
	snapshot_free(&s);
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
		err = report_flamegraph(env.flamegraph, by_vcpu ? r : &fg);
		p->fg_written = !err;
		if (err) {
			fprintf(stderr, "vexitprof: cannot write flame graph %s: %s\n",
				env.flamegraph, strerror(-err));
			if (!rc)
				rc = VP_EXIT_OUTPUT;
		}
	}
	report_free(&fg);
	return rc;
}

/* Count until -d, a signal, or QEMU's exit; live tables every -i.  0, or an exit code. */
static int profile_loop(struct profile *p)
{
	double next_live;
	int rc;

	p->t0 = mono();
	next_live = p->t0 + env.interval;
	while (!stop) {
		double now = mono(), nap;

		if (env.duration && now - p->t0 >= env.duration)
			break;
		if (!target_alive(env.pid)) {
			p->rep.qemu_exited = true;
			fprintf(stderr, "vexitprof: QEMU pid %d exited; reporting what was seen\n",
				env.pid);
			break;
		}
		attacher_learn_vcpus(p->at);
		/* new threads get their role while their name can still be read */
		if (p->oncpu_st)
			oncpu_state_refresh(p->oncpu_st);
		if (p->stats_fd >= 0 && (now - p->t0 >= VP_STATS_WINDOW_S ||
					 cost_run_count(p->at->skel) >= VP_STATS_RUNS)) {
			close(p->stats_fd);
			p->stats_fd = -1;
		}
		if (env.interval && now >= next_live) {
			next_live += env.interval;
			rc = print_report(p, false);
			if (rc)
				return rc;
		}
		/*
		 * Short naps while the statistics are on, so they go off soon;
		 * never past the end of -d (a signal cuts a nap short).
		 */
		nap = p->stats_fd >= 0 ? 0.01 : 0.1;
		if (env.duration && p->t0 + env.duration - now < nap)
			nap = p->t0 + env.duration - now;
		if (env.interval && next_live - now < nap)
			nap = next_live - now;
		if (nap > 0)
			usleep((useconds_t)(nap * 1e6));
	}
	/* the profile ends now; detaching below takes a while (and is not in the rates) */
	attacher_close(p->at);
	p->t_end = mono();
	/* a vCPU count taken at the start misses threads created later */
	if (!p->rep.qemu_exited) {
		int n = target_vcpu_threads(env.pid, NULL, NULL);

		attacher_learn_vcpus(p->at);
		if (n > p->rep.nr_vcpus)
			p->rep.nr_vcpus = n;
	}
	/* detach before reading the maps: nothing runs while we read them */
	attacher_detach(p->at);
	return 0;
}

static void cleanup(struct profile *p, int rc)
{
	attacher_free(p->at);
	report_free(&p->rep);
	oncpu_free(&p->oncpu);
	oncpu_state_free(p->oncpu_st);
	mtree_free(&p->mt);
	if (p->stats_fd >= 0)
		close(p->stats_fd);
	if (env.ready_file && rc != VP_EXIT_OK)
		unlink(env.ready_file);
	/* an empty or half-written SVG of ours is no flame graph */
	if (p->fg_created && !p->fg_written)
		unlink(env.flamegraph);
	target_unlock(env.pid, p->lockfd);
}

int main(int argc, char **argv)
{
	struct profile p = {.lockfd = -1, .stats_fd = -1};
	int rc;

	if (argc > 1 && !strcmp(argv[1], "diff")) /* compares two --json files: no target */
		return diff_main(argc - 1, argv + 1);
	if (env_parse(argc, argv))
		return VP_EXIT_USAGE;
	libbpf_set_print(libbpf_print);
	/*
	 * From here on a signal ends the profile (or the start-up) through
	 * cleanup(), which removes the lock file and detaches everything.
	 * A closed pipe on stdout is a write error we report, not a silent death.
	 */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (env.serve) /* fleet mode: every QEMU on the host, until a signal */
		return serve_main(&stop);
	rc = check_target(&p);
	if (rc)
		return rc;
	if (env.flamegraph)
		rc = check_output_file("--flamegraph", env.flamegraph, &p.fg_created);
	if (!rc)
		rc = check_usdt(&p);
	if (!rc)
		rc = attach(&p);
	if (!rc)
		rc = profile_loop(&p);
	if (!rc)
		rc = print_report(&p, true);
	cleanup(&p, rc);
	return rc;
}
