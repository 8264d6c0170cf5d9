#!/usr/bin/env bash
# e1000-opt: ACPI S3 suspend during TX with the sidecore.  Suspend pauses
# the vCPUs without stopping the VM, so VM change state handlers do not run;
# the sidecore learns of it from suspend/wakeup notifiers and parks.  Before
# that, with TX work left at the suspend, it took and dropped the BQL at full
# speed until the wake-up.
# The guest runs pktgen; tests/e1000opt/attach-suspend.sh suspends it (PM1a_CNT
# write, as the guest's OS would), reads TDH/TDT, measures CPU time over 3 s
# from /proc/PID/task/*/stat, then QMP system_wakeup:
#  - the VM is suspended; the host receives nothing meanwhile;
#  - the sidecore thread uses < 5% of a CPU, QEMU as a whole < 15%;
#  - after system_wakeup the VM runs and traffic resumes (the wake-up resets
#    the machine; the guest boots again and reruns pktgen to the end);
#  - one sidecore thread throughout.
# Two configurations: x-sidecore=on alone (every TDT write traps and kicks
# the thread) and all three stages.  TX work must be pending at the suspend
# (TDH != TDT), since without it the old code did not spin either; the
# thread usually empties the ring while the vCPU is paused, so the attach
# script stops the thread (tests/e1000opt/freeze-thread.py, ptrace, never
# while it holds the BQL) while the guest queues frames, suspends, and lets
# the thread go on with the work there.  The work stays until the wake-up:
# TDH does not move while suspended.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest
export E1OPT_TOP=$TOP
N=400000
for c in "side x-sidecore=on" "all $ALL_ON"; do
	read -r name props <<<"$c"
	export OUT=$T_TMP/$name QMPS=$T_TMP/$name.qmp
	mkdir -p "$OUT"
	r() { cat "$OUT/$1" 2>/dev/null || echo "(not recorded)"; }
	# --debug: the guest's kernel messages go to $T_TMP/$name.err, for the
	# reason if pktgen stops early (it stops when the carrier goes, e.g. a
	# TX hang reset; CI saw 'sent' short of N once, without the reason)
	vm "$name" --nic "e1000,$props" --workload "pktgen:$N" --qmp "$QMPS" --allow-reboot \
		--timeout 300 --debug --attach "bash $E1OPT/attach-suspend.sh"
	[ ! -s "$OUT/error" ] || die "$name: $(cat "$OUT/error")"
	echo "  $name: $(r freeze) (tries); frozen TDH=$(r tdh_frozen) TDT=$(r tdt_frozen); at the suspend TDH=$(r tdh) TDT=$(r tdt)"
	check "$name: TX work pending at the suspend (TDH != TDT)" test "$(r tdh)" != "$(r tdt)"
	expect_eq "$name: no TX while suspended (TDH unchanged after the thread went on)" "$(r tdh_after)" "$(r tdh)"
	expect_eq "$name: suspended" "$(r status_suspended)" suspended
	expect_eq "$name: nothing sent while suspended" "$(r rx_suspended)" 0
	expect_le "$name: sidecore thread CPU % while suspended" "$(r side_cpu)" 5
	expect_le "$name: QEMU CPU % while suspended" "$(r qemu_cpu)" 15
	expect_eq "$name: sidecore threads while suspended" "$(r threads_suspended)" 1
	expect_eq "$name: running after system_wakeup" "$(r status_woken)" running
	expect_eq "$name: traffic resumed" "$(r resumed)" 1
	expect_eq "$name: sidecore threads after the wake-up" "$(r threads_woken)" 1
	expect_eq "$name: scripts/vm exit status" "$VM_RC" 0
	jcheck "$name: guest ok (the boot after the wake-up)" '.ok == true'
	sent=$(j '.result.steps[0].result.sent')
	[ "$sent" = $N ] || die "$name: pktgen frames sent (after the wake-up): got '$sent', want '$N'; the guest's kernel said: $(grep -aiE 'e1000|link|watchdog|hang|timed out|reset' "$T_TMP/$name.err" | grep -v VEXIT- | tail -n 6 | tr '\n' '|')"
	ok "$name: pktgen frames sent (after the wake-up) ($sent)"
done
