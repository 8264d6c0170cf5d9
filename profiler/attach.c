// SPDX-License-Identifier: GPL-2.0
/*
 * The attacher: one QEMU process's BPF object and links.
 *
 * KVM_RUN boundaries: fentry/fexit on kvm_arch_vcpu_ioctl_run, else
 * kvm:kvm_fpu + kvm:kvm_userspace_exit (as cheap, for this QEMU's threads
 * only, but the time between them also holds KVM_RUN's own entry and exit
 * path), else the ioctl syscall tracepoints (exact, but they slow every
 * system call on the host).  attacher_probe() rules out the ways this kernel
 * lacks without opening anything; a way that still fails to load or attach
 * is dropped for the next one; --kvm-run HOOK tries that one only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "vexitprof.skel.h"
#include "attach.h"
#include "cost.h"
#include "report.h"
#include "target.h"

#define H(x) (1u << (x))
/* enum bpf_attach_type's BPF_TRACE_UPROBE_MULTI (Linux 6.6; this system's uapi headers are older)
 */
#define VP_TRACE_UPROBE_MULTI 48

struct tp_prog {
	const char *prog;
	const char *cat, *name; /* tracepoint; cat NULL: fentry/fexit on function name */
	bool required;
	unsigned int hooks; /* 0: always; else only with these (1 << enum vp_run_hook) */
};

static const struct tp_prog tps[] = {
    {"tp_kvm_exit", "kvm", "kvm_exit", false, 0},
    {"tp_kvm_entry", "kvm", "kvm_entry", false, 0},
    {"tp_kvm_mmio", "kvm", "kvm_mmio", true, 0},
    {"tp_kvm_pio", "kvm", "kvm_pio", false, 0},
    {"tp_kvm_set_irq", "kvm", "kvm_set_irq", false, 0},
    {"tp_kvm_msi_set_irq", "kvm", "kvm_msi_set_irq", false, 0},
    {"tp_kvm_inj_virq", "kvm", "kvm_inj_virq", false, 0},
    /* KVM_RUN boundaries, one of three ways */
    {"fentry_kvm_run", NULL, "kvm_arch_vcpu_ioctl_run", true, H(VP_HOOK_FENTRY)},
    {"fexit_kvm_run", NULL, "kvm_arch_vcpu_ioctl_run", true, H(VP_HOOK_FENTRY)},
    {"tp_kvm_fpu", "kvm", "kvm_fpu", true, H(VP_HOOK_KVM_FPU)},
    {"tp_kvm_userspace_exit", "kvm", "kvm_userspace_exit", true,
     H(VP_HOOK_KVM_FPU) | H(VP_HOOK_SYSCALLS)},
    {"tp_sys_enter_ioctl", "syscalls", "sys_enter_ioctl", false, H(VP_HOOK_SYSCALLS)},
    {"tp_sys_exit_ioctl", "syscalls", "sys_exit_ioctl", false, H(VP_HOOK_SYSCALLS)},
};
#define NTPS (sizeof(tps) / sizeof(tps[0]))

struct usdt_prog {
	const char *prog, *name;
	bool e1000;
};

static const struct usdt_prog usdts[] = {
    {"usdt_mr_read", "memory_region_ops_read", false},
    {"usdt_mr_write", "memory_region_ops_write", false},
    {"usdt_e1000_tx_batch", "e1000_tx_batch", true},
    {"usdt_e1000_rx_frame", "e1000_rx_frame", true},
    {"usdt_e1000_irq_raise", "e1000_irq_raise", true},
    {"usdt_e1000_irq_lower", "e1000_irq_lower", true},
};

static struct bpf_program *prog(struct vp_attacher *a, const char *name)
{
	return bpf_object__find_program_by_name(a->skel->obj, name);
}

static bool tp_exists(struct vp_attacher *a, const char *cat, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/events/%s/%s", a->o.tracefs, cat, name);
	return !access(p, F_OK);
}

/*
 * kvm_arch_vcpu_ioctl_run in the kernel's BTF (built in, or in kvm's module
 * BTF).  Parsing the kernel's BTF takes a good part of a second, and the
 * answer is the kernel's, not a target's: asked once per process (a daemon
 * attaching to each new QEMU asks for every fentry program).
 */
static bool fentry_can_attach(const char *fn)
{
	static char known_fn[64];
	static bool known_ok;
	struct btf *vmlinux, *mod = NULL;
	bool ok = false;

	if (known_fn[0] && !strcmp(known_fn, fn))
		return known_ok;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return false;
	ok = btf__find_by_name_kind(vmlinux, fn, BTF_KIND_FUNC) > 0;
	if (!ok && !access("/sys/kernel/btf/kvm", R_OK)) {
		mod = btf__parse_split("/sys/kernel/btf/kvm", vmlinux);
		ok = mod && btf__find_by_name_kind(mod, fn, BTF_KIND_FUNC) > 0;
	}
	btf__free(mod);
	btf__free(vmlinux);
	snprintf(known_fn, sizeof(known_fn), "%s", fn);
	known_ok = ok;
	return ok;
}

/* the last way to try: its failure is final */
static int end_hook(const struct vp_attacher *a)
{
	return a->o.kvm_run ? a->o.kvm_run : VP_HOOK_SYSCALLS;
}

/* hook cannot be used (hook_err says why): try the next one */
static void drop_hook(struct vp_attacher *a, int hook)
{
	if (a->o.verbose)
		fprintf(stderr, "vexitprof: KVM_RUN via %s: %s; trying the next way\n",
			run_hook_name(hook), a->hook_err[hook]);
}

static int tp_missing(const struct tp_prog *t)
{
	fprintf(stderr, "vexitprof: tracepoint %s:%s is missing from this kernel\n", t->cat,
		t->name);
	return VP_EXIT_NOTRACE;
}

struct vp_attacher *attacher_new(const struct vp_attach_opts *o)
{
	struct vp_attacher *a = calloc(1, sizeof(*a));

	if (a)
		a->o = *o;
	return a;
}

int attacher_probe(struct vp_attacher *a)
{
	int first = a->o.kvm_run ? a->o.kvm_run : VP_HOOK_FENTRY, end = end_hook(a);

	/* tracepoints every way needs */
	for (size_t i = 0; i < NTPS; i++)
		if (tps[i].required && !tps[i].hooks && !tp_exists(a, tps[i].cat, tps[i].name))
			return tp_missing(&tps[i]);
	/* a way whose tracepoints are missing is not loaded (said when it would have been) */
	for (int h = VP_HOOK_NONE; h <= VP_HOOK_SYSCALLS; h++) {
		if (h < first || h > end) {
			snprintf(a->hook_err[h], sizeof(a->hook_err[h]), "not asked for");
			continue;
		}
		for (size_t i = 0; i < NTPS && !a->hook_err[h][0]; i++) {
			if (!(tps[i].hooks & H(h)) || !tps[i].required)
				continue;
			if (!tps[i].cat) {
				/* the last way to try: loading says what is wrong */
				if (h != end && !fentry_can_attach(tps[i].name))
					snprintf(a->hook_err[h], sizeof(a->hook_err[h]),
						 "no %s in the kernel's BTF", tps[i].name);
			} else if (!tp_exists(a, tps[i].cat, tps[i].name)) {
				a->missing[h] = &tps[i];
				snprintf(a->hook_err[h], sizeof(a->hook_err[h]),
					 "no tracepoint %s:%s", tps[i].cat, tps[i].name);
			}
		}
	}
	return 0;
}

/* Open and load with the KVM_RUN boundaries from hook: 0, -EAGAIN (next way), or an exit code. */
static int load_hook(struct vp_attacher *a, int hook)
{
	bool last = hook == end_hook(a);
	struct bpf_program *p;
	int err;

	a->skel = vexitprof_bpf__open();
	if (!a->skel) {
		fprintf(stderr, "vexitprof: cannot open the BPF object: %s\n", strerror(errno));
		return VP_EXIT_ERROR;
	}
	a->skel->rodata->run_hook = hook;
	a->skel->rodata->timing = !a->o.untimed;
	for (size_t i = 0; i < NTPS; i++) {
		if (tps[i].hooks && !(tps[i].hooks & H(hook)))
			bpf_program__set_autoload(prog(a, tps[i].prog), false);
		else if (tps[i].cat && !tps[i].required && !tp_exists(a, tps[i].cat, tps[i].name))
			bpf_program__set_autoload(prog(a, tps[i].prog), false);
	}
	bpf_object__for_each_program(p, a->skel->obj)
	{
		const char *name = bpf_program__name(p);

		if (strncmp(name, "usdt_", 5))
			continue;
		if (!a->o.usdt || (!a->o.usdt_multi && !strncmp(name, "usdt_site_", 10)))
			bpf_program__set_autoload(p, false);
		else if (a->o.usdt_multi && strncmp(name, "usdt_site_", 10))
			bpf_program__set_expected_attach_type(p, VP_TRACE_UPROBE_MULTI);
	}
	if (!a->o.usdt)
		bpf_program__set_autoload(a->skel->progs.calib_uprobe, false);
	/* --on-cpu: the sampler and its maps only when asked for (the stack map is large) */
	a->skel->rodata->oncpu = a->o.oncpu_hz > 0;
	if (!a->o.oncpu_hz) {
		bpf_program__set_autoload(a->skel->progs.oncpu_sample, false);
		bpf_map__set_max_entries(a->skel->maps.cpu_stacks, 1);
		bpf_map__set_max_entries(a->skel->maps.cpu_samples, 1);
	}
	err = vexitprof_bpf__load(a->skel);
	if (!err) {
		a->hook = hook;
		return 0;
	}
	if (!last) {
		snprintf(a->hook_err[hook], sizeof(a->hook_err[hook]), "loading failed: %s",
			 strerror(-err));
		return -EAGAIN;
	}
	fprintf(stderr, "vexitprof: loading the BPF programs failed: %s (run with -v)\n",
		strerror(-err));
	return VP_EXIT_ERROR;
}

static void unload(struct vp_attacher *a)
{
	attacher_detach(a);
	vexitprof_bpf__destroy(a->skel);
	a->skel = NULL;
}

int attacher_load(struct vp_attacher *a)
{
	for (int h = a->hook + 1; h <= end_hook(a); h++) {
		int err;

		if (a->missing[h] && h == end_hook(a))
			return tp_missing(a->missing[h]);
		if (a->hook_err[h][0]) {
			if (h > VP_HOOK_NONE && strcmp(a->hook_err[h], "not asked for"))
				drop_hook(a, h);
			continue;
		}
		err = load_hook(a, h);
		if (err != -EAGAIN)
			return err;
		unload(a);
		drop_hook(a, h);
	}
	return VP_EXIT_ERROR; /* not reached: the last way's failure is final */
}

/* Keep link l (detached at the end); -1 with one line printed, and l detached, if full. */
static int keep(struct vp_attacher *a, struct bpf_link *l, const char *name)
{
	if (a->n >= VP_MAX_LINKS) {
		fprintf(stderr,
			"vexitprof: more than %d probes to attach (%s): raise VP_MAX_LINKS\n",
			VP_MAX_LINKS, name);
		bpf_link__destroy(l);
		return -1;
	}
	a->names[a->n] = name;
	a->links[a->n++] = l;
	return 0;
}

/*
 * Name the vCPU threads that exist now, so kernel events are keyed by vCPU even
 * before KVM_RUN or kvm_exit names them.  Only works when QEMU names its
 * threads (-name debug-threads=on); attacher_learn_vcpus() covers the rest.
 */
static void prefill_vcpu(int tid, int vcpu, void *arg)
{
	struct vp_attacher *a = arg;
	struct vp_tid_info ti = {.vcpu = vcpu, .run_fd = -1};
	__u32 key = tid;

	bpf_map_update_elem(bpf_map__fd(a->skel->maps.tid_vcpu), &key, &ti, BPF_NOEXIST);
}

/* the kernel's probes: 0, -EAGAIN (this way of tracing KVM_RUN failed), or an exit code */
static int attach_kernel(struct vp_attacher *a)
{
	bool last = a->hook == end_hook(a);

	a->skel->bss->targ_tgid = a->o.pid;
	target_vcpu_threads(a->o.pid, prefill_vcpu, a);
	/* before anything is attached, so the calibration delays no probe */
	if (a->o.usdt && a->o.calibrate && !a->trap_ns)
		a->trap_ns = cost_calibrate_uprobe(a->skel, a->o.usdt_nop_len);
	for (size_t i = 0; i < NTPS; i++) {
		struct bpf_program *p = prog(a, tps[i].prog);
		struct bpf_link *l;

		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			if (tps[i].hooks && !last) {
				snprintf(a->hook_err[a->hook], sizeof(a->hook_err[a->hook]),
					 "attaching failed: %s", strerror(errno));
				return -EAGAIN;
			}
			fprintf(stderr, "vexitprof: cannot attach to %s%s%s: %s\n",
				tps[i].cat ? tps[i].cat : "", tps[i].cat ? ":" : "", tps[i].name,
				strerror(errno));
			return VP_EXIT_ERROR;
		}
		if (keep(a, l, tps[i].name))
			return VP_EXIT_ERROR;
		if (!strcmp(tps[i].name, "kvm_exit"))
			a->exit_tp = true;
	}
	return 0;
}

static int attach_usdt(struct vp_attacher *a)
{
	int ok_e1000 = 0, n_e1000 = 0;
	const char *missing = NULL;

	for (size_t i = 0; i < sizeof(usdts) / sizeof(usdts[0]); i++) {
		struct bpf_link *l;

		char site[64];

		if (usdts[i].e1000 && !a->o.packet_probes)
			continue;
		n_e1000 += usdts[i].e1000;
		/* usdt_X's stand-in usdt_site_X (attach.h) */
		snprintf(site, sizeof(site), "usdt_site_%s", usdts[i].prog + 5);
		l = bpf_program__attach_usdt(prog(a, a->o.usdt_multi ? site : usdts[i].prog),
					     a->o.pid, a->o.exe_path, "qemu", usdts[i].name, NULL);
		if (!l) {
			/*
			 * A QEMU without our e1000 patch has none of its probes
			 * (ENOENT: not in the binary) and simply no per-packet
			 * figures.  Any other failure is an error.
			 */
			if (usdts[i].e1000 && errno == ENOENT) {
				missing = usdts[i].name;
				continue;
			}
			fprintf(stderr, "vexitprof: cannot attach USDT qemu:%s in %s: %s\n",
				usdts[i].name, a->o.exe_name, strerror(errno));
			return VP_EXIT_ERROR;
		}
		if (keep(a, l, usdts[i].name))
			return VP_EXIT_ERROR;
		ok_e1000 += usdts[i].e1000;
	}
	/*
	 * Some of the e1000 probes but not all (a QEMU with another version of
	 * the patch): the per-packet figures would mix counted and uncounted
	 * events, e.g. exits per packet from TX frames alone.
	 */
	if (ok_e1000 && ok_e1000 < n_e1000) {
		fprintf(stderr,
			"vexitprof: %s has %d of the %d e1000 USDT probes (no qemu:%s): "
			"per-packet figures would be wrong; --no-packet-probes profiles without "
			"them\n",
			a->o.exe_name, ok_e1000, n_e1000, missing);
		return VP_EXIT_ERROR;
	}
	a->e1000_usdt = ok_e1000 > 0;
	return 0;
}

int attacher_attach(struct vp_attacher *a)
{
	int err;

	while ((err = attach_kernel(a)) == -EAGAIN) {
		unload(a);
		a->exit_tp = false;
		drop_hook(a, a->hook);
		/* the next way after a->hook */
		err = attacher_load(a);
		if (err)
			return err;
	}
	if (err)
		return err;
	if (a->hook == VP_HOOK_SYSCALLS && !a->o.kvm_run)
		fprintf(stderr,
			"vexitprof: cannot trace KVM_RUN with fentry (%s) nor kvm:kvm_fpu (%s): "
			"using the ioctl syscall tracepoints, which slow every system call on the "
			"host while attached\n",
			a->hook_err[VP_HOOK_FENTRY], a->hook_err[VP_HOOK_KVM_FPU]);
	a->n_kernel = a->n;
	err = a->o.usdt ? attach_usdt(a) : 0;
	if (!err && a->o.oncpu_hz)
		err = oncpu_attach(&a->oncpu, a->skel->progs.oncpu_sample, a->o.oncpu_hz);
	return err;
}

int attacher_usdt_take(struct vp_attacher *a, struct bpf_link **out)
{
	int n = 0;

	for (int i = a->n_kernel; i < a->n; i++)
		out[n++] = a->links[i];
	a->n = a->n_kernel;
	return n;
}

void attacher_usdt_off(struct vp_attacher *a)
{
	struct bpf_link *l[VP_MAX_LINKS];
	int n = attacher_usdt_take(a, l);

	for (int i = 0; i < n; i++)
		bpf_link__destroy(l[i]);
}

void attacher_usdt_pause(struct vp_attacher *a, bool paused)
{
	__atomic_store_n(&a->skel->bss->vp_usdt_paused, paused, __ATOMIC_SEQ_CST);
}

void attacher_usdt_window(struct vp_attacher *a, unsigned long long from_ns,
			  unsigned long long until_ns)
{
	__atomic_store_n(&a->skel->bss->vp_usdt_from, from_ns, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->skel->bss->vp_usdt_until, until_ns, __ATOMIC_SEQ_CST);
}

int attacher_usdt_on(struct vp_attacher *a)
{
	/* a detached VM stays detached */
	if (!a->o.usdt || !a->n_kernel || a->n > a->n_kernel)
		return 0;
	return attach_usdt(a);
}

void attacher_learn_vcpus(struct vp_attacher *a)
{
	int fd = bpf_map__fd(a->skel->maps.tid_vcpu);
	__u32 key, prev_key, *prev = NULL;
	struct vp_tid_info ti;

	while (!bpf_map_get_next_key(fd, prev, &key)) {
		if (!bpf_map_lookup_elem(fd, &key, &ti)) {
			if (ti.vcpu >= 0)
				target_note_vcpu(a->o.pid, key, ti.vcpu);
			else if (ti.run_fd > 0)
				target_note_run_fd(a->o.pid, key, ti.run_fd);
		}
		prev_key = key;
		prev = &prev_key;
	}
}

void attacher_close(struct vp_attacher *a)
{
	__atomic_store_n(&a->skel->bss->vp_closed, 1, __ATOMIC_SEQ_CST);
}

void attacher_detach(struct vp_attacher *a)
{
	oncpu_detach(&a->oncpu);
	for (int i = 0; i < a->n; i++)
		bpf_link__destroy(a->links[i]);
	a->n = 0;
	a->n_kernel = 0;
}

void attacher_free(struct vp_attacher *a)
{
	if (!a)
		return;
	unload(a);
	/* what was learned about its threads goes with the target */
	target_forget(a->o.pid);
	free(a);
}
