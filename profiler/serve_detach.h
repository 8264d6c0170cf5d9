/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof --serve: BPF links closed on worker threads.  Closing a uprobe
 * link disarms it at once, then waits for RCU grace periods (~75 ms here):
 * the daemon must not wait, and a window's links must not wait for each
 * other (each one stays armed, trapping, until its turn).  A few threads
 * for the daemon's life: creating one per close cost more CPU than the rest
 * of a window (stacks mapped and unmapped, on a PVM guest a TLB flush each).
 */
#ifndef VP_SERVE_DETACH_H
#define VP_SERVE_DETACH_H
#include <stdbool.h>

struct bpf_link;

/* Start the workers; 0 or -errno (then detach_queue closes in place). */
int detach_start(void);
/* Wait for every queued close, stop the workers. */
void detach_stop(void);
/*
 * Queue one job: destroy links l[0..n) one after another (libbpf's USDT
 * links of one object must not be detached at once), then close fd (if >= 0).
 * *pending counts the jobs of its owner not done yet.
 */
void detach_queue(struct bpf_link *const *l, int n, int fd, int *pending);
/* No job of *pending left; wait: until none is. */
bool detach_done(int *pending, bool wait);
#endif
