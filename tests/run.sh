#!/usr/bin/env bash
# Runs every tests/t-*.sh (or those matching $1), one log each under
# build/tests/, and ends with the line "N passed, N failed, N skipped".
# A test passes when it exits 0 and is skipped when it exits 77 (tests/lib.sh
# skip: it cannot run on this machine, e.g. no /dev/kvm); anything else is a
# failure.  A skip is never counted as a pass.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
LOGS="$TOP/build/tests"
mkdir -p "$LOGS"
pat=${1:-}
pass=0
fail=0
skipped=0
failed=()
skips=()
for t in "$TOP"/tests/t-*.sh; do
	name=$(basename "$t" .sh)
	[ -n "$pat" ] && [[ "$name" != *$pat* ]] && continue
	start=$(date +%s)
	rc=0
	timeout --kill-after=10 "${TEST_TIMEOUT:-900}" bash "$t" >"$LOGS/$name.log" 2>&1 || rc=$?
	took=$(($(date +%s) - start))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %-40s %4ss\n' "$name" "$took"
	elif [ $rc -eq 77 ] && grep -q '^SKIP: ' "$LOGS/$name.log"; then
		skipped=$((skipped + 1))
		why=$(sed -n 's/^SKIP: //p' "$LOGS/$name.log" | tail -1)
		skips+=("$name ($why)")
		printf 'SKIP %-40s %4ss %s\n' "$name" "$took" "$why"
	else
		fail=$((fail + 1))
		printf 'FAIL %-40s %4ss (exit %d)\n' "$name" "$took" "$rc"
		# The reason first: a log's tail may be cut where it is shown.
		why=$(grep -m1 '^FAIL: ' "$LOGS/$name.log")
		why=${why:-none printed (see the log below)}
		printf '    reason: %s\n' "$why"
		failed+=("$name: $why")
		sed 's/^/    | /' "$LOGS/$name.log" | tail -25
	fi
done
for f in "${failed[@]}"; do echo "failed: $f"; done
for s in "${skips[@]}"; do echo "skipped: $s"; done
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
