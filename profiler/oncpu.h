/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --on-cpu: where QEMU's CPU time goes.  One perf_event (CPU clock) per CPU
 * runs the BPF sampler (bpf/vexitprof_oncpu.bpf.h); from its aggregates
 * (attributed by attribute.c: struct vp_cpu_row) this file builds the profile
 * the renderers print: thread roles, symbolized folded stacks under the
 * attribution prefix, functions by self and total samples, contexts.
 */
#ifndef VP_ONCPU_H
#define VP_ONCPU_H
#include <stdbool.h>
#include <stdio.h>

struct bpf_program;
struct bpf_link;
struct vp_report;
struct vp_snapshot;

/* The perf events and their links (an attacher holds one). */
struct vp_oncpu_events {
	int hz;
	unsigned long long period_ns;
	int n;
	int *fds;
	struct bpf_link **links;
};

/*
 * Open a CPU-clock event on every CPU and attach prog to each.  0, or an exit
 * code with one line printed (and nothing left open).  VEXITPROF_FAULT_PERF_OPEN=ERRNO
 * in the environment makes perf_event_open fail with that errno (tests).
 */
int oncpu_attach(struct vp_oncpu_events *ev, struct bpf_program *prog, int hz);
void oncpu_detach(struct vp_oncpu_events *ev);

struct vp_oncpu_fn {
	const char *function, *module;
	unsigned long long self, total;
};

struct vp_oncpu_stack {
	char *line; /* prefix;root;...;leaf */
	unsigned long long samples;
};

/* One attribution context (the prefix without the thread): its samples and hottest functions */
#define VP_ONCPU_CTX_TOP 3
struct vp_oncpu_ctx {
	char *name; /* "vcpu0;MMIO;e1000-mmio;TDT write", "sidecore-e1000" ... */
	unsigned long long samples;
	const char *top[VP_ONCPU_CTX_TOP];
	unsigned long long top_self[VP_ONCPU_CTX_TOP];
};

struct vp_oncpu {
	int hz;
	double ns_per_sample;
	unsigned long long samples, dropped;
	const char *stripped_exe; /* QEMU's executable has no symbol table (NULL: it has) */
	const char *exe;	  /* its base name: the module of QEMU's own functions */
	struct vp_oncpu_fn *fns;  /* by self, then total */
	size_t n_fns;
	struct vp_oncpu_stack *stacks;
	size_t n_stacks;
	struct vp_oncpu_ctx *ctxs; /* by samples */
	size_t n_ctxs;
	/* bytes through the taps QEMU holds open (oncpu_taps.c) in the profile's window */
	const char *taps; /* their names, "vxt0,..."; NULL: QEMU holds no tap */
	unsigned long long tap_bytes;
};

struct vp_oncpu_state;

/* Thread roles and symbols of target pid, kept across reports (roles are stable). */
struct vp_oncpu_state *oncpu_state_new(int pid);
/* While the target lives: learn new threads' roles and re-read its mappings. */
void oncpu_state_refresh(struct vp_oncpu_state *st);
void oncpu_state_free(struct vp_oncpu_state *st);

/* Build the profile from r's rows (attribute.c) and the snapshot's stacks: 0 or -errno. */
int oncpu_build(struct vp_oncpu *o, struct vp_oncpu_state *st, const struct vp_report *r,
		const struct vp_snapshot *s, const struct vp_oncpu_events *ev);
void oncpu_free(struct vp_oncpu *o);

/* Renderers (oncpu_report.c): the table's section, the JSON member, folded lines. */
void oncpu_table(FILE *f, const struct vp_report *r);
void oncpu_json(FILE *f, const struct vp_report *r);
void oncpu_folded(FILE *f, const struct vp_report *r);
#endif
