# shellcheck shell=bash
# attach.sh: the --attach protocol of scripts/vm and scripts/run-baremetal,
# and the process helpers both need.  Sourced, not run.
#
# The protocol (the same for both guests; only the guest's own hold/release
# markers differ):
#   1. The guest holds before its measured phase; the script then starts the
#      attach command CMD with attach_start: `bash -c CMD` in a process group
#      of its own (setsid), stdin from /dev/null, SIGINT/SIGQUIT/SIGTERM at
#      their defaults, QEMU_PID and VEXIT_READY_FILE (a path that does not
#      exist yet) in its environment, plus whatever the caller exports.
#   2. attach_wait_ready waits until CMD has created $VEXIT_READY_FILE; only
#      then does the script release the guest.
#   3. When the measured phase is over, attach_stop sends SIGINT to CMD's
#      whole process group (CMD may be a shell whose children, the tracer,
#      outlive it) and waits for all of it to exit; after the grace period
#      SIGTERM, then SIGKILL.  CMD's exit status is left in ATTACH_EXIT.
#
# State: ATTACH_PID (CMD's pid = its process group, empty when none runs),
# ATTACH_READY_FILE, ATTACH_EXIT (null until known).

ATTACH_PID=
ATTACH_READY_FILE=
ATTACH_EXIT=null

# Microseconds since the epoch, independent of the locale's decimal point.
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

# alive PID: PID runs and is not a zombie (kill -0 succeeds on an unreaped
# child, so it cannot tell).
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st%% *}" != Z ]
}

# group_alive PGID: some process of the group PGID still runs.
group_alive() {
	local p
	for p in $(pgrep -g "$1" 2>/dev/null); do
		alive "$p" && return 0
	done
	return 1
}

# stop_pid PID GRACE SIG: send SIG (to the process group if PID leads one),
# wait up to GRACE seconds, then SIGKILL, and reap it.  The exit status is
# left in STOP_RC (not echoed: wait only works in this shell, not in a
# command substitution's subshell).
STOP_RC=
stop_pid() {
	local pid=$1 grace=$2 sig=$3 target=$1 i rc=0
	[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target=-$pid
	if alive "$pid"; then
		kill -"$sig" -- "$target" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		alive "$pid" && kill -KILL -- "$target" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || rc=$?
	STOP_RC=$rc
}

# attach_start CMD READY_FILE QEMU_PID [FD...]: start CMD (see above) in the
# background.  FDs are this shell's descriptors CMD must not inherit (e.g. a
# console FIFO whose EOF would otherwise never come).  CMD's stdout is the
# caller's: redirect the call to send it elsewhere.
attach_start() {
	local cmd=$1 fd
	ATTACH_READY_FILE=$2
	ATTACH_EXIT=null
	(
		for fd in "${@:4}"; do
			[ -z "$fd" ] || exec {fd}>&-
		done
		export QEMU_PID=$3 VEXIT_READY_FILE=$ATTACH_READY_FILE
		# Background jobs of a script start with SIGINT ignored, and a
		# shell cannot un-ignore what it inherited; env can, so that
		# the SIGINT that ends CMD is not lost.
		exec env --default-signal=INT,QUIT,TERM setsid bash -c "$cmd"
	) </dev/null &
	ATTACH_PID=$!
}

# attach_wait_ready QEMU_PID DEADLINE_US: wait for CMD's ready file.
# Returns 0 once it exists; 1 if CMD (its whole process group) exited first,
# with its status in ATTACH_EXIT and ATTACH_PID cleared; 2 if QEMU exited
# first; 3 at DEADLINE_US (microseconds since the epoch, see now_us).
attach_wait_ready() {
	local qpid=$1 deadline=$2 rc
	while [ ! -e "$ATTACH_READY_FILE" ]; do
		# The pid exists from the fork on, the group only once setsid ran.
		if ! alive "$ATTACH_PID" && ! group_alive "$ATTACH_PID"; then
			rc=0
			wait "$ATTACH_PID" 2>/dev/null || rc=$?
			ATTACH_PID=
			ATTACH_EXIT=$rc
			return 1
		fi
		alive "$qpid" || return 2
		[ "$(now_us)" -lt "$deadline" ] || return 3
		sleep 0.05
	done
	return 0
}

# attach_report_stuck PGID: what each process of the group still does (state,
# wait channel, kernel stack), so that a tracer that will not exit says where
# it hangs before it is killed.
attach_report_stuck() {
	local p
	for p in $(pgrep -g "$1" 2>/dev/null); do
		echo "attach: still running: $(ps -o pid=,stat=,wchan:32=,etime=,args= -p "$p" 2>/dev/null)"
		sed 's/^/attach:   kernel stack: /' "/proc/$p/stack" 2>/dev/null | head -12
	done
}

# attach_stop GRACE: end CMD (see above).  Nothing to do when none runs.
# Returns 1 when CMD's group outlived GRACE seconds after SIGINT and had to
# be killed.
attach_stop() {
	local grace=$1 pid=$ATTACH_PID i rc=0 killed=0
	[ -n "$pid" ] || return 0
	kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		alive "$pid" || group_alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid" || group_alive "$pid"; then
		killed=1
		attach_report_stuck "$pid" >&2
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 10; i++)); do
			alive "$pid" || group_alive "$pid" || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || rc=$?
	ATTACH_PID=
	ATTACH_EXIT=$rc
	return $((killed))
}
