#!/bin/bash
# Programming N forwards, and one change among N, side by side with what people use today:
#   wgfwd      render + apply through the nft module (bench/wfb_apply), server and gateway side
#   iptables   `iptables -t nat -A PREROUTING -d PUB -p tcp --dport P -j DNAT --to-destination
#              PEER:P`, once per forward, as PostUp lines do
#   restore    iptables-restore of the same rules
#   nft -f     one file with the same forwards as a map and one dnat rule
# Everything runs in one private network namespace (unshare -n), run by bench/run.sh as
#   unshare -n bench/programming.sh SIZES REPS
# Per-rule iptables beyond SAMPLE_MAX forwards is not run whole: the time of one call is sampled
# at several table sizes and integrated (said so in the output).
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=$PWD/build/bench
SIZES=${1:-"1 100 1000 10000 50000"}
REPS=${2:-5}
SAMPLE_MAX=${SAMPLE_MAX:-1000}
PUB=192.0.2.1
PEER=192.168.160.2
FIRST=10000
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
	echo "programming: run me in a private network namespace (unshare -n)" >&2
	exit 1
fi
ip link set lo up
# The server's ruleset routes replies into the tunnel: an interface of that name must exist.
ip link add wg0 type veth peer name wg0peer && ip link set wg0 up && ip link set wg0peer up

now_us() {
	echo "${EPOCHREALTIME//[.,]/}"
}

median_of() {
	awk '{ for (i = 1; i < NF; i++) if ($i == "median") print $(i + 1) }' <<<"$1"
}

# stats WHAT N VALUES_MS...: one line in the drivers' format (nearest-rank median and p90).
stats() {
	local what=$1 n=$2
	shift 2
	printf '%s\n' "$@" | sort -g | awk -v what="$what" -v n="$n" '
		{ v[NR] = $1 }
		END {
			p50 = int((NR * 50 + 99) / 100); p90 = int((NR * 90 + 99) / 100)
			printf "%-34s n=%-6d median %9.3f ms  min %9.3f  max %9.3f  p90 %9.3f  (%d runs)\n",
				what, n, v[p50], v[1], v[NR], v[p90], NR
		}'
}

rules_file() {
	local n=$1 p
	echo '*nat'
	for ((p = FIRST; p < FIRST + n; p++)); do
		echo "-A PREROUTING -d $PUB/32 -p tcp -m tcp --dport $p -j DNAT --to-destination $PEER:$p"
	done
	echo 'COMMIT'
}

nft_file() {
	local n=$1 p sep=""
	echo 'table ip wfb_nat {'
	echo '  map forwards {'
	echo '    type inet_proto . inet_service : ipv4_addr . inet_service'
	if [ "$n" -gt 0 ]; then
		printf '    elements = { '
		for ((p = FIRST; p < FIRST + n; p++)); do
			printf '%stcp . %d : %s . %d' "$sep" "$p" "$PEER" "$p"
			sep=", "
		done
		echo ' }'
	fi
	echo '  }'
	echo '  chain pre {'
	echo '    type nat hook prerouting priority -100; policy accept;'
	echo "    ip daddr $PUB dnat ip to meta l4proto . th dport map @forwards"
	echo '  }'
	echo '}'
}

empty_nat() {
	iptables -t nat -F
	nft delete table ip wfb_nat 2>/dev/null
	return 0
}

# Seconds of one `iptables -A` when K rules exist, averaged over a few calls (ms).
iptables_call_ms() {
	local k=$1 calls=${2:-20} i t0 t1
	empty_nat
	rules_file "$k" >"$TMP/pre"
	iptables-restore <"$TMP/pre"
	t0=$(now_us)
	for ((i = 0; i < calls; i++)); do
		iptables -t nat -A PREROUTING -d "$PUB/32" -p tcp --dport $((FIRST + k + i)) -j DNAT \
			--to-destination "$PEER:$((FIRST + k + i))"
	done
	t1=$(now_us)
	awk -v d=$((t1 - t0)) -v c="$calls" 'BEGIN { printf "%.3f", d / c / 1000 }'
}

echo "# programming: sizes $SIZES, $REPS runs each (wgfwd driver, iptables-restore, nft -f)"
declare -A WG_GW WG_SRV IPT_TOTAL IPT_EST RESTORE NFTF

for n in $SIZES; do
	reps=$REPS
	[ "$n" -ge 50000 ] && reps=$(((REPS + 1) / 2))
	out=$("$BIN/wfb_apply" cold server "$n" "$reps") || exit 1
	echo "$out"
	WG_SRV[$n]=$(median_of "$(grep 'render+apply' <<<"$out")")
	out=$("$BIN/wfb_apply" cold gateway "$n" "$reps") || exit 1
	echo "$out"
	WG_GW[$n]=$(median_of "$(grep 'render+apply' <<<"$out")")

	rules_file "$n" >"$TMP/rules"
	vals=()
	for ((r = 0; r < reps; r++)); do
		empty_nat
		t0=$(now_us)
		iptables-restore <"$TMP/rules" || exit 1
		t1=$(now_us)
		vals+=("$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1000 }')")
	done
	out=$(stats "iptables-restore" "$n" "${vals[@]}")
	echo "$out"
	RESTORE[$n]=$(median_of "$out")

	nft_file "$n" >"$TMP/nft"
	vals=()
	for ((r = 0; r < reps; r++)); do
		empty_nat
		t0=$(now_us)
		nft -f "$TMP/nft" || exit 1
		t1=$(now_us)
		vals+=("$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1000 }')")
	done
	out=$(stats "nft -f (map)" "$n" "${vals[@]}")
	echo "$out"
	NFTF[$n]=$(median_of "$out")

	if [ "$n" -le "$SAMPLE_MAX" ]; then
		empty_nat
		t0=$(now_us)
		for ((p = FIRST; p < FIRST + n; p++)); do
			iptables -t nat -A PREROUTING -d "$PUB/32" -p tcp --dport "$p" -j DNAT \
				--to-destination "$PEER:$p"
		done
		t1=$(now_us)
		IPT_TOTAL[$n]=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1000 }')
		printf '%-34s n=%-6d total %9.1f ms  (%.2f ms per rule, one run)\n' \
			"iptables -A per rule" "$n" "${IPT_TOTAL[$n]}" \
			"$(awk -v t="${IPT_TOTAL[$n]}" -v n="$n" 'BEGIN { print t / n }')"
	fi
	empty_nat
done

# Per-rule iptables at larger sizes: one call's time at several table sizes, integrated.
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
if [ "$max" -gt "$SAMPLE_MAX" ]; then
	points=()
	for k in 0 1000 2500 5000 7500 10000 25000 50000; do
		[ "$k" -le "$max" ] && points+=("$k")
	done
	declare -A CALL
	for k in "${points[@]}"; do
		CALL[$k]=$(iptables_call_ms "$k" 20)
		printf '%-34s n=%-6d %9.3f ms per call (mean of 20 calls with %d rules present)\n' \
			"iptables -A, one call" "$k" "${CALL[$k]}" "$k"
	done
	empty_nat
	for n in $SIZES; do
		[ "$n" -le 1 ] && continue
		# trapezoid over the sample points up to n
		est=$(for k in "${points[@]}"; do echo "$k ${CALL[$k]}"; done | awk -v n="$n" '
			{ k[NR] = $1; c[NR] = $2 }
			END {
				total = 0
				for (i = 2; i <= NR && k[i - 1] < n; i++) {
					hi = k[i] < n ? k[i] : n
					chi = c[i - 1] + (c[i] - c[i - 1]) * (hi - k[i - 1]) / (k[i] - k[i - 1])
					total += (hi - k[i - 1]) * (c[i - 1] + chi) / 2
				}
				printf "%.1f", total
			}')
		IPT_EST[$n]=$est
		printf '%-34s n=%-6d total %9.1f ms  (estimated from the sampled calls)\n' \
			"iptables -A per rule, estimated" "$n" "$est"
	done
fi

# One change among N: an element added by nft (a process, as a script would do it).
for n in $SIZES; do
	[ "$n" -gt 10000 ] && continue
	empty_nat
	nft_file "$n" >"$TMP/nft"
	nft -f "$TMP/nft"
	vals=()
	for ((r = 0; r < REPS; r++)); do
		t0=$(now_us)
		nft add element ip wfb_nat forwards "{ tcp . 9999 : $PEER . 9999 }"
		t1=$(now_us)
		nft delete element ip wfb_nat forwards "{ tcp . 9999 }"
		vals+=("$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1000 }')")
	done
	stats "nft add element (one change)" "$n" "${vals[@]}"
done
empty_nat

for n in $SIZES; do
	[ "$n" -gt 10000 ] && continue
	"$BIN/wfb_apply" change server "$n" $((REPS * 4)) || exit 1
	"$BIN/wfb_apply" change gateway "$n" $((REPS * 4)) || exit 1
done
for n in $SIZES; do
	[ "$n" -lt 100 ] || [ "$n" -gt 10000 ] && continue
	"$BIN/wfb_apply" pipeline "$n" "$REPS" || exit 1
done

echo
echo "# programming: ratios (median times)"
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", a / b; else printf "-" }'
}
for n in $SIZES; do
	ipt=${IPT_TOTAL[$n]:-${IPT_EST[$n]:-}}
	how=measured
	[ -z "${IPT_TOTAL[$n]:-}" ] && how=estimated
	printf 'n=%-6d wgfwd gateway %8.2f ms, server %8.2f ms | iptables -A %s %10.1f ms (%sx gateway) | iptables-restore %8.2f ms (%sx) | nft -f %8.2f ms (%sx)\n' \
		"$n" "${WG_GW[$n]}" "${WG_SRV[$n]}" "$how" "${ipt:-0}" "$(ratio "${ipt:-0}" "${WG_GW[$n]}")" \
		"${RESTORE[$n]}" "$(ratio "${RESTORE[$n]}" "${WG_GW[$n]}")" \
		"${NFTF[$n]}" "$(ratio "${NFTF[$n]}" "${WG_GW[$n]}")"
done
