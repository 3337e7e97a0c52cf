/* What the daemon does with each peer's states when their turn comes (control.h): decides them
 * (policy.h), applies the result (daemon.c), saves it, answers, and notes the conntrack entries
 * the change leaves stale (ct_flush.h); and grants again what was refused only because this
 * host listened on the port. */
#include <errno.h>
#include <malloc.h>
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
#include "store.h"

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

/* The message's entries are the policy's: one type from the wire to the kernel. */
static int entries_from_message(const struct wf_ctl_state *s, struct wf_gw_entries *e)
{
	const struct wf_gw_entries asked = {.forwards = s->forwards,
	                                    .n_forwards = s->n_forwards,
	                                    .egress = s->egress,
	                                    .n_egress = s->n_egress};

	return wf_gw_entries_copy(e, &asked);
}

static void fill_results(struct wf_ctl_result *out, const struct wf_gw_result *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i].accepted = in[i].status == WF_GW_ACCEPTED;
		if (!out[i].accepted)
			WF_COPY(out[i].reason, in[i].reason);
	}
}

static void count_refusals(struct wf_gw_daemon *d, const struct wf_gw_decision *dec)
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
static void log_refusals(const struct wf_gw_daemon *d, size_t peer, const struct wf_ctl_state *s,
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

const struct wf_ct_stale_ops wf_gw_stale_flow_ops = {.prune = prune_stale_flows,
                                                     .flushed = stale_flows_flushed};

static void note_stale_flows(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *from,
                             const struct wf_gw_state *to)
{
	struct wf_ct_match *m;
	size_t n;
	int err;

	if (!d->ct)
		return;
	err = wf_gw_ct_matches(&d->s.params, d->cfg, from, to, &m, &n);
	if (!err) {
		err = wf_ct_stale_note(d->ct, m, n);
		free(m);
	}
	if (err < 0) {
		log_warn("peer %s: cannot note the changed forwards (%s): their flows keep the old "
		         "path until they go idle",
		         wf_gw_peer_name(d, peer), strerror(-err));
		return;
	}
	if (n)
		d->peers[peer].ct_changed = true;
}

static bool host_port_refused(const struct wf_gw_decision *dec)
{
	for (size_t i = 0; i < dec->n_forwards; i++)
		if (dec->forwards[i].status == WF_GW_HOST_PORT)
			return true;
	return false;
}

/* The results of an applied decision, for the agent's status. 0 or -ENOMEM. */
static int fill_ack(struct wf_ctl_state_ack *a, const struct wf_gw_decision *dec)
{
	a->applied = true;
	a->n_forwards = dec->n_forwards;
	a->n_egress = dec->n_egress;
	a->forwards = calloc(dec->n_forwards ? dec->n_forwards : 1, sizeof(*a->forwards));
	a->egress = calloc(dec->n_egress ? dec->n_egress : 1, sizeof(*a->egress));
	if (!a->forwards || !a->egress)
		return -ENOMEM;
	fill_results(a->forwards, dec->forwards, dec->n_forwards);
	fill_results(a->egress, dec->egress, dec->n_egress);
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
		note_stale_flows(d, p, &d->state, &next);
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
		d->peers[p].retry = host_port_refused(&dec);
		ack.state_ack.generation = d->peers[p].generation;
		err = fill_ack(&ack.state_ack, &dec);
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

/* A peer may send states of up to 65,536 entries, and what deciding and rendering one takes
 * goes back to malloc's free lists, not to the system: the process would keep the peak of the
 * largest state ever seen. After a large state, it goes back. */
#define LARGE_STATE_ENTRIES 1024

static void return_memory(const struct wf_ctl_state *s)
{
	if (s->n_forwards + s->n_egress >= LARGE_STATE_ENTRIES)
		malloc_trim(0);
}

/* What follows an applied state or delta: its refusals logged and counted, clashes with the
 * host's ports looked for again, the acknowledgement filled. */
static void answer_applied(struct wf_gw_daemon *d, size_t peer, const struct wf_ctl_state *s,
                           const struct wf_gw_decision *dec, struct wf_ctl_state_ack *a)
{
	log_refusals(d, peer, s, dec);
	count_refusals(d, dec);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	if (fill_ack(a, dec))
		/* Applied, but no results to say so: the agent tries again. */
		WF_COPY(a->reason, "the gateway is out of memory");
}

static void answer_refused(struct wf_gw_daemon *d, size_t peer, const char *what,
                           uint64_t generation, const char *why, struct wf_ctl_state_ack *a)
{
	log_error("peer %s: %s %llu not applied: %s", wf_gw_peer_name(d, peer), what,
	          (unsigned long long)generation, why);
	d->states_refused++;
	a->applied = false;
	WF_COPY(a->reason, why);
}

static int render_change(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                         const struct wf_gw_state *gone, const struct wf_gw_state *came,
                         struct wf_nft_table **add, struct wf_nft_table **del);
static int apply_rendered(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                          const struct wf_nft_table *add, const struct wf_nft_table *del,
                          struct wf_gw_apply_result *res, char *why, size_t whylen);

static double seconds_now(void);

/* A state's turn goes in steps (control.h), so that no step of a largest state holds the loop
 * for long: decide; the elements of what the peer's entries lost and gained, rendered; their
 * batch, built; the kernel's one transaction and what the daemon keeps of it; the results for
 * the ack, a slice at a time. Another peer's turn may come between them and change what it
 * holds: when that takes nothing this decision grants, the turn goes on (its elements are its
 * peer's alone; apply.h guards the batch on the generation that change left); otherwise it
 * starts again from deciding. After a few such restarts the steps up to the commit run back
 * to back, so that a peer among busy ones is not kept waiting for ever. */

enum turn_phase { TURN_DECIDE, TURN_RENDER, TURN_PREPARE, TURN_COMMIT, TURN_FILL };

#define TURN_RESTARTS_MAX 2
/* Results filled for the ack per step: each costs a reason's copy into fresh memory. */
#define TURN_FILL_SLICE 8192

struct wf_gw_turn {
	enum turn_phase phase;
	unsigned restarts;
	struct wf_gw_entries want, held; /* held: what the peer held when it was decided */
	struct wf_gw_state next, gone, came;
	struct wf_gw_decision dec;
	struct wf_nft_table *add, *del; /* NULL: the whole ruleset is written */
	struct wf_gw_elements *batch;   /* their batch, built; NULL: the whole ruleset */
	size_t filled;
};

static void turn_reset(struct wf_gw_turn *t)
{
	wf_gw_entries_free(&t->want);
	wf_gw_entries_free(&t->held);
	wf_gw_state_free(&t->next);
	wf_gw_state_free(&t->gone);
	wf_gw_state_free(&t->came);
	wf_gw_decision_free(&t->dec);
	wf_nft_table_free(t->add);
	wf_nft_table_free(t->del);
	t->add = t->del = NULL;
	wf_gw_elements_free(t->batch);
	t->batch = NULL;
	t->phase = TURN_DECIDE;
	t->filled = 0;
}

static void turn_end(struct wf_gw_daemon *d, size_t peer)
{
	if (!d->peers[peer].turn)
		return;
	turn_reset(d->peers[peer].turn);
	free(d->peers[peer].turn);
	d->peers[peer].turn = NULL;
}

/* Whether the turn's decision still stands against what the peers hold now: 0 nothing changed,
 * 1 others changed but not what it grants (their entries in the turn's next state are taken
 * anew), -1 it must be decided again. O(n log n). */
static int turn_check(const struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	bool moved = false;

	if (!wf_gw_entries_equal(&d->state.peers[peer], &t->held))
		return -1;
	for (size_t p = 0; p < d->state.n_peers; p++)
		moved = moved ||
		        (p != peer && !wf_gw_entries_equal(&d->state.peers[p], &t->next.peers[p]));
	if (!moved)
		return 0;
	if (!wf_gw_policy_still_grantable(d->cfg, &d->state, peer, &t->next.peers[peer]))
		return -1;
	for (size_t p = 0; p < d->state.n_peers; p++) {
		if (p == peer || wf_gw_entries_equal(&d->state.peers[p], &t->next.peers[p]))
			continue;
		wf_gw_entries_free(&t->next.peers[p]);
		if (wf_gw_entries_copy(&t->next.peers[p], &d->state.peers[p]))
			return -1;
	}
	return 1;
}

static int turn_decide(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                       const struct wf_ctl_state *s)
{
	/* This peer asks anew and is decided below; others may have a refusal to retry. */
	d->peers[peer].retry = false;
	wf_gw_daemon_refresh_host_ports(d, true);
	int err = entries_from_message(s, &t->want);

	if (!err)
		err = wf_gw_entries_copy(&t->held, &d->state.peers[peer]);
	if (!err)
		err = wf_gw_policy_decide(d->cfg, &d->state, peer, &t->want, &t->next, &t->dec);
	return err;
}

/* The elements of what went and came, rendered; a change they cannot carry (of egress, or one
 * that cannot be rendered alone) leaves them NULL and the whole ruleset goes instead. */
static void turn_render(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	if (wf_gw_state_init(&t->gone, d->state.n_peers) ||
	    wf_gw_state_init(&t->came, d->state.n_peers) ||
	    wf_gw_entries_forward_diff(&t->held, &t->next.peers[peer], &t->gone.peers[peer],
	                               &t->came.peers[peer]) ||
	    render_change(d, peer, &t->next, &t->gone, &t->came, &t->add, &t->del)) {
		wf_nft_table_free(t->add);
		wf_nft_table_free(t->del);
		t->add = t->del = NULL;
	}
}

/* The kernel's change and what the daemon keeps of it; the ack's arrays, to be filled. */
static int turn_commit(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                       const struct wf_ctl_state *s, struct wf_ctl_state_ack *a, char *why,
                       size_t whylen)
{
	struct wf_gw_peer_run *run = &d->peers[peer];
	struct wf_gw_apply_result res;
	char change[96];
	bool same;
	double start = seconds_now();
	int err =
	    t->batch ? wf_gw_elements_commit(d->nft, &d->apply_cache, t->batch, &res) : -ESTALE;

	if (!err) {
		wf_histogram_observe(&d->apply_seconds, seconds_now() - start);
		d->applies++;
		d->last_apply_ok = true;
	} else {
		if (err != -ESTALE)
			log_info("peer %s: element updates failed (%s): writing the whole ruleset",
			         wf_gw_peer_name(d, peer), strerror(-err));
		err = wf_gw_daemon_apply(d, &t->next, &res, why, whylen);
	}
	if (err)
		return err;
	same = wf_gw_entries_equal(&d->state.peers[peer], &t->next.peers[peer]);
	if (!same)
		note_stale_flows(d, peer, &d->state, &t->next);
	wf_gw_state_free(&d->state);
	d->state = t->next;
	memset(&t->next, 0, sizeof(t->next));
	run->generation = s->generation;
	wf_gw_entries_free(&run->asked);
	run->asked = t->want;
	memset(&t->want, 0, sizeof(t->want));
	run->retry = host_port_refused(&t->dec);
	/* saved in a step of its own (settle_state) */
	run->unsaved |= !same;
	log_info("peer %s: state %llu: %zu of %zu forwards and %zu of %zu egress entries held; "
	         "%s",
	         wf_gw_peer_name(d, peer), (unsigned long long)s->generation,
	         d->state.peers[peer].n_forwards, s->n_forwards, d->state.peers[peer].n_egress,
	         s->n_egress, wf_gw_change_text(&res, change, sizeof(change)));
	log_refusals(d, peer, s, &t->dec);
	count_refusals(d, &t->dec);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	a->applied = true;
	a->n_forwards = t->dec.n_forwards;
	a->n_egress = t->dec.n_egress;
	a->forwards = calloc(a->n_forwards ? a->n_forwards : 1, sizeof(*a->forwards));
	a->egress = calloc(a->n_egress ? a->n_egress : 1, sizeof(*a->egress));
	if (!a->forwards || !a->egress)
		/* Applied, but no results to say so: the agent tries again. */
		WF_COPY(a->reason, "the gateway is out of memory");
	return 0;
}

/* One slice of the ack's results; true when all are in. */
static bool turn_fill(struct wf_gw_turn *t, struct wf_ctl_state_ack *a)
{
	size_t n = t->dec.n_forwards + t->dec.n_egress, end = t->filled + TURN_FILL_SLICE;

	if (!a->forwards || !a->egress)
		return true;
	for (; t->filled < n && t->filled < end; t->filled++) {
		size_t i = t->filled;

		if (i < t->dec.n_forwards)
			fill_results(&a->forwards[i], &t->dec.forwards[i], 1);
		else
			fill_results(&a->egress[i - t->dec.n_forwards],
			             &t->dec.egress[i - t->dec.n_forwards], 1);
	}
	return t->filled == n;
}

/* One step of the turn; true while more are to come. */
static bool turn_step(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                      const struct wf_ctl_state *s, struct wf_ctl_state_ack *a)
{
	char why[1024] = "";
	int err;

	if (t->phase != TURN_DECIDE && t->phase != TURN_FILL) {
		int check = turn_check(d, peer, t);

		if (check < 0) {
			t->restarts++;
			turn_reset(t);
		}
	}
	switch (t->phase) {
	case TURN_DECIDE:
		err = turn_decide(d, peer, t, s);
		if (err) {
			snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
			break;
		}
		t->phase = TURN_RENDER;
		return true;
	case TURN_RENDER:
		turn_render(d, peer, t);
		t->phase = TURN_PREPARE;
		return true;
	case TURN_PREPARE:
		if (t->add &&
		    wf_gw_elements_prepare(d->nft, &d->apply_cache, t->add, t->del, &t->batch))
			t->batch = NULL;
		t->phase = TURN_COMMIT;
		return true;
	case TURN_COMMIT:
		err = turn_commit(d, peer, t, s, a, why, sizeof(why));
		if (err)
			break;
		t->phase = TURN_FILL;
		return true;
	case TURN_FILL:
		return !turn_fill(t, a);
	}
	answer_refused(d, peer, "state", s->generation, why, a);
	return false;
}

/* A peer's state whose turn has come (control.h): one step each call. */
static bool take_state(void *arg, size_t peer, const struct wf_ctl_state *s,
                       struct wf_ctl_state_ack *a)
{
	struct wf_gw_daemon *d = arg;
	struct wf_gw_peer_run *run = &d->peers[peer];
	struct wf_gw_turn *t = run->turn;
	bool more;

	if (!t) {
		t = run->turn = calloc(1, sizeof(*t));
		if (!t) {
			answer_refused(d, peer, "state", s->generation,
			               "the gateway is out of memory", a);
			return false;
		}
		if (strcmp(run->agent_version, s->agent_version)) {
			log_info("peer %s: wgfwd-agent %s", wf_gw_peer_name(d, peer),
			         s->agent_version[0] ? s->agent_version : "(version not sent)");
			WF_COPY(run->agent_version, s->agent_version);
		}
	}
	do
		more = turn_step(d, peer, t, s, a);
	while (more && t->restarts > TURN_RESTARTS_MAX && t->phase != TURN_FILL);
	if (!more) {
		turn_end(d, peer);
		return_memory(s);
	}
	return more;
}

/* A turn left before its end (the peer went): what the kernel holds is kept and saved. */
static void abandon_state(void *arg, size_t peer)
{
	struct wf_gw_daemon *d = arg;

	turn_end(d, peer);
	if (d->peers[peer].unsaved)
		wf_gw_daemon_save_peer(d, peer);
}

/* The state take_state applied is written in a step of its own: for a largest state, as long
 * as deciding and applying it, and another peer's turn may come between the two. */
static void settle_state(void *arg, size_t peer)
{
	struct wf_gw_daemon *d = arg;

	if (d->peers[peer].unsaved)
		wf_gw_daemon_save_peer(d, peer);
}

/* The wire's order of forwards (ctl.h: tcp ipv4, tcp ipv6, udp ipv4, udp ipv6), then by
 * public port: wf_ctl_state_sort's, which the agent keeps and a delta's state has. */
static int wire_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_forward *a = pa, *b = pb;
	int ka = (a->proto == IPPROTO_UDP) * 2 + (a->family == AF_INET6);
	int kb = (b->proto == IPPROTO_UDP) * 2 + (b->family == AF_INET6);

	if (ka != kb)
		return ka - kb;
	return (int)a->public_port - (int)b->public_port;
}

static bool egress_same(const struct wf_ctl_egress *a, const struct wf_ctl_egress *b)
{
	return a->proto == b->proto && a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

/* The request a delta makes of the one before (asked, put in the wire's sorted order): -ESRCH
 * when the delta does not fit it (a removed entry it does not hold, an added key it still
 * holds), -ENOMEM. O(n) copying, O(log n) per removed forward. */
static int delta_request(struct wf_gw_entries *asked, const struct wf_ctl_state_delta *dl,
                         struct wf_gw_entries *out)
{
	struct wf_ctl_state view = {.forwards = asked->forwards,
	                            .n_forwards = asked->n_forwards,
	                            .egress = asked->egress,
	                            .n_egress = asked->n_egress};
	const struct wf_ctl_state *add = &dl->add, *del = &dl->del;
	struct wf_ctl_forward *added = NULL;
	bool *gone = NULL;
	size_t n = asked->n_forwards, i = 0, j = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	wf_ctl_state_sort(&view);
	gone = calloc(n + asked->n_egress + 1, sizeof(*gone));
	added = malloc((add->n_forwards + 1) * sizeof(*added));
	if (!gone || !added ||
	    wf_gw_entries_alloc(out, n + add->n_forwards, asked->n_egress + add->n_egress))
		goto fail;
	err = -ESRCH;
	for (size_t k = 0; k < del->n_forwards; k++) {
		const struct wf_ctl_forward *f =
		    n ? bsearch(&del->forwards[k], asked->forwards, n, sizeof(*f), wire_cmp) : NULL;

		if (!f || f->target_port != del->forwards[k].target_port)
			goto fail;
		gone[f - asked->forwards] = true;
	}
	for (size_t k = 0; k < del->n_egress; k++) {
		size_t e = 0;

		while (e < asked->n_egress &&
		       (gone[n + e] || !egress_same(&asked->egress[e], &del->egress[k])))
			e++;
		if (e == asked->n_egress)
			goto fail;
		gone[n + e] = true;
	}
	/* A delta's lists need only be in the wire's kinds; sorted, they merge in one pass. */
	memcpy(added, add->forwards, add->n_forwards * sizeof(*added));
	qsort(added, add->n_forwards, sizeof(*added), wire_cmp);
	while (i < n || j < add->n_forwards) {
		int c;

		if (i < n && gone[i]) {
			i++;
			continue;
		}
		c = i >= n                 ? 1
		    : j >= add->n_forwards ? -1
		                           : wire_cmp(&asked->forwards[i], &added[j]);
		if (c == 0)
			goto fail;
		out->forwards[out->n_forwards++] = c < 0 ? asked->forwards[i++] : added[j++];
	}
	for (size_t e = 0; e < asked->n_egress; e++)
		if (!gone[n + e])
			out->egress[out->n_egress++] = asked->egress[e];
	for (size_t e = 0; e < add->n_egress; e++)
		out->egress[out->n_egress++] = add->egress[e];
	view = (struct wf_ctl_state){.egress = out->egress, .n_egress = out->n_egress};
	wf_ctl_state_sort(&view);
	free(gone);
	free(added);
	return 0;
fail:
	free(gone);
	free(added);
	wf_gw_entries_free(out);
	return err;
}

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The forwards a delta took from the peer (`gone`: those of del it held) and gave it (`came`:
 * the added ones granted), each alone in a state of every peer: O(changes log n). */
static int delta_forwards(const struct wf_gw_daemon *d, size_t peer,
                          const struct wf_ctl_state_delta *dl, const struct wf_gw_decision *dec,
                          struct wf_gw_state *gone, struct wf_gw_state *came)
{
	const struct wf_gw_entries *held = &d->state.peers[peer];
	int err = wf_gw_state_init(gone, d->state.n_peers);

	if (!err)
		err = wf_gw_state_init(came, d->state.n_peers);
	for (size_t i = 0; i < dl->del.n_forwards && !err; i++) {
		const struct wf_ctl_forward *f =
		    wf_gw_entries_find_forward(held, &dl->del.forwards[i]);

		if (f && f->target_port == dl->del.forwards[i].target_port)
			err = wf_gw_entries_add_forward(&gone->peers[peer], f);
	}
	for (size_t i = 0; i < dl->add.n_forwards && !err; i++)
		if (dec->forwards[i].status == WF_GW_ACCEPTED)
			err = wf_gw_entries_add_forward(&came->peers[peer], &dl->add.forwards[i]);
	return err;
}

/* The elements of what went and came as two tables of the same shape, when only forwards
 * change (egress elements need the whole ruleset). -ESTALE otherwise. */
static int render_change(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                         const struct wf_gw_state *gone, const struct wf_gw_state *came,
                         struct wf_nft_table **add, struct wf_nft_table **del)
{
	const struct wf_gw_entries *from = &d->state.peers[peer], *to = &next->peers[peer];

	*add = *del = NULL;
	if (!wf_ctl_egress_equal(from->egress, from->n_egress, to->egress, to->n_egress))
		return -ESTALE;
	if (wf_gw_render(&d->s.params, d->cfg, came, add) ||
	    wf_gw_render(&d->s.params, d->cfg, gone, del)) {
		wf_nft_table_free(*add);
		wf_nft_table_free(*del);
		*add = *del = NULL;
		return -ESTALE;
	}
	return 0;
}

/* One peer's change into the kernel: the rendered elements of what went and came when the
 * table is the one last written (no rendering of the others); the whole ruleset otherwise. */
static int apply_rendered(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                          const struct wf_nft_table *add, const struct wf_nft_table *del,
                          struct wf_gw_apply_result *res, char *why, size_t whylen)
{
	double start = seconds_now();
	int err = wf_gw_apply_elements(d->nft, &d->apply_cache, add, del, res);

	if (err) {
		if (err != -ESTALE)
			log_info("peer %s: element updates failed (%s): writing the whole ruleset",
			         wf_gw_peer_name(d, peer), strerror(-err));
		return wf_gw_daemon_apply(d, next, res, why, whylen);
	}
	wf_histogram_observe(&d->apply_seconds, seconds_now() - start);
	d->applies++;
	d->last_apply_ok = true;
	return 0;
}

static int apply_delta(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                       const struct wf_gw_state *gone, const struct wf_gw_state *came,
                       struct wf_gw_apply_result *res, char *why, size_t whylen)
{
	struct wf_nft_table *add = NULL, *del = NULL;
	int err = render_change(d, peer, next, gone, came, &add, &del);

	err = err ? wf_gw_daemon_apply(d, next, res, why, whylen)
	          : apply_rendered(d, peer, next, add, del, res, why, whylen);
	wf_nft_table_free(add);
	wf_nft_table_free(del);
	return err;
}

/* The journal is started anew (the whole file written) once it passes this plus two bytes a
 * forward held: a change costs a line, and a restart replays a few thousand at most. */
#define JOURNAL_BASE_BYTES 16384

/* What a delta changed, onto the disk: appended to the peer's journal when only forwards
 * changed, the whole file otherwise or when the journal has grown. */
static void save_delta(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *gone,
                       const struct wf_gw_state *came, bool egress_changed)
{
	struct wf_gw_peer_run *run = &d->peers[peer];
	size_t size = 0;
	char err[512];

	if (!egress_changed && !run->unsaved) {
		if (!gone->peers[peer].n_forwards && !came->peers[peer].n_forwards)
			return;
		if (!wf_gw_store_append(d->s.state_dir, wf_gw_peer_name(d, peer),
		                        &gone->peers[peer], &came->peers[peer], &size, err,
		                        sizeof(err))) {
			if (size <= JOURNAL_BASE_BYTES + 2 * d->state.peers[peer].n_forwards)
				return;
		} else {
			log_warn("peer %s: %s: writing its whole file instead",
			         wf_gw_peer_name(d, peer), err);
		}
	}
	wf_gw_daemon_save_peer(d, peer);
}

/* A peer's state_delta whose base the control server found held (control.h). */
static void take_delta(void *arg, size_t peer, const struct wf_ctl_state_delta *dl,
                       struct wf_ctl_state_ack *a)
{
	struct wf_gw_daemon *d = arg;
	struct wf_gw_peer_run *run = &d->peers[peer];
	const struct wf_gw_entries add = {.forwards = dl->add.forwards,
	                                  .n_forwards = dl->add.n_forwards,
	                                  .egress = dl->add.egress,
	                                  .n_egress = dl->add.n_egress};
	const struct wf_gw_entries del = {.forwards = dl->del.forwards,
	                                  .n_forwards = dl->del.n_forwards,
	                                  .egress = dl->del.egress,
	                                  .n_egress = dl->del.n_egress};
	struct wf_gw_entries want = {0}, mine = {0};
	struct wf_gw_state next = {0}, gone = {0}, came = {0};
	struct wf_gw_decision dec = {0};
	struct wf_gw_apply_result res;
	struct wf_ctl_state named = dl->add;
	char why[1024] = "", change[96];
	bool egress_changed;
	int err;

	/* Only a forward to grant can meet a port this host listens on. */
	if (dl->add.n_forwards)
		wf_gw_daemon_refresh_host_ports(d, true);
	err = delta_request(&run->asked, dl, &want);
	if (err == -ESRCH) {
		log_warn("peer %s: delta %llu does not fit state %llu as the gateway holds it: "
		         "asking for the whole state",
		         wf_gw_peer_name(d, peer), (unsigned long long)dl->generation,
		         (unsigned long long)dl->base);
		a->resend = true;
		snprintf(
		    a->reason, sizeof(a->reason),
		    "the delta does not fit state %llu as the gateway holds it: send the whole "
		    "state",
		    (unsigned long long)dl->base);
		return;
	}
	if (!err)
		err = wf_gw_policy_decide_delta(d->cfg, &d->state, peer, &del, &add, &want, &mine,
		                                &dec);
	/* The others' entries as they are: only this peer's array is new. */
	if (!err && !(next.peers = malloc(d->state.n_peers * sizeof(*next.peers))))
		err = -ENOMEM;
	if (err) {
		snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
		goto refuse;
	}
	next.n_peers = d->state.n_peers;
	memcpy(next.peers, d->state.peers, next.n_peers * sizeof(*next.peers));
	next.peers[peer] = mine;
	err = delta_forwards(d, peer, dl, &dec, &gone, &came);
	if (err) {
		snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
		goto refuse;
	}
	err = apply_delta(d, peer, &next, &gone, &came, &res, why, sizeof(why));
	if (err)
		goto refuse;
	/* Only what went or came can have flows on a path that changed. */
	note_stale_flows(d, peer, &gone, &came);
	egress_changed = !wf_ctl_egress_equal(
	    d->state.peers[peer].egress, d->state.peers[peer].n_egress, mine.egress, mine.n_egress);
	wf_gw_entries_free(&d->state.peers[peer]);
	d->state.peers[peer] = mine;
	memset(&mine, 0, sizeof(mine));
	run->generation = dl->generation;
	wf_gw_entries_free(&run->asked);
	run->asked = want;
	memset(&want, 0, sizeof(want));
	/* Refusals of the base stay as they were, a host port among them too. */
	run->retry = run->retry || host_port_refused(&dec);
	save_delta(d, peer, &gone, &came, egress_changed);
	log_info("peer %s: delta %llu on %llu: %zu forwards and %zu egress entries added, %zu and "
	         "%zu removed; %zu forwards and %zu egress entries held; %s",
	         wf_gw_peer_name(d, peer), (unsigned long long)dl->generation,
	         (unsigned long long)dl->base, dl->add.n_forwards, dl->add.n_egress,
	         dl->del.n_forwards, dl->del.n_egress, d->state.peers[peer].n_forwards,
	         d->state.peers[peer].n_egress, wf_gw_change_text(&res, change, sizeof(change)));
	named.generation = dl->generation;
	answer_applied(d, peer, &named, &dec, a);
	goto out;

refuse:
	answer_refused(d, peer, "delta", dl->generation, why, a);
out:
	free(next.peers);
	wf_gw_state_free(&gone);
	wf_gw_state_free(&came);
	wf_gw_entries_free(&want);
	wf_gw_entries_free(&mine);
	wf_gw_decision_free(&dec);
}

const struct wf_gw_control_ops wf_gw_peer_ops = {
    .state = take_state,
    .abandon = abandon_state,
    .settle = settle_state,
    .state_delta = take_delta,
    .gateway_info = gateway_info,
};
