#include "drift_filter.h"

#include <string.h>
#include <sys/socket.h>

#include <wgfwd/rtnl.h>
#include <wgfwd/sysctl.h>
#include <wgfwd/util.h>

void wf_agent_owned_from(const struct wf_server_params *p, const struct wf_server_gateway *gws,
                         size_t n, struct wf_agent_owned *out)
{
	memset(out, 0, sizeof(*out));
	if (!n) {
		WF_COPY(out->tunnels[0], p->tunnel_ifname);
		out->tables[0] = p->table;
		out->n = 1;
		return;
	}
	for (size_t i = 0; i < n && i < WF_GATEWAYS_MAX; i++) {
		WF_COPY(out->tunnels[i], gws[i].ifname);
		out->tables[i] = gws[i].table;
	}
	out->n = n < WF_GATEWAYS_MAX ? n : WF_GATEWAYS_MAX;
}

static bool is_tunnel(const struct wf_agent_owned *own, const char *ifname)
{
	for (size_t i = 0; ifname[0] && i < own->n; i++)
		if (!strcmp(own->tunnels[i], ifname))
			return true;
	return false;
}

static bool is_owned_table(const struct wf_agent_owned *own, uint32_t table)
{
	for (size_t i = 0; i < own->n; i++)
		if (own->tables[i] == table)
			return true;
	return false;
}

unsigned wf_agent_note_looks(const struct wf_agent_owned *own, const struct wf_nlwatch_note *n)
{
	switch (n->kind) {
	case WF_NLWATCH_RULE:
	case WF_NLWATCH_ROUTE:
		return n->protocol == WF_RTPROT || is_owned_table(own, n->table) ? WF_LOOK_RTNL : 0;
	case WF_NLWATCH_LINK:
		if (is_tunnel(own, n->ifname))
			return WF_LOOK_RTNL | WF_LOOK_SYSCTLS;
		/* A bridge's own view of its ports, and ports themselves, hear no RA. */
		if (n->family == AF_BRIDGE || n->master || n->removed)
			return 0;
		/* A name not told is taken as one that may matter. */
		return !n->ifname[0] || wf_sysctl_ra_candidate(n->ifname, own->tunnels[0])
		           ? WF_LOOK_SYSCTLS
		           : 0;
	case WF_NLWATCH_ADDR:
		return is_tunnel(own, n->ifname) ? WF_LOOK_RTNL : 0;
	case WF_NLWATCH_NETCONF:
		return n->ifindex < 0 || is_tunnel(own, n->ifname) ? WF_LOOK_SYSCTLS : 0;
	case WF_NLWATCH_LOST:
	default:
		return WF_LOOK_RTNL | WF_LOOK_SYSCTLS;
	}
}

void wf_agent_scope(const struct wf_agent_owned *own, const int *ifindex,
                    struct wf_nlwatch_scope *out)
{
	static const struct wf_nlwatch_prefix docker_links[] = {{"veth", 4}, {"docker0", 8}};

	memset(out, 0, sizeof(*out));
	out->protocol = WF_RTPROT;
	for (size_t i = 0; i < own->n && i < WF_NLWATCH_SCOPE_MAX; i++) {
		out->tables[out->n_tables++] = own->tables[i];
		WF_COPY(out->keep_names[out->n_keep_names++], own->tunnels[i]);
		if (ifindex[i] > 0)
			out->ifindex[out->n_ifindex++] = ifindex[i];
	}
	memcpy(out->skip_links, docker_links, sizeof(docker_links));
	out->n_skip_links = WF_ARRAY_SIZE(docker_links);
}
