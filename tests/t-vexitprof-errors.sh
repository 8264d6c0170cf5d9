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
	"$1" -M none -nodefaults -display none -S &
	QPID=$!
	at_exit "kill $QPID 2>/dev/null || true"
	# Until the child has exec'd, /proc/PID/exe is bash: wait for QEMU.
	for _ in $(seq 50); do
		[ "$(readlink /proc/$QPID/exe 2>/dev/null)" = "$(readlink -f "$1")" ] && break
		sleep 0.1
	done
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

# SIGINT: detach, report, exit 0, nothing left
check "first one attached" bpftool prog show name tp_kvm_mmio
kill -INT $VP
rc=0
wait $VP || rc=$?
expect_eq "SIGINT: exit code" "$rc" 0
check "SIGINT: report printed" grep -q "^Device accesses" "$T_TMP/out1"
check "SIGINT: nothing left attached" no_prog_left
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
