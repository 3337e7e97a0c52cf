/* Kernel change notifications that may mean drift: nftables commits, and changes of policy
 * rules, routes, links and addresses. The watcher says "something changed"; the daemon then
 * compares the kernel with what it wants (cheap when nothing differs).
 *
 * A daemon that names what it owns in rtnetlink (wf_nlwatch_filter_rtnl) is told only of
 * what can touch it: each notification is read for what it is about (a note) and its filter
 * judges it. Docker's veths coming and going, their addresses and bridge ports, routes of
 * other tables are then no change at all.
 *
 * Once the daemon names the nftables tables it owns or reads (wf_nlwatch_watch_nft), a commit
 * that provably touched none of them is no change: it is not said, and the daemon's record of
 * what it committed stays trusted past it (the watcher keeps the process's ledger,
 * nft_notify.h). Lost notifications are said, and trust nothing until the next commit seen
 * whole. Without named tables every nftables commit is a change. */
#ifndef WGFWD_NLWATCH_H
#define WGFWD_NLWATCH_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct nlmsghdr;
struct json_object;
struct wf_metrics;
struct wf_nlwatch;

int wf_nlwatch_new(struct wf_nlwatch **out, struct event_base *base, void (*changed)(void *ctx),
                   void *ctx);
void wf_nlwatch_free(struct wf_nlwatch *w);
/* family NFPROTO_*, or 0 for a table of this name in every family. -ENOSPC past
 * WF_NFT_WATCHED_MAX tables. */
int wf_nlwatch_watch_nft(struct wf_nlwatch *w, uint8_t family, const char *table);

/* What one rtnetlink notification is about. */
enum wf_nlwatch_kind {
	WF_NLWATCH_LOST, /* notifications were lost, or one could not be read: anything may have
	                    changed */
	WF_NLWATCH_RULE,
	WF_NLWATCH_ROUTE,
	WF_NLWATCH_LINK,
	WF_NLWATCH_ADDR,
	WF_NLWATCH_NETCONF, /* forwarding or rp_filter of an interface, or of all/default */
};

struct wf_nlwatch_note {
	enum wf_nlwatch_kind kind;
	bool removed;   /* RTM_DEL* */
	uint8_t family; /* AF_INET, AF_INET6; AF_BRIDGE for a bridge port's own link message */
	int ifindex; /* link, address, netconf (< 0: all or default), a route's RTA_OIF; 0: none */
	char ifname[IF_NAMESIZE]; /* link: IFLA_IFNAME; address, netconf: filled by the watcher
	                             from ifindex while that interface exists; else "" */
	uint32_t table;           /* rule, route: FRA_TABLE / RTA_TABLE over the header's byte */
	uint8_t protocol;         /* rule: FRA_PROTOCOL, route: rtm_protocol */
	bool master;              /* link: IFLA_MASTER set (a bridge port) */
};

/* Pure: reads one rtnetlink message. 0, -EINVAL when malformed, -EOPNOTSUPP for a type that
 * is none of these. */
int wf_nlwatch_note_parse(const struct nlmsghdr *nlh, struct wf_nlwatch_note *out);

/* From now on an rtnetlink notification is a change only when fn(ctx, note) says so (a lost or
 * unreadable one comes as WF_NLWATCH_LOST); changes of forwarding and rp_filter (netconf) are
 * followed too. fn runs inside the watcher's read, before `changed', which is still called
 * once per burst read. Without a filter every rtnetlink notification is a change. */
typedef bool (*wf_nlwatch_filter_fn)(void *ctx, const struct wf_nlwatch_note *note);
int wf_nlwatch_filter_rtnl(struct wf_nlwatch *w, wf_nlwatch_filter_fn fn, void *ctx);

/* Lets the kernel drop, before they wake the daemon, the rtnetlink notifications that can
 * concern none of what a scope names, so that a filter (above) sees only the few that might.
 * Kept: every rule; routes of `protocol' or in one of `tables' (the header of a route in a table
 * above 255 does not say which: all those are kept); addresses of the interfaces `ifindex'
 * (link and host scope aside); forwarding and rp_filter of all/default and of those
 * interfaces; every link but bridges' views of their ports and those whose name begins with
 * one of `skip_links' (a prefix that is also the beginning of a name in `keep_names' is not
 * applied). A scope again replaces the one before: the daemon sets one whenever an
 * interface's index may have changed. 0 or -errno (the kernel then drops nothing). */
#define WF_NLWATCH_SCOPE_MAX 8
struct wf_nlwatch_prefix {
	char bytes[8]; /* a NUL among them matches the end of the name */
	size_t len;
};
struct wf_nlwatch_scope {
	uint8_t protocol;
	uint32_t tables[WF_NLWATCH_SCOPE_MAX];
	size_t n_tables;
	int ifindex[WF_NLWATCH_SCOPE_MAX];
	size_t n_ifindex;
	char keep_names[WF_NLWATCH_SCOPE_MAX][IF_NAMESIZE];
	size_t n_keep_names;
	struct wf_nlwatch_prefix skip_links[4];
	size_t n_skip_links;
};
int wf_nlwatch_scope_rtnl(struct wf_nlwatch *w, const struct wf_nlwatch_scope *scope);

struct wf_nlwatch_counts {
	uint64_t nft_commits; /* nftables commits seen end */
	uint64_t nft_quiet;   /* of which touched no watched table and were not said */
	uint64_t lost;        /* times notifications were lost */
	uint64_t rtnl_notes;  /* rtnetlink notifications read (with a filter) */
	uint64_t rtnl_quiet;  /* of which the filter passed over */
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
