#include "ct_flush.h"

#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/ct_stale.h>

/* States keep their entries sorted, so this is a binary search: comparing two states of n
 * forwards costs O(n log n). */
static bool holds(const struct wf_gw_entries *e, const struct wf_ctl_forward *f)
{
	const struct wf_ctl_forward *g = wf_gw_entries_find_forward(e, f);

	return g && g->target_port == f->target_port;
}

/* The one match of the flows f translates to the peer; false when the peer has no address of
 * f's family. */
static bool removed_match(const struct wf_gw_peer *peer, const struct wf_ctl_forward *f,
                          struct wf_ct_match *out)
{
	struct wf_ct_match m = {.family = f->family,
	                        .l4proto = f->proto,
	                        .orig_dport = f->public_port,
	                        .has_reply_src = true,
	                        .reply_sport = f->target_port,
	                        .status_set = IPS_DST_NAT};

	if (f->family == AF_INET && peer->has_ip4)
		m.reply_src.ip4 = peer->ip4;
	else if (f->family == AF_INET6 && peer->has_ip6)
		m.reply_src.ip6 = peer->ip6;
	else
		return false;
	*out = m;
	return true;
}

static int added_matches(const struct wf_gw_params *p, const struct wf_ctl_forward *f,
                         struct wf_ct_pending *ms)
{
	struct wf_ct_match m = {.family = f->family,
	                        .l4proto = f->proto,
	                        .orig_dport = f->public_port,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	int err = 0;

	/* Refused TCP connections leave no entry that would outlive them. */
	if (f->proto == IPPROTO_TCP)
		return 0;
	if (f->family == AF_INET) {
		for (size_t i = 0; i < p->n_public_ip4 && !err; i++) {
			m.orig_dst.ip4 = p->public_ip4[i];
			err = wf_ct_pending_add(ms, &m, 1);
		}
	} else if (f->family == AF_INET6) {
		for (size_t i = 0; i < p->n_public_ip6 && !err; i++) {
			m.orig_dst.ip6 = p->public_ip6[i];
			err = wf_ct_pending_add(ms, &m, 1);
		}
	}
	return err;
}

int wf_gw_ct_matches(const struct wf_gw_params *p, const struct wf_gw_config *cfg,
                     const struct wf_gw_state *from, const struct wf_gw_state *to,
                     struct wf_ct_match **out, size_t *n)
{
	size_t n_peers = cfg->n_peers;
	struct wf_ct_pending ms = {0};
	struct wf_ct_match m;
	int err = 0;

	if (from->n_peers < n_peers)
		n_peers = from->n_peers;
	if (to->n_peers < n_peers)
		n_peers = to->n_peers;
	for (size_t peer = 0; peer < n_peers && !err; peer++) {
		const struct wf_gw_entries *before = &from->peers[peer], *after = &to->peers[peer];

		for (size_t i = 0; i < before->n_forwards && !err; i++)
			if (!holds(after, &before->forwards[i]) &&
			    removed_match(&cfg->peers[peer], &before->forwards[i], &m))
				err = wf_ct_pending_add(&ms, &m, 1);
		for (size_t i = 0; i < after->n_forwards && !err; i++)
			if (!holds(before, &after->forwards[i]))
				err = added_matches(p, &after->forwards[i], &ms);
	}
	return wf_ct_pending_take(&ms, err, out, n);
}

/* One forward a peer holds now, found by family, protocol and public port. */
struct held {
	const struct wf_ctl_forward *f;
	size_t peer;
};

/* A public port is one peer's at a time (policy.h), and each peer's entries are sorted: a
 * binary search in each, never a sort of everything held. A search at 10,000 forwards sorted
 * them all for each prune: 0.7 ms with one peer, 14 ms with 100 peers of 1,000. */
static bool held_now(const struct wf_gw_state *now, size_t n_peers, const struct wf_ct_match *m,
                     struct held *out)
{
	const struct wf_ctl_forward key = {
	    .proto = m->l4proto, .family = m->family, .public_port = m->orig_dport};

	for (size_t peer = 0; peer < n_peers; peer++) {
		const struct wf_ctl_forward *f =
		    wf_gw_entries_find_forward(&now->peers[peer], &key);

		if (f) {
			*out = (struct held){.f = f, .peer = peer};
			return true;
		}
	}
	return false;
}

/* True when every entry m selects is one that h, held now, would make the same way. */
static bool made_again_by(const struct wf_gw_config *cfg, const struct held *h,
                          const struct wf_ct_match *m)
{
	struct wf_ct_match own;

	if (!m->has_reply_src)
		/* Unanswered flows that nothing translated: right while no peer holds the port. */
		return !h;
	return h && removed_match(&cfg->peers[h->peer], h->f, &own) && wf_ct_match_equal(&own, m);
}

/* Every entry of the port, reply port and status that carries the mark is one the gateway
 * translated to that public port (render.h: only a map that found a target sets the bit), and
 * with no peer holding the port, every one of them is stale whichever peer it went to. An entry
 * of someone else's DNAT to the same ports (Docker on the VPS) has no such mark and stays.
 * Flows made before the gateway marked its flows have no mark either: the narrowed search
 * leaves them, and they keep the old path until they go idle (or end, as a TCP flow whose
 * peer answers with a reset does), as they did before any search existed. A move to another
 * peer keeps the address match, whose search by dump takes marked and unmarked flows alike. */
void wf_gw_ct_narrow(const struct wf_gw_config *cfg, const struct wf_gw_state *now,
                     struct wf_ct_match *m, size_t n)
{
	size_t n_peers = cfg->n_peers < now->n_peers ? cfg->n_peers : now->n_peers;

	for (size_t i = 0; i < n; i++) {
		struct held h;

		if (!wf_ct_match_narrowable(&m[i]) || held_now(now, n_peers, &m[i], &h))
			continue;
		m[i].n_marks = 1;
		m[i].marks[0] = WF_GW_CT_MARK;
		m[i].mark_mask = WF_GW_CT_MARK;
		m[i].addrs_implied = true;
	}
}

size_t wf_gw_ct_prune(const struct wf_gw_config *cfg, const struct wf_gw_state *now,
                      struct wf_ct_match *m, size_t n)
{
	size_t n_peers = cfg->n_peers < now->n_peers ? cfg->n_peers : now->n_peers;
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct held h;

		if (!made_again_by(cfg, held_now(now, n_peers, &m[i], &h) ? &h : NULL, &m[i]))
			m[kept++] = m[i];
	}
	return kept;
}
