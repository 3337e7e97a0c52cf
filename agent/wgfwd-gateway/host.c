#include "host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wgfwd/log.h>
#include <wgfwd/sysctl.h>
#include <wgfwd/util.h>

/* Sets path to want unless it already holds it; logs what changed and why. */
static int sysctl_set(const char *path, const char *want, const char *why)
{
	char cur[32];
	int err = wf_sysctl_read(path, cur, sizeof(cur));

	if (!err && strcmp(cur, want)) {
		err = wf_sysctl_write(path, want);
		if (err)
			log_error("cannot set %s to %s (%s): %s", path, want, why, strerror(-err));
		else
			log_info("set %s from %s to %s: %s", path, cur, want, why);
	}
	return err;
}

int wf_gw_enable_forwarding(const char *public_ifname)
{
	char path[128], cur[8] = "";
	int err;

	err = sysctl_set("/proc/sys/net/ipv4/ip_forward", "1",
	                 "public ports are forwarded into the tunnel");
	if (err) {
		log_error("cannot switch on IPv4 forwarding: %s", strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", public_ifname);
	if (wf_sysctl_read(path, cur, sizeof(cur)) == 0 && !strcmp(cur, "1"))
		sysctl_set(path, "2",
		           "keep accepting router advertisements once IPv6 forwarding is on");
	err = sysctl_set("/proc/sys/net/ipv6/conf/all/forwarding", "1",
	                 "IPv6 public ports are forwarded into the tunnel");
	if (err == -ENOENT)
		log_warn("IPv6 is disabled on this host: only IPv4 is forwarded");
	else if (err)
		log_warn("IPv6 forwarding stays off: only IPv4 is forwarded");
	return 0;
}

static int cmp4(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct in_addr));
}

static int cmp6(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct in6_addr));
}

int wf_gw_interface_addresses(const char *ifname, struct in_addr *ip4, size_t *n4,
                              struct in6_addr *ip6, size_t *n6)
{
	struct ifaddrs *list, *ifa;

	*n4 = *n6 = 0;
	if (!if_nametoindex(ifname))
		return -ENODEV;
	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || strcmp(ifa->ifa_name, ifname))
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET && *n4 < WF_GW_PUBLIC_MAX) {
			ip4[(*n4)++] = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
		} else if (ifa->ifa_addr->sa_family == AF_INET6 && *n6 < WF_GW_PUBLIC_MAX) {
			const struct in6_addr *a =
			    &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;

			if (!IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_MULTICAST(a))
				ip6[(*n6)++] = *a;
		}
	}
	freeifaddrs(list);
	qsort(ip4, *n4, sizeof(*ip4), cmp4);
	qsort(ip6, *n6, sizeof(*ip6), cmp6);
	return 0;
}
