#!/bin/sh
# `make install DESTDIR=... PREFIX=...`: the programs, man pages, systemd units whose paths
# follow PREFIX (and which start with Docker but do not die with it), and example
# configurations that the installed daemons accept as they are. Needs no root.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "check-install: FAIL: $*"; failures=$((failures + 1)); }

check_prefix() {
	prefix=$1 sysconfdir=$2
	d="$tmp/root$(echo "$prefix" | tr / _)"
	make -s -C "$top" install DESTDIR="$d" PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
		{ cat "$tmp/install.log"; fail "make install PREFIX=$prefix failed"; return; }
	for f in "$prefix/sbin/wgfwd-agent" "$prefix/sbin/wgfwd-gateway" "$prefix/bin/wgfwd"; do
		[ -x "$d$f" ] || fail "PREFIX=$prefix: no executable $f"
	done
	for f in "$prefix/share/man/man8/wgfwd-agent.8" "$prefix/share/man/man8/wgfwd-gateway.8" \
		"$prefix/share/man/man1/wgfwd.1"; do
		[ -f "$d$f" ] || fail "PREFIX=$prefix: no man page $f"
	done
	units="$d$prefix/lib/systemd/system"
	for u in agent gateway; do
		unit="$units/wgfwd-$u.service"
		[ -f "$unit" ] || { fail "PREFIX=$prefix: no $prefix/lib/systemd/system/wgfwd-$u.service"; continue; }
		exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
		case "$exec_start" in
		"$prefix/sbin/wgfwd-$u "*"--config $sysconfdir/wgfwd/$u.conf"*) ;;
		*) fail "PREFIX=$prefix: wgfwd-$u.service: ExecStart=$exec_start, want $prefix/sbin/wgfwd-$u ... --config $sysconfdir/wgfwd/$u.conf" ;;
		esac
		grep -q '@[A-Z]*@' "$unit" && fail "PREFIX=$prefix: wgfwd-$u.service keeps a template @NAME@"
		conf="$d$sysconfdir/wgfwd/$u.conf"
		[ -f "$conf" ] || { fail "PREFIX=$prefix: no $sysconfdir/wgfwd/$u.conf"; continue; }
		grep -q "$sysconfdir/wgfwd/server.key" "$conf" ||
			fail "PREFIX=$prefix: $u.conf does not name $sysconfdir/wgfwd/server.key"
		out=$(env -i "$d$prefix/sbin/wgfwd-$u" --config "$conf" --check-config 2>&1) ||
			fail "PREFIX=$prefix: the installed wgfwd-$u refuses its example $u.conf: $out"
		[ "$out" = "wgfwd-$u: configuration ok" ] ||
			fail "PREFIX=$prefix: wgfwd-$u --check-config said \`$out'"
	done
	check_confinement "$d" "$prefix" "$sysconfdir" "$units"
	agent_unit="$units/wgfwd-agent.service"
	grep -q '^Requires=.*docker' "$agent_unit" &&
		fail "wgfwd-agent.service Requires= docker: stopping Docker would stop the agent"
	grep -q '^Wants=.*docker.service' "$agent_unit" || fail "wgfwd-agent.service does not want docker.service"
	grep -q '^After=.*docker.service' "$agent_unit" || fail "wgfwd-agent.service is not ordered after docker.service"

	# A second install keeps the configuration the user edited.
	echo "# edited" >>"$d$sysconfdir/wgfwd/agent.conf"
	make -s -C "$top" install DESTDIR="$d" PREFIX="$prefix" >/dev/null 2>&1
	grep -q '^# edited$' "$d$sysconfdir/wgfwd/agent.conf" ||
		fail "PREFIX=$prefix: a second make install overwrote agent.conf"

	# systemd's own reading of the units, where it is installed (it needs nothing online).
	if command -v systemd-analyze >/dev/null; then
		mkdir -p "$tmp/verify"
		for u in agent gateway; do
			sed "s|=$prefix/sbin/|=$d$prefix/sbin/|" "$units/wgfwd-$u.service" >"$tmp/verify/wgfwd-$u.service"
		done
		out=$(systemd-analyze verify --man=no "$tmp/verify/wgfwd-agent.service" \
			"$tmp/verify/wgfwd-gateway.service" 2>&1) || fail "systemd-analyze verify: $out"
		# Its exposure score, read from the unit files alone: "OK" or better (SAFE), no worse
		# than the most this tree allows (the gateway's would be 2.2 as root), and the one
		# README states.
		for u in agent:2.1 gateway:1.8; do
			most=${u#*:} u=${u%:*}
			level=$(systemd-analyze security --offline=true --no-pager \
				"$tmp/verify/wgfwd-$u.service" 2>/dev/null |
				sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
			case "$level" in
			*" OK" | *" SAFE") [ "$prefix" = /usr ] && echo "check-install: wgfwd-$u.service: systemd-analyze security $level" ;;
			*) fail "wgfwd-$u.service: systemd-analyze security says '${level:-nothing}', want OK or SAFE" ;;
			esac
			awk -v l="${level%% *}" -v m="$most" 'BEGIN { exit !(l != "" && l + 0 <= m + 0) }' ||
				fail "wgfwd-$u.service: exposure ${level:-unknown}, want $most or lower"
			grep -qF "systemd-analyze security wgfwd-$u.service\`: $level" "$top/README.md" ||
				fail "README does not state wgfwd-$u.service's exposure as \`systemd-analyze security wgfwd-$u.service\`: $level"
		done
		rm -rf "$tmp/verify"
	fi
}

# The value of a unit's directive (the last one, as systemd reads it); every one with -a.
directive() {
	if [ "$1" = -a ]; then
		shift
		sed -n "s/^$1=//p" "$2"
	else
		sed -n "s/^$1=//p" "$2" | tail -n 1
	fi
}

want_directive() {
	unit=$1 name=$2 want=$3
	got=$(directive "$name" "$unit")
	[ "$got" = "$want" ] || fail "$(basename "$unit"): $name=$got, want $name=$want"
}

# What makes each daemon least-privileged, directive by directive: the gateway runs as a user of
# its own that sysusers.d creates, with CAP_NET_ADMIN alone, its keys handed over as
# credentials, its state and socket in directories of its own; the agent keeps uid 0 (the
# Docker socket makes it root-equivalent anyway) with CAP_NET_ADMIN alone. Both are confined.
check_confinement() {
	d=$1 prefix=$2 sysconfdir=$3 units=$4
	gw="$units/wgfwd-gateway.service"
	ag="$units/wgfwd-agent.service"
	[ -f "$gw" ] && [ -f "$ag" ] || return
	want_directive "$gw" User wgfwd
	want_directive "$gw" Group wgfwd
	grep -q '^DynamicUser=yes' "$gw" && fail "wgfwd-gateway.service: DynamicUser= makes /var/lib/wgfwd a symbolic link the gateway refuses"
	sysusers="$d$prefix/lib/sysusers.d/wgfwd.conf"
	grep -q '^u wgfwd ' "$sysusers" 2>/dev/null ||
		fail "PREFIX=$prefix: no $prefix/lib/sysusers.d/wgfwd.conf creating the user wgfwd"
	want_directive "$gw" StateDirectory wgfwd
	want_directive "$gw" StateDirectoryMode 0700
	want_directive "$gw" RuntimeDirectory wgfwd
	# The key gateway.conf names reaches the service under its own name.
	key=$(sed -n 's/^peer = [^=]*=//p' "$d$sysconfdir/wgfwd/gateway.conf" | head -n 1)
	want_directive "$gw" LoadCredential "$(basename "$key"):$key"
	for u in "$gw" "$ag"; do
		want_directive "$u" CapabilityBoundingSet CAP_NET_ADMIN
		want_directive "$u" AmbientCapabilities CAP_NET_ADMIN
		want_directive "$u" NoNewPrivileges yes
		want_directive "$u" ProtectSystem strict
		want_directive "$u" ProtectHome yes
		want_directive "$u" PrivateTmp yes
		want_directive "$u" PrivateDevices yes
		want_directive "$u" RestrictSUIDSGID yes
		want_directive "$u" RestrictNamespaces yes
		families=$(directive RestrictAddressFamilies "$u" | tr ' ' '\n' | sort | tr '\n' ' ')
		[ "$families" = "AF_INET AF_INET6 AF_NETLINK AF_UNIX " ] ||
			fail "$(basename "$u"): RestrictAddressFamilies=$families, want AF_NETLINK AF_UNIX AF_INET AF_INET6"
		[ "$(directive -a SystemCallFilter "$u" | head -n 1)" = @system-service ] ||
			fail "$(basename "$u"): the system call allow list is not @system-service"
		directive -a SystemCallFilter "$u" | grep -q '^~.*@resources' ||
			fail "$(basename "$u"): SystemCallFilter does not take @resources away"
	done
	directive -a SystemCallFilter "$gw" | grep -q '^~.*@privileged' ||
		fail "wgfwd-gateway.service: SystemCallFilter does not take @privileged away"
}

check_prefix /usr /etc
check_prefix /usr/local /usr/local/etc
[ "$failures" -eq 0 ] || exit 1
echo "check-install: ok: PREFIX=/usr (configuration in /etc) and PREFIX=/usr/local (in /usr/local/etc)"
