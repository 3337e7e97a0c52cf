#!/bin/bash
# The lab itself behaves like the world wgfwd is made for: the tunnel carries both families,
# the gateway is reachable from the internet, the home ISP blocks outbound SMTP and loses
# "packet too big" messages, and Docker runs in the server with its firewall in charge.
# shellcheck source=tests/e2e/lib.sh disable=SC2016
. "$(dirname "$0")/lib.sh"

# --- the tunnel ---------------------------------------------------------------------------------
check "server pings the gateway through the tunnel (IPv4)" on srv ping -c 1 -W 2 "$LAB_GW_WG4"
check "server pings the gateway through the tunnel (IPv6)" on srv ping -c 1 -W 2 "$LAB_GW_WG6"
check "gateway pings the server through the tunnel (IPv4)" on gw ping -c 1 -W 2 "$LAB_SRV_WG4"
check "gateway pings the server through the tunnel (IPv6)" on gw ping -c 1 -W 2 "$LAB_SRV_WG6"
check_eq "the gateway's tunnel interface has MTU $LAB_WG_MTU" "$LAB_WG_MTU" \
	on gw cat "/sys/class/net/$LAB_GW_WG_IF/mtu"
check_eq "the server's tunnel interface has MTU $LAB_WG_MTU" "$LAB_WG_MTU" \
	on srv cat "/sys/class/net/$LAB_SRV_WG_IF/mtu"

server_route_to_internet_uses_home_line() {
	on srv ip route get "$LAB_MAIL4" | grep -q "dev $LAB_SRV_HOME_IF"
}
check "the server reaches the internet through its home line, not the tunnel" \
	server_route_to_internet_uses_home_line

# --- the internet -------------------------------------------------------------------------------
check "the client reaches the gateway's public address (IPv4)" \
	on client ping -c 1 -W 2 "$LAB_GW_PUB4"
check "the client reaches the gateway's public address (IPv6)" \
	on client ping -c 1 -W 2 "$LAB_GW_PUB6"

smtp_from_client() {
	printf 'EHLO client.example\r\nQUIT\r\n' | on client nc -w 5 "$1" 25
}
check_match "the mail host answers SMTP from the client (IPv4)" '^221 ' smtp_from_client "$LAB_MAIL4"
check_match "the mail host answers SMTP from the client (IPv6)" '^221 ' smtp_from_client "$LAB_MAIL6"
check_eq "the mail host records the addresses that connected" \
	"$(printf '%s\n' "$LAB_CLIENT6" "$LAB_CLIENT4" | sort)" lab_mail_peers

# --- the home ISP -------------------------------------------------------------------------------
smtp_blocked_before=$(lab_nft_counter inet inet wf-isp smtp_blocked)
check_fails "the ISP blocks SMTP from the home line (IPv4)" lab_tcp_connect srv "$LAB_MAIL4" 25
check_fails "the ISP blocks SMTP from the home line (IPv6)" lab_tcp_connect srv "$LAB_MAIL6" 25
check "the blocked connections were refused by the ISP's rule" \
	test "$(lab_nft_counter inet inet wf-isp smtp_blocked)" -ge $((smtp_blocked_before + 2))
home_line_mail_peers() {
	local peers
	peers=$(lab_mail_peers) || return 1
	printf '%s\n' "$peers" | grep_lines -Fx -e "$LAB_SRV_HOME4" -e "$LAB_SRV_HOME6"
}
check_eq "no SMTP from the home line reached the mail host" "" home_line_mail_peers

lab_listen mail 80
check_eq "the home line reaches tcp/80 on the mail host, seen from its own address (IPv4)" \
	"$LAB_SRV_HOME4" lab_tcp_get srv "$LAB_MAIL4" 80
check_eq "the home line reaches tcp/80 on the mail host, seen from its own address (IPv6)" \
	"$LAB_SRV_HOME6" lab_tcp_get srv "$LAB_MAIL6" 80

# The client counts the "packet too big" messages it receives. One sent by the gateway
# crosses the ISP and is dropped there; one sent by the ISP's router itself arrives, which
# shows that the message would be understood and that the count moves.
frag_needed_received() {
	on client awk '/^Icmp:/ { if (!seen) { for (i = 1; i <= NF; i++) col[$i] = i; seen = 1 }
		else print $col["InDestUnreachs"] }' /proc/net/snmp
}
packet_too_big_received() {
	on client awk '$1 == "Icmp6InPktTooBigs" {print $2}' /proc/net/snmp6
}
isp_counter_above() {
	test "$(lab_nft_counter inet inet wf-isp "$1")" -gt "$2"
}
# MESSAGE CLIENT_ADDR ISP_COUNTER RECEIVED_COUNT_FUNCTION
check_too_big_black_hole() {
	local message=$1 client=$2 counter=$3 received_count=$4 received dropped
	received=$($received_count)
	dropped=$(lab_nft_counter inet inet wf-isp "$counter")
	on gw "$HELPERS/icmp_too_big" "$client" 1280
	check "the ISP drops an $message on its way to the client" \
		wait_until 3 isp_counter_above "$counter" "$dropped"
	on inet "$HELPERS/icmp_too_big" "$client" 1280
	check_eq "the client receives only the $message sent by the ISP's router itself" \
		$((received + 1)) wait_until 3 output_is $((received + 1)) "$received_count"
}
check_too_big_black_hole "ICMP frag-needed" "$LAB_CLIENT4" frag_needed_dropped \
	frag_needed_received
check_too_big_black_hole "ICMPv6 packet-too-big" "$LAB_CLIENT6" packet_too_big_dropped \
	packet_too_big_received

# --- Docker in the server -----------------------------------------------------------------------
check_match "Docker in the server answers" '^20\.' ldocker version -f '{{.Server.Version}}'
check_eq "the server's FORWARD policy is DROP, as Docker sets it" "-P FORWARD DROP" \
	eval "on srv iptables -S FORWARD | head -n 1"
check_match "Docker sends forwarded traffic through DOCKER-USER" '^-A FORWARD -j DOCKER-USER$' \
	on srv iptables -S FORWARD
# Docker 20.10 has no DOCKER-USER chain for IPv6: whatever must pass has to be accepted
# in the ip6 FORWARD path some other way.
check_eq "the server's IPv6 FORWARD policy is DROP too" "-P FORWARD DROP" \
	eval "on srv ip6tables -S FORWARD | head -n 1"

lab_web_start web
check_match "a busybox container runs and has an IPv4 address" '^172\.17\.' lab_container_ip web
check_match "the container has an IPv6 address on the default bridge" '^fd00:d0c::' \
	lab_container_ip6 web
check_eq "the server reaches the container's web service, which sees the bridge address" \
	172.17.0.1 lab_http_get srv "$(lab_container_ip web)"
check_eq "the web service answers over IPv6 too" fd00:d0c::1 \
	lab_http_get srv "$(lab_container_ip6 web)"
check_eq "the web service says which container answered" web \
	lab_http_get srv "$(lab_container_ip web)" 80 /cgi-bin/name

ldocker network create --ipv6 --subnet 172.30.0.0/24 --subnet fd00:d0c:1::/64 labnet >/dev/null
lab_udp_start udp --network labnet
check_match "a container on a user-defined network gets an IPv6 address" '^fd00:d0c:1::' \
	lab_container_ip6 udp labnet
check_match "the UDP service answers with the address it saw (IPv4)" \
	"^172\.30\.0\.1 [0-9]+ udp hello\$" \
	lab_udp_send srv "$(lab_container_ip udp labnet)" "$LAB_UDP_PORT" hello
check_match "the UDP service answers with the address it saw (IPv6)" \
	"^fd00:d0c:1::1 [0-9]+ udp hello\$" \
	lab_udp_send srv "$(lab_container_ip6 udp labnet)" "$LAB_UDP_PORT" hello

check_eq "a container reaches the internet through the home line, masqueraded (IPv4)" \
	"$LAB_SRV_HOME4" lab_tcp_get_in udp "$LAB_MAIL4" 80
check_eq "a container reaches the internet through the home line, masqueraded (IPv6)" \
	"$LAB_SRV_HOME6" lab_tcp_get_in udp "$LAB_MAIL6" 80
