// SPDX-License-Identifier: GPL-2.0
/*
 * Attribution: the one place that decides which device register an access,
 * an exit and its time belong to.  Input: a snapshot of the maps; output: the
 * read-only rows of struct vp_report that every renderer prints.
 *
 * A guest address gets its MemoryRegion from, in order: the exact pairing the
 * BPF side learned (kvm_mmio/kvm_pio followed by memory_region_ops on the same
 * thread), the region base that pairing implies (base = gpa - offset, which
 * also names accesses KVM completed in the kernel and never showed QEMU),
 * QMP's `info mtree`, and otherwise the raw address.
 *
 * The folded stacks (r->stacks) partition the traced time, so nothing is
 * counted twice:
 *  - QEMU user-space time (KVM_RUN return .. next KVM_RUN), charged to the
 *    device register that caused the exit when known, under the KVM_EXIT_*
 *    reason; the rest of each reason goes to device "-".
 *  - kernel time of kvm_exit .. kvm_entry minus that user time, under the
 *    hardware exit reason, handler "kvm" (only where kvm_exit fires).
 * Without kernel events (TCG) there is no time, and the weight is the number
 * of memory_region_ops dispatches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fnv.h"
#include "report.h"
#include "snapshot.h"
#include "regnames.h"
#include "exit_reasons.h"
#include "qmp.h"
#include "target.h"

/* Index from a key's hash to a row (open addressing; the rows stay in insertion order). */
struct ix {
	struct ix_slot {
		uint64_t h;
		size_t row; /* row + 1; 0: empty */
	} * s;
	size_t cap, n;
};

static uint64_t hash_str(uint64_t h, const char *s)
{
	return vp_fnv(h, s, strlen(s) + 1);
}

/* Slots with hash h, in probe order: *it starts at 0; returns the row, or -1 at an empty slot. */
static long ix_next(const struct ix *x, uint64_t h, size_t *it)
{
	while (x->cap) {
		const struct ix_slot *s = &x->s[(h + (*it)++) & (x->cap - 1)];

		if (!s->row)
			return -1;
		if (s->h == h)
			return (long)s->row - 1;
	}
	return -1;
}

static void ix_add(struct ix *x, uint64_t h, size_t row)
{
	if (2 * (x->n + 1) > x->cap) {
		struct ix old = *x;

		x->cap = x->cap ? 2 * x->cap : 64;
		x->s = calloc(x->cap, sizeof(*x->s));
		if (!x->s)
			abort();
		x->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.s[i].row)
				ix_add(x, old.s[i].h, old.s[i].row - 1);
		free(old.s);
	}
	for (size_t i = 0;; i++) {
		struct ix_slot *s = &x->s[(h + i) & (x->cap - 1)];

		if (!s->row) {
			s->h = h;
			s->row = row + 1;
			x->n++;
			return;
		}
	}
}

struct name_ent {
	const struct vp_mr_name *n;
	int space; /* -1 unknown */
};

struct ctx {
	struct vp_report *r;
	const struct vp_snapshot *s;
	struct name_ent *names; /* parallel to s->names */
	struct ix names_ix, gpa_ix, dev_ix;
	struct ix exit_ix[VP_EXIT_KINDS];
	const struct vp_mtree *mt;
	int max_cpu_index;
};

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

/*
 * The row of rows[0..n) with hash h in ix for which MATCH (an expression on
 * _r) holds; else a new zeroed row, appended and indexed, and added is set.
 */
#define FIND_OR_ADD(ix, h, rows, n, added, MATCH)                                                  \
	({                                                                                         \
		typeof(&(rows)[0]) _r = NULL, _found = NULL;                                       \
		size_t _it = 0;                                                                    \
		long _i;                                                                           \
                                                                                                   \
		while (!_found && (_i = ix_next(ix, h, &_it)) >= 0) {                              \
			_r = &(rows)[_i];                                                          \
			if (MATCH)                                                                 \
				_found = _r;                                                       \
		}                                                                                  \
		(added) = !_found;                                                                 \
		if (!_found) {                                                                     \
			GROW(rows, n);                                                             \
			ix_add(ix, h, n);                                                          \
			_found = &(rows)[(n)++];                                                   \
		}                                                                                  \
		_found;                                                                            \
	})

static void hist_add(__u64 *dst, const __u64 *src)
{
	for (int i = 0; i < VP_HIST_SLOTS; i++)
		dst[i] += src[i];
}

/* An exit of either kind (report.h) into its row; isa is 0 for exits to QEMU. */
static void add_exit(struct ctx *c, enum vp_exit_kind kind, __u32 key_vcpu_, __u32 isa,
		     __u32 reason, unsigned long long count, unsigned long long timed,
		     unsigned long long ns, unsigned long long user_ns, const __u64 *hist)
{
	struct vp_exit_rows *rows = &c->r->ex[kind];
	int vcpu = key_vcpu(c, key_vcpu_);
	uint64_t h = vp_fnv(vp_fnv(vp_fnv(VP_FNV0, &vcpu, sizeof(vcpu)), &isa, 4), &reason, 4);
	struct vp_exit_row *row;
	bool added;

	row = FIND_OR_ADD(&c->exit_ix[kind], h, rows->rows, rows->n, added,
			  _r->vcpu == vcpu && _r->isa == isa && _r->reason == reason);
	if (added) {
		row->vcpu = vcpu;
		row->isa = isa;
		row->reason = reason;
	}
	row->count += count;
	row->timed += timed;
	row->ns += ns;
	row->user_ns += user_ns;
	hist_add(row->hist, hist);
}

static struct name_ent *mr_ent(struct ctx *c, __u64 mr)
{
	size_t it = 0;
	long i;

	while ((i = ix_next(&c->names_ix, vp_fnv(VP_FNV0, &mr, sizeof(mr)), &it)) >= 0)
		if (c->s->names[i].k == mr)
			return &c->names[i];
	return NULL;
}

static const char *mr_name(struct ctx *c, __u64 mr)
{
	struct name_ent *e = mr_ent(c, mr);

	return e && e->n->name[0] ? e->n->name : NULL;
}

/* memory_region_ops report absolute addresses: offset = abs - region base */
static bool mr_offset(struct ctx *c, __u64 mr, __u64 abs, __u64 *off)
{
	struct name_ent *e = mr_ent(c, mr);

	if (!e || !e->n->base_ok || abs < e->n->base ||
	    (e->n->size && abs - e->n->base >= e->n->size))
		return false;
	*off = abs - e->n->base;
	return true;
}

/* the names, and the address space each lives in (the root region, or the pairing) */
static void index_names(struct ctx *c)
{
	const struct vp_snapshot *s = c->s;

	c->names = calloc(s->n_names + 1, sizeof(*c->names));
	if (!c->names)
		abort();
	for (size_t i = 0; i < s->n_names; i++) {
		const struct vp_mr_name *n = &s->names[i].v;

		c->names[i].n = n;
		/* the root region tells the address space: guest-physical memory or I/O ports */
		if (!strcmp(n->root, "io"))
			c->names[i].space = VP_PIO;
		else if (!strcmp(n->root, "system"))
			c->names[i].space = VP_MMIO;
		else
			c->names[i].space = -1;
		ix_add(&c->names_ix, vp_fnv(VP_FNV0, &s->names[i].k, sizeof(__u64)), i);
	}
	for (size_t i = 0; i < s->n_gpa; i++) {
		struct name_ent *e = mr_ent(c, s->gpa[i].v.mr);

		if (e)
			e->space = s->gpa[i].k.space;
		ix_add(&c->gpa_ix,
		       vp_fnv(vp_fnv(VP_FNV0, &s->gpa[i].k.addr, 8), &s->gpa[i].k.space, 4), i);
	}
}

static struct vp_dev_row *dev_row(struct ctx *c, int vcpu, const char *device, const char *reg,
				  unsigned int dir, unsigned int space)
{
	struct vp_report *r = c->r;
	uint64_t h = hash_str(
	    hash_str(vp_fnv(vp_fnv(VP_FNV0, &vcpu, sizeof(vcpu)), &dir, sizeof(dir)), device), reg);
	struct vp_dev_row *row;
	bool added;

	row = FIND_OR_ADD(&c->dev_ix, h, r->devs, r->n_devs, added,
			  _r->vcpu == vcpu && _r->dir == dir && !strcmp(_r->device, device) &&
			      !strcmp(_r->reg, reg));
	if (!added)
		return row;
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
	size_t it = 0;
	long i;

	/* the region QEMU dispatched this very address to (learned by pairing) */
	while ((i = ix_next(&c->gpa_ix, vp_fnv(vp_fnv(VP_FNV0, &addr, 8), &space, 4), &it)) >= 0) {
		const struct vp_snap_gpa *g = &c->s->gpa[i];
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
	for (size_t j = 0; j < c->s->n_names; j++) {
		const struct name_ent *e = &c->names[j];

		if (!e->n->base_ok || !e->n->size || !e->n->name[0] || addr < e->n->base ||
		    addr - e->n->base >= e->n->size)
			continue;
		if (e->space >= 0 && (unsigned int)e->space != space)
			continue;
		if (e->space < 0 && space == VP_PIO && e->n->base + e->n->size > 0x10000)
			continue;
		if (!best || e->n->size < best->n->size)
			best = e;
	}
	if (best) {
		snprintf(dev, dlen, "%s", best->n->name);
		*off = addr - best->n->base;
		return true;
	}
	if (c->mt && mtree_lookup(c->mt, space == VP_PIO, addr, dev, dlen, &o)) {
		*off = o;
		return true;
	}
	return false;
}

/* kvm_mmio/kvm_pio: one guest address */
static void add_acc(struct ctx *c, const struct vp_snap_acc *a)
{
	const struct vp_acc_key *key = &a->k;
	const struct vp_acc_val *val = &a->v;
	struct vp_report *r = c->r;
	char dev[VP_NAME_LEN], reg[64];
	__u64 off = 0;
	bool fold = key->addr & VP_ACC_FOLD;
	__u64 addr = key->addr & ~VP_ACC_FOLD;
	bool named = resolve(c, key->space, addr, dev, sizeof(dev), &off);
	struct vp_dev_row *row;

	if (fold) {
		/* a page's addresses past its detail cap (vexitprof.h): the region's "+other" */
		if (!named)
			snprintf(dev, sizeof(dev), "%s", key->space == VP_PIO ? "pio" : "mmio");
		snprintf(reg, sizeof(reg), "+other");
		row = dev_row(c, key_vcpu(c, key->vcpu), dev, reg, key->dir, key->space);
		row->folded = true;
		row->fold_cap = VP_ACC_PAGE_CAP;
		row->fold_cap_page = true;
		/* under its cap the page folded only because acc_idx was full */
		if (!a->page_ok || a->page.addrs < VP_ACC_PAGE_CAP)
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
	row = dev_row(c, key_vcpu(c, key->vcpu), dev, reg, key->dir, key->space);
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

static void region_dev(struct ctx *c, const struct name_ent *e, __u64 mr, char *dev, size_t len)
{
	if (e && e->n->name[0])
		snprintf(dev, len, "%s", e->n->name);
	else
		snprintf(dev, len, "mr@0x%llx", (unsigned long long)mr);
	(void)c;
}

static void note_cpu_index(struct ctx *c, __u32 vcpu)
{
	if (vcpu != 0xffffffffu && (int)vcpu + 1 > c->max_cpu_index)
		c->max_cpu_index = vcpu + 1;
}

/* USDT memory_region_ops: one (MemoryRegion, offset) */
static void add_mr(struct ctx *c, const struct vp_snap_mr *m)
{
	const struct vp_mr_key *key = &m->k;
	struct name_ent *e = mr_ent(c, key->mr);
	char dev[VP_NAME_LEN], reg[64];
	struct vp_dev_row *row;
	unsigned int space = e && e->space >= 0 ? (unsigned int)e->space : VP_MMIO;
	__u64 off;
	bool off_known = mr_offset(c, key->mr, key->offset, &off);

	region_dev(c, e, key->mr, dev, sizeof(dev));
	if (!off_known)
		off = key->offset;
	/* USDT addresses are absolute, so for an I/O port region they are the port */
	name_register(space, dev, space == VP_PIO ? key->offset : ~0ULL, off, reg, sizeof(reg));
	row = dev_row(c, key_vcpu(c, key->vcpu), dev, reg, key->dir, space);
	row->qemu_ops += m->v.count;
	if (off_known) {
		row->offset = off;
		row->offset_known = true;
	}
	if (!row->addr_known && (space == VP_PIO || c->r->kvm_accesses || (e && e->space >= 0))) {
		row->addr = key->offset;
		row->addr_known = true;
	}
	if (!row->size)
		row->size = m->v.size;
	note_cpu_index(c, key->vcpu);
}

/* USDT: a region's dispatches at offsets past its cap (or that found mr_ops full) */
static void add_region(struct ctx *c, const struct vp_snap_region *g)
{
	const struct vp_mr_rkey *key = &g->k;
	const struct vp_mr_region *val = &g->v;
	struct name_ent *e = mr_ent(c, key->mr);
	unsigned int space = e && e->space >= 0 ? (unsigned int)e->space : VP_MMIO;
	char dev[VP_NAME_LEN];
	struct vp_dev_row *row;

	if (!val->folded)
		return;
	region_dev(c, e, key->mr, dev, sizeof(dev));
	row = dev_row(c, key_vcpu(c, key->vcpu), dev, "+other", key->dir, space);
	row->folded = true;
	row->qemu_ops += val->folded;
	if (val->map_full)
		row->fold_full = true;
	if (val->cap != VP_MR_CAP_TABLE && !row->fold_cap_page)
		row->fold_cap = val->cap;
	if (!row->size)
		row->size = val->size;
	note_cpu_index(c, key->vcpu);
}

/* by vCPU, then the busiest first; tie: the caller's last key */
static int cmp_busy(int va, int vb, unsigned long long ca, unsigned long long cb, int tie)
{
	if (va != vb)
		return va < vb ? -1 : 1;
	if (ca != cb)
		return ca > cb ? -1 : 1;
	return tie;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct vp_dev_row *x = a, *y = b;

	return cmp_busy(x->vcpu, y->vcpu, x->count, y->count,
			x->qemu_ops != y->qemu_ops ? (x->qemu_ops > y->qemu_ops ? -1 : 1)
						   : strcmp(x->reg, y->reg));
}

static int cmp_exit(const void *a, const void *b)
{
	const struct vp_exit_row *x = a, *y = b;

	return cmp_busy(x->vcpu, y->vcpu, x->count, y->count,
			x->reason < y->reason ? -1 : x->reason > y->reason);
}

static void add_stack(struct vp_report *r, int vcpu, const char *reason, const char *dev,
		      const char *reg, unsigned int dir, const char *handler, unsigned long long w)
{
	struct vp_stack *s;

	if (!w)
		return;
	GROW(r->stacks, r->n_stacks);
	s = &r->stacks[r->n_stacks++];
	s->vcpu = vcpu;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	snprintf(s->device, sizeof(s->device), "%s", dev);
	if (dir == ~0u)
		snprintf(s->reg, sizeof(s->reg), "%s", reg);
	else
		snprintf(s->reg, sizeof(s->reg), "%s %s", reg, dir_name(dir));
	s->handler = handler;
	s->weight = w;
}

/* The folded stacks (see the top of this file), over the rows just built. */
static void build_stacks(struct vp_report *r)
{
	char b[32];

	const struct vp_exit_rows *qx = &r->ex[VP_EXIT_QEMU], *kx = &r->ex[VP_EXIT_KERNEL];

	r->stacks_time = r->kvm_accesses || qx->n || kx->n;
	if (!r->stacks_time) {
		for (size_t i = 0; i < r->n_devs; i++) {
			const struct vp_dev_row *d = &r->devs[i];

			add_stack(r, d->vcpu, "dispatch", d->device, d->reg, d->dir, "qemu",
				  d->qemu_ops);
		}
		return;
	}
	/* QEMU's time: to the device registers it served, the rest to the exit's reason */
	for (size_t u = 0; u < qx->n; u++) {
		const struct vp_exit_row *x = &qx->rows[u];
		unsigned int space = x->reason == VP_KVM_EXIT_MMIO ? VP_MMIO
				     : x->reason == VP_KVM_EXIT_IO ? VP_PIO
								   : ~0u;
		unsigned long long rest = x->user_ns;
		const char *rn = vp_exit_ops[VP_EXIT_QEMU].reason_name(x, b, sizeof(b));

		for (size_t i = 0; i < r->n_devs; i++) {
			const struct vp_dev_row *d = &r->devs[i];

			if (d->space != space || d->vcpu != x->vcpu || !d->user_ns)
				continue;
			add_stack(r, d->vcpu, rn, d->device, d->reg, d->dir,
				  vp_exit_ops[VP_EXIT_QEMU].folded_handler, d->user_ns);
			rest = rest > d->user_ns ? rest - d->user_ns : 0;
		}
		add_stack(r, x->vcpu, rn, "-", "-", ~0u, vp_exit_ops[VP_EXIT_QEMU].folded_handler,
			  rest);
	}
	/* the kernel's: an exit's time less the QEMU time it contains */
	for (size_t e = 0; e < kx->n; e++) {
		const struct vp_exit_row *x = &kx->rows[e];
		unsigned long long k = x->ns > x->user_ns ? x->ns - x->user_ns : 0;

		add_stack(r, x->vcpu, vp_exit_ops[VP_EXIT_KERNEL].reason_name(x, b, sizeof(b)), "-",
			  "-", ~0u, vp_exit_ops[VP_EXIT_KERNEL].folded_handler, k);
	}
}

/*
 * --on-cpu: name a sample's attribution context (bpf/vexitprof_oncpu.bpf.h)
 * the way the folded stacks name exits: reason, device, register.  The
 * reason is the exit in progress, else the thread's phase: "guest" (inside
 * KVM_RUN), "run" (the thread's own work: guest code under TCG, QEMU between
 * exits under KVM), "dispatch" (a write's handler outside a KVM exit).
 */
static void add_cpu(struct ctx *c, const struct vp_snap_cpu *sc)
{
	const struct vp_cpu_key *k = &sc->k;
	struct vp_report *r = c->r;
	struct vp_cpu_row *row;
	char dev[VP_NAME_LEN] = "-", reg[64] = "-", b[32];
	const char *reason = "run";
	unsigned int space = k->space;
	__u64 off = 0;

	switch (k->phase) {
	case VP_PH_GUEST:
		reason = "guest";
		break;
	case VP_PH_KERNEL_EXIT:
		reason = exit_reason_name(k->isa, k->reason, b, sizeof(b));
		break;
	case VP_PH_RETURNING:
	case VP_PH_QEMU_EXIT:
		reason = uexit_reason_name(k->reason, b, sizeof(b));
		break;
	}
	if (k->ctx == VP_CTX_MR) {
		struct name_ent *e = mr_ent(c, k->addr);
		bool off_known = mr_offset(c, k->addr, k->off, &off);

		if (k->phase != VP_PH_RETURNING && k->phase != VP_PH_QEMU_EXIT)
			reason = "dispatch";
		space = e && e->space >= 0 ? (unsigned int)e->space : VP_MMIO;
		region_dev(c, e, k->addr, dev, sizeof(dev));
		if (!off_known)
			off = k->off;
		name_register(space, dev, space == VP_PIO ? k->off : ~0ULL, off, reg, sizeof(reg));
	} else if (k->ctx == VP_CTX_ACC) {
		if (resolve(c, space, k->addr, dev, sizeof(dev), &off)) {
			name_register(space, dev, k->addr, off, reg, sizeof(reg));
		} else {
			snprintf(dev, sizeof(dev), "%s", space == VP_PIO ? "pio" : "mmio");
			snprintf(reg, sizeof(reg), "0x%llx", (unsigned long long)k->addr);
		}
	}
	GROW(r->cpu, r->n_cpu);
	row = &r->cpu[r->n_cpu++];
	row->tid = k->tid;
	row->vcpu_state = k->phase != VP_PH_NR;
	row->ctx = k->ctx != VP_CTX_NONE;
	snprintf(row->reason, sizeof(row->reason), "%s", reason);
	snprintf(row->device, sizeof(row->device), "%s", dev);
	if (row->ctx)
		snprintf(row->reg, sizeof(row->reg), "%s %s", reg, dir_name(k->dir));
	else
		snprintf(row->reg, sizeof(row->reg), "-");
	row->ustack = k->ustack;
	row->kstack = k->kstack;
	row->samples = sc->v;
}

void attribute(struct vp_report *r, const struct vp_snapshot *s, const struct vp_mtree *mt,
	       bool per_vcpu)
{
	struct ctx c = {.r = r, .s = s, .mt = mt};

	report_free(r);
	r->per_vcpu = per_vcpu;
	r->kvm_accesses = false;
	r->cnt = s->cnt;
	memcpy(r->txb, s->txb, sizeof(r->txb));
	index_names(&c);
	for (size_t i = 0; i < s->n_exits; i++) {
		const struct vp_snap_exit *e = &s->exits[i];

		add_exit(&c, VP_EXIT_KERNEL, e->k.vcpu, e->k.isa, e->k.reason, e->v.count,
			 e->v.timed, e->v.total_ns, e->v.user_ns, e->v.hist);
	}
	for (size_t i = 0; i < s->n_uexits; i++) {
		const struct vp_snap_uexit *e = &s->uexits[i];

		add_exit(&c, VP_EXIT_QEMU, e->k.vcpu, 0, e->k.reason, e->v.count, e->v.timed,
			 e->v.user_ns, e->v.user_ns, e->v.hist);
	}
	for (size_t i = 0; i < s->n_accs; i++)
		add_acc(&c, &s->accs[i]);
	for (size_t i = 0; i < s->n_mrs; i++)
		add_mr(&c, &s->mrs[i]);
	for (size_t i = 0; i < s->n_regions; i++)
		add_region(&c, &s->regions[i]);
	for (size_t i = 0; i < s->n_cpu; i++)
		add_cpu(&c, &s->cpu[i]);
	if (c.max_cpu_index > r->nr_vcpus)
		r->nr_vcpus = c.max_cpu_index;
	for (size_t i = 0; i < r->n_devs; i++)
		r->devs[i].count = r->kvm_accesses ? r->devs[i].kcount : r->devs[i].qemu_ops;
	qsort(r->devs, r->n_devs, sizeof(*r->devs), cmp_dev);
	for (int k = 0; k < VP_EXIT_KINDS; k++)
		qsort(r->ex[k].rows, r->ex[k].n, sizeof(*r->ex[k].rows), cmp_exit);
	build_stacks(r);
	free(c.names);
	free(c.names_ix.s);
	free(c.gpa_ix.s);
	for (int k = 0; k < VP_EXIT_KINDS; k++)
		free(c.exit_ix[k].s);
	free(c.dev_ix.s);
}
