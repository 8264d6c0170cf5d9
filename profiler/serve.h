/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vexitprof --serve: the daemon.  Finds QEMU processes (serve_discover.c),
 * holds one attacher per VM (attach.c), turns each scrape into samples
 * (snapshot.c -> attribute.c -> metrics.c) and serves them (serve_http.c,
 * metrics_expo.c).
 */
#ifndef VP_SERVE_H
#define VP_SERVE_H
#include <signal.h>

/* Runs until *stop (or -d); returns an exit code (vexitprof.8). */
int serve_main(volatile sig_atomic_t *stop);
#endif
