#include <wgfwd/nft_diff.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

#include "nft_internal.h"

/* Values compare by their type's bytes only: the rest of the union is not meaningful. */
static size_t value_bytes(const struct wf_nft_value *v, const void **p)
{
	switch (v->type) {
	case WF_NFT_T_IPV4_ADDR:
		*p = &v->ip4;
		return sizeof(v->ip4);
	case WF_NFT_T_IPV6_ADDR:
		*p = &v->ip6;
		return sizeof(v->ip6);
	case WF_NFT_T_INET_PROTO:
		*p = &v->proto;
		return sizeof(v->proto);
	case WF_NFT_T_INET_SERVICE:
		*p = &v->port;
		return sizeof(v->port);
	case WF_NFT_T_MARK:
		*p = &v->mark;
		return sizeof(v->mark);
	case WF_NFT_T_IFNAME:
		*p = v->ifname;
		return strnlen(v->ifname, sizeof(v->ifname));
	case WF_NFT_T_NONE:
		break;
	}
	*p = NULL;
	return 0;
}

bool wf_nft_value_equal(const struct wf_nft_value *a, const struct wf_nft_value *b)
{
	const void *pa, *pb;
	size_t la, lb;

	if (a->type != b->type)
		return false;
	la = value_bytes(a, &pa);
	lb = value_bytes(b, &pb);
	return la == lb && (!la || !memcmp(pa, pb, la));
}

static void copy_set_header(struct wf_nft_set *dst, const struct wf_nft_set *src)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->name, src->name, sizeof(dst->name));
	memcpy(dst->key, src->key, sizeof(dst->key));
	memcpy(dst->data, src->data, sizeof(dst->data));
	dst->n_key = src->n_key;
	dst->n_data = src->n_data;
}

void wf_nft_elem_index_free(struct wf_nft_elem_index *ix)
{
	free(ix->recs);
	ix->recs = NULL;
	ix->n = 0;
}

int wf_nft_elem_index_build(const struct wf_nft_set *s, struct wf_nft_elem_index *ix)
{
	uint32_t id, key_len;
	int ret;

	memset(ix, 0, sizeof(*ix));
	copy_set_header(&ix->set, s);
	ret = wf_nft_concat_encode_type(s->key, s->n_key, &id, &key_len);
	if (ret)
		return ret;
	ret = wf_nft_set_sorted_elems(s, &ix->recs, &ix->rec_len);
	if (ret)
		return ret;
	ix->n = s->n_elems;
	ix->key_len = key_len;
	return 0;
}

struct rec_key {
	const uint8_t *rec;
	size_t len;
};

static int rec_cmp(const void *element, const void *key)
{
	const struct rec_key *k = key;

	return memcmp(element, k->rec, k->len);
}

/* The first record of ix not below rec. */
static size_t lower_bound(const struct wf_nft_elem_index *ix, const uint8_t *rec)
{
	const struct rec_key key = {.rec = rec, .len = ix->rec_len};

	return wf_lower_bound(ix->recs, ix->n, ix->rec_len, &key, rec_cmp);
}

/* From this many records deleted and added on, the index is written anew in one pass rather
 * than moved once per record: a peer's largest change moves tens of thousands of records. */
#define INDEX_MERGE_AT 64

static int apply_merged(struct wf_nft_elem_index *ix, const struct wf_nft_elem_index *del,
                        const struct wf_nft_elem_index *add)
{
	size_t len = ix->rec_len, i = 0, d = 0, a = 0, n = 0;
	uint8_t *out;

	if (del->n > ix->n)
		return -ENOENT;
	out = malloc((ix->n - del->n + add->n) * len + 1);
	if (!out)
		return -ENOMEM;
	while (i < ix->n || a < add->n) {
		const uint8_t *have = i < ix->n ? ix->recs + i * len : NULL;
		const uint8_t *gone = d < del->n ? del->recs + d * len : NULL;
		const uint8_t *came = a < add->n ? add->recs + a * len : NULL;
		int c;

		if (gone && (!have || memcmp(gone, have, len) < 0))
			goto missing;
		if (gone && !memcmp(gone, have, len)) {
			i++;
			d++;
			continue;
		}
		c = !have ? 1 : !came ? -1 : memcmp(have, came, len);
		if (!c) {
			free(out);
			return -EEXIST;
		}
		memcpy(out + n++ * len, c < 0 ? have : came, len);
		if (c < 0)
			i++;
		else
			a++;
	}
	if (d < del->n)
		goto missing;
	free(ix->recs);
	ix->recs = out;
	ix->n = n;
	return 0;
missing:
	free(out);
	return -ENOENT;
}

int wf_nft_elem_index_apply(struct wf_nft_elem_index *ix, const struct wf_nft_elem_index *del,
                            const struct wf_nft_elem_index *add)
{
	size_t len = ix->rec_len;
	uint8_t *recs;

	if ((del->n && del->rec_len != len) || (add->n && add->rec_len != len))
		return -EINVAL;
	if (del->n + add->n >= INDEX_MERGE_AT)
		return apply_merged(ix, del, add);
	for (size_t i = 0; i < del->n; i++) {
		const uint8_t *rec = del->recs + i * len;
		size_t at = lower_bound(ix, rec);

		if (at == ix->n || memcmp(ix->recs + at * len, rec, len))
			return -ENOENT;
		memmove(ix->recs + at * len, ix->recs + (at + 1) * len, (ix->n - at - 1) * len);
		ix->n--;
	}
	if (!add->n)
		return 0;
	recs = realloc(ix->recs, (ix->n + add->n) * len);
	if (!recs)
		return -ENOMEM;
	ix->recs = recs;
	for (size_t i = 0; i < add->n; i++) {
		const uint8_t *rec = add->recs + i * len;
		size_t at = lower_bound(ix, rec);

		if (at < ix->n && !memcmp(ix->recs + at * len, rec, len))
			return -EEXIST;
		memmove(ix->recs + (at + 1) * len, ix->recs + at * len, (ix->n - at) * len);
		memcpy(ix->recs + at * len, rec, len);
		ix->n++;
	}
	return 0;
}

static int add_decoded(struct wf_nft_set *to, const struct wf_nft_elem_index *ix, size_t i)
{
	const uint8_t *rec = ix->recs + i * ix->rec_len;
	struct wf_nft_elem e;

	memset(&e, 0, sizeof(e));
	if (wf_nft_concat_decode(ix->set.key, ix->set.n_key, rec, (uint32_t)ix->key_len, e.key))
		return -EPROTO;
	if (ix->set.n_data && wf_nft_concat_decode(ix->set.data, ix->set.n_data, rec + ix->key_len,
	                                           (uint32_t)(ix->rec_len - ix->key_len), e.data))
		return -EPROTO;
	return wf_nft_set_add_elem(to, &e) ? -ENOMEM : 0;
}

int wf_nft_elem_index_diff(const struct wf_nft_elem_index *have,
                           const struct wf_nft_elem_index *want, struct wf_nft_set *add,
                           struct wf_nft_set *del)
{
	size_t i = 0, j = 0;
	int ret = 0;

	copy_set_header(add, &want->set);
	copy_set_header(del, &want->set);
	if (have->n && have->rec_len != want->rec_len)
		return -EINVAL;
	/* A key whose data changed appears on both sides: deleted, then added. */
	while (!ret && (i < have->n || j < want->n)) {
		int c;

		if (i == have->n)
			c = 1;
		else if (j == want->n)
			c = -1;
		else
			c = memcmp(have->recs + i * have->rec_len, want->recs + j * want->rec_len,
			           want->rec_len);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			ret = add_decoded(del, have, i++);
		} else {
			ret = add_decoded(add, want, j++);
		}
	}
	if (ret) {
		wf_nft_set_clear_elems(add);
		wf_nft_set_clear_elems(del);
	}
	return ret;
}

int wf_nft_set_diff(const struct wf_nft_set *have, const struct wf_nft_set *want,
                    struct wf_nft_set *add, struct wf_nft_set *del)
{
	struct wf_nft_elem_index h, w;
	int ret;

	memset(add, 0, sizeof(*add));
	memset(del, 0, sizeof(*del));
	ret = wf_nft_elem_index_build(have, &h);
	if (!ret)
		ret = wf_nft_elem_index_build(want, &w);
	else
		memset(&w, 0, sizeof(w));
	if (!ret)
		ret = wf_nft_elem_index_diff(&h, &w, add, del);
	wf_nft_elem_index_free(&h);
	wf_nft_elem_index_free(&w);
	return ret;
}

bool wf_nft_table_same_shape(const struct wf_nft_table *have, const struct wf_nft_table *want)
{
	struct wf_nft_table h = *have, w = *want;
	struct wf_nft_set *hs, *ws;
	bool same = false;

	if (have->n_sets != want->n_sets)
		return false;
	hs = calloc(have->n_sets ? have->n_sets : 1, sizeof(*hs));
	ws = calloc(want->n_sets ? want->n_sets : 1, sizeof(*ws));
	if (hs && ws) {
		bool all_found = true;

		/* Paired by name: the kernel need not list sets in the order they were made. */
		for (size_t i = 0; i < have->n_sets && all_found; i++) {
			const struct wf_nft_set *match = NULL;

			for (size_t k = 0; k < want->n_sets && !match; k++)
				if (!strcmp(want->sets[k].name, have->sets[i].name))
					match = &want->sets[k];
			all_found = match != NULL;
			if (!match)
				break;
			hs[i] = have->sets[i];
			hs[i].elems = NULL;
			hs[i].n_elems = hs[i].cap_elems = 0;
			ws[i] = *match;
			ws[i].elems = NULL;
			ws[i].n_elems = ws[i].cap_elems = 0;
		}
		h.sets = hs;
		w.sets = ws;
		same = all_found && wf_nft_table_equal(&h, &w);
	}
	free(hs);
	free(ws);
	return same;
}
