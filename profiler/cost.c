// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "cost.h"

int cost_enable_stats(void)
{
	return bpf_enable_stats(BPF_STATS_RUN_TIME);
}

unsigned long long cost_run_count(struct vexitprof_bpf *skel)
{
	struct bpf_program *p;
	unsigned long long n = 0;

	bpf_object__for_each_program(p, skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n += info.run_cnt;
	}
	return n;
}

/*
 * The probe must sit on a nop of the kind QEMU's USDT sites use: the kernel
 * emulates a 1-byte nop after the trap (other instructions are single-stepped
 * out of line, which costs far more), and Linux 6.18+ rewrites a 5-byte nop
 * into a call to a trampoline after the first hit, which is cheaper again.
 */
__attribute__((noinline)) void vexitprof_calib_target1(int i)
{
	__asm__ volatile(".globl vexitprof_calib_nop1\n"
			 ".type vexitprof_calib_nop1, @function\n"
			 "vexitprof_calib_nop1: nop\n"
			 :
			 : "r"(i)
			 : "memory");
}

__attribute__((noinline)) void vexitprof_calib_target5(int i)
{
	__asm__ volatile(".globl vexitprof_calib_nop5\n"
			 ".type vexitprof_calib_nop5, @function\n"
			 "vexitprof_calib_nop5: .nops 5\n"
			 :
			 : "r"(i)
			 : "memory");
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double time_calls(void (*f)(int), int n)
{
	double t = now_ns();

	for (int i = 0; i < n; i++)
		f(i);
	return now_ns() - t;
}

double cost_calibrate_uprobe(struct vexitprof_bpf *skel, int nop_len)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts,
		    .func_name = nop_len == 5 ? "vexitprof_calib_nop5" : "vexitprof_calib_nop1");
	void (*f)(int) = nop_len == 5 ? vexitprof_calib_target5 : vexitprof_calib_target1;
	struct bpf_link *l;
	const int n = 20000;
	double base, with;

	l = bpf_program__attach_uprobe_opts(skel->progs.calib_uprobe, 0, "/proc/self/exe", 0,
					    &opts);
	if (!l)
		return 0;
	time_calls(f, n); /* fault the probe page in (and let the kernel optimize a 5-byte nop) */
	with = time_calls(f, n);
	bpf_link__destroy(l);
	base = time_calls(f, n);
	return with > base ? (with - base) / n : 0;
}

void cost_collect(struct vp_report *r, struct vexitprof_bpf *skel, bool stats, double trap_ns)
{
	struct vp_cost *c = &r->cost;
	struct bpf_program *p;
	double usdt_bpf_ns = 0;

	memset(c, 0, sizeof(*c));
	c->stats = stats;
	c->trap_ns = trap_ns;
	bpf_object__for_each_program(p, skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);
		bool usdt = !strncmp(bpf_program__name(p), "usdt_", 5);

		if (fd < 0 || !bpf_program__autoload(p) || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		if (!strcmp(bpf_program__name(p), "calib_uprobe"))
			continue;
		if (c->nprogs < (int)(sizeof(c->progs) / sizeof(c->progs[0]))) {
			c->progs[c->nprogs].name = bpf_program__name(p);
			c->progs[c->nprogs].run_cnt = info.run_cnt;
			c->progs[c->nprogs].run_time_ns = info.run_time_ns;
			c->nprogs++;
		}
		c->bpf_run_ns += info.run_time_ns;
		c->bpf_run_cnt += info.run_cnt;
		if (usdt)
			usdt_bpf_ns += info.run_time_ns;
	}
	for (int i = VP_C_KVM_EXIT; i <= VP_C_INJ_VIRQ; i++)
		c->events_kernel += r->cnt.c[i];
	/* with fentry, one fexit run stands for the ioctl's return and kvm_userspace_exit */
	if (r->run_hook == VP_HOOK_FENTRY && c->events_kernel >= r->cnt.c[VP_C_IOCTL_EXIT])
		c->events_kernel -= r->cnt.c[VP_C_IOCTL_EXIT];
	c->events_usdt = r->cnt.c[VP_C_USDT_MR] + r->cnt.c[VP_C_USDT_E1000];
	/*
	 * Events traced x measured per-event cost.  The BPF mean includes the
	 * early returns for other processes (other VMs' exits; with the ioctl
	 * tracepoints, every ioctl on the host), which makes it cheaper per run
	 * than a real event: the estimate leans low there, and it leaves out the
	 * fixed cost of entering a program (trampoline, tracepoint dispatch).
	 * USDT events add the calibrated trap.
	 */
	if (c->bpf_run_cnt)
		c->est_ns =
		    (double)(c->events_kernel + c->events_usdt) * c->bpf_run_ns / c->bpf_run_cnt;
	c->est_ns += c->events_usdt * trap_ns;
	(void)usdt_bpf_ns;
}
