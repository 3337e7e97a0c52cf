#!/bin/bash
# wgfwd-gateway as a container on the VPS: the Dockerfile's `gateway` target built in the lab
# (tests/lab/image.sh), loaded into a Docker engine of the gateway's own (a second dockerd in
# the gateway's namespace, as on a VPS that runs Docker; no bridge, no iptables of its own)
# and started with README's `docker run` line as written — only the key's path on the host is
# the lab's. The agent runs on the server as a program. Checked: the health check, the
# privileges the kernel sees (CAP_NET_ADMIN only), the client's real address through the
# forwards, both sides' versions in status and logs, `wgfwd status` with no option inside
# the container, the state volume across a new container, and a cleanup from the image.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

IMAGE=${WGFWD_GATEWAY_IMAGE:-wgfwd-gateway:test}
GW_DOCKER_SOCK=$LAB_RUN/docker-gw.sock
GW_DOCKER_RUN=$LAB_RUN/docker-gw
GW_DOCKER_DATA=$LAB_DATA/docker-gw
GW_DOCKER_PID=$LAB_RUN/pids/docker-gw.pid
NAME=wgfwd-gateway # README's container name
VERSION=$(make -s -C "$ROOT" --no-print-directory print-version)
# The agent runs from build/: its version is the one it was built with.
AGENT_VERSION=$("$WGFWD_BIN/wgfwd-agent" --version | awk '{print $2}')

gwdocker() {
	DOCKER_HOST=unix://$GW_DOCKER_SOCK "$LAB_DOCKER_CLI" "$@"
}

gw_dockerd_start() {
	local containerd_pid
	read -r containerd_pid <"$LAB_RUN/pids/containerd.pid" || return 1
	mkdir -p "$GW_DOCKER_RUN" "$GW_DOCKER_DATA"
	cat >"$GW_DOCKER_RUN/daemon.json" <<-JSON
		{
			"data-root": "$GW_DOCKER_DATA",
			"exec-root": "$GW_DOCKER_RUN/exec",
			"pidfile": "$GW_DOCKER_RUN/dockerd.pid",
			"hosts": ["unix://$GW_DOCKER_SOCK"],
			"containerd": "$LAB_RUN/containerd/containerd.sock",
			"containerd-namespace": "wfgw",
			"containerd-plugins-namespace": "wfgw-plugins",
			"cgroup-parent": "/wf-lab",
			"bridge": "none",
			"iptables": false,
			"ip-forward": false
		}
	JSON
	setsid nsenter --net="/run/netns/$LAB_NS_GW" --mount="/proc/$containerd_pid/ns/mnt" \
		dockerd --config-file "$GW_DOCKER_RUN/daemon.json" </dev/null \
		>"$LAB_RUN/logs/docker-gw.log" 2>&1 8>&- 9>&- &
	echo $! >"$GW_DOCKER_PID"
	wait_until 30 gwdocker version >/dev/null
}

gw_dockerd_stop() {
	local pid
	gwdocker rm -f "$NAME" wfgw-cleanup >/dev/null 2>&1
	gwdocker volume rm wgfwd-state >/dev/null 2>&1
	read -r pid <"$GW_DOCKER_PID" 2>/dev/null && kill -TERM -- "-$pid" 2>/dev/null
	for _ in $(seq 50); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	rm -f "$GW_DOCKER_PID"
}

on_exit on gw nft delete table inet wgfwd_gateway
on_exit gw_dockerd_stop
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop

"$ROOT/tests/lab/image.sh" build
built=$?
check_eq "the gateway image builds from the Dockerfile's gateway target" 0 echo "$built"
[ "$built" = 0 ] || exit 1

check_eq "the image carries no compiler" "" \
	ldocker run --rm --entrypoint sh "$IMAGE" -c 'command -v gcc cc make; true'
check_match "the image's health check asks the gateway's status socket" \
	'wgfwd status --gateway .*--check' \
	ldocker image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE"
check_eq "the image says which version it is, and speaks the build's control channel versions" \
	"wgfwd-gateway $VERSION $("$WGFWD_BIN/wgfwd-gateway" --version | cut -d' ' -f3-)" \
	ldocker run --rm "$IMAGE" --version
check_match "and the control channel's versions" \
	"^wgfwd-gateway $VERSION \(control channel: message version [0-9]+, handshake version [0-9]+\)$" \
	ldocker run --rm "$IMAGE" --version
check_match "its state directory is a volume" '/var/lib/wgfwd' \
	ldocker image inspect -f '{{json .Config.Volumes}}' "$IMAGE"

check "a Docker engine runs in the gateway's namespace" gw_dockerd_start
check "the image moves to it (docker save | docker load)" \
	sh -c "DOCKER_HOST=$LAB_DOCKER_HOST $LAB_DOCKER_CLI save $IMAGE | DOCKER_HOST=unix://$GW_DOCKER_SOCK $LAB_DOCKER_CLI load -q"
gwdocker tag "$IMAGE" wgfwd-gateway

# What README tells the administrator to set on the host, since the container cannot.
on gw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# README's docker run line, word for word; only the key's path on the host is the lab's, and
# the health check is probed every second instead of every 30 s.
readme_run=$(awk '$0 == "<!-- example: gateway-docker -->" {on = 1; next}
	on && /^$/ {exit} on {sub(/^    /, ""); print}' "$ROOT/README.md" |
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep '^docker run')
check_match "README shows how to run the gateway's image" '^docker run .* wgfwd-gateway$' echo "$readme_run"
read -r -a words <<<"$readme_run"
run_args=()
for w in "${words[@]:2}"; do
	case "$w" in
	/etc/wgfwd/server.key:*) w="$WGFWD_KEY:${w#*:}" ;;
	esac
	run_args+=("$w")
done
wgfwd_key
rm -rf "$GATEWAY_STATE"
gateway_container_start() {
	gwdocker run --health-interval 1s --health-retries 2 "${run_args[@]}" >/dev/null
}
check "the gateway container starts as README runs it" gateway_container_start

health() {
	gwdocker inspect -f '{{.State.Health.Status}}' "$NAME"
}
logs() {
	gwdocker logs "$NAME" 2>&1
}
check_eq "the container becomes healthy" healthy wait_until 30 output_is healthy health

gateway_caps() {
	local pid
	pid=$(gwdocker inspect -f '{{.State.Pid}}' "$NAME") || return 1
	awk '/^Cap(Prm|Eff|Bnd|Amb):/ {printf "%s %s ", $1, $2} /^NoNewPrivs:/ {printf "%s %s", $1, $2}' \
		"/proc/$pid/status"
}
check_eq "the gateway holds CAP_NET_ADMIN and no other capability, and cannot gain any" \
	"CapPrm: 0000000000001000 CapEff: 0000000000001000 CapBnd: 0000000000001000 CapAmb: 0000000000000000 NoNewPrivs: 1" \
	gateway_caps
gateway_ids() {
	local pid
	pid=$(gwdocker inspect -f '{{.State.Pid}}' "$NAME") || return 1
	awk '/^(Uid|Gid):/ {printf "%s %s ", $1, $2} /^Groups:/ {printf "%s%s", $1, $2}' \
		"/proc/$pid/status"
}
check_eq "it runs as the image's user wgfwd, not root" "Uid: 61821 Gid: 61821 Groups:61821" \
	gateway_ids
check "it programs the VPS's nftables from inside the container" on gw nft list table inet wgfwd_gateway

agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
ldocker network create --ipv6 --subnet 172.31.1.0/24 --subnet fd00:311::/64 gwimg >/dev/null
on_exit ldocker network rm gwimg
lab_web_start web --network gwimg --label wgfwd.ports=80,8080:80
on_exit ldocker rm -f web

check_eq "the agent connects to the gateway in the container" true \
	wait_until 10 output_is true agent_jq .gateway.connected
check_eq "the client's IPv4 address reaches the labelled container through it" \
	"$LAB_CLIENT4" wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "the client's IPv6 address too" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
check_eq "public 8080 reaches the container's port 80" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 8080

# Versions, both ways.
check_match "\`wgfwd status' in the container, with no option, asks the gateway and names the agent's version" \
	"peer $LAB_SRV_WG4.*: connected, generation [0-9]+, agent $AGENT_VERSION" \
	gwdocker exec "$NAME" wgfwd status
check_eq "the gateway's JSON status has each peer's agent version" "$AGENT_VERSION" \
	sh -c "DOCKER_HOST=unix://$GW_DOCKER_SOCK $LAB_DOCKER_CLI exec $NAME wgfwd status --json | jq -r '.peers[0].agent_version'"
check_match "its log names the agent's version" "peer $LAB_SRV_WG4.*: wgfwd-agent $AGENT_VERSION" logs
check_eq "the agent's status has the gateway's version" "$VERSION" agent_jq .gateway.version
check_match "the agent's log names the gateway's version" \
	"gateway $LAB_GW_WG4: wgfwd-gateway $VERSION" agent_log

# The health check means something.
gwdocker exec "$NAME" mv /run/wgfwd/gateway.sock /run/wgfwd/gateway.sock.away
check_eq "a gateway that does not answer on its status socket turns unhealthy" unhealthy \
	wait_until 15 output_is unhealthy health
gwdocker exec "$NAME" mv /run/wgfwd/gateway.sock.away /run/wgfwd/gateway.sock
check_eq "and healthy again once it answers" healthy wait_until 15 output_is healthy health

# A new container (an upgrade) on the same volume: the state comes back before the agent.
agent_stop
gwdocker stop -t 10 "$NAME" >/dev/null
check_eq "docker stop ends the gateway cleanly" 0 gwdocker inspect -f '{{.State.ExitCode}}' "$NAME"
check_eq "with the gateway's container stopped, forwards keep working" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 80
gwdocker rm "$NAME" >/dev/null
on gw nft delete table inet wgfwd_gateway
check_fails "with its table removed the forward is closed" lab_tcp_connect client "$LAB_GW_PUB4" 80
check "a new container on the same state volume starts" gateway_container_start
check_eq "it is healthy" healthy wait_until 30 output_is healthy health
check_eq "and restores the forward from the volume with no agent connected" "$LAB_CLIENT4" \
	wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80
gwdocker rm -f "$NAME" >/dev/null

check "wgfwd-gateway --cleanup from the image removes its table" \
	gwdocker run --rm --name wfgw-cleanup --network host --cap-drop ALL --cap-add NET_ADMIN \
	wgfwd-gateway --cleanup
check_fails "its nftables table is gone" on gw nft list table inet wgfwd_gateway
check_fails "the forward is closed" lab_tcp_connect client "$LAB_GW_PUB4" 80
