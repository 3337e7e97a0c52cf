#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <dirent.h>
#include <event2/event.h>
#include <malloc.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd/keyfile.h>
#include <wgfwd/log.h>
#include <wgfwd/metrics_http.h>
#include <wgfwd/nft_kernel.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/rtnl.h>
#include <wgfwd/status_socket.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

#include "ct_flush.h"
#include "host.h"
#include "host_watch.h"
#include "privileges.h"
#include "store.h"

#define DRIFT_DEBOUNCE_MS 200

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
int wf_gw_daemon_apply(struct wf_gw_daemon *d, const struct wf_gw_state *state,
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

const char *wf_gw_change_text(const struct wf_gw_apply_result *res, char *buf, size_t len)
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

static void close_journal(struct wf_gw_daemon *d, size_t peer)
{
	if (d->peers[peer].journal_fd >= 0)
		close(d->peers[peer].journal_fd);
	d->peers[peer].journal_fd = -1;
}

void wf_gw_daemon_save_peer(struct wf_gw_daemon *d, size_t peer)
{
	char err[512];

	if (wf_gw_store_save(d->s.state_dir, wf_gw_peer_name(d, peer), &d->state.peers[peer], err,
	                     sizeof(err))) {
		log_error("peer %s: state applied but not saved (a restart would lose it): %s",
		          wf_gw_peer_name(d, peer), err);
		d->peers[peer].unsaved = true;
		return;
	}
	d->peers[peer].unsaved = false;
	/* The file, synced, holds what the journal said; the next append makes a new journal. */
	d->peers[peer].unsynced = false;
	d->peers[peer].journal_named = false;
	close_journal(d, peer);
}

static void sync_journals(struct wf_gw_daemon *d)
{
	char err[512];

	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		if (!d->peers[p].unsynced)
			continue;
		d->peers[p].unsynced = false;
		if (!wf_gw_store_sync_open(d->s.state_dir, wf_gw_peer_name(d, p),
		                           d->peers[p].journal_fd, !d->peers[p].journal_named, err,
		                           sizeof(err))) {
			d->peers[p].journal_named = true;
			continue;
		}
		log_warn("peer %s: %s: writing its whole file instead", wf_gw_peer_name(d, p), err);
		wf_gw_daemon_save_peer(d, p);
	}
}

static void on_sync_timer(evutil_socket_t fd, short what, void *arg)
{
	sync_journals(arg);
}

void wf_gw_daemon_journal_written(struct wf_gw_daemon *d, size_t peer)
{
	const struct timeval tv = {.tv_sec = WF_GW_JOURNAL_SYNC_MS / 1000,
	                           .tv_usec = (WF_GW_JOURNAL_SYNC_MS % 1000) * 1000};

	d->peers[peer].unsynced = true;
	if (!d->sync_timer) {
		sync_journals(d);
		return;
	}
	if (!evtimer_pending(d->sync_timer, NULL))
		evtimer_add(d->sync_timer, &tv);
}

/* ---- the host's own ports ---- */

/* sock_diag tells of no socket that starts listening: the ports are read again on a timer and
 * before each decision, one dump of each protocol and family (a few hundred microseconds). */
static void refresh_host_ports(struct wf_gw_daemon *d, bool retry, unsigned protos)
{
	uint32_t skip[WF_GW_LISTEN_MAX];
	/* The control sockets sit on the tunnel and are reserved anyway; left out by identity
	 * all the same, in case --listen put one on a public address. */
	size_t n_skip =
	    d->control ? wf_gw_control_socket_inodes(d->control, skip, WF_ARRAY_SIZE(skip)) : 0;

	d->cfg->host_ports = &d->host.ports;
	if (!wf_gw_host_watch_read_protos(&d->host, &d->s.params, skip, n_skip, protos))
		return;
	if (retry)
		wf_gw_retry_host_port_refusals(d);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
}

void wf_gw_daemon_refresh_host_ports(struct wf_gw_daemon *d, bool retry)
{
	refresh_host_ports(d, retry, WF_GW_TCP | WF_GW_UDP);
}

/* Only a forward's own protocol can clash with it: a TCP forward needs the two TCP dumps, not
 * the UDP ones and WireGuard's. */
void wf_gw_daemon_refresh_host_ports_for(struct wf_gw_daemon *d, const struct wf_ctl_state *add)
{
	unsigned protos = 0;

	for (size_t i = 0; i < add->n_forwards; i++)
		protos |= wf_gw_proto_bit(add->forwards[i].proto);
	if (protos)
		refresh_host_ports(d, true, protos);
}

static void on_host_ports_timer(evutil_socket_t fd, short what, void *arg)
{
	wf_gw_daemon_refresh_host_ports(arg, true);
}

/* ---- drift repair ---- */

/* Whether the kernel provably holds what the last apply committed: nobody has committed since,
 * or the change watcher saw every commit since touch none of the tables the ruleset lives in
 * (nft_sync.h). Then rendering the whole ruleset to compare would find nothing: at 10,000
 * forwards that costs milliseconds, each periodic check. */
static bool kernel_as_committed(struct wf_gw_daemon *d)
{
	const struct wf_gw_apply_cache *c = &d->apply_cache;
	struct wf_nft_batch *b;
	uint32_t genid;
	bool same;

	if (!d->last_apply_ok || !c->table.applied.shape || c->table.pending.shape ||
	    c->table.elements_pending || !c->table.at.valid || !c->anchor.valid ||
	    !c->hostfw.at.valid || c->hostfw.enabled != d->hostfw.enabled ||
	    c->hostfw.n != d->hostfw.n || wf_nft_genid(d->nft, &genid))
		return false;
	b = wf_nft_batch_new_at(genid);
	same = b && wf_nft_known_current_table(&c->table.at, b, NFPROTO_INET, WF_GW_TABLE) &&
	       wf_nft_known_current_table(&c->anchor, b, NFPROTO_INET, WF_GW_ANCHOR_TABLE) &&
	       wf_nft_known_current_table(&c->hostfw.at, b, 0, WF_GW_HOSTFW_TABLE);
	wf_nft_batch_free(b);
	return same;
}

/* trust_generation: a look that finds the kernel as last committed goes no further (the
 * periodic check; a kernel change or SIGHUP compares all the same). */
static void check_kernel(struct wf_gw_daemon *d, const char *trigger, bool trust_generation)
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
	if (!moved && trust_generation && kernel_as_committed(d)) {
		log_debug("%s: the ruleset is as last committed", trigger);
		goto saves;
	}
	err = wf_gw_daemon_apply(d, &d->state, &res, why, sizeof(why));
	if (err)
		log_error("drift repair (%s) failed: %s", trigger, why);
	else if (moved)
		log_info("ruleset follows the new public addresses: %s",
		         wf_gw_change_text(&res, change, sizeof(change)));
	else if (res.table != WF_NFT_UNCHANGED || res.anchor_written) {
		log_warn("the kernel's ruleset differed from the desired one (%s): repaired, %s",
		         trigger, wf_gw_change_text(&res, change, sizeof(change)));
		d->drift_repairs++;
	}
	if (!err && (res.hostfw.inserted || res.hostfw.deleted)) {
		log_warn("host firewall (%s): %zu accept rule(s) for wgfwd's flows put back in the "
		         "iptables chains, %zu duplicate(s) removed",
		         trigger, res.hostfw.inserted, res.hostfw.deleted);
		d->drift_repairs++;
	}
	if (moved && d->control)
		wf_gw_control_broadcast_info(d->control);
saves:
	for (size_t p = 0; p < d->cfg->n_peers; p++)
		if (d->peers[p].unsaved)
			wf_gw_daemon_save_peer(d, p);
}

void wf_gw_daemon_reconcile(struct wf_gw_daemon *d, const char *trigger)
{
	check_kernel(d, trigger, false);
}

static void on_reconcile_timer(evutil_socket_t fd, short what, void *arg)
{
	check_kernel(arg, "periodic check", true);
}

static void on_drift_timer(evutil_socket_t fd, short what, void *arg)
{
	wf_gw_daemon_reconcile(arg, "kernel change");
}

/* The tables a reconcile reads: its own, the anchor, and the host firewall's chains in
 * iptables' filter tables. Commits touching none of them are no drift. */
static void watch_nft_tables(struct wf_nlwatch *w)
{
	wf_nlwatch_watch_nft(w, NFPROTO_INET, WF_GW_TABLE);
	wf_nlwatch_watch_nft(w, NFPROTO_INET, WF_GW_ANCHOR_TABLE);
	wf_nlwatch_watch_nft(w, 0, WF_GW_HOSTFW_TABLE);
}

/* Kernel notifications come in bursts (and our own commits cause some): look once they settle. */
static void on_kernel_change(void *arg)
{
	struct wf_gw_daemon *d = arg;
	struct timeval tv = {.tv_sec = 0, .tv_usec = DRIFT_DEBOUNCE_MS * 1000};

	if (!evtimer_pending(d->drift_timer, NULL))
		evtimer_add(d->drift_timer, &tv);
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
		char path[4096];
		int ret = wf_gw_key_source(d->cfg->peers[p].keyfile, path, sizeof(path));

		if (ret >= 0)
			ret = wf_keyfile_read(path, d->keys[p], err, sizeof(err));
		else
			snprintf(err, sizeof(err), "key file %s: name too long",
			         d->cfg->peers[p].keyfile);
		if (ret < 0) {
			log_error("peer %s: %s", wf_gw_peer_name(d, p), err);
			return ret;
		}
		if (ret == WF_KEYFILE_LEGACY)
			log_warn("peer %s: %s", wf_gw_peer_name(d, p), err);
		/* One secret, one peer: a peer holding another's key could speak as it wherever
		 * the source address is not checked, and a stolen key would open both. */
		for (size_t q = 0; q < p; q++) {
			if (!sodium_memcmp(d->keys[q], d->keys[p], sizeof(d->keys[p]))) {
				log_error(
				    "peers %s and %s have the same key (%s, %s): give each peer a "
				    "key of its own (wgfwd genkey FILE)",
				    wf_gw_peer_name(d, q), wf_gw_peer_name(d, p),
				    d->cfg->peers[q].keyfile, d->cfg->peers[p].keyfile);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* What a peer's persisted entries lost to today's policy: one line per peer, the first few
 * entries with their reasons and how many more, however many were dropped. */
#define DROPPED_NAMED 3

static void log_dropped(const struct wf_gw_daemon *d, size_t p, const struct wf_gw_entries *e,
                        const struct wf_gw_decision *dec)
{
	char text[DROPPED_NAMED * (WF_GW_REASON_MAX + 32)];

	log_warn("peer %s: %zu persisted entries dropped: %s", wf_gw_peer_name(d, p),
	         dec->n_refused,
	         wf_gw_refusals_text(dec, e->forwards, DROPPED_NAMED, text, sizeof(text)));
}

/* The persisted state goes through today's policy again: reserved ports or peers may have
 * changed since it was written, and the first peer in configuration order keeps a port. */
static int restore(struct wf_gw_daemon *d, bool move_bad_files)
{
	size_t n = d->cfg->n_peers, peers = 0, forwards = 0, egress = 0;
	struct wf_gw_entries *want = calloc(n + 1, sizeof(*want));
	struct wf_gw_decision *dec = calloc(n + 1, sizeof(*dec));
	struct wf_gw_state next;
	char err[1024];
	int ret = want && dec ? 0 : -ENOMEM;

	for (size_t p = 0; !ret && p < n; p++) {
		ret = move_bad_files ? wf_gw_store_load(d->s.state_dir, wf_gw_peer_name(d, p),
		                                        &want[p], err, sizeof(err))
		                     : wf_gw_store_read(d->s.state_dir, wf_gw_peer_name(d, p),
		                                        &want[p], err, sizeof(err));
		if (ret == -EBADMSG)
			log_error("peer %s: persisted state unreadable, starting empty: %s",
			          wf_gw_peer_name(d, p), err);
		else if (ret && ret != -ENOENT)
			log_error("peer %s: %s", wf_gw_peer_name(d, p), err);
		else
			peers += !ret;
		if (ret == -ENOENT || ret == -EBADMSG)
			ret = 0;
	}
	if (!ret)
		ret = wf_gw_policy_decide_all(d->cfg, want, &next, dec);
	for (size_t p = 0; !ret && p < n; p++) {
		if (dec[p].n_refused)
			log_dropped(d, p, &want[p], &dec[p]);
		d->peers[p].unsaved = dec[p].n_refused > 0;
		forwards += next.peers[p].n_forwards;
		egress += next.peers[p].n_egress;
		if (next.peers[p].n_forwards + next.peers[p].n_egress)
			log_debug("peer %s: restored %zu forwards and %zu egress entries",
			          wf_gw_peer_name(d, p), next.peers[p].n_forwards,
			          next.peers[p].n_egress);
	}
	if (!ret) {
		wf_gw_state_free(&d->state);
		d->state = next;
		log_info("restored %zu forwards and %zu egress entries from %s (state files of %zu "
		         "of %zu peers)",
		         forwards, egress, d->s.state_dir, peers, n);
	}
	for (size_t p = 0; p < n; p++) {
		if (want)
			wf_gw_entries_free(&want[p]);
		if (dec)
			wf_gw_decision_free(&dec[p]);
	}
	free(want);
	free(dec);
	return ret;
}

static int start_listening(struct wf_gw_daemon *d)
{
	struct in_addr ip4[WF_GW_PUBLIC_MAX];
	struct in6_addr ip6[WF_GW_PUBLIC_MAX];
	size_t n4 = 0, n6 = 0;
	int err;

	for (size_t i = 0; i < d->s.n_listen; i++) {
		err = wf_gw_control_listen(d->control, &d->s.listen[i], d->s.listen_len[i],
		                           WF_GW_LISTEN_MAX);
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
		err = wf_gw_control_listen(d->control, &ss, len, WF_GW_LISTEN_MAX);
		if (err)
			return err;
	}
	return 0;
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

	d->reconcile_timer = event_new(d->base, -1, EV_PERSIST, on_reconcile_timer, d);
	d->drift_timer = evtimer_new(d->base, on_drift_timer, d);
	d->host_ports_timer = event_new(d->base, -1, EV_PERSIST, on_host_ports_timer, d);
	d->sync_timer = evtimer_new(d->base, on_sync_timer, d);
	if (!d->reconcile_timer || !d->drift_timer || !d->host_ports_timer || !d->sync_timer)
		return -ENOMEM;
	if (d->s.reconcile_interval_ms)
		event_add(d->reconcile_timer, &tv);
	if (d->s.listener_interval_ms)
		event_add(d->host_ports_timer,
		          &(struct timeval){.tv_sec = d->s.listener_interval_ms / 1000,
		                            .tv_usec = (d->s.listener_interval_ms % 1000) * 1000});
	if (d->s.status_socket[0]) {
		err = wf_status_socket_open(d->base, d->s.status_socket, 0660,
		                            wf_gw_status_document, d, &d->status);
		if (err)
			log_warn("no status socket at %s: %s", d->s.status_socket, strerror(-err));
	}
	if (d->s.metrics_len) {
		err = wf_metrics_server_open(d->base, &d->s.metrics, d->s.metrics_len,
		                             wf_gw_collect_metrics, d, &d->metrics);
		if (err) {
			char text[INET6_ADDRSTRLEN + 8];

			wf_hostport_text((const struct sockaddr *)&d->s.metrics, text,
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
	else
		watch_nft_tables(d->watch);
	return 0;
}

int wf_gw_daemon_start(struct wf_gw_daemon *d)
{
	struct wf_gw_apply_result res;
	char why[1024], change[96];
	bool moved;
	int err;

	err = read_keys(d);
	if (!err)
		err = wf_gw_control_new(d->base, d->cfg, (const uint8_t(*)[WF_KEY_LEN])d->keys,
		                        &wf_gw_peer_ops, d, &d->control);
	if (err)
		return err;
	err = wf_nft_open(&d->nft);
	if (!err)
		err = wf_rtnl_open(&d->rtnl);
	if (err) {
		log_error("cannot open netlink: %s", strerror(-err));
		return err;
	}
	err = wf_ct_stale_new(d->base, &wf_gw_stale_flow_ops, d, &d->ct);
	if (err)
		log_warn("no conntrack access (%s): flows of a changed forward keep their old path "
		         "until they go idle",
		         strerror(-err));
	else
		/* A dump locks each of the kernel's 262,144 conntrack buckets (2 ms); a filtered
		 * delete looks only where entries are (0.2 ms). The count of what went is then the
		 * namespace's, which only the log line shows. */
		wf_ct_stale_set_kernel_flush(d->ct, true);
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
		err = wf_gw_files_as_user(d->s.state_dir, d->s.uid, d->s.gid);
	if (!err)
		err = restore(d, true);
	if (err)
		return err;
	err = wf_gw_daemon_apply(d, &d->state, &res, why, sizeof(why));
	if (err) {
		log_error("cannot apply the ruleset: %s", why);
		return err;
	}
	log_info("ruleset applied: %s", wf_gw_change_text(&res, change, sizeof(change)));
	log_host_firewall(d, &res);
	for (size_t p = 0; p < d->cfg->n_peers; p++)
		if (d->peers[p].unsaved)
			wf_gw_daemon_save_peer(d, p);
	wf_gw_files_as_self();
	err = start_listening(d);
	if (!err)
		err = start_events(d);
	if (err)
		return err;
	/* Persisted forwards were granted before: they stay, and a clash is flagged now. */
	wf_gw_daemon_refresh_host_ports(d, false);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	return wf_gw_settle_privileges(d->s.uid, d->s.gid);
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

int wf_gw_daemon_new(struct wf_gw_settings *s, struct event_base *base, struct wf_gw_daemon **out)
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
	d->base = base;
	d->peers = calloc(d->cfg->n_peers + 1, sizeof(*d->peers));
	if (!d->peers || wf_gw_state_init(&d->state, d->cfg->n_peers)) {
		wf_gw_daemon_free(d);
		return -ENOMEM;
	}
	for (size_t p = 0; p < d->cfg->n_peers; p++)
		d->peers[p].journal_fd = -1;
	*out = d;
	return 0;
}

void wf_gw_daemon_free(struct wf_gw_daemon *d)
{
	struct event *timers[4];

	if (!d)
		return;
	/* What the journals were told goes to the disk before the gateway does. */
	if (d->peers)
		sync_journals(d);
	timers[0] = d->reconcile_timer;
	timers[1] = d->drift_timer;
	timers[2] = d->host_ports_timer;
	timers[3] = d->sync_timer;
	for (size_t i = 0; i < WF_ARRAY_SIZE(timers); i++)
		if (timers[i])
			event_free(timers[i]);
	/* The connections go before what their states reach. */
	wf_gw_control_free(d->control);
	wf_status_socket_close(d->status);
	wf_metrics_server_close(d->metrics);
	/* A search still due runs before the gateway goes. */
	wf_ct_stale_free(d->ct);
	wf_nlwatch_free(d->watch);
	wf_nft_close(d->nft);
	wf_rtnl_close(d->rtnl);
	wf_gw_apply_cache_free(&d->apply_cache);
	sodium_free(d->keys);
	for (size_t p = 0; d->peers && p < d->cfg->n_peers; p++) {
		wf_gw_entries_free(&d->peers[p].asked);
		close_journal(d, p);
	}
	free(d->peers);
	wf_gw_state_free(&d->state);
	wf_gw_host_watch_free(&d->host);
	wf_gw_config_free(d->cfg);
	free(d);
}
