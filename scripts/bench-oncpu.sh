#!/usr/bin/env bash
# What --on-cpu sampling costs (a benchmark, not a test).  Writes results/oncpu-overhead.md.
#
# TCG pktgen in the Linux test guest (scripts/vm, upstream e1000), guest pps
# as the guest's pktgen reports it, one run per mode per round, interleaved:
#   none        nothing attached
#   vexitprof   vexitprof, default (USDT probes)
#   oncpu       vexitprof --on-cpu=499 (the same plus the sampler)
#   perf        perf record -e cpu-clock -F 499 -g -p QEMU (no vexitprof)
#   perf-nog    the same without -g (no call chains: the sampling alone)
#   oncpu-only  vexitprof --on-cpu=499 --no-usdt (the sampler and kernel events only)
# The sampling cost is oncpu vs vexitprof (and oncpu-only vs none); perf
# is the reference for sampling at the same rate, perf-nog vs perf the cost
# of walking the stacks.  Medians and min-max.
# On a loaded machine pps moves by more than the cost, so the BPF side's own
# CPU time is also reported, from vexitprof's run-time statistics (--json
# cost.programs, on for the first 20,000 runs or 2 s): the sampler's mean run
# time x samples per second, and what --on-cpu adds to each
# memory_region_ops_write (usdt_mr_write's mean run time, oncpu vs vexitprof).
#
# Usage: scripts/bench-oncpu.sh [ROUNDS (default 5)] [FRAMES (default 400000)]
# Environment: BENCH_OUT (instead of results/oncpu-overhead.md), VEXIT_TOP (the tree).
set -euo pipefail
TOP=${VEXIT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
VP=$TOP/build/bin/vexitprof
ROUNDS=${1:-5}
FRAMES=${2:-400000}
OUT=${BENCH_OUT:-$TOP/results/oncpu-overhead.md}
TMP=$(mktemp -d /tmp/vexit-bench-oncpu.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
MODES=(none vexitprof oncpu perf perf-nog oncpu-only)
declare -A ATTACH=(
	[none]="sleep 100000 & touch \$VEXIT_READY_FILE; wait"
	[vexitprof]="$VP -p \$QEMU_PID --json --ready-file \$VEXIT_READY_FILE >$TMP/vexitprof.json 2>/dev/null; wait"
	[oncpu]="$VP -p \$QEMU_PID --on-cpu=499 --json --ready-file \$VEXIT_READY_FILE >$TMP/oncpu.json 2>/dev/null; wait"
	[perf]="perf record -q -e cpu-clock -F 499 -g -p \$QEMU_PID -o $TMP/perf.data >/dev/null 2>&1 & sleep 2; touch \$VEXIT_READY_FILE; wait"
	[perf-nog]="perf record -q -e cpu-clock -F 499 -p \$QEMU_PID -o $TMP/perf.data >/dev/null 2>&1 & sleep 2; touch \$VEXIT_READY_FILE; wait"
	[oncpu-only]="$VP -p \$QEMU_PID --no-usdt --on-cpu=499 --ready-file \$VEXIT_READY_FILE >/dev/null 2>&1; wait"
)
raw=$TMP/raw.txt
: >"$raw"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
	for m in "${MODES[@]}"; do
		if ! "$TOP/scripts/vm" --workload pktgen --count "$FRAMES" --timeout 400 --attach "${ATTACH[$m]}" \
			>"$TMP/vm.json" 2>"$TMP/vm.err"; then
			tail -5 "$TMP/vm.err" >&2
			echo "bench-oncpu: $m round $r failed" >&2
			exit 1
		fi
		pps=$(jq -r '.result.pps' "$TMP/vm.json")
		echo "$m $r $pps" | tee -a "$raw" >&2
		# the BPF programs' mean run time (ns) and runs, from the statistics window
		if [ -s "$TMP/$m.json" ]; then
			jq -r --arg m "$m" --arg r "$r" '.cost.programs[] | select(.run_cnt > 0) |
				"\($m) \($r) \(.name) \(.run_cnt) \(.run_time_ns) \(.run_time_ns / .run_cnt | floor)"' \
				"$TMP/$m.json" >>"$TMP/progs.txt"
			[ "$m" != oncpu ] || jq -r --arg r "$r" '"oncpu \($r) samples \(.on_cpu.samples) dropped \(.on_cpu.dropped) duration_s \(.duration_s)"' \
				"$TMP/oncpu.json" >>"$TMP/progs.txt"
			rm -f "$TMP/$m.json"
		fi
	done
done
{
	echo "# --on-cpu overhead: TCG pktgen (upstream e1000, $FRAMES x 60-byte frames), guest pps"
	echo
	echo "Command: \`scripts/bench-oncpu.sh $ROUNDS $FRAMES\` ($(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r);"
	echo "a shared machine: other jobs ran at the same time). Modes interleaved, one run of each per round."
	echo
	echo "| mode | median pps | min | max | median vs none | median vs vexitprof |"
	echo "|---|---|---|---|---|---|"
	awk '
		{ v[$1] = v[$1] " " $3 }
		function med(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			lo = a[1]; hi = a[n]; return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		END {
			n = split("none vexitprof oncpu perf perf-nog oncpu-only", ms, " ")
			base = med(v["none"]); vp = med(v["vexitprof"])
			for (i = 1; i <= n; i++) { m = ms[i]; x = med(v[m])
				printf "| %s | %.0f | %.0f | %.0f | %.3f | %.3f |\n", m, x, lo, hi, x / base, x / vp }
		}' "$raw"
	echo
	echo "BPF run-time statistics (mode round program runs run_time_ns mean_ns), and the"
	echo "sampler's samples (mode round samples N dropped N duration_s S):"
	echo
	echo '```'
	cat "$TMP/progs.txt" 2>/dev/null || true
	echo '```'
	echo
	echo "Load average at the start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "Raw (mode round pps):"
	echo
	echo '```'
	cat "$raw"
	echo '```'
} >"$OUT"
echo "wrote $OUT" >&2
