#!/usr/bin/env bash
# make demo: boot the test guest with an emulated e1000 under a pktgen TX
# load, attach vexitprof for exactly the workload (with --on-cpu: where
# QEMU's CPU time goes, per thread and register), print its report and
# write the on-CPU flamegraph to results/demo/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT="$TOP/results/demo"
mkdir -p "$OUT"
COUNT=${DEMO_COUNT:-200000}
SIZE=${DEMO_SIZE:-60}

echo "demo: e1000 (upstream model) under TCG, pktgen $COUNT x $SIZE-byte frames"
if [ -x "$TOP/build/bin/vexitprof" ]; then
	# vexitprof writes its report to report.txt, printed below.
	prof="$TOP/build/bin/vexitprof -p \$QEMU_PID --on-cpu --ready-file \$VEXIT_READY_FILE"
	prof+=" --flamegraph $OUT/flamegraph.svg > $OUT/report.txt"
	"$TOP/scripts/vm" --nic e1000 --workload pktgen --count "$COUNT" --size "$SIZE" \
		--attach "$prof" >"$OUT/result.json"
	cat "$OUT/report.txt"
	echo "demo: workload result (guest + host-side tap counters):"
	jq -c '{ok, accel, nic, pps: .result.pps, sent: .result.sent, host_frames: .host.pktgen_frames}' "$OUT/result.json"
	echo "demo: report in results/demo/report.txt, on-CPU flamegraph in results/demo/flamegraph.svg"
else
	"$TOP/scripts/vm" --nic e1000 --workload pktgen --count "$COUNT" --size "$SIZE" | tee "$OUT/result.json"
fi
jq -e .ok "$OUT/result.json" >/dev/null
