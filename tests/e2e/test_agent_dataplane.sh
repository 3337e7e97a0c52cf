#!/bin/bash
# The server's data plane from container labels: wgfwd-agent alone, with a few static rules on
# the gateway standing in for wgfwd-gateway. Real client addresses over IPv4 and IPv6, replies
# through the tunnel, selective SMTP egress, MSS clamping across a PMTUD black hole, NAT
# loopback that keeps the source, Docker's FORWARD DROP, restarts, drift and cleanup.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit on gw nft delete table inet e2e_static
gateway_static

ldocker network create --ipv6 --subnet 172.30.0.0/24 --subnet fd00:30::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80,8080:80
_lab_start_service mail 25 tcp --network apps --label wgfwd.ports=25 \
	--label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
lab_web_start neighbour --network apps
lab_web_start elsewhere
agent_start --gateway-public "$LAB_GW_PUB4" --gateway-public "$LAB_GW_PUB6"

# Inbound, with the client's own address.
check_eq "web sees the client's IPv4 address through the gateway" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "web sees the client's IPv6 address through the gateway" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
check_eq "public 8080 reaches the container's port 80" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 8080
check_eq "inbound SMTP reaches the mail container with the client's address" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 25
check_fails "nothing is published on the home line" \
	lab_tcp_connect client "$LAB_SRV_HOME4" 80
check_match "DOCKER-USER accepts tunnel DNAT flows, readable by iptables" \
	'-A DOCKER-USER -i wg1 -m conntrack --ctstate DNAT -j ACCEPT' on srv iptables -S DOCKER-USER
check_match "Docker's FORWARD policy is still DROP" '^-P FORWARD DROP' on srv iptables -S FORWARD
check_match "IPv6 FORWARD accepts tunnel DNAT flows, readable by ip6tables" \
	'-i wg1 -m conntrack --ctstate DNAT -j ACCEPT' on srv ip6tables -S FORWARD
check_match "replies are routed back into the tunnel by mark" \
	'fwmark 0x77660001 lookup 51820 proto 207' on srv ip rule show
check_match "the tunnel table's default route is the tunnel" \
	'^default dev wg1 proto 207' on srv ip route show table 51820

# MSS: 300 kB each way across a path that drops "fragmentation needed".
big_reply() {
	printf 'GET /big HTTP/1.0\r\n\r\n' | on client nc -w 10 "$LAB_GW_PUB4" 80 | wc -c
}
ldocker exec web sh -c 'head -c 300000 /dev/zero | tr "\0" x > /www/big'
check_match "a 300 kB reply crosses the PMTUD black hole" '^30[0-9]{4}$' big_reply
ldocker rm -f upload >/dev/null 2>&1
ldocker run -d --name upload --network apps --label wgfwd.ports=9000 "$LAB_IMAGE" \
	sh -c 'nc -l -p 9000 > /tmp/up; sleep 3600' >/dev/null
upload_size() {
	ldocker exec upload wc -c /tmp/up | awk '{print $1}'
}
check "the upload listener's forward is in place" \
	wait_until 5 on srv nft get element inet wgfwd fwd4 '{ tcp . 9000 }'
head -c 300000 /dev/zero | on client nc -w 3 -q 1 "$LAB_GW_PUB4" 9000 >/dev/null 2>&1
check_eq "a 300 kB upload crosses the PMTUD black hole" 300000 wait_until 5 upload_size

# Egress: only the labelled container's SMTP leaves through the tunnel.
smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
check_eq "the labelled container's SMTP leaves from the gateway's address" "$LAB_GW_PUB4" \
	smtp_from mail
check_fails "an unlabelled container's SMTP is still blocked by the home ISP" \
	ldocker exec neighbour sh -c "echo QUIT | nc -w 3 $LAB_MAIL4 25 | grep -q ."
lab_listen mail 80
check_eq "the labelled container's port 80 still leaves by the home line" "$LAB_SRV_HOME4" \
	lab_tcp_get_in mail "$LAB_MAIL4" 80
check_match "egress rule is scoped to the container's bridge, address and port" \
	'from 172\.30\.0\.[0-9]+ iif br-[0-9a-f]+ ipproto tcp dport 25 lookup 51820' \
	on srv ip rule show

# NAT loopback that keeps the source.
check_eq "a neighbour reaching the public address is seen with its own address" \
	"$(lab_container_ip neighbour apps)" lab_http_get_in neighbour "$LAB_GW_PUB4" 80
check_eq "a container on another network is seen with its own address" \
	"$(lab_container_ip elsewhere)" lab_http_get_in elsewhere "$LAB_GW_PUB4" 80

# Idempotence and restarts.
before=$(nft_table srv inet wgfwd)
agent_kill
agent_start --gateway-public "$LAB_GW_PUB4" --gateway-public "$LAB_GW_PUB6"
sleep 0.5
check_eq "a restarted agent changes nothing in the kernel" "$before" nft_table srv inet wgfwd

ldocker rm -f stream >/dev/null 2>&1
ldocker run -d --name stream --network apps --label wgfwd.ports=9001 "$LAB_IMAGE" \
	sh -c 'while :; do nc -l -p 9001 -e sh -c "while :; do echo tick; sleep 0.1; done"; done' >/dev/null
on gw nft add element inet e2e_static pre '{}' 2>/dev/null
on gw nft insert rule inet e2e_static pre iifname "$LAB_GW_PUB_IF" ip daddr "$LAB_GW_PUB4" tcp dport 9001 dnat ip to "$LAB_SRV_WG4"
wait_until 5 on srv nft get element inet wgfwd fwd4 '{ tcp . 9001 }' >/dev/null
lab_spawn stream client sh -c "nc $LAB_GW_PUB4 9001 > $LAB_RUN/stream.out"
stream_lines() {
	wc -l <"$LAB_RUN/stream.out"
}
grows() {
	local a b
	a=$(stream_lines)
	sleep 0.5
	b=$(stream_lines)
	[ "$b" -gt "$a" ]
}
check "a TCP stream through the tunnel is flowing" wait_until 5 grows
agent_kill
agent_start --gateway-public "$LAB_GW_PUB4" --gateway-public "$LAB_GW_PUB6"
check "the stream survives an agent SIGKILL and restart" grows
lab_kill stream

# Containers come and go.
# "PROTO PORT" of the server's IPv4 forward PROTO . PORT, when there is one; fails when the map
# cannot be read.
server_forward() {
	local map
	map=$(on srv nft -j list map inet wgfwd fwd4) || return 1
	printf '%s\n' "$map" | jq -r --arg p "$1" --argjson n "$2" \
		'.nftables[] | select(.map) | .map.elem[]? | .[0].concat | select(.[0] == $p and .[1] == $n) | "\(.[0]) \(.[1])"'
}
check_eq "the running container's forward is in the server's map" "tcp 80" server_forward tcp 80
ldocker stop -t 0 web >/dev/null
check_eq "a stopped container's forward is gone within a second" "" \
	wait_until 1 output_is "" server_forward tcp 80
ldocker start web >/dev/null
check_eq "a restarted container is reachable again" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80

# Drift repair.
on srv nft delete table inet wgfwd
check_eq "a deleted table is restored" "$LAB_CLIENT4" \
	wait_until 2 lab_http_get client "$LAB_GW_PUB4" 80
on srv ip rule del priority 10000
check_match "a deleted ip rule is restored" 'fwmark 0x77660001 lookup 51820' \
	wait_until 2 output_matches 'fwmark 0x77660001' on srv ip rule show
on srv iptables -D DOCKER-USER -i wg1 -m conntrack --ctstate DNAT -j ACCEPT
check "a deleted DOCKER-USER rule is restored" \
	wait_until 2 on srv iptables -C DOCKER-USER -i wg1 -m conntrack --ctstate DNAT -j ACCEPT
# Strict reverse-path filtering on the tunnel drops internet clients; any drift the agent
# notices (here a rule deleted again) has it look at the sysctls too.
on srv sysctl -qw "net.ipv4.conf.$LAB_SRV_WG_IF.rp_filter=1"
on srv ip rule del priority 10000
check_eq "strict rp_filter set on the tunnel meanwhile is loosened again" 2 \
	wait_until 2 output_is 2 on srv sysctl -n "net.ipv4.conf.$LAB_SRV_WG_IF.rp_filter"
check_eq "and the client reaches the container again" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
# The kernel tells when forwarding or rp_filter change: that alone is drift to repair.
on srv sysctl -qw "net.ipv4.conf.$LAB_SRV_WG_IF.rp_filter=1"
check_eq "strict rp_filter set on the tunnel, and nothing else, is loosened again" 2 \
	wait_until 2 output_is 2 on srv sysctl -n "net.ipv4.conf.$LAB_SRV_WG_IF.rp_filter"
on srv sysctl -qw net.ipv4.ip_forward=0
check_eq "forwarding switched off is switched on again" 1 \
	wait_until 2 output_is 1 on srv sysctl -n net.ipv4.ip_forward
on srv ip route del default table 51820
check_match "a deleted route in the agent's table is restored" "default dev $LAB_SRV_WG_IF" \
	wait_until 2 output_matches 'default' on srv ip route show table 51820
# A link that goes down takes its IPv4 routes with it, and the kernel says nothing of them.
# (Its IPv6 addresses, which the lab made and the agent does not, are kept through it.)
keep=$(on srv sysctl -n "net.ipv6.conf.$LAB_SRV_WG_IF.keep_addr_on_down")
on srv sysctl -qw "net.ipv6.conf.$LAB_SRV_WG_IF.keep_addr_on_down=1"
on srv ip link set "$LAB_SRV_WG_IF" down
on srv ip link set "$LAB_SRV_WG_IF" up
on srv sysctl -qw "net.ipv6.conf.$LAB_SRV_WG_IF.keep_addr_on_down=$keep"
check_match "the tunnel's routes are back after it went down and up" "default dev $LAB_SRV_WG_IF" \
	wait_until 2 output_matches 'default' on srv ip route show table 51820
check_eq "and the client reaches the container through it" "$LAB_CLIENT4" \
	wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80

# Cleanup removes exactly what the agent owns.
agent_stop
on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup >/dev/null 2>&1
check_fails "cleanup removes the table" on srv nft list table inet wgfwd
check_fails "cleanup removes the ip rules" sh -c "$LAB exec srv ip rule show | grep -q 'proto 207'"
check_fails "cleanup removes the routes" sh -c "$LAB exec srv ip route show table 51820 | grep -q ."
check_fails "cleanup removes the DOCKER-USER rule" \
	on srv iptables -C DOCKER-USER -i wg1 -m conntrack --ctstate DNAT -j ACCEPT
check "Docker's own DOCKER-USER chain stays" on srv iptables -S DOCKER-USER
