/* Bringing one owned table in the kernel to a wanted state, inside a caller's batch: nothing
 * when it already matches, element updates when only set/map elements differ, otherwise a
 * whole replacement. Shared by both daemons; reads the kernel, writes only into the batch.
 *
 * Reading a table of 10,000 elements back costs tens of milliseconds, a commit a tenth of
 * one. So a daemon keeps what it last wrote (struct wf_nft_cache) and compares with that
 * while the ruleset generation says nobody committed anything since, or the process's change
 * watcher saw every commit since whole and none touched the table (nft_notify.h); its
 * batches are guarded by the generation (wf_nft_batch_new_at), so a change slipped in
 * between makes the kernel refuse the batch rather than apply element updates to a table
 * that moved. */
#ifndef WGFWD_NFT_SYNC_H
#define WGFWD_NFT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_diff.h>

enum wf_nft_change {
	WF_NFT_UNCHANGED,
	WF_NFT_ELEMENTS, /* only set/map elements were added or removed */
	WF_NFT_REPLACED, /* the owned table was (re)built whole */
};

struct wf_nft_sync {
	enum wf_nft_change change;
	size_t elements_added, elements_removed;
	bool read_back; /* the kernel's table was read (no usable cache) */
};

/* A table: shape (chains, rules, set headers) and sorted elements. */
struct wf_nft_table_cache {
	struct wf_nft_table *shape;
	struct wf_nft_elem_index *sets; /* one per shape->sets[i] */
};

/* The table as last committed by its owner (`applied', standing while `at' is current) and
 * the one a sync is about to commit. Zero-initialise it. */
struct wf_nft_cache {
	struct wf_nft_table_cache applied, pending;
	struct wf_nft_known at;
	/* The batch holds element updates (or none) that `applied' already took in place. */
	bool elements_pending;
};

/* Forgets everything: the next sync reads the kernel. */
void wf_nft_cache_free(struct wf_nft_cache *c);
/* After the commit of a batch that used this cache: when it carried a sync and went through
 * guarded, the table the sync wanted becomes the applied one, at the generation the commit
 * left; otherwise (a failure, a replacement without a sync) nothing is known any more. */
void wf_nft_cache_settle(struct wf_nft_cache *c, const struct wf_nft_batch *b, int commit_err);

/* Adds to `b` what turns the kernel's table into `want`. With a cache (may be NULL) and a
 * guarded batch at the cache's generation, the kernel is not read. Element updates rest on
 * the table as known now: if the commit then fails, the caller may retry with
 * wf_nft_batch_replace_table. */
int wf_nft_batch_sync_table(struct wf_nft *nft, struct wf_nft_batch *b,
                            const struct wf_nft_table *want, struct wf_nft_cache *cache,
                            struct wf_nft_sync *res);

/* The element-only path: one container's change is a few elements, and rendering, indexing
 * and comparing the whole table for it would cost what the table's size costs. Adds to `b` the
 * deletion of del[i]'s elements and the addition of add[i]'s (n sets of `table', deletions
 * first) and applies them to the cached index in place, so the cost follows the change, not
 * the table. Only where the cache stands for the kernel's table as `b` will find it (its
 * generation guard, as wf_nft_batch_sync_table); otherwise, and when the cache disagrees with
 * the changes (an element to delete that it lacks, one to add that it has), -ESTALE with the
 * cache forgotten: the caller then syncs the whole table. A failed commit forgets the cache
 * too (wf_nft_cache_settle). */
int wf_nft_batch_sync_elements(struct wf_nft_batch *b, uint8_t family, const char *table,
                               const struct wf_nft_set *del, const struct wf_nft_set *add, size_t n,
                               struct wf_nft_cache *cache, struct wf_nft_sync *res);

/* One attempt of a daemon's apply: `whole` asks it to replace the table rather than sync it;
 * it says in *change which way it went. */
typedef int (*wf_nft_attempt_fn)(void *ctx, bool whole, enum wf_nft_change *change);
/* Runs attempts until one commits: again after -ERESTART (someone committed between reading
 * and committing: read again), whole after refused element updates (they rested on a table
 * that moved). Gives up after a few. */
int wf_nft_apply_retrying(wf_nft_attempt_fn attempt, void *ctx);

#endif
