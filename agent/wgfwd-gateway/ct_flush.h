/* The gateway's stale conntrack entries: when a peer's forwards change, gathers what the change
 * can leave stale; a little later, searches for all of it in one dump and deletes the entries
 * that would keep a flow on a forward that is gone or moved, or away from one that appeared,
 * and no others.
 *
 *   state before + state after --wf_gw_ct_matches--> pending matches ... (a burst later)
 *     --wf_gw_ct_prune--> matches --> kernel          (the engine: <wgfwd/ct_stale.h>)
 *
 * Which entries a change concerns (packet path: render.h):
 *  - a forward removed, or whose target port changed: flows to its public port translated to
 *    the peer's tunnel address and that port, from outside and from the tunnel alike;
 *  - a UDP forward added: flows to its public port at one of the gateway's public addresses
 *    that nothing translated and nothing answered. They came before the forward and were
 *    refused, yet every new datagram keeps their entry alive, and with it the refusal; a flow
 *    that was answered has a listener on the gateway, and stays. A refused TCP connection
 *    leaves no such entry (the reasons are in agent/wgfwd-agent/ct_flush.c): an added TCP forward
 *    has nothing to search for.
 * At search time, whatever the state then in place would make the same way again is left
 * alone. */
#ifndef WGFWD_GATEWAY_CT_FLUSH_H
#define WGFWD_GATEWAY_CT_FLUSH_H

#include <stddef.h>

#include <wgfwd/conntrack.h>

#include "policy.h"
#include "render.h"

/* Pure: the matches for going from one state to the next. *out is one allocation for free()
 * (also when n is 0). 0 or -ENOMEM. */
int wf_gw_ct_matches(const struct wf_gw_params *p, const struct wf_gw_config *cfg,
                     const struct wf_gw_state *from, const struct wf_gw_state *to,
                     struct wf_ct_match **out, size_t *n);

/* Pure: drops the matches that select only entries the state `now' would make again: flows
 * translated to a peer that still holds the forward with the same target port, flows that
 * nothing translated to a port that no peer holds. Returns how many are left, kept in order at
 * the front of m. */
size_t wf_gw_ct_prune(const struct wf_gw_config *cfg, const struct wf_gw_state *now,
                      struct wf_ct_match *m, size_t n);

/* Pure, at search time, on what the prune left: the IPv6 match of a removed forward whose
 * public port no peer holds in `now' names the gateway's mark bit (WF_GW_CT_MARK) and leaves
 * its addresses to the mark, so the kernel's filtered delete takes it, where its IPv6 address
 * filter cannot be trusted (<wgfwd/conntrack.h>). A port that moved to another peer keeps its
 * address match. */
void wf_gw_ct_narrow(const struct wf_gw_config *cfg, const struct wf_gw_state *now,
                     struct wf_ct_match *m, size_t n);

#endif
