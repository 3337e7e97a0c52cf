#!/bin/bash
# make demo: the whole system on one machine, in the lab's network namespaces.
# For now it builds the lab, says what is there, and takes it down again.
#   KEEP_LAB=1 tests/lab/demo.sh    leave the lab up afterwards (tests/lab/lab.sh down)
set -u
LAB=$(cd "$(dirname "$0")" && pwd)/lab.sh

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the lab needs root" >&2
	exit 1
fi
if [ "${KEEP_LAB:-0}" != 1 ]; then
	trap '"$LAB" down' EXIT
	trap 'exit 130' INT TERM
fi

"$LAB" up || exit 1
cat <<'EOF'

The lab: five network namespaces on this machine.
  wf-client  someone on the internet (203.0.113.10, 2001:db8:c::10)
  wf-mail    a mail server on the internet, listening on tcp/25 (198.51.100.25, 2001:db8:25::25)
  wf-inet    the internet's router, and the home ISP that blocks outbound tcp/25 from the
             home line and drops ICMP "packet too big" (a PMTUD black hole)
  wf-gw      the gateway VPS with a public address (192.0.2.1, 2001:db8:1::1)
  wf-srv     the home server (home line 203.0.113.130, 2001:db8:2::2) running Docker,
             joined to the gateway by WireGuard (192.168.160.2 <-> 192.168.160.1)

EOF
"$LAB" status
