/* SPDX-License-Identifier: GPL-2.0 */
/* Guest address -> MemoryRegion names from QMP `info mtree -f` (--qmp SOCKET). */
#ifndef VP_QMP_H
#define VP_QMP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vp_mtree_range {
	bool io;
	uint64_t start, end, offset; /* offset of start inside the region */
	char name[64];
};

struct vp_mtree {
	struct vp_mtree_range *r;
	size_t n;
};

/* Fetch and parse the flat views; 0 or -errno (with one line printed). */
int mtree_load(struct vp_mtree *mt, const char *socket_path);
/* Parse the text of `info mtree -f` (exposed for tests). */
int mtree_parse(struct vp_mtree *mt, const char *text);
bool mtree_lookup(const struct vp_mtree *mt, bool io, uint64_t addr, char *name, size_t len,
		  uint64_t *off);
void mtree_free(struct vp_mtree *mt);
#endif
