#include "apply.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

static int batch_anchor(struct wf_nft *nft, struct wf_nft_batch *b, struct wf_gw_apply_cache *cache,
                        struct wf_gw_apply_result *res)
{
	struct wf_nft_table *want = NULL, *have = NULL;
	int err;

	if (cache &&
	    wf_nft_known_current_table(&cache->anchor, b, NFPROTO_INET, WF_GW_ANCHOR_TABLE))
		return 0;
	err = wf_gw_render_anchor(&want);
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

static int apply_once(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                      const struct wf_nft_table *want, const struct wf_gw_hostfw *hostfw,
                      bool whole, struct wf_gw_apply_result *res)
{
	struct wf_nft_batch *b;
	uint32_t genid;
	int err;

	memset(res, 0, sizeof(*res));
	/* Without a generation (an old kernel), the batch goes unguarded and the cache unused. */
	b = wf_nft_genid(nft, &genid) ? wf_nft_batch_new() : wf_nft_batch_new_at(genid);
	if (!b)
		return -ENOMEM;
	err = batch_anchor(nft, b, cache, res);
	if (!err && hostfw)
		err =
		    wf_gw_hostfw_batch(nft, b, hostfw, cache ? &cache->hostfw : NULL, &res->hostfw);
	if (!err && whole) {
		err = wf_nft_batch_replace_table(b, want);
		res->table = WF_NFT_REPLACED;
	} else if (!err) {
		struct wf_nft_sync sync;

		err = wf_nft_batch_sync_table(nft, b, want, cache ? &cache->table : NULL, &sync);
		res->table = sync.change;
		res->read_back = sync.read_back;
		res->elements_added = sync.elements_added;
		res->elements_removed = sync.elements_removed;
	}
	if (!err && wf_nft_batch_size(b))
		err = wf_nft_commit(nft, b, &res->error);
	if (cache) {
		wf_nft_cache_settle(&cache->table, b, err);
		wf_nft_known_settle(&cache->anchor, b, err);
		if (hostfw)
			wf_gw_hostfw_settle(&cache->hostfw, hostfw, b, err, &res->hostfw);
	}
	wf_nft_batch_free(b);
	return err;
}

void wf_gw_apply_cache_free(struct wf_gw_apply_cache *c)
{
	wf_nft_cache_free(&c->table);
	c->anchor.valid = false;
	c->hostfw.at.valid = false;
}

struct attempt_ctx {
	struct wf_nft *nft;
	struct wf_gw_apply_cache *cache;
	const struct wf_nft_table *want;
	const struct wf_gw_hostfw *hostfw;
	struct wf_gw_apply_result *res;
};

static int attempt(void *ctx, bool whole, enum wf_nft_change *change)
{
	struct attempt_ctx *a = ctx;
	int err = apply_once(a->nft, a->cache, a->want, a->hostfw, whole, a->res);

	*change = a->res->table;
	return err;
}

int wf_gw_apply(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                const struct wf_nft_table *want, struct wf_gw_apply_result *res)
{
	return wf_gw_apply_hostfw(nft, cache, want, NULL, res);
}

int wf_gw_apply_hostfw(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                       const struct wf_nft_table *want, const struct wf_gw_hostfw *hostfw,
                       struct wf_gw_apply_result *res)
{
	struct attempt_ctx a = {nft, cache, want, hostfw, res};
	int err = wf_nft_apply_retrying(attempt, &a);

	if (err) {
		res->table = WF_NFT_UNCHANGED;
		res->anchor_written = false;
		res->elements_added = res->elements_removed = 0;
		res->hostfw.inserted = res->hostfw.deleted = 0;
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

int wf_gw_remove_hostfw(struct wf_nft *nft, const struct wf_gw_hostfw *ours, size_t *removed,
                        struct wf_nft_error *error)
{
	struct wf_gw_hostfw none = *ours;
	struct wf_gw_hostfw_result res;
	struct wf_nft_batch *b = wf_nft_batch_new();
	int err;

	*removed = 0;
	if (!b)
		return -ENOMEM;
	none.enabled = false;
	err = wf_gw_hostfw_batch(nft, b, &none, NULL, &res);
	if (!err && wf_nft_batch_size(b))
		err = wf_nft_commit(nft, b, error);
	if (!err)
		*removed = res.deleted;
	wf_nft_batch_free(b);
	return err;
}

static struct wf_nft_elem_index *cached_set(struct wf_nft_table_cache *tc, const char *name)
{
	for (size_t i = 0; i < tc->shape->n_sets; i++)
		if (!strcmp(tc->shape->sets[i].name, name))
			return &tc->sets[i];
	return NULL;
}

/* Adds to b what turns the cached set's elements by `del` and `add` (elements both name
 * cancel), and indexes what it sends in *out_del / *out_add for the cache. */
static int batch_set_change(struct wf_nft_batch *b, const struct wf_nft_table *shape,
                            const struct wf_nft_set *add, const struct wf_nft_set *del,
                            struct wf_nft_elem_index *out_add, struct wf_nft_elem_index *out_del,
                            struct wf_gw_apply_result *res)
{
	struct wf_nft_elem_index a, d;
	struct wf_nft_set to_add, to_del;
	int err;

	memset(&to_add, 0, sizeof(to_add));
	memset(&to_del, 0, sizeof(to_del));
	err = wf_nft_elem_index_build(add, &a);
	if (!err) {
		err = wf_nft_elem_index_build(del, &d);
		if (!err) {
			err = wf_nft_elem_index_diff(&d, &a, &to_add, &to_del);
			wf_nft_elem_index_free(&d);
		}
		wf_nft_elem_index_free(&a);
	}
	if (!err)
		err = wf_nft_elem_index_build(&to_add, out_add);
	if (!err)
		err = wf_nft_elem_index_build(&to_del, out_del);
	/* Deletions first: a map key that changes target is deleted and added again. */
	if (!err && to_del.n_elems)
		err = wf_nft_batch_delete_elems(b, shape->family, shape->name, &to_del);
	if (!err && to_add.n_elems)
		err = wf_nft_batch_add_elems(b, shape->family, shape->name, &to_add);
	res->elements_added += to_add.n_elems;
	res->elements_removed += to_del.n_elems;
	wf_nft_set_clear_elems(&to_add);
	wf_nft_set_clear_elems(&to_del);
	return err;
}

struct wf_gw_elements {
	struct wf_nft_batch *b;
	struct wf_nft_elem_index *adds, *dels; /* one per set of add, for the cache */
	size_t n;
	char **names;      /* the sets' names, as add has them */
	uint32_t genid;    /* the generation the batch is guarded on */
	bool hostfw_known; /* the host's chains were known at that generation */
	size_t added, removed;
};

void wf_gw_elements_free(struct wf_gw_elements *e)
{
	if (!e)
		return;
	for (size_t i = 0; e->adds && e->dels && e->names && i < e->n; i++) {
		wf_nft_elem_index_free(&e->adds[i]);
		wf_nft_elem_index_free(&e->dels[i]);
		free(e->names[i]);
	}
	free(e->adds);
	free(e->dels);
	free(e->names);
	wf_nft_batch_free(e->b);
	free(e);
}

int wf_gw_elements_prepare(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                           const struct wf_nft_table *add, const struct wf_nft_table *del,
                           struct wf_gw_elements **out)
{
	struct wf_nft_table_cache *tc = &cache->table.applied;
	struct wf_gw_apply_result res;
	struct wf_gw_elements *e;
	uint32_t genid = cache->table.at.genid;
	size_t n = add->n_sets;
	int err = 0;

	*out = NULL;
	/* Guarded on the generation the cache knows, without asking the kernel for its own: a
	 * commit of someone else's since makes the kernel refuse the batch (commit below). */
	if (!tc->shape || !cache->table.at.valid || !cache->anchor.valid || del->n_sets != n ||
	    genid != cache->anchor.genid)
		return -ESTALE;
	for (size_t i = 0; i < n; i++)
		if (strcmp(add->sets[i].name, del->sets[i].name) ||
		    !cached_set(tc, add->sets[i].name))
			return -ESTALE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->n = n;
	e->genid = genid;
	e->hostfw_known = cache->hostfw.at.valid && cache->hostfw.at.genid == genid;
	e->b = wf_nft_batch_new_at(genid);
	e->adds = calloc(n + 1, sizeof(*e->adds));
	e->dels = calloc(n + 1, sizeof(*e->dels));
	e->names = calloc(n + 1, sizeof(*e->names));
	if (!e->b || !e->adds || !e->dels || !e->names) {
		wf_gw_elements_free(e);
		return -ENOMEM;
	}
	memset(&res, 0, sizeof(res));
	for (size_t i = 0; i < n && !err; i++) {
		if (!(e->names[i] = strdup(add->sets[i].name)))
			err = -ENOMEM;
		else if (add->sets[i].n_elems || del->sets[i].n_elems)
			err = batch_set_change(e->b, tc->shape, &add->sets[i], &del->sets[i],
			                       &e->adds[i], &e->dels[i], &res);
	}
	e->added = res.elements_added;
	e->removed = res.elements_removed;
	if (err) {
		wf_gw_elements_free(e);
		return err;
	}
	*out = e;
	return 0;
}

int wf_gw_elements_commit(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                          struct wf_gw_elements *e, struct wf_gw_apply_result *res)
{
	struct wf_nft_table_cache *tc = &cache->table.applied;
	int err = 0;

	memset(res, 0, sizeof(*res));
	/* The daemon's own commits since (another peer's change, a whole apply) left this
	 * peer's elements as they were: the batch stands on the generation the cache knows now,
	 * and the kernel refuses it if anyone else committed after that. */
	if (!tc->shape || !cache->table.at.valid || !cache->anchor.valid ||
	    cache->anchor.genid != cache->table.at.genid)
		return -ESTALE;
	for (size_t i = 0; i < e->n; i++)
		if (!cached_set(tc, e->names[i]))
			return -ESTALE;
	if (cache->table.at.genid != e->genid) {
		if (wf_nft_batch_guard_at(e->b, cache->table.at.genid))
			return -ESTALE;
		e->genid = cache->table.at.genid;
		e->hostfw_known = cache->hostfw.at.valid && cache->hostfw.at.genid == e->genid;
	}
	if (wf_nft_batch_size(e->b))
		err = wf_nft_commit(nft, e->b, &res->error);
	if (err == -ERESTART) {
		/* Someone else committed after the cache's generation: nothing of the batch went
		 * in, and the cache still says what the daemon committed (the whole apply that
		 * follows asks the change watcher whether that commit touched it). */
		memset(res, 0, sizeof(*res));
		return -ESTALE;
	}
	if (err || !wf_nft_batch_size(e->b))
		goto out;
	/* The kernel now holds the cached table with these changes, at the generation the
	 * commit left; what was known of the anchor and the host's chains stands as well. */
	wf_nft_known_settle(&cache->table.at, e->b, 0);
	wf_nft_known_settle(&cache->anchor, e->b, 0);
	if (e->hostfw_known)
		wf_nft_known_settle(&cache->hostfw.at, e->b, 0);
	for (size_t i = 0; i < e->n && !err; i++)
		err =
		    wf_nft_elem_index_apply(cached_set(tc, e->names[i]), &e->dels[i], &e->adds[i]);
	res->elements_added = e->added;
	res->elements_removed = e->removed;
out:
	if (err)
		wf_gw_apply_cache_free(cache);
	res->table =
	    res->elements_added || res->elements_removed ? WF_NFT_ELEMENTS : WF_NFT_UNCHANGED;
	return err;
}

int wf_gw_apply_elements(struct wf_nft *nft, struct wf_gw_apply_cache *cache,
                         const struct wf_nft_table *add, const struct wf_nft_table *del,
                         struct wf_gw_apply_result *res)
{
	struct wf_gw_elements *e;
	int err = wf_gw_elements_prepare(nft, cache, add, del, &e);

	if (err) {
		memset(res, 0, sizeof(*res));
		if (err != -ESTALE)
			wf_gw_apply_cache_free(cache);
		return err;
	}
	err = wf_gw_elements_commit(nft, cache, e, res);
	wf_gw_elements_free(e);
	return err;
}
