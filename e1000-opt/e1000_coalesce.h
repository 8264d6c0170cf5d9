/*
 * e1000-opt stage 1: adaptive interrupt coalescing.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_E1000_COALESCE_H
#define HW_NET_E1000_COALESCE_H

typedef struct E1000Coalesce {
    /* Properties. */
    bool enabled;
    uint32_t max_us;     /* longest an interrupt is held back */
    uint32_t max_frames; /* deliver once this many frames wait; 0 = 3/4 ring */
    uint32_t min_pps;    /* below this packet rate deliver at once */

    /* Rate estimate: frames counted in ~1 ms buckets, smoothed. */
    int64_t bucket_start_ns;
    uint32_t bucket_frames;
    uint32_t rate_pps;

    uint32_t frames_since_irq;
    uint32_t ring_bound; /* 3/4 of the smaller ring, in descriptors */
    bool holding;        /* an interrupt edge is being held back */
} E1000Coalesce;

bool e1000_coalesce_check(E1000Coalesce *c, Error **errp);
void e1000_coalesce_reset(E1000Coalesce *c);
/* @frames TX descriptors or RX frames completed from a ring of @ring_descs. */
void e1000_coalesce_frames(E1000Coalesce *c, uint32_t frames,
                           uint32_t ring_descs, int64_t now_ns);
/* True when a held-back interrupt must go out now (frame bound reached). */
bool e1000_coalesce_flush_due(const E1000Coalesce *c);
/*
 * At a rising interrupt edge: how long to hold it back (ns), or 0 to let
 * the upstream mitigation logic deliver it now.
 */
int64_t e1000_coalesce_hold_ns(E1000Coalesce *c, int64_t now_ns);

#endif
