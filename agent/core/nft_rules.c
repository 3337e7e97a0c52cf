#include <wgfwd/nft_rules.h>

#include <errno.h>
#include <linux/netfilter.h>

#include <wgfwd/nft_build.h>

int wf_nft_add_base_chains(struct wf_nft_table *t, const struct wf_nft_chain_spec *specs, size_t n)
{
	int err = 0;

	for (size_t i = 0; i < n; i++)
		err |= wf_nft_add_base_chain(t, specs[i].name, specs[i].type, specs[i].hook,
		                             specs[i].priority, NF_ACCEPT);
	return err ? -ENOMEM : 0;
}

int wf_nft_fill_addr_sets(struct wf_nft_table *t, const char *set4, const struct in_addr *ip4,
                          size_t n4, const char *set6, const struct in6_addr *ip6, size_t n6)
{
	struct wf_nft_set *s4 = wf_nft_table_find_set(t, set4);
	struct wf_nft_set *s6 = wf_nft_table_find_set(t, set6);
	struct wf_nft_elem e = {0};

	e.key[0].type = WF_NFT_T_IPV4_ADDR;
	for (size_t i = 0; i < n4; i++) {
		e.key[0].ip4 = ip4[i];
		if (wf_nft_set_add_elem(s4, &e))
			return -ENOMEM;
	}
	e.key[0] = (struct wf_nft_value){.type = WF_NFT_T_IPV6_ADDR};
	for (size_t i = 0; i < n6; i++) {
		e.key[0].ip6 = ip6[i];
		if (wf_nft_set_add_elem(s6, &e))
			return -ENOMEM;
	}
	return 0;
}

int wf_nft_add_mss_clamp(struct wf_nft_table *t, const char *chain, const char *tunnel_ifname)
{
	static const struct {
		enum wf_nft_field iface;
		const char *comment;
	} way[] = {{WF_NFT_F_OIFNAME, "MSS of SYNs entering the tunnel"},
	           {WF_NFT_F_IIFNAME, "MSS of SYNs leaving the tunnel"}};
	int err = 0;

	for (size_t i = 0; i < 2; i++) {
		struct wf_nft_rule r;

		wf_nft_rule_begin(&r, chain, way[i].comment);
		wf_nft_match_ifname(&r, way[i].iface, WF_NFT_OP_EQ, tunnel_ifname);
		wf_nft_match_l4proto(&r, IPPROTO_TCP);
		wf_nft_match_u32(&r, WF_NFT_F_TCP_FLAGS, WF_NFT_OP_ANY_BITS, 0x02 /* SYN */);
		wf_nft_add_simple(&r, WF_NFT_MSS_CLAMP);
		err |= wf_nft_add_rule(t, &r);
	}
	return err ? -ENOMEM : 0;
}
