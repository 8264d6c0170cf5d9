# shellcheck shell=bash
# console.sh: scripts/vm's console protocol with the guest (guest/init).
# Sourced by scripts/vm; uses its msg, fatal, vm_attach_start/stop and the
# tap counters of netns.sh.
#
# QEMU's serial console is its stdin and stdout, two FIFOs.  The guest
# prints VEXIT-READY and holds; we answer "go" to release it (after the
# attach command is ready).  It prints VEXIT-DONE when the workload ends; we
# stop the attach command and answer "go" again, so that its result line and
# power-off are not profiled.  Then it prints "VEXIT-RESULT {json}" and
# powers off.
#
# State of a run: booting -> (attaching) -> running -> exiting.

infd=
outfd=
state=booting
partial=
host_before=
result_json=
host_json=
host_total_json=
t_release=
ready_s=
run_s=
exit_deadline=
# After the result, how long the guest may take to power off.
EXIT_GRACE=15

# A signal that arrives while the console loop sits in `read -t` is only
# noted: bash 5.2 leaves read's timeout alarm armed when a trap exits from
# inside read, and the alarm firing later during a long cleanup crashes the
# shell (SIGSEGV).  The loop exits as soon as read returns.
in_read=0
pending_signal=
on_signal() {
	if [ "$in_read" = 1 ]; then
		pending_signal=$1
	else
		exit "$1"
	fi
}

# console_open: the FIFOs.  We hold the input FIFO open read-write, so
# QEMU's open never blocks and it never sees EOF; the output FIFO gives us
# EOF exactly when QEMU exits, however it exits.  QEMU gets
# <"$T/serial.in" >"$T/serial.out"; then console_attach.
console_open() {
	mkfifo "$T/serial.in" "$T/serial.out"
	exec {infd}<>"$T/serial.in"
	: >"$T/console.log"
}
console_attach() { exec {outfd}<"$T/serial.out"; }
console_close() {
	[ -n "$infd" ] && exec {infd}>&-
	[ -n "$outfd" ] && exec {outfd}<&-
	infd=
	outfd=
}

# release: let the holding guest go on.
release() { printf 'go\n' >&"$infd"; }

# start_workload: the host counters start, the guest is released.
start_workload() {
	host_before=$(tap_counters)
	t_release=$(now_us)
	release
	state=running
	msg "workload $workload started"
}

handle_line() {
	local line=${1%$'\r'} j pg host_after
	printf '%s\n' "$line" >>"$T/console.log"
	[ "$verbose" = 1 ] && printf 'vm| %s\n' "$line" >&2
	case "$line" in
	*VEXIT-RESULT\ *)
		[ -n "$result_json" ] && return 0
		j=${line#*VEXIT-RESULT }
		if ! jq -e 'type == "object"' <<<"$j" >/dev/null 2>&1; then
			fatal 4 "guest result line is not a JSON object: $j"
		fi
		result_json=$(jq -c . <<<"$j")
		[ -n "$host_before" ] || host_before=$(tap_counters)
		host_after=$(tap_counters)
		pg=$(pktgen_frames)
		host_json=$(counters_json "$host_before" "$host_after" "$pg")
		host_total_json=$(counters_json "0 0 0 0" "$host_after" "$pg")
		[ -n "$t_release" ] && [ -z "$run_s" ] && run_s=$(secs_since "$t_release")
		state=exiting
		exit_deadline=$(($(now_us) + EXIT_GRACE * 1000000))
		;;
	*VEXIT-DONE*)
		[ "$state" = running ] || return 0
		[ -n "$t_release" ] && run_s=$(secs_since "$t_release")
		vm_attach_stop
		# The guest holds until the attached profiler has stopped, so
		# its result line and power-off are not profiled.
		release
		;;
	*VEXIT-READY*)
		if [ "$state" = running ] && [ "$allow_reboot" = 1 ]; then
			msg "guest rebooted; releasing it again"
			release
			return 0
		fi
		[ "$state" = booting ] || return 0
		ready_s=$(secs_since "$t_start")
		msg "guest ready after ${ready_s}s"
		if [ -n "$attach" ] && ! vm_attach_start; then
			msg "qemu exited while the attach command was starting"
			state=attaching
			return 0
		fi
		start_workload
		;;
	esac
}

# console_restored: a guest restored with --incoming was released before it
# was saved: it goes on with its workload as soon as the restore is done.
console_restored() {
	msg "restoring from $incoming"
	if [ -n "$attach" ] && ! vm_attach_start; then
		msg "qemu exited while the attach command was starting"
		state=attaching
	else
		host_before=$(tap_counters)
		t_release=$(now_us)
		state=running
	fi
}

# console_loop QEMU_PID: read the console until QEMU exits (EOF), the
# guest's power-off grace after its result runs out, or the deadline.
# Sets qemu_exit when it had to stop QEMU itself.
console_loop() {
	local qpid=$1 line rc
	while :; do
		if [ "$state" = exiting ] && [ "$(now_us)" -ge "$exit_deadline" ]; then
			msg "warning: guest did not power off ${EXIT_GRACE}s after its result; killing qemu"
			stop_pid "$qpid" 3 TERM
			qemu_exit=$STOP_RC
			break
		fi
		if [ "$state" != exiting ] && [ "$(now_us)" -ge "$deadline" ]; then
			fatal 3 "timeout: no result after ${timeout}s (guest state: $state)"
		fi
		line=
		in_read=1
		rc=0
		IFS= read -r -t 1 -u "$outfd" line || rc=$?
		in_read=0
		[ -z "$pending_signal" ] || exit "$pending_signal"
		if [ $rc -eq 0 ]; then
			handle_line "$partial$line"
			partial=
		else
			if [ $rc -gt 128 ]; then
				partial+=$line # read timed out: keep what arrived of the line
				continue
			fi
			[ -n "$partial$line" ] && handle_line "$partial$line"
			break # EOF: QEMU closed its stdout, i.e. exited
		fi
	done
}
