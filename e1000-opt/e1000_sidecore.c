/*
 * e1000-opt stage 3: a sidecore thread that runs the TX data path.
 *
 * One host thread per device polls the TX tail (in the shadow page when
 * x-shadow-regs is on, else the value the trapped write left in mac_reg),
 * runs descriptor processing, completes descriptors and raises interrupts
 * through the normal path (and so through stage 1), so the vCPU never runs
 * TX emulation.  After spin_us without work it parks: with shadowing it
 * first restores trapping, so the guest's next tail write costs exactly one
 * exit, which wakes it.  It takes the BQL only around real work and does
 * nothing while the VM is stopped or suspended.
 *
 * x-sidecore=auto hands TX to the thread only while the host has a CPU for
 * it, judged from how long the threads it competes with wait on a run
 * queue (the rule is above ADAPT_HIGH); otherwise TX runs inline, in the
 * thread that asks for it, exactly as with the stage off, and the thread
 * only samples, and parks while nobody transmits.  x-sidecore=on always
 * uses the thread.
 *
 * The thread never blocks on the BQL (sidecore_lock): unrealize holds the
 * BQL while it joins the thread, because dropping it there would let
 * timers, the net layer and this thread's own park() run against a device
 * that is half torn down (a guest-triggered unplug runs on a vCPU thread,
 * in the middle of an I/O write).
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/processor.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "hw/net/trace.h"
#include "e1000_sidecore.h"

/*
 * x-sidecore=auto.  Every ADAPT_SAMPLE_NS (ADAPT_INLINE_NS while TX is
 * inline: there the samples cost CPU the others need) the thread reads
 * the run-queue wait (the second field of /proc/self/task/TID/schedstat:
 * time spent runnable but not running) of itself, the main loop thread
 * and the vCPU threads, and keeps a moving average (weight 1/4 per
 * sample, restarting from the first sample after a switch, so that a
 * probe that finds no CPU ends after a sample or two) of their sum per
 * second of wall time, in 1/1000 of a CPU:
 *  - on the sidecore, an average above ADAPT_HIGH means the thread does
 *    not have a CPU to itself: it and the threads it was meant to relieve
 *    take turns on the same CPUs, and TX on the thread is then slower
 *    than inline (vexit's ablation on a 2-CPU host).  TX goes inline.
 *  - inline, whether the thread would have a CPU cannot be seen: TX
 *    inline loads the vCPU with what the thread would take off it.  So the
 *    thread samples while TX is asked for, and hands TX back to itself (a
 *    probe) once the backoff has passed, unless the average is above
 *    ADAPT_PROBE_MAX: then the threads wait for half a CPU already, and
 *    one more thread cannot find a free one.  A probe that falls back
 *    within ADAPT_GOOD_NS doubles the backoff (ADAPT_BACKOFF_MIN to
 *    ADAPT_BACKOFF_MAX), one that holds resets it, so on a host that
 *    stays busy the probes cost a sample or two every 1.6 s.
 * The average and the backoff are the hysteresis: once a mode has
 * started, one slow sample does not move TX, and a host that had no CPU
 * for the thread is not asked again at once.
 */
#define ADAPT_SAMPLE_NS     (INT64_C(5) * SCALE_MS)
#define ADAPT_INLINE_NS     (INT64_C(10) * SCALE_MS)
#define ADAPT_HIGH          250
#define ADAPT_PROBE_MAX     500
#define ADAPT_BACKOFF_MIN   (INT64_C(100) * SCALE_MS)
#define ADAPT_BACKOFF_MAX   (INT64_C(1600) * SCALE_MS)
#define ADAPT_GOOD_NS       (INT64_C(1000) * SCALE_MS)
/* Inline, park after this many samples in a row without TX. */
#define ADAPT_IDLE_SAMPLES  4

bool e1000_sidecore_check(E1000Sidecore *sc, Error **errp)
{
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);

    if (sc->spin_us > 1000000) {
        error_setg(errp, "x-sidecore-spin-us must be at most 1000000");
        return false;
    }
    if (sc->cpu < -1 || (ncpu > 0 && sc->cpu >= ncpu)) {
        error_setg(errp, "x-sidecore-cpu must be -1 or a host CPU "
                   "number below %ld", ncpu);
        return false;
    }
    return true;
}

static bool is_auto(E1000Sidecore *sc)
{
    return sc->mode == ON_OFF_AUTO_AUTO;
}

/* Run-queue wait of the thread whose schedstat is open on @fd, or -1. */
static int64_t read_wait(int fd)
{
    char buf[96];
    unsigned long long run, wait;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &run, &wait) != 2) {
        return -1;
    }
    return wait;
}

static void watch_close(E1000SidecoreAdapt *a)
{
    while (a->nfd > 0) {
        close(a->fd[--a->nfd]);
    }
}

static void watch_add(E1000SidecoreAdapt *a, int tid)
{
    g_autofree char *path = NULL;
    int fd;

    if (a->nfd == E1000_SIDECORE_MAX_WATCHED || tid <= 0) {
        return;
    }
    path = g_strdup_printf("/proc/self/task/%d/schedstat", tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        a->fd[a->nfd++] = fd;
    }
}

/*
 * Open the schedstat files of this thread, the main loop thread and the
 * vCPU threads (the first ones, up to the array's size).  Done again at
 * every new baseline, so vCPUs plugged or unplugged meanwhile count.
 * Returns false if this thread's own file cannot be read: no schedstat
 * (a kernel without CONFIG_SCHED_INFO), so no way to judge.
 */
static bool watch_open(E1000Sidecore *sc)
{
    E1000SidecoreAdapt *a = &sc->adapt;
    CPUState *cpu;

    watch_close(a);
    watch_add(a, qemu_get_thread_id());
    if (a->nfd == 0 || read_wait(a->fd[0]) < 0) {
        watch_close(a);
        return false;
    }
    watch_add(a, getpid());
    WITH_RCU_READ_LOCK_GUARD() {
        CPU_FOREACH(cpu) {
            watch_add(a, qatomic_read(&cpu->thread_id));
        }
    }
    return true;
}

/*
 * Take a sample if @period_ns have passed since the last one and
 * fold it into the average.  Returns false if there was none (too early,
 * or a new baseline).
 */
static bool adapt_sample(E1000Sidecore *sc, int64_t period_ns)
{
    E1000SidecoreAdapt *a = &sc->adapt;
    int64_t now = get_clock(), sum = 0, w, per_mille;
    int i;

    if (a->broken ||
        (a->sample_ns && now - a->sample_ns < period_ns)) {
        return false;
    }
    if (!a->sample_ns && !watch_open(sc)) {
        a->broken = true;
        warn_report_once("e1000: x-sidecore=auto cannot read the threads' "
                         "run-queue wait (/proc/self/task/TID/schedstat); "
                         "TX stays inline");
        return false;
    }
    for (i = 0; i < a->nfd; i++) {
        w = read_wait(a->fd[i]);
        if (w < 0) {
            /* A vCPU thread is gone: count the ones there are now. */
            a->sample_ns = 0;
            return false;
        }
        sum += w;
    }
    if (!a->sample_ns) {
        a->wait_ns = sum;
        a->sample_ns = now;
        return false;
    }
    per_mille = MIN(MAX((sum - a->wait_ns) * 1000 / (now - a->sample_ns), 0),
                    4000);
    /* A new mode starts from its first sample, not from the old mode's. */
    a->ewma = a->seeded ? (3 * a->ewma + per_mille) / 4 : per_mille;
    a->seeded = true;
    a->wait_ns = sum;
    a->sample_ns = now;
    return true;
}

static bool has_work(E1000Sidecore *sc)
{
    return qatomic_read(&sc->kicked) ||
           (sc->shadow && e1000_shadow_tail_moved(sc->shadow));
}

/*
 * Take the BQL, or return false once unrealize has asked the thread to
 * stop: unrealize joins the thread with the BQL held, so the thread must
 * not block waiting for it.  Between tries it yields (relaxes, if pinned),
 * and after a while it sleeps, so a BQL held for long (by a migration's
 * last stage, say) does not cost a CPU.
 */
static bool sidecore_lock(E1000Sidecore *sc)
{
    unsigned tries = 0;

    while (!bql_trylock()) {
        if (qatomic_read(&sc->stop)) {
            return false;
        }
        if (++tries < 100) {
            if (sc->cpu >= 0) {
                cpu_relax();
            } else {
                sched_yield();
            }
        } else {
            g_usleep(50);
        }
    }
    return true;
}

/* Called with the BQL held. */
static void run_tx(E1000Sidecore *sc)
{
    qatomic_set(&sc->kicked, false);
    if (sc->shadow) {
        e1000_shadow_poll(sc->shadow);
    }
    /* Also covers a trapped tail write; cheap when TDH == TDT. */
    sc->ops->kick_tx(sc->dev);
}

/*
 * Switch TX between the thread and inline.  With the BQL held, so no TX
 * runs meanwhile (start_xmit() and e1000_sidecore_claim_tx() run with
 * it) and none is left behind:
 *  - to inline: the thread first does all the TX there is (a kick it was
 *    handed, tails moved in the shadow page); with shadowing it then
 *    traps the tails again, as when it parks.  TDT now stays trapped
 *    (external_poller is clear, e1000_shadow.c), so every tail write runs
 *    TX inline at once, as upstream; the RX page is shadowed again on its
 *    next tail write, with the shadow's own poll timer.  A tail stored
 *    between that last poll and the unmap is folded back and kicked by the
 *    shadow itself (under TCG also one stored before a vCPU's TLB flush).
 *  - to the thread: TDT is trapped, so every tail write so far ran TX
 *    inline, under the BQL; the next one hands TX to the thread, and the
 *    shadow is laid over the TX page again after it.
 */
static bool set_inline(E1000Sidecore *sc, bool inline_tx)
{
    E1000SidecoreAdapt *a = &sc->adapt;
    int64_t now = get_clock();

    if (!sidecore_lock(sc)) {
        return false;
    }
    if (inline_tx && !runstate_is_running() && has_work(sc)) {
        /* Handed to the thread, which does it once the VM runs again. */
        bql_unlock();
        return true;
    }
    qatomic_set(&sc->inline_tx, inline_tx);
    if (sc->shadow) {
        sc->shadow->external_poller = !inline_tx;
    }
    if (inline_tx) {
        /*
         * Only work that was asked for: an extra pass over a hostile ring
         * (TDLEN 0, TDT beyond it) would send frames again.
         */
        if (has_work(sc)) {
            run_tx(sc);
        }
        if (sc->shadow) {
            e1000_shadow_deactivate_all(sc->shadow);
        }
        /* A probe that did not hold makes the next one wait longer. */
        a->backoff_ns = now - a->mode_since_ns < ADAPT_GOOD_NS ?
                        MIN(a->backoff_ns * 2, ADAPT_BACKOFF_MAX) :
                        ADAPT_BACKOFF_MIN;
    }
    bql_unlock();
    sc->switches++;
    trace_e1000_sidecore_mode(!inline_tx, a->ewma, sc->switches,
                              a->backoff_ns / SCALE_MS);
    a->seeded = false;
    a->sample_ns = 0;
    a->mode_since_ns = now;
    return true;
}

/*
 * x-sidecore=auto, TX inline: sample while the guest transmits, hand TX
 * to the thread when the rule says so, and park while there is nothing
 * to watch.
 */
static void watch_inline(E1000Sidecore *sc)
{
    E1000SidecoreAdapt *a = &sc->adapt;
    unsigned idle = 0;
    bool busy;

    while (!qatomic_read(&sc->stop) && qatomic_read(&sc->inline_tx)) {
        if (!qatomic_read(&sc->vm_running) || idle >= ADAPT_IDLE_SAMPLES) {
            qatomic_set(&sc->inline_idle, true);
            qemu_event_reset(&sc->wake);
            /* Pairs with the barrier in e1000_sidecore_claim_tx(). */
            smp_mb();
            if (!qatomic_read(&sc->stop) &&
                (!qatomic_read(&sc->vm_running) ||
                 !qatomic_read(&sc->inline_busy))) {
                qemu_event_wait(&sc->wake);
            }
            qatomic_set(&sc->inline_idle, false);
            a->sample_ns = 0;   /* the time parked is no sample */
            idle = 0;
            continue;
        }
        g_usleep(ADAPT_INLINE_NS / SCALE_US);
        busy = qatomic_xchg(&sc->inline_busy, false);
        idle = busy ? 0 : idle + 1;
        /* A probe is worth it only while the guest transmits. */
        if (adapt_sample(sc, ADAPT_INLINE_NS / 2) && busy &&
            a->ewma <= ADAPT_PROBE_MAX &&
            get_clock() - a->mode_since_ns >= a->backoff_ns) {
            set_inline(sc, false);
        }
    }
}

static void park(E1000Sidecore *sc)
{
    if (sc->shadow) {
        /* Trap again, so the next tail write costs one exit and wakes us. */
        if (!sidecore_lock(sc)) {
            return;
        }
        e1000_shadow_deactivate_all(sc->shadow);
        bql_unlock();
    }
    qemu_event_reset(&sc->wake);
    /*
     * Re-check after the reset so a wake-up in between is not lost: work,
     * and a page laid over again since the deactivation above (a trapped
     * tail write: its wake-up went to the event just reset, and with
     * the thread as the poller nothing else watches the page, so the
     * guest's next tail stores, RX refills included, would go unseen).
     */
    if (!qatomic_read(&sc->stop) &&
        (!qatomic_read(&sc->vm_running) ||
         (!has_work(sc) &&
          !(sc->shadow && e1000_shadow_any_active(sc->shadow))))) {
        qemu_event_wait(&sc->wake);
    }
    /* The time parked is no sample. */
    sc->adapt.sample_ns = 0;
}

/* x-sidecore=auto on the thread: does the rule send TX inline? */
static void check_contention(E1000Sidecore *sc)
{
    if (is_auto(sc) && adapt_sample(sc, ADAPT_SAMPLE_NS) &&
        sc->adapt.ewma > ADAPT_HIGH) {
        set_inline(sc, true);
    }
}

static void *sidecore_thread(void *opaque)
{
    E1000Sidecore *sc = opaque;
    int64_t idle_since = get_clock();

    rcu_register_thread();
    while (!qatomic_read(&sc->stop)) {
        if (qatomic_read(&sc->inline_tx)) {
            watch_inline(sc);
            idle_since = get_clock();
        } else if (qatomic_read(&sc->vm_running) && has_work(sc)) {
            bool ran = false;

            if (!sidecore_lock(sc)) {
                break;
            }
            if (runstate_is_running()) {
                run_tx(sc);
                ran = true;
            }
            bql_unlock();
            if (!ran) {
                /*
                 * Not running, and neither a VM change state handler nor
                 * a suspend notifier said so: the work stays, so do not
                 * spin on it.
                 */
                g_usleep(1000);
            }
            idle_since = get_clock();
            check_contention(sc);
        } else if (qatomic_read(&sc->vm_running) &&
                   get_clock() - idle_since < (int64_t)sc->spin_us * 1000) {
            /*
             * Pinned, the sidecore owns its CPU; otherwise it shares
             * CPUs with the vCPU threads and must let them run.
             */
            if (sc->cpu >= 0) {
                cpu_relax();
            } else {
                sched_yield();
            }
            check_contention(sc);
        } else {
            park(sc);
            idle_since = get_clock();
        }
    }
    watch_close(&sc->adapt);
    rcu_unregister_thread();
    return NULL;
}

static void sidecore_wake(void *opaque)
{
    E1000Sidecore *sc = opaque;

    qemu_event_set(&sc->wake);
}

static void vm_state_cb(void *opaque, bool running, RunState state)
{
    E1000Sidecore *sc = opaque;

    /* A suspended VM migrated in is "started" into RUN_STATE_SUSPENDED. */
    qatomic_set(&sc->vm_running, running && state != RUN_STATE_SUSPENDED);
    qemu_event_set(&sc->wake);
}

/*
 * Suspend (ACPI S3) pauses the vCPUs without stopping the VM, so VM change
 * state handlers do not run: without these notifiers the thread would keep
 * finding work it may not do and take and drop the BQL at full speed until
 * wake-up.
 */
static void suspend_cb(Notifier *n, void *data)
{
    E1000Sidecore *sc = container_of(n, E1000Sidecore, suspend);

    qatomic_set(&sc->vm_running, false);
    qemu_event_set(&sc->wake);
}

static void wakeup_cb(Notifier *n, void *data)
{
    E1000Sidecore *sc = container_of(n, E1000Sidecore, wakeup);

    qatomic_set(&sc->vm_running, runstate_is_running());
    qemu_event_set(&sc->wake);
}

void e1000_sidecore_realize(E1000Sidecore *sc, E1000Shadow *shadow,
                            const E1000OptOps *ops, void *dev,
                            const char *name)
{
    /* Linux thread names hold 15 characters; longer ones are not set. */
    g_autofree char *tname = g_strdup_printf("sidecore-%.6s", name);

    sc->shadow = shadow;
    sc->ops = ops;
    sc->dev = dev;
    sc->stop = false;
    sc->kicked = false;
    sc->vm_running = runstate_is_running();
    /* auto starts inline, as with the stage off, until the rule says so. */
    sc->inline_tx = is_auto(sc);
    sc->inline_busy = false;
    sc->inline_idle = false;
    sc->switches = 0;
    memset(&sc->adapt, 0, sizeof(sc->adapt));
    sc->adapt.backoff_ns = ADAPT_BACKOFF_MIN;
    sc->adapt.mode_since_ns = get_clock();
    if (shadow) {
        shadow->external_poller = !sc->inline_tx;
        shadow->wake_poller = sidecore_wake;
        shadow->poller_opaque = sc;
    }
    qemu_event_init(&sc->wake, false);
    sc->vmse = qemu_add_vm_change_state_handler(vm_state_cb, sc);
    sc->suspend.notify = suspend_cb;
    qemu_register_suspend_notifier(&sc->suspend);
    sc->wakeup.notify = wakeup_cb;
    qemu_register_wakeup_notifier(&sc->wakeup);
    qemu_thread_create(&sc->thread, tname, sidecore_thread, sc,
                       QEMU_THREAD_JOINABLE);
    if (sc->cpu >= 0) {
        unsigned long nbits = sc->cpu + 1;
        g_autofree unsigned long *mask = bitmap_new(nbits);

        set_bit(sc->cpu, mask);
        if (qemu_thread_set_affinity(&sc->thread, mask, nbits)) {
            warn_report("e1000: could not pin sidecore to host CPU %d",
                        sc->cpu);
        }
    }
    sc->started = true;
}

void e1000_sidecore_unrealize(E1000Sidecore *sc)
{
    if (!sc->started) {
        return;
    }
    qatomic_set(&sc->stop, true);
    qemu_event_set(&sc->wake);
    /*
     * Joined with the BQL held: the thread never blocks on it
     * (sidecore_lock), so nothing else runs against the device while it
     * is torn down.
     */
    qemu_thread_join(&sc->thread);
    notifier_remove(&sc->suspend);
    notifier_remove(&sc->wakeup);
    qemu_del_vm_change_state_handler(sc->vmse);
    qemu_event_destroy(&sc->wake);
    sc->started = false;
}

bool e1000_sidecore_claim_tx(E1000Sidecore *sc)
{
    if (!sc->started || qemu_thread_is_self(&sc->thread)) {
        return false;
    }
    if (qatomic_read(&sc->inline_tx)) {
        /* Tell the thread there is TX to watch; wake it if it parked. */
        if (!qatomic_read(&sc->inline_busy)) {
            qatomic_set(&sc->inline_busy, true);
            /* Pairs with the smp_mb() in watch_inline(). */
            smp_mb();
            if (qatomic_read(&sc->inline_idle)) {
                qemu_event_set(&sc->wake);
            }
        }
        return false;
    }
    qatomic_set(&sc->kicked, true);
    qemu_event_set(&sc->wake);
    return true;
}
