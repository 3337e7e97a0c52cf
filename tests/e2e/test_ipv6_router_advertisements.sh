#!/bin/bash
# A home line that hands out IPv6 by router advertisement (SLAAC): radvd on the ISP side of the
# server's link advertises a default route with a short lifetime. Turning IPv6 forwarding on
# makes Linux drop that route at once and ignore later advertisements on interfaces whose
# accept_ra is 1; the agent sets accept_ra=2 first, so the route stays. With
# --no-fix-sysctls and forwarding switched on by hand, the route is lost: the check can fail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

RA_LIFETIME=9
HOME_ROUTER6=2001:db8:2::fe # the ISP end of the server's link (tests/lab/lab.sh)
RADVD_CONF=$LAB_RUN/radvd.conf
orig_fwd=$(on srv sysctl -n net.ipv6.conf.all.forwarding)
orig_ra=$(on srv sysctl -n net.ipv6.conf.eth0.accept_ra)
orig_docker0_ra=$(on srv sysctl -n net.ipv6.conf.docker0.accept_ra)

# Back to the lab's static IPv6 default route for every other scenario.
restore() {
	lab_kill radvd
	on srv ip -6 route flush proto ra
	on srv sysctl -qw net.ipv6.conf.eth0.accept_ra="$orig_ra"
	on srv sysctl -qw net.ipv6.conf.all.forwarding="$orig_fwd"
	on srv ip -6 route replace default via "$HOME_ROUTER6"
}
on_exit restore
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop

ra_route() {
	on srv ip -6 route show default proto ra | grep -E '^default via fe80::.* dev eth0'
}

doctor() {
	on srv "$WGFWD_BIN/wgfwd" doctor --interface "$LAB_SRV_WG_IF"
}

# A SLAAC home server before wgfwd: forwarding off, accept_ra at its default, the default
# route learnt from the ISP's router.
on srv sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv6.conf.eth0.accept_ra=1
on srv ip -6 route del default via "$HOME_ROUTER6"
cat >"$RADVD_CONF" <<EOF
interface to-srv {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	AdvDefaultLifetime $RA_LIFETIME;
	prefix 2001:db8:2::/64 {
		AdvOnLink on;
		AdvAutonomous off;
	};
};
EOF
lab_spawn radvd inet radvd --nodaemon --logmethod stderr --config "$RADVD_CONF" \
	--pidfile "$LAB_RUN/radvd.pid"
check "the home line's router advertisement gives the server its IPv6 default route" \
	wait_until 10 ra_route
check_eq "no static IPv6 default route is left beside it" "" \
	on srv ip -6 route show default proto boot

# Without the fix: forwarding switched on by hand, the agent told not to touch sysctls.
on srv sysctl -qw net.ipv6.conf.all.forwarding=1
agent_start --no-fix-sysctls
check_match "with --no-fix-sysctls the agent reports accept_ra instead of changing it" \
	'eth0/accept_ra is 1; router advertisements are heard with IPv6 forwarding on' agent_log
check_eq "and eth0's accept_ra stays 1" 1 on srv sysctl -n net.ipv6.conf.eth0.accept_ra
# doctor exits 1 when a check fails.
check_match --status 1 "wgfwd doctor fails eth0's accept_ra while forwarding is on" \
	'^\[FAIL\] eth0: accept_ra is 1, router advertisements are ignored' doctor
check_match --status 1 "wgfwd doctor says what to set" 'sysctl -w net\.ipv6\.conf\.eth0\.accept_ra=2' doctor
sleep $((RA_LIFETIME + 3))
check_fails "without accept_ra=2 the RA default route is gone after its lifetime" ra_route
check_match "status warns about the settings" 'WARNING: forwarding, rp_filter or accept_ra' \
	agent_status
agent_stop

# With the fix: from the same start, the agent sets accept_ra=2 before forwarding.
on srv sysctl -qw net.ipv6.conf.all.forwarding=0
check "with forwarding off again the route comes back" wait_until 10 ra_route
agent_start --reconcile-interval 1000
check_eq "the agent switched IPv6 forwarding on" 1 \
	on srv sysctl -n net.ipv6.conf.all.forwarding
check_eq "and set eth0's accept_ra to 2" 2 on srv sysctl -n net.ipv6.conf.eth0.accept_ra
check_match "it says so in its log" \
	'set /proc/sys/net/ipv6/conf/eth0/accept_ra from 1 to 2: router advertisements' agent_log
check "the RA default route survives forwarding going on" ra_route
sleep $((RA_LIFETIME + 3))
check "the RA default route is still there after its lifetime" ra_route
check_eq "Docker's bridge keeps its accept_ra" "$orig_docker0_ra" \
	on srv sysctl -n net.ipv6.conf.docker0.accept_ra
check_match "wgfwd doctor finds accept_ra right" \
	'^\[ok  \] router advertisements stay heard with IPv6 forwarding on' doctor

# Drift: someone sets accept_ra back to 1; the next drift check repairs it.
on srv sysctl -qw net.ipv6.conf.eth0.accept_ra=1
check_eq "a drift check sets accept_ra to 2 again" 2 \
	wait_until 5 output_is 2 on srv sysctl -n net.ipv6.conf.eth0.accept_ra
sleep $((RA_LIFETIME + 3))
check "and the RA default route is there after another lifetime" ra_route
