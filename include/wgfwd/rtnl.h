/* rtnetlink: policy rules and routes, IPv4 and IPv6, owned by protocol number.
 *
 * Everything this module adds carries WF_RTPROT, so listing and removal find exactly what
 * wgfwd made and never touch anyone else's rules or routes. rtnetlink has no transactions:
 * wf_rtnl_sync_* add what is missing before deleting what is extra, so traffic is never left
 * without a rule in between. */
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
	uint8_t src_len; /* 0 = any source */
	uint8_t ipproto; /* 0 = any */
	uint16_t dport_lo, dport_hi; /* 0 = any */
	uint8_t protocol; /* owner; WF_RTPROT for ours */
};

struct wf_route {
	int family;
	uint32_t table;
	union wf_addr dst;
	uint8_t dst_len; /* 0 = default route */
	bool has_gateway;
	union wf_addr gateway;
	char oifname[IF_NAMESIZE];
	uint8_t type; /* RTN_UNICAST, RTN_UNREACHABLE, … */
	uint32_t metric;
	uint8_t protocol;
};

struct wf_rtnl;

int wf_rtnl_open(struct wf_rtnl **out);
void wf_rtnl_close(struct wf_rtnl *r);

int wf_rtnl_rule_add(struct wf_rtnl *r, const struct wf_rule *rule);
int wf_rtnl_rule_del(struct wf_rtnl *r, const struct wf_rule *rule);
/* Rules of one family (AF_UNSPEC: both) owned by protocol (0: every rule). */
int wf_rtnl_rule_list(struct wf_rtnl *r, int family, uint8_t protocol, struct wf_rule **out,
		      size_t *n);
bool wf_rule_equal(const struct wf_rule *a, const struct wf_rule *b);

int wf_rtnl_route_add(struct wf_rtnl *r, const struct wf_route *route);
int wf_rtnl_route_del(struct wf_rtnl *r, const struct wf_route *route);
/* Routes of one family and table (0: every table) owned by protocol (0: any). */
int wf_rtnl_route_list(struct wf_rtnl *r, int family, uint32_t table, uint8_t protocol,
		       struct wf_route **out, size_t *n);
bool wf_route_equal(const struct wf_route *a, const struct wf_route *b);

/* Make the kernel's WF_RTPROT rules (routes) exactly `want`: add missing, then delete extra.
 * Returns the number of changes made, or -errno. Calling it twice changes nothing. */
int wf_rtnl_sync_rules(struct wf_rtnl *r, const struct wf_rule *want, size_t n);
int wf_rtnl_sync_routes(struct wf_rtnl *r, const struct wf_route *want, size_t n);

/* Interface helpers for the data plane and `wgfwd doctor`. */
int wf_rtnl_link_mtu(struct wf_rtnl *r, const char *ifname, uint32_t *mtu);

#endif
