#!/bin/bash
# Benchmarks in the namespace lab (tests/lab), with both daemons running as a user runs them
# (default logging: --log-level info, text):
#   converge   Docker's start event -> the forward answers through the gateway's public address
#              (RUNS runs, the prober running from before the start call), interleaved with
#              PAIRS runs of Docker's own `-p` publish with the prober started when the start
#              call returned; the element's arrival in each kernel (nft monitor)
#   burst      BURST containers started together, then stopped together (Docker `-p` after)
#   daemons    the running daemons at 0, 1,000 and 10,000 forwards: memory (RssAnon, PSS), CPU
#              of one container change and of a foreign nftables commit at 10,000, one change
#              all-in at 10,000, cold start of each daemon to 10,000 forwards answering
#   change     only the CPU of one container change at 10,000 forwards (not in the default
#              set; PERF=agent|gateway records that daemon with perf meanwhile)
#   tunnel     bulk TCP from the internet client to a container through the gateway: wgfwd's
#              MSS clamp (tunnel MTU 1420) against the tunnel MTU raised to 1500 (fragments)
#
#   bench/lab_bench.sh [converge] [burst] [daemons] [tunnel]        (default: all)
#   RUNS=200 PAIRS=100 BURST=100 CHANGES=20 GONE=5 TPUT_REPS=2 TPUT_SECONDS=3
#
# Each figure is also written as KEY=VALUE to $BENCH_VALUES, each sample set to
# $BENCH_DATA/KEY.dat (bench/run.sh turns them into bench/RESULTS.md and the plots).
# Percentiles are nearest-rank; a p99 needs 100 samples, below that the maximum is given.
#
# Clocks: the client's probe (bench/wfb_net probe) reads CLOCK_REALTIME when a connection
# attempt is first answered (or refused); this script reads it (EPOCHREALTIME) just before and
# just after a Docker API call; Docker's event times are its own CLOCK_REALTIME; the daemons'
# log lines carry CLOCK_REALTIME to the millisecond; `nft monitor` lines are stamped on arrival.
# All run on this one machine. CPU is the sum of the daemon's threads' run time
# (/proc/PID/task/*/schedstat, ns), less what the same process used idle for as long.
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
E2E_TEST=lab_bench
# shellcheck source=tests/e2e/lib.sh
. "$BENCH_DIR/../tests/e2e/lib.sh"
# shellcheck source=tests/e2e/wgfwd.sh
. "$BENCH_DIR/../tests/e2e/wgfwd.sh"
BIN=$ROOT/build/bench
RUNS=${RUNS:-200}
PAIRS=${PAIRS:-100}
BURST=${BURST:-100}
CHANGES=${CHANGES:-20}
GONE=${GONE:-5}
TPUT_REPS=${TPUT_REPS:-2}
TPUT_SECONDS=${TPUT_SECONDS:-3}
SECTIONS=${*:-converge burst daemons tunnel}
OUT=$(mktemp -d)
KEEP=$ROOT/build/bench/lab-$(date -u +%Y%m%dT%H%M%SZ) # raw numbers and daemon logs of this run
BENCH_VALUES=${BENCH_VALUES:-$KEEP/values.env}
BENCH_DATA=${BENCH_DATA:-$KEEP}
LAB_WAS_UP=0
HAVE_LAB=0

bench_exit() {
	local i
	rm -rf "$OUT"
	# nothing of the lab is ours to clean up before we hold its lock
	[ "$HAVE_LAB" = 1 ] || return
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

# val KEY VALUE: one figure for bench/RESULTS.md.
val() {
	echo "$1=$2" >>"$BENCH_VALUES"
}

# quantiles KEY WHAT [UNIT]: nearest-rank p50/p90/p99, min and max of the numbers on stdin, as
# one line and as KEY_* values; the samples are kept as $BENCH_DATA/KEY.dat. Fewer than 100
# samples have no p99: the line says so and gives the maximum.
quantiles() {
	local key=$1
	sort -g >"$BENCH_DATA/$key.dat"
	awk -v what="$2" -v unit="${3:-ms}" -v key="$key" -v vals="$BENCH_VALUES" '
		function rank(p,   r) { r = int((NR * p + 99) / 100); return v[r < 1 ? 1 : r] }
		{ v[NR] = $1 }
		END {
			printf "%s_n=%d\n", key, NR >>vals
			if (!NR) { printf "%-48s no samples\n", what; exit }
			p99 = NR >= 100 ? sprintf("p99 %8.1f", rank(99)) : sprintf("(%d samples: no p99)", NR)
			printf "%-48s p50 %8.1f %s  p90 %8.1f  %s  min %8.1f  max %8.1f  (%d)\n",
				what, rank(50), unit, rank(90), p99, v[1], v[NR], NR
			printf "%s_p50=%.1f\n%s_p90=%.1f\n%s_min=%.1f\n%s_max=%.1f\n", key, rank(50),
				key, rank(90), key, v[1], key, v[NR] >>vals
			if (NR >= 100) printf "%s_p99=%.1f\n%s_tail=p99 %.1f\n", key, rank(99), key, rank(99) >>vals
			else printf "%s_p99=\n%s_tail=max %.1f (%d runs: too few for a p99)\n", key, key, v[NR], NR >>vals
		}' "$BENCH_DATA/$key.dat"
}

api() {
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$LAB_DOCKER_SOCK" -X POST \
		"http://lab/containers/$1/$2"
}

# Docker's container start and die events as they happen, "name action timeNano" per line in
# $OUT/events: a stream, since the engine keeps only its last 256 events for a later query.
events_start() {
	: >"$OUT/events"
	curl -sN --unix-socket "$LAB_DOCKER_SOCK" -G "http://lab/events" \
		--data-urlencode 'filters={"type":["container"],"event":["start","die"]}' |
		jq --unbuffered -r '"\(.Actor.Attributes.name) \(.Action) \(.timeNano)"' >>"$OUT/events" &
	EVENTS_PID=$!
	sleep 0.3
}

# Stops the stream once the events up to now have arrived.
events_stop() {
	sleep 0.5
	pkill -P "$$" -f "curl -sN --unix-socket $LAB_DOCKER_SOCK" 2>/dev/null
	wait "$EVENTS_PID" 2>/dev/null
}

pid_cpu_ns() {
	# %.0f: mawk's %d stops at 2^31 ns
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
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
	local want=$1 end=$((SECONDS + $2))
	while [ "$(applied_forwards 2>/dev/null)" != "$want" ]; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
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

# Default logging: level info, plain text.
start_daemons() {
	rm -rf "$GATEWAY_STATE"
	gateway_start --log-level info || return 1
	agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY" --log-level info || return 1
	wait_until 10 output_is true agent_jq .gateway.connected >/dev/null
}

# Milliseconds since the epoch of the first line of LOG matching the extended regex RE.
log_time_ms() {
	local stamp
	stamp=$(grep -E -m 1 -- "$2" "$1" | awk '{ print $1 }')
	[ -n "$stamp" ] || return 1
	date -u -d "$stamp" +%s%3N
}

# ---------------------------------------------------------------------------------------------
# converge

# One start and one stop of NAME, probed at ADDR:PORT from the client; with LATE the probe
# starts only once the start call has returned. Appends
#   kind name t_call_us t_returned_us answered_ns t_stop_us refused_ns
converge_once() {
	local kind=$1 name=$2 addr=$3 port=$4 late=${5:-} t0 t1 t2 up down code pid
	if [ -z "$late" ]; then
		on client "$BIN/wfb_net" probe up "$addr" 20 1 "$port" >"$OUT/probe" &
		pid=$!
		sleep 0.05
	fi
	t0=${EPOCHREALTIME/./}
	code=$(api "$name" start)
	t1=${EPOCHREALTIME/./}
	if [ -n "$late" ]; then
		on client "$BIN/wfb_net" probe up "$addr" 20 1 "$port" >"$OUT/probe" &
		pid=$!
	fi
	wait "$pid"
	up=$(awk '{print $2}' "$OUT/probe")
	[ "$code" = 204 ] || echo "converge: start $name answered $code" >&2
	sleep 0.1
	on client "$BIN/wfb_net" probe down "$addr" 20 1 "$port" >"$OUT/probe" &
	pid=$!
	sleep 0.05
	t2=${EPOCHREALTIME/./}
	code=$(api "$name" "stop?t=0")
	wait "$pid"
	down=$(awk '{print $2}' "$OUT/probe")
	[ "$code" = 204 ] || echo "converge: stop $name answered $code" >&2
	echo "$kind $name $t0 $t1 ${up:-timeout} $t2 ${down:-timeout}" >>"$OUT/converge"
	sleep 0.1
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

# The runs of $OUT/converge with their container's start and die events:
#   kind t_call_us t_returned_us answered_ns t_stop_us refused_ns start_event_ns die_event_ns
runs_with_events() {
	awk 'NR == FNR { n = ++cnt[$1 " " $2]; ev[$1 " " $2 " " n] = $3; next }
		function first(name, action, t,   i, k) {
			k = name " " action
			for (i = 1; i <= cnt[k]; i++) if (ev[k " " i] + 0 >= t * 1000) return ev[k " " i]
			return "none"
		}
		{ print $1, $3, $4, $5, $6, $7, first($2, "start", $3), first($2, "die", $6) }' \
		"$OUT/events" "$OUT/converge"
}

section_converge() {
	local i pairs=0
	say "# converge: $RUNS runs of wgfwd with the probe running from before the start call," \
		"interleaved with $PAIRS runs of Docker -p with the probe started when the call returned;" \
		"1 ms probe interval"
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
	events_start
	for ((i = 0; i < RUNS; i++)); do
		converge_once wgfwd wfb-fwd "$LAB_GW_PUB4" 18080
		# Docker -p spread evenly among them
		if [ $(((i + 1) * PAIRS / RUNS)) -gt "$pairs" ]; then
			converge_once docker-p-late wfb-pub "$LAB_SRV_HOME4" 18081 late
			pairs=$((pairs + 1))
		fi
	done
	monitor_stop
	events_stop
	runs_with_events >"$OUT/runs"
	cp "$OUT/runs" "$KEEP/converge.txt"
	say "converge: $(awk '$4 == "timeout" || $6 == "timeout"' "$OUT/runs" | wc -l) runs timed out," \
		"$(awk '$7 == "none"' "$OUT/runs" | wc -l) without a start event"
	# the goal's clock: Docker's start event -> the first answered connection attempt
	awk '$1 == "wgfwd" && $4 != "timeout" && $7 != "none" {print ($4 - $7) / 1e6}' "$OUT/runs" |
		quantiles conv_event "wgfwd: start event -> answering at the gateway"
	awk '$1 == "wgfwd" && $7 != "none" {print ($7 / 1000 - $2) / 1000}' "$OUT/runs" |
		quantiles conv_call_event "wgfwd: start call -> Docker's start event"
	# wgfwd's prober runs from before the call: a forward already answering when the call
	# returned counts 0 (a prober started then would have needed one attempt)
	awk '$1 == "wgfwd" && $4 != "timeout" { d = ($4 / 1000 - $3) / 1000; print (d > 0 ? d : 0) }' \
		"$OUT/runs" | quantiles late_wgfwd "wgfwd: start call returned -> answering"
	awk '$1 == "wgfwd" && $4 != "timeout" {print ($4 / 1000 - $2) / 1000}' "$OUT/runs" |
		quantiles late_wgfwd_call "wgfwd: start call made -> answering"
	awk '$1 == "docker-p-late" && $4 != "timeout" {print ($4 / 1000 - $3) / 1000}' "$OUT/runs" |
		quantiles late_docker_p "docker -p: start call returned -> answering"
	awk '$1 == "docker-p-late" && $4 != "timeout" {print ($4 / 1000 - $2) / 1000}' "$OUT/runs" |
		quantiles late_docker_p_call "docker -p: start call made -> answering"
	awk '$1 == "wgfwd" && $6 != "timeout" {print ($6 / 1000 - $5) / 1000}' "$OUT/runs" |
		quantiles conv_stop "wgfwd: stop call -> refused (the container resets)"
	# Where wgfwd's time goes: the forward's map element arriving in each kernel.
	awk '$1 == "wgfwd"' "$OUT/runs" |
		while read -r _ t0 _ up t2 _ ev die; do
			[ "$ev" = none ] || [ "$die" = none ] || [ "$up" = timeout ] && continue
			s_add=$(monitor_at srv "$t0" add 18080 wgfwd)
			g_add=$(monitor_at gw "$t0" add 18080 wgfwd_gateway)
			s_del=$(monitor_at srv "$t2" delete 18080 wgfwd)
			g_del=$(monitor_at gw "$t2" delete 18080 wgfwd_gateway)
			[ -n "$s_add" ] && [ -n "$g_add" ] && [ -n "$s_del" ] && [ -n "$g_del" ] || continue
			echo "$(((s_add * 1000 - ev) / 1000)) $(((g_add * 1000 - ev) / 1000))" \
				"$(((s_del * 1000 - die) / 1000)) $(((g_del * 1000 - die) / 1000))" \
				"$((g_add - s_add)) $(((up - g_add * 1000) / 1000))"
		done >"$OUT/phases"
	cp "$OUT/phases" "$KEEP/converge-phases.txt"
	awk '{print $1 / 1000}' "$OUT/phases" | quantiles ph_srv "wgfwd: start event -> server map has it"
	awk '{print $5 / 1000}' "$OUT/phases" | quantiles ph_srv_gw "wgfwd: server map -> gateway map"
	awk '{print $2 / 1000}' "$OUT/phases" | quantiles ph_gw "wgfwd: start event -> gateway map has it"
	awk '{print $6 / 1000}' "$OUT/phases" | quantiles ph_answer "wgfwd: gateway map -> answering"
	awk '{print $3 / 1000}' "$OUT/phases" | quantiles ph_die_srv "wgfwd: die event -> server map drops it"
	awk '{print $4 / 1000}' "$OUT/phases" | quantiles ph_die_gw "wgfwd: die event -> gateway map drops it"
	grep -o 'applied in [0-9.]* ms: nft elements' "$LAB_RUN/bg/agent.log" | awk '{print $3}' |
		quantiles agent_apply "agent: one change's apply (its own log, render + apply)"
	ldocker rm -f wfb-fwd wfb-pub >/dev/null
}

# ---------------------------------------------------------------------------------------------
# burst

burst_round() {
	local kind=$1 prefix=$2 addr=$3 base=$4 t0 t1 ports=() names=() i a0 g0
	local apid gpid key=burst_${1//-/_}
	for ((i = 0; i < BURST; i++)); do
		ports+=($((base + i)))
		names+=("$prefix$i")
	done
	apid=$(agent_pid)
	gpid=$(gateway_pid)
	a0=$(pid_cpu_ns "$apid")
	g0=$(pid_cpu_ns "$gpid")
	events_start
	on client "$BIN/wfb_net" probe up "$addr" 120 5 "${ports[@]}" >"$OUT/burst-up" &
	sleep 0.3
	t0=${EPOCHREALTIME/./}
	printf '%s\n' "${names[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --unix-socket \
		"$LAB_DOCKER_SOCK" -X POST "http://lab/containers/{}/start"
	t1=${EPOCHREALTIME/./}
	wait $!
	say "$kind: $BURST start calls returned after $(((t1 - t0) / 1000)) ms"
	val "${key}_calls_ms" $(((t1 - t0) / 1000))
	echo "$kind burst: $(grep -c timeout "$OUT/burst-up") ports never answered"
	val "${key}_timeouts" "$(grep -c timeout "$OUT/burst-up")"
	events_stop
	grep "^$prefix[0-9]* start " "$OUT/events" >"$OUT/burst-events"
	# per container: its own start event -> its port answering
	awk -v prefix="$prefix" -v base="$base" 'NR == FNR { sub(prefix, "", $1); ev[$1 + base] = $3; next }
		$2 != "timeout" && ($1 in ev) { print ($2 - ev[$1]) / 1e6 }' \
		"$OUT/burst-events" "$OUT/burst-up" | quantiles "${key}_own" "$kind burst: own start event -> answering"
	# the goal's clock: the last start event -> the last port answering
	awk 'NR == FNR { if ($3 > last) last = $3; next } $2 != "timeout" && $2 > ans { ans = $2 }
		END { printf "%.1f\n", (ans - last) / 1e6 }' "$OUT/burst-events" "$OUT/burst-up" >"$OUT/last"
	say "$kind burst: the last start event -> every port answering: $(cat "$OUT/last") ms"
	val "${key}_last" "$(cat "$OUT/last")"
	on client "$BIN/wfb_net" probe down "$addr" 120 5 "${ports[@]}" >"$OUT/burst-down" &
	sleep 0.3
	t0=${EPOCHREALTIME/./}
	printf '%s\n' "${names[@]}" | xargs -P 16 -I{} curl -s -o /dev/null --unix-socket \
		"$LAB_DOCKER_SOCK" -X POST "http://lab/containers/{}/stop?t=0"
	wait $!
	sleep 1
	say "$kind burst: CPU while $BURST started and stopped:" \
		"agent $((($(pid_cpu_ns "$apid") - a0) / 1000000)) ms," \
		"gateway $((($(pid_cpu_ns "$gpid") - g0) / 1000000)) ms"
	val "${key}_cpu_agent" $((($(pid_cpu_ns "$apid") - a0) / 1000000))
	val "${key}_cpu_gateway" $((($(pid_cpu_ns "$gpid") - g0) / 1000000))
}

section_burst() {
	local i
	say "# burst: $BURST containers started together (16 API calls in parallel), then stopped"
	for ((i = 0; i < BURST; i++)); do
		echo "wfb-b$i --label wgfwd.ports=$((20000 + i)):80"
		echo "wfb-p$i -p $((21000 + i)):80"
	done | xargs -P 8 -L 1 sh -c 'DOCKER_HOST='"$LAB_DOCKER_HOST"' '"$LAB_DOCKER_CLI"' create --name "$0" "$1" "$2" '"$LAB_IMAGE"' httpd -f -p 80 -h /www >/dev/null' ||
		return 1
	burst_round wgfwd wfb-b "$LAB_GW_PUB4" 20000
	burst_round docker-p wfb-p "$LAB_SRV_HOME4" 21000
	ldocker ps -aq --filter name=wfb- | xargs -r -n 50 "$LAB_DOCKER_CLI" -H "$LAB_DOCKER_HOST" rm -f >/dev/null
}

# ---------------------------------------------------------------------------------------------
# daemons

# mem_vals KEY: RssAnon and PSS (kB) of both daemons as KEY_{agent,gateway}_{anon,pss,rss}.
mem_vals() {
	local who pid anon pss rss
	for who in agent gateway; do
		pid=$("${who}_pid")
		anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
		val "mem_$1_${who}_anon" "$anon"
		val "mem_$1_${who}_pss" "$pss"
		val "mem_$1_${who}_rss" "$rss"
		printf '%-28s %-8s RSS %6d kB  RssAnon %6d kB  PSS %6d kB\n' "memory, $1 forwards:" \
			"$who" "$rss" "$anon" "$pss"
	done
}

# mem_floor: the memory of the agent's libraries alone (bench/wfb_floor, linked and initialised
# as the agent links and initialises them) as mem_floor_{rss,anon,pss}.
mem_floor() {
	local rss anon pss
	read -r rss anon pss < <("$BIN/wfb_floor") || return 0
	val mem_floor_rss "$rss"
	val mem_floor_anon "$anon"
	val mem_floor_pss "$pss"
	# which libcurl the programs and the floor link: minimal (built in) or system
	# the running agent's, not what make would link now: a binary built before the minimal
	# libcurl was there links the system's
	if ldd "$WGFWD_BIN/wgfwd-agent" | grep -q 'libcurl\.so'; then
		val libcurl_kind system
	else
		val libcurl_kind minimal
	fi
	printf '%-28s %-8s RSS %6d kB  RssAnon %6d kB  PSS %6d kB\n' "memory, libraries alone:" \
		"" "$rss" "$anon" "$pss"
}

# cpu_start / cpu_stop KEY COUNT WHAT: each daemon's CPU over what ran between them, less its
# idle rate over as long, per one of COUNT events (ms, 3 decimals).
cpu_idle_rate() {
	local a0 g0 t0
	a0=$(pid_cpu_ns "$(agent_pid)")
	g0=$(pid_cpu_ns "$(gateway_pid)")
	t0=${EPOCHREALTIME/./}
	sleep "${1:-5}"
	IDLE_AGENT=$(awk -v c=$(($(pid_cpu_ns "$(agent_pid)") - a0)) -v t=$((${EPOCHREALTIME/./} - t0)) 'BEGIN { print c / t }')
	IDLE_GATEWAY=$(awk -v c=$(($(pid_cpu_ns "$(gateway_pid)") - g0)) -v t=$((${EPOCHREALTIME/./} - t0)) 'BEGIN { print c / t }')
	# ns per µs is ms per s
	say "idle CPU: agent $IDLE_AGENT ms/s, gateway $IDLE_GATEWAY ms/s"
}

cpu_start() {
	CPU_A0=$(pid_cpu_ns "$(agent_pid)")
	CPU_G0=$(pid_cpu_ns "$(gateway_pid)")
	CPU_T0=${EPOCHREALTIME/./}
}

cpu_stop() {
	local key=$1 count=$2 what=$3 a g t
	a=$(($(pid_cpu_ns "$(agent_pid)") - CPU_A0))
	g=$(($(pid_cpu_ns "$(gateway_pid)") - CPU_G0))
	t=$((${EPOCHREALTIME/./} - CPU_T0))
	a=$(awk -v c="$a" -v t="$t" -v i="$IDLE_AGENT" -v n="$count" 'BEGIN { printf "%.3f", (c - i * t) / n / 1e6 }')
	g=$(awk -v c="$g" -v t="$t" -v i="$IDLE_GATEWAY" -v n="$count" 'BEGIN { printf "%.3f", (c - i * t) / n / 1e6 }')
	say "$what: agent $a ms, gateway $g ms of CPU each ($count over $((t / 1000)) ms, idle rate taken off)"
	val "${key}_agent" "$a"
	val "${key}_gateway" "$g"
}

# Start and stop wfb-chg COUNT times, the probe running from before each start; the runs'
# start-event -> answering go to KEY.
change_runs() {
	local count=$1 i
	: >"$OUT/converge"
	events_start
	for ((i = 0; i < count; i++)); do
		converge_once wgfwd wfb-chg "$LAB_GW_PUB4" 18090
	done
	events_stop
	runs_with_events >"$OUT/runs"
}

# cold_start WHO LOGRE PORT: WHO (agent, gateway) was stopped and its table removed; start it
# and time its log line LOGRE and PORT answering through the gateway.
cold_start() {
	local who=$1 re=$2 port=$3 t0 t_log t_first pid up
	on client "$BIN/wfb_net" probe up "$LAB_GW_PUB4" 60 1 "$port" >"$OUT/probe" &
	pid=$!
	sleep 0.2
	# started as `lab.sh spawn` starts it (its pid file, its log), without lab.sh's own start-up
	# in the clock
	if [ "$who" = agent ]; then
		set -- srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" \
			--docker-host "$LAB_DOCKER_HOST" --status-socket "$AGENT_SOCK" --log-level info \
			--gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
	else
		set -- gw "$WGFWD_BIN/wgfwd-gateway" --foreground --interface "$LAB_GW_WG_IF" \
			--public-interface "$LAB_GW_PUB_IF" --peer "$LAB_SRV_WG4,$LAB_SRV_WG6=$WGFWD_KEY" \
			--peer-egress "$LAB_SRV_WG4=smtp" --state-dir "$GATEWAY_STATE" \
			--status-socket "$GATEWAY_SOCK" --log-level info
	fi
	local ns
	ns=$(lab_ns "$1")
	shift
	t0=${EPOCHREALTIME/./}
	setsid nsenter --net="/run/netns/$ns" "$@" </dev/null >"$LAB_RUN/bg/$who.log" 2>&1 8>&- 9>&- &
	echo $! >"$LAB_RUN/bg/$who.pid"
	wait "$pid"
	up=$(awk '{print $2}' "$OUT/probe")
	wait_until 10 grep -qE -- "$re" "$LAB_RUN/bg/$who.log" >/dev/null
	# a restored gateway answers before the agent hears its acknowledgement: wait for it too
	[ "$who" = agent ] &&
		wait_until 10 grep -qE -- 'gateway .* applied generation' "$LAB_RUN/bg/$who.log" >/dev/null
	t_log=$(log_time_ms "$LAB_RUN/bg/$who.log" "$re")
	t_first=$(log_time_ms "$LAB_RUN/bg/$who.log" '.')
	cp "$LAB_RUN/bg/$who.log" "$KEEP/cold-$who.log"
	if [ -n "$t_log" ]; then
		say "cold start, $who: start command -> 10,000 forwards applied (its log): $((t_log - t0 / 1000)) ms"
		val "cold_${who}_applied" $((t_log - t0 / 1000))
		say "cold start, $who: its first log line -> 10,000 forwards applied: $((t_log - t_first)) ms"
		val "cold_${who}_first" $((t_log - t_first))
		t_log=$(log_time_ms "$LAB_RUN/bg/$who.log" 'gateway .* applied generation')
		[ -n "$t_log" ] && val "cold_${who}_gwacked" $((t_log - t0 / 1000))
	else
		say "cold start, $who: no log line /$re/"
		val "cold_${who}_applied" ""
	fi
	if [ "$up" != timeout ] && [ -n "$up" ]; then
		say "cold start, $who: start command -> port $port answering at the gateway: $(((up / 1000 - t0) / 1000)) ms"
		val "cold_${who}_answering" $(((up / 1000 - t0) / 1000))
	else
		val "cold_${who}_answering" ""
	fi
}

# At 10,000 forwards: the CPU of one container change in each daemon, first in a restart-like
# loop (CHANGES starts and stops), then with each stop staying stopped (GONE). With
# PERF=agent|gateway, that daemon runs under `perf record` for both loops (PERF_OUT, default
# $KEEP/perf.data, PERF_OPTS perf record's options, default -g): the CPU figures then include
# perf's own share.
change_cpu() {
	local i
	# one change at 10,000: a small labelled container started and stopped
	ldocker create --name wfb-chg --label wgfwd.ports=18090:80 "$LAB_IMAGE" \
		httpd -f -p 80 -h /www >/dev/null || return 1
	converge_once warmup wfb-chg "$LAB_GW_PUB4" 18090
	# past the daemons' wait before they search for the warm-up stop's stale conntrack
	# entries (2 s): that search in the idle window below made the idle rate several times
	# the true one, and the figures of both loops too low by its share
	sleep 3
	# one whole reconcile interval (30 s by default): the idle rate then holds one reconcile
	# (a read-back of the table) at its true share, where a shorter window held one or none
	cpu_idle_rate 31
	perf_start
	cpu_start
	change_runs "$CHANGES"
	val cpu_change_n "$CHANGES"
	cpu_stop cpu_change $((2 * CHANGES)) "one container change (a start or a stop) at 10,000 forwards"
	cp "$OUT/runs" "$KEEP/change10k.txt"
	awk '$4 != "timeout" && $7 != "none" {print ($4 - $7) / 1e6}' "$OUT/runs" |
		quantiles change10k_event "at 10,000: start event -> answering at the gateway"

	# The loop above starts the container again a few hundred ms after each stop, as a restart
	# does. Here each stop stays stopped for 3 s, past the daemons' wait before they search for
	# a removed forward's stale conntrack entries, so that search is in each stop's cost.
	cpu_start
	for ((i = 0; i < GONE; i++)); do
		converge_once gone wfb-chg "$LAB_GW_PUB4" 18090
		sleep 3
	done
	val cpu_gone_n "$GONE"
	cpu_stop cpu_gone $((2 * GONE)) "one container change, each stop staying stopped 3 s (its stale-conntrack search included)"

	perf_stop
}

perf_start() {
	local pid
	[ -n "${PERF:-}" ] || return 0
	pid=$("${PERF}_pid")
	# shellcheck disable=SC2086 # PERF_OPTS: perf's own words, e.g. "--call-graph dwarf -F 20000"
	perf record -q -e cpu-clock ${PERF_OPTS:--g} -p "$pid" -o "${PERF_OUT:-$KEEP/perf.data}" >/dev/null 2>&1 &
	PERF_PID=$!
	sleep 0.5
}

perf_stop() {
	[ -n "${PERF_PID:-}" ] || return 0
	kill -INT "$PERF_PID"
	wait "$PERF_PID" 2>/dev/null
	PERF_PID=""
	say "perf: ${PERF_OUT:-$KEEP/perf.data} (perf report -i ...)"
}

# Only the per-change CPU at 10,000 forwards, for work on it: the daemons' own set-up left out.
section_change() {
	local i ranges=""
	for ((i = 0; i < 10; i++)); do
		ranges="$ranges${ranges:+,}$((20000 + i * 1000))-$((20999 + i * 1000))"
	done
	ldocker network create wfb-v4 >/dev/null
	ldocker run -d --name wfb-m10k --network wfb-v4 --label "wgfwd.ports=$ranges" "$LAB_IMAGE" \
		sleep 3600 >/dev/null || return 1
	wait_applied 10000 120 || say "change: 10,000 forwards not applied in 120 s"
	sleep 2
	change_cpu
	ldocker rm -f wfb-m10k wfb-chg >/dev/null
	ldocker network rm wfb-v4 >/dev/null
	wait_applied 0 120
}

section_daemons() {
	local ranges="" i t0 up
	say "# daemons: memory at 0, 1,000 and 10,000 forwards; at 10,000, one change ($CHANGES starts and" \
		"$CHANGES stops), foreign nftables commits and cold starts"
	# fresh daemons: what the sections before grew does not count
	restart_daemons || return 1
	sleep 1
	mem_vals 0
	mem_floor
	ldocker run -d --name wfb-m1k --label wgfwd.ports=30000-30999 "$LAB_IMAGE" sleep 3600 >/dev/null
	wait_applied 1000 60 || say "daemons: 1,000 forwards not applied in 60 s"
	sleep 1
	mem_vals 1000
	ldocker rm -f wfb-m1k >/dev/null
	wait_applied 0 60

	for ((i = 0; i < 10; i++)); do
		ranges="$ranges${ranges:+,}$((20000 + i * 1000))-$((20999 + i * 1000))"
	done
	# IPv4 only: 10,000 forwards, 10,000 gateway entries
	ldocker network create wfb-v4 >/dev/null
	on client "$BIN/wfb_net" probe up "$LAB_GW_PUB4" 120 5 29999 >"$OUT/probe" &
	t0=${EPOCHREALTIME/./}
	# it listens on its last port, which the probes try
	ldocker run -d --name wfb-m10k --network wfb-v4 --label "wgfwd.ports=$ranges" "$LAB_IMAGE" \
		httpd -f -p 29999 -h /www >/dev/null
	wait $!
	up=$(awk '{print $2}' "$OUT/probe")
	[ "$up" != timeout ] && [ -n "$up" ] &&
		say "daemons: docker run of one container with 10,000 ports -> its last port answering: $(((up / 1000 - t0) / 1000)) ms"
	wait_applied 10000 120 || say "daemons: 10,000 forwards not applied in 120 s"
	sleep 2
	mem_vals 10000

	change_cpu

	# foreign commits: a table of someone else's added in each daemon's namespace
	cpu_start
	for ((i = 0; i < CHANGES; i++)); do
		on srv nft add table ip "wfb_foreign$i"
		sleep 0.25
	done
	cpu_stop cpu_foreign_srv "$CHANGES" "a foreign nftables commit in the server's namespace"
	on srv nft list tables | awk '/wfb_foreign/ {print $3}' | while read -r t; do on srv nft delete table ip "$t"; done
	cpu_start
	for ((i = 0; i < CHANGES; i++)); do
		on gw nft add table ip "wfb_foreign$i"
		sleep 0.25
	done
	cpu_stop cpu_foreign_gw "$CHANGES" "a foreign nftables commit in the gateway's namespace"
	on gw nft list tables | awk '/wfb_foreign/ {print $3}' | while read -r t; do on gw nft delete table ip "$t"; done

	# cold starts at 10,000: each daemon stopped, its table removed, started again
	agent_stop
	wait_until 10 _no_agent >/dev/null
	on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup >/dev/null 2>&1
	cold_start agent 'applied in [0-9.]* ms: nft' 29999
	wait_until 10 output_is true agent_jq .gateway.connected >/dev/null
	sleep 1
	gateway_stop
	wait_until 10 _no_gateway >/dev/null
	on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup >/dev/null 2>&1
	cold_start gateway 'ruleset applied: ' 29999
	ldocker rm -f wfb-m10k wfb-chg >/dev/null
	ldocker network rm wfb-v4 >/dev/null
	wait_applied 0 120
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
	local pid r mtu line
	say "# tunnel: bulk TCP client -> container through the gateway, $TPUT_REPS x ${TPUT_SECONDS}s, MTUs interleaved"
	ldocker run -d --name wfb-tput --label wgfwd.ports=5201 "$LAB_IMAGE" sleep 3600 >/dev/null ||
		return 1
	pid=$(lab_container_pid wfb-tput)
	lab_spawn wfb-sink srv nsenter -t "$pid" -n "$BIN/wfb_net" sink 5201
	on_exit set_tunnel_mtu "$LAB_WG_MTU"
	wait_until 10 on client "$BIN/wfb_net" probe up "$LAB_GW_PUB4" 1 10 5201 >/dev/null ||
		say "tunnel: the sink does not answer through the gateway"
	: >"$OUT/tput"
	val tput_reps "$TPUT_REPS"
	for ((r = 1; r <= TPUT_REPS; r++)); do
		for mtu in "$LAB_WG_MTU" 1500; do
			set_tunnel_mtu "$mtu"
			sleep 0.5
			line=$(on client "$BIN/wfb_net" bulk "$LAB_GW_PUB4" 5201 "$TPUT_SECONDS")
			say "tunnel mtu $mtu round $r: $line"
			echo "$mtu $(awk '{ for (i = 1; i <= NF; i++) if ($i == "Mbit/s," || $i == "Mbit/s") print $(i - 1) }' <<<"$line")" >>"$OUT/tput"
		done
	done
	set_tunnel_mtu "$LAB_WG_MTU"
	awk -v m="$LAB_WG_MTU" -v vals="$BENCH_VALUES" '
		function med(s,   v, k, i, j, t) { k = split(s, v, " ")
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
			return v[int((k + 1) / 2)] }
		$1 == m { c = c " " $2 } $1 == 1500 { f = f " " $2 }
		END { printf "tput_clamp=%.0f\ntput_1500=%.0f\n", med(c), med(f) >>vals
			printf "tunnel: median %.0f Mbit/s with the clamp, %.0f Mbit/s at MTU 1500\n", med(c), med(f) }' "$OUT/tput"
	lab_kill wfb-sink
	ldocker rm -f wfb-tput >/dev/null
}

# ---------------------------------------------------------------------------------------------

if [ "$(id -u)" -ne 0 ]; then
	echo "lab_bench: needs root" >&2
	exit 1
fi
exec 8>"$LAB_LOCK"
t_wait=$SECONDS
if ! flock -n 8; then
	echo "lab_bench: waiting for another lab user ($LAB_LOCK)"
	flock -w 3600 8 || exit 1
fi
export WF_LAB_LOCKED=1
HAVE_LAB=1
mkdir -p "$KEEP" "$BENCH_DATA"
val lab_wait_s $((SECONDS - t_wait))
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
	t0=$SECONDS
	"section_$s"
	say "# lab section $s took $((SECONDS - t0)) s"
	echo
done
