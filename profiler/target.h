/* SPDX-License-Identifier: GPL-2.0 */
/* The QEMU process being profiled and the host it runs on: checks made before attaching. */
#ifndef VP_TARGET_H
#define VP_TARGET_H
#include <stdbool.h>
#include <stddef.h>

/* Exit codes (documented in vexitprof.8) */
#define VP_EXIT_OK	0
#define VP_EXIT_ERROR	1 /* attach/load failure or internal error */
#define VP_EXIT_USAGE	2 /* bad option */
#define VP_EXIT_NOPID	3 /* no such process */
#define VP_EXIT_NOTQEMU 4 /* the process is not QEMU */
#define VP_EXIT_PERM	5 /* not root / missing capabilities */
#define VP_EXIT_NOTRACE 6 /* tracefs or kvm tracepoints missing */
#define VP_EXIT_BUSY	7 /* another vexitprof profiles this pid */
#define VP_EXIT_OUTPUT	8 /* the report could not be written (stdout, --flamegraph) */

bool target_alive(int pid);
/* exe path of pid in buf; false if pid does not exist */
bool target_exe(int pid, char *buf, size_t len);
bool target_is_qemu(int pid, const char *exe);
/*
 * 1: the ELF has USDT notes of provider, 0: none, <0 error.  nop_len (may be
 * NULL) gets the length of the nop at the first site: 1 (<sys/sdt.h>), or 5
 * (QEMU with qemu-patches/0007), which Linux 6.18+ turns into a call.
 */
int target_has_usdt(const char *path, const char *provider, int *nop_len);
/* vCPU index of a QEMU thread from its name ("CPU 1/KVM"), -1 if not a vCPU thread */
int target_tid_vcpu(int pid, int tid);
/*
 * What target_tid_vcpu() remembers is kept per QEMU pid (many targets may be
 * profiled at once); target_forget() drops pid's part when it is detached.
 */
/* Remember that tid of pid is vCPU vcpu (BPF read it from KVM's struct kvm_vcpu). */
void target_note_vcpu(int pid, int tid, int vcpu);
/* Remember that tid runs KVM_RUN on fd: /proc/PID/fd/fd is "anon_inode:kvm-vcpu:N". */
void target_note_run_fd(int pid, int tid, int fd);
void target_forget(int pid);
/* Number of vCPU fds QEMU holds (KVM); 0 under TCG. */
int target_count_vcpu_fds(int pid);
/* Calls cb(tid, vcpu) for every current vCPU thread; returns their number. */
int target_vcpu_threads(int pid, void (*cb)(int tid, int vcpu, void *), void *arg);
/* Checks CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN in the effective set. */
bool target_have_caps(void);
/*
 * tracefs: mounts it at dir if absent.  Returns 0, or an exit code with one
 * line printed.  kvm events must be listed under dir/events/kvm.
 */
int target_check_tracefs(const char *dir);
/*
 * Lock /run/vexitprof/PID.lock; returns fd, or -1 with holder's pid in *holder
 * (0 unknown: the lock could not be taken for another reason, errno says which).
 */
int target_lock(int pid, int *holder);
/* Remove the lock file and release the lock taken by target_lock (fd < 0: nothing). */
void target_unlock(int pid, int fd);
#endif
