/*
 * e1000-opt stage 3: a sidecore thread that runs the TX data path.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_E1000_SIDECORE_H
#define HW_NET_E1000_SIDECORE_H

#include "qemu/notify.h"
#include "qemu/thread.h"
#include "system/runstate.h"
#include "e1000_opt.h"
#include "e1000_shadow.h"

typedef struct E1000Sidecore {
    /* Properties. */
    bool enabled;
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

    E1000Shadow *shadow; /* NULL unless x-shadow-regs is on */
    const E1000OptOps *ops;
    void *dev;
} E1000Sidecore;

bool e1000_sidecore_check(E1000Sidecore *sc, Error **errp);
void e1000_sidecore_realize(E1000Sidecore *sc, E1000Shadow *shadow,
                            const E1000OptOps *ops, void *dev,
                            const char *name);
void e1000_sidecore_unrealize(E1000Sidecore *sc);
/*
 * Called where TX emulation would start.  Returns true when TX belongs to
 * the sidecore: it has been woken and the caller must not run TX itself.
 */
bool e1000_sidecore_claim_tx(E1000Sidecore *sc);

#endif
