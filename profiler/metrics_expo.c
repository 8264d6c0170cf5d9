// SPDX-License-Identifier: GPL-2.0
/*
 * The exposition: every VM's samples (metrics.c) grouped by family, in the
 * Prometheus text format 0.0.4 or OpenMetrics 1.0 (which names a counter's
 * family without "_total", and ends with "# EOF").  Names follow Prometheus'
 * conventions: base units (seconds, bytes), "_total" on counters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

enum mtype { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

static const struct {
	const char *name; /* the family; counters' samples add "_total" */
	enum mtype type;
	const char *help;
} fams[MF_NR] = {
    [MF_ACCESSES] = {"vexitprof_device_accesses", MT_COUNTER,
		     "Guest accesses to a device register (register=\"other\": the device's "
		     "registers without series of their own; the ones QEMU's USDT probes see are "
		     "estimates when vexitprof_usdt_duty_ratio < 1)"},
    [MF_EXITS_TO_QEMU] = {"vexitprof_device_exits_to_qemu", MT_COUNTER,
			  "Accesses to a device register that exited to QEMU (user space)"},
    [MF_KERNEL_COMPLETIONS] = {"vexitprof_device_kernel_completions", MT_COUNTER,
			       "Accesses to a device register KVM completed in the kernel"},
    [MF_KERNEL_SECONDS] = {"vexitprof_device_kernel_seconds", MT_COUNTER,
			   "Kernel time (VM exit to entry, QEMU excluded) charged to a device "
			   "register (--timing)"},
    [MF_QEMU_SECONDS] = {"vexitprof_device_qemu_seconds", MT_COUNTER,
			 "QEMU user-space time charged to a device register (--timing)"},
    [MF_EXITS] = {"vexitprof_exits", MT_COUNTER, "VM exits (kvm:kvm_exit) by ISA and reason"},
    [MF_EXIT_DURATION] = {"vexitprof_exit_duration_seconds", MT_HISTOGRAM,
			  "VM exit to VM entry, QEMU's time included (--timing)"},
    [MF_QEMU_EXITS] = {"vexitprof_qemu_exits", MT_COUNTER,
		       "KVM_RUN returns to QEMU by KVM_EXIT_* reason"},
    [MF_QEMU_EXIT_DURATION] = {"vexitprof_qemu_exit_duration_seconds", MT_HISTOGRAM,
			       "KVM_RUN return to the next KVM_RUN, QEMU's handling (--timing)"},
    [MF_INTERRUPTS] = {"vexitprof_interrupts_injected", MT_COUNTER,
		       "Interrupts injected into the guest, by the event that saw them"},
    [MF_E1000_TX_FRAMES] = {"vexitprof_e1000_tx_frames", MT_COUNTER,
			    "Frames the e1000 sent (QEMU's e1000_tx_batch probe); estimated when "
			    "vexitprof_usdt_duty_ratio < 1"},
    [MF_E1000_TX_BATCHES] = {"vexitprof_e1000_tx_batches", MT_COUNTER,
			     "TX batches: one per TDT write that found descriptors to send"},
    [MF_E1000_TX_DESCRIPTORS] = {"vexitprof_e1000_tx_descriptors", MT_COUNTER,
				 "TX descriptors the e1000 processed"},
    [MF_E1000_RX_FRAMES] = {"vexitprof_e1000_rx_frames", MT_COUNTER,
			    "Frames the e1000 received into guest memory; estimated when "
			    "vexitprof_usdt_duty_ratio < 1"},
    [MF_E1000_RX_BYTES] = {"vexitprof_e1000_rx_bytes", MT_COUNTER,
			   "Bytes the e1000 received into guest memory"},
    [MF_PROBE_EVENTS] = {"vexitprof_probe_events", MT_COUNTER,
			 "Events vexitprof's probes handled for this VM (kind: kernel or usdt)"},
    [MF_PROBE_OVERHEAD] = {"vexitprof_probe_overhead_seconds", MT_COUNTER,
			   "Estimated time the USDT probes' traps cost QEMU (events x calibrated "
			   "trap; BPF run time not included)"},
    [MF_DROPPED] = {"vexitprof_dropped_events", MT_COUNTER,
		    "Events whose aggregate could not be stored (a BPF map was full)"},
    [MF_UNPAIRED] = {"vexitprof_unpaired_events", MT_COUNTER,
		     "kvm_exit without kvm_entry or the reverse (not timed)"},
    [MF_USDT_DUTY_RATIO] =
	{"vexitprof_usdt_duty_ratio", MT_GAUGE,
	 "Fraction of the time QEMU's USDT probes were attached (1: --exact). Below "
	 "1, the counts they make (device accesses, e1000 frames) are estimates: "
	 "the windows' counts, and between windows QEMU's CPU time times the last "
	 "window's counts per CPU second"},
    [MF_USDT_WINDOWS] = {"vexitprof_usdt_windows", MT_COUNTER,
			 "Sampling windows the USDT probes were attached for (0: --exact)"},
    [MF_USDT_RELATIVE_ERROR] =
	{"vexitprof_usdt_relative_error", MT_GAUGE,
	 "Estimated relative standard error of the increase of the "
	 "extrapolated counts over the last 10 windows, from the "
	 "window-to-window spread of their counts per CPU second (0: --exact)"},
    [MF_USDT_HIT_COST] = {"vexitprof_usdt_hit_cost_seconds", MT_GAUGE,
			  "What one USDT probe hit (a uprobe trap) costs, measured on the "
			  "daemon's own function at start and every 10 s since; not taken out of "
			  "the sampling windows' CPU time (a hit costs QEMU less; sampled "
			  "counting only)"},
    [MF_USDT_EXTRAPOLATED_CPU] = {"vexitprof_usdt_extrapolated_cpu_seconds", MT_COUNTER,
				  "QEMU CPU time outside the sampling windows that the estimates "
				  "were extrapolated over, at each window's counts per CPU second "
				  "(sampled counting only)"},
    [MF_USDT_TRAP_SHARE] =
	{"vexitprof_usdt_trap_share", MT_GAUGE,
	 "Share of QEMU's CPU time in the last 10 sampling windows that the probes' "
	 "traps took (hits x vexitprof_usdt_hit_cost_seconds).  QEMU runs slower "
	 "while traced, so the estimates lean low by up to this share: the true "
	 "count lies between an estimate and estimate / (1 - share), give or take "
	 "the relative error (sampled counting only)"},
    [MF_VM_INFO] = {"vexitprof_vm_info", MT_GAUGE, "A VM vexitprof is attached to (value 1)"},
    [MF_SERIES] = {"vexitprof_series", MT_GAUGE, "Series exposed for this VM"},
    [MF_SERIES_LIMIT] = {"vexitprof_series_limit", MT_GAUGE,
			 "Cap on series per VM (--max-series); registers past it count in "
			 "register=\"other\""},
    [MF_REGISTERS_FOLDED] = {"vexitprof_registers_folded", MT_GAUGE,
			     "Registers counted in register=\"other\" because of --max-registers "
			     "or --max-series"},
};

static const char *const type_name[] = {"counter", "gauge", "histogram"};
static const char *const sfx_name[] = {"", "_bucket", "_sum", "_count"};

static void value(FILE *f, double v)
{
	if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.15g", v);
}

/* t: the sample's time (Unix s; 0: none): milliseconds in text 0.0.4, seconds in OpenMetrics */
static void sample(FILE *f, const struct metric_sample *s, const char *name, bool counter, double t,
		   bool om)
{
	fprintf(f, "%s%s%s{%s} ", name, counter ? "_total" : "", sfx_name[s->sfx], s->labels);
	value(f, s->value);
	if (t > 0 && om)
		fprintf(f, " %.3f", t);
	else if (t > 0)
		fprintf(f, " %.0f", t * 1e3);
	fputc('\n', f);
}

static void header(FILE *f, int fam, bool om)
{
	/* text 0.0.4 names a counter by its sample name, OpenMetrics by its family */
	const char *tot = !om && fams[fam].type == MT_COUNTER ? "_total" : "";

	fprintf(f, "# HELP %s%s %s\n", fams[fam].name, tot, fams[fam].help);
	fprintf(f, "# TYPE %s%s %s\n", fams[fam].name, tot, type_name[fams[fam].type]);
}

char *metrics_render(struct metrics_vm *const *vms, size_t n, const struct metrics_daemon *d,
		     bool om, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	for (int fam = 0; fam < MF_NR; fam++) {
		bool any = false;

		for (size_t v = 0; v < n; v++) {
			size_t ns;
			const struct metric_sample *s = metrics_vm_samples(vms[v], &ns);

			for (size_t i = 0; i < ns; i++) {
				if ((int)s[i].fam != fam)
					continue;
				if (!any)
					header(f, fam, om);
				any = true;
				sample(f, &s[i], fams[fam].name, fams[fam].type == MT_COUNTER,
				       d->timestamps ? metrics_vm_time(vms[v]) : 0, om);
			}
		}
	}
	fprintf(f,
		"# HELP vexitprof_vms QEMU processes vexitprof is attached to\n"
		"# TYPE vexitprof_vms gauge\nvexitprof_vms %d\n",
		d->vms);
	fprintf(f,
		"# HELP vexitprof_attach_failures%s QEMU processes vexitprof could not attach to\n",
		om ? "" : "_total");
	fprintf(f, "# TYPE vexitprof_attach_failures%s counter\n", om ? "" : "_total");
	fprintf(f, "vexitprof_attach_failures_total %llu\n", d->attach_failures);
	fprintf(f,
		"# HELP vexitprof_daemon_cpu_seconds%s CPU time the daemon used (user + system)\n",
		om ? "" : "_total");
	fprintf(f, "# TYPE vexitprof_daemon_cpu_seconds%s counter\n", om ? "" : "_total");
	fprintf(f, "vexitprof_daemon_cpu_seconds_total ");
	value(f, d->cpu_seconds);
	fputc('\n', f);
	if (om)
		fputs("# EOF\n", f);
	if (fclose(f) || !buf) {
		free(buf);
		return NULL;
	}
	return buf;
}
