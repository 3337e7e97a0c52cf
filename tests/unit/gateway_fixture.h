/* The second gateway the server's tests put beside the one the parameters describe: vps2 on
 * its own interface, with the next routing table and mark, a tunnel of its own (this server
 * 192.168.161.2, the gateway 192.168.161.1) and the public address 198.18.0.1. Each test adds
 * what it needs on top. */
#ifndef WGFWD_TEST_GATEWAY_FIXTURE_H
#define WGFWD_TEST_GATEWAY_FIXTURE_H

#include <arpa/inet.h>
#include <string.h>

#include <wgfwd-agent/render.h>
#include <wgfwd/util.h>

static inline void second_gateway(const struct wf_server_params *p, const char *ifname,
                                  struct wf_server_gateway *g)
{
	memset(g, 0, sizeof(*g));
	WF_COPY(g->name, "vps2");
	WF_COPY(g->ifname, ifname);
	g->table = p->table + 1;
	g->fwmark = p->fwmark + WF_GATEWAY_MARK_STEP;
	g->has_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.161.2", &g->tunnel_ip4);
	g->has_peer_ip4 = true;
	inet_pton(AF_INET, "192.168.161.1", &g->peer_ip4);
	g->n_public_ip4 = 1;
	inet_pton(AF_INET, "198.18.0.1", &g->public_ip4[0]);
}

#endif
