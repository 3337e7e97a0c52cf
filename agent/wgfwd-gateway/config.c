/* The gateway's configuration: peers as given on the command line, reserved ports, and the
 * lookups the daemon makes in them. Deciding what a peer may have is policy.c's. */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/util.h>

#include "grants.h"
#include "listeners.h"

static int parse_addr(const char *text, struct wf_gw_peer *peer, const char *spec, char *err,
                      size_t errlen)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		if (peer->has_ip4) {
			snprintf(err, errlen, "peer `%s': two IPv4 addresses", spec);
			return -EINVAL;
		}
		peer->has_ip4 = true;
		peer->ip4 = a4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &a6) == 1) {
		if (peer->has_ip6) {
			snprintf(err, errlen, "peer `%s': two IPv6 addresses", spec);
			return -EINVAL;
		}
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			snprintf(err, errlen, "peer `%s': use `%s' as plain IPv4", spec, text);
			return -EINVAL;
		}
		peer->has_ip6 = true;
		peer->ip6 = a6;
		return 0;
	}
	snprintf(err, errlen, "peer `%s': `%s' is not an IP address", spec, text);
	return -EINVAL;
}

int wf_gw_peer_parse(const char *spec, struct wf_gw_peer *peer, char *err, size_t errlen)
{
	char addrs[128], *comma;
	const char *eq = strchr(spec, '=');
	size_t alen;
	int ret;

	memset(peer, 0, sizeof(*peer));
	if (!eq || eq == spec || !eq[1]) {
		snprintf(err, errlen, "peer `%s': expected ADDR[,ADDR6]=KEYFILE", spec);
		return -EINVAL;
	}
	alen = (size_t)(eq - spec);
	if (alen >= sizeof(addrs)) {
		snprintf(err, errlen, "peer `%s': address part too long", spec);
		return -EINVAL;
	}
	memcpy(addrs, spec, alen);
	addrs[alen] = '\0';
	comma = strchr(addrs, ',');
	if (comma)
		*comma = '\0';
	ret = parse_addr(addrs, peer, spec, err, errlen);
	if (!ret && comma)
		ret = parse_addr(comma + 1, peer, spec, err, errlen);
	if (ret)
		return ret;
	/* The first address names the peer, spelled as the kernel would print it. */
	if (inet_pton(AF_INET, addrs, &peer->ip4) == 1)
		inet_ntop(AF_INET, &peer->ip4, peer->name, sizeof(peer->name));
	else
		inet_ntop(AF_INET6, &peer->ip6, peer->name, sizeof(peer->name));
	peer->keyfile = strdup(eq + 1);
	return peer->keyfile ? 0 : -ENOMEM;
}

static int parse_port(const char *s, char **end, uint16_t *port)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_reserved_item(const char *item, struct wf_gw_port_range *r)
{
	const char *slash = strchr(item, '/');
	char *end;

	memset(r, 0, sizeof(*r));
	if (parse_port(item, &end, &r->lo))
		return -EINVAL;
	r->hi = r->lo;
	if (*end == '-' && parse_port(end + 1, &end, &r->hi))
		return -EINVAL;
	if (r->hi < r->lo)
		return -EINVAL;
	if (slash) {
		if (end != slash)
			return -EINVAL;
		if (!strcmp(slash + 1, "tcp"))
			r->proto = IPPROTO_TCP;
		else if (!strcmp(slash + 1, "udp"))
			r->proto = IPPROTO_UDP;
		else
			return -EINVAL;
	} else if (*end) {
		return -EINVAL;
	}
	return 0;
}

int wf_gw_reserved_parse(const char *list, struct wf_gw_port_range **ranges, size_t *n, char *err,
                         size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *item;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
		struct wf_gw_port_range r, *grown;

		if (parse_reserved_item(item, &r)) {
			snprintf(err, errlen,
			         "reserved port `%s': expected PORT[-PORT][/tcp|/udp] with ports "
			         "1-65535",
			         item);
			ret = -EINVAL;
			break;
		}
		grown = realloc(*ranges, (*n + 1) * sizeof(*grown));
		if (!grown) {
			ret = -ENOMEM;
			break;
		}
		*ranges = grown;
		(*ranges)[(*n)++] = r;
	}
	free(copy);
	return ret;
}

int wf_gw_config_reserve(struct wf_gw_config *cfg, uint8_t proto, uint16_t lo, uint16_t hi)
{
	struct wf_gw_port_range *grown;

	grown = realloc(cfg->reserved, (cfg->n_reserved + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	cfg->reserved = grown;
	cfg->reserved[cfg->n_reserved++] = (struct wf_gw_port_range){proto, lo, hi};
	return 0;
}

int wf_gw_config_find_peer(const struct wf_gw_config *cfg, int family, const void *addr)
{
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct wf_gw_peer *p = &cfg->peers[i];

		if (family == AF_INET && p->has_ip4 && !memcmp(&p->ip4, addr, sizeof(p->ip4)))
			return (int)i;
		if (family == AF_INET6 && p->has_ip6 && !memcmp(&p->ip6, addr, sizeof(p->ip6)))
			return (int)i;
	}
	return -1;
}

int wf_gw_config_find_peer_name(const struct wf_gw_config *cfg, const char *name)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, name, &a4) == 1)
		return wf_gw_config_find_peer(cfg, AF_INET, &a4);
	if (inet_pton(AF_INET6, name, &a6) == 1)
		return wf_gw_config_find_peer(cfg, AF_INET6, &a6);
	return -1;
}

int wf_gw_config_add_peer(struct wf_gw_config *cfg, const struct wf_gw_peer *peer, char *err,
                          size_t errlen)
{
	struct wf_gw_peer *grown;

	if ((peer->has_ip4 && wf_gw_config_find_peer(cfg, AF_INET, &peer->ip4) >= 0) ||
	    (peer->has_ip6 && wf_gw_config_find_peer(cfg, AF_INET6, &peer->ip6) >= 0)) {
		snprintf(err, errlen, "peer %s: its address is already another peer's", peer->name);
		return -EEXIST;
	}
	grown = realloc(cfg->peers, (cfg->n_peers + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	cfg->peers = grown;
	cfg->peers[cfg->n_peers] = *peer;
	if (wf_gw_grants_copy(&cfg->peers[cfg->n_peers].grants, &peer->grants))
		return -ENOMEM;
	if (peer->keyfile) {
		cfg->peers[cfg->n_peers].keyfile = strdup(peer->keyfile);
		if (!cfg->peers[cfg->n_peers].keyfile) {
			wf_gw_grants_free(&cfg->peers[cfg->n_peers].grants);
			return -ENOMEM;
		}
	}
	cfg->n_peers++;
	return 0;
}

void wf_gw_config_free(struct wf_gw_config *cfg)
{
	for (size_t i = 0; i < cfg->n_peers; i++) {
		free(cfg->peers[i].keyfile);
		wf_gw_grants_free(&cfg->peers[i].grants);
	}
	free(cfg->peers);
	free(cfg->reserved);
	memset(cfg, 0, sizeof(*cfg));
}
