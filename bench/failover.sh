#!/bin/bash
# Failover with two gateways, in the namespace lab (tests/lab, with its second VPS):
#   egress     gateway A stopped whole (daemon and WireGuard): time from the stop to the first
#              SMTP connection of a labelled container that leaves by gateway B
#   return     A started again (WireGuard, then its daemon): time to A's forwards answering a
#              client again, and to egress leaving by A again
# Each run prints its samples; the summary, with the commit it measured, is written to
# bench/FAILOVER.md.
#
#   bench/failover.sh            RUNS=5 FAILOVER=3s (the agent's --failover-after)
#   NO_RESULTS=1 bench/failover.sh   print only
#
# Probes: from the container's network namespace with the host's socat, a connection attempt
# every PROBE_MS (default 100 ms) with a 250 ms connect timeout; the mail host logs the source
# address it saw. Times come from EPOCHREALTIME on this one machine.
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
E2E_TEST=failover_bench
# shellcheck source=tests/e2e/lib.sh
. "$BENCH_DIR/../tests/e2e/lib.sh"
# shellcheck source=tests/e2e/wgfwd.sh
. "$BENCH_DIR/../tests/e2e/wgfwd.sh"
RUNS=${RUNS:-5}
FAILOVER=${FAILOVER:-3s}
PROBE_MS=${PROBE_MS:-100}
RESULTS=$BENCH_DIR/FAILOVER.md
GATEWAY2_SOCK=$LAB_RUN/gateway2.sock
GATEWAY2_STATE=$LAB_RUN/gateway2-state
LINKS=(--gateway-link "vps1,$LAB_SRV_WG_IF,$LAB_GW_WG4"
	--gateway-link "vps2,$LAB_SRV_WG2_IF,$LAB_GW2_WG4")
OUT=$(mktemp -d)
LAB_WAS_UP=0

bench_exit() {
	local i
	for ((i = ${#_e2e_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_e2e_exit_cmds[i]}" >/dev/null 2>&1
	done
	"$LAB" reset >/dev/null 2>&1
	if [ "$LAB_WAS_UP" = 0 ] && [ "${KEEP_LAB:-0}" != 1 ]; then
		"$LAB" down >/dev/null 2>&1
	fi
	rm -rf "$OUT" "$E2E_RESULTS"
}
trap bench_exit EXIT
trap 'exit 130' INT TERM

now_ms() {
	echo $((${EPOCHREALTIME/[.,]/} / 1000))
}

quantiles() {
	sort -g | awk -v what="$1" '
		{ v[NR] = $1 }
		END {
			if (!NR) { printf "| %s | no samples | | | |\n", what; exit }
			printf "| %s | %d | %d | %d | %d |\n", what, v[int((NR - 1) / 2) + 1], v[1], v[NR], NR
		}'
}

gateway2_start() {
	mkdir -p "$GATEWAY2_STATE"
	lab_spawn gateway2 gw2 "$WGFWD_BIN/wgfwd-gateway" --foreground \
		--interface "$LAB_GW2_WG_IF" --public-interface "$LAB_GW2_PUB_IF" \
		--peer "$LAB_SRV_WG2_4,$LAB_SRV_WG2_6=$WGFWD_KEY" --peer-egress "$LAB_SRV_WG2_4=smtp" \
		--state-dir "$GATEWAY2_STATE" --status-socket "$GATEWAY2_SOCK" || return 1
	wait_until 10 on gw2 "$WGFWD_BIN/wgfwd" status --socket "$GATEWAY2_SOCK" >/dev/null
}

# One SMTP connection attempt from the container; the mail log tells which gateway it left by.
smtp_probe() {
	echo QUIT | lab_in_netns mailer timeout 1 socat -T1 - \
		"TCP4:$LAB_MAIL4:25,connect-timeout=0.25" >/dev/null 2>&1
}

# Probes until the mail host sees ADDR; prints the milliseconds since T0.
egress_by() {
	local addr=$1 t0=$2 deadline=$(($(now_ms) + 60000))
	: >"$LAB_MAIL_LOG"
	while [ "$(now_ms)" -lt "$deadline" ]; do
		smtp_probe
		if lab_mail_peers | grep -qx "$addr"; then
			echo $(($(now_ms) - t0))
			return 0
		fi
		: >"$LAB_MAIL_LOG"
		sleep "0.$(printf %03d "$PROBE_MS")"
	done
	return 1
}

answers_by() {
	local addr=$1 t0=$2 deadline=$(($(now_ms) + 60000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		if [ "$(on client timeout 1 socat -T1 - "TCP4:$addr:80,connect-timeout=0.25" \
			<<<$'GET /cgi-bin/ip HTTP/1.0\r\n\r' 2>/dev/null | tail -n 1)" = "$LAB_CLIENT4" ]; then
			echo $(($(now_ms) - t0))
			return 0
		fi
		sleep "0.$(printf %03d "$PROBE_MS")"
	done
	return 1
}

# ---------------------------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	echo "failover: needs root" >&2
	exit 1
fi
exec 8>"$LAB_LOCK"
if ! flock -n 8; then
	echo "failover: waiting for another lab user ($LAB_LOCK)"
	flock -w 3600 8 || exit 1
fi
export WF_LAB_LOCKED=1
"$LAB" status >/dev/null 2>&1 && LAB_WAS_UP=1
"$LAB" up >/dev/null || exit 1
"$LAB" reset >/dev/null
"$LAB" gw2-up || exit 1
on_exit "$LAB" gw2-down
on_exit "$LAB" tunnel-start gw
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" "${LINKS[@]}" --key "$WGFWD_KEY" --cleanup
on_exit agent_stop
on_exit gateway_stop
on_exit lab_kill gateway2
rm -rf "$GATEWAY_STATE" "$GATEWAY2_STATE"
wgfwd_key
gateway_start >/dev/null && gateway2_start || {
	echo "failover: the gateways did not start" >&2
	exit 1
}
ldocker network create --subnet 172.31.0.0/24 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80
ldocker run -d --name mailer --network apps --label wgfwd.egress=smtp "$LAB_IMAGE" sleep 3600 >/dev/null
lab_spawn agent srv "$WGFWD_BIN/wgfwd-agent" "${LINKS[@]}" --key "$WGFWD_KEY" \
	--failover-after "$FAILOVER" --docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK"
wait_until 20 output_is "true true" agent_jq '[.gateways[].connected] | map(tostring) | join(" ")' >/dev/null || {
	echo "failover: the agent did not reach both gateways" >&2
	exit 1
}
egress_by "$LAB_GW_PUB4" "$(now_ms)" >/dev/null || {
	echo "failover: egress does not leave by A to begin with" >&2
	exit 1
}

for ((run = 1; run <= RUNS; run++)); do
	gateway_stop
	"$LAB" tunnel-stop gw
	t0=$(now_ms)
	ms=$(egress_by "$LAB_GW2_PUB4" "$t0") || ms=timeout
	echo "$ms" >>"$OUT/egress"
	"$LAB" tunnel-start gw
	gateway_start >/dev/null
	t1=$(now_ms)
	back=$(answers_by "$LAB_GW_PUB4" "$t1") || back=timeout
	echo "$back" >>"$OUT/return"
	eback=$(egress_by "$LAB_GW_PUB4" "$t1") || eback=timeout
	echo "$eback" >>"$OUT/egress_back"
	echo "run $run: egress to B $ms ms after A's stop; A's forwards $back ms and egress $eback ms after A's return"
	# The next stop starts from a settled A.
	sleep 2
done

table=$(
	echo "| measure (ms) | median | min | max | runs |"
	echo "| --- | --- | --- | --- | --- |"
	grep -v timeout "$OUT/egress" | quantiles "egress: A stopped → first connection through B"
	grep -v timeout "$OUT/return" | quantiles "A returns → A's forwards answer"
	grep -v timeout "$OUT/egress_back" | quantiles "A returns → egress leaves by A again"
)
timeouts=$(cat "$OUT"/* | grep -c timeout)
echo
echo "$table"
echo "timeouts (60 s): $timeouts"
[ "${NO_RESULTS:-0}" = 1 ] && exit 0

commit=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null)
{
	echo "# Failover with two gateways"
	echo
	echo "Written by \`bench/failover.sh\` (edit the script, not this file). One run of commit"
	echo "$commit$(git -C "$BENCH_DIR/.." diff --quiet HEAD 2>/dev/null || echo ' with local changes')" \
		"on $(date -u '+%Y-%m-%d at %H:%M UTC'), RUNS=$RUNS, the agent's \`--failover-after $FAILOVER\`;"
	echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end, on $(nproc) CPUs."
	echo
	echo "Gateway A is stopped whole (\`wgfwd-gateway\` and its WireGuard), then started again."
	echo "Probes every ${PROBE_MS} ms with a 250 ms connect timeout, so each figure includes up to"
	echo "about 350 ms of probing. The failover time is bounded by \`--failover-after\` (the control"
	echo "channel gives up on a silent gateway after two thirds of it, and counts it down after the"
	echo "last third); A's return waits for the agent's reconnect backoff (up to 10 s) and A's"
	echo "handshake. Clocks: EPOCHREALTIME on this one machine, from the stop (or start) command's"
	echo "return to the first probe that succeeds."
	echo
	echo "$table"
	echo
	echo "Connection attempts that timed out (60 s): $timeouts."
} >"$RESULTS"
echo "failover: written to $RESULTS"
