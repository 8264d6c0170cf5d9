// SPDX-License-Identifier: GPL-2.0
/* QEMU's USDT probes attached as uprobe_multi links, window by window (serve_usdt.h). */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "attach.h"
#include "serve_usdt.h"

/*
 * struct bpf_link_info's head and its perf_event.uprobe member as recent kernels
 * lay them out (this system's uapi headers are older): the kernel fills
 * what it has and says how much in the length.
 */
struct link_info {
	__u32 type, id, prog_id, pad0;
	__u32 pe_type, pad1; /* enum bpf_perf_event_type */
	__u64 file_name;
	__u32 name_len, offset;
	__u64 cookie, ref_ctr_offset;
};
#define LINK_TYPE_PERF_EVENT 7
#define PERF_EVENT_UPROBE    1

/* the real program for a's stand-in with this id (usdt_X for usdt_site_X), or NULL */
static struct bpf_program *real_prog(struct vp_attacher *a, __u32 id)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, a->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);
		char real[64];

		if (fd < 0 || strncmp(bpf_program__name(p), "usdt_site_", 10))
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.id != id)
			continue;
		snprintf(real, sizeof(real), "usdt_%s", bpf_program__name(p) + 10);
		return bpf_object__find_program_by_name(a->skel->obj, real);
	}
	return NULL;
}

static int cmp_site(const void *x, const void *y)
{
	const struct usdt_site *a = x, *b = y;

	return a->prog != b->prog ? (a->prog < b->prog ? -1 : 1)
				  : (a->offset > b->offset) - (a->offset < b->offset);
}

int usdt_sites(struct vp_attacher *a, struct usdt_site *out, int max)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	bool bad = false;

	if (!dir)
		return -1;
	/* our links are the bpf_link fds whose program is one of a's stand-ins */
	while ((e = readdir(dir))) {
		struct link_info info = {};
		__u32 len = sizeof(info);
		struct bpf_program *prog;
		char l[64];
		ssize_t k;

		k = readlinkat(dirfd(dir), e->d_name, l, sizeof(l) - 1);
		if (k <= 0)
			continue;
		l[k] = 0;
		if (strcmp(l, "anon_inode:bpf_link") ||
		    bpf_obj_get_info_by_fd(atoi(e->d_name), &info, &len) ||
		    info.type != LINK_TYPE_PERF_EVENT || !(prog = real_prog(a, info.prog_id)))
			continue;
		/* a kernel whose info ends before the semaphore's offset cannot tell */
		if (len < sizeof(info) || info.pe_type != PERF_EVENT_UPROBE || n == max) {
			bad = true;
			continue;
		}
		out[n++] = (struct usdt_site){.prog = prog,
					      .offset = info.offset,
					      .ref_ctr = info.ref_ctr_offset,
					      .cookie = info.cookie};
	}
	closedir(dir);
	/* every USDT link has a uprobe at least */
	if (bad || n < a->n - a->n_kernel) {
		fprintf(stderr,
			"vexitprof: this kernel does not tell where libbpf attached QEMU's "
			"USDT probes (no cookie and semaphore in its link info): sampled counting "
			"cannot re-attach them; "
			"--exact counts all the time\n");
		return -1;
	}
	qsort(out, n, sizeof(*out), cmp_site);
	return n;
}

int usdt_sites_attach(struct vp_attacher *a, const struct usdt_site *s, int n, int *fds)
{
	int k = 0;

	for (int i = 0; i < n;) {
		__u64 off[USDT_MAX_SITES], ref[USDT_MAX_SITES], cookie[USDT_MAX_SITES];
		union bpf_attr attr;
		struct link_create_umulti lc = {
		    .prog_fd = bpf_program__fd(s[i].prog),
		    .attach_type = TRACE_UPROBE_MULTI,
		    .path = (__u64)(unsigned long)a->o.exe_path,
		    .offsets = (__u64)(unsigned long)off,
		    .ref_ctr_offsets = (__u64)(unsigned long)ref,
		    .cookies = (__u64)(unsigned long)cookie,
		    .pid = a->o.pid,
		};
		const struct bpf_program *p = s[i].prog;
		int fd;

		for (; i < n && s[i].prog == p; i++) {
			off[lc.cnt] = s[i].offset;
			ref[lc.cnt] = s[i].ref_ctr;
			cookie[lc.cnt++] = s[i].cookie;
		}
		_Static_assert(sizeof(lc) <= sizeof(attr), "bpf_attr");
		memset(&attr, 0, sizeof(attr));
		memcpy(&attr, &lc, sizeof(lc));
		fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
		if (fd < 0) {
			int err = -errno;

			while (k--)
				close(fds[k]);
			return err;
		}
		fds[k++] = fd;
	}
	return k;
}
