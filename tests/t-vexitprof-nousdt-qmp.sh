#!/usr/bin/env bash
# A QEMU without USDT probes (ours with .note.stapsdt stripped, like a distro
# build): kernel events alone still give exact counts under KVM, and --qmp
# names the addresses through `info mtree -f`.
# (Kernel events fire only under KVM; the same path under TCG, where only
# the notice and the QMP connection can be checked, is t-vexitprof-nousdt.sh.)
. "$(dirname "$0")/lib.sh"
need_kvm "counting accesses from kernel events alone"
. "$TOP/tests/vexitprof-lib.sh"
NOUSDT=$T_TMP/qemu-system-x86_64
objcopy --remove-section .note.stapsdt "$QEMU" "$NOUSDT"
check "stripped QEMU has no USDT notes" bash -c "! readelf -n '$NOUSDT' | grep -q stapsdt"
out=$T_TMP/vp.json
res=$("$TOP/scripts/run-baremetal" --accel kvm --qemu "$NOUSDT" --qemu-arg -qmp --qemu-arg "unix:$T_TMP/qmp.sock,server=on,wait=off" \
	--attach "$VEXITPROF -p \$QEMU_PID --json --qmp $T_TMP/qmp.sock --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/vp.err" \
	-- tdt=400 icr=300 | grep VEXIT-RESULT) || die "guest failed: $res"
cat "$T_TMP/vp.err"
check "one-line notice about USDT" grep -q "no USDT probes.*kernel events only" "$T_TMP/vp.err"
expect_eq "JSON: usdt false" "$(jq .usdt "$out")" false
E='.device == "e1000-mmio"'
expect_eq "TDT writes named through QMP" "$(vp_sum "$out" "$E and .offset == 14360 and .dir == \"write\"")" 400
expect_eq "ICR reads named through QMP" "$(vp_sum "$out" "$E and .offset == 192 and .dir == \"read\"")" 300
expect_eq "no USDT dispatch counts" "$(jq '[.accesses[].qemu_ops] | add' "$out")" 0
check "no BPF program left attached" no_prog_left
