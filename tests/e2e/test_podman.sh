#!/bin/bash
# The agent on a rootful Podman instead of Docker: Debian 12's podman 4.3 serving its
# Docker-compatible API (`podman system service`) on a socket of its own inside the server's
# namespace, with netavark networks (Debian 12's podman picks netavark when it is installed;
# its firewall chains NETAVARK_* sit in iptables beside Docker's). The agent follows Podman's
# events, reads its labels and network addresses, and the client's real address gets through.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

PM_DIR=$LAB_RUN/podman
PM_SOCK=$PM_DIR/podman.sock
# Podman's default nofile limit is above this machine's hard limit: containers ask for less.
PM_LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

pm() {
	nsenter --net="/run/netns/$LAB_NS_SRV" podman --root "$PM_DIR/root" \
		--runroot "$PM_DIR/run" --tmpdir "$PM_DIR/tmp" --network-config-dir "$PM_DIR/net" \
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

pm_cleanup() {
	pm rm -a -f -t 0
	pm network rm -f pnet
	lab_kill podman
	rm -rf "$PM_DIR"
}
on_exit pm_cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit on gw nft delete table inet e2e_static
gateway_static

mkdir -p "$PM_DIR/net" "$PM_DIR/tmp"
ldocker save "$LAB_IMAGE" | pm load -q >/dev/null
pm network create --disable-dns --subnet 172.28.0.0/24 --ipv6 --subnet fd00:28::/64 pnet \
	>/dev/null
lab_spawn podman srv podman --root "$PM_DIR/root" --runroot "$PM_DIR/run" \
	--tmpdir "$PM_DIR/tmp" --network-config-dir "$PM_DIR/net" --storage-driver vfs \
	--cgroup-manager cgroupfs --events-backend file system service --time=0 "unix://$PM_SOCK"
check "podman's API answers on its own socket" \
	wait_until 10 curl -sf --unix-socket "$PM_SOCK" http://podman/version
check_eq "its network backend is netavark" netavark pm info --format '{{.Host.NetworkBackend}}'
pm run -d "${PM_LIMITS[@]}" --name pweb --network pnet --label wgfwd.ports=80 \
	--label wgfwd.egress=smtp --label com.docker.compose.project=site \
	--label com.docker.compose.service=web "$LAB_IMAGE" httpd -f -p 80 -h /www >/dev/null

agent_start --docker-host "unix://$PM_SOCK" --gateway-public "$LAB_GW_PUB4" \
	--gateway-public "$LAB_GW_PUB6"
check_match "the agent speaks to Podman" 'docker: engine 4\.[0-9.]+ at .*podman\.sock' agent_log
check_eq "a Podman container sees the client's IPv4 address" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "and its IPv6 address" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
check_match "the forward targets the container's netavark address" \
	'tcp \. 80 : 172\.28\.0\.[0-9]+ \. 80' on srv nft list map inet wgfwd fwd4
check_match "netavark's own chains are in place beside the agent's" 'NETAVARK_FORWARD' \
	on srv iptables -S FORWARD

smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | pm exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
check_eq "its SMTP leaves from the gateway's address" "$LAB_GW_PUB4" \
	wait_until 10 output_is "$LAB_GW_PUB4" smtp_from pweb

# Podman's events: a container started later, stopped and started again.
pm run -d "${PM_LIMITS[@]}" --name plate --network pnet --label wgfwd.ports=8080:80 \
	"$LAB_IMAGE" httpd -f -p 80 -h /www >/dev/null
check_eq "a container started after the agent is forwarded" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 8080
pm stop -t 0 pweb >/dev/null
no_forward() {
	! on srv nft get element inet wgfwd fwd4 "{ tcp . $1 }" >/dev/null 2>&1
}
# Podman's die event comes from its cleanup process, at times seconds after `stop` returns.
check "a stopped Podman container's forward goes" wait_until 10 no_forward 80
pm start pweb >/dev/null
check_eq "and comes back when it starts again" "$LAB_CLIENT4" \
	wait_until 5 lab_http_get client "$LAB_GW_PUB4" 80

check_match "wgfwd doctor names Podman" '^\[ok  \] engine: Podman 4\.[0-9.]+' \
	on srv "$WGFWD_BIN/wgfwd" doctor --interface "$LAB_SRV_WG_IF" \
	--docker-host "unix://$PM_SOCK" --socket "$AGENT_SOCK"
