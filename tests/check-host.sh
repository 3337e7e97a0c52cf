#!/bin/bash
# The demo leaves the machine as it found it (make check). Takes a picture of the root network
# namespace and of what a host's Docker has — firewall (iptables, ip6tables, nftables), policy
# rules, routes, links, addresses, forwarding sysctls, mounts, Docker's and containerd's
# directories and sockets, lab daemons still running, and the containers and networks of a
# dockerd answering on /var/run/docker.sock — then runs `make demo` (tests/lab/demo.sh: lab
# up, both daemons, labelled containers, lab down) and takes the picture again. Each part
# that differs fails with its diff. Ends with one line:
#   host: N passed, N failed
#
#   tests/check-host.sh                   around the demo
#   tests/check-host.sh --around CMD...   around CMD instead (to see the check fail; undo
#                                         by hand what CMD did)
#
# Holds the lab lock for the whole run, so that no other lab user changes anything meanwhile.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=tests/lab/topology.sh
. "$ROOT/tests/lab/topology.sh"
passed=0
failed=0

if [ "$(id -u)" -ne 0 ]; then
	echo "host: the demo needs root"
	echo "host: 0 passed, 1 failed"
	exit 1
fi

pass() {
	passed=$((passed + 1))
	echo "ok    $*"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL  $*"
}

# Each part is one command whose output must not change; the names are the test names.
PARTS="iptables ip6tables nftables ip-rules ip-routes ip-links ip-addresses sysctls mounts
docker-dirs lab-processes host-docker"

part() {
	case "$1" in
	iptables) iptables-save 2>/dev/null | sed -E '/^#/d; s/ \[[0-9]+:[0-9]+\]$//' ;;
	ip6tables) ip6tables-save 2>/dev/null | sed -E '/^#/d; s/ \[[0-9]+:[0-9]+\]$//' ;;
	# -s: without counters, which move with the machine's own traffic.
	nftables) nft -s list ruleset 2>/dev/null ;;
	ip-rules)
		ip -4 rule show
		ip -6 rule show
		;;
	# Routes, without the lifetimes that count down by themselves.
	ip-routes) {
		ip -4 route show table all
		ip -6 route show table all
	} | sed -E 's/ expires [0-9]+sec//' ;;
	ip-links) ip -o link show | awk '{print $2, $3}' ;;
	ip-addresses) ip -o address show | awk '{print $2, $3, $4}' ;;
	sysctls) sysctl -a 2>/dev/null | grep -E \
		'^net\.ipv4\.(ip_forward|conf\.[^.]+\.(forwarding|rp_filter|route_localnet))|^net\.ipv6\.conf\.[^.]+\.(forwarding|accept_ra) |^net\.bridge\.' ;;
	# Mount point, type and source: the lab's namespaces and the daemons' mounts must be gone.
	mounts) awk '{for (i = 7; i <= NF; i++) if ($i == "-") {print $5, $(i + 1), $(i + 2); break}}' \
		/proc/self/mountinfo | sort ;;
	docker-dirs)
		find /etc/docker /run/docker /var/run/docker.sock /run/containerd /var/lib/docker \
			/var/lib/containerd /var/run/wireguard /run/netns /run/wf-lab -maxdepth 2 2>/dev/null | sort
		;;
	# The lab's daemons name its directories on their command lines (socat, the mail host's
	# sessions); a zombie that init has not reaped yet is gone already.
	# (The strings go through the environment so that this awk does not find itself.)
	lab-processes) ps -eo pid=,stat=,args= |
		A=$LAB_RUN B=$LAB_DATA C="lab.sh _smtp-session" awk '$2 !~ /^Z/ &&
			(index($0, ENVIRON["A"]) || index($0, ENVIRON["B"]) || index($0, ENVIRON["C"]))'
		;;
	host-docker)
		if curl -s -m 5 --unix-socket /var/run/docker.sock http://host/_ping >/dev/null 2>&1; then
			curl -s -m 10 --unix-socket /var/run/docker.sock 'http://host/containers/json?all=1' |
				jq -c 'sort_by(.Id)[] | [.Id, .Names, .State, .Image]'
			curl -s -m 10 --unix-socket /var/run/docker.sock http://host/networks |
				jq -c 'sort_by(.Id)[] | [.Id, .Name, .Driver, .IPAM.Config]'
		else
			echo "no dockerd answers on /var/run/docker.sock"
		fi
		;;
	esac
}

snapshot() { # DIR
	local p
	mkdir -p "$1"
	for p in $PARTS; do
		part "$p" >"$1/$p"
	done
	awk '{print $1}' /proc/modules 2>/dev/null | sort >"$1/modules"
}

# Any dockerd loads kernel modules (br_netfilter, overlay, nat helpers) that stay loaded; with
# br_netfilter come the net.bridge.* sysctls. Those are said, not failed: what must not change
# are the values the host already had.
note_modules() {
	local new
	if [ -s "$work/before/modules" ]; then
		new=$(comm -13 "$work/before/modules" "$work/after/modules" | tr '\n' ' ')
		[ -z "$new" ] || echo "note  kernel modules the demo loaded (they stay loaded): $new"
	fi
	grep -vE '^net\.bridge\.' "$work/after/sysctls" >"$work/after/sysctls.new"
	grep -E '^net\.bridge\.' "$work/after/sysctls" | while read -r key _; do
		if grep -q "^$key " "$work/before/sysctls"; then
			grep "^$key " "$work/after/sysctls"
		else
			echo "note  appeared with a kernel module: $key" >&2
		fi
	done >>"$work/after/sysctls.new"
	sort -o "$work/after/sysctls" "$work/after/sysctls.new"
	sort -o "$work/before/sysctls" "$work/before/sysctls"
}

if [ "${WF_LAB_LOCKED:-}" != 1 ]; then
	exec 8>"$LAB_LOCK"
	if ! flock -n 8; then
		echo "host: waiting for another lab user ($LAB_LOCK)"
		flock -w 1800 8 || {
			echo "host: 0 passed, 1 failed"
			exit 1
		}
	fi
	export WF_LAB_LOCKED=1
fi

# A lab left up (KEEP_LAB) shows in the root namespace's mounts: start from none.
"$ROOT/tests/lab/lab.sh" down >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
snapshot "$work/before"

if [ "${1:-}" = --around ]; then
	shift
	what="$*"
	cmd=("$@")
else
	what="make demo (tests/lab/demo.sh)"
	cmd=("$ROOT/tests/lab/demo.sh")
fi
started=$(date +%s%N)
"${cmd[@]}" >"$work/log" 2>&1
rc=$?
ms=$((($(date +%s%N) - started) / 1000000))
if [ "$rc" = 0 ]; then
	# The demo's own verdicts, for the record.
	sed -E 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -E '^ *(ok|NOT OK) ' | sed 's/^ */      | /'
	pass "$what: succeeded in $ms ms"
else
	tail -n 30 "$work/log" | sed 's/^/      | /'
	fail "$what: exit $rc after $ms ms"
fi

snapshot "$work/after"
note_modules
for p in $PARTS; do
	if diff -u "$work/before/$p" "$work/after/$p" >"$work/diff"; then
		pass "$p unchanged ($(wc -l <"$work/before/$p") lines)"
	else
		fail "$p changed:"
		sed -n '3,$p' "$work/diff" | grep '^[-+]' | head -n 20 | sed 's/^/      /'
	fi
done
echo "host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
