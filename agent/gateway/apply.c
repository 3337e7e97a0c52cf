#include <wgfwd/gateway_apply.h>

#include <errno.h>
#include <linux/netfilter.h>
#include <string.h>

#include <wgfwd/gateway_render.h>

static int batch_anchor(struct wf_nft *nft, struct wf_nft_batch *b, struct wf_gw_apply_result *res)
{
	struct wf_nft_table *want = NULL, *have = NULL;
	int err = wf_gw_render_anchor(&want);

	if (err)
		return err;
	err = wf_nft_table_get(nft, want->family, want->name, &have);
	if (err == -ENOENT || (!err && !wf_nft_table_equal(have, want))) {
		/* Deleted and rebuilt in one transaction: its hooks never lapse. */
		err = wf_nft_batch_replace_table(b, want);
		res->anchor_written = true;
	}
	wf_nft_table_free(have);
	wf_nft_table_free(want);
	return err;
}

static int apply_once(struct wf_nft *nft, const struct wf_nft_table *want, bool whole,
                      struct wf_gw_apply_result *res)
{
	struct wf_nft_batch *b = wf_nft_batch_new();
	int err;

	memset(res, 0, sizeof(*res));
	if (!b)
		return -ENOMEM;
	err = batch_anchor(nft, b, res);
	if (!err && whole) {
		err = wf_nft_batch_replace_table(b, want);
		res->table = WF_NFT_REPLACED;
	} else if (!err) {
		struct wf_nft_sync sync;

		err = wf_nft_batch_sync_table(nft, b, want, &sync);
		res->table = sync.change;
		res->elements_added = sync.elements_added;
		res->elements_removed = sync.elements_removed;
	}
	if (!err && wf_nft_batch_size(b))
		err = wf_nft_commit(nft, b, &res->error);
	wf_nft_batch_free(b);
	return err;
}

int wf_gw_apply(struct wf_nft *nft, const struct wf_nft_table *want, struct wf_gw_apply_result *res)
{
	int err = apply_once(nft, want, false, res);

	/* Element updates rest on the table read a moment ago; if someone changed it since,
	 * they fail as a whole, and a replacement makes no assumption about what is there. */
	if (err && res->table == WF_NFT_ELEMENTS)
		err = apply_once(nft, want, true, res);
	if (err) {
		res->table = WF_NFT_UNCHANGED;
		res->anchor_written = false;
		res->elements_added = res->elements_removed = 0;
	}
	return err;
}

int wf_gw_remove_table(struct wf_nft *nft, struct wf_nft_error *error)
{
	struct wf_nft_table *have = NULL;
	struct wf_nft_batch *b;
	int err = wf_nft_table_get(nft, NFPROTO_INET, WF_GW_TABLE, &have);

	wf_nft_table_free(have);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	b = wf_nft_batch_new();
	if (!b)
		return -ENOMEM;
	err = wf_nft_batch_delete_table(b, NFPROTO_INET, WF_GW_TABLE);
	if (!err)
		err = wf_nft_commit(nft, b, error);
	wf_nft_batch_free(b);
	return err;
}
