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

    /* Rate estimates (TX, RX): frames counted in ~1 ms buckets, smoothed. */
    int64_t bucket_start_ns;
    uint32_t bucket_frames[2];
    uint32_t rate_pps[2];

    uint32_t frames_since_irq;
    uint32_t ring_bound; /* 3/4 of the smaller ring, in descriptors */
    bool holding;        /* an interrupt edge is being held back */
    bool rx_waiting;     /* a latency-sensitive RX frame came while holding */
} E1000Coalesce;

/* ICR cause bits (82540EM) the policy tells apart. */
#define E1000_COALESCE_TX_CAUSES 0x00000003 /* TXDW, TXQE */
#define E1000_COALESCE_RX_CAUSES 0x000000d0 /* RXDMT0, RXO, RXT0 */

bool e1000_coalesce_check(E1000Coalesce *c, Error **errp);
void e1000_coalesce_reset(E1000Coalesce *c);
/*
 * @frames TX descriptors (@rx false) or RX frames (@rx true) completed
 * from a ring of @ring_descs.
 */
void e1000_coalesce_frames(E1000Coalesce *c, bool rx, uint32_t frames,
                           uint32_t ring_descs, int64_t now_ns);
/* True when a held-back interrupt must go out now (frame bound reached). */
bool e1000_coalesce_flush_due(const E1000Coalesce *c);
/*
 * At a rising interrupt edge for ICR @causes: how long to hold it back
 * (ns), or 0 to let the upstream mitigation logic deliver it now.
 */
int64_t e1000_coalesce_hold_ns(E1000Coalesce *c, uint32_t causes,
                               int64_t now_ns);

#endif
