#!/usr/bin/env bash
# make ablation: every configuration of scripts/ablation.conf on every
# workload, R repetitions in interleaved order (all configurations once,
# then again ...), with vexitprof attached to each run.  Raw rows go to
# OUT/ablation.csv, then scripts/ablation-report.py writes ablation.md, the
# plots and keeps one flamegraph per configuration (pktgen TX).
#
# usage: scripts/ablation.sh [--quick] [-r R] [-o OUTDIR] [-c CONF] [-w WORKLOADS]
#   --quick   1 repetition, short runs (CI); default OUTDIR build/ablation-quick
#   -r R      repetitions (default 5)
#   -o DIR    output directory (default results/)
#   -w LIST   comma-separated subset of: pktgen-60,pktgen-1500,iperf-tx,iperf-rx,rr
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
reps=5
out=
conf=$TOP/scripts/ablation.conf
quick=0
workloads=pktgen-60,pktgen-1500,iperf-tx,iperf-rx,rr
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	-r) reps=$2; shift ;;
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
while read -r name nic; do
	[[ -z "$name" || "$name" == \#* ]] && continue
	names+=("$name")
	nics+=("$nic")
done <"$conf"
IFS=, read -r -a wls <<<"$workloads"

runs="$out/ablation-runs"
rm -rf "$runs"
mkdir -p "$runs" "$out/flamegraphs"
csv="$out/ablation.csv"
echo "run,rep,config,nic,workload,accel,ok,throughput,unit,p50_us,p99_us,packets,mmio_per_pkt,mmio_by_register,irq_per_pkt,exits_per_pkt,qemu_cpu_s,cpu_s_per_mpkt,wall_s" >"$csv"

workload_args() {
	case $1 in
	pktgen-60) echo "--workload pktgen --count $PKTGEN_COUNT --size 60" ;;
	pktgen-1500) echo "--workload pktgen --count $PKTGEN_COUNT --size 1500" ;;
	iperf-tx | iperf-rx) echo "--workload $1 --secs $IPERF_SECS" ;;
	rr) echo "--workload rr --count $RR_COUNT" ;;
	*) echo "ablation: unknown workload $1" >&2; return 1 ;;
	esac
}

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
			[ "$wl" = pktgen-60 ] && flame="$d/flame.svg"
			# shellcheck disable=SC2046
			"$TOP/scripts/vm" --nic "$nic" $(workload_args "$wl") --timeout 180 \
				--attach "$TOP/scripts/ablation-attach.sh $d $flame" >"$d/vm.json" 2>"$d/vm.err" || true
			row=$(/usr/bin/python3 "$TOP/scripts/ablation-report.py" --row "$d" "$n" "$rep" "$name" "$nic" "$wl" 2>"$d/row.err") || row=
			if [ -z "$row" ]; then
				failed=$((failed + 1))
				# the NIC spec has commas: quote it as the report's rows do
				echo "$n,$rep,$name,\"$nic\",$wl,,false,,,,,,,,,,,," >>"$csv"
				status=FAILED
			else
				echo "$row" >>"$csv"
				status=$(/usr/bin/python3 -c 'import csv, sys; r = next(csv.reader([sys.argv[1]])); print(r[7], r[8])' "$row")
			fi
			if [ -n "$flame" ] && [ -s "$flame" ] && [ "$rep" -eq 1 ]; then
				cp "$flame" "$out/flamegraphs/$name.svg"
			fi
			el=$(($(date +%s) - t0))
			eta=$((el * (total - n) / n))
			printf 'ablation: [%d/%d] rep %d %-16s %-12s %s  (elapsed %dm%02ds, ETA %dm%02ds)\n' \
				"$n" "$total" "$rep" "$name" "$wl" "$status" $((el / 60)) $((el % 60)) $((eta / 60)) $((eta % 60))
		done
	done
done
/usr/bin/python3 "$TOP/scripts/ablation-report.py" --summary "$out" --conf "$conf" \
	--quick "$quick" --reps "$reps" --header fresh
echo "ablation: $((n - failed))/$n runs ok; $out/ablation.md"
[ $failed -eq 0 ]
