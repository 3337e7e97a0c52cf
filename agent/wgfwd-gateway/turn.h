/* A peer's whole state, taken in steps when its turn comes (control.h): decide, render, build,
 * commit, results; saved in a step of its own, or abandoned when the peer goes. The callbacks
 * of wf_gw_peer_ops (peers.c) for `state`. */
#ifndef WGFWD_GATEWAY_TURN_H
#define WGFWD_GATEWAY_TURN_H

#include <stdbool.h>
#include <stddef.h>

#include <wgfwd/ctl.h>

#include "policy.h"

struct wf_gw_daemon;

/* One step each call; true while more are to come. */
bool wf_gw_take_state(void *arg, size_t peer, const struct wf_ctl_state *s,
                      struct wf_ctl_state_ack *a);
void wf_gw_abandon_state(void *arg, size_t peer);
bool wf_gw_cut_state(void *arg, size_t peer);
void wf_gw_settle_state(void *arg, size_t peer);
/* What every peer holds as another peer's decision must see it: a peer whose state's turn is
 * under way holds, besides what the kernel has of it, the ports its decision granted (a slice
 * at a time, turn.c). `peer' (the one being decided) is seen as it holds. view->peers is an
 * array of its own over d's entries: free that alone. 0 or -ENOMEM. */
int wf_gw_turns_view(const struct wf_gw_daemon *d, size_t peer, struct wf_gw_state *view);

#endif
