#include "ct_flush.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd/log.h>
#include <wgfwd/util.h>

struct wf_ct_flush {
	struct wf_ct_stale *engine;
	struct wf_forward *applied; /* as last noted: what the kernel holds */
	size_t n_applied;
	const struct wf_desired *now; /* the caller's, when it notes changes: read at search time */
	const struct wf_server_params *params; /* for the prune of the search under way */
	uint32_t marks[WF_CT_MARKS_MAX];       /* wf_ct_orig_dsts' as last noted */
	size_t n_marks;
};

_Static_assert(WF_GATEWAYS_MAX + 1 <= WF_CT_MARKS_MAX, "a mark for each gateway and hairpin");

/* Where a forward sends flows of one family, as fill_maps in render.c renders it. */
static bool target_of(const struct wf_server_params *p, const struct wf_forward *f, int family,
                      union wf_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	if (family == AF_INET) {
		if (f->to_host ? !p->has_tunnel_ip4 : !f->has_ip4)
			return false;
		addr->ip4 = f->to_host ? p->tunnel_ip4 : f->ip4;
	} else {
		if (f->to_host ? !p->has_tunnel_ip6 : !f->has_ip6)
			return false;
		addr->ip6 = f->to_host ? p->tunnel_ip6 : f->ip6;
	}
	return true;
}

/* True when one of `others' sends this forward's public port of `family' to the same place. */
static bool same_target_in(const struct wf_server_params *p, const struct wf_forward *f, int family,
                           const struct wf_forward *others, size_t n)
{
	union wf_addr mine, theirs;

	if (!target_of(p, f, family, &mine))
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct wf_forward *o = &others[i];

		if (o->proto == f->proto && o->public_port == f->public_port &&
		    o->target_port == f->target_port && target_of(p, o, family, &theirs) &&
		    !memcmp(&mine, &theirs, sizeof(mine)))
			return true;
	}
	return false;
}

/* The one match of the flows f translates for family; false when f has no target there. */
static bool removed_match(const struct wf_server_params *p, const struct wf_forward *f, int family,
                          struct wf_ct_match *out)
{
	struct wf_ct_match m = {.family = (uint8_t)family,
	                        .l4proto = f->proto,
	                        .orig_dport = f->public_port,
	                        .has_reply_src = true,
	                        .reply_sport = f->target_port,
	                        .status_set = IPS_DST_NAT};

	if (!target_of(p, f, family, &m.reply_src))
		return false;
	/* The server's own service on the public port itself: nothing was translated. */
	if (f->to_host && f->target_port == f->public_port)
		m.status_set = 0;
	*out = m;
	return true;
}

/* Only a connectionless flow can be left stuck by a forward that did not exist yet. A datagram
 * to a port nothing forwards is refused with an ICMP error, which conntrack does not count as
 * an answer: the entry stays unreplied and untranslated, and every datagram of the flow keeps
 * it alive, so the flow never meets the new forward. A TCP SYN that reaches a host's own stack
 * is always answered, with a SYN-ACK or a reset, and a reset ends the entry (the next SYN,
 * even from the same port, makes a new one that meets today's rules); a SYN dropped before
 * conntrack confirms it leaves no entry at all. What remains is a hairpin SYN that the path
 * beyond this host swallowed: its retries give up within tcp_syn_retries and the next
 * connection takes the new path. So an added TCP forward has nothing to search for, and
 * starting a container with TCP ports costs no dump. */
static bool unanswered_flows_can_linger(uint8_t proto)
{
	return proto != IPPROTO_TCP;
}

static int added_matches(const struct wf_server_params *p, const struct wf_ct_orig_dsts *dsts,
                         const struct wf_forward *f, int family, struct wf_ct_pending *ms)
{
	struct wf_ct_match m = {.family = (uint8_t)family,
	                        .l4proto = f->proto,
	                        .orig_dport = f->public_port,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	size_t n = family == AF_INET ? dsts->n_ip4 : dsts->n_ip6;
	union wf_addr target;
	int err = 0;

	if (!unanswered_flows_can_linger(f->proto) || !target_of(p, f, family, &target))
		return 0;
	for (size_t i = 0; i < n && !err; i++) {
		if (family == AF_INET)
			m.orig_dst.ip4 = dsts->ip4[i];
		else
			m.orig_dst.ip6 = dsts->ip6[i];
		err = wf_ct_pending_add(ms, &m, 1);
	}
	return err;
}

static void add_ip4(struct wf_ct_orig_dsts *o, const struct in_addr *a)
{
	for (size_t i = 0; i < o->n_ip4; i++)
		if (o->ip4[i].s_addr == a->s_addr)
			return;
	if (o->n_ip4 < WF_CT_ORIG_DSTS_MAX)
		o->ip4[o->n_ip4++] = *a;
}

static void add_ip6(struct wf_ct_orig_dsts *o, const struct in6_addr *a)
{
	for (size_t i = 0; i < o->n_ip6; i++)
		if (IN6_ARE_ADDR_EQUAL(&o->ip6[i], a))
			return;
	if (o->n_ip6 < WF_CT_ORIG_DSTS_MAX)
		o->ip6[o->n_ip6++] = *a;
}

static void add_mark(struct wf_ct_orig_dsts *o, uint32_t mark)
{
	for (size_t i = 0; i < o->n_marks; i++)
		if (o->marks[i] == mark)
			return;
	if (o->n_marks < WF_CT_MARKS_MAX)
		o->marks[o->n_marks++] = mark;
}

void wf_server_ct_orig_dsts(const struct wf_server_params *p, const struct wf_server_gateway *g,
                            size_t n, struct wf_ct_orig_dsts *out)
{
	struct wf_server_gateway one;

	out->n_ip4 = out->n_ip6 = 0;
	if (!n) {
		wf_server_gateway_from_params(p, &one);
		g = &one;
		n = 1;
	}
	if (p->has_tunnel_ip4)
		add_ip4(out, &p->tunnel_ip4);
	if (p->has_tunnel_ip6)
		add_ip6(out, &p->tunnel_ip6);
	for (size_t i = 0; i < n && i < WF_GATEWAYS_MAX; i++) {
		if (g[i].has_tunnel_ip4)
			add_ip4(out, &g[i].tunnel_ip4);
		if (g[i].has_tunnel_ip6)
			add_ip6(out, &g[i].tunnel_ip6);
	}
	out->n_marks = 0;
	for (size_t i = 0; i <= n && i <= WF_GATEWAYS_MAX; i++)
		add_mark(out, i < n && i < WF_GATEWAYS_MAX ? g[i].fwmark : p->hairpin_mark);
	for (size_t i = 0; i < n && i < WF_GATEWAYS_MAX; i++) {
		for (size_t k = 0; k < g[i].n_public_ip4 && k < WF_GATEWAY_ADDRS_MAX; k++)
			add_ip4(out, &g[i].public_ip4[k]);
		for (size_t k = 0; k < g[i].n_public_ip6 && k < WF_GATEWAY_ADDRS_MAX; k++)
			add_ip6(out, &g[i].public_ip6[k]);
	}
}

int wf_server_ct_matches(const struct wf_server_params *p, const struct wf_ct_orig_dsts *dsts,
                         const struct wf_desired_diff *diff, struct wf_ct_match **out, size_t *n)
{
	static const int families[] = {AF_INET, AF_INET6};
	struct wf_ct_pending ms = {0};
	struct wf_ct_match m;
	int err = 0;

	for (size_t k = 0; k < 2 && !err; k++) {
		int family = families[k];

		for (size_t i = 0; i < diff->n_forwards_removed && !err; i++) {
			const struct wf_forward *f = &diff->forwards_removed[i];

			if (!same_target_in(p, f, family, diff->forwards_added,
			                    diff->n_forwards_added) &&
			    removed_match(p, f, family, &m))
				err = wf_ct_pending_add(&ms, &m, 1);
		}
		for (size_t i = 0; i < diff->n_forwards_added && !err; i++) {
			const struct wf_forward *f = &diff->forwards_added[i];

			if (!same_target_in(p, f, family, diff->forwards_removed,
			                    diff->n_forwards_removed))
				err = added_matches(p, dsts, f, family, &ms);
		}
	}
	return wf_ct_pending_take(&ms, err, out, n);
}

/* A forward against a match, by protocol and public port: the order of the desired state's. */
static int forward_match_cmp(const void *element, const void *key)
{
	const struct wf_forward *f = element;
	const struct wf_ct_match *m = key;

	if (f->proto != m->l4proto)
		return f->proto < m->l4proto ? -1 : 1;
	return (f->public_port > m->orig_dport) - (f->public_port < m->orig_dport);
}

/* The forward of now with m's protocol and public port, or NULL. */
static const struct wf_forward *forward_of(const struct wf_forward *now, size_t n,
                                           const struct wf_ct_match *m)
{
	size_t at = wf_lower_bound(now, n, sizeof(*now), m, forward_match_cmp);

	return at < n && !forward_match_cmp(&now[at], m) ? &now[at] : NULL;
}

/* True when every entry m selects is one that f, in place now, would make the same way. */
static bool made_again_by(const struct wf_server_params *p, const struct wf_forward *f,
                          const struct wf_ct_match *m)
{
	struct wf_ct_match own;
	union wf_addr target;

	if (!m->has_reply_src)
		/* Unanswered flows that nothing translated: right while no forward has the port. */
		return !f || !target_of(p, f, m->family, &target);
	/* Translated flows: right when f translates them to the same place again. */
	return f && removed_match(p, f, m->family, &own) && wf_ct_match_equal(&own, m);
}

size_t wf_server_ct_prune(const struct wf_server_params *p, const struct wf_forward *now,
                          size_t n_now, struct wf_ct_match *m, size_t n)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++)
		if (!made_again_by(p, forward_of(now, n_now, &m[i]), &m[i]))
			m[kept++] = m[i];
	return kept;
}

void wf_server_ct_narrow(const struct wf_forward *now, size_t n_now, const uint32_t *marks,
                         size_t n_marks, struct wf_ct_match *m, size_t n)
{
	if (!n_marks || n_marks > WF_CT_MARKS_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!wf_ct_match_narrowable(&m[i]) || forward_of(now, n_now, &m[i]))
			continue;
		m[i].n_marks = (uint8_t)n_marks;
		memcpy(m[i].marks, marks, n_marks * sizeof(*marks));
		m[i].addrs_implied = true;
	}
}

static size_t prune(void *ctx, struct wf_ct_match *m, size_t n)
{
	struct wf_ct_flush *f = ctx;
	const struct wf_forward *now = f->now ? f->now->forwards : f->applied;
	size_t n_now = f->now ? f->now->n_forwards : f->n_applied;

	return wf_server_ct_prune(f->params, now, n_now, m, n);
}

static void narrow(void *ctx, struct wf_ct_match *m, size_t n)
{
	struct wf_ct_flush *f = ctx;
	const struct wf_forward *now = f->now ? f->now->forwards : f->applied;
	size_t n_now = f->now ? f->now->n_forwards : f->n_applied;

	wf_server_ct_narrow(now, n_now, f->marks, f->n_marks, m, n);
}

static void flushed(void *ctx, int looked_for, size_t deleted)
{
	(void)ctx;
	if (looked_for < 0)
		log_warn("conntrack: cannot delete the entries of changed forwards (%s): their "
		         "flows keep the old path until they go idle",
		         strerror(-looked_for));
	else if (deleted)
		log_info("conntrack: deleted %zu entr%s of changed forwards", deleted,
		         deleted == 1 ? "y" : "ies");
	else if (looked_for)
		log_debug("conntrack: no entries of changed forwards to delete");
}

int wf_ct_flush_new(struct event_base *base, struct wf_ct_flush **out)
{
	static const struct wf_ct_stale_ops ops = {
	    .prune = prune, .narrow = narrow, .flushed = flushed};
	struct wf_ct_flush *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -ENOMEM;
	err = wf_ct_stale_new(base, &ops, f, &f->engine);
	if (err) {
		free(f);
		return err;
	}
	/* A filtered delete looks only into the buckets that hold an entry; a dump locks each. */
	wf_ct_stale_set_kernel_flush(f->engine, true);
	*out = f;
	return 0;
}

void wf_ct_flush_free(struct wf_ct_flush *f)
{
	if (!f)
		return;
	wf_ct_stale_free(f->engine);
	free(f->applied);
	free(f);
}
static void remember_marks(struct wf_ct_flush *f, const struct wf_ct_orig_dsts *dsts)
{
	f->n_marks = dsts->n_marks;
	memcpy(f->marks, dsts->marks, sizeof(f->marks));
}

static int remember(struct wf_ct_flush *f, const struct wf_desired *d)
{
	struct wf_forward *copy = malloc((d->n_forwards + 1) * sizeof(*copy));

	if (!copy)
		return -ENOMEM;
	if (d->n_forwards)
		memcpy(copy, d->forwards, d->n_forwards * sizeof(*copy));
	free(f->applied);
	f->applied = copy;
	f->n_applied = d->n_forwards;
	return 0;
}

int wf_ct_flush_note(struct wf_ct_flush *f, const struct wf_server_params *p,
                     const struct wf_ct_orig_dsts *dsts, const struct wf_desired *d)
{
	struct wf_desired before = {.forwards = f->applied, .n_forwards = f->n_applied};
	struct wf_desired now = {.forwards = d->forwards, .n_forwards = d->n_forwards};
	struct wf_desired_diff diff;
	struct wf_ct_match *m = NULL;
	size_t n = 0;
	int err;

	f->now = NULL;
	remember_marks(f, dsts);
	err = wf_desired_diff(&before, &now, &diff);
	if (err)
		return err;
	err = wf_server_ct_matches(p, dsts, &diff, &m, &n);
	wf_desired_diff_free(&diff);
	if (!err)
		err = remember(f, d);
	if (!err)
		err = wf_ct_stale_add(f->engine, m, n);
	free(m);
	return err;
}

int wf_ct_flush_note_changes(struct wf_ct_flush *f, const struct wf_server_params *p,
                             const struct wf_ct_orig_dsts *dsts, const struct wf_desired_diff *diff,
                             const struct wf_desired *now)
{
	struct wf_ct_match *m = NULL;
	size_t n = 0;
	int err;

	free(f->applied);
	f->applied = NULL;
	f->n_applied = 0;
	f->now = now;
	remember_marks(f, dsts);
	err = wf_server_ct_matches(p, dsts, diff, &m, &n);
	if (!err)
		err = wf_ct_stale_add(f->engine, m, n);
	free(m);
	return err;
}

int wf_ct_flush_settle(struct wf_ct_flush *f, const struct wf_server_params *p)
{
	f->params = p;
	return wf_ct_stale_settle(f->engine);
}

int wf_ct_flush_run(struct wf_ct_flush *f, const struct wf_server_params *p, size_t *deleted)
{
	f->params = p;
	return wf_ct_stale_run(f->engine, deleted);
}

void wf_ct_flush_stats(const struct wf_ct_flush *f, struct wf_ct_stats *out)
{
	wf_ct_stale_stats(f->engine, out);
}
