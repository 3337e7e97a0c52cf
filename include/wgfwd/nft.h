/* nftables: a plain-data model of an owned table, and the kernel interface for it.
 *
 * Render modules describe what they want as struct wf_nft_table (no libnftnl types leak out).
 * This module turns a change into a single netlink batch, so the kernel applies it whole or not
 * at all; reads back what exists so callers can reconcile; and maps kernel errors back to the
 * object that caused them. It only ever names tables its caller owns, except for single rules
 * placed in another owner's chain (Docker's DOCKER-USER), which are found and removed by shape.
 */
#ifndef WGFWD_NFT_H
#define WGFWD_NFT_H

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WF_NFT_NAME_MAX    64
#define WF_NFT_CONCAT_MAX  4
#define WF_NFT_ITEMS_MAX   16
#define WF_NFT_COMMENT_MAX 128

/* Datatypes of set keys and map data; concatenations list several. */
enum wf_nft_type {
	WF_NFT_T_NONE,
	WF_NFT_T_IPV4_ADDR,
	WF_NFT_T_IPV6_ADDR,
	WF_NFT_T_INET_PROTO,
	WF_NFT_T_INET_SERVICE,
	WF_NFT_T_MARK,
	WF_NFT_T_IFNAME,
};

struct wf_nft_value {
	enum wf_nft_type type;
	union {
		uint8_t proto;
		uint16_t port; /* host byte order */
		uint32_t mark;
		struct in_addr ip4;
		struct in6_addr ip6;
		char ifname[IF_NAMESIZE];
	};
};

/* Packet fields a rule can match on or use as a lookup key. */
enum wf_nft_field {
	WF_NFT_F_IIFNAME,
	WF_NFT_F_OIFNAME,
	WF_NFT_F_NFPROTO, /* NFPROTO_IPV4 / NFPROTO_IPV6 */
	WF_NFT_F_L4PROTO, /* meta l4proto */
	WF_NFT_F_IP_SADDR,
	WF_NFT_F_IP_DADDR,
	WF_NFT_F_IP6_SADDR,
	WF_NFT_F_IP6_DADDR,
	WF_NFT_F_TH_SPORT, /* transport header: same offset for tcp and udp */
	WF_NFT_F_TH_DPORT,
	WF_NFT_F_TCP_FLAGS,
	WF_NFT_F_META_MARK,
	WF_NFT_F_CT_MARK,
	WF_NFT_F_CT_STATE,       /* bits: NF_CT_STATE_BIT(IP_CT_NEW) … */
	WF_NFT_F_CT_STATUS,      /* bits: IPS_DST_NAT … */
	WF_NFT_F_CT_DIRECTION,   /* IP_CT_DIR_ORIGINAL / IP_CT_DIR_REPLY */
	WF_NFT_F_FIB_DADDR_TYPE, /* RTN_LOCAL, … (fib daddr type) */
};

enum wf_nft_op {
	WF_NFT_OP_EQ,
	WF_NFT_OP_NEQ,
	WF_NFT_OP_RANGE,    /* value <= field <= value_hi */
	WF_NFT_OP_ANY_BITS, /* field & value != 0: ct state new,established; tcp flags syn */
};

enum wf_nft_verdict {
	WF_NFT_ACCEPT,
	WF_NFT_DROP,
	WF_NFT_RETURN,
	WF_NFT_JUMP,
	WF_NFT_GOTO,
};

enum wf_nft_item_kind {
	WF_NFT_MATCH,     /* field op value; addresses may carry a prefix length */
	WF_NFT_MATCH_SET, /* keys[] in @set (or not in, with negate) */
	WF_NFT_COUNTER,
	WF_NFT_VERDICT,           /* verdict, chain for jump/goto */
	WF_NFT_CT_MARK_SET,       /* ct mark set mark */
	WF_NFT_META_MARK_SET,     /* meta mark set mark; with mark_mask, only those bits */
	WF_NFT_META_MARK_FROM_CT, /* meta mark set ct mark */
	WF_NFT_DNAT_MAP,          /* dnat <family> to keys[] map @set (data: addr . port) */
	WF_NFT_DNAT,              /* dnat <family> to addr[:port] */
	WF_NFT_SNAT,              /* snat <family> to addr */
	WF_NFT_SNAT_KEEP_SOURCE,  /* snat <family> to <family> saddr: settle the binding, change
	                             nothing */
	WF_NFT_MASQUERADE,
	WF_NFT_MSS_CLAMP, /* tcp option maxseg size set rt mtu */
};

struct wf_nft_item {
	enum wf_nft_item_kind kind;
	enum wf_nft_field field;
	enum wf_nft_op op;
	struct wf_nft_value value, value_hi;
	uint8_t prefix_len; /* 0: whole address */
	enum wf_nft_field keys[WF_NFT_CONCAT_MAX];
	size_t n_keys;
	char set[WF_NFT_NAME_MAX];
	bool negate;
	uint8_t family; /* NFPROTO_IPV4 / NFPROTO_IPV6 for the NAT kinds */
	uint32_t mark;
	uint32_t mark_mask; /* WF_NFT_META_MARK_SET: bits it sets, the others kept; 0: all */
	enum wf_nft_verdict verdict;
	char chain[WF_NFT_NAME_MAX];
	struct wf_nft_value nat_addr; /* WF_NFT_DNAT / WF_NFT_SNAT */
	uint16_t nat_port;            /* WF_NFT_DNAT; 0: keep the port */
};

struct wf_nft_rule {
	char chain[WF_NFT_NAME_MAX];
	struct wf_nft_item items[WF_NFT_ITEMS_MAX];
	size_t n_items;
	char comment[WF_NFT_COMMENT_MAX];
	uint64_t handle; /* filled on read-back; 0 in desired rules */
	uint64_t digest; /* read-back: hash of the kernel's expressions, counter values zeroed */
	/* Family of the table holding the rule: decides implicit dependencies (in inet tables an
	 * ip saddr match first checks meta nfproto, as nft does). Set by wf_nft_table_add_rule and
	 * read-back; a desired rule with 0 takes the family of the rule it is compared with. */
	uint8_t family;
	/* Encode as iptables-nft does (ct state/status as xt conntrack, ct mark as xt connmark,
	 * interface names compared with their NUL only), so `iptables -S` can still read the
	 * chain (iptables 1.8 calls native ct expressions "incompatible"; comments are fine).
	 * Used for rules placed in chains iptables owns; set on read-back when the kernel rule
	 * carries xt matches. */
	bool iptables_compat;
};

struct wf_nft_chain {
	char name[WF_NFT_NAME_MAX];
	bool base;
	char type[16]; /* "filter", "nat", "route" */
	int hook;      /* NF_INET_PRE_ROUTING … */
	int priority;
	int policy; /* NF_ACCEPT / NF_DROP */
};

struct wf_nft_elem {
	struct wf_nft_value key[WF_NFT_CONCAT_MAX];
	struct wf_nft_value data[WF_NFT_CONCAT_MAX];
};

struct wf_nft_set {
	char name[WF_NFT_NAME_MAX];
	enum wf_nft_type key[WF_NFT_CONCAT_MAX];
	size_t n_key;
	enum wf_nft_type data[WF_NFT_CONCAT_MAX];
	size_t n_data; /* 0: a set, else a map */
	struct wf_nft_elem *elems;
	size_t n_elems, cap_elems;
};

struct wf_nft_table {
	uint8_t family; /* NFPROTO_INET, NFPROTO_IPV4, … */
	char name[WF_NFT_NAME_MAX];
	struct wf_nft_chain *chains;
	size_t n_chains, cap_chains;
	struct wf_nft_set *sets;
	size_t n_sets, cap_sets;
	struct wf_nft_rule *rules;
	size_t n_rules, cap_rules;
};

/* Building a table (pure, in memory). Adders return a pointer into the table, NULL on ENOMEM. */
struct wf_nft_table *wf_nft_table_new(uint8_t family, const char *name);
void wf_nft_table_free(struct wf_nft_table *t);
struct wf_nft_chain *wf_nft_table_add_chain(struct wf_nft_table *t, const struct wf_nft_chain *c);
struct wf_nft_set *wf_nft_table_add_set(struct wf_nft_table *t, const struct wf_nft_set *s);
struct wf_nft_rule *wf_nft_table_add_rule(struct wf_nft_table *t, const struct wf_nft_rule *r);
int wf_nft_set_add_elem(struct wf_nft_set *s, const struct wf_nft_elem *e);
struct wf_nft_set *wf_nft_table_find_set(struct wf_nft_table *t, const char *name);
struct wf_nft_chain *wf_nft_table_find_chain(struct wf_nft_table *t, const char *name);
/* Frees the elements a standalone set owns (sets inside a table are freed with the table). */
void wf_nft_set_clear_elems(struct wf_nft_set *s);

/* Rule building helpers: append one item; rules longer than WF_NFT_ITEMS_MAX are a bug. */
void wf_nft_rule_match(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                       const struct wf_nft_value *v);
void wf_nft_rule_item(struct wf_nft_rule *r, const struct wf_nft_item *it);

/* Print in nft syntax (what `nft list table` would show, near enough to read side by side). */
int wf_nft_table_print(const struct wf_nft_table *t, char **out);
int wf_nft_rule_print(const struct wf_nft_rule *r, char **out);
/* The netlink expressions a rule becomes in a table of this family, one per line, in the
 * notation of `nft --debug=netlink`: for tests and for explaining drift. */
int wf_nft_rule_bytecode(uint8_t family, const struct wf_nft_rule *r, char **out);
/* Hash of the rule's expressions as the kernel would report them, counter values zeroed. */
uint64_t wf_nft_rule_digest(uint8_t family, const struct wf_nft_rule *r);

/* Kernel side. One context per daemon, one netlink socket. */
struct wf_nft;

struct wf_nft_error {
	int err;          /* negative errno */
	char what[256];   /* the object the kernel refused, e.g. "rule in chain prerouting: dnat to
	                     ..." */
	char detail[256]; /* kernel extended ack message when given */
};

int wf_nft_open(struct wf_nft **out);
void wf_nft_close(struct wf_nft *n);

/* A batch collects operations; wf_nft_commit sends them as one transaction. Every message asks
 * for an acknowledgement, and the commit reads them all back. To change the data of a map
 * element, delete and add it in the same batch (adding a key that exists with other data
 * fails, and so does deleting one that is missing). An adder that fails leaves the batch
 * refused by wf_nft_commit; a batch is committed once. */
struct wf_nft_batch;
struct wf_nft_batch *wf_nft_batch_new(void);
/* A batch the kernel refuses whole, with -ERESTART, if the ruleset's generation (see
 * wf_nft_genid) is no longer `genid` when it commits: so a batch built on what was read at
 * that generation cannot land on top of someone else's change. */
struct wf_nft_batch *wf_nft_batch_new_at(uint32_t genid);
/* The generation the ruleset is at once a guarded batch committed (or, empty, was not sent):
 * false for an unguarded or uncommitted batch. */
bool wf_nft_batch_genid_after(const struct wf_nft_batch *b, uint32_t *genid);

/* Something a daemon committed, known to be in the kernel as written while the ruleset
 * generation stays where that commit left it. Zero-initialised: nothing known. */
struct wf_nft_known {
	bool valid;
	uint32_t genid;
};
/* Whether b is guarded by the generation k was committed at: then nobody changed it since. */
bool wf_nft_known_current(const struct wf_nft_known *k, const struct wf_nft_batch *b);
/* After the commit of b (commit_err its outcome): known at the generation it left, when b was
 * guarded and went through; unknown otherwise. */
void wf_nft_known_settle(struct wf_nft_known *k, const struct wf_nft_batch *b, int commit_err);
void wf_nft_batch_free(struct wf_nft_batch *b);
/* Create-or-replace: the table is deleted (if present) and rebuilt inside the same batch. */
int wf_nft_batch_replace_table(struct wf_nft_batch *b, const struct wf_nft_table *t);
int wf_nft_batch_delete_table(struct wf_nft_batch *b, uint8_t family, const char *name);
int wf_nft_batch_add_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                           const struct wf_nft_set *set_with_elems);
int wf_nft_batch_delete_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                              const struct wf_nft_set *set_with_elems);
/* Rules in chains someone else owns (DOCKER-USER): insert at the top / delete by handle.
 * Inserted rules are always encoded for iptables (see iptables_compat). */
int wf_nft_batch_insert_rule(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const struct wf_nft_rule *r);
int wf_nft_batch_delete_rule(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const char *chain, uint64_t handle);
/* Number of messages queued (each object, each chunk of elements, each rule is one). */
size_t wf_nft_batch_size(const struct wf_nft_batch *b);

int wf_nft_commit(struct wf_nft *n, struct wf_nft_batch *b, struct wf_nft_error *err);

/* Read back a table: chains, sets with their elements, rules (with handles and comments).
 * Rules carry handle, comment and digest, not items: compare them with wf_nft_rule_equal.
 * Returns -ENOENT when the table does not exist. */
int wf_nft_table_get(struct wf_nft *n, uint8_t family, const char *name, struct wf_nft_table **out);
/* The ruleset generation: the kernel advances it with every committed transaction, anyone's. */
int wf_nft_genid(struct wf_nft *n, uint32_t *genid);
/* Rules of one chain of any table, e.g. to find our rule in DOCKER-USER. -ENOENT if absent.
 * *rules is one allocation: free() it. Read-back rules carry handle, comment and digest only. */
int wf_nft_chain_rules_get(struct wf_nft *n, uint8_t family, const char *table, const char *chain,
                           struct wf_nft_rule **rules, size_t *n_rules);
/* True when the kernel's rule has exactly the expressions of the desired one (counter values
 * and handles ignored): how drift inside an owned table or a foreign chain is found. */
bool wf_nft_rule_equal(const struct wf_nft_rule *a, const struct wf_nft_rule *b);
/* True when the kernel table matches the desired one (chains, sets and elements, rules). */
bool wf_nft_table_equal(const struct wf_nft_table *kernel, const struct wf_nft_table *desired);

#endif
