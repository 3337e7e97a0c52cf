#!/bin/bash
# make demo: the whole system on one machine, in the lab's network namespaces. Builds the lab,
# starts wgfwd-gateway on the "VPS" and wgfwd-agent on the "home server", starts two labelled
# containers, and shows each thing working in plain words. Leaves nothing behind.
#   KEEP_LAB=1 tests/lab/demo.sh    leave the lab and daemons up afterwards
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LAB=$ROOT/tests/lab/lab.sh

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the lab needs root (network namespaces, nftables, Docker)" >&2
	exit 1
fi

# The e2e helpers give us the lab's names, the daemons and small clients.
E2E_RESULTS=$(mktemp)
. "$ROOT/tests/e2e/lib.sh"
. "$ROOT/tests/e2e/wgfwd.sh"
if [ "${KEEP_LAB:-0}" != 1 ]; then
	on_exit "$LAB" down
	on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
	on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
	on_exit agent_stop
	on_exit gateway_stop
fi
trap 'exit 130' INT TERM

step() {
	printf '\n\033[1m== %s\033[0m\n' "$*"
}
show() {
	printf '   %s\n' "$@"
}
result() { # DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		printf '   \033[32mok\033[0m    %s: %s\n' "$1" "$3"
	else
		printf '   \033[31mNOT OK\033[0m %s: expected %s, got %s\n' "$1" "$2" "${3:-nothing}"
		demo_failed=1
	fi
}
demo_failed=0

step "Building the lab: internet, gateway VPS, home server with Docker, WireGuard between them"
"$LAB" up || exit 1
"$LAB" reset >/dev/null 2>&1
show "client  $LAB_CLIENT4 / $LAB_CLIENT6   (someone on the internet)" \
	"mail    $LAB_MAIL4   (a mail server on the internet)" \
	"gateway $LAB_GW_PUB4 / $LAB_GW_PUB6   (public addresses of the VPS)" \
	"server  home line $LAB_SRV_HOME4, tunnel $LAB_SRV_WG4; its ISP blocks outbound port 25" \
	"        and drops ICMP 'fragmentation needed' (a PMTUD black hole)"

step "Starting wgfwd-gateway on the VPS and wgfwd-agent on the server"
rm -rf "$GATEWAY_STATE"
gateway_start || exit 1
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY" || exit 1
show "wgfwd genkey made the shared key; the agent authenticated to the gateway over the tunnel" \
	"the VPS's owner granted this server smtp egress (--peer-egress $LAB_SRV_WG4=smtp);" \
	"without a grant no container may send anything out of the VPS's address"

step "Starting two containers with labels only (no published ports, no iptables lines)"
ldocker network create --ipv6 --subnet 172.28.0.0/24 --subnet fd00:28::/64 home >/dev/null
lab_web_start web --network home --label wgfwd.ports=443:80,80
_lab_start_service mail 25 tcp --network home --label wgfwd.ports=25 \
	--label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
show "web:  wgfwd.ports=443:80,80" "mail: wgfwd.ports=25  wgfwd.egress=smtp"
wait_until 5 lab_http_get client "$LAB_GW_PUB4" 443 >/dev/null

step "The web container sees the real client address, not a proxy's"
result "client -> https port 443 of the gateway (IPv4), web saw" "$LAB_CLIENT4" \
	"$(lab_http_get client "$LAB_GW_PUB4" 443)"
result "client -> port 80 of the gateway (IPv6), web saw" "$LAB_CLIENT6" \
	"$(wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80)"
result "client -> port 25 of the gateway, the mail container saw" "$LAB_CLIENT4" \
	"$(lab_http_get client "$LAB_GW_PUB4" 25)"

step "Outbound mail leaves through the gateway; the home line still blocks port 25"
: >"$LAB_MAIL_LOG"
echo QUIT | ldocker exec -i mail nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
result "mail container -> mail server port 25, the mail server saw" "$LAB_GW_PUB4" \
	"$(lab_mail_peers | head -n 1)"
ldocker run -d --name other --network home "$LAB_IMAGE" sleep 3600 >/dev/null
if echo QUIT | ldocker exec -i other nc -w 3 "$LAB_MAIL4" 25 2>/dev/null | grep -q .; then
	result "an unlabelled container's port 25" "blocked by the ISP" "got through"
else
	result "an unlabelled container's port 25" "blocked by the ISP" "blocked by the ISP"
fi

step "NAT loopback keeps the source: a container reaching the gateway's public address"
result "other container -> gateway:443, web saw" "$(lab_container_ip other home)" \
	"$(lab_http_get_in other "$LAB_GW_PUB4" 443)"

step "Large transfers cross the PMTUD black hole (the MSS is clamped to the tunnel)"
ldocker exec web sh -c 'head -c 300000 /dev/zero | tr "\0" x > /www/big'
size=$(printf 'GET /big HTTP/1.0\r\n\r\n' | on client nc -w 10 "$LAB_GW_PUB4" 80 | wc -c)
result "300 kB download through the tunnel, bytes received (with headers)" yes \
	"$([ "$size" -ge 300000 ] && echo yes || echo "no ($size)")"

step "A container stopped and started again"
ldocker stop -t 0 web >/dev/null
port_closed() {
	! lab_tcp_connect client "$LAB_GW_PUB4" "$1"
}
if wait_until 2 port_closed 443 >/dev/null; then
	result "after docker stop, gateway port 443" closed closed
else
	result "after docker stop, gateway port 443" closed open
fi
ldocker start web >/dev/null
result "after docker start, web saw" "$LAB_CLIENT4" \
	"$(wait_until 5 lab_http_get client "$LAB_GW_PUB4" 443)"

step "wgfwd status on the server"
agent_status
step "wgfwd status --gateway on the VPS"
gateway_status

step "Done"
if [ "$demo_failed" = 0 ]; then
	show "everything above worked; the lab and daemons are now taken down"
else
	show "something above did not work: see the NOT OK lines"
fi
[ "${KEEP_LAB:-0}" = 1 ] && show "KEEP_LAB=1: the lab stays up (tests/lab/lab.sh down to remove it)"
rm -f "$E2E_RESULTS"
_e2e_standalone=0
exit "$demo_failed"
