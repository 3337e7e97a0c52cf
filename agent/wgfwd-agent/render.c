#include "render.h"
#include <wgfwd/nft_build.h>
#include <wgfwd/nft_rules.h>
#include <wgfwd/util.h>

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void wf_server_params_default(struct wf_server_params *p)
{
	memset(p, 0, sizeof(*p));
	WF_COPY(p->tunnel_ifname, "wg0");
	p->table = WF_DEFAULT_TABLE;
	p->fwmark = WF_DEFAULT_FWMARK;
	p->hairpin_mark = WF_DEFAULT_HAIRPIN_MARK;
	p->rule_priority = WF_DEFAULT_RULE_PRIO;
	p->docker_user = true;
}

static int parse_u32(const char *s, const char *end, uint32_t *out)
{
	unsigned long long v;
	char *stop;

	if (s == end || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &stop, 0);
	if (errno || stop != end || v > 0xffffffffull)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int wf_server_parse_accept_mark(const char *s, const struct wf_server_params *p, uint32_t *mark,
                                uint32_t *mask, char *err, size_t err_len)
{
	const char *slash = strchr(s, '/');

	*mask = 0xffffffffu;
	if (parse_u32(s, slash ? slash : s + strlen(s), mark) ||
	    (slash && parse_u32(slash + 1, slash + 1 + strlen(slash + 1), mask))) {
		snprintf(err, err_len,
		         "`%s' is not MARK or MARK/MASK (numbers, e.g. 0x4000000/0x4000000)", s);
		return -EINVAL;
	}
	if (!*mask || (*mark & ~*mask)) {
		snprintf(err, err_len,
		         "`%s': the mark has bits outside the mask, Docker would never "
		         "match it",
		         s);
		return -EINVAL;
	}
	if (!*mark) {
		snprintf(err, err_len, "`%s': a mark of 0 is what unmarked packets carry", s);
		return -EINVAL;
	}
	/* A request marked from 0 carries exactly `mark`: equal to the fwmark it would be
	 * routed back into the tunnel it came from. */
	if (*mark == p->fwmark) {
		snprintf(err, err_len, "`%s' is the agent's own --fwmark 0x%08x: pick other bits",
		         s, p->fwmark);
		return -EINVAL;
	}
	return 0;
}

/* A forward map's header: l4proto . port -> address . port. */
static void map_header(struct wf_nft_set *s, const char *name, enum wf_nft_type addr_type)
{
	memset(s, 0, sizeof(*s));
	WF_COPY(s->name, name);
	s->n_key = s->n_data = 2;
	s->key[0] = WF_NFT_T_INET_PROTO;
	s->key[1] = WF_NFT_T_INET_SERVICE;
	s->data[0] = addr_type;
	s->data[1] = WF_NFT_T_INET_SERVICE;
}

static int add_map(struct wf_nft_table *t, const char *name, enum wf_nft_type addr_type)
{
	struct wf_nft_set s;

	map_header(&s, name, addr_type);
	return wf_nft_table_add_set(t, &s) ? 0 : -ENOMEM;
}

/* l4proto . port -> address . port */
static void put_elem(struct wf_nft_elem *e, const struct wf_forward *f, struct wf_nft_value addr)
{
	e->key[0] = (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = f->proto};
	e->key[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = f->public_port};
	e->data[0] = addr;
	e->data[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = f->target_port};
}

static int fill_maps(struct wf_nft_table *t, const struct wf_server_params *p,
                     const struct wf_desired *d)
{
	struct wf_nft_set *map4 = wf_nft_table_find_set(t, WF_SERVER_MAP4);
	struct wf_nft_set *map6 = wf_nft_table_find_set(t, WF_SERVER_MAP6);
	size_t n4 = 0, n6 = 0;

	/* Sized once: doubling would copy the elements again and again. */
	for (size_t i = 0; i < d->n_forwards; i++) {
		n4 += d->forwards[i].to_host ? p->has_tunnel_ip4 : d->forwards[i].has_ip4;
		n6 += d->forwards[i].to_host ? p->has_tunnel_ip6 : d->forwards[i].has_ip6;
	}
	if (WF_ARRAY_RESERVE(map4->elems, map4->n_elems, map4->cap_elems, n4) ||
	    WF_ARRAY_RESERVE(map6->elems, map6->n_elems, map6->cap_elems, n6))
		return -ENOMEM;
	/* Written in place: the room is there, and zeroed. */
	for (size_t i = 0; i < d->n_forwards; i++) {
		const struct wf_forward *f = &d->forwards[i];
		bool ip4 = f->to_host ? p->has_tunnel_ip4 : f->has_ip4;
		bool ip6 = f->to_host ? p->has_tunnel_ip6 : f->has_ip6;

		/* A host-network service listens on the server's own addresses. */
		if (ip4)
			put_elem(&map4->elems[map4->n_elems++], f,
			         (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR,
			                               .ip4 = f->to_host ? p->tunnel_ip4 : f->ip4});
		if (ip6)
			put_elem(&map6->elems[map6->n_elems++], f,
			         (struct wf_nft_value){.type = WF_NFT_T_IPV6_ADDR,
			                               .ip6 = f->to_host ? p->tunnel_ip6 : f->ip6});
	}
	return 0;
}

/* A forward's elements, as fill_maps renders them, appended to map4/map6. */
static int put_forward_elems(struct wf_nft_set *map4, struct wf_nft_set *map6,
                             const struct wf_server_params *p, const struct wf_forward *f)
{
	struct wf_nft_elem e;

	if (f->to_host ? p->has_tunnel_ip4 : f->has_ip4) {
		memset(&e, 0, sizeof(e));
		put_elem(&e, f,
		         (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR,
		                               .ip4 = f->to_host ? p->tunnel_ip4 : f->ip4});
		if (wf_nft_set_add_elem(map4, &e))
			return -ENOMEM;
	}
	if (f->to_host ? p->has_tunnel_ip6 : f->has_ip6) {
		memset(&e, 0, sizeof(e));
		put_elem(&e, f,
		         (struct wf_nft_value){.type = WF_NFT_T_IPV6_ADDR,
		                               .ip6 = f->to_host ? p->tunnel_ip6 : f->ip6});
		if (wf_nft_set_add_elem(map6, &e))
			return -ENOMEM;
	}
	return 0;
}

int wf_server_render_elements(const struct wf_server_params *p, const struct wf_desired_diff *diff,
                              struct wf_server_elem_changes *out)
{
	int err = 0;

	map_header(&out->del[0], WF_SERVER_MAP4, WF_NFT_T_IPV4_ADDR);
	map_header(&out->del[1], WF_SERVER_MAP6, WF_NFT_T_IPV6_ADDR);
	out->add[0] = out->del[0];
	out->add[1] = out->del[1];
	for (size_t i = 0; i < diff->n_forwards_removed && !err; i++)
		err = put_forward_elems(&out->del[0], &out->del[1], p, &diff->forwards_removed[i]);
	for (size_t i = 0; i < diff->n_forwards_added && !err; i++)
		err = put_forward_elems(&out->add[0], &out->add[1], p, &diff->forwards_added[i]);
	if (err)
		wf_server_elem_changes_free(out);
	return err;
}

void wf_server_elem_changes_free(struct wf_server_elem_changes *c)
{
	for (size_t i = 0; i < 2; i++) {
		wf_nft_set_clear_elems(&c->del[i]);
		wf_nft_set_clear_elems(&c->add[i]);
	}
}

static bool seen4(const struct wf_server_gateway *gws, size_t g, size_t i)
{
	for (size_t k = 0; k <= g; k++)
		for (size_t j = 0; j < (k == g ? i : gws[k].n_public_ip4); j++)
			if (gws[k].public_ip4[j].s_addr == gws[g].public_ip4[i].s_addr)
				return true;
	return false;
}

static bool seen6(const struct wf_server_gateway *gws, size_t g, size_t i)
{
	for (size_t k = 0; k <= g; k++)
		for (size_t j = 0; j < (k == g ? i : gws[k].n_public_ip6); j++)
			if (IN6_ARE_ADDR_EQUAL(&gws[k].public_ip6[j], &gws[g].public_ip6[i]))
				return true;
	return false;
}

/* Hairpin knows every gateway's public addresses, each once. */
static int fill_gateway_sets(struct wf_nft_table *t, const struct wf_server_gateway *gws, size_t n)
{
	struct wf_nft_set *s4 = wf_nft_table_find_set(t, WF_SERVER_HAIRPIN4);
	struct wf_nft_set *s6 = wf_nft_table_find_set(t, WF_SERVER_HAIRPIN6);

	for (size_t g = 0; g < n; g++) {
		for (size_t i = 0; i < gws[g].n_public_ip4; i++) {
			struct wf_nft_elem e = {
			    .key[0] = {.type = WF_NFT_T_IPV4_ADDR, .ip4 = gws[g].public_ip4[i]}};

			if (!seen4(gws, g, i) && wf_nft_set_add_elem(s4, &e))
				return -ENOMEM;
		}
		for (size_t i = 0; i < gws[g].n_public_ip6; i++) {
			struct wf_nft_elem e = {
			    .key[0] = {.type = WF_NFT_T_IPV6_ADDR, .ip6 = gws[g].public_ip6[i]}};

			if (!seen6(gws, g, i) && wf_nft_set_add_elem(s6, &e))
				return -ENOMEM;
		}
	}
	return 0;
}

/* Chains, in hook order. Priorities sit just before the standard ones (and so before Docker's
 * iptables-nft chains at the same hooks), because the first NAT chain that binds a flow wins. */
static const struct wf_nft_chain_spec chains[] = {
    {"mark_in", "filter", NF_INET_PRE_ROUTING, -160},
    {"dnat_in", "nat", NF_INET_PRE_ROUTING, -110},
    {"dnat_local", "nat", NF_INET_LOCAL_OUT, -110},
    {"reroute_local", "route", NF_INET_LOCAL_OUT, -160},
    {"clamp", "filter", NF_INET_FORWARD, -160},
    {"snat_out", "nat", NF_INET_POST_ROUTING, 90},
};

static uint32_t egress_mark(const struct wf_server_gateway *g)
{
	return g->fwmark + WF_GATEWAY_EGRESS_MARK;
}

static int render_rules(struct wf_nft_table *t, const struct wf_server_params *p,
                        const struct wf_server_gateway *gws, size_t n)
{
	static const enum wf_nft_field daddr4[] = {WF_NFT_F_IP_DADDR};
	static const enum wf_nft_field daddr6[] = {WF_NFT_F_IP6_DADDR};
	struct wf_nft_rule r;
	struct wf_nft_value local = {.type = WF_NFT_T_MARK, .mark = RTN_LOCAL};
	int err = 0;

	/* Return path: remember which tunnel a flow came through, then steer its replies back
	 * into that one. */
	for (size_t g = 0; g < n; g++) {
		wf_nft_rule_begin(&r, "mark_in",
		                  "flows from the tunnel: mark their conntrack entry");
		wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, gws[g].ifname);
		wf_nft_match_u32(&r, WF_NFT_F_CT_STATE, WF_NFT_OP_ANY_BITS,
		                 NF_CT_STATE_BIT(IP_CT_NEW));
		wf_nft_add_mark(&r, WF_NFT_CT_MARK_SET, gws[g].fwmark);
		if (p->has_accept_mark)
			wf_nft_add_meta_mark_masked(&r, p->accept_mark, p->accept_mask);
		err |= wf_nft_add_rule(t, &r);

		/* Only the reply direction: marking requests too would loop them back into the
		 * tunnel. */
		wf_nft_rule_begin(&r, "mark_in",
		                  "replies to tunnel flows: route them back into the tunnel");
		wf_nft_match_u32(&r, WF_NFT_F_CT_DIRECTION, WF_NFT_OP_EQ, IP_CT_DIR_REPLY);
		wf_nft_match_u32(&r, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, gws[g].fwmark);
		wf_nft_add_mark(&r, WF_NFT_META_MARK_SET, gws[g].fwmark);
		err |= wf_nft_add_rule(t, &r);
	}

	/* With a choice of gateways, an egress flow stays on the one it started by: a new
	 * gateway would change its source address and break it. */
	for (size_t g = 0; g < n && n > 1; g++) {
		wf_nft_rule_begin(&r, "mark_in", "egress flows: keep the gateway they started by");
		wf_nft_match_u32(&r, WF_NFT_F_CT_DIRECTION, WF_NFT_OP_EQ, IP_CT_DIR_ORIGINAL);
		wf_nft_match_u32(&r, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, egress_mark(&gws[g]));
		wf_nft_add_mark(&r, WF_NFT_META_MARK_SET, egress_mark(&gws[g]));
		err |= wf_nft_add_rule(t, &r);
	}

	for (size_t g = 0; g < n; g++) {
		wf_nft_rule_begin(&r, "reroute_local",
		                  "host replies to tunnel flows: back into the tunnel");
		wf_nft_match_u32(&r, WF_NFT_F_CT_DIRECTION, WF_NFT_OP_EQ, IP_CT_DIR_REPLY);
		wf_nft_match_u32(&r, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, gws[g].fwmark);
		wf_nft_add_mark(&r, WF_NFT_META_MARK_SET, gws[g].fwmark);
		err |= wf_nft_add_rule(t, &r);
	}

	/* Inbound: only traffic addressed to this host, so routed traffic is never translated. */
	for (int v6 = 0; v6 <= 1; v6++) {
		uint8_t fam = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		const char *map = v6 ? WF_SERVER_MAP6 : WF_SERVER_MAP4;
		const char *gw_set = v6 ? WF_SERVER_HAIRPIN6 : WF_SERVER_HAIRPIN4;

		for (size_t g = 0; g < n; g++) {
			wf_nft_rule_begin(&r, "dnat_in",
			                  v6 ? "forwards from the tunnel (IPv6)"
			                     : "forwards from the tunnel (IPv4)");
			wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, gws[g].ifname);
			wf_nft_match_nfproto(&r, fam);
			wf_nft_rule_match(&r, WF_NFT_F_FIB_DADDR_TYPE, WF_NFT_OP_EQ, &local);
			wf_nft_add_dnat_map(&r, fam, map);
			err |= wf_nft_add_rule(t, &r);
		}

		/* Hairpin: containers reaching a gateway's public address stay on the server. */
		wf_nft_rule_begin(&r, "dnat_in",
		                  v6 ? "hairpin from local containers (IPv6)"
		                     : "hairpin from local containers (IPv4)");
		for (size_t g = 0; g < n; g++)
			wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_NEQ, gws[g].ifname);
		wf_nft_match_nfproto(&r, fam);
		wf_nft_match_set(&r, gw_set, 1, v6 ? daddr6 : daddr4);
		wf_nft_add_mark(&r, WF_NFT_CT_MARK_SET, p->hairpin_mark);
		/* between Docker networks the flow is forwarded: Docker's chains judge it */
		if (p->has_accept_mark)
			wf_nft_add_meta_mark_masked(&r, p->accept_mark, p->accept_mask);
		wf_nft_add_dnat_map(&r, fam, map);
		err |= wf_nft_add_rule(t, &r);

		wf_nft_rule_begin(&r, "dnat_local",
		                  v6 ? "hairpin from the host (IPv6)"
		                     : "hairpin from the host (IPv4)");
		wf_nft_match_nfproto(&r, fam);
		wf_nft_match_set(&r, gw_set, 1, v6 ? daddr6 : daddr4);
		wf_nft_add_mark(&r, WF_NFT_CT_MARK_SET, p->hairpin_mark);
		wf_nft_add_dnat_map(&r, fam, map);
		err |= wf_nft_add_rule(t, &r);

		/* Settle the hairpin flow's source binding before Docker's masquerade runs. */
		wf_nft_rule_begin(&r, "snat_out",
		                  v6 ? "hairpin keeps its source (IPv6)"
		                     : "hairpin keeps its source (IPv4)");
		wf_nft_match_nfproto(&r, fam);
		wf_nft_match_u32(&r, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, p->hairpin_mark);
		wf_nft_add_nat(&r, WF_NFT_SNAT_KEEP_SOURCE, fam);
		err |= wf_nft_add_rule(t, &r);
	}

	/* Egress picked by policy rules leaves with the tunnel address, whatever the bridge. */
	for (size_t g = 0; g < n; g++) {
		wf_nft_rule_begin(&r, "snat_out",
		                  "egress into the tunnel: source becomes the tunnel address");
		wf_nft_match_ifname(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, gws[g].ifname);
		if (n > 1)
			wf_nft_add_mark(&r, WF_NFT_CT_MARK_SET, egress_mark(&gws[g]));
		wf_nft_add_simple(&r, WF_NFT_MASQUERADE);
		err |= wf_nft_add_rule(t, &r);
	}

	/* The tunnels' MTU is below the bridges'. */
	for (size_t g = 0; g < n; g++) {
		err |= wf_nft_add_mss_clamp(t, "clamp", gws[g].ifname);
	}

	return err ? -ENOMEM : 0;
}

static void render_docker_user(const struct wf_server_params *p,
                               const struct wf_server_gateway *gws, size_t n,
                               struct wf_server_plan *plan)
{
	struct wf_nft_rule *r;

	if (!p->docker_user)
		return;
	/* Exactly the shape iptables-nft writes for
	 * `-I DOCKER-USER -i <tun> -m conntrack --ctstate DNAT -j ACCEPT`, so `iptables -S`
	 * reads it back. Hairpin flows between Docker networks need the same. */
	for (int v6 = 0; v6 <= 1; v6++) {
		uint8_t family = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

		for (size_t g = 0; g < n; g++) {
			r = wf_nft_rule_begin(&plan->docker_user[plan->n_docker_user++],
			                      WF_DOCKER_USER_CHAIN, "");
			r->family = family;
			wf_nft_match_ifname(r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, gws[g].ifname);
			wf_nft_match_u32(r, WF_NFT_F_CT_STATUS, WF_NFT_OP_ANY_BITS, IPS_DST_NAT);
			wf_nft_add_simple(r, WF_NFT_COUNTER);
			wf_nft_add_verdict(r, WF_NFT_ACCEPT);
		}

		r = wf_nft_rule_begin(&plan->docker_user[plan->n_docker_user++],
		                      WF_DOCKER_USER_CHAIN, "");
		r->family = family;
		wf_nft_match_u32(r, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, p->hairpin_mark);
		wf_nft_match_u32(r, WF_NFT_F_CT_STATUS, WF_NFT_OP_ANY_BITS, IPS_DST_NAT);
		wf_nft_add_simple(r, WF_NFT_COUNTER);
		wf_nft_add_verdict(r, WF_NFT_ACCEPT);
	}
}

static struct wf_rule *plan_rule(struct wf_server_plan *plan, size_t *cap)
{
	if (plan->n_rules == *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		struct wf_rule *grown = realloc(plan->rules, n * sizeof(*grown));

		if (!grown)
			return NULL;
		plan->rules = grown;
		*cap = n;
	}
	memset(&plan->rules[plan->n_rules], 0, sizeof(plan->rules[0]));
	return &plan->rules[plan->n_rules++];
}

static int render_policy_rules(const struct wf_server_params *p,
                               const struct wf_server_gateway *gws, size_t n,
                               const struct wf_desired *d, struct wf_server_plan *plan)
{
	size_t cap = 0;
	struct wf_rule *rule;

	for (int v6 = 0; v6 <= 1; v6++) {
		int family = v6 ? AF_INET6 : AF_INET;
		uint32_t prio = p->rule_priority;

		for (size_t g = 0; g < n; g++) {
			rule = plan_rule(plan, &cap);
			if (!rule)
				return -ENOMEM;
			*rule = (struct wf_rule){.family = family,
			                         .priority = prio,
			                         .table = gws[g].table,
			                         .has_fwmark = true,
			                         .fwmark = gws[g].fwmark,
			                         .fwmask = 0xffffffffu,
			                         .protocol = WF_RTPROT};
			if (n > 1) {
				rule = plan_rule(plan, &cap);
				if (!rule)
					return -ENOMEM;
				*rule = plan->rules[plan->n_rules - 2];
				rule->fwmark = egress_mark(&gws[g]);
			}

			if (!(v6 ? gws[g].has_tunnel_ip6 : gws[g].has_tunnel_ip4))
				continue;
			rule = plan_rule(plan, &cap);
			if (!rule)
				return -ENOMEM;
			*rule = (struct wf_rule){.family = family,
			                         .priority = prio + 1,
			                         .table = gws[g].table,
			                         .protocol = WF_RTPROT};
			if (v6) {
				rule->src.ip6 = gws[g].tunnel_ip6;
				rule->src_len = 128;
			} else {
				rule->src.ip4 = gws[g].tunnel_ip4;
				rule->src_len = 32;
			}
		}
		prio += 2;

		/* Scoped by input bridge and source, so inbound connections to the same port
		 * on this host are never routed away. Established egress flows keep going by the
		 * table they started in only as long as it routes: a source address change
		 * would break them anyway. */
		for (size_t i = 0; i < d->n_egress; i++) {
			const struct wf_egress *e = &d->egress[i];
			int g = wf_server_egress_gateway(gws, n, e->gateways);

			if (e->to_host || !e->bridge[0] || !(v6 ? e->has_ip6 : e->has_ip4) || g < 0)
				continue;
			rule = plan_rule(plan, &cap);
			if (!rule)
				return -ENOMEM;
			*rule = (struct wf_rule){.family = family,
			                         .priority = prio,
			                         .table = gws[g].table,
			                         .ipproto = e->proto,
			                         .dport_lo = e->port_lo,
			                         .dport_hi = e->port_hi,
			                         .protocol = WF_RTPROT};
			WF_COPY(rule->iifname, e->bridge);
			if (v6) {
				rule->src.ip6 = e->ip6;
				rule->src_len = 128;
			} else {
				rule->src.ip4 = e->ip4;
				rule->src_len = 32;
			}
		}
	}
	return 0;
}

static int render_routes(const struct wf_server_gateway *gws, size_t n, struct wf_server_plan *plan)
{
	plan->routes = calloc(4 * n, sizeof(*plan->routes));
	if (!plan->routes)
		return -ENOMEM;
	for (size_t g = 0; g < n; g++)
		for (int v6 = 0; v6 <= 1; v6++) {
			struct wf_route *rt = &plan->routes[plan->n_routes++];

			rt->family = v6 ? AF_INET6 : AF_INET;
			rt->table = gws[g].table;
			rt->type = RTN_UNICAST;
			rt->protocol = WF_RTPROT;
			WF_COPY(rt->oifname, gws[g].ifname);
		}
	for (size_t g = 0; g < n; g++)
		for (int v6 = 0; v6 <= 1; v6++) {
			struct wf_route *rt;

			if (!(v6 ? gws[g].has_peer_ip6 : gws[g].has_peer_ip4))
				continue;
			rt = &plan->routes[plan->n_routes++];
			rt->family = v6 ? AF_INET6 : AF_INET;
			rt->table = RT_TABLE_MAIN;
			rt->type = RTN_UNICAST;
			rt->protocol = WF_RTPROT;
			if (v6) {
				rt->dst.ip6 = gws[g].peer_ip6;
				rt->dst_len = 128;
			} else {
				rt->dst.ip4 = gws[g].peer_ip4;
				rt->dst_len = 32;
			}
			WF_COPY(rt->oifname, gws[g].ifname);
		}
	return 0;
}

void wf_server_gateway_from_params(const struct wf_server_params *p, struct wf_server_gateway *g)
{
	memset(g, 0, sizeof(*g));
	WF_COPY(g->ifname, p->tunnel_ifname);
	g->table = p->table;
	g->fwmark = p->fwmark;
	g->has_tunnel_ip4 = p->has_tunnel_ip4;
	g->has_tunnel_ip6 = p->has_tunnel_ip6;
	g->tunnel_ip4 = p->tunnel_ip4;
	g->tunnel_ip6 = p->tunnel_ip6;
	g->has_peer_ip4 = p->has_gateway_tunnel_ip4;
	g->has_peer_ip6 = p->has_gateway_tunnel_ip6;
	g->peer_ip4 = p->gateway_tunnel_ip4;
	g->peer_ip6 = p->gateway_tunnel_ip6;
	memcpy(g->public_ip4, p->gateway_ip4, sizeof(g->public_ip4));
	g->n_public_ip4 = p->n_gateway_ip4;
	memcpy(g->public_ip6, p->gateway_ip6, sizeof(g->public_ip6));
	g->n_public_ip6 = p->n_gateway_ip6;
}

int wf_server_egress_gateway(const struct wf_server_gateway *gws, size_t n, const char *allowed)
{
	int first = -1;

	for (size_t g = 0; g < n; g++) {
		if (!wf_gateways_allow(allowed, gws[g].name))
			continue;
		if (!gws[g].down)
			return (int)g;
		if (first < 0)
			first = (int)g;
	}
	return first;
}

int wf_server_render(const struct wf_server_params *p, const struct wf_desired *d,
                     struct wf_server_plan *out)
{
	struct wf_server_gateway g;

	wf_server_gateway_from_params(p, &g);
	return wf_server_render_gateways(p, &g, 1, d, out);
}

int wf_server_render_gateways(const struct wf_server_params *p, const struct wf_server_gateway *gws,
                              size_t n, const struct wf_desired *d, struct wf_server_plan *out)
{
	static const enum wf_nft_type addr4 = WF_NFT_T_IPV4_ADDR, addr6 = WF_NFT_T_IPV6_ADDR;
	int err;

	memset(out, 0, sizeof(*out));
	if (!n || n > WF_GATEWAYS_MAX)
		return -EINVAL;
	out->table = wf_nft_table_new(NFPROTO_INET, WF_SERVER_TABLE);
	if (!out->table)
		return -ENOMEM;
	err = wf_nft_add_base_chains(out->table, chains, WF_ARRAY_SIZE(chains));
	if (!err)
		err = add_map(out->table, WF_SERVER_MAP4, WF_NFT_T_IPV4_ADDR);
	if (!err)
		err = add_map(out->table, WF_SERVER_MAP6, WF_NFT_T_IPV6_ADDR);
	if (!err)
		err = wf_nft_add_set(out->table, WF_SERVER_HAIRPIN4, 1, &addr4, 0, NULL);
	if (!err)
		err = wf_nft_add_set(out->table, WF_SERVER_HAIRPIN6, 1, &addr6, 0, NULL);
	if (!err)
		err = fill_maps(out->table, p, d);
	if (!err)
		err = fill_gateway_sets(out->table, gws, n);
	if (!err)
		err = render_rules(out->table, p, gws, n);
	if (!err)
		err = render_policy_rules(p, gws, n, d, out);
	if (!err)
		err = render_routes(gws, n, out);
	if (err) {
		wf_server_plan_free(out);
		return err;
	}
	render_docker_user(p, gws, n, out);
	return 0;
}

void wf_server_plan_free(struct wf_server_plan *plan)
{
	wf_nft_table_free(plan->table);
	free(plan->rules);
	free(plan->routes);
	memset(plan, 0, sizeof(*plan));
}
