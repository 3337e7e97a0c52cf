#include <wgfwd/gateway_ct_flush.h>

#include <errno.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct matches {
	struct wf_ct_match *m;
	size_t n, cap;
};

static int add_match(struct matches *ms, const struct wf_ct_match *m)
{
	if (ms->n == ms->cap) {
		size_t cap = ms->cap ? ms->cap * 2 : 8;
		struct wf_ct_match *grown = realloc(ms->m, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		ms->m = grown;
		ms->cap = cap;
	}
	ms->m[ms->n++] = *m;
	return 0;
}

static bool holds(const struct wf_gw_entries *e, const struct wf_gw_forward *f)
{
	for (size_t i = 0; i < e->n_forwards; i++) {
		const struct wf_gw_forward *g = &e->forwards[i];

		if (g->family == f->family && g->proto == f->proto &&
		    g->public_port == f->public_port && g->target_port == f->target_port)
			return true;
	}
	return false;
}

static int removed_match(const struct wf_gw_peer *peer, const struct wf_gw_forward *f,
                         struct matches *ms)
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
		return 0;
	return add_match(ms, &m);
}

static int added_matches(const struct wf_gw_params *p, const struct wf_gw_forward *f,
                         struct matches *ms)
{
	struct wf_ct_match m = {.family = f->family,
	                        .l4proto = f->proto,
	                        .orig_dport = f->public_port,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	int err = 0;

	if (f->family == AF_INET) {
		for (size_t i = 0; i < p->n_public_ip4 && !err; i++) {
			m.orig_dst.ip4 = p->public_ip4[i];
			err = add_match(ms, &m);
		}
	} else if (f->family == AF_INET6) {
		for (size_t i = 0; i < p->n_public_ip6 && !err; i++) {
			m.orig_dst.ip6 = p->public_ip6[i];
			err = add_match(ms, &m);
		}
	}
	return err;
}

int wf_gw_ct_matches(const struct wf_gw_params *p, const struct wf_gw_config *cfg,
                     const struct wf_gw_state *from, const struct wf_gw_state *to,
                     struct wf_ct_match **out, size_t *n)
{
	size_t n_peers = cfg->n_peers;
	struct matches ms = {0};
	int err = 0;

	if (from->n_peers < n_peers)
		n_peers = from->n_peers;
	if (to->n_peers < n_peers)
		n_peers = to->n_peers;
	for (size_t peer = 0; peer < n_peers && !err; peer++) {
		const struct wf_gw_entries *before = &from->peers[peer], *after = &to->peers[peer];

		for (size_t i = 0; i < before->n_forwards && !err; i++)
			if (!holds(after, &before->forwards[i]))
				err = removed_match(&cfg->peers[peer], &before->forwards[i], &ms);
		for (size_t i = 0; i < after->n_forwards && !err; i++)
			if (!holds(before, &after->forwards[i]))
				err = added_matches(p, &after->forwards[i], &ms);
	}
	if (!err && !ms.m)
		ms.m = malloc(sizeof(*ms.m));
	if (err || !ms.m) {
		free(ms.m);
		return -ENOMEM;
	}
	*out = ms.m;
	*n = ms.n;
	return 0;
}

int wf_gw_ct_flush(struct wf_conntrack *ct, const struct wf_gw_params *p,
                   const struct wf_gw_config *cfg, const struct wf_gw_state *from,
                   const struct wf_gw_state *to, size_t *deleted)
{
	struct wf_ct_match *m;
	size_t n;
	int err;

	*deleted = 0;
	err = wf_gw_ct_matches(p, cfg, from, to, &m, &n);
	if (err)
		return err;
	if (n)
		err = wf_conntrack_flush_forwards(ct, m, n, deleted);
	free(m);
	return err ? err : (int)n;
}
