#include "hostfw.h"

#include <string.h>

#include <wgfwd/util.h>

void wf_gw_hostfw_spec_from(const struct wf_gw_params *p, struct wf_gw_hostfw_spec *out)
{
	memset(out, 0, sizeof(*out));
	WF_COPY(out->tunnel_ifname, p->tunnel_ifname);
	WF_COPY(out->public_ifname, p->public_ifname);
	out->control_port = p->control_port;
}

static void digests(const struct wf_gw_hostfw *hf, uint64_t *out)
{
	for (size_t i = 0; i < hf->n; i++)
		out[i] = wf_nft_rule_digest(hf->rules[i].family, &hf->rules[i]);
}

static bool known(const struct wf_gw_hostfw_cache *c, const struct wf_gw_hostfw *hf,
                  const uint64_t *d, const struct wf_nft_batch *b)
{
	return wf_nft_known_current_table(&c->at, b, 0, WF_GW_HOSTFW_TABLE) &&
	       c->enabled == hf->enabled && c->n == hf->n &&
	       !memcmp(d, c->digests, hf->n * sizeof(d[0]));
}

int wf_gw_hostfw_batch(struct wf_nft *nft, struct wf_nft_batch *b, const struct wf_gw_hostfw *hf,
                       struct wf_gw_hostfw_cache *cache, struct wf_gw_hostfw_result *res)
{
	uint64_t d[WF_GW_HOSTFW_MAX];

	digests(hf, d);
	if (cache && known(cache, hf, d, b)) {
		*res = cache->last;
		return 0;
	}
	return wf_gw_hostfw_walk(nft, b, hf, res);
}

void wf_gw_hostfw_settle(struct wf_gw_hostfw_cache *cache, const struct wf_gw_hostfw *hf,
                         const struct wf_nft_batch *b, int err,
                         const struct wf_gw_hostfw_result *res)
{
	wf_nft_known_settle(&cache->at, b, err);
	cache->enabled = hf->enabled;
	cache->n = hf->n;
	digests(hf, cache->digests);
	cache->last = *res;
	cache->last.inserted = cache->last.deleted = 0;
	/* After this commit every wanted rule is in each chain found. */
	if (!err)
		cache->last.in_place = res->in_place + res->inserted;
}
