/* Differences between two owned tables, so one container change becomes a few element
 * updates instead of a table rewrite. Pure, over the nft data model. */
#ifndef WGFWD_NFT_DIFF_H
#define WGFWD_NFT_DIFF_H

#include <stdbool.h>

#include <wgfwd/nft.h>

/* Elements of `want` missing from `have` (or with other data) go to `add`; elements of `have`
 * missing from `want` (or with other data) go to `del`. `add` and `del` get the set's name and
 * types and must be cleared with wf_nft_set_clear_elems (nft.h). */
int wf_nft_set_diff(const struct wf_nft_set *have, const struct wf_nft_set *want,
                    struct wf_nft_set *add, struct wf_nft_set *del);
/* A set's elements as fixed-size records (key then data, encoded as the kernel stores them),
 * sorted: two indexes diff in one walk, and an index can stand for a set already applied. */
struct wf_nft_elem_index {
	struct wf_nft_set set; /* name and types; no elements */
	uint8_t *recs;
	size_t n, rec_len, key_len;
};
int wf_nft_elem_index_build(const struct wf_nft_set *s, struct wf_nft_elem_index *ix);
void wf_nft_elem_index_free(struct wf_nft_elem_index *ix);
/* Takes del's records out of ix and puts add's in, keeping it sorted: what a commit of those
 * element updates did to the set ix stands for. O(log n) to find each, a move of the records
 * after it; many at once, in one pass over all, O(n + changes). -ENOENT for a record to delete
 * that ix lacks, -EEXIST for one to add it has (ix is then partly updated: rebuild it),
 * -EINVAL for other types, -ENOMEM. */
int wf_nft_elem_index_apply(struct wf_nft_elem_index *ix, const struct wf_nft_elem_index *del,
                            const struct wf_nft_elem_index *add);
/* As wf_nft_set_diff, between indexes of sets with the same types. */
int wf_nft_elem_index_diff(const struct wf_nft_elem_index *have,
                           const struct wf_nft_elem_index *want, struct wf_nft_set *add,
                           struct wf_nft_set *del);
/* Same chains, sets (names and types) and rules; elements are not compared. */
bool wf_nft_table_same_shape(const struct wf_nft_table *have, const struct wf_nft_table *want);
bool wf_nft_value_equal(const struct wf_nft_value *a, const struct wf_nft_value *b);

#endif
