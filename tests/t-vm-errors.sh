#!/usr/bin/env bash
# scripts/vm fails clearly, quickly and with the documented exit status:
# usage errors, an unknown workload (reported by the guest), an --attach
# command that dies, a run that exceeds --timeout, and the guest's own
# watchdog.  Every failure still prints exactly one JSON line.
source "$(dirname "$0")/lib.sh"
check "make guest" make -s -C "$TOP" guest
check "qemu built" test -x "$QEMU"

# vm NAME ARGS...: run scripts/vm, keep JSON/stderr/exit status/seconds.
vm() {
	local name=$1 start
	shift
	start=$(date +%s)
	VM_RC=0
	"$TOP/scripts/vm" "$@" >"$T_TMP/$name.json" 2>"$T_TMP/$name.err" || VM_RC=$?
	VM_SECS=$(($(date +%s) - start))
	sed "s/^/    [$name] /" "$T_TMP/$name.err"
	J=$T_TMP/$name.json
	expect_eq "$name: one JSON line" "$(jq -c type "$J" 2>/dev/null | wc -l)" 1
	expect_eq "$name: ok is false" "$(jq -r .ok "$J")" false
}
# error_matches DESC REGEX: the JSON error and the stderr message say it.
error_matches() {
	jq -e --arg re "$2" '.error | test($re)' "$J" >/dev/null || die "$1: error '$(jq -r .error "$J")' does not match /$2/"
	grep -qE "^vm: error: .*($2)" "${J%.json}.err" || die "$1: no 'vm: error:' line matching /$2/ on stderr"
	ok "$1: error says /$2/"
}

vm usage-count --count abc
expect_eq "usage-count: exit status" "$VM_RC" 2
error_matches usage-count "--count must be a number"
vm usage-option --frobnicate
expect_eq "usage-option: exit status" "$VM_RC" 2
error_matches usage-option "unknown option"
vm usage-accel --accel xen
expect_eq "usage-accel: exit status" "$VM_RC" 2
expect_le "usage errors are instant (s)" "$VM_SECS" 2
# --netns takes only a namespace --keep-netns made, and one that exists
vm usage-netns --netns default
expect_eq "usage-netns: exit status" "$VM_RC" 2
error_matches usage-netns "not a namespace kept by --keep-netns"
vm no-netns --netns vexit-keep-999999999
expect_eq "no-netns: exit status (setup)" "$VM_RC" 6
error_matches no-netns "--netns: no namespace vexit-keep-999999999"

# NIC properties reach QEMU's -device: a bogus one makes QEMU refuse to start.
vm bad-prop --nic e1000,no-such-prop=on --workload idle
expect_eq "bad-prop: exit status (QEMU exited without a result)" "$VM_RC" 4
error_matches bad-prop "no-such-prop"
expect_le "bad-prop: quick (s)" "$VM_SECS" 10

vm unknown --workload no-such-load
expect_eq "unknown workload: exit status (guest error)" "$VM_RC" 1
error_matches unknown "unknown workload 'no-such-load'"
expect_eq "unknown workload: the guest's exit reached QEMU's status" "$(jq -r .qemu_exit "$J")" 3
expect_le "unknown workload: quick (s)" "$VM_SECS" 40

vm attach-dies --workload idle --attach 'exit 7'
expect_eq "attach-dies: exit status" "$VM_RC" 5
error_matches attach-dies "attach command exited \\(status 7\\)"
expect_eq "attach-dies: attach exit reported" "$(jq -r .attach.exit "$J")" 7

# The attach command never signals ready: the run must end at --timeout.
vm timeout --workload idle --timeout 15 --watchdog 100 --attach 'sleep 1000'
expect_eq "timeout: exit status" "$VM_RC" 3
error_matches timeout "timeout"
expect_ge "timeout: not before --timeout (s)" "$VM_SECS" 14
expect_le "timeout: not long after --timeout (s)" "$VM_SECS" 25

# The host never releases the guest: the guest's watchdog reports and powers off.
vm watchdog --workload idle --timeout 60 --watchdog 10 --attach 'sleep 1000'
expect_eq "watchdog: exit status (guest error)" "$VM_RC" 1
error_matches watchdog "guest watchdog"
expect_eq "watchdog: phase" "$(jq -r .phase "$J")" hold
expect_le "watchdog: ended by the guest, well before --timeout (s)" "$VM_SECS" 45
