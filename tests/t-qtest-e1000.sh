#!/usr/bin/env bash
# Deterministic e1000 device tests over QEMU's qtest protocol
# (tests/qtest/test_*.py, run by pytest): TX/RX rings, write-backs, ICR and
# the INTx line, and hostile ring setups (QEMU must neither crash, hang nor
# spin).
#
# The suite runs once for the upstream device (no extra properties) and then
# once per e1000-opt stage set -- x-coalesce, x-shadow-regs, x-sidecore, and
# all three together.  A set with a property this QEMU binary does not know
# (`-device e1000,help`) fails the test before anything runs: a binary
# built without the stage patches must not pass as if it had them.
# QTEST_E1000_SETS="props;props;..." replaces the stage sets (e.g.
# "x-shadow-regs=on;x-shadow-regs=on,x-sidecore=on").
#
# Upstream's departures from the SDM (DEVIATION lines) are accepted for the
# upstream run; with stage properties only if the same test without them
# shows the same (tests/qtest/harness.py judge_deviations, called for every
# test by conftest.py), or if the stage documents them (STAGE_DEVIATIONS).
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
SUITE="$TOP/tests/qtest"
check "qemu binary present" test -x "$QEMU"
check "python3 present" test -x "$PY"
check "pytest present (python3-pytest)" "$PY" -c "import pytest"

# `-device e1000,help` needs no machine; retry once in case the lead is
# replacing the binary under us.
props_help=$("$QEMU" -device e1000,help 2>&1) || { sleep 5; props_help=$("$QEMU" -device e1000,help 2>&1); } ||
	die "qemu -device e1000,help failed: $props_help"
knows() { grep -q "^ *$1=" <<<"$props_help"; }

if [ -n "${QTEST_E1000_SETS:-}" ]; then
	IFS=';' read -r -a stage_sets <<<"$QTEST_E1000_SETS"
else
	stage_sets=(x-coalesce=on x-shadow-regs=on x-sidecore=on
		x-coalesce=on,x-shadow-regs=on,x-sidecore=on)
fi

sets=("")
unknown=()
for s in "${stage_sets[@]}"; do
	IFS=',' read -r -a kv <<<"$s"
	for p in "${kv[@]}"; do
		knows "${p%%=*}" || unknown+=("'${p%%=*}' (set '$s')")
	done
	sets+=("$s")
done
[ ${#unknown[@]} -eq 0 ] ||
	die "$QEMU does not know e1000 properties: ${unknown[*]}; build it with qemu-patches/ (make qemu) or fix QTEST_E1000_SETS"
ok "QEMU knows every property of the ${#stage_sets[@]} stage sets"

ran=()
failed=()
summary=()
for s in "${sets[@]}"; do
	label=${s:-upstream}
	echo "== e1000 qtest suite, props: $label"
	start=$(date +%s.%N)
	out="$T_TMP/suite.out"
	rc=0
	# pipefail: rc is pytest's status (0 only if every collected test
	# passed; 5 if none was collected).  Sockets and logs go to $T_TMP; -B:
	# no __pycache__ in the source tree.
	TMPDIR="$T_TMP" "$PY" -B -m pytest -q -rf "$SUITE" --qemu "$QEMU" --props "$s" 2>&1 | tee "$out" || rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
	ran+=("$label")
	if [ "$rc" -eq 0 ]; then
		ok "qtest suite passes with props: $label (${secs}s)"
		summary+=("PASS $label (${secs}s)")
	else
		failed+=("$label")
		summary+=("FAIL $label (${secs}s): $(sed -n 's/^failed: //p' "$out")")
	fi
done

echo "property sets run: ${ran[*]}"
printf '  %s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || die "qtest suite fails with props: ${failed[*]}"
