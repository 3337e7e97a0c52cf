/* Which addresses may stand for a host on the internet (pure: no I/O).
 *
 * The agent turns the public addresses a gateway advertises into NAT-loopback matches on the
 * server: a connection from the server to such an address and a forwarded port goes straight
 * to a container. An address that is not the gateway's — loopback, the server's own, a
 * private network, a DNS resolver on the internet — would capture the server's own outbound
 * connections, so what a gateway advertises passes through these checks first; an operator
 * who needs something else pins the addresses with --gateway-public. */
#ifndef WGFWD_ADDR_SCOPE_H
#define WGFWD_ADDR_SCOPE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* NULL when the address is global unicast, else why not ("loopback", "private", ...).
 * IPv4: not in 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.168/16,
 * 198.18/15, 224/4 or 240/4. IPv6: inside 2000::/3. The documentation ranges (192.0.2/24,
 * 198.51.100/24, 203.0.113/24, 2001:db8::/32) count as global: examples and test labs use
 * them for the internet, and no real host answers there. */
const char *wf_addr4_not_global(struct in_addr a);
const char *wf_addr6_not_global(const struct in6_addr *a);

/* The server's own addresses, the ones an advertised address must not be. */
struct wf_own_addrs {
	const struct in_addr *ip4;
	size_t n_ip4;
	const struct in6_addr *ip6;
	size_t n_ip6;
};

/* Copies into out4/out6 (at most max each) the addresses of in4/in6 that are global and not
 * the server's own; for each one left out, calls refused(ctx, family, addr, why) if given. */
void wf_addrs_keep_global(const struct in_addr *in4, size_t n4, const struct in6_addr *in6,
                          size_t n6, const struct wf_own_addrs *own, struct in_addr *out4,
                          size_t *n_out4, struct in6_addr *out6, size_t *n_out6, size_t max,
                          void (*refused)(void *ctx, int family, const void *addr, const char *why),
                          void *ctx);

#endif
