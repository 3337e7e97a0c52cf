#!/bin/bash
# A gateway serving PEERS agents of PER forwards each, in a private network namespace (run by
# bench/run.sh as `unshare -n bench/gateway_peers.sh PEERS PER REPS`):
#   driver   `wfb_apply gwbig`: the restart's work (load every peer's file, render, apply into
#            an empty kernel) and one peer's change (render + apply of the whole state)
#   daemon   the real wgfwd-gateway started on those files (a key per peer, default logging):
#            the start command -> its "ruleset applied" log line, the table removed between
# wg0 is a veth named like the tunnel; no agent connects, so nothing changes what was restored.
set -u
cd "$(dirname "$0")/.." || exit 1
PEERS=${1:-100}
PER=${2:-1000}
REPS=${3:-3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

if [ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
	echo "gateway_peers: run me in a private network namespace (unshare -n)" >&2
	exit 1
fi
ip link set lo up
ip link add wg0 type veth peer name wg0p
ip link add eth0 type veth peer name eth0p
ip address add 192.0.2.1/24 dev eth0
ip address add 192.168.160.1/24 dev wg0
for l in eth0 eth0p wg0 wg0p; do ip link set "$l" up; done
mkdir -p "$DIR/state"
build/bench/wfb_apply gwbig "$PEERS" "$PER" "$REPS" "$DIR/state" || exit 1

peers=()
for ((i = 0; i < PEERS; i++)); do
	# the driver's peers: 192.168.160.2 and up
	addr=192.168.$((160 + (i + 2) / 256)).$(((i + 2) % 256))
	(umask 077 && build/wgfwd genkey >"$DIR/key$i" 2>/dev/null)
	peers+=(--peer "$addr=$DIR/key$i")
done
vals=()
for ((r = 0; r < REPS; r++)); do
	nft flush ruleset # everything in this namespace is ours
	t0=$(date +%s%3N)
	build/wgfwd-gateway --foreground --interface wg0 --public-interface eth0 "${peers[@]}" \
		--state-dir "$DIR/state" --status-socket "$DIR/gw.sock" --log-level info 2>"$DIR/log" &
	pid=$!
	for _ in $(seq 600); do
		grep -q 'ruleset applied' "$DIR/log" && break
		sleep 0.05
	done
	kill "$pid"
	wait "$pid" 2>/dev/null
	stamp=$(grep -m 1 'ruleset applied' "$DIR/log" | awk '{ print $1 }')
	[ -n "$stamp" ] || {
		echo "gateway_peers: the gateway did not apply its state:" >&2
		tail -n 5 "$DIR/log" >&2
		exit 1
	}
	vals+=($(($(date -u -d "$stamp" +%s%3N) - t0)))
done
printf '%s\n' "${vals[@]}" | sort -n | awk -v what="gateway daemon restart, ${PEERS}x$PER" -v n=$((PEERS * PER)) '
	{ v[NR] = $1 }
	END { printf "%-34s n=%-6d median %9.3f ms  min %9.3f  max %9.3f  (%d runs; start -> \"ruleset applied\")\n",
		what, n, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
