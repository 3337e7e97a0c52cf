/* rtnetlink messages without the kernel: rules and routes normalized and compared, built into
 * the requests rtnl.c sends and parsed back from what the kernel dumps. Pure. */
#include <wgfwd/rtnl.h>

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/ipv6_route.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/util.h>

#include "rtnl_internal.h"

static size_t addr_size(int family)
{
	return family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
}

static unsigned int addr_bits(int family)
{
	return family == AF_INET6 ? 128 : 32;
}

bool wf_rtnl_family_supported(int family)
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

bool wf_rtnl_ifname_valid(const char *name)
{
	return strnlen(name, IF_NAMESIZE) < IF_NAMESIZE;
}

/* Canonical form: what the kernel would report back for this entry. */
int wf_rtnl_rule_normalize(const struct wf_rule *in, struct wf_rule *out)
{
	memset(out, 0, sizeof(*out));
	if (!wf_rtnl_family_supported(in->family) || in->src_len > addr_bits(in->family) ||
	    !wf_rtnl_ifname_valid(in->iifname))
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

int wf_rtnl_route_normalize(const struct wf_route *in, struct wf_route *out)
{
	memset(out, 0, sizeof(*out));
	if (!wf_rtnl_family_supported(in->family) || in->dst_len > addr_bits(in->family) ||
	    !wf_rtnl_ifname_valid(in->oifname))
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

	if (wf_rtnl_rule_normalize(a, &x) || wf_rtnl_rule_normalize(b, &y))
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

	if (wf_rtnl_route_normalize(a, &x) || wf_rtnl_route_normalize(b, &y))
		return false;
	return x.family == y.family && x.table == y.table && x.dst_len == y.dst_len &&
	       addr_equal(x.family, &x.dst, &y.dst) && x.has_gateway == y.has_gateway &&
	       addr_equal(x.family, &x.gateway, &y.gateway) && !strcmp(x.oifname, y.oifname) &&
	       x.type == y.type && x.metric == y.metric && x.protocol == y.protocol;
}

/* The kernel keeps one route per slot unless told to append: two routes in the same slot
 * cannot be added side by side with NLM_F_EXCL. */
bool wf_rtnl_route_same_slot(const struct wf_route *a, const struct wf_route *b)
{
	struct wf_route x, y;

	if (wf_rtnl_route_normalize(a, &x) || wf_rtnl_route_normalize(b, &y))
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
	if (wf_rtnl_rule_normalize(rule, &n) || !n.table)
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
	if (wf_rtnl_route_normalize(route, &n))
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

/* How each attribute a parser keeps is checked; the others are skipped. */
enum attr_kind { A_SKIP, A_U8, A_U32, A_IFNAME, A_ADDR, A_PORT_RANGE };

static const uint8_t rule_attrs[FRA_MAX + 1] = {
    [FRA_PRIORITY] = A_U32,   [FRA_TABLE] = A_U32,   [FRA_FWMARK] = A_U32,
    [FRA_FWMASK] = A_U32,     [FRA_IP_PROTO] = A_U8, [FRA_PROTOCOL] = A_U8,
    [FRA_IIFNAME] = A_IFNAME, [FRA_SRC] = A_ADDR,    [FRA_DPORT_RANGE] = A_PORT_RANGE,
};

static const uint8_t route_attrs[RTA_MAX + 1] = {
    [RTA_TABLE] = A_U32, [RTA_OIF] = A_U32,      [RTA_PRIORITY] = A_U32,
    [RTA_DST] = A_ADDR,  [RTA_GATEWAY] = A_ADDR,
};

struct attr_table {
	const struct nlattr **tb;
	unsigned int max;
	const uint8_t *kinds;
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
int wf_rtnl_parse_attrs(const struct nlmsghdr *nlh, size_t offset, mnl_attr_cb_t cb, void *data)
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

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(attr);
	int err;

	if (mnl_attr_type_valid(attr, t->max) < 0)
		return MNL_CB_OK;
	switch (t->kinds[type]) {
	case A_U8:
		err = mnl_attr_validate(attr, MNL_TYPE_U8);
		break;
	case A_U32:
		err = mnl_attr_validate(attr, MNL_TYPE_U32);
		break;
	case A_IFNAME:
		err = mnl_attr_validate(attr, MNL_TYPE_NUL_STRING);
		if (!err && mnl_attr_get_payload_len(attr) > IF_NAMESIZE)
			err = -1;
		break;
	case A_ADDR:
		err = mnl_attr_validate2(attr, MNL_TYPE_BINARY, addr_size(t->family));
		break;
	case A_PORT_RANGE:
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
	struct attr_table t = {.tb = tb, .max = FRA_MAX, .kinds = rule_attrs};

	if (check_nlmsg(msg, len, RTM_NEWRULE, sizeof(*frh)))
		return -EINVAL;
	frh = mnl_nlmsg_get_payload(nlh);
	if (!wf_rtnl_family_supported(frh->family))
		return -EAFNOSUPPORT;
	if (frh->action != FR_ACT_TO_TBL)
		return -EOPNOTSUPP;
	if (frh->src_len > addr_bits(frh->family))
		return -EINVAL;
	t.family = frh->family;
	if (wf_rtnl_parse_attrs(nlh, sizeof(*frh), attr_cb, &t))
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

/* -EAFNOSUPPORT marks routes of families outside the model; listing skips them. */
int wf_rtnl_route_parse(const void *msg, size_t len, struct wf_route *route, unsigned int *oifindex)
{
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	const struct nlmsghdr *nlh = msg;
	const struct rtmsg *rtm;
	struct attr_table t = {.tb = tb, .max = RTA_MAX, .kinds = route_attrs};

	if (check_nlmsg(msg, len, RTM_NEWROUTE, sizeof(*rtm)))
		return -EINVAL;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (!wf_rtnl_family_supported(rtm->rtm_family))
		return -EAFNOSUPPORT;
	if (rtm->rtm_dst_len > addr_bits(rtm->rtm_family))
		return -EINVAL;
	t.family = rtm->rtm_family;
	if (wf_rtnl_parse_attrs(nlh, sizeof(*rtm), attr_cb, &t))
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
