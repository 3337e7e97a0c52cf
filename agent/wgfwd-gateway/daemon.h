/* wgfwd-gateway's daemon: turns each peer's `state` into policy decisions, the ruleset, one
 * nftables transaction and the persisted state, and keeps the kernel in step. The control
 * server (control.h) brings it the states; status.c reads it for `wgfwd status --gateway` and
 * the metrics; main.c owns the event loop and the signals.
 *
 *   start:  keys, forwarding, persisted state -> policy -> ruleset -> kernel, then listen
 *   state:  policy -> ruleset -> kernel (only what changed) -> store -> state_ack
 *   always: drift repair when the kernel or the public addresses change, and periodically
 *   (a look at the ruleset generation: the whole ruleset is compared only when a commit since
 *   the gateway's own may have touched its tables); every few seconds, and before each
 *   decision: the ports the host itself listens on
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

#include <wgfwd/ct_stale.h>
#include <wgfwd/ctl.h>
#include <wgfwd/metrics.h>
#include <wgfwd/names.h>

#include "apply.h"
#include "control.h"
#include "host_watch.h"
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

/* What the daemon keeps of one peer besides the entries it holds (state.peers[]). */
struct wf_gw_peer_run {
	uint64_t generation;                    /* of the last state applied */
	char agent_version[WF_CTL_VERSION_MAX]; /* "" until it said */
	struct wf_gw_entries asked;             /* what it last asked for, in its order */
	bool asked_sorted;       /* asked is in the wire's sorted order (a delta left it so) */
	bool unsaved;            /* its state could not be written yet */
	bool unsynced;           /* its journal has lines not yet on the disk */
	bool journal_named;      /* the journal's name is on the disk */
	int journal_fd;          /* the journal, held open while it lasts; -1: closed */
	bool retry;              /* its last decision refused a port this host listened on */
	bool ct_changed;         /* the pending conntrack search is for its changes too */
	struct wf_gw_turn *turn; /* its state's turn under way (turn.c); NULL when none */
};

/* The daemon's state; status.c reads it. */
struct wf_gw_daemon {
	struct wf_gw_settings s;
	struct wf_gw_config *cfg; /* &s.policy */
	uint8_t (*keys)[WF_KEY_LEN];
	struct wf_gw_state state; /* what each peer holds: the kernel reflects it */
	struct wf_gw_peer_run *peers;

	/* for `wgfwd status --gateway` */
	uint64_t applies, apply_errors;
	bool last_apply_ok;
	char last_error[256];
	struct wf_status_socket *status;

	/* for metrics */
	struct wf_histogram apply_seconds;
	uint64_t refused[WF_GW_STATUS_MAX]; /* requested entries, by enum wf_gw_status */
	uint64_t states_refused, drift_repairs;
	struct wf_metrics_server *metrics;

	struct event_base *base;
	struct wf_gw_control *control;
	struct wf_nft *nft;
	struct wf_gw_apply_cache apply_cache;
	struct wf_gw_hostfw hostfw;             /* rules for the host's iptables chains */
	struct wf_gw_hostfw_result hostfw_last; /* where they stood after the last apply */
	/* The search for stale conntrack entries; NULL: no conntrack access, stale entries stay. */
	struct wf_ct_stale *ct;
	struct wf_rtnl *rtnl;
	struct wf_nlwatch *watch;
	struct wf_gw_host_watch host; /* the ports the VPS serves itself */
	struct event *reconcile_timer, *drift_timer, *host_ports_timer, *sync_timer;
};

/* Takes the settings over (s->policy is emptied). base must outlive the daemon. */
int wf_gw_daemon_new(struct wf_gw_settings *s, struct event_base *base, struct wf_gw_daemon **out);
void wf_gw_daemon_free(struct wf_gw_daemon *d);
/* Everything up to accepting agents; logs what failed and returns -errno. The rules stay in
 * place when the loop ends. */
int wf_gw_daemon_start(struct wf_gw_daemon *d);
/* Compares the kernel with the desired ruleset now and repairs it (SIGHUP). */
void wf_gw_daemon_reconcile(struct wf_gw_daemon *d, const char *trigger);
/* The ruleset the persisted state gives, printed without touching the kernel. */
int wf_gw_daemon_print_ruleset(struct wf_gw_daemon *d, FILE *out);
/* Removes the owned table (the NAT anchor stays) and the rules in the host's iptables
 * chains. */
int wf_gw_daemon_cleanup(struct wf_gw_daemon *d);

/* For the daemon's parts (peers.c, turn.c, delta.c, status.c). */
static inline const char *wf_gw_peer_name(const struct wf_gw_daemon *d, size_t peer)
{
	return d->cfg->peers[peer].name;
}

/* daemon.c: makes the kernel hold the ruleset of `state`. Returns 0 or -errno, with what failed
 * in why. */
int wf_gw_daemon_apply(struct wf_gw_daemon *d, const struct wf_gw_state *state,
                       struct wf_gw_apply_result *res, char *why, size_t whylen);
const char *wf_gw_change_text(const struct wf_gw_apply_result *res, char *buf, size_t len);
/* Writes the peer's state; a failure is logged and the peer marked unsaved. */
void wf_gw_daemon_save_peer(struct wf_gw_daemon *d, size_t peer);
/* The peer's journal has lines not yet on the disk: they go within WF_GW_JOURNAL_SYNC_MS,
 * one sync for all the changes of a burst. An acknowledgement says the kernel holds a change;
 * a restart of the gateway finds every change the file and journal were written with, and
 * after a power loss the state of a change at most this much older, which the agent's whole
 * state, sent when it reconnects, mends. */
#define WF_GW_JOURNAL_SYNC_MS 1000
void wf_gw_daemon_journal_written(struct wf_gw_daemon *d, size_t peer);
/* Reads the ports the host listens on again; with retry, grants what they no longer block. */
void wf_gw_daemon_refresh_host_ports(struct wf_gw_daemon *d, bool retry);
/* Before a decision on forwards to add: the host's ports of their protocols only. */
void wf_gw_daemon_refresh_host_ports_for(struct wf_gw_daemon *d, const struct wf_ctl_state *add);

/* peers.c */
extern const struct wf_gw_control_ops wf_gw_peer_ops;
extern const struct wf_ct_stale_ops wf_gw_stale_flow_ops;
/* Decides anew the last request of each peer that a port this host listened on refused. */
void wf_gw_retry_host_port_refusals(struct wf_gw_daemon *d);

/* status.c */
struct json_object *wf_gw_status_document(void *daemon);
int wf_gw_collect_metrics(void *daemon, struct wf_metrics *m);

#endif
