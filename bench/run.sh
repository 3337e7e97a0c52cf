#!/bin/bash
# wgfwd benchmarks (make bench): one run of one commit writes every figure of bench/RESULTS.md,
# README's benchmark summary and the plots (bench/report.sh, from bench/RESULTS.md.in and
# bench/README-bench.md.in). Numbers and ratios measured side by side in one run; nothing here
# passes or fails on a timing. Needs root; uses private network namespaces (wfb-*), and the
# test lab for the end-to-end part (waits for its lock like tests/e2e/run.sh).
#
#   bench/run.sh                                  everything, then the report
#   bench/run.sh [programming] [packet] [lab]     some sections, no report (development)
#   BENCH_QUICK=1 bench/run.sh                    a few-minute subset (report to build/bench/)
#
#   programming  N forwards programmed by wgfwd vs iptables per rule, iptables-restore, nft -f;
#                one change among N; the agent's per-event work; a gateway of 100 peers x 1,000
#   packet       new connections/s, handshake latency, throughput through a gateway namespace
#                with 1 and 10,000 forwards vs a 10,000-rule DNAT chain
#   lab          the daemons in the lab (bench/lab_bench.sh)
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUTDIR=$ROOT/build/bench
SECTIONS=${*:-programming packet lab}
QUICK=${BENCH_QUICK:-0}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export BENCH_VALUES=$OUTDIR/values-$STAMP.env BENCH_DATA=$OUTDIR/data-$STAMP

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (network namespaces, nftables)" >&2
	exit 1
fi
for tool in unshare ip nft iptables iptables-restore jq curl cc pkg-config gnuplot; do
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
	PACKET_SECONDS=1
	GW_PEERS=10
	export RUNS=20 PAIRS=10 BURST=20 CHANGES=5 GONE=2 TPUT_REPS=1 TPUT_SECONDS=2
else
	SIZES="1 100 1000 10000 50000"
	CT_SIZES="0 10000"
	REPS=5
	PACKET_ROUNDS=2
	PACKET_SECONDS=2
	GW_PEERS=100
	export RUNS=${RUNS:-200} PAIRS=${PAIRS:-100} BURST=${BURST:-100} CHANGES=${CHANGES:-20}
	export TPUT_REPS=${TPUT_REPS:-2} TPUT_SECONDS=${TPUT_SECONDS:-3}
fi

build_drivers() {
	bench/build.sh "$OUTDIR"
}

val() {
	echo "$1=$2" >>"$BENCH_VALUES"
}

environment() {
	val commit "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- agent include bench 2>/dev/null || echo '+changes')"
	val date "$(date -u '+%Y-%m-%d %H:%M UTC')"
	val machine "$(nproc) × $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
	val versions "$(iptables -V | sed 's/^iptables //; s/^/iptables /'), $(nft -V | head -n 1 | sed 's/ (.*//'), libnftnl $(pkg-config --modversion libnftnl), Docker $(dpkg-query -W -f '${Version}' docker.io 2>/dev/null || echo '?'), wireguard-go $(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo '?') (userspace)"
	val load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
	val run_notes none
	val mode "$([ "$QUICK" = 1 ] && echo 'BENCH_QUICK=1 (a subset: not for RESULTS.md)' || echo full)"
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
	echo "# a gateway of $GW_PEERS peers x 1,000 forwards: unshare -n bench/gateway_peers.sh $GW_PEERS 1000 $REPS"
	unshare -n bench/gateway_peers.sh "$GW_PEERS" 1000 "$REPS"
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
}

run_packet() {
	echo "# section packet: bench/packet.sh $PACKET_ROUNDS $PACKET_SECONDS"
	val pkt_rounds "$PACKET_ROUNDS"
	bench/packet.sh "$PACKET_ROUNDS" "$PACKET_SECONDS" | tee "$OUTDIR/packet.txt"
	summarize_packet "$OUTDIR/packet.txt"
}

# Medians over the rounds of bench/packet.sh's lines, per configuration.
summarize_packet() {
	echo
	echo "# packet: medians over the rounds"
	awk '/^packet-cpu / {
		# pooled over the rounds: all their samples over all their connections
		s = $0; sub(/.*\(/, "", s); sub(/ .*/, "", s)
		conns[$2] += $5; samples[$2] += s; rounds[$2] = rounds[$2] " " $8
		if (s > 0) per_sample = $8 * $5 / s
	}
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
		for (c in conns)
			printf "%-10s nftables CPU per new connection %.3f us (%d samples over %d connections; rounds:%s)\n",
				c, conns[c] ? samples[c] * per_sample / conns[c] : 0, samples[c], conns[c], rounds[c]
	}' "$1"
}

run_lab() {
	echo "# section lab: RUNS=$RUNS PAIRS=$PAIRS BURST=$BURST CHANGES=$CHANGES TPUT_REPS=$TPUT_REPS TPUT_SECONDS=$TPUT_SECONDS bench/lab_bench.sh"
	bench/lab_bench.sh
}

# Every driver line "WHAT n=N median X ms ..." as the value slug(WHAT)_N=X.
driver_values() {
	awk '/ n=[0-9]+ +median / {
		what = substr($0, 1, index($0, " n=") - 1); gsub(/[^A-Za-z0-9]+/, "_", what)
		gsub(/^_+|_+$/, "", what); what = tolower(what)
		n = $0; sub(/.* n=/, "", n); sub(/ .*/, "", n)
		m = $0; sub(/.* median +/, "", m); sub(/ .*/, "", m)
		print what "_" n "=" m
	}
	/^n=[0-9]+ +wgfwd gateway/ {
		# the ratios line of programming.sh
		n = $1; sub(/n=/, "", n)
		line = $0; gsub(/[|()x,]/, " ", line); k = split(line, f, " ")
		for (i = 1; i <= k; i++) {
			if (f[i] == "gateway" && f[i - 1] == "wgfwd") gw = f[i + 1]
			if (f[i] == "server") srv = f[i + 1]
			if (f[i] == "-A") { how = f[i + 1]; ipt = f[i + 2] }
			if (f[i] == "iptables-restore") rst = f[i + 1]
			if (f[i] == "-f") nftf = f[i + 1]
		}
		printf "prog_gw_%s=%s\nprog_srv_%s=%s\nprog_ipt_%s=%s\nprog_ipt_how_%s=%s\nprog_restore_%s=%s\nprog_nftf_%s=%s\n", n, gw, n, srv, n, ipt, n, how, n, rst, n, nftf
		printf "%s %s %s %s %s %s %s\n", n, gw, srv, nftf, rst, ipt, how >>data "/programming.dat"
	}
	/^(plain|map1|map10k|map10k1|chain10k|chainlast) +[0-9]+ connections\/s/ {
		pct = $0; sub(/^[^(]*\( */, "", pct); sub(/%.*/, "", pct)
		hs = $0; sub(/.*handshake p50 +/, "", hs); sub(/ .*/, "", hs)
		bulk = $0; sub(/.*bulk +/, "", bulk); sub(/ .*/, "", bulk)
		printf "pkt_%s_rate=%s\npkt_%s_pct=%s\npkt_%s_hs=%s\npkt_%s_bulk=%s\n", $1, $2, $1, pct, $1, hs, $1, bulk
	}
	/nftables CPU per new connection/ {
		n = $0; sub(/.*\(/, "", n); sub(/ .*/, "", n)
		printf "pkt_%s_cpu=%s\npkt_%s_cpu_samples=%s\n", $1, $7, $1, n
	}
	' data="$BENCH_DATA" "$1"
}

mkdir -p "$OUTDIR" "$BENCH_DATA"
: >"$BENCH_VALUES"
LOG=$OUTDIR/results-$STAMP.txt
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
	val load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
	# the run's own time: waiting for the lab's lock does not count
	wait_s=$(awk -F= '$1 == "lab_wait_s" { w = $2 } END { print w + 0 }' "$BENCH_VALUES")
	val lab_wait_min "$(((wait_s + 30) / 60))"
	val duration_min "$(((SECONDS - started - wait_s + 30) / 60))"
} 2>&1 | tee "$LOG"
driver_values "$LOG" >>"$BENCH_VALUES"
echo "bench: output kept in ${LOG#"$ROOT"/}, figures in ${BENCH_VALUES#"$ROOT"/}"
if [ -z "$*" ]; then
	if [ "$QUICK" = 1 ]; then
		bench/report.sh "$BENCH_VALUES" "$BENCH_DATA" "$OUTDIR/quick"
	else
		bench/report.sh "$BENCH_VALUES" "$BENCH_DATA"
	fi
fi
