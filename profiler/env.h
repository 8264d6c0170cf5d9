/* SPDX-License-Identifier: GPL-2.0 */
/* vexitprof's command line: what the user asked for, parsed and checked (argp). */
#ifndef VP_ENV_H
#define VP_ENV_H
#include <stdbool.h>

struct env {
	int pid;
	double duration;
	double interval;
	bool per_vcpu, hist, json, folded, no_usdt, verbose, no_calib, all, no_packet_probes;
	int kvm_run; /* enum vp_run_hook; VP_HOOK_NONE: auto */
	const char *flamegraph;
	const char *qmp;
	const char *ready_file;
	const char *tracefs;
	int oncpu_hz; /* --on-cpu[=HZ]: sample QEMU's threads (0: off) */
	/* --serve: the daemon (serve.c) */
	const char *serve;    /* [ADDR:]PORT */
	int pids[64], n_pids; /* -p, repeatable with --serve */
	const char *vms[16];  /* --vm GLOB: only VMs whose name matches one */
	int n_vms;
	bool timing;
	int max_registers, max_series;
	/* QEMU's USDT probes attached duty_window s per duty_period s, or all the time (exact) */
	bool exact, duty_set, timestamps;
	double duty_window, duty_period;
};

/* --serve's default duty cycle (results/serve-overhead.md: its cost and its error) */
#define VP_DUTY_WINDOW_MS 10
#define VP_DUTY_PERIOD_MS 1000
#define VP_STR_(x)	  #x
#define VP_STR(x)	  VP_STR_(x)

extern struct env env;

/* Fills env from argv; on a bad option prints one line and exits VP_EXIT_USAGE. */
int env_parse(int argc, char **argv);
#endif
