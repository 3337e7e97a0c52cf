#!/bin/bash
# The Docker client alone against the lab's real engine: every container change it must
# report, and a resync after the engine is killed and started again with a container gone.
. "$(dirname "$0")/lib.sh"

live() {
	WF_DOCKER_HOST="$LAB_DOCKER_HOST" WF_DOCKER_IMAGE="$LAB_IMAGE" \
		WF_DOCKER_CLI="$LAB_DOCKER_CLI" \
		WF_DOCKER_RESTART_CMD="$LAB docker-stop && $LAB docker-start" \
		CMOCKA_MESSAGE_OUTPUT=stdout "$HELPERS/test_docker_live"
}
out=$(live 2>&1)
rc=$?
while read -r line; do
	case "$line" in
	"[       OK ] "*) _e2e_record 1 "docker client: ${line#\[       OK \] }" ;;
	"[  FAILED  ] "*test*) ;;
	"[  FAILED  ] "*) _e2e_record 0 "docker client: ${line#\[  FAILED  \] }" "$out" ;;
	# The lab gives the test everything it needs: a skipped test is a failed one here.
	"[  SKIPPED ] "*test*) ;;
	"[  SKIPPED ] "*) _e2e_record 0 "docker client: ${line#\[  SKIPPED \] } (skipped)" "$out" ;;
	esac
done <<<"$out"
check_eq "the live Docker client test ran whole" 0 echo "$rc"
