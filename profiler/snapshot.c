// SPDX-License-Identifier: GPL-2.0
/* Read the BPF maps into plain arrays (struct vp_snapshot); errors are returned, not guessed. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "snapshot.h"

/* Where a map entry goes: appended to *arr (elements of esz bytes, key at 0, value at voff). */
struct sink {
	void **arr;
	size_t *n;
	size_t esz, ksz, voff, vsz;
	int err;
};

#define SINK(s, field)                                                                             \
	((struct sink){.arr = (void **)&(s)->field,                                                \
		       .n = &(s)->n_##field,                                                       \
		       .esz = sizeof(*(s)->field),                                                 \
		       .ksz = sizeof((s)->field->k),                                               \
		       .voff = offsetof(typeof(*(s)->field), v),                                   \
		       .vsz = sizeof((s)->field->v)})

static void append(struct sink *k, const void *key, const void *val)
{
	char *p = realloc(*k->arr, (*k->n + 1) * k->esz);

	if (!p) {
		k->err = -ENOMEM;
		return;
	}
	*k->arr = p;
	p += *k->n * k->esz;
	memset(p, 0, k->esz);
	memcpy(p, key, k->ksz);
	memcpy(p + k->voff, val, k->vsz);
	(*k->n)++;
}

/*
 * Every entry of a hash map; idx_vals >= 0: the map holds slots into that
 * array map (the "*_idx" -> "*_vals" aggregates), and the value is the slot's.
 */
static int read_map(struct bpf_map *map, struct bpf_map *vals, struct sink *k)
{
	int fd = bpf_map__fd(map), vfd = vals ? bpf_map__fd(vals) : -1;
	char key[64], next[64], slot[sizeof(__u32)];
	void *val = calloc(1, k->vsz), *prev = NULL;
	int err;

	if (!val)
		return -ENOMEM;
	while (!(err = bpf_map_get_next_key(fd, prev, next))) {
		if (bpf_map_lookup_elem(fd, next, vals ? (void *)slot : val)) {
			/* ENOENT: deleted meanwhile; else a row is lost */
			if (errno != ENOENT) {
				err = -errno;
				break;
			}
		} else if (vals && bpf_map_lookup_elem(vfd, slot, val)) {
			/* the slot's value cannot be read: its row would be missing */
			if (!k->err)
				k->err = -errno;
		} else {
			append(k, next, val);
		}
		memcpy(key, next, k->ksz);
		prev = key;
	}
	free(val);
	if (err == -ENOENT)
		err = 0;
	return err ? err : k->err;
}

/* per-CPU arrays summed over CPUs: the counters and the TX batch histogram */
static int read_percpu(struct vp_snapshot *s, struct vexitprof_bpf *skel)
{
	int ncpu = libbpf_num_possible_cpus();
	struct vp_counters *pc;
	__u64 *ph;
	__u32 zero = 0;
	int err = 0;

	if (ncpu <= 0)
		return ncpu;
	pc = calloc(ncpu, sizeof(*pc));
	ph = calloc(ncpu, sizeof(*ph));
	if (!pc || !ph) {
		free(pc);
		free(ph);
		return -ENOMEM;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &zero, pc))
		err = -errno;
	else
		for (int i = 0; i < ncpu; i++)
			for (int j = 0; j < VP_C_NR; j++)
				s->cnt.c[j] += pc[i].c[j];
	for (__u32 slot = 0; slot < VP_TXB_SLOTS && !err; slot++)
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tx_batch_hist), &slot, ph))
			err = -errno;
		else
			for (int i = 0; i < ncpu; i++)
				s->txb[slot] += ph[i];
	free(pc);
	free(ph);
	return err;
}

static int cmp_stack(const void *a, const void *b)
{
	const struct vp_snap_stack *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_id(const void *a, const void *b)
{
	__s32 x = *(const __s32 *)a, y = *(const __s32 *)b;

	return x < y ? -1 : x > y;
}

/* The stacks the samples name, each once, sorted by id (snapshot_stack searches them). */
static int read_stacks(struct vp_snapshot *s, struct bpf_map *map)
{
	int fd = bpf_map__fd(map);
	__s32 *ids = calloc(2 * s->n_cpu + 1, sizeof(*ids));
	size_t n = 0;

	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_cpu; i++) {
		if (s->cpu[i].k.ustack >= 0)
			ids[n++] = s->cpu[i].k.ustack;
		if (s->cpu[i].k.kstack >= 0)
			ids[n++] = s->cpu[i].k.kstack;
	}
	qsort(ids, n, sizeof(*ids), cmp_id);
	s->stacks = calloc(n + 1, sizeof(*s->stacks));
	if (!s->stacks) {
		free(ids);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct vp_snap_stack *st = &s->stacks[s->n_stacks];

		if (i && ids[i] == ids[i - 1])
			continue;
		st->id = ids[i];
		/* the samples keep their stacks: a failed lookup loses rows */
		if (bpf_map_lookup_elem(fd, &st->id, st->ip)) {
			free(ids);
			return -errno;
		}
		while (st->n < VP_CPU_STACK_DEPTH && st->ip[st->n])
			st->n++;
		s->n_stacks++;
	}
	free(ids);
	return 0;
}

const struct vp_snap_stack *snapshot_stack(const struct vp_snapshot *s, int id)
{
	struct vp_snap_stack key = {.id = id};

	if (id < 0 || !s->n_stacks)
		return NULL;
	return bsearch(&key, s->stacks, s->n_stacks, sizeof(*s->stacks), cmp_stack);
}

int snapshot_read(struct vp_snapshot *s, struct vexitprof_bpf *skel)
{
	struct sink names = SINK(s, names), gpa = SINK(s, gpa), exits = SINK(s, exits),
		    uexits = SINK(s, uexits), accs = SINK(s, accs), mrs = SINK(s, mrs),
		    regions = SINK(s, regions), cpu = SINK(s, cpu);
	int pages_fd = bpf_map__fd(skel->maps.acc_pages);
	int err;

	memset(s, 0, sizeof(*s));
	err = read_percpu(s, skel);
	if (!err)
		err = read_map(skel->maps.mr_names, NULL, &names);
	if (!err)
		err = read_map(skel->maps.gpa_map, NULL, &gpa);
	if (!err)
		err = read_map(skel->maps.exit_idx, skel->maps.exit_vals, &exits);
	if (!err)
		err = read_map(skel->maps.uexit_idx, skel->maps.uexit_vals, &uexits);
	if (!err)
		err = read_map(skel->maps.acc_idx, skel->maps.acc_vals, &accs);
	if (!err)
		err = read_map(skel->maps.mr_ops, NULL, &mrs);
	if (!err)
		err = read_map(skel->maps.mr_regions, NULL, &regions);
	if (!err)
		err = read_map(skel->maps.cpu_samples, NULL, &cpu);
	if (!err)
		err = read_stacks(s, skel->maps.cpu_stacks);
	/* BPF copied the name from QEMU's memory: it may lack its NUL */
	for (size_t i = 0; i < s->n_names; i++)
		s->names[i].v.name[VP_NAME_LEN - 1] = 0;
	/* a page's folded row says whether the page reached its cap (vexitprof.h) */
	for (size_t i = 0; i < s->n_accs && !err; i++) {
		struct vp_snap_acc *a = &s->accs[i];

		if ((a->k.addr & VP_ACC_FOLD) && a->k.space != VP_PIO)
			a->page_ok = !bpf_map_lookup_elem(pages_fd, &a->k, &a->page);
	}
	return err;
}

void snapshot_free(struct vp_snapshot *s)
{
	free(s->names);
	free(s->gpa);
	free(s->exits);
	free(s->uexits);
	free(s->accs);
	free(s->mrs);
	free(s->regions);
	free(s->cpu);
	free(s->stacks);
	memset(s, 0, sizeof(*s));
}
