#!/bin/bash
# Stale conntrack behind the second of two gateways (lab.sh gw2-up): a client keeps sending UDP
# from one source port, over IPv4 and IPv6, to gateway B's public address, and B sends it to
# the server's address on B's own tunnel. The flows follow the forward when it moves away from
# a target that still listens; and when the forward comes back while B, its daemon killed, kept
# forwarding the flows to a server that had none (so the server tracked them as its own, to
# nothing), the server deletes those entries and the flows reach the new target.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"
. "$(dirname "$0")/conntrack.sh"

LINKS=(--gateway-link "vps1,$LAB_SRV_WG_IF,$LAB_GW_WG4"
	--gateway-link "vps2,$LAB_SRV_WG2_IF,$LAB_GW2_WG4")

on_exit "$LAB" gw2-down
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" "${LINKS[@]}" --key "$WGFWD_KEY" --cleanup
on_exit agent_stop
on_exit gateway_stop
on_exit lab_kill gateway2
on_exit lab_kill udpsender-4
on_exit lab_kill udpsender-6
rm -rf "$GATEWAY_STATE" "$GATEWAY2_STATE"

check "the lab's second VPS comes up with its own tunnel" "$LAB" gw2-up
gateway_start
gateway2_start
lab_spawn agent srv "$WGFWD_BIN/wgfwd-agent" "${LINKS[@]}" --key "$WGFWD_KEY" \
	--docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK" --log-level debug
check_eq "the agent's control channels to both gateways come up" "true true" \
	wait_until 10 output_is "true true" agent_jq '[.gateways[].connected] | map(tostring) | join(" ")'

ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
SPORT=41054
ct_forget gw gw2 srv

# The flows, as the server tracks them: "translated" once DNAT'd to a container, "untranslated"
# while addressed to the server itself at its address on B's tunnel.
server_entries() {
	local fam=$1 tunnel_addr=$2 client=$3
	on srv conntrack -L -f "$fam" -p udp -s "$client" --sport "$SPORT" --dport "$LAB_UDP_PORT" \
		2>/dev/null | grep " dst=$tunnel_addr " |
		awk -v a="$tunnel_addr" '{print (index($0, "src=" a " ") ? "untranslated" : "translated")}' |
		sort -u
}
server_states() {
	echo "$(server_entries ipv4 "$LAB_SRV_WG2_4" "$LAB_CLIENT4")" \
		"$(server_entries ipv6 "$LAB_SRV_WG2_6" "$LAB_CLIENT6")"
}
server_untranslated() {
	[ "$(server_entries ipv4 "$LAB_SRV_WG2_4" "$LAB_CLIENT4")" = untranslated ] &&
		[ "$(server_entries ipv6 "$LAB_SRV_WG2_6" "$LAB_CLIENT6")" = untranslated ]
}

# (a) The forward moves away from a target that still listens: `one' serves on its own address,
# `one-label', sharing its network namespace, carries the label; `two' waits for the port.
lab_udp_start one --network apps --ip 172.31.0.21 --ip6 fd00:31::21
ldocker run -d --name one-label --network container:one --label wgfwd.ports=5353/udp \
	"$LAB_IMAGE" sleep 3600 >/dev/null
check "gateway B forwards the port" \
	wait_until 10 on gw2 nft get element inet wgfwd_gateway fwd4 '{ udp . 5353 }'
udp_sender 4 "$LAB_CLIENT4" "$LAB_GW2_PUB4"
udp_sender 6 "$LAB_CLIENT6" "$LAB_GW2_PUB6"
check "through gateway B, the flows reach the container" wait_until 5 receives one
check_eq "the server tracks them at its address on B's tunnel, translated" "translated translated" \
	server_states
lab_udp_start two --network apps --ip 172.31.0.22 --ip6 fd00:31::22 --label wgfwd.ports=5353/udp
check "the second container waits while the first holds the port" \
	wait_until 5 output_matches "taken by container" agent_jq '.problems[] | select(.container == "two") | .message'
ldocker stop -t 0 one-label >/dev/null
check "when the label's container stops, the flows through B move to the second" \
	wait_until 3 receives two
sleep 1
before=$(received one)
sleep 2
check_eq "the old target, still listening, receives nothing more" "$before" received one

# (b) Gateway B's daemon dies; what it put in the kernel keeps forwarding. The forward goes on
# the server alone (B is not there to hear of it): the flows keep arriving through B and the
# server takes them for its own, to a port nothing listens on.
gateway2_kill
check "with B's daemon killed, B still forwards" \
	on gw2 nft get element inet wgfwd_gateway fwd4 '{ udp . 5353 }'
ldocker stop -t 0 two >/dev/null
check "with the forward gone from the server only, the server tracks B's flows untranslated" \
	wait_until 5 server_untranslated
logs_mark
# The forward comes back, to a new container: the server's untranslated entries must go, or
# the flows stay on the server's own stack for as long as they keep sending.
lab_udp_start three --network apps --ip 172.31.0.23 --ip6 fd00:31::23 --label wgfwd.ports=5353/udp
check "when the forward comes back, B's flows reach the new container" wait_until 3 receives three
check_match "the agent deleted the entries it had tracked untranslated" \
	'conntrack: deleted [0-9]+ entr' \
	wait_until 2 output_matches 'conntrack: deleted [0-9]+ entr' agent_log_since
check_eq "and the server tracks B's flows translated again" "translated translated" server_states

# B's daemon back: it takes the state over without disturbing the flows.
gateway2_start
check_eq "the agent reconnects to B" "true true" \
	wait_until 15 output_is "true true" agent_jq '[.gateways[].connected] | map(tostring) | join(" ")'
# Both counts of NAME grew past "N4 N6".
grew_past() {
	local n4 n6 b4 b6
	read -r n4 n6 < <(received "$1")
	read -r b4 b6 <<<"$2"
	[ "$n4" -gt "$b4" ] && [ "$n6" -gt "$b6" ]
}
check "the flows through B keep reaching the container" \
	wait_until 3 grew_past three "$(received three)"
