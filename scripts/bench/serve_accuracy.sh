#!/usr/bin/env bash
# serve_accuracy.sh VEXITPROF OUTDIR [RUNS]: how far vexitprof --serve's
# sampled counts (the default --duty) are from the truth, on the case the
# default is for: one pktgen VM (TCG) that no other tracer touches.  Per
# run: a daemon serving only that VM, scraped every 5 s for 30 s once the
# guest sends; its e1000 TX frames' 30 s increase against the frames the
# host side of the tap received over the same 30 s (rx_packets +
# rx_dropped), and its hit cost, extrapolated CPU, relative-error gauge.
# One line per run on stdout:
#   run N: tap F est E err +X.X% hit_cost S xcpu S qemu_cpu S rse R trap_share T est/(1-share) +Y.Y%
# (T: the trap-share gauge averaged over the 30 s; the last column is the
# estimate's upper end against the tap, >= 0 when the gauge bounds the bias)
# Everything it starts (the daemon, the VM) is stopped on exit.
set -euo pipefail
VP=$1
OUT=$2
RUNS=${3:-1}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
for run in $(seq "$RUNS"); do
	O=$OUT/run$run
	mkdir -p "$O"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	NAME=vxacc$$-$run
	rm -f "$O/d.ready" "$O/snaps"
	nice -n -10 "$VP" --serve "127.0.0.1:$PORT" --vm "$NAME" --ready-file "$O/d.ready" 2>"$O/d.err" &
	DP=$!
	trap 'kill -TERM $DP 2>/dev/null; wait $DP 2>/dev/null' EXIT INT TERM
	for i in $(seq 100); do [ -e "$O/d.ready" ] && break; sleep 0.1; done
	cat >"$O/attach.sh" <<EOA
until curl -sf http://127.0.0.1:$PORT/metrics | grep -q '^vexitprof_vm_info{vm="$NAME"'; do sleep 0.1; done
touch "\$VEXIT_READY_FILE"
sleep 5
snap() {
	echo "\$(date +%s.%N) \$(ip netns exec "\$VEXIT_NETNS" sh -c "cd /sys/class/net/\$VEXIT_TAP/statistics && cat rx_packets rx_dropped" | awk '{ s += \$1 } END { print s }') \$(curl -sf http://127.0.0.1:$PORT/metrics | awk '
		/^vexitprof_e1000_tx_frames_total/ { f = \$2 } /^vexitprof_usdt_hit_cost_seconds/ { hc = \$2 }
		/^vexitprof_usdt_extrapolated_cpu_seconds_total/ { xc = \$2 } /^vexitprof_usdt_relative_error.*e1000_tx/ { re = \$2 }
		/^vexitprof_usdt_trap_share/ { ts = \$2 }
		END { print f + 0, hc + 0, xc + 0, re + 0, ts + 0 }') \$(awk -v hz=\$(getconf CLK_TCK) '{ print (\$14 + \$15) / hz }' /proc/\$QEMU_PID/stat)"
}
for i in 0 1 2 3 4 5 6; do snap >>"$O/snaps"; sleep 5; done
kill -TERM \$QEMU_PID
EOA
	"$TOP/scripts/vm" --workload pktgen --count 200000000 --timeout 300 --attach "bash $O/attach.sh" \
		-- -name "$NAME" >"$O/vm.json" 2>"$O/vm.err" || true
	kill -TERM $DP 2>/dev/null
	wait $DP 2>/dev/null || true
	trap - EXIT INT TERM
	[ "$(wc -l <"$O/snaps" 2>/dev/null || echo 0)" -ge 7 ] || { echo "run $run: no measurement (see $O)"; continue; }
	awk -v run="$run" 'NR == 1 { r0 = $2; e0 = $3; x0 = $5; c0 = $8 } NR > 1 { ts += $7; nts++ }
		END { ts /= nts; printf "run %d: tap %d est %d err %+.1f%% hit_cost %.3g xcpu %.2f qemu_cpu %.2f rse %.3f trap_share %.3f est/(1-share) %+.1f%%\n",
			run, $2 - r0, $3 - e0, 100 * (($3 - e0) - ($2 - r0)) / ($2 - r0), $4, $5 - x0, $8 - c0, $6,
			ts, 100 * (($3 - e0) / (1 - ts) - ($2 - r0)) / ($2 - r0) }' "$O/snaps"
done
