#!/bin/bash
# wgfwd-gateway.service under a real systemd as PID 1: this host's root file system, under an
# overlay that keeps every write in memory, is booted by systemd-nspawn with a network of its
# own, the gateway put in by `make install` as a package would. The unit must start, run as the
# user wgfwd with CAP_NET_ADMIN alone, read its key through LoadCredential (the key file itself
# root's, mode 0600) and apply its ruleset. Needs root, overlayfs and systemd-nspawn (Debian's
# systemd-container); without systemd-nspawn it says so and skips.
#   tests/check-systemd.sh
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BOOT_TIMEOUT=${BOOT_TIMEOUT:-90}

if ! command -v systemd-nspawn >/dev/null || [ ! -x /lib/systemd/systemd ]; then
	echo "check-systemd: SKIP: no systemd-nspawn or systemd on this host"
	exit 0
fi
tmp=$(mktemp -d /tmp/wf-systemd.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"

# Everything below runs in a mount namespace of its own: the overlay and its tmpfs go with it.
unshare -m --propagation private bash -s "$top" "$tmp" "$BOOT_TIMEOUT" <<'INNER'
set -eu
top=$1 tmp=$2 timeout_s=$3
mkdir -p "$tmp/lower" "$tmp/mem" "$tmp/root"
mount --bind / "$tmp/lower" # the root file system alone, not what is mounted on it
mount -t tmpfs tmpfs "$tmp/mem"
mkdir -p "$tmp/mem/upper" "$tmp/mem/work"
mount -t overlay overlay \
	-o "lowerdir=$tmp/lower,upperdir=$tmp/mem/upper,workdir=$tmp/mem/work" "$tmp/root"
r=$tmp/root
make -s -C "$top" install DESTDIR="$r" PREFIX=/usr >/dev/null
(umask 077 && "$top/build/wgfwd" genkey "$r/etc/wgfwd/server.key" >/dev/null 2>&1)
chown root:root "$r/etc/wgfwd/server.key"
chmod 0600 "$r/etc/wgfwd/server.key"

u=$r/etc/systemd/system
mkdir -p "$u/wgfwd-gateway.service.d"
# The interfaces the example configuration names, inside the container's own network.
cat >"$u/wgfwd-check-net.service" <<'EOF'
[Unit]
Description=wg0 and eth0 for the gateway
DefaultDependencies=no
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -ec 'ip link set lo up; \
	ip link add wg0 type veth peer name wg0p; ip link add eth0 type veth peer name eth0p; \
	ip address add 192.168.160.1/24 dev wg0; ip address add 192.0.2.1/24 dev eth0; \
	for l in wg0 wg0p eth0 eth0p; do ip link set $l up; done'
EOF
printf '[Unit]\nRequires=wgfwd-check-net.service\nAfter=wgfwd-check-net.service\n' \
	>"$u/wgfwd-gateway.service.d/check.conf"
cat >"$u/wgfwd-check.service" <<'EOF'
[Unit]
Description=what the gateway's unit gave it
Wants=wgfwd-gateway.service
After=wgfwd-gateway.service
[Service]
Type=oneshot
StandardOutput=file:/wf-out/result
StandardError=inherit
ExecStart=/bin/sh -c 'for i in $(seq 150); do \
		journalctl -u wgfwd-gateway -o cat | grep -q "ruleset applied" && break; sleep 0.2; done; \
	pid=$(systemctl show -p MainPID --value wgfwd-gateway); \
	echo "active=$(systemctl is-active wgfwd-gateway)"; \
	echo "user=$(stat -c %%U /proc/$pid)"; \
	grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb):" /proc/$pid/status; \
	nft list table inet wgfwd_gateway >/dev/null 2>&1 && echo table=yes || echo table=no; \
	echo journal:; journalctl -u wgfwd-gateway -o cat --no-pager'
ExecStartPost=/bin/systemctl --no-block poweroff
EOF
cat >"$u/wgfwd-check.target" <<'EOF'
[Unit]
Description=the gateway and its check, nothing else of this host's
Requires=basic.target wgfwd-check.service
After=basic.target
AllowIsolate=yes
EOF
exec timeout "$timeout_s" systemd-nspawn -q -D "$r" --register=no --keep-unit --link-journal=no \
	--private-network --bind="$tmp/out:/wf-out" --console=pipe -M wf-systemd-check \
	--boot systemd.unit=wgfwd-check.target </dev/null >"$tmp/out/console" 2>&1
INNER
rc=$?

passed=0
failures=0
expect() { # expect WHAT COMMAND...
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		echo "check-systemd: FAIL: $what"
		failures=$((failures + 1))
	fi
}
result=$tmp/out/result
if [ ! -s "$result" ]; then
	echo "check-systemd: FAIL: the container gave no result (systemd-nspawn exit $rc)"
	tail -n 20 "$tmp/out/console" 2>/dev/null
	echo "systemd: 0 passed, 1 failed"
	exit 1
fi
expect "the container powers off by itself (exit $rc)" test "$rc" = 0
expect "wgfwd-gateway.service is active" grep -qx 'active=active' "$result"
expect "the gateway runs as the user wgfwd" grep -qx 'user=wgfwd' "$result"
# CAP_NET_ADMIN is bit 12, 0x1000: nothing else in the permitted, effective and bounding sets.
# The key file is root's, mode 0600: a daemon started as wgfwd that read it got it through
# its credential.
for set in Prm Eff Bnd; do
	expect "Cap$set is CAP_NET_ADMIN alone" grep -qx "Cap$set:	0000000000001000" "$result"
done

expect "no inheritable or ambient capability" test "$(grep -cxE 'Cap(Inh|Amb):	0{16}' "$result")" = 2
expect "table inet wgfwd_gateway is in the container" grep -qx 'table=yes' "$result"
expect "the gateway says its ruleset is applied" grep -q 'ruleset applied' "$result"
expect "the gateway says it runs with CAP_NET_ADMIN only" \
	grep -qE 'running as uid [0-9]+ gid [0-9]+ with CAP_NET_ADMIN only' "$result"
if [ "$failures" -gt 0 ] || [ -n "${V:-}" ]; then
	cat "$result"
fi
echo "systemd: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
