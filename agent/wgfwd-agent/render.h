/* The server's data plane, rendered from the desired state (pure: no I/O).
 *
 *   desired state + parameters --wf_server_render--> owned nft table + DOCKER-USER rule
 *                                                     + policy rules + tunnel routes
 *
 * Packet path this encodes (see README "How it works"):
 *  - inbound: a flow arriving on the tunnel for a local address is DNAT'd through the maps
 *    fwd4/fwd6 (l4proto . port -> container address . port) and its conntrack entry is marked;
 *  - return: the reply direction of marked flows gets the fwmark, and a policy rule sends it to
 *    a table whose default route is the tunnel, so replies never leave by the home line;
 *  - egress: per-container policy rules (iif bridge, from address, proto, ports) pick the same
 *    table; flows leaving through the tunnel are masqueraded to the tunnel address;
 *  - MSS of SYNs leaving through the tunnel is clamped to the route MTU;
 *  - hairpin: flows that start on the server towards the gateway's public address and a
 *    forwarded port go straight to the container and keep their internal source address;
 *  - Docker's nftables backend (29+) drops forwarding to unpublished ports with no
 *    DOCKER-USER to open: the first packet of tunnel and hairpin flows carries dockerd's
 *    bridge-accept-fwmark (only its bits: other marks survive), so Docker's chains accept it.
 */
#ifndef WGFWD_AGENT_RENDER_H
#define WGFWD_AGENT_RENDER_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/names.h>
#include <wgfwd/nft.h>
#include <wgfwd/rtnl.h>

#include "state.h"

#define WF_SERVER_TABLE      "wgfwd"
#define WF_SERVER_MAP4       "fwd4"
#define WF_SERVER_MAP6       "fwd6"
#define WF_SERVER_HAIRPIN4   "gateway_public4"
#define WF_SERVER_HAIRPIN6   "gateway_public6"
#define WF_GATEWAY_ADDRS_MAX 8

struct wf_server_params {
	char tunnel_ifname[IF_NAMESIZE];
	uint32_t table;        /* routing table whose default route is the tunnel */
	uint32_t fwmark;       /* conntrack/packet mark of flows that came through the tunnel */
	uint32_t hairpin_mark; /* conntrack mark of hairpin flows (replies stay local) */
	uint32_t rule_priority;
	bool docker_user; /* accept tunnel DNAT flows in Docker's DOCKER-USER chain */
	/* dockerd's --bridge-accept-fwmark MARK[/MASK]; mask 0xffffffff when given without. */
	bool has_accept_mark;
	uint32_t accept_mark, accept_mask;
	/* The server's own tunnel addresses: host services answering tunnel clients. */
	bool has_tunnel_ip4, has_tunnel_ip6;
	struct in_addr tunnel_ip4;
	struct in6_addr tunnel_ip6;
	/* The gateway's tunnel address: routed in the main table even when the tunnel's own
	 * address carries no subnet route (a /32), so the control channel always finds it. */
	bool has_gateway_tunnel_ip4, has_gateway_tunnel_ip6;
	struct in_addr gateway_tunnel_ip4;
	struct in6_addr gateway_tunnel_ip6;
	/* The gateway's public addresses (from the gateway or configuration), for hairpin. */
	struct in_addr gateway_ip4[WF_GATEWAY_ADDRS_MAX];
	size_t n_gateway_ip4;
	struct in6_addr gateway_ip6[WF_GATEWAY_ADDRS_MAX];
	size_t n_gateway_ip6;
};

/* Several gateways (render input, per gateway in configured order). Each has its own tunnel
 * interface, routing table and mark: a flow is marked on arrival by the interface it came in
 * on and its replies go back into that interface, whichever gateways are up. Egress of a
 * container leaves by the first gateway it may use that is not down (by the first it may use
 * when all are); a flow that started by one keeps it. A gateway's public addresses, configured or
 * learnt from it, feed the hairpin set; they are input here, never written back into the
 * parameters. */
#define WF_GATEWAYS_MAX 8
/* Gateway i (0-based, configured order) uses table + i and fwmark + i * this step. */
#define WF_GATEWAY_MARK_STEP 0x10
/* ...and, with several, fwmark + this for the egress flows that started by it. */
#define WF_GATEWAY_EGRESS_MARK 0x8

struct wf_server_gateway {
	char name[WF_GATEWAY_NAME_MAX];
	char ifname[IF_NAMESIZE];
	uint32_t table, fwmark;
	/* This server's addresses on ifname (host replies: `from ADDR lookup table'). */
	bool has_tunnel_ip4, has_tunnel_ip6;
	struct in_addr tunnel_ip4;
	struct in6_addr tunnel_ip6;
	/* The gateway's tunnel address, routed through ifname in the main table. */
	bool has_peer_ip4, has_peer_ip6;
	struct in_addr peer_ip4;
	struct in6_addr peer_ip6;
	struct in_addr public_ip4[WF_GATEWAY_ADDRS_MAX];
	size_t n_public_ip4;
	struct in6_addr public_ip6[WF_GATEWAY_ADDRS_MAX];
	size_t n_public_ip6;
	bool down; /* egress avoids it while another one may be used */
};

/* The one gateway the parameters alone describe: interface, table, mark, addresses. */
void wf_server_gateway_from_params(const struct wf_server_params *p, struct wf_server_gateway *g);
/* Pure: the index of the gateway egress limited to `allowed' (a wgfwd.gateways list, "" for
 * all) leaves by, or -1 when it names none of them. */
int wf_server_egress_gateway(const struct wf_server_gateway *gws, size_t n, const char *allowed);

/* Room for our rules in Docker's chains, both families: one per tunnel and one for hairpin. */
#define WF_SERVER_DOCKER_USER_MAX (2 * (WF_GATEWAYS_MAX + 1))

struct wf_server_plan {
	struct wf_nft_table *table;
	/* Rules placed in Docker's DOCKER-USER chains (not owned: found by shape); each rule's
	 * family says which: `ip filter` or `ip6 filter`. Where Docker made no IPv6 DOCKER-USER
	 * (20.10 with ip6tables), the IPv6 ones go at the top of `ip6 filter FORWARD`. */
	struct wf_nft_rule docker_user[WF_SERVER_DOCKER_USER_MAX];
	size_t n_docker_user;
	struct wf_rule *rules;
	size_t n_rules;
	struct wf_route *routes;
	size_t n_routes;
};

void wf_server_params_default(struct wf_server_params *p);
/* Parses MARK[/MASK] as dockerd's --bridge-accept-fwmark does (decimal, 0x-hex or 0-octal),
 * and refuses what cannot work beside the agent's own marks: bits outside the mask, a mark of
 * 0, or a marked packet that would match the fwmark rule and loop into the tunnel. 0, or
 * -EINVAL with the reason in err. */
int wf_server_parse_accept_mark(const char *s, const struct wf_server_params *p, uint32_t *mark,
                                uint32_t *mask, char *err, size_t err_len);
/* One gateway, as the parameters describe it. */
int wf_server_render(const struct wf_server_params *p, const struct wf_desired *d,
                     struct wf_server_plan *out);
/* Several (1..WF_GATEWAYS_MAX); with one made by wf_server_gateway_from_params, the same plan
 * as wf_server_render. Host forwards go to p's tunnel addresses. */
int wf_server_render_gateways(const struct wf_server_params *p, const struct wf_server_gateway *gws,
                              size_t n, const struct wf_desired *d, struct wf_server_plan *out);
void wf_server_plan_free(struct wf_server_plan *plan);

/* The element-only path: what one desired-state change (wf_desired_diff) deletes from and adds
 * to the forward maps, for wf_nft_batch_sync_elements. Applied to the maps of the state before,
 * the same maps a whole render of the state after has. Nothing else of a plan depends on the
 * forwards: a change of egress entries, parameters or gateways takes the whole path. */
struct wf_server_elem_changes {
	struct wf_nft_set del[2], add[2]; /* WF_SERVER_MAP4, WF_SERVER_MAP6 */
};
int wf_server_render_elements(const struct wf_server_params *p, const struct wf_desired_diff *diff,
                              struct wf_server_elem_changes *out);
void wf_server_elem_changes_free(struct wf_server_elem_changes *c);

/* Docker's chain and the table it lives in (iptables-nft's `ip filter` / `ip6 filter`). */
#define WF_DOCKER_USER_TABLE    "filter"
#define WF_DOCKER_USER_CHAIN    "DOCKER-USER"
#define WF_DOCKER_FORWARD_CHAIN "FORWARD"
/* Docker 29's nftables backend: its table and forward chain (no DOCKER-USER there). */
#define WF_DOCKER_NFT_TABLE         "docker-bridges"
#define WF_DOCKER_NFT_FORWARD_CHAIN "filter-FORWARD"

#endif
