#!/usr/bin/env bash
# rx-bound.sh OUTDIR [REPS]: where QEMU's CPU goes per GB received (iperf3
# host->guest, the guest's stock driver at MTU 1500), and how far any change
# to the device or its backend could take RX throughput.  For upstream e1000,
# all four e1000-opt stages, virtio-net and the stock-driver ceiling
# (virtio-net without large receive), interleaved, REPS rounds (default 3):
# scripts/vm --workload iperf-rx with `vexitprof --no-usdt --on-cpu -d 9
# --json` attached (the sampler alone: no USDT traps to skew the split).
# Prints scripts/bench/oncpu_split.py --summary OUTDIR.  Needs root.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: rx-bound.sh OUTDIR [REPS]}
reps=${2:-3}
mkdir -p "$out"
configs=(
	"upstream e1000"
	"all-four e1000,x-coalesce=on,x-shadow-regs=on,x-sidecore=auto,x-offload=on"
	"virtio-ceiling virtio,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off"
	"virtio-net virtio"
)
for ((rep = 1; rep <= reps; rep++)); do
	for c in "${configs[@]}"; do
		read -r name nic <<<"$c"
		"$TOP/scripts/vm" --nic "$nic" --workload iperf-rx --secs 12 \
			--attach "$TOP/build/bin/vexitprof -p \$QEMU_PID --no-usdt --on-cpu -d 9 --json --ready-file \$VEXIT_READY_FILE >$out/$name.$rep.json" \
			>"$out/$name.$rep.vm.json" 2>"$out/$name.$rep.vm.err"
		echo "rx-bound: $name, round $rep done" >&2
	done
done
/usr/bin/python3 "$TOP/scripts/bench/oncpu_split.py" --summary "$out"
