#!/bin/bash
# The VPS's own ports are never taken. Services running on the gateway's host itself (a TCP
# listener on its public address, a dual-stack UDP service, wireguard-go's own socket) keep
# their ports: a label asking for one is refused with the reason in the agent's status, while
# the container's other ports forward with the client's real address. A service that starts
# after a forward was granted does not get it back: the forward keeps working, and the
# gateway's status and log flag the clash until the service stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
on_exit lab_kill vps-tcp
on_exit lab_kill vps-udp
on_exit lab_kill vps-late

# A service of the VPS itself on one port, bound to the public IPv4 address, answering its name.
vps_tcp_start() {
	local name=$1 port=$2
	lab_spawn "$name" gw socat TCP4-LISTEN:"$port",bind="$LAB_GW_PUB4",fork,reuseaddr \
		SYSTEM:"echo vps-$port" || return 1
	wait_until 5 _lab_host_listens gw "$port" >/dev/null
}
udp_listens() {
	[ -n "$(on gw ss -Huln "sport = :$1")" ]
}
gw_jq() {
	gateway_status --json | jq -r "$1"
}
fwd_state() {
	agent_jq ".forwards[] | select(.proto == \"$1\" and .public_port == $2) | \"\(.state): \(.reason)\""
}

rm -rf "$GATEWAY_STATE"
# The WireGuard port given is not the real one (51820): only the socket wireguard-go listens
# on tells the gateway about it (no kernel WireGuard here, so no generic netlink family).
GATEWAY_METRICS=127.0.0.1:9588
gateway_start --listener-interval 1 --wireguard-port 51999 --metrics "$GATEWAY_METRICS"
clashes_gauge() {
	on gw curl -sf --max-time 5 "http://$GATEWAY_METRICS/metrics" |
		awk '$1 == "wgfwd_gateway_host_port_clashes" {print $2}'
}
check_match "the gateway finds wireguard-go's UDP socket among the host's ports" \
	'^udp/51820/ipv4$' gw_jq '.host_ports[] | "\(.proto)/\(.port)/\(.family)"'
check_eq "its control socket on the tunnel address is not one of them" none \
	gw_jq '[.host_ports[] | select(.port == 51821)] | if length == 0 then "none" else "some" end'

check "the VPS's own tcp/2222 listens on the public address" vps_tcp_start vps-tcp 2222
lab_spawn vps-udp gw "$HELPERS/udp_echo" serve -p 5300 -n vps
check "the VPS's own udp/5300 listens (IPv6 wildcard, dual-stack)" wait_until 5 udp_listens 5300

ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=2222:80,8080:80
lab_udp_start dns --network apps --label wgfwd.ports=5300:5353/udp,51820:5353/udp
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check_eq "the control channel comes up" true wait_until 10 output_is true agent_jq .gateway.connected

check_eq "a label asking for the VPS's tcp/2222 is refused, with the reason in the agent's status" \
	"refused: the gateway itself listens on tcp/2222" \
	wait_until 5 output_is "refused: the gateway itself listens on tcp/2222" fwd_state tcp 2222
check_match "wgfwd status on the server says so" \
	'^tcp +2222 +web .*refused: the gateway itself listens on tcp/2222$' agent_status
check_eq "the internet client still reaches the VPS's own listener on tcp/2222" vps-2222 \
	lab_tcp_get client "$LAB_GW_PUB4" 2222
check_eq "the container's other port forwards, with the client's real address" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 8080
check_eq "the VPS listens on IPv4 only: IPv6 tcp/2222 reaches the container" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 2222
check_fails "the refused forward is not in the gateway's ruleset" \
	on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 2222 }'

check_eq "udp/5300, a dual-stack service of the VPS, is refused with the reason" \
	"refused: the gateway itself listens on udp/5300" fwd_state udp 5300
check_match "a datagram to udp/5300 is answered by the VPS's own service" \
	"^$LAB_CLIENT4 [0-9]+ vps hello$" lab_udp_send client "$LAB_GW_PUB4" 5300 hello
check_match "over IPv6 too" "^$LAB_CLIENT6 [0-9]+ vps hello$" \
	lab_udp_send client -s "$LAB_CLIENT6" "$LAB_GW_PUB6" 5300 hello
check_eq "wireguard-go's real port is refused though --wireguard-port names another" \
	"refused: the gateway itself listens on udp/51820" fwd_state udp 51820
check_eq "and the tunnel still carries the control channel" true agent_jq .gateway.connected
lab_kill vps-tcp
check_eq "the VPS's tcp/2222 stops: the forward is granted without the agent asking again" \
	"applied: null" wait_until 5 output_is "applied: null" fwd_state tcp 2222
check_eq "and IPv4 tcp/2222 now reaches the container with the client's address" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 2222
check_eq "udp/5300, whose VPS service still runs, stays refused" \
	"refused: the gateway itself listens on udp/5300" fwd_state udp 5300

# A VPS service that starts after the forward was granted.
ldocker run -d --name late --network apps --label wgfwd.ports=7070:80 "$LAB_IMAGE" \
	httpd -f -p 80 -h /www >/dev/null
check "the forward of tcp/7070 is granted" \
	wait_until 5 on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 7070 }'
check_eq "tcp/7070 reaches the container with the client's address" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 7070
check_eq "no clash yet" 0 gw_jq '.clashes | length'
check_eq "and the metric says none" 0 clashes_gauge
check "the VPS starts its own service on tcp/7070" vps_tcp_start vps-late 7070
check_eq "the gateway flags the clash in its status" \
	"$LAB_SRV_WG4 ipv4 tcp 7070 the gateway itself listens on tcp/7070" \
	wait_until 5 output_is "$LAB_SRV_WG4 ipv4 tcp 7070 the gateway itself listens on tcp/7070" \
	gw_jq '.clashes[] | "\(.peer) \(.family) \(.proto) \(.public_port) \(.reason)"'
check_match "wgfwd status --gateway shows it beside the forward" \
	'forward tcp/7070 \(ipv4\) -> .* CLASH: the gateway itself listens on tcp/7070' gateway_status
check_match "and counts it" 'CLASH: 1 forward takes a port this host itself listens on' gateway_status
check_eq "as does the metric" 1 clashes_gauge
check_eq "the forward granted before keeps working" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 7070
check_eq "the agent's status still says applied" "applied: null" fwd_state tcp 7070
sleep 3 # three more reads of the host's ports
check_eq "the gateway's log names the clash once, not at every read" 1 \
	sh -c "grep -c 'forward tcp/7070 (IPv4) clashes: the gateway itself listens on tcp/7070' $LAB_RUN/bg/gateway.log"
# Another state from the agent is decided with the service running: the forward stays.
generation=$(gw_jq '.peers[0].generation')
ldocker stop -t 0 dns >/dev/null
check "the agent sends a new state (a container stopped)" \
	wait_until 5 sh -c "[ \$($LAB exec gw $WGFWD_BIN/wgfwd status --socket $GATEWAY_SOCK --json |
		jq .peers[0].generation) -gt $generation ]"
check "and tcp/7070 stays granted" on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 7070 }'
check_eq "the clash is still flagged" 1 gw_jq '.clashes | length'

lab_kill vps-late
check_eq "the VPS's service stops: the flag clears" 0 \
	wait_until 5 output_is 0 gw_jq '.clashes | length'
check_eq "the metric is back to 0" 0 clashes_gauge
check_match "and the log says so" 'forward tcp/7070 \(IPv4\) no longer clashes' gateway_log
check_fails "wgfwd status --gateway shows no clash any more" \
	sh -c "$LAB exec gw $WGFWD_BIN/wgfwd status --socket $GATEWAY_SOCK | grep CLASH"
check_eq "tcp/7070 still reaches the container" "$LAB_CLIENT4" lab_http_get client "$LAB_GW_PUB4" 7070
