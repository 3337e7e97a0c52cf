#!/bin/bash
# The benchmarks cannot rot or disagree: their drivers build, and bench/RESULTS.md and README's
# benchmark section are what the last run's figures (bench/results.env) make of their
# templates (bench/report.sh --check). Nothing is run or timed here.
set -u
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if bench/build.sh "$tmp"; then
	echo "ok: the bench drivers build (bench/wfb_apply.c, bench/wfb_net.c)"
	passed=$((passed + 1))
else
	echo "FAIL: the bench drivers do not build"
	failed=$((failed + 1))
fi
if bash -n bench/run.sh && bash -n bench/lab_bench.sh && bash -n bench/programming.sh &&
	bash -n bench/packet.sh && bash -n bench/report.sh; then
	echo "ok: the bench scripts parse"
	passed=$((passed + 1))
else
	echo "FAIL: a bench script does not parse"
	failed=$((failed + 1))
fi
out=$(bench/report.sh --check)
rc=$?
echo "$out"
ok=$(grep -c '^ok:' <<<"$out")
passed=$((passed + ok))
failed=$((failed + $(grep -c '^FAIL' <<<"$out")))
[ "$rc" -ne 0 ] && [ "$ok" -eq 2 ] && failed=$((failed + 1))
echo "bench: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
