/* Shared by the nft_*.c files of the core, not by anyone else: datatypes and their encoding,
 * the fields rules can load, the translation of model rules into libnftnl expressions, and
 * the socket and batch that the batch builder, the commit and the read-back share. */
#ifndef WGFWD_NFT_INTERNAL_H
#define WGFWD_NFT_INTERNAL_H

#include <stdio.h>

#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>

#include <wgfwd/netlink.h>
#include <wgfwd/nft_diff.h>
#include <wgfwd/nft_kernel.h>

/* nft's datatype numbers (enum datatypes in nftables' datatype.h); a concatenation packs
 * them 6 bits each, first type in the highest bits. */
#define WF_NFT_TYPE_BITS 6

/* Concatenated keys and data: every field starts on a 32-bit register boundary. */
#define WF_NFT_KEY_MAX (WF_NFT_CONCAT_MAX * 16)

size_t wf_nft_type_len(enum wf_nft_type t);
int wf_nft_concat_encode_type(const enum wf_nft_type *types, size_t n, uint32_t *id, uint32_t *len);
int wf_nft_concat_decode_type(uint32_t id, uint32_t len, enum wf_nft_type *types, size_t *n);
/* The bytes of one value of type t, at buf (wf_nft_type_len of them). */
void wf_nft_value_encode(enum wf_nft_type t, const struct wf_nft_value *v, uint8_t *buf);
/* Bytes of a concatenated value as the kernel stores it (set element keys and data). */
int wf_nft_concat_encode(const enum wf_nft_type *types, size_t n, const struct wf_nft_value *v,
                         uint8_t *buf, uint32_t *len);
int wf_nft_concat_decode(const enum wf_nft_type *types, size_t n, const uint8_t *buf, uint32_t len,
                         struct wf_nft_value *v);
/* Writes each element's key and data encoded to buf (kv_len bytes each), for sorting and
 * comparing element lists. */
int wf_nft_set_encode_elems(const struct wf_nft_set *s, uint8_t **buf, size_t *kv_len);
/* The same, sorted: two sets hold the same elements when these bytes are equal. */
int wf_nft_set_sorted_elems(const struct wf_nft_set *s, uint8_t **buf, size_t *kv_len);

/* "inet", "ip", "ip6", …, as nft names a family. */
const char *wf_nft_family_name(uint8_t family);
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
/* wf_nft_rule_digest, encoded for iptables or not whatever the rule says. */
uint64_t wf_nft_rule_digest_as(uint8_t family, const struct wf_nft_rule *r, bool compat);
int wf_nft_nftnl_rule_comment(const struct nftnl_rule *r, char *buf, size_t size);
bool wf_nft_nftnl_rule_has_xt(struct nftnl_rule *r);

/* Appends the printed item (nft syntax) to f. */
void wf_nft_item_fprint(FILE *f, const struct wf_nft_item *it);
void wf_nft_rule_fprint(FILE *f, const struct wf_nft_rule *r);

/* ---- the kernel side ---- */

struct wf_nft {
	struct wf_nl nl;
};

/* A table read back as wf_nft_table_get does, but its sets' elements as sorted indexes
 * (*sets, one per (*shape)->sets[i], which hold none): what a sync compares, with no element
 * decoded. Free each index with wf_nft_elem_index_free, then the array. */
int wf_nft_table_get_indexed(struct wf_nft *n, uint8_t family, const char *name,
                             struct wf_nft_table **shape, struct wf_nft_elem_index **sets);

/* wf_nft_batch_replace_table with each set's elements taken from sets[i] (one per
 * shape->sets[i], whose own elements are ignored): records a sync has encoded and sorted
 * already go into the batch as they are, rather than encoded a second time. */
int wf_nft_batch_replace_table_indexed(struct wf_nft_batch *b, const struct wf_nft_table *shape,
                                       const struct wf_nft_elem_index *sets);

/* Sends a request built by the caller and runs cb (a libmnl callback: libnftnl's parsers are)
 * on every answer until the dump ends; an interrupted dump gives -EAGAIN (wf_nl_talk). */
int wf_nft_request(struct wf_nft *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

enum wf_nft_msg_kind { WF_NFT_MSG_OTHER, WF_NFT_MSG_ELEMS, WF_NFT_MSG_RULE };

/* One message of a batch, and what the commit needs to name it when the kernel refuses it. */
struct wf_nft_batch_msg {
	uint32_t seq;
	enum wf_nft_msg_kind kind;
	char *what;
	/* WF_NFT_MSG_ELEMS: to name the element the kernel points at */
	enum wf_nft_type key[WF_NFT_CONCAT_MAX], data[WF_NFT_CONCAT_MAX];
	size_t n_key, n_data;
	/* WF_NFT_MSG_RULE: item each expression came from, and the printed items ('\0' separated)
	 */
	int8_t expr_item[128];
	size_t n_exprs;
	char *items;
	/* filled by the commit */
	bool answered;
	int err;
	uint32_t err_offset;
	char *ext_msg;
};

struct wf_nft_set_id {
	uint8_t family;
	char table[WF_NFT_NAME_MAX];
	char name[WF_NFT_NAME_MAX];
	uint32_t id;
};

struct nftnl_batch;

struct wf_nft_batch {
	struct nftnl_batch *nb;
	uint32_t seq_begin, seq_next;
	bool ended;
	struct wf_nft_batch_msg *msgs;
	size_t n_msgs, cap_msgs;
	struct wf_nft_set_id *set_ids;
	size_t n_set_ids, cap_set_ids;
	uint32_t next_set_id;
	int error; /* a failed build poisons the batch: commit refuses it */
	bool guarded, committed;
	uint32_t genid; /* guarded: the kernel refuses the batch unless this is still current */
};

#endif
