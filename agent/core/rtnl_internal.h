/* Shared by rtnl.c and rtnl_msg.c, not by anyone else. */
#ifndef WGFWD_RTNL_INTERNAL_H
#define WGFWD_RTNL_INTERNAL_H

#include <libmnl/libmnl.h>

#include <wgfwd/rtnl.h>

/* A copy in the form the kernel reports: host bits of prefixes cleared, defaults filled.
 * -EINVAL for what the kernel would refuse. */
int wf_rtnl_rule_normalize(const struct wf_rule *in, struct wf_rule *out);
int wf_rtnl_route_normalize(const struct wf_route *in, struct wf_route *out);
/* Whether two routes compete for one place in the table (a replace takes either). */
bool wf_rtnl_route_same_slot(const struct wf_route *a, const struct wf_route *b);
bool wf_rtnl_family_supported(int family);
bool wf_rtnl_ifname_valid(const char *name);
/* Like mnl_attr_parse, but bytes left over that do not make an attribute are an error. */
int wf_rtnl_parse_attrs(const struct nlmsghdr *nlh, size_t offset, mnl_attr_cb_t cb, void *data);

#endif
