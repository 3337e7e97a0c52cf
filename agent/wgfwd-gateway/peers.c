/* What the daemon does with each peer (control.h's ops): its states are taken in turns
 * (turn.c) and its deltas as they come (delta.c); what both share is here: refusals logged and
 * counted, the conntrack entries a change leaves stale (ct_flush.h), the ack's results, the
 * elements of a change. Here too the gateway's info for a peer, and granting again what was
 * refused only because this host listened on the port. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd/log.h>
#include <wgfwd/rtnl.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

#include "ct_flush.h"
#include "daemon.h"
#include "delta.h"
#include "peers.h"
#include "turn.h"

#define FALLBACK_TUNNEL_MTU 1420

static void gateway_info(void *arg, size_t peer, struct wf_ctl_gateway_info *gi)
{
	struct wf_gw_daemon *d = arg;
	uint32_t mtu = 0;
	int err;

	for (size_t i = 0; i < d->s.params.n_public_ip4 && i < WF_CTL_ADDRS_MAX; i++)
		gi->ipv4[gi->n_ipv4++] = d->s.params.public_ip4[i];
	for (size_t i = 0; i < d->s.params.n_public_ip6 && i < WF_CTL_ADDRS_MAX; i++)
		gi->ipv6[gi->n_ipv6++] = d->s.params.public_ip6[i];
	err = wf_rtnl_link_mtu(d->rtnl, d->s.params.tunnel_ifname, &mtu);
	if (err || mtu < WF_CTL_MTU_MIN || mtu > WF_CTL_MTU_MAX) {
		log_warn("cannot read the MTU of %s (%s): telling peer %s it is %u",
		         d->s.params.tunnel_ifname, err ? strerror(-err) : "out of range",
		         wf_gw_peer_name(d, peer), FALLBACK_TUNNEL_MTU);
		mtu = FALLBACK_TUNNEL_MTU;
	}
	gi->mtu = mtu;
	if (wf_ctl_version_valid(wf_version))
		WF_COPY(gi->gateway_version, wf_version);
}

void wf_gw_fill_results(struct wf_ctl_result *out, const struct wf_gw_result *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i].accepted = in[i].status == WF_GW_ACCEPTED;
		if (!out[i].accepted)
			WF_COPY(out[i].reason, in[i].reason);
	}
}

void wf_gw_count_refusals(struct wf_gw_daemon *d, const struct wf_gw_decision *dec)
{
	for (size_t i = 0; i < dec->n_forwards; i++)
		d->refused[dec->forwards[i].status]++;
	for (size_t i = 0; i < dec->n_egress; i++)
		d->refused[dec->egress[i].status]++;
}

/* How many refused entries a log line names; the rest are counted by kind. */
#define REFUSALS_NAMED 3

/* One line per state however much of it was refused: a peer sending 65,536 refused entries a
 * message must not be able to write 65,536 lines (the ack carries every reason to the agent). */
void wf_gw_log_refusals(const struct wf_gw_daemon *d, size_t peer, const struct wf_ctl_state *s,
                        const struct wf_gw_decision *dec)
{
	char kinds[256], first[REFUSALS_NAMED * (WF_GW_REASON_MAX + 32)];

	if (!dec->n_refused)
		return;
	log_info("peer %s: state %llu: refused %zu of %zu entries (%s): %s",
	         wf_gw_peer_name(d, peer), (unsigned long long)s->generation, dec->n_refused,
	         dec->n_forwards + dec->n_egress,
	         wf_gw_refusal_kinds_text(dec, kinds, sizeof(kinds)),
	         wf_gw_refusals_text(dec, s->forwards, REFUSALS_NAMED, first, sizeof(first)));
}

/* Flows keep the path their conntrack entry took: once the kernel holds the next state, the
 * entries of the forwards that changed go, so their next packet meets the new rules. The search
 * walks the kernel's whole conntrack hash (milliseconds even when it is nearly empty; no walk
 * when this namespace holds no entry at all), so it runs after the agent has its answer, once
 * for all the changes of a burst. */
static size_t prune_stale_flows(void *arg, struct wf_ct_match *m, size_t n)
{
	const struct wf_gw_daemon *d = arg;

	return wf_gw_ct_prune(d->cfg, &d->state, m, n);
}

static void narrow_stale_flows(void *arg, struct wf_ct_match *m, size_t n)
{
	const struct wf_gw_daemon *d = arg;

	wf_gw_ct_narrow(d->cfg, &d->state, m, n);
}

static void stale_flows_flushed(void *arg, int looked_for, size_t deleted)
{
	struct wf_gw_daemon *d = arg;
	char peers[256] = "";
	size_t len = 0, n = 0;

	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		if (!d->peers[p].ct_changed)
			continue;
		if (len < sizeof(peers))
			len += (size_t)snprintf(peers + len, sizeof(peers) - len, "%s%s",
			                        n ? ", " : "", wf_gw_peer_name(d, p));
		d->peers[p].ct_changed = false;
		n++;
	}
	if (looked_for < 0)
		log_warn("peer%s %s: cannot delete the conntrack entries of changed forwards (%s): "
		         "their flows keep the old path until they go idle",
		         n > 1 ? "s" : "", peers, strerror(-looked_for));
	else if (deleted)
		log_info("peer%s %s: deleted %zu conntrack entr%s of changed forwards",
		         n > 1 ? "s" : "", peers, deleted, deleted == 1 ? "y" : "ies");
	else if (looked_for)
		log_debug("peer%s %s: no conntrack entries of changed forwards to delete",
		          n > 1 ? "s" : "", peers);
}

const struct wf_ct_stale_ops wf_gw_stale_flow_ops = {
    .prune = prune_stale_flows, .narrow = narrow_stale_flows, .flushed = stale_flows_flushed};

/* Noted even when the change makes no match: it may make the pending ones right again (a
 * restart). */
void wf_gw_note_stale_flows(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *from,
                            const struct wf_gw_state *to)
{
	struct wf_ct_match *m;
	size_t n = 0;
	int err;

	if (!d->ct)
		return;
	err = wf_gw_ct_matches(&d->s.params, d->cfg, from, to, &m, &n);
	if (!err) {
		err = wf_ct_stale_note(d->ct, m, n);
		free(m);
	}
	if (err >= 0 && n)
		d->peers[peer].ct_changed = true;
	if (err < 0)
		log_warn("peer %s: cannot note the changed forwards (%s): their flows keep the old "
		         "path until they go idle",
		         wf_gw_peer_name(d, peer), strerror(-err));
}

bool wf_gw_host_port_refused(const struct wf_gw_decision *dec)
{
	for (size_t i = 0; i < dec->n_forwards; i++)
		if (dec->forwards[i].status == WF_GW_HOST_PORT)
			return true;
	return false;
}

/* The results of an applied decision, for the agent's status. 0 or -ENOMEM. */
int wf_gw_fill_ack(struct wf_ctl_state_ack *a, const struct wf_gw_decision *dec)
{
	a->applied = true;
	a->n_forwards = dec->n_forwards;
	a->n_egress = dec->n_egress;
	a->forwards = calloc(dec->n_forwards ? dec->n_forwards : 1, sizeof(*a->forwards));
	a->egress = calloc(dec->n_egress ? dec->n_egress : 1, sizeof(*a->egress));
	if (!a->forwards || !a->egress)
		return -ENOMEM;
	wf_gw_fill_results(a->forwards, dec->forwards, dec->n_forwards);
	wf_gw_fill_results(a->egress, dec->egress, dec->n_egress);
	return 0;
}

/* A port refused because this host listened on it is granted once the host's service is gone,
 * without waiting for the peer to ask again: its last request is decided anew, and the agent
 * gets the new results under the same generation. Only ever adds: what a peer holds stays. */
void wf_gw_retry_host_port_refusals(struct wf_gw_daemon *d)
{
	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		struct wf_gw_state next;
		struct wf_gw_decision dec;
		struct wf_gw_apply_result res;
		char why[1024], change[96];
		struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
		int err;

		if (!d->peers[p].retry)
			continue;
		err = wf_gw_policy_decide(d->cfg, &d->state, p, &d->peers[p].asked, &next, &dec);
		if (err)
			continue;
		if (wf_gw_entries_equal(&d->state.peers[p], &next.peers[p]))
			goto next_peer;
		err = wf_gw_daemon_apply(d, &next, &res, why, sizeof(why));
		if (err) {
			log_error("peer %s: forwards freed by this host cannot be applied: %s",
			          wf_gw_peer_name(d, p), why);
			goto next_peer;
		}
		wf_gw_note_stale_flows(d, p, &d->state, &next);
		log_info("peer %s: %zu more forward%s granted, this host no longer listening on "
		         "their ports; %s",
		         wf_gw_peer_name(d, p),
		         next.peers[p].n_forwards - d->state.peers[p].n_forwards,
		         next.peers[p].n_forwards - d->state.peers[p].n_forwards == 1 ? "" : "s",
		         wf_gw_change_text(&res, change, sizeof(change)));
		wf_gw_state_free(&d->state);
		d->state = next;
		memset(&next, 0, sizeof(next));
		wf_gw_daemon_save_peer(d, p);
		d->peers[p].retry = wf_gw_host_port_refused(&dec);
		ack.state_ack.generation = d->peers[p].generation;
		err = wf_gw_fill_ack(&ack.state_ack, &dec);
		if (!err)
			err = wf_gw_control_send(d->control, p, &ack);
		wf_ctl_msg_clear(&ack);
		if (err && err != -ENOTCONN)
			log_warn("peer %s: cannot send the new results: %s", wf_gw_peer_name(d, p),
			         strerror(-err));
	next_peer:
		wf_gw_state_free(&next);
		wf_gw_decision_free(&dec);
	}
}

void wf_gw_answer_refused(struct wf_gw_daemon *d, size_t peer, const char *what,
                          uint64_t generation, const char *why, struct wf_ctl_state_ack *a)
{
	log_error("peer %s: %s %llu not applied: %s", wf_gw_peer_name(d, peer), what,
	          (unsigned long long)generation, why);
	d->states_refused++;
	a->applied = false;
	WF_COPY(a->reason, why);
}

double wf_gw_seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The elements of what went and came as two tables of the same shape, when only forwards
 * change (egress elements need the whole ruleset). -ESTALE otherwise. */
int wf_gw_render_change(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                        const struct wf_gw_state *gone, const struct wf_gw_state *came,
                        struct wf_nft_table **add, struct wf_nft_table **del)
{
	const struct wf_gw_entries *from = &d->state.peers[peer], *to = &next->peers[peer];

	*add = *del = NULL;
	if (!wf_ctl_egress_equal(from->egress, from->n_egress, to->egress, to->n_egress))
		return -ESTALE;
	if (wf_gw_render_elements(d->cfg, came, add) || wf_gw_render_elements(d->cfg, gone, del)) {
		wf_nft_table_free(*add);
		wf_nft_table_free(*del);
		*add = *del = NULL;
		return -ESTALE;
	}
	return 0;
}

const struct wf_gw_control_ops wf_gw_peer_ops = {
    .state = wf_gw_take_state,
    .abandon = wf_gw_abandon_state,
    .cut = wf_gw_cut_state,
    .settle = wf_gw_settle_state,
    .state_delta = wf_gw_take_delta,
    .gateway_info = gateway_info,
};
