/* Rule-building pieces both renderers use (the agent's and the gateway's): base chains from a
 * table of them, an address set filled from address lists, and the MSS clamp of SYNs through
 * the tunnel. Pure, over the nft data model (nft.h, nft_build.h). */
#ifndef WGFWD_NFT_RULES_H
#define WGFWD_NFT_RULES_H

#include <netinet/in.h>
#include <stddef.h>

#include <wgfwd/nft.h>

struct wf_nft_chain_spec {
	const char *name, *type; /* type: "filter", "nat" or "route" */
	int hook;                /* NF_INET_* */
	int priority;
};

/* Every chain of specs, policy accept. 0 or -ENOMEM. */
int wf_nft_add_base_chains(struct wf_nft_table *t, const struct wf_nft_chain_spec *specs, size_t n);

/* Adds the addresses to the table's sets set4 and set6 (both made before). 0 or -ENOMEM. */
int wf_nft_fill_addr_sets(struct wf_nft_table *t, const char *set4, const struct in_addr *ip4,
                          size_t n4, const char *set6, const struct in6_addr *ip6, size_t n6);

/* The tunnel's MTU is below the other interfaces': in chain (a forward-hook filter chain),
 * clamps the MSS that SYNs entering and leaving the tunnel advertise. 0 or -ENOMEM. */
int wf_nft_add_mss_clamp(struct wf_nft_table *t, const char *chain, const char *tunnel_ifname);

#endif
