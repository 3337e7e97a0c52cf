#!/bin/bash
# The wgfwd-agent container image, built from the repository's Dockerfile in the lab's Docker.
#
#   image.sh [build]    make sure debian:bookworm and wgfwd-agent:test are in the lab's Docker
#                       and current (the lab must be up: tests/lab/lab.sh up)
#   image.sh base       only debian:bookworm
#   image.sh base-tar   only the cached base tarball; prints its path (needs no lab)
#
# No image registry is reachable here, so the Debian base is made locally:
#   mmdebstrap --variant=minbase bookworm base.tar   (about 170 MB, a minute or two)
#   docker import base.tar debian:bookworm
# The tarball is kept in $WGFWD_IMAGE_CACHE (default /var/cache/wgfwd-lab), which outlives
# `lab.sh down --purge`, and made afresh once it is older than $WGFWD_BASE_MAX_AGE days (30);
# when that fails an older one is used. With no tarball and no way to make one, this fails.
#
# How `apt-get` inside the build reaches Debian: the lab's dockerd lives in wf-srv, which has
# no route to the mirror (and must not: the mirror's address may lie in the lab's ranges). The
# build runs with `--network host`, i.e. in wf-srv, and with the build argument
# http_proxy=http://127.0.0.1:3142 (one of Docker's predefined proxy arguments: the Dockerfile
# needs no change for it and the image does not keep it). Port 3142 on wf-srv's loopback is a
# socat that hands each connection through a Unix socket to a socat in the root namespace,
# which connects to the mirror: apt sends proxy requests (absolute URLs with a Host header),
# which an HTTP/1.1 server answers like any other, and every source of the base image is on
# that one mirror. Both socats live only as long as this script.
#
# The build's layers stay in the lab's Docker data root (until `lab.sh down --purge`): a rerun
# with unchanged sources takes seconds, a change under agent/ or include/ recompiles without
# reaching the network. The build stage is tagged (wgfwd-lab/agent-build:cache) so that a
# `docker image prune` does not take it.
#
# The gateway's image (the Dockerfile's target gateway) is built beside the agent's, from the
# same build stage. Both carry the work tree's version (make print-version).
#
# Environment: WGFWD_IMAGE (wgfwd-agent:test), WGFWD_GATEWAY_IMAGE (wgfwd-gateway:test),
# WGFWD_IMAGE_CACHE, WGFWD_BASE_MAX_AGE,
# WGFWD_DEBIAN_MIRROR (http://deb.debian.org).
set -u

LAB_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
ROOT=$(cd "$LAB_DIR/../.." && pwd)
# shellcheck source=tests/lab/topology.sh
. "$LAB_DIR/topology.sh"

IMAGE=${WGFWD_IMAGE:-wgfwd-agent:test}
GATEWAY_IMAGE=${WGFWD_GATEWAY_IMAGE:-wgfwd-gateway:test}
CACHE=${WGFWD_IMAGE_CACHE:-/var/cache/wgfwd-lab}
MAX_AGE=${WGFWD_BASE_MAX_AGE:-30}
MIRROR=${WGFWD_DEBIAN_MIRROR:-http://deb.debian.org}
SUITE=bookworm
VARIANT=minbase
BASE_TAG=debian:$SUITE
BASE_REPO=wgfwd-lab/debian-base
BUILD_CACHE_TAG=wgfwd-lab/agent-build:cache
PROXY_PORT=3142
PROXY_SOCK=$LAB_RUN/wfimg-apt.sock

# What the base image's apt reads: the suite, its updates and its security fixes, as in the
# images Debian publishes.
SOURCES="deb $MIRROR/debian $SUITE main
deb $MIRROR/debian $SUITE-updates main
deb $MIRROR/debian-security $SUITE-security main"

say() {
	echo "image: $*" >&2
}

die() {
	echo "image: $*" >&2
	exit 1
}

ldocker() {
	DOCKER_HOST=$LAB_DOCKER_HOST "$LAB_DOCKER_CLI" "$@"
}

seconds_since() {
	echo $(($(date +%s) - $1))
}

# ---------------------------------------------------------------------------------------------
# The base tarball

base_key() {
	printf '%s\n%s\n%s\n' "$SUITE" "$VARIANT" "$SOURCES" | sha256sum | cut -c1-12
}

base_tar_path() {
	echo "$CACHE/debian-$SUITE-$VARIANT-$(base_key).tar"
}

make_base_tar() {
	local tar=$1 log=$1.log tmp=$1.tmp started
	local -a sources=()
	mapfile -t sources <<<"$SOURCES"
	command -v mmdebstrap >/dev/null || {
		say "mmdebstrap is missing (run \`make deps')"
		return 1
	}
	say "making the Debian $SUITE base with mmdebstrap (a minute or two; log $log)"
	started=$(date +%s)
	rm -f "$tmp"
	if ! mmdebstrap --variant="$VARIANT" --format=tar "$SUITE" "$tmp" "${sources[@]}" \
		>"$log" 2>&1; then
		rm -f "$tmp"
		tail -n 15 "$log" >&2
		say "mmdebstrap failed: is $MIRROR reachable from this machine?"
		return 1
	fi
	mv -f "$tmp" "$tar"
	say "base tarball made in $(seconds_since "$started") s: $tar ($(du -h "$tar" | cut -f1))"
}

# Prints the path of a usable base tarball, making one when there is none or it is too old.
cmd_base_tar() {
	local tar
	tar=$(base_tar_path)
	mkdir -p "$CACHE" || die "cannot create $CACHE"
	# Two builds on one machine make the tarball once.
	exec 7>"$CACHE/.lock"
	flock -w 900 7 || die "$CACHE/.lock is held by someone else for too long"
	if [ -s "$tar" ] && [ -n "$(find "$tar" -mtime "-$MAX_AGE")" ]; then
		echo "$tar"
		return 0
	fi
	if ! make_base_tar "$tar"; then
		if [ -s "$tar" ]; then
			say "using the older base tarball $tar"
			echo "$tar"
			return 0
		fi
		die "no Debian base image: cannot make $tar (mmdebstrap needs Debian's mirror)"
	fi
	echo "$tar"
}

# ---------------------------------------------------------------------------------------------
# The lab's Docker

need_docker() {
	[ "$(curl -s -m 2 --unix-socket "$LAB_DOCKER_SOCK" http://lab/_ping 2>/dev/null)" = OK ] ||
		die "the lab's Docker does not answer on $LAB_DOCKER_SOCK (tests/lab/lab.sh up)"
}

lab_lock() {
	[ "${WF_LAB_LOCKED:-}" = 1 ] && return 0
	exec 9>"$LAB_LOCK"
	flock -w 600 9 || die "another lab operation still holds $LAB_LOCK"
	export WF_LAB_LOCKED=1
}

# Imports the tarball as debian:bookworm unless that very tarball is already there. The
# import is tagged by the tarball's identity; debian:bookworm points at the current one.
cmd_base() {
	local tar ref started old
	tar=$(cmd_base_tar) || exit 1
	need_docker
	ref=$BASE_REPO:$(base_key)-$(stat -c %Y "$tar")
	if ! ldocker image inspect "$ref" >/dev/null 2>&1; then
		started=$(date +%s)
		ldocker import --change 'CMD ["bash"]' "$tar" "$ref" >/dev/null ||
			die "docker import of $tar failed"
		say "imported $tar in $(seconds_since "$started") s"
	fi
	ldocker tag "$ref" "$BASE_TAG" || die "cannot tag $ref as $BASE_TAG"
	for old in $(ldocker image ls --format '{{.Repository}}:{{.Tag}}' "$BASE_REPO"); do
		[ "$old" = "$ref" ] || ldocker rmi "$old" >/dev/null 2>&1
	done
	return 0
}

# ---------------------------------------------------------------------------------------------
# The build

proxy_pids=()

stop_proxy() {
	local pid
	for pid in "${proxy_pids[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null
	done
	proxy_pids=()
	rm -f "$PROXY_SOCK"
}

proxy_ready() {
	[ -S "$PROXY_SOCK" ] &&
		[ -n "$(nsenter --net="/run/netns/$LAB_NS_SRV" ss -Htln "sport = :$PROXY_PORT")" ]
}

start_proxy() {
	local hostport=${MIRROR#*://} tries=50
	hostport=${hostport%%/*}
	case "$hostport" in
	*:*) ;;
	*) hostport=$hostport:80 ;;
	esac
	[ -z "$(nsenter --net="/run/netns/$LAB_NS_SRV" ss -Htln "sport = :$PROXY_PORT")" ] ||
		die "port $PROXY_PORT is already taken in $LAB_NS_SRV"
	rm -f "$PROXY_SOCK"
	trap stop_proxy EXIT
	setsid socat "UNIX-LISTEN:$PROXY_SOCK,fork,mode=600" "TCP:$hostport" \
		</dev/null >/dev/null 2>&1 &
	proxy_pids+=($!)
	setsid nsenter --net="/run/netns/$LAB_NS_SRV" socat \
		"TCP4-LISTEN:$PROXY_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$PROXY_SOCK" \
		</dev/null >/dev/null 2>&1 &
	proxy_pids+=($!)
	while [ "$tries" -gt 0 ]; do
		proxy_ready && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	die "the way to Debian's mirror for the build did not come up"
}

# The work tree as the context, as a user builds it: .dockerignore keeps it to what the
# Dockerfile copies.
docker_build() {
	local log=$1
	shift
	ldocker build --network host --build-arg "http_proxy=http://127.0.0.1:$PROXY_PORT" \
		--build-arg "WGFWD_VERSION=$VERSION" "$@" "$ROOT" >>"$log" 2>&1
}

cmd_build() {
	local log=$LAB_RUN/logs/image-build.log started
	lab_lock
	cmd_base
	mkdir -p "$(dirname "$log")"
	: >"$log"
	VERSION=$(make -s -C "$ROOT" --no-print-directory print-version)
	start_proxy
	started=$(date +%s)
	if ! docker_build "$log" --target build -t "$BUILD_CACHE_TAG" ||
		! docker_build "$log" --target gateway -t "$GATEWAY_IMAGE" ||
		! docker_build "$log" -t "$IMAGE"; then
		tail -n 30 "$log" >&2
		die "docker build failed (whole log: $log)"
	fi
	stop_proxy
	# The image this build replaced, and build stages of older sources.
	ldocker image prune -f >/dev/null
	say "built $IMAGE and $GATEWAY_IMAGE ($VERSION) in $(seconds_since "$started") s ($(ldocker image inspect -f '{{.Size}}' "$IMAGE" |
		awk '{printf "%.0f MB", $1 / 1e6}'))"
}

case "${1:-build}" in
build) cmd_build ;;
base)
	lab_lock
	cmd_base
	;;
base-tar) cmd_base_tar ;;
*)
	sed -n '2,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
