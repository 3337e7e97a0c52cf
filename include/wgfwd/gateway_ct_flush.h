/* The gateway's stale conntrack entries: when a peer's forwards change, deletes the entries
 * that would keep a flow on a forward that is gone or moved, or away from one that appeared,
 * and no others.
 *
 *   state before + state after --wf_gw_ct_matches--> conntrack matches --> kernel
 *
 * Which entries a change concerns (packet path: gateway_render.h):
 *  - a forward removed, or whose target port changed: flows to its public port translated to
 *    the peer's tunnel address and that port, from outside and from the tunnel alike;
 *  - a forward added: flows to its public port at one of the gateway's public addresses that
 *    nothing translated and nothing answered. They came before the forward and were refused,
 *    yet every new packet (UDP) keeps their entry alive, and with it the refusal; a flow that
 *    was answered has a listener on the gateway, and stays. */
#ifndef WGFWD_GATEWAY_CT_FLUSH_H
#define WGFWD_GATEWAY_CT_FLUSH_H

#include <stddef.h>

#include <wgfwd/conntrack.h>
#include <wgfwd/gateway_policy.h>
#include <wgfwd/gateway_render.h>

/* Pure: the matches for going from one state to the next. *out is one allocation for free()
 * (also when n is 0). 0 or -ENOMEM. */
int wf_gw_ct_matches(const struct wf_gw_params *p, const struct wf_gw_config *cfg,
                     const struct wf_gw_state *from, const struct wf_gw_state *to,
                     struct wf_ct_match **out, size_t *n);

/* Deletes the entries the change from `from' to `to' leaves stale, counting them in *deleted.
 * Returns how many matches were looked for (0: nothing changed, the kernel was not asked) or
 * -errno. */
int wf_gw_ct_flush(struct wf_conntrack *ct, const struct wf_gw_params *p,
                   const struct wf_gw_config *cfg, const struct wf_gw_state *from,
                   const struct wf_gw_state *to, size_t *deleted);

#endif
