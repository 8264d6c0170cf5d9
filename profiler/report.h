/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The row model: what attribute.c decided, read-only for the renderers
 * (report_table.c, report_json.c, report_folded.c).
 */
#ifndef VP_REPORT_H
#define VP_REPORT_H
#include <stdio.h>
#include <stdbool.h>
#include "vexitprof.h"

/* vcpu value of a row merged over all vCPUs, and of accesses not made by a vCPU thread */
#define VP_ALL_VCPUS (-2)
#define VP_NO_VCPU   (-1)

/*
 * The two begin/end pairs vexitprof times, one ops table (report.c) over
 * both, as perf kvm's events_ops: every layer (attribution, sorting, table,
 * JSON, stacks) handles a kind through it instead of twice by hand.
 */
enum vp_exit_kind {
	VP_EXIT_KERNEL, /* kvm:kvm_exit .. kvm:kvm_entry, by hardware exit reason */
	VP_EXIT_QEMU,	/* KVM_RUN return .. next KVM_RUN, by KVM_EXIT_* reason */
	VP_EXIT_KINDS
};

struct vp_exit_row {
	int vcpu;
	unsigned int isa; /* VP_EXIT_KERNEL only */
	unsigned int reason;
	unsigned long long count, timed;
	unsigned long long ns;	    /* the pair's time over the timed ones */
	unsigned long long user_ns; /* of ns, QEMU user-space time (== ns for VP_EXIT_QEMU) */
	__u64 hist[VP_HIST_SLOTS];
};

struct vp_exit_rows {
	struct vp_exit_row *rows;
	size_t n;
};

struct vp_report;

struct vp_exit_ops {
	const char *json_key;	  /* "exits", "userspace_exits" */
	const char *json_ns_key;  /* the JSON name of ns */
	const char *table_ns_col; /* its column in the table */
	bool has_isa;		  /* rows carry an ISA (hardware exit reasons differ per vendor) */
	bool has_user;		  /* ns includes QEMU's time, shown apart */
	const char *folded_handler;
	/* the table's heading, and its line when there are no rows */
	const char *(*title)(const struct vp_report *r);
	const char *(*none)(const struct vp_report *r);
	/* the reason's name, e.g. "EPT_VIOLATION", "MMIO" */
	const char *(*reason_name)(const struct vp_exit_row *e, char *buf, size_t len);
};

extern const struct vp_exit_ops vp_exit_ops[VP_EXIT_KINDS];

struct vp_dev_row {
	int vcpu;
	char device[VP_NAME_LEN];
	char reg[64];
	unsigned int dir;   /* enum vp_dir */
	unsigned int space; /* enum vp_space */
	bool addr_known, offset_known;
	unsigned long long addr, offset, size;
	unsigned long long kcount;  /* guest accesses seen by kvm_mmio/kvm_pio */
	unsigned long long exits;   /* of which went to QEMU */
	unsigned long long user_ns; /* QEMU user-space time for them */
	unsigned long long kernel_ns, ktimed;
	unsigned long long qemu_ops; /* memory_region_ops_* dispatches (USDT) */
	unsigned long long count;    /* kcount under KVM, qemu_ops without kernel events */
	/*
	 * The device's "+other" row: accesses whose offset got no row of its own
	 * (past the detail cap, or a map was full); see vexitprof.h.
	 */
	bool folded;
	bool fold_full;	       /* some of it because a map was full, not by the cap */
	unsigned int fold_cap; /* the cap that applied (0: none) */
	bool fold_cap_page; /* fold_cap counts addresses per 4 KiB page (kernel), not per region */
};

struct vp_prog_cost {
	const char *name;
	unsigned long long run_cnt, run_time_ns;
};

struct vp_cost {
	bool stats;	/* BPF run-time statistics were enabled */
	double trap_ns; /* calibrated uprobe trap per USDT event, 0 if not measured */
	unsigned long long bpf_run_ns, bpf_run_cnt;
	unsigned long long events_kernel, events_usdt;
	double est_ns; /* estimate of time tracing added to the traced threads */
	struct vp_prog_cost progs[32];
	int nprogs;
};

/* One folded stack "vcpu;reason;device;register;handler weight" (attribute.c decides them). */
struct vp_stack {
	int vcpu;
	char reason[32];
	char device[VP_NAME_LEN];
	char reg[96]; /* register and direction */
	const char *handler;
	unsigned long long weight;
};

/*
 * --on-cpu: samples of one (thread, attribution context, stacks), the
 * context named as the folded stacks name it (attribute.c).
 */
struct vp_cpu_row {
	__u32 tid;
	bool vcpu_state; /* the thread has vCPU state in BPF (a phase) */
	bool ctx;	 /* a device register: device and reg name it */
	char reason[32]; /* the exit or phase ("guest", "run", "dispatch", "MMIO" ...) */
	char device[VP_NAME_LEN];
	char reg[96]; /* register and direction */
	int ustack, kstack;
	unsigned long long samples;
};

struct vp_oncpu;

struct vp_report {
	int pid;
	char exe[256];
	double duration_s;
	int nr_vcpus;
	bool usdt;	   /* USDT probes attached */
	bool e1000_usdt;   /* e1000 probes attached */
	bool exit_tp;	   /* kvm_exit/kvm_entry attached */
	bool kvm_accesses; /* kernel saw guest accesses: counts come from kvm_mmio/kvm_pio */
	bool per_vcpu;
	bool qemu_exited;
	int run_hook; /* enum vp_run_hook */
	struct vp_exit_rows ex[VP_EXIT_KINDS];
	struct vp_dev_row *devs;
	size_t n_devs;
	struct vp_counters cnt;
	unsigned long long txb[VP_TXB_SLOTS];
	struct vp_cost cost;
	struct vp_stack *stacks;
	size_t n_stacks;
	bool stacks_time;	/* stack weights are ns, else counts */
	struct vp_cpu_row *cpu; /* --on-cpu */
	size_t n_cpu;
	/* --on-cpu: the sampled profile (oncpu.c builds it; NULL: not asked for) */
	const struct vp_oncpu *oncpu;
};

struct vp_snapshot;
struct vp_mtree;

/*
 * Build r's rows from a snapshot of the maps (attribute.c).  per_vcpu false
 * merges rows over vCPUs.  r's header (pid, nr_vcpus ...) is kept.
 */
void attribute(struct vp_report *r, const struct vp_snapshot *s, const struct vp_mtree *mt,
	       bool per_vcpu);
void report_free(struct vp_report *r);
/* dst = src's header (pid, counters, cost, oncpu ...) without src's rows, which dst must not free */
void report_copy_header(struct vp_report *dst, const struct vp_report *src);

/* How each output names a row's vCPU: one rule, three spellings. */
enum vp_vcpu_style {
	VP_VCPU_TABLE,	/* "0", "all", "-" */
	VP_VCPU_FOLDED, /* "vcpu0", "all", "other" */
	VP_VCPU_JSON,	/* 0, null, null */
};
const char *vcpu_label(int vcpu, enum vp_vcpu_style style, char *buf, size_t len);
const char *dir_name(unsigned int dir);
/* Sum of interrupt-ish counters */
unsigned long long report_interrupts(const struct vp_report *r);
unsigned long long report_packets(const struct vp_report *r);
unsigned long long report_device_accesses(const struct vp_report *r, const char *device);
unsigned long long report_total_exits(const struct vp_report *r);
/* Sum of count over the "+other" rows */
unsigned long long report_folded_accesses(const struct vp_report *r);
/*
 * The "+other" rows from index *i on: the next one in *fold, with the count of
 * its (vcpu, device, dir) in all and how many rows kept detail; false at the end.
 */
bool report_next_fold(const struct vp_report *r, size_t *i, const struct vp_dev_row **fold,
		      unsigned long long *total, size_t *kept);

/* all: every device register; otherwise the busiest rows and one line for the rest */
void report_table(FILE *f, const struct vp_report *r, bool hist, bool all);
const char *run_hook_name(int hook);
void report_json(FILE *f, const struct vp_report *r);
/* s as a JSON string, quotes and escapes included (the JSON renderers share it) */
void report_json_str(FILE *f, const char *s);
/* Folded stacks "vcpu;reason;device;register;handler weight", weight in ns (count when no time). */
void report_folded(FILE *f, const struct vp_report *r);
/* One stack spelled as --folded prints it, without its weight (malloc'd; NULL: out of memory). */
char *report_stack_line(const struct vp_stack *s);
/* The stacks as an SVG flame graph in path: 0 or -errno. */
int report_flamegraph(const char *path, const struct vp_report *r);
#endif
