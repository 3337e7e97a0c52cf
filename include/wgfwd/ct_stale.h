/* The stale-conntrack engine both daemons share: gathers the conntrack matches of a burst of
 * forward changes and, a little later, searches for all of them in one dump and deletes the
 * entries that the forwards then in place would not make the same way again.
 *
 *   the daemon's pure "which flows changed" -> matches --wf_ct_stale_add/_note--> pending
 *     --each change in place: wf_ct_stale_settle, the daemon's pure prune--> pending
 *     ... wf_ct_matches_delay_ms later (or wf_ct_stale_run) ...
 *   pending --prune, narrow--> matches --wf_conntrack_flush_forwards--> kernel
 *     --> the daemon's flushed callback (it logs; the engine never does)
 *
 * Why the pending matches are pruned at every change, not only when the search runs: the
 * commonest change is a restart (a container stopped and started again, its forwards back the
 * same way), and the removal's matches then select nothing stale. Pruned at the start, they go
 * and the search is cancelled; pruned only at search time, a search lands whenever the
 * container happens to be down then. Dropping them early is safe: a forward that goes again
 * later notes its own matches with that removal.
 *
 * Why the search waits and why one dump serves all: conntrack.h. Each daemon supplies only the
 * two pure functions: which matches a change makes (agent/wgfwd-agent/ct_flush.h,
 * agent/wgfwd-gateway/ct_flush.h), and which of them the state of now makes right again. */
#ifndef WGFWD_CT_STALE_H
#define WGFWD_CT_STALE_H

#include <stdbool.h>
#include <stddef.h>

#include <wgfwd/conntrack.h>

struct event_base;
struct json_object;
struct wf_ct_stale;
struct wf_metrics;

struct wf_ct_stale_ops {
	/* Pure: drops the matches that select only entries the state in place now would make
	 * again, keeping the rest in order at the front of m; returns how many are left. */
	size_t (*prune)(void *ctx, struct wf_ct_match *m, size_t n);
	/* Pure, at search time only, on what prune left: may widen how a match is searched for
	 * where the state of now allows it (wf_server_ct_narrow), which must not outlive that
	 * state, so never on what stays pending. May be NULL. */
	void (*narrow)(void *ctx, struct wf_ct_match *m, size_t n);
	/* After a search that was due: looked_for is how many matches were searched for (0: none,
	 * and the kernel was not asked) or -errno; deleted counts the entries that went. May be
	 * NULL. */
	void (*flushed)(void *ctx, int looked_for, size_t deleted);
};

/* Opens conntrack: -errno when there is no access (the daemon then runs without, and stale
 * entries stay until their flows go idle). With a base, a search runs when the matches
 * pending at a settle ask for it (wf_ct_matches_delay_ms); without one, only when
 * wf_ct_stale_run is called. */
int wf_ct_stale_new(struct event_base *base, const struct wf_ct_stale_ops *ops, void *ctx,
                    struct wf_ct_stale **out);
/* A search still due runs first. */
void wf_ct_stale_free(struct wf_ct_stale *s);
/* Searches by filtered deletes where the kernel can (wf_conntrack_set_kernel_flush): what they
 * deleted is then counted from the namespace's count, exact only while nothing else comes or
 * goes. */
void wf_ct_stale_set_kernel_flush(struct wf_ct_stale *s, bool on);

/* How long the search for the matches of removed forwards (those with a reply source) waits.
 * A restart's start (docker restart, compose recreating a container, an update) comes within
 * it, and a forward back the same way leaves nothing stale: its settle drops the matches and
 * the kernel is asked nothing (in the lab a stop and a start of a small container came about
 * a second apart: 1 s was too short). The flows of a removed forward keep its old path at most
 * this long. */
#define WF_CT_REMOVED_DELAY_MS 2000

/* Pure: how soon to search for n pending matches: WF_CT_COALESCE_MS when one selects
 * unanswered flows that nothing translated (a UDP forward came: its refused flows must get
 * through at once), else WF_CT_REMOVED_DELAY_MS. */
unsigned wf_ct_matches_delay_ms(const struct wf_ct_match *m, size_t n);

/* Adds n matches to the pending search; nothing is due until the next settle. Returns how many
 * are pending or -ENOMEM (nothing added). */
int wf_ct_stale_add(struct wf_ct_stale *s, const struct wf_ct_match *m, size_t n);
/* The state prune reads is the one in place now (after each change that reached the kernel):
 * drops the pending matches it makes again, and cancels the search when none is left (counted
 * as moot: the kernel is not asked; flushed is called with 0 when a search was pending);
 * otherwise the search is due within wf_ct_matches_delay_ms of what is pending, unless due
 * sooner already. Returns how many matches are pending. */
int wf_ct_stale_settle(struct wf_ct_stale *s);
/* wf_ct_stale_add, for a caller that notes a change before its state holds it: with a base,
 * the settle follows once the event that called this has returned (n may be 0: a change that
 * made no match still makes the pending ones right again). */
int wf_ct_stale_note(struct wf_ct_stale *s, const struct wf_ct_match *m, size_t n);

/* Searches now for everything pending, less what prune drops, deletes it and counts it in
 * *deleted. Returns how many matches were looked for (0: none, and the kernel was not asked) or
 * -errno. Nothing stays pending either way. Does not call flushed. */
int wf_ct_stale_run(struct wf_ct_stale *s, size_t *deleted);

/* The searches made, skipped (conntrack.h: when a search is skipped) and moot so far. */
void wf_ct_stale_stats(const struct wf_ct_stale *s, struct wf_ct_stats *out);
/* Shows them: "conntrack_searches": {"run", "skipped", "moot", "filtered_deletes", "dumps"} in
 * obj, and the counters <prefix>_conntrack_searches_total{result="run"|"skipped"|"moot"} and
 * <prefix>_conntrack_search_walks_total{how="filtered_delete"|"dump"}. st NULL: no conntrack
 * access, shown as nothing. */
void wf_ct_stats_status_add(struct json_object *obj, const struct wf_ct_stats *st);
int wf_ct_stats_metrics(struct wf_metrics *m, const char *prefix, const struct wf_ct_stats *st);

/* For the daemons' pure functions, which gather their matches in a wf_ct_pending: hands p's
 * matches over as one allocation for free() (also when there are none) and empties p, or, when
 * err is set or there is no memory, frees them. Returns err, 0 or -ENOMEM. */
int wf_ct_pending_take(struct wf_ct_pending *p, int err, struct wf_ct_match **out, size_t *n);

#endif
