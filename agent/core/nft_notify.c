#include <wgfwd/nft_notify.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>

#include <wgfwd/util.h>

/* Every object message names its table in attribute 1 (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE,
 * NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE,
 * NFTA_FLOWTABLE_TABLE), and NEWGEN its generation in NFTA_GEN_ID, also 1. */
#define ATTR_TABLE 1

/* Generations count up by one, skipping 0. */
static uint32_t gen_next(uint32_t g)
{
	return g + 1 ? g + 1 : 1;
}

/* a <= b on the circle of generations */
static bool gen_le(uint32_t a, uint32_t b)
{
	return (int32_t)(b - a) >= 0;
}

static void forget_last_table(struct wf_nft_ledger *l)
{
	l->last_len = 0;
}

void wf_nft_ledger_init(struct wf_nft_ledger *l)
{
	memset(l, 0, sizeof(*l));
}

int wf_nft_ledger_watch(struct wf_nft_ledger *l, uint8_t family, const char *name)
{
	struct wf_nft_watched *t;

	for (size_t i = 0; i < l->n_tables; i++)
		if (l->tables[i].family == family && !strcmp(l->tables[i].name, name))
			return 0;
	if (l->n_tables == WF_NFT_WATCHED_MAX)
		return -ENOSPC;
	t = &l->tables[l->n_tables++];
	memset(t, 0, sizeof(*t));
	t->family = family;
	WF_COPY(t->name, name);
	t->touched = l->last;
	/* Whatever the commit being read did to it went unnoticed. */
	if (l->cur_open)
		l->cur_unknown = true;
	return 0;
}

/* The first attribute of type `type`, NULL when absent or not what it should be. */
static const struct nlattr *find_attr(const struct nlmsghdr *nlh, uint16_t type,
                                      enum mnl_attr_data_type t)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(attr) != type)
			continue;
		return mnl_attr_validate(attr, t) < 0 ? NULL : attr;
	}
	return NULL;
}

/* Whether the message names, as its first attribute, the table the one before it in the
 * same commit named: it then touches nothing the ledger has not counted already (a table
 * watched since made the commit unknown as a whole). */
static bool same_table_as_last(const struct wf_nft_ledger *l, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr = mnl_nlmsg_get_payload_offset(nlh, sizeof(*g));
	size_t room = nlh->nlmsg_len - MNL_NLMSG_HDRLEN - MNL_ALIGN(sizeof(*g));

	return l->cur_open && l->last_len && g->nfgen_family == l->last_family &&
	       room >= MNL_ATTR_HDRLEN + l->last_len && attr->nla_len <= room &&
	       mnl_attr_get_type(attr) == ATTR_TABLE &&
	       mnl_attr_get_payload_len(attr) == l->last_len &&
	       !memcmp(mnl_attr_get_payload(attr), l->last_table, l->last_len);
}

static void touch_object(struct wf_nft_ledger *l, const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr = find_attr(nlh, ATTR_TABLE, MNL_TYPE_NUL_STRING);
	const char *name;
	size_t len;

	l->cur_open = true;
	forget_last_table(l);
	if (!attr) {
		l->cur_unknown = true;
		return;
	}
	name = mnl_attr_get_str(attr);
	len = mnl_attr_get_payload_len(attr);
	/* the first attribute only: what same_table_as_last compares */
	if ((const void *)attr == mnl_nlmsg_get_payload_offset(nlh, sizeof(*g)) &&
	    len <= sizeof(l->last_table)) {
		memcpy(l->last_table, name, len);
		l->last_len = (uint16_t)len;
		l->last_family = g->nfgen_family;
	}
	for (size_t i = 0; i < l->n_tables; i++) {
		const struct wf_nft_watched *t = &l->tables[i];

		if ((!t->family || t->family == g->nfgen_family) && !strcmp(t->name, name))
			l->cur_mask |= 1u << i;
	}
}

static uint32_t own_ports[WF_NFT_OWN_MAX];

void wf_nft_own_port_add(uint32_t portid)
{
	for (size_t i = 0; i < WF_NFT_OWN_MAX; i++) {
		if (!own_ports[i]) {
			own_ports[i] = portid;
			return;
		}
	}
}

void wf_nft_own_port_remove(uint32_t portid)
{
	for (size_t i = 0; i < WF_NFT_OWN_MAX; i++)
		if (own_ports[i] == portid)
			own_ports[i] = 0;
}

/* The kernel numbers a commit's notifications with the committing socket's port id. */
static bool own_port(uint32_t portid)
{
	for (size_t i = 0; portid && i < WF_NFT_OWN_MAX; i++)
		if (own_ports[i] == portid)
			return true;
	return false;
}

static enum wf_nft_note end_commit(struct wf_nft_ledger *l, const struct nlmsghdr *nlh)
{
	const struct nlattr *attr = find_attr(nlh, NFTA_GEN_ID, MNL_TYPE_U32);
	bool whole = l->state == WF_NFT_LEDGER_SYNCED && !l->cur_unknown;
	enum wf_nft_note note = WF_NFT_NOTE_TOUCHED;
	uint32_t gen;

	l->commits++;
	if (l->state == WF_NFT_LEDGER_LOST) {
		l->cur_mask = 0;
		l->cur_open = false;
		return WF_NFT_NOTE_TOUCHED;
	}
	if (!attr) {
		/* No generation: nothing after it can be accounted for either. */
		l->state = WF_NFT_LEDGER_UNSYNCED;
		l->cur_mask = 0;
		l->cur_unknown = false;
		l->cur_open = false;
		return WF_NFT_NOTE_TOUCHED;
	}
	gen = ntohl(mnl_attr_get_u32(attr));
	whole = whole && gen == gen_next(l->last);
	for (size_t i = 0; i < l->n_tables; i++)
		if (!whole || (l->cur_mask & (1u << i)))
			l->tables[i].touched = gen;
	if (whole && !l->cur_mask) {
		note = WF_NFT_NOTE_QUIET;
		l->quiet++;
	} else if (whole && own_port(nlh->nlmsg_pid)) {
		/* The tables it touched are marked all the same: what the process knew of them
		 * before stands only where the commit itself settled it. */
		note = WF_NFT_NOTE_OWN;
	}
	l->state = WF_NFT_LEDGER_SYNCED;
	l->last = gen;
	l->cur_mask = 0;
	l->cur_unknown = false;
	l->cur_open = false;
	return note;
}

enum wf_nft_note wf_nft_ledger_feed(struct wf_nft_ledger *l, const struct nlmsghdr *nlh)
{
	uint32_t before = l->cur_mask;
	bool unknown = l->cur_unknown;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return WF_NFT_NOTE_NONE;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg))) {
		l->cur_unknown = true;
		return WF_NFT_NOTE_TOUCHED;
	}
	if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN)
		return end_commit(l, nlh);
	if (same_table_as_last(l, nlh))
		return WF_NFT_NOTE_NONE;
	touch_object(l, nlh);
	/* Said at once, not only at the commit's end: a change of ours is looked at as soon as
	 * possible, even one the kernel makes outside a commit. The process's own commits are
	 * told apart at their end. */
	if (own_port(nlh->nlmsg_pid))
		return WF_NFT_NOTE_NONE;
	return l->cur_mask != before || l->cur_unknown != unknown ? WF_NFT_NOTE_TOUCHED
	                                                          : WF_NFT_NOTE_NONE;
}

void wf_nft_ledger_start(struct wf_nft_ledger *l, uint32_t genid)
{
	for (size_t i = 0; i < l->n_tables; i++)
		l->tables[i].touched = genid;
	l->state = WF_NFT_LEDGER_SYNCED;
	l->last = genid;
	l->cur_mask = 0;
	l->cur_unknown = false;
	l->cur_open = false;
}

void wf_nft_ledger_lost(struct wf_nft_ledger *l)
{
	l->state = WF_NFT_LEDGER_LOST;
	l->cur_mask = 0;
	l->cur_unknown = false;
	l->cur_open = false;
}

void wf_nft_ledger_drained(struct wf_nft_ledger *l)
{
	if (l->state == WF_NFT_LEDGER_LOST)
		l->state = WF_NFT_LEDGER_UNSYNCED;
}

bool wf_nft_ledger_latest(const struct wf_nft_ledger *l, uint32_t *genid)
{
	if (l->state != WF_NFT_LEDGER_SYNCED)
		return false;
	*genid = l->last;
	return true;
}

bool wf_nft_ledger_quiet(const struct wf_nft_ledger *l, uint32_t from, uint32_t to, uint8_t family,
                         const char *name)
{
	bool found = false;

	if (from == to)
		return true;
	if (l->state != WF_NFT_LEDGER_SYNCED || !gen_le(from, to) || !gen_le(to, l->last))
		return false;
	for (size_t i = 0; i < l->n_tables; i++) {
		const struct wf_nft_watched *t = &l->tables[i];

		if (name && ((family && t->family && t->family != family) || strcmp(t->name, name)))
			continue;
		found = true;
		if (!gen_le(t->touched, from))
			return false;
	}
	return found;
}

static struct wf_nft_follower follower;

void wf_nft_follow(const struct wf_nft_follower *f)
{
	follower = *f;
}

void wf_nft_unfollow(const void *ctx)
{
	if (follower.ctx == ctx)
		memset(&follower, 0, sizeof(follower));
}

bool wf_nft_followed_quiet(uint32_t from, uint32_t to, uint8_t family, const char *name)
{
	return follower.quiet && follower.quiet(follower.ctx, from, to, family, name);
}

uint32_t wf_nft_followed_latest(uint32_t mine)
{
	uint32_t seen;

	if (follower.latest && follower.latest(follower.ctx, &seen) && !gen_le(seen, mine))
		return seen;
	return mine;
}
