#include <wgfwd/rtnl.h>
#include <wgfwd/util.h>

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/ipv6_route.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <wgfwd/netlink.h>

#include "rtnl_internal.h"

/* Large enough for any dump message the kernel sends (it sizes them to what we read with). */
#define RTNL_RECV_SIZE 32768
/* Sync re-reads after deleting, because a kernel delete matches the first rule or route that
 * has every attribute named: a less specific extra can take a wanted twin with it. */
#define SYNC_ROUNDS 3
#define DUMP_TRIES  3

struct wf_rtnl {
	struct wf_nl nl;
};

/* nl first: the handle is made and freed by the transport. */
int wf_rtnl_open(struct wf_rtnl **out)
{
	return wf_nl_handle_new(out, sizeof(**out), NETLINK_ROUTE, RTNL_RECV_SIZE);
}

void wf_rtnl_close(struct wf_rtnl *r)
{
	wf_nl_handle_free(r);
}

static int rule_send(struct wf_rtnl *r, uint16_t type, uint16_t flags, const void *rule)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	int len;

	len = wf_rtnl_rule_build(buf, sizeof(buf), type, flags, rule);
	if (len < 0)
		return len;
	return wf_nl_talk(&r->nl, (struct nlmsghdr *)buf, NULL, NULL);
}

int wf_rtnl_rule_add(struct wf_rtnl *r, const struct wf_rule *rule)
{
	return rule_send(r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule);
}

int wf_rtnl_rule_del(struct wf_rtnl *r, const struct wf_rule *rule)
{
	return rule_send(r, RTM_DELRULE, 0, rule);
}

static int route_send(struct wf_rtnl *r, uint16_t type, uint16_t flags, const void *entry)
{
	const struct wf_route *route = entry;
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	unsigned int oifindex = 0;
	int len, err;

	if (route->oifname[0] && (!route->type || route->type == RTN_UNICAST)) {
		if (!wf_rtnl_ifname_valid(route->oifname))
			return -EINVAL;
		oifindex = if_nametoindex(route->oifname);
		if (!oifindex)
			return -ENODEV;
	}
	len = wf_rtnl_route_build(buf, sizeof(buf), type, flags, route, oifindex);
	if (len < 0)
		return len;
	err = wf_nl_talk(&r->nl, (struct nlmsghdr *)buf, NULL, NULL);
	/* Routes say "no such process" where rules say "no such entry"; callers see one. */
	if (err == -ESRCH)
		err = -ENOENT;
	return err;
}

int wf_rtnl_route_add(struct wf_rtnl *r, const struct wf_route *route)
{
	return route_send(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route);
}

int wf_rtnl_route_del(struct wf_rtnl *r, const struct wf_route *route)
{
	return route_send(r, RTM_DELROUTE, 0, route);
}

struct growing {
	void *items;
	size_t n, cap, size;
};

static void *growing_next(struct growing *g)
{
	if (wf_array_reserve(&g->items, &g->cap, g->n, 1, g->size))
		return NULL;
	return (char *)g->items + g->n++ * g->size;
}

struct rule_filter {
	struct growing found;
	int family;
	uint8_t protocol;
};

static int rule_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_filter *f = data;
	struct wf_rule rule, *slot;
	int err;

	err = wf_rtnl_rule_parse(nlh, nlh->nlmsg_len, &rule);
	if (err == -EAFNOSUPPORT || err == -EOPNOTSUPP)
		return 0;
	if (err)
		return err;
	if ((f->family != AF_UNSPEC && rule.family != f->family) ||
	    (f->protocol && rule.protocol != f->protocol))
		return 0;
	slot = growing_next(&f->found);
	if (!slot)
		return -ENOMEM;
	*slot = rule;
	return 0;
}

/* Dumps `type` (rules or routes: both headers begin with the family byte) into `found`
 * through cb, again when the kernel says the dump was interrupted by a change. */
static int dump_list(struct wf_rtnl *r, uint16_t type, size_t hdr_len, int family, mnl_cb_t cb,
                     void *filter, struct growing *found)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	int err = -EAGAIN;

	if (family != AF_UNSPEC && !wf_rtnl_family_supported(family))
		return -EINVAL;
	for (int try = 0; try < DUMP_TRIES && err == -EAGAIN; try++) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		uint8_t *hdr;

		nlh->nlmsg_type = type;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		hdr = mnl_nlmsg_put_extra_header(nlh, hdr_len);
		hdr[0] = (uint8_t)family;
		found->n = 0;
		err = wf_nl_talk(&r->nl, nlh, cb, filter);
	}
	if (err) {
		free(found->items);
		found->items = NULL;
		found->n = 0;
	}
	return err;
}

int wf_rtnl_rule_list(struct wf_rtnl *r, int family, uint8_t protocol, struct wf_rule **out,
                      size_t *n)
{
	struct rule_filter f = {
	    .found.size = sizeof(struct wf_rule), .family = family, .protocol = protocol};
	int err = dump_list(r, RTM_GETRULE, sizeof(struct fib_rule_hdr), family, rule_list_cb, &f,
	                    &f.found);

	if (err)
		return err;
	*out = f.found.items;
	*n = f.found.n;
	return 0;
}

struct route_filter {
	struct growing found;
	int family;
	uint32_t table;
	uint8_t protocol;
};

static int route_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_filter *f = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct wf_route route, *slot;
	unsigned int oifindex;
	int err;

	err = wf_rtnl_route_parse(nlh, nlh->nlmsg_len, &route, &oifindex);
	if (err == -EAFNOSUPPORT)
		return 0;
	if (err)
		return err;
	if (rtm->rtm_flags & RTM_F_CLONED)
		return 0;
	if ((f->family != AF_UNSPEC && route.family != f->family) ||
	    (f->table && route.table != f->table) || (f->protocol && route.protocol != f->protocol))
		return 0;
	/* An interface that vanished since the dump was made has taken its routes with it. */
	if (oifindex && !if_indextoname(oifindex, route.oifname))
		return 0;
	slot = growing_next(&f->found);
	if (!slot)
		return -ENOMEM;
	*slot = route;
	return 0;
}

int wf_rtnl_route_list(struct wf_rtnl *r, int family, uint32_t table, uint8_t protocol,
                       struct wf_route **out, size_t *n)
{
	struct route_filter f = {.found.size = sizeof(struct wf_route),
	                         .family = family,
	                         .table = table,
	                         .protocol = protocol};
	int err =
	    dump_list(r, RTM_GETROUTE, sizeof(struct rtmsg), family, route_list_cb, &f, &f.found);

	if (err)
		return err;
	*out = f.found.items;
	*n = f.found.n;
	return 0;
}

/* What sync needs to know of rules or routes; entries are handled as bytes of `size`. */
struct sync_kind {
	size_t size;
	uint16_t new_type, del_type;
	int (*send)(struct wf_rtnl *r, uint16_t type, uint16_t flags, const void *entry);
	void *(*list)(struct wf_rtnl *r, size_t *n, int *err); /* ours only */
	/* A copy as the kernel reports it, owned: -EINVAL for what the kernel would refuse. */
	int (*normalize)(const void *in, void *out);
	bool (*equal)(const void *a, const void *b);
	/* Routes: a wanted entry refused with -EEXIST takes its slot when all in it is ours; the
	 * slot's old entry is then gone. NULL (rules): -EEXIST means it is there already. */
	int (*replace)(struct wf_rtnl *r, const void *entry);
	bool (*same_slot)(const void *a, const void *b);
};

#define AT(k, base, i) ((const char *)(base) + (i) * (k)->size)

static bool entry_in(const struct sync_kind *k, const void *entry, const void *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (k->equal(entry, AT(k, set, i)))
			return true;
	return false;
}

static bool slot_replaced(const struct sync_kind *k, const void *entry, const void *ours,
                          const bool *replaced, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (replaced[i] && k->same_slot(entry, AT(k, ours, i)))
			return true;
	return false;
}

static void keep_first_error(int *first, int err)
{
	if (err < 0 && !*first)
		*first = err;
}

/* Adds what is missing, then deletes what is extra, and reads again after a delete or a
 * replace (see SYNC_ROUNDS). */
static int sync_round(struct wf_rtnl *r, const struct sync_kind *k, const void *ours, size_t n,
                      bool *replaced, int *changes, int *first_err, bool *recheck)
{
	size_t n_have = 0;
	int err;
	void *have = k->list(r, &n_have, &err);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		replaced[i] = false;
		if (entry_in(k, AT(k, ours, i), have, n_have) ||
		    entry_in(k, AT(k, ours, i), ours, i))
			continue;
		err = k->send(r, k->new_type, NLM_F_CREATE | NLM_F_EXCL, AT(k, ours, i));
		if (err == -EEXIST && !k->replace)
			continue;
		if (err == -EEXIST) {
			err = k->replace(r, AT(k, ours, i));
			replaced[i] = !err;
		}
		*changes += !err;
		keep_first_error(first_err, err);
	}
	for (size_t i = 0; i < n_have; i++) {
		if (entry_in(k, AT(k, have, i), ours, n))
			continue;
		/* What a replace took is gone, and a delete naming no gateway would match the
		 * route that took its place. Re-reading shows whether anything of ours is still
		 * left in that slot. */
		if (k->replace && slot_replaced(k, AT(k, have, i), ours, replaced, n)) {
			*recheck = true;
			continue;
		}
		err = k->send(r, k->del_type, 0, AT(k, have, i));
		if (!err) {
			(*changes)++;
			*recheck = true;
		} else if (err != -ENOENT) {
			keep_first_error(first_err, err);
		}
	}
	free(have);
	return 0;
}

static int sync_entries(struct wf_rtnl *r, const struct sync_kind *k, const void *want, size_t n)
{
	char *ours = calloc(n ? n : 1, k->size);
	bool *replaced = calloc(n ? n : 1, sizeof(*replaced));
	int changes = 0, first_err = 0, err = ours && replaced ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && !err; i++)
		err = k->normalize(AT(k, want, i), ours + i * k->size);
	for (int round = 0; round < SYNC_ROUNDS && !err; round++) {
		bool recheck = false;

		err = sync_round(r, k, ours, n, replaced, &changes, &first_err, &recheck);
		if (!recheck || first_err)
			break;
	}
	if (!err)
		err = first_err ? first_err : changes;
	free(replaced);
	free(ours);
	return err;
}

static void *rules_list(struct wf_rtnl *r, size_t *n, int *err)
{
	struct wf_rule *v = NULL;

	*err = wf_rtnl_rule_list(r, AF_UNSPEC, WF_RTPROT, &v, n);
	return v;
}

static int rule_own(const void *in, void *out)
{
	struct wf_rule *rule = out;

	if (wf_rtnl_rule_normalize(in, rule) || !rule->table)
		return -EINVAL;
	rule->protocol = WF_RTPROT;
	return 0;
}

static bool rule_equal(const void *a, const void *b)
{
	return wf_rule_equal(a, b);
}

int wf_rtnl_sync_rules(struct wf_rtnl *r, const struct wf_rule *want, size_t n)
{
	static const struct sync_kind rules = {
	    .size = sizeof(struct wf_rule),
	    .new_type = RTM_NEWRULE,
	    .del_type = RTM_DELRULE,
	    .send = rule_send,
	    .list = rules_list,
	    .normalize = rule_own,
	    .equal = rule_equal,
	};

	return sync_entries(r, &rules, want, n);
}

/* A wanted route that collides with one already in its slot replaces it in one step, but
 * only when every route in that slot is ours: a replace takes whichever comes first. */
static int route_replace_own(struct wf_rtnl *r, const void *entry)
{
	const struct wf_route *route = entry;
	struct wf_route *slot = NULL;
	size_t n_slot = 0;
	int err = wf_rtnl_route_list(r, route->family, route->table, 0, &slot, &n_slot);

	for (size_t i = 0; i < n_slot && !err; i++)
		if (wf_rtnl_route_same_slot(route, &slot[i]) && slot[i].protocol != WF_RTPROT)
			err = -EEXIST;
	free(slot);
	return err ? err : route_send(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route);
}

static void *routes_list(struct wf_rtnl *r, size_t *n, int *err)
{
	struct wf_route *v = NULL;

	*err = wf_rtnl_route_list(r, AF_UNSPEC, 0, WF_RTPROT, &v, n);
	return v;
}

static int route_own(const void *in, void *out)
{
	struct wf_route *route = out;

	if (wf_rtnl_route_normalize(in, route))
		return -EINVAL;
	route->protocol = WF_RTPROT;
	return 0;
}

static bool route_equal(const void *a, const void *b)
{
	return wf_route_equal(a, b);
}

static bool route_same_slot(const void *a, const void *b)
{
	return wf_rtnl_route_same_slot(a, b);
}

int wf_rtnl_sync_routes(struct wf_rtnl *r, const struct wf_route *want, size_t n)
{
	static const struct sync_kind routes = {
	    .size = sizeof(struct wf_route),
	    .new_type = RTM_NEWROUTE,
	    .del_type = RTM_DELROUTE,
	    .send = route_send,
	    .list = routes_list,
	    .normalize = route_own,
	    .equal = route_equal,
	    .replace = route_replace_own,
	    .same_slot = route_same_slot,
	};

	return sync_entries(r, &routes, want, n);
}

struct link_query {
	uint32_t mtu;
	bool found;
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct link_query *q = data;

	if (mnl_attr_get_type(attr) != IFLA_MTU)
		return MNL_CB_OK;
	if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
		return MNL_CB_ERROR;
	q->mtu = mnl_attr_get_u32(attr);
	q->found = true;
	return MNL_CB_OK;
}

static int link_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct ifinfomsg)))
		return -EBADMSG;
	if (wf_rtnl_parse_attrs(nlh, sizeof(struct ifinfomsg), link_attr_cb, data))
		return -EBADMSG;
	return 0;
}

int wf_rtnl_link_mtu(struct wf_rtnl *r, const char *ifname, uint32_t *mtu)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct link_query q = {0};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int err;

	if (!ifname[0] || !wf_rtnl_ifname_valid(ifname))
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = wf_nl_talk(&r->nl, nlh, link_reply_cb, &q);
	if (err)
		return err;
	if (!q.found)
		return -ENODATA;
	*mtu = q.mtu;
	return 0;
}
