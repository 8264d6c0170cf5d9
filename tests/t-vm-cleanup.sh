#!/usr/bin/env bash
# scripts/vm leaves nothing behind -- namespace, tap, QEMU, servers, temp
# files, pidfile, QMP socket -- after a normal run, after QEMU is killed with
# SIGKILL from outside mid-run, and after the script itself gets SIGTERM.
# The --attach hook records what existed during the run (the processes in the
# run's namespace with their start times, so a recycled pid is not mistaken
# for a survivor).
source "$(dirname "$0")/lib.sh"
check "make guest" make -s -C "$TOP" guest
check "qemu built" test -x "$QEMU"

# The attach command: record, signal ready, optionally kill QEMU after
# KILL_AFTER seconds, then wait for the SIGINT that ends it.
cat >"$T_TMP/attach.sh" <<'SH'
set -eu
out=$OUT
echo "$VEXIT_NETNS" >"$out/netns"
echo "$QEMU_PID" >"$out/qemu_pid"
dirname "$VEXIT_READY_FILE" >"$out/tmpdir"
[ -n "${PIDFILE:-}" ] && cp "$PIDFILE" "$out/pidfile_copy"
[ -n "${QMP:-}" ] && [ -S "$QMP" ] && touch "$out/qmp_seen"
ip netns exec "$VEXIT_NETNS" ip link show "$VEXIT_TAP" >/dev/null && touch "$out/tap_seen"
for p in $(ip netns pids "$VEXIT_NETNS"); do
	echo "$p $(awk '{print $22}' /proc/$p/stat) $(cat /proc/$p/comm)"
done >"$out/procs"
# This script itself (it becomes the sleep below): the attach command.
echo "$$ $(awk '{print $22}' /proc/$$/stat) attach" >>"$out/procs"
if [ -n "${KILL_AFTER:-}" ]; then
	(sleep "$KILL_AFTER" && kill -9 "$QEMU_PID") &
fi
# When the workload starts: the boot before it takes 10 to 50 s under TCG,
# depending on the machine's load.
date +%s >"$out/released"
touch "$VEXIT_READY_FILE"
exec sleep 1000
SH

# jq_ok DESC FILTER FILE: FILTER (jq) holds for FILE.
jq_ok() { if jq -e "$2" "$3" >/dev/null; then ok "$1"; else die "$1: $2 is false in $(cat "$3")"; fi; }

# leftovers NAME: everything the run recorded is gone.
leftovers() {
	local d=$T_TMP/$1 ns pid start comm n=0
	ns=$(cat "$d/netns")
	check "$1: namespace existed during the run" test -n "$ns"
	check "$1: tap existed during the run" test -e "$d/tap_seen"
	check "$1: namespace $ns removed" bash -c "! ip netns list | grep -qw '$ns'"
	check "$1: no $ns in /run/netns" test ! -e "/run/netns/$ns"
	check "$1: no tap in the root namespace" bash -c "! ip link show vxt0 >/dev/null 2>&1"
	check "$1: temp dir removed" test ! -e "$(cat "$d/tmpdir")"
	while read -r pid start comm; do
		n=$((n + 1))
		if [ -e "/proc/$pid" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$start" ]; then
			die "$1: $comm (pid $pid) from the run is still alive"
		fi
	done <"$d/procs"
	expect_ge "$1: processes recorded (namespace + attach)" "$n" 2
	ok "$1: none of the $n processes ($(awk '{print $3}' "$d/procs" | tr '\n' ' ')) survived"
}

# 1. A normal run, with servers (rr starts the echo server), pidfile and QMP.
mkdir -p "$T_TMP/normal"
OUT=$T_TMP/normal PIDFILE=$T_TMP/normal/qemu.pid QMP=$T_TMP/normal/qmp.sock \
	"$TOP/scripts/vm" --workload rr --count 50 --pidfile "$T_TMP/normal/qemu.pid" \
	--qmp "$T_TMP/normal/qmp.sock" --attach "bash $T_TMP/attach.sh" \
	>"$T_TMP/normal.json" 2>"$T_TMP/normal.err" || die "normal run failed: $(cat "$T_TMP/normal.err")"
expect_eq "normal: ok" "$(jq -r .ok "$T_TMP/normal.json")" true
expect_eq "normal: pidfile held QEMU's pid" "$(cat "$T_TMP/normal/pidfile_copy")" "$(cat "$T_TMP/normal/qemu_pid")"
expect_eq "normal: JSON reports the same pid" "$(jq -r .qemu_pid "$T_TMP/normal.json")" "$(cat "$T_TMP/normal/qemu_pid")"
check "normal: QMP socket existed" test -e "$T_TMP/normal/qmp_seen"
check "normal: echo server ran in the namespace" grep -q ' udp-echo$' "$T_TMP/normal/procs"
check "normal: pidfile removed" test ! -e "$T_TMP/normal/qemu.pid"
check "normal: QMP socket removed" test ! -e "$T_TMP/normal/qmp.sock"
expect_eq "normal: attach command ended by SIGINT" "$(jq -r .attach.exit "$T_TMP/normal.json")" 130
leftovers normal

# 2. QEMU killed with SIGKILL during an iperf run (iperf3 server running).
mkdir -p "$T_TMP/kill9"
rc=0
OUT=$T_TMP/kill9 KILL_AFTER=2 "$TOP/scripts/vm" --workload iperf-tx --secs 30 \
	--attach "bash $T_TMP/attach.sh" >"$T_TMP/kill9.json" 2>"$T_TMP/kill9.err" || rc=$?
sed 's/^/    /' "$T_TMP/kill9.err"
expect_eq "kill -9: exit status (QEMU exited without a result)" "$rc" 4
expect_le "kill -9: noticed at once, not at the end of the 30 s run" $(($(date +%s) - $(cat "$T_TMP/kill9/released"))) 28
expect_eq "kill -9: one JSON line" "$(wc -l <"$T_TMP/kill9.json")" 1
expect_eq "kill -9: ok" "$(jq -r .ok "$T_TMP/kill9.json")" false
expect_eq "kill -9: qemu_exit" "$(jq -r .qemu_exit "$T_TMP/kill9.json")" 137
jq_ok "kill -9: the error says so" '.error | test("SIGKILL")' "$T_TMP/kill9.json"
check "kill -9: iperf3 server ran in the namespace" grep -q ' iperf3$' "$T_TMP/kill9/procs"
leftovers kill9

# 3. The script itself gets SIGTERM mid-run.
mkdir -p "$T_TMP/term"
OUT=$T_TMP/term "$TOP/scripts/vm" --workload iperf-tx --secs 30 \
	--attach "bash $T_TMP/attach.sh" >"$T_TMP/term.json" 2>"$T_TMP/term.err" &
vm_pid=$!
for ((i = 0; i < 600; i++)); do
	grep -q "workload iperf-tx started" "$T_TMP/term.err" 2>/dev/null && break
	kill -0 $vm_pid 2>/dev/null || break
	sleep 0.1
done
sleep 1
kill -TERM $vm_pid
t0=$(date +%s)
rc=0
wait $vm_pid || rc=$?
term_secs=$(($(date +%s) - t0))
sed 's/^/    /' "$T_TMP/term.err"
expect_eq "SIGTERM: exit status" "$rc" 143
expect_eq "SIGTERM: one JSON line" "$(wc -l <"$T_TMP/term.json")" 1
jq_ok "SIGTERM: the error says so" '.error | test("SIGTERM")' "$T_TMP/term.json"
expect_le "SIGTERM: handled promptly (s)" "$term_secs" 10
leftovers term
