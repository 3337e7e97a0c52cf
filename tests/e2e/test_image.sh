#!/bin/bash
# wgfwd-agent as a container: the repository's Dockerfile built in the lab (tests/lab/image.sh,
# on a Debian base made locally) and run the way the Dockerfile documents it — host network,
# CAP_NET_ADMIN and nothing else, the Docker socket and the key read-only, a read-only root,
# options from WGFWD_* variables — beside wgfwd-gateway. A labelled container answers the
# client through the gateway with the client's address; the health check, the privileges, the
# logs, a stop that keeps the forwards, and a cleanup run from the same image.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

IMAGE=${WGFWD_IMAGE:-wgfwd-agent:test}
AGENT=wfimg-agent
KEY_IN_CONTAINER=/etc/wgfwd/server.key
RP_FILTER=net.ipv4.conf.$LAB_SRV_WG_IF.rp_filter

on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit on srv sysctl -qw "$RP_FILTER=$(on srv sysctl -n "$RP_FILTER")"
on_exit ldocker rm -f "$AGENT"
on_exit gateway_stop

# The first build on a machine makes the Debian base and runs apt inside the build (minutes);
# later ones reuse both. Without them nothing below can run.
"$ROOT/tests/lab/image.sh" build
built=$?
check_eq "the image builds from the repository's Dockerfile" 0 echo "$built"
[ "$built" = 0 ] || exit 1

check_eq "the image carries no compiler" "" \
	ldocker run --rm --entrypoint sh "$IMAGE" -c 'command -v gcc cc make; true'
check_match "the image's health check asks the agent's status socket" 'wgfwd status .*--check' \
	ldocker image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE"
check_fails "without CAP_NET_ADMIN the agent cannot touch the kernel" \
	ldocker run --rm --network host --cap-drop ALL -e WGFWD_INTERFACE="$LAB_SRV_WG_IF" \
	"$IMAGE" --cleanup

rm -rf "$GATEWAY_STATE"
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit gateway_stop
gateway_start
ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80,8080:80

# A sysctl the agent would fix on a host: in a container /proc/sys is read-only.
on srv sysctl -qw "$RP_FILTER=1"

# README's `docker run` line, word for word, but for what the lab has in other places: the
# Docker socket and the key on the host, the server's tunnel interface (wg1 here: wg0 is the
# gateway's, and wireguard-go's sockets are shared), the image's tag and container name; the
# health check's own command is probed every second rather than every 30 s.
readme_run=$(awk '$0 == "<!-- example: agent-docker -->" {on = 1; next}
	on && /^$/ {exit} on {sub(/^    /, ""); print}' "$ROOT/README.md" |
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep '^docker run')
check_match "README shows how to run the agent's image" '^docker run .* wgfwd-agent$' echo "$readme_run"
read -r -a words <<<"$readme_run"
run_args=()
for w in "${words[@]:2}"; do
	case "$w" in
	/var/run/docker.sock:*) w="$LAB_DOCKER_SOCK:${w#*:}" ;;
	/etc/wgfwd/server.key:*) w="$WGFWD_KEY:${w#*:}" ;;
	WGFWD_INTERFACE=*) w="WGFWD_INTERFACE=$LAB_SRV_WG_IF" ;;
	wgfwd-agent) w=$AGENT ;;
	esac
	run_args+=("$w")
done
[ "${run_args[-1]}" = "$AGENT" ] && unset 'run_args[-1]'
agent_container_start() {
	ldocker run --health-interval 1s --health-retries 2 -e WGFWD_LOG_LEVEL=debug \
		"${run_args[@]}" "$IMAGE" >/dev/null
}
check "the agent container starts" agent_container_start

health() {
	ldocker inspect -f '{{.State.Health.Status}}' "$AGENT"
}
logs() {
	ldocker logs "$AGENT" 2>&1
}
container_jq() {
	ldocker exec "$AGENT" wgfwd status --json | jq -r "$1"
}
check_eq "the container becomes healthy" healthy wait_until 30 output_is healthy health
check_match "its logs are readable with docker logs" "started: interface $LAB_SRV_WG_IF" logs
check_match "a wrong sysctl is named in its logs, since the container cannot write it" \
	"rp_filter.*Read-only file system" logs
# What the Dockerfile tells the administrator to do on the host.
on srv sysctl -qw "$RP_FILTER=2"

check_eq "it connects to the gateway" true wait_until 10 output_is true container_jq .gateway.connected
check_eq "the client's IPv4 address reaches the labelled container through the gateway" \
	"$LAB_CLIENT4" wait_until 10 lab_http_get client "$LAB_GW_PUB4" 80
check_eq "the client's IPv6 address reaches it too" "$LAB_CLIENT6" \
	wait_until 5 lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
check_eq "public 8080 reaches the container's port 80" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 8080

# Least privilege, as the kernel sees the agent's process.
agent_caps() {
	local pid
	pid=$(ldocker inspect -f '{{.State.Pid}}' "$AGENT") || return 1
	awk '/^Cap(Prm|Eff|Bnd|Amb):/ {printf "%s %s ", $1, $2} /^NoNewPrivs:/ {printf "%s %s", $1, $2}' \
		"/proc/$pid/status"
}
check_eq "the agent holds CAP_NET_ADMIN and no other capability, and cannot gain any" \
	"CapPrm: 0000000000001000 CapEff: 0000000000001000 CapBnd: 0000000000001000 CapAmb: 0000000000000000 NoNewPrivs: 1" \
	agent_caps
check_eq "the Docker socket is mounted read-only" false \
	ldocker inspect -f '{{range .Mounts}}{{if eq .Destination "/var/run/docker.sock"}}{{.RW}}{{end}}{{end}}' "$AGENT"
check_fails "its root filesystem is read-only" ldocker exec "$AGENT" touch /probe

# The health check means something: an agent that no longer answers is unhealthy.
ldocker exec "$AGENT" mv /run/wgfwd/agent.sock /run/wgfwd/agent.sock.away
check_eq "an agent that does not answer on its status socket turns unhealthy" unhealthy \
	wait_until 15 output_is unhealthy health
ldocker exec "$AGENT" mv /run/wgfwd/agent.sock.away /run/wgfwd/agent.sock
check_eq "and healthy again once it answers" healthy wait_until 15 output_is healthy health

# docker stop: SIGTERM to the agent (PID 1 of the container), which leaves the forwards.
ldocker stop -t 10 "$AGENT" >/dev/null
check_eq "docker stop ends the agent cleanly" 0 ldocker inspect -f '{{.State.ExitCode}}' "$AGENT"
check_match "and it says the forwards stay" 'forwards stay in place' logs
check_eq "with the agent's container stopped, forwards keep working" "$LAB_CLIENT4" \
	lab_http_get client "$LAB_GW_PUB4" 80
ldocker rm "$AGENT" >/dev/null

check "wgfwd-agent --cleanup from the image removes what the agent owned" \
	ldocker run --rm --network host --cap-drop ALL --cap-add NET_ADMIN \
	-e WGFWD_INTERFACE="$LAB_SRV_WG_IF" "$IMAGE" --cleanup
check_fails "its nftables table is gone" on srv nft list table inet wgfwd
check_fails "its ip rules are gone" sh -c "$LAB exec srv ip rule show | grep -q 'lookup 51820'"
check_fails "the forward is closed" lab_tcp_connect client "$LAB_GW_PUB4" 80
