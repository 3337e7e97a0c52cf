/* What the control server's parts (control.c: the peers' turns; accept.c: listening and
 * accepting) share: the server itself and its connections. */
#ifndef WGFWD_GATEWAY_CLIENTS_H
#define WGFWD_GATEWAY_CLIENTS_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/ctl.h>

#include "control.h"

struct evconnlistener;
struct peer; /* control.c */

struct client {
	struct wf_gw_control *ctl;
	struct client *next;
	struct wf_ctl_conn *conn;
	size_t peer;
	char remote[INET6_ADDRSTRLEN + 8];
	bool established;
};

struct wf_gw_control {
	struct event_base *base;
	const struct wf_gw_config *cfg;
	const uint8_t (*keys)[WF_KEY_LEN];
	struct wf_gw_control_ops ops;
	void *ctx;
	struct peer *peers;
	struct client *clients;
	size_t n_clients;
	struct evconnlistener *listeners[16];
	size_t n_listeners;
	struct wf_gw_control_counters count;
};

static inline const char *peer_name(const struct wf_gw_control *c, size_t peer)
{
	return c->cfg->peers[peer].name;
}

/* control.c: the callbacks of an accepted connection. */
extern const struct wf_ctl_conn_ops wf_gw_client_ops;

#endif
