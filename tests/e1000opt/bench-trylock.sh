#!/usr/bin/env bash
# Throughput of the sidecore thread's BQL acquisition: pktgen TX (COUNT
# frames of 60 bytes, guest-measured pps and frames counted on the host's
# tap) with x-sidecore=on and with all three stages, on two QEMU binaries,
# interleaved: for each repetition every (binary, configuration) pair runs
# once, in the same order, so slow periods of a shared host hit all pairs.
#
# usage: bench-trylock.sh REPS COUNT LABEL=QEMU... > results.tsv
# Prints one TSV line per run: rep label config pps host_frames wall_s ok,
# then (on stderr) the progress.  Needs root (scripts/vm).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
reps=$1 count=$2
shift 2
configs=("sidecore e1000,x-sidecore=on" "all-stages e1000,x-coalesce=on,x-shadow-regs=on,x-sidecore=on")
printf 'rep\tbinary\tconfig\tpps\thost_frames\twall_s\tok\n'
for ((rep = 1; rep <= reps; rep++)); do
	for c in "${configs[@]}"; do
		read -r cname nic <<<"$c"
		for b in "$@"; do
			label=${b%%=*} qemu=${b#*=}
			echo "bench: rep $rep $label $cname" >&2
			out=$(VEXIT_QEMU=$qemu "$TOP/scripts/vm" --nic "$nic" --workload pktgen --count "$count" --size 60 \
				--timeout 240 2>/dev/null) || true
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$label" "$cname" \
				"$(jq -r '.result.pps // "NA"' <<<"$out")" "$(jq -r '.host.pktgen_frames // "NA"' <<<"$out")" \
				"$(jq -r '.wall_s // "NA"' <<<"$out")" "$(jq -r '.ok // false' <<<"$out")"
		done
	done
done
