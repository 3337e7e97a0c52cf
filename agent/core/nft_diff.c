#include <wgfwd/nft_diff.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* A canonical byte string per element (key then data), so elements sort and compare fast. */
#define ELEM_KEY_MAX (2 * WF_NFT_CONCAT_MAX * (1 + IF_NAMESIZE + 1))

struct elem_ref {
	unsigned char bytes[ELEM_KEY_MAX];
	size_t len, key_len;
	const struct wf_nft_elem *elem;
};

static size_t encode_values(const struct wf_nft_value *vals, size_t n, unsigned char *out)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		const void *p;
		size_t l = value_bytes(&vals[i], &p);

		out[len++] = (unsigned char)vals[i].type;
		out[len++] = (unsigned char)l;
		if (l)
			memcpy(out + len, p, l);
		len += l;
	}
	return len;
}

static int compare_refs(const void *a, const void *b)
{
	const struct elem_ref *x = a, *y = b;
	size_t l = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->bytes, y->bytes, l);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static struct elem_ref *sorted_refs(const struct wf_nft_set *s)
{
	struct elem_ref *refs = calloc(s->n_elems ? s->n_elems : 1, sizeof(*refs));

	if (!refs)
		return NULL;
	for (size_t i = 0; i < s->n_elems; i++) {
		refs[i].key_len = encode_values(s->elems[i].key, s->n_key, refs[i].bytes);
		refs[i].len = refs[i].key_len + encode_values(s->elems[i].data, s->n_data,
		                                              refs[i].bytes + refs[i].key_len);
		refs[i].elem = &s->elems[i];
	}
	qsort(refs, s->n_elems, sizeof(*refs), compare_refs);
	return refs;
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

int wf_nft_set_diff(const struct wf_nft_set *have, const struct wf_nft_set *want,
                    struct wf_nft_set *add, struct wf_nft_set *del)
{
	struct elem_ref *h = NULL, *w = NULL;
	size_t i = 0, j = 0;
	int ret = -ENOMEM;

	copy_set_header(add, want);
	copy_set_header(del, want);
	h = sorted_refs(have);
	w = sorted_refs(want);
	if (!h || !w)
		goto out;
	/* A key whose data changed appears on both sides: deleted, then added. */
	while (i < have->n_elems || j < want->n_elems) {
		int c;

		if (i == have->n_elems)
			c = 1;
		else if (j == want->n_elems)
			c = -1;
		else
			c = compare_refs(&h[i], &w[j]);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (wf_nft_set_add_elem(del, h[i++].elem))
				goto out;
		} else {
			if (wf_nft_set_add_elem(add, w[j++].elem))
				goto out;
		}
	}
	ret = 0;
out:
	free(h);
	free(w);
	if (ret) {
		wf_nft_set_clear_elems(add);
		wf_nft_set_clear_elems(del);
	}
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
