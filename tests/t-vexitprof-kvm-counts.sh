#!/usr/bin/env bash
# Exact counts under real KVM: the bare-metal guest makes a known number of
# e1000 MMIO accesses and PCI config PIO accesses; vexitprof must report
# exactly those, name the registers, and tell the coalesced RDT writes
# (completed in the kernel) from exits to QEMU.
. "$(dirname "$0")/lib.sh"
need_kvm "exact kernel-event counts (kvm_mmio, kvm_pio, the KVM_RUN boundary)"
. "$TOP/tests/vexitprof-lib.sh"
out=$T_TMP/vp.json
res=$("$TOP/scripts/run-baremetal" --accel kvm \
	--attach "$VEXITPROF -p \$QEMU_PID --json --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/vp.err" \
	-- tdt=1000 icr=500 status=200 rdt=300 p80=100 | grep VEXIT-RESULT) || die "guest failed: $res"
echo "$res"
cat "$T_TMP/vp.err"
check "JSON parses" jq -e '.schema == "vexitprof/2"' "$out"
expect_eq "source is kernel events" "$(jq -r .source "$out")" kvm
E='.device == "e1000-mmio"'
expect_eq "TDT writes" "$(vp_sum "$out" "$E and .offset == 14360 and .dir == \"write\"")" 1000
expect_eq "TDT writes all exited to QEMU" "$(vp_field "$out" "$E and .offset == 14360 and .dir == \"write\"" exits)" 1000
expect_eq "ICR reads (a read traced twice counts once)" "$(vp_sum "$out" "$E and .offset == 192 and .dir == \"read\"")" 500
expect_eq "STATUS reads" "$(vp_sum "$out" "$E and .offset == 8 and .dir == \"read\"")" 200
expect_eq "RDT writes" "$(vp_sum "$out" "$E and .offset == 10264 and .dir == \"write\"")" 300
ik=$(vp_field "$out" "$E and .offset == 10264" in_kernel)
expect_ge "RDT writes completed in the kernel (coalesced MMIO)" "$ik" 250
# QEMU dispatches coalesced writes when it flushes the ring, which may come
# after the run (at QEMU's exit): bounded, not exact
qo=$(vp_field "$out" "$E and .offset == 10264" qemu_ops)
expect_le "QEMU dispatched no more RDT writes than the guest made" "$qo" 300
expect_eq "RDT writes: in kernel + exits to QEMU = all" "$(( ik + $(vp_field "$out" "$E and .offset == 10264" exits) ))" 300
if [ -f "$TOP/profiler/regnames.c" ]; then
	expect_eq "TDT register named" "$(jq -r "[.accesses[] | select($E and .offset == 14360)][0].register" "$out")" TDT
	expect_eq "ICR register named" "$(jq -r "[.accesses[] | select($E and .offset == 192)][0].register" "$out")" ICR
fi
cf8=$(guest_val "$res" pio_cf8)
cfc=$(guest_val "$res" pio_cfc)
expect_eq "PIO 0xCF8 accesses" "$(vp_sum "$out" '.space == "pio" and .addr == 3320')" "$cf8"
expect_eq "PIO 0xCFC accesses" "$(vp_sum "$out" '.space == "pio" and .addr == 3324')" "$cfc"
expect_eq "port 0x80 writes" "$(vp_sum "$out" '.space == "pio" and .addr == 128')" 100
mmio_exits=$(jq '[.userspace_exits[] | select(.reason == "MMIO") | .count] | add' "$out")
mmio_row_exits=$(jq '[.accesses[] | select(.space == "mmio") | .exits] | add' "$out")
expect_eq "MMIO exits to QEMU = exits charged to MMIO registers" "$mmio_exits" "$mmio_row_exits"
expect_ge "QEMU user time charged to TDT" "$(vp_field "$out" "$E and .offset == 14360" user_ns)" 1
expect_eq "nothing lost" "$(jq .lost.dropped "$out")" 0
# KVM_RUN traced without the ioctl syscall tracepoints (fentry, or kvm_fpu where
# the kernel refuses fentry, as on PVM hosts)
check "KVM_RUN via fentry or kvm_fpu" jq -e '.kvm_run_hook == "fentry" or .kvm_run_hook == "kvm_fpu"' "$out"
auto_hook=$(jq -r .kvm_run_hook "$out")
check "no BPF program left attached" no_prog_left

# the other ways to trace KVM_RUN give the same counts
for hook in syscalls kvm_fpu fentry; do
	rc=0
	res=$("$TOP/scripts/run-baremetal" --accel kvm \
		--attach "$VEXITPROF -p \$QEMU_PID --json --kvm-run $hook --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/vp.err" \
		-- tdt=200 icr=100 p80=50 | grep VEXIT-RESULT) || rc=$?
	if [ "$hook" = fentry ] && [ "$auto_hook" != fentry ]; then
		# auto fell back to kvm_fpu, so this kernel refuses fentry on
		# kvm_arch_vcpu_ioctl_run (PVM hosts do): asking for it by name
		# must then fail cleanly (exit 1, one line), not count nothing.
		expect_eq "--kvm-run fentry where auto chose $auto_hook: vexitprof fails" "$(grep -c "loading the BPF programs failed" "$T_TMP/vp.err")" 1
		expect_eq "--kvm-run fentry where auto chose $auto_hook: no JSON written" "$(wc -c <"$out")" 0
		continue
	fi
	[ $rc = 0 ] || die "guest failed with --kvm-run $hook: $res $(cat "$T_TMP/vp.err")"
	expect_eq "--kvm-run $hook: reported" "$(jq -r .kvm_run_hook "$out")" "$hook"
	expect_eq "--kvm-run $hook: TDT writes, all exits" "$(vp_field "$out" "$E and .offset == 14360 and .dir == \"write\"" exits)" 200
	expect_eq "--kvm-run $hook: ICR reads" "$(vp_sum "$out" "$E and .offset == 192 and .dir == \"read\"")" 100
	expect_eq "--kvm-run $hook: port 0x80 writes" "$(vp_sum "$out" '.space == "pio" and .addr == 128')" 50
	expect_eq "--kvm-run $hook: MMIO exits timed" "$(jq '[.userspace_exits[] | select(.reason == "MMIO") | .timed] | add' "$out")" "$(jq '[.userspace_exits[] | select(.reason == "MMIO") | .count] | add' "$out")"
	expect_ge "--kvm-run $hook: QEMU time charged to TDT" "$(vp_field "$out" "$E and .offset == 14360" user_ns)" 1
	expect_eq "--kvm-run $hook: no notice" "$(grep -vc 'exited; reporting what was seen' "$T_TMP/vp.err")" 0
done
check "no BPF program left attached" no_prog_left
