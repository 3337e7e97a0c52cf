/* What the gateway needs from its host besides nftables: forwarding switched on, the public
 * interface's addresses, and the tunnel's addresses to listen on. */
#ifndef WGFWD_GATEWAY_HOST_H
#define WGFWD_GATEWAY_HOST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <wgfwd/hostport.h>

#include "render.h"

/* Turns on IPv4 and IPv6 forwarding, logging each change. Because IPv6 forwarding makes the
 * kernel ignore router advertisements on interfaces with accept_ra 1, the public interface is
 * moved to accept_ra 2 so an address configured by SLAAC keeps its default route. IPv6 being
 * disabled on the host is only a warning. Returns 0 or the -errno of the IPv4 switch. */
int wf_gw_enable_forwarding(const char *public_ifname);

/* Global addresses of an interface, sorted (link-local IPv6 is left out: never a public
 * address). At most WF_GW_PUBLIC_MAX of each family; -ENODEV when there is no such interface. */
int wf_gw_interface_addresses(const char *ifname, struct in_addr *ip4, size_t *n4,
                              struct in6_addr *ip6, size_t *n6);

#endif
