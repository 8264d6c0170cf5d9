/*
 * e1000-opt stage 3: a sidecore thread that runs the TX data path.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_E1000_SIDECORE_H
#define HW_NET_E1000_SIDECORE_H

#include "qapi/qapi-types-common.h"
#include "qemu/notify.h"
#include "qemu/thread.h"
#include "system/runstate.h"
#include "e1000_opt.h"
#include "e1000_shadow.h"

/* Threads whose run-queue wait x-sidecore=auto watches (see the .c). */
#define E1000_SIDECORE_MAX_WATCHED 17

/*
 * x-sidecore=auto: the sidecore thread's view of how long the threads it
 * competes with wait for a CPU.  Only the sidecore thread touches it.
 */
typedef struct E1000SidecoreAdapt {
    int fd[E1000_SIDECORE_MAX_WATCHED];  /* schedstat; [0] is the sidecore */
    int nfd;
    int64_t wait_ns;        /* sum of the watched threads' run-queue wait */
    int64_t sample_ns;      /* when wait_ns was read; 0: no baseline */
    uint32_t ewma;          /* run-queue wait, 1/1000 of a CPU, averaged */
    bool seeded;            /* ewma holds a sample of the current mode */
    int64_t mode_since_ns;  /* last switch */
    int64_t backoff_ns;     /* inline: stay at least this long */
    bool broken;            /* schedstat unreadable: stay inline */
} E1000SidecoreAdapt;

typedef struct E1000Sidecore {
    /* Properties. */
    OnOffAuto mode;     /* off, on (always), auto (while a CPU is free) */
    uint32_t spin_us;   /* busy-poll this long after the last work */
    int32_t cpu;        /* host CPU to pin to, -1 for none */

    QemuThread thread;
    QemuEvent wake;
    bool started;
    bool stop;
    bool kicked;        /* a trapped TX request is waiting */
    bool vm_running;
    VMChangeStateEntry *vmse;
    Notifier suspend;
    Notifier wakeup;

    /*
     * x-sidecore=auto: TX currently runs inline, in the thread that asks
     * for it, as with the stage off.  Written by the sidecore thread with
     * the BQL held, read by e1000_sidecore_claim_tx() with the BQL held.
     */
    bool inline_tx;
    bool inline_busy;   /* inline TX was asked for since the last sample */
    bool inline_idle;   /* the thread waits for inline TX to watch */
    uint32_t switches;  /* mode switches so far */
    E1000SidecoreAdapt adapt;

    E1000Shadow *shadow; /* NULL unless x-shadow-regs is on */
    const E1000OptOps *ops;
    void *dev;
} E1000Sidecore;

static inline bool e1000_sidecore_wanted(const E1000Sidecore *sc)
{
    return sc->mode != ON_OFF_AUTO_OFF;
}

bool e1000_sidecore_check(E1000Sidecore *sc, Error **errp);
void e1000_sidecore_realize(E1000Sidecore *sc, E1000Shadow *shadow,
                            const E1000OptOps *ops, void *dev,
                            const char *name);
void e1000_sidecore_unrealize(E1000Sidecore *sc);
/*
 * Called, with the BQL held, where TX emulation would start.  Returns true
 * when TX belongs to the sidecore: it has been woken and the caller must
 * not run TX itself.
 */
bool e1000_sidecore_claim_tx(E1000Sidecore *sc);

#endif
