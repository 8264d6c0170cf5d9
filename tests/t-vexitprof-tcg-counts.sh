#!/usr/bin/env bash
# Same bare-metal guest under TCG: no kernel events, the USDT path alone must
# give the same exact counts.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
out=$T_TMP/vp.json
res=$("$TOP/scripts/run-baremetal" --accel tcg \
	--attach "$VEXITPROF -p \$QEMU_PID --json --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/vp.err" \
	-- tdt=1000 icr=500 status=200 rdt=300 p80=100 | grep VEXIT-RESULT) || die "guest failed: $res"
echo "$res"
cat "$T_TMP/vp.err"
expect_eq "source is USDT" "$(jq -r .source "$out")" usdt
E='.device == "e1000-mmio"'
expect_eq "TDT writes" "$(vp_sum "$out" "$E and .offset == 14360 and .dir == \"write\"")" 1000
expect_eq "ICR reads" "$(vp_sum "$out" "$E and .offset == 192 and .dir == \"read\"")" 500
expect_eq "STATUS reads" "$(vp_sum "$out" "$E and .offset == 8 and .dir == \"read\"")" 200
expect_eq "RDT writes" "$(vp_sum "$out" "$E and .offset == 10264 and .dir == \"write\"")" 300
expect_eq "PIO 0xCF8 accesses" "$(vp_sum "$out" '.space == "pio" and .addr == 3320')" "$(guest_val "$res" pio_cf8)"
expect_eq "PIO 0xCFC accesses" "$(vp_sum "$out" '.space == "pio" and .addr == 3324')" "$(guest_val "$res" pio_cfc)"
expect_eq "port 0x80 writes" "$(vp_sum "$out" '.space == "pio" and .addr == 128')" 100
expect_eq "no kernel exits under TCG" "$(jq '.userspace_exits | length' "$out")" 0
check "no BPF program left attached" no_prog_left
