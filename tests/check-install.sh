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
		# Its exposure score: "OK" or better (SAFE), read from the unit files alone.
		for u in agent gateway; do
			level=$(systemd-analyze security --offline=true --no-pager \
				"$tmp/verify/wgfwd-$u.service" 2>/dev/null |
				sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
			case "$level" in
			*" OK" | *" SAFE") [ "$prefix" = /usr ] && echo "check-install: wgfwd-$u.service: systemd-analyze security $level" ;;
			*) fail "wgfwd-$u.service: systemd-analyze security says '${level:-nothing}', want OK or SAFE" ;;
			esac
		done
		rm -rf "$tmp/verify"
	fi
}

check_prefix /usr /etc
check_prefix /usr/local /usr/local/etc
[ "$failures" -eq 0 ] || exit 1
echo "check-install: ok: PREFIX=/usr (configuration in /etc) and PREFIX=/usr/local (in /usr/local/etc)"
