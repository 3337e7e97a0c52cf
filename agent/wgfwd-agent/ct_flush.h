/* The server's stale conntrack entries: after each successful apply, gathers what the
 * forwards' changes can leave stale; a little later, searches for all of it in one dump and
 * deletes the entries that would keep a flow on a forward's old target or away from a forward
 * that just appeared, and no others.
 *
 *   forwards last applied + forwards applied now --wf_desired_diff--> changes
 *     --wf_server_ct_matches--> pending matches --each apply: wf_server_ct_prune--> pending
 *     ... (WF_CT_COALESCE_MS, or WF_CT_REMOVED_DELAY_MS for removals only, later)
 *     --wf_server_ct_prune, wf_server_ct_narrow--> matches --wf_conntrack_flush_forwards-->
 *     kernel
 *
 * Which entries a change concerns, per address family (packet path: render.h):
 *  - a forward removed, or whose target moved: flows to its public port translated to the old
 *    target (answers come from the old address and port), from the tunnel and hairpin alike.
 *    A host forward to the same port translates nothing, so there the answer's source alone
 *    tells its flows;
 *  - a UDP forward added, or moved: flows to its public port at one of the original
 *    destinations (wf_ct_orig_dsts: the server's tunnel address on each gateway's tunnel, each
 *    gateway's public addresses for the hairpin) that nothing translated and nothing answered.
 *    They started before the forward (the gateway still forwarding while the server had
 *    none) and would keep going nowhere; a flow that was answered has a listener, and stays.
 *    A TCP forward added has none to look for (see wf_server_ct_matches).
 * A family whose target is the same before and after is left alone, and so is, at search
 * time, whatever the forwards then in place would translate the same way again. */
#ifndef WGFWD_CT_FLUSH_H
#define WGFWD_CT_FLUSH_H

#include <stddef.h>

#include <wgfwd/conntrack.h>

#include "render.h"
#include "state.h"

/* The addresses a forwarded flow may have been sent to before anything translated it: this
 * server's own address on each gateway's tunnel (flows through that gateway) and each gateway's
 * public addresses (hairpin), each once. Room for every address of every gateway, so that no
 * gateway's crowd out another's. */
#define WF_CT_ORIG_DSTS_MAX (WF_GATEWAYS_MAX * (1 + WF_GATEWAY_ADDRS_MAX))

struct wf_ct_orig_dsts {
	struct in_addr ip4[WF_CT_ORIG_DSTS_MAX];
	size_t n_ip4;
	struct in6_addr ip6[WF_CT_ORIG_DSTS_MAX];
	size_t n_ip6;
	/* The conntrack marks the agent's rules give the flows they translate: each gateway's
	 * fwmark (flows from its tunnel) and the hairpin mark, each once. */
	uint32_t marks[WF_CT_MARKS_MAX];
	size_t n_marks;
};

/* Pure: the original destinations of p's own tunnel and of the n gateways (n 0: the one
 * gateway p describes, public addresses from p), and the marks of their flows. */
void wf_server_ct_orig_dsts(const struct wf_server_params *p, const struct wf_server_gateway *g,
                            size_t n, struct wf_ct_orig_dsts *out);

struct event_base;
struct wf_ct_flush;

/* With a base, the search runs on its own once a settle has made it due, and logs what it
 * deleted; without one, only at wf_ct_flush_run. */
int wf_ct_flush_new(struct event_base *base, struct wf_ct_flush **out);
void wf_ct_flush_free(struct wf_ct_flush *f);

/* After a successful apply of d: adds what the forwards' changes since the previous call can
 * leave stale to the pending search (due at the next settle) (the first call counts every forward
 * as added), and remembers d's forwards. Returns how many matches are pending (0: nothing to search
 * for) or -ENOMEM. */
int wf_ct_flush_note(struct wf_ct_flush *f, const struct wf_server_params *p,
                     const struct wf_ct_orig_dsts *dsts, const struct wf_desired *d);

/* The same for a caller that keeps the state and knows what changed: diff is what changed since
 * the previous note, `now' the state after it, read (not copied) when the search runs, so it
 * must stay valid until then (its contents may change: the search prunes against them). */
int wf_ct_flush_note_changes(struct wf_ct_flush *f, const struct wf_server_params *p,
                             const struct wf_ct_orig_dsts *dsts, const struct wf_desired_diff *diff,
                             const struct wf_desired *now);

/* After each apply that put the forwards the last note saw into the kernel: drops the pending
 * matches those forwards make again (a restart's) and cancels the search when none is left;
 * else the search is due (wf_ct_matches_delay_ms). p must stay valid until it runs. Returns
 * how many matches are pending. */
int wf_ct_flush_settle(struct wf_ct_flush *f, const struct wf_server_params *p);

/* Searches conntrack once for everything pending, less what the forwards remembered last make
 * right again, deletes it and counts it in *deleted. Returns how many matches were looked for
 * (0: none, and the kernel was not asked) or -errno. Nothing stays pending either way. */
int wf_ct_flush_run(struct wf_ct_flush *f, const struct wf_server_params *p, size_t *deleted);

/* The searches made and skipped so far (conntrack.h). */
void wf_ct_flush_stats(const struct wf_ct_flush *f, struct wf_ct_stats *out);

/* Pure: the matches for one set of changes. *out is one allocation for free() (also when n is
 * 0). 0 or -ENOMEM. */
int wf_server_ct_matches(const struct wf_server_params *p, const struct wf_ct_orig_dsts *dsts,
                         const struct wf_desired_diff *diff, struct wf_ct_match **out, size_t *n);

/* Pure: drops the matches that select only entries the forwards `now' (sorted as a
 * wf_desired keeps them) would make again: flows translated to the target a forward still
 * has, flows that nothing translated to a port that no forward has. Returns how many are
 * left, kept in order at the front of m. */
size_t wf_server_ct_prune(const struct wf_server_params *p, const struct wf_forward *now,
                          size_t n_now, struct wf_ct_match *m, size_t n);

/* Pure: narrows the IPv6 matches of translated flows to a public port that no forward `now'
 * has to the marks the agent's rules give such flows, and lets their addresses go
 * (addrs_implied): every translated entry of that port and mark, answering from the old target
 * port, is stale whatever its addresses. So the search is a filtered delete in the kernel even
 * where the kernel's IPv6 address filter is wrong (conntrack.h), not a walk of the whole
 * conntrack hash. A port some forward still has keeps its addresses. */
void wf_server_ct_narrow(const struct wf_forward *now, size_t n_now, const uint32_t *marks,
                         size_t n_marks, struct wf_ct_match *m, size_t n);

#endif
