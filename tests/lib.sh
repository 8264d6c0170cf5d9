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
trap _t_exit EXIT
trap 'exit 130' INT TERM

die() { echo "FAIL: $*" >&2; exit 1; }
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
