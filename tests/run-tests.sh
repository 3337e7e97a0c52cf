#!/bin/bash
# Runs cmocka test executables and ends with one summary line:  <suite>: N passed, N failed
# Counts come from cmocka's own [ PASSED ] / [ FAILED ] lines; a binary that dies without
# them (a sanitizer abort, a crash) counts as one failed test.
set -u
suite=$1
shift
passed=0
failed=0
failed_names=()
for t in "$@"; do
	name=$(basename "$t")
	echo "=== $suite: $name"
	out=$(mktemp)
	CMOCKA_MESSAGE_OUTPUT=stdout "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	rm -f "$out"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -gt 0 ] && failed_names+=("$name")
done
[ ${#failed_names[@]} -gt 0 ] && echo "$suite failures in: ${failed_names[*]}"
echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
