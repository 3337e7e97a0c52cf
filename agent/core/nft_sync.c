#include <wgfwd/nft_sync.h>

#include <errno.h>
#include <string.h>

#include <wgfwd/nft_diff.h>

static const struct wf_nft_set *find_set(const struct wf_nft_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_sets; i++)
		if (!strcmp(t->sets[i].name, name))
			return &t->sets[i];
	return NULL;
}

static int batch_elements(struct wf_nft_batch *b, const struct wf_nft_table *have,
                          const struct wf_nft_table *want, struct wf_nft_sync *res)
{
	int err = 0;

	for (size_t i = 0; i < want->n_sets && !err; i++) {
		struct wf_nft_set add, del;

		err =
		    wf_nft_set_diff(find_set(have, want->sets[i].name), &want->sets[i], &add, &del);
		if (err)
			break;
		/* Deletions first: a map key that changes target is deleted and added again. */
		if (del.n_elems)
			err = wf_nft_batch_delete_elems(b, want->family, want->name, &del);
		if (!err && add.n_elems)
			err = wf_nft_batch_add_elems(b, want->family, want->name, &add);
		res->elements_added += add.n_elems;
		res->elements_removed += del.n_elems;
		wf_nft_set_clear_elems(&add);
		wf_nft_set_clear_elems(&del);
	}
	return err;
}

int wf_nft_batch_sync_table(struct wf_nft *nft, struct wf_nft_batch *b,
                            const struct wf_nft_table *want, struct wf_nft_sync *res)
{
	struct wf_nft_table *have = NULL;
	int err = wf_nft_table_get(nft, want->family, want->name, &have);

	memset(res, 0, sizeof(*res));
	if (err && err != -ENOENT)
		return err;
	if (!err && wf_nft_table_equal(have, want)) {
		res->change = WF_NFT_UNCHANGED;
	} else if (!err && wf_nft_table_same_shape(have, want)) {
		res->change = WF_NFT_ELEMENTS;
		err = batch_elements(b, have, want, res);
	} else {
		res->change = WF_NFT_REPLACED;
		err = wf_nft_batch_replace_table(b, want);
	}
	wf_nft_table_free(have);
	return err;
}
