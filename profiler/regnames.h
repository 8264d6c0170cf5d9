/* SPDX-License-Identifier: GPL-2.0 */
/* Names of device registers and I/O ports, for labelling exits. */
#ifndef VP_REGNAMES_H
#define VP_REGNAMES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Name of the register at byte `offset` into the QEMU MemoryRegion called
 * `region_name` (QEMU's names: "e1000-mmio", "virtio-pci-common-virtio-net",
 * "serial", ...).  Array registers are named by 32-bit word index, as QEMU's
 * e1000 model indexes them ("RA[3]", "MTA[12]"); an offset inside a register
 * gets "+N" ("TDT+2"); an unknown offset or region gives "+0x<offset>".
 * The name is written to buf (truncated to buflen, always NUL-terminated)
 * and buf is returned.  With buf NULL or buflen 0 the result is a static
 * string for registers with fixed names and NULL for anything that needs
 * formatting.
 */
const char *regname_lookup(const char *region_name, uint64_t offset, char *buf, size_t buflen);

/* Name of the device behind x86 I/O port `port` on QEMU's pc and q35
 * machines with their default devices and firmware (e.g. "COM1",
 * "PCI_CONFIG_DATA", "ACPI PM"), or NULL. */
const char *pioname_lookup(uint16_t port);

#endif
