#!/bin/bash
# Newer Docker engines' firewall rules, reproduced around the lab's real containers. Debian 12
# installs only Docker 20.10, so the server namespace gets the kernel ruleset that a newer
# dockerd would write for the same bridge networks and containers:
#
#   docker_rules.sh save                  keep the lab dockerd's own iptables rules
#   docker_rules.sh iptables28            Docker 28's iptables rules in place of dockerd's
#   docker_rules.sh nft29 [MARK[/MASK]]   Docker 29's nftables backend: no iptables rules, the
#                                         tables ip/ip6 docker-bridges, and with MARK the rules
#                                         dockerd's bridge-accept-fwmark adds
#   docker_rules.sh restore               dockerd's own rules back, Docker 29's tables gone
#
# Run iptables28 or nft29 again after containers or networks change: it renders the whole
# ruleset from `docker network inspect` the way that dockerd keeps it in step (per-network
# chains and map elements, per-container raw drops). DOCKER-USER keeps what others put there,
# as Docker leaves it alone.
#
# Where the shapes come from (moby's golden files, integration/network/bridge/):
#   iptables28: iptablesdoc/generated/usernet-portmap{,-routed,-natunprot}.md at tag v28.5.2
#               (commit of the tag in github.com/moby/moby)
#   nft29:      nftablesdoc/generated/{new-daemon,usernet-portmap}.md and
#               daemon/libnetwork/drivers/bridge/internal/nftabler/network.go (ALLOW FW MARK)
#               at b985e2313a8676e18072b442911fc8f64f17d440 (docker-v29.7.2-150)
# A network's gateway mode is its com.docker.network.bridge.gateway_mode_ipv4/ipv6 option
# (nat, routed, nat-unprotected), as Docker 28 reads it; Docker 20.10 stores it unread.
# Docker drops a container's address arriving from other interfaces (raw PREROUTING) when the
# container publishes a port (-p) on a nat network. The lab's containers publish none (a -p
# would have the lab's dockerd 20.10 write its own rules): name in DOCKER_RULES_PUBLISHED
# (space-separated) the containers to treat as publishing one.
set -eu
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lab/topology.sh
. "$LAB_DIR/topology.sh"
SAVED=$LAB_RUN/docker-rules.saved

srv() {
	ip netns exec "$LAB_NS_SRV" "$@"
}

# One line per bridge network: "net BRIDGE MODE4 MODE6 SUBNET4 SUBNET6", then one per
# container that publishes a port: "ctr BRIDGE MODE4 ADDR4 ADDR6 MODE6" ("-": absent).
inventory() {
	local ids
	ids=$(DOCKER_HOST=$LAB_DOCKER_HOST docker network ls -q --filter driver=bridge)
	# shellcheck disable=SC2086
	DOCKER_HOST=$LAB_DOCKER_HOST docker network inspect $ids |
		jq -r --argjson published "$(printf '%s\n' ${DOCKER_RULES_PUBLISHED:-} | jq -R . | jq -s .)" '
		.[] | (.Options["com.docker.network.bridge.name"] // ("br-" + .Id[0:12])) as $br
		| (.Options["com.docker.network.bridge.gateway_mode_ipv4"] // "nat") as $m4
		| (.Options["com.docker.network.bridge.gateway_mode_ipv6"] // "nat") as $m6
		| ([.IPAM.Config[]?.Subnet | select(test(":") | not)][0] // "-") as $s4
		| ([.IPAM.Config[]?.Subnet | select(test(":"))][0] // "-") as $s6
		| "net \($br) \($m4) \($m6) \($s4) \($s6)",
		  (.Containers // {} | to_entries[] | .value
		   | select(.Name as $n | $published | index($n))
		   | "ctr \($br) \($m4) \(.IPv4Address // "" | sub("/.*"; "") | if . == "" then "-" else . end) \(.IPv6Address // "" | sub("/.*"; "") | if . == "" then "-" else . end) \($m6)")'
}

# Docker 28's filter, nat and raw tables for one family (4 or 6), as iptables-restore input.
render_iptables28() {
	local fam=$1 inv=$2 kind br m4 m6 s4 s6 a4 a6 mode subnet addr
	local docker="" bridge="" ct="" fwd_in="" iso1="" iso2="" post="" natdocker="" raw=""
	while read -r kind br m4 m6 s4 s6; do
		[ "$kind" = net ] || continue
		if [ "$fam" = 4 ]; then mode=$m4 subnet=$s4; else mode=$m6 subnet=$s6; fi
		[ "$subnet" = - ] && continue
		case "$mode" in
		routed)
			docker+="-A DOCKER -o $br -p $([ "$fam" = 4 ] && echo icmp || echo ipv6-icmp) -j ACCEPT"$'\n'
			docker+="-A DOCKER ! -i $br -o $br -j DROP"$'\n'
			iso1="-A DOCKER-ISOLATION-STAGE-1 -i $br -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"$'\n'"-A DOCKER-ISOLATION-STAGE-1 -o $br -j RETURN"$'\n'"$iso1"
			;;
		nat-unprotected)
			docker+="-A DOCKER ! -i $br -o $br -j ACCEPT"$'\n'
			post="-A POSTROUTING -s $subnet ! -o $br -j MASQUERADE"$'\n'"$post"
			;;
		*)
			docker+="-A DOCKER ! -i $br -o $br -j DROP"$'\n'
			post="-A POSTROUTING -s $subnet ! -o $br -j MASQUERADE"$'\n'"$post"
			;;
		esac
		bridge+="-A DOCKER-BRIDGE -o $br -j DOCKER"$'\n'
		ct+="-A DOCKER-CT -o $br -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"$'\n'
		fwd_in+="-A DOCKER-FORWARD -i $br -j ACCEPT"$'\n'
		iso1+="-A DOCKER-ISOLATION-STAGE-1 -i $br ! -o $br -j DOCKER-ISOLATION-STAGE-2"$'\n'
		iso2="-A DOCKER-ISOLATION-STAGE-2 -o $br -j DROP"$'\n'"$iso2"
		natdocker="-A DOCKER -i $br -j RETURN"$'\n'"$natdocker"
	done <<<"$inv"
	while read -r kind br m4 a4 a6 m6; do
		[ "$kind" = ctr ] || continue
		if [ "$fam" = 4 ]; then mode=$m4 addr=$a4; else mode=$m6 addr=$a6; fi
		[ "$addr" = - ] && continue
		[ "$mode" = nat ] && raw+="-A PREROUTING -d $addr/$([ "$fam" = 4 ] && echo 32 || echo 128) ! -i $br -j DROP"$'\n'
	done <<<"$inv"
	cat <<-EOF
		*filter
		:FORWARD DROP [0:0]
		:DOCKER - [0:0]
		:DOCKER-BRIDGE - [0:0]
		:DOCKER-CT - [0:0]
		:DOCKER-FORWARD - [0:0]
		:DOCKER-ISOLATION-STAGE-1 - [0:0]
		:DOCKER-ISOLATION-STAGE-2 - [0:0]
		-A FORWARD -j DOCKER-USER
		-A FORWARD -j DOCKER-FORWARD
		${docker}${bridge}${ct}-A DOCKER-FORWARD -j DOCKER-CT
		-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1
		-A DOCKER-FORWARD -j DOCKER-BRIDGE
		${fwd_in}${iso1}${iso2}COMMIT
		*nat
		:PREROUTING ACCEPT [0:0]
		:OUTPUT ACCEPT [0:0]
		:POSTROUTING ACCEPT [0:0]
		:DOCKER - [0:0]
		-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
		-A OUTPUT ! -d $([ "$fam" = 4 ] && echo 127.0.0.0/8 || echo ::1/128) -m addrtype --dst-type LOCAL -j DOCKER
		${post}${natdocker}COMMIT
		*raw
		:PREROUTING ACCEPT [0:0]
		${raw}COMMIT
	EOF
}

# Docker 29's table for one family ("ip" or "ip6"), as nft input.
render_nft29() {
	local fam=$1 inv=$2 mark=$3 kind br m4 m6 s4 s6 a4 a6 mode subnet addr saddr icmp last
	local jin="" jout="" jpin="" jpout="" chains="" raw="" markrule=""
	if [ -n "$mark" ]; then
		# as nftFwMark(): decimal numbers, "and MASK == MARK" with a mask
		if [ "${mark#*/}" != "$mark" ]; then
			markrule="meta mark and $((${mark#*/})) == $((${mark%/*})) counter accept comment \"ALLOW FW MARK\""
		else
			markrule="meta mark $((mark)) counter accept comment \"ALLOW FW MARK\""
		fi
	fi
	saddr=$([ "$fam" = ip ] && echo "ip saddr" || echo "ip6 saddr")
	while read -r kind br m4 m6 s4 s6; do
		[ "$kind" = net ] || continue
		if [ "$fam" = ip ]; then mode=$m4 subnet=$s4; else mode=$m6 subnet=$s6; fi
		[ "$subnet" = - ] && continue
		jin+="\"$br\" : jump filter-forward-in__$br, "
		jout+="\"$br\" : jump filter-forward-out__$br, "
		jpin+="\"$br\" : jump nat-postrouting-in__$br, "
		jpout+="\"$br\" : jump nat-postrouting-out__$br, "
		case "$mode" in
		routed) icmp="$([ "$fam" = ip ] && echo "ip protocol icmp" || echo "meta l4proto ipv6-icmp") counter accept comment \"ICMP\"" last='counter drop comment "UNPUBLISHED PORT DROP"' ;;
		nat-unprotected) icmp="" last='counter accept comment "UNPROTECTED"' ;;
		*) icmp="" last='counter drop comment "UNPUBLISHED PORT DROP"' ;;
		esac
		chains+="chain filter-forward-in__$br {
			ct state established,related counter accept
			${icmp}
			${markrule}
			iifname \"$br\" counter accept comment \"ICC\"
			${last}
		}
		chain filter-forward-out__$br {
			ct state established,related counter accept
			counter accept comment \"OUTGOING\"
		}
		chain nat-postrouting-in__$br {
		}
		chain nat-postrouting-out__$br {
			$([ "$mode" = routed ] || echo "oifname != \"$br\" $saddr $subnet counter masquerade comment \"MASQUERADE\"")
		}
"
	done <<<"$inv"
	while read -r kind br m4 a4 a6 m6; do
		[ "$kind" = ctr ] || continue
		if [ "$fam" = ip ]; then mode=$m4 addr=$a4; else mode=$m6 addr=$a6; fi
		[ "$addr" = - ] || [ "$mode" != nat ] && continue
		raw+="$fam daddr $addr iifname != \"$br\" counter drop comment \"DROP DIRECT ACCESS\"
"
	done <<<"$inv"
	cat <<-EOF
		table $fam docker-bridges {
			map filter-forward-in-jumps { type ifname : verdict; ${jin:+elements = { ${jin%, } \}} }
			map filter-forward-out-jumps { type ifname : verdict; ${jout:+elements = { ${jout%, } \}} }
			map nat-postrouting-in-jumps { type ifname : verdict; ${jpin:+elements = { ${jpin%, } \}} }
			map nat-postrouting-out-jumps { type ifname : verdict; ${jpout:+elements = { ${jpout%, } \}} }
			chain filter-FORWARD {
				type filter hook forward priority filter; policy drop;
				oifname vmap @filter-forward-in-jumps
				iifname vmap @filter-forward-out-jumps
			}
			chain nat-OUTPUT {
				type nat hook output priority -100; policy accept;
				$fam daddr != $([ "$fam" = ip ] && echo 127.0.0.0/8 || echo ::1) fib daddr type local counter jump nat-prerouting-and-output
			}
			chain nat-POSTROUTING {
				type nat hook postrouting priority srcnat; policy accept;
				iifname vmap @nat-postrouting-out-jumps
				oifname vmap @nat-postrouting-in-jumps
			}
			chain nat-PREROUTING {
				type nat hook prerouting priority dstnat; policy accept;
				fib daddr type local counter jump nat-prerouting-and-output
			}
			chain nat-prerouting-and-output {
			}
			chain raw-PREROUTING {
				type filter hook prerouting priority raw; policy accept;
				$raw
			}
			$chains
		}
	EOF
}

# No iptables rules at all, as a Docker 29 using nftables leaves the host.
iptables_empty() {
	local t cmd
	for cmd in iptables ip6tables; do
		srv "$cmd" -P FORWARD ACCEPT
		for t in filter nat raw; do
			srv "$cmd" -t "$t" -F
			srv "$cmd" -t "$t" -X
		done
	done
}

nft_tables_gone() {
	srv nft delete table ip docker-bridges 2>/dev/null || true
	srv nft delete table ip6 docker-bridges 2>/dev/null || true
}

case "${1:-}" in
save)
	srv iptables-save >"$SAVED.4"
	srv ip6tables-save >"$SAVED.6"
	;;
iptables28)
	inv=$(inventory)
	cmd=
	nft_tables_gone
	srv iptables -N DOCKER-USER 2>/dev/null || true
	srv ip6tables -N DOCKER-USER 2>/dev/null || true
	# built-in chains are not flushed by a --noflush restore: dockerd 20.10 left its rules
	# there (for IPv6 even before the jump to DOCKER-USER)
	for cmd in iptables ip6tables; do
		srv "$cmd" -F FORWARD
		srv "$cmd" -t nat -F PREROUTING
		srv "$cmd" -t nat -F OUTPUT
		srv "$cmd" -t nat -F POSTROUTING
		srv "$cmd" -t raw -F PREROUTING
	done
	render_iptables28 4 "$inv" | srv iptables-restore --noflush
	render_iptables28 6 "$inv" | srv ip6tables-restore --noflush
	;;
nft29)
	inv=$(inventory)
	iptables_empty
	{
		# replaced whole in one transaction, as dockerd's own updates are atomic
		echo "table ip docker-bridges {}; delete table ip docker-bridges"
		echo "table ip6 docker-bridges {}; delete table ip6 docker-bridges"
		render_nft29 ip "$inv" "${2:-}"
		render_nft29 ip6 "$inv" "${2:-}"
	} | srv nft -f -
	;;
restore)
	nft_tables_gone
	[ -s "$SAVED.4" ] && iptables_empty
	[ -s "$SAVED.4" ] && srv iptables-restore <"$SAVED.4"
	[ -s "$SAVED.6" ] && srv ip6tables-restore <"$SAVED.6"
	rm -f "$SAVED.4" "$SAVED.6"
	;;
*)
	sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
