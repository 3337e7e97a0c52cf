#include <wgfwd/nft_sync.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nft_internal.h"

static void table_cache_clear(struct wf_nft_table_cache *tc)
{
	if (tc->shape && tc->sets)
		for (size_t i = 0; i < tc->shape->n_sets; i++)
			wf_nft_elem_index_free(&tc->sets[i]);
	free(tc->sets);
	wf_nft_table_free(tc->shape);
	memset(tc, 0, sizeof(*tc));
}

void wf_nft_cache_free(struct wf_nft_cache *c)
{
	table_cache_clear(&c->applied);
	table_cache_clear(&c->pending);
	c->at.valid = false;
	c->elements_pending = false;
}

void wf_nft_cache_settle(struct wf_nft_cache *c, const struct wf_nft_batch *b, int commit_err)
{
	wf_nft_known_settle(&c->at, b, commit_err);
	/* No pending table: the batch replaced the table without a sync, or the sync failed. */
	if (!c->at.valid || (!c->pending.shape && !c->elements_pending)) {
		wf_nft_cache_free(c);
		return;
	}
	c->elements_pending = false;
	if (!c->pending.shape)
		return; /* element updates: `applied' took them already */
	table_cache_clear(&c->applied);
	c->applied = c->pending;
	memset(&c->pending, 0, sizeof(c->pending));
}

/* The table's chains, rules and set headers, with elements indexed. Rules are kept as given:
 * the next rendering of an unchanged rule is then byte for byte the same, and compares
 * without being linearised. */
static int table_cache_build(const struct wf_nft_table *t, struct wf_nft_table_cache *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->shape = wf_nft_table_new(t->family, t->name);
	tc->sets = calloc(t->n_sets ? t->n_sets : 1, sizeof(*tc->sets));
	if (!tc->shape || !tc->sets)
		goto nomem;
	for (size_t i = 0; i < t->n_chains; i++)
		if (!wf_nft_table_add_chain(tc->shape, &t->chains[i]))
			goto nomem;
	for (size_t i = 0; i < t->n_rules; i++) {
		if (!wf_nft_table_add_rule(tc->shape, &t->rules[i]))
			goto nomem;
	}
	for (size_t i = 0; i < t->n_sets; i++) {
		struct wf_nft_set header = t->sets[i];
		int err;

		header.elems = NULL;
		header.n_elems = header.cap_elems = 0;
		if (!wf_nft_table_add_set(tc->shape, &header))
			goto nomem;
		err = wf_nft_elem_index_build(&t->sets[i], &tc->sets[i]);
		if (err) {
			table_cache_clear(tc);
			return err;
		}
	}
	return 0;
nomem:
	table_cache_clear(tc);
	return -ENOMEM;
}

static const struct wf_nft_elem_index *find_index(const struct wf_nft_table_cache *tc,
                                                  const char *name)
{
	for (size_t i = 0; i < tc->shape->n_sets; i++)
		if (!strcmp(tc->shape->sets[i].name, name))
			return &tc->sets[i];
	return NULL;
}

static int batch_elements(struct wf_nft_batch *b, const struct wf_nft_table_cache *have,
                          const struct wf_nft_table_cache *want, struct wf_nft_sync *res)
{
	int err = 0;

	for (size_t i = 0; i < want->shape->n_sets && !err; i++) {
		const struct wf_nft_elem_index *h = find_index(have, want->shape->sets[i].name);
		struct wf_nft_set add, del;

		if (!h)
			return -EINVAL; /* same shape: cannot happen */
		err = wf_nft_elem_index_diff(h, &want->sets[i], &add, &del);
		if (err)
			break;
		/* Deletions first: a map key that changes target is deleted and added again. */
		if (del.n_elems)
			err = wf_nft_batch_delete_elems(b, want->shape->family, want->shape->name,
			                                &del);
		if (!err && add.n_elems)
			err =
			    wf_nft_batch_add_elems(b, want->shape->family, want->shape->name, &add);
		res->elements_added += add.n_elems;
		res->elements_removed += del.n_elems;
		wf_nft_set_clear_elems(&add);
		wf_nft_set_clear_elems(&del);
	}
	return err;
}

int wf_nft_batch_sync_table(struct wf_nft *nft, struct wf_nft_batch *b,
                            const struct wf_nft_table *want, struct wf_nft_cache *cache,
                            struct wf_nft_sync *res)
{
	struct wf_nft_table_cache wanted, read = {0};
	const struct wf_nft_table_cache *have = NULL;
	int err;

	memset(res, 0, sizeof(*res));
	err = table_cache_build(want, &wanted);
	if (err)
		return err;
	if (cache && wf_nft_known_current_table(&cache->at, b, want->family, want->name)) {
		have = &cache->applied;
	} else {
		res->read_back = true;
		err = wf_nft_table_get_indexed(nft, want->family, want->name, &read.shape,
		                               &read.sets);
		if (!err)
			have = &read;
		if (err == -ENOENT)
			have = NULL;
		else if (err)
			goto out;
		err = 0;
	}
	if (have && wf_nft_table_same_shape(have->shape, wanted.shape)) {
		err = batch_elements(b, have, &wanted, res);
		res->change = res->elements_added || res->elements_removed ? WF_NFT_ELEMENTS
		                                                           : WF_NFT_UNCHANGED;
	} else {
		res->change = WF_NFT_REPLACED;
		err = wf_nft_batch_replace_table_indexed(b, wanted.shape, wanted.sets);
	}
out:
	table_cache_clear(&read);
	if (cache && !err) {
		table_cache_clear(&cache->pending);
		cache->pending = wanted;
	} else {
		table_cache_clear(&wanted);
	}
	return err;
}

static struct wf_nft_elem_index *find_index_rw(struct wf_nft_table_cache *tc, const char *name)
{
	return (struct wf_nft_elem_index *)find_index(tc, name);
}

/* One set's updates, on the index and into the batch. */
static int sync_set_elements(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const struct wf_nft_set *del, const struct wf_nft_set *add,
                             struct wf_nft_elem_index *ix, struct wf_nft_sync *res)
{
	struct wf_nft_elem_index d, a;
	int err;

	err = wf_nft_elem_index_build(del, &d);
	if (!err)
		err = wf_nft_elem_index_build(add, &a);
	else
		memset(&a, 0, sizeof(a));
	if (!err) {
		err = wf_nft_elem_index_apply(ix, &d, &a);
		if (err == -ENOENT || err == -EEXIST || err == -EINVAL)
			err = -ESTALE;
	}
	if (!err && del->n_elems)
		err = wf_nft_batch_delete_elems(b, family, table, del);
	if (!err && add->n_elems)
		err = wf_nft_batch_add_elems(b, family, table, add);
	if (!err) {
		res->elements_removed += del->n_elems;
		res->elements_added += add->n_elems;
	}
	wf_nft_elem_index_free(&d);
	wf_nft_elem_index_free(&a);
	return err;
}

int wf_nft_batch_sync_elements(struct wf_nft_batch *b, uint8_t family, const char *table,
                               const struct wf_nft_set *del, const struct wf_nft_set *add, size_t n,
                               struct wf_nft_cache *cache, struct wf_nft_sync *res)
{
	int err = 0;

	memset(res, 0, sizeof(*res));
	res->change = WF_NFT_UNCHANGED;
	if (!cache->applied.shape || cache->pending.shape || cache->elements_pending ||
	    cache->applied.shape->family != family || strcmp(cache->applied.shape->name, table) ||
	    !wf_nft_known_current_table(&cache->at, b, family, table)) {
		wf_nft_cache_free(cache);
		return -ESTALE;
	}
	for (size_t i = 0; i < n && !err; i++) {
		struct wf_nft_elem_index *ix = find_index_rw(&cache->applied, add[i].name);

		if (!ix || strcmp(del[i].name, add[i].name))
			err = -ESTALE;
		else
			err = sync_set_elements(b, family, table, &del[i], &add[i], ix, res);
	}
	if (err) {
		/* the index may be half updated: it stands for nothing now */
		wf_nft_cache_free(cache);
		return err;
	}
	if (res->elements_added || res->elements_removed)
		res->change = WF_NFT_ELEMENTS;
	cache->elements_pending = true;
	return 0;
}

int wf_nft_apply_retrying(wf_nft_attempt_fn attempt, void *ctx)
{
	bool whole = false;
	int err;

	for (int n = 0;; n++) {
		enum wf_nft_change change = WF_NFT_REPLACED;

		err = attempt(ctx, whole, &change);
		if (!err || n == 3)
			return err;
		if (err == -ERESTART)
			continue;
		if (change != WF_NFT_ELEMENTS || whole)
			return err;
		whole = true;
	}
}
