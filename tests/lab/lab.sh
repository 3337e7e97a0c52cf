#!/bin/bash
# The wgfwd test lab: five network namespaces playing the internet, a VPS gateway, a home
# server running Docker, someone on the internet and a mail server.
#
#   lab.sh up                 build the lab (does nothing if a healthy lab is already up)
#   lab.sh down [--purge]     remove everything; --purge also drops docker data and the image
#   lab.sh status             say what exists; exit 0 only when the lab is up and healthy
#   lab.sh exec HOST CMD...   run CMD inside HOST (inet, gw, srv, client, mail)
#   lab.sh docker ARGS...     the server's docker client
#   lab.sh reset              remove containers, user networks, volumes, conntrack entries and processes started
#                             with `spawn`; empty the mail log (run between e2e scripts)
#   lab.sh spawn NAME HOST CMD...   start CMD in HOST in the background, logged, stopped by reset
#   lab.sh kill NAME          stop what `spawn NAME` started
#   lab.sh docker-stop        stop the server's dockerd (its containers stop with it)
#   lab.sh docker-kill        kill the server's dockerd (a crash: its containers keep running
#                             until it starts again and, without live-restore, stops them)
#   lab.sh docker-start       start it again and wait until it answers
#   lab.sh gw-docker-start    start a Docker engine on the VPS (inside wf-gw) with the lab's
#                             image, for scenarios about a VPS that runs more than wgfwd
#   lab.sh gw-docker-stop     stop it, remove its containers and the rules it left in wf-gw
#                             (reset and down do this too)
#   lab.sh gw-docker ARGS...  its docker client
#   lab.sh gw2-up             add a second VPS (wf-gw2, on demand: the one-gateway lab does
#                             without it): public 192.0.2.65 and 2001:db8:3::1, its tunnel
#                             wg20 (192.168.161.1) to the server's wg21 (192.168.161.2)
#   lab.sh gw2-down           remove it again (reset and down do this too)
#   lab.sh tunnel-stop HOST   stop the WireGuard of a VPS (gw or gw2), as when it goes down
#   lab.sh tunnel-start HOST  start it again with the same keys and addresses (reset restarts
#                             the first VPS's when a scenario left it stopped)
#
# Topology. Names and addresses are in tests/lab/topology.sh (LAB_* variables). Nothing of it
# exists in the root namespace.
#
#   client (wf-client)                          mail (wf-mail)
#   eth0 203.0.113.10/25  2001:db8:c::10/64     eth0 198.51.100.25/24  2001:db8:25::25/64
#        |                                           |  tcp/25: records sender address and lines
#        | to-client 203.0.113.126/25                | to-mail 198.51.100.254/24
#        |           2001:db8:c::fe/64               |         2001:db8:25::fe/64
#   +----+-------------------------------------------+----+
#   | wf-inet: the internet's router and the home ISP     |  forwarding on; table inet wf-isp:
#   +----+-------------------------------------------+----+  - tcp/25 arriving from to-srv is
#        | to-gw 192.0.2.254/24                      |      rejected with a tcp reset
#        |       2001:db8:1::fe/64                   |      - forwarded ICMP frag-needed and
#        |                                           |      ICMPv6 packet-too-big are dropped
#        |                                           | to-srv 203.0.113.254/25 2001:db8:2::fe/64
#   gateway (wf-gw)                             server (wf-srv)
#   eth0 192.0.2.1/24  2001:db8:1::1/64         eth0 203.0.113.130/25  2001:db8:2::2/64 (home line)
#   forwarding on, default via 192.0.2.254      default via 203.0.113.254 / 2001:db8:2::fe
#   wg0  192.168.160.1/24  fc00:0:0:160::1/64 ===== wg1  192.168.160.2/24  fc00:0:0:160::2/64
#        listen udp/51820, MTU 1420                   listen udp/51820, MTU 1420
#        peer: server, allowed 192.168.160.2/32,      peer: gateway, endpoint 192.0.2.1:51820,
#              fc00:0:0:160::2/128                          allowed 0.0.0.0/0, ::/0, keepalive 25
#                                               Only the tunnel subnets are routed into wg1
#                                               (Table = off). Keys: /run/wf-lab/wg/{gw,srv}.{key,pub}
#
#   Docker in wf-srv (the dockerd and containerd on PATH, e.g. Debian's 20.10 and 1.6, both
#   private to the lab; see lab_docker_cli in topology.sh for the client):
#     socket unix:///run/wf-lab/docker.sock, data /var/lib/wf-lab/{docker,containerd},
#     exec root /run/wf-lab/docker, logs /run/wf-lab/logs/{dockerd,containerd}.log,
#     container cgroups under /wf-lab; docker0 172.17.0.1/16 and fd00:d0c::1/64;
#     iptables on, FORWARD policy DROP (Docker sets it when it turns forwarding on itself),
#     ip6tables on (experimental in 20.10).
#     Image wf-busybox:latest: static busybox with its applets, build/tests/<helper> for every
#     tests/helpers/<helper>.c, and /www/cgi-bin/{ip,name} for `httpd -h /www`.
#
# The wireguard-go control sockets live in /var/run/wireguard for every namespace, hence the
# distinct names wg0 and wg1. containerd and dockerd run in a mount namespace of their own, so
# their mounts (overlays, network namespace handles) vanish with them and never pile up in the
# root namespace; look at containers through `docker` or `nsenter -t <pid>` rather than
# through paths under /var/lib/wf-lab.
set -u

LAB_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
ROOT=$(cd "$LAB_DIR/../.." && pwd)
LAB_SH=$LAB_DIR/lab.sh
# shellcheck source=tests/lab/topology.sh
. "$LAB_DIR/topology.sh"

WG_SOCK_DIR=/var/run/wireguard
CGROUP_PARENT=wf-lab
DAEMONS="wg-gw wg-srv mail4 mail6 containerd dockerd"

#        inet side  host    router v4          router v6           host v4              host v6
LINKS="to-gw        gw      192.0.2.254/24     2001:db8:1::fe/64   $LAB_GW_PUB4/24      $LAB_GW_PUB6/64
       to-srv       srv     203.0.113.254/25   2001:db8:2::fe/64   $LAB_SRV_HOME4/25    $LAB_SRV_HOME6/64
       to-client    client  203.0.113.126/25   2001:db8:c::fe/64   $LAB_CLIENT4/25      $LAB_CLIENT6/64
       to-mail      mail    198.51.100.254/24  2001:db8:25::fe/64  $LAB_MAIL4/24        $LAB_MAIL6/64"

say() {
	echo "lab: $*"
}

die() {
	echo "lab: $*" >&2
	exit 1
}

# What a failed set-up step prints where CI's log shows it: the command and where it ran, and
# the end of every daemon's log (the lab's own files are gone by the time anyone could look).
step_failed() {
	local rc=$1 what=$2 line=$3 log
	echo "lab: $what failed (exit $rc) at lab.sh:$line: $BASH_COMMAND" >&2
	[ "${BASH_SUBSHELL:-0}" -gt 0 ] && return
	echo "lab:   in ${FUNCNAME[*]:1}" >&2
	for log in "$LAB_RUN"/logs/*.log; do
		[ -s "$log" ] || continue
		echo "lab: --- last lines of $log" >&2
		tail -n 15 "$log" | sed 's/^/lab:   /' >&2
	done
}

in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

ldocker() {
	DOCKER_HOST=$LAB_DOCKER_HOST "$LAB_DOCKER_CLI" "$@"
}

docker_answers() {
	[ -S "$LAB_DOCKER_SOCK" ] &&
		[ "$(curl -s -m 2 --unix-socket "$LAB_DOCKER_SOCK" http://lab/_ping 2>/dev/null)" = OK ]
}

now_us() {
	echo "${EPOCHREALTIME//[.,]/}"
}

# Polls CMD every 0.1 s for at most SECONDS; the only way the lab waits for anything.
wait_for() {
	local end=$(($(now_us) + $1 * 1000000))
	shift
	until "$@"; do
		[ "$(now_us)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# A process that exited counts as gone even before it is reaped: here the daemons' parent is
# the machine's init, which reaps only every second or so.
running() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

stopped() {
	! running "$1"
}

pid_of() {
	local pid
	[ -r "$LAB_RUN/pids/$1.pid" ] || return 1
	read -r pid <"$LAB_RUN/pids/$1.pid" || return 1
	[ -n "$pid" ] && running "$pid" && echo "$pid"
}

# Starts CMD detached from this shell and from the lock descriptors (8, 9), so that it neither
# dies with the caller's terminal nor keeps the lab locked; setsid makes it the leader of its
# own process group, which stop_spawned signals as a whole.
spawn() {
	local pidfile=$1 log=$2
	shift 2
	setsid "$@" </dev/null >"$log" 2>&1 8>&- 9>&- &
	echo $! >"$pidfile"
}

start_daemon() {
	local name=$1
	shift
	spawn "$LAB_RUN/pids/$name.pid" "$LAB_RUN/logs/$name.log" "$@"
}

stop_spawned() {
	local pidfile=$1 pid
	[ -e "$pidfile" ] || return 0
	read -r pid <"$pidfile" && kill -TERM -- "-$pid" 2>/dev/null
	rm -f "$pidfile"
}

lab_lock() {
	[ "${WF_LAB_LOCKED:-}" = 1 ] && return 0
	exec 9>"$LAB_LOCK"
	flock -w 600 9 || die "another lab operation still holds $LAB_LOCK"
}

check_tools() {
	local t missing=""
	for t in ip nsenter unshare setsid flock nft iptables wg wireguard-go socat curl dockerd \
		containerd containerd-shim-runc-v2 runc "$LAB_DOCKER_CLI" /bin/busybox; do
		command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
	done
	[ -z "$missing" ] || die "missing:$missing (run \`make deps')"
}

lab_namespaces() {
	ip netns list 2>/dev/null | awk '$1 ~ /^wf-(inet|gw|gw2|srv|client|mail)$/ {print $1}'
}

lab_cgroups() {
	find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "$CGROUP_PARENT" 2>/dev/null
}

lab_exists() {
	[ -n "$(lab_namespaces)" ] || [ -d "$LAB_RUN" ] || [ -n "$(lab_cgroups)" ]
}

lab_healthy() {
	local h d
	for h in $LAB_HOSTS; do
		[ -e "/run/netns/$(lab_ns "$h")" ] || return 1
	done
	for d in $DAEMONS; do
		pid_of "$d" >/dev/null || return 1
	done
	[ -x "$SMTP_SESSION" ] || return 1
	docker_answers || return 1
	tunnel_works || return 1
	ldocker image inspect "$LAB_IMAGE" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# up

make_hosts() {
	local h ns
	for h in $LAB_HOSTS; do
		ns=$(lab_ns "$h")
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# Addresses are usable at once: no duplicate address detection in a lab.
		in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	in_ns "$LAB_NS_INET" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	in_ns "$LAB_NS_GW" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# Docker turns forwarding on in the server and, because it was off, sets the FORWARD
	# policy to DROP, as it does on a fresh host.
	in_ns "$LAB_NS_SRV" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
}

make_links() {
	local inet_if host r4 r6 h4 h6 ns
	while read -r inet_if host r4 r6 h4 h6; do
		ns=$(lab_ns "$host")
		ip -n "$LAB_NS_INET" link add "$inet_if" type veth peer name eth0 netns "$ns"
		ip -n "$LAB_NS_INET" address add "$r4" dev "$inet_if"
		ip -n "$LAB_NS_INET" address add "$r6" dev "$inet_if" nodad
		ip -n "$LAB_NS_INET" link set "$inet_if" up
		ip -n "$ns" address add "$h4" dev eth0
		ip -n "$ns" address add "$h6" dev eth0 nodad
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "${r4%/*}"
		ip -n "$ns" -6 route add default via "${r6%/*}"
	done <<<"${1:-$LINKS}"
}

isp_rules() {
	in_ns "$LAB_NS_INET" nft -f - <<-EOF
		table inet wf-isp {
			counter smtp_blocked { }
			counter frag_needed_dropped { }
			counter packet_too_big_dropped { }
			chain forward {
				type filter hook forward priority filter; policy accept;
				iifname "to-srv" tcp dport 25 counter name "smtp_blocked" reject with tcp reset
				icmp type destination-unreachable icmp code frag-needed counter name "frag_needed_dropped" drop
				icmpv6 type packet-too-big counter name "packet_too_big_dropped" drop
			}
		}
	EOF
}

start_wireguard_go() {
	local name=$1 ns=$2 ifname=$3
	if [ -S "$WG_SOCK_DIR/$ifname.sock" ]; then
		wg show "$ifname" >/dev/null 2>&1 &&
			die "$WG_SOCK_DIR/$ifname.sock belongs to a running wireguard-go outside the lab"
		rm -f "$WG_SOCK_DIR/$ifname.sock"
	fi
	start_daemon "$name" nsenter --net="/run/netns/$ns" \
		env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=verbose \
		wireguard-go -f "$ifname"
}

start_tunnel() {
	mkdir -p "$LAB_RUN/wg"
	(umask 077 && wg genkey >"$LAB_GW_WG_KEY" && wg genkey >"$LAB_SRV_WG_KEY")
	wg pubkey <"$LAB_GW_WG_KEY" >"$LAB_GW_WG_PUB"
	wg pubkey <"$LAB_SRV_WG_KEY" >"$LAB_SRV_WG_PUB"

	start_wireguard_go wg-gw "$LAB_NS_GW" "$LAB_GW_WG_IF"
	start_wireguard_go wg-srv "$LAB_NS_SRV" "$LAB_SRV_WG_IF"
	wait_for 5 test -S "$WG_SOCK_DIR/$LAB_GW_WG_IF.sock" -a -S "$WG_SOCK_DIR/$LAB_SRV_WG_IF.sock" ||
		die "wireguard-go did not create its sockets"

	in_ns "$LAB_NS_GW" wg set "$LAB_GW_WG_IF" listen-port "$LAB_WG_PORT" \
		private-key "$LAB_GW_WG_KEY" peer "$(cat "$LAB_SRV_WG_PUB")" \
		allowed-ips "$LAB_SRV_WG4/32,$LAB_SRV_WG6/128"
	gw_tunnel_addresses gw
	in_ns "$LAB_NS_SRV" wg set "$LAB_SRV_WG_IF" listen-port "$LAB_WG_PORT" \
		private-key "$LAB_SRV_WG_KEY" peer "$(cat "$LAB_GW_WG_PUB")" \
		endpoint "$LAB_GW_PUB4:$LAB_WG_PORT" allowed-ips 0.0.0.0/0,::/0 \
		persistent-keepalive 25

	ip -n "$LAB_NS_SRV" address add "$LAB_SRV_WG4/24" dev "$LAB_SRV_WG_IF"
	ip -n "$LAB_NS_SRV" address add "$LAB_SRV_WG6/64" dev "$LAB_SRV_WG_IF" nodad
	ip -n "$LAB_NS_SRV" link set "$LAB_SRV_WG_IF" mtu "$LAB_WG_MTU" up
}

# A VPS's side of its tunnel: name of its wireguard-go, namespace, interface, keys, addresses.
gw_side() {
	case "$1" in
	gw) echo "wg-gw $LAB_NS_GW $LAB_GW_WG_IF $LAB_GW_WG_KEY $LAB_SRV_WG_PUB $LAB_GW_WG4 $LAB_GW_WG6 $LAB_SRV_WG4 $LAB_SRV_WG6 $LAB_SRV_HOME4:$LAB_WG_PORT" ;;
	gw2) echo "wg-gw2 $LAB_NS_GW2 $LAB_GW2_WG_IF $LAB_GW2_WG_KEY $LAB_SRV_WG2_PUB $LAB_GW2_WG4 $LAB_GW2_WG6 $LAB_SRV_WG2_4 $LAB_SRV_WG2_6 $LAB_SRV_HOME4:$LAB_SRV_WG2_PORT" ;;
	*) die "no VPS \`$1' (gw or gw2)" ;;
	esac
}

gw_tunnel_addresses() {
	local name ns ifname key peer a4 a6 _
	read -r name ns ifname key peer a4 a6 _ <<<"$(gw_side "$1")"
	ip -n "$ns" address add "$a4/24" dev "$ifname"
	ip -n "$ns" address add "$a6/64" dev "$ifname" nodad
	ip -n "$ns" link set "$ifname" mtu "$LAB_WG_MTU" up
}

# A VPS's WireGuard stopped (its interface goes with it) and started again with the same keys.
# Started again, it knows the server's endpoint and pings the server's tunnel address, so the
# handshake does not wait for the server's next keepalive.
cmd_tunnel_stop() {
	local name ns ifname _
	read -r name ns ifname _ <<<"$(gw_side "$1")"
	stop_spawned "$LAB_RUN/pids/$name.pid"
	wait_for 5 sh -c "! ip -n $ns link show $ifname >/dev/null 2>&1" ||
		die "$ifname in $ns is still there"
}

cmd_tunnel_start() {
	local name ns ifname key peer a4 a6 s4 s6 endpoint
	read -r name ns ifname key peer a4 a6 s4 s6 endpoint <<<"$(gw_side "$1")"
	pid_of "$name" >/dev/null && return 0
	start_wireguard_go "$name" "$ns" "$ifname"
	wait_for 5 test -S "$WG_SOCK_DIR/$ifname.sock" || die "wireguard-go did not create $ifname"
	in_ns "$ns" wg set "$ifname" listen-port "$LAB_WG_PORT" private-key "$key" \
		peer "$(cat "$peer")" allowed-ips "$s4/32,$s6/128" endpoint "$endpoint"
	gw_tunnel_addresses "$1"
	wait_for 10 in_ns "$ns" ping -c 1 -W 1 -q "$s4" >/dev/null 2>&1 ||
		die "no ping from $ns through its tunnel to the server"
}

gw2_tunnel_works() {
	in_ns "$LAB_NS_SRV" ping -c 1 -W 1 -q "$LAB_GW2_WG4" >/dev/null 2>&1 &&
		in_ns "$LAB_NS_SRV" ping -c 1 -W 1 -q "$LAB_GW2_WG6" >/dev/null 2>&1
}

cmd_gw2_up() {
	[ -d "$LAB_RUN/pids" ] || die "the lab is not up"
	if [ -e "/run/netns/$LAB_NS_GW2" ] && pid_of wg-gw2 >/dev/null && pid_of wg-srv2 >/dev/null &&
		gw2_tunnel_works; then
		return 0
	fi
	cmd_gw2_down
	trap 'step_failed $? gw2-up $LINENO' ERR
	set -eE
	ip netns add "$LAB_NS_GW2"
	ip -n "$LAB_NS_GW2" link set lo up
	in_ns "$LAB_NS_GW2" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	in_ns "$LAB_NS_GW2" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	# Its IPv4 is one /32 with an on-link router, so that egress masqueraded there leaves
	# with it.
	ip -n "$LAB_NS_INET" link add to-gw2 type veth peer name eth0 netns "$LAB_NS_GW2"
	ip -n "$LAB_NS_INET" address add "$LAB_GW2_ROUTER4/24" dev to-gw2
	ip -n "$LAB_NS_INET" address add 2001:db8:3::fe/64 dev to-gw2 nodad
	ip -n "$LAB_NS_INET" link set to-gw2 up
	ip -n "$LAB_NS_INET" route add "$LAB_GW2_PUB4/32" dev to-gw2
	ip -n "$LAB_NS_GW2" address add "$LAB_GW2_PUB4/32" dev eth0
	ip -n "$LAB_NS_GW2" address add "$LAB_GW2_PUB6/64" dev eth0 nodad
	ip -n "$LAB_NS_GW2" link set eth0 up
	ip -n "$LAB_NS_GW2" route add "$LAB_GW2_ROUTER4/32" dev eth0
	ip -n "$LAB_NS_GW2" route add default via "$LAB_GW2_ROUTER4"
	ip -n "$LAB_NS_GW2" -6 route add default via 2001:db8:3::fe
	(umask 077 && wg genkey >"$LAB_GW2_WG_KEY" && wg genkey >"$LAB_SRV_WG2_KEY")
	wg pubkey <"$LAB_GW2_WG_KEY" >"$LAB_GW2_WG_PUB"
	wg pubkey <"$LAB_SRV_WG2_KEY" >"$LAB_SRV_WG2_PUB"
	start_wireguard_go wg-srv2 "$LAB_NS_SRV" "$LAB_SRV_WG2_IF"
	wait_for 5 test -S "$WG_SOCK_DIR/$LAB_SRV_WG2_IF.sock" || die "wireguard-go did not create $LAB_SRV_WG2_IF"
	in_ns "$LAB_NS_SRV" wg set "$LAB_SRV_WG2_IF" listen-port "$LAB_SRV_WG2_PORT" \
		private-key "$LAB_SRV_WG2_KEY" peer "$(cat "$LAB_GW2_WG_PUB")" \
		endpoint "$LAB_GW2_PUB4:$LAB_WG_PORT" allowed-ips 0.0.0.0/0,::/0 \
		persistent-keepalive 25
	ip -n "$LAB_NS_SRV" address add "$LAB_SRV_WG2_4/24" dev "$LAB_SRV_WG2_IF"
	ip -n "$LAB_NS_SRV" address add "$LAB_SRV_WG2_6/64" dev "$LAB_SRV_WG2_IF" nodad
	ip -n "$LAB_NS_SRV" link set "$LAB_SRV_WG2_IF" mtu "$LAB_WG_MTU" up
	cmd_tunnel_start gw2
	set +eE
	trap - ERR
	wait_for 10 gw2_tunnel_works || die "no ping through the second tunnel (see $LAB_RUN/logs/wg-*2.log)"
}

cmd_gw2_down() {
	local ifname
	stop_spawned "$LAB_RUN/pids/wg-gw2.pid"
	stop_spawned "$LAB_RUN/pids/wg-srv2.pid"
	if [ -e "/run/netns/$LAB_NS_GW2" ]; then
		# shellcheck disable=SC2046
		stop_pids 3 $(ip netns pids "$LAB_NS_GW2" 2>/dev/null)
		ip netns delete "$LAB_NS_GW2"
	fi
	[ -e "/run/netns/$LAB_NS_SRV" ] && ip -n "$LAB_NS_SRV" link delete "$LAB_SRV_WG2_IF" 2>/dev/null
	for ifname in "$LAB_GW2_WG_IF" "$LAB_SRV_WG2_IF"; do
		if [ -S "$WG_SOCK_DIR/$ifname.sock" ] && ! wg show "$ifname" >/dev/null 2>&1; then
			rm -f "$WG_SOCK_DIR/$ifname.sock"
		fi
	done
	return 0
}

tunnel_works() {
	in_ns "$LAB_NS_SRV" ping -c 1 -W 1 -q "$LAB_GW_WG4" >/dev/null 2>&1 &&
		in_ns "$LAB_NS_SRV" ping -c 1 -W 1 -q "$LAB_GW_WG6" >/dev/null 2>&1
}

# The mail server's session runs a script of its own in the lab's run directory, not this file:
# one lab serves every work tree on the machine and outlives the tree that built it.
SMTP_SESSION=$LAB_RUN/smtp-session

start_mail() {
	mkdir -p "$(dirname "$LAB_MAIL_LOG")"
	: >"$LAB_MAIL_LOG"
	{
		echo '#!/bin/bash'
		printf 'LAB_MAIL_LOG=%q\n' "$LAB_MAIL_LOG"
		declare -f socat_peer smtp_session
		echo smtp_session
	} >"$SMTP_SESSION"
	chmod 755 "$SMTP_SESSION"
	start_daemon mail4 nsenter --net="/run/netns/$LAB_NS_MAIL" \
		socat TCP4-LISTEN:25,fork,reuseaddr EXEC:"$SMTP_SESSION"
	start_daemon mail6 nsenter --net="/run/netns/$LAB_NS_MAIL" \
		socat TCP6-LISTEN:25,fork,reuseaddr,ipv6only=1 EXEC:"$SMTP_SESSION"
}

mail_listens() {
	in_ns "$LAB_NS_MAIL" ss -Htln 'sport = :25' | grep -q '0.0.0.0:25' &&
		in_ns "$LAB_NS_MAIL" ss -Htln 'sport = :25' | grep -q '\[::\]:25'
}

# The peer address socat hands to a connection's program, written the usual way: socat gives
# IPv6 addresses in brackets and with every zero, and IPv4 peers of a dual-stack socket as
# v4-mapped IPv6 addresses.
socat_peer() {
	local addr=${SOCAT_PEERADDR:-unknown} i run=0 best=0 best_at=-1 out=""
	local -a g
	addr=${addr#[}
	addr=${addr%]}
	IFS=: read -ra g <<<"$addr"
	if [ ${#g[@]} -ne 8 ]; then
		echo "$addr"
		return
	fi
	for i in 0 1 2 3 4 5 6 7; do
		g[i]=$(printf %x "$((16#${g[i]}))")
	done
	if [ "${g[*]:0:5}" = "0 0 0 0 0" ] && [ "${g[5]}" = ffff ]; then
		echo "$((16#${g[6]} >> 8)).$((16#${g[6]} & 255)).$((16#${g[7]} >> 8)).$((16#${g[7]} & 255))"
		return
	fi
	for i in 0 1 2 3 4 5 6 7; do
		if [ "${g[i]}" = 0 ]; then
			run=$((run + 1))
			if [ "$run" -gt "$best" ]; then
				best=$run
				best_at=$((i - run + 1))
			fi
		else
			run=0
		fi
	done
	if [ "$best" -lt 2 ]; then
		(IFS=: && echo "${g[*]}")
		return
	fi
	out=$(IFS=: && echo "${g[*]:0:best_at}")::$(IFS=: && echo "${g[*]:best_at+best}")
	echo "$out"
}

# An SMTP server that accepts anything: enough for a client to deliver a message, and the log
# shows who connected.
smtp_session() {
	local peer line in_data=0
	peer=$(socat_peer)
	echo "$peer CONNECT" >>"$LAB_MAIL_LOG"
	printf '220 mail.lab.example ESMTP\r\n'
	while IFS= read -r -t 30 line; do
		line=${line%$'\r'}
		echo "$peer $line" >>"$LAB_MAIL_LOG"
		if [ "$in_data" = 1 ]; then
			if [ "$line" = . ]; then
				in_data=0
				printf '250 2.0.0 queued\r\n'
			fi
			continue
		fi
		case "${line^^}" in
		EHLO* | HELO*) printf '250 mail.lab.example\r\n' ;;
		DATA) in_data=1 && printf '354 end with .\r\n' ;;
		QUIT)
			printf '221 bye\r\n'
			break
			;;
		*) printf '250 ok\r\n' ;;
		esac
	done
}

write_docker_config() {
	mkdir -p "$LAB_DATA/docker" "$LAB_DATA/containerd" "$LAB_RUN/containerd"
	# A containerd of our own: dockerd 20.10 would otherwise attach to a system containerd
	# if /run/containerd/containerd.sock exists, and share it with any other dockerd.
	cat >"$LAB_RUN/containerd.toml" <<-EOF
		version = 2
		root = "$LAB_DATA/containerd"
		state = "$LAB_RUN/containerd"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$LAB_RUN/containerd/containerd.sock"
		[ttrpc]
		  address = "$LAB_RUN/containerd/containerd.sock.ttrpc"
		[debug]
		  level = "warn"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$LAB_DATA/containerd/opt"
	EOF
	# dockerd 20.10 would otherwise make /etc/docker/key.json on the host ("deprecated-key-path";
	# later versions ignore the key). It also makes /run/docker/plugins whatever its exec root:
	# noted here when the host has no /run/docker, and removed again by `down` if still empty.
	[ -e /run/docker ] || touch "$LAB_RUN/made-run-docker"
	# IPv6 in Debian's dockerd 20.10: "ipv6" + "fixed-cidr-v6" give docker0 its IPv6 subnet;
	# user-defined networks need `docker network create --ipv6 --subnet <v4> --subnet <v6>`.
	# "ip6tables" (NAT and filter rules for IPv6, like those for IPv4) is still experimental
	# in 20.10 and is refused without "experimental".
	cat >"$LAB_RUN/daemon.json" <<-EOF
		{
			"data-root": "$LAB_DATA/docker",
			"deprecated-key-path": "$LAB_DATA/docker/key.json",
			"exec-root": "$LAB_RUN/docker",
			"pidfile": "$LAB_RUN/dockerd.pid",
			"hosts": ["$LAB_DOCKER_HOST"],
			"containerd": "$LAB_RUN/containerd/containerd.sock",
			"cgroup-parent": "/$CGROUP_PARENT",
			"iptables": true,
			"ipv6": true,
			"fixed-cidr-v6": "$LAB_DOCKER_FIXED_CIDR6",
			"experimental": true,
			"ip6tables": true
		}
	EOF
}

start_dockerd() {
	local containerd_pid
	containerd_pid=$(pid_of containerd) || die "containerd is not running"
	start_daemon dockerd nsenter --net="/run/netns/$LAB_NS_SRV" \
		--mount="/proc/$containerd_pid/ns/mnt" \
		dockerd --config-file "$LAB_RUN/daemon.json"
}

# dockerd alone goes away (its containers stop with it, as without live-restore) and comes
# back: what a Docker upgrade or crash looks like to the agent.
cmd_docker_stop() {
	local pid
	pid=$(pid_of dockerd) || return 0
	stop_spawned "$LAB_RUN/pids/dockerd.pid"
	wait_for 30 stopped "$pid" || die "dockerd did not stop"
}

cmd_docker_kill() {
	local pid
	pid=$(pid_of dockerd) || return 0
	kill -KILL -- "-$pid" 2>/dev/null
	rm -f "$LAB_RUN/pids/dockerd.pid"
	wait_for 30 stopped "$pid" || die "dockerd did not die"
	# Until something reaps it, the dead dockerd is a zombie that still has a /proc entry,
	# and a new dockerd would take its pid file for a live daemon's.
	rm -f "$LAB_RUN/dockerd.pid"
}

cmd_docker_start() {
	pid_of dockerd >/dev/null && return 0
	start_dockerd
	wait_docker
}

start_docker() {
	local containerd_pid
	write_docker_config
	# `ip netns exec` would remount /sys and hide the cgroup mounts dockerd needs: nsenter.
	start_daemon containerd nsenter --net="/run/netns/$LAB_NS_SRV" \
		unshare --mount --propagation slave containerd --config "$LAB_RUN/containerd.toml"
	containerd_pid=$(pid_of containerd) || die "containerd did not start"
	wait_for 10 test -S "$LAB_RUN/containerd/containerd.sock" ||
		die "containerd did not open its socket (see $LAB_RUN/logs/containerd.log)"
	start_daemon dockerd nsenter --net="/run/netns/$LAB_NS_SRV" \
		--mount="/proc/$containerd_pid/ns/mnt" \
		dockerd --config-file "$LAB_RUN/daemon.json"
}

dockerd_ready() {
	pid_of dockerd >/dev/null || return 2
	docker_answers
}

wait_docker() {
	local rc end=$(($(now_us) + 90000000))
	while [ "$(now_us)" -lt "$end" ]; do
		dockerd_ready
		rc=$?
		[ "$rc" = 0 ] && return 0
		[ "$rc" = 2 ] && break
		sleep 0.1
	done
	tail -n 20 "$LAB_RUN/logs/dockerd.log" >&2
	die "dockerd is not answering on $LAB_DOCKER_SOCK"
}

# ---------------------------------------------------------------------------------------------
# Docker on the VPS (on demand)

GW_DOCKER_RUN=$LAB_RUN/gw-docker
GW_DOCKER_DATA=$LAB_DATA/gw-docker

gwdocker() {
	DOCKER_HOST=$LAB_GW_DOCKER_HOST "$LAB_DOCKER_CLI" "$@"
}

gw_docker_answers() {
	[ -S "$LAB_GW_DOCKER_SOCK" ] &&
		[ "$(curl -s -m 2 --unix-socket "$LAB_GW_DOCKER_SOCK" http://lab/_ping 2>/dev/null)" = OK ]
}

gw_docker_ready() {
	pid_of gw-dockerd >/dev/null || return 2
	gw_docker_answers
}

# Names distinct from the server's engine everywhere: sockets, pid files, data, exec root,
# cgroups (nested under the lab's, so teardown finds them). Forwarding is already on in wf-gw,
# so this dockerd, like one started after the VPS's own forwarding, leaves the iptables
# FORWARD policy at ACCEPT.
cmd_gw_docker_start() {
	local containerd_pid rc end
	gw_docker_answers && return 0
	lab_healthy || die "the lab is not up"
	mkdir -p "$GW_DOCKER_RUN/containerd" "$GW_DOCKER_DATA/docker" "$GW_DOCKER_DATA/containerd"
	cat >"$GW_DOCKER_RUN/containerd.toml" <<-EOF
		version = 2
		root = "$GW_DOCKER_DATA/containerd"
		state = "$GW_DOCKER_RUN/containerd"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$GW_DOCKER_RUN/containerd/containerd.sock"
		[ttrpc]
		  address = "$GW_DOCKER_RUN/containerd/containerd.sock.ttrpc"
		[debug]
		  level = "warn"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$GW_DOCKER_DATA/containerd/opt"
	EOF
	cat >"$GW_DOCKER_RUN/daemon.json" <<-EOF
		{
			"data-root": "$GW_DOCKER_DATA/docker",
			"exec-root": "$GW_DOCKER_RUN/exec",
			"pidfile": "$GW_DOCKER_RUN/dockerd.pid",
			"hosts": ["$LAB_GW_DOCKER_HOST"],
			"containerd": "$GW_DOCKER_RUN/containerd/containerd.sock",
			"cgroup-parent": "/$CGROUP_PARENT/gw",
			"bip": "$LAB_GW_DOCKER_BIP",
			"iptables": true
		}
	EOF
	start_daemon gw-containerd nsenter --net="/run/netns/$LAB_NS_GW" \
		unshare --mount --propagation slave containerd --config "$GW_DOCKER_RUN/containerd.toml"
	containerd_pid=$(pid_of gw-containerd) || die "the VPS's containerd did not start"
	wait_for 10 test -S "$GW_DOCKER_RUN/containerd/containerd.sock" ||
		die "the VPS's containerd did not open its socket (see $LAB_RUN/logs/gw-containerd.log)"
	start_daemon gw-dockerd nsenter --net="/run/netns/$LAB_NS_GW" \
		--mount="/proc/$containerd_pid/ns/mnt" \
		dockerd --config-file "$GW_DOCKER_RUN/daemon.json"
	end=$(($(now_us) + 90000000))
	while :; do
		gw_docker_ready
		rc=$?
		[ "$rc" = 0 ] && break
		if [ "$rc" = 2 ] || [ "$(now_us)" -ge "$end" ]; then
			tail -n 20 "$LAB_RUN/logs/gw-dockerd.log" >&2
			die "the VPS's dockerd is not answering on $LAB_GW_DOCKER_SOCK"
		fi
		sleep 0.1
	done
	# The image from the server's engine: no registry in the lab.
	gwdocker image inspect "$LAB_IMAGE" >/dev/null 2>&1 ||
		ldocker save "$LAB_IMAGE" | gwdocker load >/dev/null ||
		die "cannot load $LAB_IMAGE into the VPS's engine"
	say "docker on the VPS answers on $LAB_GW_DOCKER_HOST"
}

# Leaves wf-gw as the lab made it: no engine, no containers, no docker0, none of the iptables
# chains Docker wrote (they outlive dockerd).
cmd_gw_docker_stop() {
	local pid ids t
	if gw_docker_answers; then
		ids=$(gwdocker ps -aq)
		# shellcheck disable=SC2086
		[ -z "$ids" ] || gwdocker rm -f $ids >/dev/null
	fi
	if pid=$(pid_of gw-dockerd); then
		stop_pids 15 "$pid"
	fi
	if pid=$(pid_of gw-containerd); then
		stop_pids 5 "$pid"
	fi
	rm -f "$LAB_RUN/pids/gw-dockerd.pid" "$LAB_RUN/pids/gw-containerd.pid"
	[ -d "$GW_DOCKER_RUN" ] || return 0
	if [ -e "/run/netns/$LAB_NS_GW" ]; then
		for t in filter nat; do
			in_ns "$LAB_NS_GW" iptables -t "$t" -F 2>/dev/null
			in_ns "$LAB_NS_GW" iptables -t "$t" -X 2>/dev/null
		done
		in_ns "$LAB_NS_GW" iptables -P FORWARD ACCEPT 2>/dev/null
		ip -n "$LAB_NS_GW" link del docker0 2>/dev/null
	fi
	rm -rf "$GW_DOCKER_RUN"
	return 0
}

helper_names() {
	local src
	for src in "$ROOT"/tests/helpers/*.c; do
		[ -e "$src" ] && basename "$src" .c
	done
}

# The image is made of local files only (no registry here), and imported again only when
# one of them changed.
make_image() {
	local name bin stage inputs current p
	local -a stale=()
	for name in $(helper_names); do
		bin=$ROOT/build/tests/$name
		if [ ! -x "$bin" ] || [ "$ROOT/tests/helpers/$name.c" -nt "$bin" ]; then
			stale+=("build/tests/$name")
		fi
	done
	if [ ${#stale[@]} -gt 0 ]; then
		make -C "$ROOT" --no-print-directory "${stale[@]}" >&2 || die "could not build ${stale[*]}"
	fi

	inputs=$({
		sha256sum /bin/busybox "$LAB_SH"
		for name in $(helper_names); do sha256sum "$ROOT/build/tests/$name"; done
	} | awk '{print $1}' | sha256sum | cut -c1-16)
	current=$(ldocker image inspect -f '{{index .Config.Labels "wf-lab.inputs"}}' "$LAB_IMAGE" 2>/dev/null) || true
	[ "$current" = "$inputs" ] && return 0

	stage=$(mktemp -d "$LAB_RUN/image.XXXXXX")
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,www/cgi-bin}
	chmod 1777 "$stage/tmp"
	cp /bin/busybox "$stage/bin/busybox"
	for p in $(/bin/busybox --list-full); do
		[ -e "$stage/$p" ] || ln -s /bin/busybox "$stage/$p"
	done
	for name in $(helper_names); do
		cp "$ROOT/build/tests/$name" "$stage/bin/$name"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$stage/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
	# busybox httpd writes REMOTE_ADDR in brackets, and IPv4 peers of its dual-stack socket
	# as ::ffff:a.b.c.d: the script prints the plain address.
	cat >"$stage/www/cgi-bin/ip" <<-'EOF'
		#!/bin/sh
		a=${REMOTE_ADDR#[}
		a=${a%]}
		printf 'Content-Type: text/plain\r\n\r\n%s\n' "${a#::ffff:}"
	EOF
	cat >"$stage/www/cgi-bin/name" <<-'EOF'
		#!/bin/sh
		printf 'Content-Type: text/plain\r\n\r\n%s\n' "$(hostname)"
	EOF
	chmod 755 "$stage/www/cgi-bin/ip" "$stage/www/cgi-bin/name"
	echo "wf-busybox" >"$stage/www/index.html"

	tar -C "$stage" --numeric-owner --owner=0 --group=0 -cf - . |
		ldocker import --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
			--change "LABEL wf-lab.inputs=$inputs" --change 'CMD ["/bin/sh"]' \
			- "$LAB_IMAGE" >/dev/null || die "docker import failed"
	rm -rf "$stage"
	ldocker image prune -f >/dev/null
}

cmd_up() {
	local started
	lab_lock
	check_tools
	if lab_healthy; then
		make_image
		say "already up"
		return 0
	fi
	if lab_exists; then
		say "removing what a previous run left behind"
		teardown
	fi
	started=$(date +%s%N)
	mkdir -p "$LAB_RUN/pids" "$LAB_RUN/logs" "$LAB_RUN/bg" "$LAB_DATA"
	trap 'step_failed $? up $LINENO' ERR
	set -eE
	make_hosts
	make_links
	isp_rules
	# dockerd takes longest to come up: start it first, set up the rest meanwhile.
	start_docker
	start_tunnel
	start_mail
	wait_for 10 tunnel_works || die "no ping through the tunnel (see $LAB_RUN/logs/wg-*.log)"
	wait_for 5 mail_listens || die "the mail host does not listen on tcp/25"
	wait_docker
	# The data root outlives the lab (it keeps the image): start from no containers.
	clean_docker
	make_image
	set +eE
	trap - ERR
	say "up in $((($(date +%s%N) - started) / 1000000)) ms"
}

# ---------------------------------------------------------------------------------------------
# down

# Signals PIDS and waits up to SECONDS for them to exit, then kills what is left.
stop_pids() {
	local seconds=$1 p
	local -a alive
	shift
	kill -TERM "$@" 2>/dev/null
	local end=$(($(now_us) + seconds * 1000000))
	while :; do
		alive=()
		for p in "$@"; do
			running "$p" && alive+=("$p")
		done
		[ ${#alive[@]} -eq 0 ] && return 0
		[ "$(now_us)" -lt "$end" ] || break
		sleep 0.1
	done
	kill -KILL "${alive[@]}" 2>/dev/null
	return 0
}

netns_pids() {
	local ns
	for ns in $(lab_namespaces); do
		ip netns pids "$ns" 2>/dev/null
	done
}

cgroup_pids() {
	local cg
	for cg in $(lab_cgroups); do
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
	done | sort -u
}

no_container_processes() {
	[ -z "$(cgroup_pids)" ]
}

teardown() {
	local pid ifname cg m ns
	# Containers first, while dockerd can still say which they are: a quick kill, then
	# dockerd and containerd get the chance to clean up after themselves.
	cmd_gw_docker_stop
	docker_answers && clean_docker 2>/dev/null
	if pid=$(pid_of dockerd); then
		stop_pids 15 "$pid"
	fi
	if pid=$(pid_of containerd); then
		stop_pids 5 "$pid"
	fi
	# What containers still run (when dockerd could not stop them): a container's init
	# ignores SIGTERM, and nothing in them needs saving.
	# shellcheck disable=SC2046
	kill -KILL $(cgroup_pids) 2>/dev/null
	wait_for 3 no_container_processes
	# Whatever else still runs in a lab namespace.
	# shellcheck disable=SC2046
	stop_pids 3 $(netns_pids)
	for cg in $(lab_cgroups); do
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	# Mounts can only be left in the root namespace by hand; the daemons' own died with them.
	awk -v run="$LAB_RUN/" -v data="$LAB_DATA/" \
		'index($2, run) == 1 || index($2, data) == 1 {print $2}' /proc/self/mounts |
		sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	for ns in $(lab_namespaces); do
		ip netns delete "$ns"
	done
	for ifname in "$LAB_GW_WG_IF" "$LAB_SRV_WG_IF" "$LAB_GW2_WG_IF" "$LAB_SRV_WG2_IF"; do
		if [ -S "$WG_SOCK_DIR/$ifname.sock" ] && ! wg show "$ifname" >/dev/null 2>&1; then
			rm -f "$WG_SOCK_DIR/$ifname.sock"
		fi
	done
	rmdir "$WG_SOCK_DIR" 2>/dev/null
	# containerd's shims keep their sockets in /run/containerd/s whatever the state directory.
	rmdir /run/containerd/s /run/containerd 2>/dev/null
	if [ -e "$LAB_RUN/made-run-docker" ]; then
		rmdir /run/docker/plugins /run/docker 2>/dev/null
	fi
	rm -rf "$LAB_RUN"
	return 0
}

cmd_down() {
	lab_lock
	teardown
	if [ "${1:-}" = --purge ]; then
		rm -rf "$LAB_DATA"
		say "down, docker data and image removed"
	else
		say "down"
	fi
}

# ---------------------------------------------------------------------------------------------
# status, reset, exec

cmd_status() {
	local h ns d pid state="up"
	if ! lab_exists; then
		say "down: no lab namespaces, no run state"
		return 3
	fi
	lab_healthy || state="partly up (not healthy)"
	say "$state"
	echo "hosts:"
	for h in $LAB_HOSTS; do
		ns=$(lab_ns "$h")
		if [ -e "/run/netns/$ns" ]; then
			ip -n "$ns" -brief address show | awk -v ns="$ns" '$1 != "lo" {
				sub(/@.*/, "", $1)
				addrs = ""
				for (i = 3; i <= NF; i++)
					if ($i !~ /^fe80:/)
						addrs = addrs " " $i
				printf "  %-10s %-10s%s\n", ns, $1, addrs
			}'
		else
			printf '  %-10s missing\n' "$ns"
		fi
	done
	echo "daemons:"
	for d in $DAEMONS; do
		if pid=$(pid_of "$d"); then
			printf '  %-11s running, pid %s, log %s\n' "$d" "$pid" "$LAB_RUN/logs/$d.log"
		else
			printf '  %-11s not running\n' "$d"
		fi
	done
	echo "tunnel:"
	if [ -S "$WG_SOCK_DIR/$LAB_SRV_WG_IF.sock" ]; then
		wg show "$LAB_SRV_WG_IF" latest-handshakes 2>/dev/null | while read -r _ t; do
			if [ "${t:-0}" -gt 0 ]; then
				echo "  $LAB_SRV_WG_IF -> $LAB_GW_PUB4:$LAB_WG_PORT: last handshake $(($(date +%s) - t)) s ago"
			else
				echo "  $LAB_SRV_WG_IF -> $LAB_GW_PUB4:$LAB_WG_PORT: no handshake yet"
			fi
		done
	else
		echo "  no $LAB_SRV_WG_IF"
	fi
	echo "docker:"
	if docker_answers; then
		echo "  dockerd $(ldocker version -f '{{.Server.Version}}' 2>/dev/null) answers on $LAB_DOCKER_HOST"
		echo "  containers: $(ldocker ps -q | wc -l) running, $(ldocker ps -aq | wc -l) in all"
		if ldocker image inspect "$LAB_IMAGE" >/dev/null 2>&1; then
			echo "  image $LAB_IMAGE present"
		else
			echo "  image $LAB_IMAGE missing"
		fi
		echo "  server firewall: $(in_ns "$LAB_NS_SRV" iptables -S FORWARD | head -n 1)"
	else
		echo "  not answering"
	fi
	if [ -e "/run/netns/$LAB_NS_INET" ]; then
		echo "home ISP (wf-inet, table inet wf-isp):"
		in_ns "$LAB_NS_INET" nft list counters table inet wf-isp 2>/dev/null |
			awk '/counter /{name=$2} /packets/{printf "  %-24s %s packets\n", name, $2}'
	fi
	[ "$state" = up ]
}

clean_docker() {
	local ids
	ids=$(ldocker ps -aq)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || ldocker rm -f $ids >/dev/null
	ldocker network prune -f >/dev/null
	ldocker volume prune -f >/dev/null
}

cmd_reset() {
	local f ns t
	lab_lock
	cmd_gw_docker_stop
	docker_answers && clean_docker
	for f in "$LAB_RUN"/bg/*.pid; do
		stop_spawned "$f"
	done
	cmd_gw2_down
	if [ -d "$LAB_RUN/pids" ] && ! pid_of wg-gw >/dev/null; then
		say "reset: starting the VPS's WireGuard a scenario left stopped"
		cmd_tunnel_start gw
	fi
	[ -e "$LAB_MAIL_LOG" ] && : >"$LAB_MAIL_LOG"
	# A daemon's table left by a scenario (they stay when the daemon stops, by design) would
	# meet the next scenario's traffic; said, so that the scenario gets its clean-up.
	for t in "$LAB_NS_GW inet wgfwd_gateway" "$LAB_NS_SRV inet wgfwd"; do
		set -- $t
		if ip netns exec "$1" nft list table "$2" "$3" >/dev/null 2>&1; then
			say "reset: removing table $2 $3 left in $1"
			ip netns exec "$1" nft delete table "$2" "$3" 2>/dev/null
		fi
	done
	# The tunnel's subnets routed from the internet to the gateway (lib.sh lab_route_tunnel).
	ip netns exec "$LAB_NS_INET" ip route del "$LAB_WG_NET4" 2>/dev/null
	ip netns exec "$LAB_NS_INET" ip -6 route del "$LAB_WG_NET6" 2>/dev/null
	# A flow left by one scenario must not steer the next one's packets.
	for ns in $LAB_NS_INET $LAB_NS_GW $LAB_NS_SRV $LAB_NS_CLIENT $LAB_NS_MAIL; do
		ip netns exec "$ns" conntrack -F >/dev/null 2>&1
	done
	return 0
}

cmd_spawn() {
	local name=$1 ns
	ns=$(lab_ns "$2") || exit 1
	shift 2
	[ -d "$LAB_RUN/bg" ] || die "the lab is not up"
	stop_spawned "$LAB_RUN/bg/$name.pid"
	spawn "$LAB_RUN/bg/$name.pid" "$LAB_RUN/bg/$name.log" nsenter --net="/run/netns/$ns" "$@"
}

usage() {
	sed -n '2,/^#$/p' "$LAB_SH" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
up) cmd_up ;;
down) cmd_down "$@" ;;
status) cmd_status ;;
reset) cmd_reset ;;
exec)
	[ $# -ge 2 ] || usage
	ns=$(lab_ns "$1") || exit 1
	shift
	exec ip netns exec "$ns" "$@"
	;;
docker) DOCKER_HOST=$LAB_DOCKER_HOST exec "$LAB_DOCKER_CLI" "$@" ;;
docker-stop) cmd_docker_stop ;;
docker-kill) cmd_docker_kill ;;
docker-start) cmd_docker_start ;;
gw-docker-start)
	lab_lock
	cmd_gw_docker_start
	;;
gw-docker-stop)
	lab_lock
	cmd_gw_docker_stop
	;;
gw-docker) DOCKER_HOST=$LAB_GW_DOCKER_HOST exec "$LAB_DOCKER_CLI" "$@" ;;
gw2-up)
	lab_lock
	cmd_gw2_up
	;;
gw2-down)
	lab_lock
	cmd_gw2_down
	;;
tunnel-stop | tunnel-start)
	[ $# -eq 1 ] || usage
	lab_lock
	"cmd_${cmd//-/_}" "$1"
	;;
spawn)
	[ $# -ge 3 ] || usage
	cmd_spawn "$@"
	;;
kill)
	[ $# -eq 1 ] || usage
	stop_spawned "$LAB_RUN/bg/$1.pid"
	;;
_whoami) socat_peer ;;
*) usage ;;
esac
