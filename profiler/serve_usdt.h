/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --serve's sampled counting attaches QEMU's USDT probes once a second.
 * Each uprobe libbpf attaches is a perf event, and closing one disarms it and
 * waits for RCU grace periods (~75 ms here) under a kernel-wide mutex: the
 * last of the six probes would stay armed (trapping) ~0.4 s after each
 * window.  A uprobe_multi link (Linux 6.6) disarms all its uprobes at once
 * and waits once, on its own.  So libbpf attaches stand-in programs
 * (usdt_site_*) once, which fills its argument specs; the kernel tells
 * their uprobes (file offset, semaphore, BPF cookie = spec id, in its
 * link info), and each window attaches the real programs (loaded as
 * uprobe_multi ones, attach.h usdt_multi) there, one link per program.
 */
#ifndef VP_SERVE_USDT_H
#define VP_SERVE_USDT_H
#include <linux/types.h>

struct bpf_program;
struct bpf_link;
struct vp_attacher;

struct usdt_site {
	struct bpf_program *prog; /* the real program (usdt_X for usdt_site_X) */
	__u64 offset;		  /* in the executable */
	__u64 ref_ctr;		  /* the probe's semaphore, file offset (0: none) */
	__u64 cookie;		  /* libbpf's spec id */
};

#define USDT_MAX_SITES 32

/*
 * BPF_LINK_CREATE's attributes for a uprobe_multi link (Linux 6.6), laid out
 * as the kernel's union bpf_attr has them (this system's uapi headers are
 * older); the rest of the union stays 0.  Also serve_calib.c's.
 */
struct link_create_umulti {
	__u32 prog_fd, target_fd, attach_type, flags;
	__u64 path, offsets, ref_ctr_offsets, cookies;
	__u32 cnt, umulti_flags, pid;
};
#define TRACE_UPROBE_MULTI 48

/*
 * The uprobes behind a's USDT links (attached by attacher_attach with
 * usdt_multi, not yet detached): how many, or -1 with one line printed if this
 * kernel's link info does not say (older kernels).
 */
int usdt_sites(struct vp_attacher *a, struct usdt_site *out, int max);
/*
 * Attach the real programs at the sites (sorted by program): one
 * uprobe_multi link fd per program in fds; how many, or -errno (none left).
 */
int usdt_sites_attach(struct vp_attacher *a, const struct usdt_site *s, int n, int *fds);
#endif
