/* The in-memory nftables model: building and freeing tables. No I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/nft.h>
#include <wgfwd/util.h>

struct wf_nft_table *wf_nft_table_new(uint8_t family, const char *name)
{
	struct wf_nft_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->family = family;
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

void wf_nft_set_clear_elems(struct wf_nft_set *s)
{
	free(s->elems);
	s->elems = NULL;
	s->n_elems = s->cap_elems = 0;
}

void wf_nft_table_free(struct wf_nft_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_sets; i++)
		wf_nft_set_clear_elems(&t->sets[i]);
	free(t->sets);
	free(t->chains);
	free(t->rules);
	free(t);
}

struct wf_nft_chain *wf_nft_table_add_chain(struct wf_nft_table *t, const struct wf_nft_chain *c)
{
	if (WF_ARRAY_RESERVE(t->chains, t->n_chains, t->cap_chains, 1))
		return NULL;
	t->chains[t->n_chains] = *c;
	return &t->chains[t->n_chains++];
}

/* The set is copied with its elements, so the caller keeps ownership of what it passed. */
struct wf_nft_set *wf_nft_table_add_set(struct wf_nft_table *t, const struct wf_nft_set *s)
{
	struct wf_nft_set *dst;

	if (WF_ARRAY_RESERVE(t->sets, t->n_sets, t->cap_sets, 1))
		return NULL;
	dst = &t->sets[t->n_sets];
	*dst = *s;
	dst->elems = NULL;
	dst->n_elems = dst->cap_elems = 0;
	for (size_t i = 0; i < s->n_elems; i++) {
		if (wf_nft_set_add_elem(dst, &s->elems[i])) {
			wf_nft_set_clear_elems(dst);
			return NULL;
		}
	}
	t->n_sets++;
	return dst;
}

struct wf_nft_rule *wf_nft_table_add_rule(struct wf_nft_table *t, const struct wf_nft_rule *r)
{
	struct wf_nft_rule *dst;

	if (WF_ARRAY_RESERVE(t->rules, t->n_rules, t->cap_rules, 1))
		return NULL;
	dst = &t->rules[t->n_rules++];
	*dst = *r;
	dst->family = t->family;
	return dst;
}

int wf_nft_set_add_elem(struct wf_nft_set *s, const struct wf_nft_elem *e)
{
	if (WF_ARRAY_RESERVE(s->elems, s->n_elems, s->cap_elems, 1))
		return -ENOMEM;
	s->elems[s->n_elems++] = *e;
	return 0;
}

struct wf_nft_set *wf_nft_table_find_set(const struct wf_nft_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_sets; i++)
		if (!strcmp(t->sets[i].name, name))
			return &t->sets[i];
	return NULL;
}

struct wf_nft_chain *wf_nft_table_find_chain(const struct wf_nft_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_chains; i++)
		if (!strcmp(t->chains[i].name, name))
			return &t->chains[i];
	return NULL;
}

void wf_nft_rule_item(struct wf_nft_rule *r, const struct wf_nft_item *it)
{
	if (r->n_items >= WF_NFT_ITEMS_MAX)
		abort(); /* a rule this long is a bug in the renderer, not a runtime condition */
	r->items[r->n_items++] = *it;
}

void wf_nft_rule_match(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                       const struct wf_nft_value *v)
{
	struct wf_nft_item it = {
	    .kind = WF_NFT_MATCH,
	    .field = f,
	    .op = op,
	    .value = *v,
	};

	wf_nft_rule_item(r, &it);
}
