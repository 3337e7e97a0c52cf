#include <wgfwd/nft_build.h>

#include <errno.h>
#include <string.h>

#include <wgfwd/util.h>

struct wf_nft_rule *wf_nft_rule_begin(struct wf_nft_rule *r, const char *chain, const char *comment)
{
	memset(r, 0, sizeof(*r));
	WF_COPY(r->chain, chain);
	WF_COPY(r->comment, comment);
	return r;
}

void wf_nft_match_ifname(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                         const char *name)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IFNAME};

	WF_COPY(v.ifname, name);
	wf_nft_rule_match(r, f, op, &v);
}

void wf_nft_match_u32(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op, uint32_t value)
{
	struct wf_nft_value v = {.type = WF_NFT_T_MARK, .mark = value};

	wf_nft_rule_match(r, f, op, &v);
}

void wf_nft_match_nfproto(struct wf_nft_rule *r, uint8_t nfproto)
{
	struct wf_nft_value v = {.type = WF_NFT_T_NONE, .proto = nfproto};

	wf_nft_rule_match(r, WF_NFT_F_NFPROTO, WF_NFT_OP_EQ, &v);
}

void wf_nft_match_l4proto(struct wf_nft_rule *r, uint8_t proto)
{
	struct wf_nft_value v = {.type = WF_NFT_T_INET_PROTO, .proto = proto};

	wf_nft_rule_match(r, WF_NFT_F_L4PROTO, WF_NFT_OP_EQ, &v);
}

void wf_nft_match_dport(struct wf_nft_rule *r, uint16_t port)
{
	struct wf_nft_value v = {.type = WF_NFT_T_INET_SERVICE, .port = port};

	wf_nft_rule_match(r, WF_NFT_F_TH_DPORT, WF_NFT_OP_EQ, &v);
}

void wf_nft_match_set(struct wf_nft_rule *r, const char *set, size_t n_keys,
                      const enum wf_nft_field *keys)
{
	struct wf_nft_item it = {.kind = WF_NFT_MATCH_SET, .n_keys = n_keys};

	memcpy(it.keys, keys, n_keys * sizeof(keys[0]));
	WF_COPY(it.set, set);
	wf_nft_rule_item(r, &it);
}

void wf_nft_add_simple(struct wf_nft_rule *r, enum wf_nft_item_kind kind)
{
	struct wf_nft_item it = {.kind = kind};

	wf_nft_rule_item(r, &it);
}

void wf_nft_add_mark(struct wf_nft_rule *r, enum wf_nft_item_kind kind, uint32_t mark)
{
	struct wf_nft_item it = {.kind = kind, .mark = mark};

	wf_nft_rule_item(r, &it);
}

void wf_nft_add_meta_mark_masked(struct wf_nft_rule *r, uint32_t mark, uint32_t mask)
{
	struct wf_nft_item it = {.kind = WF_NFT_META_MARK_SET, .mark = mark, .mark_mask = mask};

	wf_nft_rule_item(r, &it);
}

void wf_nft_add_verdict(struct wf_nft_rule *r, enum wf_nft_verdict v)
{
	struct wf_nft_item it = {.kind = WF_NFT_VERDICT, .verdict = v};

	wf_nft_rule_item(r, &it);
}

void wf_nft_add_nat(struct wf_nft_rule *r, enum wf_nft_item_kind kind, uint8_t family)
{
	struct wf_nft_item it = {.kind = kind, .family = family};

	wf_nft_rule_item(r, &it);
}

void wf_nft_add_dnat_map_ct_mark(struct wf_nft_rule *r, uint8_t family, const char *map,
                                 uint32_t bits)
{
	static const enum wf_nft_field keys[] = {WF_NFT_F_L4PROTO, WF_NFT_F_TH_DPORT};
	struct wf_nft_item it = {.kind = WF_NFT_DNAT_MAP,
	                         .family = family,
	                         .n_keys = 2,
	                         .mark = bits,
	                         .mark_mask = bits};

	memcpy(it.keys, keys, sizeof(keys));
	WF_COPY(it.set, map);
	wf_nft_rule_item(r, &it);
}

void wf_nft_add_dnat_map(struct wf_nft_rule *r, uint8_t family, const char *map)
{
	wf_nft_add_dnat_map_ct_mark(r, family, map, 0);
}

int wf_nft_add_base_chain(struct wf_nft_table *t, const char *name, const char *type, int hook,
                          int priority, int policy)
{
	struct wf_nft_chain c = {
	    .base = true, .hook = hook, .priority = priority, .policy = policy};

	WF_COPY(c.name, name);
	WF_COPY(c.type, type);
	return wf_nft_table_add_chain(t, &c) ? 0 : -ENOMEM;
}

int wf_nft_add_set(struct wf_nft_table *t, const char *name, size_t n_key,
                   const enum wf_nft_type *key, size_t n_data, const enum wf_nft_type *data)
{
	struct wf_nft_set s = {.n_key = n_key, .n_data = n_data};

	WF_COPY(s.name, name);
	memcpy(s.key, key, n_key * sizeof(key[0]));
	if (n_data)
		memcpy(s.data, data, n_data * sizeof(data[0]));
	return wf_nft_table_add_set(t, &s) ? 0 : -ENOMEM;
}

int wf_nft_add_rule(struct wf_nft_table *t, const struct wf_nft_rule *r)
{
	return wf_nft_table_add_rule(t, r) ? 0 : -ENOMEM;
}
