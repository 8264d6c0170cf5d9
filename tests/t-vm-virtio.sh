#!/usr/bin/env bash
# scripts/vm --nic virtio: the guest finds the virtio-net NIC (the virtio
# modules load in the right order) and pktgen's frames all reach the host.
source "$(dirname "$0")/lib.sh"
check "make guest" make -s -C "$TOP" guest
check "qemu built" test -x "$QEMU"

N=20000
S=128
rc=0
"$TOP/scripts/vm" --nic virtio --workload pktgen --count $N --size $S >"$T_TMP/out.json" 2>"$T_TMP/err" || rc=$?
sed 's/^/    /' "$T_TMP/err"
J=$T_TMP/out.json
j() { jq -r "$1" "$J"; }
expect_eq "exit status" "$rc" 0
expect_eq "one JSON line on stdout" "$(jq -c 'type' "$J" | wc -l)" 1
expect_eq "ok" "$(j .ok)" true
expect_eq "QEMU device" "$(j .device | cut -d, -f1)" virtio-net-pci
expect_eq "guest driver" "$(j .driver)" virtio_net
expect_eq "frames sent" "$(j .result.sent)" $N
expect_eq "frame size" "$(j .result.size)" $S
expect_eq "host counted every pktgen frame" "$(j .host.pktgen_frames)" $N
expect_ge "tap received >= N" "$(j .host.rx_packets)" $N
expect_le "tap received not wildly more" "$(j .host.rx_packets)" $((N + 20))
expect_ge "tap bytes >= N*size" "$(j .host.rx_bytes)" $((N * S))
expect_ge "guest tx_packets >= N" "$(j .guest.tx_packets)" $N
# virtio names its MSI-X vectors after the device (virtio0-output.0), not
# the interface: a zero here means the guest's interrupt counter missed them.
expect_ge "guest NIC interrupts > 0" "$(j .guest.irqs)" 1
