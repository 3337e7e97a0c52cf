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

struct wf_agent_config {
	struct wf_server_params params;
	const char *docker_host;   /* NULL: $DOCKER_HOST or the default socket */
	const char *status_socket; /* NULL: none */
	unsigned reconcile_interval_ms;
	/* Control channel; gateway NULL means no gateway (the data plane alone). */
	const char *gateway; /* gateway tunnel address */
	uint16_t gateway_port;
	const char *key_file;
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
