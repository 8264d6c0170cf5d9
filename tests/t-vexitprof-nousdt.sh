#!/usr/bin/env bash
# A QEMU without USDT probes (ours with .note.stapsdt stripped, like a distro
# build), on whatever accelerator runs here: vexitprof says once that it
# profiles kernel events only, marks the JSON `usdt: false`, counts no USDT
# dispatch, and connects to --qmp (a dead socket gives a clear line and the
# profile goes on).  Exact counts from kernel events need KVM:
# t-vexitprof-nousdt-qmp.sh.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
accel=$(bm_accel)
NOUSDT=$T_TMP/qemu-system-x86_64
objcopy --remove-section .note.stapsdt "$QEMU" "$NOUSDT"
check "stripped QEMU has no USDT notes" bash -c "! readelf -n '$NOUSDT' | grep -q stapsdt"
make -s -C "$TOP" baremetal >/dev/null
BM() { "$TOP/scripts/run-baremetal" --accel "$accel" "$@" | grep VEXIT-RESULT; }

# 1. Our QEMU with its probes: dispatches are counted (so the zero below is
#    the stripped binary's doing, not a profiler that counts nothing).
out=$T_TMP/usdt.json
BM --attach "$VEXITPROF -p \$QEMU_PID --json --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/usdt.err" \
	-- tdt=400 icr=300 >/dev/null || die "guest failed (with USDT): $(cat "$T_TMP/usdt.err")"
expect_eq "with USDT: JSON usdt true" "$(jq .usdt "$out")" true
expect_ge "with USDT: e1000 dispatches counted" "$(jq '[.accesses[] | select(.device == "e1000-mmio") | .qemu_ops] | add // 0' "$out")" 700

# 2. The stripped binary, with a live QMP socket.
out=$T_TMP/vp.json
BM --qemu "$NOUSDT" --qemu-arg -qmp --qemu-arg "unix:$T_TMP/qmp.sock,server=on,wait=off" \
	--attach "$VEXITPROF -p \$QEMU_PID --json --qmp $T_TMP/qmp.sock --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/vp.err" \
	-- tdt=400 icr=300 >/dev/null || die "guest failed: $(cat "$T_TMP/vp.err")"
cat "$T_TMP/vp.err"
expect_eq "one-line notice about USDT" "$(grep -c "no USDT probes.*kernel events only" "$T_TMP/vp.err")" 1
expect_eq "JSON: usdt false" "$(jq .usdt "$out")" false
expect_eq "no USDT dispatch counts" "$(jq '[.accesses[].qemu_ops] | add // 0' "$out")" 0
expect_eq "QMP names loaded (no 'without QMP names' line)" "$(grep -c 'without QMP names' "$T_TMP/vp.err")" 0

# 3. A --qmp socket nobody listens on: one clear line, the profile goes on.
BM --qemu "$NOUSDT" \
	--attach "$VEXITPROF -p \$QEMU_PID --json --qmp $T_TMP/nobody.sock --ready-file \$VEXIT_READY_FILE >$out 2>$T_TMP/vp.err" \
	-- tdt=10 >/dev/null || die "guest failed: $(cat "$T_TMP/vp.err")"
cat "$T_TMP/vp.err"
check "dead QMP socket: says it goes on without QMP names" grep -q 'continuing without QMP names' "$T_TMP/vp.err"
check "dead QMP socket: JSON still written" jq -e '.schema == "vexitprof/2"' "$out"
check "no BPF program left attached" no_prog_left
