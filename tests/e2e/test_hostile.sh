#!/bin/bash
# wgfwd against hostile input. The gateway's control port gets garbage, wrong keys, replayed,
# reordered and truncated frames, oversized frames, slow and silent clients, a flood of
# connections, and a second peer that authenticates and then tries to take or change what
# belongs to the first. Every attempt is refused, the gateway's state and nftables table stay
# as they were, the daemon stays up with bounded memory and descriptors, and the TCP stream and
# UDP flow through the gateway never notice. From the internet only the forwarded ports answer.
# The gateway keeps only CAP_NET_ADMIN, key files readable by others are refused, and no key
# ever reaches a log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"
. "$(dirname "$0")/robust.sh"

ATTACK=$HELPERS/ctl_attack
CTL_PORT=51821

second_peer_setup
# As an operator would run it: once started, an unprivileged user with CAP_NET_ADMIN only.
robust_setup --peer "$PEER2_SPEC" --user nobody
check "a TCP stream and a UDP flow run through the gateway" flows_start

gw_rules() {
	nft_table gw inet wgfwd_gateway | grep -v 'counter packets'
}
# What a command says on stdout and stderr together.
both() {
	"$@" 2>&1
}
gw_state() {
	gateway_status --json | jq -c '[.peers[] | {name, forwards, egress}]'
}
rules_before=$(gw_rules)
state_before=$(gw_state)
gw=$(gateway_pid)
rss_before=$(rss "$gw")
fds_before=$(fds "$gw")

# From the server's tunnel address: the only source that gets past the gateway's address check.
attack() {
	on srv "$ATTACK" -s "$LAB_SRV_WG4" -w 8 "$LAB_GW_WG4" "$CTL_PORT" "$@"
}
# As the second peer, which has a key of its own and no agent running.
attack2() {
	on srv "$ATTACK" -s "$PEER2_WG4" -k "$PEER2_KEY" -w 8 "$LAB_GW_WG4" "$CTL_PORT" "$@"
}

# ---- before the handshake, without the key ----
check_match "4 kB of random bytes are refused" '^closed after' attack garbage
check_match "a header announcing 4 GiB is refused before its body" '^closed after' attack oversized
check_match "an empty frame is refused" '^closed after' attack empty
check_match "a client hello of another version is refused" '^closed after' attack bad-hello
check_match "a truncated client hello is dropped at the handshake deadline" '^closed after' \
	attack truncated-hello
check_match "a silent connection is dropped at the handshake deadline" '^closed after' attack silent
check_match "a slow-loris hello (a byte every 300 ms) is dropped at the handshake deadline" \
	'^closed after' attack slowloris
check_match "a wrong key is refused at the proof" '^closed after' attack wrong-key
check_match "a client hello sent again in place of the proof is refused" '^closed after' \
	attack replay-hello
check_match "a key file of another peer is refused at the proof" '^closed after' \
	on srv "$ATTACK" -s "$LAB_SRV_WG4" -k "$PEER2_KEY" -w 8 "$LAB_GW_WG4" "$CTL_PORT" ok
check_match "the second peer's address with the first peer's key is refused" '^closed after' \
	on srv "$ATTACK" -s "$PEER2_WG4" -k "$WGFWD_KEY" -w 8 "$LAB_GW_WG4" "$CTL_PORT" ok

# ---- after a valid handshake (the second peer's, so the agent's own link is not replaced) ----
check_eq "the second peer authenticates with its own key" established attack2 ok
check_match "a replayed frame ends the session" '^closed after .*does not authenticate' attack2 replay
check_match "reordered frames end the session" '^closed after .*does not authenticate' attack2 reorder
check_match "a truncated frame ends the session" '^closed after .*does not authenticate' \
	attack2 truncated
check_match "a frame of random bytes ends the session" '^closed after .*does not authenticate' \
	attack2 garbage-frame
check_match "sealed bytes that are not a message end the session" '^closed after .*bad message' \
	attack2 bad-json
check_match "a message only the gateway may send ends the session" '^closed after .*only the' \
	attack2 wrong-direction
check_match "a sealed frame over 1 MiB is refused before its body" '^closed after .*announced' \
	attack2 oversized-frame
check_match "the second peer cannot claim the first peer's identity" \
	'^closed after .*identity does not match' \
	on srv "$ATTACK" -s "$PEER2_WG4" -k "$PEER2_KEY" -i "$LAB_SRV_WG4" -w 8 "$LAB_GW_WG4" "$CTL_PORT" ok

# ---- what an authenticated peer may ask for ----
check_match "the second peer cannot take a port the first one holds" \
	"tcp/$STREAM_PORT=refused" attack2 state "tcp/$STREAM_PORT"
check_match "nor ssh" 'tcp/22=refused \(.*reserved' attack2 state tcp/22
check_match "nor the WireGuard port" 'udp/51820=refused \(.*reserved' attack2 state udp/51820
check_match "nor the control port" 'tcp/51821=refused \(.*reserved' attack2 state tcp/51821
check_eq "refusals change nothing on the gateway" "$rules_before" gw_rules
check_match "a free port is granted, an IPv6 one without an IPv6 tunnel address is not" \
	'tcp/7777:80=accepted tcp/7777/6=refused' attack2 state tcp/7777:80 tcp/7777/6
check_eq "and points at the second peer's own tunnel address, never elsewhere" \
	"$PEER2_WG4 . 80" sh -c "$LAB exec gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 7777 }' |
		grep -o '$PEER2_WG4 \\. [0-9]*'"
peer1_state() {
	gw_state | jq -c '.[0]'
}
check_eq "the first peer's forwards are untouched" "$(echo "$state_before" | jq -c '.[0]')" peer1_state
check_match "an empty state gives the port back" 'ack applied' attack2 state
check_eq "and the gateway's table is as it was" "$rules_before" gw_rules

# ---- many connections at once ----
check_match "200 parallel connections: all but a handful closed at once, none left after the deadline" \
	'^flood: 200 opened, (19[6-9]|200) closed at once, 0 open after the wait' attack -w 7 flood 200
check_eq "the agent's own connection stayed up through it all" true agent_jq .gateway.connected

# ---- from anywhere else ----
check_match "from the gateway's own tunnel address (not a peer): closed at once" '^closed after' \
	on gw "$ATTACK" -s "$LAB_GW_WG4" -w 3 "$LAB_GW_WG4" "$CTL_PORT" garbage
check_match --status 1 "from the internet, the control port on the public address does not answer" \
	'^no connection' on client "$ATTACK" -w 3 "$LAB_GW_PUB4" "$CTL_PORT" garbage
# A neighbour of the VPS that routes the tunnel's subnets to it: the tunnel addresses, where the
# control port listens, are then kept from the internet by the gateway's rules, not by routing.
lab_route_tunnel
lab_listen gw 7000
check_eq "a host on the internet that routes the tunnel reaches the gateway's tunnel address" \
	"$LAB_CLIENT4" lab_tcp_get client "$LAB_GW_WG4" 7000
check_eq "and its IPv6 tunnel address" "$LAB_CLIENT6" \
	lab_tcp_get client -s "$LAB_CLIENT6" "$LAB_GW_WG6" 7000
check_eq "and so does the mail host" "$LAB_MAIL4" lab_tcp_get mail "$LAB_GW_WG4" 7000
check_match --status 1 "from there, the control port on the tunnel address does not answer" \
	'^no connection' on client "$ATTACK" -w 3 "$LAB_GW_WG4" "$CTL_PORT" garbage
check_match --status 1 "nor on the IPv6 tunnel address" '^no connection' \
	on client "$ATTACK" -w 3 "$LAB_GW_WG6" "$CTL_PORT" garbage
check_match --status 1 "nor from the mail host" '^no connection' \
	on mail "$ATTACK" -w 3 "$LAB_GW_WG4" "$CTL_PORT" garbage

# ---- after all of it ----
gw_after=$(gateway_pid)
check_eq "the gateway is the same process, alive" "$gw" echo "$gw_after"
check_eq "its nftables table is unchanged" "$rules_before" gw_rules
check_eq "its state is unchanged" "$state_before" gw_state
fds_after=$(fds "$gw")
rss_after=$(rss "$gw")
echo "      gateway: fds $fds_before -> $fds_after, VmRSS $rss_before -> $rss_after kB"
check "its descriptors are back where they were" test "$fds_after" -le $((fds_before + 1))
check "its memory stayed bounded (under 2 MB of growth)" test "$rss_after" -le $((rss_before + 2048))
check "the TCP stream never noticed" stream_flowing
check_eq "the UDP flow lost nothing" 0 udp_lost
check "the gateway logged each refusal" \
	sh -c "grep -c 'failed\\|refused\\|closing' $LAB_RUN/bg/gateway.log | awk '\$1 >= 10 {ok=1} END {exit !ok}'"

# ---- from the internet, only the forwarded ports answer ----
lab_web_start web --label wgfwd.ports=80,8080:80,8443:80
wait_until 5 on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 8443 }' >/dev/null
# The stream's port is forwarded too, but its container serves one connection at a time and
# that one is busy with the stream: it answers with a reset, like any closed port.
scan_ports=(1-1024 7777 8000-8100 8443 "$STREAM_PORT" "$CTL_PORT" "$LAB_WG_PORT" 60000-60100)
check_eq "a scan of the gateway's public IPv4 address finds only the forwarded ports" \
	"$(printf '%s\n' 80 8080 8443)" \
	on client "$HELPERS/tcp_scan" -t 3000 "$LAB_GW_PUB4" "${scan_ports[@]}"
check_eq "and of its public IPv6 address" \
	"$(printf '%s\n' 80 8080 8443)" \
	on client "$HELPERS/tcp_scan" -t 3000 "$LAB_GW_PUB6" "${scan_ports[@]}"
# Each address first shown reachable from the client (the route above, a listener on the
# server's home line) or listening behind the ports scanned (the server's tunnel address
# forwards 80 to the web container), so that silence is the rules' doing.
lab_listen srv 7000
check_eq "the client reaches the server's home line over IPv4" "$LAB_CLIENT4" \
	lab_tcp_get client "$LAB_SRV_HOME4" 7000
check_eq "and over IPv6" "$LAB_CLIENT6" lab_tcp_get client -s "$LAB_CLIENT6" "$LAB_SRV_HOME6" 7000
check_eq "the server's tunnel address answers on a forwarded port from the gateway" \
	"$LAB_GW_WG4" lab_http_get gw "$LAB_SRV_WG4" 80
for addr in "$LAB_GW_WG4" "$LAB_SRV_WG4" "$LAB_SRV_HOME4" "$LAB_SRV_HOME6"; do
	check_eq "nothing answers on $addr from the internet" "" \
		on client "$HELPERS/tcp_scan" -t 2000 "$addr" "${scan_ports[@]}"
done
# A UDP port the server listens on, which the gateway does not forward.
UNFORWARDED_UDP=$((LAB_UDP_PORT + 1))
lab_spawn udp-unforwarded srv "$HELPERS/udp_echo" serve -p "$UNFORWARDED_UDP" -n srv
check_match "the server answers on udp/$UNFORWARDED_UDP through the tunnel" \
	"^$LAB_GW_WG4 [0-9]+ srv probe" wait_until 3 lab_udp_send gw -t 1 "$LAB_SRV_WG4" "$UNFORWARDED_UDP" probe
check_match --status 1 "from the internet, that UDP port, not forwarded, gets no answer" \
	'no answer from|recv: Connection refused' both lab_udp_send client -t 1 "$LAB_GW_PUB4" "$UNFORWARDED_UDP" probe
check "the stream still flows after the scans" stream_flowing

# ---- least privilege ----
check_eq "the gateway runs as the unprivileged user it was given" "65534 65534 65534 65534" \
	awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$gw/status"
check_eq "and in its group" "65534 65534 65534 65534" \
	awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$gw/status"
check_eq "its state directory and files were handed to that user" "nobody" \
	sh -c "stat -c %U '$GATEWAY_STATE' '$GATEWAY_STATE'/* | sort -u"
check_eq "the gateway keeps only CAP_NET_ADMIN" "0000000000001000" \
	awk '/^CapEff:/ {print $2}' "/proc/$gw/status"
check_eq "and cannot gain more" "0000000000001000" awk '/^CapBnd:/ {print $2}' "/proc/$gw/status"
check_eq "and has no_new_privs" 1 awk '/^NoNewPrivs:/ {print $2}' "/proc/$gw/status"

rules_before=$(gw_rules)
loose=$LAB_RUN/loose.key
cp "$WGFWD_KEY" "$loose"
chmod 0640 "$loose"
check_match --status 1 "the gateway refuses a key file others can read, and says why" \
	'mode 0640: group and others must have no access' \
	both on gw timeout 10 "$WGFWD_BIN/wgfwd-gateway" --foreground --interface "$LAB_GW_WG_IF" \
	--public-interface "$LAB_GW_PUB_IF" --peer "$LAB_SRV_WG4=$loose" \
	--state-dir "$LAB_RUN/loose-state" --status-socket none
check_match --status 1 "the agent refuses it too" 'mode 0640: group and others must have no access' \
	both on srv timeout 5 "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" \
	--docker-host "$LAB_DOCKER_HOST" --status-socket "$LAB_RUN/loose.sock" \
	--gateway "$LAB_GW_WG4" --key "$loose"
chmod 0604 "$loose"
check_match --status 1 "world-readable as well" 'mode 0604' \
	both on gw timeout 10 "$WGFWD_BIN/wgfwd-gateway" --foreground --interface "$LAB_GW_WG_IF" \
	--public-interface "$LAB_GW_PUB_IF" --peer "$LAB_SRV_WG4=$loose" \
	--state-dir "$LAB_RUN/loose-state" --status-socket none
check_eq "the gateway in service was not disturbed" "$rules_before" gw_rules

# Files under the log directories and the daemons' status that hold a key; fails when a key,
# a log or a status cannot be read, so that silence means the search was made.
keys_in_logs() {
	local log k key agent gateway
	for log in "$LAB_RUN/bg/agent.log" "$LAB_RUN/bg/gateway.log" "$LAB_RUN/logs/dockerd.log"; do
		[ -s "$log" ] || {
			echo "no log $log"
			return 1
		}
	done
	agent=$(agent_status --json) || return 1
	gateway=$(gateway_status --json) || return 1
	for k in "$WGFWD_KEY" "$PEER2_KEY"; do
		key=$(cat "$k") && [ -n "$key" ] || return 1
		grep_lines -rlF -- "$key" "$LAB_RUN/bg/" "$LAB_RUN/logs/" || return 1
		printf '%s\n' "$agent" | grep_lines -F -- "$key" || return 1
		printf '%s\n' "$gateway" | grep_lines -F -- "$key" || return 1
	done
}
check_eq "no key appears in any log or status" "" keys_in_logs
