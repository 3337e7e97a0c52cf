/* A peer's whole state, taken in steps when its turn comes (control.h): decide, render, build,
 * commit, results; saved in a step of its own, or abandoned when the peer goes. The callbacks
 * of wf_gw_peer_ops (peers.c) for `state`. */
#ifndef WGFWD_GATEWAY_TURN_H
#define WGFWD_GATEWAY_TURN_H

#include <stdbool.h>
#include <stddef.h>

#include <wgfwd/ctl.h>

/* One step each call; true while more are to come. */
bool wf_gw_take_state(void *arg, size_t peer, const struct wf_ctl_state *s,
                      struct wf_ctl_state_ack *a);
void wf_gw_abandon_state(void *arg, size_t peer);
void wf_gw_settle_state(void *arg, size_t peer);

#endif
