/*
 * failmmap.so (LD_PRELOAD): fault injection for t-e1000opt-devadd-fail.sh.
 * Fails one of QEMU's guest-RAM reservations of a 4 KiB RAM region (the
 * x-shadow-regs page): qemu_ram_mmap() reserves size + 2 MiB alignment
 * with PROT_NONE first.  While the file named by $FAILMMAP_FILE exists and
 * holds K, the next K such reservations pass (K is decremented) and the one
 * after fails with ENOMEM; then the file is removed, and a line is appended
 * to $FAILMMAP_FILE.log.  Every other mmap() passes through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHADOW_RESERVE (4096 + 2 * 1024 * 1024)

static int fail_this(size_t len, int prot, int flags)
{
	const char *path = getenv("FAILMMAP_FILE");

	if (path && len == SHADOW_RESERVE && prot == PROT_NONE && (flags & MAP_ANONYMOUS)) {
		FILE *f = fopen(path, "r+");
		int k;

		if (f && fscanf(f, "%d", &k) == 1) {
			if (k > 0) {
				rewind(f);
				fprintf(f, "%d\n", k - 1);
				fclose(f);
			} else {
				char log[4096];

				fclose(f);
				unlink(path);
				snprintf(log, sizeof(log), "%s.log", path);
				f = fopen(log, "a");
				if (f) {
					fprintf(f, "failed mmap of %zu bytes\n", len);
					fclose(f);
				}
				return 1;
			}
		} else if (f) {
			fclose(f);
		}
	}
	return 0;
}

static void *inject(const char *sym, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *(*next)(void *, size_t, int, int, int, off_t);

	if (fail_this(len, prot, flags)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	next = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, sym);
	return next(addr, len, prot, flags, fd, off);
}

/* QEMU is built with _FILE_OFFSET_BITS=64 and calls mmap64. */
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return inject("mmap64", addr, len, prot, flags, fd, off);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return inject("mmap", addr, len, prot, flags, fd, off);
}
