/* Reading and writing /proc/sys values, which every part checks or sets (forwarding,
 * rp_filter, accept_ra). */
#ifndef WGFWD_SYSCTL_H
#define WGFWD_SYSCTL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

/* The value's first line, without its newline. 0 or -errno. */
int wf_sysctl_read(const char *path, char *buf, size_t len);
int wf_sysctl_write(const char *path, const char *value);
/* The value as a number; -1 when it cannot be read or is not one. */
int wf_sysctl_read_int(const char *path);

/* Router advertisements and forwarding: with net.ipv6.conf.all.forwarding=1 the kernel
 * ignores RAs on every interface whose accept_ra is 1 (the default), and turning forwarding
 * on drops the default routes they taught at once. accept_ra=2 keeps them.
 *
 * Whether an interface is one whose RAs should be heard with forwarding on: not the
 * pseudo-entries all/default, not loopback or the tunnel, and not Docker's own bridges
 * (docker0, br-<12 hex>) or container links (veth*), where an RA could only come from a
 * container. */
bool wf_sysctl_ra_candidate(const char *ifname, const char *tunnel_ifname);

/* The candidate interfaces under conf_dir (/proc/sys/net/ipv6/conf) whose accept_ra is 1
 * and whose IPv6 is enabled, bridge ports left out (sys_net_dir, /sys/class/net, shows
 * them: their own IPv6 stack never sees the frames). At most max names; 0 or -errno. */
int wf_sysctl_ra_ignoring(const char *conf_dir, const char *sys_net_dir, const char *tunnel_ifname,
                          char (*names)[IF_NAMESIZE], size_t max, size_t *n);

#endif
