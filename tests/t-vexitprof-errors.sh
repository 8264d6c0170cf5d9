#!/usr/bin/env bash
# Bad input and faults: each gives one clear line on stderr and its own exit
# code (profiler/vexitprof.8, EXIT STATUS), and nothing stays attached.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"

# run_vp WANT_RC DESC ARGS...: run vexitprof, check exit code and one stderr line
run_vp() {
	local want=$1 desc=$2 rc=0
	shift 2
	"$VEXITPROF" "$@" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
	sed 's/^/    stderr: /' "$T_TMP/err"
	expect_eq "$desc: exit code" "$rc" "$want"
	expect_eq "$desc: one line on stderr" "$(wc -l <"$T_TMP/err")" 1
}

# an idle QEMU is enough for everything here
start_qemu() { # BINARY -> sets QPID
	start_exec "$1" -M none -nodefaults -display none -S
}
start_qemu "$QEMU"

run_vp 3 "no such pid" -p 4000000 -d 1
grep -q "no such process" "$T_TMP/err" || die "message"
sleep 300 &
SLEEP=$!
at_exit "kill $SLEEP"
run_vp 4 "not QEMU" -p $SLEEP -d 1
grep -q "is not QEMU" "$T_TMP/err" || die "message"
rc=0
"$VEXITPROF" -p abc 2>"$T_TMP/err" || rc=$?
expect_eq "bad option: exit code" "$rc" 2
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$VEXITPROF" -p $QPID -d 1 \
	>"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "not root: exit code" "$rc" 5
expect_eq "not root: one line" "$(wc -l <"$T_TMP/err")" 1
grep -q "needs root" "$T_TMP/err" || die "message"

# tracefs not mounted: vexitprof mounts it (shown on a scratch mount point)...
mkdir "$T_TMP/tfs"
rc=0
"$VEXITPROF" -p $QPID -d 1 --tracefs "$T_TMP/tfs" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
at_exit "umount '$T_TMP/tfs' 2>/dev/null || true"
cat "$T_TMP/err"
expect_eq "tracefs absent: mounted and ran" "$rc" 0
check "tracefs absent: said so" grep -q "mounted tracefs on $T_TMP/tfs" "$T_TMP/err"
check "tracefs absent: now mounted" mountpoint -q "$T_TMP/tfs"
umount "$T_TMP/tfs"
# ...and says how when it cannot
touch "$T_TMP/notadir"
run_vp 6 "tracefs cannot be mounted" -p $QPID -d 1 --tracefs "$T_TMP/notadir"
grep -q "mount -t tracefs nodev" "$T_TMP/err" || die "message"
# a kernel without kvm tracepoints: a tracefs-like tree without events/kvm
mkdir -p "$T_TMP/fake/events/sched"
run_vp 6 "no kvm tracepoints" -p $QPID -d 1 --tracefs "$T_TMP/fake"
grep -q "no kvm tracepoints" "$T_TMP/err" || die "message"

# -i prints tables: refused with --json or --folded, whose output they would break
for o in --json --folded; do
	rc=0
	"$VEXITPROF" -p $QPID -i 1 -d 1 $o >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
	expect_eq "-i with $o: exit code" "$rc" 2
	check "-i with $o: says why" grep -q -- "-i prints live tables to stdout: not with $o" "$T_TMP/err"
	check "-i with $o: nothing on stdout" test ! -s "$T_TMP/out"
done

# Output that cannot be written.  The lock file goes away after every run.
LOCK=/run/vexitprof/$QPID.lock
# A flame graph path that cannot be created is refused before profiling (-d 5 would take 5 s).
t0=$(date +%s%N)
run_vp 2 "--flamegraph in a missing directory" -p $QPID -d 5 --json --flamegraph "$T_TMP/nodir/fg.svg"
expect_le "... refused at once (ms)" $((($(date +%s%N) - t0) / 1000000)) 3000
grep -q -- "--flamegraph $T_TMP/nodir/fg.svg: cannot write: No such file or directory" "$T_TMP/err" ||
	die "message"
check "... nothing on stdout" test ! -s "$T_TMP/out"
check "... lock file removed" test ! -e "$LOCK"
# stdout on a full device: exit 8, not a silent loss
mark_progs
rc=0
"$VEXITPROF" -p $QPID -d 1 --json >/dev/full 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "stdout full: exit code" "$rc" 8
expect_eq "stdout full: one line" "$(wc -l <"$T_TMP/err")" 1
check "stdout full: says so" grep -q "cannot write the report to standard output: No space left on device" "$T_TMP/err"
check "stdout full: nothing left attached" no_prog_left
check "stdout full: lock file removed" test ! -e "$LOCK"
# stdout a pipe whose reader is gone (live mode): exit 8, not death by SIGPIPE (141)
set +o pipefail
"$VEXITPROF" -p $QPID -i 0.2 -d 5 2>"$T_TMP/err" | true
rc=${PIPESTATUS[0]}
set -o pipefail
cat "$T_TMP/err"
expect_eq "stdout pipe closed: exit code" "$rc" 8
check "stdout pipe closed: says so" grep -q "cannot write the report to standard output: Broken pipe" "$T_TMP/err"
check "stdout pipe closed: lock file removed" test ! -e "$LOCK"
# the flame graph cannot be written: exit 8, and the JSON report still comes out
run_vp 8 "--flamegraph on a full device" -p $QPID -d 1 --json --flamegraph /dev/full
grep -q "cannot write flame graph /dev/full: No space left on device" "$T_TMP/err" || die "message"
expect_eq "--flamegraph on a full device: JSON report printed" "$(jq .pid "$T_TMP/out")" "$QPID"
# A lock file left by a vexitprof that was killed (no flock on it) does not block.
mkdir -p /run/vexitprof
echo 4000001 >"$LOCK"
rc=0
"$VEXITPROF" -p $QPID -d 1 --json --flamegraph "$T_TMP/fg.svg" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "stale lock file: exit code" "$rc" 0
check "stale lock file: removed after the run" test ! -e "$LOCK"
check "flame graph written" grep -q "</svg>" "$T_TMP/fg.svg"

# QEMU without USDT: our QEMU with its USDT notes stripped
objcopy --remove-section .note.stapsdt "$QEMU" "$T_TMP/qemu-system-x86_64-nousdt"
start_qemu "$T_TMP/qemu-system-x86_64-nousdt"
NOUSDT=$QPID
rc=0
"$VEXITPROF" -p $NOUSDT -d 1 --json >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "no USDT: runs" "$rc" 0
expect_eq "no USDT: one notice" "$(wc -l <"$T_TMP/err")" 1
check "no USDT: notice says kernel events only" grep -q "no USDT probes.*kernel events only" "$T_TMP/err"
expect_eq "no USDT: JSON says so" "$(jq .usdt "$T_TMP/out")" false

# QEMU exiting while profiled: report, exit 0
start_qemu "$QEMU"
DYING=$QPID
mark_progs
"$VEXITPROF" -p $DYING --ready-file "$T_TMP/ready" >"$T_TMP/out" 2>"$T_TMP/err" &
VP=$!
for _ in $(seq 100); do [ -e "$T_TMP/ready" ] && break; sleep 0.1; done
[ -e "$T_TMP/ready" ] || die "vexitprof never got ready"
kill $DYING
rc=0
wait $VP || rc=$?
cat "$T_TMP/err"
expect_eq "QEMU exited: exit code" "$rc" 0
check "QEMU exited: said so" grep -q "QEMU pid $DYING exited" "$T_TMP/err"
check "QEMU exited: report printed" grep -q "^Exits to QEMU" "$T_TMP/out"
check "QEMU exited: nothing left attached" no_prog_left

# a second vexitprof on the same pid is refused (two would trap every USDT twice and each
# would report the other's overhead as the guest's)
rm -f "$T_TMP/ready"
mark_progs
"$VEXITPROF" -p $NOUSDT --ready-file "$T_TMP/ready" >"$T_TMP/out1" 2>&1 &
VP=$!
for _ in $(seq 100); do [ -e "$T_TMP/ready" ] && break; sleep 0.1; done
run_vp 7 "second vexitprof" -p $NOUSDT -d 1
grep -q "already being profiled by vexitprof pid $VP" "$T_TMP/err" || die "message"
# the refused one leaves the holder's lock file alone
expect_eq "lock file still names the first vexitprof" "$(cat "/run/vexitprof/$NOUSDT.lock")" "$VP"

# SIGINT: detach, report, exit 0, nothing left
check "first one attached" bpftool prog show name tp_kvm_mmio
kill -INT $VP
rc=0
wait $VP || rc=$?
expect_eq "SIGINT: exit code" "$rc" 0
check "SIGINT: report printed" grep -q "^Device accesses" "$T_TMP/out1"
check "SIGINT: nothing left attached" no_prog_left
check "SIGINT: lock file removed" test ! -e "/run/vexitprof/$NOUSDT.lock"
# SIGTERM, with USDT attached
start_qemu "$QEMU"
rm -f "$T_TMP/ready"
mark_progs
"$VEXITPROF" -p $QPID --ready-file "$T_TMP/ready" >"$T_TMP/out1" 2>&1 &
VP=$!
for _ in $(seq 100); do [ -e "$T_TMP/ready" ] && break; sleep 0.1; done
check "USDT attached" bpftool prog show name usdt_mr_read
kill -TERM $VP
rc=0
wait $VP || rc=$?
expect_eq "SIGTERM: exit code" "$rc" 0
check "SIGTERM: nothing left attached" no_prog_left
check "SIGTERM: no uprobe left" bash -c "! grep -q qemu /sys/kernel/tracing/uprobe_events"
check "SIGTERM: lock file removed" test ! -e "/run/vexitprof/$QPID.lock"

# QEMU's binary removed after QEMU started: /proc/PID/exe still reads, USDT still attaches
mkdir "$T_TMP/gone"
cp "$QEMU" "$T_TMP/gone/qemu-system-x86_64"
start_qemu "$T_TMP/gone/qemu-system-x86_64"
rm "$T_TMP/gone/qemu-system-x86_64"
rc=0
"$VEXITPROF" -p $QPID -d 1 --json >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "binary removed: exit code" "$rc" 0
expect_eq "binary removed: USDT attached" "$(jq .usdt "$T_TMP/out")" true
check "binary removed: nothing on stderr" test ! -s "$T_TMP/err"

# QEMU's binary cannot be read (execute-only, and vexitprof lacks CAP_DAC_OVERRIDE):
# that is not "no USDT probes"
mkdir "$T_TMP/xo"
cp "$QEMU" "$T_TMP/xo/qemu-system-x86_64"
chmod 0111 "$T_TMP/xo/qemu-system-x86_64"
start_qemu "$T_TMP/xo/qemu-system-x86_64"
NOREAD="setpriv --bounding-set -dac_override,-dac_read_search"
rc=0
$NOREAD "$VEXITPROF" -p $QPID -d 1 --json >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "binary unreadable: exit code" "$rc" 5
expect_eq "binary unreadable: one line" "$(wc -l <"$T_TMP/err")" 1
check "binary unreadable: says so" grep -q "cannot read QEMU's executable /proc/$QPID/exe ($T_TMP/xo/qemu-system-x86_64): Permission denied" "$T_TMP/err"
check "binary unreadable: lock file removed" test ! -e "/run/vexitprof/$QPID.lock"
rc=0
$NOREAD "$VEXITPROF" -p $QPID -d 1 --json --no-usdt >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
expect_eq "binary unreadable, --no-usdt: exit code" "$rc" 0

# A QEMU with some of the e1000 probes but not all: per-packet figures would be
# wrong, so refused (1) unless --no-packet-probes.  Rename e1000_rx_frame in
# a copy's USDT notes.
objcopy --dump-section .note.stapsdt="$T_TMP/notes" "$QEMU" "$T_TMP/scratch.elf"
rm "$T_TMP/scratch.elf"
python3 - "$T_TMP/notes" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
old, new = b"qemu\0e1000_rx_frame\0", b"qemu\0e1000_rx_framX\0"
assert b.count(old) == 1, b.count(old)
open(p, "wb").write(b.replace(old, new))
PY
mkdir "$T_TMP/partial"
objcopy --update-section .note.stapsdt="$T_TMP/notes" "$QEMU" "$T_TMP/partial/qemu-system-x86_64"
start_qemu "$T_TMP/partial/qemu-system-x86_64"
mark_progs
run_vp 1 "partial e1000 probes" -p $QPID -d 1 --json --flamegraph "$T_TMP/partial.svg"
grep -q "has 3 of the 4 e1000 USDT probes (no qemu:e1000_rx_frame).*--no-packet-probes" "$T_TMP/err" ||
	die "message"
check "partial e1000 probes: the flame graph file it created is removed" test ! -e "$T_TMP/partial.svg"
check "partial e1000 probes: nothing left attached" no_prog_left
check "partial e1000 probes: lock file removed" test ! -e "/run/vexitprof/$QPID.lock"
rc=0
"$VEXITPROF" -p $QPID -d 1 --json --no-packet-probes >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
cat "$T_TMP/err"
expect_eq "partial e1000 probes, --no-packet-probes: exit code" "$rc" 0
expect_eq "partial e1000 probes, --no-packet-probes: USDT attached" "$(jq .usdt "$T_TMP/out")" true
