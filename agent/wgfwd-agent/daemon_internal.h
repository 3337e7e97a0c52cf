/* Shared by the agent's daemon.c (containers, applies), daemon_gateways.c (the gateway links)
 * and status.c (what it shows), and by no one else: the agent's running state.
 *
 * One container's change costs that container: the Docker client reports it, daemon.c
 * updates the desired state in place (wf_desired_update) and gets the diff once, for the log
 * and the stale-flow search; the whole build is for start-up, a new list from Docker and
 * changes that reach other containers. Render and apply still take the whole state. */
#ifndef WGFWD_AGENT_DAEMON_INTERNAL_H
#define WGFWD_AGENT_DAEMON_INTERNAL_H

#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <wgfwd/ctl.h>
#include <wgfwd/metrics.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/status_socket.h>

#include "apply.h"
#include "container.h"
#include "ct_flush.h"
#include "daemon.h"
#include "docker.h"
#include "gateway_health.h"
#include "gateway_link.h"
#include "state.h"

/* A forward the gateway refused: its index in the acknowledged state, and why. */
struct gateway_refusal {
	size_t index;
	char reason[WF_CTL_REASON_MAX];
};

struct gateway_view {
	bool have_info;
	struct wf_ctl_gateway_info info;
	/* The last acknowledged state and its refusals (by index, in order), for status: every
	 * forward is kept, a reason only for those refused, which are few. */
	struct wf_ctl_forward *forwards;
	size_t n;
	bool sorted;      /* forwards by (proto, public_port, family): looked up by bisection */
	bool wire_sorted; /* in the control protocol's order, as the link keeps states: the same */
	struct gateway_refusal *refused;
	size_t n_refused;
	struct wf_ctl_egress *egress;
	struct wf_ctl_result *egress_results;
	size_t n_egress;
	bool applied;
	char reason[WF_CTL_REASON_MAX];
	size_t egress_refused;
};

/* One gateway as the agent follows it. */
struct gateway {
	struct wf_agent *a;
	struct wf_agent_gateway cfg;
	struct wf_gateway_link *link;
	struct gateway_view gw;
	/* What the gateway told, kept beside the configuration (never written into it). */
	struct in_addr learnt_ip4[WF_GATEWAY_ADDRS_MAX];
	size_t n_learnt_ip4;
	struct in6_addr learnt_ip6[WF_GATEWAY_ADDRS_MAX];
	size_t n_learnt_ip6;
	uint64_t reconnects;
	struct wf_gateway_seen seen;
	bool down;           /* egress avoids it */
	bool trim_after_ack; /* its answer to a big change leaves a big heap behind */
	bool acked_since_up; /* its first answer on a connection is said at info, later ones at
	                        debug */
};

struct wf_agent {
	struct event_base *base;
	struct wf_agent_config cfg;
	struct wf_server_params params;

	struct wf_docker *docker;
	struct wf_dataplane *dp;
	struct wf_ct_flush *ct_flush; /* NULL: no conntrack access, stale entries stay */
	struct wf_nlwatch *watch;
	struct gateway gws[WF_GATEWAYS_MAX];
	size_t n_gws;
	int egress_gw; /* the gateway unrestricted egress leaves by, -1: none */
	uint64_t egress_switches;
	struct event *health_ev;
	struct wf_status_socket *status;
	struct event *apply_ev, *reconcile_ev;
	struct event *trim_ev; /* the heap given back after a big status document */

	struct wf_container **containers;
	size_t n_containers, cap_containers;
	bool docker_up, synced;
	bool sysctls_ok;  /* forwarding, rp_filter, accept_ra as the data plane needs them */
	bool sysctls_due; /* a kernel change since they were last read */
	/* Notifications are judged by what they can touch (drift_filter.h); rtnl_due: one that
	 * can have touched the rules or routes, or a periodic look, since they were last synced. */
	bool notes_filtered, rtnl_due;
	bool scope_failed;        /* the kernel could not be asked to narrow them */
	bool accept_mark_advised; /* said once that Docker's nftables backend needs the mark */

	struct wf_desired desired;
	bool have_desired;
	/* Containers changed since desired was brought up to date: 0, 1 (changed_id), or more. */
#define CHANGED_MANY 2
	unsigned n_changed;
	char changed_id[WF_ID_MAX];
	/* With one: that container as the desired state last saw it (NULL: not among them). */
	struct wf_container *changed_was;
	bool pushed; /* the gateway links have been given the desired state */
	/* The gateways as the last whole apply rendered them: while they stay, a change of
	 * forwards alone goes by the element-only path. */
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];

	uint64_t applies, apply_errors, docker_reconnects;
	uint64_t nft_changes[WF_NFT_REPLACED + 1]; /* successful applies, by enum wf_nft_change */
	struct wf_histogram apply_seconds;
	bool last_apply_ok;
	char last_error[1024];
	/* The last forward a change names, said with the apply's outcome: one line a change. */
	char change_line[512];
	unsigned retry_ms; /* after a failed apply: doubles up to APPLY_RETRY_MAX_MS */
	double last_apply_ms;
	time_t last_apply_at;
	struct wf_apply_result last_result;
};

/* The acknowledged forward (proto, public_port, family) at index *i, and whether the gateway
 * took it; false when the gateway was not sent it. */
bool wf_gateway_view_find(const struct gateway_view *gw, uint8_t proto, uint16_t port, int family,
                          size_t *i);
/* NULL when the gateway accepted forward i. */
const char *wf_gateway_view_refusal(const struct gateway_view *gw, size_t i);

/* Each gateway's part of the data plane: its tunnel, table, marks and public addresses. */
void wf_agent_gateway_planes(const struct wf_agent *a, struct wf_server_gateway *out);

/* daemon.c: the monotonic clock in ms, and an apply due in delay_ms (an earlier one stays). */
double wf_agent_now_ms(void);
void wf_agent_schedule_apply(struct wf_agent *a, unsigned delay_ms);

/* daemon_gateways.c: the gateway links and what they tell. */
int wf_agent_gateway_start(struct wf_agent *a, struct gateway *g,
                           const struct wf_agent_gateway *cfg);
void wf_agent_gateway_free(struct gateway *g);
/* Sends each gateway its part of a->desired. */
void wf_agent_push_gateway_state(struct wf_agent *a);
/* The same for one change of a->desired, sent as the entries it changes where each link holds
 * the state before it (the whole state where not, or where egress changed). */
void wf_agent_push_gateway_diff(struct wf_agent *a, const struct wf_desired_diff *diff);
/* Every 250 ms with several gateways: which are down, and which one egress leaves by. */
void wf_agent_check_health(evutil_socket_t fd, short what, void *arg);

#endif
