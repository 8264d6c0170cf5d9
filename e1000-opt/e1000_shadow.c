/*
 * e1000-opt stage 2: ring register shadowing.
 *
 * The RX ring registers live in BAR0 page 0x2000 and the TX ring registers
 * in page 0x3000, away from ICR/IMS/IMC in page 0.  While a ring is busy a
 * 4 KiB RAM region laid over its page makes the guest's tail writes plain
 * memory stores: no VM exit under KVM, no device dispatch under TCG.  The
 * device reads the tail from the shadow and publishes the head into it.
 *
 * The TX page is shadowed only while a poller of its own (the sidecore
 * thread, running TX) watches the tail.  With TX inline (no sidecore, or
 * x-sidecore=auto keeping TX inline) TDT stays trapped: a shadowed TDT
 * would be seen only by the poll timer, on the main loop, so every
 * latency-bound transmission (a TCP segment waiting for its ACK, a
 * request) would wait up to poll_us, longer on a host whose main loop
 * waits for a CPU, where the trapped write runs TX at once, as upstream.
 * The driver touches nothing else on that page per packet, so trapping it
 * costs the TDT write and nothing more; the RX page is shadowed as before.
 *
 * Without a poller of its own, nothing watches the RX tail closely
 * while frames flow: the receive path reads it before every frame, and the
 * driver's trapped accesses (its interrupt mask write ends each NAPI poll)
 * read it too.  A tail that nobody reads matters only once the ring has
 * run dry and the net layer holds frames back: from then on (and only
 * then) the poll timer looks every poll_us, until the guest refills.
 * Otherwise the timer fires once per idle period, to see whether the
 * ring went idle.  (It used to poll every poll_us while a page was
 * laid over: 20,000 main-loop wake-ups a second, each taking the BQL,
 * for refills the receive path would read anyway.)
 *
 * The shadow is entered on a trapped tail write and left again (trapping
 * restored, page folded back into mac_reg) when the ring is idle for
 * idle_us, when the guest disables the ring, on reset and before
 * migration, so the register file is authoritative whenever anybody but
 * the data path looks at it, and the migration stream does not change.
 *
 * Mapping or unmapping the page is a memory transaction: the flat views
 * are rebuilt, and every vCPU flushes its TLB (TCG) or KVM updates a
 * memory slot.  A ring that goes quiet for a little longer than idle_us
 * between bursts (the RX refills of request/response traffic, or of the
 * ACK stream of a TCP send) would pay two of them per burst: vexit's
 * profile of iperf3 TX had ~150 mappings a second and flat-view rebuilds
 * at ~2% of QEMU's CPU, and request/response latency rose by half.  So
 * when the page is laid over again within IDLE_BACK idle periods of
 * being unmapped idle, the idle period doubles (up to IDLE_GROW_MAX times
 * idle_us, and IDLE_MAX_NS): the page then stays through such gaps.  A
 * longer quiet spell starts over from idle_us.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/tcg.h"
#include "hw/net/trace.h"
#include "e1000_shadow.h"

static const hwaddr page_base[E1000_SHADOW_RINGS] = {
    [E1000_SHADOW_RX] = E1000_OPT_RX_PAGE,
    [E1000_SHADOW_TX] = E1000_OPT_TX_PAGE,
};
static const hwaddr tail_off[E1000_SHADOW_RINGS] = {
    [E1000_SHADOW_RX] = E1000_OPT_RDT,
    [E1000_SHADOW_TX] = E1000_OPT_TDT,
};
static const hwaddr head_off[E1000_SHADOW_RINGS] = {
    [E1000_SHADOW_RX] = E1000_OPT_RDH,
    [E1000_SHADOW_TX] = E1000_OPT_TDH,
};

static inline uint32_t *slot(E1000Shadow *sh, int ring, hwaddr off)
{
    return &sh->ram[ring][(off - page_base[ring]) >> 2];
}

static void poll_timer_cb(void *opaque);

bool e1000_shadow_check(E1000Shadow *sh, Error **errp)
{
    if (sh->poll_us < 1 || sh->poll_us > 100000) {
        error_setg(errp, "x-shadow-poll-us must be between 1 and 100000");
        return false;
    }
    if (sh->idle_us < sh->poll_us || sh->idle_us > 10000000) {
        error_setg(errp, "x-shadow-idle-us must be between x-shadow-poll-us "
                   "and 10000000");
        return false;
    }
    return true;
}

bool e1000_shadow_realize(E1000Shadow *sh, Object *owner, MemoryRegion *bar,
                          uint32_t *mac_reg, const E1000OptOps *ops,
                          void *dev, Error **errp)
{
    static const char *const names[E1000_SHADOW_RINGS] = {
        [E1000_SHADOW_RX] = "e1000-shadow-rx",
        [E1000_SHADOW_TX] = "e1000-shadow-tx",
    };
    int r;

    sh->owner = owner;
    sh->mac_reg = mac_reg;
    sh->ops = ops;
    sh->dev = dev;
    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        /*
         * Not migrated as RAM: the page is folded into mac_reg before
         * migration, so the stream stays that of upstream e1000.
         * The allocation can fail (a hot-plugged device on a host short
         * of memory): fail the device_add, not the VM.
         */
        if (!memory_region_init_ram_nomigrate(&sh->page[r], owner, names[r],
                                              E1000_OPT_PAGE_SIZE, errp)) {
            /* The failed region has unparented itself; undo the others. */
            while (--r >= 0) {
                memory_region_del_subregion(bar, &sh->page[r]);
                object_unparent(OBJECT(&sh->page[r]));
            }
            return false;
        }
        sh->ram[r] = memory_region_get_ram_ptr(&sh->page[r]);
        memory_region_set_enabled(&sh->page[r], false);
        memory_region_add_subregion_overlap(bar, page_base[r], &sh->page[r],
                                            1);
        sh->active[r] = false;
    }
    sh->poll_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, poll_timer_cb, sh);
    return true;
}

void e1000_shadow_unrealize(E1000Shadow *sh)
{
    int r;

    timer_free(sh->poll_timer);
    sh->poll_timer = NULL;
    sh->unrealized = true;
    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        memory_region_del_subregion(sh->page[r].container, &sh->page[r]);
        object_unparent(OBJECT(&sh->page[r]));
    }
}

/* the idle period adapts: see the top of the file */
#define IDLE_BACK       4
#define IDLE_GROW_MAX   64
#define IDLE_MAX_NS     (64 * SCALE_MS)

static void adapt_idle(E1000Shadow *sh, int64_t now)
{
    int64_t base = (int64_t)sh->idle_us * SCALE_US;
    int64_t max = MAX(MIN(base * IDLE_GROW_MAX, IDLE_MAX_NS), base);

    if (sh->idle_ns < base) {
        sh->idle_ns = base;
    }
    if (sh->unmapped_ns) {
        sh->idle_ns = now - sh->unmapped_ns < IDLE_BACK * sh->idle_ns ?
                      MIN(sh->idle_ns * 2, max) : base;
        sh->unmapped_ns = 0;
    }
}

static int64_t idle_period(const E1000Shadow *sh)
{
    /* idle_ns is 0 until the first mapping (adapt_idle) */
    return MAX(sh->idle_ns, (int64_t)sh->idle_us * SCALE_US);
}

/*
 * The next look at the tails: poll_us away while the RX ring waits for a
 * refill, else when the ring would have been idle long enough to unmap.
 * Never later than a look already due (a kick, or a starved ring).
 */
static void arm_poll(E1000Shadow *sh)
{
    int64_t at;

    if (sh->external_poller) {
        /* A parked sidecore must learn that this page needs watching. */
        sh->wake_poller(sh->poller_opaque);
        return;
    }
    at = sh->rx_starved ?
         qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) + (int64_t)sh->poll_us * 1000 :
         sh->last_work_ns + idle_period(sh);
    timer_mod_anticipate(sh->poll_timer, at);
}

/*
 * Apply guest writes to the page's other registers (FreeBSD's em driver,
 * for one, retunes RDTR/RADV/TADV at run time) with their write
 * semantics, and store the value the register now holds back into the
 * page, unless the guest wrote again meanwhile.  Until this runs, a read
 * returns the raw value written (reserved bits included): the one
 * visible difference a RAM-backed register page has.  The tail is the
 * data path's and handled by the callers.
 */
static void sync_page(E1000Shadow *sh, int ring)
{
    const int tail_i = (tail_off[ring] - page_base[ring]) >> 2;
    const int base = E1000_OPT_IDX(page_base[ring]);
    const size_t words = E1000_OPT_PAGE_SIZE / 4;
    uint32_t *ram = sh->ram[ring], *seen = sh->seen[ring];
    uint32_t v;
    size_t i;

    if (!memcmp(ram, seen, tail_i * 4) &&
        !memcmp(ram + tail_i + 1, seen + tail_i + 1,
                (words - tail_i - 1) * 4)) {
        return;
    }
    for (i = 0; i < words; i++) {
        v = qatomic_read(&ram[i]);
        if (i == tail_i || v == seen[i]) {
            continue;
        }
        sh->syncing = true;
        sh->ops->write_reg(sh->dev, base + i, v);
        sh->syncing = false;
        seen[i] = sh->mac_reg[base + i];
        qatomic_cmpxchg(&ram[i], v, seen[i]);
    }
}

void e1000_shadow_activate(E1000Shadow *sh, int ring)
{
    if (!sh->enabled || sh->active[ring]) {
        return;
    }
    memcpy(sh->ram[ring], &sh->mac_reg[E1000_OPT_IDX(page_base[ring])],
           E1000_OPT_PAGE_SIZE);
    memcpy(sh->seen[ring], sh->ram[ring], E1000_OPT_PAGE_SIZE);
    /* A store that missed the last unmap is in mac_reg or lost with it. */
    sh->late_check[ring] = false;
    /* Publish the page before the guest can reach it. */
    smp_wmb();
    memory_region_set_enabled(&sh->page[ring], true);
    qatomic_set(&sh->active[ring], true);
    sh->last_work_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    adapt_idle(sh, sh->last_work_ns);
    arm_poll(sh);
}

static void fold(E1000Shadow *sh, int ring)
{
    sync_page(sh, ring);

    uint32_t *reg = &sh->mac_reg[E1000_OPT_IDX(page_base[ring])];
    uint32_t tail = qatomic_read(slot(sh, ring, tail_off[ring]));

    uint32_t *cur = &reg[(tail_off[ring] - page_base[ring]) >> 2];

    /*
     * The data path only lets the guest move the tail; every other
     * register of the page is set up before the ring is enabled (where
     * it traps) and is mirrored unchanged.  Apply the tail with the
     * width set_16bit/set_rdt give it.
     */
    if (*cur != (tail & 0xffff)) {
        *cur = tail & 0xffff;
        /*
         * Work the guest queued but we have not seen yet.  Do not run it
         * here: we may be saving state with the VM stopped.  The virtual
         * clock only runs with the VM, so the one-shot kick waits for it.
         */
        sh->pending_kick |= 1u << ring;
        timer_mod(sh->poll_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    }
}

/*
 * Runs on each vCPU after the TLB flush that the unmap queued for it
 * (queue_late_checks), so that vCPU no longer reaches the page.
 * A tail it stored there after the fold is applied as a trapped write would
 * have been, unless a trapped write has moved the tail since.
 */
static void late_store_check(CPUState *cpu, run_on_cpu_data data)
{
    E1000Shadow *sh = data.host_ptr;
    Object *owner = sh->owner;
    int r;

    for (r = 0; !sh->unrealized && r < E1000_SHADOW_RINGS; r++) {
        uint32_t *reg = &sh->mac_reg[E1000_OPT_IDX(tail_off[r])];
        uint32_t tail;

        if (!sh->late_check[r] || sh->active[r]) {
            continue;
        }
        sync_page(sh, r);
        tail = qatomic_read(slot(sh, r, tail_off[r])) & 0xffff;
        if (tail != sh->folded_tail[r] && *reg == sh->folded_tail[r]) {
            trace_e1000_shadow_late_store(r, sh->folded_tail[r], tail);
            *reg = tail;
            sh->folded_tail[r] = tail;
            sh->pending_kick |= 1u << r;
            timer_mod(sh->poll_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
        }
    }
    object_unref(owner);
}

/*
 * The check must run on each vCPU after the TLB flush of the unmap, which
 * tcg_commit() queues on it when the memory transaction commits.  That is
 * not necessarily when memory_region_set_enabled() returns: a caller may
 * have opened an outer transaction (memory_region_transaction_begin()),
 * and then the commit, and the flush, come later.  So the checks are queued
 * from a bottom half: it runs from the main loop, outside any transaction
 * (a transaction is opened and committed under the BQL without releasing
 * it), hence after the commit, and work queued on a vCPU runs in order.
 */
static void queue_late_checks(void *opaque)
{
    E1000Shadow *sh = opaque;
    Object *owner = sh->owner;
    CPUState *cpu;

    if (!sh->unrealized) {
        CPU_FOREACH(cpu) {
            object_ref(owner);
            async_run_on_cpu(cpu, late_store_check, RUN_ON_CPU_HOST_PTR(sh));
        }
    }
    object_unref(owner);
}

/*
 * Under TCG the unmap reaches a running vCPU only when it next leaves
 * generated code and flushes its TLB (tcg_commit defers it), so until then
 * its stores still land in the page.  KVM's memory slot update waits for
 * its vCPUs, and qtest has none.
 */
static void watch_late_stores(E1000Shadow *sh, int ring)
{
    if (!tcg_enabled()) {
        return;
    }
    sh->late_check[ring] = true;
    sh->folded_tail[ring] = sh->mac_reg[E1000_OPT_IDX(tail_off[ring])];
    object_ref(sh->owner);
    aio_bh_schedule_oneshot(qemu_get_aio_context(), queue_late_checks, sh);
}

void e1000_shadow_deactivate(E1000Shadow *sh, int ring)
{
    if (!sh->active[ring]) {
        return;
    }
    /*
     * Unmap first, so that once the memory transaction commits guest
     * stores trap again (under TCG, once each vCPU has flushed its TLB:
     * watch_late_stores covers the stores made before that).
     */
    memory_region_set_enabled(&sh->page[ring], false);
    qatomic_set(&sh->active[ring], false);
    if (ring == E1000_SHADOW_RX) {
        /* Trapped again: the RDT write itself flushes what waits. */
        sh->rx_starved = false;
    }
    if (!e1000_shadow_any_active(sh)) {
        timer_del(sh->poll_timer);
    }
    fold(sh, ring);
    watch_late_stores(sh, ring);
}

void e1000_shadow_reset(E1000Shadow *sh)
{
    int r;

    if (!sh->enabled) {
        return;
    }
    timer_del(sh->poll_timer);
    sh->pending_kick = 0;
    sh->rx_starved = false;
    sh->idle_ns = 0;
    sh->unmapped_ns = 0;
    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        sh->late_check[r] = false;
        if (sh->active[r]) {
            memory_region_set_enabled(&sh->page[r], false);
            sh->active[r] = false;
        }
    }
}

unsigned e1000_shadow_pull(E1000Shadow *sh, unsigned rings)
{
    unsigned moved = 0;
    uint32_t raw, tail;
    int r;

    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        if (!sh->active[r] || !(rings & (1u << r))) {
            continue;
        }
        sync_page(sh, r);
        raw = qatomic_read(slot(sh, r, tail_off[r]));
        tail = raw & 0xffff;
        if (raw != tail) {
            /* Bits 31:16 read as 0; keep a newer guest write intact. */
            qatomic_cmpxchg(slot(sh, r, tail_off[r]), raw, tail);
        }
        if (sh->mac_reg[E1000_OPT_IDX(tail_off[r])] != tail) {
            sh->mac_reg[E1000_OPT_IDX(tail_off[r])] = tail;
            moved |= 1u << r;
        }
    }
    if (moved) {
        /* Whoever saw it (receive path, trapped access, timer): work. */
        sh->last_work_ns = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
        if (moved & E1000_SHADOW_RX_MASK) {
            sh->rx_starved = false;
        }
    }
    return moved;
}

void e1000_shadow_rx_starved(E1000Shadow *sh)
{
    if (!sh->active[E1000_SHADOW_RX] || sh->rx_starved) {
        return;
    }
    sh->rx_starved = true;
    arm_poll(sh);
}

void e1000_shadow_post_load(E1000Shadow *sh)
{
    int r;

    if (!sh->enabled) {
        return;
    }
    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        if (sh->mac_reg[E1000_OPT_IDX(head_off[r])] !=
            sh->mac_reg[E1000_OPT_IDX(tail_off[r])]) {
            sh->pending_kick |= 1u << r;
        }
    }
    if (sh->pending_kick) {
        timer_mod(sh->poll_timer, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL));
    }
}

bool e1000_shadow_tail_moved(const E1000Shadow *sh)
{
    int r;

    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        uint32_t shadow_tail, seen_tail;

        if (!qatomic_read(&sh->active[r])) {
            continue;
        }
        shadow_tail = qatomic_read(&sh->ram[r][(tail_off[r] -
                                                page_base[r]) >> 2]);
        seen_tail = qatomic_read(&sh->mac_reg[E1000_OPT_IDX(tail_off[r])]);
        if ((shadow_tail & 0xffff) != seen_tail) {
            return true;
        }
    }
    return false;
}

void e1000_shadow_push_head(E1000Shadow *sh, int ring)
{
    const int i = (head_off[ring] - page_base[ring]) >> 2;

    if (sh->active[ring]) {
        /* Device-owned: record it as seen so it is not taken for a write. */
        sh->seen[ring][i] = sh->mac_reg[E1000_OPT_IDX(head_off[ring])];
        qatomic_set(&sh->ram[ring][i], sh->seen[ring][i]);
    }
}

unsigned e1000_shadow_poll(E1000Shadow *sh)
{
    unsigned moved = e1000_shadow_pull(sh, E1000_SHADOW_RX_MASK |
                                       E1000_SHADOW_TX_MASK) |
                     sh->pending_kick;

    sh->pending_kick = 0;
    if (moved & (1u << E1000_SHADOW_TX)) {
        sh->ops->kick_tx(sh->dev);
    }
    if (moved & (1u << E1000_SHADOW_RX)) {
        sh->ops->flush_rx(sh->dev);
    }
    return moved;
}

static void poll_timer_cb(void *opaque)
{
    E1000Shadow *sh = opaque;
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);

    if (e1000_shadow_poll(sh)) {
        sh->last_work_ns = now;
    } else if (now - sh->last_work_ns >= idle_period(sh)) {
        /* Idle: trap again, so the next tail write wakes us. */
        e1000_shadow_deactivate_all(sh);
        sh->unmapped_ns = now;
        return;
    }
    if (e1000_shadow_any_active(sh)) {
        arm_poll(sh);
    }
}

void e1000_shadow_trapped_access(E1000Shadow *sh)
{
    if (e1000_shadow_any_active(sh) && !sh->syncing) {
        e1000_shadow_poll(sh);
    }
}

/*
 * May a tail write to @ring lay the shadow over its page?  TX only while
 * the sidecore owns TX (see the top of the file); the sidecore traps the
 * tail again (e1000_shadow_deactivate_all) when it hands TX back inline.
 */
static bool may_shadow(E1000Shadow *sh, int ring)
{
    return ring != E1000_SHADOW_TX || sh->external_poller;
}

/* TCTL and RCTL live in page 0 and always trap; EN is bit 1 in both. */
#define E1000_OPT_RCTL  0x0100
#define E1000_OPT_TCTL  0x0400
#define E1000_OPT_EN    (1u << 1)

void e1000_shadow_after_write(E1000Shadow *sh, hwaddr off)
{
    static const hwaddr ctl_off[E1000_SHADOW_RINGS] = {
        [E1000_SHADOW_RX] = E1000_OPT_RCTL,
        [E1000_SHADOW_TX] = E1000_OPT_TCTL,
    };
    int r;

    if (!sh->enabled || sh->syncing) {
        return;
    }
    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        bool on = sh->mac_reg[E1000_OPT_IDX(ctl_off[r])] & E1000_OPT_EN;

        if (off == tail_off[r] && on && may_shadow(sh, r)) {
            e1000_shadow_activate(sh, r);
        } else if (off == ctl_off[r] && !on) {
            e1000_shadow_deactivate(sh, r);
        }
    }
}

void e1000_shadow_deactivate_all(E1000Shadow *sh)
{
    int r;

    for (r = 0; r < E1000_SHADOW_RINGS; r++) {
        e1000_shadow_deactivate(sh, r);
    }
}
