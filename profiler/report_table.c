// SPDX-License-Identifier: GPL-2.0
/* The default human-readable report, laid out like `perf kvm stat report`. */
#include <stdio.h>
#include <string.h>
#include "report.h"
#include "oncpu.h"
#include "exit_reasons.h"
#include "hist.h"

static double vcpu_ns(const struct vp_report *r)
{
	int n = r->per_vcpu ? 1 : (r->nr_vcpus > 0 ? r->nr_vcpus : 1);

	return r->duration_s * 1e9 * n;
}

static double rate(const struct vp_report *r, unsigned long long n)
{
	return r->duration_s > 0 ? n / r->duration_s : 0;
}

static void vcol(FILE *f, const struct vp_report *r, int vcpu)
{
	char b[16];

	if (r->per_vcpu)
		fprintf(f, "%-5s ", vcpu_label(vcpu, VP_VCPU_TABLE, b, sizeof(b)));
}

/* One begin/end pair's rows (report.h's ops table says how the kinds differ). */
static void exits_table(FILE *f, const struct vp_report *r, enum vp_exit_kind kind, bool hist)
{
	const struct vp_exit_ops *op = &vp_exit_ops[kind];
	const struct vp_exit_rows *ex = &r->ex[kind];
	char b[32], label[64];

	fprintf(f, "\n%s\n", op->title(r));
	if (!ex->n) {
		fprintf(f, "  %s\n", op->none(r));
		return;
	}
	if (r->per_vcpu)
		fprintf(f, "%-5s ", "VCPU");
	/* the reason's column is 29 wide, with or without an ISA in front */
	if (op->has_isa)
		snprintf(label, sizeof(label), "%-4s %-24s", "ISA", "REASON");
	else
		snprintf(label, sizeof(label), "%s", "REASON");
	fprintf(f, "%-29s %10s %10s %10s %6s %9s %9s %9s", label, "COUNT", "RATE/s",
		op->table_ns_col, "SHARE", "MEAN(us)", "P50(us)", "P99(us)");
	fprintf(f, op->has_user ? " %10s\n" : "\n", "QEMU(ms)");
	for (size_t i = 0; i < ex->n; i++) {
		const struct vp_exit_row *e = &ex->rows[i];
		double mean = e->timed ? (double)e->ns / e->timed : 0;
		const char *reason = op->reason_name(e, b, sizeof(b));

		vcol(f, r, e->vcpu);
		if (op->has_isa)
			snprintf(label, sizeof(label), "%-4s %-24s", isa_name(e->isa), reason);
		else
			snprintf(label, sizeof(label), "%s", reason);
		fprintf(f, "%-29s %10llu %10.0f %10.3f %5.1f%% %9.2f %9.2f %9.2f", label,
			(unsigned long long)e->count, rate(r, e->count), e->ns / 1e6,
			100.0 * e->ns / vcpu_ns(r), mean / 1e3,
			hist_percentile(e->hist, VP_HIST_SLOTS, 50) / 1e3,
			hist_percentile(e->hist, VP_HIST_SLOTS, 99) / 1e3);
		if (op->has_user)
			fprintf(f, " %10.3f", e->user_ns / 1e6);
		fprintf(f, "\n");
		if (hist)
			hist_print(f, e->hist, VP_HIST_SLOTS, "ns", "      ");
	}
}

/*
 * Default table: per vCPU group, the busiest rows until they cover
 * VP_TABLE_COVER of the accesses, at least VP_TABLE_MIN rows and at most
 * VP_TABLE_MAX; the rest (say, the hundreds of MTA[n]/VFTA[n] a driver
 * reset writes once each) are summed up in one line.  --all lists every row,
 * and --json always has them all.
 */
#define VP_TABLE_COVER 0.999
#define VP_TABLE_MIN   10
#define VP_TABLE_MAX   25

static unsigned long long dev_weight(const struct vp_dev_row *d, bool by_ops)
{
	return by_ops ? d->qemu_ops : d->count;
}

static void dev_row_print(FILE *f, const struct vp_report *r, const struct vp_dev_row *d)
{
	char tq[24] = "-", ik[24] = "-", kt[24] = "-", ut[24] = "-";

	if (r->kvm_accesses) {
		snprintf(tq, sizeof(tq), "%llu", d->exits);
		snprintf(ik, sizeof(ik), "%llu", d->kcount - d->exits);
		snprintf(ut, sizeof(ut), "%.3f", d->user_ns / 1e6);
		if (d->ktimed)
			snprintf(kt, sizeof(kt), "%.3f", d->kernel_ns / 1e6);
	}
	vcol(f, r, d->vcpu);
	fprintf(f, "%-16s %-16s %-5s %10llu %10.0f %9s %9s %10s %10s %10llu\n", d->device, d->reg,
		dir_name(d->dir), d->count, rate(r, d->count), tq, ik, kt, ut, d->qemu_ops);
}

static void dev_table(FILE *f, const struct vp_report *r, bool all)
{
	char b[16];

	fprintf(f, "\nDevice accesses (%s)\n",
		r->kvm_accesses ? "guest MMIO/PIO seen by KVM; QEMU-OPS: memory_region_ops USDT"
				: "memory_region_ops USDT: QEMU's dispatches");
	if (!r->n_devs) {
		fprintf(f, "  none seen\n");
		return;
	}
	if (r->per_vcpu)
		fprintf(f, "%-5s ", "VCPU");
	fprintf(f, "%-16s %-16s %-5s %10s %10s %9s %9s %10s %10s %10s\n", "DEVICE", "REGISTER",
		"R/W", "COUNT", "RATE/s", "TO-QEMU", "IN-KERNEL", "KERN(ms)", "QEMU(ms)",
		"QEMU-OPS");
	/* rows are sorted by vCPU, then count: fold each vCPU's tail */
	for (size_t g = 0, end; g < r->n_devs; g = end) {
		unsigned long long total = 0, cum = 0, fold_n = 0, fold_w = 0;
		bool by_ops = false;
		size_t shown = 0;

		for (end = g; end < r->n_devs && r->devs[end].vcpu == r->devs[g].vcpu; end++)
			total += r->devs[end].count;
		if (!total) {
			/* nothing the kernel saw: weigh by QEMU's dispatches */
			by_ops = true;
			for (size_t i = g; i < end; i++)
				total += r->devs[i].qemu_ops;
		}
		for (size_t i = g; i < end; i++) {
			const struct vp_dev_row *d = &r->devs[i];
			unsigned long long w = dev_weight(d, by_ops);

			if (all || shown < VP_TABLE_MIN ||
			    (shown < VP_TABLE_MAX && cum < VP_TABLE_COVER * total)) {
				dev_row_print(f, r, d);
				shown++;
			} else {
				fold_n++;
				fold_w += w;
			}
			cum += w;
		}
		if (!fold_n)
			continue;
		if (r->per_vcpu)
			fprintf(f, "%-5s ",
				vcpu_label(r->devs[g].vcpu, VP_VCPU_TABLE, b, sizeof(b)));
		fprintf(f, "... %llu more row%s with %llu %s (%.2f%%); --all lists them\n", fold_n,
			fold_n == 1 ? "" : "s", fold_w, by_ops ? "QEMU dispatches" : "accesses",
			total ? 100.0 * fold_w / total : 0);
	}
}

/*
 * Which devices lost per-offset detail, and how much: their "+other" rows
 * may sit in the folded tail of the table above, so they are listed here.
 */
static void fold_section(FILE *f, const struct vp_report *r)
{
	bool head = false;

	const struct vp_dev_row *d;
	unsigned long long total;
	size_t kept;

	for (size_t i = 0; report_next_fold(r, &i, &d, &total, &kept); i++) {
		if (!head)
			fprintf(f,
				"\nDetail folded (accesses whose offset has no row of its own are "
				"counted in the device's +other row; totals stay exact)\n");
		head = true;
		fprintf(f, "  ");
		vcol(f, r, d->vcpu);
		fprintf(f, "%s %s: %llu of %llu accesses in +other, %zu row%s kept", d->device,
			dir_name(d->dir), d->count, total, kept, kept == 1 ? "" : "s");
		if (d->fold_cap)
			fprintf(f, " (cap %u offsets per %s)", d->fold_cap,
				d->fold_cap_page ? "4 KiB page" : "region");
		if (d->fold_full)
			fprintf(f, "%s",
				d->fold_cap ? "; a BPF map was also full"
					    : " (a BPF map was full)");
		fprintf(f, "\n");
	}
}

static void e1000_section(FILE *f, const struct vp_report *r)
{
	const unsigned long long *c = r->cnt.c;
	unsigned long long pk = report_packets(r), b = c[VP_C_E1000_TX_BATCHES];
	unsigned long long max = 0;

	if (!r->e1000_usdt)
		return;
	fprintf(f,
		"\ne1000 (USDT): %llu TX frames in %llu batches (%llu descriptors), %llu RX "
		"frames; IRQ raised %llu, lowered %llu\n",
		c[VP_C_E1000_TX_FRAMES], b, c[VP_C_E1000_TX_DESCS], c[VP_C_E1000_RX_FRAMES],
		c[VP_C_E1000_IRQ_RAISE], c[VP_C_E1000_IRQ_LOWER]);
	if (!pk)
		return;
	fprintf(f, "  per packet: %.3f exits, %.3f e1000 MMIO, %.3f interrupts\n",
		(double)report_total_exits(r) / pk,
		(double)report_device_accesses(r, "e1000-mmio") / pk,
		(double)report_interrupts(r) / pk);
	if (!b)
		return;
	fprintf(f, "  TX batch size (frames per TDT-triggered batch):\n");
	for (int i = 0; i < VP_TXB_SLOTS; i++)
		if (r->txb[i] > max)
			max = r->txb[i];
	for (int i = 0; i < VP_TXB_SLOTS; i++) {
		char star[41];
		int w = max ? (int)(r->txb[i] * 40 / max) : 0;

		if (!r->txb[i])
			continue;
		memset(star, '*', w);
		star[w] = 0;
		fprintf(f, "    %3d%s : %-10llu |%-40s|\n", i, i == VP_TXB_SLOTS - 1 ? "+" : " ",
			r->txb[i], star);
	}
}

static void cost_section(FILE *f, const struct vp_report *r)
{
	const struct vp_cost *c = &r->cost;

	fprintf(f, "\nInterrupts: kvm_set_irq %llu, kvm_msi_set_irq %llu, kvm_inj_virq %llu\n",
		r->cnt.c[VP_C_SET_IRQ], r->cnt.c[VP_C_MSI_SET_IRQ], r->cnt.c[VP_C_INJ_VIRQ]);
	fprintf(f, "Tracing: %llu kernel events (KVM_RUN via %s), %llu USDT events; ",
		c->events_kernel,
		r->run_hook == VP_HOOK_FENTRY	 ? "fentry/fexit"
		: r->run_hook == VP_HOOK_KVM_FPU ? "kvm_fpu"
						 : "ioctl tracepoints",
		c->events_usdt);
	if (c->stats && c->bpf_run_cnt)
		fprintf(f, "BPF %.0f ns/run over %llu runs", (double)c->bpf_run_ns / c->bpf_run_cnt,
			c->bpf_run_cnt);
	else
		fprintf(f, "BPF run time not available");
	if (c->trap_ns > 0)
		fprintf(f, ", uprobe trap %.0f ns/USDT event", c->trap_ns);
	fprintf(f, "; cost about %.3f ms (%.3f%% of vCPU time)\n", c->est_ns / 1e6,
		r->duration_s > 0 ? 100.0 * c->est_ns / vcpu_ns(r) : 0);
	fprintf(f,
		"Lost: %llu (aggregate maps full), unpaired kvm_exit/kvm_entry %llu, "
		"folded into +other rows %llu (counted, offset not kept)\n",
		r->cnt.c[VP_C_DROPPED], r->cnt.c[VP_C_UNPAIRED], report_folded_accesses(r));
}

const char *run_hook_name(int hook)
{
	switch (hook) {
	case VP_HOOK_FENTRY:
		return "fentry";
	case VP_HOOK_KVM_FPU:
		return "kvm_fpu";
	case VP_HOOK_SYSCALLS:
		return "syscalls";
	default:
		return "none";
	}
}

void report_table(FILE *f, const struct vp_report *r, bool hist, bool all)
{
	fprintf(f, "vexitprof: QEMU pid %d (%s), %.2f s, %d vCPU%s, %s%s\n", r->pid, r->exe,
		r->duration_s, r->nr_vcpus, r->nr_vcpus == 1 ? "" : "s",
		r->usdt ? "kernel events + USDT" : "kernel events only",
		r->qemu_exited ? " (QEMU exited)" : "");
	for (int k = 0; k < VP_EXIT_KINDS; k++)
		exits_table(f, r, k, hist);
	dev_table(f, r, all);
	fold_section(f, r);
	e1000_section(f, r);
	oncpu_table(f, r);
	cost_section(f, r);
}
