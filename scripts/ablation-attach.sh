#!/usr/bin/env bash
# Run by scripts/vm --attach for one ablation run: profiles QEMU with
# vexitprof (JSON, and a flamegraph when asked) and samples QEMU's CPU time
# (utime+stime) at the release of the workload and, every 50 ms, until the
# run ends, so the last sample is taken just before QEMU exits.
# usage: ablation-attach.sh [--no-profile] OUTDIR [FLAMEGRAPH.svg]
#   --no-profile: only the CPU samples (the ablation's throughput runs: under
#   TCG every profiled dispatch is a uprobe trap, which would slow the
#   configurations with more MMIO per packet more than the others)
# env: QEMU_PID, VEXIT_READY_FILE (from scripts/vm)
set -uo pipefail
profile=1
[ "${1:-}" = --no-profile ] && { profile=0; shift; }
out=$1
flame=${2:-}
TOP=$(cd "$(dirname "$0")/.." && pwd)
ticks() { sed 's/.*) //' "/proc/$QEMU_PID/stat" 2>/dev/null | awk '{print $12 + $13}'; }

# --no-packet-probes: the per-packet e1000 USDT probes would add a uprobe trap
# per TX batch, RX frame and IRQ edge (under TCG ~1.3 us each) and slow the
# configurations unevenly; packets are counted on the host side of the tap and
# interrupts by the guest, so the ablation needs only the MMIO dispatches.
args=(-p "$QEMU_PID" --json --no-packet-probes --ready-file "$out/ready")
[ -n "$flame" ] && args+=(--flamegraph "$flame")
stopping=0
if [ $profile -eq 1 ]; then
	"$TOP/build/bin/vexitprof" "${args[@]}" >"$out/prof.json" 2>"$out/prof.err" &
	vp=$!
	# SIGTERM: bash starts background jobs with SIGINT ignored.
	trap 'stopping=1; kill -TERM $vp 2>/dev/null' INT TERM
	while [ ! -e "$out/ready" ]; do
		kill -0 $vp 2>/dev/null || exit 1
		sleep 0.02
	done
else
	vp=
	trap 'stopping=1' INT TERM
fi
start=$(ticks)
touch "$VEXIT_READY_FILE"
last=$start
while [ $stopping -eq 0 ] && kill -0 "$QEMU_PID" 2>/dev/null; do
	t=$(ticks) && [ -n "$t" ] && last=$t
	sleep 0.05
done
echo "$start $last $(getconf CLK_TCK)" >"$out/cpu"
[ -n "$vp" ] || exit 0
# A trapped signal interrupts wait; keep waiting until vexitprof has written
# its report.
wait $vp
rc=$?
while kill -0 $vp 2>/dev/null; do
	wait $vp
	rc=$?
done
exit $rc
