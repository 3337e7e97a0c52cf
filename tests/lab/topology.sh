# The lab's names and addresses, in one place: sourced by tests/lab/lab.sh and tests/e2e/lib.sh.
# The picture is at the top of tests/lab/lab.sh. Every address is a documentation or private
# range and exists only inside the wf-* namespaces, never in the root namespace.
# shellcheck shell=bash disable=SC2034

LAB_RUN=/run/wf-lab             # run state: pids, logs, sockets, keys (gone after `down`)
LAB_DATA=/var/lib/wf-lab        # docker and containerd data (kept; `down --purge` removes it)
LAB_LOCK=/run/wf-lab.lock       # serialises lab.sh up/down/reset and e2e runs
LAB_DOCKER_SOCK=$LAB_RUN/docker.sock
LAB_DOCKER_HOST=unix://$LAB_DOCKER_SOCK
LAB_IMAGE=wf-busybox:latest

# The lab runs whichever dockerd, containerd and runc are first on PATH (Debian's docker.io,
# docker-ce, a static tarball in /usr/local/bin), and the docker client that came with that
# dockerd: the one beside it, or in the bin beside its sbin (Debian's /usr/bin/docker for
# /usr/sbin/dockerd), else the first on PATH. LAB_DOCKER_CLI set beforehand wins.
lab_docker_cli() {
	local d c
	if d=$(command -v dockerd 2>/dev/null); then
		d=$(dirname "$(readlink -f "$d")")
		for c in "$d/docker" "${d%/sbin}/bin/docker"; do
			[ -x "$c" ] && echo "$c" && return 0
		done
	fi
	command -v docker 2>/dev/null || echo docker
}
LAB_DOCKER_CLI=${LAB_DOCKER_CLI:-$(lab_docker_cli)}

# Hosts: short name -> namespace.
LAB_HOSTS="inet gw srv client mail"
LAB_NS_INET=wf-inet             # the internet, and the home ISP's router
LAB_NS_GW=wf-gw                 # the gateway VPS
LAB_NS_SRV=wf-srv               # the home server, running Docker
LAB_NS_CLIENT=wf-client         # someone on the internet
LAB_NS_MAIL=wf-mail             # a mail server on the internet (listens on tcp/25)
# A second VPS, only on demand (lab.sh gw2-up) for the scenarios with several gateways; not in
# LAB_HOSTS, so the one-gateway lab neither builds nor checks it.
LAB_NS_GW2=wf-gw2

# Gateway: public interface and the tunnel.
LAB_GW_PUB_IF=eth0
LAB_GW_PUB4=192.0.2.1
LAB_GW_PUB6=2001:db8:1::1
LAB_GW_WG_IF=wg0
LAB_GW_WG4=192.168.160.1
LAB_GW_WG6=fc00:0:0:160::1

# Server: the home line and the tunnel.
LAB_SRV_HOME_IF=eth0
LAB_SRV_HOME4=203.0.113.130
LAB_SRV_HOME6=2001:db8:2::2
LAB_SRV_WG_IF=wg1
LAB_SRV_WG4=192.168.160.2
LAB_SRV_WG6=fc00:0:0:160::2

# The second VPS (lab.sh gw2-up): its own public addresses, tunnel and server interface.
LAB_GW2_PUB_IF=eth0
# The agent takes only addresses that can be internet hosts as a gateway's public ones, so the
# second VPS's public IPv4 is a documentation address routed to it (/32), its router on-link.
LAB_GW2_PUB4=192.0.2.65
LAB_GW2_ROUTER4=198.18.0.254
LAB_GW2_PUB6=2001:db8:3::1
LAB_GW2_WG_IF=wg20
LAB_GW2_WG4=192.168.161.1
LAB_GW2_WG6=fc00:0:0:161::1
LAB_SRV_WG2_IF=wg21
LAB_SRV_WG2_4=192.168.161.2
LAB_SRV_WG2_6=fc00:0:0:161::2
LAB_SRV_WG2_PORT=51821          # the server's second tunnel listens beside the first

LAB_WG_NET4=192.168.160.0/24
LAB_WG_NET6=fc00:0:0:160::/64
LAB_WG_PORT=51820               # both ends listen here (each in its own namespace)
LAB_WG_MTU=1420

LAB_CLIENT4=203.0.113.10
LAB_CLIENT6=2001:db8:c::10
LAB_MAIL4=198.51.100.25
LAB_MAIL6=2001:db8:25::25

# Docker in the server: default bridge docker0 172.17.0.1/16 and fd00:d0c::/64.
LAB_DOCKER_FIXED_CIDR6=fd00:d0c::/64

# Docker on the VPS, started on demand (lab.sh gw-docker-start): a second engine inside wf-gw,
# its docker0 on 172.30.0.1/24, its state under $LAB_RUN/gw-docker and $LAB_DATA/gw-docker.
LAB_GW_DOCKER_SOCK=$LAB_RUN/gw-docker.sock
LAB_GW_DOCKER_HOST=unix://$LAB_GW_DOCKER_SOCK
LAB_GW_DOCKER_BIP=172.30.0.1/24

# WireGuard keys of this run (base64, one per file).
LAB_GW_WG_KEY=$LAB_RUN/wg/gw.key
LAB_GW_WG_PUB=$LAB_RUN/wg/gw.pub
LAB_SRV_WG_KEY=$LAB_RUN/wg/srv.key
LAB_SRV_WG_PUB=$LAB_RUN/wg/srv.pub
LAB_GW2_WG_KEY=$LAB_RUN/wg/gw2.key
LAB_GW2_WG_PUB=$LAB_RUN/wg/gw2.pub
LAB_SRV_WG2_KEY=$LAB_RUN/wg/srv2.key
LAB_SRV_WG2_PUB=$LAB_RUN/wg/srv2.pub

# What the mail host received: one line per connection "<peer> CONNECT" and per line sent
# "<peer> <line>"; <peer> is the source address it saw.
LAB_MAIL_LOG=$LAB_RUN/mail/received.log

# Maps a host's short name (or its namespace name) to the namespace name.
lab_ns() {
	case "$1" in
	inet | wf-inet) echo "$LAB_NS_INET" ;;
	gw | gateway | wf-gw) echo "$LAB_NS_GW" ;;
	gw2 | wf-gw2) echo "$LAB_NS_GW2" ;;
	srv | server | wf-srv) echo "$LAB_NS_SRV" ;;
	client | wf-client) echo "$LAB_NS_CLIENT" ;;
	mail | wf-mail) echo "$LAB_NS_MAIL" ;;
	*)
		echo "lab: unknown host \`$1' (one of: $LAB_HOSTS gw2)" >&2
		return 1
		;;
	esac
}
