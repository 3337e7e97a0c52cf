#!/bin/bash
# Reads the ELF files of a build to prove the hardening flags took. For each program:
#   - position-independent executable (PIE);
#   - full RELRO: a GNU_RELRO segment and BIND_NOW;
#   - a non-executable stack;
#   - stack protector and _FORTIFY_SOURCE: it calls __stack_chk_fail and fortified __*_chk
#     functions;
# and, on x86, every object of wgfwd's own libraries carries the CET (IBT, SHSTK) property. The
# programs themselves carry it only when the C library's start files do, which Debian 12's do
# not, so the objects are what can be checked.
# The agent and the CLI link libcurl built in (contrib/libcurl-minimal: HTTP over a Unix socket,
# hardened the same way) and load none of the system libcurl's TLS, SSH, LDAP or Kerberos
# libraries.
# Ends with one line:  hardening: N passed, N failed
#
#   tests/check-hardening.sh              build/
#   BUILD=DIR tests/check-hardening.sh    another build directory
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
passed=0
failed=0

check() {
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL  $what"
	fi
}

is_pie() {
	readelf -hW "$1" | grep -q 'Type:.*DYN' && readelf -dW "$1" | grep -q 'FLAGS_1.*PIE'
}

has_full_relro() {
	readelf -lW "$1" | grep -q GNU_RELRO && readelf -dW "$1" | grep -qE 'BIND_NOW|FLAGS_1.*NOW'
}

stack_not_executable() {
	readelf -lW "$1" | grep GNU_STACK | grep -qv RWE
}

calls() {
	nm -D "$1" | grep -qE "$2"
}

# The program holds libcurl itself and names no libcurl, TLS, SSH, LDAP or GSSAPI library.
curl_built_in() {
	local needed
	needed=$(readelf -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	if grep -E '^lib(curl|ssl|crypto|gnutls|ssh2|ldap|lber|gssapi|krb5|nghttp2|rtmp|psl|idn2)' <<<"$needed"; then
		echo "      loads the libraries above: built with the system's libcurl (\`make libcurl', then rebuild)"
		return 1
	fi
	nm "$1" 2>/dev/null | grep -q ' [Tt] curl_easy_init$'
}

cet_objects() {
	local lib=$1 abs obj dir bad=0
	abs=$(readlink -f "$lib")
	dir=$(mktemp -d)
	(cd "$dir" && ar x "$abs") || bad=1
	for obj in "$dir"/*.o; do
		if ! readelf -nW "$obj" | grep -q 'x86 feature: IBT, SHSTK'; then
			echo "      no CET property: $lib($(basename "$obj"))"
			bad=1
		fi
	done
	rm -rf "$dir"
	return "$bad"
}

for prog in wgfwd-agent wgfwd-gateway wgfwd; do
	f=$BUILD/$prog
	if [ ! -x "$f" ]; then
		check "$prog: built" false
		continue
	fi
	check "$prog: position-independent executable" is_pie "$f"
	check "$prog: full RELRO (GNU_RELRO and BIND_NOW)" has_full_relro "$f"
	check "$prog: stack not executable" stack_not_executable "$f"
	check "$prog: stack protector (__stack_chk_fail)" calls "$f" ' __stack_chk_fail'
	check "$prog: _FORTIFY_SOURCE (__*_chk calls)" calls "$f" ' __[a-z]+_chk@'
done
for prog in wgfwd-agent wgfwd; do
	[ -x "$BUILD/$prog" ] &&
		check "$prog: libcurl built in, no TLS, SSH, LDAP or Kerberos library loaded" curl_built_in "$BUILD/$prog"
done
case "$(uname -m)" in
x86_64 | i?86)
	for lib in "$BUILD"/libwgfwd-*.a "${CURL_DIR:-build-libcurl}/lib/libcurl.a"; do
		check "$(basename "$lib"): CET property on every object" cet_objects "$lib"
	done
	;;
esac
echo "hardening: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
