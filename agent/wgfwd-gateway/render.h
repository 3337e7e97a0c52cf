/* The gateway's ruleset, rendered from the combined state of every peer (pure: no I/O).
 *
 *   config + state + parameters --wf_gw_render--> one owned inet table
 *
 * Packet path this encodes:
 *  - inbound: traffic addressed to one of the gateway's public addresses is DNAT'd through the
 *    maps fwd4/fwd6 (l4proto . port -> peer tunnel address . port), from outside and from the
 *    tunnel alike (a peer reaching another's forward keeps its own source); nothing is
 *    SNAT'd on its way into the tunnel, so the server sees the client's address. Each flow
 *    the maps translate gets WF_GW_CT_MARK in its conntrack mark;
 *  - forward: governs only what enters or leaves the tunnel interface. The chain's policy is
 *    accept, because a drop in any base chain is final and the VPS forwards for others too
 *    (Docker, other VPNs, bridges). Into the tunnel: replies and DNAT'd flows, then drop.
 *    Out of the tunnel: replies and each peer's granted egress to the public interface,
 *    keyed by its tunnel address . proto . port, then drop (so a peer reaches no other
 *    interface of the VPS, e.g. a docker0 bridge there);
 *  - only egress from the tunnel to the public interface is masqueraded, to the public address;
 *  - MSS of SYNs into and out of the tunnel is clamped to the route MTU, before any verdict;
 *  - the control port (reserved) answers only on the tunnel.
 *
 * A second table, the anchor, is never deleted: NAT base chains with no NAT in them and one rule
 * that uses connection tracking. While they exist the kernel keeps both its NAT hooks and
 * connection tracking running, so established connections keep their translation even while
 * the owned table is removed or rebuilt. */
#ifndef WGFWD_GATEWAY_RENDER_H
#define WGFWD_GATEWAY_RENDER_H

#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/nft.h>

#include "policy.h"

#define WF_GW_TABLE         "wgfwd_gateway"
#define WF_GW_ANCHOR_TABLE  "wgfwd_anchor"
#define WF_GW_MAP4          "fwd4"
#define WF_GW_MAP6          "fwd6"
#define WF_GW_PUBLIC4       "public4"
#define WF_GW_PUBLIC6       "public6"
#define WF_GW_EGRESS4       "egress4" /* saddr . l4proto . dport */
#define WF_GW_EGRESS6       "egress6"
#define WF_GW_EGRESS4_PROTO "egress4_proto" /* saddr . l4proto: every port of a protocol */
#define WF_GW_EGRESS6_PROTO "egress6_proto"
#define WF_GW_EGRESS4_ALL   "egress4_all" /* saddr: everything */
#define WF_GW_EGRESS6_ALL   "egress6_all"
#define WF_GW_PUBLIC_MAX    16
/* The conntrack mark bit of the flows the gateway translates, set beside whatever else the
 * mark holds: with it, the search for the flows of a removed forward names its own flows by
 * mark, port and reply port, and needs no address (ct_flush.c). One bit that the usual owners
 * of marks leave alone: not Docker's suggested bridge-accept-fwmark (0x4000000), Tailscale's
 * 0xff0000, Kubernetes' 0xc000, wg-quick's 0xca6c, nor any bit of the agent's 0x7766xxxx
 * marks (should both run on one host). */
#define WF_GW_CT_MARK              0x08000000u
#define WF_GW_DEFAULT_CONTROL_PORT 51821

struct wf_gw_params {
	char tunnel_ifname[IF_NAMESIZE];
	char public_ifname[IF_NAMESIZE];
	struct in_addr public_ip4[WF_GW_PUBLIC_MAX];
	size_t n_public_ip4;
	struct in6_addr public_ip6[WF_GW_PUBLIC_MAX];
	size_t n_public_ip6;
	uint16_t control_port;
};

/* Renders the owned table. -EEXIST when two peers hold the same public port and -EINVAL for a
 * forward of a family the peer has no address of (the policy lets neither happen), -ENOMEM. */
int wf_gw_render(const struct wf_gw_params *p, const struct wf_gw_config *cfg,
                 const struct wf_gw_state *s, struct wf_nft_table **out);
/* The sets and maps of that table alone, with the elements of s (the public address sets
 * left empty): the shape a change's elements need (apply.h), without the chains and rules. */
int wf_gw_render_elements(const struct wf_gw_config *cfg, const struct wf_gw_state *s,
                          struct wf_nft_table **out);
int wf_gw_render_anchor(struct wf_nft_table **out);

#endif
