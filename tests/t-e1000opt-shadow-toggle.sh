#!/usr/bin/env bash
# e1000-opt: x-shadow-regs mapping and unmapping its RAM page thousands of
# times per second, under the AddressSanitizer build of QEMU (TCG, Linux
# guest, stock e1000 driver).  x-shadow-poll-us=20 and x-shadow-idle-us=20
# make every poll that finds no work unmap the page again, so iperf3 in
# both directions and request/response traffic keep the memory map
# changing under the running vCPU.  Two bugs showed up this way:
#  - QEMU 10.0.2's TCG could enter generated code with a cached address
#    space dispatch that RCU had already freed (qemu-patches/0009); ASAN
#    reported the use-after-free in about one run in three;
#  - a tail the vCPU stored between the unmap and its TLB flush was lost
#    (e1000_shadow.c: late_store_check).
# Checks:
#  - the run really toggled the page: e1000_shadow_activate (bpftrace
#    uprobe, counted in QEMU's process) at least 3000 times, and a
#    late-store check ran on the vCPU after the unmaps;
#  - every step ok: iperf3 both ways moved data, all request/response
#    requests answered (lost 0), QEMU exited 0;
#  - AddressSanitizer reported nothing.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest
[ -x "$QEMU_ASAN" ] || die "no AddressSanitizer build at $QEMU_ASAN: run 'make qemu-asan'"
"$QEMU_ASAN" -device e1000,help 2>/dev/null | grep -q 'x-shadow-idle-us=' || die "$QEMU_ASAN has no e1000-opt properties"

STRESS=x-shadow-regs=on,x-shadow-poll-us=20,x-shadow-idle-us=20
STEPS="iperf-rx:6+rr:2000+iperf-tx:5+iperf-rx:6"
# Before the fix ASAN caught the use-after-free in 2 of 7 runs, so three
# runs catch a regression about two times in three.
RUNS=${SHADOW_TOGGLE_RUNS:-3}

# The attach command (write_attach, tests/lib.sh): bpftrace counts, in
# QEMU's process only, how often the page was mapped, how often the
# late-store check ran and how many late stores it found.
PROG='uprobe:/proc/QEMU_PID/exe:e1000_shadow_activate /pid == QEMU_PID/ { @act = count(); }
uprobe:/proc/QEMU_PID/exe:late_store_check /pid == QEMU_PID/ { @late_checks = count(); }
usdt:/proc/QEMU_PID/exe:qemu:e1000_shadow_late_store /pid == QEMU_PID/ { @late_stores = count(); }'
count() { awk -v k="@$2:" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }

mkdir -p "$T_TMP/asan"
for i in $(seq 1 "$RUNS"); do
	write_attach count-$i "$PROG"
	counts=$T_TMP/count-$i.bt
	# log_path: every report in a file of ours (scripts/vm keeps QEMU's
	# stderr only on failure).  Leaks are not what this test is after.
	export ASAN_OPTIONS="detect_leaks=0:log_path=$T_TMP/asan/asan"
	VEXIT_QEMU=$QEMU_ASAN vm toggle-$i --nic "e1000,$STRESS" --workload "$STEPS" \
		--timeout 300 --attach "bash $T_TMP/count-$i.sh"
	unset ASAN_OPTIONS
	expect_eq "run $i: QEMU is the ASAN build" "$(cat "$T_TMP/count-$i.exe")" "$(readlink -f "$QEMU_ASAN")"
	jcheck "run $i: guest result ok" '.ok == true'
	expect_eq "run $i: QEMU exit status" "$(j .qemu_exit)" 0
	expect_eq "run $i: steps" "$(j '[.result.steps[].step] | join(",")')" "iperf-rx,rr,iperf-tx,iperf-rx"
	jcheck "run $i: iperf3 moved data both ways" \
		'[.result.steps[] | select(.step | startswith("iperf")) | .result.bytes_received > 1000000] | all'
	expect_eq "run $i: request/response requests lost" "$(j '.result.steps[1].result.lost')" 0
	expect_eq "run $i: request/response requests answered" "$(j '.result.steps[1].result.count')" 2000
	expect_ge "run $i: shadow page mapped (times)" "$(count "$counts" act)" 3000
	expect_ge "run $i: late-store checks run on the vCPU" "$(count "$counts" late_checks)" 1
	# Information only: how often a vCPU stored a tail after an unmap.
	echo "  run $i: late stores found: $(count "$counts" late_stores)"
done

asan_clean "$T_TMP/asan"
