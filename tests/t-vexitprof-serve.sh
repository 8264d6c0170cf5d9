#!/usr/bin/env bash
# vexitprof --serve, scraped by a real Prometheus (Debian's prometheus, 1 s
# interval, on loopback), with VMs that come and go:
#  - A (pktgen) and B (rr) run at once, started after the daemon, with their
#    own -name.  Prometheus' rate() of A's e1000 TX frames matches the frames
#    the host side of A's tap received in the same 10 s, and rate() of A's
#    TDT writes matches an independent bpftrace count of them (within 5%);
#    B's series carry B's name and its own workload (RX frames).
#  - A is killed: its series stop growing, the daemon keeps serving B.
#  - C (the bare-metal guest writing 12000 distinct VGA framebuffer bytes,
#    then a known number of e1000 accesses) starts later: picked up within
#    one scrape interval of its exec; its series stay within the series
#    cap (the cap bites: registers folded) and e1000's registers are exact.
#  - promtool accepts the text exposition; OpenMetrics when asked for.
#  - Bad input: a bad --serve, the port in use, 50 concurrent scrapes and a
#    client that never reads, malformed HTTP, oversized headers.
#  - SIGTERM: exit 0, none of the daemon's BPF programs left (bpftool).
#  - The checks above run against a daemon with --exact (USDT probes always
#    attached).  A second daemon in the default sampled mode (probes attached
#    10 ms of every second, counts extrapolated by QEMU's CPU time) serves
#    D, a pktgen VM started after A is gone, which no other tracer touches
#    (the case the default is for: another tracer's traps on the same probes
#    would change what a window's hits cost; started late so that A's exact
#    checks run on the load they always had): its TX frames are at most
#    5% + 4 of the errors it reports itself (its relative-error gauge) above
#    D's tap and below it by at most the bias it reports (its trap-share
#    gauge: under TCG the probes' traps slow the guest inside a window, and
#    the estimates lean low by 37-53%) and that noise; 10% of the tap for a
#    10 s rate.  It says its
#    duty ratio, its calibrated hit cost and the CPU time it extrapolated
#    over (= QEMU's, from /proc), and it takes a few % of the exact daemon's
#    probe hits per frame.
# Everything it starts (Prometheus, VMs and their namespaces, the daemon) is
# stopped on every exit path.  Under TCG.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
. "$TOP/tests/baremetal-lib.sh"
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
	die "prometheus/promtool missing (scripts/setup.sh installs Debian's prometheus)"
make -s -C "$TOP" guest >/dev/null

TAG=vxs$$ # VM names; --vm "$TAG-*" keeps other QEMUs on this host out of the daemon
CAP=200   # --max-series: small enough that C's hundreds of registers hit it
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
SPORT=$(free_port)
PPORT=$(free_port)
URL=http://127.0.0.1:$PORT/metrics
SURL=http://127.0.0.1:$SPORT/metrics
PROM=http://127.0.0.1:$PPORT
metrics() { curl -sf --max-time 10 "$URL"; }
# mval VM METRIC [LABEL-MATCH]: the daemon's value of METRIC{vm=VM,...} (sum over matches;
# the value is the field after the labels, before --timestamps' time)
sval() { awk '{ v = $0; sub(/.*\} /, "", v); split(v, f, " "); print f[1] }'; }
mval() {
	metrics | awk -v m="$2{vm=\"$1\"" -v l="${3:-}" \
		'index($0, m) == 1 && index($0, l) { v = $0; sub(/.*\} /, "", v); split(v, f, " "); s += f[1]; n++ }
		END { if (n) printf "%.0f\n", s; else print "none" }'
}
# pq QUERY [TIME]: Prometheus instant query, the first result's value ("none" if empty)
pq() {
	curl -sf --max-time 10 "$PROM/api/v1/query" --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"} |
		jq -r '.data.result[0].value[1] // "none"'
}
within() { # DESC GOT WANT PCT
	awk -v g="$2" -v w="$3" -v p="$4" 'BEGIN { exit !(w > 0 && (g - w) / w <= p / 100 && (w - g) / w <= p / 100) }' &&
		ok "$1 ($2 vs $3, within $4%)" || die "$1: $2 vs $3, not within $4%"
}
# sampled DESC GOT WANT PCT: a sampled estimate GOT of WANT.  Under TCG
# every probe hit in a window is a trap that costs QEMU CPU and no guest
# progress, so the estimates lean low by the traps' share of a window's CPU:
# 37-53% measured (results/serve-overhead.md, README's fleet section); the
# error gauge covers the noise, not that.  So: at most PCT (5% + 4 reported
# errors) above WANT, at least SAMPLED_LOW of it (over 30 s: (1 - the
# reported trap share) x (1 - PCT); a 10 s rate, from 10 windows, adds its
# noise: -25% to -67% seen, and -85% once with a QEMU build beside at load
# 7.6, so 0.10 there).
# Fails on an estimate that is not extrapolated (windows only: ~1% of
# WANT) or counted twice.
SAMPLED_LOW=0.30
sampled() {
	awk -v g="$2" -v w="$3" -v p="$4" -v lo="$SAMPLED_LOW" 'BEGIN { exit !(w > 0 && (g - w) / w <= p / 100 && g >= lo * w) }' &&
		ok "$1 ($2 vs $3: $(awk -v g="$2" -v w="$3" 'BEGIN { printf "%+.1f%%", 100 * (g - w) / w }'), within -$(awk -v l="$SAMPLED_LOW" 'BEGIN { print 100 * (1 - l) }')%..+$4%)" ||
		die "$1: $2 vs $3, not within -$(awk -v l="$SAMPLED_LOW" 'BEGIN { print 100 * (1 - l) }')%..+$4%"
}

# --- bad options: before anything runs ---
rc=0
"$VEXITPROF" --serve 127.0.0.1:70000 2>"$T_TMP/bad.err" || rc=$?
expect_eq "--serve with port 70000: usage error" "$rc" 2
check "  and says why" grep -q 'expected \[ADDR:\]PORT' "$T_TMP/bad.err"
rc=0
"$VEXITPROF" --serve "$PORT" --json 2>"$T_TMP/bad.err" || rc=$?
expect_eq "--serve --json: usage error" "$rc" 2
for bad in 10 0/1000 10/10 x/1000 10/; do
	rc=0
	"$VEXITPROF" --serve "$PORT" --duty "$bad" 2>"$T_TMP/bad.err" || rc=$?
	expect_eq "--duty $bad: usage error" "$rc" 2
done
check "  and says what it wants" grep -q 'expected WINDOW/PERIOD in ms' "$T_TMP/bad.err"
rc=0
"$VEXITPROF" --serve "$PORT" --duty 10/1000 --exact 2>"$T_TMP/bad.err" || rc=$?
expect_eq "--duty with --exact: usage error" "$rc" 2
rc=0
"$VEXITPROF" -p 1 --exact 2>"$T_TMP/bad.err" || rc=$?
expect_eq "--exact without --serve: usage error" "$rc" 2

# --- the daemon ---
# (niced like Prometheus below: both run in time on a machine loaded far past its cores)
# --timestamps: each VM's samples carry the time its maps were read, so the
# rates below do not depend on when the loaded machine got to the scrape
nice -n -10 "$VEXITPROF" --serve "127.0.0.1:$PORT" --exact --timestamps --vm "$TAG-[abc]" --max-series $CAP \
	--ready-file "$T_TMP/d.ready" 2>"$T_TMP/d.err" &
DPID=$!
at_exit "kill -TERM $DPID 2>/dev/null; wait $DPID 2>/dev/null"
# the sampled daemon (default --duty), for D only
nice -n -10 "$VEXITPROF" --serve "127.0.0.1:$SPORT" --timestamps --vm "$TAG-d" \
	--ready-file "$T_TMP/s.ready" 2>"$T_TMP/s.err" &
SDPID=$!
at_exit "kill -TERM $SDPID 2>/dev/null; wait $SDPID 2>/dev/null"
for i in $(seq 100); do [ -e "$T_TMP/d.ready" ] && [ -e "$T_TMP/s.ready" ] && break; kill -0 $DPID && kill -0 $SDPID || die "a daemon died: $(cat "$T_TMP/d.err" "$T_TMP/s.err")"; sleep 0.1; done
check "daemon serves /metrics" metrics >/dev/null
check "the sampled daemon too" curl -sf --max-time 10 "$SURL" -o /dev/null
rc=0
timeout 10 "$VEXITPROF" --serve "127.0.0.1:$PORT" 2>"$T_TMP/busy.err" || rc=$?
expect_eq "a second daemon on the same port exits 1" "$rc" 1
check "  saying the address is in use" grep -q 'cannot listen on .*Address already in use' "$T_TMP/busy.err"
check "  and the first keeps serving" metrics >/dev/null

# --- Prometheus scraping it every second ---
cat >"$T_TMP/prom.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
  - job_name: vexitprof
    static_configs: [{targets: ["127.0.0.1:$PORT"]}]
  - job_name: vexitprof-sampled
    static_configs: [{targets: ["127.0.0.1:$SPORT"]}]
EOF
check "promtool accepts the scrape config" promtool check config "$T_TMP/prom.yml" >/dev/null
nice -n -10 prometheus --config.file="$T_TMP/prom.yml" --storage.tsdb.path="$T_TMP/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$T_TMP/prom.log" 2>&1 &
PROMPID=$!
at_exit "kill -TERM $PROMPID 2>/dev/null; wait $PROMPID 2>/dev/null"
for i in $(seq 100); do curl -sf "$PROM/-/ready" >/dev/null && break; sleep 0.2; done
curl -sf "$PROM/-/ready" >/dev/null || die "prometheus not ready: $(tail -5 "$T_TMP/prom.log")"

# --- VMs A (pktgen) and B (rr), started after the daemon (D, for the sampled one, comes later) ---
# The attach command records QEMU's pid and tap, waits until the daemon
# serves the VM, and (A) starts bpftrace counting TDT writes, printed every
# 100 ms, before the guest is released.  (The probe's address is the
# guest-physical one: TDT is at 0x3818 in the 128 KiB BAR.)
attach_cmd() { # NAME BPFTRACE(0/1) [DAEMON-URL]
	cat >"$T_TMP/attach-$1.sh" <<EOF
echo "\$QEMU_PID \$VEXIT_NETNS \$VEXIT_TAP" >"$T_TMP/$1.env"
until curl -sf "${3:-$URL}" | grep -q '^vexitprof_vm_info{vm="$TAG-$1"'; do sleep 0.1; done
if [ $2 = 1 ]; then
	bpftrace -e 'BEGIN { printf("READY\n"); }
usdt:/proc/'\$QEMU_PID'/exe:qemu:memory_region_ops_write /pid == '\$QEMU_PID' && (arg2 & 0x1ffff) == 0x3818 && str(arg5) == "e1000-mmio"/ { @n = count(); }
interval:ms:100 { print(@n); }' >"$T_TMP/$1.bt" 2>"$T_TMP/$1.bterr" &
	bp=\$!
	until grep -q READY "$T_TMP/$1.bt"; do kill -0 \$bp || exit 1; sleep 0.1; done
fi
touch "\$VEXIT_READY_FILE"
trap 'kill -INT \$bp 2>/dev/null; exit 0' INT
while :; do sleep 1; done
EOF
}
attach_cmd a 1
attach_cmd b 0
attach_cmd d 0 "$SURL"
"$TOP/scripts/vm" --workload pktgen --count 50000000 --timeout 600 --attach "bash $T_TMP/attach-a.sh" \
	-- -name "$TAG-a" >"$T_TMP/a.json" 2>"$T_TMP/a.err" &
APID=$!
"$TOP/scripts/vm" --workload rr --count 50000000 --timeout 600 --attach "bash $T_TMP/attach-b.sh" \
	-- -name "$TAG-b" >"$T_TMP/b.json" 2>"$T_TMP/b.err" &
BPID=$!
at_exit "kill -TERM $APID $BPID 2>/dev/null; wait $APID $BPID 2>/dev/null"
for i in $(seq 1800); do
	grep -q 'workload pktgen started' "$T_TMP/a.err" && grep -q 'workload rr started' "$T_TMP/b.err" && break
	kill -0 $APID && kill -0 $BPID || die "a VM ended early: $(tail -3 "$T_TMP/a.err" "$T_TMP/b.err")"
	sleep 0.1
done
read -r QA NSA TAPA <"$T_TMP/a.env"
read -r QB _ _ <"$T_TMP/b.env"
ok "A (qemu $QA) and B (qemu $QB) run their workloads"

# host side of A's tap and bpftrace's TDT count, every 0.5 s: "time rx_packets tdt_writes".
# Without --timestamps Prometheus would stamp a sample when its scrape
# starts, and the daemon reads its maps up to a second later on this loaded
# machine (10% of a 10 s window); with it, samples carry the read time.  The
# samples Prometheus stored are compared over 30 s with the host's count at
# the same instants, and rate(...[10s]) at the ends of three back-to-back
# windows, averaged, with the host's rate over the 30 s (both within 5%).
# (rx_packets + rx_dropped: frames the tap took from QEMU; on a loaded machine
# the namespace's backlog drops some after they were counted by e1000)
tapsum() { ip netns exec "$1" sh -c "cd /sys/class/net/$2/statistics && cat rx_packets rx_dropped" | awk '{ s += $1 } END { print s }'; }
(while :; do
	echo "$(date +%s.%N) $(tapsum "$NSA" "$TAPA") $(awk '/^@n:/ { v = $2 } END { print v + 0 }' "$T_TMP/a.bt")"
	sleep 0.5
done) >"$T_TMP/host.log" 2>/dev/null &
SAMPLER=$!
at_exit "kill $SAMPLER 2>/dev/null"
# TDT gets its series once it is among the busiest registers (its count
# passes those of the boot's); the rates are compared over 10 s after that
for i in $(seq 300); do
	metrics | grep -q "^vexitprof_device_accesses_total{vm=\"$TAG-a\",.*register=\"TDT\",dir=\"write\"}" && break
	sleep 0.1
done
sleep 32
# the last sample, and the one 30 s before it
read -r t2 rx2 bt2 < <(tail -1 "$T_TMP/host.log")
read -r t1 rx1 bt1 < <(awk -v t="$t2" '$1 <= t - 30 { l = $0 } END { print l }' "$T_TMP/host.log")
[ -n "$t1" ] || die "no host sample 30 s before the last: $(cat "$T_TMP/host.log")"
sleep 2 # Prometheus has scraped past t2
# pq3 QUERY: the mean of QUERY at t2, t2 - 10 and t2 - 20
pq3() {
	local a b c
	a=$(pq "$1" "$t2")
	b=$(pq "$1" "$(awk -v t="$t2" 'BEGIN { printf "%.3f", t - 10 }')")
	c=$(pq "$1" "$(awk -v t="$t2" 'BEGIN { printf "%.3f", t - 20 }')")
	echo "    rate at t2, t2-10, t2-20: $a $b $c" >&2
	awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "%.1f", (a + b + c) / 3 }'
}
host_fps=$(awk -v a="$rx1" -v b="$rx2" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.1f", (b - a) / (e - s) }')
bt_tdt=$(awk -v a="$bt1" -v b="$bt2" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.1f", (b - a) / (e - s) }')
expect_ge "A sends: host-side frames/s" "$host_fps" 1000
echo "    tap drops in the window: $(ip netns exec "$NSA" cat "/sys/class/net/$TAPA/statistics/rx_dropped")"
A="vm=\"$TAG-a\""
# in Prometheus: the exact daemon's series (job vexitprof; the sampled one's: job vexitprof-sampled)
AX="$A,job=\"vexitprof\""
# slope QUERY COLUMN [LAG]: Prometheus' raw samples of QUERY over the last 30 s
# before $T2 (t2), first to last, against $HLOG's (host.log's) COLUMN (2: tap
# frames, 3: bpftrace's TDT count) interpolated at the same two instants (LAG s earlier)
slope() {
	curl -sf "$PROM/api/v1/query" --data-urlencode "query=$1[30s]" --data-urlencode "time=${T2:-$t2}" |
		jq -r '.data.result[0].values | "\(.[0][0]) \(.[0][1]) \(.[-1][0]) \(.[-1][1])"' |
		awk -v lf="${HLOG:-$T_TMP/host.log}" -v col="$2" -v lag="${3:-0}" '{
			t0 = $1; v0 = $2; t1 = $3; v1 = $4
			while ((getline l < lf) > 0) { split(l, f, " "); T[n] = f[1]; C[n] = f[col]; n++ }
			h0 = at(t0 - lag); h1 = at(t1 - lag)
			printf "%.4f %.4f\n", (v1 - v0) / (t1 - t0), (h1 - h0) / (t1 - t0)
		}
		function at(t,   i) { for (i = 1; i < n; i++) if (T[i] >= t) return C[i-1] + (C[i] - C[i-1]) * (t - T[i-1]) / (T[i] - T[i-1]); return C[n-1] }'
}
read -r p h < <(slope "vexitprof_e1000_tx_frames_total{$AX}" 2)
within "A's e1000 TX frames/s in Prometheus = frames/s on the host side of the tap (same 30 s)" "$p" "$h" 5
read -r p h < <(slope "vexitprof_device_accesses_total{$AX,device=\"e1000-mmio\",register=\"TDT\",dir=\"write\"}" 3)
within "A's TDT writes/s in Prometheus = bpftrace's count of them (same 30 s)" "$p" "$h" 5
# and PromQL's own rate() over 10 s windows
prom_fps=$(pq3 "rate(vexitprof_e1000_tx_frames_total{$AX}[10s])")
within "rate(A's TX frames[10s]) = the host's frames/s" "$prom_fps" "$host_fps" 5
prom_tdt=$(pq3 "rate(vexitprof_device_accesses_total{$AX,device=\"e1000-mmio\",register=\"TDT\",dir=\"write\"}[10s])")
within "rate(A's TDT writes[10s]) = bpftrace's TDT writes/s" "$prom_tdt" "$bt_tdt" 5

B="vm=\"$TAG-b\""
expect_eq "B's series carry its name and pid" "$(pq "vexitprof_vm_info{$B}")" 1
expect_eq "  pid label is B's QEMU" "$(curl -sf "$PROM/api/v1/query" --data-urlencode "query=vexitprof_vm_info{$B}" | jq -r '.data.result[0].metric.pid')" "$QB"
# each VM's series show its own workload: rr receives a frame per request, pktgen none
expect_ge "B (rr) receives, 10x more than A (pktgen): rx(B) - 10 rx(A)" \
	"$(pq "vexitprof_e1000_rx_frames_total{$B} - on() 10 * vexitprof_e1000_rx_frames_total{$AX}")" 100
expect_ge "A (pktgen) sends, 2x more than B (rr): tx(A) - 2 tx(B)" \
	"$(pq "vexitprof_e1000_tx_frames_total{$AX} - on() 2 * vexitprof_e1000_tx_frames_total{$B}")" 1000
expect_eq "Prometheus scraped the OpenMetrics output without a failure" \
	"$(pq 'min_over_time(up{job="vexitprof"}[20s])')" 1

# the exposition, both formats
metrics >"$T_TMP/m.txt"
check "promtool check metrics accepts the text format" promtool check metrics <"$T_TMP/m.txt"
curl -sf -D "$T_TMP/om.h" -H 'Accept: application/openmetrics-text; version=1.0.0' "$URL" >"$T_TMP/om.txt"
check "OpenMetrics when asked for (Content-Type)" grep -qi '^content-type: application/openmetrics-text' "$T_TMP/om.h"
expect_eq "  ends with # EOF" "$(tail -1 "$T_TMP/om.txt")" "# EOF"
check "  counters as families without _total" grep -q '^# TYPE vexitprof_device_accesses counter' "$T_TMP/om.txt"
expect_le "A's series within the cap" "$(grep "^vexitprof_series{$A," "$T_TMP/m.txt" | sval)" $CAP
expect_eq "  A's TDT writes have a series of their own" \
	"$(grep -c "^vexitprof_device_accesses_total{$A,.*register=\"TDT\",dir=\"write\"}" "$T_TMP/m.txt")" 1

# --- A dies; B and the daemon go on ---
kill -9 "$QA"
for i in $(seq 50); do grep -q "VM $TAG-a (QEMU pid $QA) exited" "$T_TMP/d.err" && break; sleep 0.1; done
check "the daemon noticed A's exit" grep -q "VM $TAG-a (QEMU pid $QA) exited" "$T_TMP/d.err"
a1=$(mval "$TAG-a" vexitprof_e1000_tx_frames_total)
b1=$(mval "$TAG-b" vexitprof_device_accesses_total)
sleep 3
expect_eq "A's series stop growing" "$(mval "$TAG-a" vexitprof_e1000_tx_frames_total)" "$a1"
expect_ge "B's keep growing" "$(mval "$TAG-b" vexitprof_device_accesses_total)" $((b1 + 1))
expect_eq "the daemon serves one VM now" "$(metrics | sed -n 's/^vexitprof_vms //p')" 1
check "  and is alive" kill -0 $DPID

# --- C, started now: picked up at once, bounded, e1000 exact ---
cat >"$T_TMP/attach-c.sh" <<EOF
until curl -sf "$URL" | grep -q '^vexitprof_vm_info{vm="$TAG-c",pid="'\$QEMU_PID'"'; do sleep 0.1; done
touch "\$VEXIT_READY_FILE"
trap 'exit 0' INT
while :; do sleep 1; done
EOF
# the moment the daemon serves C (not from the attach command: run-baremetal
# starts that only after the firmware), against QEMU's start time (/proc/PID/stat)
(until curl -sf "$URL" | grep "^vexitprof_vm_info{vm=\"$TAG-c\"" >"$T_TMP/c.line"; do sleep 0.1; done
	up=$(awk '{ print $1 }' /proc/uptime)
	qc=$(sed -n 's/.*pid="\([0-9]*\)".*/\1/p' "$T_TMP/c.line")
	awk -v up="$up" -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", up - $22 / hz }' \
		"/proc/$qc/stat" >"$T_TMP/c.pickup") &
c_line=$("$RUN" --accel tcg --qemu-arg -vga --qemu-arg std --qemu-arg -name --qemu-arg "$TAG-c" \
	--attach "bash $T_TMP/attach-c.sh" -- vga=12000 tdt=1000 icr=500 status=200 | grep '^VEXIT-RESULT') ||
	die "C: the guest failed"
check_result C "$c_line"
pickup=$(cat "$T_TMP/c.pickup")
# Loading a BPF object (kernel BTF, maps, verifier) takes 0.3-0.8 s on an
# idle machine, 1-2.5 s on this one loaded past its cores: the daemon keeps
# one loaded ahead for the next VM, which then only attaches (tens of ms),
# plus <= 0.2 s until the scan finds the QEMU.  Asserted: within one scrape
# interval (the issue's bound).
grep "serving VM $TAG-c " "$T_TMP/d.err" | sed 's/^/    /'
expect_le "C served within one scrape interval of its QEMU's start (s)" "$pickup" 1
C="$TAG-c"
expect_eq "C's e1000 TDT writes, exact" "$(mval "$C" vexitprof_device_accesses_total 'device="e1000-mmio",register="TDT",dir="write"')" 1000
expect_eq "C's e1000 ICR reads, exact" "$(mval "$C" vexitprof_device_accesses_total 'device="e1000-mmio",register="ICR",dir="read"')" 500
expect_eq "C's e1000 STATUS reads, exact" "$(mval "$C" vexitprof_device_accesses_total 'device="e1000-mmio",register="STATUS",dir="read"')" 200
# past the cap vga-lowmem may have no series of its own: its writes are then in device="other"
expect_ge "C's 12000 VGA framebuffer writes all counted (vga-lowmem's series + device=\"other\")" \
	"$(metrics | awk -v m="vexitprof_device_accesses_total{vm=\"$C\"" 'index($0, m) == 1 &&
		/dir="write"/ && (/device="vga-lowmem"/ || /device="other"/) { v = $0; sub(/.*\} /, "", v); split(v, f, " "); s += f[1] }
		END { printf "%.0f", s }')" 12000
nvga=$(metrics | grep -c "^vexitprof_device_accesses_total{vm=\"$C\",.*device=\"vga-lowmem\",.*dir=\"write\"")
expect_le "  in at most --max-registers series (default 10) + other" "$nvga" 11
expect_le "C's series within the cap" "$(mval "$C" vexitprof_series)" $CAP
expect_eq "  the cap is reported" "$(mval "$C" vexitprof_series_limit)" $CAP
expect_ge "  and it bit: devices past the budget counted in device=\"other\"" \
	"$(mval "$C" vexitprof_device_accesses_total 'device="other",register="other"')" 1
expect_ge "  registers folded into other" "$(mval "$C" vexitprof_registers_folded)" 100

# --- hostile clients ---
seq 50 | xargs -P 50 -I{} sh -c "curl -sf --max-time 20 '$URL' | tail -1 > '$T_TMP/par.{}'"
expect_eq "50 concurrent scrapes, each complete" \
	"$(cat "$T_TMP"/par.* | grep -c '^vexitprof_daemon_cpu_seconds_total ')" 50
python3 - "$PORT" >"$T_TMP/hostile.txt" <<'PY' || die "hostile clients: $(cat "$T_TMP/hostile.txt")"
import socket, sys, time
port = int(sys.argv[1])
def status(req):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    line = s.makefile("rb").readline().decode()
    s.close()
    return line.split()[1] if line else "none"
# a client that asks and never reads: holds a connection, not the server
slow = socket.create_connection(("127.0.0.1", port))
slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
t = time.time()
print("normal-while-slow", status(b"GET /metrics HTTP/1.0\r\n\r\n"), round(time.time() - t, 2))
print("malformed", status(b"\x01\x02 garbage\r\n\r\n"))
print("oversized", status(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"))
print("post", status(b"POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n"))
print("notfound", status(b"GET /nope HTTP/1.0\r\n\r\n"))
slow.close()
PY
cat "$T_TMP/hostile.txt"
expect_eq "a scrape while another client never reads" "$(awk '$1 == "normal-while-slow" { print $2 }' "$T_TMP/hostile.txt")" 200
expect_le "  is not held up (s)" "$(awk '$1 == "normal-while-slow" { print $3 }' "$T_TMP/hostile.txt")" 5
expect_eq "malformed request: 400" "$(awk '$1 == "malformed" { print $2 }' "$T_TMP/hostile.txt")" 400
check "oversized headers: 413/431" grep -qE '^oversized (413|431)$' "$T_TMP/hostile.txt"
expect_eq "POST: 405" "$(awk '$1 == "post" { print $2 }' "$T_TMP/hostile.txt")" 405
expect_eq "unknown path: 404" "$(awk '$1 == "notfound" { print $2 }' "$T_TMP/hostile.txt")" 404
check "the daemon survived all of it" metrics >/dev/null

# --- the sampled daemon (default --duty 10/1000) on VM D, started now ---
# D runs pktgen alone with B (A is gone), and only the sampled daemon traces
# it.  Host side of D's tap and D's QEMU CPU time (s, /proc/PID/stat), every
# 0.5 s: "time rx_packets cpu".
"$TOP/scripts/vm" --workload pktgen --count 50000000 --timeout 600 --attach "bash $T_TMP/attach-d.sh" \
	-- -name "$TAG-d" >"$T_TMP/d.json" 2>"$T_TMP/dvm.err" &
DVPID=$!
at_exit "kill -TERM $DVPID 2>/dev/null; wait $DVPID 2>/dev/null"
for i in $(seq 1800); do
	grep -q 'workload pktgen started' "$T_TMP/dvm.err" && break
	kill -0 $DVPID || die "D ended early: $(tail -3 "$T_TMP/dvm.err")"
	sleep 0.1
done
read -r QD NSD TAPD <"$T_TMP/d.env"
ok "D (qemu $QD) runs its workload"
hz=$(getconf CLK_TCK)
(while :; do
	echo "$(date +%s.%N) $(tapsum "$NSD" "$TAPD") $(awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$QD/stat")"
	sleep 0.5
done) >"$T_TMP/dhost.log" 2>/dev/null &
DSAMPLER=$!
at_exit "kill $DSAMPLER 2>/dev/null"
sleep 32
read -r T2 rxd2 _ < <(tail -1 "$T_TMP/dhost.log")
read -r t1d rxd1 _ < <(awk -v t="$T2" '$1 <= t - 30 { l = $0 } END { print l }' "$T_TMP/dhost.log")
[ -n "$t1d" ] || die "no D sample 30 s before the last: $(cat "$T_TMP/dhost.log")"
HLOG=$T_TMP/dhost.log
sleep 2 # Prometheus has scraped past T2
# Its counters are the windows' counts plus, between windows, QEMU's CPU
# time times the last window's count per CPU second (the traps not taken out):
# no lag, so the tap's counts are taken at the same instants.  It reports
# its error: the relative standard error of a 10-window (10 s) increase,
# from the spread of the windows' counts per CPU second.  Over 30 s (30
# windows) that is the gauge / sqrt(3); the tolerance is what the exact
# daemon gets here (5%) + 4 of those (the gauge is itself estimated from 10
# windows: in scripts/bench/duty_coverage.c's simulation of a bursty guest
# with the traps' observer effect, 98.5-100% of 30 s increases fall within 4
# reported errors).
D="vm=\"$TAG-d\""
DS="$D,job=\"vexitprof-sampled\""
ratio=$(pq "vexitprof_usdt_duty_ratio{$DS}" "$T2")
expect_ge "the sampled daemon's duty ratio for D (10 ms of every second)" "$ratio" 0.005
expect_le "  at most 3%" "$ratio" 0.03
expect_eq "the exact daemon's duty ratio (A's) is 1" "$(pq "vexitprof_usdt_duty_ratio{$AX}" "$t2")" 1
expect_eq "  and its error 0" "$(pq "vexitprof_usdt_relative_error{$AX,quantity=\"e1000_tx_frames\"}" "$t2")" 0
# the trap's cost it measures on its own function: calibrated, a few us (1-byte nop, no KVM)
hc=$(pq "vexitprof_usdt_hit_cost_seconds{$DS}" "$T2")
expect_ge "the sampled daemon's calibrated cost of a probe hit (s): positive" "$hc" 0.0000001
expect_le "  and below 100 us" "$hc" 0.0001
check "  calibrated, not the fallback" bash -c "! grep -q 'calibrate the USDT trap' '$T_TMP/s.err'"
# it extrapolates over QEMU's CPU time: what it says it covered is D's QEMU CPU time (/proc)
# less the windows' ~1%
read -r p h < <(slope "vexitprof_usdt_extrapolated_cpu_seconds_total{$DS}" 3)
within "sampled: CPU seconds/s it extrapolated D's counts over = D's QEMU CPU seconds/s (30 s)" "$p" "$h" 5
rse_f=$(pq "avg_over_time(vexitprof_usdt_relative_error{$DS,quantity=\"e1000_tx_frames\"}[30s])" "$T2")
rse_a=$(pq "avg_over_time(vexitprof_usdt_relative_error{$DS,quantity=\"accesses\"}[30s])" "$T2")
expect_ge "the sampled daemon reports its TX frames' relative error (10 windows)" "$rse_f" 0.0001
expect_ge "  and its accesses'" "$rse_a" 0.0001
tol=$(awk -v f="$rse_f" -v a="$rse_a" 'BEGIN { m = f > a ? f : a; printf "%.1f", 5 + 400 * m / sqrt(3) }')
expect_le "  below 50% (a 10 s rate from 10 windows says something)" "$rse_f" 0.5
# the bias it reports: the traps' share of its windows' CPU (hits x its
# measured hit cost, which is dearer than QEMU's, so the share bounds the bias)
share=$(pq "avg_over_time(vexitprof_usdt_trap_share{$DS}[30s])" "$T2")
expect_ge "the sampled daemon reports its traps' share of the windows' CPU (TCG: every hit traps)" "$share" 0.01
expect_le "  below 0.95" "$share" 0.95
read -r p h < <(slope "vexitprof_e1000_tx_frames_total{$DS}" 2)
echo "    sampled estimate of D's TX frames over 30 s against its tap: $(awk -v p="$p" -v h="$h" 'BEGIN { printf "%+.1f%%", 100 * (p - h) / h }'); / (1 - trap share $share): $(awk -v p="$p" -v h="$h" -v s="$share" 'BEGIN { printf "%+.1f%%", 100 * (p / (1 - s) - h) / h }')"
# below: the reported bias and the noise, (1 - share) x (1 - tol)
SAMPLED_LOW=$(awk -v s="$share" -v t="$tol" 'BEGIN { printf "%.3f", (1 - s) * (1 - t / 100) }') \
	sampled "sampled: D's TX frames/s against its tap's (30 s; below by at most the reported trap share, above by at most 5% + 4 errors)" "$p" "$h" "$tol"
# each 10 s on its own: rate(...[10s]) at T2, T2-10, T2-20 against the tap's
# frames/s over the same 10 s: at most the exact daemon's 5% + 4 x the error
# the gauge showed then above it, and not below the TCG bias (sampled())
for back in 0 10 20; do
	te=$(awk -v t="$T2" -v b="$back" 'BEGIN { printf "%.3f", t - b }')
	r=$(pq "rate(vexitprof_e1000_tx_frames_total{$DS}[10s])" "$te")
	e=$(pq "vexitprof_usdt_relative_error{$DS,quantity=\"e1000_tx_frames\"}" "$te")
	hr=$(awk -v lf="$HLOG" -v te="$te" '
		BEGIN { while ((getline l < lf) > 0) { split(l, f, " "); T[n] = f[1]; C[n] = f[2]; n++ }
			printf "%.1f", (at(te) - at(te - 10)) / 10 }
		function at(t,   i) { for (i = 1; i < n; i++) if (T[i] >= t) return C[i-1] + (C[i] - C[i-1]) * (t - T[i-1]) / (T[i] - T[i-1]); return C[n-1] }')
	SAMPLED_LOW=0.10 sampled "sampled: rate(D's TX frames[10s]) at T2-$back against its tap's (5% + 4 x error $e above)" "$r" "$hr" \
		"$(awk -v e="$e" 'BEGIN { printf "%.1f", 5 + 400 * e }')"
done
# the point of sampling: per frame sent, its probes take a few % of the hits the exact daemon's take
# (A's, in Prometheus, from its own 30 s before it died)
ev_s=$(pq "increase(vexitprof_probe_events_total{$DS,kind=\"usdt\"}[30s])" "$T2")
ev_x=$(pq "increase(vexitprof_probe_events_total{$AX,kind=\"usdt\"}[30s])" "$t2")
d_fps=$(awk -v a="$rxd1" -v b="$rxd2" -v s="$t1d" -v e="$T2" 'BEGIN { printf "%.1f", (b - a) / (e - s) }')
expect_ge "the sampled daemon's USDT probes ran" "$ev_s" 1
expect_ge "D sends: host-side frames/s" "$d_fps" 1000
expect_le "  on at most 3% of the events per frame the exact daemon's ran on (ratio)" \
	"$(awk -v s="$ev_s" -v x="$ev_x" -v fd="$d_fps" -v fa="$host_fps" 'BEGIN { printf "%.4f", (x > 0 ? (s / fd) / (x / fa) : 1) }')" 0.03
kill -9 "$QD"
for i in $(seq 50); do grep -q "VM $TAG-d (QEMU pid $QD) exited" "$T_TMP/s.err" && break; sleep 0.1; done
check "the sampled daemon noticed D's exit" grep -q "VM $TAG-d (QEMU pid $QD) exited" "$T_TMP/s.err"

# --- SIGTERM: everything detached ---
# the BPF programs a process holds: the prog_id of its fds (this bpftool shows no pids)
prog_ids_of() { cat /proc/"$1"/fdinfo/* 2>/dev/null | awk '$1 == "prog_id:" { print $2 }' | sort -u; }
ids=$(prog_ids_of $DPID)
[ -n "$ids" ] || die "the daemon (pid $DPID) holds no BPF program while B is served"
[ -n "$(comm -12 <(echo "$ids") <(bpftool prog show 2>/dev/null | sed -n 's/^\([0-9]*\): .*/\1/p' | sort -u))" ] ||
	die "bpftool prog does not list the daemon's programs ($ids)"
ok "the daemon holds $(wc -w <<<"$ids") BPF programs for B"
kill -TERM $DPID
rc=0
timeout 20 tail --pid=$DPID -f /dev/null || die "the daemon did not exit within 20 s of SIGTERM"
wait $DPID || rc=$?
expect_eq "SIGTERM: exit 0" "$rc" 0
rc=0
kill -TERM $SDPID
timeout 20 tail --pid=$SDPID -f /dev/null || die "the sampled daemon did not exit within 20 s of SIGTERM"
wait $SDPID || rc=$?
expect_eq "  the sampled daemon too" "$rc" 0
left=""
for i in $(seq 100); do
	left=$(comm -12 <(echo "$ids") <(bpftool prog show 2>/dev/null | sed -n 's/^\([0-9]*\): .*/\1/p' | sort -u))
	[ -z "$left" ] && break
	sleep 0.1
done
expect_eq "none of its programs left (bpftool prog)" "$left" ""
check "B's VM ran on untouched" kill -0 "$QB"
