#!/usr/bin/env bash
# make demo: boot the test guest with an emulated e1000 under a pktgen TX
# load, attach vexitprof for exactly the workload, print its report and
# write a flamegraph to results/demo/.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT="$TOP/results/demo"
mkdir -p "$OUT"
COUNT=${DEMO_COUNT:-200000}
SIZE=${DEMO_SIZE:-60}

echo "demo: e1000 (upstream model) under TCG, pktgen $COUNT x $SIZE-byte frames"
if [ -x "$TOP/build/bin/vexitprof" ]; then
	prof="$TOP/build/bin/vexitprof -p \$QEMU_PID --ready-file \$VEXIT_READY_FILE"
	prof+=" --flamegraph $OUT/flamegraph.svg --json-file $OUT/report.json"
	"$TOP/scripts/vm" --nic e1000 --workload pktgen --count "$COUNT" --size "$SIZE" \
		--attach "$prof" | tee "$OUT/result.json"
	echo "demo: flamegraph in results/demo/flamegraph.svg, JSON report in results/demo/report.json"
else
	"$TOP/scripts/vm" --nic e1000 --workload pktgen --count "$COUNT" --size "$SIZE" | tee "$OUT/result.json"
fi
