#!/bin/bash
# The agent's flows through newer Docker engines' firewalls, reproduced around the lab's real
# containers by tests/lab/docker_rules.sh (which names the moby tag and commit each ruleset
# comes from):
#   - Docker 28.5.2's iptables rules (DOCKER-FORWARD, DOCKER-CT, DOCKER-BRIDGE, the drop of
#     unpublished ports, raw drops of container addresses from other interfaces), with
#     networks in the gateway modes nat, routed and nat-unprotected;
#   - Docker 29's nftables backend (ip/ip6 docker-bridges, no DOCKER-USER) with dockerd's
#     bridge-accept-fwmark: dropped without the agent's --bridge-accept-fwmark, passing with.
# Each: the client's real IPv4 and IPv6 address, SMTP egress through the gateway, NAT
# loopback from another network, and a container stopped and started again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

RULES=$ROOT/tests/lab/docker_rules.sh
# web is treated as publishing a port: Docker 28 and 29 then drop its address arriving from
# other interfaces in raw PREROUTING, before any NAT (tunnel flows are addressed to the server
# until DNAT, so they pass).
export DOCKER_RULES_PUBLISHED=web
MARK=0x4000000/0x4000000

on_exit "$RULES" restore
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit on gw nft delete table inet e2e_static
gateway_static
on gw nft add rule inet e2e_static pre iifname "$LAB_GW_PUB_IF" ip daddr "$LAB_GW_PUB4" \
	tcp dport '{ 8081, 8082 }' dnat ip to "$LAB_SRV_WG4"

ldocker network create --ipv6 --subnet 172.30.0.0/24 --subnet fd00:30::/64 apps >/dev/null
ldocker network create -o com.docker.network.bridge.gateway_mode_ipv4=routed \
	--subnet 172.31.0.0/24 routednet >/dev/null
ldocker network create -o com.docker.network.bridge.gateway_mode_ipv4=nat-unprotected \
	--subnet 172.29.0.0/24 unprot >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80
lab_web_start rweb --network routednet --label wgfwd.ports=8081:80
lab_web_start uweb --network unprot --label wgfwd.ports=8082:80
_lab_start_service mail 25 tcp --network apps --label wgfwd.ports=25 \
	--label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
lab_web_start elsewhere
"$RULES" save

smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}

# The core flows, with a name for the variant in each description.
core_flows() {
	local v=$1
	check_eq "$v: web sees the client's IPv4 address" "$LAB_CLIENT4" \
		wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
	check_eq "$v: web sees the client's IPv6 address" "$LAB_CLIENT6" \
		wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
	check_eq "$v: a container on a routed network sees the client's address" "$LAB_CLIENT4" \
		wait_until 5 lab_http_get client "$LAB_GW_PUB4" 8081
	check_eq "$v: a container on a nat-unprotected network sees the client's address" \
		"$LAB_CLIENT4" wait_until 5 lab_http_get client "$LAB_GW_PUB4" 8082
	check_eq "$v: the labelled container's SMTP leaves from the gateway's address" \
		"$LAB_GW_PUB4" smtp_from mail
	check_eq "$v: a container on another network reaching the public address keeps its own" \
		"$(lab_container_ip elsewhere)" lab_http_get_in elsewhere "$LAB_GW_PUB4" 80
	ldocker stop -t 0 web >/dev/null
	ldocker start web >/dev/null
	"$RULES" "$2" ${3:+"$3"}
	check_eq "$v: web stopped and started again is reachable" "$LAB_CLIENT4" \
		wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
}

# Docker 28, iptables.
"$RULES" iptables28
check_match "Docker 28's chains are in place" '^-A DOCKER-FORWARD -j DOCKER-CT' \
	on srv iptables -S
check_match "and its raw drop of a container address from other interfaces" \
	"^-A PREROUTING -d $(lab_container_ip web apps)/32 ! -i br-[0-9a-f]+ -j DROP" \
	on srv iptables -t raw -S PREROUTING
agent_start --gateway-public "$LAB_GW_PUB4" --gateway-public "$LAB_GW_PUB6" \
	--reconcile-interval 1000
check_match "the agent finds Docker's iptables firewall" '"docker_firewall": *"iptables"' \
	agent_status --json
core_flows "Docker 28 iptables" iptables28
agent_stop

# Docker 29, nftables, bridge-accept-fwmark set in dockerd.
"$RULES" nft29 "$MARK"
check_fails "Docker 29's nftables backend leaves no DOCKER-USER" on srv iptables -S DOCKER-USER
check_match "its forward chain accepts the mark" \
	'meta mark & 0x04000000 == 0x04000000 .*accept comment "ALLOW FW MARK"' \
	on srv nft list table ip docker-bridges
agent_start --gateway-public "$LAB_GW_PUB4" --gateway-public "$LAB_GW_PUB6"
check_fails "without --bridge-accept-fwmark Docker drops the forwarded flow" \
	lab_tcp_connect client "$LAB_GW_PUB4" 80
check_match "the agent says once what daemon.json needs" \
	"Docker uses its nftables backend.*\"bridge-accept-fwmark\": \"$MARK\"" agent_log
check_eq "only once" 1 sh -c "grep -c 'Docker uses its nftables backend' $LAB_RUN/bg/agent.log"
check_match "wgfwd status says it too" 'WARNING: Docker uses its nftables backend' agent_status
# doctor exits 1 when a check fails.
check_match --status 1 "wgfwd doctor names the engine and the backend" \
	'^\[ok  \] engine: Docker [0-9.]+.*firewall backend nftables' \
	on srv "$WGFWD_BIN/wgfwd" doctor --interface "$LAB_SRV_WG_IF" --docker-host \
	"$LAB_DOCKER_HOST" --socket "$AGENT_SOCK"
check_match --status 1 "and fails the agent's missing mark" \
	'^\[FAIL\] the agent runs without --bridge-accept-fwmark' \
	on srv "$WGFWD_BIN/wgfwd" doctor --interface "$LAB_SRV_WG_IF" --docker-host \
	"$LAB_DOCKER_HOST" --socket "$AGENT_SOCK"
agent_stop
agent_start --gateway-public "$LAB_GW_PUB4" --gateway-public "$LAB_GW_PUB6" \
	--bridge-accept-fwmark "$MARK"
check_match "the agent's first packets carry the mark, beside its own" \
	'ct mark set 0x77660001 meta mark set meta mark \| 0x04000000' \
	on srv nft list chain inet wgfwd mark_in
core_flows "Docker 29 nftables" nft29 "$MARK"
check_match "Docker's mark rule saw the flows" \
	'meta mark & 0x04000000 == 0x04000000 counter packets [1-9]' \
	on srv nft list table ip docker-bridges
check_match "wgfwd doctor is content with the mark" \
	'^\[ok  \] the agent marks its flows with the bridge-accept-fwmark' \
	on srv "$WGFWD_BIN/wgfwd" doctor --interface "$LAB_SRV_WG_IF" --docker-host \
	"$LAB_DOCKER_HOST" --socket "$AGENT_SOCK"
