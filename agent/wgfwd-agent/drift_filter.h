/* Which kernel notifications can touch what the agent owns (pure: no I/O).
 *
 *   rtnetlink notification --wf_nlwatch_note_parse--> note --wf_agent_note_looks--> what to
 *   look at again: the agent's rules and routes, the sysctls, or nothing
 *
 * A container start or stop brings a dozen notifications that are Docker's alone: its veth
 * pair appears and goes, joins a bridge, gets addresses and link-local routes. None can
 * change the agent's rules (owned by protocol number), its routes (its protocol, its tables),
 * the tunnel they go through, or the sysctls it keeps, so none is a reason to look.
 *
 * What is one:
 *  - a rule or route of the agent's protocol, or in one of its routing tables;
 *  - anything about a tunnel interface: its link going down or away (IPv4 drops the routes
 *    through it without a word), its addresses (the last one gone does the same), and its
 *    forwarding or rp_filter (netconf);
 *  - forwarding or rp_filter of all/default;
 *  - a link that may hear router advertisements appearing or changing (its accept_ra is one
 *    the agent keeps, and changes of accept_ra are not notified);
 *  - lost notifications: anything. */
#ifndef WGFWD_AGENT_DRIFT_FILTER_H
#define WGFWD_AGENT_DRIFT_FILTER_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/nlwatch.h>

#include "render.h"

/* What the agent owns in rtnetlink: each gateway's tunnel and routing table. */
struct wf_agent_owned {
	char tunnels[WF_GATEWAYS_MAX][IF_NAMESIZE];
	uint32_t tables[WF_GATEWAYS_MAX];
	size_t n;
};

/* From the render input (n 0: the one gateway p describes). */
void wf_agent_owned_from(const struct wf_server_params *p, const struct wf_server_gateway *gws,
                         size_t n, struct wf_agent_owned *out);

enum {
	WF_LOOK_RTNL = 1,    /* the agent's rules and routes */
	WF_LOOK_SYSCTLS = 2, /* forwarding, rp_filter, accept_ra */
};

/* WF_LOOK_* bits: what a note can have changed of what the agent owns; 0 for nothing. */
unsigned wf_agent_note_looks(const struct wf_agent_owned *own, const struct wf_nlwatch_note *n);

/* What the kernel may drop before it wakes the agent (wf_nlwatch_scope_rtnl): whatever the
 * filter above would pass over anyway, as far as a message's fixed places tell. ifindex[i] is
 * the index of own->tunnels[i] (0: it does not exist). Docker's veths and docker0 are skipped
 * by name, unless a tunnel's name begins the same way. */
void wf_agent_scope(const struct wf_agent_owned *own, const int *ifindex,
                    struct wf_nlwatch_scope *out);

#endif
