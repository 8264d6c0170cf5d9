#!/usr/bin/env bash
# x-sidecore=auto against upstream and the always-on sidecore: pktgen TX
# (COUNT frames of 60 bytes, guest-measured pps) and iperf3 TCP guest->host
# (SECS seconds, Gbit/s), interleaved: each repetition runs every
# (workload, configuration) pair once, in the same order, so slow periods
# of a shared host hit all of them.  An attach script counts the
# e1000_sidecore_mode USDT (switches to the sidecore / to inline) and reads
# the sidecore thread's CPU time; no per-packet probe, so every
# configuration runs at full speed.
#
# usage: bench-sidecore-auto.sh REPS COUNT SECS > results.tsv
# One TSV line per run: rep workload config throughput unit to_side
# to_inline side_cpu_s wall_s ok; progress on stderr.  Needs root.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
reps=$1 count=$2 secs=$3
configs=(
	"upstream e1000"
	"sidecore-auto e1000,x-sidecore=auto"
	"sidecore-on e1000,x-sidecore=on"
	"coalesce+shadow e1000,x-coalesce=on,x-shadow-regs=on"
	"all-auto e1000,x-coalesce=on,x-shadow-regs=on,x-sidecore=auto"
	"all-on e1000,x-coalesce=on,x-shadow-regs=on,x-sidecore=on"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/attach.sh" <<'EOF'
out=$1
bpftrace -e "BEGIN { printf(\"READY\n\"); }
usdt:/proc/$QEMU_PID/exe:qemu:e1000_sidecore_mode /pid == $QEMU_PID/ { @to[arg0] = count(); }" >"$out.bt" 2>/dev/null &
bp=$!
until grep -q READY "$out.bt"; do kill -0 $bp 2>/dev/null || exit 1; sleep 0.1; done
side_ticks() {
	local t
	for t in /proc/"$QEMU_PID"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == sidecore-* ]] &&
			sed 's/.*) //' "$t/stat" | awk '{ print $12 + $13 }' && return
	done
	echo 0
}
a=$(side_ticks)
touch "$VEXIT_READY_FILE"
trap 'echo $(($(side_ticks) - a)) >"$out.ticks"; kill -INT $bp 2>/dev/null' INT
while kill -0 $bp 2>/dev/null; do wait $bp; done
EOF
clk=$(getconf CLK_TCK)
printf 'rep\tworkload\tconfig\tthroughput\tunit\tto_side\tto_inline\tside_cpu_s\twall_s\tok\n'
for ((rep = 1; rep <= reps; rep++)); do
	for wl in pktgen-60 iperf-tx; do
		for c in "${configs[@]}"; do
			read -r cname nic <<<"$c"
			echo "bench: rep $rep $wl $cname" >&2
			case $wl in
			pktgen-60) args=(--workload pktgen --count "$count" --size 60) ;;
			iperf-tx) args=(--workload iperf-tx --secs "$secs") ;;
			esac
			rm -f "$tmp/r.bt" "$tmp/r.ticks"
			out=$("$TOP/scripts/vm" --nic "$nic" "${args[@]}" --timeout 300 \
				--attach "bash $tmp/attach.sh $tmp/r" 2>"$tmp/err") || true
			bt() { awk -v k="@to[$1]:" '$1 == k { v = $2 } END { print v + 0 }' "$tmp/r.bt" 2>/dev/null || echo 0; }
			side=$(awk -v t="$(cat "$tmp/r.ticks" 2>/dev/null || echo 0)" -v c="$clk" 'BEGIN { printf "%.2f", t / c }')
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$wl" "$cname" \
				"$(jq -r '.result.pps // ((.result.bits_per_second // empty) / 1e9) // "NA"' <<<"$out" 2>/dev/null || echo NA)" \
				"$(case $wl in pktgen*) echo pps ;; *) echo Gbit/s ;; esac)" \
				"$(bt 1)" "$(bt 0)" "$side" \
				"$(jq -r '.wall_s // "NA"' <<<"$out" 2>/dev/null || echo NA)" "$(jq -r '.ok // false' <<<"$out" 2>/dev/null || echo false)"
		done
	done
done
