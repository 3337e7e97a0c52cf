#!/bin/bash
# A VPS that runs more than wgfwd: Docker on the VPS keeps its containers' egress and their
# published ports before and after wgfwd-gateway starts, while the gateway forwards the
# client's real IPv4 and IPv6 addresses to a labelled container on the server, carries its
# granted egress and follows a container stop and start. The gateway governs only what enters
# or leaves its tunnel: the VPS's containers do not reach into the tunnel.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

VPS_PORT=8088   # published by Docker on the VPS
ECHO_PORT=7070  # a listener on the internet that answers the address it saw

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
on_exit "$LAB" gw-docker-stop
rm -rf "$GATEWAY_STATE"

check "Docker starts on the VPS, with the lab's image" "$LAB" gw-docker-start
check "a web container on the VPS publishes port $VPS_PORT" \
	gwdocker run -d --name vpsweb -p "$VPS_PORT:80" "$LAB_IMAGE" httpd -f -p 80 -h /www
lab_listen client "$ECHO_PORT"

# Docker's masquerade shows the VPS's address to the internet; its DNAT keeps the client's.
vps_egress() {
	gwdocker run --rm "$LAB_IMAGE" nc -w 5 "$LAB_CLIENT4" "$ECHO_PORT" </dev/null
}
vps_published() {
	lab_http_get client "$LAB_GW_PUB4" "$VPS_PORT"
}

check_eq "before wgfwd: a VPS container reaches the internet" "$LAB_GW_PUB4" \
	wait_until 10 vps_egress
check_eq "before wgfwd: the VPS container's published port answers the client" "$LAB_CLIENT4" \
	wait_until 10 vps_published

gateway_start
ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80
_lab_start_service mail 25 tcp --network apps --label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check_eq "the control channel comes up" true wait_until 5 output_is true agent_jq .gateway.connected

forward_policy() {
	on gw nft list chain inet wgfwd_gateway forward | grep -o 'policy [a-z]*'
}
check_eq "the gateway's forward chain accepts what is not the tunnel's" "policy accept" \
	forward_policy
check_eq "with wgfwd: the VPS container still reaches the internet" "$LAB_GW_PUB4" vps_egress
check_eq "with wgfwd: its published port still answers the client" "$LAB_CLIENT4" vps_published

check_eq "the client's IPv4 address reaches the server's container through the gateway" \
	"$LAB_CLIENT4" wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "the client's IPv6 address reaches it too" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80

smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
check_eq "the server's granted egress leaves through the gateway" "$LAB_GW_PUB4" \
	wait_until 5 smtp_from mail

check "the labelled container stops" ldocker stop -t 1 web
check "and starts again" ldocker start web
check_eq "the forward follows it" "$LAB_CLIENT4" \
	wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "the VPS container's egress was never disturbed" "$LAB_GW_PUB4" vps_egress
check_eq "nor its published port" "$LAB_CLIENT4" vps_published

# Still locked down for the tunnel: the server's port 80 is a forward, so something answers
# there for whoever reaches it through the public address, and only that way.
server_direct() {
	gwdocker run --rm "$LAB_IMAGE" sh -c \
		"printf 'GET /cgi-bin/ip HTTP/1.0\r\n\r\n' | nc -w 3 $LAB_SRV_WG4 80"
}
check_eq "the server's port 80 answers on its tunnel address (from the VPS itself)" \
	"$LAB_GW_WG4" lab_http_get gw "$LAB_SRV_WG4" 80
check_fails "a VPS container does not reach into the tunnel" server_direct

check "docker on the VPS stops cleanly" "$LAB" gw-docker-stop
check_eq "the client still reaches the server's container" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 80
