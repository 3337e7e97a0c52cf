/* Shared by the nft_*.c files of the core, not by anyone else: datatypes and their encoding,
 * the fields rules can load, and the translation of model rules into libnftnl expressions. */
#ifndef WGFWD_NFT_INTERNAL_H
#define WGFWD_NFT_INTERNAL_H

#include <stdio.h>

#include <libnftnl/rule.h>

#include "wgfwd/nft.h"

/* nft's datatype numbers (enum datatypes in nftables' datatype.h); a concatenation packs
 * them 6 bits each, first type in the highest bits. */
#define WF_NFT_TYPE_BITS 6

/* Concatenated keys and data: every field starts on a 32-bit register boundary. */
#define WF_NFT_KEY_MAX (WF_NFT_CONCAT_MAX * 16)

size_t wf_nft_type_len(enum wf_nft_type t);
int wf_nft_concat_encode_type(const enum wf_nft_type *types, size_t n, uint32_t *id, uint32_t *len);
int wf_nft_concat_decode_type(uint32_t id, uint32_t len, enum wf_nft_type *types, size_t *n);
/* Bytes of a concatenated value as the kernel stores it (set element keys and data). */
int wf_nft_concat_encode(const enum wf_nft_type *types, size_t n, const struct wf_nft_value *v,
                         uint8_t *buf, uint32_t *len);
int wf_nft_concat_decode(const enum wf_nft_type *types, size_t n, const uint8_t *buf, uint32_t len,
                         struct wf_nft_value *v);
/* Writes each element's key and data encoded to buf (kv_len bytes each), for sorting and
 * comparing element lists. */
int wf_nft_set_encode_elems(const struct wf_nft_set *s, uint8_t **buf, size_t *kv_len);

void wf_nft_value_fprint(FILE *f, enum wf_nft_type t, const struct wf_nft_value *v);
void wf_nft_elem_fprint(FILE *f, const struct wf_nft_set *s, const struct wf_nft_elem *e);

struct wf_nft_field_info {
	const char *name;      /* nft syntax */
	enum wf_nft_type type; /* of values and of set keys loaded from it */
	uint8_t len;           /* bytes loaded into registers */
};
const struct wf_nft_field_info *wf_nft_field_info(enum wf_nft_field f);
/* The number a 1- or 4-byte field is compared with, whichever member the caller filled. */
uint32_t wf_nft_value_u32(enum wf_nft_field f, const struct wf_nft_value *v);

/* Resolves a set name to the id it got earlier in the same batch, 0 when it is not new. */
typedef uint32_t (*wf_nft_set_id_fn)(void *ctx, const char *set);

struct wf_nft_linearize {
	wf_nft_set_id_fn set_id; /* may be NULL */
	void *set_id_ctx;
	bool iptables_compat;
	/* Filled: for each expression, the item it came from (-1 for dependencies), so a kernel
	 * error pointing at an expression can be named by its item. */
	int8_t expr_item[128];
	size_t n_exprs;
};

/* Builds the libnftnl rule for a model rule; table and chain are set, handle is not. */
int wf_nft_rule_linearize(uint8_t family, const char *table, const struct wf_nft_rule *r,
                          struct wf_nft_linearize *how, struct nftnl_rule **out);
/* Hash of a libnftnl rule's expressions, normalized as the kernel reports them (counters
 * zeroed, NAT flags that only restate the registers dropped). Changes counters in place. */
uint64_t wf_nft_nftnl_rule_digest(struct nftnl_rule *r);
int wf_nft_nftnl_rule_comment(const struct nftnl_rule *r, char *buf, size_t size);
bool wf_nft_nftnl_rule_has_xt(struct nftnl_rule *r);

/* Appends the printed item (nft syntax) to f. */
void wf_nft_item_fprint(FILE *f, const struct wf_nft_item *it);
void wf_nft_rule_fprint(FILE *f, const struct wf_nft_rule *r);

#endif
