/*
 * e1000-opt stage 1: adaptive interrupt coalescing.
 *
 * Upstream e1000 delivers the first interrupt edge at once and then only
 * enforces the ITR/TADV/RADV window the guest programs (at least 128 us).
 * At line rate that still means an interrupt every ~20 packets, and each
 * one costs the guest an ICR read, IMC and IMS writes and STATUS flush
 * reads, all trapped.  Here the device watches its own packet rates, TX
 * and RX apart.  An edge whose causes are TX completions is held back
 * while the TX rate is high: nobody waits for them but the ring cleanup.
 * An edge with RX causes is held back only while the RX rate is high too
 * (a stream); a frame that arrives at a low RX rate, such as the answer
 * of a request/response exchange, is delivered at once, also when it
 * comes while a TX edge is held.  A held edge goes out after max_us, or
 * once three quarters of a ring of work waits, so that the guest never
 * runs out of descriptors.  Other causes (link changes ...) are never
 * held.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/timer.h"
#include "e1000_coalesce.h"

#define BUCKET_NS   (1000 * 1000)
#define STALE_NS    (10 * BUCKET_NS)

bool e1000_coalesce_check(E1000Coalesce *c, Error **errp)
{
    if (c->max_us < 10 || c->max_us > 100000) {
        error_setg(errp, "x-coalesce-max-us must be between 10 and 100000");
        return false;
    }
    if (c->max_frames > 4096) {
        error_setg(errp, "x-coalesce-max-frames must be at most 4096 "
                   "(0 picks three quarters of the ring)");
        return false;
    }
    if (c->min_pps == 0) {
        error_setg(errp, "x-coalesce-min-pps must be positive");
        return false;
    }
    return true;
}

void e1000_coalesce_reset(E1000Coalesce *c)
{
    c->bucket_start_ns = 0;
    c->bucket_frames[0] = c->bucket_frames[1] = 0;
    c->rate_pps[0] = c->rate_pps[1] = 0;
    c->frames_since_irq = 0;
    c->ring_bound = 0;
    c->holding = false;
    c->rx_waiting = false;
}

static void update_rate(E1000Coalesce *c, int64_t now_ns)
{
    int64_t span = now_ns - c->bucket_start_ns;
    uint64_t pps;
    int d;

    if (span < BUCKET_NS) {
        return;
    }
    for (d = 0; d < 2; d++) {
        pps = (uint64_t)c->bucket_frames[d] * NANOSECONDS_PER_SECOND / span;
        pps = MIN(pps, UINT32_MAX);
        /* A long quiet spell forgets the old rate instead of averaging. */
        c->rate_pps[d] = span > STALE_NS ? pps : (c->rate_pps[d] + pps) / 2;
        c->bucket_frames[d] = 0;
    }
    c->bucket_start_ns = now_ns;
}

void e1000_coalesce_frames(E1000Coalesce *c, bool rx, uint32_t frames,
                           uint32_t ring_descs, int64_t now_ns)
{
    if (!c->enabled) {
        return;
    }
    update_rate(c, now_ns);
    c->bucket_frames[rx] += frames;
    c->frames_since_irq += frames;
    if (rx && frames && c->holding && c->rate_pps[1] < c->min_pps) {
        c->rx_waiting = true;
    }
    if (ring_descs >= 4 &&
        (!c->ring_bound || ring_descs / 4 * 3 < c->ring_bound)) {
        c->ring_bound = ring_descs / 4 * 3;
    }
}

bool e1000_coalesce_flush_due(const E1000Coalesce *c)
{
    uint32_t bound = c->max_frames ? c->max_frames : c->ring_bound;

    return c->enabled && c->holding &&
           (c->rx_waiting || (bound && c->frames_since_irq >= bound));
}

int64_t e1000_coalesce_hold_ns(E1000Coalesce *c, uint32_t causes,
                               int64_t now_ns)
{
    bool tx_busy, rx_busy, holdable;

    if (!c->enabled) {
        return 0;
    }
    update_rate(c, now_ns);
    tx_busy = c->rate_pps[0] >= c->min_pps;
    rx_busy = c->rate_pps[1] >= c->min_pps;
    holdable = !(causes & ~(E1000_COALESCE_TX_CAUSES |
                            E1000_COALESCE_RX_CAUSES)) &&
               ((causes & E1000_COALESCE_RX_CAUSES) ? rx_busy : tx_busy);
    if (c->holding || !holdable || e1000_coalesce_flush_due(c)) {
        /*
         * Deliver: we waited already, the edge carries something a guest
         * waits for, or work piled up.
         */
        c->holding = false;
        c->rx_waiting = false;
        c->frames_since_irq = 0;
        return 0;
    }
    c->holding = true;
    return (int64_t)c->max_us * 1000;
}
