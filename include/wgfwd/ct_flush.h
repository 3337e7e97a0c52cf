/* The server's stale conntrack entries: after each successful apply, deletes the entries that
 * would keep a flow on a forward's old target or away from a forward that just appeared, and
 * no others.
 *
 *   forwards last applied + forwards applied now --wf_desired_diff--> changes
 *     --wf_server_ct_matches--> conntrack matches --wf_conntrack_flush_forwards--> kernel
 *
 * Which entries a change concerns, per address family (packet path: server_render.h):
 *  - a forward removed, or whose target moved: flows to its public port translated to the old
 *    target (answers come from the old address and port), from the tunnel and hairpin alike.
 *    A host forward to the same port translates nothing, so there the answer's source alone
 *    tells its flows;
 *  - a forward added, or moved: flows to its public port at the server's tunnel address or
 *    at a gateway public address (hairpin) that nothing translated and nothing answered.
 *    They started before the forward (the gateway still forwarding while the server had
 *    none) and would keep going nowhere; a flow that was answered has a listener, and stays.
 * A family whose target is the same before and after is left alone. */
#ifndef WGFWD_CT_FLUSH_H
#define WGFWD_CT_FLUSH_H

#include <stddef.h>

#include <wgfwd/conntrack.h>
#include <wgfwd/server_render.h>
#include <wgfwd/state.h>

struct wf_ct_flush;

int wf_ct_flush_new(struct wf_ct_flush **out);
void wf_ct_flush_free(struct wf_ct_flush *f);

/* After a successful apply of d: deletes what the forwards' changes since the previous call
 * leave stale (the first call counts every forward as added) and counts it in *deleted.
 * Returns how many matches were looked for (0: nothing changed, the kernel was not asked) or
 * -errno. The forwards of d are remembered even when deleting failed, so a failure is
 * reported once. */
int wf_ct_flush_applied(struct wf_ct_flush *f, const struct wf_server_params *p,
                        const struct wf_desired *d, size_t *deleted);

/* Pure: the matches for one set of changes. *out is one allocation for free() (also when n is
 * 0). 0 or -ENOMEM. */
int wf_server_ct_matches(const struct wf_server_params *p, const struct wf_desired_diff *diff,
                         struct wf_ct_match **out, size_t *n);

#endif
