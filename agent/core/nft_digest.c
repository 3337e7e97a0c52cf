/* libnftnl rules as the kernel reports them: the digest that finds drift, the comment, whether
 * a rule carries iptables matches, and the bytecode listing for tests and drift reports. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_nat.h>

#include "nft_internal.h"

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct digest_state {
	uint64_t hash;
	char buf[1024];
};

/* A NAT register range given by its first register: restated with its last, as the kernel
 * reports it; the flag that says the range was given, or 0. */
static uint32_t nat_range(struct nftnl_expr *e, uint16_t min, uint16_t max, uint32_t flag)
{
	if (!nftnl_expr_is_set(e, min))
		return 0;
	if (!nftnl_expr_is_set(e, max))
		nftnl_expr_set_u32(e, max, nftnl_expr_get_u32(e, min));
	return flag;
}

static int digest_expr(struct nftnl_expr *e, void *data)
{
	struct digest_state *d = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	const void *info;
	uint32_t len, flags;
	int n;

	if (!strcmp(name, "counter")) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, 0);
		nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, 0);
	} else if (!strcmp(name, "nat")) {
		/* The kernel reports a range of one for a single address or port, and the two
		 * flags that say registers were given: restate what was sent in that form. */
		flags = nftnl_expr_is_set(e, NFTNL_EXPR_NAT_FLAGS)
		            ? nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_FLAGS)
		            : 0;
		flags |= nat_range(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFTNL_EXPR_NAT_REG_ADDR_MAX,
		                   NF_NAT_RANGE_MAP_IPS);
		flags |= nat_range(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFTNL_EXPR_NAT_REG_PROTO_MAX,
		                   NF_NAT_RANGE_PROTO_SPECIFIED);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
	}
	n = nftnl_expr_snprintf(d->buf, sizeof(d->buf), e, NFTNL_OUTPUT_DEFAULT, 0);
	d->hash = fnv1a(d->hash, name, strlen(name) + 1);
	if (n > 0)
		d->hash =
		    fnv1a(d->hash, d->buf, (size_t)n < sizeof(d->buf) ? (size_t)n : sizeof(d->buf));
	if (!strcmp(name, "match") || !strcmp(name, "target")) {
		info = nftnl_expr_get(
		    e, !strcmp(name, "match") ? NFTNL_EXPR_MT_INFO : NFTNL_EXPR_TG_INFO, &len);
		if (info)
			d->hash = fnv1a(d->hash, info, len);
	}
	return 0;
}

uint64_t wf_nft_nftnl_rule_digest(struct nftnl_rule *r)
{
	struct digest_state d = {.hash = 0xcbf29ce484222325ULL};

	nftnl_expr_foreach(r, digest_expr, &d);
	return d.hash ? d.hash : 1; /* 0 means "not computed" in struct wf_nft_rule */
}

static int has_xt(struct nftnl_expr *e, void *data)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (!strcmp(name, "match") || !strcmp(name, "target"))
		*(bool *)data = true;
	return 0;
}

bool wf_nft_nftnl_rule_has_xt(struct nftnl_rule *r)
{
	bool found = false;

	nftnl_expr_foreach(r, has_xt, &found);
	return found;
}

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	const struct nftnl_udata **tb = data;

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT)
		tb[NFTNL_UDATA_RULE_COMMENT] = attr;
	return 0;
}

int wf_nft_nftnl_rule_comment(const struct nftnl_rule *r, char *buf, size_t size)
{
	const struct nftnl_udata *tb[NFTNL_UDATA_RULE_MAX + 1] = {0};
	const void *data;
	uint32_t len;

	buf[0] = '\0';
	if (!nftnl_rule_is_set(r, NFTNL_RULE_USERDATA))
		return 0;
	data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
	if (nftnl_udata_parse(data, len, comment_cb, tb) < 0)
		return -EPROTO;
	if (tb[NFTNL_UDATA_RULE_COMMENT])
		snprintf(buf, size, "%.*s", (int)nftnl_udata_len(tb[NFTNL_UDATA_RULE_COMMENT]),
		         (const char *)nftnl_udata_get(tb[NFTNL_UDATA_RULE_COMMENT]));
	return 0;
}

static int bytecode_expr(struct nftnl_expr *e, void *data)
{
	FILE *f = data;
	char buf[1024];

	nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
	fprintf(f, "[ %s %s]\n", nftnl_expr_get_str(e, NFTNL_EXPR_NAME), buf);
	return 0;
}

int wf_nft_rule_bytecode(uint8_t family, const struct wf_nft_rule *r, char **out)
{
	struct wf_nft_linearize how = {.iptables_compat = r->iptables_compat};
	struct nftnl_rule *nr;
	size_t size;
	FILE *f;
	int ret;

	ret = wf_nft_rule_linearize(family, "", r, &how, &nr);
	if (ret)
		return ret;
	f = open_memstream(out, &size);
	if (!f) {
		nftnl_rule_free(nr);
		return -ENOMEM;
	}
	nftnl_expr_foreach(nr, bytecode_expr, f);
	nftnl_rule_free(nr);
	return fclose(f) ? -ENOMEM : 0;
}

uint64_t wf_nft_rule_digest(uint8_t family, const struct wf_nft_rule *r)
{
	return wf_nft_rule_digest_as(family, r, r->iptables_compat);
}

uint64_t wf_nft_rule_digest_as(uint8_t family, const struct wf_nft_rule *r, bool compat)
{
	struct wf_nft_linearize how = {.iptables_compat = compat};
	struct nftnl_rule *nr;
	uint64_t digest;

	if (wf_nft_rule_linearize(family, "", r, &how, &nr))
		return 0;
	digest = wf_nft_nftnl_rule_digest(nr);
	nftnl_rule_free(nr);
	return digest;
}
