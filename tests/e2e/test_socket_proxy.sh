#!/bin/bash
# wgfwd-agent behind contrib/docker-socket-proxy/haproxy.cfg, the proxy README recommends in
# place of Docker's socket: the agent follows the real engine through it as it does directly,
# and the proxy refuses every call that could change the server (create, exec, logs, delete).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

PROXY_DIR=$LAB_RUN/docker-proxy
PROXY_SOCK=$PROXY_DIR/docker.sock
PROXY_CFG=$PROXY_DIR/haproxy.cfg

# The shipped file, with only its two socket paths moved into the lab.
mkdir -p "$PROXY_DIR"
sed -e "/^[^#]/s|/run/wgfwd-docker-proxy/docker.sock|$PROXY_SOCK|" \
	-e "/^[^#]/s|/var/run/docker.sock|$LAB_DOCKER_SOCK|" \
	"$ROOT/contrib/docker-socket-proxy/haproxy.cfg" >"$PROXY_CFG"
check_eq "the lab's copy differs from the shipped file in the socket paths alone" 2 \
	bash -c "diff '$ROOT/contrib/docker-socket-proxy/haproxy.cfg' '$PROXY_CFG' | grep -c '^>'"
check "haproxy accepts the shipped configuration" haproxy -c -q -f "$PROXY_CFG"
lab_spawn docker-proxy srv haproxy -db -f "$PROXY_CFG"
on_exit rm -rf "$PROXY_DIR"
check "the proxy's socket appears" wait_until 5 test -S "$PROXY_SOCK"

# One request through the proxy: prints the HTTP status.
through_proxy() { # METHOD PATH
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$PROXY_SOCK" -X "$1" "http://docker$2"
}

check_eq "GET /_ping passes" 200 through_proxy GET /_ping
check_eq "GET /v1.41/version passes" 200 through_proxy GET /v1.41/version
check_eq "GET /containers/json?all=1 passes" 200 through_proxy GET '/containers/json?all=1'
check_eq "GET /networks passes" 200 through_proxy GET /networks
check_eq "POST /containers/create is refused" 403 through_proxy POST /containers/create
check_eq "POST /v1.41/containers/create is refused" 403 through_proxy POST /v1.41/containers/create
check_eq "GET /images/json is refused" 403 through_proxy GET /images/json
check_eq "GET /volumes is refused" 403 through_proxy GET /volumes

on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
gateway_static
on_exit on gw nft delete table inet e2e_static
agent_start --docker-host "unix://$PROXY_SOCK"

lab_web_start web --label wgfwd.ports=80
id=$(ldocker inspect -f '{{.Id}}' web)
check_eq "GET /containers/ID/json passes" 200 through_proxy GET "/containers/$id/json"
check_eq "POST /containers/ID/exec is refused" 403 through_proxy POST "/containers/$id/exec"
check_eq "GET /containers/ID/logs is refused" 403 through_proxy GET "/containers/$id/logs?stdout=1"
check_eq "GET /containers/ID/archive is refused" 403 through_proxy GET "/containers/$id/archive?path=/"
check_eq "POST /containers/ID/stop is refused" 403 through_proxy POST "/containers/$id/stop"
check_eq "DELETE /containers/ID is refused" 403 through_proxy DELETE "/containers/$id"
check_eq "the container is still running after all that" true ldocker inspect -f '{{.State.Running}}' web

forward_of() { # PORT -> container holding it, per the agent
	agent_status --json | jq -r ".forwards[] | select(.public_port == $1) | .container"
}
check_eq "the agent behind the proxy sees the labelled container" web \
	wait_until 2 output_is web forward_of 80
check_eq "and the client's address reaches it through the gateway" "$LAB_CLIENT4" \
	wait_until 5 output_is "$LAB_CLIENT4" lab_http_get client "$LAB_GW_PUB4"
ldocker stop -t 0 web >/dev/null
check_eq "events pass the proxy: a stopped container's forward goes" "" \
	wait_until 2 output_is "" forward_of 80
ldocker start web >/dev/null
check_eq "and comes back when it starts" web wait_until 2 output_is web forward_of 80
