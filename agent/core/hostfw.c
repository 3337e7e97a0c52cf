/* The gateway's accept rules for the host's iptables chains: rendered (pure) and found by
 * shape in the kernel. Here, not in the gateway's library, because `wgfwd doctor --gateway`
 * checks them too; only the gateway writes them (agent/wgfwd-gateway/hostfw.c). */
#include <wgfwd/hostfw.h>

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/nft_build.h>
#include <wgfwd/util.h>

static struct wf_nft_rule *next_rule(struct wf_gw_hostfw *hf, uint8_t family, const char *chain,
                                     const char *fmt, const char *a, const char *b)
{
	struct wf_nft_rule *r = &hf->rules[hf->n];

	snprintf(hf->text[hf->n], sizeof(hf->text[0]), fmt,
	         family == NFPROTO_IPV6 ? "ip6tables" : "iptables", chain, a, b);
	hf->n++;
	wf_nft_rule_begin(r, chain, "");
	r->family = family;
	r->iptables_compat = true;
	return r;
}

static void count_accept(struct wf_nft_rule *r)
{
	wf_nft_add_simple(r, WF_NFT_COUNTER);
	wf_nft_add_verdict(r, WF_NFT_ACCEPT);
}

/* A forward rule for the tunnel's side of flows in some conntrack state; text is the iptables
 * command it is written as. */
static void tunnel_ct_accept(struct wf_gw_hostfw *out, uint8_t fam, const char *tun,
                             enum wf_nft_field dir, enum wf_nft_field ct, uint32_t bits,
                             const char *text)
{
	struct wf_nft_rule *r = next_rule(out, fam, WF_GW_HOSTFW_FORWARD, text, tun, NULL);

	wf_nft_match_ifname(r, dir, WF_NFT_OP_EQ, tun);
	wf_nft_match_u32(r, ct, WF_NFT_OP_ANY_BITS, bits);
	count_accept(r);
}

void wf_gw_hostfw_render(const struct wf_gw_hostfw_spec *p, bool enabled, struct wf_gw_hostfw *out)
{
	const uint32_t est = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	const char *tun = p->tunnel_ifname, *pub = p->public_ifname;
	char port[8];
	struct wf_nft_rule *r;

	memset(out, 0, sizeof(*out));
	out->enabled = enabled;
	snprintf(port, sizeof(port), "%u", p->control_port);
	/* Each in the order of the items iptables-nft writes for the command shown. */
	for (int v6 = 0; v6 <= 1; v6++) {
		uint8_t fam = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;

		tunnel_ct_accept(out, fam, tun, WF_NFT_F_OIFNAME, WF_NFT_F_CT_STATUS, IPS_DST_NAT,
		                 "%s -I %s -o %s -m conntrack --ctstate DNAT -j ACCEPT");
		tunnel_ct_accept(
		    out, fam, tun, WF_NFT_F_IIFNAME, WF_NFT_F_CT_STATE, est,
		    "%s -I %s -i %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
		tunnel_ct_accept(
		    out, fam, tun, WF_NFT_F_OIFNAME, WF_NFT_F_CT_STATE, est,
		    "%s -I %s -o %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");

		/* Any egress out of the public interface passes here: the owned table's forward
		 * chain is where each peer's grant is checked, and its drop is final. */
		if (pub[0]) {
			r = next_rule(out, fam, WF_GW_HOSTFW_FORWARD,
			              "%s -I %s -i %s -o %s -j ACCEPT", tun, pub);
			wf_nft_match_ifname(r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, tun);
			wf_nft_match_ifname(r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, pub);
			count_accept(r);
		}

		r = next_rule(out, fam, WF_GW_HOSTFW_INPUT,
		              "%s -I %s -i %s -p tcp -m tcp --dport %s -j ACCEPT", tun, port);
		wf_nft_match_ifname(r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, tun);
		wf_nft_match_l4proto(r, IPPROTO_TCP);
		wf_nft_match_dport(r, p->control_port);
		count_accept(r);
	}
}

/* One existing chain: each of our rules in it once while wanted, never otherwise. */
static int batch_chain(struct wf_nft *nft, struct wf_nft_batch *b, const struct wf_gw_hostfw *hf,
                       uint8_t family, const char *chain, struct wf_gw_hostfw_result *res)
{
	struct wf_nft_rule *have = NULL;
	size_t n_have = 0;
	int err = wf_nft_chain_rules_get(nft, family, WF_GW_HOSTFW_TABLE, chain, &have, &n_have);

	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	res->chains++;
	for (size_t i = 0; i < hf->n && !err; i++) {
		const struct wf_nft_rule *ours = &hf->rules[i];
		bool seen = false;

		if (ours->family != family || strcmp(ours->chain, chain))
			continue;
		res->wanted += hf->enabled;
		for (size_t k = 0; k < n_have && !err; k++) {
			if (!wf_nft_rule_equal(&have[k], ours))
				continue;
			if (hf->enabled && !seen) {
				seen = true;
				res->in_place++;
				continue;
			}
			if (b) {
				err = wf_nft_batch_delete_rule(b, family, WF_GW_HOSTFW_TABLE, chain,
				                               have[k].handle);
				res->deleted++;
			}
		}
		if (!err && b && hf->enabled && !seen) {
			err = wf_nft_batch_insert_rule(b, family, WF_GW_HOSTFW_TABLE, ours);
			res->inserted++;
		}
	}
	free(have);
	return err;
}

int wf_gw_hostfw_walk(struct wf_nft *nft, struct wf_nft_batch *b, const struct wf_gw_hostfw *hf,
                      struct wf_gw_hostfw_result *res)
{
	static const char *const chains[] = {WF_GW_HOSTFW_FORWARD, WF_GW_HOSTFW_INPUT};
	int err = 0;

	memset(res, 0, sizeof(*res));
	for (int v6 = 0; v6 <= 1 && !err; v6++)
		for (size_t c = 0; c < WF_ARRAY_SIZE(chains) && !err; c++)
			err = batch_chain(nft, b, hf, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4, chains[c],
			                  res);
	return err;
}

int wf_gw_hostfw_check(struct wf_nft *nft, const struct wf_gw_hostfw *hf,
                       struct wf_gw_hostfw_result *res)
{
	return wf_gw_hostfw_walk(nft, NULL, hf, res);
}
