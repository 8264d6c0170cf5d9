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
#include "system/cpus.h"
#include "e1000_sidecore.h"

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
    /* Re-check after the reset so a wake-up in between is not lost. */
    if (!qatomic_read(&sc->stop) &&
        (!qatomic_read(&sc->vm_running) || !has_work(sc))) {
        qemu_event_wait(&sc->wake);
    }
}

static void *sidecore_thread(void *opaque)
{
    E1000Sidecore *sc = opaque;
    int64_t idle_since = get_clock();

    rcu_register_thread();
    while (!qatomic_read(&sc->stop)) {
        if (qatomic_read(&sc->vm_running) && has_work(sc)) {
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
        } else {
            park(sc);
            idle_since = get_clock();
        }
    }
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
    if (shadow) {
        shadow->external_poller = true;
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
    qatomic_set(&sc->kicked, true);
    qemu_event_set(&sc->wake);
    return true;
}
