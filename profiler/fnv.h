/* SPDX-License-Identifier: GPL-2.0 */
/* FNV-1a over bytes: the hash of user space's row indexes (attribute.c, oncpu.c). */
#ifndef VP_FNV_H
#define VP_FNV_H
#include <stddef.h>
#include <stdint.h>

#define VP_FNV0 0xcbf29ce484222325ULL

/* h extended by len bytes at p; start from VP_FNV0 */
static inline uint64_t vp_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}
#endif
