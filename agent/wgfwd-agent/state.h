/* The desired state: what the containers' labels ask for, resolved to addresses.
 *
 *   wf_desired_build(containers) -> inbound forwards, egress selections, problems
 *
 * Pure: no I/O, deterministic for a given input (sorted output), so the agent can compare two
 * states to find the handful of changes one container event causes.
 *
 * Rules the function applies (label grammar: labels.h):
 *  - Only running containers with wgfwd.ports or wgfwd.egress count; wgfwd.enable=false
 *    switches one off. A paused container keeps its forwards and egress: it still holds its
 *    address, clients see a stall rather than another service, and no other container can
 *    take the port in the meantime only to lose it again on unpause.
 *  - The target is the container's network: the only one it is on, or the one wgfwd.network
 *    names. network_mode host forwards to the server itself (to_host, no address);
 *    network_mode container:<ref> uses the networks of that container (found by id, name or
 *    unique id prefix among the containers given; its own wgfwd.network label applies when
 *    the labelled container has none).
 *  - A bad entry, bad label or unusable network gives one problem and affects only that
 *    entry or container. A container that is running but has no address yet gives a
 *    `waiting' problem and nothing else.
 *  - Two containers claiming one public port and protocol: the older (created_ns, then id)
 *    keeps it, the other gets a problem and loses that port only.
 *  - Egress entries that would render identically (containers sharing one network namespace)
 *    are kept once, for the older container.
 *  - Sorted: forwards by (proto, public_port), which is unique; egress by container name, id,
 *    proto, ports; problems by container name, id, label, message. Unused bytes are zero, so
 *    two builds of the same containers, in any order, are byte-equal. */
#ifndef WGFWD_STATE_H
#define WGFWD_STATE_H

#include <netinet/in.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/labels.h>

#include "container.h"

#define WF_LABEL_PORTS   "wgfwd.ports"
#define WF_LABEL_EGRESS  "wgfwd.egress"
#define WF_LABEL_NETWORK "wgfwd.network"
#define WF_LABEL_ENABLE  "wgfwd.enable"
/* Names of the gateways a container's forwards and egress use ("vps1,vps2"); absent: all. */
#define WF_LABEL_GATEWAYS "wgfwd.gateways"

#define WF_GATEWAY_LIST_MAX 128

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
	char gateways[WF_GATEWAY_LIST_MAX]; /* wgfwd.gateways, normalised; "": every gateway */
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
	char gateways[WF_GATEWAY_LIST_MAX]; /* as in wf_forward */
	char container_id[WF_ID_MAX];
	char container_name[WF_NAME_MAX];
};

/* Something wrong with a container's labels; only that container (or entry) is affected.
 * label is the label at fault, "" when none is (no address yet, network container missing);
 * message does not repeat the label: "bad port `70000' in entry `70000/tcp'". */
struct wf_problem {
	char container_id[WF_ID_MAX];
	char container_name[WF_NAME_MAX];
	char label[32];
	char message[256];
	bool waiting;   /* not an error: e.g. running but no address yet */
	bool contested; /* a port another container holds: the two depend on each other */
};

struct wf_desired {
	struct wf_forward *forwards;
	size_t n_forwards;
	/* The allocation forwards lies in, when an in-place update left room before it (NULL:
	 * forwards itself). An update moves the forwards on the shorter side of a change. */
	struct wf_forward *forwards_mem;
	struct wf_egress *egress;
	size_t n_egress;
	struct wf_problem *problems;
	size_t n_problems;
};

/* 0 or -ENOMEM; *out is filled whole or left empty. Service names resolve through the system's
 * services database (wf_service_lookup_system); _with takes another resolver. */
int wf_desired_build(const struct wf_container *containers, size_t n, struct wf_desired *out);
int wf_desired_build_with(const struct wf_container *containers, size_t n,
                          wf_service_resolver resolve, void *resolve_ctx, struct wf_desired *out);
void wf_desired_free(struct wf_desired *d);

/* Parses a wgfwd.gateways value: names of letters, digits, `.', `_', `-' (at most
 * WF_GATEWAY_NAME_MAX - 1 each), separated by commas and optional blanks. Writes them to out
 * joined by single commas. 0, or -EINVAL with the reason in err. */
#define WF_GATEWAY_NAME_MAX 32
int wf_gateways_parse(const char *value, char out[WF_GATEWAY_LIST_MAX], char *err, size_t err_len);
/* Whether a normalised list ("" meaning every gateway) names `name'. */
bool wf_gateways_allow(const char *list, const char *name);

/* Everything equal: forwards, egress and problems. */
bool wf_desired_equal(const struct wf_desired *a, const struct wf_desired *b);

/* What the data plane must change to go from one state to another. Forwards and egress compare
 * by what they render to (protocol, ports, target addresses, bridge, to_host), not by container
 * id or name, so a container recreated with the same address changes nothing. A forward whose
 * target moved is in both lists: removed with its old target (whose conntrack entries must go),
 * added with the new one. Forward lists are sorted by (proto, public_port, target), egress
 * lists by (proto, ports, target). */
struct wf_desired_diff {
	struct wf_forward *forwards_added;
	size_t n_forwards_added;
	struct wf_forward *forwards_removed;
	size_t n_forwards_removed;
	struct wf_egress *egress_added;
	size_t n_egress_added;
	struct wf_egress *egress_removed;
	size_t n_egress_removed;
};

int wf_desired_diff(const struct wf_desired *from, const struct wf_desired *to,
                    struct wf_desired_diff *out);
bool wf_desired_diff_empty(const struct wf_desired_diff *d);
void wf_desired_diff_free(struct wf_desired_diff *d);

/* One container's change (started, stopped, removed, labels or addresses changed) applied to d
 * in place: containers is the whole set after the change, id the container that changed. Costs
 * that container's entries plus a pass over d's, not a build of every container. Where the
 * change can reach other containers' entries (a port two containers claim, network_mode
 * container:, host network, a shared address) it does nothing and returns 1: the caller builds
 * the whole state. Otherwise 0, d equal to what wf_desired_build gives for containers, and
 * *diff what changed (as wf_desired_diff would say); -ENOMEM with d untouched. */
int wf_desired_update(struct wf_desired *d, const struct wf_container *containers, size_t n,
                      const char *id, struct wf_desired_diff *diff);
int wf_desired_update_with(struct wf_desired *d, const struct wf_container *containers, size_t n,
                           const char *id, wf_service_resolver resolve, void *resolve_ctx,
                           struct wf_desired_diff *diff);

/* The same, where the caller knows the container as d last saw it: `was' (NULL when it was not
 * among the containers d was last built or updated from). Its labels name every port it can
 * hold in d, so its forwards there are found by key, at the cost of its own ports rather than
 * of a pass over d. */
int wf_desired_update_was(struct wf_desired *d, const struct wf_container *containers, size_t n,
                          const char *id, const struct wf_container *was,
                          struct wf_desired_diff *diff);
int wf_desired_update_was_with(struct wf_desired *d, const struct wf_container *containers,
                               size_t n, const char *id, const struct wf_container *was,
                               wf_service_resolver resolve, void *resolve_ctx,
                               struct wf_desired_diff *diff);

/* One line for the log: "web: wgfwd.ports: bad port `70000' in entry `70000/tcp'". */
void wf_problem_format(const struct wf_problem *p, char *buf, size_t size);

/* {"forwards": [...], "egress": [...], "problems": [...]}, for --dry-run --json and status.
 * A new json-c object (json_object_put it), NULL on ENOMEM. */
struct json_object;
struct json_object *wf_desired_to_json(const struct wf_desired *d);

#endif
