/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VP_EXIT_REASONS_H
#define VP_EXIT_REASONS_H
#include <stddef.h>

/* Name of a kvm_exit reason for the isa (1 VMX, 2 SVM); unknown codes come back as "0x..." in buf.
 */
const char *exit_reason_name(unsigned int isa, unsigned int reason, char *buf, size_t len);
const char *isa_name(unsigned int isa);
/* KVM_EXIT_* name without the prefix ("MMIO", "IO" ...), "EINTR" for an interrupted KVM_RUN. */
const char *uexit_reason_name(unsigned int reason, char *buf, size_t len);
#endif
