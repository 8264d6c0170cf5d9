/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof --serve: the kernel's process events (the netlink proc
 * connector), so a QEMU is found when it execs instead of at the next scan
 * of /proc, and the daemon does not read every process's /proc/PID/exe five
 * times a second.  Needs CAP_NET_ADMIN; without it the daemon scans.
 */
#ifndef VP_SERVE_EVENTS_H
#define VP_SERVE_EVENTS_H

/* A socket to poll for exec events, or -errno. */
int events_open(void);
/*
 * Reads what is pending: exec(pid, arg) for each process that exec'd.
 * Returns 1 if events were lost (the caller scans /proc), 0, or -errno.
 */
int events_read(int fd, void (*exec)(int pid, void *arg), void *arg);
#endif
