#!/bin/bash
# make check: every suite in turn, then one line with the totals.
set -u
cd "$(dirname "$0")/.."
total_passed=0
total_failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_suite() {
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		total_passed=$((total_passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
		total_failed=$((total_failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
	fi
	if [ "$rc" -ne 0 ] && [ -z "$line" ]; then
		total_failed=$((total_failed + 1))
	fi
}

if ! make -j"$(nproc)" --no-print-directory all tests; then
	echo "build failed"
	echo "check: 0 passed, 1 failed"
	exit 1
fi
run_suite make --no-print-directory check-unit
run_suite tests/check-manpages.sh
run_suite tests/check-packaging.sh
run_suite make --no-print-directory -j"$(nproc)" check-san
# Every parser of outside input, fuzzed for a short fixed budget (longer runs: make fuzz).
run_suite make --no-print-directory -j"$(nproc)" fuzz FUZZ_SECONDS="${CHECK_FUZZ_SECONDS:-20}"
if [ "$(id -u)" -eq 0 ]; then
	run_suite make --no-print-directory check-kernel
	run_suite make --no-print-directory check-e2e
else
	echo "kernel and end-to-end suites need root: skipped"
fi
echo "check: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
