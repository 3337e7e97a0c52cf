/* The agent's Docker Engine API client: follows one engine over its unix socket, without
 * blocking, on the caller's libevent loop, and reports the running containers wgfwd cares
 * about: those with a "wgfwd." label, and the containers they share a network namespace with
 * (network_mode container:<id>).
 *
 * After each (re)connection it lists the containers, inspects those, reports the full set
 * with synced(), then follows the event stream from the time of the list (nothing falls in
 * the gap): an event about a followed container makes the client inspect it again, and it
 * reports changed() when the answer differs from what it reported last, or removed() once
 * the container stopped running or was removed. A die or destroy event newer than the list
 * reports removed() at once, without waiting for the inspect (Docker answers that only after
 * its teardown, ~200 ms); the inspect then confirms, and no answer asked for before the death
 * brings the container back (a later start does). A stopped container is reported
 * as removed, never as changed with running false: the consumer mirrors exactly the set
 * given by synced(), changed() and removed(). Reports of one container come in event order.
 *
 * When the engine goes away or talks garbage the client reports connection(false), retries
 * with capped exponential backoff and jitter, and on success reports connection(true) and a
 * fresh synced(): containers that vanished meanwhile are simply absent from it.
 *
 * Containers passed to callbacks belong to the client and live for the call only
 * (wf_container_dup what you keep). Callbacks must not free the client. */
#ifndef WGFWD_DOCKER_H
#define WGFWD_DOCKER_H

#include <stdbool.h>
#include <stddef.h>

#include "container.h"

struct event_base;
struct wf_docker;

#define WF_DOCKER_HOST_DEFAULT "unix:///var/run/docker.sock"

struct wf_docker_ops {
	void (*connection)(void *ctx, bool up);
	/* Every container of interest, sorted by id; replaces all that was reported before. */
	void (*synced)(void *ctx, const struct wf_container *containers, size_t n);
	void (*changed)(void *ctx, const struct wf_container *c);
	void (*removed)(void *ctx, const char *id);
};

/* The socket path of a Docker host: "unix:///path" (only unix sockets are supported;
 * -EPROTONOSUPPORT for tcp://, ssh:// and the like). NULL or "" means $DOCKER_HOST, and
 * WF_DOCKER_HOST_DEFAULT when that is unset. */
int wf_docker_host_socket(const char *docker_host, char *path, size_t size);

/* Starts connecting on the next turn of `base`; never fails because the engine is down. */
int wf_docker_new(struct wf_docker **out, struct event_base *base, const char *docker_host,
                  const struct wf_docker_ops *ops, void *ctx);
void wf_docker_free(struct wf_docker *d);

/* Reconnection delays: first min_ms, doubling up to max_ms (defaults 100 ms and 10 s). The
 * delay starts over once a connection stayed up for max_ms. */
void wf_docker_set_backoff(struct wf_docker *d, unsigned min_ms, unsigned max_ms);
/* The firewall backend the engine reported in /info ("iptables", "nftables", …); "" when it
 * does not say (API before 1.49, Podman) or has not answered yet. */
const char *wf_docker_firewall(const struct wf_docker *d);

#endif
