/* rtnetlink: policy rules and routes, IPv4 and IPv6, owned by protocol number.
 *
 * Everything this module adds carries WF_RTPROT, so listing and removal find exactly what
 * wgfwd made and never touch anyone else's rules or routes. rtnetlink has no transactions:
 * wf_rtnl_sync_* add what is missing before deleting what is extra, so traffic is never left
 * without a rule in between.
 *
 * Conventions: every call returns 0 (or a count) or -errno and logs nothing; deleting what does
 * not exist gives -ENOENT. A protocol of 0 in an entry handed to add or delete stands for
 * WF_RTPROT, so the module never creates an unowned entry nor deletes by wildcard owner. */
#ifndef WGFWD_RTNL_H
#define WGFWD_RTNL_H

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WF_RTPROT 207 /* rtm_protocol / FRA_PROTOCOL of everything wgfwd adds */

union wf_addr {
	struct in_addr ip4;
	struct in6_addr ip6;
};

struct wf_rule {
	int family; /* AF_INET / AF_INET6 */
	uint32_t priority;
	uint32_t table;
	bool has_fwmark;
	uint32_t fwmark, fwmask;
	char iifname[IF_NAMESIZE]; /* "" = any */
	union wf_addr src;
	uint8_t src_len;             /* 0 = any source */
	uint8_t ipproto;             /* 0 = any */
	uint16_t dport_lo, dport_hi; /* 0 = any */
	uint8_t protocol;            /* owner; WF_RTPROT for ours */
};
/* A single port is dport_lo with dport_hi 0 or equal to it. A fwmark without a mask (0) means
 * the full mask. Source bits beyond src_len are ignored. */

struct wf_route {
	int family;
	uint32_t table;
	union wf_addr dst;
	uint8_t dst_len; /* 0 = default route */
	bool has_gateway;
	union wf_addr gateway;
	char oifname[IF_NAMESIZE];
	uint8_t type; /* RTN_UNICAST, RTN_UNREACHABLE, … (0: unicast) */
	uint32_t metric;
	uint8_t protocol;
};
/* A unicast route names a gateway, an interface, or both; other types name no gateway, and
 * their interface is ignored (IPv6 puts them on "lo" itself, which listing reports). Table 0
 * is the main table. IPv6 metric 0 is the kernel's default, 1024. Destination bits beyond
 * dst_len are ignored. */

struct wf_rtnl;

int wf_rtnl_open(struct wf_rtnl **out);
void wf_rtnl_close(struct wf_rtnl *r);

int wf_rtnl_rule_add(struct wf_rtnl *r, const struct wf_rule *rule);
int wf_rtnl_rule_del(struct wf_rtnl *r, const struct wf_rule *rule);
/* Rules of one family (AF_UNSPEC: both) owned by protocol (0: every rule), in kernel order.
 * *out is one allocation for free(). Only table lookups are listed; selectors this model
 * lacks (dst, oif, …) are not decoded. */
int wf_rtnl_rule_list(struct wf_rtnl *r, int family, uint8_t protocol, struct wf_rule **out,
                      size_t *n);
bool wf_rule_equal(const struct wf_rule *a, const struct wf_rule *b);

int wf_rtnl_route_add(struct wf_rtnl *r, const struct wf_route *route);
int wf_rtnl_route_del(struct wf_rtnl *r, const struct wf_route *route);
/* Routes of one family (AF_UNSPEC: both) and table (0: every table) owned by protocol (0: any).
 * Cached clones are left out. *out is one allocation for free(). */
int wf_rtnl_route_list(struct wf_rtnl *r, int family, uint32_t table, uint8_t protocol,
                       struct wf_route **out, size_t *n);
bool wf_route_equal(const struct wf_route *a, const struct wf_route *b);

/* Make the kernel's WF_RTPROT rules (routes) exactly `want` (whose protocol is taken to be
 * WF_RTPROT): add missing, then delete extra. Returns the number of changes made, or -errno.
 * Calling it twice changes nothing. A wanted route whose slot (table, destination, metric) is
 * held by one of ours is replaced in one step; one held by another owner is left alone, the
 * rest is still synced, and the call returns -EEXIST. */
int wf_rtnl_sync_rules(struct wf_rtnl *r, const struct wf_rule *want, size_t n);
int wf_rtnl_sync_routes(struct wf_rtnl *r, const struct wf_route *want, size_t n);

/* Interface helpers for the data plane and `wgfwd doctor`. */
int wf_rtnl_link_mtu(struct wf_rtnl *r, const char *ifname, uint32_t *mtu);

/* Message building and parsing without I/O, shared by the socket side, tests and fuzzing.
 * Buffers are aligned as for struct nlmsghdr.
 * Build writes one request into buf (size at least WF_RTNL_MSG_SIZE) and returns its length,
 * or -EINVAL for an entry that cannot be expressed; type is RTM_NEWRULE/DELRULE
 * (RTM_NEWROUTE/DELROUTE), flags are added to NLM_F_REQUEST. A route names its interface by
 * index here (0: none). Parse reads one RTM_NEWRULE (RTM_NEWROUTE) message of len bytes and
 * returns 0, -EINVAL for anything malformed, or -EAFNOSUPPORT / -EOPNOTSUPP (rules) for a
 * well-formed entry outside the model: another family, an action other than a lookup. */
#define WF_RTNL_MSG_SIZE 512
int wf_rtnl_rule_build(void *buf, size_t size, uint16_t type, uint16_t flags,
                       const struct wf_rule *rule);
int wf_rtnl_rule_parse(const void *msg, size_t len, struct wf_rule *rule);
int wf_rtnl_route_build(void *buf, size_t size, uint16_t type, uint16_t flags,
                        const struct wf_route *route, unsigned int oifindex);
int wf_rtnl_route_parse(const void *msg, size_t len, struct wf_route *route,
                        unsigned int *oifindex);

#endif
