#!/bin/bash
# wgfwd-agent follows the real Docker engine: every container change shows in its state within
# a second; bad labels hurt only their container; a Docker restart with changes made meanwhile
# is caught up on by a fresh list.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
agent_start

# Each fails on an empty answer, so that `wait_until` waits for one.
forward_of() { # PORT -> container name holding it
	nonempty agent_jq ".forwards[] | select(.public_port == $1) | .container"
}
forward_ip_of() {
	nonempty agent_jq ".forwards[] | select(.public_port == $1) | .ip4"
}
problems_of() {
	nonempty agent_jq ".problems[] | select(.container == \"$1\") | \"\(.label): \(.message)\""
}
nonempty() {
	local out
	out=$("$@") || return
	printf '%s\n' "$out"
	[ -n "$out" ]
}

lab_web_start web --label wgfwd.ports=80
check_eq "a started container's forward appears within a second" web wait_until 1 forward_of 80
check_eq "its target is the container's address" "$(lab_container_ip web)" forward_ip_of 80
ldocker stop -t 0 web >/dev/null
check_eq "a stopped container's forward goes within a second" "" wait_until 1 output_is "" forward_of 80
ldocker start web >/dev/null
check_eq "a started-again container's forward comes back" web wait_until 1 forward_of 80
ldocker restart -t 0 web >/dev/null
check_eq "a restarted container keeps its forward" web wait_until 1 forward_of 80
ldocker rename web www
check_eq "a renamed container shows its new name" www wait_until 1 output_is www forward_of 80

# Network connect / disconnect on a container that names its network.
ldocker network create blue >/dev/null
ldocker network create green >/dev/null
lab_web_start multi --network blue --label wgfwd.ports=81:80 --label wgfwd.network=green
check_match "a container not on its wgfwd.network is reported" 'wgfwd.network: .*green' \
	wait_until 1 problems_of multi
ldocker network connect green multi
check_eq "connecting the named network gives the forward its address" \
	"$(lab_container_ip multi green)" wait_until 1 forward_ip_of 81
ldocker network disconnect green multi
check_eq "disconnecting it takes the forward away" "" wait_until 1 output_is "" forward_of 81

# Bad labels: named, per entry, and nobody else is affected.
lab_web_start broken --label 'wgfwd.ports=82:80,70000,99/sctp' --label wgfwd.egress=nosuchservice
check_eq "the valid entry of a half-bad label still applies" broken wait_until 1 forward_of 82
check_match "a bad port is reported with the container and the label" \
	"wgfwd.ports: bad port .70000." problems_of broken
check_match "an unknown protocol is reported" "wgfwd.ports: .*sctp" problems_of broken
check_match "an unknown egress service is reported" "wgfwd.egress: .*nosuchservice" problems_of broken
check_eq "other containers keep their forwards" www forward_of 80
check_match "the agent logs the problem once, naming the container" \
	'warn: broken: wgfwd.ports: bad port' agent_log
check_eq "and only once" 1 sh -c "grep -c 'broken: wgfwd.ports: bad port' $LAB_RUN/bg/agent.log"

# Two containers, one port: the older one keeps it.
lab_web_start second --label wgfwd.ports=80
check_eq "a newer container cannot take a port an older one holds" www wait_until 1 forward_of 80
check_match "the newer one is told who holds it" 'www' wait_until 1 problems_of second

# Docker crashes; its containers run on without it, so their forwards must stay. When it is
# back it stops them (no live-restore) and restarts only those with a restart policy: the
# agent resyncs. A clean `docker-stop` would not do here: dockerd streams the containers'
# deaths before it closes the API, or not, as the race goes.
ldocker run -d --name keeper --restart always --label wgfwd.ports=83 "$LAB_IMAGE" \
	httpd -f -p 83 -h /www >/dev/null
check_eq "a container with a restart policy has its forward" keeper wait_until 1 forward_of 83
"$LAB" docker-kill
check_eq "the agent notices Docker is gone" disconnected wait_until 5 output_is disconnected agent_jq .agent.docker
check_eq "forwards stay in place while Docker is away" keeper forward_of 83
"$LAB" docker-start
# The agent's retry delay grows to 10 s while Docker is away.
check_eq "the agent reconnects" connected wait_until 25 output_is connected agent_jq .agent.docker
check_eq "a container that did not come back loses its forward" "" \
	wait_until 5 output_is "" forward_of 80
check_eq "a container that came back keeps its forward" keeper wait_until 5 forward_of 83
check_eq "with its new address" "$(lab_container_ip keeper)" wait_until 5 output_is \
	"$(lab_container_ip keeper)" forward_ip_of 83
ldocker rm -f keeper >/dev/null

# A cold start: the engine holds labelled containers before the agent starts and the kernel
# holds nothing of wgfwd's. The first apply has them all; the engine is known from its ping
# (Docker's /version costs it tens of milliseconds); what start-up leaves for later, /info, is
# still asked, and the event stream is followed from the list on.
agent_stop
wait_until 10 _no_agent >/dev/null
on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup >/dev/null 2>&1
lab_web_start early --label wgfwd.ports=84:80
lab_web_start early2 --label wgfwd.ports=85:80
agent_start
early_forwards() {
	agent_jq '[.forwards[] | select(.public_port == 84 or .public_port == 85) | .container] | sort | join(" ")'
}
check_eq "containers running before the agent started are forwarded" "early early2" \
	wait_until 2 output_is "early early2" early_forwards
check "their forwards are in the kernel's map" \
	on srv nft get element inet wgfwd fwd4 '{ tcp . 84, tcp . 85 }'
check_match "the engine and its API come from its ping" 'docker: engine [0-9.]+.* API 1\.[0-9]+' agent_log
check_eq "and /version is not asked" "" grep_lines 'docker: GET /version' "$LAB_RUN/bg/agent.log"
check_match "/info is asked once the list is read" 'docker: GET /v1\.[0-9]+/info' \
	wait_until 2 agent_log
lab_web_start late --label wgfwd.ports=86:80
check_eq "a container started after the cold start is followed" late wait_until 1 forward_of 86
check "and its forward is in the kernel's map" \
	wait_until 1 on srv nft get element inet wgfwd fwd4 '{ tcp . 86 }'
