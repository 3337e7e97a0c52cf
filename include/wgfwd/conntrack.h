/* Connection tracking through ctnetlink: lists the kernel's conntrack entries and deletes the
 * ones that belong to a forward that changed.
 *
 *   dump (one family or both; by mark, zone, status or port) -> entries -> match
 *     -> delete by original tuple and id
 *
 * NAT is decided on a flow's first packet and then kept in its conntrack entry, so after a
 * forward is removed or moves, the entry keeps steering the flow to the old target (UDP above
 * all: every packet refreshes it); a flow whose first packet came before the forward existed
 * keeps going nowhere. Deleting the entry makes the next packet meet the rules of today.
 *
 * A dump costs the kernel a walk of every bucket of the machine-wide conntrack hash, each under
 * its lock, however few entries it holds (262,144 buckets: 2 ms of CPU on a 2-core VM, 12 ms on
 * another host), a few microseconds more for each entry it writes out, and each delete about
 * 7 us. A filtered delete (Linux 6.15) walks the same hash in the kernel but locks only the
 * buckets that hold an entry, and deletes what matches where it finds it. So a search for the
 * stale entries of a few matches is one filtered delete each, where the kernel can take them
 * (IPv4 ones; IPv6 ones only where its address filter is right or the addresses may be left
 * out); of more, or of the rest, one dump for all of them at once, of both families when it
 * must be, narrowed in the kernel as far as the matches allow. The daemons gather the matches of a
 * burst of changes and search once (WF_CT_COALESCE_MS).
 *
 * The rule for not searching at all: the kernel keeps a count of each namespace's entries
 * (WF_CT_COUNT_PATH, read in microseconds). It is read after the change is in the kernel; when
 * it is 0 nothing can be stale, since an entry made after that read met the rules of now, and
 * the walk is skipped. Any other count, or one that cannot be read, means a search: the count
 * is the only thing the kernel tells without a walk, and on a host whose tunnel is up it is
 * rarely 0 (the tunnel's own UDP flow and the control connection are entries too), so a change
 * while flows live pays the walk. Searches run and skipped are counted (wf_conntrack_stats).
 * Skipping more needs the kernel to say which forwards have live flows: an nftables dynamic
 * set fed from the DNAT rules on `ct state new' with `ct count' elements (they go about a
 * second after the last connection closes; a rebuilt set knows no older flow, so a walk must
 * follow every rebuild). Even that cannot spare the walk after a forward that had connections
 * in the last second, which is when a removal has something to delete.
 *
 * Conventions as in rtnl.h: every call returns 0 (or a count) or -errno and logs nothing.
 * Addresses are in network byte order, ports and everything else in host byte order. */
#ifndef WGFWD_CONNTRACK_H
#define WGFWD_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/rtnl.h> /* union wf_addr */

struct wf_ct_tuple {
	union wf_addr src, dst;
	uint16_t sport, dport; /* 0 for protocols without ports */
};

struct wf_ct_entry {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t l4proto;
	struct wf_ct_tuple orig;  /* as the flow's first packet came */
	struct wf_ct_tuple reply; /* as its answers come: the source is where NAT sent it */
	uint32_t status;          /* IPS_* bits (linux/netfilter/nf_conntrack_common.h) */
	uint32_t mark;
	uint16_t zone;
	bool has_id;
	uint32_t id; /* the kernel's id of this entry: a delete by tuple and id spares a newer
	                entry that took the same tuple meanwhile */
};

/* Marks a match may name: one for each tunnel of a server with up to 8 gateways, one for its
 * hairpin flows. */
#define WF_CT_MARKS_MAX 9

/* Which entries to delete. Every condition given must hold; l4proto and orig_dport are
 * required (a protocol with ports: tcp, udp, udplite, sctp, dccp), so a match never reaches
 * beyond one public port. */
struct wf_ct_match {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t l4proto;
	uint16_t orig_dport;
	bool has_orig_dst;
	union wf_addr orig_dst;
	bool has_reply_src; /* the target the flow was translated to (or answers from) */
	union wf_addr reply_src;
	uint16_t reply_sport;  /* 0: any */
	uint32_t status_set;   /* IPS_* bits that must all be set, e.g. IPS_DST_NAT */
	uint32_t status_clear; /* IPS_* bits none of which may be set */
	/* With n_marks, the entry's conntrack mark, less the bits outside mark_mask, is one of
	 * marks (each inside mark_mask). mark_mask 0 is every bit: the whole mark. A mask lets a
	 * match name one bit that the caller's rules set while keeping whatever else the mark
	 * holds. */
	uint8_t n_marks;
	uint32_t marks[WF_CT_MARKS_MAX];
	uint32_t mark_mask;
	/* The caller's word that every entry of this protocol, port, reply port, status and mark
	 * is one to delete whatever its addresses (no forward has the public port any more, and
	 * only the caller's own rules give these marks to translated flows): a filtered delete may
	 * then leave the addresses out, where the kernel's address filter cannot be trusted.
	 * Valid only with n_marks, IPS_DST_NAT in status_set and reply_sport. */
	bool addrs_implied;
};

/* Narrows a dump in the kernel, so that it writes out fewer entries (the walk of the hash
 * stays). A kernel that does not know a filter lists more (a zone before Linux 6.8, protocol
 * and port before 5.8, status on older kernels still), and the entries that fail it are dropped
 * here instead: a filter never changes what a dump yields. */
struct wf_ct_filter {
	bool has_mark;
	uint32_t mark, mark_mask; /* entries whose (mark & mark_mask) == mark */
	bool has_zone;
	uint16_t zone;
	/* entries whose (status & status_mask) == status; mask 0: any */
	uint32_t status, status_mask;
	/* The original tuple's protocol and destination port (0: any; a port needs a protocol).
	 * The kernel filters tuples of one family only, so these need AF_INET or AF_INET6. */
	uint8_t l4proto;
	uint16_t orig_dport;
};

/* How long a daemon gathers the matches of a burst of changes before it searches for them: long
 * enough for the changes of one `docker compose up' or a container's restart to share a dump,
 * short against how long a stale flow takes to notice anything. */
#define WF_CT_COALESCE_MS 50

struct wf_conntrack;

int wf_conntrack_open(struct wf_conntrack **out);
void wf_conntrack_close(struct wf_conntrack *ct);

/* The kernel's count of this network namespace's entries. */
#define WF_CT_COUNT_PATH "/proc/sys/net/netfilter/nf_conntrack_count"

struct wf_ct_stats {
	uint64_t searched; /* searches that asked the kernel for a dump */
	uint64_t skipped;  /* searches not made: the namespace held no entry */
	uint64_t moot;     /* searches cancelled: the state made every pending match right again
	                      (wf_ct_stale_settle) */
	/* searches run that made filtered deletes, that made a dump (a search may do both) */
	uint64_t kernel_deletes, dumps;
};

/* The number of entries the kernel holds in this namespace: 0 or -errno (not loaded, no /proc).
 * Reads WF_CT_COUNT_PATH unless a test set another file. */
int wf_conntrack_count(struct wf_conntrack *ct, unsigned long *count);
void wf_conntrack_set_count_path(struct wf_conntrack *ct, const char *path);
/* False only when the count says the namespace holds no entry at all. */
bool wf_ct_search_needed(struct wf_conntrack *ct);
void wf_conntrack_stats(const struct wf_conntrack *ct, struct wf_ct_stats *out);

/* Calls fn for each entry of one family, or of both for AF_UNSPEC (filter may be NULL). A
 * non-zero return from fn stops the calls; the dump is still read to its end and that value is
 * returned. */
typedef int (*wf_ct_entry_fn)(const struct wf_ct_entry *e, void *ctx);
int wf_conntrack_dump(struct wf_conntrack *ct, int family, const struct wf_ct_filter *filter,
                      wf_ct_entry_fn fn, void *ctx);
/* Deletes the entry with e's original tuple, zone and (when it has one) id; -ENOENT when there
 * is none (any more). */
int wf_conntrack_delete(struct wf_conntrack *ct, const struct wf_ct_entry *e);
/* Deletes every entry that any of the n matches selects, and counts what it deleted; asks the
 * kernel nothing when the namespace holds no entry. With filtered deletes on, each match the
 * kernel can take is one filtered delete: IPv4 ones, and IPv6 ones where a probe found the
 * kernel's IPv6 address filter right (on 6.18 it selects the entries whose address differs) or
 * whose addresses may be left out (addrs_implied), matched and deleted in the kernel, which
 * looks only into the buckets of its hash that hold an entry (a tenth of a dump's cost at
 * 262,144 buckets); what they deleted is how much the namespace's count fell, exact unless other
 * entries came or went meanwhile. The rest share one dump (wf_ct_matches_dump) and a delete of
 * each entry found, counted exactly: a search of both kinds walks the hash once, and the
 * entries of the matches the kernel took are not each a request of their own. More than
 * WF_CT_KERNEL_FLUSH_MAX filtered deletes, or a kernel that refuses one (before 6.15: it is
 * then not asked again), make all of them the dump. A match with marks is one filtered delete
 * for each mark. Entries that vanish
 * meanwhile are not an error. -EINVAL (and nothing deleted) when a match is not valid; otherwise
 * the first error met, after trying the rest. n == 0 asks the kernel nothing. */
#define WF_CT_KERNEL_FLUSH_MAX 8
int wf_conntrack_flush_forwards(struct wf_conntrack *ct, const struct wf_ct_match *m, size_t n,
                                size_t *deleted);
/* Filtered deletes on, or off (the default: every search is a dump, each entry deleted counted
 * exactly). */
void wf_conntrack_set_kernel_flush(struct wf_conntrack *ct, bool on);

/* Pure: whether one mark filter, (mark & *mask) == *value, selects exactly the n marks and no
 * other mark: 2^k distinct marks that differ only in the same k bits (0x10, 0x11, 0x18, 0x19).
 * Never a superset: other marks may be anyone's. */
bool wf_ct_marks_cover(const uint32_t *marks, size_t n, uint32_t *value, uint32_t *mask);
/* How many filtered deletes m makes: one for each of its marks, or one for all of them when a
 * single filter covers them (wf_ct_marks_cover); one without marks. */
size_t wf_ct_match_requests(const struct wf_ct_match *m);

bool wf_ct_match_valid(const struct wf_ct_match *m);
/* Whether m may be narrowed to the caller's marks with its addresses left out (addrs_implied):
 * an IPv6 match of translated flows by their reply port that names no mark yet. That no
 * forward has its port any more is the caller's to know. */
bool wf_ct_match_narrowable(const struct wf_ct_match *m);
bool wf_ct_match_equal(const struct wf_ct_match *a, const struct wf_ct_match *b);
bool wf_ct_entry_matches(const struct wf_ct_match *m, const struct wf_ct_entry *e);

/* The one dump that lists every entry any of the n valid matches (n > 0) selects: of their
 * family, or of both (AF_UNSPEC) when there are matches of each; narrowed to the status bits
 * every match requires alike, and to the protocol and port when all matches share them and
 * name one family. Returns the family. */
int wf_ct_matches_dump(const struct wf_ct_match *m, size_t n, struct wf_ct_filter *filter);

/* Sorts matches (by family, protocol and port first) and keeps each once; returns how many
 * are left. */
size_t wf_ct_matches_unique(struct wf_ct_match *m, size_t n);

/* Matches gathered over a burst of changes, to be searched for at once. */
struct wf_ct_pending {
	struct wf_ct_match *m;
	size_t n, cap;
};

/* Appends n matches: 0 or -ENOMEM (and nothing added). */
int wf_ct_pending_add(struct wf_ct_pending *p, const struct wf_ct_match *m, size_t n);
/* Searches once for the first n pending matches (the caller has pruned the rest), each once,
 * and empties p. Returns how many matches were looked for (0: none, and the kernel was not asked)
 * or -errno; *deleted counts what went. */
int wf_ct_pending_flush(struct wf_conntrack *ct, struct wf_ct_pending *p, size_t n,
                        size_t *deleted);
void wf_ct_pending_free(struct wf_ct_pending *p);

/* Message building and parsing without I/O, for the socket side, tests and fuzzing. Buffers
 * are aligned as for struct nlmsghdr and at least WF_CT_MSG_SIZE long. Build returns the
 * message length or -EINVAL (bad family, size; a protocol or port filter on an AF_UNSPEC dump)
 * / -EOPNOTSUPP (an entry of a protocol without ports cannot be named by a delete here). Parse
 * reads one IPCTNL_MSG_CT_NEW (a dump answer or event: both tuples required) or
 * IPCTNL_MSG_CT_DELETE (the reply tuple may be absent, then it is zero) message of len bytes: 0,
 * -EINVAL for anything malformed, -EAFNOSUPPORT for a well-formed entry of another family. */
#define WF_CT_MSG_SIZE 256
int wf_ct_dump_build(void *buf, size_t size, int family, const struct wf_ct_filter *filter);
int wf_ct_delete_build(void *buf, size_t size, const struct wf_ct_entry *e);
/* The filtered delete of every entry m selects (a valid match, else -EINVAL): its original
 * tuple is never whole, so a kernel that knows no filtered delete refuses it. */
int wf_ct_flush_build(void *buf, size_t size, const struct wf_ct_match *m);
/* The same for the mark-th of m's marks (0 without marks, and 0 alone for all of them when one
 * filter covers them: wf_ct_match_requests), its addresses left out when addrs is false (only
 * for a match with addrs_implied). */
int wf_ct_flush_build_mark(void *buf, size_t size, const struct wf_ct_match *m, size_t mark,
                           bool addrs);
int wf_ct_entry_parse(const void *msg, size_t len, struct wf_ct_entry *e);

#endif
