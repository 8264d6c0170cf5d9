// SPDX-License-Identifier: GPL-2.0
/* The row model's vocabulary and sums: labels, totals, the "+other" rows' context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

const char *vcpu_label(int vcpu, enum vp_vcpu_style style, char *buf, size_t len)
{
	static const struct {
		const char *all, *none, *fmt;
	} st[] = {
	    [VP_VCPU_TABLE] = {"all", "-", "%d"},
	    [VP_VCPU_FOLDED] = {"all", "other", "vcpu%d"},
	    [VP_VCPU_JSON] = {"null", "null", "%d"},
	};

	if (vcpu == VP_ALL_VCPUS)
		return st[style].all;
	if (vcpu < 0)
		return st[style].none;
	snprintf(buf, len, st[style].fmt, vcpu);
	return buf;
}

const char *dir_name(unsigned int dir)
{
	return dir == VP_WRITE ? "write" : "read";
}

/* Next to report_free: the one place that knows which members a report owns. */
void report_copy_header(struct vp_report *dst, const struct vp_report *src)
{
	*dst = *src;
	memset(dst->ex, 0, sizeof(dst->ex));
	dst->devs = NULL;
	dst->stacks = NULL;
	dst->cpu = NULL;
	dst->n_devs = dst->n_stacks = dst->n_cpu = 0;
}

void report_free(struct vp_report *r)
{
	for (int k = 0; k < VP_EXIT_KINDS; k++) {
		free(r->ex[k].rows);
		r->ex[k].rows = NULL;
		r->ex[k].n = 0;
	}
	free(r->devs);
	free(r->stacks);
	free(r->cpu);
	r->devs = NULL;
	r->stacks = NULL;
	r->cpu = NULL;
	r->n_devs = r->n_stacks = r->n_cpu = 0;
}

unsigned long long report_interrupts(const struct vp_report *r)
{
	/* injections into the guest are what the guest sees; QEMU-side raises when KVM does not say
	 */
	unsigned long long k = r->cnt.c[VP_C_INJ_VIRQ];

	if (!k)
		k = r->cnt.c[VP_C_SET_IRQ] + r->cnt.c[VP_C_MSI_SET_IRQ];
	if (!k)
		k = r->cnt.c[VP_C_E1000_IRQ_RAISE];
	return k;
}

unsigned long long report_packets(const struct vp_report *r)
{
	return r->cnt.c[VP_C_E1000_TX_FRAMES] + r->cnt.c[VP_C_E1000_RX_FRAMES];
}

unsigned long long report_device_accesses(const struct vp_report *r, const char *device)
{
	unsigned long long n = 0;

	for (size_t i = 0; i < r->n_devs; i++)
		if (!device || !strcmp(r->devs[i].device, device))
			n += r->devs[i].count;
	return n;
}

unsigned long long report_total_exits(const struct vp_report *r)
{
	const struct vp_exit_rows *k = &r->ex[VP_EXIT_KERNEL], *q = &r->ex[VP_EXIT_QEMU];
	unsigned long long n = 0;

	if (k->n) {
		for (size_t i = 0; i < k->n; i++)
			n += k->rows[i].count;
		return n;
	}
	/* without kvm_exit (PVM), exits to QEMU are the exits we can see */
	for (size_t i = 0; i < q->n; i++)
		n += q->rows[i].count;
	return n;
}

unsigned long long report_folded_accesses(const struct vp_report *r)
{
	unsigned long long n = 0;

	for (size_t i = 0; i < r->n_devs; i++)
		if (r->devs[i].folded)
			n += r->devs[i].count;
	return n;
}

bool report_next_fold(const struct vp_report *r, size_t *i, const struct vp_dev_row **fold,
		      unsigned long long *total, size_t *kept)
{
	for (; *i < r->n_devs && !r->devs[*i].folded; (*i)++)
		;
	if (*i >= r->n_devs)
		return false;
	*fold = &r->devs[*i];
	*total = 0;
	*kept = 0;
	for (size_t j = 0; j < r->n_devs; j++) {
		const struct vp_dev_row *d = &r->devs[j];

		if (d->vcpu != (*fold)->vcpu || d->dir != (*fold)->dir ||
		    strcmp(d->device, (*fold)->device))
			continue;
		*total += d->count;
		if (!d->folded)
			(*kept)++;
	}
	return true;
}

void report_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}
