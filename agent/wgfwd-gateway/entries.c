/* The entries a peer holds and the state of all peers, as containers: grown, copied, compared,
 * searched and diffed in the order they are kept in. Deciding (policy.c) only reads and fills
 * them, so they are a job of their own. */
#include "entries.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

/* The arrays carry no capacity: it is the next power of two from 4, so they grow exactly when
 * the count reaches one. */
static bool needs_growth(size_t n)
{
	return n == 0 || (n >= 4 && !(n & (n - 1)));
}

static size_t capacity_for(size_t n)
{
	size_t c = 4;

	while (c < n)
		c *= 2;
	return c;
}

int wf_gw_entries_alloc(struct wf_gw_entries *e, size_t n_forwards, size_t n_egress)
{
	memset(e, 0, sizeof(*e));
	e->forwards = malloc(capacity_for(n_forwards) * sizeof(*e->forwards));
	e->egress = malloc(capacity_for(n_egress) * sizeof(*e->egress));
	if (!e->forwards || !e->egress) {
		wf_gw_entries_free(e);
		return -ENOMEM;
	}
	return 0;
}

int wf_gw_entries_add_forward(struct wf_gw_entries *e, const struct wf_ctl_forward *f)
{
	struct wf_ctl_forward *grown;

	if (needs_growth(e->n_forwards)) {
		grown =
		    realloc(e->forwards, (e->n_forwards ? e->n_forwards * 2 : 4) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		e->forwards = grown;
	}
	e->forwards[e->n_forwards++] = *f;
	return 0;
}

int wf_gw_entries_add_egress(struct wf_gw_entries *e, const struct wf_ctl_egress *g)
{
	struct wf_ctl_egress *grown;

	if (needs_growth(e->n_egress)) {
		grown = realloc(e->egress, (e->n_egress ? e->n_egress * 2 : 4) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		e->egress = grown;
	}
	e->egress[e->n_egress++] = *g;
	return 0;
}

void wf_gw_entries_free(struct wf_gw_entries *e)
{
	free(e->forwards);
	free(e->egress);
	memset(e, 0, sizeof(*e));
}

int wf_gw_entries_copy(struct wf_gw_entries *dst, const struct wf_gw_entries *src)
{
	int err = wf_gw_entries_alloc(dst, src->n_forwards, src->n_egress);

	if (err)
		return err;
	if (src->n_forwards)
		memcpy(dst->forwards, src->forwards, src->n_forwards * sizeof(*dst->forwards));
	if (src->n_egress)
		memcpy(dst->egress, src->egress, src->n_egress * sizeof(*dst->egress));
	dst->n_forwards = src->n_forwards;
	dst->n_egress = src->n_egress;
	return 0;
}

bool wf_gw_entries_equal(const struct wf_gw_entries *a, const struct wf_gw_entries *b)
{
	return wf_ctl_forwards_equal(a->forwards, a->n_forwards, b->forwards, b->n_forwards) &&
	       wf_ctl_egress_equal(a->egress, a->n_egress, b->egress, b->n_egress);
}

int wf_gw_forward_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_forward *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->public_port != b->public_port)
		return a->public_port < b->public_port ? -1 : 1;
	return 0;
}

int wf_gw_egress_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_egress *a = pa, *b = pb;

	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->port_lo != b->port_lo)
		return a->port_lo < b->port_lo ? -1 : 1;
	if (a->port_hi != b->port_hi)
		return a->port_hi < b->port_hi ? -1 : 1;
	return 0;
}

size_t wf_gw_entries_forward_at(const struct wf_gw_entries *e, const struct wf_ctl_forward *key)
{
	return wf_lower_bound(e->forwards, e->n_forwards, sizeof(*e->forwards), key,
	                      wf_gw_forward_cmp);
}

const struct wf_ctl_forward *wf_gw_entries_find_forward(const struct wf_gw_entries *e,
                                                        const struct wf_ctl_forward *key)
{
	size_t at = wf_gw_entries_forward_at(e, key);

	return at < e->n_forwards && !wf_gw_forward_cmp(&e->forwards[at], key) ? &e->forwards[at]
	                                                                       : NULL;
}

int wf_gw_entries_forward_diff(const struct wf_gw_entries *from, const struct wf_gw_entries *to,
                               struct wf_gw_entries *gone, struct wf_gw_entries *came)
{
	size_t i = 0, j = 0;
	int err = 0;

	memset(gone, 0, sizeof(*gone));
	memset(came, 0, sizeof(*came));
	while (!err && (i < from->n_forwards || j < to->n_forwards)) {
		const struct wf_ctl_forward *a = i < from->n_forwards ? &from->forwards[i] : NULL;
		const struct wf_ctl_forward *b = j < to->n_forwards ? &to->forwards[j] : NULL;
		int c = !a ? 1 : !b ? -1 : wf_gw_forward_cmp(a, b);

		if (c == 0 && a->target_port == b->target_port) {
			i++;
			j++;
			continue;
		}
		/* A key whose target moved goes and comes again. */
		if (c <= 0)
			err = wf_gw_entries_add_forward(gone, &from->forwards[i++]);
		if (!err && c >= 0)
			err = wf_gw_entries_add_forward(came, &to->forwards[j++]);
	}
	if (err) {
		wf_gw_entries_free(gone);
		wf_gw_entries_free(came);
	}
	return err;
}

int wf_gw_state_init(struct wf_gw_state *s, size_t n_peers)
{
	s->n_peers = n_peers;
	s->peers = n_peers ? calloc(n_peers, sizeof(*s->peers)) : NULL;
	return n_peers && !s->peers ? -ENOMEM : 0;
}

void wf_gw_state_free(struct wf_gw_state *s)
{
	for (size_t i = 0; i < s->n_peers; i++)
		wf_gw_entries_free(&s->peers[i]);
	free(s->peers);
	memset(s, 0, sizeof(*s));
}

bool wf_gw_state_equal(const struct wf_gw_state *a, const struct wf_gw_state *b)
{
	if (a->n_peers != b->n_peers)
		return false;
	for (size_t i = 0; i < a->n_peers; i++)
		if (!wf_gw_entries_equal(&a->peers[i], &b->peers[i]))
			return false;
	return true;
}
