#!/bin/bash
# wgfwd under load: labelled containers started and stopped in waves of 50, and the control
# channel torn down from either end again and again. At the end every forward is right, both
# daemons' memory and descriptors are where they were after the first round, nothing was
# logged as an error, and the TCP stream and UDP flow through the gateway never noticed.
#
# make check: 3 waves (150 containers), 20 control-channel cycles.
# SOAK=1:     20 waves (1,000 containers), 200 cycles; a hand run of about 15 minutes:
#             SOAK=1 E2E_TIMEOUT=3600 tests/e2e/run.sh test_load
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"
. "$(dirname "$0")/robust.sh"

WAVES=$(soak 3 20)
PER_WAVE=50
CYCLES=$(soak 20 200)
PARALLEL=4

robust_setup
check "a TCP stream and a UDP flow run through the gateway" flows_start
logs_mark
lost_before=$(udp_lost)

# Each container of a wave forwards one TCP and one UDP port.
wave_up() {
	local w=$1
	seq 1 $PER_WAVE |
		awk -v w="$w" -v img="$LAB_IMAGE" '{print "load-" w "-" $1, 20000 + w * 100 + $1, 40000 + w * 100 + $1, img}' |
		xargs -P $PARALLEL -L 1 sh -c 'DOCKER_HOST="$0" "$1" run -d --name "$2" --label "wgfwd.ports=$3,$4/udp" "$5" sleep 3600 >/dev/null' \
			"$LAB_DOCKER_HOST" "$LAB_DOCKER_CLI"
}

wave_down() {
	# shellcheck disable=SC2046
	ldocker ps -aq --filter "name=load-$1-" |
		DOCKER_HOST=$LAB_DOCKER_HOST xargs -r -n 10 -P $PARALLEL "$LAB_DOCKER_CLI" rm -f >/dev/null
}

forwards_count() {
	nft_map gw wgfwd_gateway fwd4 | grep -c .
}

wrong=()
rss_agent=()
rss_gateway=()
fds_agent=()
fds_gateway=()
for ((w = 1; w <= WAVES; w++)); do
	wave_up "$w"
	out=$(wait_until 30 forwards_correct) || wrong+=("wave $w up: $out")
	up_count=$(forwards_count)
	wave_down "$w"
	out=$(wait_until 30 forwards_correct) || wrong+=("wave $w down: $out")
	rss_agent+=("$(rss "$(agent_pid)")")
	rss_gateway+=("$(rss "$(gateway_pid)")")
	fds_agent+=("$(fds "$(agent_pid)")")
	fds_gateway+=("$(fds "$(gateway_pid)")")
	echo "      wave $w: $up_count forwards at the top; after it: agent ${rss_agent[-1]} kB" \
		"${fds_agent[-1]} fds, gateway ${rss_gateway[-1]} kB ${fds_gateway[-1]} fds"
done
check "$((WAVES * PER_WAVE)) containers in $WAVES waves: every forward right at the top and bottom of each" \
	test ${#wrong[@]} -eq 0
[ ${#wrong[@]} -eq 0 ] || printf '      %s\n' "${wrong[@]}" | head -n 40
check_eq "all $((WAVES * PER_WAVE * 2)) forwards are gone again (the stream's and the flow's stay)" \
	2 forwards_count

# Memory is compared from the end of the first wave (allocators keep what they grew into once).
flat() {
	local first=$1 last=$2 slack=$3
	[ "$last" -le $((first + slack)) ]
}
check "the agent's memory is flat across waves (${rss_agent[*]} kB)" \
	flat "${rss_agent[0]}" "${rss_agent[-1]}" 1024
check "the gateway's memory is flat across waves (${rss_gateway[*]} kB)" \
	flat "${rss_gateway[0]}" "${rss_gateway[-1]}" 512
check "the agent's descriptors are flat across waves (${fds_agent[*]})" \
	flat "${fds_agent[0]}" "${fds_agent[-1]}" 2
check "the gateway's descriptors are flat across waves (${fds_gateway[*]})" \
	flat "${fds_gateway[0]}" "${fds_gateway[-1]}" 1
check "the TCP stream flowed through the waves" stream_flowing
check_eq "the UDP flow lost nothing through the waves" "$lost_before" udp_lost
check_eq "neither daemon logged an error" "" log_errors

# ---- the control channel, torn down again and again ----
# Odd cycles abort the gateway's socket, even ones the agent's (ss -K: the kernel resets the
# connection as if the other end had gone). Each time the agent must reconnect and the
# gateway must free what the old connection held.
gateway_remote() {
	gateway_status --json | jq -r '.peers[0] | select(.connected) | .remote'
}
reconnected_from_new_port() {
	local now
	now=$(gateway_remote)
	[ -n "$now" ] && [ "$now" != "$1" ] && [ "$(agent_jq .gateway.connected)" = true ]
}
gw=$(gateway_pid)
rss0=$(rss "$gw")
fds0=$(fds "$gw")
failed=()
for ((c = 1; c <= CYCLES; c++)); do
	before=$(gateway_remote)
	if [ $((c % 2)) = 1 ]; then
		on gw ss -K state established "( sport = :51821 )" >/dev/null 2>&1
	else
		on srv ss -K state established "( dport = :51821 )" >/dev/null 2>&1
	fi
	wait_until 10 reconnected_from_new_port "$before" >/dev/null || failed+=("cycle $c")
	# The first cycle's allocations are not a leak: measure from there.
	if [ "$c" = 1 ]; then
		rss0=$(rss "$gw")
		fds0=$(fds "$gw")
	fi
done
rss1=$(rss "$gw")
fds1=$(fds "$gw")
echo "      gateway after $CYCLES control-channel cycles: VmRSS $rss0 -> $rss1 kB, fds $fds0 -> $fds1"
check_eq "the agent reconnected after each of $CYCLES connection kills" "" printf '%s\n' "${failed[@]}"
check_eq "the gateway is the same process" "$gw" gateway_pid
check "the gateway's descriptors did not grow ($fds0 -> $fds1)" test "$fds1" -le "$fds0"
check "the gateway's memory did not grow ($rss0 -> $rss1 kB)" flat "$rss0" "$rss1" 256
check_eq "one connection per peer on the gateway" 1 \
	sh -c "$LAB exec gw ss -Htn state established '( sport = :51821 )' | wc -l"
check "every forward is right after the cycles" within 1 forwards_correct
check "the stream never noticed" stream_flowing
check_eq "the UDP flow lost nothing" "$lost_before" udp_lost
