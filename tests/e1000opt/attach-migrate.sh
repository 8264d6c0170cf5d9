# --attach command of t-e1000opt-migrate.sh, for the three QEMUs one guest
# passes through.  Environment from scripts/vm (QEMU_PID, VEXIT_NETNS,
# VEXIT_TAP, VEXIT_READY_FILE) and the test: E1OPT_TOP, OUT (one file per
# recorded fact, prefixed with MODE), QMPS (QMP socket), MIGF (file to
# migrate to), N1 (frames of the guest's first pktgen step), MODE:
#   src  the booted guest: once its first pktgen runs, QMP migrate to
#        file:$MIGF with the VM running, wait until done, record the source's
#        counters, quit it
#   mid  the guest restored from src: let it finish the first pktgen (all of
#        its remaining frames must arrive here), then during its rr step
#        stop it at a moment when the e1000 has TX work pending (the sidecore
#        thread held by freeze-thread.py, tx-pending.py --frozen),
#        migrate it from the paused state to file:$MIGF (as "virsh save"
#        does), quit
#   dst  the guest restored from mid: it arrives paused; cont it
# Failures: exit 1 (and QMP quit), the reason in $OUT/error.
TOP=$E1OPT_TOP
source "$TOP/tests/e1000opt-lib.sh"
set -u
ATTACH_LABEL=${MODE}
r() { rec "${OUT_PREFIX:-$MODE}_$1" "$2"; }
pktgen_frames() {
	ip netns exec "$VEXIT_NETNS" nft -j list counter netdev vexit pktgen |
		jq '[.nftables[] | select(.counter) | .counter.packets][0] // 0'
}
status() { qmp "$QMPS" query-status | jq -r .status; }
# wait_status S...: until the VM's run state is one of S (60 s).
wait_status() {
	local i s
	for ((i = 0; i < 600; i++)); do
		s=$(status 2>/dev/null) || s=
		[[ " $* " == *" $s "* ]] && return 0
		sleep 0.1
	done
	fail "run state '$s', want one of: $*"
}
# migrate_out: QMP migrate to file:$MIGF, wait, record, check the source
# sends nothing afterwards, quit.
migrate_out() {
	q "migrate {\"uri\":\"file:$MIGF\"}" "@migrate-wait 120"
	r migrated 1
	r status "$(status)"
	local rx
	rx=$(tap_stat rx_packets)
	r pktgen "$(pktgen_frames)"
	sleep 0.5
	r rx_after "$(($(tap_stat rx_packets) - rx))"
	r threads_paused "$(sidecore_threads "$QEMU_PID")"
	q quit
}

touch "$VEXIT_READY_FILE"
case $MODE in
src)
	r threads "$(sidecore_threads "$QEMU_PID")"
	wait_rx_moving 30 || fail "no pktgen traffic from the guest"
	sleep 0.5
	migrate_out
	;;
mid)
	wait_status running
	r threads "$(sidecore_threads "$QEMU_PID")"
	remain=$((N1 - $(cat "$OUT/src_pktgen")))
	for ((i = 0; i < 600; i++)); do
		[ "$(pktgen_frames)" -ge "$remain" ] && break
		sleep 0.1
	done
	[ $i -lt 600 ] || fail "the restored guest's pktgen did not deliver its remaining $remain frames in 60 s: $(pktgen_frames)"
	wait_rx_moving 30 || fail "no rr traffic"
	sleep 0.3
	# The stop must catch TX work pending, and the thread usually does the
	# work before the vCPU is paused: hold the thread (never while it has
	# the BQL), stop as soon as the guest's next rr request is in the
	# ring, then let the thread go on; it must not touch the stopped VM.
	# Not in $(...): the held thread goes on when freeze_sidecore's helper ends.
	freeze_sidecore "$QMPS" >"$OUT/freeze.out" 2>&1 || fail "$(cat "$OUT/freeze.out")"
	r freeze "$(cat "$OUT/freeze.out")"
	/usr/bin/python3 "$E1OPT/tx-pending.py" "$QMPS" --frozen 10 >"$OUT/mid_pending.json" 2>>"$OUT/qmp.log" ||
		fail "tx-pending.py failed: $(tail -n 2 "$OUT/qmp.log")"
	thaw_sidecore >"$OUT/thaw.out" 2>&1 || fail "$(cat "$OUT/thaw.out")"
	migrate_out
	;;
dst)
	wait_status paused running
	r arrived "$(status)"
	[ "$(status)" = paused ] && q cont
	wait_rx_moving 30 || fail "no traffic after cont"
	r threads "$(sidecore_threads "$QEMU_PID")"
	;;
esac
trap 'exit 0' INT
while :; do sleep 0.2; done
