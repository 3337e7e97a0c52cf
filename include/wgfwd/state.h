/* The desired state: what the containers' labels ask for, resolved to addresses.
 *
 *   wf_desired_build(containers) -> inbound forwards, egress selections, problems
 *
 * Pure: no I/O, deterministic for a given input (sorted output), so the agent can compare two
 * states to find the handful of changes one container event causes. */
#ifndef WGFWD_STATE_H
#define WGFWD_STATE_H

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/container.h>

#define WF_LABEL_PORTS   "wgfwd.ports"
#define WF_LABEL_EGRESS  "wgfwd.egress"
#define WF_LABEL_NETWORK "wgfwd.network"
#define WF_LABEL_ENABLE  "wgfwd.enable"

#define WF_NAME_MAX 128
#define WF_ID_MAX   65

/* One public port forwarded to one container port. Ranges in labels are expanded, so every
 * forward is a single (proto, public_port) key: that is also the key of the nft maps. */
struct wf_forward {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t public_port;
	uint16_t target_port;
	bool to_host; /* network_mode host: the server itself is the target */
	bool has_ip4, has_ip6;
	struct in_addr ip4;
	struct in6_addr ip6;
	char bridge[IF_NAMESIZE];
	char container_id[WF_ID_MAX];
	char container_name[WF_NAME_MAX];
};

/* Traffic from a container that leaves through the tunnel. proto 0 means every protocol
 * (egress "all"); port_lo == 0 means every port of proto. */
struct wf_egress {
	uint8_t proto;
	uint16_t port_lo, port_hi;
	bool to_host;
	bool has_ip4, has_ip6;
	struct in_addr ip4;
	struct in6_addr ip6;
	char bridge[IF_NAMESIZE];
	char container_id[WF_ID_MAX];
	char container_name[WF_NAME_MAX];
};

/* Something wrong with a container's labels; only that container (or entry) is affected. */
struct wf_problem {
	char container_id[WF_ID_MAX];
	char container_name[WF_NAME_MAX];
	char label[32];
	char message[256];
	bool waiting; /* not an error: e.g. running but no address yet */
};

struct wf_desired {
	struct wf_forward *forwards;
	size_t n_forwards;
	struct wf_egress *egress;
	size_t n_egress;
	struct wf_problem *problems;
	size_t n_problems;
};

int wf_desired_build(const struct wf_container *containers, size_t n, struct wf_desired *out);
void wf_desired_free(struct wf_desired *d);

#endif
