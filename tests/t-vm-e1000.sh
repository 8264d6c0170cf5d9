#!/usr/bin/env bash
# scripts/vm with the default e1000 NIC: the guest boots (TCG here), pktgen
# sends every frame and the host side of the tap counts exactly those, and
# iperf-tx / iperf-rx / rr give sane numbers that agree with the host's
# counters.
source "$(dirname "$0")/lib.sh"
check "make guest" make -s -C "$TOP" guest
check "qemu built" test -x "$QEMU"

# vm NAME ARGS...: run scripts/vm; JSON in $T_TMP/NAME.json, stderr in
# NAME.err, exit status in $VM_RC.
vm() {
	local name=$1
	shift
	VM_RC=0
	"$TOP/scripts/vm" "$@" >"$T_TMP/$name.json" 2>"$T_TMP/$name.err" || VM_RC=$?
	sed "s/^/    [$name] /" "$T_TMP/$name.err"
	[ "$(wc -l <"$T_TMP/$name.json")" -eq 1 ] || die "$name: want exactly one stdout line, got: $(cat "$T_TMP/$name.json")"
	jq -e 'type == "object"' "$T_TMP/$name.json" >/dev/null || die "$name: stdout is not a JSON object"
	J=$T_TMP/$name.json
}
j() { jq -r "$1" "$J"; }
# jcheck DESC FILTER: FILTER (jq) holds for the last run's JSON.
jcheck() { if jq -e "$2" "$J" >/dev/null; then ok "$1"; else die "$1: $2 is false in $(cat "$J")"; fi; }

# What auto must pick: KVM only where a Linux guest can boot under it.
if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then want_accel=kvm; else want_accel=tcg; fi

N=20000
vm pktgen --workload pktgen --count $N --size 60
expect_eq "pktgen: exit status" "$VM_RC" 0
expect_eq "pktgen: ok" "$(j .ok)" true
expect_eq "pktgen: accel chosen by auto" "$(j .accel)" "$want_accel"
check "pktgen: the accel choice is explained" grep -q "^vm: accel=$want_accel (" "$T_TMP/pktgen.err"
check "pktgen: qemu pid printed" grep -q "^vm: qemu pid $(j .qemu_pid) " "$T_TMP/pktgen.err"
expect_eq "pktgen: guest driver" "$(j .driver)" e1000
expect_eq "pktgen: frames sent" "$(j .result.sent)" $N
expect_eq "pktgen: frame size" "$(j .result.size)" 60
expect_ge "pktgen: pps > 0" "$(j .result.pps)" 1
# Host side: frames carrying pktgen's magic, counted in the host kernel.
expect_eq "pktgen: host counted every pktgen frame" "$(j .host.pktgen_frames)" $N
expect_ge "pktgen: tap received >= N" "$(j .host.rx_packets)" $N
expect_le "pktgen: tap received not wildly more" "$(j .host.rx_packets)" $((N + 20))
expect_ge "pktgen: tap bytes >= N*60" "$(j .host.rx_bytes)" $((N * 60))
# The guest's own counters agree with the host's.
expect_ge "pktgen: guest tx_packets >= N" "$(j .guest.tx_packets)" $N
expect_le "pktgen: guest tx_packets <= host rx" "$(j .guest.tx_packets)" "$(j .host.rx_packets)"
expect_ge "pktgen: guest NIC interrupts > 0" "$(j .guest.irqs)" 1
expect_ge "pktgen: boot to ready (s)" "$(j .ready_s)" 0.5
expect_le "pktgen: boot to ready (s)" "$(j .ready_s)" 60

vm iperf-tx --workload iperf-tx --secs 3
expect_eq "iperf-tx: exit status" "$VM_RC" 0
expect_eq "iperf-tx: ok" "$(j .ok)" true
expect_ge "iperf-tx: throughput > 1 Mbit/s" "$(j .result.bits_per_second)" 1e6
expect_ge "iperf-tx: ran for --secs" "$(j .run_s)" 3
# Payload bytes cannot exceed what crossed the tap towards the host.
expect_ge "iperf-tx: tap rx bytes >= payload" "$(j .host.rx_bytes)" "$(j .result.bytes_received)"
expect_ge "iperf-tx: guest tx bytes >= payload" "$(j .guest.tx_bytes)" "$(j .result.bytes_received)"
jcheck "iperf-tx: retransmits is a number or null" '.result.retransmits | type == "number" or type == "null"'

vm iperf-rx --workload iperf-rx --secs 2
expect_eq "iperf-rx: exit status" "$VM_RC" 0
expect_ge "iperf-rx: throughput > 1 Mbit/s" "$(j .result.bits_per_second)" 1e6
expect_ge "iperf-rx: tap tx bytes >= payload" "$(j .host.tx_bytes)" "$(j .result.bytes_received)"
expect_ge "iperf-rx: guest rx bytes >= payload" "$(j .guest.rx_bytes)" "$(j .result.bytes_received)"

R=300
vm rr --workload rr --count $R
expect_eq "rr: exit status" "$VM_RC" 0
expect_eq "rr: ok" "$(j .ok)" true
expect_eq "rr: replies + lost = requests" "$(($(j .result.count) + $(j .result.lost)))" $R
expect_le "rr: lost" "$(j .result.lost)" 3
expect_ge "rr: min > 0" "$(j .result.min_us)" 0.001
expect_ge "rr: p50 >= min" "$(j .result.p50_us)" "$(j .result.min_us)"
expect_ge "rr: p99 >= p50" "$(j .result.p99_us)" "$(j .result.p50_us)"
expect_ge "rr: max >= p99" "$(j .result.max_us)" "$(j .result.p99_us)"
# Each request and each reply is one frame on the tap (plus warm-up).
expect_ge "rr: tap rx >= requests" "$(j .host.rx_packets)" "$(j .result.count)"
expect_ge "rr: tap tx >= replies" "$(j .host.tx_packets)" "$(j .result.count)"
expect_ge "rr: guest interrupts >= replies" "$(j .guest.irqs)" "$(j .result.count)"
