// SPDX-License-Identifier: GPL-2.0
/*
 * --json: one object, schema "vexitprof/2" (profiler/JSON.md,
 * profiler/json-schema.json).  Fields are only ever added within a schema
 * version; renaming or removing one bumps it.
 */
#include <stdio.h>
#include <stdlib.h>
#include "report.h"
#include "oncpu.h"
#include "exit_reasons.h"
#include "hist.h"

static void jvcpu(FILE *f, int vcpu)
{
	char b[16];

	fprintf(f, "\"vcpu\": %s", vcpu_label(vcpu, VP_VCPU_JSON, b, sizeof(b)));
}

static double rate(const struct vp_report *r, unsigned long long n)
{
	return r->duration_s > 0 ? n / r->duration_s : 0;
}

static double share(const struct vp_report *r, unsigned long long ns)
{
	int n = r->per_vcpu ? 1 : (r->nr_vcpus > 0 ? r->nr_vcpus : 1);

	return r->duration_s > 0 ? ns / (r->duration_s * 1e9 * n) : 0;
}

static void jhist(FILE *f, const __u64 *h)
{
	int first = 1;

	fprintf(f, "[");
	for (int i = 0; i < VP_HIST_SLOTS; i++) {
		if (!h[i])
			continue;
		fprintf(f, "%s{\"lo_ns\": %llu, \"hi_ns\": %llu, \"count\": %llu}",
			first ? "" : ", ", hist_slot_lo(i), hist_slot_hi(i),
			(unsigned long long)h[i]);
		first = 0;
	}
	fprintf(f, "]");
}

/* a number, or null when it is not known */
static void jnum(FILE *f, bool known, unsigned long long v)
{
	if (known)
		fprintf(f, "%llu", v);
	else
		fprintf(f, "null");
}

/* a row's start, up to its vCPU; i: its index in the array */
static void jrow(FILE *f, size_t i, int vcpu)
{
	fprintf(f, "%s\n    {", i ? "," : "");
	jvcpu(f, vcpu);
}

static void jcount(FILE *f, const struct vp_report *r, unsigned int code, unsigned long long count,
		   unsigned long long timed)
{
	fprintf(f, ", \"code\": %u, \"count\": %llu, \"rate\": %.3f, \"timed\": %llu, ", code,
		count, rate(r, count), timed);
}

/* a row's time: ns over its timed events, and their histogram (ends the row) */
static void jtime(FILE *f, const struct vp_report *r, unsigned long long ns,
		  unsigned long long timed, const __u64 *hist)
{
	fprintf(
	    f, "\"share\": %.6f, \"mean_ns\": %.1f, \"p50_ns\": %.1f, \"p99_ns\": %.1f, \"hist\": ",
	    share(r, ns), timed ? (double)ns / timed : 0.0,
	    hist_percentile(hist, VP_HIST_SLOTS, 50), hist_percentile(hist, VP_HIST_SLOTS, 99));
	jhist(f, hist);
	fprintf(f, "}");
}

/* One begin/end pair's rows, as the ops table (report.h) describes the kind. */
static void exits_json(FILE *f, const struct vp_report *r, enum vp_exit_kind kind)
{
	const struct vp_exit_ops *op = &vp_exit_ops[kind];
	const struct vp_exit_rows *ex = &r->ex[kind];
	char b[32];

	fprintf(f, "  \"%s\": [", op->json_key);
	for (size_t i = 0; i < ex->n; i++) {
		const struct vp_exit_row *e = &ex->rows[i];

		jrow(f, i, e->vcpu);
		if (op->has_isa)
			fprintf(f, ", \"isa\": \"%s\"", isa_name(e->isa));
		fprintf(f, ", \"reason\": ");
		report_json_str(f, op->reason_name(e, b, sizeof(b)));
		jcount(f, r, e->reason, e->count, e->timed);
		fprintf(f, "\"%s\": %llu, ", op->json_ns_key, e->ns);
		if (op->has_user)
			fprintf(f, "\"user_ns\": %llu, ", e->user_ns);
		jtime(f, r, e->ns, e->timed, e->hist);
	}
	fprintf(f, "%s],\n", ex->n ? "\n  " : "");
}

static void devs_json(FILE *f, const struct vp_report *r)
{
	fprintf(f, "  \"accesses\": [");
	for (size_t i = 0; i < r->n_devs; i++) {
		const struct vp_dev_row *d = &r->devs[i];

		jrow(f, i, d->vcpu);
		fprintf(f, ", \"device\": ");
		report_json_str(f, d->device);
		fprintf(f, ", \"register\": ");
		report_json_str(f, d->reg);
		fprintf(f, ", \"dir\": \"%s\", \"space\": \"%s\", \"addr\": ", dir_name(d->dir),
			d->space == VP_PIO ? "pio" : "mmio");
		jnum(f, d->addr_known, d->addr);
		fprintf(f, ", \"offset\": ");
		jnum(f, d->offset_known, d->offset);
		fprintf(f, ", \"size\": %llu, \"count\": %llu, \"rate\": %.3f", d->size, d->count,
			rate(r, d->count));
		if (r->kvm_accesses) {
			fprintf(f,
				", \"guest_accesses\": %llu, \"exits\": %llu, \"in_kernel\": %llu, "
				"\"user_ns\": %llu, \"kernel_ns\": ",
				d->kcount, d->exits, d->kcount - d->exits, d->user_ns);
			/* kernel time needs kvm_exit/kvm_entry, which PVM hosts do not fire */
			jnum(f, d->ktimed, d->kernel_ns);
		} else
			fprintf(f,
				", \"guest_accesses\": null, \"exits\": null, \"in_kernel\": null, "
				"\"user_ns\": null, \"kernel_ns\": null");
		fprintf(f, ", \"qemu_ops\": %llu, \"folded\": %s}", d->qemu_ops,
			d->folded ? "true" : "false");
	}
	fprintf(f, "%s],\n", r->n_devs ? "\n  " : "");
}

static void e1000_json(FILE *f, const struct vp_report *r)
{
	const unsigned long long *c = r->cnt.c;
	unsigned long long pk = report_packets(r);
	int first = 1;

	fprintf(f, "  \"e1000\": ");
	if (!r->e1000_usdt) {
		fprintf(f, "null,\n");
		return;
	}
	fprintf(
	    f,
	    "{\"tx_batches\": %llu, \"tx_descriptors\": %llu, \"tx_frames\": %llu, "
	    "\"rx_frames\": %llu, \"rx_bytes\": %llu, \"irq_raise\": %llu, \"irq_lower\": %llu, "
	    "\"per_packet\": ",
	    c[VP_C_E1000_TX_BATCHES], c[VP_C_E1000_TX_DESCS], c[VP_C_E1000_TX_FRAMES],
	    c[VP_C_E1000_RX_FRAMES], c[VP_C_E1000_RX_BYTES], c[VP_C_E1000_IRQ_RAISE],
	    c[VP_C_E1000_IRQ_LOWER]);
	if (pk)
		fprintf(f, "{\"exits\": %.6f, \"mmio\": %.6f, \"interrupts\": %.6f}",
			(double)report_total_exits(r) / pk,
			(double)report_device_accesses(r, "e1000-mmio") / pk,
			(double)report_interrupts(r) / pk);
	else
		fprintf(f, "null");
	fprintf(f, ", \"tx_batch_hist\": [");
	for (int i = 0; i < VP_TXB_SLOTS; i++) {
		if (!r->txb[i])
			continue;
		fprintf(f, "%s{\"frames\": %d, \"ge\": %s, \"count\": %llu}", first ? "" : ", ", i,
			i == VP_TXB_SLOTS - 1 ? "true" : "false", r->txb[i]);
		first = 0;
	}
	fprintf(f, "]},\n");
}

static void cost_json(FILE *f, const struct vp_report *r)
{
	const struct vp_cost *c = &r->cost;
	size_t n = 0;

	fprintf(f,
		"  \"interrupts\": {\"kvm_set_irq\": %llu, \"kvm_msi_set_irq\": %llu, "
		"\"kvm_inj_virq\": %llu},\n",
		r->cnt.c[VP_C_SET_IRQ], r->cnt.c[VP_C_MSI_SET_IRQ], r->cnt.c[VP_C_INJ_VIRQ]);
	fprintf(f,
		"  \"cost\": {\"events_kernel\": %llu, \"events_usdt\": %llu, \"bpf_stats\": %s, "
		"\"bpf_run_cnt\": %llu, \"bpf_run_ns\": %llu, \"uprobe_trap_ns\": %.1f, "
		"\"estimated_ns\": %.0f, \"share\": %.6f, \"programs\": [",
		c->events_kernel, c->events_usdt, c->stats ? "true" : "false", c->bpf_run_cnt,
		c->bpf_run_ns, c->trap_ns, c->est_ns, share(r, (unsigned long long)c->est_ns));
	for (int i = 0; i < c->nprogs; i++)
		fprintf(f, "%s{\"name\": \"%s\", \"run_cnt\": %llu, \"run_time_ns\": %llu}",
			i ? ", " : "", c->progs[i].name, c->progs[i].run_cnt,
			c->progs[i].run_time_ns);
	fprintf(f, "]},\n");
	fprintf(
	    f,
	    "  \"lost\": {\"dropped\": %llu, \"unpaired\": %llu, \"folded\": %llu, \"detail\": [",
	    r->cnt.c[VP_C_DROPPED], r->cnt.c[VP_C_UNPAIRED], report_folded_accesses(r));
	const struct vp_dev_row *d;
	unsigned long long total;
	size_t kept;

	for (size_t i = 0; report_next_fold(r, &i, &d, &total, &kept); i++) {
		jrow(f, n++, d->vcpu);
		fprintf(f, ", \"device\": ");
		report_json_str(f, d->device);
		fprintf(f,
			", \"dir\": \"%s\", \"space\": \"%s\", \"folded\": %llu, \"total\": %llu, "
			"\"rows_kept\": %zu, \"cap\": ",
			dir_name(d->dir), d->space == VP_PIO ? "pio" : "mmio", d->count, total,
			kept);
		jnum(f, d->fold_cap, d->fold_cap);
		fprintf(f, ", \"cap_per\": \"%s\", \"map_full\": %s}",
			d->fold_cap_page ? "page" : "region", d->fold_full ? "true" : "false");
	}
	fprintf(f, "%s]}\n", n ? "\n  " : "");
}

/* attribute.c's folded stacks as --folded spells them (vexitprof diff draws from them) */
static void stacks_json(FILE *f, const struct vp_report *r)
{
	size_t n = 0;

	fprintf(f, "  \"stacks\": {\"unit\": \"%s\", \"folded\": [",
		r->stacks_time ? "ns" : "dispatches");
	for (size_t i = 0; i < r->n_stacks; i++) {
		char *line = report_stack_line(&r->stacks[i]);

		if (!line)
			continue;
		fprintf(f, "%s\n    {\"stack\": ", n++ ? "," : "");
		report_json_str(f, line);
		fprintf(f, ", \"weight\": %llu}", r->stacks[i].weight);
		free(line);
	}
	fprintf(f, "%s]},\n", n ? "\n  " : "");
}

void report_json(FILE *f, const struct vp_report *r)
{
	fprintf(f, "{\n  \"schema\": \"vexitprof/2\",\n  \"pid\": %d,\n  \"qemu\": ", r->pid);
	report_json_str(f, r->exe);
	fprintf(f,
		",\n  \"duration_s\": %.6f,\n  \"vcpus\": %d,\n  \"per_vcpu\": %s,\n"
		"  \"usdt\": %s,\n  \"e1000_usdt\": %s,\n  \"exit_tracepoints\": %s,\n"
		"  \"kvm_run_hook\": \"%s\",\n"
		"  \"source\": \"%s\",\n  \"qemu_exited\": %s,\n",
		r->duration_s, r->nr_vcpus, r->per_vcpu ? "true" : "false",
		r->usdt ? "true" : "false", r->e1000_usdt ? "true" : "false",
		r->exit_tp ? "true" : "false", run_hook_name(r->run_hook),
		r->kvm_accesses ? "kvm" : "usdt", r->qemu_exited ? "true" : "false");
	for (int k = 0; k < VP_EXIT_KINDS; k++)
		exits_json(f, r, k);
	devs_json(f, r);
	stacks_json(f, r);
	e1000_json(f, r);
	oncpu_json(f, r);
	cost_json(f, r);
	fprintf(f, "}\n");
}
