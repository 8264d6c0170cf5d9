// SPDX-License-Identifier: GPL-2.0
/*
 * --on-cpu's renderers: the table's "QEMU on-CPU" section, the JSON "on_cpu"
 * member (JSON.md), and the folded lines (--folded, --flamegraph).  Shares
 * are of all the samples of QEMU's threads; CPU time is samples x the
 * sampling period.
 */
#include <stdio.h>
#include <string.h>
#include "oncpu.h"
#include "report.h"

#define TOP_FUNCTIONS 15
#define TOP_CONTEXTS  12

static double pct(unsigned long long n, unsigned long long of)
{
	return of ? 100.0 * n / of : 0;
}

/*
 * The bytes of "per GB" and where they come from: the taps QEMU holds open
 * (oncpu_taps.c: every frame its tap netdevs moved, both ways), else the
 * e1000's received bytes when it sent nothing (its probes count received
 * bytes only; e1000_tx_batch has no byte count).  0: unknown.
 */
static unsigned long long known_bytes(const struct vp_report *r, char *from, size_t len)
{
	const unsigned long long *c = r->cnt.c;

	if (r->oncpu->taps) {
		snprintf(from, len, "tap %s", r->oncpu->taps);
		return r->oncpu->tap_bytes;
	}
	snprintf(from, len, "e1000-rx");
	if (!r->e1000_usdt || c[VP_C_E1000_TX_FRAMES] || !c[VP_C_E1000_RX_FRAMES])
		return 0;
	return c[VP_C_E1000_RX_BYTES];
}

void oncpu_table(FILE *f, const struct vp_report *r)
{
	const struct vp_oncpu *o = r->oncpu;
	unsigned long long pk = report_packets(r), by;
	char from[160];
	double cpu_s;

	if (!o)
		return;
	by = known_bytes(r, from, sizeof(from));
	cpu_s = o->samples * o->ns_per_sample / 1e9;
	fprintf(f,
		"\nQEMU on-CPU (%d Hz per CPU, %.0f ns per sample): %llu samples = %.3f s of CPU "
		"in %.1f s, %llu dropped\n",
		o->hz, o->ns_per_sample, o->samples, cpu_s, r->duration_s, o->dropped);
	if (o->stripped_exe)
		fprintf(f, "  (%s has no symbol table: its frames are %s+0xoffset)\n",
			o->stripped_exe, o->stripped_exe);
	if (pk)
		fprintf(f, "  QEMU CPU time per packet: %.2f us (%llu packets)\n", cpu_s * 1e6 / pk,
			pk);
	if (by)
		fprintf(f, "  QEMU CPU time per GB: %.3f s (%llu bytes, %s)\n", cpu_s * 1e9 / by,
			by, from);
	else if (o->taps)
		fprintf(f, "  QEMU CPU time per GB: no bytes through %s\n", from);
	else if (pk)
		fprintf(f,
			"  QEMU CPU time per GB: unknown (no tap; the e1000 probes count received "
			"bytes only, and it sent %llu frames)\n",
			r->cnt.c[VP_C_E1000_TX_FRAMES]);
	if (!o->samples) {
		fprintf(f, "  no samples\n");
		return;
	}
	fprintf(f, "  %-40s %-22s %7s %7s\n", "function", "module", "self", "total");
	for (size_t i = 0; i < o->n_fns && i < TOP_FUNCTIONS; i++) {
		const struct vp_oncpu_fn *fn = &o->fns[i];

		if (!fn->self)
			break;
		fprintf(f, "  %-40.40s %-22.22s %6.2f%% %6.2f%%\n", fn->function, fn->module,
			pct(fn->self, o->samples), pct(fn->total, o->samples));
	}
	fprintf(f, "  %-52s %7s %s\n", "thread;reason;device;register", "share",
		"hottest functions (self)");
	for (size_t i = 0; i < o->n_ctxs && i < TOP_CONTEXTS; i++) {
		const struct vp_oncpu_ctx *c = &o->ctxs[i];

		fprintf(f, "  %-52.52s %6.2f%%", c->name, pct(c->samples, o->samples));
		for (int t = 0; t < VP_ONCPU_CTX_TOP && c->top[t]; t++)
			fprintf(f, "%s %s %.1f%%", t ? "," : "", c->top[t],
				pct(c->top_self[t], o->samples));
		fprintf(f, "\n");
	}
	if (o->n_ctxs > TOP_CONTEXTS)
		fprintf(f, "  ... %zu more contexts\n", o->n_ctxs - TOP_CONTEXTS);
}

void oncpu_json(FILE *f, const struct vp_report *r)
{
	const struct vp_oncpu *o = r->oncpu;
	unsigned long long pk = report_packets(r), by;
	char from[160];

	if (!o) {
		fprintf(f, "  \"on_cpu\": null,\n");
		return;
	}
	by = known_bytes(r, from, sizeof(from));
	fprintf(f,
		"  \"on_cpu\": {\"hz\": %d, \"samples\": %llu, \"dropped\": %llu, "
		"\"ns_per_sample\": %.1f, \"cpu_ns\": %.0f, \"stripped\": %s, \"module\": ",
		o->hz, o->samples, o->dropped, o->ns_per_sample, o->samples * o->ns_per_sample,
		o->stripped_exe ? "true" : "false");
	report_json_str(f, o->exe ? o->exe : "");
	if (pk)
		fprintf(f, ", \"ns_per_packet\": %.1f", o->samples * o->ns_per_sample / pk);
	else
		fprintf(f, ", \"ns_per_packet\": null");
	if (by) {
		fprintf(f, ", \"ns_per_gb\": %.0f, \"bytes\": %llu, \"bytes_from\": ",
			o->samples * o->ns_per_sample * 1e9 / by, by);
		report_json_str(f, from);
	} else {
		fprintf(f, ", \"ns_per_gb\": null, \"bytes\": null, \"bytes_from\": null");
	}
	fprintf(f, ",\n    \"functions\": [");
	for (size_t i = 0; i < o->n_fns; i++) {
		fprintf(f, "%s\n      {\"function\": ", i ? "," : "");
		report_json_str(f, o->fns[i].function);
		fprintf(f, ", \"module\": ");
		report_json_str(f, o->fns[i].module);
		fprintf(f, ", \"self\": %llu, \"total\": %llu}", o->fns[i].self, o->fns[i].total);
	}
	fprintf(f, "],\n    \"contexts\": [");
	for (size_t i = 0; i < o->n_ctxs; i++) {
		const struct vp_oncpu_ctx *c = &o->ctxs[i];

		fprintf(f, "%s\n      {\"context\": ", i ? "," : "");
		report_json_str(f, c->name);
		fprintf(f, ", \"samples\": %llu, \"top\": [", c->samples);
		for (int t = 0; t < VP_ONCPU_CTX_TOP && c->top[t]; t++) {
			fprintf(f, "%s{\"function\": ", t ? ", " : "");
			report_json_str(f, c->top[t]);
			fprintf(f, ", \"self\": %llu}", c->top_self[t]);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "],\n    \"stacks\": [");
	for (size_t i = 0; i < o->n_stacks; i++) {
		fprintf(f, "%s\n      {\"stack\": ", i ? "," : "");
		report_json_str(f, o->stacks[i].line);
		fprintf(f, ", \"samples\": %llu}", o->stacks[i].samples);
	}
	fprintf(f, "]},\n");
}

void oncpu_folded(FILE *f, const struct vp_report *r)
{
	const struct vp_oncpu *o = r->oncpu;

	for (size_t i = 0; o && i < o->n_stacks; i++)
		fprintf(f, "%s %llu\n", o->stacks[i].line, o->stacks[i].samples);
}
