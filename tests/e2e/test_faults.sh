#!/bin/bash
# wgfwd under faults: daemons killed again and again while containers come and go, Docker
# restarted, the tunnel flapped and its endpoint moved, the owned tables and rules removed by
# hand on both hosts, containers whose network comes after their start. Throughout, a TCP
# stream and a UDP flow from the internet go through the gateway to containers, and after
# each fault every forward must be right again (Docker, the agent's status, the server's and
# the gateway's maps agree) with nothing twice and nothing stale.
#
# What cannot survive, and is not asked to: a TCP connection whose container Docker stops (a
# Docker restart stops them all; the lab runs without live-restore), and datagrams sent while
# a path is down (counted and printed; the UDP flow itself must resume). A tunnel down for
# longer than TCP's retransmissions last (net.ipv4.tcp_retries2, about 15 minutes) or than the
# application's own timeout ends its connections too; the scenario holds it down for 1 s.
#
# Each repair is timed on the wall clock from its fault (robust.sh: fault_mark, within) to the
# moment a cheap probe read the kernel's state right, and the full comparison follows it; the
# times are listed at the end. A probe reads only what its fault touched, in one process on
# one host, and the full comparison follows it. Bounds: 1 s for what is removed by hand; 2 s
# from a reconnection (its mark is taken from a poll of the agent's status, at the latest
# moment known to be before it); 3 s where Docker changed, since what the maps should hold is
# asked of Docker after the fault (want_from_docker) and that answer's time counts too (4 s
# after the churn, whose egress rules are asked of Docker as well).
#
# SOAK=1 kills the agent 100 times instead of 10 and the gateway 20 times instead of 3 (a
# hand run: SOAK=1 E2E_TIMEOUT=3600 tests/e2e/run.sh test_faults).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"
. "$(dirname "$0")/robust.sh"

AGENT_KILLS=$(soak 10 100)
GATEWAY_KILLS=$(soak 3 20)
CHURN_STOP=$LAB_RUN/churn.stop

# Sets want to what the maps should hold for what Docker runs now, and names in the fault how
# long Docker took to say.
want_from_docker() { # [--egress]
	local t0
	t0=$(_now_us)
	want=$(maps_want "$@")
	_fault_name+=" (Docker answered in $((($(_now_us) - t0) / 1000)) ms)"
}
SRV_WG_PUB=$(cat "$LAB_SRV_WG_PUB")

on_exit rm -f "$CHURN_STOP"
on_exit touch "$CHURN_STOP"
on_exit on srv wg set "$LAB_SRV_WG_IF" listen-port "$LAB_WG_PORT"
on_exit on gw ip link set "$LAB_GW_WG_IF" up
on_exit "$LAB" docker-start
robust_setup
check "a TCP stream and a UDP flow run through the gateway" flows_start
check_match "the UDP flow's container sees the client's address" "^$LAB_CLIENT4 " \
	lab_udp_send client -t 3 "$LAB_GW_PUB4" "$LAB_UDP_PORT" hello
check "forwards agree before any fault" forwards_correct
check "nothing is doubled before any fault" no_duplicates

# Starts and stops labelled containers until $CHURN_STOP exists.
churn() {
	local i=0 name
	rm -f "$CHURN_STOP"
	while [ ! -e "$CHURN_STOP" ]; do
		i=$((i + 1))
		name=churn$((i % 3))
		ldocker rm -f "$name" >/dev/null 2>&1
		[ $((i % 4)) = 0 ] && continue
		ldocker run -d --name "$name" --label wgfwd.ports=$((7100 + i % 3)),$((7200 + i % 5))/udp \
			--label wgfwd.egress=smtp "$LAB_IMAGE" sleep 600 >/dev/null 2>&1
	done
}

churn_stop() {
	touch "$CHURN_STOP"
	wait "$churn_pid" 2>/dev/null
}

# ---- the agent, killed while containers churn ----
lost_before=$(udp_lost)
churn &
churn_pid=$!
stalls=()
for ((k = 1; k <= AGENT_KILLS; k++)); do
	agent_kill
	sleep "0.$((RANDOM % 4))"
	agent_start "${AGENT_ARGS[@]}" || stalls+=("kill $k: the agent did not come back")
	wait_until 5 stream_flowing >/dev/null || stalls+=("kill $k: $(stream_flowing)")
done
churn_stop
fault_mark "agent kills amid churn, from the last change"
want_from_docker --egress
check "after $AGENT_KILLS agent kills, the maps and the churned containers' egress rules are right within 4 s of the last change" \
	within 4 maps_are "$want" --egress
check_eq "the TCP stream flowed through $AGENT_KILLS agent kills amid container churn" "" \
	printf '%s\n' "${stalls[@]}"
check "every forward is correct" forwards_correct
check "and nothing is doubled" no_duplicates
check "the UDP flow kept flowing" udp_flowing
check_eq "and lost nothing while the agent was killed" "$lost_before" udp_lost

# ---- the gateway, killed ----
lost_before=$(udp_lost)
gateway_kill
check "with the gateway killed, the TCP stream flows" wait_until 3 stream_flowing
ldocker run -d --name while-gw-down --label wgfwd.ports=7300 "$LAB_IMAGE" sleep 600 >/dev/null
want=$(maps_want)
gateway_start
fault_mark_when "gateway killed, from the reconnection" 15 output_is true agent_jq .gateway.connected
check_eq "the agent reconnects to the restarted gateway" 0 echo $?
check "the maps are right within 2 s of the reconnection, the change made meanwhile included" \
	within 2 maps_are "$want"
check "every forward is correct" forwards_correct
check "the stream survived the gateway's kill" stream_flowing
check_eq "and the UDP flow lost nothing" "$lost_before" udp_lost
failed=()
for ((k = 1; k <= GATEWAY_KILLS; k++)); do
	gateway_kill
	# One container goes and another comes while the gateway is down.
	ldocker rm -f "while-gw-down-$((k - 1))" >/dev/null 2>&1
	ldocker run -d --name "while-gw-down-$k" --label wgfwd.ports=$((7310 + k % 5)) "$LAB_IMAGE" \
		sleep 600 >/dev/null
	want=$(maps_want)
	gateway_start || failed+=("kill $k: the gateway did not come back")
	fault_mark_when "gateway kill $k, from the reconnection" 15 \
		output_is true agent_jq .gateway.connected || failed+=("kill $k: the agent did not reconnect")
	out=$(within 2 maps_are "$want") || failed+=("kill $k: $out")
	out=$(forwards_correct) || failed+=("kill $k: $out")
done
check_eq "$GATEWAY_KILLS more gateway kills, containers changed while it was down: each time the maps right within 2 s of the reconnection, and every forward correct" \
	"" printf '%s\n' "${failed[@]}"
check "the stream survived every gateway kill" stream_flowing
check_eq "the UDP flow lost nothing" "$lost_before" udp_lost

# ---- the tunnel flaps; its endpoint moves ----
before=$(dataplane_now)
before_maps=$(maps_now)
on gw ip link set "$LAB_GW_WG_IF" down
sleep 1
on gw ip link set "$LAB_GW_WG_IF" up
# A link going down drops its IPv6 addresses (keep_addr_on_down=0): the tunnel's
# configuration puts them back, as wg-quick's PostUp would.
on gw ip -6 addr replace "$LAB_GW_WG6/64" dev "$LAB_GW_WG_IF" nodad
check "a TCP stream survives the tunnel down for a second" wait_until 10 stream_flowing
check "the UDP flow resumes after the flap" wait_until 5 udp_flowing
fault_mark_when "tunnel flap, from the control channel up" 15 output_is true agent_jq .gateway.connected
check_eq "the control channel is up after the flap" 0 echo $?
check "the maps are as before the flap within 2 s of the reconnection" \
	within 2 maps_are "$before_maps"
check "and all the daemons own" dataplane_is "$before"
check "every forward is correct after the flap" forwards_correct

lost_before=$(udp_lost)
on srv wg set "$LAB_SRV_WG_IF" listen-port 51822
check "the stream follows the server's tunnel endpoint to a new port" wait_until 5 stream_flowing
on gw wg set "$LAB_GW_WG_IF" peer "$SRV_WG_PUB" endpoint "$LAB_SRV_HOME4:51999"
check "and survives the gateway holding a wrong endpoint port for the server" \
	wait_until 5 stream_flowing
on srv wg set "$LAB_SRV_WG_IF" listen-port "$LAB_WG_PORT"
check "and the server's port moving back" wait_until 5 stream_flowing
check_match "the gateway follows the server's endpoint" ":$LAB_WG_PORT\$" \
	wait_until 5 output_matches ":$LAB_WG_PORT\$" on gw wg show "$LAB_GW_WG_IF" endpoints
check "the UDP flow kept flowing" udp_flowing
echo "      (UDP datagrams lost while the endpoint moved: $(($(udp_lost) - lost_before)))"

# ---- owned state removed by hand ----
# Each: the daemon puts all of it back within a second of the removal, the stream never
# breaks, nothing doubles.
by_hand() { # DESC HOST READ... -- CMD...: CMD removes on HOST what the reads READ... show
	local desc=$1 host=$2 reads=() before all
	shift 2
	while [ "$1" != -- ]; do
		reads+=("$1")
		shift
	done
	shift
	all=$(dataplane_now)
	before=$(state_now "$host" "${reads[@]}")
	"$@"
	fault_mark "$desc"
	check "$desc: repaired within a second" within 1 state_is "$before" "$host" "${reads[@]}"
	check "$desc: all the daemons own is as before" dataplane_is "$all"
	check "$desc: every forward correct" forwards_correct
	check "$desc: the stream survives" wait_until 5 stream_flowing
	check "$desc: nothing doubled" no_duplicates
}
del_agent_rules() {
	local fam pref
	for fam in -4 -6; do
		for pref in $(on srv ip "$fam" rule show | awk '/proto 207/ {sub(":", "", $1); print $1}'); do
			on srv ip "$fam" rule del pref "$pref"
		done
	done
}
lost_before=$(udp_lost)
by_hand "server: nft delete table inet wgfwd" srv "${READ_SRV_MAP[@]}" "${READ_TABLES[@]}" -- \
	on srv nft delete table inet wgfwd
by_hand "server: nft flush table inet wgfwd" srv "${READ_SRV_MAP[@]}" -- \
	on srv nft flush table inet wgfwd
by_hand "server: the agent's ip rules deleted" srv "${READ_RULES[@]}" -- del_agent_rules
check "server: the ip rules are back" \
	sh -c "$LAB exec srv ip rule show | grep -q 'fwmark 0x77660001 lookup 51820'"
by_hand "server: the DOCKER-USER accept deleted" srv "${READ_DOCKER_USER[@]}" -- \
	on srv iptables -D DOCKER-USER -i "$LAB_SRV_WG_IF" -m conntrack --ctstate DNAT -j ACCEPT
by_hand "server: the tunnel routes flushed" srv "${READ_ROUTES[@]}" -- \
	on srv ip route flush table 51820
check "server: the tunnel route is back" \
	sh -c "$LAB exec srv ip route show table 51820 | grep -q '^default dev $LAB_SRV_WG_IF'"
by_hand "gateway: nft delete table inet wgfwd_gateway" gw "${READ_GW_MAPS[@]}" "${READ_TABLES[@]}" -- \
	on gw nft delete table inet wgfwd_gateway
by_hand "gateway: nft flush table inet wgfwd_gateway" gw "${READ_GW_MAPS[@]}" -- \
	on gw nft flush table inet wgfwd_gateway
by_hand "gateway: nft delete table inet wgfwd_anchor" gw "${READ_TABLES[@]}" -- \
	on gw nft delete table inet wgfwd_anchor
by_hand "gateway: both tables deleted in one transaction" gw "${READ_GW_MAPS[@]}" \
	"${READ_TABLES[@]}" -- on gw nft 'delete table inet wgfwd_gateway; delete table inet wgfwd_anchor'
check "the UDP flow kept flowing" udp_flowing
echo "      (UDP datagrams lost while tables and rules were removed: $(($(udp_lost) - lost_before)))"

# ---- the gateway's NAT anchor: --cleanup and a restart under a live stream ----
lost_before=$(udp_lost)
before=$(dataplane_now gw)
gateway_stop
on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup >/dev/null 2>&1
check_fails "gateway --cleanup removes its table" on gw nft list table inet wgfwd_gateway
check "with the gateway's table gone, the stream flows on the anchor" wait_until 3 stream_flowing
check "and so does the UDP flow" udp_flowing
fault_mark "gateway --cleanup, from its start"
gateway_start
check "the restarted gateway restores all it owned within 2 s of its start" \
	within 2 dataplane_is "$before" gw
check "every forward is correct" forwards_correct
check "the stream survived --cleanup and the restart" stream_flowing
check_eq "the UDP flow lost nothing" "$lost_before" udp_lost
check_eq "the agent is connected again" true wait_until 15 output_is true agent_jq .gateway.connected

# ---- a container's network arrives after its start, or goes and comes back ----
ldocker network create --subnet 172.29.0.0/24 apps >/dev/null
ldocker network create --subnet 172.28.0.0/24 apps2 >/dev/null
no_forward_7400() {
	! nft_map srv wgfwd fwd4 | grep ' 7400 '
}
others_now() {
	nft_map srv wgfwd fwd4 | grep -v ' 7400 '
}
others_before=$(others_now)
# Created on one network, connected to the one its label names before it starts.
ldocker create --name late --network apps --label wgfwd.ports=7400 --label wgfwd.network=apps2 \
	"$LAB_IMAGE" sleep 600 >/dev/null
ldocker network connect apps2 late
ldocker start late >/dev/null
fault_mark "a container's network connected before its start"
want_from_docker
check "a container connected to its network between create and start is forwarded within 3 s" \
	within 3 maps_are "$want"
check "every forward is correct" forwards_correct
check_eq "from that network's address" "$(lab_container_ip late apps2)" \
	agent_jq '.forwards[] | select(.container == "late") | .ip4'
ldocker network disconnect apps2 late
fault_mark "a running container's network disconnected"
check "a running container whose network went away loses its forward within a second" \
	within 1 no_forward_7400
check_match "and the agent says which network it lacks" "not on network .apps2." \
	agent_jq '.problems[] | select(.container == "late") | .message'
ldocker network disconnect apps late
fault_mark "its last network disconnected"
check "with no network at all, still no forward" within 1 no_forward_7400
check_eq "and the agent waits for one rather than guessing" true \
	wait_until 1 output_is true agent_jq '.problems[] | select(.container == "late") | .waiting' 
check "every other forward agrees meanwhile" forwards_correct
check_eq "the other containers' rules were not touched" "$others_before" others_now
check_eq "the agent holds no forward without an address" "" \
	agent_jq '.forwards[] | select(.ip4 == null and .ip6 == null and .to_host == false) | .container'
ldocker network connect apps late
ldocker network connect apps2 late
fault_mark "its networks connected again"
want_from_docker
check "reconnected, its forward comes back with the new address within 3 s" \
	within 3 maps_are "$want"
check "every forward is correct" forwards_correct
check "the stream never noticed" stream_flowing

# ---- Docker crashed and restarted ----
gw_before=$(nft_map gw wgfwd_gateway fwd4)
"$LAB" docker-kill >/dev/null
check_eq "with Docker gone the agent says so" disconnected \
	wait_until 10 output_is disconnected agent_jq .agent.docker
check "and is alive" agent_status --json
check_eq "and the gateway keeps every forward" "$gw_before" nft_map gw wgfwd_gateway fwd4
check "the containers, still running, keep serving meanwhile" stream_flowing
"$LAB" docker-start >/dev/null
running_with_address() {
	[ "$(ldocker inspect -f '{{.State.Running}}' "$1")" = true ] && [ -n "$(lab_container_ip "$1")" ]
}
wait_until 30 running_with_address stream >/dev/null
wait_until 30 running_with_address echo >/dev/null
fault_mark_when "Docker restarted, from the agent's reconnection" 25 output_is connected agent_jq .agent.docker
check_eq "the agent reconnects to Docker" 0 echo $?
want_from_docker
check "the maps are right within 3 s of the agent's reconnection to Docker" \
	within 3 maps_are "$want"
check "every forward is correct" forwards_correct
# Docker stopped the stream's container as it came back: that connection cannot survive; a new one
# must work, and the UDP flow (same client port throughout) must come back by itself.
wait_until 10 _lab_listens stream $STREAM_PORT tcp >/dev/null
stream_connect
check "a new TCP stream works after Docker's restart" wait_until 10 stream_flowing
check "the UDP flow comes back after Docker's restart" wait_until 10 udp_flowing
check "nothing is doubled after Docker's restart" no_duplicates

# ---- both daemons restarted, containers changed in between ----
agent_stop
gateway_stop
ldocker rm -f churn0 churn1 while-gw-down $(ldocker ps -aq --filter name=while-gw-down-) >/dev/null 2>&1
ldocker run -d --name while-both-down --label wgfwd.ports=7500,7501/udp "$LAB_IMAGE" sleep 600 >/dev/null
want=$(maps_want)
gateway_start
agent_start "${AGENT_ARGS[@]}"
fault_mark_when "both daemons restarted, from their connection" 15 \
	output_is true agent_jq .gateway.connected
check_eq "the restarted agent connects to the restarted gateway" 0 echo $?
check "after both daemons restart, the maps are right within 2 s of their connection" \
	within 2 maps_are "$want"
check "every forward is correct" forwards_correct
check_fails "no stale forward of a removed container remains on the gateway" \
	on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 7300 }'
check "the stream survived both restarts" stream_flowing
check "the UDP flow too" udp_flowing
check "nothing is doubled at the end" no_duplicates
check "no egress rule of a removed container remains" egress_correct
echo "      repairs, wall time from each fault (or from the event named) to the probe that saw it:"
recovery_times | sed 's/^/        /'
