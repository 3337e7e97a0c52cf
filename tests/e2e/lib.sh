# tests/e2e/lib.sh: sourced by every tests/e2e/test_*.sh, which run one by one in the lab
# (tests/lab/lab.sh) under tests/e2e/run.sh. The lab's names and addresses are the LAB_*
# variables of tests/lab/topology.sh; the picture is at the top of tests/lab/lab.sh.
#
# Checks (each one is one test, printed as a PASS or FAIL line):
#   check DESC CMD...              passes when CMD exits 0
#   check_fails DESC CMD...        passes when CMD exits non-zero
#   check_eq DESC EXPECTED CMD...  passes when CMD exits 0 and its output is EXPECTED (trailing
#                                  newlines aside)
#   check_match DESC REGEX CMD...  passes when CMD exits 0 and its output matches the extended
#                                  REGEX
#   check_eq --status N ..., check_match --status N ...
#                                  the same, for a CMD that must exit with status N
# CMD runs in a subshell (variables it sets do not survive); on failure its output is shown.
# Predicates to build checks from:
#   wait_until SECONDS CMD...      runs CMD until it succeeds, at most SECONDS; prints the output
#                                  of the last attempt and returns its status
#   output_is EXPECTED CMD...      prints CMD's output; succeeds when it is EXPECTED
#   output_matches REGEX CMD...    prints CMD's output; succeeds when it matches REGEX
#   grep_lines GREP-ARGS...        grep that prints what it finds and succeeds whether or not it
#                                  found anything, failing only when grep could not read (a
#                                  missing file): for "nothing of the kind" checks with check_eq ""
# e.g.  check "the client's address reaches the container" \
#               wait_until 5 output_is "$LAB_CLIENT4" lab_http_get client "$LAB_GW_PUB4"
#   on_exit CMD...                 runs CMD when the script ends, last registered first
#
# Lab helpers:
#   on HOST CMD...                 run CMD in a lab host (inet gw srv client mail)
#   ldocker ARGS...                the server's docker client
#   gwdocker ARGS...               the VPS's docker client (after `$LAB gw-docker-start')
#   lab_web_start NAME [docker run options...]
#                                  container NAME serving http on tcp/80: /cgi-bin/ip answers
#                                  the client address it saw, /cgi-bin/name the container's name
#   lab_udp_start NAME [docker run options...]
#                                  container NAME answering on udp/$LAB_UDP_PORT with
#                                  "ADDR PORT NAME MESSAGE" (address and port it saw)
#   lab_http_get [-s SRC] HOST ADDR [PORT [PATH]]   body of GET PATH (default /cgi-bin/ip)
#   lab_http_get_in CONTAINER ADDR [PORT [PATH]]    the same, from inside a container
#   lab_udp_send HOST [-s SRC] [-p SRCPORT] [-t SECONDS] ADDR PORT [MESSAGE]
#   lab_udp_send_in CONTAINER [options as above] ADDR PORT [MESSAGE]
#                                  send one datagram, print the answer (fails on no answer)
#   lab_spawn NAME HOST CMD...     run CMD in HOST in the background (log: $LAB_RUN/bg/NAME.log)
#   lab_kill NAME                  stop it (the reset between scripts stops it too)
#   lab_listen HOST PORT           tcp listener in HOST that answers the peer address it saw
#   lab_tcp_get HOST [-s SRC] ADDR PORT   connect and print what the peer says
#   lab_tcp_get_in CONTAINER ADDR PORT    the same, from inside a container
#   lab_tcp_connect HOST ADDR PORT succeeds when a TCP connection can be made
#   lab_container_ip NAME [NETWORK], lab_container_ip6 NAME [NETWORK], lab_container_pid NAME
#   lab_in_netns CONTAINER CMD...  run a host tool (ip, nft, ss...) in a container's namespace
#   lab_mail_peers                 addresses that connected to the mail host's tcp/25
#   lab_route_tunnel               the internet routes the tunnel's subnets to the gateway's
#                                  public address, as a neighbour of the VPS could (undone when
#                                  the script ends, and by the reset): probes of the tunnel
#                                  addresses from the internet then reach the gateway
#   lab_nft_counter HOST FAMILY TABLE COUNTER   packets counted by a named nft counter
# Between scripts run.sh resets the lab: containers, user networks, volumes and listeners go.
# shellcheck shell=bash

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$E2E_DIR/../.." && pwd)
LAB=$ROOT/tests/lab/lab.sh
HELPERS=$ROOT/build/tests
# shellcheck source=tests/lab/topology.sh
. "$ROOT/tests/lab/topology.sh"
LAB_UDP_PORT=5353

E2E_TEST=$(basename "$0" .sh)
_e2e_standalone=0
if [ -z "${E2E_RESULTS:-}" ]; then
	_e2e_standalone=1
	E2E_RESULTS=$(mktemp)
fi
_e2e_exit_cmds=()

on_exit() {
	_e2e_exit_cmds+=("$*")
}

_e2e_at_exit() {
	local rc=$? i passed failed
	for ((i = ${#_e2e_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_e2e_exit_cmds[i]}" >/dev/null 2>&1
	done
	if [ "$_e2e_standalone" = 1 ]; then
		passed=$(grep -c '^PASS' "$E2E_RESULTS")
		failed=$(grep -c '^FAIL' "$E2E_RESULTS")
		rm -f "$E2E_RESULTS"
		echo "$E2E_TEST: $passed passed, $failed failed"
		[ "$failed" -eq 0 ] || rc=1
	fi
	exit "$rc"
}
trap _e2e_at_exit EXIT

_e2e_record() {
	local ok=$1 desc=$2 detail=$3
	if [ "$ok" = 1 ]; then
		printf 'PASS  %s: %s\n' "$E2E_TEST" "$desc"
		printf 'PASS\t%s\t%s\n' "$E2E_TEST" "$desc" >>"$E2E_RESULTS"
	else
		printf 'FAIL  %s: %s\n' "$E2E_TEST" "$desc"
		printf '%s\n' "$detail" | grep -v '^$' | head -n 40 | sed 's/^/      /'
		printf 'FAIL\t%s\t%s\n' "$E2E_TEST" "$desc" >>"$E2E_RESULTS"
		# The mutation check needs only the first failure.
		[ "${E2E_STOP_AT_FAIL:-0}" = 1 ] && exit 1
	fi
}

# Records DESC as passed when CMD's exit status is zero exactly when WANT is "succeeds".
_e2e_check_status() {
	local want=$1 desc=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if { [ "$want" = succeeds ] && [ "$rc" -eq 0 ]; } ||
		{ [ "$want" = fails ] && [ "$rc" -ne 0 ]; }; then
		_e2e_record 1 "$desc"
	else
		_e2e_record 0 "$desc" "\$ $*
$out
(exit status $rc; expected the command to $([ "$want" = succeeds ] && echo succeed || echo fail))"
	fi
}

check() {
	_e2e_check_status succeeds "$@"
}

check_fails() {
	_e2e_check_status fails "$@"
}

# Runs CMD with its stdout in _e2e_out, its stderr in _e2e_err and its status in _e2e_rc.
_e2e_capture() {
	local errfile
	errfile=$(mktemp)
	_e2e_out=$("$@" 2>"$errfile")
	_e2e_rc=$?
	_e2e_err=$(cat "$errfile")
	rm -f "$errfile"
}

# Sets _e2e_want_rc from a leading "--status N" (default 0) and _e2e_nargs to the number of
# arguments it took.
_e2e_want_status() {
	_e2e_want_rc=0
	_e2e_nargs=0
	if [ "${1:-}" = --status ]; then
		_e2e_want_rc=$2
		_e2e_nargs=2
	fi
}

check_eq() {
	_e2e_want_status "$@"
	shift "$_e2e_nargs"
	local desc=$1 expected=$2
	shift 2
	_e2e_capture "$@"
	if [ "$_e2e_rc" -eq "$_e2e_want_rc" ] && [ "$_e2e_out" = "$expected" ]; then
		_e2e_record 1 "$desc"
	else
		_e2e_record 0 "$desc" "\$ $*
expected: $expected
got:      $_e2e_out
$_e2e_err
(exit status $_e2e_rc, expected $_e2e_want_rc)"
	fi
}

check_match() {
	_e2e_want_status "$@"
	shift "$_e2e_nargs"
	local desc=$1 regex=$2
	shift 2
	_e2e_capture "$@"
	if [ "$_e2e_rc" -eq "$_e2e_want_rc" ] && printf '%s\n' "$_e2e_out" | grep -Eq -- "$regex"; then
		_e2e_record 1 "$desc"
	else
		_e2e_record 0 "$desc" "\$ $*
expected a match for: $regex
got: $_e2e_out
$_e2e_err
(exit status $_e2e_rc, expected $_e2e_want_rc)"
	fi
}

wait_until() {
	local seconds=$1 out rc end
	shift
	end=$((SECONDS + seconds))
	while :; do
		out=$("$@" 2>&1)
		rc=$?
		if [ "$rc" -eq 0 ] || [ "$SECONDS" -ge "$end" ]; then
			[ -n "$out" ] && printf '%s\n' "$out"
			return "$rc"
		fi
		sleep 0.2
	done
}

output_is() {
	local expected=$1 out
	shift
	out=$("$@")
	printf '%s\n' "$out"
	[ "$out" = "$expected" ]
}

grep_lines() {
	grep "$@"
	[ $? -le 1 ]
}

output_matches() {
	local regex=$1 out
	shift
	out=$("$@")
	printf '%s\n' "$out"
	printf '%s\n' "$out" | grep -Eq -- "$regex"
}

# ---------------------------------------------------------------------------------------------
# The lab

on() {
	local ns
	ns=$(lab_ns "$1") || return 1
	shift
	ip netns exec "$ns" "$@"
}

ldocker() {
	DOCKER_HOST=$LAB_DOCKER_HOST "$LAB_DOCKER_CLI" "$@"
}

gwdocker() {
	DOCKER_HOST=$LAB_GW_DOCKER_HOST "$LAB_DOCKER_CLI" "$@"
}

# Starts a detached container NAME (host name NAME too) and waits until it listens on PORT/PROTO.
_lab_start_service() {
	local name=$1 port=$2 proto=$3
	shift 3
	local -a opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	ldocker run -d --name "$name" --hostname "$name" "${opts[@]}" "$LAB_IMAGE" "$@" >/dev/null ||
		return 1
	wait_until 10 _lab_listens "$name" "$port" "$proto" >/dev/null || {
		echo "lab: container $name does not listen on $proto/$port" >&2
		ldocker logs "$name" >&2
		return 1
	}
}

_lab_listens() {
	local flag=-ltn
	[ "$3" = udp ] && flag=-lun
	ldocker exec "$1" netstat "$flag" 2>/dev/null | awk -v p=":$2" '$4 ~ p"$" {found=1} END {exit !found}'
}

lab_web_start() {
	local name=$1
	shift
	_lab_start_service "$name" 80 tcp "$@" -- httpd -f -vv -p 80 -h /www
}

lab_udp_start() {
	local name=$1
	shift
	_lab_start_service "$name" "$LAB_UDP_PORT" udp "$@" -- udp_echo serve -p "$LAB_UDP_PORT" -n "$name"
}

# Prints the body of an HTTP/1.0 response read on stdin.
_http_body() {
	tr -d '\r' | awk 'body {print} /^$/ {body = 1}'
}

_http_request() {
	printf 'GET %s HTTP/1.0\r\nHost: lab\r\n\r\n' "$1"
}

lab_http_get() {
	local -a src=()
	if [ "$1" = -s ]; then
		src=(-s "$2")
		shift 2
	fi
	local host=$1 addr=$2 port=${3:-80} path=${4:-/cgi-bin/ip} out
	out=$(_http_request "$path" | on "$host" nc -w 5 "${src[@]}" "$addr" "$port") || return 1
	[ -n "$out" ] || return 1
	printf '%s\n' "$out" | _http_body
}

lab_http_get_in() {
	local container=$1 addr=$2 port=${3:-80} path=${4:-/cgi-bin/ip} out
	out=$(_http_request "$path" | ldocker exec -i "$container" nc -w 5 "$addr" "$port") || return 1
	[ -n "$out" ] || return 1
	printf '%s\n' "$out" | _http_body
}

lab_udp_send() {
	local host=$1
	shift
	on "$host" "$HELPERS/udp_echo" send "$@"
}

lab_udp_send_in() {
	local container=$1
	shift
	ldocker exec "$container" udp_echo send "$@"
}

lab_spawn() {
	"$LAB" spawn "$@"
}

lab_kill() {
	"$LAB" kill "$1"
}

lab_listen() {
	local host=$1 port=$2 name="listen-$1-$2"
	lab_spawn "$name" "$host" \
		socat TCP6-LISTEN:"$port",fork,reuseaddr,ipv6only=0 EXEC:"$LAB _whoami" || return 1
	wait_until 5 _lab_host_listens "$host" "$port" >/dev/null
}

_lab_host_listens() {
	[ -n "$(on "$1" ss -Htln "sport = :$2")" ]
}

lab_tcp_get() {
	local host=$1
	shift
	local -a src=()
	if [ "$1" = -s ]; then
		src=(-s "$2")
		shift 2
	fi
	on "$host" nc -w 5 "${src[@]}" "$1" "$2" </dev/null
}

lab_tcp_get_in() {
	ldocker exec "$1" nc -w 5 "$2" "$3" </dev/null
}

lab_tcp_connect() {
	on "$1" nc -z -w 3 "$2" "$3"
}

lab_container_ip() {
	if [ $# -ge 2 ]; then
		ldocker inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"
	else
		ldocker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{"\n"}}{{end}}' "$1" |
			head -n 1
	fi
}

lab_container_ip6() {
	if [ $# -ge 2 ]; then
		ldocker inspect -f "{{(index .NetworkSettings.Networks \"$2\").GlobalIPv6Address}}" "$1"
	else
		ldocker inspect -f '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{"\n"}}{{end}}' "$1" |
			head -n 1
	fi
}

lab_container_pid() {
	ldocker inspect -f '{{.State.Pid}}' "$1"
}

lab_in_netns() {
	local pid
	pid=$(lab_container_pid "$1") || return 1
	shift
	nsenter -t "$pid" -n "$@"
}

lab_mail_peers() {
	[ -r "$LAB_MAIL_LOG" ] || return 1
	awk '$2 == "CONNECT" {print $1}' "$LAB_MAIL_LOG" | sort -u
}

lab_route_tunnel() {
	on_exit on inet ip route del "$LAB_WG_NET4"
	on_exit on inet ip -6 route del "$LAB_WG_NET6"
	on inet ip route replace "$LAB_WG_NET4" via "$LAB_GW_PUB4" &&
		on inet ip -6 route replace "$LAB_WG_NET6" via "$LAB_GW_PUB6"
}

lab_nft_counter() {
	on "$1" nft list counter "$2" "$3" "$4" | awk '/packets/ {print $2}'
}
