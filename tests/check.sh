#!/bin/bash
# make check: every suite in turn, then one line with the totals.
set -u
cd "$(dirname "$0")/.."
total_passed=0
total_failed=0
total_skipped=0
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
		case "$line" in
		*skipped*) total_skipped=$((total_skipped + $(echo "$line" | sed -E 's/.* ([0-9]+) skipped.*/\1/'))) ;;
		esac
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
run_suite tests/check-hardening.sh
run_suite tests/check-manpages.sh
run_suite tests/check-packaging.sh
run_suite tests/check-bench.sh
run_suite make --no-print-directory -j"$(nproc)" check-san
# Every parser of outside input, fuzzed for a short fixed budget (longer runs: make fuzz).
run_suite make --no-print-directory -j"$(nproc)" fuzz FUZZ_SECONDS="${CHECK_FUZZ_SECONDS:-20}"
# A new user's first commands: install-deps on a throwaway Debian root, genkey, this gate.
run_suite tests/check-setup.sh
if [ "$(id -u)" -eq 0 ]; then
	run_suite make --no-print-directory check-kernel
	# The gateway's unit under a real systemd as PID 1 (systemd-nspawn).
	run_suite tests/check-systemd.sh
	run_suite make --no-print-directory check-e2e
	# Each safeguard removed in turn: a test must fail.
	run_suite make --no-print-directory check-mutants
	# The demo once, with the machine's own network state compared before and after.
	run_suite tests/check-host.sh
else
	# A run that could not test the kernel parts must not read as a clean one.
	echo "check: the kernel, end-to-end and host suites need root (network namespaces," \
		"nftables, Docker) and were not run: counted as 1 failed; run \`sudo make check'"
	total_failed=$((total_failed + 1))
fi
echo "check: $total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" -eq 0 ]
