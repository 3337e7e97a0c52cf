/* A peer's state_delta: the request it makes of the one before, decided, applied as elements
 * and appended to the peer's journal. The callback of wf_gw_peer_ops (peers.c) for
 * `state_delta`. */
#ifndef WGFWD_GATEWAY_DELTA_H
#define WGFWD_GATEWAY_DELTA_H

#include <stddef.h>

#include <wgfwd/ctl.h>

void wf_gw_take_delta(void *arg, size_t peer, const struct wf_ctl_state_delta *dl,
                      struct wf_ctl_state_ack *a);

#endif
