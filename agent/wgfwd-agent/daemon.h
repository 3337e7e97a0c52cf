/* wgfwd-agent's core: mirrors Docker's containers, turns them into the desired state, keeps the
 * server's kernel in step with it (on every change, on kernel change notifications, and
 * periodically as a backstop), and hands the gateway its part through the gateway link. */
#ifndef WGFWD_AGENT_H
#define WGFWD_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "render.h"

struct event_base;
struct json_object;
struct wf_agent;
struct wf_metrics;

/* One gateway: its control channel and its part of the data plane. */
struct wf_agent_gateway {
	char name[WF_GATEWAY_NAME_MAX];
	const char *address; /* the gateway's tunnel address */
	uint16_t port;
	const char *key_file;
	/* Interface, table, mark, addresses; public addresses configured here win over those
	 * the gateway tells. */
	struct wf_server_gateway plane;
};

struct wf_agent_config {
	struct wf_server_params params;
	const char *docker_host;   /* NULL: $DOCKER_HOST or the default socket */
	const char *status_socket; /* NULL: none */
	unsigned reconcile_interval_ms;
	/* In the configured order, which is egress's order of preference; none: the data plane
	 * alone, on params' interface. */
	struct wf_agent_gateway gateways[WF_GATEWAYS_MAX];
	size_t n_gateways;
	/* Egress leaves a gateway whose control channel was silent or down this long (0: 15 s),
	 * or whose tunnel's last handshake is older than WF_WG_HANDSHAKE_STALE_S. */
	unsigned failover_after_ms;
	bool fix_sysctls;
};

int wf_agent_new(struct wf_agent **out, struct event_base *base, const struct wf_agent_config *cfg);
void wf_agent_free(struct wf_agent *a);
/* Checks the host settings and compares the kernel with the desired state now (SIGHUP). */
void wf_agent_reconcile(struct wf_agent *a);
/* Current status, for the status socket and `wgfwd status`. */
struct json_object *wf_agent_status(struct wf_agent *a);
/* The same numbers as metrics (and a few only metrics carry), for the metrics endpoint.
 * Returns 0 or the first error adding them met. */
int wf_agent_metrics(struct wf_agent *a, struct wf_metrics *m);
/* True once the last apply succeeded: what the container health check asks. */
bool wf_agent_healthy(const struct wf_agent *a);

#endif
