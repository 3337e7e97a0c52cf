#!/bin/bash
# A new user's first commands, checked (make check). Ends with one line:
#   setup: N passed, N failed
#
#   - contrib/install-deps on a throwaway Debian root (mmdebstrap) that holds a stand-in
#     `docker-ce` package conflicting with docker.io, as Docker's own does: an engine that
#     answers is taken as one and kept; one whose dockerd does not answer is not taken for an
#     engine, and the install is refused by name rather than removing docker-ce; no service
#     may start while it installs, and an administrator's policy-rc.d is left as it was;
#   - `wgfwd genkey FILE` and `wgfwd genkey > FILE`: modes, refusal to overwrite, exit codes;
#   - tests/check.sh run by a user other than root fails with a line saying why.
#
# The Debian root is made once per machine and kept in $SETUP_CACHE (default
# /var/cache/wgfwd-test); each run unpacks a fresh copy, runs apt-get update in it against the
# machine's Debian mirror, and deletes it at the end.
#
#   tests/check-setup.sh              everything
#   tests/check-setup.sh keys         only the named parts (deps, keys, nonroot)
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
SETUP_CACHE=${SETUP_CACHE:-/var/cache/wgfwd-test}
passed=0
failed=0
scratch=$(mktemp -d /var/tmp/wf-setup.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

pass() {
	passed=$((passed + 1))
	echo "ok    $*"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL  $*"
}

# check DESCRIPTION CMD...: one test, passed when CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then
		pass "$what"
	else
		fail "$what"
	fi
}

has() { # TEXT STRING
	grep -qF -- "$2" <<<"$1"
}

lacks() { # TEXT WORD...: none of the words is in the text
	local text=$1 w
	shift
	for w; do
		! grep -qw -- "$w" <<<"$text" || return 1
	done
}

has_lines() { # TEXT LINE...: each is a whole line of the text
	local text=$1 l
	shift
	for l; do
		grep -qxF -- "$l" <<<"$text" || return 1
	done
}

same_file() { # A B: same content and mode
	cmp -s "$1" "$2" && [ "$(stat -c %a "$1")" = "$(stat -c %a "$2")" ]
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ---------------------------------------------------------------------------------------------
# contrib/install-deps on a throwaway Debian root

debian_mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $0 !~ /\[.*\]/ && $2 ~ /\/debian\/?$/ {print $2; exit}' \
		/etc/apt/sources.list 2>/dev/null)
	echo "${m:-http://deb.debian.org/debian}"
}

debian_suite() {
	local s
	s=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	echo "${s:-bookworm}"
}

# The base root: the smallest variant with a working apt and dpkg, made once and kept.
base_tarball() {
	local suite tar started
	suite=$(debian_suite)
	tar=$SETUP_CACHE/debian-$suite-apt.tar
	mkdir -p "$SETUP_CACHE"
	(
		flock -w 900 7 || exit 1
		[ -f "$tar" ] && [ -s "$tar" ] && exit 0
		# mmdebstrap takes a target name it does not know the ending of for a directory: what
		# an earlier version of this test left here is one.
		rm -rf "$tar" "$tar.tmp"
		started=$(now_ms)
		echo "setup: making a Debian $suite root for the install-deps test (once per machine)" >&2
		mmdebstrap --quiet --variant=apt --mode=root --format=tar "$suite" "$tar.tmp" \
			"$(debian_mirror)" >&2 && [ -f "$tar.tmp" ] && mv "$tar.tmp" "$tar" || {
			rm -rf "$tar.tmp"
			exit 1
		}
		echo "setup: $tar made in $(($(now_ms) - started)) ms" >&2
	) 7>"$SETUP_CACHE/.lock" || return 1
	echo "$tar"
}

# in_root CMD...: CMD in the throwaway root, with /proc mounted in a mount namespace of its own
# (nothing is mounted in the machine's) and in a PID namespace of its own, so that a service a
# package started despite policy-rc.d would die with CMD.
in_root() {
	unshare --mount --propagation private --pid --fork \
		sh -c 'mount -t proc proc "$0/proc" && mount -t devpts devpts "$0/dev/pts" &&
			exec chroot "$0" "$@"' "$droot" "$@"
}

# standin NAME DOCKERD-ANSWERS CLIENT: a `docker-ce' package like Docker's own (it conflicts
# with docker.io and provides nothing) carrying small programs that print versions: dockerd,
# containerd, containerd-shim-runc-v2, runc and, if CLIENT is yes, docker.
standin() {
	local name=$1 works=$2 client=$3 d=$scratch/$1 p
	mkdir -p "$d/DEBIAN" "$d/usr/bin"
	cat >"$d/DEBIAN/control" <<-EOF
		Package: docker-ce
		Version: 5:99.0.0-1~standin
		Architecture: all
		Maintainer: wgfwd tests <tests@wgfwd.invalid>
		Conflicts: docker.io
		Description: stand-in for Docker CE in wgfwd's install-deps test
	EOF
	if [ "$works" = yes ]; then
		printf '#!/bin/sh\necho "Docker version 99.0.0-standin, build 0000000"\n' >"$d/usr/bin/dockerd"
	else
		printf '#!/bin/sh\necho "dockerd: cannot execute binary file" >&2\nexit 126\n' >"$d/usr/bin/dockerd"
	fi
	for p in containerd containerd-shim-runc-v2 runc; do
		printf '#!/bin/sh\necho "%s 99.0.0-standin"\n' "$p" >"$d/usr/bin/$p"
	done
	if [ "$client" = yes ]; then
		printf '#!/bin/sh\necho "Docker version 99.0.0-standin, build 0000000"\n' >"$d/usr/bin/docker"
	fi
	chmod 755 "$d"/usr/bin/*
	dpkg-deb --root-owner-group -Zgzip -b "$d" "$droot/tmp/$name.deb" >/dev/null
}

# use_standin NAME: replace whatever stand-in is installed by NAME.
use_standin() {
	in_root dpkg --purge docker-ce >/dev/null 2>&1
	in_root dpkg -i "/tmp/$1.deb" >/dev/null
}

pkg_state() {
	in_root dpkg-query -W -f='${Status}' "$1" 2>/dev/null
}

is_installed() {
	[ "$(pkg_state "$1")" = "install ok installed" ]
}

not_installed() {
	! is_installed "$1"
}

# install_deps ARGS...: the real script, run inside the root; sets out and rc.
install_deps() {
	cp "$ROOT/contrib/install-deps" "$droot/tmp/install-deps"
	out=$(in_root env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${pkgs+WGFWD_DEPS_PACKAGES="$pkgs"} \
		/tmp/install-deps "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/      | /'
}

check_deps() {
	local tar started
	local droot out rc pkgs
	started=$(now_ms)
	if [ "$(id -u)" -ne 0 ]; then
		fail "install-deps on a throwaway root: needs root (chroot, dpkg)"
		return
	fi
	tar=$(base_tarball) || {
		fail "could not make a Debian root with mmdebstrap"
		return
	}
	droot=$scratch/root
	mkdir "$droot"
	tar -C "$droot" -xf "$tar"
	cp /etc/resolv.conf /etc/hosts "$droot/etc/"
	# dpkg asks this probe, as it runs, what policy-rc.d says about starting a service.
	cat >"$droot/etc/apt/apt.conf.d/99wf-policy-probe" <<-'EOF'
		DPkg::Pre-Invoke { "if [ -x /usr/sbin/policy-rc.d ]; then /usr/sbin/policy-rc.d docker start; echo $? >>/tmp/policy-seen; else echo none >>/tmp/policy-seen; fi"; };
	EOF
	if ! in_root apt-get update -qq; then
		fail "apt-get update in the throwaway root"
		return
	fi
	echo "setup: root unpacked and apt lists fetched in $(($(now_ms) - started)) ms"
	standin ce yes yes
	standin ce-broken no yes
	standin ce-noclient yes no
	rm -f "$droot/usr/sbin/policy-rc.d"

	echo "-- docker-ce (a stand-in) whose programs answer"
	use_standin ce
	unset pkgs
	install_deps --dry-run
	check "full list, dry run: succeeds" [ "$rc" = 0 ]
	check "full list, dry run: the engine is taken as present, by its dockerd" \
		has "$out" "Docker engine present: Docker version 99.0.0-standin"
	check "full list, dry run: plans clang (apt's real resolver ran)" \
		grep -qE '^install-deps: with their dependencies, apt will install: .*\bclang\b' <<<"$out"
	check "full list, dry run: plans no docker.io" lacks "$out" docker.io
	pkgs=psmisc
	install_deps --check
	check "--check: exit 1 naming only the plain package missing" \
		test "$rc" = 1 -a "$(grep -c 'missing packages: psmisc$' <<<"$out")" = 1
	install_deps
	check "install: succeeds" [ "$rc" = 0 ]
	check "install: says what it will install first" has "$out" "install-deps: will install: psmisc"
	check "install: psmisc installed" is_installed psmisc
	check "install: docker-ce kept" is_installed docker-ce
	check "install: docker.io not installed" not_installed docker.io
	check "install: no service could start meanwhile (policy-rc.d said 101)" \
		grep -qx 101 "$droot/tmp/policy-seen"
	check "install: its own policy-rc.d removed afterwards" \
		test ! -e "$droot/usr/sbin/policy-rc.d"
	install_deps --if-missing
	check "--if-missing with nothing missing: silent, exit 0" test "$rc" = 0 -a -z "$out"

	echo "-- an administrator's policy-rc.d"
	printf '#!/bin/sh\n# the administrator'"'"'s\nexit 104\n' >"$scratch/policy-rc.d"
	chmod 750 "$scratch/policy-rc.d"
	cp -p "$scratch/policy-rc.d" "$droot/usr/sbin/policy-rc.d"
	rm -f "$droot/tmp/policy-seen"
	pkgs="psmisc netcat-openbsd"
	install_deps
	check "install: succeeds" [ "$rc" = 0 ]
	check "install: netcat-openbsd installed" is_installed netcat-openbsd
	check "install: the administrator's policy-rc.d was the one asked" \
		grep -qx 104 "$droot/tmp/policy-seen"
	check "install: the administrator's policy-rc.d is unchanged (content and mode)" \
		same_file "$scratch/policy-rc.d" "$droot/usr/sbin/policy-rc.d"
	rm -f "$droot/usr/sbin/policy-rc.d"

	echo "-- docker-ce (a stand-in) whose dockerd does not answer"
	use_standin ce-broken
	install_deps
	check "install: refused with exit 1" [ "$rc" = 1 ]
	check "install: says dockerd is not taken for an engine" \
		has "$out" "/usr/bin/dockerd does not answer \`dockerd --version': not taken for an engine"
	check "install: says what is in the way and that nothing changed" \
		has "$out" "refusing: installing docker.io would remove docker-ce; nothing was changed."
	check "install: says what to do" has "$out" "docker-ce, docker-ce-cli, containerd.io), so that"
	check "install: docker-ce kept" is_installed docker-ce
	check "install: docker.io not installed" not_installed docker.io
	check "install: containerd not installed" not_installed containerd

	echo "-- docker-ce (a stand-in) with an engine but no docker client"
	use_standin ce-noclient
	pkgs=""
	install_deps --check
	check "--check: the missing client is named by its Debian package" \
		test "$rc" = 1 -a "$(grep -c 'missing packages: docker.io$' <<<"$out")" = 1
	install_deps
	check "install: refused with exit 1, naming docker-ce" \
		test "$rc" = 1 -a "$(grep -c 'would remove docker-ce; nothing was changed\.$' <<<"$out")" = 1
	check "install: docker-ce kept" is_installed docker-ce
	check "install: docker.io not installed" not_installed docker.io

	echo "-- a docker client alone (static, in /usr/local/bin), no engine"
	in_root dpkg --purge docker-ce >/dev/null 2>&1
	printf '#!/bin/sh\necho "Docker version 28.2.2, build e6534b4"\n' >"$droot/usr/local/bin/docker"
	chmod 755 "$droot/usr/local/bin/docker"
	install_deps --dry-run
	check "dry run: a client is not taken for an engine" \
		has "$out" "no dockerd: /usr/local/bin/docker alone is a client, not an engine"
	check "dry run: exit 0, plans docker.io, removes nothing" \
		test "$rc" = 0 -a "$(grep -c '^install-deps: with their dependencies, apt will install: .*\bdocker\.io\b' <<<"$out")" = 1
	echo "setup: install-deps checks took $(($(now_ms) - started)) ms"
}

# ---------------------------------------------------------------------------------------------
# wgfwd genkey

mode_of() {
	stat -c %a "$1"
}

# genkey_run UMASK ARGS... [> FILE via GENKEY_OUT]: sets out (stdout), errout, rc.
genkey_run() {
	local mask=$1
	shift
	if [ -n "${GENKEY_OUT:-}" ]; then
		errout=$( (umask "$mask" && exec "$BUILD/wgfwd" genkey "$@" >>"$GENKEY_OUT") 2>&1)
		rc=$?
		out=""
	else
		out=$( (umask "$mask" && exec "$BUILD/wgfwd" genkey "$@") 2>"$scratch/err")
		rc=$?
		errout=$(cat "$scratch/err")
	fi
}

is_key_file() { # FILE: one line, "wgfwd1:" and 44 base64 characters
	[ "$(wc -l <"$1")" = 1 ] && grep -qxE 'wgfwd1:[A-Za-z0-9+/]{43}=' "$1"
}

check_keys() {
	local d=$scratch/keys k sum out errout rc
	mkdir -p "$d"
	if [ ! -x "$BUILD/wgfwd" ]; then
		fail "$BUILD/wgfwd is not built (make)"
		return
	fi
	echo "-- wgfwd genkey FILE"
	k=$d/server.key
	genkey_run 022 "$k"
	check "genkey FILE under umask 022: exit 0, nothing printed" test "$rc" = 0 -a -z "$out$errout"
	check "genkey FILE: mode 600" test "$(mode_of "$k")" = 600
	check "genkey FILE: one key line" is_key_file "$k"
	genkey_run 0277 "$d/tight.key"
	check "genkey FILE under umask 0277: exit 0, mode 600 all the same" \
		test "$rc" = 0 -a "$(mode_of "$d/tight.key")" = 600
	sum=$(sha256sum <"$k")
	genkey_run 022 "$k"
	check "genkey FILE again: exit 1, says it was not overwritten" \
		test "$rc" = 1 -a "$errout" = "wgfwd genkey: $k already exists: not overwritten (a key in use would be lost; remove it first to make a new one)"
	check "genkey FILE again: the key in it is unchanged" test "$(sha256sum <"$k")" = "$sum"
	ln -s "$d/elsewhere" "$d/link.key"
	genkey_run 022 "$d/link.key"
	check "genkey through a dangling symlink: exit 1, nothing created behind it" \
		test "$rc" = 1 -a ! -e "$d/elsewhere"
	genkey_run 022 "$d/no/such/dir/k"
	check "genkey into a missing directory: exit 1, names the file" \
		test "$rc" = 1 -a "$errout" = "wgfwd genkey: $d/no/such/dir/k: No such file or directory"

	echo "-- wgfwd genkey > FILE"
	GENKEY_OUT=$d/redirected.key
	(umask 022 && : >"$GENKEY_OUT")
	genkey_run 022
	check "genkey > FILE (the shell made it 644): exit 0, quiet" test "$rc" = 0 -a -z "$errout"
	check "genkey > FILE: made private, mode 600" test "$(mode_of "$GENKEY_OUT")" = 600
	check "genkey > FILE: one key line" is_key_file "$GENKEY_OUT"
	GENKEY_OUT=$d/notes.txt
	echo "something else" >"$GENKEY_OUT"
	chmod 644 "$GENKEY_OUT"
	genkey_run 022
	check "genkey >> a 644 file with content: mode left, the chmod to run is said" \
		test "$rc" = 0 -a "$(mode_of "$GENKEY_OUT")" = 644 -a \
		"$errout" = "wgfwd genkey: $GENKEY_OUT has mode 0644 and the daemons will refuse it: chmod 600 $GENKEY_OUT (or use \`wgfwd genkey FILE')"
	unset GENKEY_OUT
	genkey_run 022
	check "genkey to a pipe: the key on stdout" grep -qxE 'wgfwd1:[A-Za-z0-9+/]{43}=' <<<"$out"

	echo "-- usage"
	genkey_run 022 a b
	check "genkey with two arguments: exit 2, usage on stderr" \
		test "$rc" = 2 -a -z "$out" -a "$(head -n 1 <<<"$errout")" = "Usage: wgfwd genkey [FILE]"
	genkey_run 022 --bogus
	check "genkey --bogus: exit 2" test "$rc" = 2
	genkey_run 022 --help
	check "genkey --help: exit 0, usage on stdout" \
		test "$rc" = 0 -a "$(head -n 1 <<<"$out")" = "Usage: wgfwd genkey [FILE]"

	echo "-- the daemons' word on a key file they refuse"
	if [ "$(id -u)" -eq 0 ] && [ -x "$BUILD/wgfwd-gateway" ]; then
		chmod 644 "$k"
		# In a network namespace of its own: it stops at the key, but nothing may leak.
		out=$(timeout 10 unshare -n "$BUILD/wgfwd-gateway" --interface wg0 \
			--public-interface eth0 --peer "192.168.160.2=$k" --state-dir "$d/state" \
			--foreground 2>&1)
		rc=$?
		check "gateway with a 644 key file: exit 1, names the chmod to run" \
			test "$rc" = 1 -a "$(grep -c "key file $k has mode 0644: .*: chmod 600 $k\$" <<<"$out")" = 1
	fi
}

# ---------------------------------------------------------------------------------------------
# make check as a user other than root

# The real tests/check.sh in a copy of the tree whose suites are stubs that each pass once,
# so that only its decision about root is tested; it records what it was asked to run.
stub_tree() {
	local t=$1 s
	mkdir -p "$t/tests" "$t/bin"
	cp tests/check.sh "$t/tests/check.sh"
	for s in $(grep -oE 'tests/[a-z0-9/_-]+\.sh' tests/check.sh | sort -u); do
		[ "$s" = tests/check.sh ] && continue
		mkdir -p "$t/$(dirname "$s")"
		printf '#!/bin/sh\necho "%s" >>"$STUB_LOG"\necho "stub: 1 passed, 0 failed"\n' "$s" >"$t/$s"
		chmod 755 "$t/$s"
	done
	cat >"$t/bin/make" <<-'EOF'
		#!/bin/sh
		for a; do case "$a" in -*|*=*) ;; *) echo "make $a" >>"$STUB_LOG" ;; esac; done
		echo "stub: 1 passed, 0 failed"
	EOF
	chmod 755 "$t/bin/make"
	chmod -R a+rX "$t"
}

run_stub_check() { # TREE [setpriv args...]
	local t=$1
	shift
	: >"$t/log"
	chmod 666 "$t/log"
	out=$("$@" env PATH="$t/bin:$PATH" STUB_LOG="$t/log" "$t/tests/check.sh" 2>&1)
	rc=$?
}

check_nonroot() {
	local t out rc
	t=$(mktemp -d /tmp/wf-check-stub.XXXXXX)
	chmod 755 "$t"
	stub_tree "$t"
	echo "-- tests/check.sh as nobody"
	if [ "$(id -u)" -eq 0 ]; then
		run_stub_check "$t" setpriv --reuid=65534 --regid=65534 --clear-groups
	else
		run_stub_check "$t"
	fi
	printf '%s\n' "$out" | grep -v '^stub:' | sed 's/^/      | /'
	check "as non-root: exit 1" test "$rc" = 1
	check "as non-root: a line says root is needed for the kernel and end-to-end suites" \
		grep -q '^check: the kernel, end-to-end and host suites need root' <<<"$out"
	check "as non-root: the totals count it as failed" \
		grep -qE '^check: [0-9]+ passed, 1 failed, 0 skipped$' <<<"$out"
	check "as non-root: kernel and e2e not started" \
		lacks "$(cat "$t/log")" check-kernel check-e2e check-host
	if [ "$(id -u)" -eq 0 ]; then
		echo "-- tests/check.sh as root"
		run_stub_check "$t"
		check "as root: exit 0, 0 failed" \
			test "$rc" = 0 -a "$(grep -cE '^check: [0-9]+ passed, 0 failed, 0 skipped$' <<<"$out")" = 1
		check "as root: kernel, e2e and host suites run" \
			has_lines "$(cat "$t/log")" "make check-kernel" "make check-e2e" "tests/check-host.sh"
	fi
	rm -rf "$t"
}

# ---------------------------------------------------------------------------------------------

parts=${*:-keys nonroot deps}
for part in $parts; do
	case "$part" in
	deps) check_deps ;;
	keys) check_keys ;;
	nonroot) check_nonroot ;;
	*)
		fail "unknown part \`$part'"
		;;
	esac
done
echo "setup: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
