/* The stale-conntrack engine both daemons share: gathers the conntrack matches of a burst of
 * forward changes and, a little later, searches for all of them in one dump and deletes the
 * entries that the forwards then in place would not make the same way again.
 *
 *   the daemon's pure "which flows changed" -> matches --wf_ct_stale_note--> pending
 *     ... WF_CT_COALESCE_MS later (or wf_ct_stale_run) ...
 *   pending --the daemon's pure prune--> matches --wf_conntrack_flush_forwards--> kernel
 *     --> the daemon's flushed callback (it logs; the engine never does)
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
	/* After a search that was due: looked_for is how many matches were searched for (0: none,
	 * and the kernel was not asked) or -errno; deleted counts the entries that went. May be
	 * NULL. */
	void (*flushed)(void *ctx, int looked_for, size_t deleted);
};

/* Opens conntrack: -errno when there is no access (the daemon then runs without, and stale
 * entries stay until their flows go idle). With a base, a search runs WF_CT_COALESCE_MS after
 * the first match of a burst is noted; without one, only when wf_ct_stale_run is called. */
int wf_ct_stale_new(struct event_base *base, const struct wf_ct_stale_ops *ops, void *ctx,
                    struct wf_ct_stale **out);
/* A search still due runs first. */
void wf_ct_stale_free(struct wf_ct_stale *s);
/* Searches by filtered deletes where the kernel can (wf_conntrack_set_kernel_flush): what they
 * deleted is then counted from the namespace's count, exact only while nothing else comes or
 * goes. */
void wf_ct_stale_set_kernel_flush(struct wf_ct_stale *s, bool on);

/* Adds n matches to the pending search, due WF_CT_COALESCE_MS from now unless it is due sooner.
 * Returns how many are pending or -ENOMEM (nothing added). */
int wf_ct_stale_note(struct wf_ct_stale *s, const struct wf_ct_match *m, size_t n);
/* The same, due within ms: a search already due sooner keeps its time, one due later runs at
 * now + ms. */
int wf_ct_stale_note_within(struct wf_ct_stale *s, const struct wf_ct_match *m, size_t n,
                            unsigned ms);

/* Searches now for everything pending, less what prune drops, deletes it and counts it in
 * *deleted. Returns how many matches were looked for (0: none, and the kernel was not asked) or
 * -errno. Nothing stays pending either way. Does not call flushed. */
int wf_ct_stale_run(struct wf_ct_stale *s, size_t *deleted);

/* The searches made and skipped so far (conntrack.h: when a search is skipped). */
void wf_ct_stale_stats(const struct wf_ct_stale *s, struct wf_ct_stats *out);
/* Shows them: "conntrack_searches": {"run", "skipped"} in obj, and the counter
 * <prefix>_conntrack_searches_total{result="run"|"skipped"}. st NULL: no conntrack access,
 * shown as nothing. */
void wf_ct_stats_status_add(struct json_object *obj, const struct wf_ct_stats *st);
int wf_ct_stats_metrics(struct wf_metrics *m, const char *prefix, const struct wf_ct_stats *st);

/* For the daemons' pure functions, which gather their matches in a wf_ct_pending: hands p's
 * matches over as one allocation for free() (also when there are none) and empties p, or, when
 * err is set or there is no memory, frees them. Returns err, 0 or -ENOMEM. */
int wf_ct_pending_take(struct wf_ct_pending *p, int err, struct wf_ct_match **out, size_t *n);

#endif
