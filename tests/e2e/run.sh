#!/bin/bash
# End-to-end tests (make check-e2e): brings the lab up, runs tests/e2e/test_*.sh in order with
# a reset of the lab before each, takes the lab down, and ends with
#   e2e: N passed, N failed
#
#   tests/e2e/run.sh                   every scenario
#   tests/e2e/run.sh test_lab [...]    only scenarios whose names start with these
#   KEEP_LAB=1 tests/e2e/run.sh        leave the lab up afterwards (tests/lab/lab.sh down)
#   E2E_TIMEOUT=600                    seconds one scenario may take
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
LAB=$ROOT/tests/lab/lab.sh
# shellcheck source=tests/lab/topology.sh
. "$ROOT/tests/lab/topology.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: the lab needs root"
	echo "e2e: 0 passed, 1 failed"
	exit 1
fi

scripts=()
if [ $# -eq 0 ]; then
	scripts=(tests/e2e/test_*.sh)
else
	for want in "$@"; do
		want=$(basename "$want" .sh)
		want=test_${want#test_}
		found=0
		for t in tests/e2e/"$want"*.sh; do
			[ -e "$t" ] || continue
			scripts+=("$t")
			found=1
		done
		[ "$found" = 1 ] || echo "e2e: no scenario matches \`$want'"
	done
fi
if [ ${#scripts[@]} -eq 0 ]; then
	echo "e2e: 0 passed, 1 failed"
	exit 1
fi

# One lab per machine: concurrent runs wait for each other.
exec 8>"$LAB_LOCK"
if ! flock -n 8; then
	echo "e2e: waiting for another lab user ($LAB_LOCK)"
	flock -w 1800 8 || {
		echo "e2e: 0 passed, 1 failed"
		exit 1
	}
fi
export WF_LAB_LOCKED=1

E2E_RESULTS=$(mktemp)
export E2E_RESULTS
finished=0
final_status=1

finish() {
	local passed failed
	[ "$finished" = 1 ] && return "$final_status"
	finished=1
	if [ "${KEEP_LAB:-0}" = 1 ]; then
		echo "e2e: lab left up (tests/lab/lab.sh status / down)"
	else
		"$LAB" down >/dev/null
	fi
	passed=$(grep -c '^PASS' "$E2E_RESULTS")
	failed=$(grep -c '^FAIL' "$E2E_RESULTS")
	if [ "$failed" -gt 0 ]; then
		echo "e2e failures:"
		grep '^FAIL' "$E2E_RESULTS" | cut -f2- | sed 's/\t/: /; s/^/  /'
	fi
	rm -f "$E2E_RESULTS"
	echo "e2e: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && final_status=0
	return "$final_status"
}

interrupted() {
	printf 'FAIL\trun.sh\tinterrupted\n' >>"$E2E_RESULTS"
	finish
	exit 130
}
trap interrupted INT TERM
trap 'finish; exit $?' EXIT

# A machine's first dockerd or a loaded host can fail one set-up; a second one from nothing
# tells that apart from a lab that cannot come up here. The first failure is printed above.
if ! "$LAB" up; then
	echo "e2e: the lab did not come up; taking it down and trying once more"
	"$LAB" down >/dev/null
	if ! "$LAB" up; then
		printf 'FAIL\trun.sh\tlab up\n' >>"$E2E_RESULTS"
		exit 1
	fi
fi

for t in "${scripts[@]}"; do
	name=$(basename "$t" .sh)
	echo "=== e2e: $name"
	"$LAB" reset
	before=$(grep -c '^FAIL' "$E2E_RESULTS")
	timeout --foreground -k 10 "${E2E_TIMEOUT:-600}" bash "$t" 8>&-
	rc=$?
	# A scenario that ends on SIGINT or SIGTERM means Ctrl-C (bash does not always run the
	# trap when its child exits after handling the signal itself).
	if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
		interrupted
	fi
	after=$(grep -c '^FAIL' "$E2E_RESULTS")
	if [ "$rc" -ne 0 ] && [ "$after" -eq "$before" ]; then
		echo "FAIL  $name: stopped with exit status $rc"
		printf 'FAIL\t%s\tstopped with exit status %s\n' "$name" "$rc" >>"$E2E_RESULTS"
	fi
done
