#!/bin/bash
# One container change travels as a state_delta: the agent sends its whole state once per
# connection, then each change as the forwards that went and came; the gateway applies it as
# element updates and appends it to the peer's journal instead of rewriting its file. Killed
# in the middle of changes, the gateway comes back with the journaled forwards, the agent's
# new connection starts with its whole state, and changes go on as deltas; a refusal in a
# delta's answer reaches the agent's status like one in a whole state's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
rm -rf "$GATEWAY_STATE"

JOURNAL=$GATEWAY_STATE/peer-$LAB_SRV_WG4.journal

gateway_start --reserved-ports 7399/tcp
ldocker network create --ipv6 --subnet 172.29.0.0/24 --subnet fd00:29::/64 apps >/dev/null
# Enough forwards that one container's change is smaller than the whole state.
lab_web_start web --network apps --label wgfwd.ports=80,8081:80,8082:80,8083:80
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check_eq "the control channel comes up" true wait_until 5 output_is true agent_jq .gateway.connected
check_eq "web answers through the gateway" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80

deltas() {
	gateway_log | grep -c "delta [0-9]* on [0-9]*:"
}
states() {
	gateway_log | grep -c "state [0-9]*: .* held"
}
port_closed() {
	! lab_tcp_connect client "$LAB_GW_PUB4" "$1"
}
states_before=$(states)
deltas_before=$(deltas)
lab_web_start second --network apps --label wgfwd.ports=7301:80
check_eq "a second container answers" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 7301
check_eq "its forwards came as one delta" $((deltas_before + 1)) deltas
check_eq "and no whole state" "$states_before" states
check_match "the gateway applied it as element updates" \
	'delta [0-9]+ on [0-9]+: 2 forwards and 0 egress entries added, 0 and 0 removed; .*2 elements added, 0 removed' \
	gateway_log
check_match "and journaled it" "^\+ ipv4 tcp 7301 [0-9]+$" on gw cat "$JOURNAL"

ldocker rm -f second >/dev/null
check "a removed container's forward is gone" wait_until 5 port_closed 7301
check_eq "by a second delta" $((deltas_before + 2)) \
	wait_until 5 output_is $((deltas_before + 2)) deltas
check_match "journaled as gone" "^- ipv4 tcp 7301 [0-9]+$" on gw cat "$JOURNAL"

# A refusal in a delta's answer is the agent's to show.
lab_web_start reserved --network apps --label wgfwd.ports=7399
check_match "a port the gateway reserves is refused, and the agent's status says so" \
	'tcp/7399 is reserved' wait_until 5 output_matches 'reserved' agent_status

# The gateway killed between changes: the journal brings its forwards back before the agent
# is connected again; the new connection starts whole, and the next change is a delta.
lab_web_start third --network apps --label wgfwd.ports=7302:80
check_eq "a third container answers" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 7302
gateway_kill
on gw nft delete table inet wgfwd_gateway
gateway_start --reserved-ports 7399/tcp
check_match "the restarted gateway holds the journaled forward at once" 'tcp . 7302 :' \
	on gw nft list map inet wgfwd_gateway fwd4
check_eq "the agent reconnects" true wait_until 10 output_is true agent_jq .gateway.connected
check_eq "and sends its whole state" 1 wait_until 5 output_is 1 states
lab_web_start fourth --network apps --label wgfwd.ports=7303:80
check_eq "the next container answers" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 7303
check_eq "by a delta on the new connection" 1 wait_until 5 output_is 1 deltas
check_eq "web still answers" "$LAB_CLIENT4" lab_http_get client "$LAB_GW_PUB4" 80
