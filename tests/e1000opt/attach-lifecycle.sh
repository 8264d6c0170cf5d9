# --attach command of t-e1000opt-lifecycle.sh (see there).  Environment from
# scripts/vm (QEMU_PID, VEXIT_NETNS, VEXIT_TAP, VEXIT_READY_FILE) and from the
# test: E1OPT_TOP, OUT (one file per recorded fact), QMPS (QMP socket), SIDE
# (sidecore threads expected), PKTGEN (the pktgen step's frames), RESET (1:
# system_reset during rr).  The guest runs iperf-tx:6 + linkflap + reload
# + pktgen + iperf-rx:1 + rr and, with RESET=1, after the system_reset done
# here during rr, all of it again.  (Not during an iperf step: the host's iperf3
# server would stay busy with the dead test and refuse the rebooted guest.)  Any step that does not happen in time fails the run (exit 1, the
# reason in $OUT/error).
TOP=$E1OPT_TOP
source "$TOP/tests/e1000opt-lib.sh"
set -u
clk=$(getconf CLK_TCK)
rec threads_ready "$(sidecore_threads "$QEMU_PID")"
touch "$VEXIT_READY_FILE"

# ---- stop / cont during iperf-tx
wait_rx_moving 30 || fail "no traffic from the guest's iperf-tx"
sleep 0.5
q stop
# Frames the device handed to the tap before the stop may still be on their
# way: give them 0.2 s, then nothing may move for a second.
sleep 0.2
rx_a=$(tap_stat rx_packets) c_a=$(cpu_ticks "$QEMU_PID") t_a=$EPOCHREALTIME
sleep 1
rx_b=$(tap_stat rx_packets) c_b=$(cpu_ticks "$QEMU_PID") t_b=$EPOCHREALTIME
rec stopped_rx "$((rx_b - rx_a))"
rec stopped_cpu "$(awk -v a="$c_a" -v b="$c_b" -v ta="$t_a" -v tb="$t_b" -v hz="$clk" 'BEGIN { printf "%.1f", (b - a) / hz / (tb - ta) * 100 }')"
rec status_stopped "$(qmp "$QMPS" query-status | jq -r .status)"
rec threads_stopped "$(sidecore_threads "$QEMU_PID")"
q cont
rec status_cont "$(qmp "$QMPS" query-status | jq -r .status)"
wait_rx_moving 5 && rec resumed_cont 1 || fail "traffic did not resume within 5 s of cont"

# ---- link down / up (QMP set_link) during iperf-tx
sleep 0.3
q 'set_link {"name":"net0","up":false}'
sleep 1
q 'set_link {"name":"net0","up":true}'
wait_rx_moving 8 && rec resumed_link 1 || fail "traffic did not resume within 8 s of set_link up"
rec threads_busy "$(sidecore_threads "$QEMU_PID")"

# ---- the guest's linkflap, reload, pktgen; then iperf-rx, then rr
# pktgen's frames, counted by scripts/vm's nftables rule in the namespace.
pktgen_frames() {
	ip netns exec "$VEXIT_NETNS" nft -j list counter netdev vexit pktgen |
		jq '[.nftables[] | select(.counter) | .counter.packets][0] // 0'
}
for ((i = 0; i < 600; i++)); do
	[ "$(pktgen_frames)" -ge "$PKTGEN" ] && break
	sleep 0.1
done
[ $i -lt 600 ] || fail "pktgen (after linkflap and reload) did not deliver $PKTGEN frames within 60 s: $(pktgen_frames)"
rec threads_after_reload "$(sidecore_threads "$QEMU_PID")"
if [ "$RESET" != 1 ]; then
	trap 'exit 0' INT
	while :; do sleep 0.2; done
fi
tx_bulk() { # host->guest bulk data (iperf-rx): > 1 MB in 0.5 s
	local a b
	a=$(tap_stat tx_bytes)
	sleep 0.5
	b=$(tap_stat tx_bytes)
	[ $((b - a)) -gt 1000000 ]
}
for ((i = 0; i < 60; i++)); do
	tx_bulk && break
done
[ $i -lt 60 ] || fail "no iperf-rx traffic within 30 s of pktgen"
for ((i = 0; i < 60; i++)); do
	tx_bulk || break
done
[ $i -lt 60 ] || fail "iperf-rx did not end within 30 s"
wait_rx_moving 20 || fail "no rr traffic after iperf-rx"

# ---- system_reset during rr: the guest boots again and reruns it all
q system_reset
rec reset_done 1
sleep 2
rec threads_after_reset "$(sidecore_threads "$QEMU_PID")"
wait_rx_moving 60 || fail "no traffic after system_reset (the rebooted guest's iperf-tx)"
rec threads_reboot_busy "$(sidecore_threads "$QEMU_PID")"
trap 'exit 0' INT
while :; do sleep 0.2; done
