/* Model rules to libnftnl expressions, in the shapes nft itself generates (checked against
 * `nft --debug=netlink`), so `nft list` prints them back as the rule they came from. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include <libnftnl/expr.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_connmark.h>
#include <linux/netfilter/xt_conntrack.h>

#include "nft_internal.h"

/* ---- fields ---- */

enum load_kind { LOAD_META, LOAD_CT, LOAD_PAYLOAD, LOAD_FIB };
enum dependency { DEP_NONE, DEP_IPV4, DEP_IPV6, DEP_TCP };

static const struct field {
	struct wf_nft_field_info info;
	enum load_kind kind;
	uint32_t key; /* meta/ct key, payload base */
	uint32_t offset;
	enum dependency dep;
	bool host_order;
} fields[] = {
    [WF_NFT_F_IIFNAME] = {{"iifname", WF_NFT_T_IFNAME, IFNAMSIZ}, LOAD_META, NFT_META_IIFNAME},
    [WF_NFT_F_OIFNAME] = {{"oifname", WF_NFT_T_IFNAME, IFNAMSIZ}, LOAD_META, NFT_META_OIFNAME},
    [WF_NFT_F_NFPROTO] = {{"meta nfproto", WF_NFT_T_NONE, 1}, LOAD_META, NFT_META_NFPROTO},
    [WF_NFT_F_L4PROTO] = {{"meta l4proto", WF_NFT_T_INET_PROTO, 1}, LOAD_META, NFT_META_L4PROTO},
    [WF_NFT_F_IP_SADDR] = {{"ip saddr", WF_NFT_T_IPV4_ADDR, 4},
                           LOAD_PAYLOAD,
                           NFT_PAYLOAD_NETWORK_HEADER,
                           12,
                           DEP_IPV4},
    [WF_NFT_F_IP_DADDR] = {{"ip daddr", WF_NFT_T_IPV4_ADDR, 4},
                           LOAD_PAYLOAD,
                           NFT_PAYLOAD_NETWORK_HEADER,
                           16,
                           DEP_IPV4},
    [WF_NFT_F_IP6_SADDR] = {{"ip6 saddr", WF_NFT_T_IPV6_ADDR, 16},
                            LOAD_PAYLOAD,
                            NFT_PAYLOAD_NETWORK_HEADER,
                            8,
                            DEP_IPV6},
    [WF_NFT_F_IP6_DADDR] = {{"ip6 daddr", WF_NFT_T_IPV6_ADDR, 16},
                            LOAD_PAYLOAD,
                            NFT_PAYLOAD_NETWORK_HEADER,
                            24,
                            DEP_IPV6},
    [WF_NFT_F_TH_SPORT] = {{"th sport", WF_NFT_T_INET_SERVICE, 2},
                           LOAD_PAYLOAD,
                           NFT_PAYLOAD_TRANSPORT_HEADER,
                           0},
    [WF_NFT_F_TH_DPORT] = {{"th dport", WF_NFT_T_INET_SERVICE, 2},
                           LOAD_PAYLOAD,
                           NFT_PAYLOAD_TRANSPORT_HEADER,
                           2},
    [WF_NFT_F_TCP_FLAGS] =
        {{"tcp flags", WF_NFT_T_NONE, 1}, LOAD_PAYLOAD, NFT_PAYLOAD_TRANSPORT_HEADER, 13, DEP_TCP},
    [WF_NFT_F_META_MARK] = {{"meta mark", WF_NFT_T_MARK, 4},
                            LOAD_META,
                            NFT_META_MARK,
                            .host_order = true},
    [WF_NFT_F_CT_MARK] = {{"ct mark", WF_NFT_T_MARK, 4}, LOAD_CT, NFT_CT_MARK, .host_order = true},
    [WF_NFT_F_CT_STATE] = {{"ct state", WF_NFT_T_NONE, 4},
                           LOAD_CT,
                           NFT_CT_STATE,
                           .host_order = true},
    [WF_NFT_F_CT_STATUS] = {{"ct status", WF_NFT_T_NONE, 4},
                            LOAD_CT,
                            NFT_CT_STATUS,
                            .host_order = true},
    [WF_NFT_F_CT_DIRECTION] = {{"ct direction", WF_NFT_T_NONE, 1}, LOAD_CT, NFT_CT_DIRECTION},
    [WF_NFT_F_FIB_DADDR_TYPE] = {{"fib daddr type", WF_NFT_T_NONE, 4},
                                 LOAD_FIB,
                                 NFT_FIB_RESULT_ADDRTYPE,
                                 .host_order = true},
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

const struct wf_nft_field_info *wf_nft_field_info(enum wf_nft_field f)
{
	return (size_t)f < N_FIELDS ? &fields[f].info : NULL;
}

uint32_t wf_nft_value_u32(enum wf_nft_field f, const struct wf_nft_value *v)
{
	if (f < N_FIELDS && fields[f].info.len == 1)
		return v->type == WF_NFT_T_MARK ? v->mark : v->proto;
	if (v->type == WF_NFT_T_INET_PROTO)
		return v->proto;
	if (v->type == WF_NFT_T_INET_SERVICE)
		return v->port;
	return v->mark;
}

/* ---- rule building ---- */

struct lin {
	struct nftnl_rule *rule;
	uint8_t family;
	struct wf_nft_linearize *how;
	int item;
	int known_nfproto; /* -1: not checked yet */
	int known_l4proto;
	int err;
};

/* 32-bit register index to the number nft and the kernel use: the 128-bit name when the
 * register starts one (reg 1 = 32-bit 0, reg 2 = 32-bit 4), else NFT_REG32_xx. */
static uint32_t reg(unsigned int idx32)
{
	if (idx32 % 4 == 0)
		return NFT_REG_1 + idx32 / 4;
	return NFT_REG32_00 + idx32;
}

static struct nftnl_expr *expr_new(struct lin *l, const char *name)
{
	struct nftnl_expr *e;

	if (l->err)
		return NULL;
	if (l->how->n_exprs >= sizeof(l->how->expr_item)) {
		l->err = -E2BIG;
		return NULL;
	}
	e = nftnl_expr_alloc(name);
	if (!e) {
		l->err = -ENOMEM;
		return NULL;
	}
	l->how->expr_item[l->how->n_exprs++] = l->item;
	nftnl_rule_add_expr(l->rule, e);
	return e;
}

/* A meta or ct expression: key loaded into a register, or set from one. */
static void key_reg(struct lin *l, const char *name, uint16_t key_attr, uint32_t key,
                    uint16_t reg_attr, uint32_t reg)
{
	struct nftnl_expr *e = expr_new(l, name);

	if (!e)
		return;
	nftnl_expr_set_u32(e, key_attr, key);
	nftnl_expr_set_u32(e, reg_attr, reg);
}

static void meta_load(struct lin *l, uint32_t key, uint32_t dreg)
{
	key_reg(l, "meta", NFTNL_EXPR_META_KEY, key, NFTNL_EXPR_META_DREG, dreg);
}

static void meta_set(struct lin *l, uint32_t key, uint32_t sreg)
{
	key_reg(l, "meta", NFTNL_EXPR_META_KEY, key, NFTNL_EXPR_META_SREG, sreg);
}

static void ct_load(struct lin *l, uint32_t key, uint32_t dreg)
{
	key_reg(l, "ct", NFTNL_EXPR_CT_KEY, key, NFTNL_EXPR_CT_DREG, dreg);
}

static void ct_set(struct lin *l, uint32_t key, uint32_t sreg)
{
	key_reg(l, "ct", NFTNL_EXPR_CT_KEY, key, NFTNL_EXPR_CT_SREG, sreg);
}

static void payload_load(struct lin *l, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new(l, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void cmp(struct lin *l, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new(l, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void bitwise_mask(struct lin *l, const void *mask, uint32_t len)
{
	struct nftnl_expr *e = expr_new(l, "bitwise");
	uint8_t zero[16] = {0};

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
}

static void immediate_data(struct lin *l, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new(l, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

/* As nft does `mark set mark & ~mask | bits': one bitwise on the mark in reg, setting the
 * bits of the item's mark_mask to those of its mark and keeping the others. */
static void mark_bits(struct lin *l, const struct wf_nft_item *it, uint32_t reg)
{
	struct nftnl_expr *e = expr_new(l, "bitwise");
	uint32_t keep = ~it->mark_mask, set = it->mark & it->mark_mask;

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &keep, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &set, 4);
}

static void immediate_verdict(struct lin *l, int verdict, const char *chain)
{
	struct nftnl_expr *e = expr_new(l, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void lookup(struct lin *l, const char *set, bool map, bool invert)
{
	struct nftnl_expr *e = expr_new(l, "lookup");
	uint32_t id = 0;

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (map)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (l->how->set_id)
		id = l->how->set_id(l->how->set_id_ctx, set);
	if (id)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	/* The kernel always reports the flags; set them so read-back prints the same. */
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, invert ? NFT_LOOKUP_F_INV : 0);
}

static void nat(struct lin *l, uint32_t type, uint8_t family, uint32_t addr_reg, uint32_t proto_reg,
                uint32_t flags)
{
	struct nftnl_expr *e = expr_new(l, "nat");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, family);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, addr_reg);
	if (proto_reg)
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, proto_reg);
	if (flags)
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
}

/* A match nft puts before another (the family in inet tables, the transport protocol), once
 * per rule; it belongs to no item. */
static void dep_meta(struct lin *l, uint32_t key, uint8_t value, int *known)
{
	int item = l->item;

	if (*known == value)
		return;
	l->item = -1;
	meta_load(l, key, NFT_REG_1);
	cmp(l, NFT_CMP_EQ, &value, 1);
	l->item = item;
	*known = value;
}

static void dep_nfproto(struct lin *l, uint8_t nfproto)
{
	if (l->family == NFPROTO_INET)
		dep_meta(l, NFT_META_NFPROTO, nfproto, &l->known_nfproto);
}

static void dep_l4proto(struct lin *l, uint8_t proto)
{
	dep_meta(l, NFT_META_L4PROTO, proto, &l->known_l4proto);
}

static void field_dep(struct lin *l, enum wf_nft_field f)
{
	switch (fields[f].dep) {
	case DEP_IPV4:
		dep_nfproto(l, NFPROTO_IPV4);
		break;
	case DEP_IPV6:
		dep_nfproto(l, NFPROTO_IPV6);
		break;
	case DEP_TCP:
		dep_l4proto(l, IPPROTO_TCP);
		break;
	case DEP_NONE:
		break;
	}
}

static void field_load(struct lin *l, enum wf_nft_field f, uint32_t len, uint32_t dreg)
{
	const struct field *fi = &fields[f];
	struct nftnl_expr *e;

	switch (fi->kind) {
	case LOAD_META:
		meta_load(l, fi->key, dreg);
		break;
	case LOAD_CT:
		ct_load(l, fi->key, dreg);
		break;
	case LOAD_PAYLOAD:
		payload_load(l, fi->key, fi->offset, len, dreg);
		break;
	case LOAD_FIB:
		e = expr_new(l, "fib");
		if (!e)
			return;
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, fi->key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
		break;
	}
}

/* The bytes a field is compared with, in the order the kernel loads the field. */
static uint32_t field_value(enum wf_nft_field f, const struct wf_nft_value *v, uint8_t *buf)
{
	const struct field *fi = &fields[f];
	uint32_t u;

	memset(buf, 0, 16);
	switch (fi->info.type) {
	case WF_NFT_T_IFNAME:
		memcpy(buf, v->ifname, strnlen(v->ifname, IFNAMSIZ - 1));
		return IFNAMSIZ;
	case WF_NFT_T_IPV4_ADDR:
	case WF_NFT_T_IPV6_ADDR:
	case WF_NFT_T_INET_SERVICE:
		wf_nft_value_encode(fi->info.type, v, buf);
		return fi->info.len;
	default:
		break;
	}
	u = wf_nft_value_u32(f, v);
	if (fi->info.len == 1)
		buf[0] = (uint8_t)u;
	else
		memcpy(buf, &u, 4);
	return fi->info.len;
}

/* Rewrites ct state/status bits into xt_conntrack's --ctstate/--ctstatus. */
static bool xt_conntrack_info(enum wf_nft_field f, uint32_t bits, struct xt_conntrack_mtinfo3 *info)
{
	memset(info, 0, sizeof(*info));
	if (f == WF_NFT_F_CT_STATE) {
		info->match_flags = XT_CONNTRACK_STATE;
		info->state_mask = bits & ~(NF_CT_STATE_UNTRACKED_BIT);
		if (bits & NF_CT_STATE_UNTRACKED_BIT)
			info->state_mask |= XT_CONNTRACK_STATE_UNTRACKED;
		return true;
	}
	if (f == WF_NFT_F_CT_STATUS) {
		if (bits & ~(uint32_t)(IPS_SRC_NAT | IPS_DST_NAT)) {
			info->match_flags = XT_CONNTRACK_STATUS;
			info->status_mask = bits;
			return true;
		}
		info->match_flags = XT_CONNTRACK_STATE;
		if (bits & IPS_SRC_NAT)
			info->state_mask |= XT_CONNTRACK_STATE_SNAT;
		if (bits & IPS_DST_NAT)
			info->state_mask |= XT_CONNTRACK_STATE_DNAT;
		return true;
	}
	return false;
}

static void xt_match(struct lin *l, const char *name, uint32_t rev, const void *info, size_t size)
{
	struct nftnl_expr *e = expr_new(l, "match");
	size_t len = XT_ALIGN(size);
	void *buf;

	if (!e)
		return;
	buf = calloc(1, len);
	if (!buf) {
		l->err = -ENOMEM;
		return;
	}
	memcpy(buf, info, size);
	nftnl_expr_set_str(e, NFTNL_EXPR_MT_NAME, name);
	nftnl_expr_set_u32(e, NFTNL_EXPR_MT_REV, rev);
	/* libnftnl keeps this pointer (it does not copy match info) and frees it */
	nftnl_expr_set(e, NFTNL_EXPR_MT_INFO, buf, len);
}

static void lin_match(struct lin *l, const struct wf_nft_item *it)
{
	const struct field *fi;
	uint8_t val[16], hi[16], mask[16];
	uint32_t len, load_len, bits;
	struct xt_conntrack_mtinfo3 xt;

	if ((size_t)it->field >= N_FIELDS) {
		l->err = -EINVAL;
		return;
	}
	fi = &fields[it->field];
	len = field_value(it->field, &it->value, val);

	if (l->how->iptables_compat && it->op == WF_NFT_OP_ANY_BITS &&
	    xt_conntrack_info(it->field, wf_nft_value_u32(it->field, &it->value), &xt)) {
		xt_match(l, "conntrack", 3, &xt, sizeof(xt));
		return;
	}

	/* iptables-nft reads a native ct mark as "incompatible": it writes -m connmark. */
	if (l->how->iptables_compat && it->field == WF_NFT_F_CT_MARK &&
	    (it->op == WF_NFT_OP_EQ || it->op == WF_NFT_OP_NEQ)) {
		struct xt_connmark_mtinfo1 cm;

		/* padding goes to the kernel and into the digest: zero it */
		memset(&cm, 0, sizeof(cm));
		cm.mark = wf_nft_value_u32(it->field, &it->value);
		cm.mask = 0xffffffffu;
		cm.invert = it->op == WF_NFT_OP_NEQ;
		xt_match(l, "connmark", 1, &cm, sizeof(cm));
		return;
	}

	field_dep(l, it->field);
	load_len = len;
	if ((fi->info.type == WF_NFT_T_IPV4_ADDR || fi->info.type == WF_NFT_T_IPV6_ADDR) &&
	    it->prefix_len && it->prefix_len < len * 8) {
		/* as nft: a whole-byte prefix loads only its bytes, any other is masked */
		if (it->prefix_len % 8 == 0) {
			load_len = it->prefix_len / 8;
			field_load(l, it->field, load_len, NFT_REG_1);
		} else {
			memset(mask, 0, sizeof(mask));
			memset(mask, 0xff, it->prefix_len / 8);
			mask[it->prefix_len / 8] = (uint8_t)(0xff << (8 - it->prefix_len % 8));
			field_load(l, it->field, len, NFT_REG_1);
			bitwise_mask(l, mask, len);
			for (uint32_t i = 0; i < len; i++)
				val[i] &= mask[i];
		}
	} else {
		field_load(l, it->field, len, NFT_REG_1);
	}
	if (l->how->iptables_compat && fi->info.type == WF_NFT_T_IFNAME)
		load_len = strnlen((char *)val, IFNAMSIZ - 1) + 1; /* as iptables -i wg0 */

	switch (it->op) {
	case WF_NFT_OP_EQ:
		cmp(l, NFT_CMP_EQ, val, load_len);
		if (it->field == WF_NFT_F_NFPROTO)
			l->known_nfproto = val[0];
		if (it->field == WF_NFT_F_L4PROTO)
			l->known_l4proto = val[0];
		break;
	case WF_NFT_OP_NEQ:
		cmp(l, NFT_CMP_NEQ, val, load_len);
		break;
	case WF_NFT_OP_RANGE:
		/* cmp gte/lte compare bytes in memory order: only network order fields */
		if (fi->host_order || load_len != len) {
			l->err = -EINVAL;
			return;
		}
		field_value(it->field, &it->value_hi, hi);
		cmp(l, NFT_CMP_GTE, val, len);
		cmp(l, NFT_CMP_LTE, hi, len);
		break;
	case WF_NFT_OP_ANY_BITS:
		if (fi->info.type == WF_NFT_T_IFNAME || load_len != len) {
			l->err = -EINVAL;
			return;
		}
		bits = 0;
		bitwise_mask(l, val, len);
		cmp(l, NFT_CMP_NEQ, &bits, len);
		break;
	default:
		l->err = -EINVAL;
	}
}

/* Loads keys into consecutive 32-bit registers from reg 1, as a concatenation. */
static void load_keys(struct lin *l, const enum wf_nft_field *keys, size_t n)
{
	unsigned int idx = 0;

	if (n == 0 || n > WF_NFT_CONCAT_MAX) {
		l->err = -EINVAL;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if ((size_t)keys[i] >= N_FIELDS) {
			l->err = -EINVAL;
			return;
		}
		field_dep(l, keys[i]);
	}
	for (size_t i = 0; i < n; i++) {
		field_load(l, keys[i], fields[keys[i]].info.len, reg(idx));
		idx += (fields[keys[i]].info.len + 3u) / 4;
	}
}

static uint8_t nat_family(struct lin *l, const struct wf_nft_item *it)
{
	if (it->family)
		return it->family;
	if (it->nat_addr.type == WF_NFT_T_IPV4_ADDR)
		return NFPROTO_IPV4;
	if (it->nat_addr.type == WF_NFT_T_IPV6_ADDR)
		return NFPROTO_IPV6;
	if (l->family == NFPROTO_IPV4 || l->family == NFPROTO_IPV6)
		return l->family;
	l->err = -EINVAL;
	return 0;
}

static uint32_t addr_len(uint8_t family)
{
	return family == NFPROTO_IPV6 ? 16 : 4;
}

static void lin_item(struct lin *l, const struct wf_nft_item *it)
{
	struct nftnl_expr *e;
	uint8_t family, buf[16];
	uint16_t port;
	static const int verdicts[] = {
	    [WF_NFT_ACCEPT] = NF_ACCEPT, [WF_NFT_DROP] = NF_DROP,  [WF_NFT_RETURN] = NFT_RETURN,
	    [WF_NFT_JUMP] = NFT_JUMP,    [WF_NFT_GOTO] = NFT_GOTO,
	};

	switch (it->kind) {
	case WF_NFT_MATCH:
		lin_match(l, it);
		break;
	case WF_NFT_MATCH_SET:
		load_keys(l, it->keys, it->n_keys);
		lookup(l, it->set, false, it->negate);
		break;
	case WF_NFT_COUNTER:
		expr_new(l, "counter");
		break;
	case WF_NFT_VERDICT:
		if ((unsigned int)it->verdict > WF_NFT_GOTO) {
			l->err = -EINVAL;
			break;
		}
		immediate_verdict(
		    l, verdicts[it->verdict],
		    it->verdict == WF_NFT_JUMP || it->verdict == WF_NFT_GOTO ? it->chain : NULL);
		break;
	case WF_NFT_CT_MARK_SET:
		immediate_data(l, NFT_REG_1, &it->mark, 4);
		ct_set(l, NFT_CT_MARK, NFT_REG_1);
		break;
	case WF_NFT_META_MARK_SET:
		if (it->mark_mask && it->mark_mask != 0xffffffffu) {
			meta_load(l, NFT_META_MARK, NFT_REG_1);
			mark_bits(l, it, NFT_REG_1);
		} else {
			immediate_data(l, NFT_REG_1, &it->mark, 4);
		}
		meta_set(l, NFT_META_MARK, NFT_REG_1);
		break;
	case WF_NFT_META_MARK_FROM_CT:
		ct_load(l, NFT_CT_MARK, NFT_REG_1);
		meta_set(l, NFT_META_MARK, NFT_REG_1);
		break;
	case WF_NFT_DNAT_MAP:
		family = nat_family(l, it);
		load_keys(l, it->keys, it->n_keys);
		lookup(l, it->set, true, false);
		/* Only a flow the map translates: a failed lookup ends the rule here. Register 3
		 * lies beyond the map's data (an IPv6 address and a port take 1 and 2). */
		if (it->mark_mask) {
			ct_load(l, NFT_CT_MARK, NFT_REG_3);
			mark_bits(l, it, NFT_REG_3);
			ct_set(l, NFT_CT_MARK, NFT_REG_3);
		}
		/* map data is addr . port: the port starts in the register after the address */
		nat(l, NFT_NAT_DNAT, family, NFT_REG_1, reg(addr_len(family) / 4), 0);
		break;
	case WF_NFT_DNAT:
	case WF_NFT_SNAT:
		family = nat_family(l, it);
		memset(buf, 0, sizeof(buf));
		if (family == NFPROTO_IPV6)
			memcpy(buf, &it->nat_addr.ip6, 16);
		else
			memcpy(buf, &it->nat_addr.ip4, 4);
		immediate_data(l, NFT_REG_1, buf, addr_len(family));
		if (it->kind == WF_NFT_DNAT && it->nat_port) {
			port = htons(it->nat_port);
			immediate_data(l, NFT_REG_2, &port, 2);
			nat(l, NFT_NAT_DNAT, family, NFT_REG_1, NFT_REG_2,
			    NF_NAT_RANGE_PROTO_SPECIFIED);
		} else {
			nat(l, it->kind == WF_NFT_DNAT ? NFT_NAT_DNAT : NFT_NAT_SNAT, family,
			    NFT_REG_1, 0, 0);
		}
		break;
	case WF_NFT_SNAT_KEEP_SOURCE:
		family = nat_family(l, it);
		if (family == NFPROTO_IPV6) {
			field_dep(l, WF_NFT_F_IP6_SADDR);
			field_load(l, WF_NFT_F_IP6_SADDR, 16, NFT_REG_1);
		} else {
			field_dep(l, WF_NFT_F_IP_SADDR);
			field_load(l, WF_NFT_F_IP_SADDR, 4, NFT_REG_1);
		}
		nat(l, NFT_NAT_SNAT, family, NFT_REG_1, 0, 0);
		break;
	case WF_NFT_MASQUERADE:
		expr_new(l, "masq");
		break;
	case WF_NFT_MSS_CLAMP:
		e = expr_new(l, "rt");
		if (!e)
			break;
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, NFT_RT_TCPMSS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, NFT_REG_1);
		/* rt tcpmss is host order; the option is written as is, so convert first */
		e = expr_new(l, "byteorder");
		if (!e)
			break;
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 2);
		e = expr_new(l, "exthdr");
		if (!e)
			break;
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_SREG, NFT_REG_1);
		nftnl_expr_set_u8(e, NFTNL_EXPR_EXTHDR_TYPE, 2); /* TCPOPT_MAXSEG */
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OFFSET, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_LEN, 2);
		nftnl_expr_set_u32(e, NFTNL_EXPR_EXTHDR_OP, NFT_EXTHDR_OP_TCPOPT);
		break;
	default:
		l->err = -EINVAL;
	}
}

int wf_nft_rule_linearize(uint8_t family, const char *table, const struct wf_nft_rule *r,
                          struct wf_nft_linearize *how, struct nftnl_rule **out)
{
	struct lin l = {
	    .family = family,
	    .how = how,
	    .known_nfproto = -1,
	    .known_l4proto = -1,
	};
	struct nftnl_udata_buf *udata;

	how->n_exprs = 0;
	l.rule = nftnl_rule_alloc();
	if (!l.rule)
		return -ENOMEM;
	nftnl_rule_set_u32(l.rule, NFTNL_RULE_FAMILY, family);
	nftnl_rule_set_str(l.rule, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(l.rule, NFTNL_RULE_CHAIN, r->chain);
	if (l.family != NFPROTO_INET && l.family != NFPROTO_BRIDGE && l.family != NFPROTO_NETDEV)
		l.known_nfproto = l.family;
	for (size_t i = 0; i < r->n_items && i < WF_NFT_ITEMS_MAX && !l.err; i++) {
		l.item = (int)i;
		lin_item(&l, &r->items[i]);
	}
	if (!l.err && r->comment[0]) {
		udata = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!udata) {
			l.err = -ENOMEM;
		} else {
			if (!nftnl_udata_put_strz(udata, NFTNL_UDATA_RULE_COMMENT, r->comment))
				l.err = -E2BIG;
			else
				nftnl_rule_set_data(l.rule, NFTNL_RULE_USERDATA,
				                    nftnl_udata_buf_data(udata),
				                    nftnl_udata_buf_len(udata));
			nftnl_udata_buf_free(udata);
		}
	}
	if (l.err) {
		nftnl_rule_free(l.rule);
		return l.err;
	}
	*out = l.rule;
	return 0;
}
