/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Addresses to function names for --on-cpu: the target's user space from its
 * mappings (/proc/PID/maps) and each mapped file's ELF symbol table (.symtab,
 * else .dynsym), the kernel from /proc/kallsyms.  An address no symbol covers
 * is "module+0xoffset" (offset in the file's ELF address space), or "[jit]"
 * / "[unknown]" outside any file.
 */
#ifndef VP_SYMBOLS_H
#define VP_SYMBOLS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vp_syms;

struct vp_sym {
	const char *function; /* the function, or the module+0x... frame */
	const char *module;   /* file name without directories, "[kernel]", "[jit]" */
	bool named;	      /* a symbol covers the address */
};

struct vp_syms *syms_new(int pid);
/* Read /proc/PID/maps again (while the target lives): 0, or -errno (the old maps stay). */
int syms_refresh(struct vp_syms *s);
/* The exe's base name, and whether its ELF has a .symtab (false: stripped) */
bool syms_exe_stripped(struct vp_syms *s, const char **exe);
/* User-space address of the target; strings live as long as s. */
struct vp_sym syms_user(struct vp_syms *s, uint64_t addr);
struct vp_sym syms_kernel(struct vp_syms *s, uint64_t addr);
void syms_free(struct vp_syms *s);
#endif
