/* nftables kernel interface: batches sent as one transaction, acknowledgements read back and
 * mapped to the object that caused them, tables read back and compared with desired ones. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <wgfwd/netlink.h>

#include "nft_internal.h"

/* Batches live in pages; one message (an element chunk at most) must fit the overrun. */
#define BATCH_PAGE_SIZE  (128 * 1024)
#define BATCH_OVERRUN    (UINT16_MAX + 4096)
#define ELEMS_MSG_BUDGET 60000 /* element list nests are limited to 64 KiB */
#define ACK_SIZE_GUESS   1024  /* receive buffer per acknowledged message (skb truesize) */
#define REPLY_TIMEOUT_MS 5000
#define DUMP_RETRIES     5
#define RECV_BUF_SIZE    65536 /* a dump message is at most 32 KiB */

struct wf_nft {
	struct wf_nl nl;
	int sndbuf, rcvbuf;
};

enum msg_kind { MSG_OTHER, MSG_ELEMS, MSG_RULE };

struct batch_msg {
	uint32_t seq;
	enum msg_kind kind;
	char *what;
	/* MSG_ELEMS: to name the element the kernel points at */
	enum wf_nft_type key[WF_NFT_CONCAT_MAX], data[WF_NFT_CONCAT_MAX];
	size_t n_key, n_data;
	/* MSG_RULE: item each expression came from, and the printed items ('\0' separated) */
	int8_t expr_item[128];
	size_t n_exprs;
	char *items;
	/* filled by the commit */
	bool answered;
	int err;
	uint32_t err_offset;
	char *ext_msg;
};

struct set_id {
	uint8_t family;
	char table[WF_NFT_NAME_MAX];
	char name[WF_NFT_NAME_MAX];
	uint32_t id;
};

struct wf_nft_batch {
	struct nftnl_batch *nb;
	uint32_t seq_begin, seq_next;
	bool ended;
	struct batch_msg *msgs;
	size_t n_msgs, cap_msgs;
	struct set_id *set_ids;
	size_t n_set_ids, cap_set_ids;
	uint32_t next_set_id;
	int error; /* a failed build poisons the batch: commit refuses it */
	bool guarded, committed;
	uint32_t genid; /* guarded: the kernel refuses the batch unless this is still current */
};

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

/* ---- socket ---- */

int wf_nft_open(struct wf_nft **out)
{
	struct wf_nft *n = calloc(1, sizeof(*n));
	int ret;

	if (!n)
		return -ENOMEM;
	/* Extended acks carry the kernel's message and the offending attribute, which commit
	 * errors report; older kernels lack them and errors are still mapped by seq. */
	ret = wf_nl_open(&n->nl, NETLINK_NETFILTER, RECV_BUF_SIZE);
	if (ret) {
		free(n);
		return ret;
	}
	*out = n;
	return 0;
}

void wf_nft_close(struct wf_nft *n)
{
	if (!n)
		return;
	wf_nl_close(&n->nl);
	free(n);
}

static void drain(struct wf_nft *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	while (recv(wf_nl_fd(&n->nl), buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void grow_sockbuf(struct wf_nft *n, int opt_force, int opt, int *current, size_t want)
{
	int size = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int)want;
	int fd = wf_nl_fd(&n->nl);

	if (size <= *current)
		return;
	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) &&
	    setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)))
		return;
	*current = size;
}

/* ---- batches ---- */

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
	return k->valid && b->guarded && b->genid == k->genid;
}

void wf_nft_known_settle(struct wf_nft_known *k, const struct wf_nft_batch *b, int commit_err)
{
	k->valid = !commit_err && wf_nft_batch_genid_after(b, &k->genid);
}

static void msg_free(struct batch_msg *m)
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

static struct batch_msg *msg_add(struct wf_nft_batch *b, enum msg_kind kind, char *what)
{
	struct batch_msg *m;

	if (!what)
		return NULL;
	if (b->n_msgs == b->cap_msgs) {
		size_t cap = b->cap_msgs ? b->cap_msgs * 2 : 16;
		void *p = reallocarray(b->msgs, cap, sizeof(*b->msgs));

		if (!p) {
			free(what);
			return NULL;
		}
		b->msgs = p;
		b->cap_msgs = cap;
	}
	m = &b->msgs[b->n_msgs++];
	memset(m, 0, sizeof(*m));
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

static const char *family_str(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_NETDEV:
		return "netdev";
	case NFPROTO_ARP:
		return "arp";
	}
	return "?";
}

/* Starts a message in the batch, with NLM_F_ACK so every one is answered. */
static struct nlmsghdr *msg_start(struct wf_nft_batch *b, struct batch_msg *m, uint16_t cmd,
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
		struct set_id *s = &c->b->set_ids[i];

		if (s->family == c->family && !strcmp(s->table, c->table) && !strcmp(s->name, name))
			return s->id;
	}
	return 0;
}

static uint32_t set_id_new(struct wf_nft_batch *b, uint8_t family, const char *table,
                           const char *name)
{
	struct set_id *s;

	if (b->n_set_ids == b->cap_set_ids) {
		size_t cap = b->cap_set_ids ? b->cap_set_ids * 2 : 8;
		void *p = reallocarray(b->set_ids, cap, sizeof(*b->set_ids));

		if (!p)
			return 0;
		b->set_ids = p;
		b->cap_set_ids = cap;
	}
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
	struct batch_msg *m;
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	m = msg_add(b, MSG_OTHER, fmt("%s table %s %s", verb, family_str(family), name));
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
	struct batch_msg *m;
	struct nlmsghdr *nlh;

	if (!ch)
		return -ENOMEM;
	m = msg_add(b, MSG_OTHER, fmt("chain %s", c->name));
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
	struct batch_msg *m;
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
	m = msg_add(b, MSG_OTHER, fmt("%s %s", s->n_data ? "map" : "set", s->name));
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

/* Elements go in as many messages as their size needs, all in this batch. */
static int add_elems_msgs(struct wf_nft_batch *b, uint16_t cmd, uint8_t family, const char *table,
                          const struct wf_nft_set *s)
{
	struct set_id_ctx ctx = {b, family, table};
	uint8_t key[WF_NFT_KEY_MAX], data[WF_NFT_KEY_MAX];
	uint32_t key_len, data_len = 0, id;
	bool with_data = s->n_data && cmd == NFT_MSG_NEWSETELEM;
	size_t i = 0;
	int ret;

	id = set_id_lookup(&ctx, s->name);
	while (i < s->n_elems) {
		struct nlattr *list;
		struct batch_msg *m;
		struct nlmsghdr *nlh;
		m = msg_add(b, MSG_ELEMS,
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
		for (; i < s->n_elems; i++) {
			struct nlattr *elem;

			ret =
			    wf_nft_concat_encode(s->key, s->n_key, s->elems[i].key, key, &key_len);
			if (!ret && with_data)
				ret = wf_nft_concat_encode(s->data, s->n_data, s->elems[i].data,
				                           data, &data_len);
			if (ret)
				return ret;
			elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
			put_data(nlh, NFTA_SET_ELEM_KEY, key, key_len);
			if (with_data)
				put_data(nlh, NFTA_SET_ELEM_DATA, data, data_len);
			mnl_attr_nest_end(nlh, elem);
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
	struct batch_msg *m;
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
	m = msg_add(b, MSG_RULE, fmt("rule in chain %s: %s", r->chain, text));
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

int wf_nft_batch_replace_table(struct wf_nft_batch *b, const struct wf_nft_table *t)
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
		ret = add_elems_msgs(b, NFT_MSG_NEWSETELEM, t->family, t->name, &t->sets[i]);
	for (size_t i = 0; !ret && i < t->n_rules; i++)
		ret = add_rule_msg(b, t->family, t->name, &t->rules[i], NLM_F_CREATE | NLM_F_APPEND,
		                   false);
	return fail(b, ret);
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
	return fail(b, add_elems_msgs(b, NFT_MSG_NEWSETELEM, family, table, set_with_elems));
}

int wf_nft_batch_delete_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                              const struct wf_nft_set *set_with_elems)
{
	if (b->ended)
		return -EINVAL;
	return fail(b, add_elems_msgs(b, NFT_MSG_DELSETELEM, family, table, set_with_elems));
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
	struct batch_msg *m;
	struct nlmsghdr *nlh;

	if (b->ended)
		return -EINVAL;
	r = nftnl_rule_alloc();
	if (!r)
		return fail(b, -ENOMEM);
	m = msg_add(b, MSG_OTHER,
	            fmt("rule handle %llu in chain %s %s %s", (unsigned long long)handle,
	                family_str(family), table, chain));
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

/* ---- commit ---- */

static struct batch_msg *msg_by_seq(struct wf_nft_batch *b, uint32_t seq)
{
	uint32_t off = seq - b->seq_begin; /* wraps as the kernel's numbers do */

	if (off == 0 || off - 1 >= b->n_msgs)
		return NULL;
	return &b->msgs[off - 1];
}

struct commit_state {
	struct wf_nft_batch *b;
	size_t answered;
	int batch_err; /* an error for the batch as a whole (begin message) */
	char *batch_ext_msg;
};

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct commit_state *st = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *ext_msg = NULL;
	uint32_t offset = 0;
	struct batch_msg *m;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_ERROR;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t skip = sizeof(*e);
		const struct nlattr *attr;

		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			skip += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		mnl_attr_for_each(attr, nlh, skip)
		{
			if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
			    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
				ext_msg = mnl_attr_get_str(attr);
			else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS &&
			         mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
				offset = mnl_attr_get_u32(attr);
		}
	}
	m = msg_by_seq(st->b, nlh->nlmsg_seq);
	if (!m) {
		if (e->error && !st->batch_err) {
			st->batch_err = e->error;
			st->batch_ext_msg = ext_msg ? strdup(ext_msg) : NULL;
		}
		return MNL_CB_OK;
	}
	if (!m->answered)
		st->answered++;
	m->answered = true;
	m->err = e->error;
	m->err_offset = offset;
	if (ext_msg && !m->ext_msg)
		m->ext_msg = strdup(ext_msg);
	return MNL_CB_OK;
}

/* The message with this seq, found again in the batch pages. */
static const struct nlmsghdr *find_sent_msg(struct wf_nft_batch *b, uint32_t seq)
{
	int n = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)n, sizeof(*iov));
	const struct nlmsghdr *found = NULL;

	if (!iov)
		return NULL;
	nftnl_batch_iovec(b->nb, iov, (uint32_t)n);
	for (int i = 0; i < n && !found; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int len = (int)iov[i].iov_len;

		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq == seq) {
				found = nlh;
				break;
			}
		}
	}
	free(iov);
	return found;
}

/* Index of the nested attribute at offset among the children of the list at list_type. */
static const struct nlattr *child_at(const struct nlmsghdr *nlh, uint16_t list_type,
                                     uint32_t offset, int *index)
{
	const struct nlattr *attr, *child;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(attr) != list_type)
			continue;
		*index = 0;
		mnl_attr_for_each_nested(child, attr)
		{
			if ((const char *)child - (const char *)nlh == (long)offset)
				return child;
			(*index)++;
		}
	}
	return NULL;
}

static void name_element(FILE *f, const struct batch_msg *m, const struct nlattr *elem)
{
	struct wf_nft_set s = {0};
	struct wf_nft_elem e = {0};
	const struct nlattr *attr, *val;
	bool have_key = false;

	memcpy(s.key, m->key, sizeof(s.key));
	s.n_key = m->n_key;
	mnl_attr_for_each_nested(attr, elem)
	{
		uint16_t type = mnl_attr_get_type(attr);

		if (type != NFTA_SET_ELEM_KEY && type != NFTA_SET_ELEM_DATA)
			continue;
		mnl_attr_for_each_nested(val, attr)
		{
			if (mnl_attr_get_type(val) != NFTA_DATA_VALUE)
				continue;
			if (type == NFTA_SET_ELEM_KEY)
				have_key = !wf_nft_concat_decode(
				    m->key, m->n_key, mnl_attr_get_payload(val),
				    mnl_attr_get_payload_len(val), e.key);
			else if (!wf_nft_concat_decode(m->data, m->n_data,
			                               mnl_attr_get_payload(val),
			                               mnl_attr_get_payload_len(val), e.data)) {
				memcpy(s.data, m->data, sizeof(s.data));
				s.n_data = m->n_data;
			}
		}
	}
	if (have_key) {
		fputs(": element ", f);
		wf_nft_elem_fprint(f, &s, &e);
	}
}

static void name_item(FILE *f, const struct batch_msg *m, int expr)
{
	const char *p = m->items;
	int item;

	if (expr < 0 || (size_t)expr >= m->n_exprs || !p)
		return;
	item = m->expr_item[expr];
	if (item < 0) {
		fputs(": at an implicit dependency", f);
		return;
	}
	for (int i = 0; i < item; i++)
		p += strlen(p) + 1;
	fprintf(f, ": at `%s'", p);
}

static void describe_error(struct wf_nft_batch *b, const struct batch_msg *m,
                           struct wf_nft_error *err)
{
	const struct nlmsghdr *sent = NULL;
	const struct nlattr *child = NULL;
	char *detail = NULL;
	size_t size;
	int index = -1;
	FILE *f;

	err->err = m->err;
	snprintf(err->what, sizeof(err->what), "%s", m->what);
	if (m->err_offset && m->kind != MSG_OTHER)
		sent = find_sent_msg(b, m->seq);
	if (sent && m->kind == MSG_ELEMS)
		child = child_at(sent, NFTA_SET_ELEM_LIST_ELEMENTS, m->err_offset, &index);
	else if (sent && m->kind == MSG_RULE)
		child = child_at(sent, NFTA_RULE_EXPRESSIONS, m->err_offset, &index);
	f = open_memstream(&detail, &size);
	if (!f)
		return;
	fputs(m->ext_msg ? m->ext_msg : strerror(-m->err), f);
	if (child && m->kind == MSG_ELEMS)
		name_element(f, m, child);
	else if (child && m->kind == MSG_RULE)
		name_item(f, m, index);
	if (!fclose(f))
		snprintf(err->detail, sizeof(err->detail), "%s", detail);
	free(detail);
}

static int send_batch(struct wf_nft *n, struct wf_nft_batch *b)
{
	struct sockaddr_nl addr = {.nl_family = AF_NETLINK};
	int iovlen = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)iovlen, sizeof(*iov));
	struct msghdr msg = {
	    .msg_name = &addr,
	    .msg_namelen = sizeof(addr),
	    .msg_iov = iov,
	    .msg_iovlen = (size_t)iovlen,
	};
	size_t total = 0;
	ssize_t sent;

	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(b->nb, iov, (uint32_t)iovlen);
	for (int i = 0; i < iovlen; i++)
		total += iov[i].iov_len;
	grow_sockbuf(n, SO_SNDBUFFORCE, SO_SNDBUF, &n->sndbuf, total + 4096);
	grow_sockbuf(n, SO_RCVBUFFORCE, SO_RCVBUF, &n->rcvbuf,
	             (b->n_msgs + 2) * ACK_SIZE_GUESS + 65536);
	sent = sendmsg(wf_nl_fd(&n->nl), &msg, 0);
	free(iov);
	if (sent < 0)
		return -errno;
	return (size_t)sent == total ? 0 : -EMSGSIZE;
}

int wf_nft_commit(struct wf_nft *n, struct wf_nft_batch *b, struct wf_nft_error *err)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = ack_cb};
	struct commit_state st = {.b = b};
	char *buf;
	int ret = 0;

	memset(err, 0, sizeof(*err));
	if (b->error || b->ended) {
		err->err = b->error ? b->error : -EINVAL;
		snprintf(err->what, sizeof(err->what), "%s",
		         b->error ? "batch could not be built" : "batch already committed");
		return err->err;
	}
	if (b->n_msgs == 0)
		return 0;
	nftnl_batch_end(nftnl_batch_buffer(b->nb), b->seq_next);
	nftnl_batch_update(b->nb);
	b->ended = true;

	buf = malloc(RECV_BUF_SIZE);
	if (!buf)
		return err->err = -ENOMEM;
	drain(n);
	ret = send_batch(n, b);
	if (ret) {
		snprintf(err->what, sizeof(err->what), "sending the batch (%zu messages)",
		         b->n_msgs);
		goto out;
	}
	/* The kernel handles the batch inside sendmsg, so every answer is queued by now; the
	 * timeout only guards against a kernel that answers less than asked. */
	while (st.answered < b->n_msgs && !st.batch_err) {
		struct pollfd pfd = {.fd = wf_nl_fd(&n->nl), .events = POLLIN};
		ssize_t len;

		if (poll(&pfd, 1, REPLY_TIMEOUT_MS) <= 0) {
			ret = -ETIMEDOUT;
			snprintf(err->what, sizeof(err->what),
			         "waiting for answers (%zu of %zu received)", st.answered,
			         b->n_msgs);
			goto out;
		}
		len = recv(pfd.fd, buf, RECV_BUF_SIZE, 0);
		if (len < 0) {
			ret = -errno;
			snprintf(err->what, sizeof(err->what),
			         "reading answers (%zu of %zu received; outcome unknown)",
			         st.answered, b->n_msgs);
			goto out;
		}
		if (mnl_cb_run2(buf, (size_t)len, 0, n->nl.portid, NULL, &st, ctl, NLMSG_MIN_TYPE) <
		    0) {
			ret = -errno ? -errno : -EPROTO;
			snprintf(err->what, sizeof(err->what), "parsing answers");
			goto out;
		}
	}
	if (st.batch_err) {
		ret = st.batch_err;
		snprintf(err->what, sizeof(err->what), "the batch as a whole");
		snprintf(err->detail, sizeof(err->detail), "%s",
		         st.batch_ext_msg ? st.batch_ext_msg : strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < b->n_msgs; i++) {
		if (b->msgs[i].err) {
			describe_error(b, &b->msgs[i], err);
			ret = b->msgs[i].err;
			break;
		}
	}
	b->committed = !ret;
out:
	if (ret && !err->err)
		err->err = ret;
	free(st.batch_ext_msg);
	free(buf);
	return ret;
}

/* ---- reading back ---- */

struct mnl_reply {
	mnl_cb_t cb;
	void *data;
};

/* libnftnl's parsers are libmnl callbacks, which say MNL_CB_ERROR and leave the cause in
 * errno; the transport wants -errno. */
static int mnl_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct mnl_reply *r = data;

	errno = 0;
	if (r->cb(nlh, r->data) == MNL_CB_ERROR)
		return errno ? -errno : -EPROTO;
	return 0;
}

/* Sends a request built by the caller and runs cb on every answer until the dump ends; an
 * interrupted dump gives -EAGAIN (wf_nl_talk). */
static int request(struct wf_nft *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_reply r = {.cb = cb, .data = data};

	/* What an abandoned commit left unread goes first (its answers carry no dump seq). */
	drain(n);
	return wf_nl_talk(&n->nl, nlh, mnl_reply_cb, &r);
}

static struct nlmsghdr *request_hdr(struct wf_nft *n, char *buf, uint16_t cmd, uint8_t family,
                                    uint16_t flags)
{
	/* wf_nl_talk numbers the request. */
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

	ret =
	    request(n, request_hdr(n, buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC, NLM_F_ACK), gen_cb, &g);
	if (!ret && !g.found)
		ret = -EPROTO;
	if (!ret)
		*genid = g.id;
	return ret;
}

static int table_exists(struct wf_nft *n, uint8_t family, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, family);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nlh = request_hdr(n, buf, NFT_MSG_GETTABLE, family, NLM_F_ACK);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return request(n, nlh, ignore_cb, NULL);
}

struct chains_ctx {
	struct wf_nft_table *t;
	int err;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chains_ctx *c = data;
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

struct sets_ctx {
	struct wf_nft_table *t;
	int err;
};

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct sets_ctx *c = data;
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

static int cmp_bytes(const void *a, const void *b, void *len)
{
	return memcmp(a, b, *(size_t *)len);
}

/* An element dump resumes each message by skipping as many elements as were sent; when the
 * kernel's hash table resizes between two messages (it does after large inserts), some
 * elements come twice and as many never. Duplicates are the tell: the caller reads again. */
static bool has_duplicates(const struct wf_nft_set *s)
{
	uint8_t *enc;
	size_t len;
	bool dup = false;

	if (s->n_elems < 2 || wf_nft_set_encode_elems(s, &enc, &len))
		return false;
	qsort_r(enc, s->n_elems, len, cmp_bytes, &len);
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
	nlh = request_hdr(n, buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP);
	nftnl_set_elems_nlmsg_build_payload(nlh, ns);
	ret = request(n, nlh, elems_cb, ns);
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
	if (c->n_rules == c->cap_rules) {
		size_t cap = c->cap_rules ? c->cap_rules * 2 : 16;
		void *p = reallocarray(c->rules, cap, sizeof(*c->rules));

		if (!p) {
			c->err = -ENOMEM;
			nftnl_rule_free(nr);
			return MNL_CB_OK;
		}
		c->rules = p;
		c->cap_rules = cap;
	}
	r = &c->rules[c->n_rules++];
	memset(r, 0, sizeof(*r));
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
	nlh = request_hdr(n, buf, NFT_MSG_GETRULE, family, NLM_F_DUMP);
	nftnl_rule_nlmsg_build_payload(nlh, nr);
	nftnl_rule_free(nr);
	ret = request(n, nlh, rule_cb, c);
	return ret ? ret : c->err;
}

static int table_get_once(struct wf_nft *n, uint8_t family, const char *name,
                          struct wf_nft_table **out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct wf_nft_table *t;
	struct chains_ctx cc;
	struct sets_ctx sc;
	struct rules_ctx rc = {.table = name};
	struct nlmsghdr *nlh;
	struct nftnl_chain *ch;
	struct nftnl_set *ns;
	int ret;

	ret = table_exists(n, family, name);
	if (ret)
		return ret;
	t = wf_nft_table_new(family, name);
	if (!t)
		return -ENOMEM;
	cc = (struct chains_ctx){.t = t};
	sc = (struct sets_ctx){.t = t};

	ch = nftnl_chain_alloc();
	if (!ch) {
		ret = -ENOMEM;
		goto err;
	}
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, name);
	nlh = request_hdr(n, buf, NFT_MSG_GETCHAIN, family, NLM_F_DUMP);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	ret = request(n, nlh, chain_cb, &cc);
	if (ret || (ret = cc.err))
		goto err;

	ns = nftnl_set_alloc();
	if (!ns) {
		ret = -ENOMEM;
		goto err;
	}
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, name);
	nlh = request_hdr(n, buf, NFT_MSG_GETSET, family, NLM_F_DUMP);
	nftnl_set_nlmsg_build_payload(nlh, ns);
	nftnl_set_free(ns);
	ret = request(n, nlh, set_cb, &sc);
	if (ret || (ret = sc.err))
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

int wf_nft_table_get(struct wf_nft *n, uint8_t family, const char *name, struct wf_nft_table **out)
{
	int ret;

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

static int chain_exists(struct wf_nft *n, uint8_t family, const char *table, const char *chain)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!ch)
		return -ENOMEM;
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, family);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, chain);
	nlh = request_hdr(n, buf, NFT_MSG_GETCHAIN, family, NLM_F_ACK);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	return request(n, nlh, ignore_cb, NULL);
}

int wf_nft_chain_rules_get(struct wf_nft *n, uint8_t family, const char *table, const char *chain,
                           struct wf_nft_rule **rules, size_t *n_rules)
{
	struct rules_ctx rc;
	int ret;

	/* a rule dump of a missing chain is merely empty */
	ret = chain_exists(n, family, table, chain);
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

/* ---- comparing ---- */

static uint64_t digest_of(const struct wf_nft_rule *r, uint8_t family, bool compat)
{
	struct wf_nft_linearize how = {.iptables_compat = compat};
	struct nftnl_rule *nr;
	uint64_t d;

	if (r->digest)
		return r->digest;
	if (wf_nft_rule_linearize(family, "", r, &how, &nr))
		return 0;
	d = wf_nft_nftnl_rule_digest(nr);
	nftnl_rule_free(nr);
	return d;
}

bool wf_nft_rule_equal(const struct wf_nft_rule *a, const struct wf_nft_rule *b)
{
	uint8_t family = a->family ? a->family : b->family;
	bool compat = a->iptables_compat || b->iptables_compat;
	uint64_t da, db;

	/* Identical bytes are the same rule (a rendered rule against its copy kept from the last
	 * commit); anything else is decided by what the kernel would hold. */
	if (!memcmp(a, b, sizeof(*a)))
		return true;
	if (strcmp(a->chain, b->chain) || strcmp(a->comment, b->comment))
		return false;
	da = digest_of(a, family, compat);
	db = digest_of(b, family, compat);
	return da && da == db;
}

static bool chain_equal(const struct wf_nft_chain *a, const struct wf_nft_chain *b)
{
	if (strcmp(a->name, b->name) || a->base != b->base)
		return false;
	if (!a->base)
		return true;
	return !strcmp(a->type[0] ? a->type : "filter", b->type[0] ? b->type : "filter") &&
	       a->hook == b->hook && a->priority == b->priority && a->policy == b->policy;
}

static const struct wf_nft_set *find_set(const struct wf_nft_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_sets; i++)
		if (!strcmp(t->sets[i].name, name))
			return &t->sets[i];
	return NULL;
}

static const struct wf_nft_chain *find_chain(const struct wf_nft_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_chains; i++)
		if (!strcmp(t->chains[i].name, name))
			return &t->chains[i];
	return NULL;
}

static bool set_equal(const struct wf_nft_set *a, const struct wf_nft_set *b)
{
	uint8_t *ea = NULL, *eb = NULL;
	size_t la, lb;
	bool equal;

	if (strcmp(a->name, b->name) || a->n_key != b->n_key || a->n_data != b->n_data ||
	    !a->n_key || memcmp(a->key, b->key, a->n_key * sizeof(a->key[0])) ||
	    memcmp(a->data, b->data, a->n_data * sizeof(a->data[0])) || a->n_elems != b->n_elems)
		return false;
	if (wf_nft_set_encode_elems(a, &ea, &la) || wf_nft_set_encode_elems(b, &eb, &lb)) {
		free(ea);
		return false;
	}
	qsort_r(ea, a->n_elems, la, cmp_bytes, &la);
	qsort_r(eb, b->n_elems, lb, cmp_bytes, &lb);
	equal = !memcmp(ea, eb, a->n_elems * la);
	free(ea);
	free(eb);
	return equal;
}

static bool chain_rules_equal(const struct wf_nft_table *kernel, const struct wf_nft_table *desired,
                              const char *chain)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < kernel->n_rules && strcmp(kernel->rules[i].chain, chain))
			i++;
		while (j < desired->n_rules && strcmp(desired->rules[j].chain, chain))
			j++;
		if (i == kernel->n_rules || j == desired->n_rules)
			return i == kernel->n_rules && j == desired->n_rules;
		struct wf_nft_rule d = desired->rules[j];

		d.family = desired->family;
		if (!wf_nft_rule_equal(&kernel->rules[i], &d))
			return false;
		i++;
		j++;
	}
}

bool wf_nft_table_equal(const struct wf_nft_table *kernel, const struct wf_nft_table *desired)
{
	if (kernel->family != desired->family || strcmp(kernel->name, desired->name) ||
	    kernel->n_chains != desired->n_chains || kernel->n_sets != desired->n_sets ||
	    kernel->n_rules != desired->n_rules)
		return false;
	for (size_t i = 0; i < desired->n_chains; i++) {
		const struct wf_nft_chain *k = find_chain(kernel, desired->chains[i].name);

		if (!k || !chain_equal(k, &desired->chains[i]))
			return false;
		if (!chain_rules_equal(kernel, desired, desired->chains[i].name))
			return false;
	}
	for (size_t i = 0; i < desired->n_sets; i++) {
		const struct wf_nft_set *k = find_set(kernel, desired->sets[i].name);

		if (!k || !set_equal(k, &desired->sets[i]))
			return false;
	}
	return true;
}
