/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One profiled QEMU process: its BPF object and every probe attached to it.
 * new -> probe -> load -> attach -> (close) -> detach -> free; the fallbacks
 * between the ways of tracing KVM_RUN happen inside.  Nothing global: one
 * process may hold an attacher per target.
 */
#ifndef VP_ATTACH_H
#define VP_ATTACH_H
#include <stdbool.h>
#include "vexitprof.h"
#include "oncpu.h"

struct vp_attach_opts {
	int pid;
	const char *tracefs;
	int kvm_run;	      /* enum vp_run_hook; VP_HOOK_NONE: the first that works */
	bool usdt;	      /* attach QEMU's USDT probes */
	bool packet_probes;   /* and the e1000 per-packet ones */
	bool calibrate;	      /* measure the uprobe trap before attaching */
	bool verbose;	      /* say why a way of tracing KVM_RUN was not used */
	int usdt_nop_len;     /* length of the nop at QEMU's USDT sites */
	const char *exe_path; /* /proc/PID/exe: attach through it */
	const char *exe_name; /* the executable's path, for messages */
	bool untimed;	      /* count only: the BPF programs read no clock (--serve) */
	/* --serve's sampled counting: the USDT programs load as uprobe_multi ones, libbpf
	 * attaches the usdt_site_ programs in their place (serve_usdt.h) */
	bool usdt_multi;
	int oncpu_hz; /* --on-cpu: sample rate (0: no sampling) */
};

#define VP_MAX_LINKS 32

struct vexitprof_bpf;
struct tp_prog;

struct vp_attacher {
	struct vp_attach_opts o;
	struct vexitprof_bpf *skel;
	int hook;	 /* enum vp_run_hook in use (after load) */
	bool exit_tp;	 /* kvm_exit is attached */
	bool e1000_usdt; /* the e1000 USDT probes are attached */
	double trap_ns;	 /* calibrated uprobe trap (0: not measured) */
	/* why a way of tracing KVM_RUN cannot be used ("" : it may) */
	char hook_err[VP_HOOK_SYSCALLS + 1][96];
	/* the tracepoint a way lacks (NULL: none) */
	const struct tp_prog *missing[VP_HOOK_SYSCALLS + 1];
	struct bpf_link *links[VP_MAX_LINKS];
	const char *names[VP_MAX_LINKS];
	int n;
	int n_kernel; /* links[0, n_kernel): the kernel's; the rest: QEMU's USDT probes */
	struct vp_oncpu_events oncpu; /* --on-cpu's perf events */
};

struct vp_attacher *attacher_new(const struct vp_attach_opts *o);
/* Which ways of tracing KVM_RUN this kernel offers.  0, or an exit code (one line printed). */
int attacher_probe(struct vp_attacher *a);
/* Open and load the BPF object for the first usable way.  0, or an exit code. */
int attacher_load(struct vp_attacher *a);
/* Attach every probe (falling back to the next way if needed).  0, or an exit code. */
int attacher_attach(struct vp_attacher *a);
/*
 * --serve's sampled counting: detach QEMU's USDT probes only (the kernel's
 * stay), and attach them again.  on: 0, or an exit code (one line printed).
 */
void attacher_usdt_off(struct vp_attacher *a);
int attacher_usdt_on(struct vp_attacher *a);
/* The USDT programs return at once while paused (no detach needed to stop counting). */
void attacher_usdt_pause(struct vp_attacher *a, bool paused);
/* While not paused, count only in [from_ns, until_ns) of CLOCK_MONOTONIC (until 0: always). */
void attacher_usdt_window(struct vp_attacher *a, unsigned long long from_ns,
			  unsigned long long until_ns);
/*
 * Hand QEMU's USDT links to the caller, who destroys them (bpf_link__destroy;
 * each waits for RCU grace periods, so perhaps on another thread, but never
 * while this attacher attaches or frees).  Returns how many (<= VP_MAX_LINKS).
 */
int attacher_usdt_take(struct vp_attacher *a, struct bpf_link **out);
/* Note what BPF learned about threads (their vCPU, or their KVM_RUN fd). */
void attacher_learn_vcpus(struct vp_attacher *a);
/* Stop counting at once (the probes stay attached until detach). */
void attacher_close(struct vp_attacher *a);
void attacher_detach(struct vp_attacher *a);
void attacher_free(struct vp_attacher *a);
#endif
