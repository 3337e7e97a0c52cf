#!/bin/bash
# The whole system: wgfwd-gateway on the VPS, wgfwd-agent on the server, talking over the
# authenticated control channel inside the tunnel; labelled containers reachable from the
# internet through the gateway's public address with their real client addresses.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
rm -rf "$GATEWAY_STATE"
gateway_start
AGENT_ARGS=(--gateway "$LAB_GW_WG4" --key "$WGFWD_KEY")

ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80,8080:80
_lab_start_service mail 25 tcp --network apps --label wgfwd.ports=25 \
	--label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
agent_start "${AGENT_ARGS[@]}"

check_eq "the control channel comes up" true wait_until 5 output_is true agent_jq .gateway.connected
check "the gateway acknowledges the agent's state" \
	wait_until 5 sh -c '[ "$(agent_jq .gateway.generation_acked)" != 0 ]'
check_eq "the agent learns the gateway's public addresses" "$LAB_GW_PUB4 $LAB_GW_PUB6" \
	agent_jq '[.gateway.public_ipv4[], .gateway.public_ipv6[]] | join(" ")'
check_eq "the client's IPv4 address reaches the container" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "the client's IPv6 address reaches the container" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
check_eq "public 8080 reaches container port 80" "$LAB_CLIENT4" lab_http_get client "$LAB_GW_PUB4" 8080
check_eq "inbound SMTP reaches the mail container with the client's address" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 25
check_eq "forwards show as applied in the agent's status" applied \
	agent_jq '[.forwards[].state] | unique | join(",")'

smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
check_eq "mail leaves through the gateway while the home line blocks port 25" "$LAB_GW_PUB4" \
	smtp_from mail

ldocker run -d --name upload --network apps --label wgfwd.ports=9000 "$LAB_IMAGE" \
	sh -c 'nc -l -p 9000 > /tmp/up; sleep 3600' >/dev/null
check "the new forward is on the gateway" \
	wait_until 5 on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 9000 }'
head -c 300000 /dev/zero | on client nc -w 3 -q 1 "$LAB_GW_PUB4" 9000 >/dev/null 2>&1
check_eq "a 300 kB upload through the gateway arrives whole" 300000 \
	wait_until 5 sh -c "$LAB docker exec upload wc -c /tmp/up | awk '{print \$1}'"

# The gateway's policy, reported back to the agent.
lab_web_start sshd --network apps --label wgfwd.ports=22:80
check_match "a reserved port is refused and the reason reaches the agent" '^refused: .*reserved' \
	wait_until 5 output_matches '^refused: .*reserved' agent_jq '.forwards[] | select(.public_port == 22) | "\(.state): \(.reason)"'
check_eq "the container behind it answers through the tunnel" "$LAB_GW_WG4" \
	lab_http_get gw "$LAB_SRV_WG4" 22
check_eq --status 1 "the reserved port is not forwarded" "" lab_http_get client "$LAB_GW_PUB4" 22

# Only what was asked for gets through. Each port tried has a listener behind it, shown
# reachable where the rules allow, so that silence from the internet is the rules' doing.
for port in 81 443 8081; do
	lab_listen srv "$port"
	check_eq "the server listens on port $port, reachable through the tunnel" "$LAB_GW_WG4" \
		lab_tcp_get gw "$LAB_SRV_WG4" "$port"
	check_eq --status 1 "public port $port, not forwarded, does not reach the server" "" \
		lab_tcp_get client "$LAB_GW_PUB4" "$port"
done
# A neighbour of the VPS that routes the tunnel's subnets to it.
lab_route_tunnel
lab_listen gw 7000
check_eq "a host on the internet that routes the tunnel reaches the gateway's tunnel address" \
	"$LAB_CLIENT4" lab_tcp_get client "$LAB_GW_WG4" 7000
check_eq "the server's tunnel address answers on a forwarded port from the gateway" \
	"$LAB_GW_WG4" lab_http_get gw "$LAB_SRV_WG4" 80
check_eq --status 1 "the server's tunnel address is not reachable from the internet" "" \
	lab_tcp_get client "$LAB_SRV_WG4" 80
check_match --status 1 "the control port, on the gateway's tunnel address, does not answer from the internet" \
	'^no connection' on client "$HELPERS/ctl_attack" -w 3 "$LAB_GW_WG4" 51821 garbage

# Hostile connections from the server's own tunnel address change nothing.
rules_before=$(nft_table gw inet wgfwd_gateway | grep -v 'counter packets')
# ctl_attack says "closed after N ms" only for a connection that was made.
check_match "an oversized frame is refused at once" '^closed after [0-9]{1,3} ms$' \
	on srv "$HELPERS/ctl_attack" -s "$LAB_SRV_WG4" -w 8 "$LAB_GW_WG4" 51821 oversized
check_match "a silent connection is dropped by the handshake deadline" \
	'^closed after [0-9]{1,4} ms$' \
	on srv "$HELPERS/ctl_attack" -s "$LAB_SRV_WG4" -w 15 "$LAB_GW_WG4" 51821 silent
check "the gateway is still alive" gateway_status --json
check_eq "and its rules are unchanged" "$rules_before" \
	sh -c "$LAB exec gw nft -a list table inet wgfwd_gateway | grep -v 'counter packets'"

# A wrong key: the agent is refused, the gateway keeps what it had.
agent_stop
(umask 077 && "$WGFWD_BIN/wgfwd" genkey >"$LAB_RUN/wrong.key")
lab_spawn agent srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" \
	--docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK" \
	--gateway "$LAB_GW_WG4" --key "$LAB_RUN/wrong.key"
wait_until 10 on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK" >/dev/null
check_match "an agent with the wrong key is refused by the handshake" 'Permission denied' \
	wait_until 5 output_matches 'Permission denied' agent_jq .gateway.last_error
check_eq "and is not connected" false agent_jq .gateway.connected
check_eq "forwards stay in place meanwhile" "$LAB_CLIENT4" lab_http_get client "$LAB_GW_PUB4" 80
agent_stop

# Daemons die; the data plane does not need them.
agent_start "${AGENT_ARGS[@]}"
wait_until 5 output_is true agent_jq .gateway.connected >/dev/null
agent_kill
check_eq "with the agent killed, forwards keep working" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 80
gateway_kill
gateway_start
check_eq "a gateway killed and restarted restores forwards before any agent reconnects" \
	"$LAB_CLIENT4" wait_until 3 lab_http_get client "$LAB_GW_PUB4" 80
agent_start "${AGENT_ARGS[@]}"
check_eq "the agent reconnects to the restarted gateway" true \
	wait_until 15 output_is true agent_jq .gateway.connected
ldocker stop -t 0 web >/dev/null
port_closed() {
	! lab_tcp_connect client "$LAB_GW_PUB4" "$1"
}
check "a stopped container's public port closes through the gateway" wait_until 2 port_closed 8080
check_match "the gateway's status lists the peer's forwards" '"public_port": ?25' \
	gateway_status --json
