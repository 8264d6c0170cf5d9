// SPDX-License-Identifier: GPL-2.0
/*
 * --on-cpu (see oncpu.h): the perf events, the threads' roles, and the
 * profile built from the attributed samples.
 *
 * Roles come from the thread names (/proc/PID/task/TID/comm), read the first
 * time a thread is seen and kept (a thread that renames itself keeps its
 * role): "CPU n/KVM" and "CPU n/TCG" are vCPU n ("vcpuN", the folded stacks'
 * label), the thread whose tid is the pid is "main-loop", "call_rcu" is
 * "rcu", "worker" is "worker", "IO name" is "iothread", a name of its own
 * (e.g. "sidecore-e1000") is kept as is, and QEMU's default name (its threads
 * without debug-threads=on) is "thread".
 *
 * User stacks come from frame pointers (bpf_get_stackid): our QEMU is built
 * with them (scripts/build-qemu.sh); code built without them leaves garbage
 * past the first frame, so a stack ends at the first address outside
 * executable memory.  The leaf is exact either way, which is what "self"
 * counts.  A vCPU thread's chain ends at TCG's translated code ("[jit]"),
 * which keeps env in rbp: its callers (cpu_exec ...) are not in the stack.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>
#include "fnv.h"
#include "oncpu.h"
#include "oncpu_taps.h"
#include "report.h"
#include "snapshot.h"
#include "symbols.h"
#include "target.h"

int oncpu_attach(struct vp_oncpu_events *ev, struct bpf_program *prog, int hz)
{
	int ncpu = libbpf_num_possible_cpus();
	const char *fault = getenv("VEXITPROF_FAULT_PERF_OPEN");

	memset(ev, 0, sizeof(*ev));
	if (ncpu <= 0)
		ncpu = 1;
	ev->hz = hz;
	/* a fixed period of the CPU clock (ns): each sample stands for exactly period_ns */
	ev->period_ns = 1000000000ULL / (unsigned long long)hz;
	ev->fds = calloc(ncpu, sizeof(*ev->fds));
	ev->links = calloc(ncpu, sizeof(*ev->links));
	if (!ev->fds || !ev->links) {
		fprintf(stderr, "vexitprof: --on-cpu: out of memory\n");
		oncpu_detach(ev);
		return VP_EXIT_ERROR;
	}
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr a = {
		    .size = sizeof(a),
		    .type = PERF_TYPE_SOFTWARE,
		    .config = PERF_COUNT_SW_CPU_CLOCK,
		    .sample_period = ev->period_ns,
		};
		int fd, err;

		if (fault && *fault) {
			errno = atoi(fault) > 0 ? atoi(fault) : EACCES;
			fd = -1;
		} else {
			fd = syscall(__NR_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		}
		if (fd < 0) {
			err = errno;
			if (err == ENODEV) /* a possible CPU that is offline */
				continue;
			fprintf(stderr,
				"vexitprof: --on-cpu: perf_event_open (cpu-clock, CPU %d) refused: "
				"%s%s\n",
				cpu, strerror(err),
				err == EACCES || err == EPERM
				    ? " (needs CAP_PERFMON or kernel.perf_event_paranoid <= 0)"
				    : "");
			oncpu_detach(ev);
			return err == EACCES || err == EPERM ? VP_EXIT_PERM : VP_EXIT_ERROR;
		}
		ev->fds[ev->n] = fd;
		ev->links[ev->n] = bpf_program__attach_perf_event(prog, fd);
		if (!ev->links[ev->n]) {
			err = errno;
			close(fd);
			fprintf(stderr,
				"vexitprof: --on-cpu: cannot attach the sampler to CPU %d: %s\n",
				cpu, strerror(err));
			oncpu_detach(ev);
			return VP_EXIT_ERROR;
		}
		ev->n++;
	}
	if (!ev->n) {
		fprintf(stderr, "vexitprof: --on-cpu: no CPU to sample\n");
		oncpu_detach(ev);
		return VP_EXIT_ERROR;
	}
	return 0;
}

void oncpu_detach(struct vp_oncpu_events *ev)
{
	for (int i = 0; i < ev->n; i++) {
		bpf_link__destroy(ev->links[i]);
		close(ev->fds[i]);
	}
	free(ev->links);
	free(ev->fds);
	ev->links = NULL;
	ev->fds = NULL;
	ev->n = 0;
}

struct role {
	__u32 tid;
	int vcpu; /* -1: not a vCPU thread */
	char name[24];
};

struct vp_oncpu_state {
	int pid;
	char comm[24];	  /* the process's own name: threads that kept it are unnamed */
	double maps_read; /* when /proc/PID/maps was last read (CLOCK_MONOTONIC, s) */
	struct role *roles;
	size_t n_roles;
	struct vp_syms *syms;
	struct vp_taps taps; /* the bytes for "per GB" */
};

static struct role *role_find(struct vp_oncpu_state *st, __u32 tid)
{
	for (size_t i = 0; i < st->n_roles; i++)
		if (st->roles[i].tid == tid)
			return &st->roles[i];
	return NULL;
}

static bool read_comm(int pid, __u32 tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	bool ok;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

/* The role of thread tid from its name (see the top of this file); added once. */
static struct role *role_learn(struct vp_oncpu_state *st, __u32 tid)
{
	struct role *r = role_find(st, tid), *p;
	char comm[24] = "";
	unsigned int n;

	if (r)
		return r;
	p = realloc(st->roles, (st->n_roles + 1) * sizeof(*p));
	if (!p)
		return NULL;
	st->roles = p;
	r = &st->roles[st->n_roles++];
	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->vcpu = -1;
	read_comm(st->pid, tid, comm, sizeof(comm));
	if (sscanf(comm, "CPU %u/", &n) == 1 && (strstr(comm, "/KVM") || strstr(comm, "/TCG"))) {
		r->vcpu = (int)n;
		snprintf(r->name, sizeof(r->name), "vcpu%u", n);
	} else if ((int)tid == st->pid) {
		snprintf(r->name, sizeof(r->name), "main-loop");
	} else if (!strcmp(comm, "call_rcu")) {
		snprintf(r->name, sizeof(r->name), "rcu");
	} else if (!strncmp(comm, "worker", 6)) {
		snprintf(r->name, sizeof(r->name), "worker");
	} else if (!strncmp(comm, "IO ", 3)) {
		snprintf(r->name, sizeof(r->name), "iothread");
	} else if (!comm[0] || !strcmp(comm, st->comm)) {
		snprintf(r->name, sizeof(r->name), "thread");
	} else {
		/* a name of its own (sidecore-e1000 ...): ';' would split a frame */
		for (char *c = comm; *c; c++)
			if (*c == ';' || *c == ' ')
				*c = '_';
		snprintf(r->name, sizeof(r->name), "%s", comm);
	}
	return r;
}

void oncpu_state_refresh(struct vp_oncpu_state *st)
{
	char path[64];
	struct dirent *d;
	struct timespec ts;
	double now;
	DIR *dir;

	if (!target_alive(st->pid))
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", st->pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir)))
		if (d->d_name[0] >= '1' && d->d_name[0] <= '9')
			role_learn(st, (__u32)strtoul(d->d_name, NULL, 10));
	if (dir)
		closedir(dir);
	/* mappings change rarely (libraries loaded late): once a second is plenty */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec + ts.tv_nsec / 1e9;
	if (now - st->maps_read >= 1.0) {
		syms_refresh(st->syms);
		taps_refresh(&st->taps);
		st->maps_read = now;
	}
}

struct vp_oncpu_state *oncpu_state_new(int pid)
{
	struct vp_oncpu_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->pid = pid;
	read_comm(pid, 0, st->comm, sizeof(st->comm));
	taps_init(&st->taps, pid);
	st->syms = syms_new(pid);
	if (!st->syms) {
		free(st);
		return NULL;
	}
	oncpu_state_refresh(st);
	return st;
}

void oncpu_state_free(struct vp_oncpu_state *st)
{
	if (!st)
		return;
	syms_free(st->syms);
	free(st->roles);
	free(st);
}

/* Open-addressing index from a hash to an array element (+1; 0 empty). */
struct index {
	uint64_t *h;
	size_t *at, cap, n;
};

static int index_grow(struct index *x)
{
	struct index n = {.cap = x->cap ? 2 * x->cap : 1024};

	n.h = calloc(n.cap, sizeof(*n.h));
	n.at = calloc(n.cap, sizeof(*n.at));
	if (!n.h || !n.at) {
		free(n.h);
		free(n.at);
		return -ENOMEM;
	}
	for (size_t i = 0; i < x->cap; i++) {
		size_t j;

		if (!x->at[i])
			continue;
		for (j = x->h[i] & (n.cap - 1); n.at[j]; j = (j + 1) & (n.cap - 1))
			;
		n.h[j] = x->h[i];
		n.at[j] = x->at[i];
	}
	n.n = x->n;
	free(x->h);
	free(x->at);
	*x = n;
	return 0;
}

/* Candidates with hash h: *it from 0; returns element index or -1 at the end. */
static long index_next(const struct index *x, uint64_t h, size_t *it)
{
	if (!x->cap)
		return -1;
	for (size_t j = (h + *it) & (x->cap - 1); x->at[j]; j = (h + ++*it) & (x->cap - 1))
		if (x->h[j] == h) {
			++*it;
			return (long)x->at[j] - 1;
		}
	return -1;
}

static int index_add(struct index *x, uint64_t h, size_t el)
{
	size_t j;

	if ((x->n + 1) * 2 > x->cap && index_grow(x))
		return -ENOMEM;
	for (j = h & (x->cap - 1); x->at[j]; j = (j + 1) & (x->cap - 1))
		;
	x->h[j] = h;
	x->at[j] = el + 1;
	x->n++;
	return 0;
}

static void index_free(struct index *x)
{
	free(x->h);
	free(x->at);
}

struct build {
	struct vp_oncpu *o;
	struct index fn_ix, ctx_ix;
	/* per context: self samples of each function (parallel arrays, per ctx) */
	struct ctx_fns {
		size_t *fn;
		unsigned long long *self;
		size_t n;
	} * cf;
};

static long fn_index(struct build *b, const char *function, const char *module)
{
	uint64_t h = vp_fnv(vp_fnv(VP_FNV0, &function, sizeof(function)), &module, sizeof(module));
	struct vp_oncpu *o = b->o;
	struct vp_oncpu_fn *p;
	size_t it = 0;
	long i;

	while ((i = index_next(&b->fn_ix, h, &it)) >= 0)
		if (o->fns[i].function == function && o->fns[i].module == module)
			return i;
	p = realloc(o->fns, (o->n_fns + 1) * sizeof(*p));
	if (!p || index_add(&b->fn_ix, h, o->n_fns)) {
		if (p)
			o->fns = p;
		return -1;
	}
	o->fns = p;
	o->fns[o->n_fns] = (struct vp_oncpu_fn){.function = function, .module = module};
	return (long)o->n_fns++;
}

static long ctx_index(struct build *b, const char *name)
{
	uint64_t h = vp_fnv(VP_FNV0, name, strlen(name));
	struct vp_oncpu *o = b->o;
	struct vp_oncpu_ctx *p;
	struct ctx_fns *q;
	size_t it = 0;
	long i;

	while ((i = index_next(&b->ctx_ix, h, &it)) >= 0)
		if (!strcmp(o->ctxs[i].name, name))
			return i;
	p = realloc(o->ctxs, (o->n_ctxs + 1) * sizeof(*p));
	if (p)
		o->ctxs = p;
	q = realloc(b->cf, (o->n_ctxs + 1) * sizeof(*q));
	if (q)
		b->cf = q;
	if (!p || !q || index_add(&b->ctx_ix, h, o->n_ctxs))
		return -1;
	memset(&o->ctxs[o->n_ctxs], 0, sizeof(*o->ctxs));
	memset(&b->cf[o->n_ctxs], 0, sizeof(*b->cf));
	o->ctxs[o->n_ctxs].name = strdup(name);
	if (!o->ctxs[o->n_ctxs].name)
		return -1;
	return (long)o->n_ctxs++;
}

static int ctx_add_self(struct ctx_fns *c, size_t fn, unsigned long long n)
{
	size_t *f;
	unsigned long long *s;

	for (size_t i = 0; i < c->n; i++)
		if (c->fn[i] == fn) {
			c->self[i] += n;
			return 0;
		}
	f = realloc(c->fn, (c->n + 1) * sizeof(*f));
	if (f)
		c->fn = f;
	s = realloc(c->self, (c->n + 1) * sizeof(*s));
	if (s)
		c->self = s;
	if (!f || !s)
		return -ENOMEM;
	c->fn[c->n] = fn;
	c->self[c->n++] = n;
	return 0;
}

/* Append s to the folded line, ';' first unless empty; ';' inside a frame becomes '_'. */
static int line_add(char **line, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 2;

	if (*len + n + 1 > *cap) {
		size_t c = (*cap + n) * 2;
		char *p = realloc(*line, c);

		if (!p)
			return -ENOMEM;
		*line = p;
		*cap = c;
	}
	if (*len)
		(*line)[(*len)++] = ';';
	for (; *s; s++)
		(*line)[(*len)++] = *s == ';' ? '_' : *s;
	(*line)[*len] = 0;
	return 0;
}

#define MAX_FRAMES (2 * VP_CPU_STACK_DEPTH)

/* The frames of one sample, root first: user stack, then the kernel's. */
static size_t frames(struct vp_oncpu_state *st, const struct vp_snapshot *s, int ustack, int kstack,
		     struct vp_sym *out)
{
	const struct vp_snap_stack *u = snapshot_stack(s, ustack), *k = snapshot_stack(s, kstack);
	struct vp_sym tmp[VP_CPU_STACK_DEPTH];
	size_t n = 0, m = 0;

	/* callers' addresses are return addresses: look up the call (ip - 1) */
	for (size_t i = 0; u && i < u->n; i++) {
		struct vp_sym y = syms_user(st->syms, u->ip[i] - (i ? 1 : 0));

		if (!y.module && i) /* a frame-pointer chain gone astray */
			break;
		tmp[m++] = y;
		/* TCG's translated code keeps env, not a frame, in rbp: no caller past it */
		if (y.module && !strcmp(y.module, "[jit]"))
			break;
	}
	while (m)
		out[n++] = tmp[--m];
	for (size_t i = 0; k && i < k->n; i++)
		tmp[m++] = syms_kernel(st->syms, k->ip[i] - (i ? 1 : 0));
	while (m)
		out[n++] = tmp[--m];
	return n;
}

static int cmp_stack_line(const void *a, const void *b)
{
	return strcmp(((const struct vp_oncpu_stack *)a)->line,
		      ((const struct vp_oncpu_stack *)b)->line);
}

static int cmp_fn(const void *a, const void *b)
{
	const struct vp_oncpu_fn *x = a, *y = b;

	if (x->self != y->self)
		return x->self < y->self ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->function, y->function);
}

static int cmp_ctx(const void *a, const void *b)
{
	const struct vp_oncpu_ctx *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples < y->samples ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* One row: its prefix, frames, and what it adds to functions, contexts and stacks. */
static int add_row(struct build *b, struct vp_oncpu_state *st, const struct vp_cpu_row *row,
		   const struct vp_snapshot *s)
{
	struct vp_oncpu *o = b->o;
	struct role *role = role_learn(st, row->tid);
	struct vp_sym fr[MAX_FRAMES];
	size_t nf = frames(st, s, row->ustack, row->kstack, fr), len = 0, cap = 0;
	char *line = NULL, *prefix;
	struct vp_oncpu_stack *sp;
	long c, f;
	int err = 0;

	if (!role)
		return -ENOMEM;
	/* an unnamed thread (no debug-threads=on) that KVM_RUN showed to be a vCPU */
	if (role->vcpu < 0 && row->vcpu_state && !strcmp(role->name, "thread")) {
		int v = target_tid_vcpu(st->pid, (int)row->tid);

		if (v >= 0) {
			role->vcpu = v;
			snprintf(role->name, sizeof(role->name), "vcpu%d", v);
		}
	}
	/* vCPU threads: vcpuN;reason;device;register; others: role, and the write they handle */
	err = line_add(&line, &len, &cap, role->name);
	if (!err && (role->vcpu >= 0 || row->ctx)) {
		err = line_add(&line, &len, &cap, row->reason);
		if (!err)
			err = line_add(&line, &len, &cap, row->device);
		if (!err)
			err = line_add(&line, &len, &cap, row->reg);
	}
	if (err)
		goto out;
	c = ctx_index(b, line);
	if (c < 0) {
		err = -ENOMEM;
		goto out;
	}
	o->ctxs[c].samples += row->samples;
	if (!nf)
		fr[nf++] = (struct vp_sym){.function = "[no stack]", .module = "[unknown]"};
	for (size_t i = 0; i < nf && !err; i++) {
		const char *mod = fr[i].module ? fr[i].module : "[unknown]";
		bool seen = false;

		err = line_add(&line, &len, &cap, fr[i].function);
		f = fn_index(b, fr[i].function, mod);
		if (f < 0) {
			err = -ENOMEM;
			break;
		}
		/* total: once per sample however often the function recurs */
		for (size_t j = 0; j < i && !seen; j++)
			seen = fr[j].function == fr[i].function;
		if (!seen)
			o->fns[f].total += row->samples;
		if (i == nf - 1) {
			o->fns[f].self += row->samples;
			err = ctx_add_self(&b->cf[c], (size_t)f, row->samples);
		}
	}
	if (err)
		goto out;
	sp = realloc(o->stacks, (o->n_stacks + 1) * sizeof(*sp));
	if (!sp) {
		err = -ENOMEM;
		goto out;
	}
	o->stacks = sp;
	o->stacks[o->n_stacks++] = (struct vp_oncpu_stack){.line = line, .samples = row->samples};
	o->samples += row->samples;
	return 0;
out:
	prefix = line;
	free(prefix);
	return err;
}

int oncpu_build(struct vp_oncpu *o, struct vp_oncpu_state *st, const struct vp_report *r,
		const struct vp_snapshot *s, const struct vp_oncpu_events *ev)
{
	struct build b = {.o = o};
	size_t n = 0;
	int err = 0;

	memset(o, 0, sizeof(*o));
	o->hz = ev->hz;
	o->ns_per_sample = (double)ev->period_ns;
	o->dropped = r->cnt.c[VP_C_CPU_DROPPED];
	if (syms_exe_stripped(st->syms, &o->exe))
		o->stripped_exe = o->exe;
	/* the counters as of now while QEMU lives, else as of its last second */
	if (target_alive(st->pid))
		taps_refresh(&st->taps);
	if (st->taps.n) {
		o->taps = st->taps.names;
		o->tap_bytes = taps_bytes(&st->taps);
	}
	for (size_t i = 0; i < r->n_cpu && !err; i++)
		err = add_row(&b, st, &r->cpu[i], s);
	/* identical lines (threads of one role, stacks that symbolize alike) merge */
	qsort(o->stacks, o->n_stacks, sizeof(*o->stacks), cmp_stack_line);
	for (size_t i = 0; i < o->n_stacks; i++) {
		if (n && !strcmp(o->stacks[n - 1].line, o->stacks[i].line)) {
			o->stacks[n - 1].samples += o->stacks[i].samples;
			free(o->stacks[i].line);
			continue;
		}
		o->stacks[n++] = o->stacks[i];
	}
	o->n_stacks = n;
	for (size_t c = 0; c < o->n_ctxs; c++) {
		struct ctx_fns *cf = &b.cf[c];

		/* the context's hottest functions by self samples */
		for (int t = 0; t < VP_ONCPU_CTX_TOP; t++) {
			size_t best = cf->n;

			for (size_t i = 0; i < cf->n; i++)
				if (cf->self[i] && (best == cf->n || cf->self[i] > cf->self[best]))
					best = i;
			if (best == cf->n)
				break;
			o->ctxs[c].top[t] = o->fns[cf->fn[best]].function;
			o->ctxs[c].top_self[t] = cf->self[best];
			cf->self[best] = 0;
		}
		free(cf->fn);
		free(cf->self);
	}
	free(b.cf);
	qsort(o->fns, o->n_fns, sizeof(*o->fns), cmp_fn);
	qsort(o->ctxs, o->n_ctxs, sizeof(*o->ctxs), cmp_ctx);
	index_free(&b.fn_ix);
	index_free(&b.ctx_ix);
	return err;
}

void oncpu_free(struct vp_oncpu *o)
{
	for (size_t i = 0; i < o->n_stacks; i++)
		free(o->stacks[i].line);
	for (size_t i = 0; i < o->n_ctxs; i++)
		free(o->ctxs[i].name);
	free(o->stacks);
	free(o->ctxs);
	free(o->fns);
	memset(o, 0, sizeof(*o));
}
