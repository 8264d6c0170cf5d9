#!/usr/bin/env bash
# make ablation: every configuration of scripts/ablation.conf on every
# workload, R repetitions in interleaved order (all configurations once,
# then again ...), with vexitprof attached to each run.  Raw rows go to
# OUT/ablation.csv, then scripts/ablation-report.py writes ablation.md, the
# plots and keeps one flamegraph per configuration (pktgen TX).  From the
# same first pktgen TX repetition, `vexitprof diff` compares each
# configuration with the previous one of the cumulative series (the
# configuration whose NIC spec is this one without its last property:
# coalesce+shadow after coalesce, coalesce after upstream) and with
# virtio-net: OUT/diffs/STAGE.vs-REF.txt (per packet of the host side of the
# tap) and .svg (differential flame graph: STAGE's shape, red grew, blue
# shrank against REF).
#
# usage: scripts/ablation.sh [--quick] [-r R] [-P N] [-o OUTDIR] [-c CONF] [-w WORKLOADS]
#   --quick   1 repetition, short runs (CI); default OUTDIR build/ablation-quick
#   -r R      repetitions (default 4)
#   -P N      the first N repetitions run with vexitprof attached (default 1;
#             with --quick the one repetition is profiled).  They give the
#             counts (MMIO, exits) and the flamegraphs and diffs; throughput,
#             latency and CPU come from the other repetitions when there are
#             any, since under TCG each profiled dispatch is a uprobe trap
#   -o DIR    output directory (default results/)
#   -w LIST   comma-separated subset of: pktgen-60,pktgen-1500,iperf-tx,iperf-rx,rr
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
args_given="$*"
reps=4
profiled=1
out=
conf=$TOP/scripts/ablation.conf
quick=0
workloads=pktgen-60,pktgen-1500,iperf-tx,iperf-rx,rr
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	-r) reps=$2; shift ;;
	-P) profiled=$2; shift ;;
	-o) out=$2; shift ;;
	-c) conf=$2; shift ;;
	-w) workloads=$2; shift ;;
	-h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "ablation: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ $quick -eq 1 ]; then
	reps=1
	out=${out:-$TOP/build/ablation-quick}
	PKTGEN_COUNT=50000 IPERF_SECS=2 RR_COUNT=200
else
	out=${out:-$TOP/results}
	PKTGEN_COUNT=200000 IPERF_SECS=8 RR_COUNT=2000
fi
[ "$(id -u)" -eq 0 ] || { echo "ablation: must run as root (tap devices, namespaces, BPF)" >&2; exit 1; }
for f in "$TOP/build/bin/vexitprof" "$TOP/build/bin/qemu-system-x86_64" "$TOP/build/guest/initramfs.cpio.gz"; do
	[ -e "$f" ] || { echo "ablation: $f missing (run make)" >&2; exit 1; }
done

names=()
nics=()
qemus=()
while read -r name nic qemu; do
	[[ -z "$name" || "$name" == \#* ]] && continue
	if [ -n "$qemu" ] && [ ! -x "$qemu" ]; then
		echo "ablation: $conf: $name: $qemu is not an executable" >&2
		exit 2
	fi
	names+=("$name")
	nics+=("$nic")
	qemus+=("$qemu")
done <"$conf"
IFS=, read -r -a wls <<<"$workloads"

runs="$out/ablation-runs"
rm -rf "$runs"
mkdir -p "$runs" "$out/flamegraphs"
csv="$out/ablation.csv"
echo "run,rep,config,nic,workload,accel,ok,throughput,unit,p50_us,p99_us,packets,mmio_per_pkt,mmio_by_register,irq_per_pkt,exits_per_pkt,qemu_cpu_s,cpu_s_per_mpkt,wall_s,profiled,gb_moved,cpu_s_per_gb,tap_writes_per_gb,tap_reads_per_gb" >"$csv"

workload_args() {
	case $1 in
	pktgen-60) echo "--workload pktgen --count $PKTGEN_COUNT --size 60" ;;
	pktgen-1500) echo "--workload pktgen --count $PKTGEN_COUNT --size 1500" ;;
	iperf-tx | iperf-rx) echo "--workload $1 --secs $IPERF_SECS" ;;
	rr) echo "--workload rr --count $RR_COUNT" ;;
	*) echo "ablation: unknown workload $1" >&2; return 1 ;;
	esac
}

# the run of each configuration the per-stage diffs compare (pktgen-60, repetition 1)
declare -A diff_run=()
total=$((reps * ${#wls[@]} * ${#names[@]}))
n=0
failed=0
t0=$(date +%s)
for ((rep = 1; rep <= reps; rep++)); do
	for wl in "${wls[@]}"; do
		for i in "${!names[@]}"; do
			n=$((n + 1))
			name=${names[$i]}
			nic=${nics[$i]}
			d="$runs/$n"
			mkdir -p "$d"
			flame=
			attach="$TOP/scripts/ablation-attach.sh"
			if [ "$rep" -gt "$profiled" ]; then
				attach+=" --no-profile $d"
			else
				[ "$wl" = pktgen-60 ] && flame="$d/flame.svg"
				attach+=" $d $flame"
			fi
			# shellcheck disable=SC2046
			VEXIT_QEMU=${qemus[$i]:-${VEXIT_QEMU:-}} \
				"$TOP/scripts/vm" --nic "$nic" $(workload_args "$wl") --timeout 180 \
				--attach "$attach" >"$d/vm.json" 2>"$d/vm.err" || true
			row=$(/usr/bin/python3 "$TOP/scripts/ablation-report.py" --row "$d" "$n" "$rep" "$name" "$nic" "$wl" 2>"$d/row.err") || row=
			if [ -z "$row" ]; then
				failed=$((failed + 1))
				# the NIC spec has commas: quote it as the report's rows do
				echo "$n,$rep,$name,\"$nic\",$wl,,false,,,,,,,,,,,,,,,,," >>"$csv"
				status=FAILED
			else
				echo "$row" >>"$csv"
				status=$(/usr/bin/python3 -c 'import csv, sys; r = next(csv.reader([sys.argv[1]])); print(r[7], r[8])' "$row")
			fi
			if [ -n "$flame" ] && [ -s "$flame" ] && [ "$rep" -eq 1 ]; then
				cp "$flame" "$out/flamegraphs/$name.svg"
				[ -n "$row" ] && diff_run[$name]=$d
			fi
			el=$(($(date +%s) - t0))
			eta=$((el * (total - n) / n))
			printf 'ablation: [%d/%d] rep %d %-16s %-12s %s  (elapsed %dm%02ds, ETA %dm%02ds)\n' \
				"$n" "$total" "$rep" "$name" "$wl" "$status" $((el / 60)) $((el % 60)) $((eta / 60)) $((eta % 60))
		done
	done
done
# one_diff REF STAGE [vexitprof diff options]: OUT/diffs/STAGE.vs-REF.{txt,svg}.
# The profiles are taken with --no-packet-probes, so the packets are the
# frames counted on the host side of the tap, as in the CSV's per-packet
# columns.
one_diff() {
	local ref=$1 stage=$2 base pa pb
	shift 2
	base="$out/diffs/$stage.vs-$ref"
	pa=$(jq '.host.rx_packets + .host.tx_packets' "${diff_run[$ref]}/vm.json")
	pb=$(jq '.host.rx_packets + .host.tx_packets' "${diff_run[$stage]}/vm.json")
	{
		echo "# $stage against $ref, pktgen-60 (repetition 1); packets: host side of the tap"
		echo "# vexitprof diff --packets $pa,$pb ${*:+$* }--top 25 $ref.json $stage.json --flamegraph $stage.vs-$ref.svg"
		(cd "$out/diffs" && "$TOP/build/bin/vexitprof" diff --packets "$pa,$pb" "$@" --top 25 \
			"$ref.json" "$stage.json" --flamegraph "$stage.vs-$ref.svg")
	} >"$base.txt" 2>"$base.err" || { echo "ablation: diff $stage vs $ref failed: $(cat "$base.err")" >&2; return 1; }
	rm -f "$base.err"
}
stage_diffs() {
	local i j name nic prev virtio='' rc=0
	rm -rf "$out/diffs"
	mkdir -p "$out/diffs"
	for i in "${!names[@]}"; do
		# the first virtio configuration is the reference (virtio-net)
		[[ -z "$virtio" && "${nics[$i]}" == virtio* ]] && virtio=${names[$i]}
		[ -n "${diff_run[${names[$i]}]:-}" ] && cp "${diff_run[${names[$i]}]}/prof.json" "$out/diffs/${names[$i]}.json"
	done
	for i in "${!names[@]}"; do
		name=${names[$i]}
		nic=${nics[$i]}
		[ -n "${diff_run[$name]:-}" ] || continue
		prev=
		if [[ "$nic" == *,* ]]; then
			for j in "${!nics[@]}"; do
				[ "${nics[$j]}" = "${nic%,*}" ] && prev=${names[$j]}
			done
		fi
		if [ -n "$prev" ] && [ -n "${diff_run[$prev]:-}" ]; then
			one_diff "$prev" "$name" || rc=1
		fi
		if [ -n "$virtio" ] && [[ "$nic" != virtio* ]] && [ -n "${diff_run[$virtio]:-}" ]; then
			one_diff "$virtio" "$name" --cross-device || rc=1
		fi
	done
	return $rc
}
diffs_ok=1
stage_diffs || diffs_ok=0
# the header names the command; the summary can be rebuilt from OUTDIR alone
echo "scripts/ablation.sh${args_given:+ $args_given}" >"$out/ablation.command"
/usr/bin/python3 "$TOP/scripts/ablation-report.py" --summary "$out" --conf "$conf" \
	--quick "$quick" --reps "$reps" --header fresh
echo "ablation: $((n - failed))/$n runs ok; $out/ablation.md"
[ $diffs_ok -eq 1 ] || echo "ablation: some per-stage diffs failed (see above)" >&2
[ $failed -eq 0 ] && [ $diffs_ok -eq 1 ]
