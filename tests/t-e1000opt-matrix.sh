#!/usr/bin/env bash
# e1000-opt: the stock Linux e1000 driver works under every combination of
# the three stages, and more, one boot per combination (TCG guest, QMP,
# scripts/vm's -name debug-threads=on gives the sidecore thread its name):
#  - all 8 combinations of x-coalesce, x-shadow-regs, x-sidecore (off is
#    spelled out: x-...=off), plus the device with no x- property at all
#    ("default"); each boot runs
#      pktgen:20000 + rr:200 + sleep:4 + iperf-tx:1 + iperf-rx:1
#    (every workload in every combination: one boot with several steps costs
#    about what one workload per boot would, the boot being most of it);
#  - pktgen: the guest sent every frame and the host side of the tap counted
#    exactly that many frames carrying pktgen's magic (nftables);
#  - iperf3 TCP both directions moved data (> 1 Mbit/s);
#  - request/response: every request answered bar at most 2 of 200, and
#    latency sane (p50 < 5 ms, p99 < 100 ms: TCG, a busy 2-core host);
#  - threads: exactly one sidecore-* thread with x-sidecore=on, none
#    otherwise, before the guest starts, when idle and during traffic;
#  - idle: with x-sidecore=on, the sidecore thread ran during pktgen and rr
#    (at least 20 ms: it did their TX, so its clock is read right), and over
#    the 2-s window that starts 1 s after traffic ends it used at most 1% of
#    a CPU (its schedstat run time, exact; a thread that keeps spinning or
#    polling takes tens of %); QEMU as a whole (utime+stime of
#    /proc/PID/stat) used at most 5 points (% of one CPU) more than with
#    every stage off over the same window: that compares two boots, and
#    here the same window of different boots of one configuration varied
#    by up to 4 points (all-off 1.4-3.7%, with the sidecore 2.3-5.7% while
#    the thread itself took 0.04-0.12%), where a main-loop poller at the
#    shadow stage's 50 us would take tens of %;
#  - unchanged command line: the e1000 MMIO accesses per register (bpftrace
#    uprobes on e1000_mmio_read/write) over a driver reload (rmmod/insmod:
#    probe, EEPROM, PHY and ring set-up, link up) + pktgen + rr (these two
#    boots run "reload" first) are identical for
#    "-device e1000" and the all-off device, for every register whose count
#    does not depend on timing; TDT and RDT writes are identical per frame
#    sent / received (an ARP exchange more or less is timing); not compared:
#    the timing-dependent ones (STATUS, ICR, ICS, IMS, IMC, ITR, MDIC and the
#    statistics block: interrupt handling, the driver's adaptive interrupt
#    rate and its 2-s watchdog).
#    (Exact counts on a deterministic guest: t-e1000opt-upstream.sh.)
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest

PKTGEN=20000 RR=200 RR_WARMUP=10 SLEEP=4
WL="pktgen:$PKTGEN+rr:$RR+sleep:$SLEEP+iperf-tx:1+iperf-rx:1"
export E1OPT_TOP=$TOP RR_REPLIES=$((RR + RR_WARMUP))

# name props: the 8 combinations, then the default device.
combos=(
	"off x-coalesce=off,x-shadow-regs=off,x-sidecore=off"
	"coal x-coalesce=on,x-shadow-regs=off,x-sidecore=off"
	"shadow x-coalesce=off,x-shadow-regs=on,x-sidecore=off"
	"side x-coalesce=off,x-shadow-regs=off,x-sidecore=on"
	"coal+shadow x-coalesce=on,x-shadow-regs=on,x-sidecore=off"
	"coal+side x-coalesce=on,x-shadow-regs=off,x-sidecore=on"
	"shadow+side x-coalesce=off,x-shadow-regs=on,x-sidecore=on"
	"all x-coalesce=on,x-shadow-regs=on,x-sidecore=on"
	"default -"
)
[ -n "${E1OPT_COMBOS:-}" ] && read -ra only <<<"$E1OPT_COMBOS"

step() { jq -r --arg s "$1" ".result.steps[] | select(.step == \$s) | $2" "$J"; }
declare -A IDLE tx rx

for c in "${combos[@]}"; do
	read -r name props <<<"$c"
	if [ -n "${only:-}" ] && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
	nic=e1000
	[ "$props" != - ] && nic+=",$props"
	side=0
	[[ $props == *x-sidecore=on* ]] && side=1
	export OUT=$T_TMP/$name
	mkdir -p "$OUT"
	export BT=0
	[ "$name" = off ] || [ "$name" = default ] && BT=1
	echo "== $name: $nic"
	wl=$WL
	# The MMIO comparison covers a driver reload too: the driver's probe
	# and bring-up, a long deterministic register sequence.
	[ $BT = 1 ] && wl="reload+$WL"
	vm "$name" --nic "$nic" --workload "$wl" --qmp "$T_TMP/$name.qmp" --timeout 200 \
		--attach "bash $E1OPT/attach-matrix.sh"
	expect_eq "$name: scripts/vm exit status" "$VM_RC" 0
	expect_eq "$name: guest ok" "$(j .ok)" true
	expect_eq "$name: driver" "$(j .driver)" e1000
	expect_eq "$name: pktgen frames sent" "$(step pktgen .result.sent)" $PKTGEN
	expect_eq "$name: pktgen frames counted on the host" "$(j .host.pktgen_frames)" $PKTGEN
	expect_ge "$name: iperf-tx bit/s" "$(step iperf-tx .result.bits_per_second)" 1e6
	expect_ge "$name: iperf-rx bit/s" "$(step iperf-rx .result.bits_per_second)" 1e6
	expect_eq "$name: rr answered + lost" "$(($(step rr .result.count) + $(step rr .result.lost)))" $RR
	expect_le "$name: rr lost" "$(step rr .result.lost)" 2
	expect_le "$name: rr p50 (us)" "$(step rr .result.p50_us)" 5000
	expect_le "$name: rr p99 (us)" "$(step rr .result.p99_us)" 100000
	expect_ge "$name: rr min > 0" "$(step rr .result.min_us)" 0.001
	for w in ready idle busy; do
		[ -s "$OUT/threads_$w" ] || die "$name: the attach command recorded no thread count ($w)"
		expect_eq "$name: sidecore threads ($w)" "$(cat "$OUT/threads_$w")" $side
	done
	IDLE[$name]=$(cat "$OUT/idle_pct")
	if [ $side = 1 ]; then
		expect_ge "$name: sidecore thread's run time during pktgen and rr (ms)" "$(cat "$OUT/side_ms_traffic")" 20
		expect_le "$name: sidecore thread's CPU % when idle" "$(cat "$OUT/side_pct_idle")" 1
	fi
	echo "  $name: idle CPU ${IDLE[$name]}% ($(cat "$OUT/idle_pct1")% then $(cat "$OUT/idle_pct2")%, from $(cat "$OUT/idle_lag") s after traffic)," \
		"sidecore ran $(cat "$OUT/side_ms_traffic" 2>/dev/null || echo -) ms in traffic, $(cat "$OUT/side_pct_idle" 2>/dev/null || echo -)% idle," \
		"rr p50 $(step rr .result.p50_us) us, pktgen $(step pktgen .result.pps) pps, irqs $(step pktgen .guest.irqs)"
	# 1 s of quiet plus the attach script's polling (ip netns exec, 10 a
	# second), which a loaded host slows: 1.93 s was seen with another
	# test's VMs beside.  The idle check is about a thread that keeps
	# spinning, which a window starting a second later still sees.
	expect_le "$name: idle window starts within 2.5 s of the end of traffic" "$(cat "$OUT/idle_lag")" 2.5
done

# ------------------------------------------------------------------ idle CPU
if [ -n "${IDLE[off]:-}" ]; then
	for name in side coal+side shadow+side all; do
		[ -n "${IDLE[$name]:-}" ] || continue
		expect_le "$name: idle CPU % within 5 points of all-off (${IDLE[off]}%)" "${IDLE[$name]}" \
			"$(awk -v b="${IDLE[off]}" 'BEGIN { print b + 5 }')"
	done
fi

# ------------------------------------------------------------------ MMIO
# bpftrace maps: "@w[14360]: 20001" -> "w 14360 20001"
mmio() { sed -n 's/^@\([rw]\)\[\([0-9]*\)\]: \([0-9]*\)$/\1 \2 \3/p' "$T_TMP/$1/bt.out" | sort; }
frames() { sed -n "s/^@$2: \([0-9]*\)$/\1/p" "$T_TMP/$1/bt.out"; }
reg() { awk -v d="$2" -v a="$3" '$1 == d && $2 == a { print $3 }' "$T_TMP/mmio-$1"; }
# Counts that depend on timing: STATUS (0x8), MDIC (0x20), ICR (0xC0), ITR
# (0xC4: the driver's adaptive rate), ICS (0xC8), IMS (0xD0), IMC (0xD8),
# statistics (0x4000-0x40FF); and the tails
# TDT (0x3818) and RDT (0x2818), which follow the frames sent and received,
# among them the odd ARP exchange when the guest's ARP entry goes stale:
# those are compared per frame below.
timing() { awk '{ a = $2 + 0 } a == 8 || a == 32 || a == 192 || a == 196 || a == 200 || a == 208 || a == 216 || a == 14360 || a == 10264 || (a >= 16384 && a < 16640) { next } { print }'; }
if [ -s "$T_TMP/off/bt.out" ] && [ -s "$T_TMP/default/bt.out" ]; then
	mmio default >"$T_TMP/mmio-default"
	mmio off >"$T_TMP/mmio-off"
	expect_ge "default: e1000 registers seen by bpftrace" "$(wc -l <"$T_TMP/mmio-default")" 10
	tdt=$(reg default w 14360)
	expect_ge "default: TDT writes >= pktgen frames" "${tdt:-0}" $PKTGEN
	if diff <(timing <"$T_TMP/mmio-default") <(timing <"$T_TMP/mmio-off") >"$T_TMP/mmio.diff"; then
		ok "same MMIO count per register, default vs all stages off ($(timing <"$T_TMP/mmio-default" | wc -l) timing-independent registers)"
	else
		die "MMIO counts differ, default vs all stages off (<default >off; dir offset count): $(cat "$T_TMP/mmio.diff")"
	fi
	for v in default off; do
		tx[$v]=$(frames $v txframes) rx[$v]=$(frames $v rxframes)
		echo "  $v: TDT writes $(reg $v w 14360) for ${tx[$v]} frames sent, RDT writes $(reg $v w 10264) for ${rx[$v]} received"
	done
	expect_ge "default: frames sent (e1000_send_packet)" "${tx[default]:-0}" $PKTGEN
	expect_eq "TDT writes - frames sent, default vs all stages off" \
		"$(($(reg default w 14360) - tx[default]))" "$(($(reg off w 14360) - tx[off]))"
	expect_eq "RDT writes - frames received, default vs all stages off" \
		"$(($(reg default w 10264) - rx[default]))" "$(($(reg off w 10264) - rx[off]))"
fi
