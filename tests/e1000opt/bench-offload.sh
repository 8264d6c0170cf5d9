#!/usr/bin/env bash
# Quick throughput comparison for e1000-opt stage 4 (x-offload): one boot
# per run with iperf3 TCP guest->host then host->guest (SECS each), for
# upstream e1000, x-offload alone, all four stages and virtio-net,
# interleaved: each repetition runs every configuration once, in the same
# order, so slow periods of a shared host hit all of them.
#
# usage: bench-offload.sh REPS SECS > results.tsv
# One TSV line per run: rep config tx_bps rx_bps (iperf3 receiver side),
# the host side of the tap over the whole workload (rx = frames QEMU wrote
# to the tap = tap writes, tx = frames QEMU read), QEMU's CPU seconds over
# the workload (utime+stime from /proc/PID/stat, sampled by an --attach
# command at the release and at the end), ok.  Needs root (scripts/vm).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
reps=$1 secs=$2
configs=("upstream e1000" "offload e1000,x-offload=on"
	"all-four e1000,x-coalesce=on,x-shadow-regs=on,x-sidecore=on,x-offload=on"
	"virtio-net virtio")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/cpu.sh" <<'A'
ticks() { awk '{ print $14 + $15 }' /proc/$QEMU_PID/stat; }
ticks >"$CPU_FILE"
touch "$VEXIT_READY_FILE"
trap 'ticks >>"$CPU_FILE"; exit 0' INT
while :; do sleep 0.2; done
A
hz=$(getconf CLK_TCK)
printf 'rep\tconfig\ttx_bps\trx_bps\ttap_writes\ttap_write_bytes\ttap_reads\ttap_read_bytes\tqemu_cpu_s\tok\n'
for ((rep = 1; rep <= reps; rep++)); do
	for c in "${configs[@]}"; do
		read -r cname nic <<<"$c"
		echo "bench: rep $rep $cname" >&2
		rm -f "$tmp/cpu"
		out=$(CPU_FILE=$tmp/cpu "$TOP/scripts/vm" --nic "$nic" --workload "iperf-tx:$secs+iperf-rx:$secs" \
			--timeout 400 --attach "bash $tmp/cpu.sh" 2>/dev/null) || true
		cpu=$(awk -v hz="$hz" 'NR == 1 { a = $1 } NR == 2 { printf "%.2f", ($1 - a) / hz }' "$tmp/cpu" 2>/dev/null || true)
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$cname" \
			"$(jq -r '.result.steps[0].result.bits_per_second // "NA"' <<<"$out")" \
			"$(jq -r '.result.steps[1].result.bits_per_second // "NA"' <<<"$out")" \
			"$(jq -r '.host.rx_packets // "NA"' <<<"$out")" "$(jq -r '.host.rx_bytes // "NA"' <<<"$out")" \
			"$(jq -r '.host.tx_packets // "NA"' <<<"$out")" "$(jq -r '.host.tx_bytes // "NA"' <<<"$out")" \
			"${cpu:-NA}" "$(jq -r '.ok // false' <<<"$out")"
	done
done
