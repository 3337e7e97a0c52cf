/* The gateway's policy: which peers exist, which public ports nobody may take, what the VPS's
 * owner granted each peer (public ports: any not reserved unless limited; egress: none unless
 * granted), and what each peer currently holds. Deciding is pure and deterministic:
 *
 *   config + current state + one peer's full desired entries
 *     --wf_gw_policy_decide--> per-entry verdicts + the next combined state
 *
 * A peer only ever names ports; the target address of its forwards is always its own tunnel
 * address from the configuration, and its decision never changes another peer's entries. A
 * public port held by one peer stays with it: later requests for it are refused until the
 * holder lets it go. A port the gateway's own host listens on is never newly granted. */
#ifndef WGFWD_GATEWAY_POLICY_H
#define WGFWD_GATEWAY_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/ctl.h> /* struct wf_ctl_forward, wf_ctl_egress: the entries of a state */

#define WF_GW_NAME_MAX            64
#define WF_GW_DEFAULT_MAX_ENTRIES 32768
#define WF_GW_DEFAULT_MAX_TOTAL   262144
#define WF_GW_REASON_MAX          192

struct wf_gw_entries {
	struct wf_ctl_forward *forwards;
	size_t n_forwards;
	struct wf_ctl_egress *egress;
	size_t n_egress;
};

/* proto 0 reserves (or allows) the ports for both tcp and udp. */
struct wf_gw_port_range {
	uint8_t proto;
	uint16_t lo, hi;
};

/* What the VPS's owner lets one peer have (grants.h parses and checks it). */
struct wf_gw_grants {
	bool ports_limited;           /* false: any public port not reserved */
	bool ports_said, egress_said; /* `any'/`none' given: a list may not follow */
	struct wf_gw_port_range *ports;
	size_t n_ports;
	struct wf_ctl_egress *egress; /* none: no egress at all */
	size_t n_egress;
};

struct wf_gw_peer {
	char name[WF_GW_NAME_MAX]; /* its identity: the first tunnel address, as text */
	bool has_ip4, has_ip6;
	struct in_addr ip4;
	struct in6_addr ip6;
	char *keyfile;
	struct wf_gw_grants grants;
};

struct wf_gw_host_ports; /* listeners.h */

struct wf_gw_config {
	struct wf_gw_peer *peers;
	size_t n_peers;
	struct wf_gw_port_range *reserved;
	size_t n_reserved;
	size_t max_entries; /* per peer: forwards plus egress set elements */
	/* All peers together (0: no limit): what the gateway's memory and its kernel table may
	 * hold, however many peers there are. A peer's request is granted in its order until
	 * either limit is met. */
	size_t max_total_entries;
	/* Ports the gateway's host serves itself, as last read (not owned; NULL: none known). A
	 * new forward of one is refused; one the peer already holds stays (its service started
	 * after the grant), and the daemon flags it. */
	const struct wf_gw_host_ports *host_ports;
};

/* What every peer holds now; peers[i] belongs to config peers[i]. Entries are kept sorted,
 * so two states that mean the same compare equal. */
struct wf_gw_state {
	struct wf_gw_entries *peers;
	size_t n_peers;
};

enum wf_gw_status {
	WF_GW_ACCEPTED,
	WF_GW_INVALID,     /* protocol, port or family out of range; no tunnel address of it */
	WF_GW_RESERVED,    /* the gateway's own port or one the operator reserved */
	WF_GW_TAKEN,       /* another peer holds the public port */
	WF_GW_HOST_PORT,   /* the gateway's host itself listens on it */
	WF_GW_DUPLICATE,   /* the same public port twice in one request, with different targets */
	WF_GW_TOO_MANY,    /* beyond the per-peer limit */
	WF_GW_NOT_GRANTED, /* a port or egress the VPS's owner did not grant this peer */
};
#define WF_GW_STATUS_MAX (WF_GW_NOT_GRANTED + 1)

struct wf_gw_result {
	enum wf_gw_status status;
	char reason[WF_GW_REASON_MAX]; /* empty when accepted */
};

/* Verdicts, one per requested entry, in request order. */
struct wf_gw_decision {
	struct wf_gw_result *forwards;
	size_t n_forwards;
	struct wf_gw_result *egress;
	size_t n_egress;
	size_t n_refused;
};

/* Fills `next` with `current` where `peer`'s entries are replaced by the accepted subset of
 * `want`. Returns 0 or -ENOMEM / -EINVAL (peer index out of range). */
int wf_gw_policy_decide(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                        size_t peer, const struct wf_gw_entries *want, struct wf_gw_state *next,
                        struct wf_gw_decision *decision);
/* The same decision in steps, so that a largest request does not hold the loop for long: each
 * step decides up to max more entries (forwards, then egress) against `current' as it is then,
 * and the last (returning 0 rather than 1) fills next and the decision as wf_gw_policy_decide
 * would have against the last step's `current', had it stood from the first. want must
 * outlive the decider. */
struct wf_gw_decider;
int wf_gw_decider_new(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                      size_t peer, const struct wf_gw_entries *want, struct wf_gw_decider **out);
int wf_gw_decider_step(struct wf_gw_decider *dc, const struct wf_gw_state *current, size_t max,
                       struct wf_gw_state *next, struct wf_gw_decision *decision);
void wf_gw_decider_free(struct wf_gw_decider *dc);
/* Every peer's entries at once (want[] and decisions[]: one per configured peer), as deciding
 * them one after another in configuration order from an empty state would, so the first peer
 * keeps a port; O(n log n) in all entries, for the start-up. */
int wf_gw_policy_decide_all(const struct wf_gw_config *cfg, const struct wf_gw_entries *want,
                            struct wf_gw_state *next, struct wf_gw_decision *decisions);
/* One change of peer's request, decided without deciding again what it keeps: `mine' gets
 * what the peer held in `current' less the removed entries (`del'), plus those of `add' the
 * policy grants now; `decision' has one verdict per added entry, in add's order. `asked' is
 * the peer's whole request after the change: an egress entry it still asks for stays however
 * many equal ones went. O(n) copying the peer's entries, O(log n) checks per added forward.
 * 0, -ENOMEM, -EINVAL (peer index out of range). */
int wf_gw_policy_decide_delta(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                              size_t peer, const struct wf_gw_entries *del,
                              const struct wf_gw_entries *add, const struct wf_gw_entries *asked,
                              struct wf_gw_entries *mine, struct wf_gw_decision *decision);
/* Whether `mine' (what `peer' was granted against an earlier state) may still be held against
 * `current': none of its public ports held by another peer now, and the gateway's limit for all
 * peers not passed. Ports refused then that are free now stay refused. O(n log n). */
bool wf_gw_policy_still_grantable(const struct wf_gw_config *cfg, const struct wf_gw_state *current,
                                  size_t peer, const struct wf_gw_entries *mine);
void wf_gw_decision_free(struct wf_gw_decision *d);
/* A decision's refusals for a log line, however many there are: the first `named' refused
 * entries with their reasons ("forward tcp/22: ...; egress: ..."), "..." after them when more
 * were refused; `forwards' are the requested forwards the decision answers, in its order. */
const char *wf_gw_refusals_text(const struct wf_gw_decision *dec,
                                const struct wf_ctl_forward *forwards, size_t named, char *buf,
                                size_t size);
/* How many entries were refused by kind: "reserved 1, not_granted 3". */
const char *wf_gw_refusal_kinds_text(const struct wf_gw_decision *dec, char *buf, size_t size);
const char *wf_gw_status_name(enum wf_gw_status s);

int wf_gw_state_init(struct wf_gw_state *s, size_t n_peers);
void wf_gw_state_free(struct wf_gw_state *s);
bool wf_gw_state_equal(const struct wf_gw_state *a, const struct wf_gw_state *b);
/* Makes dst a deep copy of src (dst is overwritten, not freed). */
int wf_gw_entries_copy(struct wf_gw_entries *dst, const struct wf_gw_entries *src);
void wf_gw_entries_free(struct wf_gw_entries *e);
bool wf_gw_entries_equal(const struct wf_gw_entries *a, const struct wf_gw_entries *b);
/* Where key's family, protocol and public port stand, or would go, among e's forwards
 * (sorted, as states keep them): O(log n). */
size_t wf_gw_entries_forward_at(const struct wf_gw_entries *e, const struct wf_ctl_forward *key);
/* The forward of e (sorted, as states keep them) with key's family, protocol and public
 * port, or NULL: O(log n). */
const struct wf_ctl_forward *wf_gw_entries_find_forward(const struct wf_gw_entries *e,
                                                        const struct wf_ctl_forward *key);
/* The forwards of `from' that `to' lacks or leads to another target port (gone), and those of
 * `to' that `from' lacks or leads elsewhere (came); both sorted, as states keep them: one pass,
 * O(n). 0 or -ENOMEM. */
int wf_gw_entries_forward_diff(const struct wf_gw_entries *from, const struct wf_gw_entries *to,
                               struct wf_gw_entries *gone, struct wf_gw_entries *came);
/* Empty entries with room for this many, the arrays sized as the adders below grow them. */
int wf_gw_entries_alloc(struct wf_gw_entries *e, size_t n_forwards, size_t n_egress);
/* Adds one entry (for message parsers and the store). */
int wf_gw_entries_add_forward(struct wf_gw_entries *e, const struct wf_ctl_forward *f);
int wf_gw_entries_add_egress(struct wf_gw_entries *e, const struct wf_ctl_egress *g);

/* Configuration parsing; each says in err exactly what was wrong.
 *   peer:     ADDR[,ADDR]=KEYFILE   (one IPv4 and/or one IPv6 tunnel address)
 *   reserved: PORT[-PORT][/tcp|/udp], comma separated; no protocol means both */
int wf_gw_peer_parse(const char *spec, struct wf_gw_peer *peer, char *err, size_t errlen);
int wf_gw_reserved_parse(const char *list, struct wf_gw_port_range **ranges, size_t *n, char *err,
                         size_t errlen);
int wf_gw_config_add_peer(struct wf_gw_config *cfg, const struct wf_gw_peer *peer, char *err,
                          size_t errlen);
int wf_gw_config_reserve(struct wf_gw_config *cfg, uint8_t proto, uint16_t lo, uint16_t hi);
void wf_gw_config_free(struct wf_gw_config *cfg);
/* The configured peer whose tunnel address is addr (AF_INET / AF_INET6), or -1. */
int wf_gw_config_find_peer(const struct wf_gw_config *cfg, int family, const void *addr);
int wf_gw_config_find_peer_name(const struct wf_gw_config *cfg, const char *name);

const char *wf_gw_proto_name(uint8_t proto);

#endif
