/* Kernel change notifications that may mean drift: nftables commits, and changes of policy
 * rules, routes, links and addresses. The watcher only says "something changed"; the daemon
 * then compares the kernel with what it wants (cheap when nothing differs).
 *
 * Once the daemon names the nftables tables it owns or reads (wf_nlwatch_watch_nft), a commit
 * that provably touched none of them is no change: it is not said, and the daemon's record of
 * what it committed stays trusted past it (the watcher keeps the process's ledger,
 * nft_notify.h). Lost notifications are said, and trust nothing until the next commit seen
 * whole. Without named tables every nftables commit is a change. */
#ifndef WGFWD_NLWATCH_H
#define WGFWD_NLWATCH_H

#include <stdint.h>

struct event_base;
struct json_object;
struct wf_metrics;
struct wf_nlwatch;

int wf_nlwatch_new(struct wf_nlwatch **out, struct event_base *base, void (*changed)(void *ctx),
                   void *ctx);
void wf_nlwatch_free(struct wf_nlwatch *w);
/* family NFPROTO_*, or 0 for a table of this name in every family. -ENOSPC past
 * WF_NFT_WATCHED_MAX tables. */
int wf_nlwatch_watch_nft(struct wf_nlwatch *w, uint8_t family, const char *table);

struct wf_nlwatch_counts {
	uint64_t nft_commits; /* nftables commits seen end */
	uint64_t nft_quiet;   /* of which touched no watched table and were not said */
	uint64_t lost;        /* times notifications were lost */
};
void wf_nlwatch_counts(const struct wf_nlwatch *w, struct wf_nlwatch_counts *out);
/* What the watcher and the caches saved, in a daemon's status document (adds "readbacks":
 * whole tables and single chains read back from the kernel, and "nft_commits": seen, passed
 * over as touching none of the watched tables, times notifications were lost) and metrics
 * (prefix_nft_readbacks_total, prefix_nft_commits_passed_total). w may be NULL. */
void wf_nlwatch_status_add(struct json_object *doc, const struct wf_nlwatch *w);
int wf_nlwatch_metrics(struct wf_metrics *m, const char *prefix, const struct wf_nlwatch *w);
/* The nftables socket, for tests that starve it of buffer space. */
int wf_nlwatch_nft_fd(const struct wf_nlwatch *w);

#endif
