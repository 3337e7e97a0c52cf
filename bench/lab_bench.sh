#!/bin/bash
# Benchmarks in the namespace lab (tests/lab), with both daemons running as a user runs them:
#   converge   docker start -> the forward answers through the gateway's public address, and
#              docker stop -> refused there; Docker's own `-p` publish as the baseline, from
#              docker start to the port answering on the server's home address
#   burst      BURST containers started together, then stopped together (same baseline)
#   memory     agent and gateway RSS: idle, 1,000 and 10,000 forwards, MEM_CONTAINERS real
#              labelled containers; CPU while the burst churns is reported by `burst`
#   tunnel     bulk TCP from the internet client to a container through the gateway: wgfwd's
#              MSS clamp (tunnel MTU 1420) against the tunnel MTU raised to 1500 (fragments)
#
#   dockerlag  how long Docker takes to answer an inspect at a container's death
#   churn      the daemons' CPU while CHURN labelled containers start and stop one after
#              another, and (with perf) the share of it that goes to conntrack dumps
#
#   bench/lab_bench.sh [converge] [dockerlag] [burst] [memory] [tunnel] [churn]
#                                                      (default: all but churn)
#   RUNS=50 BURST=100 MEM_CONTAINERS=200 TPUT_REPS=3 TPUT_SECONDS=5 CHURN=20
#
# Timestamps: the client's probe (bench/wfb_net probe) reads CLOCK_REALTIME when a connection
# attempt is answered; this script reads it (EPOCHREALTIME) just before the Docker API call;
# Docker's event times are its own CLOCK_REALTIME. All run on this one machine.
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
E2E_TEST=lab_bench
# shellcheck source=tests/e2e/lib.sh
. "$BENCH_DIR/../tests/e2e/lib.sh"
# shellcheck source=tests/e2e/wgfwd.sh
. "$BENCH_DIR/../tests/e2e/wgfwd.sh"
BIN=$ROOT/build/bench
RUNS=${RUNS:-50}
BURST=${BURST:-100}
MEM_CONTAINERS=${MEM_CONTAINERS:-200}
TPUT_REPS=${TPUT_REPS:-3}
TPUT_SECONDS=${TPUT_SECONDS:-5}
SECTIONS=${*:-converge dockerlag burst memory tunnel}
OUT=$(mktemp -d)
KEEP=$ROOT/build/bench/lab-$(date -u +%Y%m%dT%H%M%SZ) # raw numbers and daemon logs of this run
LAB_WAS_UP=0

bench_exit() {
	local i
	cp "$LAB_RUN/bg/agent.log" "$LAB_RUN/bg/gateway.log" "$KEEP/" 2>/dev/null
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

say() {
	echo "$*"
}

# p50/p90/p99/min/max of the numbers on stdin, one line.
quantiles() {
	sort -g | awk -v what="$1" -v unit="${2:-ms}" '
		{ v[NR] = $1 }
		END {
			if (!NR) { printf "%-44s no samples\n", what; exit }
			q50 = v[int((NR - 1) * 0.50) + 1]; q90 = v[int((NR - 1) * 0.90) + 1]
			q99 = v[int((NR - 1) * 0.99 + 0.999)]; if (q99 == "") q99 = v[NR]
			printf "%-44s p50 %8.1f %s  p90 %8.1f  p99 %8.1f  min %8.1f  max %8.1f  (%d)\n",
				what, q50, unit, q90, q99, v[1], v[NR], NR
		}'
}

api() {
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$LAB_DOCKER_SOCK" -X POST \
		"http://lab/containers/$1/$2"
}

# Docker's event time (ns) of ACTION for container NAME at or after T0 (µs), else empty.
event_ns() {
	local name=$1 action=$2 t0_us=$3
	curl -s -G --unix-socket "$LAB_DOCKER_SOCK" "http://lab/events" \
		--data-urlencode "since=$((t0_us / 1000000 - 1))" \
		--data-urlencode "until=$((${EPOCHREALTIME%.*} + 1))" \
		--data-urlencode "filters={\"container\":[\"$name\"],\"event\":[\"$action\"]}" |
		jq -r '.timeNano' | awk -v t0="$((t0_us * 1000))" '$1 >= t0 {print; exit}'
}

pid_rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

pid_hwm_kb() {
	awk '/^VmHWM:/ {print $2}' "/proc/$1/status"
}

pid_cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

agent_pid() {
	pgrep -f -- "--status-socket $AGENT_SOCK" | head -n 1
}

gateway_pid() {
	pgrep -f -- "--status-socket $GATEWAY_SOCK" | head -n 1
}

applied_forwards() {
	agent_jq '[.forwards[] | select(.state == "applied")] | length'
}

wait_applied() {
	local want=$1 seconds=$2 end=$((SECONDS + $2))
	while [ "$(applied_forwards 2>/dev/null)" != "$want" ]; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# The old processes must be gone first: an agent that exits late removes its status socket
# from under the new one.
restart_daemons() {
	agent_stop
	gateway_stop
	wait_until 10 _no_agent >/dev/null
	wait_until 10 _no_gateway >/dev/null
	start_daemons
}

start_daemons() {
	rm -rf "$GATEWAY_STATE"
	gateway_start --log-level info --log-json || return 1
	agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY" --log-level info --log-json ||
		return 1
	wait_until 10 output_is true agent_jq .gateway.connected >/dev/null
}

# ---------------------------------------------------------------------------------------------
# converge

# One start and one stop of NAME, probed at ADDR:PORT from the client; with LATE the probe
# starts only once the start call has returned. Appends
#   kind t0_us answered_ns start_event_ns t_stop_us refused_ns die_event_ns
converge_once() {
	local kind=$1 name=$2 addr=$3 port=$4 late=${5:-} t0 t2 up down ev_start ev_die code pid
	if [ -z "$late" ]; then
		on client "$BIN/wfb_net" probe up "$addr" 20 1 "$port" >"$OUT/probe" &
		pid=$!
		sleep 0.1
	fi
	t0=${EPOCHREALTIME/./}
	code=$(api "$name" start)
	if [ -n "$late" ]; then
		on client "$BIN/wfb_net" probe up "$addr" 20 1 "$port" >"$OUT/probe" &
		pid=$!
	fi
	wait "$pid"
	up=$(awk '{print $2}' "$OUT/probe")
	[ "$code" = 204 ] || echo "converge: start $name answered $code" >&2
	sleep 0.3
	on client "$BIN/wfb_net" probe down "$addr" 20 1 "$port" >"$OUT/probe" &
	pid=$!
	sleep 0.1
	t2=${EPOCHREALTIME/./}
	code=$(api "$name" "stop?t=0")
	wait "$pid"
	down=$(awk '{print $2}' "$OUT/probe")
	[ "$code" = 204 ] || echo "converge: stop $name answered $code" >&2
	ev_start=$(event_ns "$name" start "$t0")
	ev_die=$(event_ns "$name" die "$t2")
	echo "$kind $t0 ${up:-timeout} ${ev_start:-none} $t2 ${down:-timeout} ${ev_die:-none}" \
		>>"$OUT/converge"
	sleep 0.3
}

# Element changes as they reach each kernel, stamped on arrival (µs): `nft monitor` in the
# gateway and the server.
monitor_start() {
	local host
	for host in gw srv; do
		lab_spawn "wfb-mon-$host" "$host" bash -c \
			'nft monitor elements | while IFS= read -r l; do printf "%s %s\n" "${EPOCHREALTIME/./}" "$l"; done'
	done
	sleep 0.5
}

monitor_stop() {
	lab_kill wfb-mon-gw
	lab_kill wfb-mon-srv
}

# First monitor line of HOST at or after T (µs) that is VERB (add/delete) of PORT in the
# owned fwd4 map; prints its time in µs.
monitor_at() {
	awk -v t="$2" -v verb="$3" -v port="$4" -v table="$5" '
		$1 >= t && $2 == verb && $3 == "element" && $5 == table && $6 == "fwd4" &&
		index($0, "tcp . " port " ") { print $1; exit }' "$LAB_RUN/bg/wfb-mon-$1.log"
}

section_converge() {
	local late_runs=${LATE_RUNS:-20}
	say "# converge: $RUNS runs each, wgfwd and docker -p interleaved (1 ms probe interval)," \
		"then $late_runs each with the probe started when the start call returned"
	ldocker create --name wfb-fwd --label wgfwd.ports=18080:80 "$LAB_IMAGE" \
		httpd -f -p 80 -h /www >/dev/null || return 1
	ldocker create --name wfb-pub -p 18081:80 "$LAB_IMAGE" httpd -f -p 80 -h /www >/dev/null ||
		return 1
	monitor_start
	: >"$OUT/converge"
	# one warm-up round each: the first start of a container pays for its layer setup
	converge_once warmup wfb-fwd "$LAB_GW_PUB4" 18080
	converge_once warmup wfb-pub "$LAB_SRV_HOME4" 18081
	: >"$OUT/converge"
	for ((i = 0; i < RUNS; i++)); do
		converge_once wgfwd wfb-fwd "$LAB_GW_PUB4" 18080
		converge_once docker-p wfb-pub "$LAB_SRV_HOME4" 18081
	done
	for ((i = 0; i < late_runs; i++)); do
		converge_once wgfwd-late wfb-fwd "$LAB_GW_PUB4" 18080 late
		converge_once docker-p-late wfb-pub "$LAB_SRV_HOME4" 18081 late
	done
	monitor_stop
	cp "$OUT/converge" "$KEEP/converge.txt"
	for kind in wgfwd docker-p wgfwd-late docker-p-late; do
		awk -v k="$kind" '$1 == k && $3 != "timeout" {print ($3 / 1000 - $2) / 1000}' \
			"$OUT/converge" | quantiles "$kind: start -> answering"
		awk -v k="$kind" '$1 == k && $3 != "timeout" && $4 != "none" {print ($3 - $4) / 1e6}' \
			"$OUT/converge" | quantiles "$kind: start event -> answering"
		awk -v k="$kind" '$1 == k && $4 != "none" {print ($4 / 1000 - $2) / 1000}' \
			"$OUT/converge" | quantiles "$kind: start -> start event"
		awk -v k="$kind" '$1 == k && $6 != "timeout" {print ($6 / 1000 - $5) / 1000}' \
			"$OUT/converge" | quantiles "$kind: stop -> refused (container's reset)"
		echo "$kind: $(awk -v k="$kind" '$1 == k && ($3 == "timeout" || $6 == "timeout")' \
			"$OUT/converge" | wc -l) runs timed out"
	done
	# Where wgfwd's time goes: the forward's map element arriving in each kernel.
	awk '$1 == "wgfwd" || $1 == "wgfwd-late"' "$OUT/converge" |
		while read -r _ t0 up ev t2 _ die; do
			[ "$ev" = none ] || [ "$die" = none ] && continue
			s_add=$(monitor_at srv "$t0" add 18080 wgfwd)
			g_add=$(monitor_at gw "$t0" add 18080 wgfwd_gateway)
			s_del=$(monitor_at srv "$t2" delete 18080 wgfwd)
			g_del=$(monitor_at gw "$t2" delete 18080 wgfwd_gateway)
			[ -n "$s_add" ] && [ -n "$g_add" ] && [ -n "$s_del" ] && [ -n "$g_del" ] || continue
			echo "$(((s_add * 1000 - ev) / 1000)) $(((g_add * 1000 - ev) / 1000))" \
				"$(((s_del * 1000 - die) / 1000)) $(((g_del * 1000 - die) / 1000))" \
				"$(((g_add - s_add)))"
		done >"$OUT/phases"
	cp "$OUT/phases" "$KEEP/converge-phases.txt"
	awk '{print $1 / 1000}' "$OUT/phases" | quantiles "wgfwd: start event -> server map has it"
	awk '{print $2 / 1000}' "$OUT/phases" | quantiles "wgfwd: start event -> gateway map has it"
	awk '{print $5 / 1000}' "$OUT/phases" | quantiles "wgfwd: server map -> gateway map"
	awk '{print $3 / 1000}' "$OUT/phases" | quantiles "wgfwd: die event -> server map drops it"
	awk '{print $4 / 1000}' "$OUT/phases" | quantiles "wgfwd: die event -> gateway map drops it"
	grep -o 'applied in [0-9.]* ms' "$LAB_RUN/bg/agent.log" | awk '{print $3}' |
		quantiles "agent: apply duration (its own log)"
	ldocker rm -f wfb-fwd wfb-pub >/dev/null
}

# How long Docker takes to answer an inspect sent the moment it reports a container's death:
# what the agent does on a `die` event before it can drop the forward.
section_dockerlag() {
	local r t0 t1
	say "# dockerlag: GET /containers/NAME/json sent as the die event arrives, 5 rounds"
	ldocker create --name wfb-lag --label wgfwd.ports=18082:80 "$LAB_IMAGE" httpd -f -p 80 -h /www \
		>/dev/null || return 1
	for ((r = 0; r < 5; r++)); do
		api wfb-lag start >/dev/null
		sleep 1
		curl -sN --max-time 5 --unix-socket "$LAB_DOCKER_SOCK" -G http://lab/events \
			--data-urlencode 'filters={"event":["die"],"container":["wfb-lag"]}' |
			while read -r _; do
				t0=${EPOCHREALTIME/./}
				curl -s -o /dev/null --unix-socket "$LAB_DOCKER_SOCK" http://lab/containers/wfb-lag/json
				t1=${EPOCHREALTIME/./}
				echo $(((t1 - t0) / 1000))
				break
			done >>"$OUT/lag" &
		sleep 0.3
		api wfb-lag "stop?t=0" >/dev/null
		wait
	done
	quantiles "docker: inspect sent at the die event" <"$OUT/lag"
	ldocker rm -f wfb-lag >/dev/null
}

# ---------------------------------------------------------------------------------------------
# burst

burst_round() {
	local kind=$1 prefix=$2 addr=$3 base=$4 t0 t1 ports=() names=() i a0 g0 d0 c0
	local apid gpid dpid cpid
	for ((i = 0; i < BURST; i++)); do
		ports+=($((base + i)))
		names+=("$prefix$i")
	done
	apid=$(agent_pid)
	gpid=$(gateway_pid)
	dpid=$(cat "$LAB_RUN/pids/dockerd.pid" 2>/dev/null)
	cpid=$(cat "$LAB_RUN/pids/containerd.pid" 2>/dev/null)
	a0=$(pid_cpu_ticks "$apid")
	g0=$(pid_cpu_ticks "$gpid")
	d0=$(pid_cpu_ticks "$dpid")
	c0=$(pid_cpu_ticks "$cpid")
	on client "$BIN/wfb_net" probe up "$addr" 120 20 "${ports[@]}" >"$OUT/burst-up" &
	sleep 0.3
	t0=${EPOCHREALTIME/./}
	printf '%s\n' "${names[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --unix-socket \
		"$LAB_DOCKER_SOCK" -X POST "http://lab/containers/{}/start"
	t1=${EPOCHREALTIME/./}
	wait $!
	say "$kind: $BURST start calls returned after $(((t1 - t0) / 1000)) ms"
	awk -v t0="$t0" '$2 != "timeout" {print ($2 / 1000 - t0) / 1000}' "$OUT/burst-up" |
		quantiles "$kind burst: first start call -> answering"
	echo "$kind burst: $(grep -c timeout "$OUT/burst-up") ports never answered"
	# per container: its own start event -> its port answering
	curl -s -G --unix-socket "$LAB_DOCKER_SOCK" "http://lab/events" \
		--data-urlencode "since=$((t0 / 1000000 - 1))" \
		--data-urlencode "until=$((${EPOCHREALTIME%.*} + 1))" \
		--data-urlencode 'filters={"event":["start"]}' |
		jq -r '"\(.Actor.Attributes.name) \(.timeNano)"' | grep "^$prefix[0-9]* " >"$OUT/burst-events"
	awk -v prefix="$prefix" -v base="$base" 'NR == FNR { sub(prefix, "", $1); ev[$1 + base] = $2; next }
		$2 != "timeout" && ($1 in ev) { print ($2 - ev[$1]) / 1e6 }' \
		"$OUT/burst-events" "$OUT/burst-up" | quantiles "$kind burst: own start event -> answering"
	if [ "$kind" = wgfwd ]; then
		while read -r name ev; do
			i=${name#"$prefix"}
			g=$(monitor_at gw "$t0" add $((base + i)) wgfwd_gateway)
			[ -n "$g" ] && echo "$(((g * 1000 - ev) / 1000))"
		done <"$OUT/burst-events" | awk '{print $1 / 1000}' |
			quantiles "$kind burst: own start event -> gateway map has it"
	fi

	on client "$BIN/wfb_net" probe down "$addr" 120 20 "${ports[@]}" >"$OUT/burst-down" &
	sleep 0.3
	t0=${EPOCHREALTIME/./}
	printf '%s\n' "${names[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --unix-socket \
		"$LAB_DOCKER_SOCK" -X POST "http://lab/containers/{}/stop?t=0"
	wait $!
	awk -v t0="$t0" '$2 != "timeout" {print ($2 / 1000 - t0) / 1000}' "$OUT/burst-down" |
		quantiles "$kind burst: first stop call -> refused"
	sleep 1
	t1=${EPOCHREALTIME/./}
	say "$kind burst: CPU during the churn ($BURST started and stopped, $(((t1 - t0) / 1000)) ms after the stops began):" \
		"agent $(($(pid_cpu_ticks "$apid") - a0)) ticks," \
		"gateway $(($(pid_cpu_ticks "$gpid") - g0)) ticks," \
		"dockerd $(($(pid_cpu_ticks "$dpid") - d0)) ticks," \
		"containerd $(($(pid_cpu_ticks "$cpid") - c0)) ticks (1 tick = $((1000 / $(getconf CLK_TCK))) ms)"
}

section_burst() {
	local i
	say "# burst: $BURST containers started together (16 API calls in parallel), then stopped"
	for ((i = 0; i < BURST; i++)); do
		echo "ldocker create --name wfb-b$i --label wgfwd.ports=$((20000 + i)):80 $LAB_IMAGE httpd -f -p 80 -h /www"
		echo "ldocker create --name wfb-p$i -p $((21000 + i)):80 $LAB_IMAGE httpd -f -p 80 -h /www"
	done >"$OUT/creates"
	while read -r line; do
		eval "$line" >/dev/null || return 1
	done <"$OUT/creates"
	monitor_start
	burst_round wgfwd wfb-b "$LAB_GW_PUB4" 20000
	monitor_stop
	burst_round docker-p wfb-p "$LAB_SRV_HOME4" 21000
	ldocker ps -aq --filter name=wfb- | xargs -r -n 50 "$LAB_DOCKER_CLI" -H "$LAB_DOCKER_HOST" rm -f >/dev/null
}

# ---------------------------------------------------------------------------------------------
# churn

# Percent of a perf recording's samples spent in SYMBOL or below it (0.0 when none).
perf_share() {
	perf report -i "$1" --children --sort symbol --stdio -g none 2>/dev/null |
		awk -v sym="$2" '$4 == sym { sub("%", "", $1); print $1; found = 1; exit }
			END { if (!found) print "0.0" }'
}

section_churn() {
	local n=${CHURN:-20} i apid gpid a0 g0 t0 pa="" pg=""
	say "# churn: $n labelled containers started and then stopped, one after another" 		"(no probe: conntrack stays nearly empty)"
	for ((i = 0; i < n; i++)); do
		ldocker create --name "wfb-c$i" --label wgfwd.ports=$((22000 + i)):80 "$LAB_IMAGE" 			httpd -f -p 80 -h /www >/dev/null || return 1
	done
	apid=$(agent_pid)
	gpid=$(gateway_pid)
	if command -v perf >/dev/null; then
		perf record -g -o "$OUT/perf-agent" -p "$apid" >/dev/null 2>&1 &
		pa=$!
		perf record -g -o "$OUT/perf-gateway" -p "$gpid" >/dev/null 2>&1 &
		pg=$!
		sleep 1
	fi
	a0=$(pid_cpu_ticks "$apid")
	g0=$(pid_cpu_ticks "$gpid")
	t0=${EPOCHREALTIME/./}
	for ((i = 0; i < n; i++)); do
		api "wfb-c$i" start >/dev/null
	done
	wait_applied "$n" 30 || echo "churn: not every forward was applied" >&2
	for ((i = 0; i < n; i++)); do
		api "wfb-c$i" "stop?t=0" >/dev/null
	done
	wait_applied 0 30 || echo "churn: forwards were left" >&2
	sleep 1
	say "churn: CPU for $n starts and $n stops ($(((${EPOCHREALTIME/./} - t0) / 1000)) ms):" \
		"agent $(($(pid_cpu_ticks "$apid") - a0)) ticks," \
		"gateway $(($(pid_cpu_ticks "$gpid") - g0)) ticks (1 tick = $((1000 / $(getconf CLK_TCK))) ms)"
	if [ -n "$pa" ]; then
		kill -INT "$pa" "$pg"
		wait "$pa" "$pg"
		say "churn: ctnetlink_dump_table (and below) in perf samples:" \
			"agent $(perf_share "$OUT/perf-agent" ctnetlink_dump_table)%," \
			"gateway $(perf_share "$OUT/perf-gateway" ctnetlink_dump_table)%"
	fi
	ldocker ps -aq --filter name=wfb-c | xargs -r "$LAB_DOCKER_CLI" -H "$LAB_DOCKER_HOST" rm -f >/dev/null
}

# ---------------------------------------------------------------------------------------------
# memory

# VmRSS, of which RssAnon (the process's own memory; the rest is shared library pages), and
# VmHWM (peak RSS since start).
mem_of() {
	awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} /^VmHWM:/ {h = $2}
		END {printf "RSS %6d kB (anon %6d kB, peak %6d kB)", r, a, h}' "/proc/$1/status"
}

rss_line() {
	printf '%-40s agent %s  gateway %s\n' "$1" "$(mem_of "$(agent_pid)")" "$(mem_of "$(gateway_pid)")"
}

section_memory() {
	local ranges="" i t0 t1 n
	say "# memory: RSS of the running daemons (VmRSS; peak is VmHWM since start)"
	# fresh daemons: peaks from the sections before do not count
	restart_daemons || return 1
	sleep 1
	rss_line "idle, 0 forwards"
	# what the shared part is: the largest file mappings of the idle agent
	awk '/^[0-9a-f]+-[0-9a-f]+ / { f = $6 } /^Rss:/ && f ~ /\// { n = f; sub(".*/", "", n); r[n] += $2 }
		END { for (k in r) if (r[k] >= 200) printf "%d %s\n", r[k], k }' "/proc/$(agent_pid)/smaps" |
		sort -rn | head -n 8 | awk '{ s = s sep $2 " " $1 " kB"; sep = ", " } END { print "agent idle, file-backed RSS by library: " s }'

	ldocker run -d --name wfb-m1k --label wgfwd.ports=30000-30999 "$LAB_IMAGE" sleep 3600 >/dev/null
	wait_applied 1000 60 || say "memory: 1,000 forwards not applied in 60 s"
	sleep 1
	rss_line "1,000 forwards (one container, a port range)"
	ldocker rm -f wfb-m1k >/dev/null
	wait_applied 0 60

	for ((i = 0; i < 10; i++)); do
		ranges="$ranges${ranges:+,}$((20000 + i * 1000))-$((20999 + i * 1000))"
	done
	# IPv4 only, as in the first runs: before control message version 2, 10,000 dual-stack
	# forwards (20,000 gateway entries) made a state message longer than a frame (see
	# `wfb_apply ctlsize`; tests/e2e/test_load.sh now checks 10,000 dual-stack ports)
	ldocker network create wfb-v4 >/dev/null
	t0=${EPOCHREALTIME/./}
	ldocker run -d --name wfb-m10k --network wfb-v4 --label "wgfwd.ports=$ranges" "$LAB_IMAGE" \
		sleep 3600 >/dev/null
	wait_applied 10000 120 || say "memory: 10,000 forwards not applied in 120 s"
	t1=${EPOCHREALTIME/./}
	sleep 1
	rss_line "10,000 forwards (IPv4, 10 ranges)"
	say "memory: 10,000 forwards from docker run to applied at the gateway: $(((t1 - t0) / 1000)) ms"
	grep -o 'applied in [0-9.]* ms: nft [a-z ]* (+10000' "$LAB_RUN/bg/agent.log" | tail -n 1 |
		sed 's/^/memory: agent, 10,000 forwards: /'
	ldocker rm -f wfb-m10k >/dev/null
	ldocker network rm wfb-v4 >/dev/null
	wait_applied 0 120

	restart_daemons || return 1
	t0=${EPOCHREALTIME/./}
	for ((i = 0; i < MEM_CONTAINERS; i++)); do
		echo "wfb-c$i $((40000 + i))"
	done | xargs -P 8 -n 2 sh -c 'DOCKER_HOST='"$LAB_DOCKER_HOST"' '"$LAB_DOCKER_CLI"' run -d --name "$0" --label wgfwd.ports="$1" '"$LAB_IMAGE"' sleep 3600 >/dev/null'
	t1=${EPOCHREALTIME/./}
	wait_applied "$MEM_CONTAINERS" 300 || say "memory: not all $MEM_CONTAINERS forwards applied"
	n=$(applied_forwards)
	say "memory: $MEM_CONTAINERS containers: docker run calls took $(((t1 - t0) / 1000)) ms, all $n forwards applied after $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
	sleep 1
	rss_line "$MEM_CONTAINERS labelled containers"
	agent_jq '.agent | "agent: \(.containers) containers followed, \(.applies) applies, last apply \(.last_apply_ms) ms"'
	ldocker ps -aq --filter name=wfb-c | xargs -r -n 50 "$LAB_DOCKER_CLI" -H "$LAB_DOCKER_HOST" rm -f >/dev/null
}

# ---------------------------------------------------------------------------------------------
# tunnel

set_tunnel_mtu() {
	on gw ip link set "$LAB_GW_WG_IF" mtu "$1"
	on srv ip link set "$LAB_SRV_WG_IF" mtu "$1"
	# forget path MTUs learnt at the other setting
	on client ip route flush cache 2>/dev/null
	on gw ip route flush cache 2>/dev/null
	on srv ip route flush cache 2>/dev/null
}

section_tunnel() {
	local pid r mtu
	say "# tunnel: bulk TCP client -> container through the gateway, $TPUT_REPS x ${TPUT_SECONDS}s, MTUs interleaved"
	ldocker run -d --name wfb-tput --label wgfwd.ports=5201 "$LAB_IMAGE" sleep 3600 >/dev/null ||
		return 1
	pid=$(lab_container_pid wfb-tput)
	lab_spawn wfb-sink srv nsenter -t "$pid" -n "$BIN/wfb_net" sink 5201
	on_exit set_tunnel_mtu "$LAB_WG_MTU"
	wait_until 10 on client "$BIN/wfb_net" probe up "$LAB_GW_PUB4" 1 10 5201 >/dev/null ||
		say "tunnel: the sink does not answer through the gateway"
	for ((r = 1; r <= TPUT_REPS; r++)); do
		for mtu in "$LAB_WG_MTU" 1500; do
			set_tunnel_mtu "$mtu"
			sleep 0.5
			say "tunnel mtu $mtu round $r: $(on client "$BIN/wfb_net" bulk "$LAB_GW_PUB4" 5201 "$TPUT_SECONDS")"
		done
	done
	set_tunnel_mtu "$LAB_WG_MTU"
	say "tunnel: fragments reassembled at the server during the runs: $(on srv nstat -az IpReasmOKs 2>/dev/null | awk '/IpReasmOKs/ {print $2}')"
	lab_kill wfb-sink
	ldocker rm -f wfb-tput >/dev/null
}

# ---------------------------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	echo "lab_bench: needs root" >&2
	exit 1
fi
exec 8>"$LAB_LOCK"
if ! flock -n 8; then
	echo "lab_bench: waiting for another lab user ($LAB_LOCK)"
	flock -w 1800 8 || exit 1
fi
export WF_LAB_LOCKED=1
mkdir -p "$KEEP"
"$LAB" status >/dev/null 2>&1 && LAB_WAS_UP=1
"$LAB" up >/dev/null || exit 1
"$LAB" reset >/dev/null
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
start_daemons || {
	echo "lab_bench: the daemons did not come up" >&2
	exit 1
}
for s in $SECTIONS; do
	"section_$s"
	echo
done
