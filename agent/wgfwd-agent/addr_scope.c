#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "addr_scope.h"

struct prefix4 {
	uint32_t net;
	unsigned len;
	const char *why;
};

static const struct prefix4 not_global4[] = {
    {0x00000000, 8, "this network (0.0.0.0/8)"},
    {0x0a000000, 8, "private (10.0.0.0/8)"},
    {0x64400000, 10, "shared address space (100.64.0.0/10)"},
    {0x7f000000, 8, "loopback"},
    {0xa9fe0000, 16, "link-local"},
    {0xac100000, 12, "private (172.16.0.0/12)"},
    {0xc0000000, 24, "IETF protocol assignments (192.0.0.0/24)"},
    {0xc0a80000, 16, "private (192.168.0.0/16)"},
    {0xc6120000, 15, "benchmarking (198.18.0.0/15)"},
    {0xe0000000, 4, "multicast"},
    {0xf0000000, 4, "reserved (240.0.0.0/4)"},
};

const char *wf_addr4_not_global(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	for (size_t i = 0; i < sizeof(not_global4) / sizeof(not_global4[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - not_global4[i].len);

		if ((h & mask) == not_global4[i].net)
			return not_global4[i].why;
	}
	return NULL;
}

const char *wf_addr6_not_global(const struct in6_addr *a)
{
	const uint8_t *b = a->s6_addr;

	if (IN6_IS_ADDR_LOOPBACK(a))
		return "loopback";
	if (IN6_IS_ADDR_LINKLOCAL(a))
		return "link-local";
	if (IN6_IS_ADDR_MULTICAST(a))
		return "multicast";
	if ((b[0] & 0xfe) == 0xfc)
		return "unique local (fc00::/7)";
	/* Everything else outside 2000::/3 is unspecified, mapped, or not yet assigned. */
	if ((b[0] & 0xe0) != 0x20)
		return "not global unicast (outside 2000::/3)";
	return NULL;
}

void wf_addrs_keep_global(const struct in_addr *in4, size_t n4, const struct in6_addr *in6,
                          size_t n6, const struct wf_own_addrs *own, struct in_addr *out4,
                          size_t *n_out4, struct in6_addr *out6, size_t *n_out6, size_t max,
                          void (*refused)(void *ctx, int family, const void *addr, const char *why),
                          void *ctx)
{
	*n_out4 = 0;
	*n_out6 = 0;
	for (size_t i = 0; i < n4; i++) {
		const char *why = wf_addr4_not_global(in4[i]);

		for (size_t k = 0; !why && own && k < own->n_ip4; k++)
			if (own->ip4[k].s_addr == in4[i].s_addr)
				why = "one of this server's own addresses";
		if (!why && *n_out4 >= max)
			why = "more addresses than the agent keeps";
		if (why) {
			if (refused)
				refused(ctx, AF_INET, &in4[i], why);
			continue;
		}
		out4[(*n_out4)++] = in4[i];
	}
	for (size_t i = 0; i < n6; i++) {
		const char *why = wf_addr6_not_global(&in6[i]);

		for (size_t k = 0; !why && own && k < own->n_ip6; k++)
			if (!memcmp(&own->ip6[k], &in6[i], sizeof(in6[i])))
				why = "one of this server's own addresses";
		if (!why && *n_out6 >= max)
			why = "more addresses than the agent keeps";
		if (why) {
			if (refused)
				refused(ctx, AF_INET6, &in6[i], why);
			continue;
		}
		out6[(*n_out6)++] = in6[i];
	}
}
