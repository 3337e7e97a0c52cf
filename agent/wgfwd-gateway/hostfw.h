/* The gateway's writer of its accept rules in the host's iptables chains (the rules and why
 * they are there: <wgfwd/hostfw.h>): inside the gateway's own transaction, with a cache so that
 * the chains are read only after somebody else's commit. */
#ifndef WGFWD_GATEWAY_HOSTFW_H
#define WGFWD_GATEWAY_HOSTFW_H

#include <stdint.h>

#include <wgfwd/hostfw.h>
#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_sync.h>

#include "render.h"

/* The interfaces and port of the gateway's parameters. */
void wf_gw_hostfw_spec_from(const struct wf_gw_params *p, struct wf_gw_hostfw_spec *out);

/* What was last committed, so the chains need not be read while the ruleset generation stays.
 * Zero-initialise it. */
struct wf_gw_hostfw_cache {
	struct wf_nft_known at;
	bool enabled;
	size_t n;
	uint64_t digests[WF_GW_HOSTFW_MAX];
	struct wf_gw_hostfw_result last;
};

/* Adds to b what makes each existing chain hold each wanted rule exactly once and none of the
 * unwanted ones. cache may be NULL. */
int wf_gw_hostfw_batch(struct wf_nft *nft, struct wf_nft_batch *b, const struct wf_gw_hostfw *hf,
                       struct wf_gw_hostfw_cache *cache, struct wf_gw_hostfw_result *res);
/* After the commit of b (err its outcome). */
void wf_gw_hostfw_settle(struct wf_gw_hostfw_cache *cache, const struct wf_gw_hostfw *hf,
                         const struct wf_nft_batch *b, int err,
                         const struct wf_gw_hostfw_result *res);

#endif
