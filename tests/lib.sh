# Shared helpers for tests/t-*.sh.  Source it first thing.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$TOP/build"
QEMU="$BUILD/bin/qemu-system-x86_64"
VEXITPROF="$BUILD/bin/vexitprof"
T_TMP=$(mktemp -d /tmp/vexit-test.XXXXXX)
T_CHECKS=0
_t_cleanups=()

# at_exit CMD: run CMD (eval'd) when the test ends, last registered first.
at_exit() { _t_cleanups+=("$1"); }
_t_exit() {
	local rc=$? i
	for ((i = ${#_t_cleanups[@]} - 1; i >= 0; i--)); do eval "${_t_cleanups[$i]}" || true; done
	rm -rf "$T_TMP"
	if [ $rc -eq 0 ]; then echo "ok: $T_CHECKS checks"; fi
	exit $rc
}
# Exit status that tests/run.sh counts as "skipped" (as automake does).
T_SKIP_RC=77
trap _t_exit EXIT
trap 'exit 130' INT TERM

die() { echo "FAIL: $*" >&2; exit 1; }
# skip REASON: this test cannot run on this machine.  tests/run.sh counts it
# as skipped (never as passed) and prints REASON.  Call it before any check
# whose failure it would otherwise hide: checks already made stay made.
skip() { echo "SKIP: $*"; exit $T_SKIP_RC; }

# kvm_missing: empty when /dev/kvm exists and a VM can be created on it,
# else why not (ENVIRONMENT.md: the kvm module can be loaded with no kvm
# misc device registered, and a hand-made node then fails with ENODEV).
kvm_missing() {
	[ -e /dev/kvm ] || { echo "no /dev/kvm on this machine"; return; }
	/usr/bin/python3 - <<'PY' 2>&1 || true
import fcntl, os, sys
try:
    fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
except OSError as e:
    sys.exit(f"/dev/kvm does not open: {e.strerror}")
try:
    vm = fcntl.ioctl(fd, 0xAE01, 0)  # KVM_CREATE_VM
    os.close(vm)
except OSError as e:
    sys.exit(f"KVM_CREATE_VM fails on /dev/kvm: {e.strerror}")
PY
}
have_kvm() { [ -z "$(kvm_missing)" ]; }
# need_kvm WHAT: skip the test unless -accel kvm can run (WHAT says why it
# needs it).
need_kvm() {
	local why
	why=$(kvm_missing)
	[ -z "$why" ] || skip "$1 needs -accel kvm: $why"
}
# bm_accel: the accelerator for bare-metal guest runs whose subject is not
# KVM itself: kvm where it runs, else tcg.
bm_accel() { if have_kvm; then echo kvm; else echo tcg; fi; }
ok() { T_CHECKS=$((T_CHECKS + 1)); echo "  ok: $*"; }
# check DESC CMD...: run CMD, fail the test with DESC if it fails.
check() { local d=$1; shift; if "$@"; then ok "$d"; else die "$d"; fi; }
# expect_eq DESC GOT WANT
expect_eq() { [ "$2" == "$3" ] && ok "$1 ($2)" || die "$1: got '$2', want '$3'"; }
# expect_ge DESC GOT MIN (numbers, may be floats)
expect_ge() { awk -v g="$2" -v m="$3" 'BEGIN{exit !(g+0 >= m+0)}' && ok "$1 ($2 >= $3)" || die "$1: $2 < $3"; }
expect_le() { awk -v g="$2" -v m="$3" 'BEGIN{exit !(g+0 <= m+0)}' && ok "$1 ($2 <= $3)" || die "$1: $2 > $3"; }

# write_attach NAME PROGRAM: an --attach command that runs bpftrace with
# PROGRAM ($QEMU_PID substituted at run time), records which binary
# QEMU_PID is, and signals readiness once bpftrace's BEGIN probe has run.
write_attach() {
	cat >"$T_TMP/$1.sh" <<EOF
readlink -f /proc/\$QEMU_PID/exe >"$T_TMP/$1.exe"
prog=\$(sed "s/QEMU_PID/\$QEMU_PID/g" <<'PROG'
BEGIN { printf("READY\n"); }
$2
PROG
)
bpftrace -e "\$prog" >"$T_TMP/$1.bt" 2>"$T_TMP/$1.err" &
bp=\$!
until grep -q READY "$T_TMP/$1.bt"; do
	kill -0 \$bp 2>/dev/null || exit 1
	sleep 0.1
done
touch "\$VEXIT_READY_FILE"
# The runner ends us with SIGINT (to the group); pass it on and give
# bpftrace time to print its maps even on a busy machine.
trap 'kill -INT \$bp 2>/dev/null' INT
while kill -0 \$bp 2>/dev/null; do wait \$bp; done
EOF
}

# start_exec BINARY ARGS...: run BINARY in the background (killed at exit)
# and set QPID once the child has exec'd it (until then /proc/PID/exe is bash).
start_exec() {
	"$@" &
	QPID=$!
	at_exit "kill $QPID 2>/dev/null || true"
	for _ in $(seq 50); do
		[ "$(readlink /proc/$QPID/exe 2>/dev/null)" = "$(readlink -f "$1")" ] && break
		sleep 0.1
	done
}
