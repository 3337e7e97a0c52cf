#!/bin/sh
# What a user gets before running anything: the release tarball, `make install`, and README's
# configuration examples. One line per check, then the totals.
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
for t in tests/check-dist.sh tests/check-install.sh tests/check-readme-config.sh; do
	[ -x "$t" ] || continue
	if "$t"; then
		passed=$((passed + 1))
	else
		echo "packaging: $t failed"
		failed=$((failed + 1))
	fi
done
echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
