/* SPDX-License-Identifier: GPL-2.0 */
/* vexitprof --serve: which processes on this host are QEMU, and what their VMs are called. */
#ifndef VP_SERVE_DISCOVER_H
#define VP_SERVE_DISCOVER_H
#include <stdbool.h>
#include <stddef.h>

/*
 * Calls found(pid, arg) for every running QEMU process (the same test as -p:
 * the executable or the command is qemu-system-*); returns how many, or
 * -errno if /proc cannot be read.
 */
int discover_qemus(void (*found)(int pid, void *arg), void *arg);
/*
 * The VM's name: QEMU's "-name [guest=]NAME[,...]" (also --name, -name=...),
 * else "pid-PID".  Always fills buf.
 */
void discover_vm_name(int pid, char *buf, size_t len);
/* The process's start time (/proc/PID/stat, clock ticks since boot): tells a reused pid apart. */
unsigned long long discover_starttime(int pid);
#endif
