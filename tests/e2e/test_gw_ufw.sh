#!/bin/bash
# The VPS runs ufw at its defaults (Debian's package: `ufw enable`, deny incoming, deny routed):
# iptables INPUT and FORWARD have policy DROP. wgfwd-gateway's own accept rules at the top of
# those chains let its forwards, their replies, the egress it grants and new control
# connections through, with nothing edited in ufw; `ufw reload` does not break them, and a
# flush of the chains is repaired. Without those rules (--no-host-firewall) ufw drops the
# forwards and the control channel. The same holds for a hand-written `iptables -P FORWARD
# DROP` with no ufw at all. An nftables table of the VPS's own with drop policies is not
# edited: `wgfwd doctor --gateway` prints the commands, and running them makes wgfwd pass.
#
# ufw runs for real inside the gateway's network namespace, in a private mount namespace where
# /etc/ufw, /etc/default/ufw and /lib/ufw are bind-mounted from a copy under the lab's run
# directory: the machine's own files and firewall stay untouched (checked at the end).
# Every check opens new connections: ufw lets established ones through whatever the rules.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

UFW_DIR=$LAB_RUN/ufw

# ufw ARGS..., in the gateway's namespace, with its configuration from the private copy.
gw_ufw() {
	nsenter --net="/run/netns/$LAB_NS_GW" unshare -m --propagation private sh -c '
		d=$1; shift
		mount --bind "$d/etc/ufw" /etc/ufw &&
		mount --bind "$d/etc/default/ufw" /etc/default/ufw &&
		mount --bind "$d/lib/ufw" /lib/ufw && exec ufw "$@"' sh "$UFW_DIR" "$@"
}

ufw_setting() {
	sed -i "s|^$1=.*|$1=$2|" "$UFW_DIR/etc/default/ufw"
}

# The machine's own firewall and ufw files, to compare at the end.
root_state() {
	iptables -S 2>&1
	ip6tables -S 2>&1
	find /etc/ufw /etc/default/ufw /lib/ufw -type f -print0 | sort -z | xargs -0 md5sum
}

gw_rules_gone() {
	on gw iptables -P INPUT ACCEPT
	on gw iptables -P FORWARD ACCEPT
	on gw ip6tables -P INPUT ACCEPT
	on gw ip6tables -P FORWARD ACCEPT
	on gw nft delete table ip filter
	on gw nft delete table ip6 filter
}

# How many of the gateway's rules (they name the tunnel interface) iptables and ip6tables list.
our_rules() {
	local rules
	rules=$(on gw iptables -S && on gw ip6tables -S) || return 1
	printf '%s\n' "$rules" | grep_lines -c -- "-[io] $LAB_GW_WG_IF "
}

# What iptables prints besides the rules (a warning such as "incompatible"), and any rule it
# could not translate.
iptables_warnings() {
	on gw iptables -S 2>&1 >/dev/null
	on gw ip6tables -S 2>&1 >/dev/null
	{
		on gw iptables -S
		on gw ip6tables -S
	} | grep -i incompatible
	return 0
}

gw_hostfw_status() {
	gateway_status --json |
		jq -r '.host_firewall | "\(.enabled) \(.iptables_chains) \(.rules_in_place)"'
}

gw_iptables_line() {
	on gw iptables -S | tr '\n' ' '
}

# Rules inside ufw's chains (`ufw disable' empties them, and keeps the primary ones, empty).
gw_ufw_rules() {
	on gw iptables -S | grep -- '^-A ufw'
}

gw_has() {
	on gw "$1" -S | grep -qxF -- "$2"
}

rules_in_place() {
	gw_has iptables "$wgfwd_rule4" && gw_has iptables "$control_rule" &&
		gw_has ip6tables "$control_rule"
}

gw_doctor() {
	on gw "$WGFWD_BIN/wgfwd" doctor --gateway --interface "$LAB_GW_WG_IF" \
		--public-interface "$LAB_GW_PUB_IF"
}

peer_gone() {
	gateway_status --json | jq -e '[.peers[].connected] | any | not' >/dev/null
}

if ! command -v ufw >/dev/null; then
	check "ufw is installed (contrib/install-deps)" false
	exit 1
fi
root_before=$(root_state)
rm -rf "$UFW_DIR"
mkdir -p "$UFW_DIR/etc/default" "$UFW_DIR/lib"
cp -a /etc/ufw "$UFW_DIR/etc/ufw"
cp -a /etc/default/ufw "$UFW_DIR/etc/default/ufw"
cp -a /lib/ufw "$UFW_DIR/lib/ufw"
ufw_setting ENABLED no

on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop
on_exit gw_rules_gone
on_exit gw_ufw --force disable
on_exit rm -rf "$UFW_DIR"
rm -rf "$GATEWAY_STATE"

gateway_start
# A VPS running WireGuard under ufw already lets its port in: that is the user's own setup.
check "ufw allows WireGuard's port, as its owner set it up" gw_ufw allow "$LAB_WG_PORT/udp"
check "ufw is enabled in the gateway's namespace" gw_ufw --force enable
check_match "ufw's defaults: INPUT and FORWARD policy DROP" \
	'-P INPUT DROP.*-P FORWARD DROP.*-A FORWARD -j ufw-before-logging-forward' \
	gw_iptables_line

# ufw's commit is an nftables change: the gateway's drift repair adds its rules at once.
wgfwd_rule4="-A FORWARD -o $LAB_GW_WG_IF -m conntrack --ctstate DNAT -j ACCEPT"
control_rule="-A INPUT -i $LAB_GW_WG_IF -p tcp -m tcp --dport 51821 -j ACCEPT"
check "the gateway's accept rules are in iptables FORWARD and INPUT" wait_until 3 rules_in_place
check_eq "iptables and ip6tables read every chain without a warning" "" iptables_warnings
check_eq "each rule is there once" 10 our_rules
check_eq "the gateway's status says so" "true 4 10" \
	wait_until 3 output_is "true 4 10" gw_hostfw_status
check "wgfwd doctor --gateway finds no failure under ufw" gw_doctor
check_match "wgfwd doctor --gateway says ufw is handled, with the rules in place" \
	'^\[ok  \] ufw is active: wgfwd-gateway accepts its flows .*\(10 rules in place\)' gw_doctor

# The agent starts after ufw: its control connection is new.
AGENT_ARGS=(--gateway "$LAB_GW_WG4" --key "$WGFWD_KEY")
ldocker network create --ipv6 --subnet 172.31.0.0/24 --subnet fd00:31::/64 apps >/dev/null
lab_web_start web --network apps --label wgfwd.ports=80
_lab_start_service mail 25 tcp --network apps --label wgfwd.ports=25 \
	--label wgfwd.egress=smtp -- httpd -f -p 25 -h /www
agent_start "${AGENT_ARGS[@]}"

forwards_work() {
	check_eq "$1: the client's IPv4 address reaches the container" "$LAB_CLIENT4" \
		wait_until "${2:-5}" lab_http_get client "$LAB_GW_PUB4" 80
	check_eq "$1: the client's IPv6 address reaches the container" "$LAB_CLIENT6" \
		wait_until "${2:-5}" lab_http_get -s "$LAB_CLIENT6" client "$LAB_GW_PUB6" 80
}

check_eq "under ufw, a new control connection comes up" true \
	wait_until 10 output_is true agent_jq .gateway.connected
forwards_work "under ufw"

smtp_from() {
	: >"$LAB_MAIL_LOG"
	echo QUIT | ldocker exec -i "$1" nc -w 3 "$LAB_MAIL4" 25 >/dev/null 2>&1
	lab_mail_peers | head -n 1
}
check_eq "under ufw, granted egress leaves through the gateway" "$LAB_GW_PUB4" \
	wait_until 5 smtp_from mail

# Egress the peer was not granted stays dropped by the gateway's own table, ufw or not: from
# the server's tunnel address, routed into the tunnel for this check only.
lab_listen mail 8025
on srv ip route add "$LAB_MAIL4/32" dev "$LAB_SRV_WG_IF" src "$LAB_SRV_WG4"
check "under ufw, the tunnel path to the mail host carries granted tcp/25" \
	lab_tcp_connect srv "$LAB_MAIL4" 25
check_fails "under ufw, egress the peer was not granted (tcp/8025) is still dropped" \
	lab_tcp_connect srv "$LAB_MAIL4" 8025
check "tcp/8025 on the mail host answers by another path (the home line)" \
	lab_tcp_connect inet "$LAB_MAIL4" 8025
on srv ip route del "$LAB_MAIL4/32" dev "$LAB_SRV_WG_IF"

ldocker stop -t 0 web >/dev/null
check_fails "a stopped container's port does not answer" lab_tcp_connect client "$LAB_GW_PUB4" 80
ldocker start web >/dev/null
forwards_work "after the container's restart"

agent_stop
check "the gateway sees the agent go" wait_until 5 peer_gone
agent_start "${AGENT_ARGS[@]}"
check_eq "a restarted agent makes a new control connection through ufw" true \
	wait_until 10 output_is true agent_jq .gateway.connected

# `ufw reload` flushes and refills ufw's chains only: the built-in chains keep the rules.
check "ufw reload" gw_ufw reload
forwards_work "right after ufw reload" 2
# With MANAGE_BUILTINS=yes ufw flushes the built-in chains too: the gateway puts its rules back.
repairs() {
	grep -c "put back" "$LAB_RUN/bg/gateway.log"
}
repaired_again() {
	[ "$(repairs)" -gt "$repairs_before" ]
}
repairs_before=$(repairs)
ufw_setting MANAGE_BUILTINS yes
check "ufw reload, flushing the built-in chains" gw_ufw reload
check_match "ufw flushed and refilled FORWARD" '-A FORWARD -j ufw-before-logging-forward' \
	on gw iptables -S FORWARD
forwards_work "within 2 s of a flush of the built-in chains" 2
check "the gateway logged the repair" wait_until 2 repaired_again
check_eq "the rules are there once each after the repair" 10 our_rules
ufw_setting MANAGE_BUILTINS no
check_eq "the agent's control connection lived through it" true agent_jq .gateway.connected

# The safeguard: without its rules, ufw drops wgfwd's traffic.
gateway_stop
gateway_start --no-host-firewall
check_eq "--no-host-firewall removes the gateway's rules" 0 our_rules
check_match "wgfwd doctor --gateway warns that the rules are missing, with the commands" \
	'^\[WARN\] ufw is active and .* not in place \(0 of 10\)' gw_doctor
check_match "... and the ufw commands that would do the same" \
	"ufw route allow in on $LAB_GW_PUB_IF out on $LAB_GW_WG_IF" gw_doctor
check "the gateway still holds the forward (restored from its state)" \
	on gw nft get element inet wgfwd_gateway fwd4 '{ tcp . 80 }'
check_fails "without the rules, ufw drops a new forwarded connection" \
	lab_tcp_connect client "$LAB_GW_PUB4" 80
check_fails "without the rules, ufw drops a new control connection" \
	wait_until 6 output_is true agent_jq .gateway.connected
gateway_stop
gateway_start
check_eq "with the rules back, the agent reconnects" true \
	wait_until 20 output_is true agent_jq .gateway.connected
forwards_work "with the rules back"

# A hand-written iptables policy drop, no ufw.
check "ufw disable" gw_ufw --force disable
on gw iptables -P FORWARD DROP
on gw ip6tables -P FORWARD DROP
check_fails "ufw's chains are empty" gw_ufw_rules
check_match "FORWARD policy is DROP" '^-P FORWARD DROP' on gw iptables -S FORWARD
forwards_work "iptables -P FORWARD DROP without ufw"
gateway_stop
gateway_start --no-host-firewall
check_fails "iptables -P FORWARD DROP: without the rules a new forwarded connection is dropped" \
	lab_tcp_connect client "$LAB_GW_PUB4" 80
gateway_stop
gateway_start
check "with the rules back, the forward works again" \
	wait_until 3 lab_tcp_connect client "$LAB_GW_PUB4" 80

# An nftables ruleset of the VPS's own, with drop policies: wgfwd does not edit it, doctor
# says what to add, and those exact commands make the forwards and the control channel pass.
doctor_nft_commands() {
	gw_doctor | sed -n 's/^ *\(-> \)\{0,1\}\(nft insert rule .*\)$/\2/p'
}
doctor_nft_count() {
	doctor_nft_commands | wc -l
}
run_doctor_nft_commands() {
	doctor_nft_commands | on gw sh -e
}
on_exit on gw nft delete table inet host
on gw nft -f - <<EOF
table inet host {
	chain fw {
		type filter hook forward priority 10; policy drop;
	}
	chain in {
		type filter hook input priority 10; policy drop;
		ct state established,related accept
		iif lo accept
		meta l4proto { icmp, ipv6-icmp } accept
		udp dport $LAB_WG_PORT accept
	}
}
EOF
check_fails "a foreign forward chain with policy drop stops a new forwarded connection" \
	lab_tcp_connect client "$LAB_GW_PUB4" 80
check_match "wgfwd doctor --gateway names the foreign chain" \
	'^\[WARN\] table inet host, chain fw \(forward hook, policy drop\) drops' gw_doctor
check_eq "... with one nft command per accept (4 forward, 1 input)" 5 doctor_nft_count
check "the printed nft commands run" run_doctor_nft_commands
forwards_work "through the foreign drop chains, with doctor's commands"
agent_stop
agent_start "${AGENT_ARGS[@]}"
check_eq "a new control connection passes the foreign input chain" true \
	wait_until 20 output_is true agent_jq .gateway.connected
check_match "wgfwd doctor --gateway is content with the chain now" \
	'^\[ok  \] table inet host, chain fw \(forward hook, policy drop\) accepts traffic' gw_doctor
on gw nft delete table inet host

# A running gateway would put its rules straight back: stop it first.
gateway_stop
on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup >/dev/null 2>&1
check_eq "--cleanup removes the gateway's rules from the iptables chains" 0 our_rules

check_eq "the machine's own firewall and ufw files are untouched" "$root_before" root_state
