#!/bin/bash
# wgfwd under load: labelled containers started and stopped in waves of 50, and the control
# channel torn down from either end again and again. At the end every forward is right, both
# daemons' memory and descriptors are where they were after the first round, nothing was
# logged as an error, and the TCP stream and UDP flow through the gateway never noticed.
#
# Then one container with 10,000 ports over IPv4 and IPv6 (20,000 gateway entries, one state
# message) reaches the gateway, and one with more forwards than a state holds is refused by
# the agent in words while the gateway keeps what it has.
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
want=$(maps_want)
fault_mark "control-channel cycles, from the checks after them"
check "the maps are right after the cycles" within 1 maps_are "$want"
check "every forward is right after the cycles" forwards_correct
check "the stream never noticed" stream_flowing
check_eq "the UDP flow lost nothing" "$lost_before" udp_lost

# ---- one container with 10,000 ports, over IPv4 and IPv6: 20,000 entries in one state ----
# (a wgfwd.ports entry expands to at most 1,024 ports: ten ranges of 1,000)
port_ranges() { # FIRST COUNT: ranges of at most 1,000 ports covering FIRST..FIRST+COUNT-1
	local first=$1 left=$2 n out=""
	while [ "$left" -gt 0 ]; do
		n=$((left < 1000 ? left : 1000))
		out="$out${out:+,}$first-$((first + n - 1))"
		first=$((first + n))
		left=$((left - n))
	done
	echo "$out"
}
# "N4 N6": forwards of FIRST..LAST in the gateway's IPv4 and IPv6 maps
gateway_range() {
	local n4 n6
	n4=$(nft_map gw wgfwd_gateway fwd4 | awk -v lo="$1" -v hi="$2" '$2 >= lo && $2 <= hi' | grep -c .)
	n6=$(nft_map gw wgfwd_gateway fwd6 | awk -v lo="$1" -v hi="$2" '$2 >= lo && $2 <= hi' | grep -c .)
	echo "$n4 $n6"
}
agent_range_states() { # the states the agent shows for FIRST..LAST, counted
	agent_jq "[.forwards[] | select(.public_port >= $1 and .public_port <= $2) | .state] |
		group_by(.) | map(\"\\(length) \\(.[0])\") | join(\", \")"
}

logs_mark
t0=$(_now_us)
ldocker run -d --name load-big --label "wgfwd.ports=$(port_ranges 30000 10000)" "$LAB_IMAGE" \
	sleep 3600 >/dev/null
check_eq "one container with 10,000 ports: all 20,000 forwards (IPv4 and IPv6) reach the gateway" \
	"10000 10000" wait_until 60 output_is "10000 10000" gateway_range 30000 39999
echo "      from docker run to the gateway holding them: $((($(_now_us) - t0) / 1000)) ms"
check_eq "the agent shows every one of them applied" "10000 applied" \
	wait_until 10 output_is "10000 applied" agent_range_states 30000 39999
check "the gateway got all of them in one message (a state, or a delta on the one before)" \
	grep -qE 'state [0-9]+: 2000[0-9] of 2000[0-9] forwards|delta [0-9]+ on [0-9]+: 20000 forwards and 0 egress entries added' \
	"$LAB_RUN/bg/gateway.log"
check_eq "neither daemon logged an error" "" log_errors
ldocker rm -f load-big >/dev/null
check_eq "and they are gone again" "0 0" wait_until 60 output_is "0 0" gateway_range 30000 39999

# ---- more forwards than a state holds: 16,385 ports over two families, 32,770 forwards ----
ldocker run -d --name load-huge --label "wgfwd.ports=$(port_ranges 20000 16385)" "$LAB_IMAGE" \
	sleep 3600 >/dev/null
check_match "a state beyond the limit is not sent, and the agent's status says why" \
	"cannot be sent: forwards: more than 32768 entries" \
	wait_until 60 output_matches "cannot be sent" agent_jq '.gateway.state_error // ""'
check_eq "its forwards show as not sent to the gateway" "16385 not sent to the gateway" \
	agent_range_states 20000 36384
check_match "the agent logged it as an error" "error: gateway .*cannot be sent: forwards: more than 32768" \
	log_errors
check_match "wgfwd status says it" "NOT SENT: state generation [0-9]+ \\([0-9]+ forwards" agent_status
check_eq "the gateway keeps the last state it got" "0 0" gateway_range 20000 36384
check "and still forwards the stream" stream_flowing
ldocker rm -f load-huge >/dev/null
check_eq "with the container gone the next state is sent" "" \
	wait_until 60 output_is "" agent_jq '.gateway.state_error // ""'
check "and every forward is right" wait_until 30 forwards_correct
