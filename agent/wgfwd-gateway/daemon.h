/* wgfwd-gateway's running state: the listener for agents on the tunnel, one authenticated
 * control connection per peer, and the loop that turns each peer's `state` into policy
 * decisions, the ruleset, one nftables transaction and the persisted state.
 *
 *   start:  keys, forwarding, persisted state -> policy -> ruleset -> kernel, then listen
 *   state:  policy -> ruleset -> kernel (only what changed) -> store -> state_ack
 *   always: drift repair when the kernel or the public addresses change, and periodically
 *   every few seconds, and before each decision: the ports the host itself listens on
 *           (host_watch.h), an input of the policy; forwards that clash with one are flagged
 *
 * Forwards stay when an agent goes away; they change only when that agent says so. */
#ifndef WGFWD_GATEWAY_DAEMON_H
#define WGFWD_GATEWAY_DAEMON_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <wgfwd/names.h>

#include "policy.h"
#include "render.h"

#define WF_GW_LISTEN_MAX                 8
#define WF_GW_DEFAULT_STATE_DIR          "/var/lib/wgfwd"
#define WF_GW_DEFAULT_STATUS_SOCKET      WF_GATEWAY_STATUS_SOCKET
#define WF_GW_DEFAULT_WIREGUARD_PORT     51820
#define WF_GW_DEFAULT_RECONCILE_INTERVAL 30000 /* ms */

struct wf_gw_settings {
	/* Interfaces and control port; public addresses when given explicitly. */
	struct wf_gw_params params;
	bool public_fixed; /* false: read (and follow) the public interface's addresses */
	/* Where to listen; none: every address of the tunnel interface, on params.control_port. */
	struct sockaddr_storage listen[WF_GW_LISTEN_MAX];
	socklen_t listen_len[WF_GW_LISTEN_MAX];
	size_t n_listen;
	char state_dir[512];
	/* The user the daemon becomes once started (uid 0: it stays root, with CAP_NET_ADMIN
	 * only); the state directory is handed to it first. */
	uid_t uid;
	gid_t gid;
	char status_socket[108];        /* unix socket for `wgfwd status --gateway`; "" for none */
	unsigned reconcile_interval_ms; /* 0: never */
	/* How often the host's own listening ports are read again (also before each decision);
	 * 0: only before decisions. */
	unsigned listener_interval_ms;
	/* Accept wgfwd's flows in the host's iptables chains (<wgfwd/hostfw.h>); false removes
	 * any that an earlier run placed. */
	bool host_firewall;
	/* The metrics endpoint; metrics_len 0 for none. */
	struct sockaddr_storage metrics;
	socklen_t metrics_len;
	/* Peers and reserved ports; the daemon takes it over (and frees it). */
	struct wf_gw_config policy;
};

struct wf_gw_daemon;

int wf_gw_daemon_new(struct wf_gw_settings *s, struct wf_gw_daemon **out);
void wf_gw_daemon_free(struct wf_gw_daemon *d);
/* Everything up to accepting agents; logs what failed and returns -errno. */
int wf_gw_daemon_start(struct wf_gw_daemon *d);
/* Until SIGTERM or SIGINT. The rules stay in place. */
int wf_gw_daemon_run(struct wf_gw_daemon *d);
/* The ruleset the persisted state gives, printed without touching the kernel. */
int wf_gw_daemon_print_ruleset(struct wf_gw_daemon *d, FILE *out);
/* Removes the owned table (the NAT anchor stays) and the rules in the host's iptables
 * chains. */
int wf_gw_daemon_cleanup(struct wf_gw_daemon *d);

#endif
