#!/usr/bin/env bash
# The bare-metal guest does exactly the MMIO and PIO accesses it is asked for
# under -accel tcg: an independent bpftrace count of QEMU's USDT
# memory_region_ops_read/write dispatches, attached while the guest holds,
# must equal the requested numbers one for one, and the port accesses the
# guest made.  vexitprof is later checked against the same guest, so this
# test is what makes those numbers trustworthy.  The KVM counterpart
# (kvm:kvm_mmio / kvm:kvm_pio) is t-baremetal-kvm.sh.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/baremetal-lib.sh"

# ---------------------------------------------------------------- TCG
# QEMU's memory_region_ops_read/write USDT probes: arg2 is the guest-physical
# (or port) address, arg4 the size, arg5 the MemoryRegion name.
write_attach tcg "
usdt:$QREAL:qemu:memory_region_ops_read /pid == QEMU_PID/ { @r[str(arg5), arg2] = count(); }
usdt:$QREAL:qemu:memory_region_ops_write /pid == QEMU_PID/ { @w[str(arg5), arg2] = count(); }"
out=$("$RUN" --accel tcg --serial-log "$T_TMP/tcg.log" --attach "bash $T_TMP/tcg.sh" $PARAMS) ||
	die "run-baremetal tcg failed: $out"
r=$(grep '^VEXIT-RESULT' <<<"$out")
h=$(grep '^VEXIT-HOST' <<<"$out")
echo "  tcg: $r"
check_result tcg "$r"
expect_eq "tcg: QEMU exit status (isa-debug-exit 0)" "$(field "$h" qemu_rc)" 1
expect_eq "tcg: QEMU_PID is QEMU itself" "$(cat "$T_TMP/tcg.exe")" "$QREAL"
check_serial_bytes tcg "$T_TMP/tcg.log" "$r"
bt=$T_TMP/tcg.bt
grep -q '^@[rw]\[' "$bt" || die "tcg: bpftrace printed no USDT counts: $(cat "$bt" "$T_TMP/tcg.err")"
bar=$(($(field "$r" bar0)))
for spec in status:0x08:r icr:0xC0:r tdt:0x3818:w ims:0xD0:w imc:0xD8:w rdt:0x2818:w; do
	IFS=: read -r k off dir <<<"$spec"
	want=${k^^}
	expect_eq "usdt memory_region_ops_$dir e1000-mmio $k" \
		"$(bt_count "$bt" "$dir" "e1000-mmio, $((bar + off))")" "${!want}"
done
expect_eq "usdt e1000-mmio accesses, all registers" "$(bt_sum "$bt" '[rw]' '^e1000-mmio, ')" \
	$((STATUS + ICR + TDT + IMS + IMC + RDT))
expect_eq "usdt pci-conf-idx writes = pio_cf8" "$(bt_count "$bt" w "pci-conf-idx, 3320")" \
	"$(field "$r" pio_cf8)"
expect_eq "usdt pci-conf-data = pio_cfc" "$(bt_sum "$bt" '[rw]' '^pci-conf-data, ')" \
	"$(field "$r" pio_cfc)"
expect_eq "usdt serial writes 0x3F8 = com1_tx" "$(bt_count "$bt" w "serial, 1016")" \
	"$(field "$r" com1_tx)"
expect_eq "usdt ioport80 writes = p80" "$(bt_count "$bt" w "ioport80, 128")" "$P80"
expect_eq "usdt isa-debug-exit writes" "$(bt_count "$bt" w "isa-debug-exit, 244")" 1

# ---------------------------------------------------------------- errors
set +e
out=$("$RUN" -q --accel tcg tdt=1 bogus=7)
rc=$?
set -e
expect_eq "bad parameter: run-baremetal fails" "$rc" 1
expect_eq "bad parameter: guest names it" "$(grep -o 'reason=[^ ]*' <<<"$out")" "reason=bogus=7"
expect_eq "bad parameter: QEMU exit status 3" "$(field "$(grep '^VEXIT-HOST' <<<"$out")" qemu_rc)" 3

