#include <wgfwd/conntrack.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wgfwd/netlink.h>
#include <wgfwd/util.h>

/* The kernel sizes dump messages to the largest read it has seen, up to 32 KiB. */
#define CT_RECV_SIZE 32768
#define DUMP_TRIES   3

#define CT_TYPE(msg) ((uint16_t)((NFNL_SUBSYS_CTNETLINK << 8) | (msg)))

/* CTA_FILTER_ORIG_FLAGS bits (the kernel's CTA_FILTER_F_*, which no uapi header carries). */
#define CT_FILTER_IP_SRC         (1u << 0)
#define CT_FILTER_IP_DST         (1u << 1)
#define CT_FILTER_PROTO_NUM      (1u << 3)
#define CT_FILTER_PROTO_SRC_PORT (1u << 4)
#define CT_FILTER_PROTO_DST_PORT (1u << 5)

enum { V6_FILTER_UNKNOWN, V6_FILTER_RIGHT, V6_FILTER_WRONG };

/* The probe's own entry: addresses of the discard prefix (RFC 6666), never seen on a wire. */
#define PROBE_MARK 0x77667066u
#define PROBE_PORT 9

struct wf_conntrack {
	struct wf_nl nl;
	bool plain_dumps; /* the kernel refused a filtered dump once: ask unfiltered from then on */
	bool kernel_flush;    /* filtered deletes asked for (wf_conntrack_set_kernel_flush) */
	bool no_kernel_flush; /* the kernel refused a filtered delete once: dump from then on */
	int v6_filter;        /* V6_FILTER_*: what a probe found of the kernel's IPv6 filter */
	struct wf_ct_stats stats;
	const char *count_path; /* WF_CT_COUNT_PATH, or a test's stand-in */
	/* count_path kept open (-1: not yet, or it failed): the count is read before and after
	 * every search, and an open of a /proc file costs several times its read. */
	int count_fd;
};

static bool family_supported(int family)
{
	return family == AF_INET || family == AF_INET6;
}

static bool dump_family_supported(int family)
{
	return family == AF_UNSPEC || family_supported(family);
}

static size_t addr_size(int family)
{
	return family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
}

static bool addr_equal(int family, const union wf_addr *a, const union wf_addr *b)
{
	return !memcmp(a, b, addr_size(family));
}

/* The protocols whose conntrack tuple is addresses and ports, nothing else. */
static bool proto_has_ports(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		return true;
	default:
		return false;
	}
}

/* ---- matching ---- */

bool wf_ct_marks_cover(const uint32_t *marks, size_t n, uint32_t *value, uint32_t *mask)
{
	uint32_t differ = 0;
	int bits;

	if (!n)
		return false;
	for (size_t i = 1; i < n; i++)
		differ |= marks[i] ^ marks[0];
	bits = __builtin_popcount(differ);
	/* n distinct values among the 2^bits that share every other bit: all of them. */
	if (bits > 4 || (size_t)1 << bits != n)
		return false;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (marks[i] == marks[j])
				return false;
	*mask = ~differ;
	*value = marks[0] & ~differ;
	return true;
}

/* The bits of an entry's mark that m looks at. */
static uint32_t match_mark_mask(const struct wf_ct_match *m)
{
	return m->mark_mask ? m->mark_mask : UINT32_MAX;
}

size_t wf_ct_match_requests(const struct wf_ct_match *m)
{
	uint32_t value, mask;

	if (m->n_marks > 1 && wf_ct_marks_cover(m->marks, m->n_marks, &value, &mask))
		return 1;
	return m->n_marks ? m->n_marks : 1u;
}

/* A mark outside the mask could never match: a match that names one selects nothing, which
 * is a mistake of the caller's and not a search to make. */
static bool marks_in_mask(const struct wf_ct_match *m)
{
	if (m->n_marks > WF_CT_MARKS_MAX)
		return false;
	for (size_t i = 0; i < m->n_marks; i++)
		if (m->marks[i] & ~match_mark_mask(m))
			return false;
	return true;
}

bool wf_ct_match_valid(const struct wf_ct_match *m)
{
	return family_supported(m->family) && proto_has_ports(m->l4proto) && m->orig_dport &&
	       !(m->status_set & m->status_clear) && marks_in_mask(m) &&
	       (!m->addrs_implied ||
	        (m->n_marks && (m->status_set & IPS_DST_NAT) && m->reply_sport));
}

bool wf_ct_match_narrowable(const struct wf_ct_match *m)
{
	return m->family == AF_INET6 && m->has_reply_src && m->reply_sport &&
	       (m->status_set & IPS_DST_NAT) && !m->n_marks;
}

static bool mark_matches(const struct wf_ct_match *m, uint32_t mark)
{
	if (!m->n_marks)
		return true;
	for (size_t i = 0; i < m->n_marks; i++)
		if (m->marks[i] == (mark & match_mark_mask(m)))
			return true;
	return false;
}

bool wf_ct_entry_matches(const struct wf_ct_match *m, const struct wf_ct_entry *e)
{
	if (e->family != m->family || e->l4proto != m->l4proto || e->orig.dport != m->orig_dport)
		return false;
	if (m->has_orig_dst && !addr_equal(m->family, &e->orig.dst, &m->orig_dst))
		return false;
	if (m->has_reply_src && !addr_equal(m->family, &e->reply.src, &m->reply_src))
		return false;
	if (m->reply_sport && e->reply.sport != m->reply_sport)
		return false;
	if (!mark_matches(m, e->mark))
		return false;
	return (e->status & m->status_set) == m->status_set && !(e->status & m->status_clear);
}

static int cmp_num(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

/* Matches are kept in the order of what an entry shows at once: family, protocol, port. */
static int cmp_key(uint8_t family_a, uint8_t proto_a, uint16_t port_a, uint8_t family_b,
                   uint8_t proto_b, uint16_t port_b)
{
	int c = cmp_num(family_a, family_b);

	if (!c)
		c = cmp_num(proto_a, proto_b);
	if (!c)
		c = cmp_num(port_a, port_b);
	return c;
}

static int cmp_match(const void *pa, const void *pb)
{
	const struct wf_ct_match *a = pa, *b = pb;
	size_t size = addr_size(a->family);
	int c = cmp_key(a->family, a->l4proto, a->orig_dport, b->family, b->l4proto, b->orig_dport);

	if (!c)
		c = cmp_num(a->has_orig_dst, b->has_orig_dst);
	if (!c && a->has_orig_dst)
		c = memcmp(&a->orig_dst, &b->orig_dst, size);
	if (!c)
		c = cmp_num(a->has_reply_src, b->has_reply_src);
	if (!c && a->has_reply_src)
		c = memcmp(&a->reply_src, &b->reply_src, size);
	if (!c)
		c = cmp_num(a->reply_sport, b->reply_sport);
	if (!c)
		c = cmp_num(a->status_set, b->status_set);
	if (!c)
		c = cmp_num(a->status_clear, b->status_clear);
	if (!c)
		c = cmp_num(a->n_marks, b->n_marks);
	for (size_t i = 0; !c && i < a->n_marks && i < WF_CT_MARKS_MAX; i++)
		c = cmp_num(a->marks[i], b->marks[i]);
	if (!c && a->n_marks)
		c = cmp_num(match_mark_mask(a), match_mark_mask(b));
	if (!c)
		c = cmp_num(a->addrs_implied, b->addrs_implied);
	return c;
}

bool wf_ct_match_equal(const struct wf_ct_match *a, const struct wf_ct_match *b)
{
	return !cmp_match(a, b);
}

size_t wf_ct_matches_unique(struct wf_ct_match *m, size_t n)
{
	size_t kept = 0;

	if (n < 2)
		return n;
	qsort(m, n, sizeof(*m), cmp_match);
	for (size_t i = 0; i < n; i++)
		if (!kept || cmp_match(&m[kept - 1], &m[i]))
			m[kept++] = m[i];
	return kept;
}

int wf_ct_matches_dump(const struct wf_ct_match *m, size_t n, struct wf_ct_filter *filter)
{
	uint32_t mask = UINT32_MAX;
	bool v4 = false, v6 = false, one_proto = true, one_port = true;
	int family;

	memset(filter, 0, sizeof(*filter));
	for (size_t i = 0; i < n; i++) {
		v4 |= m[i].family == AF_INET;
		v6 |= m[i].family == AF_INET6;
		one_proto &= m[i].l4proto == m[0].l4proto;
		one_port &= m[i].orig_dport == m[0].orig_dport;
		/* A bit every match tests, and tests the same way. */
		mask &=
		    (m[i].status_set | m[i].status_clear) & ~(m[i].status_set ^ m[0].status_set);
	}
	family = v4 && v6 ? AF_UNSPEC : v6 ? AF_INET6 : AF_INET;
	if (n) {
		filter->status_mask = mask;
		filter->status = m[0].status_set & mask;
	}
	if (n && family != AF_UNSPEC && one_proto) {
		filter->l4proto = m[0].l4proto;
		if (one_port)
			filter->orig_dport = m[0].orig_dport;
	}
	return family;
}

/* ---- gathering ---- */

int wf_ct_pending_add(struct wf_ct_pending *p, const struct wf_ct_match *m, size_t n)
{
	if (WF_ARRAY_RESERVE(p->m, p->n, p->cap, n))
		return -ENOMEM;
	if (n)
		memcpy(&p->m[p->n], m, n * sizeof(*m));
	p->n += n;
	return 0;
}

int wf_ct_pending_flush(struct wf_conntrack *ct, struct wf_ct_pending *p, size_t n, size_t *deleted)
{
	int err = 0;

	*deleted = 0;
	n = wf_ct_matches_unique(p->m, n);
	if (n)
		err = wf_conntrack_flush_forwards(ct, p->m, n, deleted);
	p->n = 0;
	return err ? err : (int)n;
}

void wf_ct_pending_free(struct wf_ct_pending *p)
{
	free(p->m);
	memset(p, 0, sizeof(*p));
}

/* ---- building ---- */

static struct nlmsghdr *put_header(void *buf, uint16_t type, uint16_t flags, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

static void put_tuple_filter(struct nlmsghdr *nlh, const struct wf_ct_filter *f)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, CTA_FILTER), *tuple;

	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS,
	                 CT_FILTER_PROTO_NUM | (f->orig_dport ? CT_FILTER_PROTO_DST_PORT : 0));
	mnl_attr_nest_end(nlh, nest);
	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, f->l4proto);
	if (f->orig_dport)
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(f->orig_dport));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
}

int wf_ct_dump_build(void *buf, size_t size, int family, const struct wf_ct_filter *filter)
{
	struct nlmsghdr *nlh;

	if (size < WF_CT_MSG_SIZE || !dump_family_supported(family))
		return -EINVAL;
	if (filter &&
	    ((filter->orig_dport && !filter->l4proto) || (filter->l4proto && family == AF_UNSPEC)))
		return -EINVAL;
	nlh = put_header(buf, CT_TYPE(IPCTNL_MSG_CT_GET), NLM_F_DUMP, family);
	if (filter && filter->has_mark) {
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(filter->mark));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(filter->mark_mask));
	}
	if (filter && filter->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(filter->zone));
	if (filter && filter->status_mask) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(filter->status & filter->status_mask));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(filter->status_mask));
	}
	if (filter && filter->l4proto)
		put_tuple_filter(nlh, filter);
	return (int)nlh->nlmsg_len;
}

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, int family, uint8_t proto,
                      const struct wf_ct_tuple *t)
{
	bool v6 = family == AF_INET6;
	struct nlattr *tuple = mnl_attr_nest_start(nlh, type);
	struct nlattr *nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);

	mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, addr_size(family), &t->src);
	mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, addr_size(family), &t->dst);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
}

int wf_ct_delete_build(void *buf, size_t size, const struct wf_ct_entry *e)
{
	struct nlmsghdr *nlh;

	if (size < WF_CT_MSG_SIZE || !family_supported(e->family))
		return -EINVAL;
	if (!proto_has_ports(e->l4proto))
		return -EOPNOTSUPP;
	nlh = put_header(buf, CT_TYPE(IPCTNL_MSG_CT_DELETE), 0, e->family);
	put_tuple(nlh, CTA_TUPLE_ORIG, e->family, e->l4proto, &e->orig);
	if (e->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
	if (e->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
	return (int)nlh->nlmsg_len;
}

/* A tuple of a filter: only the fields its flags name. */
static void put_filter_tuple(struct nlmsghdr *nlh, uint16_t type, int family, uint8_t proto,
                             const union wf_addr *src, const union wf_addr *dst, uint16_t sport,
                             uint16_t dport)
{
	bool v6 = family == AF_INET6;
	struct nlattr *tuple = mnl_attr_nest_start(nlh, type), *nest;

	if (src || dst) {
		nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
		if (src)
			mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, addr_size(family),
			             src);
		if (dst)
			mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, addr_size(family),
			             dst);
		mnl_attr_nest_end(nlh, nest);
	}
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	if (sport)
		mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	if (dport)
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
}

/* The original tuple always goes along, and never whole (no source): a kernel that does not
 * know a filtered delete takes it for the delete of one entry, finds the tuple incomplete and
 * refuses the message. Without a tuple, such a kernel would read the message as a flush of
 * the whole table. */
int wf_ct_flush_build_mark(void *buf, size_t size, const struct wf_ct_match *m, size_t mark,
                           bool addrs)
{
	uint32_t orig = CT_FILTER_PROTO_NUM | CT_FILTER_PROTO_DST_PORT, reply = 0;
	uint32_t mask = m->status_set | m->status_clear;
	bool orig_dst = addrs && m->has_orig_dst, reply_src = addrs && m->has_reply_src;
	struct nlmsghdr *nlh;
	struct nlattr *nest;

	uint32_t mark_value = 0, mark_mask = UINT32_MAX;

	if (size < WF_CT_MSG_SIZE || !wf_ct_match_valid(m) || mark >= wf_ct_match_requests(m) ||
	    (!addrs && !m->addrs_implied))
		return -EINVAL;
	if (m->n_marks && (m->n_marks == 1 || wf_ct_match_requests(m) > 1)) {
		mark_value = m->marks[mark];
		mark_mask = match_mark_mask(m);
	} else if (m->n_marks) {
		/* the marks lie inside the match's mask, and so do the bits they differ in */
		wf_ct_marks_cover(m->marks, m->n_marks, &mark_value, &mark_mask);
		mark_mask &= match_mark_mask(m);
	}
	if (orig_dst)
		orig |= CT_FILTER_IP_DST;
	if (m->has_reply_src)
		reply = (reply_src ? CT_FILTER_IP_SRC : 0) | CT_FILTER_PROTO_NUM |
		        (m->reply_sport ? CT_FILTER_PROTO_SRC_PORT : 0);
	nlh = put_header(buf, CT_TYPE(IPCTNL_MSG_CT_DELETE), 0, m->family);
	put_filter_tuple(nlh, CTA_TUPLE_ORIG, m->family, m->l4proto, NULL,
	                 orig_dst ? &m->orig_dst : NULL, 0, m->orig_dport);
	if (reply)
		put_filter_tuple(nlh, CTA_TUPLE_REPLY, m->family, m->l4proto,
		                 reply_src ? &m->reply_src : NULL, NULL, m->reply_sport, 0);
	nest = mnl_attr_nest_start(nlh, CTA_FILTER);
	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, orig);
	if (reply)
		mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, reply);
	mnl_attr_nest_end(nlh, nest);
	if (mask) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(m->status_set));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(mask));
	}
	if (m->n_marks) {
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark_value));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mark_mask));
	}
	return (int)nlh->nlmsg_len;
}

int wf_ct_flush_build(void *buf, size_t size, const struct wf_ct_match *m)
{
	return wf_ct_flush_build_mark(buf, size, m, 0, true);
}

/* ---- parsing ---- */

static bool payload_is(const struct nlattr *attr, size_t len)
{
	return mnl_attr_get_payload_len(attr) == len;
}

static uint16_t get_be16(const struct nlattr *attr)
{
	return ntohs(mnl_attr_get_u16(attr));
}

static uint32_t get_be32(const struct nlattr *attr)
{
	return ntohl(mnl_attr_get_u32(attr));
}

struct tuple_parse {
	int family;
	struct wf_ct_tuple *t;
	uint8_t proto;
	bool has_src, has_dst, has_proto;
};

static int ip_attr(const struct nlattr *attr, void *data)
{
	struct tuple_parse *p = data;
	uint16_t type = mnl_attr_get_type(attr);
	bool v6 = type == CTA_IP_V6_SRC || type == CTA_IP_V6_DST;

	if (type != CTA_IP_V4_SRC && type != CTA_IP_V4_DST && !v6)
		return 0;
	if (v6 != (p->family == AF_INET6) || !payload_is(attr, addr_size(p->family)))
		return -EINVAL;
	if (type == CTA_IP_V4_SRC || type == CTA_IP_V6_SRC) {
		memcpy(&p->t->src, mnl_attr_get_payload(attr), addr_size(p->family));
		p->has_src = true;
	} else {
		memcpy(&p->t->dst, mnl_attr_get_payload(attr), addr_size(p->family));
		p->has_dst = true;
	}
	return 0;
}

static int proto_attr(const struct nlattr *attr, void *data)
{
	struct tuple_parse *p = data;

	switch (mnl_attr_get_type(attr)) {
	case CTA_PROTO_NUM:
		if (!payload_is(attr, sizeof(uint8_t)))
			return -EINVAL;
		p->proto = mnl_attr_get_u8(attr);
		p->has_proto = true;
		return 0;
	case CTA_PROTO_SRC_PORT:
		if (!payload_is(attr, sizeof(uint16_t)))
			return -EINVAL;
		p->t->sport = get_be16(attr);
		return 0;
	case CTA_PROTO_DST_PORT:
		if (!payload_is(attr, sizeof(uint16_t)))
			return -EINVAL;
		p->t->dport = get_be16(attr);
		return 0;
	default:
		/* ICMP id, type and code: outside the model. */
		return 0;
	}
}

static int tuple_attr(const struct nlattr *attr, void *data)
{
	switch (mnl_attr_get_type(attr)) {
	case CTA_TUPLE_IP:
		return wf_nl_nested_walk(attr, ip_attr, data);
	case CTA_TUPLE_PROTO:
		return wf_nl_nested_walk(attr, proto_attr, data);
	default:
		return 0;
	}
}

static int parse_tuple(const struct nlattr *nest, int family, struct wf_ct_tuple *t, uint8_t *proto)
{
	struct tuple_parse p = {.family = family, .t = t};

	memset(t, 0, sizeof(*t));
	if (wf_nl_nested_walk(nest, tuple_attr, &p) || !p.has_src || !p.has_dst || !p.has_proto)
		return -EINVAL;
	*proto = p.proto;
	return 0;
}

struct entry_attrs {
	const struct nlattr *orig, *reply, *status, *mark, *id, *zone;
};

static int entry_attr(const struct nlattr *attr, void *data)
{
	struct entry_attrs *a = data;

	switch (mnl_attr_get_type(attr)) {
	case CTA_TUPLE_ORIG:
		a->orig = attr;
		return 0;
	case CTA_TUPLE_REPLY:
		a->reply = attr;
		return 0;
	case CTA_STATUS:
		a->status = attr;
		return payload_is(attr, sizeof(uint32_t)) ? 0 : -EINVAL;
	case CTA_MARK:
		a->mark = attr;
		return payload_is(attr, sizeof(uint32_t)) ? 0 : -EINVAL;
	case CTA_ID:
		a->id = attr;
		return payload_is(attr, sizeof(uint32_t)) ? 0 : -EINVAL;
	case CTA_ZONE:
		a->zone = attr;
		return payload_is(attr, sizeof(uint16_t)) ? 0 : -EINVAL;
	default:
		return 0;
	}
}

int wf_ct_entry_parse(const void *msg, size_t len, struct wf_ct_entry *e)
{
	const struct nlmsghdr *nlh = msg;
	const struct nfgenmsg *nfg;
	struct entry_attrs a = {0};
	uint8_t reply_proto;
	bool is_new;

	if (len < sizeof(*nlh) || nlh->nlmsg_len > len ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*nfg)))
		return -EINVAL;
	is_new = nlh->nlmsg_type == CT_TYPE(IPCTNL_MSG_CT_NEW);
	if (!is_new && nlh->nlmsg_type != CT_TYPE(IPCTNL_MSG_CT_DELETE))
		return -EINVAL;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (!family_supported(nfg->nfgen_family))
		return -EAFNOSUPPORT;
	if (wf_nl_attrs_walk(mnl_nlmsg_get_payload_offset(nlh, sizeof(*nfg)),
	                     (const char *)nlh + nlh->nlmsg_len, entry_attr, &a))
		return -EINVAL;
	if (!a.orig || (is_new && !a.reply))
		return -EINVAL;

	memset(e, 0, sizeof(*e));
	e->family = nfg->nfgen_family;
	if (parse_tuple(a.orig, e->family, &e->orig, &e->l4proto))
		return -EINVAL;
	if (a.reply &&
	    (parse_tuple(a.reply, e->family, &e->reply, &reply_proto) || reply_proto != e->l4proto))
		return -EINVAL;
	if (a.status)
		e->status = get_be32(a.status);
	if (a.mark)
		e->mark = get_be32(a.mark);
	if (a.zone)
		e->zone = get_be16(a.zone);
	if (a.id) {
		e->has_id = true;
		e->id = get_be32(a.id);
	}
	return 0;
}

/* ---- the socket ---- */

/* nl first: the handle is made and freed by the transport. */
int wf_conntrack_open(struct wf_conntrack **out)
{
	int err = wf_nl_handle_new(out, sizeof(**out), NETLINK_NETFILTER, CT_RECV_SIZE);

	if (!err) {
		(*out)->count_path = WF_CT_COUNT_PATH;
		(*out)->count_fd = -1;
	}
	return err;
}

static void count_file_close(struct wf_conntrack *ct)
{
	if (ct->count_fd >= 0)
		close(ct->count_fd);
	ct->count_fd = -1;
}

void wf_conntrack_set_count_path(struct wf_conntrack *ct, const char *path)
{
	count_file_close(ct);
	ct->count_path = path;
}

/* A /proc/sys file reads its value anew at offset 0. A file that cannot be read (the module
 * went and came back) is opened again, once. */
static ssize_t count_file_read(struct wf_conntrack *ct, char *buf, size_t len)
{
	ssize_t n = -1;

	for (int tries = 0; tries < 2 && n < 0; tries++) {
		if (ct->count_fd < 0)
			ct->count_fd = open(ct->count_path, O_RDONLY | O_CLOEXEC);
		if (ct->count_fd < 0)
			return -errno;
		n = pread(ct->count_fd, buf, len, 0);
		if (n < 0) {
			n = -errno;
			count_file_close(ct);
		}
	}
	return n;
}

int wf_conntrack_count(struct wf_conntrack *ct, unsigned long *count)
{
	char buf[32], *end;
	ssize_t n = count_file_read(ct, buf, sizeof(buf) - 1);

	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	errno = 0;
	*count = strtoul(buf, &end, 10);
	if (errno || end == buf || *end)
		return -EINVAL;
	return 0;
}

void wf_conntrack_stats(const struct wf_conntrack *ct, struct wf_ct_stats *out)
{
	*out = ct->stats;
}

void wf_conntrack_close(struct wf_conntrack *ct)
{
	if (ct)
		count_file_close(ct);
	wf_nl_handle_free(ct);
}

struct dump_ctx {
	int family;
	const struct wf_ct_filter *filter;
	wf_ct_entry_fn fn;
	void *ctx;
};

static int dump_reply(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct wf_ct_filter *f = d->filter;
	struct wf_ct_entry e;

	/* An entry the model cannot read is no entry of a forward: skip it, keep the rest. */
	if (wf_ct_entry_parse(nlh, nlh->nlmsg_len, &e))
		return 0;
	/* Kernels that know no filter (or not this one) list everything. */
	if (d->family != AF_UNSPEC && e.family != d->family)
		return 0;
	if (f && f->has_mark && (e.mark & f->mark_mask) != f->mark)
		return 0;
	if (f && f->has_zone && e.zone != f->zone)
		return 0;
	if (f && (e.status & f->status_mask) != (f->status & f->status_mask))
		return 0;
	if (f && f->l4proto && e.l4proto != f->l4proto)
		return 0;
	if (f && f->orig_dport && e.orig.dport != f->orig_dport)
		return 0;
	return d->fn(&e, d->ctx);
}

int wf_conntrack_dump(struct wf_conntrack *ct, int family, const struct wf_ct_filter *filter,
                      wf_ct_entry_fn fn, void *ctx)
{
	char req[WF_CT_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct dump_ctx d = {.family = family, .filter = filter, .fn = fn, .ctx = ctx};
	int len = wf_ct_dump_build(req, sizeof(req), family, filter);

	if (len < 0)
		return len;
	return wf_nl_talk(&ct->nl, (struct nlmsghdr *)req, dump_reply, &d);
}

int wf_conntrack_delete(struct wf_conntrack *ct, const struct wf_ct_entry *e)
{
	char req[WF_CT_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	int len = wf_ct_delete_build(req, sizeof(req), e);

	if (len < 0)
		return len;
	return wf_nl_talk(&ct->nl, (struct nlmsghdr *)req, NULL, NULL);
}

/* The kernel counts each namespace's entries as it makes and frees them, so an empty one is
 * known without a walk. Read after the change is in the kernel: an entry made after the read
 * met the rules of now and is not stale. A count that cannot be read is no proof: search. */
bool wf_ct_search_needed(struct wf_conntrack *ct)
{
	unsigned long count;

	return wf_conntrack_count(ct, &count) || count;
}

struct found {
	const struct wf_ct_match *m; /* sorted by cmp_match */
	size_t n_matches;
	struct wf_ct_entry *entries;
	size_t n, cap;
};

static int match_entry_cmp(const void *element, const void *key)
{
	const struct wf_ct_match *m = element;
	const struct wf_ct_entry *e = key;

	return cmp_key(m->family, m->l4proto, m->orig_dport, e->family, e->l4proto, e->orig.dport);
}

/* The first match of the entry's family, protocol and port, or n_matches. */
static size_t first_of_key(const struct found *f, const struct wf_ct_entry *e)
{
	return wf_lower_bound(f->m, f->n_matches, sizeof(*f->m), e, match_entry_cmp);
}

static int collect_matching(const struct wf_ct_entry *e, void *data)
{
	struct found *f = data;
	bool hit = false;

	for (size_t i = first_of_key(f, e); i < f->n_matches && !hit; i++) {
		const struct wf_ct_match *m = &f->m[i];

		if (cmp_key(m->family, m->l4proto, m->orig_dport, e->family, e->l4proto,
		            e->orig.dport))
			break;
		hit = wf_ct_entry_matches(m, e);
	}
	if (!hit)
		return 0;
	if (WF_ARRAY_RESERVE(f->entries, f->n, f->cap, 1))
		return -ENOMEM;
	f->entries[f->n++] = *e;
	return 0;
}

/* One dump, narrowed where the kernel can. A kernel that knows a filter attribute but refuses
 * this use of it gets the plain dump instead, now and from then on. */
static int dump_matching(struct wf_conntrack *ct, int family, const struct wf_ct_filter *filter,
                         struct found *f)
{
	int err;

	if (!ct->plain_dumps) {
		err = wf_conntrack_dump(ct, family, filter, collect_matching, f);
		if (err != -EINVAL && err != -EOPNOTSUPP)
			return err;
		ct->plain_dumps = true;
		f->n = 0;
	}
	return wf_conntrack_dump(ct, family, NULL, collect_matching, f);
}

/* Deletes after the dump has been read whole: the socket answers one request at a time. */
static int flush_matching(struct wf_conntrack *ct, int family, const struct wf_ct_filter *filter,
                          const struct wf_ct_match *m, size_t n, size_t *deleted)
{
	int first_err = 0, err;

	for (int tries = 0; tries < DUMP_TRIES; tries++) {
		struct found f = {.m = m, .n_matches = n};

		err = dump_matching(ct, family, filter, &f);
		/* What an interrupted dump did list is still worth deleting. */
		if (err && err != -EAGAIN) {
			free(f.entries);
			return err;
		}
		for (size_t i = 0; i < f.n; i++) {
			int ret = wf_conntrack_delete(ct, &f.entries[i]);

			if (!ret)
				(*deleted)++;
			else if (ret != -ENOENT && !first_err)
				first_err = ret;
		}
		free(f.entries);
		if (err != -EAGAIN)
			break;
	}
	return first_err ? first_err : err;
}

/* One filtered delete a match, the kernel matching and deleting as it goes: it looks only into
 * the buckets of its hash that hold an entry, where a dump takes each bucket's lock. The kernel
 * does not say how many entries went; the namespace's count before and after does. */
static int flush_one_in_kernel(struct wf_conntrack *ct, const struct wf_ct_match *m, size_t mark,
                               bool addrs)
{
	char req[WF_CT_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	int len = wf_ct_flush_build_mark(req, sizeof(req), m, mark, addrs);
	int err = len < 0 ? len : wf_nl_talk(&ct->nl, (struct nlmsghdr *)req, NULL, NULL);

	return err;
}

static int flush_in_kernel(struct wf_conntrack *ct, const struct wf_ct_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* What kernel_can_flush allowed: an IPv6 address filter only where it is right. */
		bool addrs = m[i].family != AF_INET6 || ct->v6_filter == V6_FILTER_RIGHT;

		for (size_t k = 0; k < wf_ct_match_requests(&m[i]); k++) {
			int err = flush_one_in_kernel(ct, &m[i], k, addrs);

			if (err)
				return err;
		}
	}
	return 0;
}

/* ---- what the kernel's IPv6 filter selects ---- */

static void probe_tuple(struct wf_ct_tuple *t, bool reply)
{
	memset(t, 0, sizeof(*t));
	t->src.ip6.s6_addr[0] = t->dst.ip6.s6_addr[0] = 0x01;
	t->src.ip6.s6_addr[15] = reply ? 2 : 1;
	t->dst.ip6.s6_addr[15] = reply ? 1 : 2;
	t->sport = t->dport = PROBE_PORT;
}

/* The probe's entry, made by the gateway itself: its mark keeps every delete of the probe to
 * it alone, whatever the kernel makes of the addresses. */
static int probe_talk(struct wf_conntrack *ct, int step)
{
	char req[WF_CT_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct wf_ct_tuple orig, reply;
	struct nlmsghdr *nlh;
	struct nlattr *nest;

	probe_tuple(&orig, false);
	probe_tuple(&reply, true);
	if (step == 0) {
		nlh = put_header(req, CT_TYPE(IPCTNL_MSG_CT_NEW), NLM_F_CREATE | NLM_F_EXCL,
		                 AF_INET6);
		put_tuple(nlh, CTA_TUPLE_ORIG, AF_INET6, IPPROTO_UDP, &orig);
		put_tuple(nlh, CTA_TUPLE_REPLY, AF_INET6, IPPROTO_UDP, &reply);
		mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(5));
	} else if (step == 1) {
		/* every entry of this source the filter selects, among the probe's own */
		nlh = put_header(req, CT_TYPE(IPCTNL_MSG_CT_DELETE), 0, AF_INET6);
		put_filter_tuple(nlh, CTA_TUPLE_ORIG, AF_INET6, IPPROTO_UDP, &orig.src, NULL, 0,
		                 PROBE_PORT);
		nest = mnl_attr_nest_start(nlh, CTA_FILTER);
		mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS,
		                 CT_FILTER_IP_SRC | CT_FILTER_PROTO_NUM | CT_FILTER_PROTO_DST_PORT);
		mnl_attr_nest_end(nlh, nest);
	} else {
		nlh = put_header(req, CT_TYPE(IPCTNL_MSG_CT_DELETE), 0, AF_INET6);
		put_tuple(nlh, CTA_TUPLE_ORIG, AF_INET6, IPPROTO_UDP, &orig);
	}
	if (step < 2) {
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(PROBE_MARK));
		if (step == 1)
			mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(UINT32_MAX));
	}
	return wf_nl_talk(&ct->nl, nlh, NULL, NULL);
}

/* Some kernels select with an IPv6 address filter the entries whose address differs (seen on
 * 6.18: the comparison is inverted), others those whose address is the one given. Which one
 * this kernel is, an entry of the daemon's own tells: made, filtered for by its own source
 * address, then looked for. */
static int probe_v6_filter(struct wf_conntrack *ct)
{
	int err = probe_talk(ct, 0);

	if (err == -EEXIST) {
		/* left by a probe that did not finish */
		probe_talk(ct, 2);
		err = probe_talk(ct, 0);
	}
	if (err)
		return V6_FILTER_WRONG;
	err = probe_talk(ct, 1);
	if (err) {
		probe_talk(ct, 2);
		return V6_FILTER_WRONG;
	}
	err = probe_talk(ct, 2);
	return err == -ENOENT ? V6_FILTER_RIGHT : V6_FILTER_WRONG;
}

/* An IPv6 match needs a kernel whose address filter is right, or the caller's word that the
 * addresses can be left out. */
static bool kernel_takes(struct wf_conntrack *ct, const struct wf_ct_match *m)
{
	if (m->family != AF_INET6)
		return true;
	if (ct->v6_filter == V6_FILTER_UNKNOWN)
		ct->v6_filter = probe_v6_filter(ct);
	return ct->v6_filter == V6_FILTER_RIGHT || m->addrs_implied;
}

/* Puts the matches the kernel's filtered delete takes (kernel_takes) before the rest, each part
 * in the order it had, into out, and returns how many it takes: none when their requests (one
 * for each mark of a match) come to more than WF_CT_KERNEL_FLUSH_MAX, since the rest then pay
 * a dump anyway. */
static size_t kernel_split(struct wf_conntrack *ct, const struct wf_ct_match *m, size_t n,
                           struct wf_ct_match *out)
{
	size_t requests = 0, k = 0, rest;

	memcpy(out, m, n * sizeof(*m));
	if (!ct->kernel_flush || ct->no_kernel_flush)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!kernel_takes(ct, &m[i]))
			continue;
		requests += wf_ct_match_requests(&m[i]);
		out[k++] = m[i];
	}
	if (requests > WF_CT_KERNEL_FLUSH_MAX) {
		memcpy(out, m, n * sizeof(*m));
		return 0;
	}
	rest = k;
	for (size_t i = 0; i < n; i++)
		if (!kernel_takes(ct, &m[i]))
			out[rest++] = m[i];
	return k;
}

void wf_conntrack_set_kernel_flush(struct wf_conntrack *ct, bool on)
{
	ct->kernel_flush = on;
}

int wf_conntrack_flush_forwards(struct wf_conntrack *ct, const struct wf_ct_match *m, size_t n,
                                size_t *deleted)
{
	struct wf_ct_filter filter;
	struct wf_ct_match *sorted;
	unsigned long before, after;
	size_t k, dumped = 0;
	bool counted;
	int family, err = 0, dump_err;

	*deleted = 0;
	for (size_t i = 0; i < n; i++)
		if (!wf_ct_match_valid(&m[i]))
			return -EINVAL;
	if (!n)
		return 0;
	if (!wf_ct_search_needed(ct)) {
		ct->stats.skipped++;
		return 0;
	}
	counted = !wf_conntrack_count(ct, &before);
	ct->stats.searched++;
	sorted = malloc(2 * n * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, m, n * sizeof(*sorted));
	n = wf_ct_matches_unique(sorted, n);
	/* Each part stays sorted: the dump's lookup relies on it. */
	k = kernel_split(ct, sorted, n, sorted + n);
	memmove(sorted, sorted + n, n * sizeof(*sorted));
	if (k) {
		err = flush_in_kernel(ct, sorted, k);
		if (err == -EOPNOTSUPP || err == -EINVAL) {
			/* A kernel before Linux 6.15 refuses a filtered delete: all go by the dump.
			 */
			ct->no_kernel_flush = true;
			k = 0;
			err = 0;
		} else {
			ct->stats.kernel_deletes++;
			if (!err && counted && !wf_conntrack_count(ct, &after) && after < before)
				*deleted = before - after;
		}
	}
	if (k < n) {
		family = wf_ct_matches_dump(sorted + k, n - k, &filter);
		dump_err = flush_matching(ct, family, &filter, sorted + k, n - k, &dumped);
		ct->stats.dumps++;
		*deleted += dumped;
		if (!err)
			err = dump_err;
	}
	free(sorted);
	return err;
}
