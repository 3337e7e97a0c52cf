/* nftables as plain data: tables, chains, sets and maps with their elements, rules made of
 * items (matches, verdicts, NAT, marks). Renderers describe what they want in these types and
 * never see libnftnl or the kernel; nft_kernel.h sends them to the kernel and reads them back.
 * Building and printing only: no I/O here.
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
	WF_NFT_DNAT_MAP,          /* dnat <family> to keys[] map @set (data: addr . port); with
	                             mark_mask, ct mark gets mark's bits of it once the lookup
	                             found the target */
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
	uint32_t mark_mask; /* WF_NFT_META_MARK_SET: bits it sets, the others kept; 0: all.
	                       WF_NFT_DNAT_MAP: ct mark bits it sets; 0: none */
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
struct wf_nft_set *wf_nft_table_find_set(const struct wf_nft_table *t, const char *name);
struct wf_nft_chain *wf_nft_table_find_chain(const struct wf_nft_table *t, const char *name);
/* Frees the elements a standalone set owns (sets inside a table are freed with the table). */
void wf_nft_set_clear_elems(struct wf_nft_set *s);

/* Rule building helpers: append one item; rules longer than WF_NFT_ITEMS_MAX are a bug. */
void wf_nft_rule_match(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                       const struct wf_nft_value *v);
void wf_nft_rule_item(struct wf_nft_rule *r, const struct wf_nft_item *it);

/* Print in nft syntax (what `nft list table` would show, near enough to read side by side). */
int wf_nft_table_print(const struct wf_nft_table *t, char **out);
int wf_nft_rule_print(const struct wf_nft_rule *r, char **out);

#endif
