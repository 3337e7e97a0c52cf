#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/util.h>

#include "entries.h"
#include "grants.h"
#include "listeners.h"

const char *wf_gw_proto_name(uint8_t proto)
{
	switch (proto) {
	case 0:
		return "all";
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	default:
		return "?";
	}
}

const char *wf_gw_status_name(enum wf_gw_status s)
{
	switch (s) {
	case WF_GW_ACCEPTED:
		return "accepted";
	case WF_GW_INVALID:
		return "invalid";
	case WF_GW_RESERVED:
		return "reserved";
	case WF_GW_TAKEN:
		return "taken";
	case WF_GW_HOST_PORT:
		return "host_port";
	case WF_GW_DUPLICATE:
		return "duplicate";
	case WF_GW_TOO_MANY:
		return "too_many";
	case WF_GW_NOT_GRANTED:
		return "not_granted";
	}
	return "?";
}

void wf_gw_decision_free(struct wf_gw_decision *d)
{
	free(d->forwards);
	free(d->egress);
	memset(d, 0, sizeof(*d));
}

/* ---- deciding ---- */

static const char *family_name(uint8_t family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

static bool is_reserved(const struct wf_gw_config *cfg, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < cfg->n_reserved; i++) {
		const struct wf_gw_port_range *r = &cfg->reserved[i];

		if ((!r->proto || r->proto == proto) && r->lo <= port && port <= r->hi)
			return true;
	}
	return false;
}

static bool held_by_other(const struct wf_gw_state *cur, size_t peer,
                          const struct wf_ctl_forward *f)
{
	for (size_t p = 0; p < cur->n_peers; p++)
		if (p != peer && wf_gw_entries_find_forward(&cur->peers[p], f))
			return true;
	return false;
}

/* A forward the peer held before the host's service started: taking it away now would break
 * what works, so it stays and the operator is told (wf_gw_host_clashes). */
static bool held_by_self(const struct wf_gw_state *cur, size_t peer, const struct wf_ctl_forward *f)
{
	return wf_gw_entries_find_forward(&cur->peers[peer], f) != NULL;
}

static void refuse(struct wf_gw_decision *d, struct wf_gw_result *r, enum wf_gw_status st,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct wf_gw_decision *d, struct wf_gw_result *r, enum wf_gw_status st,
                   const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	d->n_refused++;
}

static size_t egress_cost(const struct wf_ctl_egress *g)
{
	/* Each port of a range becomes one set element; a whole protocol is one element. */
	if (!g->proto || !g->port_lo)
		return 1;
	return (size_t)g->port_hi - g->port_lo + 1;
}

/* The target port granted so far for each (family, tcp/udp, public port) of one request, 0 for
 * none: a repeat is found in constant time, so a request of n forwards costs O(n log n) (the
 * lookups in the other peers' sorted entries), never O(n^2). */
struct granted_targets {
	uint16_t port[2][2][65536];
};

static uint16_t *granted_target(struct granted_targets *g, const struct wf_ctl_forward *f)
{
	return &g->port[f->family == AF_INET6][f->proto == IPPROTO_UDP][f->public_port];
}

/* What entries cost against the limits: a forward is one map element, egress as egress_cost. */
static size_t entries_cost(const struct wf_gw_entries *e)
{
	size_t cost = e->n_forwards;

	for (size_t i = 0; i < e->n_egress; i++)
		cost += egress_cost(&e->egress[i]);
	return cost;
}

/* Refuses r when `cost' more would pass a limit: the peer's own, or the gateway's for all
 * peers (room: what the others leave of it). */
static bool over_limit(const struct wf_gw_config *cfg, const struct wf_gw_peer *self, size_t used,
                       size_t cost, size_t room, struct wf_gw_decision *d, struct wf_gw_result *r)
{
	if (used + cost > cfg->max_entries) {
		refuse(d, r, WF_GW_TOO_MANY, "more than %zu entries for peer %s", cfg->max_entries,
		       self->name);
		return true;
	}
	if (used + cost > room) {
		refuse(d, r, WF_GW_TOO_MANY,
		       "the gateway holds its limit of %zu entries for all peers together",
		       cfg->max_total_entries);
		return true;
	}
	return false;
}

/* Which peer holds each (family, tcp/udp, public port): its index + 1, 0 for none. Deciding
 * every peer at once looks a port up here in constant time instead of in each peer's entries. */
struct port_holders {
	uint32_t peer[2][2][65536];
};

static uint32_t *holder(struct port_holders *h, const struct wf_ctl_forward *f)
{
	return &h->peer[f->family == AF_INET6][f->proto == IPPROTO_UDP][f->public_port];
}

static bool held_by_other_peer(const struct wf_gw_state *cur, struct port_holders *holders,
                               size_t peer, const struct wf_ctl_forward *f)
{
	uint32_t h;

	if (!holders)
		return held_by_other(cur, peer, f);
	h = *holder(holders, f);
	return h && h - 1 != peer;
}

/* One forward of the peer's request, against everything held now; granted, it goes to out
 * (unless NULL). holders as for decide_forwards; granted is NULL when no repeat can come (a delta's
 * keys are new to the peer). 0 or -ENOMEM. */
static int decide_forward(const struct wf_gw_config *cfg, const struct wf_gw_state *cur,
                          struct port_holders *holders, size_t peer, const struct wf_ctl_forward *f,
                          struct wf_gw_result *r, struct wf_gw_entries *out,
                          struct wf_gw_decision *d, struct granted_targets *granted, size_t *used,
                          size_t room)
{
	const struct wf_gw_peer *self = &cfg->peers[peer];
	const char *pn = wf_gw_proto_name(f->proto);
	uint16_t *dup = NULL;

	if (f->family != AF_INET && f->family != AF_INET6) {
		refuse(d, r, WF_GW_INVALID, "address family %u is neither IPv4 nor IPv6",
		       f->family);
		return 0;
	}
	/* The target is the peer's own address of the family: without one, nothing. */
	if (f->family == AF_INET ? !self->has_ip4 : !self->has_ip6) {
		refuse(d, r, WF_GW_INVALID, "peer %s has no %s tunnel address", self->name,
		       f->family == AF_INET ? "IPv4" : "IPv6");
		return 0;
	}
	if (f->proto != IPPROTO_TCP && f->proto != IPPROTO_UDP) {
		refuse(d, r, WF_GW_INVALID, "protocol %u cannot be forwarded (tcp or udp)",
		       f->proto);
		return 0;
	}
	if (!f->public_port || !f->target_port) {
		refuse(d, r, WF_GW_INVALID, "port 0 in %s %u -> %u", pn, f->public_port,
		       f->target_port);
		return 0;
	}
	if (is_reserved(cfg, f->proto, f->public_port)) {
		refuse(d, r, WF_GW_RESERVED, "%s/%u is reserved on the gateway", pn,
		       f->public_port);
		return 0;
	}
	if (!wf_gw_grants_allow_port(&self->grants, f->proto, f->public_port)) {
		char allowed[WF_GW_REASON_MAX];

		wf_gw_grants_ports_text(&self->grants, allowed, 64);
		refuse(d, r, WF_GW_NOT_GRANTED,
		       "public port %s/%u not in this peer's allowed ports %s", pn, f->public_port,
		       allowed);
		return 0;
	}
	if (wf_gw_host_ports_has(cfg->host_ports, f->family, f->proto, f->public_port) &&
	    !held_by_self(cur, peer, f)) {
		r->status = WF_GW_HOST_PORT;
		wf_gw_host_port_reason(r->reason, sizeof(r->reason), f->proto, f->public_port);
		d->n_refused++;
		return 0;
	}
	if (held_by_other_peer(cur, holders, peer, f)) {
		refuse(d, r, WF_GW_TAKEN, "%s/%u (%s) is held by another peer", pn, f->public_port,
		       family_name(f->family));
		return 0;
	}
	if (granted) {
		dup = granted_target(granted, f);
		if (*dup == f->target_port)
			return 0; /* the same forward again: already granted */
		if (*dup) {
			refuse(d, r, WF_GW_DUPLICATE,
			       "%s/%u (%s) is already asked for with target port %u", pn,
			       f->public_port, family_name(f->family), *dup);
			return 0;
		}
	}
	if (over_limit(cfg, self, *used, 1, room, d, r))
		return 0;
	if (out && wf_gw_entries_add_forward(out, f))
		return -ENOMEM;
	if (dup)
		*dup = f->target_port;
	(*used)++;
	return 0;
}

static int decide_forwards(const struct wf_gw_config *cfg, const struct wf_gw_state *cur,
                           struct port_holders *holders, size_t peer,
                           const struct wf_gw_entries *want, struct wf_gw_entries *out,
                           struct wf_gw_decision *d, size_t *used, size_t room)
{
	struct granted_targets *granted = calloc(1, sizeof(*granted));
	int err = 0;

	if (!granted)
		return -ENOMEM;
	for (size_t i = 0; i < want->n_forwards && !err; i++)
		err = decide_forward(cfg, cur, holders, peer, &want->forwards[i], &d->forwards[i],
		                     out, d, granted, used, room);
	free(granted);
	return err;
}

static bool egress_valid(const struct wf_ctl_egress *g, char *why, size_t len)
{
	if (!g->proto) {
		if (g->port_lo || g->port_hi) {
			snprintf(why, len, "ports %u-%u given for every protocol", g->port_lo,
			         g->port_hi);
			return false;
		}
		return true;
	}
	if (g->proto != IPPROTO_TCP && g->proto != IPPROTO_UDP) {
		snprintf(why, len, "protocol %u has no ports (tcp, udp, or 0 for all)", g->proto);
		return false;
	}
	if (!g->port_lo && g->port_hi) {
		snprintf(why, len, "%s range %u-%u starts at port 0", wf_gw_proto_name(g->proto),
		         g->port_lo, g->port_hi);
		return false;
	}
	if (g->port_lo > g->port_hi) {
		snprintf(why, len, "%s range %u-%u starts above its end",
		         wf_gw_proto_name(g->proto), g->port_lo, g->port_hi);
		return false;
	}
	return true;
}

/* For each egress entry of a request, the index of the first entry identical to it (its own
 * when none came before), found by sorting: O(n log n). */
struct indexed_egress {
	struct wf_ctl_egress g;
	size_t i;
};

static int indexed_egress_cmp(const void *pa, const void *pb)
{
	const struct indexed_egress *a = pa, *b = pb;
	int c = wf_gw_egress_cmp(&a->g, &b->g);

	return c ? c : a->i < b->i ? -1 : a->i > b->i;
}

static size_t *first_identical_egress(const struct wf_gw_entries *want)
{
	size_t n = want->n_egress;
	struct indexed_egress *sorted = malloc((n ? n : 1) * sizeof(*sorted));
	size_t *first = malloc((n ? n : 1) * sizeof(*first));

	if (!sorted || !first) {
		free(sorted);
		free(first);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = (struct indexed_egress){want->egress[i], i};
	qsort(sorted, n, sizeof(*sorted), indexed_egress_cmp);
	for (size_t k = 0; k < n; k++)
		first[sorted[k].i] = k && !wf_gw_egress_cmp(&sorted[k - 1].g, &sorted[k].g)
		                         ? first[sorted[k - 1].i]
		                         : sorted[k].i;
	free(sorted);
	return first;
}

/* One egress entry, not a repeat of one decided before: granted, it goes to out (unless
 * NULL). */
static int decide_one_egress(const struct wf_gw_config *cfg, size_t peer,
                             const struct wf_ctl_egress *g, struct wf_gw_result *r,
                             struct wf_gw_entries *out, struct wf_gw_decision *d, size_t *used,
                             size_t room)
{
	const struct wf_gw_peer *self = &cfg->peers[peer];
	char why[WF_GW_REASON_MAX];
	size_t cost;

	if (!egress_valid(g, why, sizeof(why))) {
		refuse(d, r, WF_GW_INVALID, "%s", why);
		return 0;
	}
	/* Default none: the VPS's address is the owner's to lend, not the peer's to take. */
	if (!wf_gw_grants_cover_egress(&self->grants, g)) {
		char asked[32], granted[WF_GW_REASON_MAX];

		wf_gw_egress_text(g, asked, sizeof(asked));
		wf_gw_grants_egress_text(&self->grants, granted, 64);
		refuse(d, r, WF_GW_NOT_GRANTED,
		       "egress %s not granted to this peer by the gateway (granted: %s)", asked,
		       granted);
		return 0;
	}
	cost = egress_cost(g);
	if (over_limit(cfg, self, *used, cost, room, d, r))
		return 0;
	if (out && wf_gw_entries_add_egress(out, g))
		return -ENOMEM;
	*used += cost;
	return 0;
}

static int decide_egress(const struct wf_gw_config *cfg, size_t peer,
                         const struct wf_gw_entries *want, struct wf_gw_entries *out,
                         struct wf_gw_decision *d, size_t *used, size_t room)
{
	size_t *first = first_identical_egress(want);
	int err = 0;

	if (!first)
		return -ENOMEM;
	for (size_t i = 0; i < want->n_egress && !err; i++) {
		struct wf_gw_result *r = &d->egress[i];

		/* The same entry again has the same answer; granted, it costs nothing more. */
		if (first[i] != i) {
			*r = d->egress[first[i]];
			if (r->status != WF_GW_ACCEPTED)
				d->n_refused++;
			continue;
		}
		err = decide_one_egress(cfg, peer, &want->egress[i], r, out, d, used, room);
	}
	free(first);
	return err;
}

/* Room the other peers leave of the gateway's limit for all. */
static size_t room_left(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                        size_t peer)
{
	size_t others = 0;

	if (!cfg->max_total_entries)
		return SIZE_MAX;
	for (size_t p = 0; p < current->n_peers; p++)
		if (p != peer)
			others += entries_cost(&current->peers[p]);
	return others < cfg->max_total_entries ? cfg->max_total_entries - others : 0;
}

bool wf_gw_policy_still_grantable(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                                  size_t peer, const struct wf_gw_entries *mine)
{
	if (peer >= current->n_peers || entries_cost(mine) > room_left(cfg, current, peer))
		return false;
	for (size_t p = 0; p < current->n_peers; p++) {
		const struct wf_gw_entries *e = &current->peers[p];

		for (size_t i = 0; p != peer && i < e->n_forwards; i++)
			if (wf_gw_entries_find_forward(mine, &e->forwards[i]))
				return false;
	}
	return true;
}

/* Merges the few entries appended at the end of a sorted array (from `at' on) into it: their
 * sort and one pass, not a sort of everything. */
static int index_cmp(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;

	return (a > b) - (a < b);
}

#define MERGE_INSERT_MAX 16
#define MERGE_ENTRY_MAX  32

static int merge_tail(void *base, size_t n, size_t at, size_t size,
                      int (*cmp)(const void *, const void *))
{
	char *a = base, *tmp;
	size_t i = 0, j = at, k = 0;

	if (at >= n)
		return 0;
	qsort(a + at * size, n - at, size, cmp);
	if (!at || cmp(a + (at - 1) * size, a + at * size) <= 0)
		return 0;
	/* A change's few entries go in by binary search and one move each: the held ones move
	 * as one block, not one comparison and copy at a time. */
	if (n - at <= MERGE_INSERT_MAX && size <= MERGE_ENTRY_MAX) {
		char one[MERGE_ENTRY_MAX];

		for (size_t t = at; t < n; t++) {
			/* after the equal ones, as the merge below takes the head's first */
			size_t lo = wf_upper_bound(a, t, size, a + t * size, cmp);

			if (lo == t)
				continue;
			memcpy(one, a + t * size, size);
			memmove(a + (lo + 1) * size, a + lo * size, (t - lo) * size);
			memcpy(a + lo * size, one, size);
		}
		return 0;
	}
	tmp = malloc(n * size);
	if (!tmp)
		return -ENOMEM;
	while (i < at || j < n) {
		bool left = j >= n || (i < at && cmp(a + i * size, a + j * size) <= 0);

		memcpy(tmp + k++ * size, a + (left ? i++ : j++) * size, size);
	}
	memcpy(a, tmp, n * size);
	free(tmp);
	return 0;
}

static bool egress_in(const struct wf_gw_entries *e, const struct wf_ctl_egress *g)
{
	for (size_t i = 0; i < e->n_egress; i++)
		if (!wf_gw_egress_cmp(&e->egress[i], g))
			return true;
	return false;
}

int wf_gw_policy_decide_delta(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                              size_t peer, const struct wf_gw_entries *del,
                              const struct wf_gw_entries *add, const struct wf_gw_entries *asked,
                              struct wf_gw_entries *mine, struct wf_gw_decision *d)
{
	const struct wf_gw_entries *held;
	bool *gone = NULL;
	size_t *went = NULL, n_went = 0, used, room, n, from = 0;
	int err = -ENOMEM;

	memset(mine, 0, sizeof(*mine));
	memset(d, 0, sizeof(*d));
	if (peer >= cfg->n_peers || current->n_peers != cfg->n_peers)
		return -EINVAL;
	held = &current->peers[peer];
	d->n_forwards = add->n_forwards;
	d->n_egress = add->n_egress;
	d->forwards = calloc(add->n_forwards ? add->n_forwards : 1, sizeof(*d->forwards));
	d->egress = calloc(add->n_egress ? add->n_egress : 1, sizeof(*d->egress));
	gone = calloc(held->n_egress + 1, sizeof(*gone));
	went = malloc((del->n_forwards + 1) * sizeof(*went));
	if (!d->forwards || !d->egress || !gone || !went ||
	    wf_gw_entries_alloc(mine, held->n_forwards + add->n_forwards,
	                        held->n_egress + add->n_egress))
		goto fail;
	/* What goes: each removed forward the peer held, found in O(log n). */
	for (size_t i = 0; i < del->n_forwards; i++) {
		const struct wf_ctl_forward *f =
		    wf_gw_entries_find_forward(held, &del->forwards[i]);

		if (f && f->target_port == del->forwards[i].target_port)
			went[n_went++] = (size_t)(f - held->forwards);
	}
	qsort(went, n_went, sizeof(*went), index_cmp);
	/* Egress held once for entries asked for more than once: it goes with the last. */
	for (size_t i = 0; i < held->n_egress; i++)
		gone[i] = egress_in(del, &held->egress[i]) && !egress_in(asked, &held->egress[i]);
	/* The rest stays, copied in the runs between what went. */
	for (size_t k = 0; k <= n_went; k++) {
		size_t to = k < n_went ? went[k] : held->n_forwards;

		if (to > from)
			memcpy(mine->forwards + mine->n_forwards, held->forwards + from,
			       (to - from) * sizeof(*mine->forwards));
		mine->n_forwards += to - from;
		from = to + 1;
	}
	for (size_t i = 0; i < held->n_egress; i++)
		if (!gone[i])
			mine->egress[mine->n_egress++] = held->egress[i];
	used = entries_cost(mine);
	room = room_left(cfg, current, peer);
	/* Only the added entries are decided; the arrays have room for every one. */
	n = mine->n_forwards;
	for (size_t i = 0; i < add->n_forwards; i++) {
		const struct wf_ctl_forward *f = &add->forwards[i];
		struct wf_gw_result *r = &d->forwards[i];

		decide_forward(cfg, current, NULL, peer, f, r, NULL, d, NULL, &used, room);
		if (r->status == WF_GW_ACCEPTED)
			mine->forwards[mine->n_forwards++] = *f;
	}
	if (merge_tail(mine->forwards, mine->n_forwards, n, sizeof(*mine->forwards),
	               wf_gw_forward_cmp))
		goto fail;
	n = mine->n_egress;
	for (size_t i = 0; i < add->n_egress; i++) {
		const struct wf_ctl_egress *g = &add->egress[i];
		struct wf_gw_result *r = &d->egress[i];

		if (egress_in(mine, g))
			continue; /* held already: granted, at no cost */
		decide_one_egress(cfg, peer, g, r, NULL, d, &used, room);
		if (r->status == WF_GW_ACCEPTED)
			mine->egress[mine->n_egress++] = *g;
	}
	if (merge_tail(mine->egress, mine->n_egress, n, sizeof(*mine->egress), wf_gw_egress_cmp))
		goto fail;
	free(gone);
	free(went);
	return 0;
fail:
	free(gone);
	free(went);
	wf_gw_entries_free(mine);
	wf_gw_decision_free(d);
	return err;
}

/* A decision taken a run of entries at a time: what wf_gw_policy_decide keeps between them. */
struct wf_gw_decider {
	const struct wf_gw_config *cfg;
	size_t peer;
	const struct wf_gw_entries *want;
	struct wf_gw_decision d;
	struct wf_gw_entries mine;
	struct granted_targets *granted;
	size_t *first;         /* first_identical_egress */
	size_t used, room, at; /* entries decided: forwards, then egress */
};

void wf_gw_decider_free(struct wf_gw_decider *dc)
{
	if (!dc)
		return;
	wf_gw_decision_free(&dc->d);
	wf_gw_entries_free(&dc->mine);
	free(dc->granted);
	free(dc->first);
	free(dc);
}

int wf_gw_decider_new(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                      size_t peer, const struct wf_gw_entries *want, struct wf_gw_decider **out)
{
	struct wf_gw_decider *dc;

	if (peer >= cfg->n_peers || current->n_peers != cfg->n_peers)
		return -EINVAL;
	dc = calloc(1, sizeof(*dc));
	if (!dc)
		return -ENOMEM;
	dc->cfg = cfg;
	dc->peer = peer;
	dc->want = want;
	dc->d.n_forwards = want->n_forwards;
	dc->d.n_egress = want->n_egress;
	/* Zeroed a run at a time as they are decided: the first touch of a largest request's
	 * verdicts (megabytes the process may have given back) is a step's, not the first's. */
	dc->d.forwards =
	    malloc((want->n_forwards ? want->n_forwards : 1) * sizeof(*dc->d.forwards));
	dc->d.egress = malloc((want->n_egress ? want->n_egress : 1) * sizeof(*dc->d.egress));
	dc->granted = calloc(1, sizeof(*dc->granted));
	dc->first = first_identical_egress(want);
	if (!dc->d.forwards || !dc->d.egress || !dc->granted || !dc->first) {
		wf_gw_decider_free(dc);
		return -ENOMEM;
	}
	dc->room = room_left(cfg, current, peer);
	*out = dc;
	return 0;
}

/* Up to max entries decided; the last step sorts what is granted and fills next. */
int wf_gw_decider_step(struct wf_gw_decider *dc, const struct wf_gw_state *current, size_t max,
                       struct wf_gw_state *next, struct wf_gw_decision *d)
{
	const struct wf_gw_entries *want = dc->want;
	size_t n = want->n_forwards + want->n_egress, end;
	int err = 0;

	if (current->n_peers != dc->cfg->n_peers)
		return -EINVAL;
	end = n - dc->at < max ? n : dc->at + max;
	if (dc->at < want->n_forwards)
		memset(&dc->d.forwards[dc->at], 0,
		       ((end < want->n_forwards ? end : want->n_forwards) - dc->at) *
		           sizeof(*dc->d.forwards));
	if (end > want->n_forwards) {
		size_t from = dc->at > want->n_forwards ? dc->at - want->n_forwards : 0;

		memset(&dc->d.egress[from], 0,
		       (end - want->n_forwards - from) * sizeof(*dc->d.egress));
	}
	for (; dc->at < end && !err; dc->at++) {
		size_t i = dc->at;

		if (i < want->n_forwards) {
			err = decide_forward(dc->cfg, current, NULL, dc->peer, &want->forwards[i],
			                     &dc->d.forwards[i], &dc->mine, &dc->d, dc->granted,
			                     &dc->used, dc->room);
			continue;
		}
		i -= want->n_forwards;
		/* The same entry again has the same answer; granted, it costs nothing more. */
		if (dc->first[i] != i) {
			dc->d.egress[i] = dc->d.egress[dc->first[i]];
			if (dc->d.egress[i].status != WF_GW_ACCEPTED)
				dc->d.n_refused++;
			continue;
		}
		err = decide_one_egress(dc->cfg, dc->peer, &want->egress[i], &dc->d.egress[i],
		                        &dc->mine, &dc->d, &dc->used, dc->room);
	}
	if (err || dc->at < n)
		return err ? err : 1;
	if (dc->mine.n_forwards)
		qsort(dc->mine.forwards, dc->mine.n_forwards, sizeof(*dc->mine.forwards),
		      wf_gw_forward_cmp);
	if (dc->mine.n_egress)
		qsort(dc->mine.egress, dc->mine.n_egress, sizeof(*dc->mine.egress),
		      wf_gw_egress_cmp);
	err = wf_gw_state_init(next, dc->cfg->n_peers);
	for (size_t p = 0; p < dc->cfg->n_peers && !err; p++)
		if (p != dc->peer)
			err = wf_gw_entries_copy(&next->peers[p], &current->peers[p]);
	if (err) {
		wf_gw_state_free(next);
		return err;
	}
	next->peers[dc->peer] = dc->mine;
	memset(&dc->mine, 0, sizeof(dc->mine));
	*d = dc->d;
	memset(&dc->d, 0, sizeof(dc->d));
	return 0;
}

int wf_gw_policy_decide(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                        size_t peer, const struct wf_gw_entries *want, struct wf_gw_state *next,
                        struct wf_gw_decision *d)
{
	struct wf_gw_decider *dc = NULL;
	int err;

	memset(next, 0, sizeof(*next));
	memset(d, 0, sizeof(*d));
	err = wf_gw_decider_new(cfg, current, peer, want, &dc);
	if (!err)
		err = wf_gw_decider_step(dc, current, SIZE_MAX, next, d);
	wf_gw_decider_free(dc);
	return err;
}

/* One peer's decision against what the peers before it in `next' hold, added to `next'. */
static int decide_in_order(const struct wf_gw_config *cfg, struct wf_gw_state *next,
                           struct port_holders *holders, size_t peer,
                           const struct wf_gw_entries *want, size_t room, struct wf_gw_decision *d)
{
	struct wf_gw_entries mine = {0};
	size_t used = 0;
	int err;

	d->n_forwards = want->n_forwards;
	d->n_egress = want->n_egress;
	d->forwards = calloc(want->n_forwards ? want->n_forwards : 1, sizeof(*d->forwards));
	d->egress = calloc(want->n_egress ? want->n_egress : 1, sizeof(*d->egress));
	if (!d->forwards || !d->egress)
		return -ENOMEM;
	/* The peer holds nothing in `next' while it is decided, as in a state restored from
	 * nothing. */
	err = decide_forwards(cfg, next, holders, peer, want, &mine, d, &used, room);
	if (!err)
		err = decide_egress(cfg, peer, want, &mine, d, &used, room);
	if (err) {
		wf_gw_entries_free(&mine);
		return err;
	}
	if (mine.n_forwards)
		qsort(mine.forwards, mine.n_forwards, sizeof(*mine.forwards), wf_gw_forward_cmp);
	if (mine.n_egress)
		qsort(mine.egress, mine.n_egress, sizeof(*mine.egress), wf_gw_egress_cmp);
	for (size_t i = 0; i < mine.n_forwards; i++)
		*holder(holders, &mine.forwards[i]) = (uint32_t)peer + 1;
	next->peers[peer] = mine;
	return 0;
}

int wf_gw_policy_decide_all(const struct wf_gw_config *cfg, const struct wf_gw_entries *want,
                            struct wf_gw_state *next, struct wf_gw_decision *decisions)
{
	struct port_holders *holders = calloc(1, sizeof(*holders));
	size_t total = 0;
	int err;

	memset(next, 0, sizeof(*next));
	memset(decisions, 0, cfg->n_peers * sizeof(*decisions));
	err = holders ? wf_gw_state_init(next, cfg->n_peers) : -ENOMEM;
	for (size_t p = 0; !err && p < cfg->n_peers; p++) {
		size_t room = SIZE_MAX;

		if (cfg->max_total_entries)
			room = total < cfg->max_total_entries ? cfg->max_total_entries - total : 0;
		err = decide_in_order(cfg, next, holders, p, &want[p], room, &decisions[p]);
		total += entries_cost(&next->peers[p]);
	}
	free(holders);
	if (err) {
		wf_gw_state_free(next);
		for (size_t p = 0; p < cfg->n_peers; p++)
			wf_gw_decision_free(&decisions[p]);
	}
	return err;
}
