#!/bin/bash
# The VPS's owner decides what egress each peer may have, and the default is none. A server
# without a grant asks for `smtp' and `all': neither leaves by the gateway's address (the
# home line blocks tcp/25; the refused egress goes nowhere), and the agent's status says why.
# Granted by the gateway's configuration, both work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

ECHO_PORT=7071 # a listener on the internet that answers the address it saw

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
rm -rf "$GATEWAY_STATE"

GATEWAY_EGRESS='' gateway_start
ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
_lab_start_service mail 25 tcp --network apps --label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
ldocker run -d --name open --network apps --label wgfwd.egress=all "$LAB_IMAGE" sleep 3600 >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80,8080:80
lab_listen client "$ECHO_PORT"
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check_eq "the control channel comes up" true wait_until 5 output_is true agent_jq .gateway.connected

egress_of() {
	agent_jq ".egress[] | select(.container == \"$1\") | \"\(.state): \(.reason)\""
}
check_eq "without a grant, smtp is refused and the agent's status says why (--json)" \
	"refused: egress tcp/25 not granted to this peer by the gateway (granted: none)" \
	wait_until 5 output_matches '^refused' egress_of mail
check_eq "and so is all" \
	"refused: egress all not granted to this peer by the gateway (granted: none)" egress_of open
check_match "wgfwd status prints the refusal beside the container" \
	'mail +tcp ports 25-25: refused: egress tcp/25 not granted to this peer by the gateway' \
	agent_status
check_match "the gateway's status shows the peer's grants" \
	'allowed public ports: any; granted egress: none' gateway_status
egress_elements() {
	on gw nft -j list table inet wgfwd_gateway |
		jq '[.nftables[] | select(.set != null and (.set.name | startswith("egress"))) |
			(.set.elem // []) | length] | add'
}
check_eq "the gateway holds no egress for the peer" 0 egress_elements

smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
not_gateway() {
	local out
	out=$("$@")
	printf '%s\n' "$out"
	[ "$out" != "$LAB_GW_PUB4" ]
}
# The mail host listens on tcp/25 (the lab checks it at start): the grant is what is missing.
check_eq "the mail server never sees the gateway's address" "" smtp_from mail
check "the open container's traffic does not leave by the gateway's address" \
	not_gateway lab_tcp_get_in open "$LAB_CLIENT4" "$ECHO_PORT"
check_eq "forwards are not egress: the client still reaches the web container" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80

gateway_stop
GATEWAY_EGRESS=all gateway_start
check_eq "granted all, smtp is applied" "applied: null" \
	wait_until 20 output_is "applied: null" egress_of mail
check_eq "and so is all" "applied: null" egress_of open
check_match "the gateway's status shows the grant" 'granted egress: all' gateway_status
holds_egress() {
	[ "$(egress_elements)" -gt 0 ]
}
check "the gateway holds the peer's egress" holds_egress
check_eq "mail now leaves through the gateway" "$LAB_GW_PUB4" wait_until 5 smtp_from mail
check_eq "and the open container's traffic too" "$LAB_GW_PUB4" \
	wait_until 5 lab_tcp_get_in open "$LAB_CLIENT4" "$ECHO_PORT"

# Granted only smtp, and only public port 80: the open container's `all' is refused again,
# mail still goes; the web container keeps 80 and loses 8080.
gateway_stop
GATEWAY_EGRESS=smtp gateway_start --peer-ports "$LAB_SRV_WG4=80"
check_eq "granted smtp only, all is refused naming the grant" \
	"refused: egress all not granted to this peer by the gateway (granted: tcp/25)" \
	wait_until 20 output_matches '^refused' egress_of open
check_eq "while smtp stays applied" "applied: null" egress_of mail
check_eq "and mail leaves through the gateway" "$LAB_GW_PUB4" wait_until 5 smtp_from mail
forward_of() {
	agent_jq ".forwards[] | select(.public_port == $1) | \"\(.state): \(.reason)\"" | sort -u
}
check_eq "a public port outside the peer's allowed ports is refused, and says why" \
	"refused: public port tcp/8080 not in this peer's allowed ports 80" forward_of 8080
check_eq "the allowed port stays applied" "applied: null" forward_of 80
check_eq "the client reaches the container on the allowed port" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 80
check_fails "and not on the refused one (the same container listens behind it)" \
	lab_http_get client "$LAB_GW_PUB4" 8080
