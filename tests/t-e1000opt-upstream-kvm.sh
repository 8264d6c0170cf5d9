#!/usr/bin/env bash
# t-e1000opt-upstream.sh's per-register comparison (stock QEMU, our default
# e1000, ours with every stage off) counted as VM exits with kvm:kvm_mmio:
# a RAM page laid over the BAR by mistake would remove exits here.
source "$(dirname "$0")/lib.sh"
need_kvm "counting e1000 VM exits with kvm:kvm_mmio"
ACCELS=kvm UPSTREAM_COUNTS_ONLY=1 bash "$TOP/tests/t-e1000opt-upstream.sh"
