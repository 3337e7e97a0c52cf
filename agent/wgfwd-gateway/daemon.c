#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd/ctl.h>
#include <wgfwd/keyfile.h>
#include <wgfwd/log.h>
#include <wgfwd/metrics.h>
#include <wgfwd/metrics_http.h>
#include <wgfwd/nft.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/rtnl.h>
#include <wgfwd/status_socket.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

#include "apply.h"
#include "ct_flush.h"
#include "grants.h"
#include "host.h"
#include "host_watch.h"
#include "store.h"

/* Connections that have not finished the handshake cost little, but not nothing. */
#define CLIENTS_MAX         64
#define PENDING_PER_PEER    4
#define DRIFT_DEBOUNCE_MS   200
#define FALLBACK_TUNNEL_MTU 1420

/* Connections turned away before or after the handshake, by why; a failed handshake is counted
 * on its own. */
enum rejection {
	REJECT_NOT_A_PEER,
	REJECT_TOO_MANY,
	REJECT_IDENTITY,
	REJECT_MAX,
};

static const char *const rejection_names[REJECT_MAX] = {
    [REJECT_NOT_A_PEER] = "not_a_peer",
    [REJECT_TOO_MANY] = "too_many",
    [REJECT_IDENTITY] = "identity",
};

/* A ruleset commit takes milliseconds; the whole table with many forwards a little more. */
static const double apply_seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,  0.1,    0.25,  1};

struct client {
	struct wf_gw_daemon *d;
	struct client *next;
	struct wf_ctl_conn *conn;
	size_t peer;
	char remote[INET6_ADDRSTRLEN + 8];
	bool established;
	/* The latest state that arrived before the peer's next turn (see take_state). */
	struct wf_ctl_state pending;
	bool has_pending;
	struct event *turn; /* the peer's next turn, while a state waits */
};

struct wf_gw_daemon {
	struct wf_gw_settings s;
	struct wf_gw_config *cfg; /* &s.policy */
	uint8_t (*keys)[WF_KEY_LEN];
	struct wf_gw_state state; /* what each peer holds: the kernel reflects it */
	bool *unsaved;            /* peers whose state could not be written yet */
	uint64_t *generation;     /* of the last state applied from each peer */
	char (*agent_version)[WF_CTL_VERSION_MAX]; /* each peer's, "" until it said */
	struct wf_gw_entries *asked;               /* what each peer last asked for, in its order */
	bool *retry;       /* its last decision refused a port this host listened on */
	double *next_turn; /* when each peer's next state may be applied (now_seconds) */

	/* for `wgfwd status --gateway` */
	uint64_t applies, apply_errors;
	bool last_apply_ok;
	char last_error[256];
	struct wf_status_socket *status;

	/* for metrics */
	struct wf_histogram apply_seconds;
	uint64_t refused[WF_GW_STATUS_MAX]; /* requested entries, by enum wf_gw_status */
	uint64_t states_refused, states_superseded, handshake_failures, drift_repairs;
	uint64_t rejected[REJECT_MAX];
	struct wf_metrics_server *metrics;

	struct event_base *base;
	struct wf_nft *nft;
	struct wf_gw_apply_cache apply_cache;
	struct wf_gw_hostfw hostfw;             /* rules for the host's iptables chains */
	struct wf_gw_hostfw_result hostfw_last; /* where they stood after the last apply */
	struct wf_ct_stale *ct;                 /* NULL: no conntrack access, stale entries stay */
	bool *ct_peers;                         /* whose changes the pending search is for */
	struct wf_rtnl *rtnl;
	struct wf_nlwatch *watch;
	struct wf_gw_host_watch host; /* the ports the VPS serves itself */
	struct evconnlistener *listeners[WF_GW_LISTEN_MAX];
	size_t n_listeners;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *reconcile_timer, *drift_timer, *host_ports_timer;
	struct client *clients;
	size_t n_clients;
};

static const char *peer_name(const struct wf_gw_daemon *d, size_t peer)
{
	return d->cfg->peers[peer].name;
}

/* ---- the ruleset ---- */

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int refresh_public_addresses(struct wf_gw_daemon *d, bool *changed)
{
	struct wf_gw_params p = d->s.params;
	int err;

	*changed = false;
	if (d->s.public_fixed)
		return 0;
	err = wf_gw_interface_addresses(p.public_ifname, p.public_ip4, &p.n_public_ip4,
	                                p.public_ip6, &p.n_public_ip6);
	if (err)
		return err;
	if (p.n_public_ip4 == d->s.params.n_public_ip4 &&
	    p.n_public_ip6 == d->s.params.n_public_ip6 &&
	    !memcmp(p.public_ip4, d->s.params.public_ip4,
	            p.n_public_ip4 * sizeof(p.public_ip4[0])) &&
	    !memcmp(p.public_ip6, d->s.params.public_ip6, p.n_public_ip6 * sizeof(p.public_ip6[0])))
		return 0;
	d->s.params = p;
	*changed = true;
	return 0;
}

static void log_public_addresses(const struct wf_gw_daemon *d)
{
	char text[WF_GW_PUBLIC_MAX * 2 * (INET6_ADDRSTRLEN + 1) + 1] = "";
	char a[INET6_ADDRSTRLEN];
	size_t len = 0;

	for (size_t i = 0; i < d->s.params.n_public_ip4; i++)
		len +=
		    (size_t)snprintf(text + len, sizeof(text) - len, " %s",
		                     inet_ntop(AF_INET, &d->s.params.public_ip4[i], a, sizeof(a)));
	for (size_t i = 0; i < d->s.params.n_public_ip6; i++)
		len +=
		    (size_t)snprintf(text + len, sizeof(text) - len, " %s",
		                     inet_ntop(AF_INET6, &d->s.params.public_ip6[i], a, sizeof(a)));
	if (!len)
		log_warn("no public address on %s: nothing is forwarded until one appears",
		         d->s.params.public_ifname);
	else
		log_info("public addresses (%s):%s", d->s.params.public_ifname, text);
}

/* Makes the kernel hold the ruleset of `state`. Returns 0 or -errno, with what failed in why. */
static int apply_state(struct wf_gw_daemon *d, const struct wf_gw_state *state,
                       struct wf_gw_apply_result *res, char *why, size_t whylen)
{
	struct wf_nft_table *t = NULL;
	double start = now_seconds();
	int err = wf_gw_render(&d->s.params, d->cfg, state, &t);

	memset(res, 0, sizeof(*res));
	if (err) {
		snprintf(why, whylen, "cannot render the ruleset: %s", strerror(-err));
		return err;
	}
	err = wf_gw_apply_hostfw(d->nft, &d->apply_cache, t, &d->hostfw, res);
	wf_nft_table_free(t);
	if (!err)
		d->hostfw_last = d->apply_cache.hostfw.last;
	wf_histogram_observe(&d->apply_seconds, now_seconds() - start);
	d->applies++;
	d->last_apply_ok = !err;
	if (err)
		d->apply_errors++;
	if (err && res->error.what[0])
		snprintf(why, whylen, "the kernel refused %s: %s%s%s", res->error.what,
		         strerror(-err), res->error.detail[0] ? ": " : "", res->error.detail);
	else if (err)
		snprintf(why, whylen, "cannot program nftables: %s", strerror(-err));
	if (err)
		WF_COPY(d->last_error, why);
	return err;
}

static void log_host_firewall(const struct wf_gw_daemon *d, const struct wf_gw_apply_result *res)
{
	if (!d->hostfw.enabled)
		log_info("host firewall: not touched (--no-host-firewall)%s",
		         res->hostfw.deleted ? "; accept rules of an earlier run removed" : "");
	else if (!res->hostfw.chains)
		log_info("host firewall: no iptables filter FORWARD/INPUT chain, nothing to pass "
		         "through");
	else
		log_info("host firewall: wgfwd's flows accepted in %zu iptables chain(s) "
		         "(ip/ip6 filter FORWARD, INPUT): %zu rule(s) added, %zu already there",
		         res->hostfw.chains, res->hostfw.inserted, res->hostfw.in_place);
}

static const char *change_text(const struct wf_gw_apply_result *res, char *buf, size_t len)
{
	switch (res->table) {
	case WF_NFT_UNCHANGED:
		snprintf(buf, len, "unchanged");
		break;
	case WF_NFT_ELEMENTS:
		snprintf(buf, len, "%zu elements added, %zu removed", res->elements_added,
		         res->elements_removed);
		break;
	case WF_NFT_REPLACED:
		snprintf(buf, len, "table written whole");
		break;
	}
	if (res->anchor_written)
		snprintf(buf + strlen(buf), len - strlen(buf), ", NAT anchor written");
	return buf;
}

static void save_peer(struct wf_gw_daemon *d, size_t peer)
{
	char err[512];

	if (wf_gw_store_save(d->s.state_dir, peer_name(d, peer), &d->state.peers[peer], err,
	                     sizeof(err))) {
		log_error("peer %s: state applied but not saved (a restart would lose it): %s",
		          peer_name(d, peer), err);
		d->unsaved[peer] = true;
		return;
	}
	d->unsaved[peer] = false;
}

/* ---- the control channel ---- */

static void send_gateway_info(struct client *c)
{
	struct wf_gw_daemon *d = c->d;
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_GATEWAY_INFO};
	struct wf_ctl_gateway_info *gi = &m.gateway_info;
	uint32_t mtu = 0;
	int err;

	for (size_t i = 0; i < d->s.params.n_public_ip4 && i < WF_CTL_ADDRS_MAX; i++)
		gi->ipv4[gi->n_ipv4++] = d->s.params.public_ip4[i];
	for (size_t i = 0; i < d->s.params.n_public_ip6 && i < WF_CTL_ADDRS_MAX; i++)
		gi->ipv6[gi->n_ipv6++] = d->s.params.public_ip6[i];
	err = wf_rtnl_link_mtu(d->rtnl, d->s.params.tunnel_ifname, &mtu);
	if (err || mtu < WF_CTL_MTU_MIN || mtu > WF_CTL_MTU_MAX) {
		log_warn("cannot read the MTU of %s (%s): telling peer %s it is %u",
		         d->s.params.tunnel_ifname, err ? strerror(-err) : "out of range",
		         peer_name(d, c->peer), FALLBACK_TUNNEL_MTU);
		mtu = FALLBACK_TUNNEL_MTU;
	}
	gi->mtu = mtu;
	if (wf_ctl_version_valid(wf_version))
		WF_COPY(gi->gateway_version, wf_version);
	err = wf_ctl_conn_send(c->conn, &m);
	if (err)
		log_warn("peer %s: cannot send gateway_info: %s", peer_name(d, c->peer),
		         strerror(-err));
}

static void client_unlink(struct client *c)
{
	struct wf_gw_daemon *d = c->d;

	for (struct client **p = &d->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			d->n_clients--;
			break;
		}
	}
}

/* Ends a connection the daemon no longer wants; reason goes to the peer when established. */
static void client_free(struct client *c)
{
	if (c->turn)
		event_free(c->turn);
	wf_ctl_state_clear(&c->pending);
	free(c);
}

static void client_drop(struct client *c, const char *reason)
{
	client_unlink(c);
	wf_ctl_conn_close(c->conn, reason);
	client_free(c);
}

/* The message's entries are the policy's: one type from the wire to the kernel. */
static int entries_from_message(const struct wf_ctl_state *s, struct wf_gw_entries *e)
{
	const struct wf_gw_entries asked = {.forwards = s->forwards,
	                                    .n_forwards = s->n_forwards,
	                                    .egress = s->egress,
	                                    .n_egress = s->n_egress};

	return wf_gw_entries_copy(e, &asked);
}

static void fill_results(struct wf_ctl_result *out, const struct wf_gw_result *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i].accepted = in[i].status == WF_GW_ACCEPTED;
		if (!out[i].accepted)
			WF_COPY(out[i].reason, in[i].reason);
	}
}

static void count_refusals(struct wf_gw_daemon *d, const struct wf_gw_decision *dec)
{
	for (size_t i = 0; i < dec->n_forwards; i++)
		d->refused[dec->forwards[i].status]++;
	for (size_t i = 0; i < dec->n_egress; i++)
		d->refused[dec->egress[i].status]++;
}

/* How many refused entries a log line names; the rest are counted by kind. */
#define REFUSALS_NAMED 3

/* One line per state however much of it was refused: a peer sending 65,536 refused entries a
 * message must not be able to write 65,536 lines (the ack carries every reason to the agent). */
static void log_refusals(const struct wf_gw_daemon *d, size_t peer, const struct wf_ctl_state *s,
                         const struct wf_gw_decision *dec)
{
	size_t by_kind[WF_GW_STATUS_MAX] = {0}, named = 0, len = 0;
	char kinds[256] = "", first[3 * (WF_GW_REASON_MAX + 32)] = "";

	if (!dec->n_refused)
		return;
	for (size_t i = 0; i < dec->n_forwards + dec->n_egress; i++) {
		bool fw = i < dec->n_forwards;
		const struct wf_gw_result *r =
		    fw ? &dec->forwards[i] : &dec->egress[i - dec->n_forwards];

		if (r->status == WF_GW_ACCEPTED)
			continue;
		by_kind[r->status]++;
		if (named++ >= REFUSALS_NAMED || len >= sizeof(first))
			continue;
		if (fw)
			len += (size_t)snprintf(first + len, sizeof(first) - len,
			                        "%sforward %s/%u: %s", len ? "; " : "",
			                        wf_gw_proto_name(s->forwards[i].proto),
			                        s->forwards[i].public_port, r->reason);
		else
			len += (size_t)snprintf(first + len, sizeof(first) - len, "%segress: %s",
			                        len ? "; " : "", r->reason);
	}
	len = 0;
	for (int k = 0; k < WF_GW_STATUS_MAX; k++)
		if (by_kind[k] && len < sizeof(kinds))
			len += (size_t)snprintf(kinds + len, sizeof(kinds) - len, "%s%s %zu",
			                        len ? ", " : "", wf_gw_status_name(k), by_kind[k]);
	log_info("peer %s: state %llu: refused %zu of %zu entries (%s): %s%s", peer_name(d, peer),
	         (unsigned long long)s->generation, dec->n_refused, dec->n_forwards + dec->n_egress,
	         kinds, first, dec->n_refused > REFUSALS_NAMED ? "; ..." : "");
}

/* Flows keep the path their conntrack entry took: once the kernel holds the next state, the
 * entries of the forwards that changed go, so their next packet meets the new rules. The search
 * walks the kernel's whole conntrack hash (milliseconds even when it is empty), so it runs
 * after the agent has its answer, once for all the changes of a burst. */
static size_t prune_stale_flows(void *arg, struct wf_ct_match *m, size_t n)
{
	const struct wf_gw_daemon *d = arg;

	return wf_gw_ct_prune(d->cfg, &d->state, m, n);
}

static void stale_flows_flushed(void *arg, int looked_for, size_t deleted)
{
	struct wf_gw_daemon *d = arg;
	char peers[256] = "";
	size_t len = 0, n = 0;

	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		if (!d->ct_peers[p])
			continue;
		if (len < sizeof(peers))
			len += (size_t)snprintf(peers + len, sizeof(peers) - len, "%s%s",
			                        n ? ", " : "", peer_name(d, p));
		d->ct_peers[p] = false;
		n++;
	}
	if (looked_for < 0)
		log_warn("peer%s %s: cannot delete the conntrack entries of changed forwards (%s): "
		         "their flows keep the old path until they go idle",
		         n > 1 ? "s" : "", peers, strerror(-looked_for));
	else if (deleted)
		log_info("peer%s %s: deleted %zu conntrack entr%s of changed forwards",
		         n > 1 ? "s" : "", peers, deleted, deleted == 1 ? "y" : "ies");
	else if (looked_for)
		log_debug("peer%s %s: no conntrack entries of changed forwards to delete",
		          n > 1 ? "s" : "", peers);
}

static const struct wf_ct_stale_ops stale_flow_ops = {.prune = prune_stale_flows,
                                                      .flushed = stale_flows_flushed};

static void note_stale_flows(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *from,
                             const struct wf_gw_state *to)
{
	struct wf_ct_match *m;
	size_t n;
	int err;

	if (!d->ct)
		return;
	err = wf_gw_ct_matches(&d->s.params, d->cfg, from, to, &m, &n);
	if (!err) {
		err = wf_ct_stale_note(d->ct, m, n);
		free(m);
	}
	if (err < 0) {
		log_warn("peer %s: cannot note the changed forwards (%s): their flows keep the old "
		         "path until they go idle",
		         peer_name(d, peer), strerror(-err));
		return;
	}
	if (n)
		d->ct_peers[peer] = true;
}

/* ---- the host's own ports ---- */

static bool host_port_refused(const struct wf_gw_decision *dec)
{
	for (size_t i = 0; i < dec->n_forwards; i++)
		if (dec->forwards[i].status == WF_GW_HOST_PORT)
			return true;
	return false;
}

static struct client *connected_client(struct wf_gw_daemon *d, size_t peer)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (c->peer == peer && c->established)
			return c;
	return NULL;
}

/* The results of an applied decision, for the agent's status. 0 or -errno. */
static int send_results(struct client *c, uint64_t generation, const struct wf_gw_decision *dec)
{
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	struct wf_ctl_state_ack *a = &ack.state_ack;
	int err = -ENOMEM;

	a->generation = generation;
	a->applied = true;
	a->n_forwards = dec->n_forwards;
	a->n_egress = dec->n_egress;
	a->forwards = calloc(dec->n_forwards ? dec->n_forwards : 1, sizeof(*a->forwards));
	a->egress = calloc(dec->n_egress ? dec->n_egress : 1, sizeof(*a->egress));
	if (a->forwards && a->egress) {
		fill_results(a->forwards, dec->forwards, dec->n_forwards);
		fill_results(a->egress, dec->egress, dec->n_egress);
		err = wf_ctl_conn_send(c->conn, &ack);
	}
	free(a->forwards);
	free(a->egress);
	return err;
}

/* A port refused because this host listened on it is granted once the host's service is gone,
 * without waiting for the peer to ask again: its last request is decided anew, and the agent
 * gets the new results under the same generation. Only ever adds: what a peer holds stays. */
static void retry_host_port_refusals(struct wf_gw_daemon *d)
{
	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		struct wf_gw_state next;
		struct wf_gw_decision dec;
		struct wf_gw_apply_result res;
		char why[1024], change[96];
		struct client *c;
		int err;

		if (!d->retry[p])
			continue;
		err = wf_gw_policy_decide(d->cfg, &d->state, p, &d->asked[p], &next, &dec);
		if (err)
			continue;
		if (wf_gw_entries_equal(&d->state.peers[p], &next.peers[p]))
			goto next_peer;
		err = apply_state(d, &next, &res, why, sizeof(why));
		if (err) {
			log_error("peer %s: forwards freed by this host cannot be applied: %s",
			          peer_name(d, p), why);
			goto next_peer;
		}
		note_stale_flows(d, p, &d->state, &next);
		log_info("peer %s: %zu more forward%s granted, this host no longer listening on "
		         "their ports; %s",
		         peer_name(d, p), next.peers[p].n_forwards - d->state.peers[p].n_forwards,
		         next.peers[p].n_forwards - d->state.peers[p].n_forwards == 1 ? "" : "s",
		         change_text(&res, change, sizeof(change)));
		wf_gw_state_free(&d->state);
		d->state = next;
		memset(&next, 0, sizeof(next));
		save_peer(d, p);
		d->retry[p] = host_port_refused(&dec);
		c = connected_client(d, p);
		err = c ? send_results(c, d->generation[p], &dec) : 0;
		if (err)
			log_warn("peer %s: cannot send the new results: %s", peer_name(d, p),
			         strerror(-err));
	next_peer:
		wf_gw_state_free(&next);
		wf_gw_decision_free(&dec);
	}
}

/* sock_diag tells of no socket that starts listening: the ports are read again on a timer and
 * before each decision, one dump of each protocol and family (a few hundred microseconds). */
static void refresh_host_ports(struct wf_gw_daemon *d, bool retry)
{
	uint32_t skip[WF_GW_LISTEN_MAX];
	size_t n_skip = 0;

	/* The control sockets sit on the tunnel and are reserved anyway; left out by identity
	 * all the same, in case --listen put one on a public address. */
	for (size_t i = 0; i < d->n_listeners; i++) {
		struct stat st;

		if (!fstat(evconnlistener_get_fd(d->listeners[i]), &st))
			skip[n_skip++] = (uint32_t)st.st_ino;
	}
	d->cfg->host_ports = &d->host.ports;
	if (!wf_gw_host_watch_read(&d->host, &d->s.params, skip, n_skip))
		return;
	if (retry)
		retry_host_port_refusals(d);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
}

static void on_host_ports_timer(evutil_socket_t fd, short what, void *arg)
{
	refresh_host_ports(arg, true);
}

/* Returns false when the connection was dropped. */
static bool handle_state(struct client *c, const struct wf_ctl_state *s)
{
	struct wf_gw_daemon *d = c->d;
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	struct wf_ctl_state_ack *a = &ack.state_ack;
	struct wf_gw_entries want = {0};
	struct wf_gw_state next = {0};
	struct wf_gw_decision dec = {0};
	struct wf_gw_apply_result res;
	char why[1024] = "", change[96];
	bool ok = true, same;
	int err;

	a->generation = s->generation;
	if (strcmp(d->agent_version[c->peer], s->agent_version)) {
		log_info("peer %s: wgfwd-agent %s", peer_name(d, c->peer),
		         s->agent_version[0] ? s->agent_version : "(version not sent)");
		WF_COPY(d->agent_version[c->peer], s->agent_version);
	}
	/* This peer asks anew and is decided below; others may have a refusal to retry. */
	d->retry[c->peer] = false;
	refresh_host_ports(d, true);
	err = entries_from_message(s, &want);
	if (!err)
		err = wf_gw_policy_decide(d->cfg, &d->state, c->peer, &want, &next, &dec);
	if (err) {
		snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
		goto refuse;
	}
	err = apply_state(d, &next, &res, why, sizeof(why));
	if (err)
		goto refuse;

	same = wf_gw_entries_equal(&d->state.peers[c->peer], &next.peers[c->peer]);
	if (!same)
		note_stale_flows(d, c->peer, &d->state, &next);
	wf_gw_state_free(&d->state);
	d->state = next;
	memset(&next, 0, sizeof(next));
	d->generation[c->peer] = s->generation;
	wf_gw_entries_free(&d->asked[c->peer]);
	d->asked[c->peer] = want;
	memset(&want, 0, sizeof(want));
	d->retry[c->peer] = host_port_refused(&dec);
	if (!same || d->unsaved[c->peer])
		save_peer(d, c->peer);
	log_info("peer %s: state %llu: %zu of %zu forwards and %zu of %zu egress entries held; "
	         "%s",
	         peer_name(d, c->peer), (unsigned long long)s->generation,
	         d->state.peers[c->peer].n_forwards, s->n_forwards,
	         d->state.peers[c->peer].n_egress, s->n_egress,
	         change_text(&res, change, sizeof(change)));
	log_refusals(d, c->peer, s, &dec);
	count_refusals(d, &dec);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	err = send_results(c, s->generation, &dec);
	if (err) {
		/* Applied, but no ack to say so: the agent retries on its next connection. */
		log_warn("peer %s: cannot send state_ack: %s", peer_name(d, c->peer),
		         strerror(-err));
		ok = false;
	}
	goto out;

refuse:
	log_error("peer %s: state %llu not applied: %s", peer_name(d, c->peer),
	          (unsigned long long)s->generation, why);
	d->states_refused++;
	a->applied = false;
	WF_COPY(a->reason, why);
	err = wf_ctl_conn_send(c->conn, &ack);
	if (err) {
		log_warn("peer %s: cannot send state_ack: %s", peer_name(d, c->peer),
		         strerror(-err));
		ok = false;
	}
out:
	wf_gw_entries_free(&want);
	wf_gw_state_free(&next);
	wf_gw_decision_free(&dec);
	if (!ok)
		client_drop(c, "the gateway could not answer");
	return ok;
}

/* Each peer's states take turns: after one is applied, the peer's next waits at least
 * STATE_TURN_MIN_S, or twice as long as that one took, whichever is longer. A peer sending
 * states faster than that has only its latest applied (the ones it replaced are acknowledged
 * as not applied, which the agent ignores: it heeds only the ack of its latest), so however
 * fast states come, one peer holds the gateway for at most a third of its time and the other
 * peers' states are applied in between. */
#define STATE_TURN_MIN_S 0.01

static void apply_turn(struct client *c, const struct wf_ctl_state *s)
{
	struct wf_gw_daemon *d = c->d;
	size_t peer = c->peer;
	double start = now_seconds(), took;

	if (!handle_state(c, s))
		return; /* c is gone */
	took = now_seconds() - start;
	d->next_turn[peer] =
	    now_seconds() + (2 * took > STATE_TURN_MIN_S ? 2 * took : STATE_TURN_MIN_S);
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct wf_ctl_state s = c->pending;

	memset(&c->pending, 0, sizeof(c->pending));
	c->has_pending = false;
	apply_turn(c, &s);
	wf_ctl_state_clear(&s);
}

static void supersede(struct client *c, uint64_t by)
{
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	int err;

	ack.state_ack.generation = c->pending.generation;
	ack.state_ack.applied = false;
	snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason),
	         "superseded by state %llu before its turn came", (unsigned long long)by);
	c->d->states_superseded++;
	err = wf_ctl_conn_send(c->conn, &ack);
	if (err)
		log_debug("peer %s: cannot acknowledge a superseded state: %s",
		          peer_name(c->d, c->peer), strerror(-err));
}

static void take_state(struct client *c, const struct wf_ctl_state *s)
{
	struct wf_gw_daemon *d = c->d;
	double wait = d->next_turn[c->peer] - now_seconds();
	struct timeval tv;

	if (!c->has_pending && wait <= 0) {
		apply_turn(c, s);
		return;
	}
	if (c->has_pending) {
		supersede(c, s->generation);
		wf_ctl_state_clear(&c->pending);
		c->has_pending = false;
	}
	if (!c->turn && !(c->turn = evtimer_new(d->base, on_turn, c))) {
		client_drop(c, "the gateway is out of memory");
		return;
	}
	if (wf_ctl_state_copy(&c->pending, s)) {
		client_drop(c, "the gateway is out of memory");
		return;
	}
	c->has_pending = true;
	if (!evtimer_pending(c->turn, NULL)) {
		if (wait < 0)
			wait = 0;
		tv.tv_sec = (time_t)wait;
		tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
		evtimer_add(c->turn, &tv);
	}
}

static void on_message(struct wf_ctl_conn *conn, const struct wf_ctl_msg *m, void *arg)
{
	struct client *c = arg;

	if (m->type == WF_CTL_MSG_STATE) {
		take_state(c, &m->state);
		return;
	}
	log_warn("peer %s: unexpected %s message: closing", peer_name(c->d, c->peer),
	         wf_ctl_msg_type_name(m->type));
	client_drop(c, "unexpected message");
}

static void on_established(struct wf_ctl_conn *conn, void *arg)
{
	struct client *c = arg, *old, *next;
	struct wf_gw_daemon *d = c->d;
	const char *identity = wf_ctl_conn_identity(conn);

	/* The key proves the peer; its name must agree with the address it came from. */
	if (wf_gw_config_find_peer_name(d->cfg, identity) != (int)c->peer) {
		log_warn("control connection from %s (peer %s) claims to be %s: closing", c->remote,
		         peer_name(d, c->peer), identity);
		d->rejected[REJECT_IDENTITY]++;
		client_drop(c, "identity does not match the source address");
		return;
	}
	c->established = true;
	for (old = d->clients; old; old = next) {
		next = old->next;
		if (old != c && old->peer == c->peer && old->established) {
			log_info("peer %s: a new connection replaces the one from %s",
			         peer_name(d, c->peer), old->remote);
			client_drop(old, "replaced by a newer connection");
		}
	}
	log_info("peer %s connected from %s", peer_name(d, c->peer), c->remote);
	send_gateway_info(c);
}

static void on_close(struct wf_ctl_conn *conn, int err, const char *reason, void *arg)
{
	struct client *c = arg;
	struct wf_gw_daemon *d = c->d;

	if (c->established)
		log_info("peer %s (%s) disconnected: %s; its forwards stay", peer_name(d, c->peer),
		         c->remote, reason);
	else
		log_warn("control connection from %s (peer %s) failed: %s", c->remote,
		         peer_name(d, c->peer), reason);
	if (!c->established)
		d->handshake_failures++;
	client_unlink(c);
	wf_ctl_conn_free(conn);
	client_free(c);
}

static const struct wf_ctl_conn_ops client_ops = {
    .on_established = on_established,
    .on_message = on_message,
    .on_close = on_close,
};

static int peer_of(const struct wf_gw_daemon *d, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return wf_gw_config_find_peer(d->cfg, AF_INET,
		                              &((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return wf_gw_config_find_peer(d->cfg, AF_INET6,
		                              &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return -1;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct wf_gw_daemon *d = arg;
	struct wf_ctl_conn_config cc = {.role = WF_CTL_SERVER};
	char remote[INET6_ADDRSTRLEN + 8];
	struct client *c;
	size_t pending = 0;
	int peer, err;

	wf_gw_sockaddr_text(sa, remote, sizeof(remote));
	/* Decided before a single byte is read: only configured peers get a handshake. */
	peer = peer_of(d, sa);
	if (peer < 0) {
		log_warn("refused control connection from %s: not a configured peer", remote);
		d->rejected[REJECT_NOT_A_PEER]++;
		close(fd);
		return;
	}
	for (c = d->clients; c; c = c->next)
		pending += c->peer == (size_t)peer && !c->established;
	if (d->n_clients >= CLIENTS_MAX || pending >= PENDING_PER_PEER) {
		log_warn("refused control connection from %s: too many connections", remote);
		d->rejected[REJECT_TOO_MANY]++;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	/* Small request/answer frames: waiting to coalesce them only adds latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	c->d = d;
	c->peer = (size_t)peer;
	WF_COPY(c->remote, remote);
	memcpy(cc.key, d->keys[peer], sizeof(cc.key));
	/* Any identity passes the handshake; on_established compares it as an address. */
	cc.identity[0] = '\0';
	err = wf_ctl_conn_new(d->base, fd, &cc, &client_ops, c, &c->conn);
	sodium_memzero(cc.key, sizeof(cc.key));
	if (err) {
		log_error("control connection from %s: %s", remote, strerror(-err));
		close(fd);
		free(c);
		return;
	}
	c->next = d->clients;
	d->clients = c;
	d->n_clients++;
	log_debug("control connection from %s (peer %s)", remote, peer_name(d, c->peer));
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("accepting a control connection: %s", strerror(err));
}

/* ---- drift repair ---- */

static void broadcast_gateway_info(struct wf_gw_daemon *d)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (c->established)
			send_gateway_info(c);
}

static void reconcile(struct wf_gw_daemon *d, const char *trigger)
{
	struct wf_gw_apply_result res;
	char why[1024], change[96];
	bool moved = false;
	int err;

	err = refresh_public_addresses(d, &moved);
	if (err)
		log_warn("cannot read the addresses of %s: %s", d->s.params.public_ifname,
		         strerror(-err));
	if (moved)
		log_public_addresses(d);
	err = apply_state(d, &d->state, &res, why, sizeof(why));
	if (err)
		log_error("drift repair (%s) failed: %s", trigger, why);
	else if (moved)
		log_info("ruleset follows the new public addresses: %s",
		         change_text(&res, change, sizeof(change)));
	else if (res.table != WF_NFT_UNCHANGED || res.anchor_written) {
		log_warn("the kernel's ruleset differed from the desired one (%s): repaired, %s",
		         trigger, change_text(&res, change, sizeof(change)));
		d->drift_repairs++;
	}
	if (!err && (res.hostfw.inserted || res.hostfw.deleted)) {
		log_warn("host firewall (%s): %zu accept rule(s) for wgfwd's flows put back in the "
		         "iptables chains, %zu duplicate(s) removed",
		         trigger, res.hostfw.inserted, res.hostfw.deleted);
		d->drift_repairs++;
	}
	if (moved)
		broadcast_gateway_info(d);
	for (size_t p = 0; p < d->cfg->n_peers; p++)
		if (d->unsaved[p])
			save_peer(d, p);
}

static void on_reconcile_timer(evutil_socket_t fd, short what, void *arg)
{
	reconcile(arg, "periodic check");
}

static void on_drift_timer(evutil_socket_t fd, short what, void *arg)
{
	reconcile(arg, "kernel change");
}

/* Kernel notifications come in bursts (and our own commits cause some): look once they settle. */
static void on_kernel_change(void *arg)
{
	struct wf_gw_daemon *d = arg;
	struct timeval tv = {.tv_sec = 0, .tv_usec = DRIFT_DEBOUNCE_MS * 1000};

	if (!evtimer_pending(d->drift_timer, NULL))
		evtimer_add(d->drift_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct wf_gw_daemon *d = arg;

	if (sig == SIGHUP) {
		reconcile(d, "SIGHUP");
		return;
	}
	log_info("%s: stopping; the rules stay in place", strsignal((int)sig));
	event_base_loopbreak(d->base);
}

/* ---- status ---- */

static json_object *addr_text(int family, const void *addr)
{
	char text[INET6_ADDRSTRLEN];

	return json_object_new_string(inet_ntop(family, addr, text, sizeof(text)));
}

static json_object *peer_status(const struct wf_gw_daemon *d, size_t p)
{
	const struct wf_gw_peer *peer = &d->cfg->peers[p];
	const struct wf_gw_entries *e = &d->state.peers[p];
	json_object *o = json_object_new_object(), *fw = json_object_new_array(),
	            *eg = json_object_new_array();
	const struct client *conn = NULL;
	char clash[WF_GW_REASON_MAX];
	char grant[512];

	for (const struct client *c = d->clients; c; c = c->next)
		if (c->peer == p && c->established)
			conn = c;
	json_object_object_add(o, "name", json_object_new_string(peer->name));
	if (peer->has_ip4)
		json_object_object_add(o, "ipv4", addr_text(AF_INET, &peer->ip4));
	if (peer->has_ip6)
		json_object_object_add(o, "ipv6", addr_text(AF_INET6, &peer->ip6));
	json_object_object_add(o, "connected", json_object_new_boolean(conn != NULL));
	if (conn)
		json_object_object_add(o, "remote", json_object_new_string(conn->remote));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)d->generation[p]));
	if (d->agent_version[p][0])
		json_object_object_add(o, "agent_version",
		                       json_object_new_string(d->agent_version[p]));
	json_object_object_add(o, "unsaved", json_object_new_boolean(d->unsaved[p]));
	wf_gw_grants_ports_text(&peer->grants, grant, sizeof(grant));
	json_object_object_add(o, "allowed_ports", json_object_new_string(grant));
	wf_gw_grants_egress_text(&peer->grants, grant, sizeof(grant));
	json_object_object_add(o, "granted_egress", json_object_new_string(grant));
	for (size_t i = 0; i < e->n_forwards; i++) {
		const struct wf_ctl_forward *f = &e->forwards[i];
		json_object *x = json_object_new_object();
		bool v6 = f->family == AF_INET6;

		json_object_object_add(x, "family", json_object_new_string(v6 ? "ipv6" : "ipv4"));
		json_object_object_add(x, "proto",
		                       json_object_new_string(wf_gw_proto_name(f->proto)));
		json_object_object_add(x, "public_port", json_object_new_int(f->public_port));
		json_object_object_add(x, "target",
		                       v6 ? addr_text(AF_INET6, &peer->ip6)
		                          : addr_text(AF_INET, &peer->ip4));
		json_object_object_add(x, "target_port", json_object_new_int(f->target_port));
		if (wf_gw_host_watch_clash_reason(&d->host, p, f, clash, sizeof(clash)))
			json_object_object_add(x, "clash", json_object_new_string(clash));
		json_object_array_add(fw, x);
	}
	for (size_t i = 0; i < e->n_egress; i++) {
		const struct wf_ctl_egress *g = &e->egress[i];
		json_object *x = json_object_new_object();

		json_object_object_add(x, "proto",
		                       json_object_new_string(wf_gw_proto_name(g->proto)));
		json_object_object_add(x, "port_lo", json_object_new_int(g->port_lo));
		json_object_object_add(x, "port_hi", json_object_new_int(g->port_hi));
		json_object_array_add(eg, x);
	}
	json_object_object_add(o, "forwards", fw);
	json_object_object_add(o, "egress", eg);
	return o;
}

static json_object *host_firewall_status(const struct wf_gw_daemon *d)
{
	json_object *o = json_object_new_object();
	size_t wanted = d->hostfw.enabled ? d->hostfw.n : 0;

	json_object_object_add(o, "enabled", json_object_new_boolean(d->hostfw.enabled));
	json_object_object_add(o, "iptables_chains",
	                       json_object_new_int64((int64_t)d->hostfw_last.chains));
	json_object_object_add(o, "rules_in_place",
	                       json_object_new_int64((int64_t)d->hostfw_last.in_place));
	json_object_object_add(o, "rules", json_object_new_int64((int64_t)wanted));
	return o;
}

static json_object *status_document(void *arg)
{
	const struct wf_gw_daemon *d = arg;
	const struct wf_gw_params *p = &d->s.params;
	json_object *doc = json_object_new_object(), *v4 = json_object_new_array(),
	            *v6 = json_object_new_array(), *peers = json_object_new_array();

	for (size_t i = 0; i < p->n_public_ip4; i++)
		json_object_array_add(v4, addr_text(AF_INET, &p->public_ip4[i]));
	for (size_t i = 0; i < p->n_public_ip6; i++)
		json_object_array_add(v6, addr_text(AF_INET6, &p->public_ip6[i]));
	for (size_t i = 0; i < d->cfg->n_peers; i++)
		json_object_array_add(peers, peer_status(d, i));
	json_object_object_add(doc, "version", json_object_new_string(wf_version));
	json_object_object_add(doc, "interface", json_object_new_string(p->tunnel_ifname));
	json_object_object_add(doc, "public_interface", json_object_new_string(p->public_ifname));
	json_object_object_add(doc, "control_port", json_object_new_int(p->control_port));
	json_object_object_add(doc, "public_ipv4", v4);
	json_object_object_add(doc, "public_ipv6", v6);
	json_object_object_add(doc, "last_apply_ok", json_object_new_boolean(d->last_apply_ok));
	json_object_object_add(doc, "applies", json_object_new_int64((int64_t)d->applies));
	json_object_object_add(doc, "apply_errors",
	                       json_object_new_int64((int64_t)d->apply_errors));
	if (d->last_error[0])
		json_object_object_add(doc, "last_error", json_object_new_string(d->last_error));
	json_object_object_add(doc, "host_firewall", host_firewall_status(d));
	json_object_object_add(doc, "peers", peers);
	wf_gw_host_watch_status(&d->host, d->cfg, doc);
	return doc;
}

/* ---- metrics ---- */

static int collect_metrics(void *arg, struct wf_metrics *m)
{
	const struct wf_gw_daemon *d = arg;
	size_t connected = 0;

	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		const struct wf_metric_label peer = {"peer", peer_name(d, p)};
		bool up = false;

		for (const struct client *c = d->clients; c && !up; c = c->next)
			up = c->peer == p && c->established;
		connected += up;
		wf_metrics_add(m, "wgfwd_gateway_peer_connected", WF_METRIC_GAUGE,
		               "1 while the peer's control connection is established.", &peer, 1,
		               up);
		wf_metrics_add(m, "wgfwd_gateway_forwards", WF_METRIC_GAUGE,
		               "Forwards the peer holds (one per address family).", &peer, 1,
		               (double)d->state.peers[p].n_forwards);
		wf_metrics_add(m, "wgfwd_gateway_egress_entries", WF_METRIC_GAUGE,
		               "Egress entries the peer holds.", &peer, 1,
		               (double)d->state.peers[p].n_egress);
		wf_metrics_add(m, "wgfwd_gateway_peer_generation", WF_METRIC_GAUGE,
		               "Generation of the peer's last applied state.", &peer, 1,
		               (double)d->generation[p]);
		wf_metrics_add(m, "wgfwd_gateway_peer_state_unsaved", WF_METRIC_GAUGE,
		               "1 when the peer's applied state could not be written to disk.",
		               &peer, 1, d->unsaved[p]);
	}
	wf_metrics_gauge(m, "wgfwd_gateway_peers", "Peers configured.", (double)d->cfg->n_peers);
	wf_metrics_gauge(m, "wgfwd_gateway_peers_connected", "Peers connected now.",
	                 (double)connected);
	wf_metrics_add(m, "wgfwd_gateway_public_addresses", WF_METRIC_GAUGE,
	               "Public addresses forwarded from.", WF_LABEL("family", "ipv4"),
	               (double)d->s.params.n_public_ip4);
	wf_metrics_add(m, "wgfwd_gateway_public_addresses", WF_METRIC_GAUGE, NULL,
	               WF_LABEL("family", "ipv6"), (double)d->s.params.n_public_ip6);
	wf_metrics_counter(m, "wgfwd_gateway_applies_total",
	                   "Times the ruleset was applied to the kernel.", (double)d->applies);
	wf_metrics_counter(m, "wgfwd_gateway_apply_errors_total", "Applies that failed.",
	                   (double)d->apply_errors);
	wf_metrics_gauge(m, "wgfwd_gateway_last_apply_success", "1 when the last apply succeeded.",
	                 d->last_apply_ok);
	wf_metrics_add_histogram(m, "wgfwd_gateway_apply_duration_seconds",
	                         "Time applies took, rendering included.", NULL, 0,
	                         &d->apply_seconds);
	for (int s = WF_GW_ACCEPTED + 1; s < WF_GW_STATUS_MAX; s++)
		wf_metrics_add(m, "wgfwd_gateway_refused_entries_total", WF_METRIC_COUNTER,
		               "Requested forwards and egress entries refused, by reason.",
		               WF_LABEL("reason", wf_gw_status_name((enum wf_gw_status)s)),
		               (double)d->refused[s]);
	wf_metrics_gauge(
	    m, "wgfwd_gateway_host_ports",
	    "Ports (per protocol and family) this host serves on its public addresses.",
	    (double)d->host.ports.n);
	wf_metrics_gauge(m, "wgfwd_gateway_host_port_clashes",
	                 "Forwards held on a port this host itself listens on (granted before "
	                 "its service started).",
	                 (double)d->host.n_clashes);
	wf_metrics_counter(m, "wgfwd_gateway_host_port_read_errors_total",
	                   "Reads of this host's listening sockets that failed.",
	                   (double)d->host.read_errors);
	wf_metrics_counter(m, "wgfwd_gateway_states_refused_total",
	                   "States not applied at all (the kernel refused the ruleset).",
	                   (double)d->states_refused);
	wf_metrics_counter(
	    m, "wgfwd_gateway_states_superseded_total",
	    "States replaced by a newer one of the same peer before their turn came.",
	    (double)d->states_superseded);
	wf_metrics_counter(m, "wgfwd_gateway_handshake_failures_total",
	                   "Control connections from peer addresses that failed the handshake.",
	                   (double)d->handshake_failures);
	for (int r = 0; r < REJECT_MAX; r++)
		wf_metrics_add(m, "wgfwd_gateway_connections_rejected_total", WF_METRIC_COUNTER,
		               "Control connections turned away, by reason.",
		               WF_LABEL("reason", rejection_names[r]), (double)d->rejected[r]);
	return wf_metrics_counter(m, "wgfwd_gateway_drift_repairs_total",
	                          "Times the kernel's ruleset had drifted and was repaired.",
	                          (double)d->drift_repairs);
}

/* ---- start-up ---- */

static int read_keys(struct wf_gw_daemon *d)
{
	char err[512];

	if (sodium_init() < 0)
		return -EIO;
	d->keys = sodium_malloc(d->cfg->n_peers * sizeof(*d->keys) + 1);
	if (!d->keys)
		return -ENOMEM;
	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		int ret = wf_keyfile_read(d->cfg->peers[p].keyfile, d->keys[p], err, sizeof(err));

		if (ret < 0) {
			log_error("peer %s: %s", peer_name(d, p), err);
			return ret;
		}
		if (ret == WF_KEYFILE_LEGACY)
			log_warn("peer %s: %s", peer_name(d, p), err);
		/* One secret, one peer: a peer holding another's key could speak as it wherever
		 * the source address is not checked, and a stolen key would open both. */
		for (size_t q = 0; q < p; q++) {
			if (!sodium_memcmp(d->keys[q], d->keys[p], sizeof(d->keys[p]))) {
				log_error(
				    "peers %s and %s have the same key (%s, %s): give each peer a "
				    "key of its own (wgfwd genkey FILE)",
				    peer_name(d, q), peer_name(d, p), d->cfg->peers[q].keyfile,
				    d->cfg->peers[p].keyfile);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* The persisted state goes through today's policy again: reserved ports or peers may have
 * changed since it was written, and the first peer in configuration order keeps a port. */
static int restore(struct wf_gw_daemon *d, bool move_bad_files)
{
	char err[1024];

	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		struct wf_gw_entries e;
		struct wf_gw_state next;
		struct wf_gw_decision dec;
		int ret =
		    move_bad_files
		        ? wf_gw_store_load(d->s.state_dir, peer_name(d, p), &e, err, sizeof(err))
		        : wf_gw_store_read(d->s.state_dir, peer_name(d, p), &e, err, sizeof(err));

		if (ret == -ENOENT)
			continue;
		if (ret == -EBADMSG) {
			log_error("peer %s: persisted state unreadable, starting empty: %s",
			          peer_name(d, p), err);
			continue;
		}
		if (ret) {
			log_error("peer %s: %s", peer_name(d, p), err);
			return ret;
		}
		ret = wf_gw_policy_decide(d->cfg, &d->state, p, &e, &next, &dec);
		if (ret) {
			wf_gw_entries_free(&e);
			return ret;
		}
		for (size_t i = 0; i < dec.n_forwards; i++)
			if (dec.forwards[i].status != WF_GW_ACCEPTED)
				log_warn("peer %s: persisted forward %s/%u dropped: %s",
				         peer_name(d, p), wf_gw_proto_name(e.forwards[i].proto),
				         e.forwards[i].public_port, dec.forwards[i].reason);
		for (size_t i = 0; i < dec.n_egress; i++)
			if (dec.egress[i].status != WF_GW_ACCEPTED)
				log_warn("peer %s: persisted egress dropped: %s", peer_name(d, p),
				         dec.egress[i].reason);
		d->unsaved[p] = dec.n_refused > 0;
		wf_gw_state_free(&d->state);
		d->state = next;
		log_info("peer %s: restored %zu forwards and %zu egress entries", peer_name(d, p),
		         d->state.peers[p].n_forwards, d->state.peers[p].n_egress);
		wf_gw_decision_free(&dec);
		wf_gw_entries_free(&e);
	}
	return 0;
}

static int listen_on(struct wf_gw_daemon *d, const struct sockaddr_storage *ss, socklen_t len)
{
	char text[INET6_ADDRSTRLEN + 8];
	struct evconnlistener *l;
	int fd;

	wf_gw_sockaddr_text((const struct sockaddr *)ss, text, sizeof(text));
	if (d->n_listeners >= WF_GW_LISTEN_MAX) {
		log_warn("not listening on %s: at most %d addresses", text, WF_GW_LISTEN_MAX);
		return 0;
	}
	fd = wf_gw_listen_socket(ss, len);
	if (fd < 0) {
		log_error("cannot listen on %s: %s", text, strerror(-fd));
		return fd;
	}
	l = evconnlistener_new(d->base, on_accept, d, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                       -1, fd);
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	d->listeners[d->n_listeners++] = l;
	log_info("listening for agents on %s", text);
	return 0;
}

static int start_listening(struct wf_gw_daemon *d)
{
	struct in_addr ip4[WF_GW_PUBLIC_MAX];
	struct in6_addr ip6[WF_GW_PUBLIC_MAX];
	size_t n4 = 0, n6 = 0;
	int err;

	for (size_t i = 0; i < d->s.n_listen; i++) {
		err = listen_on(d, &d->s.listen[i], d->s.listen_len[i]);
		if (err)
			return err;
	}
	if (d->s.n_listen)
		return 0;
	/* Only the tunnel: the control port is never reachable from outside. */
	err = wf_gw_interface_addresses(d->s.params.tunnel_ifname, ip4, &n4, ip6, &n6);
	if (err || !(n4 + n6)) {
		log_error("no address to listen on: tunnel interface %s %s (or give --listen)",
		          d->s.params.tunnel_ifname,
		          err == -ENODEV ? "does not exist"
		          : err          ? strerror(-err)
		                         : "has none");
		return err ? err : -EADDRNOTAVAIL;
	}
	for (size_t i = 0; i < n4 + n6; i++) {
		struct sockaddr_storage ss = {0};
		socklen_t len;

		if (i < n4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_addr = ip4[i];
			sin->sin_port = htons(d->s.params.control_port);
			len = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = ip6[i - n4];
			sin6->sin6_port = htons(d->s.params.control_port);
			len = sizeof(*sin6);
		}
		err = listen_on(d, &ss, len);
		if (err)
			return err;
	}
	return 0;
}

/* The user the daemon becomes writes the state from now on: the directory and the files in it
 * become its own (they were root's, or already its). */
static int hand_over_state_dir(struct wf_gw_daemon *d)
{
	const char *dir = d->s.state_dir;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err = 0;
	DIR *list;
	struct dirent *de;

	if (dfd < 0 || fchown(dfd, d->s.uid, d->s.gid) < 0) {
		err = -errno;
		log_error("cannot hand the state directory %s to uid %u: %s", dir,
		          (unsigned)d->s.uid, strerror(-err));
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	list = fdopendir(dfd);
	if (!list) {
		err = -errno;
		close(dfd);
		return err;
	}
	while ((de = readdir(list)))
		if (de->d_name[0] != '.' &&
		    fchownat(dirfd(list), de->d_name, d->s.uid, d->s.gid, AT_SYMLINK_NOFOLLOW) <
		        0 &&
		    !err) {
			err = -errno;
			log_error("cannot hand %s/%s to uid %u: %s", dir, de->d_name,
			          (unsigned)d->s.uid, strerror(-err));
		}
	closedir(list);
	return err;
}

static int make_state_dir(const char *dir, uid_t user)
{
	char why[512];
	int err = wf_gw_store_prepare_dir(dir, user, why, sizeof(why));

	if (err)
		log_error("%s", why);
	return err;
}

static int start_events(struct wf_gw_daemon *d)
{
	struct timeval tv = {.tv_sec = d->s.reconcile_interval_ms / 1000,
	                     .tv_usec = (d->s.reconcile_interval_ms % 1000) * 1000};
	int err;

	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->reconcile_timer = event_new(d->base, -1, EV_PERSIST, on_reconcile_timer, d);
	d->drift_timer = evtimer_new(d->base, on_drift_timer, d);
	d->host_ports_timer = event_new(d->base, -1, EV_PERSIST, on_host_ports_timer, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup || !d->reconcile_timer || !d->drift_timer ||
	    !d->host_ports_timer)
		return -ENOMEM;
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_int, NULL);
	evsignal_add(d->sig_hup, NULL);
	if (d->s.reconcile_interval_ms)
		event_add(d->reconcile_timer, &tv);
	if (d->s.listener_interval_ms)
		event_add(d->host_ports_timer,
		          &(struct timeval){.tv_sec = d->s.listener_interval_ms / 1000,
		                            .tv_usec = (d->s.listener_interval_ms % 1000) * 1000});
	if (d->s.status_socket[0]) {
		err = wf_status_socket_open(d->base, d->s.status_socket, 0660, status_document, d,
		                            &d->status);
		if (err)
			log_warn("no status socket at %s: %s", d->s.status_socket, strerror(-err));
	}
	if (d->s.metrics_len) {
		err = wf_metrics_server_open(d->base, &d->s.metrics, d->s.metrics_len,
		                             collect_metrics, d, &d->metrics);
		if (err) {
			char text[INET6_ADDRSTRLEN + 8];

			wf_gw_sockaddr_text((const struct sockaddr *)&d->s.metrics, text,
			                    sizeof(text));
			log_error("cannot serve metrics on %s: %s", text, strerror(-err));
			return err;
		}
		log_info("metrics at http://%s/metrics", wf_metrics_server_address(d->metrics));
	}
	err = wf_nlwatch_new(&d->watch, d->base, on_kernel_change, d);
	if (err)
		log_warn("no kernel change notifications (%s): drift is repaired every %u ms only",
		         strerror(-err), d->s.reconcile_interval_ms);
	return 0;
}

int wf_gw_daemon_start(struct wf_gw_daemon *d)
{
	struct wf_gw_apply_result res;
	char why[1024], change[96];
	bool moved;
	int err;

	signal(SIGPIPE, SIG_IGN);
	err = read_keys(d);
	if (err)
		return err;
	err = wf_nft_open(&d->nft);
	if (!err)
		err = wf_rtnl_open(&d->rtnl);
	if (err) {
		log_error("cannot open netlink: %s", strerror(-err));
		return err;
	}
	err = wf_ct_stale_new(d->base, &stale_flow_ops, d, &d->ct);
	if (err)
		log_warn("no conntrack access (%s): flows of a changed forward keep their old path "
		         "until they go idle",
		         strerror(-err));
	err = wf_gw_enable_forwarding(d->s.params.public_ifname);
	if (err)
		return err;
	err = refresh_public_addresses(d, &moved);
	if (err) {
		log_error("public interface %s: %s", d->s.params.public_ifname,
		          err == -ENODEV ? "no such interface" : strerror(-err));
		return err;
	}
	log_public_addresses(d);
	err = make_state_dir(d->s.state_dir, d->s.uid);
	if (!err)
		err = restore(d, true);
	if (err)
		return err;
	err = apply_state(d, &d->state, &res, why, sizeof(why));
	if (err) {
		log_error("cannot apply the ruleset: %s", why);
		return err;
	}
	log_info("ruleset applied: %s", change_text(&res, change, sizeof(change)));
	log_host_firewall(d, &res);
	for (size_t p = 0; p < d->cfg->n_peers; p++)
		if (d->unsaved[p])
			save_peer(d, p);
	err = start_listening(d);
	if (!err)
		err = start_events(d);
	if (err)
		return err;
	/* Persisted forwards were granted before: they stay, and a clash is flagged now. */
	refresh_host_ports(d, false);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	if (d->s.uid || d->s.gid) {
		err = hand_over_state_dir(d);
		if (err)
			return err;
	}
	err = wf_gw_drop_privileges(d->s.uid, d->s.gid);
	if (err && (d->s.uid || d->s.gid)) {
		log_error("cannot become uid %u gid %u: %s", (unsigned)d->s.uid, (unsigned)d->s.gid,
		          strerror(-err));
		return err;
	}
	if (err)
		log_warn("keeping more privileges than CAP_NET_ADMIN: %s", strerror(-err));
	else
		log_info("running as uid %u with CAP_NET_ADMIN only", (unsigned)getuid());
	return 0;
}

int wf_gw_daemon_run(struct wf_gw_daemon *d)
{
	return event_base_dispatch(d->base) < 0 ? -EIO : 0;
}

int wf_gw_daemon_print_ruleset(struct wf_gw_daemon *d, FILE *out)
{
	struct wf_nft_table *t = NULL, *anchor = NULL;
	char *text = NULL;
	bool moved;
	int err;

	err = refresh_public_addresses(d, &moved);
	if (err)
		log_warn("public interface %s: %s", d->s.params.public_ifname, strerror(-err));
	err = restore(d, false);
	if (!err)
		err = wf_gw_render(&d->s.params, d->cfg, &d->state, &t);
	if (!err)
		err = wf_gw_render_anchor(&anchor);
	if (!err)
		err = wf_nft_table_print(anchor, &text);
	if (!err) {
		fputs(text, out);
		free(text);
		text = NULL;
		err = wf_nft_table_print(t, &text);
	}
	if (!err)
		fputs(text, out);
	if (!err && d->hostfw.enabled) {
		fprintf(out, "# in the host's iptables filter chains, where they exist:\n");
		for (size_t i = 0; i < d->hostfw.n; i++)
			fprintf(out, "#   %s\n", d->hostfw.text[i]);
	}
	free(text);
	wf_nft_table_free(t);
	wf_nft_table_free(anchor);
	return err;
}

int wf_gw_daemon_cleanup(struct wf_gw_daemon *d)
{
	struct wf_nft_error nerr = {0};
	size_t removed = 0;
	int err = wf_nft_open(&d->nft);

	if (err) {
		log_error("cannot open netlink: %s", strerror(-err));
		return err;
	}
	err = wf_gw_remove_table(d->nft, &nerr);
	if (err) {
		log_error("cannot remove table inet %s: %s", WF_GW_TABLE, strerror(-err));
		return err;
	}
	err = wf_gw_remove_hostfw(d->nft, &d->hostfw, &removed, &nerr);
	if (err) {
		log_error("cannot remove the accept rules from the iptables chains: %s%s%s",
		          strerror(-err), nerr.what[0] ? ": " : "", nerr.what);
		return err;
	}
	if (removed)
		log_info("removed %zu accept rule(s) from the iptables filter chains", removed);
	if (!d->s.params.public_ifname[0])
		log_warn("without --public-interface the egress accept rule (-i %s -o <public> -j "
		         "ACCEPT) cannot be recognised and stays, if present",
		         d->s.params.tunnel_ifname);
	log_info("removed table inet %s (table inet %s stays: it keeps NAT and connection tracking "
	         "running for established flows)",
	         WF_GW_TABLE, WF_GW_ANCHOR_TABLE);
	return 0;
}

int wf_gw_daemon_new(struct wf_gw_settings *s, struct wf_gw_daemon **out)
{
	struct wf_gw_daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->s = *s;
	memset(&s->policy, 0, sizeof(s->policy));
	d->cfg = &d->s.policy;
	struct wf_gw_hostfw_spec spec;

	wf_gw_hostfw_spec_from(&d->s.params, &spec);
	wf_gw_hostfw_render(&spec, d->s.host_firewall, &d->hostfw);
	wf_histogram_init(&d->apply_seconds, apply_seconds_bounds,
	                  WF_ARRAY_SIZE(apply_seconds_bounds));
	d->unsaved = calloc(d->cfg->n_peers + 1, sizeof(*d->unsaved));
	d->generation = calloc(d->cfg->n_peers + 1, sizeof(*d->generation));
	d->agent_version = calloc(d->cfg->n_peers + 1, sizeof(*d->agent_version));
	d->ct_peers = calloc(d->cfg->n_peers + 1, sizeof(*d->ct_peers));
	d->asked = calloc(d->cfg->n_peers + 1, sizeof(*d->asked));
	d->retry = calloc(d->cfg->n_peers + 1, sizeof(*d->retry));
	d->next_turn = calloc(d->cfg->n_peers + 1, sizeof(*d->next_turn));
	d->base = event_base_new();
	if (!d->unsaved || !d->generation || !d->agent_version || !d->ct_peers || !d->asked ||
	    !d->retry || !d->next_turn || !d->base ||
	    wf_gw_state_init(&d->state, d->cfg->n_peers)) {
		wf_gw_daemon_free(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void wf_gw_daemon_free(struct wf_gw_daemon *d)
{
	if (!d)
		return;
	while (d->clients)
		client_drop(d->clients, NULL);
	for (size_t i = 0; i < d->n_listeners; i++)
		evconnlistener_free(d->listeners[i]);
	wf_nlwatch_free(d->watch);
	wf_status_socket_close(d->status);
	wf_metrics_server_close(d->metrics);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->reconcile_timer)
		event_free(d->reconcile_timer);
	if (d->drift_timer)
		event_free(d->drift_timer);
	if (d->host_ports_timer)
		event_free(d->host_ports_timer);
	if (d->nft)
		wf_nft_close(d->nft);
	wf_gw_apply_cache_free(&d->apply_cache);
	if (d->rtnl)
		wf_rtnl_close(d->rtnl);
	/* A search still due runs before the gateway goes. */
	wf_ct_stale_free(d->ct);
	if (d->base)
		event_base_free(d->base);
	if (d->keys)
		sodium_free(d->keys);
	free(d->unsaved);
	free(d->generation);
	free(d->agent_version);
	free(d->ct_peers);
	for (size_t p = 0; d->asked && p < d->cfg->n_peers; p++)
		wf_gw_entries_free(&d->asked[p]);
	free(d->asked);
	free(d->retry);
	free(d->next_turn);
	wf_gw_state_free(&d->state);
	wf_gw_host_watch_free(&d->host);
	wf_gw_config_free(d->cfg);
	free(d);
}
