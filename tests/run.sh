#!/usr/bin/env bash
# Runs every tests/t-*.sh (or those matching $1), one log each under
# build/tests/, and ends with the line "N passed, N failed".
# A test passes when it exits 0; anything else is a failure.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
LOGS="$TOP/build/tests"
mkdir -p "$LOGS"
pat=${1:-}
pass=0
fail=0
failed=()
for t in "$TOP"/tests/t-*.sh; do
	name=$(basename "$t" .sh)
	[ -n "$pat" ] && [[ "$name" != *$pat* ]] && continue
	start=$(date +%s)
	if timeout --kill-after=10 "${TEST_TIMEOUT:-900}" bash "$t" >"$LOGS/$name.log" 2>&1; then
		pass=$((pass + 1))
		printf 'PASS %-40s %4ss\n' "$name" $(($(date +%s) - start))
	else
		rc=$?
		fail=$((fail + 1))
		failed+=("$name")
		printf 'FAIL %-40s %4ss (exit %d)\n' "$name" $(($(date +%s) - start)) "$rc"
		sed 's/^/    | /' "$LOGS/$name.log" | tail -25
	fi
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
