#!/usr/bin/env bash
# e1000-opt: with x-sidecore=on, TX runs on the sidecore thread and never on
# the vCPU thread.  bpftrace counts QEMU's e1000_tx_batch USDT probe (one per
# start_xmit() pass that processed descriptors; qemu-patches/0002) by the
# name of the thread that hit it (scripts/vm names QEMU's threads), and sums
# the frames each batch handed to the net layer.  The guest sends 20000
# pktgen frames (TCG, stock Linux e1000 driver).
#  - control, stages off: batches run on the vCPU thread ("CPU 0/TCG"), none
#    on a sidecore-* thread (there is none): so the probe and the thread
#    names tell the two apart;
#  - x-sidecore=on alone (every TDT write traps and hands TX over) and all
#    three stages on (tails in the shadow page, polled by the sidecore):
#    batches on sidecore-* > 0, on any other thread 0, and the frames of the
#    sidecore's batches >= the pktgen frames counted on the host side of the
#    tap (cross-check: the batches the probe saw carried the traffic).
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"
need_guest
N=20000
PROG='usdt:/proc/QEMU_PID/exe:qemu:e1000_tx_batch /pid == QEMU_PID/ {
	if (strncmp(comm, "sidecore-", 9) == 0) { @side_batches = count(); @side_frames = sum(arg1); }
	else { @other_batches = count(); @other_frames = sum(arg1); @other_thread[comm] = count(); }
}'
count() { awk -v k="@$2:" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }

for c in "off $ALL_OFF" "side x-sidecore=on" "all $ALL_ON"; do
	read -r name props <<<"$c"
	write_attach bt-$name "$PROG"
	vm "$name" --nic "e1000,$props" --workload "pktgen:$N" --timeout 200 \
		--attach "bash $T_TMP/bt-$name.sh"
	bt=$T_TMP/bt-$name.bt
	sed "s/^/    [bt $name] /" "$bt"
	jcheck "$name: guest ok" '.ok == true'
	host=$(j .host.pktgen_frames)
	expect_eq "$name: pktgen frames on the host" "$host" $N
	side=$(count "$bt" side_batches) other=$(count "$bt" other_batches)
	if [ "$name" = off ]; then
		expect_ge "$name: TX batches on the vCPU thread" "$other" 1
		check "$name: ... named CPU n/TCG" grep -q '^@other_thread\[CPU [0-9]*/TCG\]' "$bt"
		expect_ge "$name: frames of those batches >= pktgen frames on the host" "$(count "$bt" other_frames)" "$host"
		expect_eq "$name: TX batches on a sidecore thread" "$side" 0
	else
		expect_ge "$name: TX batches on the sidecore thread" "$side" 1
		expect_ge "$name: frames of the sidecore's batches >= pktgen frames on the host" \
			"$(count "$bt" side_frames)" "$host"
		expect_eq "$name: TX batches on any other thread (vCPU, main loop)" "$other" 0
	fi
done
