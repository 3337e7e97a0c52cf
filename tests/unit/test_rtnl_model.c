/* rtnetlink messages without a kernel: what goes into a request, what comes out of a reply,
 * and when two entries are the same. */
#include <wgfwd/rtnl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

static union wf_addr addr(int family, const char *text)
{
	union wf_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(inet_pton(family, text, &a), 1);
	return a;
}

struct attrs {
	const struct nlattr *tb[64];
};

static int collect_attr(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;

	if (mnl_attr_get_type(attr) < 64)
		a->tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static void collect(const void *buf, size_t extra, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	assert_true(mnl_attr_parse(buf, extra, collect_attr, a) >= 0);
}

static struct wf_rule egress_rule(void)
{
	struct wf_rule rule = {.family = AF_INET,
	                       .priority = 101,
	                       .table = 200,
	                       .iifname = "br-x",
	                       .src_len = 32,
	                       .ipproto = IPPROTO_TCP,
	                       .dport_lo = 25,
	                       .dport_hi = 25,
	                       .protocol = WF_RTPROT};

	rule.src = addr(AF_INET, "172.18.0.2");
	return rule;
}

static void test_rule_request_carries_every_selector(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule rule = egress_rule();
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct fib_rule_hdr *frh;
	struct fib_rule_port_range range;
	struct attrs a;

	assert_true(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, NLM_F_CREATE, &rule) > 0);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWRULE);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE);
	frh = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(frh->family, AF_INET);
	assert_int_equal(frh->action, FR_ACT_TO_TBL);
	assert_int_equal(frh->table, 200);
	assert_int_equal(frh->src_len, 32);
	collect(buf, sizeof(*frh), &a);
	assert_int_equal(mnl_attr_get_u32(a.tb[FRA_PRIORITY]), 101);
	assert_null(a.tb[FRA_TABLE]);
	assert_string_equal(mnl_attr_get_str(a.tb[FRA_IIFNAME]), "br-x");
	assert_memory_equal(mnl_attr_get_payload(a.tb[FRA_SRC]), &rule.src.ip4, 4);
	assert_int_equal(mnl_attr_get_u8(a.tb[FRA_IP_PROTO]), IPPROTO_TCP);
	assert_int_equal(mnl_attr_get_payload_len(a.tb[FRA_DPORT_RANGE]), sizeof(range));
	memcpy(&range, mnl_attr_get_payload(a.tb[FRA_DPORT_RANGE]), sizeof(range));
	/* Host byte order, unlike almost everything else on the wire. */
	assert_int_equal(range.start, 25);
	assert_int_equal(range.end, 25);
	assert_int_equal(mnl_attr_get_u8(a.tb[FRA_PROTOCOL]), WF_RTPROT);
	assert_null(a.tb[FRA_FWMARK]);
}

static void test_rule_table_above_255_goes_in_its_own_attribute(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule rule = {.family = AF_INET6, .priority = 5, .table = 1000};
	const struct fib_rule_hdr *frh;
	struct attrs a;

	assert_true(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &rule) > 0);
	frh = mnl_nlmsg_get_payload((const void *)buf);
	assert_int_equal(frh->table, RT_TABLE_UNSPEC);
	collect(buf, sizeof(*frh), &a);
	assert_int_equal(mnl_attr_get_u32(a.tb[FRA_TABLE]), 1000);
}

static void test_rule_without_owner_is_sent_as_ours(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule rule = {.family = AF_INET, .priority = 5, .table = 200};
	struct attrs a;

	assert_true(wf_rtnl_rule_build(buf, sizeof(buf), RTM_DELRULE, 0, &rule) > 0);
	collect(buf, sizeof(struct fib_rule_hdr), &a);
	assert_int_equal(mnl_attr_get_u8(a.tb[FRA_PROTOCOL]), WF_RTPROT);
}

static void test_rule_fwmark_without_mask_is_sent_with_full_mask(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule rule = {
	    .family = AF_INET, .priority = 5, .table = 200, .has_fwmark = true, .fwmark = 0x10};
	struct attrs a;

	assert_true(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &rule) > 0);
	collect(buf, sizeof(struct fib_rule_hdr), &a);
	assert_int_equal(mnl_attr_get_u32(a.tb[FRA_FWMARK]), 0x10);
	assert_int_equal(mnl_attr_get_u32(a.tb[FRA_FWMASK]), 0xffffffff);
}

/* The kernel answers a dump with RTM_NEWRULE messages shaped like our requests. */
static void roundtrip_rule(const struct wf_rule *rule)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule back;
	int len;

	len = wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, rule);
	assert_true(len > 0);
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), 0);
	assert_true(wf_rule_equal(rule, &back));
}

static void test_rules_read_back_as_built(void **state)
{
	struct wf_rule rule = egress_rule();
	struct wf_rule v6 = {.family = AF_INET6,
	                     .priority = 7,
	                     .table = 70000,
	                     .src_len = 64,
	                     .ipproto = IPPROTO_UDP,
	                     .dport_lo = 1000,
	                     .dport_hi = 2000,
	                     .protocol = 42};
	struct wf_rule mark = {.family = AF_INET,
	                       .priority = 1,
	                       .table = 255,
	                       .has_fwmark = true,
	                       .fwmark = 0,
	                       .fwmask = 0xff00,
	                       .protocol = WF_RTPROT};

	v6.src = addr(AF_INET6, "fd00:18::");
	roundtrip_rule(&rule);
	roundtrip_rule(&v6);
	roundtrip_rule(&mark);
}

static void test_rule_equality_follows_kernel_defaults(void **state)
{
	struct wf_rule a = egress_rule(), b = egress_rule();

	b.dport_hi = 0;
	assert_true(wf_rule_equal(&a, &b));
	b = a;
	b.src = addr(AF_INET, "172.18.0.2");
	a.src_len = b.src_len = 24;
	a.src = addr(AF_INET, "172.18.0.99");
	assert_true(wf_rule_equal(&a, &b));

	a = egress_rule();
	a.has_fwmark = b.has_fwmark = true;
	a.fwmark = b.fwmark = 1;
	a.fwmask = 0;
	b.fwmask = 0xffffffff;
	b.src_len = 32;
	b.src = a.src;
	assert_true(wf_rule_equal(&a, &b));
}

static void test_rules_differing_in_any_selector_or_owner_differ(void **state)
{
	struct wf_rule a = egress_rule(), b;

	b = a;
	b.protocol = RTPROT_STATIC;
	assert_false(wf_rule_equal(&a, &b));
	b = a;
	strcpy(b.iifname, "br-y");
	assert_false(wf_rule_equal(&a, &b));
	b = a;
	b.dport_hi = 26;
	assert_false(wf_rule_equal(&a, &b));
	b = a;
	b.table = 201;
	assert_false(wf_rule_equal(&a, &b));
	b = a;
	b.family = AF_INET6;
	assert_false(wf_rule_equal(&a, &b));
	b = a;
	b.has_fwmark = true;
	assert_false(wf_rule_equal(&a, &b));
}

static void test_rule_that_cannot_be_expressed_is_refused(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule bad;

	bad = egress_rule();
	bad.family = AF_UNIX;
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad), -EINVAL);
	bad = egress_rule();
	bad.src_len = 33;
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad), -EINVAL);
	bad = egress_rule();
	bad.table = 0;
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad), -EINVAL);
	bad = egress_rule();
	bad.dport_lo = 30;
	bad.dport_hi = 20;
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad), -EINVAL);
	bad = egress_rule();
	bad.dport_lo = 0;
	bad.dport_hi = 20;
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad), -EINVAL);
	bad = egress_rule();
	memset(bad.iifname, 'x', sizeof(bad.iifname));
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad), -EINVAL);
	bad = egress_rule();
	assert_int_equal(wf_rtnl_rule_build(buf, 64, RTM_NEWRULE, 0, &bad), -EINVAL);
	assert_int_equal(wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &bad), -EINVAL);
}

static int built_rule(char *buf, const struct wf_rule *rule)
{
	int len = wf_rtnl_rule_build(buf, WF_RTNL_MSG_SIZE, RTM_NEWRULE, 0, rule);

	assert_true(len > 0);
	return len;
}

static void test_rule_reply_that_is_malformed_is_refused(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule rule = egress_rule(), back;
	struct nlmsghdr *nlh = (void *)buf;
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
	struct nlattr *attr;
	int len;

	len = built_rule(buf, &rule);
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len - 1, &back), -EINVAL);
	assert_int_equal(wf_rtnl_rule_parse(buf, 8, &back), -EINVAL);

	nlh->nlmsg_type = RTM_DELRULE;
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EINVAL);

	len = built_rule(buf, &rule);
	frh->src_len = 40;
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EINVAL);

	/* A source address of the wrong size. */
	len = built_rule(buf, &rule);
	mnl_attr_for_each(attr, nlh, sizeof(*frh))
	{
		if (mnl_attr_get_type(attr) == FRA_SRC)
			attr->nla_len = MNL_ATTR_HDRLEN + 3;
	}
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EINVAL);

	/* A prefix length with no address behind it. */
	rule.src_len = 0;
	len = built_rule(buf, &rule);
	frh->src_len = 24;
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EINVAL);

	/* An attribute running past the end of the message. */
	len = built_rule(buf, &rule);
	attr = mnl_nlmsg_get_payload_offset(nlh, sizeof(*frh));
	attr->nla_len = 200;
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EINVAL);
}

static void test_rule_reply_outside_the_model_is_marked_so(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_rule rule = egress_rule(), back;
	struct fib_rule_hdr *frh = mnl_nlmsg_get_payload((void *)buf);
	int len;

	len = built_rule(buf, &rule);
	frh->family = RTNL_FAMILY_IPMR;
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EAFNOSUPPORT);
	len = built_rule(buf, &rule);
	frh->action = FR_ACT_BLACKHOLE;
	assert_int_equal(wf_rtnl_rule_parse(buf, (size_t)len, &back), -EOPNOTSUPP);
}

/* Routes */

static struct wf_route default_via(int family, const char *gateway)
{
	struct wf_route rt = {.family = family,
	                      .table = 200,
	                      .has_gateway = true,
	                      .oifname = "wg0",
	                      .type = RTN_UNICAST,
	                      .protocol = WF_RTPROT};

	rt.gateway = addr(family, gateway);
	return rt;
}

static void test_route_request_carries_gateway_interface_and_table(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_route rt = default_via(AF_INET6, "fd00::1");
	const struct rtmsg *rtm = mnl_nlmsg_get_payload((const void *)buf);
	struct attrs a;

	rt.table = 1000;
	assert_true(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
	                                &rt, 7) > 0);
	assert_int_equal(rtm->rtm_family, AF_INET6);
	assert_int_equal(rtm->rtm_table, RT_TABLE_UNSPEC);
	assert_int_equal(rtm->rtm_protocol, WF_RTPROT);
	assert_int_equal(rtm->rtm_type, RTN_UNICAST);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
	assert_int_equal(rtm->rtm_dst_len, 0);
	collect(buf, sizeof(*rtm), &a);
	assert_int_equal(mnl_attr_get_u32(a.tb[RTA_TABLE]), 1000);
	assert_int_equal(mnl_attr_get_u32(a.tb[RTA_OIF]), 7);
	assert_memory_equal(mnl_attr_get_payload(a.tb[RTA_GATEWAY]), &rt.gateway.ip6, 16);
	assert_null(a.tb[RTA_DST]);
	/* IPv6 stores metric 0 as 1024: say so, or the route would not read back equal. */
	assert_int_equal(mnl_attr_get_u32(a.tb[RTA_PRIORITY]), 1024);
}

static void test_route_to_a_device_is_link_scoped_and_deletes_match_any_scope(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_route rt = {.family = AF_INET, .table = 254, .dst_len = 24, .metric = 5};
	const struct rtmsg *rtm = mnl_nlmsg_get_payload((const void *)buf);
	struct attrs a;

	rt.dst = addr(AF_INET, "10.1.2.0");
	assert_true(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &rt, 3) > 0);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_LINK);
	assert_int_equal(rtm->rtm_table, 254);
	assert_int_equal(rtm->rtm_type, RTN_UNICAST);
	assert_int_equal(rtm->rtm_dst_len, 24);
	collect(buf, sizeof(*rtm), &a);
	assert_memory_equal(mnl_attr_get_payload(a.tb[RTA_DST]), &rt.dst.ip4, 4);
	assert_int_equal(mnl_attr_get_u32(a.tb[RTA_PRIORITY]), 5);
	assert_null(a.tb[RTA_TABLE]);
	assert_true(wf_rtnl_route_build(buf, sizeof(buf), RTM_DELROUTE, 0, &rt, 3) > 0);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_NOWHERE);
}

static void test_routes_read_back_as_built(void **state)
{
	struct wf_route routes[3] = {
	    default_via(AF_INET, "192.168.160.1"),
	    {.family = AF_INET6, .table = 201, .type = RTN_UNREACHABLE, .protocol = 9},
	    {.family = AF_INET,
	     .table = 254,
	     .dst_len = 20,
	     .oifname = "wg0",
	     .metric = 77,
	     .protocol = WF_RTPROT},
	};

	routes[2].dst = addr(AF_INET, "10.16.0.0");
	for (size_t i = 0; i < 3; i++) {
		char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4)));
		struct wf_route back;
		unsigned int oifindex = 0;
		int len;

		len = wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &routes[i],
		                          routes[i].oifname[0] ? 12 : 0);
		assert_true(len > 0);
		assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len, &back, &oifindex), 0);
		assert_int_equal(oifindex, routes[i].oifname[0] ? 12 : 0);
		strcpy(back.oifname, routes[i].oifname);
		assert_true(wf_route_equal(&routes[i], &back));
	}
}

static void test_route_equality_follows_kernel_defaults(void **state)
{
	struct wf_route a = {.family = AF_INET6, .table = 201, .type = RTN_UNREACHABLE};
	struct wf_route b = a;

	/* How the kernel reports an IPv6 unreachable route added with no metric. */
	b.metric = 1024;
	strcpy(b.oifname, "lo");
	assert_true(wf_route_equal(&a, &b));

	a = (struct wf_route){.family = AF_INET, .dst_len = 8, .oifname = "eth0"};
	a.dst = addr(AF_INET, "10.1.2.3");
	b = a;
	b.table = RT_TABLE_MAIN;
	b.type = RTN_UNICAST;
	b.dst = addr(AF_INET, "10.0.0.0");
	assert_true(wf_route_equal(&a, &b));
	/* IPv4 keeps metric 0 as it is. */
	b.metric = 1024;
	assert_false(wf_route_equal(&a, &b));
}

static void test_routes_differing_in_destination_path_or_owner_differ(void **state)
{
	struct wf_route a = default_via(AF_INET, "10.0.0.1"), b;

	b = a;
	b.gateway = addr(AF_INET, "10.0.0.2");
	assert_false(wf_route_equal(&a, &b));
	b = a;
	strcpy(b.oifname, "wg1");
	assert_false(wf_route_equal(&a, &b));
	b = a;
	b.protocol = RTPROT_STATIC;
	assert_false(wf_route_equal(&a, &b));
	b = a;
	b.dst_len = 1;
	assert_false(wf_route_equal(&a, &b));
	b = a;
	b.type = RTN_BLACKHOLE;
	b.has_gateway = false;
	assert_false(wf_route_equal(&a, &b));
	b = a;
	b.table = 201;
	assert_false(wf_route_equal(&a, &b));
}

static void test_route_that_cannot_be_expressed_is_refused(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_route bad;

	bad = default_via(AF_INET, "10.0.0.1");
	bad.type = RTN_UNREACHABLE;
	assert_int_equal(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &bad, 0), -EINVAL);
	bad = (struct wf_route){.family = AF_INET6, .type = RTN_BLACKHOLE};
	assert_int_equal(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &bad, 4), -EINVAL);
	bad = default_via(AF_INET6, "fd00::1");
	bad.dst_len = 129;
	assert_int_equal(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &bad, 0), -EINVAL);
	bad = default_via(AF_INET, "10.0.0.1");
	bad.family = AF_PACKET;
	assert_int_equal(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &bad, 0), -EINVAL);
	bad = default_via(AF_INET, "10.0.0.1");
	assert_int_equal(wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWRULE, 0, &bad, 0), -EINVAL);
}

static void test_route_reply_that_is_malformed_is_refused(void **state)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4))) = {0};
	struct wf_route rt = default_via(AF_INET, "10.0.0.1"), back;
	struct nlmsghdr *nlh = (void *)buf;
	struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	unsigned int oifindex;
	struct nlattr *attr;
	int len;

	len = wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &rt, 2);
	assert_true(len > 0);
	assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len - 4, &back, &oifindex), -EINVAL);
	rtm->rtm_dst_len = 8;
	assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len, &back, &oifindex), -EINVAL);
	rtm->rtm_dst_len = 33;
	assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len, &back, &oifindex), -EINVAL);
	rtm->rtm_dst_len = 0;
	mnl_attr_for_each(attr, nlh, sizeof(*rtm))
	{
		if (mnl_attr_get_type(attr) == RTA_OIF)
			attr->nla_len = MNL_ATTR_HDRLEN + 2;
	}
	assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len, &back, &oifindex), -EINVAL);

	/* A message that ends inside its last attribute, short of the padding. */
	len = wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &rt, 2);
	nlh->nlmsg_len = (uint32_t)len - 3;
	assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len - 3, &back, &oifindex), -EINVAL);

	len = wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &rt, 2);
	rtm->rtm_family = AF_MPLS;
	assert_int_equal(wf_rtnl_route_parse(buf, (size_t)len, &back, &oifindex), -EAFNOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_request_carries_every_selector),
	    cmocka_unit_test(test_rule_table_above_255_goes_in_its_own_attribute),
	    cmocka_unit_test(test_rule_without_owner_is_sent_as_ours),
	    cmocka_unit_test(test_rule_fwmark_without_mask_is_sent_with_full_mask),
	    cmocka_unit_test(test_rules_read_back_as_built),
	    cmocka_unit_test(test_rule_equality_follows_kernel_defaults),
	    cmocka_unit_test(test_rules_differing_in_any_selector_or_owner_differ),
	    cmocka_unit_test(test_rule_that_cannot_be_expressed_is_refused),
	    cmocka_unit_test(test_rule_reply_that_is_malformed_is_refused),
	    cmocka_unit_test(test_rule_reply_outside_the_model_is_marked_so),
	    cmocka_unit_test(test_route_request_carries_gateway_interface_and_table),
	    cmocka_unit_test(test_route_to_a_device_is_link_scoped_and_deletes_match_any_scope),
	    cmocka_unit_test(test_routes_read_back_as_built),
	    cmocka_unit_test(test_route_equality_follows_kernel_defaults),
	    cmocka_unit_test(test_routes_differing_in_destination_path_or_owner_differ),
	    cmocka_unit_test(test_route_that_cannot_be_expressed_is_refused),
	    cmocka_unit_test(test_route_reply_that_is_malformed_is_refused),
	};

	return cmocka_run_group_tests_name("rtnl_model", tests, NULL, NULL);
}
