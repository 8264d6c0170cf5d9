#!/usr/bin/env bash
# Trapped or shadowed TX tail with TX inline: configurations x QEMU binaries,
# interleaved.  Each repetition boots every configuration once, in the same
# order, and runs three workloads in that boot (guest steps): iperf3 TCP
# guest->host for SECS seconds (Gbit/s), request/response over UDP
# (RR requests, p50/p99 in us) and pktgen (COUNT frames of 60 bytes,
# guest-measured frames/s).  No profiler is attached, so every
# configuration runs at full speed.
#
# usage: bench-tail.sh REPS SECS RR COUNT CONFIGS > results.tsv
#   CONFIGS: a file, one configuration a line: NAME QEMU-BINARY NIC-SPEC
#   (scripts/vm --nic), e.g. "cs-after build/bin/qemu-system-x86_64
#   e1000,x-coalesce=on,x-shadow-regs=on"; '#' lines are comments.
# One TSV line per run: rep config iperf_gbps rr_p50_us rr_p99_us rr_lost
# pktgen_pps wall_s ok.  The host's load average goes to stderr before and
# after every run.
#
# bench-tail.sh --count WORKLOAD ARG CONFIGS > counts.tsv
#   one run of WORKLOAD (pktgen: ARG frames; iperf-tx: ARG seconds) per
#   configuration with bpftrace counting the trapped e1000 MMIO accesses
#   (USDT memory_region_ops_read/write on the "e1000-mmio" region: the
#   accesses that reach the device model; stores into a shadow page do
#   not); one line per configuration: config packets (guest tx + rx)
#   mmio TDT_writes RDT_writes mmio_per_pkt tdt_per_pkt rdt_per_pkt ok.
#   The probe slows every trapped access, so these runs are for the counts,
#   not for throughput.  Needs root.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

read_configs() {
	grep -v '^\s*\(#\|$\)' "$1"
}

if [ "${1:-}" = --count ]; then
	wl=$2 arg=$3 cfgfile=$4
	case $wl in
	pktgen) args=(--workload pktgen --count "$arg" --size 60) ;;
	iperf-tx) args=(--workload iperf-tx --secs "$arg") ;;
	*) echo "bench-tail: --count pktgen|iperf-tx" >&2; exit 2 ;;
	esac
	cat >"$tmp/attach.sh" <<'EOF'
out=$1
bpftrace -e "BEGIN { printf(\"READY\n\"); }
usdt:/proc/$QEMU_PID/exe:qemu:memory_region_ops_write /pid == $QEMU_PID && str(arg5) == \"e1000-mmio\"/ { @w[arg2] = count(); }
usdt:/proc/$QEMU_PID/exe:qemu:memory_region_ops_read /pid == $QEMU_PID && str(arg5) == \"e1000-mmio\"/ { @r[arg2] = count(); }" >"$out.bt" 2>"$out.err" &
bp=$!
until grep -q READY "$out.bt"; do kill -0 $bp 2>/dev/null || exit 1; sleep 0.1; done
touch "$VEXIT_READY_FILE"
trap 'kill -INT $bp 2>/dev/null' INT
while kill -0 $bp 2>/dev/null; do wait $bp; done
EOF
	printf 'config\tpackets\tmmio\ttdt_w\trdt_w\tmmio_per_pkt\ttdt_per_pkt\trdt_per_pkt\tok\n'
	while read -r cname qemu nic; do
		echo "bench-tail: count $wl $cname; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
		rm -f "$tmp/r.bt"
		out=$(VEXIT_QEMU=$qemu "$TOP/scripts/vm" --nic "$nic" "${args[@]}" --timeout 300 \
			--attach "bash $tmp/attach.sh $tmp/r" 2>"$tmp/err") || true
		pk=$(jq -r '(.guest.tx_packets // 0) + (.guest.rx_packets // 0)' <<<"$out" 2>/dev/null || echo 0)
		# bpftrace prints @w[ADDR]: N; ADDR is the guest-physical address
		# (the trace event's abs_addr), and BAR0 is 128 KiB aligned.
		awk -v pk="$pk" -v ok="$(jq -r '.ok // false' <<<"$out" 2>/dev/null || echo false)" -v c="$cname" '
			/^@[rw]\[/ { v = $2; n += v; split($1, a, /[][]/); off = a[2] % 131072
				if ($1 ~ /^@w/ && off == 14360) tdt += v
				if ($1 ~ /^@w/ && off == 10264) rdt += v }
			END { p = pk > 0 ? pk : 1
				printf "%s\t%d\t%d\t%d\t%d\t%.4f\t%.4f\t%.4f\t%s\n", c, pk, n, tdt, rdt, n / p, tdt / p, rdt / p, ok }' "$tmp/r.bt"
	done < <(read_configs "$cfgfile")
	exit 0
fi

reps=$1 secs=$2 rr=$3 count=$4 cfgfile=$5
mapfile -t configs < <(read_configs "$cfgfile")
steps="iperf-tx:$secs+rr:$rr+pktgen:$count"
printf 'rep\tconfig\tiperf_gbps\trr_p50_us\trr_p99_us\trr_lost\tpktgen_pps\twall_s\tok\n'
for ((rep = 1; rep <= reps; rep++)); do
	for c in "${configs[@]}"; do
		read -r cname qemu nic <<<"$c"
		echo "bench-tail: rep $rep $cname; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
		out=$(VEXIT_QEMU=$qemu "$TOP/scripts/vm" --nic "$nic" --workload "$steps" \
			--timeout 400 2>"$tmp/err") || true
		jq -r --arg rep "$rep" --arg c "$cname" '
			def step($n): [.result.steps[]? | select(.step == $n) | .result][0] // {};
			[$rep, $c,
			 ((step("iperf-tx").bits_per_second // null) | if . == null then "NA" else (. / 1e9 | tostring) end),
			 (step("rr").p50_us // "NA"), (step("rr").p99_us // "NA"), (step("rr").lost // "NA"),
			 (step("pktgen").pps // "NA"), (.wall_s // "NA"), (.ok // false)] | map(tostring) | join("\t")' \
			<<<"$out" 2>/dev/null || printf '%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tfalse\n' "$rep" "$cname"
	done
done
echo "bench-tail: done; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
