# tests/e2e/wgfwd.sh: wgfwd's daemons in the lab, for the scenarios (sourced after lib.sh).
#   agent_start [options...]      wgfwd-agent in the server, following the lab's Docker
#   agent_stop / agent_kill       SIGTERM / SIGKILL it (forwards stay in place)
#   agent_status [--json]         `wgfwd status` of the running agent
#   agent_log                     what it logged
#   logs_mark                     agent_log_since / gateway_log_since print only what the
#                                 daemons log after this (everything until it is called)
#   gateway_static                a few static DNAT/forward/masquerade rules on the gateway in
#                                 place of wgfwd-gateway, for data-plane scenarios
#   gateway_start [options...]    wgfwd-gateway on the gateway, with the server as its peer,
#                                 granted the egress in $GATEWAY_EGRESS (default smtp, what the
#                                 scenarios ask for; empty: no --peer-egress, so none)
#   gateway_stop / gateway_kill
#   gateway2_start / gateway2_kill
#                                 wgfwd-gateway on the second VPS (lab.sh gw2-up), the server's
#                                 second tunnel address its peer, granted smtp
#   nft_table HOST FAMILY NAME    the table as `nft -a list table` prints it (handles included)
# shellcheck shell=bash

# The programs under test (tests/check-mutants.sh points it at a mutant's build).
WGFWD_BIN=${WGFWD_BIN:-$ROOT/build}
AGENT_SOCK=$LAB_RUN/agent.sock
GATEWAY_SOCK=$LAB_RUN/gateway.sock
GATEWAY_STATE=$LAB_RUN/gateway-state
GATEWAY2_SOCK=$LAB_RUN/gateway2.sock
GATEWAY2_STATE=$LAB_RUN/gateway2-state
WGFWD_KEY=$LAB_RUN/wgfwd.key

wgfwd_key() {
	[ -s "$WGFWD_KEY" ] || (umask 077 && "$WGFWD_BIN/wgfwd" genkey >"$WGFWD_KEY")
}

agent_start() {
	lab_spawn agent srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" \
		--docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK" \
		--log-level debug "$@" || return 1
	wait_until 10 on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK" --check >/dev/null
}

_agent_pids() {
	pgrep -f -- "--status-socket $AGENT_SOCK"
}

agent_stop() {
	lab_kill agent
}

agent_kill() {
	local pid
	for pid in $(_agent_pids); do
		kill -9 "$pid"
	done
	wait_until 5 _no_agent >/dev/null
}

_no_agent() {
	! _agent_pids >/dev/null
}

agent_status() {
	on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK" "$@"
}

agent_log() {
	cat "$LAB_RUN/bg/agent.log"
}

gateway_static() {
	on gw nft -f - <<-EOF
		table inet e2e_static {
			chain pre {
				type nat hook prerouting priority -100;
				iifname "$LAB_GW_PUB_IF" ip daddr $LAB_GW_PUB4 meta l4proto { tcp, udp } th dport { 25, 80, 8080, 9000, 5353 } dnat ip to $LAB_SRV_WG4
				iifname "$LAB_GW_PUB_IF" ip6 daddr $LAB_GW_PUB6 meta l4proto { tcp, udp } th dport { 25, 80, 8080, 9000, 5353 } dnat ip6 to $LAB_SRV_WG6
			}
			chain clampit {
				type filter hook forward priority -150;
				oifname "$LAB_GW_WG_IF" tcp flags syn tcp option maxseg size set rt mtu
			}
			chain post {
				type nat hook postrouting priority 100;
				iifname "$LAB_GW_WG_IF" oifname "$LAB_GW_PUB_IF" masquerade
			}
		}
	EOF
}

gateway_start() {
	local grant=()
	wgfwd_key
	mkdir -p "$GATEWAY_STATE"
	# The gateway grants no egress by default; the operator (here, the lab) grants it.
	[ -n "${GATEWAY_EGRESS-smtp}" ] && grant=(--peer-egress "$LAB_SRV_WG4=${GATEWAY_EGRESS-smtp}")
	lab_spawn gateway gw "$WGFWD_BIN/wgfwd-gateway" --foreground \
		--interface "$LAB_GW_WG_IF" --public-interface "$LAB_GW_PUB_IF" \
		--peer "$LAB_SRV_WG4,$LAB_SRV_WG6=$WGFWD_KEY" "${grant[@]}" --state-dir "$GATEWAY_STATE" \
		--status-socket "$GATEWAY_SOCK" --log-level debug "$@" || return 1
	wait_until 10 on gw "$WGFWD_BIN/wgfwd" status --socket "$GATEWAY_SOCK" >/dev/null
}

_gateway_pids() {
	pgrep -f -- "--status-socket $GATEWAY_SOCK"
}

gateway_stop() {
	lab_kill gateway
}

gateway_kill() {
	local pid
	for pid in $(_gateway_pids); do
		kill -9 "$pid"
	done
	wait_until 5 _no_gateway >/dev/null
}

_no_gateway() {
	! _gateway_pids >/dev/null
}

gateway2_start() {
	wgfwd_key
	mkdir -p "$GATEWAY2_STATE"
	lab_spawn gateway2 gw2 "$WGFWD_BIN/wgfwd-gateway" --foreground \
		--interface "$LAB_GW2_WG_IF" --public-interface "$LAB_GW2_PUB_IF" \
		--peer "$LAB_SRV_WG2_4,$LAB_SRV_WG2_6=$WGFWD_KEY" --peer-egress "$LAB_SRV_WG2_4=smtp" \
		--state-dir "$GATEWAY2_STATE" --status-socket "$GATEWAY2_SOCK" --log-level debug ||
		return 1
	wait_until 10 on gw2 "$WGFWD_BIN/wgfwd" status --socket "$GATEWAY2_SOCK" >/dev/null
}

# SIGKILL: what it put in the kernel stays and keeps forwarding.
gateway2_kill() {
	local pid
	for pid in $(pgrep -f -- "--status-socket $GATEWAY2_SOCK"); do
		kill -9 "$pid"
	done
	wait_until 5 sh -c "! pgrep -f -- '--status-socket $GATEWAY2_SOCK'" >/dev/null
}

gateway_status() {
	on gw "$WGFWD_BIN/wgfwd" status --socket "$GATEWAY_SOCK" "$@"
}

gateway_log() {
	cat "$LAB_RUN/bg/gateway.log"
}

_log_from_agent=0
_log_from_gateway=0
logs_mark() {
	_log_from_agent=$(agent_log 2>/dev/null | wc -l)
	_log_from_gateway=$(gateway_log 2>/dev/null | wc -l)
}

agent_log_since() {
	agent_log | tail -n +$((_log_from_agent + 1))
}

gateway_log_since() {
	gateway_log | tail -n +$((_log_from_gateway + 1))
}

nft_table() {
	on "$1" nft -a list table "$2" "$3"
}

# The agent's status as JSON, reduced by a jq filter.
agent_jq() {
	agent_status --json | jq -r "$1"
}
