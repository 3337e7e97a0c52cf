#!/bin/bash
# What an operator trips over in the first hour: an agent given a tunnel interface that does
# not exist names it and slows its retries; SIGHUP makes the agent check now instead of
# killing it; a gateway started without --foreground leaves the terminal once it is ready.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

# Registered first, run last: once no daemon runs, their tables go (a running one would put
# its table back), or the gateway's drops would meet the next scenario's traffic.
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop

# ---- a wrong interface name ----
lab_web_start web --label wgfwd.ports=80
on_exit ldocker rm -f web
lab_spawn agent srv "$WGFWD_BIN/wgfwd-agent" --interface wg9 \
	--docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK" --log-level debug
last_error() {
	on srv "$WGFWD_BIN/wgfwd" status --socket "$AGENT_SOCK" --json | jq -r .agent.last_error
}
check_eq "the agent's status names the interface that does not exist" \
	"interface wg9 does not exist (--interface)" \
	wait_until 10 output_is "interface wg9 does not exist (--interface)" last_error
sleep 6
apply_errors() {
	grep -c 'error: apply failed' "$LAB_RUN/bg/agent.log"
}
retries() {
	grep -c 'apply failed again' "$LAB_RUN/bg/agent.log"
}
check_eq "its log says so once, not at every retry" 1 apply_errors
check_match "naming the interface" 'apply failed: interface wg9 does not exist \(--interface\)' \
	grep 'error: apply failed' "$LAB_RUN/bg/agent.log"
check_fails "never with the bare errno text" grep -q 'No such device' "$LAB_RUN/bg/agent.log"
# 1 + 2 + 4 s of backoff in the 7 s or so since the first failure: three retries, not seven.
check_match "its retries slow down (1, 2, 4 s ...)" '^[1-4]$' retries
agent_stop

# ---- SIGHUP ----
gateway_start
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check_eq "the forward works" "$LAB_CLIENT4" wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80
agent_pid() {
	pgrep -f -- "--status-socket $AGENT_SOCK" | head -n 1
}
pid=$(agent_pid)
on srv nft delete table inet wgfwd 2>/dev/null
kill -HUP "$pid"
sleep 1
check_eq "SIGHUP does not end the agent" "$pid" agent_pid
check_match "it says what SIGHUP does" 'received SIGHUP: checking the kernel against the desired state now' agent_log
check_eq "and the forward still works" "$LAB_CLIENT4" wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
agent_stop
gateway_stop

# ---- the gateway detached ----
# Its standard error is a file standing for the terminal it was started from.
term=$LAB_RUN/gateway-terminal.log
detached_start() {
	on gw "$WGFWD_BIN/wgfwd-gateway" --interface "$LAB_GW_WG_IF" \
		--public-interface "$LAB_GW_PUB_IF" --peer "$LAB_SRV_WG4,$LAB_SRV_WG6=$WGFWD_KEY" \
		--state-dir "$GATEWAY_STATE" --status-socket "$GATEWAY_SOCK" --log-level debug \
		</dev/null >"$term" 2>&1
}
detached_pid() {
	pgrep -f -- "--status-socket $GATEWAY_SOCK" | head -n 1
}
on_exit 'kill $(pgrep -f -- "--status-socket '"$GATEWAY_SOCK"'") 2>/dev/null'
check "wgfwd-gateway without --foreground returns once it is ready" detached_start
check_match "it is running, detached" '^[0-9]+$' detached_pid
before=$(wc -l <"$term")
check "its start-up was said on the terminal" test "$before" -gt 0
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check_eq "it serves the agent" "$LAB_CLIENT4" wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "nothing more reaches the terminal it was started from" "$before" wc -l <"$term"
check_fails "not even the agent's connection" grep -q 'connected from' "$term"
