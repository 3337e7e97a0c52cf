#!/bin/bash
# Builds the bench drivers into DIR (default build/bench): wfb_apply, which links the project's
# libraries (built by `make`), and wfb_net, static, since it also runs inside the lab's
# containers. bench/run.sh runs it before a run, tests/check-bench.sh in `make check`.
#   bench/build.sh [DIR]
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${1:-build/bench}
PKGS="libnftnl libmnl json-c libevent libsodium"
# The libcurl the programs link (the minimal one when it is built): "KIND CFLAGS... LIBS..."
read -r _ CURL_FLAGS < <(make -s --no-print-directory print-libcurl)
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes"
mkdir -p "$OUT"
# Someone else's build may be rewriting an archive for a moment: retry.
for try in 1 2 3; do
	# shellcheck disable=SC2046,SC2086
	cc -std=gnu11 -D_GNU_SOURCE -Iinclude -Iagent -O2 -g $WARN -Wno-unused-parameter \
		$(pkg-config --cflags $PKGS) -o "$OUT/wfb_apply" bench/wfb_apply.c \
		build/libwgfwd-agent.a build/libwgfwd-gateway.a build/libwgfwd-cli.a \
		build/libwgfwd-core.a $CURL_FLAGS $(pkg-config --libs $PKGS) && break
	[ "$try" = 3 ] && exit 1
	sleep 3
done
# shellcheck disable=SC2086
cc -std=gnu11 -D_GNU_SOURCE -O2 -g $WARN -static -o "$OUT/wfb_net" bench/wfb_net.c
# The agent's libraries alone, linked whole as the agent's own link line loads them.
# shellcheck disable=SC2046,SC2086
cc -std=gnu11 -D_GNU_SOURCE -O2 -g $WARN $(pkg-config --cflags $PKGS) -o "$OUT/wfb_floor" \
	bench/wfb_floor.c $CURL_FLAGS -Wl,--no-as-needed $(pkg-config --libs $PKGS)
