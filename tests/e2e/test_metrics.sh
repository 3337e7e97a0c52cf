#!/bin/bash
# Metrics: both daemons serve Prometheus metrics on loopback inside their own hosts, and the
# numbers follow what happens: a labelled container starts, the gateway refuses a port, a
# stranger knocks on the control port, someone deletes the gateway's table.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

AGENT_METRICS=127.0.0.1:9586
GATEWAY_METRICS=127.0.0.1:9587
PEER=$LAB_SRV_WG4

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop

# The whole exposition of HOST's endpoint at ADDR:PORT.
scrape() {
	on "$1" curl -sf --max-time 5 "http://$2/metrics"
}

# One sample's value; the series is named as the text shows it, labels included.
sample() {
	scrape "$1" "$2" | awk -v series="$3" '$1 == series {print $2; found = 1} END {exit !found}'
}

agent_sample() {
	sample srv "$AGENT_METRICS" "$1"
}

gateway_sample() {
	sample gw "$GATEWAY_METRICS" "$1"
}

# The values of every series of a family (or its lines matching FILTER), on one line.
family_values() {
	scrape "$1" "$2" | awk -v name="$3" -v filter="${4:-}" '
		index($1, name) == 1 && (substr($1, length(name) + 1, 1) ~ /^[{]?$/) &&
		(filter == "" || $1 ~ filter) {printf "%s%s", sep, $2; sep = " "}
		END {print ""}'
}

gateway_peer_counts() {
	echo "$(gateway_sample wgfwd_gateway_peers) $(gateway_sample wgfwd_gateway_peers_connected)" \
		"$(gateway_sample "wgfwd_gateway_peer_connected{peer=\"$PEER\"}")"
}

applies_and_observations() {
	scrape srv "$AGENT_METRICS" | awk '
		$1 == "wgfwd_agent_applies_total" {a = $2}
		$1 == "wgfwd_agent_apply_duration_seconds_count" {c = $2}
		END {print a, c}'
}

generations_agree() {
	local sent acked
	sent=$(agent_sample wgfwd_agent_gateway_generation_sent) || return 1
	acked=$(agent_sample wgfwd_agent_gateway_generation_acked) || return 1
	echo "sent $sent, acked $acked"
	[ "$sent" = "$acked" ] && [ "$sent" != 0 ]
}

# Succeeds once the sample is at least MIN.
at_least() {
	local min=$1 value
	shift
	value=$("$@") || return 1
	echo "$value"
	awk -v v="$value" -v min="$min" 'BEGIN {exit !(v >= min)}'
}

# --- a non-loopback address is refused before anything starts
# CMD's output, then its exit status as `exit N'.
with_status() {
	"$@" 2>&1
	echo "exit $?"
}
agent_off_loopback=(on srv "$WGFWD_BIN/wgfwd-agent" --metrics "$LAB_SRV_WG4:9586")
gateway_off_loopback=(on gw "$WGFWD_BIN/wgfwd-gateway" --foreground
	--public-interface "$LAB_GW_PUB_IF" --peer "$PEER=/nonexistent"
	--metrics "[$LAB_GW_WG6]:9587")
check_match "the agent refuses a metrics address off loopback, and says why" \
	"--metrics: \`$LAB_SRV_WG4:9586' is not a loopback address.*--metrics-allow-remote" \
	with_status "${agent_off_loopback[@]}"
check_match "and exits with status 2" '^exit 2$' with_status "${agent_off_loopback[@]}"
check_match "the gateway refuses a metrics address off loopback, and says why" \
	'is not a loopback address.*--metrics-allow-remote' with_status "${gateway_off_loopback[@]}"
check_match "and exits with status 2" '^exit 2$' with_status "${gateway_off_loopback[@]}"

# --- both daemons up, with metrics
rm -rf "$GATEWAY_STATE"
gateway_start --metrics "$GATEWAY_METRICS"
ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY" --metrics "$AGENT_METRICS"
wait_until 5 output_is true agent_jq .gateway.connected >/dev/null

check_match "the agent serves metrics in the text format" \
	'^# TYPE wgfwd_agent_applies_total counter$' scrape srv "$AGENT_METRICS"
check_eq "with the text format's content type" "text/plain; version=0.0.4; charset=utf-8" \
	on srv curl -s -o /dev/null -w '%{content_type}' "http://$AGENT_METRICS/metrics"
check_eq "other paths are not found" 404 \
	on srv curl -s -o /dev/null -w '%{http_code}' "http://$AGENT_METRICS/"
check_match "the gateway serves metrics in the text format" \
	'^# TYPE wgfwd_gateway_applies_total counter$' scrape gw "$GATEWAY_METRICS"
check_fails "the agent's endpoint is not reachable from the tunnel" \
	on gw curl -sf --max-time 3 "http://$LAB_SRV_WG4:9586/metrics"
check_eq "the agent reports the gateway link up" 1 \
	wait_until 5 output_is 1 agent_sample wgfwd_agent_gateway_link_up
check_eq "the gateway reports its one peer connected" "1 1 1" \
	wait_until 5 output_is "1 1 1" gateway_peer_counts

applies_before=$(agent_sample wgfwd_agent_applies_total)
elements_before=$(agent_sample 'wgfwd_agent_nft_changes_total{kind="elements"}')
gw_applies_before=$(gateway_sample wgfwd_gateway_applies_total)
check_eq "no forwards before any labelled container" 0 agent_sample wgfwd_agent_forwards

# --- a labelled container starts
lab_web_start web --network apps --label wgfwd.ports=80 --label wgfwd.egress=smtp
check_eq "the agent counts the new forward" 1 \
	wait_until 5 output_is 1 agent_sample wgfwd_agent_forwards
check_eq "and the egress selection" 1 agent_sample wgfwd_agent_egress_selections
check "the agent counts more applies" \
	at_least $((applies_before + 1)) agent_sample wgfwd_agent_applies_total
check "the forward went in as map elements" \
	at_least $((elements_before + 1)) agent_sample 'wgfwd_agent_nft_changes_total{kind="elements"}'
check_match "every apply is in the latency histogram" '^([0-9]+) \1$' applies_and_observations
check_eq "the gateway holds the peer's forward for both families" 2 \
	wait_until 5 output_is 2 gateway_sample "wgfwd_gateway_forwards{peer=\"$PEER\"}"
check_eq "and its egress entry" 1 gateway_sample "wgfwd_gateway_egress_entries{peer=\"$PEER\"}"
check "the gateway counts more applies" \
	at_least $((gw_applies_before + 1)) gateway_sample wgfwd_gateway_applies_total
check_match "the gateway's apply latency histogram has observations" '^[1-9][0-9]*$' \
	gateway_sample wgfwd_gateway_apply_duration_seconds_count
check "the gateway acknowledged the agent's latest generation" wait_until 5 generations_agree
check_eq "the gateway's generation of the peer matches" \
	"$(agent_sample wgfwd_agent_gateway_generation_acked)" \
	gateway_sample "wgfwd_gateway_peer_generation{peer=\"$PEER\"}"

# --- the gateway refuses a reserved port
lab_web_start sshd --network apps --label wgfwd.ports=22:80
check "the gateway counts the refusal as reserved" \
	wait_until 5 at_least 1 gateway_sample 'wgfwd_gateway_refused_entries_total{reason="reserved"}'
check_eq "the agent reports the refused forwards of the last acknowledgement" 2 \
	wait_until 5 output_is 2 agent_sample 'wgfwd_agent_gateway_refused{entry="forward"}'
check_eq "and no other refusal reason moved" "0 0 0 0" \
	family_values gw "$GATEWAY_METRICS" wgfwd_gateway_refused_entries_total '(invalid|taken|duplicate|too_many)'
check_eq "a problem-free desired state reports no problems" "0 0" \
	family_values srv "$AGENT_METRICS" wgfwd_agent_problems

# --- strangers on the control port
on gw nc -w 2 -s "$LAB_GW_WG4" "$LAB_GW_WG4" 51821 </dev/null >/dev/null 2>&1
check "a connection from a non-peer address is counted as rejected" \
	wait_until 5 at_least 1 gateway_sample 'wgfwd_gateway_connections_rejected_total{reason="not_a_peer"}'
printf '\377\377\377\377xxxx' | on srv timeout 5 nc -q 2 "$LAB_GW_WG4" 51821 >/dev/null 2>&1
check "a garbled handshake from the peer's address is counted" \
	wait_until 5 at_least 1 gateway_sample wgfwd_gateway_handshake_failures_total
check_eq "and the real agent stays connected" 1 \
	gateway_sample "wgfwd_gateway_peer_connected{peer=\"$PEER\"}"

# --- drift on the gateway
on gw nft delete table inet wgfwd_gateway
check "a deleted gateway table is repaired and counted" \
	wait_until 10 at_least 1 gateway_sample wgfwd_gateway_drift_repairs_total
check_eq "the repaired table holds the forwards again" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80

# --- with --metrics-allow-remote the endpoint may sit on the tunnel address
agent_stop
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY" \
	--metrics "$LAB_SRV_WG4:9586" --metrics-allow-remote
check_match "with --metrics-allow-remote the agent serves on its tunnel address" \
	'^wgfwd_agent_forwards 2$' \
	wait_until 5 output_matches '^wgfwd_agent_forwards 2$' \
	on gw curl -sf --max-time 3 "http://$LAB_SRV_WG4:9586/metrics"
