#!/bin/bash
# make check-mutants: each safeguard wgfwd relies on, removed from a copy of the source (a
# mutant), must make at least one of the checks listed for it fail. A mutant that every check
# survives is a safeguard no test would miss: it counts as a failure that names the checks.
#
#   tests/check-mutants.sh                every mutant
#   tests/check-mutants.sh NAME...        only these
#   MUTANTS_ALL=1                         run every check of a mutant, not only up to the first
#                                         that catches it
#   MUTANTS_KEEP=1                        keep the mutants' trees (under $MUTANTS_DIR)
#
# A mutant is the tree (agent/ include/ tests/ Makefile) copied to $MUTANTS_DIR/NAME, one perl
# substitution applied to the files under agent/ that contain a marker string (found by content,
# so files may move), and built there beside a copy of build/ (only what changed is rebuilt).
# Checks, tried in the order given:
#   unit:BINARY / kernel:BINARY    a cmocka binary of tests/unit or tests/kernel, which must pass
#                                  on the real build first (else the mutant is not judged)
#   e2e:SCENARIO                   a scenario of tests/e2e, in the lab, with the mutant's
#                                  programs (WGFWD_BIN), stopped at its first failed check (the
#                                  scenarios pass on the real build in make check-e2e)
# Ends with "mutants: N passed, N failed, N skipped": passed means caught.
# shellcheck disable=SC2016 # perl code in single quotes
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
B=${B:-build}
MUTANTS_DIR=${MUTANTS_DIR:-$(mktemp -d /tmp/wgfwd-mutants.XXXXXX)}
TIMEOUT=${TEST_TIMEOUT:-300}
VERSION=$(make --no-print-directory -s print-version)
LAB=$ROOT/tests/lab/lab.sh

# ---- the mutants --------------------------------------------------------------------------
# mutant NAME WHAT MARKER PERL CHECK...

mutants=()
declare -A m_what m_marker m_perl m_checks

mutant() {
	local name=$1
	mutants+=("$name")
	m_what[$name]=$2
	m_marker[$name]=$3
	m_perl[$name]=$4
	shift 4
	m_checks[$name]="$*"
}

# The renderer no longer asks for the clamp rules: SYNs pass with the MSS they carry.
mutant agent-mss-clamp "the agent's MSS clamp" 'WF_SERVER_HAIRPIN4' \
	's/^[ \t]*err \|= wf_nft_add_mss_clamp\([^;]*\);\n//mg' \
	e2e:test_agent_dataplane
mutant gateway-mss-clamp "the gateway's MSS clamp" 'WF_GW_MAP4' \
	's/^[ \t]*err \|= wf_nft_add_mss_clamp\([^;]*\);\n//mg' \
	kernel:test_gateway_ruleset e2e:test_system
# Replies to flows from the tunnel are no longer marked for the tunnel's routing table.
mutant ct-mark-reply-routing "the agent's ct mark reply routing" 'WF_SERVER_HAIRPIN4' \
	's/^[ \t]*wf_nft_add_mark\(&r, WF_NFT_META_MARK_SET,[^;]*\);\n//mg' \
	e2e:test_agent_dataplane
mutant docker-user-accept "the agent's DOCKER-USER accept" 'WF_DOCKER_USER_CHAIN' \
	's/if \(!p->docker_user\)(\s*return;)/if (1)$1/' \
	e2e:test_agent_dataplane
# Docker's masquerade then rewrites the source of hairpin flows.
mutant hairpin-keep-source "the agent's hairpin keep-source SNAT" 'WF_SERVER_HAIRPIN4' \
	's/^[ \t]*wf_nft_add_nat\(&r, WF_NFT_SNAT_KEEP_SOURCE,[^;]*\);\n//mg' \
	e2e:test_agent_dataplane
mutant gateway-reserved-ports "the gateway's reserved ports" 'is_reserved(' \
	's/(static bool is_reserved\([^)]*\)\s*\{)/$1\n\treturn false;/' \
	unit:test_gateway_policy kernel:test_gateway_daemon e2e:test_system
# The forward chain's last word on the tunnel: what was not let in or out is dropped.
mutant gateway-lockdown "the gateway's lockdown of the tunnel" 'WF_GW_MAP4' \
	's/("nothing else (?:enters|leaves) the tunnel"\);.*?)wf_nft_add_verdict\(&r, WF_NFT_DROP\);/$1/sg' \
	kernel:test_gateway_ruleset e2e:test_system
mutant gateway-control-port-guard "the gateway's guard of the control port" 'WF_GW_MAP4' \
	's/("the control port answers only on the tunnel"\);.*?)wf_nft_add_verdict\(&r, WF_NFT_DROP\);/$1/s' \
	kernel:test_gateway_ruleset e2e:test_system
# Every entry a flush finds is counted as deleted and left in the kernel.
mutant stale-conntrack-flush "the stale-conntrack flush" 'wf_conntrack_flush_forwards' \
	's/=\s*wf_conntrack_delete\([^;]*\);/= 0;/g' \
	kernel:test_conntrack_kernel e2e:test_conntrack
# The kernel's filtered deletes are asked for and deleted nothing.
mutant stale-conntrack-kernel-flush "the stale-conntrack flush in the kernel" 'flush_in_kernel(' \
	's/int err = len < 0 \? len : wf_nl_talk\([^;]*\);/int err = len < 0 ? len : 0;/' \
	kernel:test_conntrack_kernel
# IPv6 matches go to the kernel's filtered delete whatever its probe found (on 6.18 the kernel's
# IPv6 address filter selects the entries whose address differs).
mutant stale-conntrack-kernel-ipv6 "the probe of the kernel's IPv6 conntrack filter" \
	'probe_v6_filter(' 's/return err == -ENOENT \? V6_FILTER_RIGHT : V6_FILTER_WRONG;/return V6_FILTER_RIGHT;/' \
	kernel:test_conntrack_kernel
# The agent's IPv6 search leaves the addresses out for a port some forward still has: the
# flows of that forward's new target go too.
mutant stale-conntrack-ipv6-port-gone "the IPv6 search without addresses only where the port is gone" \
	'wf_server_ct_narrow' 's/\|\| forward_of\(now, n_now, &m\[i\]\)\)/)/' \
	kernel:test_conntrack_kernel
# The gateway's DNAT rules no longer mark the flows they translate: its narrowed IPv6 search
# then finds none of them.
mutant gateway-ct-mark "the gateway's conntrack mark bit on translated flows" 'WF_GW_MAP4' \
	's/wf_nft_add_dnat_map_ct_mark\(&r, fam, map, WF_GW_CT_MARK\)/wf_nft_add_dnat_map(\&r, fam, map)/' \
	unit:test_gateway_render kernel:test_gateway_ruleset
# The gateway's IPv6 search leaves the addresses out for a port another peer holds now: the
# flows of the port's new peer go too.
mutant gateway-ct-ipv6-port-gone "the gateway's IPv6 search without addresses only where the port is gone" \
	'wf_gw_ct_narrow' 's/\|\|\s*(held_now\(now, n_peers, &m\[i\], &h\))\)/|| ($1 \&\& false))/' \
	unit:test_ct_flush kernel:test_conntrack_kernel
# The gateway's engine no longer narrows: each IPv6 removal's search is a dump again.
mutant gateway-ct-narrow "the gateway's narrowed IPv6 search by its mark" 'narrow_stale_flows(' \
	's/\twf_gw_ct_narrow\(d->cfg, &d->state, m, n\);/\t(void)d, (void)m, (void)n;/' \
	e2e:test_conntrack
# A match's mark mask is ignored: the gateway's bit is compared with the whole mark, and its
# flows that carry other bits too stay.
mutant stale-conntrack-mark-mask "the mark mask of a conntrack match" 'match_mark_mask(' \
	's/return m->mark_mask \? m->mark_mask : UINT32_MAX;/return UINT32_MAX;/' \
	unit:test_conntrack_model kernel:test_conntrack_kernel
# A UDP forward that came waits as long as a removal: its refused flows stay refused a second.
mutant stale-conntrack-udp-soon "the prompt search for a new UDP forward's refused flows" \
	'wf_ct_matches_delay_ms(' 's/return WF_CT_COALESCE_MS;/return WF_CT_REMOVED_DELAY_MS;/' \
	unit:test_ct_flush kernel:test_conntrack_kernel
# A restart's start no longer makes the stop's pending search moot: the kernel is walked for
# flows that are right again.
mutant stale-conntrack-settle "the stale-conntrack prune at each change" 'wf_ct_stale_settle(' \
	's/\tq->n = s->ops\.prune\(s->ctx, q->m, q->n\);\n//' \
	kernel:test_conntrack_kernel kernel:test_gateway_daemon e2e:test_conntrack
# The matches the kernel can take join the dump as soon as one cannot: one IPv6 match (where the
# kernel's IPv6 address filter is wrong) makes the IPv4 ones' flows a walk too, and each entry
# found a delete request of its own.
mutant stale-conntrack-split "the search of each match by filtered delete where the kernel can" \
	'kernel_split(' 's/if \(!kernel_takes\(ct, &m\[i\]\)\)\s*continue;/if (!kernel_takes(ct, \&m[i]))\n\t\t\treturn 0;/' \
	kernel:test_conntrack_kernel
# One mark filter for marks that differ in more bits than their number fills: it selects marks
# no forward of this agent gave (0x77660000 and 0x77660003 beside 0x77660001 and 0x77660002).
mutant stale-conntrack-marks-cover "the exact cover of a set of marks by one filter" \
	'wf_ct_marks_cover(' 's/if \(bits > 4 \|\| \(size_t\)1 << bits != n\)/if (bits > 4)/' \
	unit:test_conntrack_model kernel:test_conntrack_kernel
# The search no longer asks whether the namespace holds any entry: it is always skipped.
mutant stale-conntrack-skip "the stale-conntrack search's empty-namespace rule" \
	'wf_ct_search_needed' 's/return wf_conntrack_count\(ct, &count\) \|\| count;/return (void)count, false;/' \
	kernel:test_conntrack_kernel e2e:test_conntrack
# Flows that came in through another gateway reach this server at its address on that
# gateway's tunnel: the search for untranslated ones no longer looks there.
mutant stale-conntrack-other-tunnels "the stale-conntrack search at each gateway's tunnel" \
	'wf_server_ct_orig_dsts' 's/add_ip([46])\(out, &g\[i\]\.tunnel_ip\1\);/(void)0;/g' \
	unit:test_ct_flush e2e:test_conntrack_gateways
# One container's change applied in place although another container holds one of its ports.
mutant desired-update-contested "the in-place update's refusal of contested ports" 'problems[i].contested' \
	's/if \(d->problems\[i\]\.contested\)/if (0)/' \
	unit:test_state_update
# The gateway link's book of changed forwards forgets the ones that came: its next delta lacks them.
mutant gateway-link-pending-add "the gateway link's booking of forwards that came" \
	'int link_pending_add(struct' 's/(int link_pending_add\([^)]*\)\s*\{)/$1\n\treturn 0;/' \
	unit:test_gateway_link
mutant ctl-client-proof "the gateway's check of the agent's handshake MAC" 'crypto_verify_32' \
	's/if \(crypto_verify_32\([^)]*\) != 0\)(\s*\{\s*snprintf\([^;]*client proof does not verify)/if (0)$1/s' \
	unit:test_ctl_auth unit:test_ctl_conn kernel:test_gateway_daemon
mutant ctl-server-proof "the agent's check of the gateway's handshake MAC" 'crypto_verify_32' \
	's/if \(crypto_verify_32\([^)]*\) != 0\)(\s*\{\s*snprintf\([^;]*server proof does not verify)/if (0)$1/s' \
	unit:test_ctl_auth unit:test_ctl_conn
# A commit that touched a watched nftables table passes for someone else's: drift goes unseen
# and stale records of the kernel are trusted.
mutant nft-notify-touch "the change watcher's match of the tables a commit touched" \
	'wf_nft_ledger_quiet(const struct' \
	's/\bl->cur_mask \|= 1u << i;/(void)0;/' \
	unit:test_nft_notify kernel:test_nft_follow_kernel
# Lost notifications and a gap in the generations no longer void what the ledger vouches for.
mutant nft-notify-lost "the change watcher's fallback after lost notifications" \
	'wf_nft_ledger_quiet(const struct' \
	's/(void wf_nft_ledger_lost\(struct wf_nft_ledger \*l\)\s*\{)/$1 return;/' \
	unit:test_nft_notify
mutant nft-notify-gap "the change watcher's check for a gap in the generations" \
	'wf_nft_ledger_quiet(const struct' \
	's/whole = whole && gen == gen_next\(l->last\);/whole = whole && gen_next(gen);/' \
	unit:test_nft_notify
# The ledger's last generation is taken though it lost count: element updates are guarded on a
# generation it cannot vouch for.
mutant nft-followed-latest-lost "the change watcher's latest generation only while it accounts for every commit" \
	'wf_nft_ledger_latest(const struct' \
	's/if \(l->state != WF_NFT_LEDGER_SYNCED\)\s*return false;//' \
	unit:test_nft_notify
# The agent's element batch refused for a commit nobody had read of passes for a failed apply.
mutant agent-elements-restart "the agent's element path giving way to the whole path when the kernel refuses its guess" \
	'wf_dataplane_apply_elements(struct' \
	's/if \(err == -ERESTART\) \{/if (0) {/' \
	kernel:test_agent_elements_kernel
# A peer sending states faster than its turns come is read all the time: reading a flood of
# the largest states takes most of the gateway's CPU.
mutant gateway-read-pause "the gateway's rest for the connection of a peer waiting for its turn" \
	'STATE_READ_WINDOW_S' \
	's/(static void pause_reading\(struct peer \*p, bool pause\)\s*\{)/$1\n\treturn;/' \
	kernel:test_gateway_daemon
# A peer's change goes in one transaction again, however large: another peer's state waits for
# the whole commit of a largest change, and it is the longest step of the flooding peer's turns.
mutant gateway-change-slices "the gateway's slicing of a peer's change into bounded transactions" \
	'WF_GW_SLICE_MAX;' \
	's/: WF_GW_SLICE_MAX;/: (size_t)-1;/' \
	kernel:test_gateway_daemon e2e:test_gw_flood
# A newer state no longer cuts a running turn short: the rest of the older one goes in first, and
# the ports it was granted stay promised to it meanwhile.
mutant gateway-turn-cut "the gateway's cutting short of a turn a newer state made stale" \
	'static bool cut_short(' \
	's/(static bool cut_short\([^)]*\)\s*\{)/$1\n\treturn false;/' \
	kernel:test_gateway_daemon
# A largest state is decoded, or decided, in one step again: another peer's state waits for
# all of it, and the flooding peer's turns take fewer steps than the state's size does.
mutant gateway-decode-steps "the gateway's decoding of a state a piece at a time" \
	'wf_ctl_decoder_step(p->decoder, WF_CTL_DECODE_STEP' \
	's/wf_ctl_decoder_step\(p->decoder, WF_CTL_DECODE_STEP/wf_ctl_decoder_step(p->decoder, SIZE_MAX/' \
	kernel:test_gateway_daemon
mutant gateway-decide-steps "the gateway's deciding of a state a run of entries at a time" \
	'TURN_DECIDE_SLICE,' \
	's/TURN_DECIDE_SLICE,/SIZE_MAX,/' \
	kernel:test_gateway_daemon
# Any message is decoded in one piece again, however large: a 1 MiB delta, or a state the
# peek cannot read, holds the loop for all of its decoding.
mutant gateway-large-text "the gateway's refusal to decode a large message in one piece" \
	'TEXT_AT_ONCE_MAX)' \
	's/if \(len <= TEXT_AT_ONCE_MAX\)/if (1)/' \
	kernel:test_gateway_daemon
# Element updates no longer ask whether anyone committed to the table since it was cached:
# they go onto a table that drifted, and what drifted stays.
mutant nft-elements-drift "the element-only path's fall-back to a whole sync on drift" \
	'int wf_nft_batch_sync_elements(' \
	's/!wf_nft_known_current_table\(&cache->at, b, family, table\)/false/' \
	kernel:test_agent_elements_kernel
# The agent's filter of kernel notifications passes over those of its own rules and routes: one
# that someone else deleted stays deleted until the periodic reconcile.
mutant agent-drift-own-routes "the agent's look after a change to its own rules and routes" \
	'wf_agent_note_looks(const' \
	's/(is_owned_table\(own, n->table\)) \? WF_LOOK_RTNL : 0;/$1 ? 0 : 0;/' \
	unit:test_drift_filter kernel:test_nlwatch_kernel e2e:test_agent_dataplane
# ... and over its tunnel's link: the routes the kernel drops, without a word, with a link that
# goes down stay gone when it comes back.
mutant agent-drift-tunnel-link "the agent's look after a change to its tunnel's link" \
	'wf_agent_note_looks(const' \
	's/if \(is_tunnel\(own, n->ifname\)\)\s*return WF_LOOK_RTNL \| WF_LOOK_SYSCTLS;//' \
	unit:test_drift_filter kernel:test_nlwatch_kernel e2e:test_agent_dataplane
# The kernel's scope of routing notifications drops the routes of the agent's protocol outside
# its tables: its route to the gateway, deleted by someone else, is not seen.
mutant nlwatch-scope-protocol "the kernel scope's routes of the daemon's protocol" \
	'wf_nlwatch_scope_rtnl(struct' \
	's/JEQ\(s->protocol, L_KEEP\);//' \
	kernel:test_nlwatch_kernel

# ---- running them -------------------------------------------------------------------------

passed=0
failed=0
skipped=0
failures=()
lab_was_up=1
lab_used=0

log() {
	printf '%s\n' "$*"
}

# The names of the cmocka tests that failed in OUT.
cmocka_failed() {
	sed -n 's/^\[  FAILED  \] \([^0-9 ][^ ]*\)$/\1/p' "$1" | sort -u | paste -sd ' '
}

binary_of() { # KIND NAME -> path of the test binary under DIR/B
	echo "$1/$B/tests/$2"
}

# Runs a unit or kernel binary; succeeds when it passes. Its output lands in OUT.
run_binary() {
	local bin=$1 out=$2
	CMOCKA_MESSAGE_OUTPUT=stdout timeout -k 10 "$TIMEOUT" "$bin" >"$out" 2>&1
}

# The checks that pass on the real build: judging a mutant by a failing check proves nothing.
declare -A baseline
baseline_ok() {
	local check=$1 kind=${1%%:*} name=${1#*:} out
	[ -n "${baseline[$check]:-}" ] && { [ "${baseline[$check]}" = ok ]; return; }
	out=$(mktemp)
	if run_binary "$(binary_of "$ROOT" "$name")" "$out"; then
		baseline[$check]=ok
	else
		baseline[$check]=failed
		log "mutants: $kind $name fails on the real build: $(cmocka_failed "$out")"
	fi
	rm -f "$out"
	[ "${baseline[$check]}" = ok ]
}

# Copies the tree, applies the mutation, builds. Prints why not, on failure.
make_mutant() {
	local name=$1 dir=$MUTANTS_DIR/$1 f changed=0
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a agent include tests Makefile "$dir"/ || return 1
	[ -d "$B" ] && cp -a "$B" "$dir/$B"
	while IFS= read -r f; do
		cp -p "$dir/$f" "$dir/$f.orig"
		perl -0pi -e "${m_perl[$name]}" "$dir/$f" || return 1
		if ! cmp -s "$dir/$f" "$dir/$f.orig"; then
			changed=$((changed + 1))
			log "  mutated $f"
			diff -u "$dir/$f.orig" "$dir/$f" | grep '^[-+][^-+]' | head -n 8 | sed 's/^/    /'
		fi
		rm -f "$dir/$f.orig"
	done < <(grep -rlF --include='*.c' -- "${m_marker[$name]}" agent/)
	if [ "$changed" -eq 0 ]; then
		echo "the safeguard was not found (no file under agent/ with \`${m_marker[$name]}' changed): update tests/check-mutants.sh"
		return 1
	fi
	# The mutated file alone must compile; the binaries a check needs are linked before it.
	if ! build_mutant "$name" all; then
		echo "the mutant does not build:"
		tail -n 20 "$dir/build.log"
		return 1
	fi
}

build_mutant() {
	local dir=$MUTANTS_DIR/$1
	shift
	make -C "$dir" --no-print-directory -j"$(nproc)" B="$B" WGFWD_VERSION="$VERSION" "$@" \
		>>"$dir/build.log" 2>&1
}

# Runs one check against the mutant; succeeds when the check FAILS (the mutant is caught) and
# prints what failed; 2 when what the check needs does not build.
catches() {
	local name=$1 check=$2 kind=${2%%:*} what=${2#*:} dir=$MUTANTS_DIR/$1 out rc
	out=$(mktemp)
	case "$kind" in
	unit | kernel)
		if ! build_mutant "$name" "$B/tests/$what"; then
			echo "$what does not build"
			rc=2
		elif ! run_binary "$(binary_of "$dir" "$what")" "$out"; then
			rc=0
			echo "$(cmocka_failed "$out")$(grep -q '^\[  FAILED  \]' "$out" || echo "exited early")"
		else
			rc=1
		fi
		;;
	e2e)
		if ! build_mutant "$name" all; then
			echo "the programs do not build"
			rc=2
		elif ! WGFWD_BIN=$dir/$B KEEP_LAB=1 E2E_STOP_AT_FAIL=1 tests/e2e/run.sh "$what" \
			>"$out" 2>&1; then
			rc=0
			sed -n "s/^FAIL  [a-z0-9_]*: //p" "$out" | head -n 3 | paste -sd ';'
		else
			rc=1
		fi
		;;
	*)
		echo "unknown check kind \`$kind'"
		rc=2
		;;
	esac
	cp "$out" "$dir/check-$kind-$what.log" 2>/dev/null
	rm -f "$out"
	return "$rc"
}

run_mutant() {
	judge_mutant "$1"
	[ "${MUTANTS_KEEP:-0}" = 1 ] || rm -rf "${MUTANTS_DIR:?}/$1"
}

judge_mutant() {
	local name=$1 check why caught=() survived=() broken=() skipped_checks=() result
	log "=== mutant $name: ${m_what[$name]} removed"
	if ! why=$(make_mutant "$name"); then
		log "$why" | sed 's/^/  /'
		failures+=("$name: $why")
		failed=$((failed + 1))
		return
	fi
	printf '%s\n' "$why" | grep -v '^$'
	for check in ${m_checks[$name]}; do
		case "$check" in
		unit:* | kernel:*)
			if [ "${check%%:*}" = kernel ] && [ "$(id -u)" -ne 0 ]; then
				skipped_checks+=("$check (needs root)")
				continue
			fi
			if ! baseline_ok "$check"; then
				skipped_checks+=("$check (fails on the real build)")
				continue
			fi
			;;
		e2e:*)
			if [ "$(id -u)" -ne 0 ]; then
				skipped_checks+=("$check (needs root)")
				continue
			fi
			if [ "$lab_used" = 0 ]; then
				"$LAB" status >/dev/null 2>&1 || lab_was_up=0
				lab_used=1
			fi
			;;
		esac
		result=$(catches "$name" "$check")
		case $? in
		0)
			caught+=("$check: ${result:-failed}")
			log "  caught by $check: ${result:-failed}"
			[ "${MUTANTS_ALL:-0}" = 1 ] && continue
			break
			;;
		2)
			broken+=("$check: $result")
			log "  $check: $result"
			;;
		*)
			survived+=("$check")
			log "  survived $check"
			;;
		esac
	done
	if [ ${#broken[@]} -gt 0 ]; then
		failures+=("$name: ${broken[*]}")
		failed=$((failed + 1))
	elif [ ${#caught[@]} -gt 0 ]; then
		passed=$((passed + 1))
	elif [ ${#survived[@]} -eq 0 ]; then
		log "  not judged: ${skipped_checks[*]}"
		skipped=$((skipped + 1))
	else
		log "  SURVIVED: no check fails without ${m_what[$name]}; a test is missing (ran: ${survived[*]})"
		failures+=("$name: survived ${survived[*]}: a test of ${m_what[$name]} is missing")
		failed=$((failed + 1))
	fi
}

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=("${mutants[@]}")
for name in "${wanted[@]}"; do
	if [ -z "${m_what[$name]:-}" ]; then
		log "mutants: no mutant \`$name' (one of: ${mutants[*]})"
		failed=$((failed + 1))
		continue
	fi
	run_mutant "$name"
done

if [ "$lab_used" = 1 ] && [ "$lab_was_up" = 0 ]; then
	"$LAB" down >/dev/null 2>&1
fi
if [ "${MUTANTS_KEEP:-0}" = 1 ]; then
	log "mutants: trees kept in $MUTANTS_DIR"
else
	rm -rf "$MUTANTS_DIR"
fi
if [ ${#failures[@]} -gt 0 ]; then
	log "mutants failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "mutants: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
