#!/usr/bin/env bash
# e1000-opt: hot-unplug of an e1000 with every stage on while its sidecore
# thread is busy, under the AddressSanitizer build of QEMU
# (build/bin/qemu-system-x86_64-asan, make qemu-asan; the test fails if it is
# missing).  The Linux guest (TCG, -machine pc: PCI hotplug through ACPI,
# the guest's acpiphp) idles while the host flood-pings it; then QMP
# device_del:
#  - DEVICE_DELETED arrives (the guest's driver let go, QEMU unrealized it),
#    and the flood's replies reached the host's tap meanwhile;
#  - bpftrace in QEMU: every e1000_tx_batch ran on the sidecore thread,
#    none on another thread; pci_e1000_uninit ran for both unplugs and its
#    thread never released the BQL inside it (the sidecore thread is joined
#    with the BQL held, so nothing runs against the half torn-down device);
#  - the sidecore thread is gone (exactly one sidecore-* thread before,
#    none after), QEMU still runs and the device left the QOM tree;
#  - a new e1000 with the stages on plugs in (its thread appears) and
#    unplugs again (its thread goes);
#  - QEMU then quits cleanly (exit status 0) and AddressSanitizer reported
#    nothing: no use-after-free or other memory error from the unplugged
#    device, its shadow pages or its thread, during the run or at exit.
#    (Leak detection is off: QEMU does not free everything at exit, and
#    leaks are not what this test is after.)
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest
[ -x "$QEMU_ASAN" ] || die "no AddressSanitizer build at $QEMU_ASAN: run 'make qemu-asan'"
"$QEMU_ASAN" -device e1000,help 2>/dev/null | grep -q 'x-sidecore=' || die "$QEMU_ASAN has no e1000-opt properties"

export E1OPT_TOP=$TOP OUT=$T_TMP/out QMPS=$T_TMP/qmp.sock ID=hp0
mkdir -p "$OUT" "$T_TMP/asan"
# log_path: every report in a file of ours (scripts/vm keeps QEMU's stderr
# only on failure).
export ASAN_OPTIONS="detect_leaks=0:log_path=$T_TMP/asan/asan"
VEXIT_QEMU=$QEMU_ASAN vm hotplug --nic "e1000,id=$ID,$ALL_ON" --workload sleep:200 \
	--qmp "$QMPS" --timeout 240 --attach "bash $E1OPT/attach-hotplug.sh"
unset ASAN_OPTIONS
r() { cat "$OUT/$1" 2>/dev/null || echo "(not recorded)"; }
[ ! -s "$OUT/error" ] || die "$(cat "$OUT/error")"
expect_eq "QEMU is the ASAN build" "$(r exe)" "$(readlink -f "$QEMU_ASAN")"
expect_eq "one sidecore thread before the unplug" "$(r threads_before)" 1
expect_eq "its name" "$(r thread_name)" "sidecore-$ID"
expect_eq "one sidecore thread during the flood" "$(r threads_busy)" 1
expect_eq "DEVICE_DELETED" "$(r deleted)" 1
expect_ge "flood replies reached the host while the unplug ran" "$(r rx_during)" 1
expect_eq "no sidecore thread after the unplug" "$(r threads_after)" 0
expect_eq "VM still running after the unplug" "$(r status_after)" running
expect_eq "the device left the QOM tree" "$(r qom_gone)" 0
expect_eq "re-plugged e1000: one sidecore thread" "$(r threads_replugged)" 1
expect_eq "second unplug: no sidecore thread" "$(r threads_after2)" 0
expect_eq "VM still running at the end" "$(r status_end)" running
# bpftrace in QEMU (attach-hotplug.sh): TX ran on the sidecore only, and
# the unrealize kept the BQL while it joined the sidecore thread.
expect_ge "TX batches on the sidecore thread" "$(r bt_side_batches)" 1
expect_eq "TX batches on any other thread" "$(r bt_other_batches)" 0
expect_eq "pci_e1000_uninit ran (two unplugs)" "$(r bt_uninit)" 2
expect_eq "... and returned" "$(r bt_uninit_ret)" 2
expect_ge "bql_unlock calls seen (the probe works)" "$(r bt_bql_unlocks)" 100
expect_eq "bql_unlock calls by the unrealizing thread inside pci_e1000_uninit" "$(r bt_bql_unlocks_in_uninit)" 0
expect_eq "QMP quit sent" "$(r quit_sent)" 1
expect_eq "QEMU exit status after quit" "$(j .qemu_exit)" 0
asan_clean "$T_TMP/asan"
# scripts/vm: QEMU exited (our quit) before the guest's result.
expect_eq "scripts/vm exit status (QEMU quit before a result)" "$VM_RC" 4
