/* A peer's change of forwards cut into slices, each its own nftables transaction, so that no
 * commit of a largest change holds the gateway's loop for long (pure: no I/O).
 *
 *   what went (gone) + what came (came), both in the states' order
 *     --wf_gw_slice_next--> the next slice: a run of keys in that order
 *     --wf_gw_slice_holds--> what the peer holds once the slices up to a key are in
 *
 * A slice is a run of public keys (family, protocol, port) in the order states keep: every key
 * before it went in earlier slices, every key after it goes later. A key that went and came
 * again (a forward that moved to another target) is one deletion and one addition in the same
 * slice, so no transaction leaves the key without a target or with two. */
#ifndef WGFWD_GATEWAY_SLICES_H
#define WGFWD_GATEWAY_SLICES_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* Element changes per slice by default: the kernel commits a few thousand in a few ms. */
#define WF_GW_SLICE_MAX 4096

/* Moves *gone_at and *came_at past the next slice of the change: at most `max' element changes
 * (a forward that went or came is one, a moved key two), but always at least one key, so that
 * a slice of max < 2 still moves. Nothing is left when both are at their ends. */
void wf_gw_slice_next(const struct wf_gw_entries *gone, const struct wf_gw_entries *came,
                      size_t max, size_t *gone_at, size_t *came_at);

/* The first key the slices from (gone_at, came_at) on change, or NULL when none is left. */
const struct wf_ctl_forward *wf_gw_slice_key(const struct wf_gw_entries *gone,
                                             const struct wf_gw_entries *came, size_t gone_at,
                                             size_t came_at);

/* What the peer holds while its change from `held' to `next' goes in: next's forwards before
 * `from' (NULL: all of them), held's from it on, next's egress (a sliced change leaves egress
 * alone). With `promised', next's forwards from `from' on whose keys held lacks are in too:
 * the ports the decision granted the peer, not yet in the kernel but no one else's to take.
 * Sorted as states keep them; 0 or -ENOMEM. */
int wf_gw_slice_holds(const struct wf_gw_entries *held, const struct wf_gw_entries *next,
                      const struct wf_ctl_forward *from, bool promised, struct wf_gw_entries *out);

#endif
