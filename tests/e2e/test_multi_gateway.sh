#!/bin/bash
# Two VPSes in front of one server (lab.sh gw2-up adds the second): the agent keeps a control
# channel to each and every forward on both, so a client reaches a labelled container through
# either gateway's public IPv4 and IPv6 address with its own address. A port one gateway's
# policy refuses works through the other only. Gateway A stopped whole (daemon and tunnel)
# leaves B answering and a long TCP stream through B untouched; A's return brings A's
# forwards back without disturbing B. Egress of a labelled container leaves by A, moves to B
# when A's tunnel dies (the switch time is printed) and comes back when A returns.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"
. "$(dirname "$0")/robust.sh"

STREAM_OUT=$LAB_RUN/stream-b.out
# shellcheck disable=SC2034 # read by robust.sh's stream functions
STREAM_ADDR=$LAB_GW2_PUB4
FAILOVER=3s
METRICS=127.0.0.1:9479
LINKS=(--gateway-link "vps1,$LAB_SRV_WG_IF,$LAB_GW_WG4"
	--gateway-link "vps2,$LAB_SRV_WG2_IF,$LAB_GW2_WG4")

on_exit "$LAB" gw2-down
on_exit "$LAB" tunnel-start gw
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" "${LINKS[@]}" --key "$WGFWD_KEY" --cleanup
on_exit agent_stop
on_exit gateway_stop
on_exit lab_kill gateway2
on_exit lab_kill stream-b
rm -rf "$GATEWAY_STATE" "$GATEWAY2_STATE"

check "the lab's second VPS comes up with its own tunnel" "$LAB" gw2-up

# Gateway A allows public port 80 only: 8080 is refused there, and B grants every port.
gateway_start --peer-ports "$LAB_SRV_WG4=80"
gateway2_start
ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80,8080:80
ldocker run -d --name stream --network apps --label wgfwd.ports=$STREAM_PORT "$LAB_IMAGE" \
	sh -c "while :; do nc -l -p $STREAM_PORT -e sh -c 'i=0; while :; do i=\$((i+1)); echo \$i; sleep 0.1; done'; done" \
	>/dev/null
ldocker run -d --name mailer --network apps --label wgfwd.egress=smtp "$LAB_IMAGE" sleep 3600 >/dev/null
ldocker run -d --name only2 --network apps --label wgfwd.ports=8082:80 --label wgfwd.gateways=vps2 \
	"$LAB_IMAGE" httpd -f -p 80 -h /www >/dev/null

wgfwd_key
lab_spawn agent srv "$WGFWD_BIN/wgfwd-agent" "${LINKS[@]}" --key "$WGFWD_KEY" \
	--failover-after "$FAILOVER" --docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK" \
	--metrics "$METRICS" --log-level debug
check_eq "the agent's control channels to both gateways come up" "true true" \
	wait_until 10 output_is "true true" agent_jq '[.gateways[].connected] | map(tostring) | join(" ")'
check_eq "status names both gateways, in order, with their own interfaces" \
	"vps1 $LAB_SRV_WG_IF 51820 vps2 $LAB_SRV_WG2_IF 51821" \
	agent_jq '[.gateways[] | .name, .interface, (.table | tostring)] | join(" ")'
PUBLIC="$LAB_GW_PUB4 $LAB_GW_PUB6 $LAB_GW2_PUB4 $LAB_GW2_PUB6"
check_eq "each gateway told its public addresses" "$PUBLIC" wait_until 10 output_is "$PUBLIC" \
	agent_jq '[.gateways[] | .public_ipv4[], .public_ipv6[]] | join(" ")'

# ---- forwards through either gateway ----
for addr in "$LAB_GW_PUB4" "$LAB_GW2_PUB4"; do
	check_eq "a client reaches the container through $addr with its own address" "$LAB_CLIENT4" \
		wait_until 10 lab_http_get client "$addr" 80
done
for addr in "$LAB_GW_PUB6" "$LAB_GW2_PUB6"; do
	check_eq "a client reaches the container through $addr with its own address" "$LAB_CLIENT6" \
		wait_until 10 lab_http_get client "$addr" 80
done
check_eq "a container reaches the other through B's public address (hairpin) with its own" \
	"$(lab_container_ip mailer)" lab_http_get_in mailer "$LAB_GW2_PUB4" 80

by_gateway() {
	agent_jq ".forwards[] | select(.public_port == $1) | .by_gateway[] | \"\(.gateway) \(.state)\"" |
		sort -u | tr '\n' ' '
}
check_eq "A's refusal of 8080 shows beside A only, B applied it" \
	"vps1 refused vps2 applied " wait_until 10 output_is "vps1 refused vps2 applied " by_gateway 8080
check_eq "the port A refused works through B" "$LAB_CLIENT4" wait_until 5 lab_http_get client "$LAB_GW2_PUB4" 8080
check_fails "and not through A (the same container listens behind it)" \
	lab_http_get client "$LAB_GW_PUB4" 8080
check_eq "the port A refused leaves A's other forwards applied" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 80
check_eq "wgfwd.gateways=vps2 puts a container on B" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW2_PUB4" 8082
check_fails "and never asks A for it" \
	on gw nft get element inet wgfwd_gateway fwd4 "{ tcp . 8082 }"
check_eq "status says so beside A" "vps1 not on this gateway (wgfwd.gateways) vps2 applied " by_gateway 8082

# ---- egress by A first ----
smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i mailer nc -w 1 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
check_eq "egress leaves by A, the first gateway" "$LAB_GW_PUB4" \
	wait_until 10 output_is "$LAB_GW_PUB4" smtp_from
check_eq "status says egress uses A" vps1 agent_jq .agent.egress_gateway

# ---- A stops whole: B keeps answering, and a stream through B never notices ----
# Every line there, in order, from 1: nothing lost, no reconnection (the last line may be
# still on its way).
stream_whole() {
	sed '$d' "$STREAM_OUT" |
		awk 'NR != $1 {print "line " NR " is " $1; bad = 1} END {print NR " lines"; exit bad}'
}
: >"$STREAM_OUT"
lab_spawn stream-b client sh -c "exec nc $LAB_GW2_PUB4 $STREAM_PORT > $STREAM_OUT"
check "a long TCP stream runs through B" wait_until 10 stream_flowing

now_ms() {
	echo $((${EPOCHREALTIME/[.,]/} / 1000))
}
gateway_stop
"$LAB" tunnel-stop gw
stopped_at=$(now_ms)
check_eq "with A stopped, B answers on IPv4 with the client's address" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW2_PUB4" 80
check_eq "and on IPv6" "$LAB_CLIENT6" lab_http_get client "$LAB_GW2_PUB6" 80
check "the stream through B flows on" stream_flowing

# ---- egress fails over to B within seconds ----
egress_by_b() {
	[ "$(smtp_from)" = "$LAB_GW2_PUB4" ]
}
if wait_until 30 egress_by_b >/dev/null; then
	switched_at=$(now_ms)
	_e2e_record 1 "egress moves to B when A's tunnel dies"
	echo "      egress failover: $((switched_at - stopped_at)) ms from A's stop to the first mail through B (--failover-after $FAILOVER)"
else
	_e2e_record 0 "egress moves to B when A's tunnel dies" "$(agent_jq .gateways)"
fi
check_eq "status says egress uses B and counts the switch" "vps2 1" \
	agent_jq '"\(.agent.egress_gateway) \(.agent.egress_switches)"'
check_eq "status shows A unhealthy, B healthy" "false true" \
	agent_jq '[.gateways[].healthy] | map(tostring) | join(" ")'
check_match "wgfwd status says it in words: B carries egress, A is unhealthy" \
	"gateway vps1: .*UNHEALTHY" on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK"
check_match "and names the gateway egress leaves by, with the switch" \
	"^egress through gateway vps2 \\(1 switches\\)$" on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK"
check_match "and each gateway's answer under a forward" "^ +vps1 +refused" \
	on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK"
# doctor exits 0 or 1 (failures found) when it ran; 2 is a usage error.
doctor_ran() {
	local rc=0
	on srv "$WGFWD_BIN/wgfwd" doctor --socket "$AGENT_SOCK" || rc=$?
	[ "$rc" -le 1 ]
}
check_match "wgfwd doctor warns of A and checks B's tunnel and table" \
	"WARN\\] gateway vps1: control channel down" doctor_ran
check_match "and finds B well" "ok  \\] gateway vps2: control channel up, healthy" doctor_ran
check_match "and B's routing table" "routing table 51821: [1-9][0-9]* wgfwd route" doctor_ran
metrics() {
	on srv curl -sf "http://$METRICS/metrics"
}
check_match "metrics say which gateway egress uses" 'wgfwd_agent_gateway_egress\{gateway="vps2"\} 1' metrics
check_match "and which one is down" 'wgfwd_agent_gateway_healthy\{gateway="vps1"\} 0' metrics

# ---- A returns ----
"$LAB" tunnel-start gw
gateway_start --peer-ports "$LAB_SRV_WG4=80"
returned_at=$(now_ms)
check_eq "A's forwards answer again with the client's address" "$LAB_CLIENT4" \
	wait_until 30 lab_http_get client "$LAB_GW_PUB4" 80
echo "      A's forwards answered $(($(now_ms) - returned_at)) ms after A's return"
check_eq "and on IPv6" "$LAB_CLIENT6" wait_until 5 lab_http_get client "$LAB_GW_PUB6" 80
check "the stream through B was not disturbed by A's return" stream_flowing
check_eq "egress comes back to A" "$LAB_GW_PUB4" wait_until 30 output_is "$LAB_GW_PUB4" smtp_from
check_eq "status counts the second switch" "vps1 2" \
	agent_jq '"\(.agent.egress_gateway) \(.agent.egress_switches)"'
check "the stream through B is whole: every line, in order, on its first connection" stream_whole
