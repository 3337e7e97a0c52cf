#include "render.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include <wgfwd/nft_build.h>
#include <wgfwd/nft_rules.h>
#include <wgfwd/util.h>

static int render_sets(struct wf_nft_table *t)
{
	static const enum wf_nft_type fwd_key[] = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE};
	int err = 0;

	for (int v6 = 0; v6 <= 1; v6++) {
		enum wf_nft_type addr = v6 ? WF_NFT_T_IPV6_ADDR : WF_NFT_T_IPV4_ADDR;
		enum wf_nft_type fwd_data[] = {addr, WF_NFT_T_INET_SERVICE};
		enum wf_nft_type egress[] = {addr, WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE};

		err |= wf_nft_add_set(t, v6 ? WF_GW_MAP6 : WF_GW_MAP4, 2, fwd_key, 2, fwd_data);
		err |= wf_nft_add_set(t, v6 ? WF_GW_PUBLIC6 : WF_GW_PUBLIC4, 1, &addr, 0, NULL);
		err |= wf_nft_add_set(t, v6 ? WF_GW_EGRESS6 : WF_GW_EGRESS4, 3, egress, 0, NULL);
		err |= wf_nft_add_set(t, v6 ? WF_GW_EGRESS6_PROTO : WF_GW_EGRESS4_PROTO, 2, egress,
		                      0, NULL);
		err |= wf_nft_add_set(t, v6 ? WF_GW_EGRESS6_ALL : WF_GW_EGRESS4_ALL, 1, egress, 0,
		                      NULL);
	}
	return err ? -ENOMEM : 0;
}

/* Chains in hook order. NAT at the standard priorities; the MSS clamp at mangle priority so it
 * runs before any chain gives a verdict on the packet. The forward chain's policy is accept: the
 * VPS forwards for others too (Docker, other VPNs), and a drop in any base chain is final. The
 * rules decide only what enters or leaves the tunnel. */
static const struct wf_nft_chain_spec chains[] = {
    {"dnat_in", "nat", NF_INET_PRE_ROUTING, -100},  {"guard_in", "filter", NF_INET_LOCAL_IN, 0},
    {"clamp", "filter", NF_INET_FORWARD, -150},     {"forward", "filter", NF_INET_FORWARD, 0},
    {"dnat_local", "nat", NF_INET_LOCAL_OUT, -100}, {"snat_out", "nat", NF_INET_POST_ROUTING, 100},
};

static int render_rules(struct wf_nft_table *t, const struct wf_gw_params *p)
{
	static const struct {
		const char *chain, *comment[2];
	} dnat[] = {
	    {"dnat_in", {"public ports to peers (IPv4)", "public ports to peers (IPv6)"}},
	    {"dnat_local",
	     {"public ports from the gateway itself (IPv4)",
	      "public ports from the gateway itself (IPv6)"}},
	};
	const char *tun = p->tunnel_ifname, *pub = p->public_ifname;
	struct wf_nft_rule r;
	int err = 0;

	for (int v6 = 0; v6 <= 1; v6++) {
		uint8_t fam = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		enum wf_nft_field daddr = v6 ? WF_NFT_F_IP6_DADDR : WF_NFT_F_IP_DADDR;
		const char *map = v6 ? WF_GW_MAP6 : WF_GW_MAP4;
		const char *public = v6 ? WF_GW_PUBLIC6 : WF_GW_PUBLIC4;

		/* Only what was addressed to the gateway: routed traffic is never translated.
		 * No interface match: peers reaching each other's forwards through the public
		 * address take the same path and keep their source. */
		for (size_t k = 0; k < WF_ARRAY_SIZE(dnat); k++) {
			wf_nft_rule_begin(&r, dnat[k].chain, dnat[k].comment[v6]);
			wf_nft_match_nfproto(&r, fam);
			wf_nft_match_set(&r, public, 1, &daddr);
			wf_nft_add_dnat_map_ct_mark(&r, fam, map, WF_GW_CT_MARK);
			err |= wf_nft_add_rule(t, &r);
		}
	}

	/* The control socket is bound to tunnel addresses, but a weak-host kernel would deliver
	 * a packet for them from any interface. Only the reserved control port is touched. */
	wf_nft_rule_begin(&r, "guard_in", "the control port answers only on the tunnel");
	wf_nft_match_l4proto(&r, IPPROTO_TCP);
	wf_nft_match_dport(&r, p->control_port);
	wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_NEQ, tun);
	wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_NEQ, "lo");
	wf_nft_add_verdict(&r, WF_NFT_DROP);
	err |= wf_nft_add_rule(t, &r);

	/* The tunnel's MTU is below the public interface's. */
	err |= wf_nft_add_mss_clamp(t, "clamp", tun);

	/* Unscoped, because accepting here decides nothing for flows outside the tunnel. */
	wf_nft_rule_begin(&r, "forward", "replies and related");
	wf_nft_match_u32(&r, WF_NFT_F_CT_STATE, WF_NFT_OP_ANY_BITS,
	                 NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
	wf_nft_add_verdict(&r, WF_NFT_ACCEPT);
	err |= wf_nft_add_rule(t, &r);

	wf_nft_rule_begin(&r, "forward", "forwarded public ports into the tunnel");
	wf_nft_match_ifname(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, tun);
	wf_nft_match_u32(&r, WF_NFT_F_CT_STATUS, WF_NFT_OP_ANY_BITS, IPS_DST_NAT);
	wf_nft_add_verdict(&r, WF_NFT_ACCEPT);
	err |= wf_nft_add_rule(t, &r);

	for (int v6 = 0; v6 <= 1; v6++) {
		uint8_t fam = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		enum wf_nft_field saddr = v6 ? WF_NFT_F_IP6_SADDR : WF_NFT_F_IP_SADDR;
		enum wf_nft_field ports[] = {saddr, WF_NFT_F_L4PROTO, WF_NFT_F_TH_DPORT};
		const struct {
			const char *set, *comment;
			size_t n_keys;
		} egress[] = {
		    {v6 ? WF_GW_EGRESS6 : WF_GW_EGRESS4,
		     v6 ? "egress by port (IPv6)" : "egress by port (IPv4)", 3},
		    {v6 ? WF_GW_EGRESS6_PROTO : WF_GW_EGRESS4_PROTO,
		     v6 ? "egress by protocol (IPv6)" : "egress by protocol (IPv4)", 2},
		    {v6 ? WF_GW_EGRESS6_ALL : WF_GW_EGRESS4_ALL,
		     v6 ? "egress of everything (IPv6)" : "egress of everything (IPv4)", 1},
		};

		for (size_t i = 0; i < WF_ARRAY_SIZE(egress); i++) {
			wf_nft_rule_begin(&r, "forward", egress[i].comment);
			wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, tun);
			wf_nft_match_ifname(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, pub);
			wf_nft_match_nfproto(&r, fam);
			wf_nft_match_set(&r, egress[i].set, egress[i].n_keys, ports);
			wf_nft_add_verdict(&r, WF_NFT_ACCEPT);
			err |= wf_nft_add_rule(t, &r);
		}
	}

	/* Anything else to or from the tunnel: another peer, the VPS's own bridges and VPNs, a
	 * port Docker on the VPS publishes, egress not granted. */
	wf_nft_rule_begin(&r, "forward", "nothing else enters the tunnel");
	wf_nft_match_ifname(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, tun);
	wf_nft_add_verdict(&r, WF_NFT_DROP);
	err |= wf_nft_add_rule(t, &r);

	wf_nft_rule_begin(&r, "forward", "nothing else leaves the tunnel");
	wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, tun);
	wf_nft_add_verdict(&r, WF_NFT_DROP);
	err |= wf_nft_add_rule(t, &r);

	/* Only egress: flows into the tunnel keep the client's address, and what the VPS
	 * forwards for others keeps its own NAT. */
	wf_nft_rule_begin(&r, "snat_out", "egress leaves with the public address");
	wf_nft_match_ifname(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, tun);
	wf_nft_match_ifname(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, pub);
	wf_nft_add_simple(&r, WF_NFT_MASQUERADE);
	err |= wf_nft_add_rule(t, &r);

	return err ? -ENOMEM : 0;
}

static struct wf_nft_value addr_value(const struct wf_gw_peer *peer, bool v6)
{
	if (v6)
		return (struct wf_nft_value){.type = WF_NFT_T_IPV6_ADDR, .ip6 = peer->ip6};
	return (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR, .ip4 = peer->ip4};
}

/* Public keys (family, tcp/udp, port) that peers rendered earlier hold, one bit each: the
 * check that no two peers share a key stays linear in the number of forwards. */
struct held_keys {
	uint8_t bits[2][2][65536 / 8];
};

static bool key_held(const struct held_keys *h, const struct wf_gw_state *s, size_t peer,
                     const struct wf_ctl_forward *f)
{
	bool v6 = f->family == AF_INET6;

	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP)
		return h->bits[v6][f->proto == IPPROTO_UDP][f->public_port / 8] &
		       (1u << (f->public_port % 8));
	/* Other protocols never pass the policy; compared one by one all the same. */
	for (size_t q = 0; q < peer; q++)
		for (size_t k = 0; k < s->peers[q].n_forwards; k++)
			if (s->peers[q].forwards[k].family == f->family &&
			    s->peers[q].forwards[k].proto == f->proto &&
			    s->peers[q].forwards[k].public_port == f->public_port)
				return true;
	return false;
}

static void key_hold(struct held_keys *h, const struct wf_ctl_forward *f)
{
	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP)
		h->bits[f->family == AF_INET6][f->proto == IPPROTO_UDP][f->public_port / 8] |=
		    (uint8_t)(1u << (f->public_port % 8));
}

static int fill_forwards(struct wf_nft_table *t, const struct wf_gw_config *cfg,
                         const struct wf_gw_state *s)
{
	struct wf_nft_set *maps[2] = {wf_nft_table_find_set(t, WF_GW_MAP4),
	                              wf_nft_table_find_set(t, WF_GW_MAP6)};
	struct held_keys *held = calloc(1, sizeof(*held));
	size_t n[2] = {0, 0};
	int err = 0;

	if (!held)
		return -ENOMEM;
	/* Each map sized once: grown by doubling, 10,000 elements were copied and zeroed again
	 * at each step, about half of a whole render's time. */
	for (size_t p = 0; p < s->n_peers; p++)
		for (size_t i = 0; i < s->peers[p].n_forwards; i++)
			n[s->peers[p].forwards[i].family == AF_INET6]++;
	for (size_t v6 = 0; v6 < 2 && !err; v6++)
		if (n[v6] && WF_ARRAY_RESERVE(maps[v6]->elems, maps[v6]->n_elems,
		                              maps[v6]->cap_elems, n[v6]))
			err = -ENOMEM;
	for (size_t p = 0; p < s->n_peers && !err; p++) {
		const struct wf_gw_peer *peer = &cfg->peers[p];
		const struct wf_gw_entries *en = &s->peers[p];

		for (size_t i = 0; i < en->n_forwards && !err; i++) {
			const struct wf_ctl_forward *f = &en->forwards[i];
			bool v6 = f->family == AF_INET6;
			struct wf_nft_elem e = {0};

			if (!(v6 ? peer->has_ip6 : peer->has_ip4)) {
				err = -EINVAL;
				break;
			}
			/* Defence in depth: one key, one target, or the kernel refuses the map. */
			if (key_held(held, s, p, f)) {
				err = -EEXIST;
				break;
			}
			e.key[0] =
			    (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = f->proto};
			e.key[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE,
			                                 .port = f->public_port};
			/* The target is the peer's own address, never one it named. */
			e.data[0] = addr_value(peer, v6);
			e.data[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE,
			                                  .port = f->target_port};
			if (wf_nft_set_add_elem(maps[v6], &e))
				err = -ENOMEM;
		}
		/* Held only once the peer's own entries are in: only another peer conflicts. */
		for (size_t i = 0; i < en->n_forwards; i++)
			key_hold(held, &en->forwards[i]);
	}
	free(held);
	return err;
}

/* Which egress elements one peer needs: an "everything" entry covers all others, a whole
 * protocol covers its ports, and overlapping ranges yield each port once. */
struct egress_cover {
	bool all;
	bool proto_all[2]; /* tcp, udp */
	uint8_t ports[2][65536 / 8];
};

static int proto_slot(uint8_t proto)
{
	return proto == IPPROTO_UDP ? 1 : 0;
}

static void egress_cover_build(struct egress_cover *c, const struct wf_gw_entries *en)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < en->n_egress; i++) {
		const struct wf_ctl_egress *g = &en->egress[i];
		int slot = proto_slot(g->proto);

		if (!g->proto) {
			c->all = true;
		} else if (!g->port_lo) {
			c->proto_all[slot] = true;
		} else {
			for (uint32_t port = g->port_lo; port <= g->port_hi; port++)
				c->ports[slot][port / 8] |= (uint8_t)(1u << (port % 8));
		}
	}
}

static int fill_egress_family(struct wf_nft_table *t, const struct wf_gw_peer *peer,
                              const struct egress_cover *c, bool v6)
{
	static const uint8_t protos[2] = {IPPROTO_TCP, IPPROTO_UDP};
	struct wf_nft_set *by_port = wf_nft_table_find_set(t, v6 ? WF_GW_EGRESS6 : WF_GW_EGRESS4);
	struct wf_nft_set *by_proto =
	    wf_nft_table_find_set(t, v6 ? WF_GW_EGRESS6_PROTO : WF_GW_EGRESS4_PROTO);
	struct wf_nft_set *all =
	    wf_nft_table_find_set(t, v6 ? WF_GW_EGRESS6_ALL : WF_GW_EGRESS4_ALL);
	struct wf_nft_elem e = {0};

	e.key[0] = addr_value(peer, v6);
	if (c->all)
		return wf_nft_set_add_elem(all, &e) ? -ENOMEM : 0;
	for (int slot = 0; slot < 2; slot++) {
		e.key[1] =
		    (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = protos[slot]};
		e.key[2] = (struct wf_nft_value){0};
		if (c->proto_all[slot]) {
			if (wf_nft_set_add_elem(by_proto, &e))
				return -ENOMEM;
			continue;
		}
		for (uint32_t port = 1; port <= 65535; port++) {
			if (!(c->ports[slot][port / 8] & (1u << (port % 8))))
				continue;
			e.key[2] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE,
			                                 .port = (uint16_t)port};
			if (wf_nft_set_add_elem(by_port, &e))
				return -ENOMEM;
		}
	}
	return 0;
}

static int fill_egress(struct wf_nft_table *t, const struct wf_gw_config *cfg,
                       const struct wf_gw_state *s)
{
	struct egress_cover *c = malloc(sizeof(*c));
	int err = 0;

	if (!c)
		return -ENOMEM;
	for (size_t p = 0; p < s->n_peers && !err; p++) {
		const struct wf_gw_peer *peer = &cfg->peers[p];

		if (!s->peers[p].n_egress)
			continue;
		egress_cover_build(c, &s->peers[p]);
		if (peer->has_ip4)
			err = fill_egress_family(t, peer, c, false);
		if (!err && peer->has_ip6)
			err = fill_egress_family(t, peer, c, true);
	}
	free(c);
	return err;
}

/* The peers' forwards and egress into t's sets, after the steps before them (err); *out is t
 * when all went in, else t is freed. */
static int fill_entries(int err, struct wf_nft_table *t, const struct wf_gw_config *cfg,
                        const struct wf_gw_state *s, struct wf_nft_table **out)
{
	if (!err)
		err = fill_forwards(t, cfg, s);
	if (!err)
		err = fill_egress(t, cfg, s);
	if (err) {
		wf_nft_table_free(t);
		return err;
	}
	*out = t;
	return 0;
}

int wf_gw_render(const struct wf_gw_params *p, const struct wf_gw_config *cfg,
                 const struct wf_gw_state *s, struct wf_nft_table **out)
{
	struct wf_nft_table *t;
	int err;

	*out = NULL;
	if (s->n_peers != cfg->n_peers)
		return -EINVAL;
	t = wf_nft_table_new(NFPROTO_INET, WF_GW_TABLE);
	if (!t)
		return -ENOMEM;
	err = wf_nft_add_base_chains(t, chains, WF_ARRAY_SIZE(chains));
	if (!err)
		err = render_sets(t);
	if (!err)
		err = render_rules(t, p);
	if (!err)
		err = wf_nft_fill_addr_sets(t, WF_GW_PUBLIC4, p->public_ip4, p->n_public_ip4,
		                            WF_GW_PUBLIC6, p->public_ip6, p->n_public_ip6);
	return fill_entries(err, t, cfg, s, out);
}

int wf_gw_render_elements(const struct wf_gw_config *cfg, const struct wf_gw_state *s,
                          struct wf_nft_table **out)
{
	struct wf_nft_table *t;
	int err;

	*out = NULL;
	if (s->n_peers != cfg->n_peers)
		return -EINVAL;
	t = wf_nft_table_new(NFPROTO_INET, WF_GW_TABLE);
	if (!t)
		return -ENOMEM;
	err = render_sets(t);
	return fill_entries(err, t, cfg, s, out);
}

int wf_gw_render_anchor(struct wf_nft_table **out)
{
	struct wf_nft_table *t = wf_nft_table_new(NFPROTO_INET, WF_GW_ANCHOR_TABLE);
	struct wf_nft_rule r;
	int err = 0;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	/* One NAT chain keeps every NAT hook of both families registered. */
	err |= wf_nft_add_base_chain(t, "prerouting", "nat", NF_INET_PRE_ROUTING, -100, NF_ACCEPT);
	err |= wf_nft_add_base_chain(t, "postrouting", "nat", NF_INET_POST_ROUTING, 100, NF_ACCEPT);
	/* Connection tracking runs only while some rule uses it: without this one, removing the
	 * owned table would stop it, and established flows would lose their NAT (seen: the next
	 * packet reached the gateway itself and was reset). A match with no statement does
	 * nothing else, and NAT chains see only the first packet of a flow. */
	wf_nft_rule_begin(&r, "prerouting",
	                  "keeps connection tracking, and so established NAT, alive");
	wf_nft_match_u32(&r, WF_NFT_F_CT_STATE, WF_NFT_OP_ANY_BITS, NF_CT_STATE_BIT(IP_CT_NEW));
	err |= wf_nft_add_rule(t, &r);
	if (err) {
		wf_nft_table_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}
