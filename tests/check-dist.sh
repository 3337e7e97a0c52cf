#!/bin/sh
# `make dist` from a tag, then the tarball alone: unpacked in a temporary directory (no git
# there), it builds, and each program's --version prints the tag's version.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-dist: FAIL: $*"; exit 1; }

# A clone, so that the tag made here never reaches the real repository; the tag is on the
# work tree as it is (tracked files, committed or not).
commit=$(git -C "$top" stash create)
[ -n "$commit" ] || commit=HEAD
git clone -q --no-hardlinks "$top" "$tmp/repo"
git -C "$tmp/repo" fetch -q "$top" "$commit"
git -C "$tmp/repo" -c user.name=t -c user.email=t@example.org tag -a v9.8.7 -m v9.8.7 FETCH_HEAD
git -C "$tmp/repo" checkout -q v9.8.7
make -s -C "$tmp/repo" dist TAG=v9.8.7 DISTDIR="$tmp" >"$tmp/dist.log" 2>&1 ||
	{ cat "$tmp/dist.log"; fail "make dist failed"; }
[ -f "$tmp/wgfwd-9.8.7.tar.gz" ] || fail "no wgfwd-9.8.7.tar.gz"
tar -tzf "$tmp/wgfwd-9.8.7.tar.gz" | grep -qx 'wgfwd-9.8.7/VERSION' || fail "no VERSION in the tarball"
tar -tzf "$tmp/wgfwd-9.8.7.tar.gz" | grep -q '\.git/' && fail "the tarball carries .git"

mkdir "$tmp/unpacked"
tar -xzf "$tmp/wgfwd-9.8.7.tar.gz" -C "$tmp/unpacked"
src="$tmp/unpacked/wgfwd-9.8.7"
[ ! -e "$src/.git" ] || fail "the unpacked tree has .git"
make -s -C "$src" -j2 all >"$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log"; fail "make in the unpacked tarball failed"; }
for p in wgfwd-agent wgfwd-gateway wgfwd; do
	out=$("$src/build/$p" --version) || fail "$p --version exited $?"
	case "$out" in
	"$p 9.8.7 (control channel: message version "[0-9]*) ;;
	*) fail "$p --version printed \`$out', want \`$p 9.8.7 (control channel: message version N...'" ;;
	esac
done
echo "check-dist: ok: wgfwd-9.8.7.tar.gz builds from its own files and says 9.8.7"
