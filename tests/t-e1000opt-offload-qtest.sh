#!/usr/bin/env bash
# e1000-opt stage 4 (x-offload) under AddressSanitizer: the whole qtest
# suite (tests/qtest, including test_offload.py's hostile context and data
# descriptors: HDRLEN beyond the frame, MSS 0 and beyond the payload,
# TUCSO/TUCSS/IPCSO beyond the frame, PAYLEN beyond 64 KiB, TSO on UDP,
# IPv4 options, a TSO packet without EOP, truncated RX headers) with
# x-offload=on, on the ASAN build.  No crash, no out-of-bounds access (an
# ASAN report in QEMU's log fails the test, tests/qtest/harness.py), no
# spin (each hostile test ends with alive_and_idle).
# The suite's backend is a stream netdev: no vnet header, so TX takes the
# software path and the GSO passthrough is not reached here;
# tests/t-e1000opt-offload.sh covers it with a guest on a tap.
source "$(dirname "$0")/lib.sh"
QASAN=$BUILD/bin/qemu-system-x86_64-asan
check "ASAN QEMU built (make qemu-asan)" test -x "$QASAN"
"$QASAN" -device e1000,help 2>/dev/null | grep -q 'x-offload=' || die "$QASAN has no x-offload property (make qemu-asan)"
check "the suite has the offload tests" test -f "$TOP/tests/qtest/test_offload.py"
export ASAN_OPTIONS=detect_leaks=0
out=$T_TMP/suite.out
rc=0
TMPDIR="$T_TMP" /usr/bin/python3 -B -m pytest -q -rf "$TOP/tests/qtest" --qemu "$QASAN" --props x-offload=on 2>&1 | tee "$out" || rc=$?
[ $rc -eq 0 ] || die "qtest suite with x-offload=on under ASAN failed (pytest exit $rc)"
n=$(grep -c '^ok   test_' "$out" || true)
expect_ge "tests passed" "$n" 50
check "the offload tests ran" grep -q '^ok   test_h_offload_tso_no_eop' "$out"

# Migration: the offload subsection is sent only when needed.  The stream
# of a VM that never ran (-S, fixed RTC) has the same e1000 section --
# description (fields, subsections) and saved state -- with x-offload=on,
# alone and with all four stages, as upstream's (normal build).
ANALYZE=$BUILD/qemu/src/scripts/analyze-migration.py
check "analyze-migration.py present" test -f "$ANALYZE"
e1000_section() { # STREAM: description and state of the e1000 section
	/usr/bin/python3 "$ANALYZE" -d desc -f "$1" | jq -S '.devices[] | select(.name | endswith("/e1000")) | del(.instance_id)'
	/usr/bin/python3 "$ANALYZE" -d state -f "$1" | jq -S 'to_entries[] | select(.key | test("/e1000 \\(")) | .value'
}
for v in stock on all; do
	case $v in
	stock) d=e1000 ;;
	on) d=e1000,x-offload=on ;;
	all) d=e1000,x-offload=on,x-coalesce=on,x-shadow-regs=on,x-sidecore=on ;;
	esac
	# Asks for the migration's status for up to 10 s, then quits.
	{
		printf '%s\n' '{"execute":"qmp_capabilities"}' \
			"{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:$T_TMP/$v.mig\"}}"
		for ((i = 0; i < 20; i++)); do
			sleep 0.5
			echo '{"execute":"query-migrate"}'
		done
		echo '{"execute":"quit"}'
	} | timeout 60 "$QEMU" -L /usr/share/qemu -L /usr/share/seabios \
		-L /usr/lib/ipxe/qemu -nodefaults -display none -accel tcg -m 128 -rtc base=2020-01-01,clock=vm -S \
		-netdev user,id=n0 -device "$d,netdev=n0" -qmp stdio >"$T_TMP/$v.qmp" 2>&1 || true
	check "$v: migration completed" grep -q '"status": "completed"' "$T_TMP/$v.qmp"
	e1000_section "$T_TMP/$v.mig" >"$T_TMP/$v.e1000"
	check "$v: e1000 section found" grep -q '"name"' "$T_TMP/$v.e1000"
done
check "x-offload=on: e1000 section identical to upstream's" cmp -s "$T_TMP/stock.e1000" "$T_TMP/on.e1000"
check "all four stages: e1000 section identical to upstream's" cmp -s "$T_TMP/stock.e1000" "$T_TMP/all.e1000"
