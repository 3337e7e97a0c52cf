/* The gateway's hands on nftables: makes the kernel hold exactly the rendered table, and keeps
 * the NAT anchor in place.
 *
 * Compares before it writes, so applying the same table twice sends nothing; when only set
 * and map elements differ (a peer opened or closed ports) it sends just those elements,
 * otherwise it replaces the owned table whole. The anchor (created when missing, repaired when
 * changed) and the owned table go in one transaction. Nothing here removes the anchor. */
#ifndef WGFWD_GATEWAY_APPLY_H
#define WGFWD_GATEWAY_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <wgfwd/nft.h>
#include <wgfwd/nft_sync.h>

struct wf_gw_apply_result {
	enum wf_nft_change table;
	bool anchor_written;
	size_t elements_added, elements_removed;
	struct wf_nft_error error; /* filled when the commit failed */
};

int wf_gw_apply(struct wf_nft *nft, const struct wf_nft_table *want,
                struct wf_gw_apply_result *res);
/* Deletes the owned table if it exists (the anchor stays). */
int wf_gw_remove_table(struct wf_nft *nft, struct wf_nft_error *err);

#endif
