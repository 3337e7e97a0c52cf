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

/* Large enough for any dump message the kernel sends (it sizes them to what we read with). */
#define RTNL_RECV_SIZE 32768
/* Sync re-reads after deleting, because a kernel delete matches the first rule or route that
 * has every attribute named: a less specific extra can take a wanted twin with it. */
#define SYNC_ROUNDS 3
#define DUMP_TRIES  3

struct wf_rtnl {
	struct wf_nl nl;
};

static size_t addr_size(int family)
{
	return family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
}

static unsigned int addr_bits(int family)
{
	return family == AF_INET6 ? 128 : 32;
}

static bool family_supported(int family)
{
	return family == AF_INET || family == AF_INET6;
}

static void addr_mask(int family, union wf_addr *addr, unsigned int prefix_len)
{
	uint8_t *bytes = (uint8_t *)addr;
	size_t size = addr_size(family);

	for (size_t i = 0; i < sizeof(*addr); i++) {
		unsigned int bit = i * 8;
		if (i >= size || bit >= prefix_len)
			bytes[i] = 0;
		else if (prefix_len - bit < 8)
			bytes[i] &= (uint8_t)(0xff << (8 - (prefix_len - bit)));
	}
}

static bool addr_equal(int family, const union wf_addr *a, const union wf_addr *b)
{
	return !memcmp(a, b, addr_size(family));
}

static bool ifname_valid(const char *name)
{
	return strnlen(name, IF_NAMESIZE) < IF_NAMESIZE;
}

/* Canonical form: what the kernel would report back for this entry. */
static int rule_normalize(const struct wf_rule *in, struct wf_rule *out)
{
	memset(out, 0, sizeof(*out));
	if (!family_supported(in->family) || in->src_len > addr_bits(in->family) ||
	    !ifname_valid(in->iifname))
		return -EINVAL;
	out->family = in->family;
	out->priority = in->priority;
	out->table = in->table;
	out->has_fwmark = in->has_fwmark;
	if (in->has_fwmark) {
		out->fwmark = in->fwmark;
		out->fwmask = in->fwmask ? in->fwmask : UINT32_MAX;
	}
	WF_COPY(out->iifname, in->iifname);
	out->src_len = in->src_len;
	out->src = in->src;
	addr_mask(in->family, &out->src, in->src_len);
	out->ipproto = in->ipproto;
	out->dport_lo = in->dport_lo;
	out->dport_hi = in->dport_hi ? in->dport_hi : in->dport_lo;
	if (out->dport_hi < out->dport_lo || (!out->dport_lo && out->dport_hi))
		return -EINVAL;
	out->protocol = in->protocol;
	return 0;
}

static int route_normalize(const struct wf_route *in, struct wf_route *out)
{
	memset(out, 0, sizeof(*out));
	if (!family_supported(in->family) || in->dst_len > addr_bits(in->family) ||
	    !ifname_valid(in->oifname))
		return -EINVAL;
	out->family = in->family;
	out->table = in->table ? in->table : RT_TABLE_MAIN;
	out->dst_len = in->dst_len;
	out->dst = in->dst;
	addr_mask(in->family, &out->dst, in->dst_len);
	out->type = in->type ? in->type : RTN_UNICAST;
	if (out->type == RTN_UNICAST) {
		out->has_gateway = in->has_gateway;
		if (in->has_gateway)
			out->gateway = in->gateway;
		WF_COPY(out->oifname, in->oifname);
	}
	out->metric = in->metric;
	if (in->family == AF_INET6 && !out->metric)
		out->metric = IP6_RT_PRIO_USER;
	out->protocol = in->protocol;
	return 0;
}

bool wf_rule_equal(const struct wf_rule *a, const struct wf_rule *b)
{
	struct wf_rule x, y;

	if (rule_normalize(a, &x) || rule_normalize(b, &y))
		return false;
	return x.family == y.family && x.priority == y.priority && x.table == y.table &&
	       x.has_fwmark == y.has_fwmark && x.fwmark == y.fwmark && x.fwmask == y.fwmask &&
	       !strcmp(x.iifname, y.iifname) && x.src_len == y.src_len &&
	       addr_equal(x.family, &x.src, &y.src) && x.ipproto == y.ipproto &&
	       x.dport_lo == y.dport_lo && x.dport_hi == y.dport_hi && x.protocol == y.protocol;
}

bool wf_route_equal(const struct wf_route *a, const struct wf_route *b)
{
	struct wf_route x, y;

	if (route_normalize(a, &x) || route_normalize(b, &y))
		return false;
	return x.family == y.family && x.table == y.table && x.dst_len == y.dst_len &&
	       addr_equal(x.family, &x.dst, &y.dst) && x.has_gateway == y.has_gateway &&
	       addr_equal(x.family, &x.gateway, &y.gateway) && !strcmp(x.oifname, y.oifname) &&
	       x.type == y.type && x.metric == y.metric && x.protocol == y.protocol;
}

/* The kernel keeps one route per slot unless told to append: two routes in the same slot
 * cannot be added side by side with NLM_F_EXCL. */
static bool route_same_slot(const struct wf_route *a, const struct wf_route *b)
{
	struct wf_route x, y;

	if (route_normalize(a, &x) || route_normalize(b, &y))
		return false;
	return x.family == y.family && x.table == y.table && x.dst_len == y.dst_len &&
	       addr_equal(x.family, &x.dst, &y.dst) && x.metric == y.metric;
}

int wf_rtnl_rule_build(void *buf, size_t size, uint16_t type, uint16_t flags,
                       const struct wf_rule *rule)
{
	struct wf_rule n;
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh;

	if (size < WF_RTNL_MSG_SIZE || (type != RTM_NEWRULE && type != RTM_DELRULE))
		return -EINVAL;
	if (rule_normalize(rule, &n) || !n.table)
		return -EINVAL;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = n.family;
	frh->action = FR_ACT_TO_TBL;
	frh->src_len = n.src_len;
	frh->table = n.table <= 255 ? n.table : RT_TABLE_UNSPEC;

	mnl_attr_put_u32(nlh, FRA_PRIORITY, n.priority);
	if (n.table > 255)
		mnl_attr_put_u32(nlh, FRA_TABLE, n.table);
	if (n.has_fwmark) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, n.fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, n.fwmask);
	}
	if (n.iifname[0])
		mnl_attr_put_strz(nlh, FRA_IIFNAME, n.iifname);
	if (n.src_len)
		mnl_attr_put(nlh, FRA_SRC, addr_size(n.family), &n.src);
	if (n.ipproto)
		mnl_attr_put_u8(nlh, FRA_IP_PROTO, n.ipproto);
	if (n.dport_lo) {
		struct fib_rule_port_range range = {.start = n.dport_lo, .end = n.dport_hi};
		mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof(range), &range);
	}
	mnl_attr_put_u8(nlh, FRA_PROTOCOL, n.protocol ? n.protocol : WF_RTPROT);
	return (int)nlh->nlmsg_len;
}

int wf_rtnl_route_build(void *buf, size_t size, uint16_t type, uint16_t flags,
                        const struct wf_route *route, unsigned int oifindex)
{
	struct wf_route n;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (size < WF_RTNL_MSG_SIZE || (type != RTM_NEWROUTE && type != RTM_DELROUTE))
		return -EINVAL;
	if (route_normalize(route, &n))
		return -EINVAL;
	/* Only a unicast route leads somewhere; a gateway on anything else is a mistake. The
	 * interface name of one is ignored, since IPv6 reports them all on "lo". */
	if (n.type != RTN_UNICAST && (route->has_gateway || oifindex))
		return -EINVAL;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = n.family;
	rtm->rtm_dst_len = n.dst_len;
	rtm->rtm_table = n.table <= 255 ? n.table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = n.protocol ? n.protocol : WF_RTPROT;
	rtm->rtm_type = n.type;
	if (type == RTM_DELROUTE)
		rtm->rtm_scope = RT_SCOPE_NOWHERE;
	else if (n.type == RTN_UNICAST && !n.has_gateway)
		rtm->rtm_scope = RT_SCOPE_LINK;
	else
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;

	if (n.table > 255)
		mnl_attr_put_u32(nlh, RTA_TABLE, n.table);
	if (n.dst_len)
		mnl_attr_put(nlh, RTA_DST, addr_size(n.family), &n.dst);
	if (n.has_gateway)
		mnl_attr_put(nlh, RTA_GATEWAY, addr_size(n.family), &n.gateway);
	if (oifindex)
		mnl_attr_put_u32(nlh, RTA_OIF, oifindex);
	if (n.metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, n.metric);
	return (int)nlh->nlmsg_len;
}

struct attr_table {
	const struct nlattr **tb;
	unsigned int max;
	int family;
};

static int check_nlmsg(const void *msg, size_t len, uint16_t type, size_t extra)
{
	const struct nlmsghdr *nlh = msg;

	if (len < sizeof(*nlh) || nlh->nlmsg_len > len || nlh->nlmsg_len < mnl_nlmsg_size(extra) ||
	    nlh->nlmsg_type != type)
		return -EINVAL;
	return 0;
}

/* Like mnl_attr_parse, but bytes left over that do not make an attribute are an error rather
 * than the silent end of the list, and the message ends at nlmsg_len, not at its alignment
 * (a last message can end unpadded at the end of the buffer). */
static int parse_attrs(const struct nlmsghdr *nlh, size_t offset, mnl_attr_cb_t cb, void *data)
{
	const char *tail = (const char *)nlh + nlh->nlmsg_len;
	const struct nlattr *attr = mnl_nlmsg_get_payload_offset(nlh, offset);

	for (; mnl_attr_ok(attr, tail - (const char *)attr); attr = mnl_attr_next(attr))
		if (cb(attr, data) <= MNL_CB_STOP)
			return -EINVAL;
	if ((const char *)attr < tail)
		return -EINVAL;
	return 0;
}

static int rule_attr_cb(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(attr);
	int err = 0;

	if (mnl_attr_type_valid(attr, t->max) < 0)
		return MNL_CB_OK;
	switch (type) {
	case FRA_PRIORITY:
	case FRA_TABLE:
	case FRA_FWMARK:
	case FRA_FWMASK:
		err = mnl_attr_validate(attr, MNL_TYPE_U32);
		break;
	case FRA_IP_PROTO:
	case FRA_PROTOCOL:
		err = mnl_attr_validate(attr, MNL_TYPE_U8);
		break;
	case FRA_IIFNAME:
		err = mnl_attr_validate(attr, MNL_TYPE_NUL_STRING);
		if (!err && mnl_attr_get_payload_len(attr) > IF_NAMESIZE)
			err = -1;
		break;
	case FRA_SRC:
		err = mnl_attr_validate2(attr, MNL_TYPE_BINARY, addr_size(t->family));
		break;
	case FRA_DPORT_RANGE:
		err = mnl_attr_validate2(attr, MNL_TYPE_BINARY, sizeof(struct fib_rule_port_range));
		break;
	default:
		return MNL_CB_OK;
	}
	if (err < 0)
		return MNL_CB_ERROR;
	t->tb[type] = attr;
	return MNL_CB_OK;
}

/* -EAFNOSUPPORT and -EOPNOTSUPP mark rules outside the model (multicast routing families,
 * actions other than a table lookup); listing skips them. */
int wf_rtnl_rule_parse(const void *msg, size_t len, struct wf_rule *rule)
{
	const struct nlattr *tb[FRA_MAX + 1] = {0};
	const struct nlmsghdr *nlh = msg;
	const struct fib_rule_hdr *frh;
	struct attr_table t = {.tb = tb, .max = FRA_MAX};

	if (check_nlmsg(msg, len, RTM_NEWRULE, sizeof(*frh)))
		return -EINVAL;
	frh = mnl_nlmsg_get_payload(nlh);
	if (!family_supported(frh->family))
		return -EAFNOSUPPORT;
	if (frh->action != FR_ACT_TO_TBL)
		return -EOPNOTSUPP;
	if (frh->src_len > addr_bits(frh->family))
		return -EINVAL;
	t.family = frh->family;
	if (parse_attrs(nlh, sizeof(*frh), rule_attr_cb, &t))
		return -EINVAL;
	if (frh->src_len && !tb[FRA_SRC])
		return -EINVAL;

	memset(rule, 0, sizeof(*rule));
	rule->family = frh->family;
	rule->table = tb[FRA_TABLE] ? mnl_attr_get_u32(tb[FRA_TABLE]) : frh->table;
	if (tb[FRA_PRIORITY])
		rule->priority = mnl_attr_get_u32(tb[FRA_PRIORITY]);
	/* The kernel reports a mark of 0 by its mask alone. */
	if (tb[FRA_FWMARK] || tb[FRA_FWMASK]) {
		rule->has_fwmark = true;
		rule->fwmark = tb[FRA_FWMARK] ? mnl_attr_get_u32(tb[FRA_FWMARK]) : 0;
		rule->fwmask = tb[FRA_FWMASK] ? mnl_attr_get_u32(tb[FRA_FWMASK]) : UINT32_MAX;
	}
	if (tb[FRA_IIFNAME])
		WF_COPY(rule->iifname, mnl_attr_get_str(tb[FRA_IIFNAME]));
	rule->src_len = frh->src_len;
	if (frh->src_len)
		memcpy(&rule->src, mnl_attr_get_payload(tb[FRA_SRC]), addr_size(frh->family));
	if (tb[FRA_IP_PROTO])
		rule->ipproto = mnl_attr_get_u8(tb[FRA_IP_PROTO]);
	if (tb[FRA_DPORT_RANGE]) {
		struct fib_rule_port_range range;
		memcpy(&range, mnl_attr_get_payload(tb[FRA_DPORT_RANGE]), sizeof(range));
		rule->dport_lo = range.start;
		rule->dport_hi = range.end;
	}
	if (tb[FRA_PROTOCOL])
		rule->protocol = mnl_attr_get_u8(tb[FRA_PROTOCOL]);
	return 0;
}

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(attr);
	int err = 0;

	if (mnl_attr_type_valid(attr, t->max) < 0)
		return MNL_CB_OK;
	switch (type) {
	case RTA_TABLE:
	case RTA_OIF:
	case RTA_PRIORITY:
		err = mnl_attr_validate(attr, MNL_TYPE_U32);
		break;
	case RTA_DST:
	case RTA_GATEWAY:
		err = mnl_attr_validate2(attr, MNL_TYPE_BINARY, addr_size(t->family));
		break;
	default:
		return MNL_CB_OK;
	}
	if (err < 0)
		return MNL_CB_ERROR;
	t->tb[type] = attr;
	return MNL_CB_OK;
}

/* -EAFNOSUPPORT marks routes of families outside the model; listing skips them. */
int wf_rtnl_route_parse(const void *msg, size_t len, struct wf_route *route, unsigned int *oifindex)
{
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	const struct nlmsghdr *nlh = msg;
	const struct rtmsg *rtm;
	struct attr_table t = {.tb = tb, .max = RTA_MAX};

	if (check_nlmsg(msg, len, RTM_NEWROUTE, sizeof(*rtm)))
		return -EINVAL;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (!family_supported(rtm->rtm_family))
		return -EAFNOSUPPORT;
	if (rtm->rtm_dst_len > addr_bits(rtm->rtm_family))
		return -EINVAL;
	t.family = rtm->rtm_family;
	if (parse_attrs(nlh, sizeof(*rtm), route_attr_cb, &t))
		return -EINVAL;
	if (rtm->rtm_dst_len && !tb[RTA_DST])
		return -EINVAL;

	memset(route, 0, sizeof(*route));
	route->family = rtm->rtm_family;
	route->table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	route->dst_len = rtm->rtm_dst_len;
	if (rtm->rtm_dst_len)
		memcpy(&route->dst, mnl_attr_get_payload(tb[RTA_DST]), addr_size(route->family));
	if (tb[RTA_GATEWAY]) {
		route->has_gateway = true;
		memcpy(&route->gateway, mnl_attr_get_payload(tb[RTA_GATEWAY]),
		       addr_size(route->family));
	}
	route->type = rtm->rtm_type;
	if (tb[RTA_PRIORITY])
		route->metric = mnl_attr_get_u32(tb[RTA_PRIORITY]);
	route->protocol = rtm->rtm_protocol;
	*oifindex = tb[RTA_OIF] ? mnl_attr_get_u32(tb[RTA_OIF]) : 0;
	return 0;
}

int wf_rtnl_open(struct wf_rtnl **out)
{
	struct wf_rtnl *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	err = wf_nl_open(&r->nl, NETLINK_ROUTE, RTNL_RECV_SIZE);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void wf_rtnl_close(struct wf_rtnl *r)
{
	if (!r)
		return;
	wf_nl_close(&r->nl);
	free(r);
}

static int rule_send(struct wf_rtnl *r, uint16_t type, uint16_t flags, const struct wf_rule *rule)
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

static int route_send(struct wf_rtnl *r, uint16_t type, uint16_t flags,
                      const struct wf_route *route)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	unsigned int oifindex = 0;
	int len, err;

	if (route->oifname[0] && (!route->type || route->type == RTN_UNICAST)) {
		if (!ifname_valid(route->oifname))
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

	if (family != AF_UNSPEC && !family_supported(family))
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

static bool rule_in(const struct wf_rule *rule, const struct wf_rule *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (wf_rule_equal(rule, &set[i]))
			return true;
	return false;
}

static bool route_in(const struct wf_route *route, const struct wf_route *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (wf_route_equal(route, &set[i]))
			return true;
	return false;
}

static void keep_first_error(int *first, int err)
{
	if (err < 0 && !*first)
		*first = err;
}

int wf_rtnl_sync_rules(struct wf_rtnl *r, const struct wf_rule *want, size_t n)
{
	struct wf_rule *ours = NULL, *have = NULL;
	size_t n_have = 0;
	int changes = 0, first_err = 0, err;

	ours = calloc(n ? n : 1, sizeof(*ours));
	if (!ours)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (rule_normalize(&want[i], &ours[i]) || !ours[i].table) {
			err = -EINVAL;
			goto out;
		}
		ours[i].protocol = WF_RTPROT;
	}

	for (int round = 0; round < SYNC_ROUNDS; round++) {
		bool deleted = false;

		err = wf_rtnl_rule_list(r, AF_UNSPEC, WF_RTPROT, &have, &n_have);
		if (err)
			goto out;
		for (size_t i = 0; i < n; i++) {
			if (rule_in(&ours[i], have, n_have) || rule_in(&ours[i], ours, i))
				continue;
			err = wf_rtnl_rule_add(r, &ours[i]);
			if (!err)
				changes++;
			else if (err != -EEXIST)
				keep_first_error(&first_err, err);
		}
		for (size_t i = 0; i < n_have; i++) {
			if (rule_in(&have[i], ours, n))
				continue;
			err = wf_rtnl_rule_del(r, &have[i]);
			if (!err) {
				changes++;
				deleted = true;
			} else if (err != -ENOENT) {
				keep_first_error(&first_err, err);
			}
		}
		free(have);
		have = NULL;
		if (!deleted || first_err)
			break;
	}
	err = first_err ? first_err : changes;
out:
	free(ours);
	return err;
}

/* A wanted route that collides with one already in its slot replaces it in one step, but
 * only when every route in that slot is ours: a replace takes whichever comes first. */
static int route_replace_own(struct wf_rtnl *r, const struct wf_route *route)
{
	struct wf_route *slot_routes = NULL;
	size_t n_slot = 0;
	int err;

	err = wf_rtnl_route_list(r, route->family, route->table, 0, &slot_routes, &n_slot);
	if (err)
		return err;
	for (size_t i = 0; i < n_slot; i++) {
		if (route_same_slot(route, &slot_routes[i]) &&
		    slot_routes[i].protocol != WF_RTPROT) {
			free(slot_routes);
			return -EEXIST;
		}
	}
	free(slot_routes);
	return route_send(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route);
}

static bool slot_replaced(const struct wf_route *route, const struct wf_route *ours,
                          const bool *replaced, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (replaced[i] && route_same_slot(route, &ours[i]))
			return true;
	return false;
}

int wf_rtnl_sync_routes(struct wf_rtnl *r, const struct wf_route *want, size_t n)
{
	struct wf_route *ours = NULL, *have = NULL;
	bool *replaced = NULL;
	size_t n_have = 0;
	int changes = 0, first_err = 0, err;

	ours = calloc(n ? n : 1, sizeof(*ours));
	replaced = calloc(n ? n : 1, sizeof(*replaced));
	if (!ours || !replaced) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (route_normalize(&want[i], &ours[i])) {
			err = -EINVAL;
			goto out;
		}
		ours[i].protocol = WF_RTPROT;
	}

	for (int round = 0; round < SYNC_ROUNDS; round++) {
		bool recheck = false;

		err = wf_rtnl_route_list(r, AF_UNSPEC, 0, WF_RTPROT, &have, &n_have);
		if (err)
			goto out;
		for (size_t i = 0; i < n; i++) {
			replaced[i] = false;
			if (route_in(&ours[i], have, n_have) || route_in(&ours[i], ours, i))
				continue;
			err = wf_rtnl_route_add(r, &ours[i]);
			if (err == -EEXIST) {
				err = route_replace_own(r, &ours[i]);
				replaced[i] = !err;
			}
			if (!err)
				changes++;
			keep_first_error(&first_err, err);
		}
		for (size_t i = 0; i < n_have; i++) {
			if (route_in(&have[i], ours, n))
				continue;
			/* What a replace took is gone, and a delete naming no gateway would match
			 * the route that took its place. Re-reading shows whether anything of ours
			 * is still left in that slot. */
			if (slot_replaced(&have[i], ours, replaced, n)) {
				recheck = true;
				continue;
			}
			err = wf_rtnl_route_del(r, &have[i]);
			if (!err) {
				changes++;
				recheck = true;
			} else if (err != -ENOENT) {
				keep_first_error(&first_err, err);
			}
		}
		free(have);
		have = NULL;
		if (!recheck || first_err)
			break;
	}
	err = first_err ? first_err : changes;
out:
	free(replaced);
	free(ours);
	return err;
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
	if (parse_attrs(nlh, sizeof(struct ifinfomsg), link_attr_cb, data))
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

	if (!ifname[0] || !ifname_valid(ifname))
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
