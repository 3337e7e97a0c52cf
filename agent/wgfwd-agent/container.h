/* What the agent knows about one Docker container: the inputs of the desired-state function.
 * Filled by the Docker client from /containers/json, /containers/{id}/json and /networks;
 * plain data with one free function, no I/O. */
#ifndef WGFWD_CONTAINER_H
#define WGFWD_CONTAINER_H

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wf_netmode {
	WF_NETMODE_BRIDGE,    /* one or more user or default bridge networks */
	WF_NETMODE_HOST,      /* network_mode: host — forwards go to the server itself */
	WF_NETMODE_CONTAINER, /* network_mode: container:<id> — follows that container */
	WF_NETMODE_NONE,
};

struct wf_label {
	char *key;
	char *value;
};

struct wf_network {
	char *name;               /* Docker network name ("bridge", "web_default", …) */
	char *id;                 /* Docker network id */
	char bridge[IF_NAMESIZE]; /* host interface of the network, "" when not a bridge */
	bool has_ip4, has_ip6;    /* an attached container may have no address yet */
	struct in_addr ip4;
	struct in6_addr ip6;
};

struct wf_container {
	char *id;           /* full 64-hex id */
	char *name;         /* without the leading '/' */
	int64_t created_ns; /* creation time; the older container wins a port conflict */
	bool running;
	bool paused;
	enum wf_netmode netmode;
	char *netmode_target; /* id or name for WF_NETMODE_CONTAINER, else NULL */
	struct wf_label *labels;
	size_t n_labels;
	struct wf_network *networks;
	size_t n_networks;
};

const char *wf_container_label(const struct wf_container *c, const char *key);
struct wf_container *wf_container_dup(const struct wf_container *c);
void wf_container_clear(struct wf_container *c);
void wf_container_free(struct wf_container *c);

#endif
