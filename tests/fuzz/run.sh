#!/bin/bash
# Runs every libFuzzer harness in build-fuzz/tests for a fixed budget, starting from the
# committed seed corpus (tests/fuzz/corpus/<name>/) copied to a scratch directory so new
# inputs never land in the tree. A crash leaves its input in build-fuzz/crashes/<name>/:
# turn it into a unit test.
#   tests/fuzz/run.sh [SECONDS]
set -u
cd "$(dirname "$0")/../.."
seconds=${1:-30}
passed=0
failed=0
for bin in build-fuzz/tests/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	work=$(mktemp -d)
	crashes=build-fuzz/crashes/$name
	mkdir -p "$crashes"
	[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
	echo "=== fuzz: $name for ${seconds}s"
	if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$crashes/" -print_final_stats=1 "$work" >"$work.log" 2>&1; then
		passed=$((passed + 1))
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work.log" | sed 's/^/  /'
	else
		failed=$((failed + 1))
		tail -n 40 "$work.log"
		echo "  crash input kept in $crashes/"
	fi
	rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
