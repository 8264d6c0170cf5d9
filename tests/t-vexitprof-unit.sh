#!/usr/bin/env bash
# kvm_exit/kvm_entry logic without VMX/SVM: synthetic records through the
# same BPF handlers with BPF_PROG_TEST_RUN (tests/unit/test_vexitprof.c).
# The USDT handler bodies (memory_region_ops, e1000 tx/rx/irq) are the ones
# the shipped usdt programs run, arguments taken from the record instead of
# the probe's registers; so are the per-region and per-page detail caps.
. "$(dirname "$0")/lib.sh"
UNIT="$BUILD/tests/unit/test_vexitprof"
[ -x "$UNIT" ] || die "$UNIT missing (make vexitprof)"
out=$("$UNIT") || die "unit test failed: $out"
echo "$out"
ok "BPF handlers: $out"
