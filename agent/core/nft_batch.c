/* Building nftables batches: each object, chunk of elements or rule becomes one message of
 * one transaction, and keeps what the commit needs to name it if the kernel refuses it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <wgfwd/nft_notify.h>
#include <wgfwd/util.h>

#include "nft_internal.h"

/* Batches live in pages; one message (an element chunk at most) must fit the overrun. */
#define BATCH_PAGE_SIZE  (128 * 1024)
#define BATCH_OVERRUN    (UINT16_MAX + 4096)
#define ELEMS_MSG_BUDGET 60000 /* element list nests are limited to 64 KiB */

static uint32_t seq_counter;

static uint32_t seq_take(uint32_t count)
{
	uint32_t s;

	if (!seq_counter)
		seq_counter = (uint32_t)time(NULL) << 4;
	s = seq_counter;
	seq_counter += count;
	return s;
}

static struct wf_nft_batch *batch_new(bool guarded, uint32_t genid)
{
	struct wf_nft_batch *b = calloc(1, sizeof(*b));
	struct nlmsghdr *begin;

	if (!b)
		return NULL;
	b->nb = nftnl_batch_alloc(BATCH_PAGE_SIZE, BATCH_OVERRUN);
	if (!b->nb) {
		free(b);
		return NULL;
	}
	/* Sequence numbers are drawn in blocks so that batches built side by side never share
	 * one; a batch of more than 2^20 messages is refused when it is built. */
	b->seq_begin = seq_take(1u << 20);
	b->seq_next = b->seq_begin + 1;
	b->next_set_id = 1;
	b->guarded = guarded;
	b->genid = genid;
	begin = nftnl_batch_begin(nftnl_batch_buffer(b->nb), b->seq_begin);
	if (guarded)
		mnl_attr_put_u32(begin, NFNL_BATCH_GENID, htonl(genid));
	nftnl_batch_update(b->nb);
	return b;
}

struct wf_nft_batch *wf_nft_batch_new(void)
{
	return batch_new(false, 0);
}

struct wf_nft_batch *wf_nft_batch_new_at(uint32_t genid)
{
	return batch_new(true, genid);
}

int wf_nft_batch_guard_at(struct wf_nft_batch *b, uint32_t genid)
{
	struct iovec first;
	struct nlattr *attr;

	if (!b->guarded || b->committed)
		return -EINVAL;
	nftnl_batch_iovec(b->nb, &first, 1);
	mnl_attr_for_each(attr, (struct nlmsghdr *)first.iov_base, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(attr) == NFNL_BATCH_GENID) {
			*(uint32_t *)mnl_attr_get_payload(attr) = htonl(genid);
			b->genid = genid;
			return 0;
		}
	}
	return -EINVAL;
}

bool wf_nft_batch_genid_after(const struct wf_nft_batch *b, uint32_t *genid)
{
	if (!b->guarded || (b->n_msgs && !b->committed))
		return false;
	/* Each commit advances the generation by one, skipping 0; the guard made sure no other
	 * commit came between. */
	*genid = b->genid;
	if (b->n_msgs && !++*genid)
		*genid = 1;
	return true;
}

bool wf_nft_known_current(const struct wf_nft_known *k, const struct wf_nft_batch *b)
{
	return wf_nft_known_current_table(k, b, 0, NULL);
}

bool wf_nft_known_current_table(const struct wf_nft_known *k, const struct wf_nft_batch *b,
                                uint8_t family, const char *table)
{
	if (!k->valid || !b->guarded)
		return false;
	return b->genid == k->genid || wf_nft_followed_quiet(k->genid, b->genid, family, table);
}

void wf_nft_known_settle(struct wf_nft_known *k, const struct wf_nft_batch *b, int commit_err)
{
	k->valid = !commit_err && wf_nft_batch_genid_after(b, &k->genid);
}

static void msg_free(struct wf_nft_batch_msg *m)
{
	free(m->what);
	free(m->items);
	free(m->ext_msg);
}

void wf_nft_batch_free(struct wf_nft_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_msgs; i++)
		msg_free(&b->msgs[i]);
	free(b->msgs);
	free(b->set_ids);
	nftnl_batch_free(b->nb);
	free(b);
}

size_t wf_nft_batch_size(const struct wf_nft_batch *b)
{
	return b->n_msgs;
}

static struct wf_nft_batch_msg *msg_add(struct wf_nft_batch *b, enum wf_nft_msg_kind kind,
                                        char *what)
{
	struct wf_nft_batch_msg *m;

	if (!what)
		return NULL;
	if (WF_ARRAY_RESERVE(b->msgs, b->n_msgs, b->cap_msgs, 1)) {
		free(what);
		return NULL;
	}
	m = &b->msgs[b->n_msgs++];
	m->seq = b->seq_next++;
	m->kind = kind;
	m->what = what;
	return m;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, f);
	ret = vasprintf(&s, f, ap);
	va_end(ap);
	return ret < 0 ? NULL : s;
}

/* Starts a message in the batch, with NLM_F_ACK so every one is answered. */
static struct nlmsghdr *msg_start(struct wf_nft_batch *b, struct wf_nft_batch_msg *m, uint16_t cmd,
                                  uint8_t family, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b->nb), cmd, family, flags | NLM_F_ACK,
	                             m->seq);
}

static int msg_end(struct wf_nft_batch *b)
{
	if (b->seq_next - b->seq_begin >= (1u << 20))
		return -E2BIG;
	return nftnl_batch_update(b->nb) ? -ENOMEM : 0;
}

static int fail(struct wf_nft_batch *b, int err)
{
	if (err && !b->error)
		b->error = err;
	return err;
}

static uint32_t set_id_lookup(void *ctx, const char *name);

struct set_id_ctx {
	struct wf_nft_batch *b;
	uint8_t family;
	const char *table;
};

static uint32_t set_id_lookup(void *ctx, const char *name)
{
	struct set_id_ctx *c = ctx;

	for (size_t i = c->b->n_set_ids; i-- > 0;) {
		struct wf_nft_set_id *s = &c->b->set_ids[i];

		if (s->family == c->family && !strcmp(s->table, c->table) && !strcmp(s->name, name))
			return s->id;
	}
	return 0;
}

static uint32_t set_id_new(struct wf_nft_batch *b, uint8_t family, const char *table,
                           const char *name)
{
	struct wf_nft_set_id *s;

	if (WF_ARRAY_RESERVE(b->set_ids, b->n_set_ids, b->cap_set_ids, 1))
		return 0;
	s = &b->set_ids[b->n_set_ids++];
	s->family = family;
	snprintf(s->table, sizeof(s->table), "%s", table);
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->id = b->next_set_id++;
	return s->id;
}

static int add_table_msg(struct wf_nft_batch *b, uint16_t cmd, uint8_t family, const char *name,
                         const char *verb)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct wf_nft_batch_msg *m;
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	m = msg_add(b, WF_NFT_MSG_OTHER,
	            fmt("%s table %s %s", verb, wf_nft_family_name(family), name));
	if (!m) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nlh = msg_start(b, m, cmd, family, cmd == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return msg_end(b);
}

static int add_chain_msg(struct wf_nft_batch *b, uint8_t family, const char *table,
                         const struct wf_nft_chain *c)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct wf_nft_batch_msg *m;
	struct nlmsghdr *nlh;

	if (!ch)
		return -ENOMEM;
	m = msg_add(b, WF_NFT_MSG_OTHER, fmt("chain %s", c->name));
	if (!m) {
		nftnl_chain_free(ch);
		return -ENOMEM;
	}
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, family);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name);
	if (c->base) {
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, c->type[0] ? c->type : "filter");
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t)c->hook);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, c->priority);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, (uint32_t)c->policy);
	}
	nlh = msg_start(b, m, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	return msg_end(b);
}

static int add_set_msg(struct wf_nft_batch *b, uint8_t family, const char *table,
                       const struct wf_nft_set *s)
{
	uint32_t key_type, key_len, data_type = 0, data_len = 0, id;
	struct nftnl_set *ns;
	struct wf_nft_batch_msg *m;
	struct nlmsghdr *nlh;
	int ret;

	ret = wf_nft_concat_encode_type(s->key, s->n_key, &key_type, &key_len);
	if (!ret && s->n_data)
		ret = wf_nft_concat_encode_type(s->data, s->n_data, &data_type, &data_len);
	if (ret)
		return ret;
	id = set_id_new(b, family, table, s->name);
	if (!id)
		return -ENOMEM;
	ns = nftnl_set_alloc();
	if (!ns)
		return -ENOMEM;
	m = msg_add(b, WF_NFT_MSG_OTHER, fmt("%s %s", s->n_data ? "map" : "set", s->name));
	if (!m) {
		nftnl_set_free(ns);
		return -ENOMEM;
	}
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, family);
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_ID, id);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, key_len);
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, s->n_data ? NFT_SET_MAP : 0);
	if (s->n_data) {
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, data_type);
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, data_len);
	}
	nlh = msg_start(b, m, NFT_MSG_NEWSET, family, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	nftnl_set_free(ns);
	return msg_end(b);
}

static void put_data(struct nlmsghdr *nlh, uint16_t type, const uint8_t *data, uint32_t len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, data);
	mnl_attr_nest_end(nlh, nest);
}

/* One element's attributes as libmnl wrote them: every element of a set has the same nesting
 * and lengths, so the rest are this with their own key and data (put_data's value attribute
 * sits 8 bytes into its nest). */
struct elem_layout {
	uint8_t bytes[256];
	size_t len, key_off, data_off;
};

static void layout_keep(struct elem_layout *l, const uint8_t *start, const uint8_t *end,
                        const uint8_t *data_at)
{
	size_t len = (size_t)(end - start);

	if (l->len || len > sizeof(l->bytes))
		return;
	memcpy(l->bytes, start, len);
	l->len = len;
	l->key_off = MNL_ATTR_HDRLEN + 2 * MNL_ATTR_HDRLEN;
	l->data_off = (size_t)(data_at - start) + 2 * MNL_ATTR_HDRLEN;
}

/* Elements go in as many messages as their size needs, all in this batch: s's own, or (ix not
 * NULL) the records of s's index, already encoded. */
static int add_elems_msgs(struct wf_nft_batch *b, uint16_t cmd, uint8_t family, const char *table,
                          const struct wf_nft_set *s, const struct wf_nft_elem_index *ix)
{
	struct set_id_ctx ctx = {b, family, table};
	uint8_t key_buf[WF_NFT_KEY_MAX], data_buf[WF_NFT_KEY_MAX];
	const uint8_t *key = key_buf, *data = data_buf;
	uint32_t key_len, data_len = 0, id;
	bool with_data = s->n_data && cmd == NFT_MSG_NEWSETELEM;
	size_t i = 0, n = ix ? ix->n : s->n_elems;
	struct elem_layout layout;
	int ret;

	layout.len = 0;

	id = set_id_lookup(&ctx, s->name);
	while (i < n) {
		struct nlattr *list;
		struct wf_nft_batch_msg *m;
		struct nlmsghdr *nlh;
		m = msg_add(b, WF_NFT_MSG_ELEMS,
		            fmt("%s of %s %s",
		                cmd == NFT_MSG_NEWSETELEM ? "elements" : "element deletions",
		                s->n_data ? "map" : "set", s->name));
		if (!m)
			return -ENOMEM;
		memcpy(m->key, s->key, sizeof(m->key));
		memcpy(m->data, s->data, sizeof(m->data));
		m->n_key = s->n_key;
		m->n_data = s->n_data;
		nlh = msg_start(b, m, cmd, family, cmd == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, s->name);
		if (id)
			mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(id));
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (; i < n; i++) {
			struct nlattr *elem;

			if (ix) {
				key = ix->recs + i * ix->rec_len;
				key_len = (uint32_t)ix->key_len;
				data = key + key_len;
				data_len = (uint32_t)(ix->rec_len - ix->key_len);
			} else {
				ret = wf_nft_concat_encode(s->key, s->n_key, s->elems[i].key,
				                           key_buf, &key_len);
				if (!ret && with_data)
					ret = wf_nft_concat_encode(s->data, s->n_data,
					                           s->elems[i].data, data_buf,
					                           &data_len);
				if (ret)
					return ret;
			}
			if (ix && layout.len) {
				uint8_t *at = mnl_nlmsg_get_payload_tail(nlh);

				memcpy(at, layout.bytes, layout.len);
				memcpy(at + layout.key_off, key, key_len);
				if (with_data)
					memcpy(at + layout.data_off, data, data_len);
				nlh->nlmsg_len += (uint32_t)layout.len;
			} else {
				uint8_t *start = mnl_nlmsg_get_payload_tail(nlh), *data_at;

				elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
				put_data(nlh, NFTA_SET_ELEM_KEY, key, key_len);
				data_at = mnl_nlmsg_get_payload_tail(nlh);
				if (with_data)
					put_data(nlh, NFTA_SET_ELEM_DATA, data, data_len);
				mnl_attr_nest_end(nlh, elem);
				layout_keep(&layout, start, mnl_nlmsg_get_payload_tail(nlh),
				            data_at);
			}
			if (nlh->nlmsg_len >= ELEMS_MSG_BUDGET) {
				i++;
				break;
			}
		}
		mnl_attr_nest_end(nlh, list);
		ret = msg_end(b);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_rule_msg(struct wf_nft_batch *b, uint8_t family, const char *table,
                        const struct wf_nft_rule *r, uint16_t flags, bool compat)
{
	struct set_id_ctx ctx = {b, family, table};
	struct wf_nft_linearize how = {
	    .set_id = set_id_lookup,
	    .set_id_ctx = &ctx,
	    .iptables_compat = compat || r->iptables_compat,
	};
	struct nftnl_rule *nr;
	struct wf_nft_batch_msg *m;
	struct nlmsghdr *nlh;
	char *text = NULL;
	size_t size;
	FILE *f;
	int ret;

	ret = wf_nft_rule_linearize(family, table, r, &how, &nr);
	if (ret)
		return ret;
	if (wf_nft_rule_print(r, &text)) {
		nftnl_rule_free(nr);
		return -ENOMEM;
	}
	m = msg_add(b, WF_NFT_MSG_RULE, fmt("rule in chain %s: %s", r->chain, text));
	free(text);
	if (!m) {
		nftnl_rule_free(nr);
		return -ENOMEM;
	}
	memcpy(m->expr_item, how.expr_item, sizeof(m->expr_item));
	m->n_exprs = how.n_exprs;
	f = open_memstream(&m->items, &size);
	if (f) {
		for (size_t i = 0; i < r->n_items && i < WF_NFT_ITEMS_MAX; i++) {
			wf_nft_item_fprint(f, &r->items[i]);
			fputc('\0', f);
		}
		fclose(f);
	}
	nlh = msg_start(b, m, NFT_MSG_NEWRULE, family, flags);
	nftnl_rule_nlmsg_build_payload(nlh, nr);
	nftnl_rule_free(nr);
	return msg_end(b);
}

static int replace_table(struct wf_nft_batch *b, const struct wf_nft_table *t,
                         const struct wf_nft_elem_index *sets)
{
	int ret;

	if (b->ended)
		return -EINVAL;
	/* NEWTABLE first so the DELTABLE that follows cannot fail on a missing table */
	ret = add_table_msg(b, NFT_MSG_NEWTABLE, t->family, t->name, "ensure");
	if (!ret)
		ret = add_table_msg(b, NFT_MSG_DELTABLE, t->family, t->name, "delete");
	if (!ret)
		ret = add_table_msg(b, NFT_MSG_NEWTABLE, t->family, t->name, "create");
	for (size_t i = 0; !ret && i < t->n_chains; i++)
		ret = add_chain_msg(b, t->family, t->name, &t->chains[i]);
	for (size_t i = 0; !ret && i < t->n_sets; i++)
		ret = add_set_msg(b, t->family, t->name, &t->sets[i]);
	for (size_t i = 0; !ret && i < t->n_sets; i++)
		ret = add_elems_msgs(b, NFT_MSG_NEWSETELEM, t->family, t->name, &t->sets[i],
		                     sets ? &sets[i] : NULL);
	for (size_t i = 0; !ret && i < t->n_rules; i++)
		ret = add_rule_msg(b, t->family, t->name, &t->rules[i], NLM_F_CREATE | NLM_F_APPEND,
		                   false);
	return fail(b, ret);
}

int wf_nft_batch_replace_table(struct wf_nft_batch *b, const struct wf_nft_table *t)
{
	return replace_table(b, t, NULL);
}

int wf_nft_batch_replace_table_indexed(struct wf_nft_batch *b, const struct wf_nft_table *shape,
                                       const struct wf_nft_elem_index *sets)
{
	for (size_t i = 0; i < shape->n_sets; i++)
		if (sets[i].n && (sets[i].rec_len < sets[i].key_len || !sets[i].recs))
			return fail(b, -EINVAL);
	return replace_table(b, shape, sets);
}

int wf_nft_batch_delete_table(struct wf_nft_batch *b, uint8_t family, const char *name)
{
	int ret;

	if (b->ended)
		return -EINVAL;
	/* deleting what is not there succeeds, like `nft destroy table` */
	ret = add_table_msg(b, NFT_MSG_NEWTABLE, family, name, "ensure");
	if (!ret)
		ret = add_table_msg(b, NFT_MSG_DELTABLE, family, name, "delete");
	return fail(b, ret);
}

int wf_nft_batch_add_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                           const struct wf_nft_set *set_with_elems)
{
	if (b->ended)
		return -EINVAL;
	return fail(b, add_elems_msgs(b, NFT_MSG_NEWSETELEM, family, table, set_with_elems, NULL));
}

int wf_nft_batch_delete_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                              const struct wf_nft_set *set_with_elems)
{
	if (b->ended)
		return -EINVAL;
	return fail(b, add_elems_msgs(b, NFT_MSG_DELSETELEM, family, table, set_with_elems, NULL));
}

int wf_nft_batch_insert_rule(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const struct wf_nft_rule *r)
{
	if (b->ended)
		return -EINVAL;
	return fail(b, add_rule_msg(b, family, table, r, NLM_F_CREATE, true));
}

int wf_nft_batch_delete_rule(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const char *chain, uint64_t handle)
{
	struct nftnl_rule *r;
	struct wf_nft_batch_msg *m;
	struct nlmsghdr *nlh;

	if (b->ended)
		return -EINVAL;
	r = nftnl_rule_alloc();
	if (!r)
		return fail(b, -ENOMEM);
	m = msg_add(b, WF_NFT_MSG_OTHER,
	            fmt("rule handle %llu in chain %s %s %s", (unsigned long long)handle,
	                wf_nft_family_name(family), table, chain));
	if (!m) {
		nftnl_rule_free(r);
		return fail(b, -ENOMEM);
	}
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
	nlh = msg_start(b, m, NFT_MSG_DELRULE, family, 0);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return fail(b, msg_end(b));
}
