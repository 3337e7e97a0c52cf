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

#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_sync.h>

#include "hostfw.h"

struct wf_gw_apply_result {
	enum wf_nft_change table;
	bool anchor_written;
	bool read_back; /* the table was read from the kernel, not known from the last commit */
	size_t elements_added, elements_removed;
	struct wf_gw_hostfw_result hostfw; /* rules in the host's iptables chains */
	struct wf_nft_error error;         /* filled when the commit failed */
};

/* What the last apply committed, so that the next need not read the kernel while nobody has
 * committed anything since (see nft_sync.h). Zero-initialise it. */
struct wf_gw_apply_cache {
	struct wf_nft_cache table;
	struct wf_nft_known anchor;
	struct wf_gw_hostfw_cache hostfw;
};

void wf_gw_apply_cache_free(struct wf_gw_apply_cache *c);
/* `cache` may be NULL: then the kernel is read every time. */
int wf_gw_apply(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                const struct wf_nft_table *want, struct wf_gw_apply_result *res);
/* The same, and in the same transaction the rules of hostfw (<wgfwd/hostfw.h>) in the host's
 * iptables chains; wf_gw_apply leaves those chains alone. */
int wf_gw_apply_hostfw(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                       const struct wf_nft_table *want, const struct wf_gw_hostfw *hostfw,
                       struct wf_gw_apply_result *res);
/* Element updates alone, for one peer's change: the sets of `del` lose their elements and
 * those of `add` gain theirs (two tables rendered from the entries that went and came, the
 * same shape; elements both hold cancel out), committed guarded on the table the cache
 * knows, without rendering or reading the rest. -ESTALE when the cache does not know the
 * kernel's table as it is now (someone committed since, the last apply failed, another
 * shape): apply the whole table instead. On any other failure the cache is forgotten; after
 * someone else's commit it stays, for the whole apply to judge. */
int wf_gw_apply_elements(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                         const struct wf_nft_table *add, const struct wf_nft_table *del,
                         struct wf_gw_apply_result *res);
/* The same in two steps, so that building the batch and committing it need not be one stretch
 * of work: prepare builds it (-ESTALE as above), commit sends it, -ESTALE when the cache moved
 * meanwhile (nothing sent). Free what prepare made with wf_gw_elements_free. */
struct wf_gw_elements;
int wf_gw_elements_prepare(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                           const struct wf_nft_table *add, const struct wf_nft_table *del,
                           struct wf_gw_elements **out);
int wf_gw_elements_commit(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                          struct wf_gw_elements *e, struct wf_gw_apply_result *res);
void wf_gw_elements_free(struct wf_gw_elements *e);
/* Deletes the owned table if it exists (the anchor stays). */
int wf_gw_remove_table(struct wf_nft *nft, struct wf_nft_error *err);
/* Deletes every rule of `ours` (rendered with or without enabled) from the host's iptables
 * chains; *removed says how many. */
int wf_gw_remove_hostfw(struct wf_nft *nft, const struct wf_gw_hostfw *ours, size_t *removed,
                        struct wf_nft_error *err);

#endif
