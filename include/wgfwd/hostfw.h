/* The accept rules wgfwd-gateway places in the host's iptables-nft chains, so that a host
 * firewall with drop policies (ufw at its defaults, a hand-written `iptables -P FORWARD DROP`)
 * lets wgfwd's own flows through without its owner editing it. In nftables every base chain on
 * a hook must accept a packet: an accept in the gateway's own table does not help.
 *
 *   params --wf_gw_hostfw_render (pure)--> rules for ip/ip6 filter FORWARD and INPUT
 *          --wf_gw_hostfw_batch--> missing ones inserted at the top, duplicates and unwanted
 *                                  ones deleted, inside the caller's batch (so in the same
 *                                  transaction as the owned table)
 *
 * What is accepted, and nothing else:
 *   FORWARD  -o TUN -m conntrack --ctstate DNAT               forwarded public ports
 *            -i TUN -m conntrack --ctstate RELATED,ESTABLISHED  their replies, ongoing egress
 *            -o TUN -m conntrack --ctstate RELATED,ESTABLISHED  replies to egress
 *            -i TUN -o PUBLIC                                 new egress: the owned table
 *                                                             drops what a peer was not granted
 *   INPUT    -i TUN -p tcp -m tcp --dport CONTROL             the control channel
 *
 * Where: the built-in chains, not ufw's `ufw-before-forward`/`ufw-before-input`. ufw (with its
 * default MANAGE_BUILTINS=no) never flushes the built-in chains: `ufw reload`, `ufw disable`
 * and `ufw enable` flush and refill only ufw's own chains, so rules here survive every reload
 * untouched, where rules in ufw-before-* would vanish at each one and pass nothing until
 * repaired. The same place serves a hand-written iptables policy drop without ufw, and Docker's
 * FORWARD. When something does flush the built-in chains (ufw with MANAGE_BUILTINS=yes,
 * `iptables -F`), that commit's nftables notification starts the gateway's drift repair.
 *
 * Only chains that exist are touched and none is created: with no iptables filter chain there
 * is no iptables drop to pass through. Every rule has exactly the shape iptables-nft writes for
 * its command line (xt conntrack match for --ctstate, interface names compared with their NUL),
 * so `iptables -S` reads it, and the gateway finds its rules by that shape.
 *
 * Shared: the gateway writes these rules (its hostfw.h adds the batch and its cache), and
 * `wgfwd doctor --gateway` reads them. */
#ifndef WGFWD_HOSTFW_H
#define WGFWD_HOSTFW_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/nft_kernel.h>

#define WF_GW_HOSTFW_TABLE   "filter"
#define WF_GW_HOSTFW_FORWARD "FORWARD"
#define WF_GW_HOSTFW_INPUT   "INPUT"
#define WF_GW_HOSTFW_MAX     10
#define WF_GW_HOSTFW_TEXT    160

struct wf_gw_hostfw {
	bool enabled; /* false: none is wanted, and any of ours found is removed */
	size_t n;
	struct wf_nft_rule rules[WF_GW_HOSTFW_MAX]; /* family and chain set on each */
	/* The iptables/ip6tables command each rule stands for, for logs and --dry-run. */
	char text[WF_GW_HOSTFW_MAX][WF_GW_HOSTFW_TEXT];
};

/* The gateway's interfaces and control port: all the rules depend on. */
struct wf_gw_hostfw_spec {
	char tunnel_ifname[IF_NAMESIZE];
	char public_ifname[IF_NAMESIZE]; /* may be empty */
	uint16_t control_port;
};

/* Pure. Without a public interface (--cleanup without one) the egress accept is left out. */
void wf_gw_hostfw_render(const struct wf_gw_hostfw_spec *p, bool enabled, struct wf_gw_hostfw *out);

struct wf_gw_hostfw_result {
	size_t inserted, deleted; /* by this batch */
	size_t chains;            /* iptables filter chains found (of 4) */
	size_t wanted;            /* wanted rules whose chain exists */
	size_t in_place;          /* wanted rules in those chains (after the batch, once settled) */
};

/* Reads each existing chain; with a batch, adds what wf_gw_hostfw_batch would (no cache). */
int wf_gw_hostfw_walk(struct wf_nft *nft, struct wf_nft_batch *b, const struct wf_gw_hostfw *hf,
                      struct wf_gw_hostfw_result *res);
/* Reads only: how many chains exist and how many wanted rules are in them. */
int wf_gw_hostfw_check(struct wf_nft *nft, const struct wf_gw_hostfw *hf,
                       struct wf_gw_hostfw_result *res);

#endif
