# --attach command of t-e1000opt-matrix.sh (run by scripts/vm with QEMU_PID,
# VEXIT_NETNS, VEXIT_TAP, VEXIT_READY_FILE; the test exports E1OPT_TOP (the
# source tree), OUT (a
# directory for the facts recorded here, one file each), BT (1: count e1000
# MMIO with bpftrace) and RR_REPLIES).
#
# The guest runs [reload,] pktgen, rr, sleep:S, iperf-tx, iperf-rx.  Recorded:
#   threads_ready    sidecore-* threads before the guest is released
#   threads_idle     ... once traffic has ended (after the rr step)
#   threads_busy     ... during the iperf steps
#   idle_pct1/2      QEMU's CPU use (% of one CPU, utime+stime from
#                    /proc/PID/stat) over the 1-s windows [end+1, end+2] and
#                    [end+2, end+3] s, end = the last frame of the rr step
#   idle_pct         the same over [end+1, end+3] (one 2-s window: it holds
#                    one run of the driver's 2-s watchdog whatever the phase)
#   side_ms_traffic  sidecore-* threads' run time (schedstat, exact) from
#                    the release to end+1, in ms; empty without the thread
#   side_pct_idle    their run time over [end+1, end+3], % of one CPU
#   idle_lag         when window 1 really started, in s after end
#   bt.out           with BT=1: e1000 MMIO per register offset (uprobes on
#                    e1000_mmio_read/write), frames the e1000 sent
#                    (e1000_send_packet) and received (e1000_receive_iov
#                    returning > 0), from the release to the end of
#                    the quiet period, i.e. over [reload,] pktgen and rr
#                    only (the iperf steps are not deterministic)
TOP=$E1OPT_TOP
source "$TOP/tests/e1000opt-lib.sh"
set -u
rec threads_ready "$(sidecore_threads "$QEMU_PID")"
s0=$(sidecore_ns "$QEMU_PID")
bp=
if [ "${BT:-0}" = 1 ]; then
	bpftrace -e "BEGIN { printf(\"READY\\n\"); }
uprobe:$QREAL:e1000_mmio_write /pid == $QEMU_PID/ { @w[arg1 & 0x1ffff] = count(); }
uprobe:$QREAL:e1000_mmio_read /pid == $QEMU_PID/ { @r[arg1 & 0x1ffff] = count(); }
uprobe:$QREAL:e1000_send_packet /pid == $QEMU_PID/ { @txframes = count(); }
uretprobe:$QREAL:e1000_receive_iov /pid == $QEMU_PID && (int64)retval > 0/ { @rxframes = count(); }" \
		>"$OUT/bt.out" 2>"$OUT/bt.err" &
	bp=$!
	until grep -q READY "$OUT/bt.out"; do
		kill -0 $bp 2>/dev/null || { echo "attach: bpftrace failed: $(cat "$OUT/bt.err")" >&2 && exit 1; }
		sleep 0.1
	done
fi
tx0=$(tap_stat tx_packets)
touch "$VEXIT_READY_FILE"

# The rr step is over once the echo server has sent every reply (it does not
# answer lost requests: then the quiet period ends the wait too).
for ((i = 0; i < 600; i++)); do
	[ $(($(tap_stat tx_packets) - tx0)) -ge "$RR_REPLIES" ] && break
	sleep 0.1
done
end=$(wait_rx_quiet 1 30) || { echo "attach: traffic never stopped" >&2 && exit 1; }
clk=$(getconf CLK_TCK)
t1=$EPOCHREALTIME c1=$(cpu_ticks "$QEMU_PID") s1=$(sidecore_ns "$QEMU_PID")
sleep 1
t2=$EPOCHREALTIME c2=$(cpu_ticks "$QEMU_PID")
sleep 1
t3=$EPOCHREALTIME c3=$(cpu_ticks "$QEMU_PID") s3=$(sidecore_ns "$QEMU_PID")
pct() { awk -v a="$1" -v b="$2" -v ta="$3" -v tb="$4" -v hz="$clk" 'BEGIN { printf "%.1f", (b - a) / hz / (tb - ta) * 100 }'; }
rec idle_pct1 "$(pct "$c1" "$c2" "$t1" "$t2")"
rec idle_pct2 "$(pct "$c2" "$c3" "$t2" "$t3")"
rec idle_pct "$(pct "$c1" "$c3" "$t1" "$t3")"
if [ -n "$s0" ] && [ -n "$s3" ]; then
	rec side_ms_traffic "$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')"
	rec side_pct_idle "$(awk -v a="$s1" -v b="$s3" -v ta="$t1" -v tb="$t3" 'BEGIN { printf "%.2f", (b - a) / 1e9 / (tb - ta) * 100 }')"
fi
rec idle_lag "$(awk -v a="$end" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
rec threads_idle "$(sidecore_threads "$QEMU_PID")"
if [ -n "$bp" ]; then
	kill -INT $bp
	wait $bp
fi
wait_rx_moving 30 || { echo "attach: no traffic after the sleep step" >&2 && exit 1; }
rec threads_busy "$(sidecore_threads "$QEMU_PID")"
# scripts/vm ends us with SIGINT once the workload is done.
trap 'exit 0' INT
while :; do sleep 0.2; done
