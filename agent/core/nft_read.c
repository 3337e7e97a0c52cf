/* Reading nftables back: the ruleset generation, a whole owned table (chains, sets with their
 * elements, rules as handle, comment and digest), or the rules of one chain of any table.
 * A dump that raced with a change is read again. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <wgfwd/util.h>

#include "nft_internal.h"

#define DUMP_RETRIES 5

/* wf_nl_talk numbers the request. */
static struct nlmsghdr *request_hdr(char *buf, uint16_t cmd, uint8_t family, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(buf, cmd, family, flags, 0);
}

static int ignore_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

static int gen_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == NFTA_GEN_ID && !mnl_attr_validate(attr, MNL_TYPE_U32)) {
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(attr));
		return MNL_CB_STOP;
	}
	return MNL_CB_OK;
}

struct gen_ctx {
	uint32_t id;
	bool found;
};

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct gen_ctx *g = data;

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), gen_attr_cb, &g->id) >= 0)
		g->found = true;
	return MNL_CB_OK;
}

int wf_nft_genid(struct wf_nft *n, uint32_t *genid)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct gen_ctx g = {0};
	int ret;

	ret = wf_nft_request(n, request_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC, NLM_F_ACK), gen_cb,
	                     &g);
	if (!ret && !g.found)
		ret = -EPROTO;
	if (!ret)
		*genid = g.id;
	return ret;
}

/* 0 when the table (chain NULL) or the chain is there, else the kernel's -ENOENT. */
static int exists(struct wf_nft *n, uint8_t family, const char *table, const char *chain)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	    request_hdr(buf, chain ? NFT_MSG_GETCHAIN : NFT_MSG_GETTABLE, family, NLM_F_ACK);

	mnl_attr_put_strz(nlh, chain ? NFTA_CHAIN_TABLE : NFTA_TABLE_NAME, table);
	if (chain)
		mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
	return wf_nft_request(n, nlh, ignore_cb, NULL);
}

/* Chains or sets read into a table. */
struct table_ctx {
	struct wf_nft_table *t;
	int err;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_ctx *c = data;
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct wf_nft_chain wc = {0};

	if (!ch) {
		c->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_chain_nlmsg_parse(nlh, ch) < 0 ||
	    strcmp(nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE), c->t->name)) {
		nftnl_chain_free(ch);
		return MNL_CB_OK;
	}
	snprintf(wc.name, sizeof(wc.name), "%s", nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME));
	if (nftnl_chain_is_set(ch, NFTNL_CHAIN_HOOKNUM)) {
		wc.base = true;
		wc.hook = (int)nftnl_chain_get_u32(ch, NFTNL_CHAIN_HOOKNUM);
		wc.priority = nftnl_chain_get_s32(ch, NFTNL_CHAIN_PRIO);
		wc.policy = (int)nftnl_chain_get_u32(ch, NFTNL_CHAIN_POLICY);
		if (nftnl_chain_is_set(ch, NFTNL_CHAIN_TYPE))
			snprintf(wc.type, sizeof(wc.type), "%s",
			         nftnl_chain_get_str(ch, NFTNL_CHAIN_TYPE));
	}
	nftnl_chain_free(ch);
	if (!wf_nft_table_add_chain(c->t, &wc))
		c->err = -ENOMEM;
	return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_ctx *c = data;
	struct nftnl_set *ns = nftnl_set_alloc();
	struct wf_nft_set ws = {0};
	uint32_t flags;

	if (!ns) {
		c->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_set_nlmsg_parse(nlh, ns) < 0 ||
	    strcmp(nftnl_set_get_str(ns, NFTNL_SET_TABLE), c->t->name)) {
		nftnl_set_free(ns);
		return MNL_CB_OK;
	}
	flags = nftnl_set_get_u32(ns, NFTNL_SET_FLAGS);
	snprintf(ws.name, sizeof(ws.name), "%s", nftnl_set_get_str(ns, NFTNL_SET_NAME));
	/* a set of types this model cannot hold is kept with no types: it compares unequal */
	if (wf_nft_concat_decode_type(nftnl_set_get_u32(ns, NFTNL_SET_KEY_TYPE),
	                              nftnl_set_get_u32(ns, NFTNL_SET_KEY_LEN), ws.key, &ws.n_key))
		ws.n_key = 0;
	if ((flags & NFT_SET_MAP) &&
	    wf_nft_concat_decode_type(nftnl_set_get_u32(ns, NFTNL_SET_DATA_TYPE),
	                              nftnl_set_get_u32(ns, NFTNL_SET_DATA_LEN), ws.data,
	                              &ws.n_data)) {
		ws.n_key = 0;
		ws.n_data = 0;
	}
	nftnl_set_free(ns);
	if (flags & NFT_SET_ANONYMOUS)
		return MNL_CB_OK;
	if (!wf_nft_table_add_set(c->t, &ws))
		c->err = -ENOMEM;
	return MNL_CB_OK;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_set *ns = data;

	nftnl_set_elems_nlmsg_parse(nlh, ns);
	return MNL_CB_OK;
}

/* An element dump resumes each message by skipping as many elements as were sent; when the
 * kernel's hash table resizes between two messages (it does after large inserts), some
 * elements come twice and as many never. Duplicates are the tell: the caller reads again. */
static bool has_duplicates(const struct wf_nft_set *s)
{
	uint8_t *enc;
	size_t len;
	bool dup = false;

	if (s->n_elems < 2 || wf_nft_set_sorted_elems(s, &enc, &len))
		return false;
	for (size_t i = 1; i < s->n_elems && !dup; i++)
		dup = !memcmp(enc + (i - 1) * len, enc + i * len, len);
	free(enc);
	return dup;
}

static int read_elems(struct wf_nft *n, uint8_t family, const char *table, struct wf_nft_set *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *ns = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	struct nlmsghdr *nlh;
	int ret;

	if (!ns)
		return -ENOMEM;
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, family);
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nlh = request_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP);
	nftnl_set_elems_nlmsg_build_payload(nlh, ns);
	ret = wf_nft_request(n, nlh, elems_cb, ns);
	if (ret || !s->n_key)
		goto out;
	it = nftnl_set_elems_iter_create(ns);
	if (!it) {
		ret = -ENOMEM;
		goto out;
	}
	for (e = nftnl_set_elems_iter_next(it); e && !ret; e = nftnl_set_elems_iter_next(it)) {
		struct wf_nft_elem we = {0};
		const void *key, *val;
		uint32_t len;

		key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		if (!key || wf_nft_concat_decode(s->key, s->n_key, key, len, we.key)) {
			ret = -EPROTO;
			break;
		}
		if (s->n_data) {
			val = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len);
			if (!val || wf_nft_concat_decode(s->data, s->n_data, val, len, we.data)) {
				ret = -EPROTO;
				break;
			}
		}
		ret = wf_nft_set_add_elem(s, &we);
	}
	nftnl_set_elems_iter_destroy(it);
	if (!ret && has_duplicates(s))
		ret = -EAGAIN;
out:
	nftnl_set_free(ns);
	return ret;
}

struct rules_ctx {
	const char *table;
	const char *chain; /* NULL: all */
	struct wf_nft_rule *rules;
	size_t n_rules, cap_rules;
	int err;
};

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rules_ctx *c = data;
	struct nftnl_rule *nr = nftnl_rule_alloc();
	struct wf_nft_rule *r;

	if (!nr) {
		c->err = -ENOMEM;
		return MNL_CB_OK;
	}
	if (nftnl_rule_nlmsg_parse(nlh, nr) < 0 ||
	    strcmp(nftnl_rule_get_str(nr, NFTNL_RULE_TABLE), c->table) ||
	    (c->chain && strcmp(nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN), c->chain))) {
		nftnl_rule_free(nr);
		return MNL_CB_OK;
	}
	if (WF_ARRAY_RESERVE(c->rules, c->n_rules, c->cap_rules, 1)) {
		c->err = -ENOMEM;
		nftnl_rule_free(nr);
		return MNL_CB_OK;
	}
	r = &c->rules[c->n_rules++];
	snprintf(r->chain, sizeof(r->chain), "%s", nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN));
	r->handle = nftnl_rule_get_u64(nr, NFTNL_RULE_HANDLE);
	r->family = (uint8_t)nftnl_rule_get_u32(nr, NFTNL_RULE_FAMILY);
	r->iptables_compat = wf_nft_nftnl_rule_has_xt(nr);
	wf_nft_nftnl_rule_comment(nr, r->comment, sizeof(r->comment));
	r->digest = wf_nft_nftnl_rule_digest(nr);
	nftnl_rule_free(nr);
	return MNL_CB_OK;
}

static int read_rules(struct wf_nft *n, uint8_t family, struct rules_ctx *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_rule *nr = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!nr)
		return -ENOMEM;
	nftnl_rule_set_u32(nr, NFTNL_RULE_FAMILY, family);
	nftnl_rule_set_str(nr, NFTNL_RULE_TABLE, c->table);
	if (c->chain)
		nftnl_rule_set_str(nr, NFTNL_RULE_CHAIN, c->chain);
	nlh = request_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP);
	nftnl_rule_nlmsg_build_payload(nlh, nr);
	nftnl_rule_free(nr);
	ret = wf_nft_request(n, nlh, rule_cb, c);
	return ret ? ret : c->err;
}

/* Dumps the chains or the sets (cmd) of one table into c->t. */
static int dump_into(struct wf_nft *n, uint8_t family, uint16_t cmd, mnl_cb_t cb,
                     struct table_ctx *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request_hdr(buf, cmd, family, NLM_F_DUMP);
	int ret;

	/* NFTA_CHAIN_TABLE, NFTA_SET_TABLE: the kernel narrows the dump to the table. */
	mnl_attr_put_strz(nlh, cmd == NFT_MSG_GETCHAIN ? NFTA_CHAIN_TABLE : NFTA_SET_TABLE,
	                  c->t->name);
	ret = wf_nft_request(n, nlh, cb, c);
	return ret ? ret : c->err;
}

static int table_get_once(struct wf_nft *n, uint8_t family, const char *name,
                          struct wf_nft_table **out)
{
	struct rules_ctx rc = {.table = name};
	struct table_ctx tc;
	struct wf_nft_table *t;
	int ret;

	ret = exists(n, family, name, NULL);
	if (ret)
		return ret;
	t = wf_nft_table_new(family, name);
	if (!t)
		return -ENOMEM;
	tc = (struct table_ctx){.t = t};
	ret = dump_into(n, family, NFT_MSG_GETCHAIN, chain_cb, &tc);
	if (!ret)
		ret = dump_into(n, family, NFT_MSG_GETSET, set_cb, &tc);
	if (ret)
		goto err;
	for (size_t i = 0; i < t->n_sets; i++) {
		ret = read_elems(n, family, name, &t->sets[i]);
		if (ret)
			goto err;
	}

	ret = read_rules(n, family, &rc);
	if (ret)
		goto err;
	t->rules = rc.rules;
	t->n_rules = rc.n_rules;
	t->cap_rules = rc.cap_rules;
	*out = t;
	return 0;
err:
	free(rc.rules);
	wf_nft_table_free(t);
	return ret;
}

static struct wf_nft_reads reads;

void wf_nft_reads_get(struct wf_nft_reads *out)
{
	*out = reads;
}

int wf_nft_table_get(struct wf_nft *n, uint8_t family, const char *name, struct wf_nft_table **out)
{
	int ret;

	reads.tables++;
	/* a dump that raced with a change is flagged: read it again, giving the kernel's
	 * deferred hash resizing a moment to finish */
	for (int i = 0; i < DUMP_RETRIES; i++) {
		struct timespec pause = {0, 10000000L * i};

		nanosleep(&pause, NULL);
		ret = table_get_once(n, family, name, out);
		if (ret != -EAGAIN)
			break;
	}
	return ret;
}

int wf_nft_chain_rules_get(struct wf_nft *n, uint8_t family, const char *table, const char *chain,
                           struct wf_nft_rule **rules, size_t *n_rules)
{
	struct rules_ctx rc;
	int ret;

	reads.chains++;
	/* a rule dump of a missing chain is merely empty */
	ret = exists(n, family, table, chain);
	if (ret)
		return ret;

	for (int i = 0; i < DUMP_RETRIES; i++) {
		rc = (struct rules_ctx){.table = table, .chain = chain};
		ret = read_rules(n, family, &rc);
		if (ret != -EAGAIN)
			break;
		free(rc.rules);
		rc.rules = NULL;
	}
	if (ret) {
		free(rc.rules);
		return ret;
	}
	*rules = rc.rules;
	*n_rules = rc.n_rules;
	return 0;
}
