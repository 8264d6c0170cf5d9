/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof --serve's metric model: one VM's report turned into Prometheus
 * samples, with the cardinality rules (top registers per device, the rest in
 * register="other", a cap on series per VM) and counters that never go down.
 * metrics_expo.c renders the samples; this file decides them.
 */
#ifndef VP_METRICS_H
#define VP_METRICS_H
#include <stdbool.h>
#include <stddef.h>

/* Metric families, in the order they are exposed (metrics_expo.c has names, types and help). */
enum metric_family {
	MF_ACCESSES,
	MF_EXITS_TO_QEMU,
	MF_KERNEL_COMPLETIONS,
	MF_KERNEL_SECONDS,
	MF_QEMU_SECONDS,
	MF_EXITS,
	MF_EXIT_DURATION,
	MF_QEMU_EXITS,
	MF_QEMU_EXIT_DURATION,
	MF_INTERRUPTS,
	MF_E1000_TX_FRAMES,
	MF_E1000_TX_BATCHES,
	MF_E1000_TX_DESCRIPTORS,
	MF_E1000_RX_FRAMES,
	MF_E1000_RX_BYTES,
	MF_PROBE_EVENTS,
	MF_PROBE_OVERHEAD,
	MF_DROPPED,
	MF_UNPAIRED,
	MF_USDT_DUTY_RATIO,
	MF_USDT_WINDOWS,
	MF_USDT_RELATIVE_ERROR,
	MF_USDT_HIT_COST,
	MF_USDT_EXTRAPOLATED_CPU,
	MF_USDT_TRAP_SHARE,
	MF_VM_INFO,
	MF_SERIES,
	MF_SERIES_LIMIT,
	MF_REGISTERS_FOLDED,
	MF_NR
};

/* Sample suffix: a histogram has _bucket (with le), _sum and _count samples. */
enum metric_suffix { MS_NONE, MS_BUCKET, MS_SUM, MS_COUNT };

struct metric_sample {
	enum metric_family fam;
	enum metric_suffix sfx;
	char *labels; /* rendered: vm="A",pid="1",... (escaped, no braces) */
	double value;
};

struct metrics_opts {
	int max_registers; /* per device: registers with series of their own */
	int max_series;	   /* per VM: every series counts */
	bool timing;	   /* time series (seconds, histograms) */
	bool per_vcpu;	   /* a vcpu label on register and exit series */
};

#define METRICS_DEF_REGISTERS 10
#define METRICS_DEF_SERIES    1000
#define METRICS_MIN_SERIES    100

/*
 * How the VM's USDT-sourced counts were made (serve_duty.c): sampled windows
 * extrapolated (ratio < 1), or exact (ratio 1, no windows).  rse: the
 * estimated relative standard error of the accesses' and e1000 TX frames'
 * increase over the last windows (rse_ok false: not known yet).
 */
struct metrics_sampling {
	bool usdt; /* the VM has USDT probes at all */
	double ratio;
	unsigned long long windows;
	double rse[2];
	bool rse_ok[2];
	double hit_cost;	 /* QEMU CPU seconds a probe hit costs (taken out of windows) */
	double cpu_extrapolated; /* QEMU CPU seconds outside windows the estimates cover */
	/* the traps' share of the last windows' QEMU CPU time (hits x hit_cost), if known */
	double trap_share;
	bool trap_share_ok;
};

struct metrics_vm;
struct vp_report;
struct vp_snapshot;

struct metrics_vm *metrics_vm_new(const char *vm, int pid, const char *exe);
void metrics_vm_free(struct metrics_vm *m);
/* When the samples of the last update were read (Unix time, s; 0: not said). */
void metrics_vm_set_time(struct metrics_vm *m, double t);
double metrics_vm_time(const struct metrics_vm *m);
/* What the next updates say about sampling (default: exact). */
void metrics_vm_set_sampling(struct metrics_vm *m, const struct metrics_sampling *s);
/*
 * The VM's samples from a report (attribute()d rows) and the snapshot it was
 * made from (exits by reason, with their histograms).  trap_ns: calibrated cost
 * of one USDT hit (0: unknown).  0, or -ENOMEM (the previous samples stay).
 */
int metrics_vm_update(struct metrics_vm *m, const struct vp_report *r, const struct vp_snapshot *s,
		      double trap_ns, const struct metrics_opts *o);
/* The samples of the last update, in family order. */
const struct metric_sample *metrics_vm_samples(const struct metrics_vm *m, size_t *n);

/* The daemon's own figures. */
struct metrics_daemon {
	int vms;
	unsigned long long attach_failures;
	double cpu_seconds; /* the daemon's own CPU time, user + system */
	bool timestamps;    /* each VM's samples carry the time its maps were read */
};

/*
 * The exposition of every VM's samples plus the daemon's, malloc'ed (*len
 * bytes): OpenMetrics 1.0 text if openmetrics, else Prometheus text 0.0.4.
 * NULL if out of memory.
 */
char *metrics_render(struct metrics_vm *const *vms, size_t n, const struct metrics_daemon *d,
		     bool openmetrics, size_t *len);
#endif
