/* ctnetlink messages without a kernel: what a dump request and a delete carry, what an entry
 * message reads as, which entries a forward's match selects, and the one dump many matches
 * make. */
#include <wgfwd/conntrack.h>
#include <wgfwd/ct_stale.h>
#include <wgfwd/metrics.h>

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define CT_NEW    ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)
#define CT_GET    ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET)
#define CT_DELETE ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE)

static union wf_addr addr(int family, const char *text)
{
	union wf_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(inet_pton(family, text, &a), 1);
	return a;
}

/* A UDP flow from a client to the server's tunnel address, DNAT'd to a container. */
static struct wf_ct_entry dnat_entry(void)
{
	struct wf_ct_entry e = {.family = AF_INET, .l4proto = IPPROTO_UDP};

	e.orig.src = addr(AF_INET, "203.0.113.10");
	e.orig.dst = addr(AF_INET, "192.168.160.2");
	e.orig.sport = 40053;
	e.orig.dport = 5353;
	e.reply.src = addr(AF_INET, "172.17.0.5");
	e.reply.dst = addr(AF_INET, "203.0.113.10");
	e.reply.sport = 5353;
	e.reply.dport = 40053;
	e.status = IPS_CONFIRMED | IPS_DST_NAT | IPS_DST_NAT_DONE | IPS_SRC_NAT_DONE;
	e.mark = 0x77660001;
	e.has_id = true;
	e.id = 0xdeadbeef;
	return e;
}

/* ---- messages shaped as the kernel writes them ---- */

struct msg {
	char buf[1024] __attribute__((aligned(4)));
	struct nlmsghdr *nlh;
};

static void msg_begin(struct msg *m, uint16_t type, uint8_t family)
{
	struct nfgenmsg *nfg;

	memset(m->buf, 0, sizeof(m->buf));
	m->nlh = mnl_nlmsg_put_header(m->buf);
	m->nlh->nlmsg_type = type;
	m->nlh->nlmsg_flags = NLM_F_MULTI;
	nfg = mnl_nlmsg_put_extra_header(m->nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
}

/* The kernel flags its nests; the parser must not care either way. */
static struct nlattr *nest_start(struct msg *m, uint16_t type)
{
	struct nlattr *nest = mnl_attr_nest_start(m->nlh, type);

	nest->nla_type |= NLA_F_NESTED;
	return nest;
}

static void put_tuple(struct msg *m, uint16_t type, int family, uint8_t proto,
                      const struct wf_ct_tuple *t)
{
	bool v6 = family == AF_INET6;
	size_t size = v6 ? 16 : 4;
	struct nlattr *tuple = nest_start(m, type), *nest;

	nest = nest_start(m, CTA_TUPLE_IP);
	mnl_attr_put(m->nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, size, &t->src);
	mnl_attr_put(m->nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, size, &t->dst);
	mnl_attr_nest_end(m->nlh, nest);
	nest = nest_start(m, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(m->nlh, CTA_PROTO_NUM, proto);
	mnl_attr_put_u16(m->nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
	mnl_attr_put_u16(m->nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	mnl_attr_nest_end(m->nlh, nest);
	mnl_attr_nest_end(m->nlh, tuple);
}

/* What a dump answer holds, in the kernel's order, with attributes the model ignores. */
static void kernel_entry(struct msg *m, const struct wf_ct_entry *e)
{
	struct nlattr *nest;

	msg_begin(m, CT_NEW, e->family);
	put_tuple(m, CTA_TUPLE_ORIG, e->family, e->l4proto, &e->orig);
	put_tuple(m, CTA_TUPLE_REPLY, e->family, e->l4proto, &e->reply);
	mnl_attr_put_u32(m->nlh, CTA_STATUS, htonl(e->status));
	mnl_attr_put_u32(m->nlh, CTA_TIMEOUT, htonl(29));
	mnl_attr_put_u32(m->nlh, CTA_MARK, htonl(e->mark));
	if (e->zone)
		mnl_attr_put_u16(m->nlh, CTA_ZONE, htons(e->zone));
	nest = nest_start(m, CTA_PROTOINFO);
	mnl_attr_nest_end(m->nlh, nest);
	mnl_attr_put_u32(m->nlh, CTA_USE, htonl(1));
	if (e->has_id)
		mnl_attr_put_u32(m->nlh, CTA_ID, htonl(e->id));
}

static void assert_entry_equal(const struct wf_ct_entry *want, const struct wf_ct_entry *got)
{
	assert_int_equal(got->family, want->family);
	assert_int_equal(got->l4proto, want->l4proto);
	assert_memory_equal(&got->orig, &want->orig, sizeof(want->orig));
	assert_memory_equal(&got->reply, &want->reply, sizeof(want->reply));
	assert_int_equal(got->status, want->status);
	assert_int_equal(got->mark, want->mark);
	assert_int_equal(got->zone, want->zone);
	assert_int_equal(got->has_id, want->has_id);
	assert_int_equal(got->id, want->id);
}

struct attrs {
	const struct nlattr *tb[CTA_MAX + 1];
};

static int collect_attr(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;

	if (mnl_attr_get_type(attr) <= CTA_MAX)
		a->tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static void collect(const void *buf, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	assert_true(mnl_attr_parse(buf, sizeof(struct nfgenmsg), collect_attr, a) >= 0);
}

static void collect_nested(const struct nlattr *nest, struct attrs *a)
{
	assert_non_null(nest);
	memset(a, 0, sizeof(*a));
	assert_true(mnl_attr_parse_nested(nest, collect_attr, a) >= 0);
}

/* ---- parsing ---- */

static void test_kernel_ipv4_entry_reads_back_whole(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	kernel_entry(&m, &want);
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), 0);
	assert_entry_equal(&want, &got);
}

static void test_kernel_ipv6_entry_in_a_zone_reads_back_whole(void **state)
{
	struct wf_ct_entry want = {.family = AF_INET6, .l4proto = IPPROTO_TCP, .zone = 7}, got;
	struct msg m;

	want.orig.src = addr(AF_INET6, "2001:db8:c::10");
	want.orig.dst = addr(AF_INET6, "fc00:0:0:160::2");
	want.orig.sport = 51000;
	want.orig.dport = 443;
	want.reply.src = addr(AF_INET6, "fd00:d0c::5");
	want.reply.dst = want.orig.src;
	want.reply.sport = 8443;
	want.reply.dport = 51000;
	want.status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_DST_NAT;
	kernel_entry(&m, &want);
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), 0);
	assert_entry_equal(&want, &got);
}

static void test_entry_of_a_protocol_without_ports_reads_with_ports_zero(void **state)
{
	struct wf_ct_entry e;
	struct msg m;
	struct nlattr *tuple, *nest;
	union wf_addr a = addr(AF_INET, "192.0.2.1"), b = addr(AF_INET, "198.51.100.25");

	msg_begin(&m, CT_NEW, AF_INET);
	for (int dir = 0; dir < 2; dir++) {
		tuple = nest_start(&m, dir ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG);
		nest = nest_start(&m, CTA_TUPLE_IP);
		mnl_attr_put(m.nlh, CTA_IP_V4_SRC, 4, dir ? &b : &a);
		mnl_attr_put(m.nlh, CTA_IP_V4_DST, 4, dir ? &a : &b);
		mnl_attr_nest_end(m.nlh, nest);
		nest = nest_start(&m, CTA_TUPLE_PROTO);
		mnl_attr_put_u8(m.nlh, CTA_PROTO_NUM, IPPROTO_ICMP);
		mnl_attr_put_u16(m.nlh, CTA_PROTO_ICMP_ID, htons(77));
		mnl_attr_put_u8(m.nlh, CTA_PROTO_ICMP_TYPE, dir ? 0 : 8);
		mnl_attr_put_u8(m.nlh, CTA_PROTO_ICMP_CODE, 0);
		mnl_attr_nest_end(m.nlh, nest);
		mnl_attr_nest_end(m.nlh, tuple);
	}
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &e), 0);
	assert_int_equal(e.l4proto, IPPROTO_ICMP);
	assert_int_equal(e.orig.sport, 0);
	assert_int_equal(e.orig.dport, 0);
	assert_int_equal(e.has_id, false);
}

static void test_entry_of_another_family_is_not_supported(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	kernel_entry(&m, &want);
	((struct nfgenmsg *)mnl_nlmsg_get_payload(m.nlh))->nfgen_family = AF_BRIDGE;
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EAFNOSUPPORT);
}

static void test_entry_without_reply_tuple_is_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	msg_begin(&m, CT_NEW, AF_INET);
	put_tuple(&m, CTA_TUPLE_ORIG, AF_INET, IPPROTO_UDP, &want.orig);
	mnl_attr_put_u32(m.nlh, CTA_STATUS, htonl(want.status));
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

static void test_entry_without_original_tuple_is_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	msg_begin(&m, CT_NEW, AF_INET);
	put_tuple(&m, CTA_TUPLE_REPLY, AF_INET, IPPROTO_UDP, &want.reply);
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

static void test_ipv6_addresses_in_an_ipv4_entry_are_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct wf_ct_tuple t = {.sport = 1, .dport = 2};
	struct msg m;

	t.src = addr(AF_INET6, "2001:db8::1");
	t.dst = addr(AF_INET6, "2001:db8::2");
	msg_begin(&m, CT_NEW, AF_INET);
	put_tuple(&m, CTA_TUPLE_ORIG, AF_INET6, IPPROTO_UDP, &t);
	put_tuple(&m, CTA_TUPLE_REPLY, AF_INET, IPPROTO_UDP, &want.reply);
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

static void test_tuples_of_different_protocols_are_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	msg_begin(&m, CT_NEW, AF_INET);
	put_tuple(&m, CTA_TUPLE_ORIG, AF_INET, IPPROTO_UDP, &want.orig);
	put_tuple(&m, CTA_TUPLE_REPLY, AF_INET, IPPROTO_TCP, &want.reply);
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

static void test_status_of_the_wrong_size_is_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	msg_begin(&m, CT_NEW, AF_INET);
	put_tuple(&m, CTA_TUPLE_ORIG, AF_INET, IPPROTO_UDP, &want.orig);
	put_tuple(&m, CTA_TUPLE_REPLY, AF_INET, IPPROTO_UDP, &want.reply);
	mnl_attr_put_u16(m.nlh, CTA_STATUS, 1);
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

static void test_truncated_entry_is_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	kernel_entry(&m, &want);
	/* Cut inside the last attribute: the length field says more than there is. */
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len - 2, &got), -EINVAL);
	m.nlh->nlmsg_len -= 2;
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
	assert_int_equal(wf_ct_entry_parse(m.buf, 8, &got), -EINVAL);
}

static void test_stray_bytes_after_the_last_attribute_are_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	kernel_entry(&m, &want);
	memset(m.buf + m.nlh->nlmsg_len, 0xff, 3);
	m.nlh->nlmsg_len += 3;
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

static void test_messages_other_than_entries_are_malformed(void **state)
{
	struct wf_ct_entry want = dnat_entry(), got;
	struct msg m;

	kernel_entry(&m, &want);
	m.nlh->nlmsg_type = CT_GET;
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
	m.nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_CT_NEW;
	assert_int_equal(wf_ct_entry_parse(m.buf, m.nlh->nlmsg_len, &got), -EINVAL);
}

/* ---- building ---- */

static void test_dump_request_asks_for_one_family(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct nfgenmsg *nfg;
	struct attrs a;
	int len = wf_ct_dump_build(buf, sizeof(buf), AF_INET6, NULL);

	assert_true(len > 0);
	assert_int_equal(nlh->nlmsg_len, len);
	assert_int_equal(nlh->nlmsg_type, CT_GET);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_REQUEST | NLM_F_DUMP),
	                 NLM_F_REQUEST | NLM_F_DUMP);
	nfg = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(nfg->nfgen_family, AF_INET6);
	assert_int_equal(nfg->version, NFNETLINK_V0);
	collect(buf, &a);
	assert_null(a.tb[CTA_MARK]);
	assert_null(a.tb[CTA_ZONE]);
}

static void test_dump_request_carries_mark_and_zone_filters(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_filter f = {.has_mark = true,
	                         .mark = 0x77660001,
	                         .mark_mask = 0xffff00ff,
	                         .has_zone = true,
	                         .zone = 9};
	struct attrs a;

	assert_true(wf_ct_dump_build(buf, sizeof(buf), AF_INET, &f) > 0);
	collect(buf, &a);
	assert_non_null(a.tb[CTA_MARK]);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK])), 0x77660001);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK_MASK])), 0xffff00ff);
	assert_int_equal(ntohs(mnl_attr_get_u16(a.tb[CTA_ZONE])), 9);
}

static void test_dump_request_for_both_families_names_none(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_filter f = {.status = IPS_DST_NAT, .status_mask = IPS_DST_NAT};
	const struct nfgenmsg *nfg;

	assert_true(wf_ct_dump_build(buf, sizeof(buf), AF_UNSPEC, &f) > 0);
	nfg = mnl_nlmsg_get_payload((const struct nlmsghdr *)buf);
	assert_int_equal(nfg->nfgen_family, AF_UNSPEC);
}

static void test_dump_request_carries_status_filter(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_filter f = {.status = IPS_DST_NAT | IPS_SEEN_REPLY,
	                         .status_mask = IPS_DST_NAT | IPS_ASSURED};
	struct attrs a;

	assert_true(wf_ct_dump_build(buf, sizeof(buf), AF_INET, &f) > 0);
	collect(buf, &a);
	/* Only the bits the mask covers: the kernel refuses others. */
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS])), IPS_DST_NAT);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS_MASK])), IPS_DST_NAT | IPS_ASSURED);
	assert_null(a.tb[CTA_FILTER]);
}

static void test_dump_request_carries_protocol_and_port_filter(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_filter f = {.l4proto = IPPROTO_UDP, .orig_dport = 5353};
	struct attrs a, nest, proto;

	assert_true(wf_ct_dump_build(buf, sizeof(buf), AF_INET6, &f) > 0);
	collect(buf, &a);
	assert_null(a.tb[CTA_STATUS]);
	collect_nested(a.tb[CTA_FILTER], &nest);
	/* The kernel's flags for the protocol number and the destination port. */
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_ORIG_FLAGS]), (1u << 3) | (1u << 5));
	assert_null(nest.tb[CTA_FILTER_REPLY_FLAGS]);
	collect_nested(a.tb[CTA_TUPLE_ORIG], &nest);
	assert_null(nest.tb[CTA_TUPLE_IP]);
	collect_nested(nest.tb[CTA_TUPLE_PROTO], &proto);
	assert_int_equal(mnl_attr_get_u8(proto.tb[CTA_PROTO_NUM]), IPPROTO_UDP);
	assert_int_equal(ntohs(mnl_attr_get_u16(proto.tb[CTA_PROTO_DST_PORT])), 5353);

	f.orig_dport = 0;
	assert_true(wf_ct_dump_build(buf, sizeof(buf), AF_INET, &f) > 0);
	collect(buf, &a);
	collect_nested(a.tb[CTA_FILTER], &nest);
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_ORIG_FLAGS]), 1u << 3);
}

static void test_dump_request_that_cannot_be_made_is_refused(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_filter proto = {.l4proto = IPPROTO_UDP}, port = {.orig_dport = 53};

	assert_int_equal(wf_ct_dump_build(buf, sizeof(buf), AF_PACKET, NULL), -EINVAL);
	assert_int_equal(wf_ct_dump_build(buf, 16, AF_INET, NULL), -EINVAL);
	/* The kernel filters tuples of one family only. */
	assert_int_equal(wf_ct_dump_build(buf, sizeof(buf), AF_UNSPEC, &proto), -EINVAL);
	assert_int_equal(wf_ct_dump_build(buf, sizeof(buf), AF_INET, &port), -EINVAL);
}

/* A filtered delete names the tuple fields it filters on and never a whole original tuple: a
 * kernel that knows no filtered delete must refuse it, not read it as a flush of everything. */
static void test_filtered_delete_of_a_removed_forward_names_what_it_filters(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	const struct nlmsghdr *nlh = (const void *)buf;
	struct wf_ct_match m = {.family = AF_INET,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_reply_src = true,
	                        .reply_sport = 53,
	                        .status_set = IPS_DST_NAT};
	struct attrs a, nest, ip, proto;

	m.reply_src.ip4.s_addr = htonl(0xc0a8a002);
	assert_true(wf_ct_flush_build(buf, sizeof(buf), &m) > 0);
	assert_int_equal(nlh->nlmsg_type, CT_DELETE);
	assert_int_equal(nlh->nlmsg_flags & NLM_F_DUMP, 0);
	assert_int_equal(((const struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family,
	                 AF_INET);
	collect(buf, &a);
	collect_nested(a.tb[CTA_FILTER], &nest);
	/* protocol number and destination port; reply: source address, protocol, source port */
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_ORIG_FLAGS]), (1u << 3) | (1u << 5));
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_REPLY_FLAGS]),
	                 (1u << 0) | (1u << 3) | (1u << 4));
	assert_non_null(a.tb[CTA_TUPLE_ORIG]);
	collect_nested(a.tb[CTA_TUPLE_ORIG], &nest);
	assert_null(nest.tb[CTA_TUPLE_IP]);
	collect_nested(nest.tb[CTA_TUPLE_PROTO], &proto);
	assert_int_equal(mnl_attr_get_u8(proto.tb[CTA_PROTO_NUM]), IPPROTO_UDP);
	assert_int_equal(ntohs(mnl_attr_get_u16(proto.tb[CTA_PROTO_DST_PORT])), 5353);
	assert_null(proto.tb[CTA_PROTO_SRC_PORT]);
	collect_nested(a.tb[CTA_TUPLE_REPLY], &nest);
	collect_nested(nest.tb[CTA_TUPLE_IP], &ip);
	assert_int_equal(mnl_attr_get_u32(ip.tb[CTA_IP_V4_SRC]), htonl(0xc0a8a002));
	assert_null(ip.tb[CTA_IP_V4_DST]);
	collect_nested(nest.tb[CTA_TUPLE_PROTO], &proto);
	assert_int_equal(ntohs(mnl_attr_get_u16(proto.tb[CTA_PROTO_SRC_PORT])), 53);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS])), IPS_DST_NAT);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS_MASK])), IPS_DST_NAT);
	assert_null(a.tb[CTA_ID]);
}

static void test_filtered_delete_of_an_added_forward_names_the_public_address(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_match m = {.family = AF_INET,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	struct attrs a, nest, ip;

	m.orig_dst.ip4.s_addr = htonl(0xcb00710a);
	assert_true(wf_ct_flush_build(buf, sizeof(buf), &m) > 0);
	collect(buf, &a);
	collect_nested(a.tb[CTA_FILTER], &nest);
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_ORIG_FLAGS]),
	                 (1u << 1) | (1u << 3) | (1u << 5));
	assert_null(nest.tb[CTA_FILTER_REPLY_FLAGS]);
	assert_null(a.tb[CTA_TUPLE_REPLY]);
	collect_nested(a.tb[CTA_TUPLE_ORIG], &nest);
	collect_nested(nest.tb[CTA_TUPLE_IP], &ip);
	assert_int_equal(mnl_attr_get_u32(ip.tb[CTA_IP_V4_DST]), htonl(0xcb00710a));
	/* no source: the tuple is never one a plain delete could use */
	assert_null(ip.tb[CTA_IP_V4_SRC]);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS])), 0);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS_MASK])),
	                 IPS_DST_NAT | IPS_SEEN_REPLY);
}

/* The status shows the searches cancelled by a change beside those run and skipped, and how the
 * ones run went: by filtered delete, by dump. */
static void test_status_shows_searches_run_skipped_and_moot(void **state)
{
	const struct wf_ct_stats st = {
	    .searched = 1, .skipped = 2, .moot = 3, .kernel_deletes = 4, .dumps = 5};
	struct json_object *doc = json_object_new_object(), *o, *v;

	(void)state;
	wf_ct_stats_status_add(doc, &st);
	assert_true(json_object_object_get_ex(doc, "conntrack_searches", &o));
	assert_true(json_object_object_get_ex(o, "run", &v));
	assert_int_equal(json_object_get_int64(v), 1);
	assert_true(json_object_object_get_ex(o, "skipped", &v));
	assert_int_equal(json_object_get_int64(v), 2);
	assert_true(json_object_object_get_ex(o, "moot", &v));
	assert_int_equal(json_object_get_int64(v), 3);
	assert_true(json_object_object_get_ex(o, "filtered_deletes", &v));
	assert_int_equal(json_object_get_int64(v), 4);
	assert_true(json_object_object_get_ex(o, "dumps", &v));
	assert_int_equal(json_object_get_int64(v), 5);
	json_object_put(doc);
	doc = json_object_new_object();
	wf_ct_stats_status_add(doc, NULL);
	assert_false(json_object_object_get_ex(doc, "conntrack_searches", &o));
	json_object_put(doc);
}

static void test_metrics_show_how_the_searches_went(void **state)
{
	const struct wf_ct_stats st = {
	    .searched = 1, .skipped = 2, .moot = 3, .kernel_deletes = 4, .dumps = 5};
	struct wf_metrics *m = wf_metrics_new();
	char *text = NULL;
	size_t len;

	(void)state;
	assert_non_null(m);
	assert_int_equal(wf_ct_stats_metrics(m, "wgfwd_gateway", &st), 0);
	assert_int_equal(wf_metrics_render(m, &text, &len), 0);
	assert_non_null(
	    strstr(text, "wgfwd_gateway_conntrack_searches_total{result=\"moot\"} 3\n"));
	assert_non_null(strstr(
	    text, "wgfwd_gateway_conntrack_search_walks_total{how=\"filtered_delete\"} 4\n"));
	assert_non_null(
	    strstr(text, "wgfwd_gateway_conntrack_search_walks_total{how=\"dump\"} 5\n"));
	free(text);
	wf_metrics_free(m);
}

/* One mark filter for a set of marks only where it selects those marks and no other: checked
 * against every set of marks below 16, and every mark below 64. */
static void test_a_mark_filter_covers_exactly_its_marks_or_is_not_used(void **state)
{
	static const uint32_t cube[] = {0x10, 0x11, 0x18, 0x19}, agent[] = {0x77660001, 0x77660002},
	                      twice[] = {0x7, 0x7};
	uint32_t value, mask, marks[16];

	(void)state;
	assert_true(wf_ct_marks_cover(cube, 4, &value, &mask));
	assert_int_equal(value, 0x10);
	assert_int_equal(mask, ~0x9u);
	/* 0x77660000 and 0x77660003 too: no */
	assert_false(wf_ct_marks_cover(agent, 2, &value, &mask));
	assert_false(wf_ct_marks_cover(twice, 2, &value, &mask));
	assert_false(wf_ct_marks_cover(cube, 3, &value, &mask));
	assert_false(wf_ct_marks_cover(cube, 0, &value, &mask));
	assert_true(wf_ct_marks_cover(agent, 1, &value, &mask));
	assert_int_equal(value, 0x77660001);
	assert_int_equal(mask, UINT32_MAX);
	for (unsigned set = 1; set < 1u << 16; set++) {
		size_t n = 0;
		bool covered;

		for (uint32_t v = 0; v < 16; v++)
			if (set & (1u << v))
				marks[n++] = v;
		if (n > WF_CT_MARKS_MAX)
			continue;
		covered = wf_ct_marks_cover(marks, n, &value, &mask);
		/* a cube of 2^k marks is always covered */
		if (n == 1 || (n == 2 && __builtin_popcount(marks[0] ^ marks[1]) == 1))
			assert_true(covered);
		if (!covered)
			continue;
		for (uint32_t x = 0; x < 64; x++)
			assert_int_equal((x & mask) == value, x < 16 && (set & (1u << x)));
	}
}

/* Marks one filter covers are one filtered delete, by value and mask. */
static void test_filtered_delete_of_covered_marks_is_one(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_match m = {.family = AF_INET6,
	                        .l4proto = IPPROTO_TCP,
	                        .orig_dport = 443,
	                        .has_reply_src = true,
	                        .reply_sport = 80,
	                        .status_set = IPS_DST_NAT,
	                        .n_marks = 2,
	                        .marks = {0x77660003, 0x77660001},
	                        .addrs_implied = true};
	struct attrs a;

	(void)state;
	assert_int_equal(wf_ct_match_requests(&m), 1);
	assert_int_equal(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 1, false), -EINVAL);
	assert_true(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 0, false) > 0);
	collect(buf, &a);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK])), 0x77660001);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK_MASK])), ~0x2u);
	m.marks[0] = 0x77660002;
	assert_int_equal(wf_ct_match_requests(&m), 2);
	m.n_marks = 0;
	assert_int_equal(wf_ct_match_requests(&m), 1);
}

/* The addresses left out (an IPv6 port gone, on a kernel whose address filter is wrong): the
 * reply filter keeps protocol and source port, and each delete names one mark exactly. */
static void test_filtered_delete_without_addresses_names_one_mark(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_match m = {.family = AF_INET6,
	                        .l4proto = IPPROTO_TCP,
	                        .orig_dport = 443,
	                        .has_reply_src = true,
	                        .reply_sport = 80,
	                        .status_set = IPS_DST_NAT,
	                        .n_marks = 2,
	                        .marks = {0x77660001, 0x77660002}};
	struct attrs a, nest;

	m.reply_src.ip6.s6_addr[0] = 0xfd;
	/* not without the caller's word that the addresses may go */
	assert_int_equal(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 1, false), -EINVAL);
	m.addrs_implied = true;
	assert_int_equal(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 2, false), -EINVAL);
	assert_true(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 1, false) > 0);
	collect(buf, &a);
	collect_nested(a.tb[CTA_FILTER], &nest);
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_ORIG_FLAGS]), (1u << 3) | (1u << 5));
	assert_int_equal(mnl_attr_get_u32(nest.tb[CTA_FILTER_REPLY_FLAGS]), (1u << 3) | (1u << 4));
	collect_nested(a.tb[CTA_TUPLE_REPLY], &nest);
	assert_null(nest.tb[CTA_TUPLE_IP]);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK])), 0x77660002);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK_MASK])), UINT32_MAX);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_STATUS])), IPS_DST_NAT);
	/* a match that could select translated flows by port alone is not valid */
	m.status_set = 0;
	assert_false(wf_ct_match_valid(&m));
}

/* A match may name bits of the mark: its filtered delete sends them as value and mask, a dump
 * selects the same entries, and the mask takes part in what makes two matches one. */
static void test_a_mark_mask_selects_by_those_bits_alone(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_match m = {.family = AF_INET6,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_reply_src = true,
	                        .reply_sport = 53,
	                        .status_set = IPS_DST_NAT,
	                        .n_marks = 1,
	                        .marks = {0x08000000},
	                        .mark_mask = 0x08000000,
	                        .addrs_implied = true},
	                   whole;
	struct wf_ct_entry e = {.family = AF_INET6,
	                        .l4proto = IPPROTO_UDP,
	                        .orig = {.dport = 5353},
	                        .reply = {.sport = 53},
	                        .status = IPS_DST_NAT,
	                        .mark = 0x08000001};
	struct attrs a;

	(void)state;
	assert_true(wf_ct_match_valid(&m));
	assert_true(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 0, false) > 0);
	collect(buf, &a);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK])), 0x08000000);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK_MASK])), 0x08000000);
	assert_true(wf_ct_entry_matches(&m, &e));
	e.mark = 0x1;
	assert_false(wf_ct_entry_matches(&m, &e));
	/* the whole mark, as without a mask */
	whole = m;
	whole.mark_mask = UINT32_MAX;
	e.mark = 0x08000001;
	assert_false(wf_ct_entry_matches(&whole, &e));
	assert_false(wf_ct_match_equal(&m, &whole));
	whole.mark_mask = 0;
	assert_false(wf_ct_entry_matches(&whole, &e));
	e.mark = 0x08000000;
	assert_true(wf_ct_entry_matches(&whole, &e));
	whole.mark_mask = UINT32_MAX;
	assert_true(wf_ct_match_equal(&whole, &(struct wf_ct_match){.family = AF_INET6,
	                                                            .l4proto = IPPROTO_UDP,
	                                                            .orig_dport = 5353,
	                                                            .has_reply_src = true,
	                                                            .reply_sport = 53,
	                                                            .status_set = IPS_DST_NAT,
	                                                            .n_marks = 1,
	                                                            .marks = {0x08000000},
	                                                            .addrs_implied = true}));
	/* a mark outside its mask could never match */
	m.marks[0] = 0x08000001;
	assert_false(wf_ct_match_valid(&m));
	/* marks a filter covers, within the mask: the mask less the bits they differ in */
	m.n_marks = 2;
	m.marks[0] = 0x08000000;
	m.marks[1] = 0x08000010;
	m.mark_mask = 0x08000010;
	assert_int_equal(wf_ct_match_requests(&m), 1);
	assert_true(wf_ct_flush_build_mark(buf, sizeof(buf), &m, 0, false) > 0);
	collect(buf, &a);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK])), 0x08000000);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_MARK_MASK])), 0x08000000);
}

static void test_filtered_delete_of_an_invalid_match_is_refused(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_match m = {.family = AF_INET, .l4proto = IPPROTO_ICMP, .orig_dport = 1};

	assert_int_equal(wf_ct_flush_build(buf, sizeof(buf), &m), -EINVAL);
	m.l4proto = IPPROTO_UDP;
	assert_int_equal(wf_ct_flush_build(buf, 16, &m), -EINVAL);
	m.orig_dport = 0;
	assert_int_equal(wf_ct_flush_build(buf, sizeof(buf), &m), -EINVAL);
}

static void test_delete_names_the_original_tuple_zone_and_id(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	const struct nlmsghdr *nlh = (const void *)buf;
	struct wf_ct_entry e = dnat_entry();
	struct attrs a, tuple, ip, proto;
	int len;

	e.zone = 3;
	len = wf_ct_delete_build(buf, sizeof(buf), &e);
	assert_true(len > 0);
	assert_int_equal(nlh->nlmsg_type, CT_DELETE);
	assert_true(nlh->nlmsg_flags & NLM_F_REQUEST);
	collect(buf, &a);
	assert_null(a.tb[CTA_TUPLE_REPLY]);
	assert_int_equal(ntohs(mnl_attr_get_u16(a.tb[CTA_ZONE])), 3);
	assert_int_equal(ntohl(mnl_attr_get_u32(a.tb[CTA_ID])), 0xdeadbeef);
	collect_nested(a.tb[CTA_TUPLE_ORIG], &tuple);
	collect_nested(tuple.tb[CTA_TUPLE_IP], &ip);
	assert_memory_equal(mnl_attr_get_payload(ip.tb[CTA_IP_V4_SRC]), &e.orig.src, 4);
	assert_memory_equal(mnl_attr_get_payload(ip.tb[CTA_IP_V4_DST]), &e.orig.dst, 4);
	collect_nested(tuple.tb[CTA_TUPLE_PROTO], &proto);
	assert_int_equal(mnl_attr_get_u8(proto.tb[CTA_PROTO_NUM]), IPPROTO_UDP);
	assert_int_equal(ntohs(mnl_attr_get_u16(proto.tb[CTA_PROTO_SRC_PORT])), 40053);
	assert_int_equal(ntohs(mnl_attr_get_u16(proto.tb[CTA_PROTO_DST_PORT])), 5353);
}

static void test_delete_in_the_default_zone_without_id_names_neither(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_entry e = dnat_entry();
	struct attrs a;

	e.has_id = false;
	assert_true(wf_ct_delete_build(buf, sizeof(buf), &e) > 0);
	collect(buf, &a);
	assert_null(a.tb[CTA_ZONE]);
	assert_null(a.tb[CTA_ID]);
}

static void test_delete_reads_back_as_the_same_original_tuple(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_entry e = dnat_entry(), back;
	int len;

	e.family = AF_INET6;
	e.orig.src = addr(AF_INET6, "2001:db8:c::10");
	e.orig.dst = addr(AF_INET6, "2001:db8:1::1");
	e.zone = 12;
	len = wf_ct_delete_build(buf, sizeof(buf), &e);
	assert_true(len > 0);
	assert_int_equal(wf_ct_entry_parse(buf, (size_t)len, &back), 0);
	assert_int_equal(back.family, AF_INET6);
	assert_int_equal(back.l4proto, IPPROTO_UDP);
	assert_memory_equal(&back.orig, &e.orig, sizeof(e.orig));
	assert_int_equal(back.zone, 12);
	assert_int_equal(back.id, e.id);
}

static void test_delete_of_an_entry_without_ports_is_not_supported(void **state)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_entry e = dnat_entry();

	e.l4proto = IPPROTO_ICMP;
	assert_int_equal(wf_ct_delete_build(buf, sizeof(buf), &e), -EOPNOTSUPP);
}

/* ---- matching ---- */

static struct wf_ct_match old_target_match(void)
{
	struct wf_ct_match m = {.family = AF_INET,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_reply_src = true,
	                        .reply_sport = 5353,
	                        .status_set = IPS_DST_NAT};

	m.reply_src = addr(AF_INET, "172.17.0.5");
	return m;
}

static void test_entry_translated_to_the_old_target_matches(void **state)
{
	struct wf_ct_match m = old_target_match();
	struct wf_ct_entry e = dnat_entry();

	assert_true(wf_ct_match_valid(&m));
	assert_true(wf_ct_entry_matches(&m, &e));
}

static void test_entry_translated_elsewhere_does_not_match(void **state)
{
	struct wf_ct_match m = old_target_match();
	struct wf_ct_entry e = dnat_entry();

	e.reply.src = addr(AF_INET, "172.17.0.6");
	assert_false(wf_ct_entry_matches(&m, &e));
	e = dnat_entry();
	e.reply.sport = 5354;
	assert_false(wf_ct_entry_matches(&m, &e));
}

static void test_entry_of_another_port_protocol_or_family_does_not_match(void **state)
{
	struct wf_ct_match m = old_target_match();
	struct wf_ct_entry e = dnat_entry();

	e.orig.dport = 5354;
	assert_false(wf_ct_entry_matches(&m, &e));
	e = dnat_entry();
	e.l4proto = IPPROTO_TCP;
	assert_false(wf_ct_entry_matches(&m, &e));
	e = dnat_entry();
	e.family = AF_INET6;
	assert_false(wf_ct_entry_matches(&m, &e));
}

static void test_entry_without_the_required_status_does_not_match(void **state)
{
	struct wf_ct_match m = old_target_match();
	struct wf_ct_entry e = dnat_entry();

	/* The server reaching the container itself: same reply source, no translation. */
	e.status &= ~IPS_DST_NAT;
	assert_false(wf_ct_entry_matches(&m, &e));
}

static void test_untranslated_unanswered_entry_to_the_public_address_matches(void **state)
{
	struct wf_ct_match m = {.family = AF_INET,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	struct wf_ct_entry e = dnat_entry();

	m.orig_dst = addr(AF_INET, "192.168.160.2");
	e.status = IPS_CONFIRMED | IPS_DST_NAT_DONE;
	e.reply.src = e.orig.dst;
	assert_true(wf_ct_entry_matches(&m, &e));
	e.status |= IPS_SEEN_REPLY;
	assert_false(wf_ct_entry_matches(&m, &e));
	e.status = IPS_CONFIRMED | IPS_DST_NAT;
	assert_false(wf_ct_entry_matches(&m, &e));
	e.status = IPS_CONFIRMED;
	e.orig.dst = addr(AF_INET, "192.168.160.3");
	assert_false(wf_ct_entry_matches(&m, &e));
}

static void test_ipv6_match_compares_whole_addresses(void **state)
{
	struct wf_ct_match m = {
	    .family = AF_INET6, .l4proto = IPPROTO_TCP, .orig_dport = 80, .has_reply_src = true};
	struct wf_ct_entry e = {.family = AF_INET6, .l4proto = IPPROTO_TCP};

	m.reply_src = addr(AF_INET6, "fd00:d0c::5");
	e.orig.dport = 80;
	e.reply.src = addr(AF_INET6, "fd00:d0c::5");
	assert_true(wf_ct_entry_matches(&m, &e));
	e.reply.src = addr(AF_INET6, "fd00:d0c::1:5");
	assert_false(wf_ct_entry_matches(&m, &e));
}

static void test_match_must_name_a_protocol_with_ports_and_a_port(void **state)
{
	struct wf_ct_match m = old_target_match();

	m.orig_dport = 0;
	assert_false(wf_ct_match_valid(&m));
	m = old_target_match();
	m.l4proto = IPPROTO_ICMP;
	assert_false(wf_ct_match_valid(&m));
	m = old_target_match();
	m.family = AF_UNSPEC;
	assert_false(wf_ct_match_valid(&m));
	m = old_target_match();
	m.status_clear = IPS_DST_NAT;
	assert_false(wf_ct_match_valid(&m));
}

/* ---- one dump for many matches ---- */

static struct wf_ct_match new_forward_match(int family, const char *dst)
{
	struct wf_ct_match m = {.family = (uint8_t)family,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};

	m.orig_dst = addr(family, dst);
	return m;
}

static void test_matches_of_both_families_make_one_dump_of_both(void **state)
{
	struct wf_ct_match m[] = {old_target_match(), old_target_match()};
	struct wf_ct_filter f;

	m[1].family = AF_INET6;
	m[1].reply_src = addr(AF_INET6, "fd00:d0c::5");
	assert_int_equal(wf_ct_matches_dump(m, 2, &f), AF_UNSPEC);
	/* Both want translated flows; the port cannot narrow a dump of both families. */
	assert_int_equal(f.status_mask, IPS_DST_NAT);
	assert_int_equal(f.status, IPS_DST_NAT);
	assert_int_equal(f.l4proto, 0);
	assert_int_equal(f.orig_dport, 0);
	assert_false(f.has_mark || f.has_zone);
}

static void test_matches_of_one_family_and_port_narrow_the_dump_to_it(void **state)
{
	struct wf_ct_match m[] = {new_forward_match(AF_INET6, "fc00:0:0:160::2"),
	                          new_forward_match(AF_INET6, "2001:db8::1")};
	struct wf_ct_filter f;

	assert_int_equal(wf_ct_matches_dump(m, 2, &f), AF_INET6);
	assert_int_equal(f.l4proto, IPPROTO_UDP);
	assert_int_equal(f.orig_dport, 5353);
	assert_int_equal(f.status_mask, IPS_DST_NAT | IPS_SEEN_REPLY);
	assert_int_equal(f.status, 0);

	m[1].orig_dport = 5354;
	assert_int_equal(wf_ct_matches_dump(m, 2, &f), AF_INET6);
	assert_int_equal(f.l4proto, IPPROTO_UDP);
	assert_int_equal(f.orig_dport, 0);
	m[1].l4proto = IPPROTO_TCP;
	assert_int_equal(wf_ct_matches_dump(m, 2, &f), AF_INET6);
	assert_int_equal(f.l4proto, 0);
}

static void test_matches_that_disagree_on_a_status_bit_leave_it_unfiltered(void **state)
{
	struct wf_ct_match m[] = {old_target_match(), new_forward_match(AF_INET, "192.0.2.1"),
	                          old_target_match()};
	struct wf_ct_filter f;

	/* One wants translated flows, the other untranslated ones. */
	assert_int_equal(wf_ct_matches_dump(m, 2, &f), AF_INET);
	assert_int_equal(f.status_mask, 0);
	/* A host forward's own port: nothing translated, so no status at all. */
	m[2].status_set = 0;
	assert_int_equal(wf_ct_matches_dump(&m[2], 1, &f), AF_INET);
	assert_int_equal(f.status_mask, 0);
	m[1] = old_target_match();
	assert_int_equal(wf_ct_matches_dump(m, 3, &f), AF_INET);
	assert_int_equal(f.status_mask, 0);
}

static void test_every_entry_a_match_selects_passes_its_dump_filter(void **state)
{
	struct wf_ct_match m[] = {old_target_match(), new_forward_match(AF_INET, "192.168.160.2")};
	struct wf_ct_entry translated = dnat_entry(), refused = dnat_entry();
	struct wf_ct_filter f;

	refused.status = IPS_CONFIRMED | IPS_DST_NAT_DONE;
	refused.reply.src = refused.orig.dst;
	for (size_t first = 0; first < 2; first++)
		for (size_t n = 1; first + n <= 2; n++) {
			wf_ct_matches_dump(&m[first], n, &f);
			for (size_t i = first; i < first + n; i++) {
				const struct wf_ct_entry *e = i == 0 ? &translated : &refused;

				assert_true(wf_ct_entry_matches(&m[i], e));
				assert_int_equal(e->status & f.status_mask, f.status);
				assert_true(!f.l4proto || f.l4proto == e->l4proto);
				assert_true(!f.orig_dport || f.orig_dport == e->orig.dport);
			}
		}
}

static void test_matches_are_kept_once_in_lookup_order(void **state)
{
	struct wf_ct_match m[] = {
	    new_forward_match(AF_INET6, "fc00:0:0:160::2"), old_target_match(),
	    new_forward_match(AF_INET, "192.168.160.2"),    old_target_match(),
	    new_forward_match(AF_INET, "192.168.160.2"),    old_target_match()};

	m[5].orig_dport = 53;
	assert_int_equal(wf_ct_matches_unique(m, 6), 4);
	assert_int_equal(m[0].family, AF_INET);
	assert_int_equal(m[0].orig_dport, 53);
	assert_true(m[1].has_reply_src && m[1].orig_dport == 5353);
	assert_true(m[2].has_orig_dst && m[2].family == AF_INET);
	assert_int_equal(m[3].family, AF_INET6);
	assert_int_equal(wf_ct_matches_unique(m, 0), 0);
}

static void test_pending_matches_gather_over_changes(void **state)
{
	struct wf_ct_pending p = {0};
	struct wf_ct_match one = old_target_match(), many[40];

	for (size_t i = 0; i < 40; i++) {
		many[i] = new_forward_match(AF_INET, "192.0.2.1");
		many[i].orig_dport = (uint16_t)(1000 + i);
	}
	assert_int_equal(wf_ct_pending_add(&p, &one, 1), 0);
	assert_int_equal(wf_ct_pending_add(&p, NULL, 0), 0);
	assert_int_equal(wf_ct_pending_add(&p, many, 40), 0);
	assert_int_equal(p.n, 41);
	assert_true(wf_ct_match_equal(&p.m[0], &one));
	assert_true(wf_ct_match_equal(&p.m[40], &many[39]));
	wf_ct_pending_free(&p);
	assert_null(p.m);
	assert_int_equal(p.n, 0);
}

/* The daemons' pure functions hand their matches over as one allocation, even an empty one, and
 * give nothing back but the error when one happened. */
static void test_pending_matches_are_handed_over_or_freed(void **state)
{
	struct wf_ct_pending p = {0};
	struct wf_ct_match one = old_target_match(), *out = NULL;
	size_t n = 99;

	assert_int_equal(wf_ct_pending_take(&p, 0, &out, &n), 0);
	assert_non_null(out);
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(wf_ct_pending_add(&p, &one, 1), 0);
	assert_int_equal(wf_ct_pending_take(&p, 0, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_true(wf_ct_match_equal(&out[0], &one));
	assert_null(p.m);
	assert_int_equal(p.n, 0);
	free(out);
	out = NULL;
	assert_int_equal(wf_ct_pending_add(&p, &one, 1), 0);
	assert_int_equal(wf_ct_pending_take(&p, -ENOMEM, &out, &n), -ENOMEM);
	assert_null(out);
	assert_null(p.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kernel_ipv4_entry_reads_back_whole),
	    cmocka_unit_test(test_kernel_ipv6_entry_in_a_zone_reads_back_whole),
	    cmocka_unit_test(test_entry_of_a_protocol_without_ports_reads_with_ports_zero),
	    cmocka_unit_test(test_entry_of_another_family_is_not_supported),
	    cmocka_unit_test(test_entry_without_reply_tuple_is_malformed),
	    cmocka_unit_test(test_entry_without_original_tuple_is_malformed),
	    cmocka_unit_test(test_ipv6_addresses_in_an_ipv4_entry_are_malformed),
	    cmocka_unit_test(test_tuples_of_different_protocols_are_malformed),
	    cmocka_unit_test(test_status_of_the_wrong_size_is_malformed),
	    cmocka_unit_test(test_truncated_entry_is_malformed),
	    cmocka_unit_test(test_stray_bytes_after_the_last_attribute_are_malformed),
	    cmocka_unit_test(test_messages_other_than_entries_are_malformed),
	    cmocka_unit_test(test_dump_request_asks_for_one_family),
	    cmocka_unit_test(test_dump_request_carries_mark_and_zone_filters),
	    cmocka_unit_test(test_dump_request_for_both_families_names_none),
	    cmocka_unit_test(test_dump_request_carries_status_filter),
	    cmocka_unit_test(test_dump_request_carries_protocol_and_port_filter),
	    cmocka_unit_test(test_dump_request_that_cannot_be_made_is_refused),
	    cmocka_unit_test(test_delete_names_the_original_tuple_zone_and_id),
	    cmocka_unit_test(test_delete_in_the_default_zone_without_id_names_neither),
	    cmocka_unit_test(test_delete_reads_back_as_the_same_original_tuple),
	    cmocka_unit_test(test_delete_of_an_entry_without_ports_is_not_supported),
	    cmocka_unit_test(test_entry_translated_to_the_old_target_matches),
	    cmocka_unit_test(test_entry_translated_elsewhere_does_not_match),
	    cmocka_unit_test(test_entry_of_another_port_protocol_or_family_does_not_match),
	    cmocka_unit_test(test_entry_without_the_required_status_does_not_match),
	    cmocka_unit_test(test_untranslated_unanswered_entry_to_the_public_address_matches),
	    cmocka_unit_test(test_ipv6_match_compares_whole_addresses),
	    cmocka_unit_test(test_match_must_name_a_protocol_with_ports_and_a_port),
	    cmocka_unit_test(test_filtered_delete_of_a_removed_forward_names_what_it_filters),
	    cmocka_unit_test(test_filtered_delete_of_an_added_forward_names_the_public_address),
	    cmocka_unit_test(test_filtered_delete_without_addresses_names_one_mark),
	    cmocka_unit_test(test_a_mark_filter_covers_exactly_its_marks_or_is_not_used),
	    cmocka_unit_test(test_status_shows_searches_run_skipped_and_moot),
	    cmocka_unit_test(test_filtered_delete_of_covered_marks_is_one),
	    cmocka_unit_test(test_filtered_delete_of_an_invalid_match_is_refused),
	    cmocka_unit_test(test_a_mark_mask_selects_by_those_bits_alone),
	    cmocka_unit_test(test_metrics_show_how_the_searches_went),
	    cmocka_unit_test(test_matches_of_both_families_make_one_dump_of_both),
	    cmocka_unit_test(test_matches_of_one_family_and_port_narrow_the_dump_to_it),
	    cmocka_unit_test(test_matches_that_disagree_on_a_status_bit_leave_it_unfiltered),
	    cmocka_unit_test(test_every_entry_a_match_selects_passes_its_dump_filter),
	    cmocka_unit_test(test_matches_are_kept_once_in_lookup_order),
	    cmocka_unit_test(test_pending_matches_gather_over_changes),
	    cmocka_unit_test(test_pending_matches_are_handed_over_or_freed),
	};

	return cmocka_run_group_tests_name("conntrack_model", tests, NULL, NULL);
}
