/* Bringing one owned table in the kernel to a wanted state, inside a caller's batch: nothing
 * when it already matches, element updates when only set/map elements differ, otherwise a
 * whole replacement. Shared by both daemons; reads the kernel, writes only into the batch. */
#ifndef WGFWD_NFT_SYNC_H
#define WGFWD_NFT_SYNC_H

#include <stddef.h>

#include <wgfwd/nft.h>

enum wf_nft_change {
	WF_NFT_UNCHANGED,
	WF_NFT_ELEMENTS, /* only set/map elements were added or removed */
	WF_NFT_REPLACED, /* the owned table was (re)built whole */
};

struct wf_nft_sync {
	enum wf_nft_change change;
	size_t elements_added, elements_removed;
};

/* Adds to `b` what turns the kernel's table into `want`. Element updates rest on the table as
 * read now: if the commit then fails, the caller may retry with wf_nft_batch_replace_table. */
int wf_nft_batch_sync_table(struct wf_nft *nft, struct wf_nft_batch *b,
                            const struct wf_nft_table *want, struct wf_nft_sync *res);

#endif
