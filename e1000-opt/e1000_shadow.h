/*
 * e1000-opt stage 2: ring register shadowing.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_E1000_SHADOW_H
#define HW_NET_E1000_SHADOW_H

#include "exec/memory.h"
#include "e1000_opt.h"

enum { E1000_SHADOW_RX, E1000_SHADOW_TX, E1000_SHADOW_RINGS };
#define E1000_SHADOW_RX_MASK (1u << E1000_SHADOW_RX)
#define E1000_SHADOW_TX_MASK (1u << E1000_SHADOW_TX)

typedef struct E1000Shadow {
    /* Properties. */
    bool enabled;
    uint32_t poll_us;   /* tail poll period while RX waits for a refill */
    uint32_t idle_us;   /* go back to trapping after this long idle */

    MemoryRegion page[E1000_SHADOW_RINGS];
    uint32_t *ram[E1000_SHADOW_RINGS];  /* the page as the guest sees it */
    /* The page as last synchronised: a difference is a guest write. */
    uint32_t seen[E1000_SHADOW_RINGS][E1000_OPT_PAGE_SIZE / 4];
    bool active[E1000_SHADOW_RINGS];
    QEMUTimer *poll_timer;
    int64_t last_work_ns;
    /* idle_us, lengthened while the page keeps coming back (poll_timer_cb) */
    int64_t idle_ns;
    int64_t unmapped_ns;    /* when the timer last unmapped it idle; 0: not */
    unsigned pending_kick;  /* rings whose folded tail still needs work */
    bool rx_starved;        /* RX ring ran dry while shadowed: poll_us */
    bool syncing;           /* applying the page's writes via ops->write_reg */
    /*
     * A poller other than our timer (the sidecore, running TX) watches the
     * tails.  Only then is the TX page shadowed; without it TDT traps.
     */
    bool external_poller;
    void (*wake_poller)(void *opaque);
    void *poller_opaque;
    /*
     * TCG only: after an unmap a vCPU may still store into the page until
     * it has flushed its TLB; those stores are looked for once every vCPU
     * has done so (late_store_check in e1000_shadow.c).  late_check stays
     * set until the ring is shadowed again or reset: checking again after
     * the flush finds the page unchanged.
     */
    bool late_check[E1000_SHADOW_RINGS];
    uint32_t folded_tail[E1000_SHADOW_RINGS];
    bool unrealized;        /* the pages are gone; a queued check is moot */

    Object *owner;
    uint32_t *mac_reg;
    const E1000OptOps *ops;
    void *dev;
} E1000Shadow;

bool e1000_shadow_check(E1000Shadow *sh, Error **errp);
/* Create the shadow pages (hidden) over @bar; false and @errp on failure. */
bool e1000_shadow_realize(E1000Shadow *sh, Object *owner, MemoryRegion *bar,
                          uint32_t *mac_reg, const E1000OptOps *ops,
                          void *dev, Error **errp);
void e1000_shadow_unrealize(E1000Shadow *sh);
/* Start shadowing ring @ring's page (the guest just wrote its tail). */
void e1000_shadow_activate(E1000Shadow *sh, int ring);
/* Trap again and fold the page back into the register file. */
void e1000_shadow_deactivate(E1000Shadow *sh, int ring);
/* Drop the shadow without folding it back (device reset). */
void e1000_shadow_reset(E1000Shadow *sh);
/*
 * Copy guest-written tails of the rings in @rings (mask of 1 << ring) into
 * mac_reg; returns the mask of tails that moved.
 */
unsigned e1000_shadow_pull(E1000Shadow *sh, unsigned rings);
/* A trapped register access: the guest may have moved a tail meanwhile. */
void e1000_shadow_trapped_access(E1000Shadow *sh);
/* The RX ring has no buffer for the next frame: watch its tail closely. */
void e1000_shadow_rx_starved(E1000Shadow *sh);
/* After a trapped write to the register at byte offset @off. */
void e1000_shadow_after_write(E1000Shadow *sh, hwaddr off);
/* Fold every shadowed page back and trap again (idle, park, migration). */
void e1000_shadow_deactivate_all(E1000Shadow *sh);
/* Publish the device-owned head of @ring into the shadow. */
void e1000_shadow_push_head(E1000Shadow *sh, int ring);
/* Pull, and kick TX / flush RX if a tail moved; returns the pull mask. */
unsigned e1000_shadow_poll(E1000Shadow *sh);
/* After migration: make sure work queued before the save gets done. */
void e1000_shadow_post_load(E1000Shadow *sh);
/* Lock-free: has the guest moved a shadowed tail since the last pull? */
bool e1000_shadow_tail_moved(const E1000Shadow *sh);

static inline bool e1000_shadow_any_active(const E1000Shadow *sh)
{
    /* Also read by the sidecore thread without the BQL (park()). */
    return qatomic_read(&sh->active[E1000_SHADOW_RX]) ||
           qatomic_read(&sh->active[E1000_SHADOW_TX]);
}

#endif
