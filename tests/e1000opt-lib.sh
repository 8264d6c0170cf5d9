# Helpers for tests/t-e1000opt-*.sh (the e1000-opt correctness tests of
# issue 4).  Source it after tests/lib.sh.
#
# The Linux guest runs under TCG here, through scripts/vm, with QMP on a
# socket; scripts/vm passes -name debug-threads=on, so QEMU names its
# threads: the sidecore thread is "sidecore-<device id>" ("sidecore-e1000"
# without an id).
# Without debug-threads QEMU leaves every thread named "qemu-system-x86", and
# Linux limits a thread name to 15 bytes, so ids longer than 6 characters
# leave the sidecore thread unnamed too: the tests use short ids.

: "${TOP:?source tests/lib.sh first, or set TOP}"
BUILD=${BUILD:-$TOP/build}
QEMU=${QEMU:-$BUILD/bin/qemu-system-x86_64}
E1OPT=$TOP/tests/e1000opt
QMP_PY=$E1OPT/qmp.py
# scripts/vm (E1OPT_VM overrides it, e.g. to try a modified copy).
VM=${E1OPT_VM:-$TOP/scripts/vm}
QREAL=$(readlink -f "$QEMU" 2>/dev/null || echo "$QEMU")
QEMU_ASAN=$BUILD/bin/qemu-system-x86_64-asan
ALL_ON=x-coalesce=on,x-shadow-regs=on,x-sidecore=on
ALL_OFF=x-coalesce=off,x-shadow-regs=off,x-sidecore=off

# qmp SOCKET STEP...: tests/e1000opt/qmp.py (see its header).
qmp() { /usr/bin/python3 "$QMP_PY" "$@"; }

# vm NAME ARGS...: run scripts/vm; its JSON line in $T_TMP/NAME.json (also
# $J), stderr in NAME.err (copied to the log with a prefix), exit status in
# $VM_RC.  Fails the test if stdout is not exactly one JSON object.
vm() {
	local name=$1
	shift
	VM_RC=0
	"$VM" "$@" >"$T_TMP/$name.json" 2>"$T_TMP/$name.err" || VM_RC=$?
	# scripts/vm's own lines; the guest console (--verbose/--debug: "vm| ")
	# stays in the file
	grep -v '^vm| ' "$T_TMP/$name.err" | sed "s/^/    [$name] /"
	[ "$(wc -l <"$T_TMP/$name.json")" -eq 1 ] ||
		die "$name: want exactly one stdout line from scripts/vm, got: $(cat "$T_TMP/$name.json")"
	jq -e 'type == "object"' "$T_TMP/$name.json" >/dev/null || die "$name: stdout is not a JSON object"
	J=$T_TMP/$name.json
}
# j FILTER: jq -r FILTER on the last run's JSON.
j() { jq -r "$1" "$J"; }
# jcheck DESC FILTER: FILTER (jq) holds for the last run's JSON.
jcheck() { if jq -e "$2" "$J" >/dev/null; then ok "$1"; else die "$1: $2 is false in $(cat "$J")"; fi; }
# check_sha_tx LABEL RESULT MIB: a sha-tx step's RESULT (a jq path in the
# last run's JSON): the peer got MIB MiB, each equal to the guest's MiB.
check_sha_tx() {
	local bsha pbytes pbsha prep
	bsha=$(j "$2.block_sha256")
	[[ $bsha =~ ^[0-9a-f]{64}$ ]] || die "$1: no SHA-256 from the guest: '$bsha'"
	read -r pbytes _ pbsha prep <<<"$(j "$2.peer")"
	expect_eq "$1: bytes the peer received" "$pbytes" $(($3 * 1048576))
	expect_eq "$1: SHA-256 of the guest's MiB, guest and peer" "$pbsha" "$bsha"
	expect_eq "$1: MiBs equal to it at the peer (no byte lost, doubled or changed)" "$prep" "$3"
}

# asan_clean DIR: AddressSanitizer (ASAN_OPTIONS log_path=DIR/asan) reported
# nothing, and it was there: its start-up warning about makecontext/
# swapcontext, which QEMU's coroutines use, left a log file in DIR.
asan_clean() {
	local reports
	reports=$(cat "$1"/asan.* 2>/dev/null | grep -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error' || true)
	if [ -n "$reports" ]; then
		cat "$1"/asan.* | head -60
		die "AddressSanitizer reported: $reports"
	fi
	check "AddressSanitizer active in QEMU (its log file exists)" bash -c "ls '$1'/asan.* >/dev/null 2>&1"
	ok "no AddressSanitizer report ($(ls "$1" | wc -l) log file(s), warnings only)"
}

# need_guest: the guest, QEMU and the stage properties are there.
need_guest() {
	# VEXIT_GUEST_DIR (scripts/vm's override) points at a guest built elsewhere.
	[ -n "${VEXIT_GUEST_DIR:-}" ] || check "make guest" make -s -C "$TOP" guest
	check "qemu built" test -x "$QEMU"
	"$QEMU" -device e1000,help 2>/dev/null | grep -q 'x-sidecore=' ||
		die "$QEMU has no x-sidecore property: is the e1000-opt series applied (make qemu)?"
}

# The attach side.  Tests write attach scripts that source this file with
# ATT=1 in the environment; these helpers are for them.  They run with
# QEMU_PID, VEXIT_NETNS, VEXIT_TAP, VEXIT_READY_FILE set by scripts/vm.

# sidecore_threads PID: how many of PID's threads are named sidecore-*.
sidecore_threads() {
	local t n=0 c
	for t in /proc/"$1"/task/*/comm; do
		c=$(cat "$t" 2>/dev/null) || continue
		[[ $c == sidecore-* ]] && n=$((n + 1))
	done
	echo "$n"
}
# sidecore_ns PID: nanoseconds PID's sidecore-* threads have run (the
# first field of each thread's schedstat: exact run time, where utime/stime
# are counted in 10-ms ticks).  Empty if there is no such thread.
sidecore_ns() {
	local t c ns sum=
	for t in /proc/"$1"/task/*; do
		c=$(cat "$t/comm" 2>/dev/null) || continue
		[[ $c == sidecore-* ]] || continue
		read -r ns _ <"$t/schedstat" || continue
		sum=$((${sum:-0} + ns))
	done
	echo "$sum"
}
# tap_stat NAME: a counter of the tap (host side), e.g. rx_packets.
tap_stat() { ip netns exec "$VEXIT_NETNS" cat "/sys/class/net/$VEXIT_TAP/statistics/$1"; }
# cpu_ticks PID: utime + stime of PID (all threads), in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# wait_rx_quiet SECS MAX: wait until the tap's rx_packets stays unchanged for
# SECS seconds (polled every 0.1 s), at most MAX seconds; prints the time
# (EPOCHREALTIME) of the last change.  Fails if it never settles.
wait_rx_quiet() {
	local quiet=$1 max=$2 last now t_last t0
	t0=$EPOCHREALTIME
	last=$(tap_stat rx_packets)
	t_last=$EPOCHREALTIME
	while :; do
		sleep 0.1
		now=$(tap_stat rx_packets)
		if [ "$now" != "$last" ]; then
			last=$now
			t_last=$EPOCHREALTIME
		elif awk -v a="$t_last" -v b="$EPOCHREALTIME" -v q="$quiet" 'BEGIN { exit !(b - a >= q) }'; then
			echo "$t_last"
			return 0
		fi
		awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$max" 'BEGIN { exit !(b - a >= m) }' && return 1
	done
}
# wait_rx_moving MAX: wait until the tap's rx_packets moves (traffic runs).
wait_rx_moving() {
	local a b i
	a=$(tap_stat rx_packets)
	for ((i = 0; i < $1 * 20; i++)); do
		sleep 0.05
		b=$(tap_stat rx_packets)
		[ "$b" -gt $((a + 50)) ] && return 0
	done
	return 1
}
# rec KEY VALUE: record a fact for the test to check afterwards ($OUT/KEY).
rec() { printf '%s\n' "$2" >"$OUT/$1"; }
# freeze_sidecore QMP-SOCKET: stop QEMU_PID's sidecore thread (not while it
# holds the BQL) and keep it stopped until thaw_sidecore; tests/e1000opt/
# freeze-thread.py.  Makes "TX work left in the ring" a certainty instead of
# a race the thread usually wins.  Returns 1 (message on stderr) on failure.
freeze_sidecore() {
	local line
	coproc FREEZE { exec /usr/bin/python3 "$E1OPT/freeze-thread.py" "$QEMU_PID" sidecore- "$1" 2>&1; }
	read -r -t 120 -u "${FREEZE[0]}" line || line=
	[[ $line == frozen* ]] || { echo "freeze_sidecore: ${line:-no answer}" >&2; return 1; }
	echo "$line"
}
# thaw_sidecore: let the thread frozen by freeze_sidecore go on.
thaw_sidecore() {
	local line pid=$FREEZE_PID
	echo thaw >&"${FREEZE[1]}"
	read -r -t 10 -u "${FREEZE[0]}" line || line=
	wait "$pid" 2>/dev/null || true
	[[ $line == thawed* ]] || { echo "thaw_sidecore: ${line:-no answer}" >&2; return 1; }
}

# For the --attach scripts (tests/e1000opt/attach-*.sh).  fail MSG: record
# MSG in $OUT/error and end the run at once (QMP quit) instead of letting the
# guest run into scripts/vm's timeout; ATTACH_LABEL, if set, prefixes it.
# q STEP...: QMP steps on $QMPS, logged to $OUT/qmp.log; fail on error.
fail() {
	echo "attach${ATTACH_LABEL:+ ($ATTACH_LABEL)}: $*" >&2
	rec error "${ATTACH_LABEL:+$ATTACH_LABEL: }$*"
	qmp "$QMPS" quit >/dev/null 2>&1
	exit 1
}
q() { qmp "$QMPS" "$@" >>"$OUT/qmp.log" 2>&1 || fail "QMP $* failed: $(tail -n 2 "$OUT/qmp.log")"; }
