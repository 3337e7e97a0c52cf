/* The model in nft syntax, close to what `nft list table` shows, for --dry-run and tests.
 * Deterministic: set elements are printed sorted by their encoded key. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>

#include "nft_internal.h"

static const char *const type_names[] = {
    [WF_NFT_T_NONE] = "none",
    [WF_NFT_T_IPV4_ADDR] = "ipv4_addr",
    [WF_NFT_T_IPV6_ADDR] = "ipv6_addr",
    [WF_NFT_T_INET_PROTO] = "inet_proto",
    [WF_NFT_T_INET_SERVICE] = "inet_service",
    [WF_NFT_T_MARK] = "mark",
    [WF_NFT_T_IFNAME] = "ifname",
};

static const char *type_name(enum wf_nft_type t)
{
	return (size_t)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

const char *wf_nft_family_name(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_NETDEV:
		return "netdev";
	}
	return "unknown";
}

static void print_proto(FILE *f, uint8_t proto)
{
	static const struct {
		uint8_t num;
		const char *name;
	} names[] = {
	    {1, "icmp"},       {2, "igmp"},   {6, "tcp"},       {17, "udp"},
	    {33, "dccp"},      {47, "gre"},   {50, "esp"},      {51, "ah"},
	    {58, "ipv6-icmp"}, {132, "sctp"}, {136, "udplite"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].num == proto) {
			fputs(names[i].name, f);
			return;
		}
	}
	fprintf(f, "%u", proto);
}

void wf_nft_value_fprint(FILE *f, enum wf_nft_type t, const struct wf_nft_value *v)
{
	char addr[INET6_ADDRSTRLEN];

	switch (t) {
	case WF_NFT_T_IPV4_ADDR:
		fputs(inet_ntop(AF_INET, &v->ip4, addr, sizeof(addr)), f);
		break;
	case WF_NFT_T_IPV6_ADDR:
		fputs(inet_ntop(AF_INET6, &v->ip6, addr, sizeof(addr)), f);
		break;
	case WF_NFT_T_INET_PROTO:
		print_proto(f, v->proto);
		break;
	case WF_NFT_T_INET_SERVICE:
		fprintf(f, "%u", v->port);
		break;
	case WF_NFT_T_MARK:
		fprintf(f, "0x%08x", v->mark);
		break;
	case WF_NFT_T_IFNAME:
		fprintf(f, "\"%.*s\"", IF_NAMESIZE, v->ifname);
		break;
	case WF_NFT_T_NONE:
		fputs("?", f);
		break;
	}
}

static void print_concat(FILE *f, const enum wf_nft_type *types, size_t n,
                         const struct wf_nft_value *v)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(" . ", f);
		wf_nft_value_fprint(f, types[i], &v[i]);
	}
}

void wf_nft_elem_fprint(FILE *f, const struct wf_nft_set *s, const struct wf_nft_elem *e)
{
	print_concat(f, s->key, s->n_key, e->key);
	if (s->n_data) {
		fputs(" : ", f);
		print_concat(f, s->data, s->n_data, e->data);
	}
}

/* Bit flags in nft's order of names: lowest bit first, joined by commas. */
static void print_bits(FILE *f, uint32_t bits, const char *const *names, size_t n)
{
	bool first = true;

	for (size_t i = 0; i < n && i < 32; i++) {
		if (!(bits & (1u << i)) || !names[i])
			continue;
		fprintf(f, "%s%s", first ? "" : ",", names[i]);
		bits &= ~(1u << i);
		first = false;
	}
	if (bits)
		fprintf(f, "%s0x%x", first ? "" : ",", bits);
}

static const char *const tcp_flag_names[] = {"fin", "syn", "rst", "psh",
                                             "ack", "urg", "ecn", "cwr"};
static const char *const ct_state_names[] = {
    "invalid", "established", "related", "new", NULL, NULL, "untracked",
};
static const char *const ct_status_names[] = {
    [IPS_EXPECTED_BIT] = "expected", [IPS_SEEN_REPLY_BIT] = "seen-reply",
    [IPS_ASSURED_BIT] = "assured",   [IPS_CONFIRMED_BIT] = "confirmed",
    [IPS_SRC_NAT_BIT] = "snat",      [IPS_DST_NAT_BIT] = "dnat",
    [IPS_DYING_BIT] = "dying",
};
static const char *const fib_type_names[] = {
    "unspec",    "unicast",     "local",    "broadcast", "anycast", "multicast",
    "blackhole", "unreachable", "prohibit", "throw",     "nat",     "xresolve",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void print_field_value(FILE *f, enum wf_nft_field field, const struct wf_nft_value *v,
                              uint8_t prefix_len)
{
	const struct wf_nft_field_info *fi = wf_nft_field_info(field);
	uint32_t u = wf_nft_value_u32(field, v);

	switch (field) {
	case WF_NFT_F_NFPROTO:
		if (u == NFPROTO_IPV4)
			fputs("ipv4", f);
		else if (u == NFPROTO_IPV6)
			fputs("ipv6", f);
		else
			fprintf(f, "%u", u);
		return;
	case WF_NFT_F_L4PROTO:
		print_proto(f, (uint8_t)u);
		return;
	case WF_NFT_F_TCP_FLAGS:
		print_bits(f, u, tcp_flag_names, N(tcp_flag_names));
		return;
	case WF_NFT_F_CT_STATE:
		print_bits(f, u, ct_state_names, N(ct_state_names));
		return;
	case WF_NFT_F_CT_STATUS:
		print_bits(f, u, ct_status_names, N(ct_status_names));
		return;
	case WF_NFT_F_CT_DIRECTION:
		fputs(u == IP_CT_DIR_ORIGINAL ? "original"
		      : u == IP_CT_DIR_REPLY  ? "reply"
		                              : "?",
		      f);
		return;
	case WF_NFT_F_FIB_DADDR_TYPE:
		if (u < N(fib_type_names))
			fputs(fib_type_names[u], f);
		else
			fprintf(f, "%u", u);
		return;
	default:
		break;
	}
	if (!fi) {
		fputs("?", f);
		return;
	}
	wf_nft_value_fprint(f, fi->type, v);
	if (prefix_len && prefix_len < fi->len * 8 &&
	    (fi->type == WF_NFT_T_IPV4_ADDR || fi->type == WF_NFT_T_IPV6_ADDR))
		fprintf(f, "/%u", prefix_len);
}

static bool field_has_flag_names(enum wf_nft_field f)
{
	return f == WF_NFT_F_TCP_FLAGS || f == WF_NFT_F_CT_STATE || f == WF_NFT_F_CT_STATUS;
}

static void print_keys(FILE *f, const enum wf_nft_field *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct wf_nft_field_info *fi = wf_nft_field_info(keys[i]);

		fprintf(f, "%s%s", i ? " . " : "", fi ? fi->name : "?");
	}
}

/* `what mark set what mark ...' with only the bits of the item's mask, as nft lists it: a mask
 * whose bits are all set reads as a plain or. */
static void print_mark_bits(FILE *f, const char *what, const struct wf_nft_item *it)
{
	if ((it->mark & it->mark_mask) == it->mark_mask)
		fprintf(f, "%s mark set %s mark | 0x%08x", what, what, it->mark_mask);
	else
		fprintf(f, "%s mark set %s mark & 0x%08x | 0x%08x", what, what, ~it->mark_mask,
		        it->mark & it->mark_mask);
}

static const char *nat_family_name(const struct wf_nft_item *it)
{
	if (it->family == NFPROTO_IPV4 || it->nat_addr.type == WF_NFT_T_IPV4_ADDR)
		return "ip ";
	if (it->family == NFPROTO_IPV6 || it->nat_addr.type == WF_NFT_T_IPV6_ADDR)
		return "ip6 ";
	return "";
}

void wf_nft_item_fprint(FILE *f, const struct wf_nft_item *it)
{
	const struct wf_nft_field_info *fi;
	static const char *const verdicts[] = {"accept", "drop", "return", "jump", "goto"};
	bool ip6;

	switch (it->kind) {
	case WF_NFT_MATCH:
		fi = wf_nft_field_info(it->field);
		fprintf(f, "%s ", fi ? fi->name : "?");
		switch (it->op) {
		case WF_NFT_OP_EQ:
			if (field_has_flag_names(it->field))
				fputs("== ", f);
			print_field_value(f, it->field, &it->value, it->prefix_len);
			break;
		case WF_NFT_OP_NEQ:
			fputs("!= ", f);
			print_field_value(f, it->field, &it->value, it->prefix_len);
			break;
		case WF_NFT_OP_RANGE:
			print_field_value(f, it->field, &it->value, 0);
			fputs("-", f);
			print_field_value(f, it->field, &it->value_hi, 0);
			break;
		case WF_NFT_OP_ANY_BITS:
			if (field_has_flag_names(it->field)) {
				print_field_value(f, it->field, &it->value, 0);
			} else {
				fprintf(f, "& 0x%08x != 0",
				        wf_nft_value_u32(it->field, &it->value));
			}
			break;
		}
		break;
	case WF_NFT_MATCH_SET:
		print_keys(f, it->keys, it->n_keys);
		fprintf(f, " %s@%s", it->negate ? "!= " : "", it->set);
		break;
	case WF_NFT_COUNTER:
		fputs("counter", f);
		break;
	case WF_NFT_VERDICT:
		if ((unsigned int)it->verdict >= N(verdicts)) {
			fputs("?", f);
			break;
		}
		fputs(verdicts[it->verdict], f);
		if (it->verdict == WF_NFT_JUMP || it->verdict == WF_NFT_GOTO)
			fprintf(f, " %s", it->chain);
		break;
	case WF_NFT_CT_MARK_SET:
		fprintf(f, "ct mark set 0x%08x", it->mark);
		break;
	case WF_NFT_META_MARK_SET:
		if (it->mark_mask && it->mark_mask != 0xffffffffu)
			print_mark_bits(f, "meta", it);
		else
			fprintf(f, "meta mark set 0x%08x", it->mark);
		break;
	case WF_NFT_META_MARK_FROM_CT:
		fputs("meta mark set ct mark", f);
		break;
	case WF_NFT_DNAT_MAP:
		/* nft lists the statement before the dnat, though the kernel runs it after the
		 * map's lookup */
		if (it->mark_mask) {
			print_mark_bits(f, "ct", it);
			fputc(' ', f);
		}
		fprintf(f, "dnat %sto ", nat_family_name(it));
		print_keys(f, it->keys, it->n_keys);
		fprintf(f, " map @%s", it->set);
		break;
	case WF_NFT_DNAT:
	case WF_NFT_SNAT:
		ip6 = it->family == NFPROTO_IPV6 || it->nat_addr.type == WF_NFT_T_IPV6_ADDR;
		fprintf(f, "%s %sto ", it->kind == WF_NFT_DNAT ? "dnat" : "snat",
		        nat_family_name(it));
		if (it->kind == WF_NFT_DNAT && it->nat_port && ip6)
			fputs("[", f);
		wf_nft_value_fprint(f, ip6 ? WF_NFT_T_IPV6_ADDR : WF_NFT_T_IPV4_ADDR,
		                    &it->nat_addr);
		if (it->kind == WF_NFT_DNAT && it->nat_port)
			fprintf(f, "%s:%u", ip6 ? "]" : "", it->nat_port);
		break;
	case WF_NFT_SNAT_KEEP_SOURCE:
		if (it->family == NFPROTO_IPV6)
			fputs("snat ip6 to ip6 saddr", f);
		else
			fputs("snat ip to ip saddr", f);
		break;
	case WF_NFT_MASQUERADE:
		fputs("masquerade", f);
		break;
	case WF_NFT_MSS_CLAMP:
		fputs("tcp option maxseg size set rt mtu", f);
		break;
	default:
		fputs("?", f);
	}
}

void wf_nft_rule_fprint(FILE *f, const struct wf_nft_rule *r)
{
	for (size_t i = 0; i < r->n_items && i < WF_NFT_ITEMS_MAX; i++) {
		if (i)
			fputs(" ", f);
		wf_nft_item_fprint(f, &r->items[i]);
	}
	if (r->comment[0])
		fprintf(f, "%scomment \"%s\"", r->n_items ? " " : "", r->comment);
	/* read-back rules carry a digest of their expressions, not the items */
	if (!r->n_items && r->handle)
		fprintf(f, "%s# handle %llu, digest %016llx", r->comment[0] ? " " : "",
		        (unsigned long long)r->handle, (unsigned long long)r->digest);
}

int wf_nft_rule_print(const struct wf_nft_rule *r, char **out)
{
	size_t size;
	FILE *f = open_memstream(out, &size);

	if (!f)
		return -ENOMEM;
	wf_nft_rule_fprint(f, r);
	return fclose(f) ? -ENOMEM : 0;
}

static const char *hook_name(int hook)
{
	static const char *const names[] = {"prerouting", "input", "forward", "output",
	                                    "postrouting"};

	return hook >= 0 && (size_t)hook < N(names) ? names[hook] : "?";
}

static void print_priority(FILE *f, int prio)
{
	static const struct {
		int prio;
		const char *name;
	} names[] = {
	    {-300, "raw"}, {-150, "mangle"}, {-100, "dstnat"},
	    {0, "filter"}, {50, "security"}, {100, "srcnat"},
	};

	for (size_t i = 0; i < N(names); i++) {
		if (names[i].prio == prio) {
			fputs(names[i].name, f);
			return;
		}
	}
	fprintf(f, "%d", prio);
}

static void print_types(FILE *f, const enum wf_nft_type *types, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? " . " : "", type_name(types[i]));
}

struct sort_ctx {
	const uint8_t *enc;
	size_t len;
};

static int cmp_elem(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *c = arg;

	return memcmp(c->enc + *(const size_t *)a * c->len, c->enc + *(const size_t *)b * c->len,
	              c->len);
}

static int print_set(FILE *f, const struct wf_nft_set *s)
{
	struct sort_ctx ctx;
	uint8_t *enc = NULL;
	size_t *order;
	int ret = 0;

	fprintf(f, "\t%s %s {\n\t\ttype ", s->n_data ? "map" : "set", s->name);
	print_types(f, s->key, s->n_key);
	if (s->n_data) {
		fputs(" : ", f);
		print_types(f, s->data, s->n_data);
	}
	fputs("\n", f);
	if (s->n_elems) {
		order = calloc(s->n_elems, sizeof(*order));
		if (!order)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_elems; i++)
			order[i] = i;
		if (!wf_nft_set_encode_elems(s, &enc, &ctx.len)) {
			ctx.enc = enc;
			qsort_r(order, s->n_elems, sizeof(*order), cmp_elem, &ctx);
		}
		fputs("\t\telements = { ", f);
		for (size_t i = 0; i < s->n_elems; i++) {
			if (i)
				fputs(",\n\t\t\t     ", f);
			wf_nft_elem_fprint(f, s, &s->elems[order[i]]);
		}
		fputs(" }\n", f);
		free(enc);
		free(order);
	}
	fputs("\t}\n", f);
	return ret;
}

static void print_chain(FILE *f, const struct wf_nft_table *t, const struct wf_nft_chain *c)
{
	fprintf(f, "\tchain %s {\n", c->name);
	if (c->base) {
		fprintf(f, "\t\ttype %s hook %s priority ", c->type[0] ? c->type : "filter",
		        hook_name(c->hook));
		print_priority(f, c->priority);
		fprintf(f, "; policy %s;\n", c->policy == NF_DROP ? "drop" : "accept");
	}
	for (size_t i = 0; i < t->n_rules; i++) {
		if (strcmp(t->rules[i].chain, c->name))
			continue;
		fputs("\t\t", f);
		wf_nft_rule_fprint(f, &t->rules[i]);
		fputs("\n", f);
	}
	fputs("\t}\n", f);
}

int wf_nft_table_print(const struct wf_nft_table *t, char **out)
{
	size_t size;
	bool first = true;
	int ret = 0;
	FILE *f = open_memstream(out, &size);

	if (!f)
		return -ENOMEM;
	fprintf(f, "table %s %s {\n", wf_nft_family_name(t->family), t->name);
	for (size_t i = 0; i < t->n_sets && !ret; i++) {
		fputs(first ? "" : "\n", f);
		ret = print_set(f, &t->sets[i]);
		first = false;
	}
	for (size_t i = 0; i < t->n_chains; i++) {
		fputs(first ? "" : "\n", f);
		print_chain(f, t, &t->chains[i]);
		first = false;
	}
	fputs("}\n", f);
	if (fclose(f) || ret) {
		free(*out);
		*out = NULL;
		return ret ? ret : -ENOMEM;
	}
	return 0;
}
