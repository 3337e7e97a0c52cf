# tests/e2e/robust.sh: what the fault, load and hostile scenarios share (sourced after lib.sh
# and wgfwd.sh).
#   soak SHORT LONG               SHORT in make check, LONG with SOAK=1 (hand runs)
#   robust_setup                  gateway and agent over the control channel, each scenario's
#                                 clean-up registered
#   second_peer_setup             a second peer's tunnel address ($PEER2_WG4) on the server and
#                                 its key ($PEER2_KEY), for robust_setup --peer "$PEER2_SPEC";
#                                 no agent runs for it (tests/tools/ctl_attack speaks for it)
#   flows_start                   containers "stream" (tcp/9001, a counter, one line per 0.1 s)
#                                 and "echo" (udp/5353), restarted by Docker; the client opens a
#                                 TCP stream and a UDP flow (one source port) to both through
#                                 the gateway's public address
#   stream_flowing                the client's stream (to $STREAM_ADDR, into $STREAM_OUT) grows
#                                 and its first connection is alive
#   udp_flowing                   answers to the UDP flow keep arriving
#   udp_lost                      datagrams of the flow lost so far
#   forwards_correct              what Docker runs, the agent's status, the server's maps and
#                                 the gateway's maps agree (prints the difference when not;
#                                 about a second: too slow to time a repair with)
#   maps_want [--egress] / maps_are WANT [--egress]
#                                 the maps' contents Docker's forwards call for (and the egress
#                                 rules' sources, its egress labels), and the probe that the
#                                 maps (and rules) hold exactly that now, both hosts read at once
#   state_now HOST READ... / state_is WANT HOST READ...
#                                 what the reads READ... ($READ_SRV_MAP, $READ_GW_MAPS,
#                                 $READ_TABLES, $READ_RULES, $READ_ROUTES, $READ_DOCKER_USER,
#                                 $READ_EGRESS) show on HOST, in one process, and the probe that
#                                 it is WANT again: one fault's own probe
#   dataplane_now [HOST] / dataplane_is WANT [HOST]
#                                 what both daemons own in the kernel (maps, tables, ip rules,
#                                 tunnel routes, the DOCKER-USER accept), or only what HOST (srv
#                                 or gw) holds of it, and the probe that it is WANT again (a
#                                 snapshot taken before a fault)
#   egress_want / egress_are WANT / egress_correct
#                                 the addresses of the containers labelled for egress, the probe
#                                 that the agent's egress ip rules are for exactly those, one
#                                 each, and both in one
#   no_duplicates                 one DOCKER-USER accept, no ip rule twice, one table each
#   gateway_pid / agent_pid       the daemons' process ids
#   rss PID / fds PID             VmRSS in kB, open file descriptors
#   log_errors                    error lines of either daemon's log since logs_mark (fails
#                                 when a log is missing); logs_clean: there are none
#   fault_mark NAME               the clock of `within' starts: fault NAME was just made
#   fault_mark_when NAME SECONDS CMD...
#                                 the clock starts when CMD (polled) first succeeds, e.g. a
#                                 reconnection: at the start of the last poll that failed
#   within SECONDS CMD...         CMD succeeds, retried, and saw the state right within SECONDS
#                                 (decimals allowed) of wall time since the fault: at its last
#                                 read (a probe's "read-at" line) or, without one, at its end;
#                                 prints how long it took, and logs it for recovery_times
#   recovery_times                every `within' of the scenario so far, in ms
# shellcheck shell=bash

STREAM_PORT=9001
UDP_SRC_PORT=40053
STREAM_OUT=$LAB_RUN/stream.out
STREAM_ADDR=$LAB_GW_PUB4 # where the client's stream goes
UDP_LOG=$LAB_RUN/bg/udpflow.log
AGENT_ARGS=(--gateway "$LAB_GW_WG4" --key "$WGFWD_KEY")

PEER2_WG4=192.168.160.3
PEER2_KEY=$LAB_RUN/peer2.key
PEER2_SPEC="$PEER2_WG4=$PEER2_KEY"

second_peer_setup() {
	local srv_wg_pub
	srv_wg_pub=$(cat "$LAB_SRV_WG_PUB")
	rm -f "$PEER2_KEY"
	"$WGFWD_BIN/wgfwd" genkey "$PEER2_KEY" || return 1
	# Carried by the server's WireGuard peer, beside the server's own address.
	on_exit on srv ip addr del "$PEER2_WG4/32" dev "$LAB_SRV_WG_IF"
	on_exit on gw wg set "$LAB_GW_WG_IF" peer "$srv_wg_pub" \
		allowed-ips "$LAB_SRV_WG4/32,$LAB_SRV_WG6/128"
	on gw wg set "$LAB_GW_WG_IF" peer "$srv_wg_pub" \
		allowed-ips "$LAB_SRV_WG4/32,$LAB_SRV_WG6/128,$PEER2_WG4/32" || return 1
	on srv ip addr add "$PEER2_WG4/32" dev "$LAB_SRV_WG_IF" || return 1
	# The agent masquerades what leaves through the tunnel onto its own tunnel address; a NAT
	# binding settled earlier keeps the second peer's source as it is (a second agent would
	# sit on a host of its own). The agent's chain sits at 90: this one runs first.
	on_exit on srv nft delete table inet e2e_peer2
	on srv nft -f - <<-NFT
		table inet e2e_peer2 {
			chain keep_source {
				type nat hook postrouting priority 80;
				ip saddr $PEER2_WG4 oifname "$LAB_SRV_WG_IF" snat ip to $PEER2_WG4
			}
		}
	NFT
}

soak() {
	if [ "${SOAK:-0}" = 1 ]; then echo "$2"; else echo "$1"; fi
}

robust_setup() {
	on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
	on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
	on_exit agent_stop
	on_exit gateway_stop
	rm -rf "$GATEWAY_STATE" "$LAB_RUN/recovery.times"
	gateway_start "$@" || return 1
	agent_start "${AGENT_ARGS[@]}" || return 1
	wait_until 10 output_is true agent_jq .gateway.connected >/dev/null
}

# ---- the flows that must keep going ----

flows_start() {
	ldocker run -d --name stream --restart always --label wgfwd.ports=$STREAM_PORT "$LAB_IMAGE" \
		sh -c "while :; do nc -l -p $STREAM_PORT -e sh -c 'i=0; while :; do i=\$((i+1)); echo \$i; sleep 0.1; done'; done" \
		>/dev/null || return 1
	_lab_start_service echo "$LAB_UDP_PORT" udp --restart always \
		--label wgfwd.ports=$LAB_UDP_PORT/udp -- udp_echo serve -p "$LAB_UDP_PORT" -n echo ||
		return 1
	wait_until 10 _lab_listens stream $STREAM_PORT tcp >/dev/null || return 1
	wait_until 10 on gw nft get element inet wgfwd_gateway fwd4 "{ tcp . $STREAM_PORT }" >/dev/null ||
		return 1
	wait_until 10 on gw nft get element inet wgfwd_gateway fwd4 "{ udp . $LAB_UDP_PORT }" >/dev/null ||
		return 1
	stream_connect || return 1
	lab_spawn udpflow client "$HELPERS/udp_flow" -p $UDP_SRC_PORT -i 100 "$LAB_GW_PUB4" "$LAB_UDP_PORT"
	wait_until 10 stream_flowing >/dev/null && wait_until 10 udp_flowing >/dev/null
}

# (Re)opens the client's TCP stream: a new connection, counted from 1 again.
stream_connect() {
	lab_kill stream >/dev/null 2>&1
	: >"$STREAM_OUT"
	lab_spawn stream client sh -c "exec nc $STREAM_ADDR $STREAM_PORT > $STREAM_OUT"
}

_stream_nc_alive() {
	pgrep -f "^nc $STREAM_ADDR $STREAM_PORT\$" >/dev/null
}

# Grows within a second, on the connection opened first (its first line is 1 and the client
# never had to reconnect).
stream_flowing() {
	local a b
	a=$(stat -c %s "$STREAM_OUT")
	sleep 0.5
	b=$(stat -c %s "$STREAM_OUT")
	if [ "$b" -le "$a" ]; then
		echo "stream stalled at $b bytes (last line $(tail -n 1 "$STREAM_OUT"))"
		return 1
	fi
	if ! _stream_nc_alive; then
		echo "the client's stream connection ended"
		return 1
	fi
	[ "$(head -n 1 "$STREAM_OUT")" = 1 ]
}

stream_lines() {
	wc -l <"$STREAM_OUT"
}

udp_answers() {
	wc -l <"$UDP_LOG"
}

udp_flowing() {
	local a b
	a=$(udp_answers)
	sleep 0.5
	b=$(udp_answers)
	[ "$b" -gt "$a" ] || {
		echo "no UDP answer for 0.5 s (answered $b)"
		return 1
	}
}

# Datagrams sent before the last answer that got no answer.
udp_lost() {
	awk '$1 ~ /^[0-9]+$/ {n++; last = $1} END {print last - n + 0}' "$UDP_LOG"
}

# ---- state agrees everywhere ----

# "proto port name ip4 v6" for each running container with wgfwd.ports and an IPv4 address on
# the network it is forwarded from (its only one, or the one wgfwd.network names); v6 is "v6"
# when it has an IPv6 address there too, "-" otherwise. Understands the label forms the
# scenarios use: P, P:T, with /tcp, /udp or /tcp+udp.
docker_forwards() {
	local ids
	ids=$(ldocker ps -q --filter label=wgfwd.ports)
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086
	ldocker inspect -f '{{.Name}} {{index .Config.Labels "wgfwd.ports"}} {{or (index .Config.Labels "wgfwd.network") "-"}} {{range $n, $v := .NetworkSettings.Networks}}{{$n}}={{$v.IPAddress}}={{$v.GlobalIPv6Address}} {{end}}' $ids |
		awk '{
			name = substr($1, 2); want = $3; ip = ""; v6 = "-"
			if (want == "-" && NF != 4) next
			for (i = 4; i <= NF; i++) {
				split($i, net, "=")
				if (want == "-" || net[1] == want) { ip = net[2]; if (net[3] != "") v6 = "v6" }
			}
			if (ip == "") next
			n = split($2, entries, ",")
			for (i = 1; i <= n; i++) {
				e = entries[i]; proto = "tcp"
				if (index(e, "/")) { proto = substr(e, index(e, "/") + 1); e = substr(e, 1, index(e, "/") - 1) }
				if (index(e, ":")) e = substr(e, 1, index(e, ":") - 1)
				if (proto == "tcp" || proto == "tcp+udp") print "tcp", e, name, ip, v6
				if (proto == "udp" || proto == "tcp+udp") print "udp", e, name, ip, v6
			}
		}' | sort
}

agent_forwards() {
	agent_jq '.forwards[] | "\(.proto) \(.public_port) \(.container) \(.ip4) \(.state)"' | sort
}

# "proto port address" of a map's elements (proto . port : address . port).
_map_elems='.nftables[] | select(.map) | .map.elem[]? | "\(.[0].concat[0]) \(.[0].concat[1]) \(.[1].concat[0])"'

nft_map() {
	on "$1" nft -j list map inet "$2" "$3" | jq -r "$_map_elems" | sort
}

# Runs the reads CMD... in HOST's network namespace in one process (a probe that starts fewer
# processes sees a repair sooner), then prints each output in turn and "read-at US": when the
# last read had ended, so the state was so at that moment at the latest.
_read_on() {
	local host=$1
	shift
	on "$host" bash -c 'outs=()
		for c in "$@"; do outs+=("$(eval "$c" 2>/dev/null)"); done
		t=$(date +%s%6N)
		printf "%s\n" "${outs[@]}"
		echo "read-at $t"' _ "$@"
}

# The reads of a map for _read_on: a header and `nft list map' of inet TABLE MAP, which
# _sections turns into "proto port address" lines ("proto port" with FIELDS 2).
_map_read() { # NAME TABLE MAP [FIELDS]
	printf '%s\n' "echo '== $1: ${4:-3}'" "nft list map inet $2 $3"
}

# Orders what _read_on printed, so that two reads of one state print the same: each map's
# elements a line each, and every section's lines sorted. Headers: "== NAME: FIELDS" before
# a map, "-- NAME" before anything else.
_sections() {
	awk -v OFS='\t' '
		function flush() {
			if (!inmap) return
			inmap = 0
			if (els !~ /elements = \{/) {
				els = ""
				return
			}
			sub(/.*elements = \{/, "", els)
			sub(/\}.*/, "", els)
			n = split(els, e, ",")
			for (i = 1; i <= n; i++) {
				if (split(e[i], f, " ") < 5) continue
				print sec, 1, fields == 2 ? f[1] " " f[3] : f[1] " " f[3] " " f[5]
			}
			els = ""
		}
		/^== / { flush(); sec++; inmap = 1; fields = $NF; sub(/ [0-9]+$/, ""); print sec, 0, substr($0, 4); next }
		/^-- / { flush(); sec++; print sec, 0, substr($0, 4); next }
		/^read-at / { flush(); print 999999, 0, $0; next }
		inmap { els = els " " $0; next }
		NF { print sec, 1, $0 }
		END { flush() }' | sort -t "$(printf '\t')" -k1,1n -k2,2n -k3 | cut -f3-
}

# The server's reads and the gateway's, run at once.
_read_both() { # SRV_READS... -- GW_READS...
	local srv=() gw=() side=srv a gw_out
	for a in "$@"; do
		if [ "$a" = -- ]; then
			side=gw
		elif [ "$side" = srv ]; then
			srv+=("$a")
		else
			gw+=("$a")
		fi
	done
	exec 3< <(_read_on srv "${srv[@]}")
	gw_out=$(_read_on gw "${gw[@]}")
	{
		cat <&3
		printf '%s\n' "$gw_out"
	} | _sections
	exec 3<&-
}

# The server's and the gateway's maps as their contents should be for docker_forwards' lines
# ($1), in the form maps_now prints.
_maps_of() { # DOCKER_FORWARDS [--egress ADDRESSES]
	echo "server fwd4:"
	echo "$1" | awk 'NF {print $1, $2, $4}' | sort
	if [ "${2:-}" = --egress ]; then
		echo "egress:"
		printf '%s\n' "$3" | grep -v '^$' | sort
	fi
	echo "gateway fwd4:"
	echo "$1" | awk -v t="$LAB_SRV_WG4" 'NF {print $1, $2, t}' | sort
	echo "gateway fwd6:"
	echo "$1" | awk '$5 == "v6" {print $1, $2}' | sort
}

# Reads for state_now: the server's and the gateway's forward maps, the owned tables, the
# agent's ip rules, tunnel routes, DOCKER-USER accept and egress rules (their sources).
READ_SRV_MAP=("echo '== server fwd4: 3'" "nft list map inet wgfwd fwd4")
READ_GW_MAPS=("echo '== gateway fwd4: 3'" "nft list map inet wgfwd_gateway fwd4"
	"echo '== gateway fwd6: 3'" "nft list map inet wgfwd_gateway fwd6")
READ_TABLES=("echo '-- tables:'" "nft list tables | grep ' wgfwd'")
READ_RULES=("echo '-- rules:'" "ip -4 rule show | grep 'proto 207'"
	"ip -6 rule show | grep 'proto 207'")
READ_ROUTES=("echo '-- routes:'" "ip -4 route show table 51820" "ip -6 route show table 51820")
READ_DOCKER_USER=("echo '-- DOCKER-USER:'" "iptables -S DOCKER-USER | grep -- '-i $LAB_SRV_WG_IF '")
READ_EGRESS=("echo '-- egress:'"
	"ip -4 rule show | awk '/proto 207/ && / dport 25 / {for (i = 1; i < NF; i++) if (\$i == \"from\") print \$(i + 1)}'")

# HOST's answer to the reads READ..., in order (_sections): a snapshot, or a probe's reading.
state_now() { # HOST READ...
	_read_on "$@" | _sections
}

state_is() { # WANT HOST READ...
	_same "$1" state_now "${@:2}"
}

# --egress: the egress rules' sources too, read with the server's map.
maps_now() {
	local srv=("${READ_SRV_MAP[@]}")
	[ "${1:-}" = --egress ] && srv+=("${READ_EGRESS[@]}")
	_read_both "${srv[@]}" -- "echo '== gateway fwd4: 3'" "nft list map inet wgfwd_gateway fwd4" \
		"echo '== gateway fwd6: 2'" "nft list map inet wgfwd_gateway fwd6"
}

maps_want() { # [--egress]
	if [ "${1:-}" = --egress ]; then
		_maps_of "$(docker_forwards)" --egress "$(egress_want)"
	else
		_maps_of "$(docker_forwards)"
	fi
}

# Succeeds when what CMD ($2...) prints is $1, read-at lines aside (a snapshot may hold them); then
# prints the latest read-at (for `within'). Prints the lines that differ otherwise.
_same() { # WANT CMD...
	local want raw have
	want=$(grep -v '^read-at ' <<<"$1")
	raw=$("${@:2}")
	have=$(grep -v '^read-at ' <<<"$raw")
	if [ "$have" = "$want" ]; then
		grep '^read-at ' <<<"$raw" | sort -k2,2n | tail -n 1
		return 0
	fi
	diff <(printf '%s\n' "$want") <(printf '%s\n' "$have") | grep '^[<>]' |
		sed 's/^</want/; s/^>/have/'
	return 1
}

maps_are() { # WANT [--egress]
	_same "$1" maps_now "${2:-}"
}

forwards_correct() {
	local want agent ok=0
	want=$(docker_forwards)
	agent=$(agent_forwards)
	[ "$agent" = "$(echo "$want" | awk 'NF {print $1, $2, $3, $4, "applied"}')" ] || {
		printf 'docker:\n%s\nagent status:\n%s\n' "$want" "$agent"
		ok=1
	}
	maps_are "$(_maps_of "$want")" >/dev/null || {
		maps_are "$(_maps_of "$want")"
		ok=1
	}
	[ "$ok" = 0 ] && echo "$(echo "$want" | grep -c .) forwards agree"
	return $ok
}

# What both daemons own in the kernel, one read per host, the hosts at once: their maps and
# tables, and the agent's ip rules, tunnel routes and DOCKER-USER accept. HOST (srv or gw):
# only that host's part, for a fault that touched only it.
dataplane_now() {
	local srv=("${READ_SRV_MAP[@]}" "${READ_TABLES[@]}" "${READ_RULES[@]}" "${READ_ROUTES[@]}"
		"${READ_DOCKER_USER[@]}")
	local gw=("${READ_GW_MAPS[@]}" "${READ_TABLES[@]}")
	case "${1:-}" in
	srv) state_now srv "${srv[@]}" ;;
	gw) state_now gw "${gw[@]}" ;;
	*) _read_both "${srv[@]}" -- "${gw[@]}" ;;
	esac
}

dataplane_is() { # WANT [HOST]
	_same "$1" dataplane_now "${2:-}"
}

# The addresses of the running containers labelled wgfwd.egress=smtp, and the containers' ip
# rules for egress (what egress_are compares them with, and when it read them).
egress_want() {
	local ids
	ids=$(ldocker ps -q --filter label=wgfwd.egress)
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086
	ldocker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' $ids |
		awk 'NF {print $1}' | sort
}

egress_now() {
	_read_on srv "ip -4 rule show" |
		awk '/^read-at / {print; next} /proto 207/ && / dport 25 / {for (i = 1; i < NF; i++) if ($i == "from") print $(i + 1)}' |
		sort
}

# The agent's egress rules are exactly WANT: one per container, no other.
egress_are() {
	_same "$(printf '%s\n' "$1" | grep -v '^$' | sort)" egress_now
}

egress_correct() {
	egress_are "$(egress_want)"
}

no_duplicates() {
	local n bad=0 dup
	n=$(on srv iptables -S DOCKER-USER | grep -c -- "-i $LAB_SRV_WG_IF ")
	[ "$n" = 1 ] || { echo "DOCKER-USER has $n tunnel accept rules"; bad=1; }
	n=$(on srv ip6tables -S FORWARD | grep -c -- "-i $LAB_SRV_WG_IF .*DNAT")
	[ "$n" -le 1 ] || { echo "ip6tables FORWARD has $n tunnel accept rules"; bad=1; }
	for fam in -4 -6; do
		dup=$(on srv ip "$fam" rule show | grep 'proto 207' | sed 's/^[0-9]*:\s*//' | sort | uniq -d)
		[ -z "$dup" ] || { echo "ip $fam rules twice: $dup"; bad=1; }
		dup=$(on srv ip "$fam" route show table 51820 | sort | uniq -d)
		[ -z "$dup" ] || { echo "ip $fam routes twice: $dup"; bad=1; }
	done
	n=$(on srv nft list tables | grep -c 'inet wgfwd$')
	[ "$n" = 1 ] || { echo "server: $n wgfwd tables"; bad=1; }
	n=$(on gw nft list tables | grep -cE 'inet wgfwd_(gateway|anchor)$')
	[ "$n" = 2 ] || { echo "gateway: $n wgfwd tables"; bad=1; }
	return $bad
}

# ---- the daemons as processes ----

gateway_pid() {
	_gateway_pids | head -n 1
}

agent_pid() {
	_agent_pids | head -n 1
}

rss() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

fds() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# Error lines logged since logs_mark (or since the daemons started); fails when a log is missing.
log_errors() {
	local log
	for log in agent gateway; do
		[ -r "$LAB_RUN/bg/$log.log" ] || {
			echo "no $log log at $LAB_RUN/bg/$log.log"
			return 1
		}
	done
	agent_log_since | grep_lines -E ' (error|fatal):' &&
		gateway_log_since | grep_lines -E ' (error|fatal):'
}

logs_clean() {
	local out
	out=$(log_errors) && [ -z "$out" ]
}

# ---- time ----

_now_us() {
	echo "${EPOCHREALTIME//[.,]/}"
}

_us_of() { # SECONDS (decimals allowed) in microseconds
	awk -v s="$1" 'BEGIN {printf "%d\n", s * 1000000}'
}

_fault_at=
_fault_name=
# NAME: the fault, as recovery_times lists it.
fault_mark() {
	_fault_at=$(_now_us)
	_fault_name=$1
}

# Polls CMD with no pause but its own run time. The clock starts at the beginning of the last
# attempt that failed: what CMD waits for happened after that, so no time is left out.
fault_mark_when() {
	local name=$1 end began last
	end=$(($(_now_us) + $(_us_of "$2")))
	shift 2
	last=$(_now_us)
	_fault_name=$name
	while :; do
		began=$(_now_us)
		if "$@" >/dev/null 2>&1; then
			_fault_at=$last
			return 0
		fi
		last=$began
		if [ "$began" -ge "$end" ]; then
			echo "fault_mark_when: \`$*' did not succeed in time" >&2
			_fault_at=$last
			return 1
		fi
	done
}

# Wall time from the fault to the moment the successful attempt saw the state right: its last
# read (a probe's "read-at US" line) or, for a probe that does not say, the attempt's end. So
# a probe's own run time counts up to its reads, and a slow repair cannot hide behind it. An
# attempt that ends past SECONDS without success fails; the time is printed either way.
within() {
	local bound=$1 limit out rc now seen took
	limit=$(_us_of "$bound")
	shift
	if [ -z "$_fault_at" ]; then
		echo "within: no fault_mark before \`$1'"
		return 1
	fi
	while :; do
		out=$("$@" 2>&1)
		rc=$?
		now=$(_now_us)
		seen=$now
		if [ "$rc" -eq 0 ]; then
			seen=$(sed -n 's/^read-at \([0-9]*\)$/\1/p' <<<"$out" | sort -n | tail -n 1)
			[ -n "$seen" ] || seen=$now
		fi
		took=$(((seen - _fault_at) / 1000))
		if [ "$rc" -eq 0 ] && [ $((seen - _fault_at)) -le "$limit" ]; then
			printf '%s\n%d ms after the fault\n' "$out" "$took"
			printf '%6d ms  %s: %s\n' "$took" "$_fault_name" "$1" >>"$LAB_RUN/recovery.times"
			return 0
		fi
		if [ "$rc" -eq 0 ] || [ $((now - _fault_at)) -gt "$limit" ]; then
			printf '%s\n%s %d ms after the fault, over the bound of %s s\n' "$out" \
				"$([ "$rc" -eq 0 ] && echo right only || echo still wrong)" "$took" "$bound"
			printf '%6d ms  %s: %s (over %s s)\n' "$took" "$_fault_name" "$1" "$bound" \
				>>"$LAB_RUN/recovery.times"
			return 1
		fi
		sleep 0.02
	done
}

recovery_times() {
	cat "$LAB_RUN/recovery.times" 2>/dev/null
}
