#!/bin/bash
# Stale conntrack: a client that keeps sending UDP from one source port, over IPv4 and IPv6
# (every packet refreshes its conntrack entries on the gateway and the server), follows the
# forward as it appears, moves and goes, while an unrelated TCP stream through another forward
# keeps its entries.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"
. "$(dirname "$0")/conntrack.sh"

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
rm -rf "$GATEWAY_STATE"
gateway_start
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
wait_until 5 output_is true agent_jq .gateway.connected >/dev/null

ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
# A source port no other scenario uses, and no entries left of it from an earlier run: the lab's
# reset between scenarios leaves conntrack alone.
SPORT=41053
ct_forget gw srv

gateway_stopped_forwarding() {
	! on gw nft get element inet wgfwd_gateway fwd4 '{ udp . 5353 }' >/dev/null 2>&1
}

# The flows reached the gateway itself: refused there, nothing translated, nothing answered.
gateway_flows_refused() {
	on gw conntrack -L -f ipv4 -p udp -s "$LAB_CLIENT4" --sport "$SPORT" --dport 5353 \
		2>/dev/null | grep -q "UNREPLIED.* src=$LAB_GW_PUB4 " &&
		on gw conntrack -L -f ipv6 -p udp -s "$LAB_CLIENT6" --sport "$SPORT" --dport 5353 \
			2>/dev/null | grep -q "UNREPLIED.* src=$LAB_GW_PUB6 "
}

# Entries of live TCP connections to port 9000 (earlier ones may linger closed).
ct_ids() {
	on "$1" conntrack -L -p tcp --dport 9000 --state ESTABLISHED -o id 2>/dev/null |
		sed -n 's/.* id=\([0-9]*\).*/\1/p'
}

stream_bytes() {
	ldocker exec stream wc -c /tmp/in | awk '{print $1}'
}

stream_grew_past() {
	[ "$(stream_bytes)" -gt "$1" ]
}

# An unrelated flow: a TCP stream through another forward, whose entries must stay.
ldocker run -d --name stream --network apps --label wgfwd.ports=9000 "$LAB_IMAGE" \
	sh -c 'nc -l -p 9000 > /tmp/in; sleep 3600' >/dev/null
wait_until 5 on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 9000 }' >/dev/null
lab_spawn tcpstream client sh -c \
	"while :; do echo tick; sleep 0.2; done | nc $LAB_GW_PUB4 9000"
check "a TCP stream flows through the gateway to another forward" \
	wait_until 5 stream_grew_past 0
gw_ids=$(ct_ids gw)
srv_ids=$(ct_ids srv)

# (a) The client sends before anything forwards the port. Every container gets addresses of its
# own: an IPv6 address handed on from a stopped container would still be bound to that
# container's MAC in the server's neighbour cache for a while (Docker derives the MAC from the
# IPv4 address alone), which is not what this scenario is about.
udp_sender 4 "$LAB_CLIENT4" "$LAB_GW_PUB4"
udp_sender 6 "$LAB_CLIENT6" "$LAB_GW_PUB6"
check "before the forward exists, the gateway refuses the flows and tracks them" \
	wait_until 5 gateway_flows_refused
logs_mark
lab_udp_start one --network apps --ip 172.31.0.11 --ip6 fd00:31::11 --label wgfwd.ports=5353/udp
check "once the container starts, the flows that were refused reach it" \
	wait_until 3 receives one
check_match "the gateway says it deleted the refused flows' entries" 'deleted [0-9]+ conntrack entr' \
	wait_until 2 output_matches 'deleted [0-9]+ conntrack entr' gateway_log_since

# (b) The forward moves on the server: a second container waits for the port (the first holds
# it) and takes it when the first stops. The gateway's forward does not change at all.
lab_udp_start two --network apps --ip 172.31.0.12 --ip6 fd00:31::12 --label wgfwd.ports=5353/udp
check "the second container waits while the first holds the port" \
	wait_until 5 output_matches "taken by container .one'" agent_jq '.problems[] | select(.container == "two") | .message'
logs_mark
ldocker stop -t 0 one >/dev/null
check "when the first stops, the flows move to the second" wait_until 3 receives two
# Docker's own teardown of the first container may delete its UDP entries before the
# agent's search (50 ms after the change) gets to them: either way the agent looked.
found='conntrack: (deleted [0-9]+ entr|no entries of changed forwards to delete)'
check_match "the agent searched conntrack for the old target's entries" "$found" \
	wait_until 2 output_matches "$found" agent_log_since

# (b') The forward goes and comes back to another container: the gateway refuses the flows in
# between, then forwards them again.
ldocker stop -t 0 two >/dev/null
check "with no container, the gateway refuses the flows again" \
	wait_until 5 gateway_flows_refused
lab_udp_start three --network apps --ip 172.31.0.13 --ip6 fd00:31::13 --label wgfwd.ports=5353/udp
check "a new container with the same label gets the flows" wait_until 3 receives three

# (c) The forward is removed while its old target still listens: `four' serves on its own
# address; `four-label', sharing its network namespace, carries the label.
ldocker stop -t 0 three >/dev/null
wait_until 5 gateway_flows_refused >/dev/null
lab_udp_start four --network apps --ip 172.31.0.14 --ip6 fd00:31::14
ldocker run -d --name four-label --network container:four --label wgfwd.ports=5353/udp \
	"$LAB_IMAGE" sleep 3600 >/dev/null
check "the forward to a shared network namespace gets the flows" wait_until 3 receives four
# How the gateway's searches went so far: by filtered delete, by dump.
gateway_walks() {
	gateway_status --json | jq -r '"\(.conntrack_searches.filtered_deletes) \(.conntrack_searches.dumps)"'
}
read -r gw_filtered gw_dumps <<<"$(gateway_walks)"
ldocker stop -t 0 four-label >/dev/null
check "removing the label's container removes the gateway's forward" \
	wait_until 5 gateway_stopped_forwarding
# Both daemons search for a removal's flows two seconds later (a restart would have come back
# by then): until then the old entries still steer the flows to `four'.
sleep 3
before=$(received four)
sleep 2
check_eq "the old target, still listening, receives nothing more" "$before" received four
check "the gateway refuses the flows" wait_until 3 gateway_flows_refused
# No peer holds the port any more: the IPv6 flows, marked by the gateway's rules, are found by
# mark and ports without their addresses, and the search is filtered deletes alone (Linux
# 6.15 and later), never a walk of every bucket.
read -r filtered_now dumps_now <<<"$(gateway_walks)"
check_eq "the gateway's search for the removed forward made no dump" "$gw_dumps" echo "$dumps_now"
check "and was a filtered delete" [ "$filtered_now" -gt "$gw_filtered" ]

# The stream through the other forward kept its entries all along.
check_eq "the TCP stream keeps its conntrack entry on the gateway" "$gw_ids" ct_ids gw
check_eq "the TCP stream keeps its conntrack entry on the server" "$srv_ids" ct_ids srv
bytes=$(stream_bytes)
check "and still flows" wait_until 3 stream_grew_past "$bytes"

# (d) A restart: the container stops and starts again with its forward the same way, and both
# daemons see the forward go and come back. The start makes the stop's pending search moot in
# each, and neither asks the kernel.
searches() {
	echo "$(agent_jq ".agent.conntrack_searches.$1") $(gateway_status --json | jq -r ".conntrack_searches.$1")"
}
gateway_forwards_9100() {
	on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 9100 }' >/dev/null 2>&1
}
ldocker run -d --name again --network apps --ip 172.31.0.16 --ip6 fd00:31::16 \
	--label wgfwd.ports=9100 "$LAB_IMAGE" httpd -f -p 9100 -h /www >/dev/null
check "the gateway forwards the restarting container's port" wait_until 5 gateway_forwards_9100
# A restart is moot only when the container is back within the daemons' 2 s wait; on a
# loaded machine `docker restart` itself can take longer, so a slow one is tried again (up to
# three restarts). One that came back in time and was searched for fails at once.
restart_moot() {
	local attempt t0 took
	for attempt in 1 2 3; do
		# past every search the changes before left due
		sleep 3
		runs=$(searches run)
		moot=$(searches moot)
		logs_mark
		t0=${EPOCHREALTIME/./}
		ldocker restart -t 0 again >/dev/null
		took=$(((${EPOCHREALTIME/./} - t0) / 1000))
		wait_until 2 output_matches 'forward removed: tcp/9100' agent_log_since || return 1
		wait_until 2 gateway_forwards_9100 || return 1
		[ "$took" -lt 1500 ] && return 0
		echo "docker restart took $took ms (attempt $attempt): past the daemons' wait, again" >&2
	done
	return 0
}
restart_moot
check_eq "the container restarts, its forward going and coming back" 0 echo "$?"
sleep 3
check_eq "neither daemon searched conntrack for the restart" "$runs" searches run
read -r agent_moot gateway_moot <<<"$moot"
check_eq "both counted the stop's search moot" "$((agent_moot + 1)) $((gateway_moot + 1))" \
	searches moot
