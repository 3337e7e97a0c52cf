#include "listeners.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/netlink.h>
#include <wgfwd/util.h>

/* ---- building ---- */

static struct nlmsghdr *put_header(void *buf, size_t size, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	if (size < WF_GW_NL_MSG_SIZE)
		return NULL;
	memset(buf, 0, WF_GW_NL_MSG_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

int wf_gw_diag_request_build(void *buf, size_t size, int family, uint8_t proto)
{
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *r;

	if ((family != AF_INET && family != AF_INET6) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return -EINVAL;
	nlh = put_header(buf, size, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP);
	if (!nlh)
		return -EINVAL;
	r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
	r->sdiag_family = (uint8_t)family;
	r->sdiag_protocol = proto;
	/* A UDP socket connected to one peer only takes that peer's answers, which belong to a
	 * conntrack entry of their own and are never translated: only unconnected ones count. */
	r->idiag_states = proto == IPPROTO_TCP ? 1u << TCP_LISTEN : 1u << TCP_CLOSE;
	return (int)nlh->nlmsg_len;
}

int wf_gw_genl_family_request_build(void *buf, size_t size, const char *name)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	if (!name || strlen(name) >= GENL_NAMSIZ)
		return -EINVAL;
	nlh = put_header(buf, size, GENL_ID_CTRL, 0);
	if (!nlh)
		return -EINVAL;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name);
	return (int)nlh->nlmsg_len;
}

int wf_gw_wg_device_request_build(void *buf, size_t size, uint16_t family_id, uint32_t ifindex)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	if (family_id < NLMSG_MIN_TYPE || !ifindex)
		return -EINVAL;
	/* WG_CMD_GET_DEVICE is a dump only, even for one device. */
	nlh = put_header(buf, size, family_id, NLM_F_DUMP);
	if (!nlh)
		return -EINVAL;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = WG_CMD_GET_DEVICE;
	g->version = WG_GENL_VERSION;
	mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, ifindex);
	return (int)nlh->nlmsg_len;
}

/* ---- parsing ---- */

/* The payload after a fixed header of hlen bytes, or NULL when the message is shorter or its
 * length field disagrees with len. */
static const void *after_header(const void *msg, size_t len, size_t hlen, const void **end)
{
	const struct nlmsghdr *nlh = msg;

	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return NULL;
	if (nlh->nlmsg_len < mnl_nlmsg_size(hlen))
		return NULL;
	*end = (const char *)msg + nlh->nlmsg_len;
	return (const char *)mnl_nlmsg_get_payload(nlh) + MNL_ALIGN(hlen);
}

static int diag_attr(const struct nlattr *attr, void *data)
{
	struct wf_gw_listener *l = data;

	switch (mnl_attr_get_type(attr)) {
	case INET_DIAG_SKV6ONLY:
		if (mnl_attr_get_payload_len(attr) != 1)
			return -1;
		l->v6only = mnl_attr_get_u8(attr) != 0;
		return 0;
	case INET_DIAG_PROTOCOL:
		if (mnl_attr_get_payload_len(attr) != 1)
			return -1;
		/* A dump of one protocol that lists another is not an answer to it. */
		return mnl_attr_get_u8(attr) == l->proto ? 0 : -1;
	default:
		return 0;
	}
}

int wf_gw_diag_parse(const void *msg, size_t len, uint8_t proto, struct wf_gw_listener *l)
{
	const struct nlmsghdr *nlh = msg;
	const struct inet_diag_msg *m;
	const void *attrs, *end;

	memset(l, 0, sizeof(*l));
	attrs = after_header(msg, len, sizeof(*m), &end);
	if (!attrs || nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return -EINVAL;
	m = mnl_nlmsg_get_payload(nlh);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return -EINVAL;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -EINVAL;
	l->family = m->idiag_family;
	l->proto = proto;
	l->state = m->idiag_state;
	l->port = ntohs(m->id.idiag_sport);
	l->dport = ntohs(m->id.idiag_dport);
	if (l->family == AF_INET)
		memcpy(&l->addr.ip4, m->id.idiag_src, sizeof(l->addr.ip4));
	else
		memcpy(&l->addr.ip6, m->id.idiag_src, sizeof(l->addr.ip6));
	l->ifindex = m->id.idiag_if;
	l->inode = m->idiag_inode;
	if (wf_nl_attrs_walk(attrs, end, diag_attr, l))
		return -EINVAL;
	return 0;
}

struct family_parse {
	bool has_id;
	uint16_t id;
};

static int family_attr(const struct nlattr *attr, void *data)
{
	struct family_parse *f = data;

	if (mnl_attr_get_type(attr) != CTRL_ATTR_FAMILY_ID)
		return 0;
	if (mnl_attr_get_payload_len(attr) != sizeof(uint16_t))
		return -1;
	f->id = mnl_attr_get_u16(attr);
	f->has_id = true;
	return 0;
}

int wf_gw_genl_family_parse(const void *msg, size_t len, uint16_t *id)
{
	const struct nlmsghdr *nlh = msg;
	struct family_parse f = {0};
	const void *attrs, *end;

	attrs = after_header(msg, len, sizeof(struct genlmsghdr), &end);
	if (!attrs || nlh->nlmsg_type != GENL_ID_CTRL)
		return -EINVAL;
	if (wf_nl_attrs_walk(attrs, end, family_attr, &f) || !f.has_id || f.id < NLMSG_MIN_TYPE)
		return -EINVAL;
	*id = f.id;
	return 0;
}

struct device_parse {
	bool has_port;
	uint16_t port;
};

static int device_attr(const struct nlattr *attr, void *data)
{
	struct device_parse *p = data;

	if (mnl_attr_get_type(attr) != WGDEVICE_A_LISTEN_PORT)
		return 0;
	if (mnl_attr_get_payload_len(attr) != sizeof(uint16_t))
		return -1;
	p->port = mnl_attr_get_u16(attr);
	p->has_port = true;
	return 0;
}

int wf_gw_wg_device_parse(const void *msg, size_t len, uint16_t *port)
{
	const struct nlmsghdr *nlh = msg;
	const struct genlmsghdr *g;
	struct device_parse p = {0};
	const void *attrs, *end;

	attrs = after_header(msg, len, sizeof(*g), &end);
	if (!attrs || nlh->nlmsg_type < NLMSG_MIN_TYPE)
		return -EINVAL;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->cmd != WG_CMD_GET_DEVICE)
		return -EINVAL;
	if (wf_nl_attrs_walk(attrs, end, device_attr, &p))
		return -EINVAL;
	/* A device with many peers answers in several messages; the port is in the first. */
	if (!p.has_port)
		return -ENOENT;
	*port = p.port;
	return 0;
}

/* ---- deciding which sockets count ---- */

static bool is_public4(const struct wf_gw_params *p, const struct in_addr *a)
{
	for (size_t i = 0; i < p->n_public_ip4; i++)
		if (p->public_ip4[i].s_addr == a->s_addr)
			return true;
	return false;
}

static bool is_public6(const struct wf_gw_params *p, const struct in6_addr *a)
{
	for (size_t i = 0; i < p->n_public_ip6; i++)
		if (IN6_ARE_ADDR_EQUAL(&p->public_ip6[i], a))
			return true;
	return false;
}

int wf_gw_listener_families(const struct wf_gw_listener *l, const struct wf_gw_params *p,
                            uint32_t public_ifindex)
{
	const struct in6_addr *a6 = &l->addr.ip6;

	if (!l->port)
		return 0;
	if (l->proto == IPPROTO_TCP ? l->state != TCP_LISTEN
	                            : l->proto != IPPROTO_UDP || l->state != TCP_CLOSE || l->dport)
		return 0;
	/* Bound to another device, it never sees what arrives on the public interface. */
	if (l->ifindex && public_ifindex && l->ifindex != public_ifindex)
		return 0;
	if (l->family == AF_INET)
		return l->addr.ip4.s_addr == htonl(INADDR_ANY) || is_public4(p, &l->addr.ip4)
		           ? WF_GW_FAMILY4
		           : 0;
	if (l->family != AF_INET6)
		return 0;
	/* An IPv6 wildcard socket without IPV6_V6ONLY takes IPv4 as mapped addresses too. */
	if (IN6_IS_ADDR_UNSPECIFIED(a6))
		return WF_GW_FAMILY6 | (l->v6only ? 0 : WF_GW_FAMILY4);
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		struct in_addr a4;

		memcpy(&a4, &a6->s6_addr[12], sizeof(a4));
		return !l->v6only && (a4.s_addr == htonl(INADDR_ANY) || is_public4(p, &a4))
		           ? WF_GW_FAMILY4
		           : 0;
	}
	return is_public6(p, a6) ? WF_GW_FAMILY6 : 0;
}

/* ---- host ports ---- */

static int host_port_cmp(const void *pa, const void *pb)
{
	const struct wf_gw_host_port *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}

static int add_port(struct wf_gw_host_ports *hp, size_t *cap, uint8_t family, uint8_t proto,
                    uint16_t port)
{
	if (WF_ARRAY_RESERVE(hp->v, hp->n, *cap, 1))
		return -ENOMEM;
	hp->v[hp->n++] = (struct wf_gw_host_port){family, proto, port};
	return 0;
}

static bool skipped(uint32_t inode, const uint32_t *skip, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (skip[i] == inode)
			return true;
	return false;
}

int wf_gw_host_ports_build(const struct wf_gw_listener *l, size_t n, const uint16_t *wg_ports,
                           size_t n_wg, const struct wf_gw_params *p, uint32_t public_ifindex,
                           const uint32_t *skip, size_t n_skip, struct wf_gw_host_ports *out)
{
	size_t cap = 0, k = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n && !err; i++) {
		int fams;

		if (l[i].inode && skipped(l[i].inode, skip, n_skip))
			continue;
		fams = wf_gw_listener_families(&l[i], p, public_ifindex);
		if (fams & WF_GW_FAMILY4)
			err = add_port(out, &cap, AF_INET, l[i].proto, l[i].port);
		if (!err && (fams & WF_GW_FAMILY6))
			err = add_port(out, &cap, AF_INET6, l[i].proto, l[i].port);
	}
	for (size_t i = 0; i < n_wg && !err; i++) {
		if (!wg_ports[i])
			continue;
		err = add_port(out, &cap, AF_INET, IPPROTO_UDP, wg_ports[i]);
		if (!err)
			err = add_port(out, &cap, AF_INET6, IPPROTO_UDP, wg_ports[i]);
	}
	if (err) {
		wf_gw_host_ports_free(out);
		return err;
	}
	if (!out->n)
		return 0;
	qsort(out->v, out->n, sizeof(*out->v), host_port_cmp);
	for (size_t i = 1; i < out->n; i++)
		if (host_port_cmp(&out->v[k], &out->v[i]))
			out->v[++k] = out->v[i];
	out->n = k + 1;
	return 0;
}

unsigned wf_gw_proto_bit(uint8_t proto)
{
	return proto == IPPROTO_TCP ? WF_GW_TCP : proto == IPPROTO_UDP ? WF_GW_UDP : 0;
}

int wf_gw_host_ports_join(const struct wf_gw_host_ports *fresh, unsigned fresh_protos,
                          const struct wf_gw_host_ports *old, struct wf_gw_host_ports *out)
{
	size_t cap = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < fresh->n && !err; i++)
		err = add_port(out, &cap, fresh->v[i].family, fresh->v[i].proto, fresh->v[i].port);
	for (size_t i = 0; i < old->n && !err; i++)
		if (!(wf_gw_proto_bit(old->v[i].proto) & fresh_protos))
			err =
			    add_port(out, &cap, old->v[i].family, old->v[i].proto, old->v[i].port);
	if (err) {
		wf_gw_host_ports_free(out);
		return err;
	}
	/* each part sorted and unique, and no port in both */
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), host_port_cmp);
	return 0;
}

bool wf_gw_host_ports_has(const struct wf_gw_host_ports *hp, uint8_t family, uint8_t proto,
                          uint16_t port)
{
	struct wf_gw_host_port key = {family, proto, port};

	return hp && hp->n && bsearch(&key, hp->v, hp->n, sizeof(key), host_port_cmp);
}

bool wf_gw_host_ports_equal(const struct wf_gw_host_ports *a, const struct wf_gw_host_ports *b)
{
	return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof(*a->v)));
}

void wf_gw_host_ports_free(struct wf_gw_host_ports *hp)
{
	free(hp->v);
	memset(hp, 0, sizeof(*hp));
}

static int add_clash(struct wf_gw_clash **v, size_t *n, size_t *cap, size_t peer,
                     const struct wf_ctl_forward *f)
{
	if (WF_ARRAY_RESERVE(*v, *n, *cap, 1))
		return -ENOMEM;
	(*v)[(*n)++] = (struct wf_gw_clash){.peer = peer, .forward = *f};
	return 0;
}

/* Host ports and a peer's forwards are sorted alike (family, protocol, port), so whichever is
 * shorter is looked up in the other, and the clashes come in forward order either way: a few
 * host ports against 10,000 forwards are a few binary searches, not 10,000 (this runs after
 * every change). */
int wf_gw_host_clashes(const struct wf_gw_state *s, const struct wf_gw_host_ports *hp,
                       struct wf_gw_clash **out, size_t *n)
{
	struct wf_gw_clash *v = NULL;
	size_t cap = 0, n_hp = hp ? hp->n : 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	for (size_t p = 0; p < s->n_peers && n_hp && !err; p++) {
		const struct wf_gw_entries *e = &s->peers[p];

		if (n_hp < e->n_forwards) {
			for (size_t k = 0; k < n_hp && !err; k++) {
				const struct wf_ctl_forward key = {.proto = hp->v[k].proto,
				                                   .family = hp->v[k].family,
				                                   .public_port = hp->v[k].port};
				const struct wf_ctl_forward *f =
				    wf_gw_entries_find_forward(e, &key);

				if (f)
					err = add_clash(&v, n, &cap, p, f);
			}
			continue;
		}
		for (size_t i = 0; i < e->n_forwards && !err; i++) {
			const struct wf_ctl_forward *f = &e->forwards[i];

			if (wf_gw_host_ports_has(hp, f->family, f->proto, f->public_port))
				err = add_clash(&v, n, &cap, p, f);
		}
	}
	if (err) {
		free(v);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

bool wf_gw_clash_in(const struct wf_gw_clash *c, const struct wf_gw_clash *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct wf_ctl_forward *a = &c->forward, *b = &set[i].forward;

		if (set[i].peer == c->peer && a->family == b->family && a->proto == b->proto &&
		    a->public_port == b->public_port)
			return true;
	}
	return false;
}

void wf_gw_host_port_reason(char *buf, size_t len, uint8_t proto, uint16_t port)
{
	snprintf(buf, len, "the gateway itself listens on %s/%u", wf_gw_proto_name(proto), port);
}

/* ---- the kernel ---- */

/* Large enough for any dump message the kernel sends (it sizes them to what we read with). */
#define DIAG_RECV_SIZE 32768

struct listeners {
	struct wf_gw_listener *v;
	size_t n, cap;
	uint8_t proto;
};

static int listener_reply(const struct nlmsghdr *nlh, void *data)
{
	struct listeners *ls = data;
	struct wf_gw_listener l;

	/* A socket the model cannot read is one it cannot protect either: skip it, keep the rest.
	 */
	if (wf_gw_diag_parse(nlh, nlh->nlmsg_len, ls->proto, &l))
		return 0;
	if (WF_ARRAY_RESERVE(ls->v, ls->n, ls->cap, 1))
		return -ENOMEM;
	ls->v[ls->n++] = l;
	return 0;
}

/* A socket kept from one read to the next, opened when first needed; one that failed is
 * closed, so the next read starts on a fresh one. */
static int sock_get(struct wf_nl *nl, bool *open, int bus)
{
	int err;

	if (*open)
		return 0;
	err = wf_nl_open(nl, bus, DIAG_RECV_SIZE);
	*open = !err;
	return err;
}

static void sock_put(struct wf_nl *nl, bool *open, int err)
{
	if (*open && err) {
		wf_nl_close(nl);
		*open = false;
	}
}

void wf_gw_nl_socks_close(struct wf_gw_nl_socks *s)
{
	sock_put(&s->diag, &s->has_diag, -1);
	sock_put(&s->genl, &s->has_genl, -1);
}

int wf_gw_listeners_read_on(struct wf_gw_nl_socks *s, struct wf_gw_listener **out, size_t *n)
{
	return wf_gw_listeners_read_protos_on(s, WF_GW_TCP | WF_GW_UDP, out, n);
}

int wf_gw_listeners_read_protos_on(struct wf_gw_nl_socks *s, unsigned protos,
                                   struct wf_gw_listener **out, size_t *n)
{
	static const struct {
		int family;
		uint8_t proto;
	} dumps[] = {{AF_INET, IPPROTO_TCP},
	             {AF_INET6, IPPROTO_TCP},
	             {AF_INET, IPPROTO_UDP},
	             {AF_INET6, IPPROTO_UDP}};
	char req[WF_GW_NL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct listeners ls = {0};
	int err;

	err = sock_get(&s->diag, &s->has_diag, NETLINK_SOCK_DIAG);
	for (size_t i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && !err; i++) {
		int len;

		if (!(wf_gw_proto_bit(dumps[i].proto) & protos))
			continue;
		len = wf_gw_diag_request_build(req, sizeof(req), dumps[i].family, dumps[i].proto);
		if (len < 0) {
			err = len;
			break;
		}
		ls.proto = dumps[i].proto;
		err = wf_nl_talk(&s->diag, (struct nlmsghdr *)req, listener_reply, &ls);
		/* A host without IPv6 has no IPv6 sockets to list. */
		if (err == -EAFNOSUPPORT || (err == -ENOENT && dumps[i].family == AF_INET6))
			err = 0;
	}
	sock_put(&s->diag, &s->has_diag, err);
	if (err) {
		free(ls.v);
		return err;
	}
	*out = ls.v;
	*n = ls.n;
	return 0;
}

int wf_gw_listeners_read(struct wf_gw_listener **out, size_t *n)
{
	struct wf_gw_nl_socks s = {0};
	int err = wf_gw_listeners_read_on(&s, out, n);

	wf_gw_nl_socks_close(&s);
	return err;
}

static int family_reply(const struct nlmsghdr *nlh, void *data)
{
	return wf_gw_genl_family_parse(nlh, nlh->nlmsg_len, data) ? -EBADMSG : 0;
}

struct port_reply {
	bool has_port;
	uint16_t port;
};

static int device_reply(const struct nlmsghdr *nlh, void *data)
{
	struct port_reply *r = data;
	uint16_t port;
	int err = wf_gw_wg_device_parse(nlh, nlh->nlmsg_len, &port);

	if (err == -ENOENT)
		return 0;
	if (err)
		return -EBADMSG;
	if (!r->has_port) {
		r->has_port = true;
		r->port = port;
	}
	return 0;
}

int wf_gw_wireguard_ports_on(struct wf_gw_nl_socks *s, uint16_t **ports, size_t *n)
{
	char req[WF_GW_NL_MSG_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct if_nameindex *ifs = NULL;
	uint16_t id = 0, *v = NULL;
	size_t count = 0, cap = 0;
	int err, len;

	*ports = NULL;
	*n = 0;
	err = sock_get(&s->genl, &s->has_genl, NETLINK_GENERIC);
	if (err)
		return err;
	len = wf_gw_genl_family_request_build(req, sizeof(req), WG_GENL_NAME);
	err = len < 0 ? len : wf_nl_talk(&s->genl, (struct nlmsghdr *)req, family_reply, &id);
	if (err)
		goto out; /* -ENOENT: no kernel WireGuard */
	/* The family has no "list devices": ask every interface, and the ones that are not
	 * WireGuard say so (-EOPNOTSUPP). */
	ifs = if_nameindex();
	if (!ifs) {
		err = -errno;
		goto out;
	}
	for (struct if_nameindex *i = ifs; i->if_index; i++) {
		struct port_reply r = {0};

		len = wf_gw_wg_device_request_build(req, sizeof(req), id, i->if_index);
		if (len < 0) {
			err = len;
			break;
		}
		err = wf_nl_talk(&s->genl, (struct nlmsghdr *)req, device_reply, &r);
		if (err == -EOPNOTSUPP || err == -ENODEV) {
			err = 0;
			continue;
		}
		if (err)
			break;
		if (!r.has_port || !r.port)
			continue;
		if (WF_ARRAY_RESERVE(v, count, cap, 1)) {
			err = -ENOMEM;
			break;
		}
		v[count++] = r.port;
	}
out:
	if (ifs)
		if_freenameindex(ifs);
	/* -ENOENT is the kernel's answer, not the socket's fault. */
	sock_put(&s->genl, &s->has_genl, err == -ENOENT ? 0 : err);
	if (err) {
		free(v);
		return err;
	}
	*ports = v;
	*n = count;
	return 0;
}

int wf_gw_wireguard_ports(uint16_t **ports, size_t *n)
{
	struct wf_gw_nl_socks s = {0};
	int err = wf_gw_wireguard_ports_on(&s, ports, n);

	wf_gw_nl_socks_close(&s);
	return err;
}
