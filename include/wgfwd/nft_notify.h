/* nftables change notifications read for what they say: which tables each commit touched.
 *
 *   kernel commit --NFNLGRP_NFTABLES--> NEWTABLE/NEWRULE/DELSETELEM... (each naming family and
 *   table), then NEWGEN (the new generation) --wf_nft_ledger_feed--> ledger --quiet?--> caches
 *
 * Every commit advances the ruleset generation, so what a daemon last committed (nft_sync.h)
 * is known to be in the kernel only while the generation stands still. The ledger lets it go
 * on trusting that past commits it has seen whole and that touched none of the tables it owns
 * or reads (its watched tables). Whatever it cannot account for counts as touching every
 * table: a commit only partly seen (the first one after start, one around lost notifications,
 * a gap in the generations) and a message naming no table. Pure: fed one message at a time. */
#ifndef WGFWD_NFT_NOTIFY_H
#define WGFWD_NFT_NOTIFY_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/nft.h>

#define WF_NFT_WATCHED_MAX 16

struct wf_nft_watched {
	uint8_t family; /* NFPROTO_*; 0: a table of this name in any family */
	char name[WF_NFT_NAME_MAX];
	uint32_t touched; /* generation of the last commit that touched it (or went unaccounted) */
};

enum wf_nft_ledger_state {
	WF_NFT_LEDGER_UNSYNCED, /* no commit seen whole yet */
	WF_NFT_LEDGER_LOST,     /* notifications were lost; waiting for the socket to run dry */
	WF_NFT_LEDGER_SYNCED,
};

struct wf_nft_ledger {
	struct wf_nft_watched tables[WF_NFT_WATCHED_MAX];
	size_t n_tables;
	enum wf_nft_ledger_state state;
	uint32_t last;     /* generation of the last commit seen (SYNCED) */
	uint32_t cur_mask; /* watched tables the commit being read touched so far */
	bool cur_unknown;  /* ... or something that cannot be told apart */
	bool cur_open;     /* some message of it was read */
	/* The table the commit's last message named (family, attribute bytes): a commit of
	 * thousands of elements names one table thousands of times over. */
	uint8_t last_family;
	uint16_t last_len; /* 0: none */
	char last_table[WF_NFT_NAME_MAX];
	uint64_t commits; /* commits seen end (NEWGEN) */
	uint64_t quiet;   /* of which touched no watched table and were accounted for */
};

enum wf_nft_note {
	WF_NFT_NOTE_NONE,    /* nothing to act on (yet) */
	WF_NFT_NOTE_QUIET,   /* a commit ended that touched none of the watched tables */
	WF_NFT_NOTE_TOUCHED, /* a watched table may have changed: look at the kernel */
	WF_NFT_NOTE_OWN,     /* a commit of this process's own ended: it holds what was written */
};

/* Zeroed is an empty, unsynced ledger. */
void wf_nft_ledger_init(struct wf_nft_ledger *l);
/* Adds a table to the watched ones: -ENOSPC when full. Commits before it, and one partly read,
 * count as touching it. */
int wf_nft_ledger_watch(struct wf_nft_ledger *l, uint8_t family, const char *name);
/* One message of the nftables group (other subsystems' messages are ignored). */
enum wf_nft_note wf_nft_ledger_feed(struct wf_nft_ledger *l, const struct nlmsghdr *nlh);
/* The generation the kernel reported once the watcher listened: the commits after it are all
 * seen from their start; itself, it counts as touching every table. */
void wf_nft_ledger_start(struct wf_nft_ledger *l, uint32_t genid);
/* Notifications were lost (ENOBUFS, a truncated datagram): nothing queued can be trusted until
 * the socket has been read empty (wf_nft_ledger_drained), and the commit after that is taken
 * as unaccounted. */
void wf_nft_ledger_lost(struct wf_nft_ledger *l);
void wf_nft_ledger_drained(struct wf_nft_ledger *l);
/* The last generation seen, when the ledger accounts for every commit up to it. */
bool wf_nft_ledger_latest(const struct wf_nft_ledger *l, uint32_t *genid);
/* Whether every commit after generation `from` up to `to` was seen whole and none touched the
 * watched table family/name (family 0: of any family; name NULL: any watched table). A table
 * not watched is never quiet. from == to is trivially quiet. */
bool wf_nft_ledger_quiet(const struct wf_nft_ledger *l, uint32_t from, uint32_t to, uint8_t family,
                         const char *name);

/* The netlink port ids of this process's nftables sockets (wf_nft_open registers them): a
 * commit whose notifications carry one is the process's own. Up to WF_NFT_OWN_MAX at once. */
#define WF_NFT_OWN_MAX 8
void wf_nft_own_port_add(uint32_t portid);
void wf_nft_own_port_remove(uint32_t portid);

/* The process's ledger, kept by its change watcher (nlwatch.h) and consulted by
 * wf_nft_known_current (nft_kernel.h): a daemon has one watcher and one nftables context in
 * one network namespace. quiet() may first read what notifications are queued. */
struct wf_nft_follower {
	bool (*quiet)(void *ctx, uint32_t from, uint32_t to, uint8_t family, const char *name);
	bool (*latest)(void *ctx, uint32_t *genid); /* wf_nft_followed_latest */
	void *ctx;
};
/* Replaces whoever followed before. Nobody following: what was committed is trusted only while
 * the generation stands. */
void wf_nft_follow(const struct wf_nft_follower *f);
/* Nobody follows any more, if ctx was the one following. */
void wf_nft_unfollow(const void *ctx);
bool wf_nft_followed_quiet(uint32_t from, uint32_t to, uint8_t family, const char *name);
/* The later of `mine' (a generation the caller knows the kernel reached) and the last one the
 * follower saw, once what is queued has been read: the generation a batch can be guarded on
 * without asking the kernel. A commit nobody has read of yet makes the kernel refuse the
 * batch (-ERESTART). */
uint32_t wf_nft_followed_latest(uint32_t mine);

#endif
