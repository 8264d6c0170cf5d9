// SPDX-License-Identifier: GPL-2.0
/*
 * The ops table of the two begin/end pairs (report.h's enum vp_exit_kind):
 * what differs between a VM exit and an exit to QEMU, said once.
 */
#include "exit_reasons.h"
#include "report.h"

static const char *kernel_title(const struct vp_report *r)
{
	(void)r;
	return "VM exits (kvm:kvm_exit .. kvm:kvm_entry)";
}

static const char *kernel_none(const struct vp_report *r)
{
	return r->exit_tp ? "none: kvm:kvm_exit did not fire (on PVM hosts it never fires; exits "
			    "to QEMU below still are measured)"
			  : "none: kvm:kvm_exit is not available (on PVM hosts it never fires; "
			    "exits to QEMU below still are measured)";
}

static const char *kernel_reason(const struct vp_exit_row *e, char *buf, size_t len)
{
	return exit_reason_name(e->isa, e->reason, buf, len);
}

static const char *qemu_title(const struct vp_report *r)
{
	/* with kvm_fpu as the boundary, KVM_RUN's own exit and entry path is inside the pair */
	return r->run_hook == VP_HOOK_KVM_FPU
		   ? "Exits to QEMU user space (kvm_userspace_exit .. next KVM_RUN's kvm_fpu: "
		     "QEMU's time plus KVM_RUN's own exit and entry path)"
		   : "Exits to QEMU user space (KVM_RUN return .. next KVM_RUN)";
}

static const char *qemu_none(const struct vp_report *r)
{
	return r->kvm_accesses ? "none seen" : "none seen (not a KVM guest, or idle)";
}

static const char *qemu_reason(const struct vp_exit_row *e, char *buf, size_t len)
{
	return uexit_reason_name(e->reason, buf, len);
}

const struct vp_exit_ops vp_exit_ops[VP_EXIT_KINDS] = {
    [VP_EXIT_KERNEL] =
	{
	    .json_key = "exits",
	    .json_ns_key = "total_ns",
	    .table_ns_col = "TIME(ms)",
	    .has_isa = true,
	    .has_user = true,
	    .folded_handler = "kvm",
	    .title = kernel_title,
	    .none = kernel_none,
	    .reason_name = kernel_reason,
	},
    [VP_EXIT_QEMU] =
	{
	    .json_key = "userspace_exits",
	    .json_ns_key = "user_ns",
	    .table_ns_col = "QEMU(ms)",
	    .has_isa = false,
	    .has_user = false,
	    .folded_handler = "qemu",
	    .title = qemu_title,
	    .none = qemu_none,
	    .reason_name = qemu_reason,
	},
};
