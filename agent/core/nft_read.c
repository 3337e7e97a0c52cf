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

/* Elements of one set read straight into its index (nft_diff.h): the key and data bytes the
 * kernel sends are the index's records as they come, so nothing is allocated, decoded or
 * encoded again per element. */
struct elems_ctx {
	struct wf_nft_elem_index *ix;
	size_t cap;
	int err;
};

/* The bytes of an NFTA_SET_ELEM_KEY or _DATA nest: its NFTA_DATA_VALUE. */
static const struct nlattr *data_value(const struct nlattr *nest)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
	{
		if (mnl_attr_get_type(a) == NFTA_DATA_VALUE)
			return a;
	}
	return NULL;
}

static int elem_add(struct elems_ctx *c, const struct nlattr *elem)
{
	struct wf_nft_elem_index *ix = c->ix;
	const struct nlattr *a, *key = NULL, *val = NULL;
	size_t data_len = ix->rec_len - ix->key_len;
	uint8_t *rec;

	mnl_attr_for_each_nested(a, elem)
	{
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_KEY)
			key = data_value(a);
		else if (mnl_attr_get_type(a) == NFTA_SET_ELEM_DATA)
			val = data_value(a);
	}
	if (!key || mnl_attr_get_payload_len(key) != ix->key_len)
		return -EPROTO;
	if (data_len && (!val || mnl_attr_get_payload_len(val) != data_len))
		return -EPROTO;
	if (ix->n == c->cap && wf_array_reserve(&ix->recs, &c->cap, ix->n, 1, ix->rec_len))
		return -ENOMEM;
	rec = ix->recs + ix->n++ * ix->rec_len;
	memcpy(rec, mnl_attr_get_payload(key), ix->key_len);
	if (data_len)
		memcpy(rec + ix->key_len, mnl_attr_get_payload(val), data_len);
	return 0;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct elems_ctx *c = data;
	const struct nlattr *list, *elem;

	mnl_attr_for_each(list, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(list) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(elem, list)
		{
			if (c->err)
				return MNL_CB_OK;
			if (mnl_attr_get_type(elem) == NFTA_LIST_ELEM)
				c->err = elem_add(c, elem);
		}
	}
	return MNL_CB_OK;
}

/* Least significant byte first, one pass per byte that differs between records (padding,
 * protocol and address prefixes mostly do not): a few linear passes where a comparison sort
 * of 10,000 records costs several times more. */
static int recs_sort(uint8_t *recs, size_t n, size_t len)
{
	size_t(*count)[256] = calloc(len, sizeof(*count));
	uint8_t *tmp = malloc(n * len), *from = recs, *to = tmp;

	if (!count || !tmp) {
		free(count);
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t b = 0; b < len; b++)
			count[b][recs[i * len + b]]++;
	for (size_t b = len; b-- > 0;) {
		size_t pos = 0;

		if (count[b][recs[b]] == n)
			continue; /* every record has this byte */
		for (size_t v = 0; v < 256; v++) {
			size_t c = count[b][v];

			count[b][v] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++) {
			const uint8_t *r = from + i * len;

			memcpy(to + count[b][r[b]]++ * len, r, len);
		}
		uint8_t *t = from;

		from = to;
		to = t;
	}
	if (from != recs)
		memcpy(recs, from, n * len);
	free(count);
	free(tmp);
	return 0;
}

/* Sorted, as an index is. An element dump resumes each message by skipping as many elements as
 * were sent; when the kernel's hash table resizes between two messages (it does after large
 * inserts), some elements come twice and as many never. Duplicates are the tell: the caller
 * reads again. */
static int index_sort(struct wf_nft_elem_index *ix)
{
	size_t len = ix->rec_len;
	bool sorted = true;
	int ret;

	for (size_t i = 1; i < ix->n && sorted; i++)
		sorted = memcmp(ix->recs + (i - 1) * len, ix->recs + i * len, len) < 0;
	if (sorted)
		return 0;
	ret = recs_sort(ix->recs, ix->n, len);
	for (size_t i = 1; !ret && i < ix->n; i++)
		if (!memcmp(ix->recs + (i - 1) * len, ix->recs + i * len, len))
			return -EAGAIN;
	return ret;
}

static int read_elems(struct wf_nft *n, uint8_t family, const char *table,
                      const struct wf_nft_set *s, struct wf_nft_elem_index *ix)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct elems_ctx c = {.ix = ix};
	uint32_t id, key_len, data_len = 0;
	struct nlmsghdr *nlh;
	int ret;

	memset(ix, 0, sizeof(*ix));
	memcpy(ix->set.name, s->name, sizeof(ix->set.name));
	memcpy(ix->set.key, s->key, sizeof(ix->set.key));
	memcpy(ix->set.data, s->data, sizeof(ix->set.data));
	ix->set.n_key = s->n_key;
	ix->set.n_data = s->n_data;
	/* a set of types this model cannot hold compares unequal by its header alone */
	if (!s->n_key || wf_nft_concat_encode_type(s->key, s->n_key, &id, &key_len))
		return 0;
	if (s->n_data && wf_nft_concat_encode_type(s->data, s->n_data, &id, &data_len))
		return 0;
	ix->key_len = key_len;
	ix->rec_len = key_len + data_len;
	nlh = request_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, s->name);
	ret = wf_nft_request(n, nlh, elems_cb, &c);
	if (!ret)
		ret = c.err;
	if (!ret)
		ret = index_sort(ix);
	if (ret)
		wf_nft_elem_index_free(ix);
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

static void indexes_free(struct wf_nft_elem_index *sets, size_t n)
{
	for (size_t i = 0; sets && i < n; i++)
		wf_nft_elem_index_free(&sets[i]);
	free(sets);
}

static int table_get_once(struct wf_nft *n, uint8_t family, const char *name,
                          struct wf_nft_table **out, struct wf_nft_elem_index **out_sets)
{
	struct rules_ctx rc = {.table = name};
	struct wf_nft_elem_index *sets = NULL;
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
	sets = calloc(t->n_sets ? t->n_sets : 1, sizeof(*sets));
	if (!sets) {
		ret = -ENOMEM;
		goto err;
	}
	for (size_t i = 0; i < t->n_sets; i++) {
		ret = read_elems(n, family, name, &t->sets[i], &sets[i]);
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
	*out_sets = sets;
	return 0;
err:
	indexes_free(sets, t->n_sets);
	free(rc.rules);
	wf_nft_table_free(t);
	return ret;
}

static struct wf_nft_reads reads;

void wf_nft_reads_get(struct wf_nft_reads *out)
{
	*out = reads;
}

int wf_nft_table_get_indexed(struct wf_nft *n, uint8_t family, const char *name,
                             struct wf_nft_table **shape, struct wf_nft_elem_index **sets)
{
	int ret;

	reads.tables++;
	/* a dump that raced with a change is flagged: read it again, giving the kernel's
	 * deferred hash resizing a moment to finish */
	for (int i = 0; i < DUMP_RETRIES; i++) {
		struct timespec pause = {0, 10000000L * i};

		nanosleep(&pause, NULL);
		ret = table_get_once(n, family, name, shape, sets);
		if (ret != -EAGAIN)
			break;
	}
	return ret;
}

/* An index's records back into elements of its set. */
static int index_decode(const struct wf_nft_elem_index *ix, struct wf_nft_set *s)
{
	size_t data_len = ix->rec_len - ix->key_len;

	if (!ix->n)
		return 0;
	if (WF_ARRAY_RESERVE(s->elems, s->n_elems, s->cap_elems, ix->n))
		return -ENOMEM;
	for (size_t i = 0; i < ix->n; i++) {
		const uint8_t *rec = ix->recs + i * ix->rec_len;
		struct wf_nft_elem *e = &s->elems[s->n_elems]; /* zeroed when reserved */

		if (wf_nft_concat_decode(s->key, s->n_key, rec, (uint32_t)ix->key_len, e->key))
			return -EPROTO;
		if (data_len && wf_nft_concat_decode(s->data, s->n_data, rec + ix->key_len,
		                                     (uint32_t)data_len, e->data))
			return -EPROTO;
		s->n_elems++;
	}
	return 0;
}

int wf_nft_table_get(struct wf_nft *n, uint8_t family, const char *name, struct wf_nft_table **out)
{
	struct wf_nft_elem_index *sets = NULL;
	struct wf_nft_table *t = NULL;
	int ret = wf_nft_table_get_indexed(n, family, name, &t, &sets);

	for (size_t i = 0; !ret && i < t->n_sets; i++)
		ret = index_decode(&sets[i], &t->sets[i]);
	if (t)
		indexes_free(sets, t->n_sets);
	if (ret) {
		wf_nft_table_free(t);
		return ret;
	}
	*out = t;
	return 0;
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
