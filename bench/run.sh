#!/bin/bash
# wgfwd benchmarks (make bench). Numbers and ratios measured side by side in one run; nothing
# here passes or fails on a timing. Needs root; uses private network namespaces (wfb-*), and
# the test lab for the end-to-end part. Results: bench/RESULTS.md (by hand, from this output).
#
#   bench/run.sh [programming] [packet] [lab]    sections (default: all three)
#   BENCH_QUICK=1 bench/run.sh                   a few-minute subset
#
#   programming  N forwards programmed by wgfwd vs iptables per rule, iptables-restore, nft -f;
#                one change among N; the agent's per-event work; data-structure memory
#   packet       new connections/s, handshake latency, throughput through a gateway namespace
#                with 1 and 10,000 forwards vs a 10,000-rule DNAT chain
#   lab          convergence from docker start, a burst, daemon memory/CPU, tunnel MTU/MSS
#                (bench/lab_bench.sh; waits for the lab lock like tests/e2e/run.sh)
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUTDIR=$ROOT/build/bench
SECTIONS=${*:-programming packet lab}
QUICK=${BENCH_QUICK:-0}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
for tool in unshare ip nft iptables iptables-restore jq curl cc pkg-config; do
	command -v "$tool" >/dev/null || {
		echo "bench: missing $tool (make deps)" >&2
		exit 1
	}
done

if [ "$QUICK" = 1 ]; then
	SIZES="1 100 1000 10000"
	CT_SIZES="0 10000"
	REPS=3
	PACKET_ROUNDS=1
	PACKET_SECONDS=2
	export RUNS=10 LATE_RUNS=5 BURST=20 MEM_CONTAINERS=30 TPUT_REPS=1 TPUT_SECONDS=3
else
	SIZES="1 100 1000 10000 50000"
	CT_SIZES="0 1000 10000 100000"
	REPS=5
	PACKET_ROUNDS=3
	PACKET_SECONDS=2
	export RUNS=${RUNS:-50} LATE_RUNS=${LATE_RUNS:-15} BURST=${BURST:-100} MEM_CONTAINERS=${MEM_CONTAINERS:-200}
	export TPUT_REPS=${TPUT_REPS:-3} TPUT_SECONDS=${TPUT_SECONDS:-5}
fi

# The drivers link against the project's libraries, built by `make` (the bench target's
# prerequisites). Someone else's build may be rewriting an archive for a moment: retry.
build_drivers() {
	local pkgs="libnftnl libmnl libcurl json-c libevent libsodium" try
	mkdir -p "$OUTDIR"
	for try in 1 2 3; do
		# shellcheck disable=SC2046
		cc -std=gnu11 -D_GNU_SOURCE -Iinclude -Iagent -O2 -g -Wall -Wextra -Werror -Wshadow \
			-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
			$(pkg-config --cflags $pkgs) -o "$OUTDIR/wfb_apply" bench/wfb_apply.c \
			build/libwgfwd-agent.a build/libwgfwd-gateway.a build/libwgfwd-cli.a \
			build/libwgfwd-core.a $(pkg-config --libs $pkgs) && break
		[ "$try" = 3 ] && return 1
		sleep 3
	done
	# static: it also runs inside the lab's containers' network namespaces
	cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes -static -o "$OUTDIR/wfb_net" bench/wfb_net.c
}

environment() {
	echo "# environment"
	echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit:     $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- agent include 2>/dev/null || echo ' (with uncommitted changes under agent/ or include/)')"
	echo "cpu:        $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "memory:     $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "kernel:     $(uname -r)"
	echo "iptables:   $(iptables -V)"
	echo "nftables:   $(nft -V | head -n 1)"
	echo "libnftnl:   $(pkg-config --modversion libnftnl), libmnl $(pkg-config --modversion libmnl)"
	echo "docker:     $(dpkg-query -W -f '${Version}' docker.io 2>/dev/null || echo '?') (lab dockerd)"
	echo "wireguard:  wireguard-go $(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo '?') (userspace, lab)"
	echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
	echo "mode:       $([ "$QUICK" = 1 ] && echo 'BENCH_QUICK=1' || echo full)"
	echo
}

run_programming() {
	echo "# section programming: unshare -n bench/programming.sh \"$SIZES\" $REPS"
	unshare -n bench/programming.sh "$SIZES" "$REPS" || return 1
	echo
	echo "# data-structure memory: $OUTDIR/wfb_apply mem N"
	"$OUTDIR/wfb_apply" mem 1000
	"$OUTDIR/wfb_apply" mem 10000
	echo
	echo "# gateway render, forwards spread over several peers: $OUTDIR/wfb_apply gwpeers P 10000 $REPS"
	for p in 1 10 100; do
		"$OUTDIR/wfb_apply" gwpeers "$p" 10000 "$REPS"
	done
	echo
	echo "# the daemons' search for stale conntrack entries with K (untranslated) entries in a private"
	echo "# namespace's table (the kernel walks the machine-wide hash: $(cat /proc/sys/net/netfilter/nf_conntrack_buckets 2>/dev/null) buckets here);"
	echo "# 'as before': the unfiltered dump per family the search used to make:"
	echo "# unshare -n: nft table with a ct rule on output; $OUTDIR/wfb_apply ctflush K 10"
	for k in $CT_SIZES; do
		unshare -n sh -c "ip link set lo up &&
			nft 'add table ip wfb_ct; add chain ip wfb_ct out { type filter hook output priority 0; }; add rule ip wfb_ct out ct state new counter' &&
			'$OUTDIR/wfb_apply' ctflush $k 10"
	done
	echo
	echo "# control-channel state message for N dual-stack forwards: $OUTDIR/wfb_apply ctlsize N"
	for n in 1000 7000 7500 10000 16384 16385; do
		"$OUTDIR/wfb_apply" ctlsize "$n"
	done
}

run_packet() {
	echo "# section packet: bench/packet.sh $PACKET_ROUNDS $PACKET_SECONDS"
	bench/packet.sh "$PACKET_ROUNDS" "$PACKET_SECONDS" | tee "$OUTDIR/packet.txt"
	summarize_packet "$OUTDIR/packet.txt"
}

# Medians over the rounds of bench/packet.sh's lines, per configuration.
summarize_packet() {
	echo
	echo "# packet: medians over the rounds"
	awk '/^packet-cpu / { cpu[$2] = cpu[$2] " " $8 }
	/^packet / {
		c = $2
		if ($5 == "connrate") { for (i = 1; i <= NF; i++) if ($i == "second") rate[c] = rate[c] " " $(i - 2) }
		if ($5 == "latency") { for (i = 1; i <= NF; i++) if ($i == "median") lat[c] = lat[c] " " $(i + 1) }
		if ($5 == "bulk") { for (i = 1; i <= NF; i++) if ($i == "Mbit/s,") bulk[c] = bulk[c] " " $(i - 1) }
		if (!(c in seen)) { seen[c] = 1; order[++n] = c }
	}
	function median(s,   v, k, i, j, t) {
		k = split(s, v, " ")
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		return k ? v[int((k + 1) / 2)] : 0
	}
	END {
		base = median(rate["map1"])
		for (i = 1; i <= n; i++) {
			c = order[i]
			r = median(rate[c])
			printf "%-10s %8.0f connections/s (%5.1f%% of map1)  handshake p50 %7.1f us  bulk %8.0f Mbit/s\n",
				c, r, base ? 100 * r / base : 0, median(lat[c]), median(bulk[c])
		}
		for (c in cpu)
			printf "%-10s nftables CPU per new connection %.2f us (median over rounds:%s)\n", c, median(cpu[c]), cpu[c]
	}' "$1"
}

run_lab() {
	echo "# section lab: RUNS=$RUNS LATE_RUNS=$LATE_RUNS BURST=$BURST MEM_CONTAINERS=$MEM_CONTAINERS TPUT_REPS=$TPUT_REPS TPUT_SECONDS=$TPUT_SECONDS bench/lab_bench.sh"
	bench/lab_bench.sh
}

mkdir -p "$OUTDIR"
LOG=$OUTDIR/results-$(date -u +%Y%m%dT%H%M%SZ).txt
build_drivers || {
	echo "bench: cannot build the drivers (run make first)" >&2
	exit 1
}
started=$SECONDS
{
	environment
	for s in $SECTIONS; do
		t0=$SECONDS
		case "$s" in
		programming) run_programming ;;
		packet) run_packet ;;
		lab) run_lab ;;
		*) echo "bench: unknown section $s" >&2 ;;
		esac
		echo "# section $s took $((SECONDS - t0)) s"
		echo
	done
	echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at the end; whole run $((SECONDS - started)) s"
} 2>&1 | tee "$LOG"
echo "bench: output kept in ${LOG#"$ROOT"/}"
