# tests/e2e/conntrack.sh: what the stale-conntrack scenarios share (sourced after lib.sh, with
# SPORT set: the one source port of the client's flows, used by no other scenario).
#   ct_forget HOST...             no entries of SPORT left on these hosts (the lab's reset
#                                 between scenarios leaves conntrack alone)
#   udp_sender FAM SRC DST        a one-way sender (lab process udpsender-FAM): a datagram
#                                 every 0.1 s, "seq N", from SRC:SPORT to DST:5353
#   received NAME                 datagrams container NAME received from the client's flows
#                                 ("ADDR PORT NAME seq N" lines): "IPv4-count IPv6-count"
#   receives NAME                 both flows reach NAME
# shellcheck shell=bash

ct_forget() {
	local host
	for host in "$@"; do
		on "$host" conntrack -D -f ipv4 -p udp --sport "$SPORT" >/dev/null 2>&1
		on "$host" conntrack -D -f ipv6 -p udp --sport "$SPORT" >/dev/null 2>&1
	done
	return 0
}

udp_sender() {
	lab_spawn "udpsender-$1" client sh -c "i=0; while :; do i=\$((i + 1)); \
		$HELPERS/udp_echo send -s $2 -p $SPORT -t 0 $3 $LAB_UDP_PORT \"seq \$i\" >/dev/null 2>&1; \
		sleep 0.1; done"
}

received() {
	local log
	log=$(ldocker logs "$1" 2>/dev/null)
	echo "$(grep -c "^$LAB_CLIENT4 $SPORT $1 seq " <<<"$log")" \
		"$(grep -c "^$LAB_CLIENT6 $SPORT $1 seq " <<<"$log")"
}

receives() {
	local n4 n6
	read -r n4 n6 < <(received "$1")
	[ "$n4" -gt 0 ] && [ "$n6" -gt 0 ]
}
