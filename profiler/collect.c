// SPDX-License-Identifier: GPL-2.0
/*
 * Read the BPF maps back and turn addresses into device + register names.
 *
 * A guest address gets its MemoryRegion from, in order: the exact pairing the
 * BPF side learned (kvm_mmio/kvm_pio followed by memory_region_ops on the same
 * thread), the region base that pairing implies (base = gpa - offset, which
 * also names accesses KVM completed in the kernel and never showed QEMU),
 * QMP's `info mtree`, and otherwise the raw address.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "report.h"
#include "regnames.h"
#include "qmp.h"
#include "target.h"

struct gpa_ent {
	struct vp_gpa_key k;
	struct vp_gpa_val v;
};

struct name_ent {
	__u64 mr;
	struct vp_mr_name n;
	int space; /* -1 unknown */
};

struct ctx {
	struct vp_report *r;
	struct gpa_ent *gpa;
	size_t n_gpa;
	struct name_ent *names;
	size_t n_names;
	const struct vp_mtree *mt;
	int max_cpu_index;
	int acc_pages_fd;
};

const char *vcpu_label(int vcpu, char *buf, size_t len)
{
	if (vcpu == VP_ALL_VCPUS)
		return "all";
	if (vcpu < 0)
		return "-";
	snprintf(buf, len, "%d", vcpu);
	return buf;
}

const char *dir_name(unsigned int dir)
{
	return dir == VP_WRITE ? "write" : "read";
}

/* Iterate a hash map: cb(key, value, arg) for each entry. */
static int map_each(int fd, size_t ksz, size_t vsz, void (*cb)(const void *, const void *, void *),
		    void *arg)
{
	char key[64], next[64];
	void *val = calloc(1, vsz);
	void *prev = NULL;
	int err;

	if (!val)
		return -ENOMEM;
	while (!(err = bpf_map_get_next_key(fd, prev, next))) {
		if (!bpf_map_lookup_elem(fd, next, val))
			cb(next, val, arg);
		else if (errno != ENOENT) { /* ENOENT: deleted meanwhile; else a row is lost */
			err = -errno;
			break;
		}
		memcpy(key, next, ksz);
		prev = key;
	}
	free(val);
	return err == -ENOENT ? 0 : err;
}

struct slot_it {
	int vals_fd;
	int err; /* a value lookup failed: its row would be missing */
	void *val;
	void (*cb)(const void *, const void *, void *);
	void *arg;
};

static void slot_cb(const void *k, const void *v, void *arg)
{
	struct slot_it *it = arg;

	if (!bpf_map_lookup_elem(it->vals_fd, v, it->val))
		it->cb(k, it->val, it->arg);
	else if (!it->err)
		it->err = -errno;
}

/* Aggregates: key -> slot in the "*_idx" hash, value in the "*_vals" array. */
static int slot_each(struct bpf_map *idx, struct bpf_map *vals,
		     void (*cb)(const void *, const void *, void *), void *arg)
{
	struct slot_it it = {.vals_fd = bpf_map__fd(vals), .cb = cb, .arg = arg};
	int err;

	it.val = calloc(1, bpf_map__value_size(vals));
	if (!it.val)
		return -ENOMEM;
	err = map_each(bpf_map__fd(idx), bpf_map__key_size(idx), sizeof(__u32), slot_cb, &it);
	free(it.val);
	return err ? err : it.err;
}

static int key_vcpu(struct ctx *c, __u32 v)
{
	if (!c->r->per_vcpu)
		return VP_ALL_VCPUS;
	if (v & VP_TID_FLAG)
		return target_tid_vcpu(c->r->pid, v & ~VP_TID_FLAG);
	if (v == 0xffffffffu)
		return VP_NO_VCPU;
	return (int)v;
}

#define GROW(arr, n)                                                                               \
	do {                                                                                       \
		void *_p = realloc((arr), ((n) + 1) * sizeof(*(arr)));                             \
		if (!_p)                                                                           \
			abort();                                                                   \
		(arr) = _p;                                                                        \
		memset(&(arr)[n], 0, sizeof(*(arr)));                                              \
	} while (0)

static void exit_cb(const void *k, const void *v, void *arg)
{
	const struct vp_exit_key *key = k;
	const struct vp_exit_val *val = v;
	struct ctx *c = arg;
	struct vp_report *r = c->r;
	int vcpu = key_vcpu(c, key->vcpu);
	struct vp_exit_row *row = NULL;

	for (size_t i = 0; i < r->n_exits; i++)
		if (r->exits[i].vcpu == vcpu && r->exits[i].isa == key->isa &&
		    r->exits[i].reason == key->reason)
			row = &r->exits[i];
	if (!row) {
		GROW(r->exits, r->n_exits);
		row = &r->exits[r->n_exits++];
		row->vcpu = vcpu;
		row->isa = key->isa;
		row->reason = key->reason;
	}
	row->v.count += val->count;
	row->v.timed += val->timed;
	row->v.total_ns += val->total_ns;
	row->v.user_ns += val->user_ns;
	for (int i = 0; i < VP_HIST_SLOTS; i++)
		row->v.hist[i] += val->hist[i];
}

static void uexit_cb(const void *k, const void *v, void *arg)
{
	const struct vp_uexit_key *key = k;
	const struct vp_uexit_val *val = v;
	struct ctx *c = arg;
	struct vp_report *r = c->r;
	int vcpu = key_vcpu(c, key->vcpu);
	struct vp_uexit_row *row = NULL;

	for (size_t i = 0; i < r->n_uexits; i++)
		if (r->uexits[i].vcpu == vcpu && r->uexits[i].reason == key->reason)
			row = &r->uexits[i];
	if (!row) {
		GROW(r->uexits, r->n_uexits);
		row = &r->uexits[r->n_uexits++];
		row->vcpu = vcpu;
		row->reason = key->reason;
	}
	row->v.count += val->count;
	row->v.timed += val->timed;
	row->v.user_ns += val->user_ns;
	for (int i = 0; i < VP_HIST_SLOTS; i++)
		row->v.hist[i] += val->hist[i];
}

static void gpa_cb(const void *k, const void *v, void *arg)
{
	struct ctx *c = arg;

	GROW(c->gpa, c->n_gpa);
	memcpy(&c->gpa[c->n_gpa].k, k, sizeof(struct vp_gpa_key));
	memcpy(&c->gpa[c->n_gpa].v, v, sizeof(struct vp_gpa_val));
	c->n_gpa++;
}

static void name_cb(const void *k, const void *v, void *arg)
{
	struct ctx *c = arg;

	GROW(c->names, c->n_names);
	c->names[c->n_names].mr = *(const __u64 *)k;
	memcpy(&c->names[c->n_names].n, v, sizeof(struct vp_mr_name));
	c->names[c->n_names].n.name[VP_NAME_LEN - 1] = 0;
	/* the root region tells the address space: guest-physical memory or I/O ports */
	if (!strcmp(c->names[c->n_names].n.root, "io"))
		c->names[c->n_names].space = VP_PIO;
	else if (!strcmp(c->names[c->n_names].n.root, "system"))
		c->names[c->n_names].space = VP_MMIO;
	else
		c->names[c->n_names].space = -1;
	c->n_names++;
}

static struct name_ent *mr_ent(struct ctx *c, __u64 mr)
{
	for (size_t i = 0; i < c->n_names; i++)
		if (c->names[i].mr == mr)
			return &c->names[i];
	return NULL;
}

static const char *mr_name(struct ctx *c, __u64 mr)
{
	struct name_ent *e = mr_ent(c, mr);

	return e && e->n.name[0] ? e->n.name : NULL;
}

/* memory_region_ops report absolute addresses: offset = abs - region base */
static bool mr_offset(struct ctx *c, __u64 mr, __u64 abs, __u64 *off)
{
	struct name_ent *e = mr_ent(c, mr);

	if (!e || !e->n.base_ok || abs < e->n.base || (e->n.size && abs - e->n.base >= e->n.size))
		return false;
	*off = abs - e->n.base;
	return true;
}

static struct vp_dev_row *dev_row(struct vp_report *r, int vcpu, const char *device,
				  const char *reg, unsigned int dir, unsigned int space)
{
	struct vp_dev_row *row;

	for (size_t i = 0; i < r->n_devs; i++) {
		row = &r->devs[i];
		if (row->vcpu == vcpu && row->dir == dir && !strcmp(row->device, device) &&
		    !strcmp(row->reg, reg))
			return row;
	}
	GROW(r->devs, r->n_devs);
	row = &r->devs[r->n_devs++];
	row->vcpu = vcpu;
	row->dir = dir;
	row->space = space;
	snprintf(row->device, sizeof(row->device), "%s", device);
	snprintf(row->reg, sizeof(row->reg), "%s", reg);
	return row;
}

static void name_register(unsigned int space, const char *device, __u64 addr, __u64 off, char *reg,
			  size_t len)
{
	const char *n = regname_lookup(device, off, reg, len);
	const char *port =
	    space == VP_PIO && addr <= 0xffff ? pioname_lookup((uint16_t)addr) : NULL;

	if (n != reg)
		snprintf(reg, len, "%s", n ? n : "?");
	/*
	 * No register table for this region: name the device behind the port
	 * (pioname_lookup names devices, not registers), keeping the offset so
	 * that, say, COM1's data and line-status ports stay apart.
	 */
	if (port && reg[0] == '+') {
		if (off)
			snprintf(reg, len, "%s+0x%llx", port, (unsigned long long)off);
		else
			snprintf(reg, len, "%s", port);
	}
}

/* Resolve a guest address to MemoryRegion name + offset; false if nothing names it. */
static bool resolve(struct ctx *c, unsigned int space, __u64 addr, char *dev, size_t dlen,
		    __u64 *off)
{
	const struct name_ent *best = NULL;
	uint64_t o;

	/* the region QEMU dispatched this very address to (learned by pairing) */
	for (size_t i = 0; i < c->n_gpa; i++) {
		const struct gpa_ent *g = &c->gpa[i];
		const char *n;

		if (g->k.space != space || g->k.addr != addr || !(n = mr_name(c, g->v.mr)))
			continue;
		snprintf(dev, dlen, "%s", n);
		if (!mr_offset(c, g->v.mr, g->v.offset, off))
			*off = g->v.offset;
		return true;
	}
	/*
	 * Otherwise the smallest region QEMU ever dispatched to that contains it:
	 * this names accesses KVM completed in the kernel (coalesced MMIO, ioeventfd).
	 */
	for (size_t i = 0; i < c->n_names; i++) {
		const struct name_ent *e = &c->names[i];

		if (!e->n.base_ok || !e->n.size || !e->n.name[0] || addr < e->n.base ||
		    addr - e->n.base >= e->n.size)
			continue;
		if (e->space >= 0 && (unsigned int)e->space != space)
			continue;
		if (e->space < 0 && space == VP_PIO && e->n.base + e->n.size > 0x10000)
			continue;
		if (!best || e->n.size < best->n.size)
			best = e;
	}
	if (best) {
		snprintf(dev, dlen, "%s", best->n.name);
		*off = addr - best->n.base;
		return true;
	}
	if (c->mt && mtree_lookup(c->mt, space == VP_PIO, addr, dev, dlen, &o)) {
		*off = o;
		return true;
	}
	return false;
}

static void acc_cb(const void *k, const void *v, void *arg)
{
	const struct vp_acc_key *key = k;
	const struct vp_acc_val *val = v;
	struct ctx *c = arg;
	struct vp_report *r = c->r;
	char dev[VP_NAME_LEN], reg[64];
	__u64 off = 0;
	bool fold = key->addr & VP_ACC_FOLD;
	__u64 addr = key->addr & ~VP_ACC_FOLD;
	bool named = resolve(c, key->space, addr, dev, sizeof(dev), &off);
	struct vp_dev_row *row;

	if (fold) {
		/* a page's addresses past its detail cap (vexitprof.h): the region's "+other" */
		struct vp_acc_page pg = {};

		if (!named)
			snprintf(dev, sizeof(dev), "%s", key->space == VP_PIO ? "pio" : "mmio");
		snprintf(reg, sizeof(reg), "+other");
		row = dev_row(r, key_vcpu(c, key->vcpu), dev, reg, key->dir, key->space);
		row->folded = true;
		row->fold_cap = VP_ACC_PAGE_CAP;
		row->fold_cap_page = true;
		/* under its cap the page folded only because acc_idx was full */
		if (key->space == VP_PIO || bpf_map_lookup_elem(c->acc_pages_fd, key, &pg) ||
		    pg.addrs < VP_ACC_PAGE_CAP)
			row->fold_full = true;
		if (!row->size)
			row->size = val->size;
		goto add;
	}
	if (!named) {
		snprintf(dev, sizeof(dev), "%s", key->space == VP_PIO ? "pio" : "mmio");
		if (key->space == VP_PIO && pioname_lookup((uint16_t)key->addr))
			snprintf(reg, sizeof(reg), "%s", pioname_lookup((uint16_t)key->addr));
		else
			snprintf(reg, sizeof(reg), "0x%llx", (unsigned long long)key->addr);
	} else {
		name_register(key->space, dev, key->addr, off, reg, sizeof(reg));
	}
	row = dev_row(r, key_vcpu(c, key->vcpu), dev, reg, key->dir, key->space);
	row->addr = key->addr;
	row->addr_known = true;
	if (named) {
		row->offset = off;
		row->offset_known = true;
	}
	row->size = val->size;
add:
	row->kcount += val->count;
	row->exits += val->to_user;
	row->user_ns += val->user_ns;
	row->kernel_ns += val->kernel_ns;
	row->ktimed += val->ktimed;
	r->kvm_accesses = true;
}

static void mr_cb(const void *k, const void *v, void *arg)
{
	const struct vp_mr_key *key = k;
	const struct vp_mr_val *val = v;
	struct ctx *c = arg;
	struct name_ent *e = mr_ent(c, key->mr);
	char dev[VP_NAME_LEN], reg[64];
	struct vp_dev_row *row;
	unsigned int space = e && e->space >= 0 ? (unsigned int)e->space : VP_MMIO;
	__u64 off;
	bool off_known = mr_offset(c, key->mr, key->offset, &off);

	if (e && e->n.name[0])
		snprintf(dev, sizeof(dev), "%s", e->n.name);
	else
		snprintf(dev, sizeof(dev), "mr@0x%llx", (unsigned long long)key->mr);
	if (!off_known)
		off = key->offset;
	/* USDT addresses are absolute, so for an I/O port region they are the port */
	name_register(space, dev, space == VP_PIO ? key->offset : ~0ULL, off, reg, sizeof(reg));
	row = dev_row(c->r, key_vcpu(c, key->vcpu), dev, reg, key->dir, space);
	row->qemu_ops += val->count;
	if (off_known) {
		row->offset = off;
		row->offset_known = true;
	}
	if (!row->addr_known && (space == VP_PIO || c->r->kvm_accesses || (e && e->space >= 0))) {
		row->addr = key->offset;
		row->addr_known = true;
	}
	if (!row->size)
		row->size = val->size;
	if (key->vcpu != 0xffffffffu && (int)key->vcpu + 1 > c->max_cpu_index)
		c->max_cpu_index = key->vcpu + 1;
}

/* USDT: a region's dispatches at offsets past its cap (or that found mr_ops full) */
static void region_cb(const void *k, const void *v, void *arg)
{
	const struct vp_mr_rkey *key = k;
	const struct vp_mr_region *val = v;
	struct ctx *c = arg;
	struct name_ent *e = mr_ent(c, key->mr);
	unsigned int space = e && e->space >= 0 ? (unsigned int)e->space : VP_MMIO;
	char dev[VP_NAME_LEN];
	struct vp_dev_row *row;

	if (!val->folded)
		return;
	if (e && e->n.name[0])
		snprintf(dev, sizeof(dev), "%s", e->n.name);
	else
		snprintf(dev, sizeof(dev), "mr@0x%llx", (unsigned long long)key->mr);
	row = dev_row(c->r, key_vcpu(c, key->vcpu), dev, "+other", key->dir, space);
	row->folded = true;
	row->qemu_ops += val->folded;
	if (val->map_full)
		row->fold_full = true;
	if (val->cap != VP_MR_CAP_TABLE && !row->fold_cap_page)
		row->fold_cap = val->cap;
	if (!row->size)
		row->size = val->size;
	if (key->vcpu != 0xffffffffu && (int)key->vcpu + 1 > c->max_cpu_index)
		c->max_cpu_index = key->vcpu + 1;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct vp_dev_row *x = a, *y = b;

	if (x->vcpu != y->vcpu)
		return x->vcpu < y->vcpu ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->qemu_ops != y->qemu_ops)
		return x->qemu_ops > y->qemu_ops ? -1 : 1;
	return strcmp(x->reg, y->reg);
}

static int cmp_exit(const void *a, const void *b)
{
	const struct vp_exit_row *x = a, *y = b;

	if (x->vcpu != y->vcpu)
		return x->vcpu < y->vcpu ? -1 : 1;
	if (x->v.count != y->v.count)
		return x->v.count > y->v.count ? -1 : 1;
	return x->reason < y->reason ? -1 : x->reason > y->reason;
}

static int cmp_uexit(const void *a, const void *b)
{
	const struct vp_uexit_row *x = a, *y = b;

	if (x->vcpu != y->vcpu)
		return x->vcpu < y->vcpu ? -1 : 1;
	if (x->v.count != y->v.count)
		return x->v.count > y->v.count ? -1 : 1;
	return x->reason < y->reason ? -1 : x->reason > y->reason;
}

int report_collect(struct vp_report *r, struct vexitprof_bpf *skel, const struct vp_mtree *mt)
{
	struct ctx c = {.r = r, .mt = mt, .acc_pages_fd = bpf_map__fd(skel->maps.acc_pages)};
	int ncpu = libbpf_num_possible_cpus();
	struct vp_counters *pc;
	__u64 *ph;
	__u32 zero = 0;
	int err = 0;

	r->n_exits = r->n_uexits = r->n_devs = 0;
	r->kvm_accesses = false;
	memset(&r->cnt, 0, sizeof(r->cnt));
	memset(r->txb, 0, sizeof(r->txb));
	if (ncpu <= 0)
		return ncpu;
	pc = calloc(ncpu, sizeof(*pc));
	ph = calloc(ncpu, sizeof(*ph));
	if (!pc || !ph) {
		free(pc);
		free(ph);
		return -ENOMEM;
	}
	/* the caller prints no report on an error: zeros would pass for counts */
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &zero, pc))
		err = -errno;
	else
		for (int i = 0; i < ncpu; i++)
			for (int j = 0; j < VP_C_NR; j++)
				r->cnt.c[j] += pc[i].c[j];
	for (__u32 s = 0; s < VP_TXB_SLOTS && !err; s++)
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tx_batch_hist), &s, ph))
			err = -errno;
		else
			for (int i = 0; i < ncpu; i++)
				r->txb[s] += ph[i];
	free(pc);
	free(ph);
	if (err)
		return err;

	err = map_each(bpf_map__fd(skel->maps.mr_names), sizeof(__u64), sizeof(struct vp_mr_name),
		       name_cb, &c);
	if (!err)
		err = map_each(bpf_map__fd(skel->maps.gpa_map), sizeof(struct vp_gpa_key),
			       sizeof(struct vp_gpa_val), gpa_cb, &c);
	for (size_t i = 0; i < c.n_gpa; i++) {
		struct name_ent *e = mr_ent(&c, c.gpa[i].v.mr);

		if (e)
			e->space = c.gpa[i].k.space;
	}
	if (!err)
		err = slot_each(skel->maps.exit_idx, skel->maps.exit_vals, exit_cb, &c);
	if (!err)
		err = slot_each(skel->maps.uexit_idx, skel->maps.uexit_vals, uexit_cb, &c);
	if (!err)
		err = slot_each(skel->maps.acc_idx, skel->maps.acc_vals, acc_cb, &c);
	if (!err)
		err = map_each(bpf_map__fd(skel->maps.mr_ops), sizeof(struct vp_mr_key),
			       sizeof(struct vp_mr_val), mr_cb, &c);
	if (!err)
		err = map_each(bpf_map__fd(skel->maps.mr_regions), sizeof(struct vp_mr_rkey),
			       sizeof(struct vp_mr_region), region_cb, &c);
	if (c.max_cpu_index > r->nr_vcpus)
		r->nr_vcpus = c.max_cpu_index;
	for (size_t i = 0; i < r->n_devs; i++)
		r->devs[i].count = r->kvm_accesses ? r->devs[i].kcount : r->devs[i].qemu_ops;
	qsort(r->devs, r->n_devs, sizeof(*r->devs), cmp_dev);
	qsort(r->exits, r->n_exits, sizeof(*r->exits), cmp_exit);
	qsort(r->uexits, r->n_uexits, sizeof(*r->uexits), cmp_uexit);
	free(c.gpa);
	free(c.names);
	return err;
}

void report_free(struct vp_report *r)
{
	free(r->exits);
	free(r->uexits);
	free(r->devs);
	r->exits = NULL;
	r->uexits = NULL;
	r->devs = NULL;
	r->n_exits = r->n_uexits = r->n_devs = 0;
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
	unsigned long long n = 0;

	if (r->n_exits) {
		for (size_t i = 0; i < r->n_exits; i++)
			n += r->exits[i].v.count;
		return n;
	}
	/* without kvm_exit (PVM), exits to QEMU are the exits we can see */
	for (size_t i = 0; i < r->n_uexits; i++)
		n += r->uexits[i].v.count;
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

void report_fold_detail(const struct vp_report *r, const struct vp_dev_row *fold,
			unsigned long long *total, size_t *kept)
{
	*total = 0;
	*kept = 0;
	for (size_t i = 0; i < r->n_devs; i++) {
		const struct vp_dev_row *d = &r->devs[i];

		if (d->vcpu != fold->vcpu || d->dir != fold->dir || strcmp(d->device, fold->device))
			continue;
		*total += d->count;
		if (!d->folded)
			(*kept)++;
	}
}
