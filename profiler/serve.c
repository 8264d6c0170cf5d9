// SPDX-License-Identifier: GPL-2.0
/*
 * The fleet daemon: one attacher (one BPF object) per QEMU process.
 *
 * Why one object per VM, not one for all with the tgid in every key: the
 * programs, maps and detail caps are the ones `-p` uses and tests, unchanged;
 * a VM's state goes away with its object when it exits (no sweep of shared
 * maps, no stale keys, no reused-pid mix-ups); one guest filling its maps
 * costs no other VM its rows; and the ABI shared with bpf/ stays as it is.
 * The price: a kernel event runs each VM's program once (all but one return
 * at their tgid check, tens of ns each); USDT probes are per process anyway.
 *
 * Threads: the HTTP server renders scrapes on its own thread; the main
 * thread discovers, attaches and detaches.  `lock` guards the VM list and
 * the per-pid thread tables target.c keeps (the main thread is their only
 * writer, so it reads them without the lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "attach.h"
#include "cost.h"
#include "env.h"
#include "metrics.h"
#include "report.h"
#include "serve.h"
#include "serve_calib.h"
#include "serve_discover.h"
#include "serve_detach.h"
#include "serve_duty.h"
#include "serve_events.h"
#include "serve_http.h"
#include "serve_usdt.h"
#include "snapshot.h"
#include "target.h"

/*
 * How often the VMs are checked for having exited (cheap: their own /proc
 * entries), and /proc scanned for new QEMUs when process events
 * (serve_events.h) are not available; with them, a new QEMU is found at its
 * exec and /proc is scanned every SERVE_RESCAN_S only in case one was missed.
 */
#define SERVE_SCAN_US  200000
#define SERVE_RESCAN_S 5.0
/* process events are read at most this often (a QEMU waits for its exec's batch) */
#define SERVE_EVENTS_BATCH_S 0.02
/*
 * A VM that exited is served with its final counts this long (its probes
 * detached), so the next scrapes see what it did last; then its series end.
 */
#define SERVE_LINGER_S 30.0

struct vm {
	int pid;
	unsigned long long start; /* tells a reused pid apart */
	char name[128];
	char exe[256];
	char path[64];
	struct vp_attacher *at;
	struct vp_report hdr; /* the report's header; rows are made per scrape */
	struct metrics_vm *m;
	bool read_failed;     /* said once */
	struct vp_duty *duty; /* sampled counting (NULL: --exact, or no USDT) */
	bool duty_failed;     /* re-attaching the USDT probes failed: said once */
	/* its USDT probes' uprobes, attached for each window (0: through libbpf) */
	struct usdt_site sites[USDT_MAX_SITES];
	int n_sites;
	int site_fds[USDT_MAX_SITES]; /* a window's uprobe_multi links */
	int n_site_fds;
	int det_pending;     /* its links being closed (serve_detach.h) */
	double exited;	     /* when its QEMU exited (0: running) */
	double open_at;	     /* its window's probes are armed, it opens then (0: not armed) */
	clockid_t cpu_clock; /* its QEMU's process CPU clock */
	double cpu_last;     /* its last reading (s) */
};

static bool detached(struct vm *v, bool wait);
static void usdt_off(struct vm *v);
static void recalibrate(void);

/* a QEMU we could not attach to: not retried while it runs */
struct failed {
	int pid;
	unsigned long long start;
};

static struct {
	pthread_mutex_t lock;
	struct vm **vms;
	size_t n;
	struct failed *failed;
	size_t n_failed;
	unsigned long long attach_failures;
	double trap_ns; /* a USDT hit's trap (serve_calib.h), or DUTY_DEF_HIT_COST */
	bool calibrated;
	int hook; /* the way of tracing KVM_RUN the first VM got: this kernel's */
	/* executables already read for USDT notes (a fleet runs one or two QEMU builds) */
	struct exe_usdt {
		dev_t dev;
		ino_t ino;
		int usdt, nop_len;
	} exes[16];
	int n_exes;
	struct metrics_opts mo;
	/* a BPF object loaded ahead for the next VM (see spare_fits) */
	struct vp_attacher *spare;
	struct vp_attach_opts spare_o; /* the options the last VM was attached with */
	bool spare_wanted;
} d = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double unix_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/*
 * QEMU's process CPU time (s): every thread's, read exactly (the kernel
 * adds the running threads' time since their last tick).  Root may read
 * any process's.  On failure (it exited) the last reading.
 */
static double qemu_cpu(struct vm *v)
{
	struct timespec ts;
	double c;

	if (clock_gettime(v->cpu_clock, &ts))
		return v->cpu_last;
	c = ts.tv_sec + ts.tv_nsec / 1e9;
	/* two threads read it (scrapes, windows): the larger stays */
	if (c > v->cpu_last)
		v->cpu_last = c;
	return c;
}

/* ---- scrapes (HTTP thread) ---- */

/* The VM's samples from its maps now; on failure the last samples stay. */
static void refresh(struct vm *v)
{
	struct vp_report r = v->hdr;
	struct vp_snapshot s;
	double t = unix_now();
	int err = snapshot_read(&s, v->at->skel);

	if (!err) {
		struct metrics_sampling sp = {.usdt = v->hdr.usdt, .ratio = 1};

		if (v->duty) {
			struct duty_stats st;
			double now = mono();

			/* an exited VM: its gap ends at its last CPU reading */
			duty_apply(v->duty, &s, v->exited ? v->cpu_last : qemu_cpu(v));
			duty_get_stats(v->duty, v->exited ? v->exited : now, &st);
			sp.ratio = st.ratio;
			sp.windows = st.windows;
			sp.hit_cost = d.trap_ns / 1e9; /* measured; not taken out (hit_cost()) */
			sp.cpu_extrapolated = st.cpu_extrapolated;
			/*
			 * The bias the estimates have (hit_cost()): bounded, not
			 * corrected, since the daemon's measured hit is dearer
			 * than QEMU's (the share is an upper bound of the bias)
			 */
			if (st.cpu_recent > 0) {
				sp.trap_share = st.hits_recent * sp.hit_cost / st.cpu_recent;
				sp.trap_share = sp.trap_share < 1 ? sp.trap_share : 1;
				sp.trap_share_ok = true;
			}
			for (int q = 0; q < DQ_NR && q < 2; q++) {
				sp.rse[q] = st.rse[q];
				sp.rse_ok[q] = st.rse_ok[q];
			}
		}
		metrics_vm_set_sampling(v->m, &sp);
		attribute(&r, &s, NULL, d.mo.per_vcpu);
		cost_collect(&r, v->at->skel, false, d.trap_ns);
		err = metrics_vm_update(v->m, &r, &s, d.trap_ns, &d.mo);
		if (!err)
			metrics_vm_set_time(v->m, t);
		report_free(&r);
	}
	snapshot_free(&s);
	if (err && !v->read_failed)
		fprintf(stderr, "vexitprof: VM %s (pid %d): reading its BPF maps failed: %s\n",
			v->name, v->pid, strerror(err < 0 ? -err : err));
	v->read_failed = err;
}

/*
 * A scrape within SERVE_CACHE_S of the last one in the same format gets its
 * body again: a burst of scrapes (many Prometheus servers, a client polling
 * in a loop) reads the maps once and keeps the lock free for attaching.
 */
#define SERVE_CACHE_S 0.2

static struct {
	char *body;
	size_t len;
	double t;
	bool om;
} cache;

static char *cached(bool om, size_t *len)
{
	char *b;

	if (!cache.body || cache.om != om || mono() - cache.t >= SERVE_CACHE_S)
		return NULL;
	b = malloc(cache.len ? cache.len : 1);
	if (b) {
		memcpy(b, cache.body, cache.len);
		*len = cache.len;
	}
	return b;
}

static char *render(bool om, size_t *len, void *arg)
{
	struct metrics_daemon md;
	struct metrics_vm **ms;
	char *body = NULL;

	(void)arg;
	pthread_mutex_lock(&d.lock);
	body = cached(om, len);
	if (body) {
		pthread_mutex_unlock(&d.lock);
		return body;
	}
	ms = calloc(d.n + 1, sizeof(*ms));
	if (ms) {
		md = (struct metrics_daemon){.attach_failures = d.attach_failures,
					     .cpu_seconds = cpu_seconds(),
					     .timestamps = env.timestamps};
		for (size_t i = 0; i < d.n; i++) {
			/* an exited VM keeps its final samples */
			if (!d.vms[i]->exited) {
				refresh(d.vms[i]);
				md.vms++;
			}
			ms[i] = d.vms[i]->m;
		}
		body = metrics_render(ms, d.n, &md, om, len);
	}
	if (body) {
		char *c = malloc(*len ? *len : 1);

		if (c) {
			memcpy(c, body, *len);
			free(cache.body);
			cache.body = c;
			cache.len = *len;
			cache.om = om;
			cache.t = mono();
		}
	}
	pthread_mutex_unlock(&d.lock);
	free(ms);
	return body;
}

/* ---- VMs (main thread) ---- */

static bool wanted(int pid, const char *name)
{
	bool ok = !env.n_pids;

	for (int i = 0; i < env.n_pids && !ok; i++)
		ok = env.pids[i] == pid;
	if (!ok || !env.n_vms)
		return ok;
	for (int i = 0; i < env.n_vms; i++)
		if (!fnmatch(env.vms[i], name, 0))
			return true;
	return false;
}

static bool known(int pid, unsigned long long start)
{
	for (size_t i = 0; i < d.n; i++)
		if (d.vms[i]->pid == pid && (!d.vms[i]->exited || d.vms[i]->start == start))
			return true;
	for (size_t i = 0; i < d.n_failed; i++)
		if (d.failed[i].pid == pid && d.failed[i].start == start)
			return true;
	return false;
}

static void vm_free(struct vm *v)
{
	if (!v)
		return;
	if (v->duty) {
		usdt_off(v); /* a window's links, if one is open */
	}
	detached(v, true);
	attacher_free(v->at);
	duty_free(v->duty);
	metrics_vm_free(v->m);
	free(v);
}

/* Does v's executable have USDT probes (1, 0, or -errno)?  Read once per executable. */
static int exe_usdt(struct vm *v, int *nop_len)
{
	struct stat st;
	int usdt;

	if (stat(v->path, &st))
		return -errno;
	for (int i = 0; i < d.n_exes; i++)
		if (d.exes[i].dev == st.st_dev && d.exes[i].ino == st.st_ino) {
			*nop_len = d.exes[i].nop_len;
			return d.exes[i].usdt;
		}
	usdt = target_has_usdt(v->path, "qemu", nop_len);
	if (usdt >= 0 && d.n_exes < (int)(sizeof(d.exes) / sizeof(d.exes[0])))
		d.exes[d.n_exes++] = (struct exe_usdt){st.st_dev, st.st_ino, usdt, *nop_len};
	return usdt;
}

/*
 * Sampled counting (serve_duty.c).  A window is the daemon's own moments:
 * it opens when, SERVE_LEAD_S after its probes were all attached, the
 * daemon unpauses their programs (attacher_usdt_pause) and reads QEMU's CPU
 * clock right after, and closes when it pauses them and reads the clock
 * again right after.  Both readings lag their gate write by the same few
 * microseconds, so the window's CPU time is the one its counts were made
 * in.  (Not the kernel's clock as gate, as before: the CPU clock cannot be
 * read there, and QEMU's CPU time makes the daemon's waking up harmless: it
 * may take a CPU from QEMU, but then QEMU neither runs nor counts.)  The
 * links are closed on serve_detach.c's workers, each window's uprobe_multi
 * links at once (each stays armed until its close begins), libbpf's links
 * (the first time) one after another in one job.
 */
static bool detached(struct vm *v, bool wait)
{
	return detach_done(&v->det_pending, wait);
}

/* v's USDT probes stop counting now and come off in the background */
static void usdt_off(struct vm *v)
{
	struct bpf_link *l[VP_MAX_LINKS];
	int n;

	attacher_usdt_pause(v->at, true);
	for (int i = 0; i < v->n_site_fds; i++)
		detach_queue(NULL, 0, v->site_fds[i], &v->det_pending);
	v->n_site_fds = 0;
	n = attacher_usdt_take(v->at, l);
	if (n)
		detach_queue(l, n, -1, &v->det_pending);
}

/*
 * A window opens this long after its probes are armed (as the kernel gate
 * did before): right after its text is patched QEMU may run slower for a
 * while (TLB and cache refills after the kernel replaces the pages holding
 * the breakpoints), a cost no per-hit figure holds.  Not shown to matter:
 * one run each with and without it gave -27% and -43% (the hit cost then
 * mis-calibrated, see calibrate()).  The traps in the lead are neither
 * counted nor taken out of the extrapolated CPU time (~0.1% of it).
 */
#define SERVE_LEAD_S 0.003

/*
 * A hit's cost taken out of v's windows (s): none.  What the daemon
 * measures (d.trap_ns, 6.5-7 us here) is not what a hit costs QEMU (2.8-5.9
 * us, in step with QEMU's own speed, which changes with the host's load):
 * taken out, it made the estimates 13-111% high (results/serve-overhead.md)
 * and failed t-vexitprof-serve's sampled check once.  Without it they lean
 * low by the traps' share of a window's CPU (37-53% there).  A cost
 * measured in QEMU itself would go here (serve_duty.c takes it out).
 */
static double hit_cost(const struct vm *v)
{
	(void)v;
	return 0;
}

/*
 * The USDT probes attached with the rest (so a QEMU without them fails at
 * once, as with -p) come off until the VM's first window; what they counted
 * meanwhile is its exact start.
 */
static int duty_start(struct vm *v)
{
	struct vp_snapshot s;
	struct timespec ts;
	int err;

	/* before libbpf's links go: the kernel says what their uprobes are */
	v->n_sites = usdt_sites(v->at, v->sites, USDT_MAX_SITES);
	if (v->n_sites < 0)
		return VP_EXIT_ERROR;
	v->cpu_clock = ((~(clockid_t)v->pid) << 3) | 2; /* CPUCLOCK_SCHED, the whole process */
	if (clock_gettime(v->cpu_clock, &ts)) {
		err = -errno;
		fprintf(stderr, "vexitprof: VM %s (pid %d): cannot read its CPU clock: %s\n",
			v->name, v->pid, strerror(-err));
		return VP_EXIT_ERROR;
	}
	usdt_off(v);
	err = snapshot_read(&s, v->at->skel);
	if (!err) {
		v->duty = duty_new(
		    env.duty_window, env.duty_period, mono(),
		    (unsigned int)(v->pid * 2654435761u ^ v->start ^ (unsigned long)(mono() * 1e9)),
		    &s, qemu_cpu(v), hit_cost(v));
		err = v->duty ? 0 : -ENOMEM;
	}
	snapshot_free(&s);
	if (err)
		fprintf(stderr, "vexitprof: VM %s (pid %d): cannot start sampled counting: %s\n",
			v->name, v->pid, strerror(-err));
	return err ? VP_EXIT_ERROR : 0;
}

/* The end of v's window: counting stops now, what it counted goes into the estimates. */
static void window_end(struct vm *v)
{
	struct vp_snapshot s;
	double t, cpu;
	int err;

	attacher_usdt_pause(v->at, true);
	cpu = qemu_cpu(v);
	t = mono();
	/* disarmed first (the traps go on until then), read after */
	usdt_off(v);
	err = snapshot_read(&s, v->at->skel);
	recalibrate();
	pthread_mutex_lock(&d.lock);
	duty_set_hit_cost(v->duty, hit_cost(v));
	/* a failed read loses this window only (its counts go to the next) */
	err = err ? err : duty_off(v->duty, t, cpu, &s);
	pthread_mutex_unlock(&d.lock);
	snapshot_free(&s);
	if (err && !v->read_failed)
		fprintf(stderr, "vexitprof: VM %s (pid %d): a sampling window was lost: %s\n",
			v->name, v->pid, strerror(-err));
}

/* The probes are armed, the window opens SERVE_LEAD_S later (window_open). */
static void window_start(struct vm *v)
{
	int rc = 0;

	rc = usdt_sites_attach(v->at, v->sites, v->n_sites, v->site_fds);
	v->n_site_fds = rc > 0 ? rc : 0;
	if (rc < 0 && !v->duty_failed)
		fprintf(stderr,
			"vexitprof: VM %s (pid %d): attaching its USDT probes failed (%s); its "
			"windows are skipped meanwhile\n",
			v->name, v->pid, strerror(-rc));
	v->duty_failed = rc < 0;
	if (rc < 0) {
		/* no window this period: the gap goes on */
		pthread_mutex_lock(&d.lock);
		duty_skip(v->duty, mono());
		pthread_mutex_unlock(&d.lock);
		return;
	}
	v->open_at = mono() + SERVE_LEAD_S;
}

/* v's window opens: counting starts now */
static void window_open(struct vm *v)
{
	double t, cpu;

	v->open_at = 0;
	attacher_usdt_pause(v->at, false);
	cpu = qemu_cpu(v);
	t = mono();
	pthread_mutex_lock(&d.lock);
	duty_on(v->duty, t, cpu);
	pthread_mutex_unlock(&d.lock);
}

/* the spare object is loaded when no window is due for this long */
#define SERVE_SPARE_GAP_S 0.5

/* Windows due now start or end; returns when the next is due (at most until). */
static double duty_tick(double until)
{
	for (size_t i = 0; i < d.n; i++) {
		struct vm *v = d.vms[i];
		double next;

		if (!v->duty || v->exited)
			continue;
		if (mono() >= (v->open_at ? v->open_at : duty_next(v->duty))) {
			if (v->open_at)
				window_open(v);
			else if (duty_is_on(v->duty))
				window_end(v);
			else
				window_start(v);
		}
		next = v->open_at ? v->open_at : duty_next(v->duty);
		if (next < until)
			until = next;
	}
	return until;
}

/*
 * A BPF object loaded ahead for the next VM.  Loading (the kernel's BTF,
 * the verifier) is most of attaching: ~0.3 s on an idle host, seconds on a
 * loaded one.  After a VM is attached (so the way of tracing KVM_RUN is
 * known) one is loaded with its options and no pid; the next VM whose
 * options are the same (almost always: one QEMU build, one daemon) takes it
 * and only attaches.  targ_tgid is set at attach time for that reason.
 */
static bool spare_fits(const struct vp_attach_opts *o)
{
	const struct vp_attach_opts *s = d.spare ? &d.spare->o : NULL;

	return s && s->usdt == o->usdt && s->usdt_multi == o->usdt_multi &&
	       s->untimed == o->untimed && s->kvm_run == o->kvm_run && s->oncpu_hz == o->oncpu_hz &&
	       !strcmp(s->tracefs, o->tracefs);
}

static void spare_load(void)
{
	struct vp_attach_opts o = d.spare_o;

	d.spare_wanted = false;
	o.pid = 0;
	o.exe_path = o.exe_name = NULL;
	o.kvm_run = env.kvm_run ? env.kvm_run : d.hook;
	o.verbose = false; /* what it says is said when it is used */
	d.spare = attacher_new(&o);
	if (d.spare && !attacher_probe(d.spare) && !attacher_load(d.spare))
		return;
	/* no harm: the next VM loads its own */
	attacher_free(d.spare);
	d.spare = NULL;
}

/*
 * The trap of one USDT hit (serve_calib.h; cost.c's wall-clock one would
 * count preemption on a loaded host), for the probe overhead metric and
 * vexitprof_usdt_hit_cost_seconds: sampled at the first VM with USDT,
 * then every 10 s at a window's end, and the median of the last
 * SERVE_CALIB_KEEP samples is the cost.  Sampled again and again because
 * it changes with the host's load, and in step with QEMU's own speed: on
 * this 2-core machine QEMU's hits cost ~6 us each at 29 us of CPU per
 * frame, ~3 us at 12 (results/serve-overhead.md).  On a 1-byte nop
 * whatever QEMU's kind: Linux 6.18 turns a 5-byte one into a call after its
 * first hit (1.25 us here against 5-7 us), but QEMU's probe hits cost as
 * much as the trap all the same.  A failed calibration falls back to
 * DUTY_DEF_HIT_COST.
 */
#define SERVE_CALIB_KEEP    16
#define SERVE_CALIB_CALLS   150 /* a sample: ~1-2 ms of the daemon's CPU */
#define SERVE_CALIB_START   2000
#define SERVE_CALIB_EVERY_S 10.0

static struct {
	struct calib *c;
	double s[SERVE_CALIB_KEEP];
	int n, i;
	double last;
} cal;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* one sample (s); the median of the kept ones becomes the cost */
static void calib_add(double x)
{
	double m[SERVE_CALIB_KEEP];

	if (!(x > 0 && x < 1e-4))
		return; /* preempted, or nonsense */
	cal.s[cal.i] = x;
	cal.i = (cal.i + 1) % SERVE_CALIB_KEEP;
	if (cal.n < SERVE_CALIB_KEEP)
		cal.n++;
	memcpy(m, cal.s, sizeof(m));
	qsort(m, cal.n, sizeof(m[0]), cmp_double);
	pthread_mutex_lock(&d.lock);
	d.trap_ns = m[cal.n / 2] * 1e9;
	pthread_mutex_unlock(&d.lock);
}

static void calibrate(void)
{
	d.calibrated = true;
	if (env.no_calib && env.exact)
		return; /* no overhead estimate, as with -p */
	cal.c = env.no_calib ? NULL : calib_new();
	for (int i = 0; cal.c && i < 7; i++)
		calib_add(calib_sample(cal.c, SERVE_CALIB_START));
	cal.last = mono();
	if (cal.n) {
		if (env.verbose)
			fprintf(stderr, "vexitprof: a USDT probe's trap costs %.0f ns\n",
				d.trap_ns);
		return;
	}
	calib_free(cal.c);
	cal.c = NULL;
	d.trap_ns = DUTY_DEF_HIT_COST * 1e9;
	fprintf(stderr,
		"vexitprof: %s the USDT trap's cost; sampled counting takes %.1f us per probe hit "
		"out of QEMU's CPU time in its windows\n",
		env.no_calib ? "not calibrating" : "could not calibrate", DUTY_DEF_HIT_COST * 1e6);
}

/* a sample of the trap's cost, if one is due */
static void recalibrate(void)
{
	if (!cal.c || mono() - cal.last < SERVE_CALIB_EVERY_S)
		return;
	cal.last = mono();
	calib_add(calib_sample(cal.c, SERVE_CALIB_CALLS));
}

/* Attach the programs -p would (USDT if QEMU has them): 0, or an exit code (one line printed). */
static int vm_attach(struct vm *v)
{
	int nop_len = 1, usdt = 0, rc;
	struct vp_attach_opts o = {
	    .pid = v->pid,
	    .tracefs = env.tracefs,
	    /* after the first VM, the way that worked (no failed tries per VM) */
	    .kvm_run = env.kvm_run ? env.kvm_run : d.hook,
	    .packet_probes = !env.no_packet_probes,
	    .verbose = env.verbose,
	    .exe_path = v->path,
	    .exe_name = v->exe,
	    /* counting by default: no clock reads in the kernel's programs */
	    .untimed = !env.timing,
	};

	if (!env.no_usdt) {
		usdt = exe_usdt(v, &nop_len);
		if (usdt < 0) {
			fprintf(stderr, "vexitprof: cannot read QEMU's executable %s (%s): %s\n",
				v->path, v->exe, strerror(-usdt));
			return VP_EXIT_ERROR;
		}
	}
	o.usdt = usdt > 0;
	o.usdt_nop_len = nop_len;
	o.usdt_multi = o.usdt && !env.exact; /* sampled: serve_usdt.h */
	/* one calibration for the daemon: the trap costs the same in every QEMU */
	o.calibrate = false;
	if (o.usdt && !d.calibrated)
		calibrate();
	if (spare_fits(&o)) {
		/* loaded ahead: this VM's pid and executable, then attach */
		v->at = d.spare;
		d.spare = NULL;
		v->at->o = o;
		rc = 0;
	} else {
		v->at = attacher_new(&o);
		if (!v->at)
			return VP_EXIT_ERROR;
		rc = attacher_probe(v->at);
		if (!rc)
			rc = attacher_load(v->at);
	}
	v->at->trap_ns = d.trap_ns;
	if (!rc)
		rc = attacher_attach(v->at);
	if (rc)
		return rc;
	d.spare_o = o;
	d.spare_wanted = true;
	d.hook = v->at->hook;
	v->hdr.pid = v->pid;
	snprintf(v->hdr.exe, sizeof(v->hdr.exe), "%s", v->exe);
	v->hdr.run_hook = v->at->hook;
	v->hdr.exit_tp = v->at->exit_tp;
	v->hdr.usdt = o.usdt;
	v->hdr.e1000_usdt = v->at->e1000_usdt;
	v->hdr.nr_vcpus = target_vcpu_threads(v->pid, NULL, NULL);
	v->m = metrics_vm_new(v->name, v->pid, v->exe);
	if (!v->m)
		return VP_EXIT_ERROR;
	return o.usdt && !env.exact ? duty_start(v) : 0;
}

static void add_failed(int pid, unsigned long long start)
{
	struct failed *f = realloc(d.failed, (d.n_failed + 1) * sizeof(*f));

	d.attach_failures++;
	if (!f)
		return;
	d.failed = f;
	d.failed[d.n_failed++] = (struct failed){pid, start};
}

static void found(int pid, void *arg)
{
	unsigned long long start = discover_starttime(pid);
	struct vm *v, **vms;
	char name[128];
	double t0;

	(void)arg;
	if (known(pid, start))
		return;
	discover_vm_name(pid, name, sizeof(name));
	if (!wanted(pid, name))
		return;
	v = calloc(1, sizeof(*v));
	if (!v)
		return;
	t0 = mono();
	v->pid = pid;
	v->start = start;
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->path, sizeof(v->path), "/proc/%d/exe", pid);
	if (!target_exe(pid, v->exe, sizeof(v->exe)) || vm_attach(v)) {
		/* gone already, or the kernel said no: say so once, keep serving the others */
		if (target_alive(pid)) {
			fprintf(stderr,
				"vexitprof: not serving VM %s (QEMU pid %d): attaching failed; not "
				"retried while it runs\n",
				name, pid);
			add_failed(pid, start);
		}
		vm_free(v);
		return;
	}
	pthread_mutex_lock(&d.lock);
	vms = realloc(d.vms, (d.n + 1) * sizeof(*vms));
	if (vms) {
		d.vms = vms;
		d.vms[d.n++] = v;
		cache.t = -SERVE_CACHE_S; /* the next scrape shows the new VM */
	}
	pthread_mutex_unlock(&d.lock);
	if (!vms) {
		vm_free(v);
		return;
	}
	fprintf(stderr, "vexitprof: serving VM %s (QEMU pid %d, %s)%s; attached in %.0f ms\n",
		v->name, pid, v->exe, v->hdr.usdt ? " with USDT" : "", (mono() - t0) * 1e3);
}

/*
 * VMs whose QEMU exited (or whose pid now names another process): detach,
 * read the maps one last time, serve that for SERVE_LINGER_S, then drop.
 */
static void reap(void)
{
	double now = mono();

	for (size_t i = 0; i < d.n;) {
		struct vm *v = d.vms[i];

		if (!v->exited && target_alive(v->pid) && discover_starttime(v->pid) == v->start) {
			i++;
			continue;
		}
		pthread_mutex_lock(&d.lock);
		if (!v->exited) {
			if (v->duty) {
				/* its last window, if one is open, ends now */
				struct vp_snapshot sn = {};
				double t = mono();

				attacher_usdt_pause(v->at, true);
				if (duty_is_on(v->duty) && !snapshot_read(&sn, v->at->skel))
					duty_off(v->duty, t, qemu_cpu(v), &sn);
				snapshot_free(&sn);
				usdt_off(v);
			}
			detached(v, true);
			attacher_detach(v->at);
			v->exited = now;
			refresh(v);
			cache.t = -SERVE_CACHE_S; /* the next scrape shows the final counts */
			fprintf(stderr,
				"vexitprof: VM %s (QEMU pid %d) exited: detached; its final counts "
				"are served for %.0f s\n",
				v->name, v->pid, SERVE_LINGER_S);
			i++;
		} else if (now - v->exited >= SERVE_LINGER_S) {
			d.vms[i] = d.vms[--d.n];
			cache.t = -SERVE_CACHE_S;
			/* under the lock: freeing drops the pid's thread table scrapes read */
			vm_free(v);
		} else {
			i++;
		}
		pthread_mutex_unlock(&d.lock);
	}
	for (size_t i = 0; i < d.n_failed;) {
		if (discover_starttime(d.failed[i].pid) != d.failed[i].start)
			d.failed[i] = d.failed[--d.n_failed];
		else
			i++;
	}
}

static void learn(void)
{
	pthread_mutex_lock(&d.lock);
	for (size_t i = 0; i < d.n; i++)
		if (!d.vms[i]->exited)
			attacher_learn_vcpus(d.vms[i]->at);
	pthread_mutex_unlock(&d.lock);
}

/* a process exec'd (serve_events.h): a new QEMU? */
static void exec_event(int pid, void *arg)
{
	char exe[256];

	if (target_exe(pid, exe, sizeof(exe)) && target_is_qemu(pid, exe))
		found(pid, arg);
}

/* Sleep until `until` (mono), or handle process events meanwhile; true: rescan /proc. */
static bool wait_events(int ev, double until)
{
	struct pollfd p = {.fd = ev, .events = POLLIN};
	double now = mono();
	int r;

	if (ev < 0) {
		usleep((useconds_t)((until - now) * 1e6));
		return false;
	}
	if (poll(&p, 1, (int)((until - now) * 1e3) + 1) <= 0)
		return false;
	r = events_read(ev, exec_event, NULL);
	/* a busy host execs all the time: take its events in batches, not one wakeup each */
	now = mono();
	if (until - now > 0)
		usleep((useconds_t)((until - now < SERVE_EVENTS_BATCH_S ? until - now
									: SERVE_EVENTS_BATCH_S) *
				    1e6));
	return r != 0;
}

static int ready(void)
{
	int fd;

	if (!env.ready_file)
		return 0;
	fd = open(env.ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "vexitprof: cannot create ready file %s: %s\n", env.ready_file,
			strerror(errno));
		return VP_EXIT_ERROR;
	}
	close(fd);
	return 0;
}

int serve_main(volatile sig_atomic_t *stop)
{
	struct http_server *h;
	double t0 = mono(), next_scan, next_rescan;
	int fd, rc, n, ev;

	d.mo = (struct metrics_opts){.max_registers = env.max_registers,
				     .max_series = env.max_series,
				     .timing = env.timing,
				     .per_vcpu = env.per_vcpu};
	if (!target_have_caps()) {
		fprintf(stderr, "vexitprof: needs root (CAP_BPF and CAP_PERFMON, or "
				"CAP_SYS_ADMIN)\n");
		return VP_EXIT_PERM;
	}
	rc = target_check_tracefs(env.tracefs);
	if (rc)
		return rc;
	fd = http_listen(env.serve);
	if (fd < 0)
		return VP_EXIT_ERROR;
	h = http_start(fd, render, NULL, env.verbose);
	if (!h)
		return VP_EXIT_ERROR;
	fprintf(stderr, "vexitprof: serving /metrics on %s\n", env.serve);
	if (detach_start())
		fprintf(stderr, "vexitprof: no detaching threads: links are closed in place\n");
	/* before the first scan: no QEMU starts unseen between the two */
	ev = events_open();
	if (ev < 0)
		fprintf(
		    stderr,
		    "vexitprof: no process events (%s): new QEMUs are looked for every %.1f s\n",
		    strerror(-ev), SERVE_SCAN_US / 1e6);
	n = discover_qemus(found, NULL);
	if (n < 0)
		fprintf(stderr, "vexitprof: cannot list /proc: %s\n", strerror(-n));
	rc = ready();
	next_scan = mono() + SERVE_SCAN_US / 1e6;
	next_rescan = mono() + SERVE_RESCAN_S;
	while (!rc && !*stop && !(env.duration && mono() - t0 >= env.duration)) {
		/* sampling windows first: their ends are measured, their lengths are not */
		double duty = duty_tick(INFINITY), now = mono();
		double wake = duty < next_scan ? duty : next_scan;

		/* loading takes a while: when no window is due for as long */
		if (d.spare_wanted && !d.spare && duty - now > SERVE_SPARE_GAP_S) {
			spare_load();
			continue;
		}
		if (wake > now) {
			if (wait_events(ev, wake))
				next_rescan = now; /* events were lost */
			continue;
		}
		if (now < next_scan)
			continue;
		reap();
		if (ev < 0 || now >= next_rescan) {
			discover_qemus(found, NULL);
			next_rescan = mono() + SERVE_RESCAN_S;
		}
		learn();
		next_scan = mono() + SERVE_SCAN_US / 1e6;
	}
	if (ev >= 0)
		close(ev);
	/* the server first: no scrape reads a VM being freed */
	http_stop(h);
	attacher_free(d.spare);
	calib_free(cal.c);
	for (size_t i = 0; i < d.n; i++)
		vm_free(d.vms[i]);
	detach_stop();
	free(d.vms);
	free(d.failed);
	free(cache.body);
	if (env.ready_file)
		unlink(env.ready_file);
	fprintf(stderr, "vexitprof: stopped serving; everything detached\n");
	return rc;
}
