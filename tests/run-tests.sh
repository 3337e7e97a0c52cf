#!/bin/bash
# Runs cmocka test executables and ends with one summary line:
#   <suite>: N passed, N failed, N skipped
# Counts come from cmocka's own [ PASSED ] / [ FAILED ] / [ SKIPPED ] lines; a binary that dies
# without them (a sanitizer abort, a crash) or runs past TEST_TIMEOUT seconds (default 300)
# counts as one failed test. Skipped tests are listed by name.
set -u
suite=$1
shift
timeout_s=${TEST_TIMEOUT:-300}
passed=0
failed=0
skipped=0
failed_names=()
skipped_names=()
for t in "$@"; do
	name=$(basename "$t")
	echo "=== $suite: $name"
	out=$(mktemp)
	CMOCKA_MESSAGE_OUTPUT=stdout timeout -k 10 "$timeout_s" "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
	while read -r skip_name; do
		skipped_names+=("$name: $skip_name")
	done < <(sed -n 's/^\[  SKIPPED \] \([^0-9 ][^ ]*\)$/\1/p' "$out" | sort -u)
	rm -f "$out"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "$suite: $name did not finish within $timeout_s s"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	[ "$f" -gt 0 ] && failed_names+=("$name")
done
[ ${#failed_names[@]} -gt 0 ] && echo "$suite failures in: ${failed_names[*]}"
for n in "${skipped_names[@]}"; do
	echo "$suite skipped: $n"
done
echo "$suite: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
