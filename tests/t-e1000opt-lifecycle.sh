#!/usr/bin/env bash
# e1000-opt: the device's life cycle with the stages on, during traffic (TCG
# guest, stock Linux e1000 driver, QMP on a socket; scripts/vm names QEMU's
# threads with -name debug-threads=on).
# Two configurations: all three stages on, and the sidecore alone (its TX
# hand-over works without the shadow page; this one skips the reset, which
# costs a second boot).  The guest runs
#   iperf-tx:6 + linkflap + reload + pktgen:20000 + iperf-rx:1 + rr:5000
# and tests/e1000opt/attach-lifecycle.sh, on the host, meanwhile:
#  - stop / cont during iperf-tx: while stopped, the host side of the tap
#    receives nothing (no frame processed while the VM is stopped; checked
#    over 1 s after a 0.2 s grace for frames already on their way), QEMU uses
#    < 10% of a CPU (the sidecore parks instead of spinning), the thread is
#    still there; after cont traffic resumes within 5 s (no lost interrupt);
#  - QMP set_link net0 down for 1 s, then up: traffic resumes within 8 s;
#  - in the guest: link down/up (ip link), driver unload/reload (rmmod e1000,
#    insmod), then pktgen and rr must work (each step's own result);
#  - (all on) system_reset during rr: the guest boots again and, released again
#    (--allow-reboot), runs every step once more and reports success: pktgen
#    frames all sent, rr answered, iperf both ways;
#  - exactly one sidecore-* thread (per device with x-sidecore=on) at every
#    stage: before traffic, stopped, busy, after the reload, after the reset.
# No hang: every wait has a bound (scripts/vm --timeout, the attach script's
# own limits, QMP timeouts).
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest

export E1OPT_TOP=$TOP PKTGEN=20000
RR=5000
WL="iperf-tx:6+linkflap+reload+pktgen:$PKTGEN+iperf-rx:1+rr:$RR"
# name reset props
configs=(
	"all 1 x-coalesce=on,x-shadow-regs=on,x-sidecore=on"
	"side 0 x-sidecore=on"
)
[ -n "${E1OPT_CONFIGS:-}" ] && read -ra only <<<"$E1OPT_CONFIGS"
step() { jq -r --arg s "$1" ".result.steps[] | select(.step == \$s) | $2" "$J"; }

for c in "${configs[@]}"; do
	read -r name RESET props <<<"$c"
	export RESET
	if [ -n "${only:-}" ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
	export OUT=$T_TMP/$name QMPS=$T_TMP/$name.qmp SIDE=1
	mkdir -p "$OUT"
	echo "== $name: e1000,$props"
	reboot=()
	[ "$RESET" = 1 ] && reboot=(--allow-reboot)
	vm "$name" --nic "e1000,$props" --workload "$WL" --qmp "$QMPS" "${reboot[@]}" --timeout 240 \
		--attach "bash $E1OPT/attach-lifecycle.sh"
	[ ! -s "$OUT/error" ] || die "$name: $(cat "$OUT/error")"
	expect_eq "$name: scripts/vm exit status" "$VM_RC" 0
	expect_eq "$name: guest ok (every step; after the reset: of the second boot)" "$(j .ok)" true
	r() { cat "$OUT/$1" 2>/dev/null || echo "(not recorded)"; }
	expect_eq "$name: sidecore threads before traffic" "$(r threads_ready)" $SIDE
	expect_eq "$name: QMP stop: status" "$(r status_stopped)" paused
	expect_eq "$name: no frame from the guest while stopped" "$(r stopped_rx)" 0
	expect_le "$name: QEMU CPU % while stopped" "$(r stopped_cpu)" 10
	expect_eq "$name: sidecore threads while stopped" "$(r threads_stopped)" $SIDE
	expect_eq "$name: QMP cont: status" "$(r status_cont)" running
	expect_eq "$name: traffic resumed after cont" "$(r resumed_cont)" 1
	expect_eq "$name: traffic resumed after set_link down/up" "$(r resumed_link)" 1
	expect_eq "$name: sidecore threads during traffic" "$(r threads_busy)" $SIDE
	expect_eq "$name: sidecore threads after linkflap and driver reload" "$(r threads_after_reload)" $SIDE
	if [ "$RESET" = 1 ]; then
		expect_eq "$name: system_reset issued during rr" "$(r reset_done)" 1
		expect_eq "$name: sidecore threads after system_reset" "$(r threads_after_reset)" $SIDE
		expect_eq "$name: sidecore threads in the rebooted guest's traffic" "$(r threads_reboot_busy)" $SIDE
		check "$name: the guest rebooted" grep -q 'guest rebooted' "$T_TMP/$name.err"
		boots=2
	else
		boots=1
	fi
	# The (last) boot's steps, each with its own result.
	expect_ge "$name: iperf-tx bit/s" "$(step iperf-tx .result.bits_per_second)" 1e6
	expect_eq "$name: linkflap: carrier back" "$(step linkflap '.result.secs | type')" number
	expect_eq "$name: reload: e1000 module reloaded" "$(step reload .result.module)" e1000
	expect_eq "$name: pktgen after the reload: frames sent" "$(step pktgen .result.sent)" $PKTGEN
	# Both boots ran pktgen to the end (the reset came later).
	expect_eq "$name: pktgen frames counted on the host ($boots boots)" "$(j .host.pktgen_frames)" $((boots * PKTGEN))
	expect_eq "$name: rr: answered + lost" "$(($(step rr .result.count) + $(step rr .result.lost)))" $RR
	expect_le "$name: rr lost" "$(step rr .result.lost)" 5
	expect_ge "$name: iperf-rx bit/s" "$(step iperf-rx .result.bits_per_second)" 1e6
done
