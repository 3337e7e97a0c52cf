#!/bin/bash
# Per-packet cost of the gateway's DNAT: new connections per second, handshake latency and bulk
# throughput through a gateway namespace holding
#   plain     no NAT at all, the client talks to the server directly (the floor), all ports
#   map1      wgfwd's gateway ruleset with 1 forward in its map
#   map10k    wgfwd's gateway ruleset with 10,000 forwards in its map, the client cycling
#             through all 10,000 ports
#   map10k1   the same ruleset, every connection to the one port map1 uses: the same traffic
#             as map1, so only the size of the map differs
#   chain10k  10,000 `iptables -t nat -A PREROUTING ... -j DNAT` rules (what PostUp lines make);
#             the client cycles through all 10,000 ports, so on average half the chain is walked
#   chainlast the same chain, every connection to the port of its last rule (worst case)
#
#   client (wfb-cli) eth0 10.201.1.2 --- eth0 10.201.1.1 gateway (wfb-gw) wg0 10.201.2.1
#                                                          --- eth0 10.201.2.2 server (wfb-srv)
# wg0 is a veth named like the tunnel, so the ruleset is wgfwd's own, unchanged. Forwards keep
# their port, as the agent asks the gateway to; the server's sink listens on all 10,000 ports.
# (DNAT of many public ports to one server port would make NAT clash on reply tuples and
# remap source ports, which is not what wgfwd does.)
#
#   bench/packet.sh [REPS] [SECONDS]
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BIN=${BENCH_BIN:-$ROOT/build/bench}
REPS=${1:-3}
SECS=${2:-2}
N=10000
FIRST=10000
LAST=$((FIRST + N - 1))
PUB=10.201.1.1
SRV=10.201.2.2
NS="wfb-cli wfb-gw wfb-srv"

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

teardown() {
	local ns pid
	for ns in $NS; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

setup() {
	teardown
	for ns in $NS; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	ip link add eth0 netns wfb-cli type veth peer name eth0 netns wfb-gw
	ip link add wg0 netns wfb-gw type veth peer name eth0 netns wfb-srv
	ip -n wfb-cli address add 10.201.1.2/24 dev eth0
	ip -n wfb-gw address add 10.201.1.1/24 dev eth0
	ip -n wfb-gw address add 10.201.2.1/24 dev wg0
	ip -n wfb-srv address add 10.201.2.2/24 dev eth0
	ip -n wfb-cli link set eth0 up
	ip -n wfb-gw link set eth0 up
	ip -n wfb-gw link set wg0 up
	ip -n wfb-srv link set eth0 up
	ip -n wfb-cli route add default via 10.201.1.1
	ip -n wfb-srv route add default via 10.201.2.1
	in_ns wfb-gw sysctl -qw net.ipv4.ip_forward=1
	# Reset connections leave conntrack entries in CLOSE for 10 s; at tens of thousands of
	# connections a second that would fill the table and turn the test into one of eviction.
	in_ns wfb-gw sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1 2>/dev/null
	setsid ip netns exec wfb-srv "$BIN/wfb_net" sink "$FIRST" "$LAST" </dev/null >/dev/null 2>&1 &
	for _ in $(seq 50); do
		in_ns wfb-srv ss -Htln "sport = :$LAST" | grep -q . && return 0
		sleep 0.1
	done
	echo "packet: the sink does not listen" >&2
	return 1
}

clear_rules() {
	in_ns wfb-gw nft flush ruleset
}

chain_file() {
	local p
	echo '*nat'
	for ((p = FIRST; p <= LAST; p++)); do
		echo "-A PREROUTING -d $PUB/32 -p tcp -m tcp --dport $p -j DNAT --to-destination $SRV:$p"
	done
	echo 'COMMIT'
}

# configure NAME: puts the gateway in that state; prints the address and port range to use.
configure() {
	clear_rules
	case "$1" in
	plain) echo "$SRV $FIRST $LAST" ;;
	map1)
		in_ns wfb-gw "$BIN/wfb_apply" gwset 1 "$PUB" "$SRV" 0 || return 1
		echo "$PUB $FIRST $FIRST"
		;;
	map10k)
		in_ns wfb-gw "$BIN/wfb_apply" gwset "$N" "$PUB" "$SRV" 0 || return 1
		echo "$PUB $FIRST $LAST"
		;;
	map10k1)
		in_ns wfb-gw "$BIN/wfb_apply" gwset "$N" "$PUB" "$SRV" 0 || return 1
		echo "$PUB $FIRST $FIRST"
		;;
	chain10k)
		in_ns wfb-gw iptables-restore <"$CHAIN_FILE" || return 1
		echo "$PUB $FIRST $LAST"
		;;
	chainlast)
		in_ns wfb-gw iptables-restore <"$CHAIN_FILE" || return 1
		echo "$PUB $LAST $LAST"
		;;
	esac
}

trap 'teardown; rm -f "${CHAIN_FILE:-}"' EXIT
CHAIN_FILE=$(mktemp)
chain_file >"$CHAIN_FILE"
setup || exit 1

CONFIGS=${PACKET_CONFIGS:-"plain map1 map10k1 map10k chain10k chainlast"}
echo "# per-packet: $REPS rounds, configurations interleaved; ${SECS}s per rate and bulk run"
for ((r = 1; r <= REPS; r++)); do
	for c in $CONFIGS; do
		read -r addr lo hi < <(configure "$c") || {
			echo "packet: cannot configure $c" >&2
			exit 1
		}
		# warm-up, not counted: the first connections after a ruleset change run slower
		in_ns wfb-cli "$BIN/wfb_net" connrate "$addr" "$lo" "$hi" 1 16 >/dev/null
		echo "packet $c round $r $(in_ns wfb-cli "$BIN/wfb_net" connrate "$addr" "$lo" "$hi" "$SECS" 16)"
		echo "packet $c round $r $(in_ns wfb-cli "$BIN/wfb_net" latency "$addr" "$lo" "$hi" 2000)"
		echo "packet $c round $r $(in_ns wfb-cli "$BIN/wfb_net" bulk "$addr" "$lo" "$SECS")"
	done
done

# CPU spent in nftables per new connection, from perf samples of all CPUs (10 kHz) during a run
# of the traffic tool: the `nft_*' functions' samples over the connections made. Less sensitive
# to the load of other users of this machine than the rates above, though their own nftables work
# counts too. A 5% difference needs a few thousand samples a configuration (a count's own spread
# is its square root), so run.sh pools CPU_ROUNDS rounds of CPU_SECONDS each.
CPU_ROUNDS=${CPU_ROUNDS:-4}
CPU_SECONDS=${CPU_SECONDS:-3}
if command -v perf >/dev/null; then
	echo "# per-packet: nftables CPU per connection (perf record -a -F 10000 during a ${CPU_SECONDS} s connrate)"
	for ((r = 1; r <= CPU_ROUNDS; r++)); do
		for c in map1 map10k1 chain10k; do
			read -r addr lo hi < <(configure "$c") || exit 1
			in_ns wfb-cli "$BIN/wfb_net" connrate "$addr" "$lo" "$hi" 1 16 >/dev/null
			perf record -q -a -F 10000 -o "$CHAIN_FILE.perf" -- ip netns exec wfb-cli \
				"$BIN/wfb_net" connrate "$addr" "$lo" "$hi" "$CPU_SECONDS" 16 >"$CHAIN_FILE.out" 2>/dev/null
			conns=$(awk '{print $2}' "$CHAIN_FILE.out")
			perf report -i "$CHAIN_FILE.perf" --sort sym --stdio -F sample,sym 2>/dev/null |
				awk -v c="$c" -v r="$r" -v n="$conns" '
					/^ +[0-9]/ { all += $1 } /nft_/ { nft += $1 }
					END { printf "packet-cpu %s round %d: %d connections, nft_* %.3f us per connection (%d of %d samples)\n",
						c, r, n, nft * 100 / n, nft, all }'
			rm -f "$CHAIN_FILE.perf" "$CHAIN_FILE.out"
		done
	done
fi
