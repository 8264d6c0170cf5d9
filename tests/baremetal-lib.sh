# Helpers shared by the bare-metal guest tests (t-baremetal*.sh); source
# after tests/lib.sh.  (Not named t-*.sh: tests/run.sh does not run it.)
RUN=$TOP/scripts/run-baremetal
[ -x "$QEMU" ] || die "no QEMU at $QEMU (make qemu)"
make -s -C "$TOP" baremetal >/dev/null
QREAL=$(readlink -f "$QEMU")
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true

STATUS=300 ICR=500 TDT=1000 IMS=40 IMC=30 RDT=20 P80=50
PARAMS="status=$STATUS icr=$ICR tdt=$TDT ims=$IMS imc=$IMC rdt=$RDT p80=$P80"

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# bt_count FILE MAP KEY: the value bpftrace printed for @MAP[KEY], else 0.
bt_count() {
	awk -v k="@$2[$3]:" 'index($0, k) == 1 { v = $NF } END { print v + 0 }' "$1"
}
# bt_sum FILE MAP-REGEX KEY-REGEX: sum of @MAP[KEY] values matching both.
bt_sum() {
	awk -v mre="^@$2\\[" -v kre="$3" '$0 ~ mre {
		k = $0; sub(/^@[^[]*\[/, "", k); sub(/\]:.*/, "", k)
		if (k ~ kre) s += $NF } END { print s + 0 }' "$1"
}

# check_result ACCEL RESULT-LINE: the guest finished its accesses and found
# the e1000.  (The counts it prints are its own loop counters, echoes of the
# parameters; the tests compare the tracer's counts with the parameters.)
check_result() {
	local r=$2
	[[ "$r" == "VEXIT-RESULT ok "* ]] || die "$1: guest did not report ok: $r"
	expect_eq "$1: e1000 found" "$(field "$r" id)" 8086:100e
}

# Serial bytes as the host received them ("<stamp> <line>" per line) must be
# what the guest says it wrote, its own result line included.
check_serial_bytes() { # ACCEL LOG RESULT-LINE
	local got
	got=$(awk '{ n += length($0) - length($1) - 1 + 1 } END { print n + 0 }' "$2")
	expect_eq "$1: bytes on COM1 = com1_tx_all" "$got" "$(field "$3" com1_tx_all)"
}
