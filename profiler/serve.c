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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "attach.h"
#include "cost.h"
#include "env.h"
#include "metrics.h"
#include "report.h"
#include "serve.h"
#include "serve_discover.h"
#include "serve_http.h"
#include "snapshot.h"
#include "target.h"

/* how often /proc is scanned for new and exited QEMUs */
#define SERVE_SCAN_US 200000
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
	bool read_failed; /* said once */
	double exited;	  /* when its QEMU exited (0: running) */
};

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
	double trap_ns;
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
} d = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- scrapes (HTTP thread) ---- */

/* The VM's samples from its maps now; on failure the last samples stay. */
static void refresh(struct vm *v)
{
	struct vp_report r = v->hdr;
	struct vp_snapshot s;
	int err = snapshot_read(&s, v->at->skel);

	if (!err) {
		attribute(&r, &s, NULL, d.mo.per_vcpu);
		cost_collect(&r, v->at->skel, false, d.trap_ns);
		err = metrics_vm_update(v->m, &r, &s, d.trap_ns, &d.mo);
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
		md = (struct metrics_daemon){.attach_failures = d.attach_failures};
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
	attacher_free(v->at);
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
	/* one calibration for the daemon: the trap costs the same in every QEMU */
	o.calibrate = o.usdt && !env.no_calib && !d.calibrated;
	v->at = attacher_new(&o);
	if (!v->at)
		return VP_EXIT_ERROR;
	v->at->trap_ns = d.trap_ns;
	rc = attacher_probe(v->at);
	if (!rc)
		rc = attacher_load(v->at);
	if (!rc)
		rc = attacher_attach(v->at);
	if (rc)
		return rc;
	if (o.calibrate) {
		d.trap_ns = v->at->trap_ns;
		d.calibrated = true;
	}
	d.hook = v->at->hook;
	v->hdr.pid = v->pid;
	snprintf(v->hdr.exe, sizeof(v->hdr.exe), "%s", v->exe);
	v->hdr.run_hook = v->at->hook;
	v->hdr.exit_tp = v->at->exit_tp;
	v->hdr.usdt = o.usdt;
	v->hdr.e1000_usdt = v->at->e1000_usdt;
	v->hdr.nr_vcpus = target_vcpu_threads(v->pid, NULL, NULL);
	v->m = metrics_vm_new(v->name, v->pid, v->exe);
	return v->m ? 0 : VP_EXIT_ERROR;
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
			attacher_detach(v->at);
			refresh(v);
			v->exited = now;
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
	double t0 = mono();
	int fd, rc, n;

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
	n = discover_qemus(found, NULL);
	if (n < 0)
		fprintf(stderr, "vexitprof: cannot list /proc: %s\n", strerror(-n));
	rc = ready();
	while (!rc && !*stop && !(env.duration && mono() - t0 >= env.duration)) {
		usleep(SERVE_SCAN_US);
		reap();
		discover_qemus(found, NULL);
		learn();
	}
	/* the server first: no scrape reads a VM being freed */
	http_stop(h);
	for (size_t i = 0; i < d.n; i++)
		vm_free(d.vms[i]);
	free(d.vms);
	free(d.failed);
	free(cache.body);
	if (env.ready_file)
		unlink(env.ready_file);
	fprintf(stderr, "vexitprof: stopped serving; everything detached\n");
	return rc;
}
