/* What the daemon shows: the document `wgfwd status --gateway` prints, and the metrics. */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <string.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd/metrics.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/version.h>

#include "daemon.h"
#include "grants.h"

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
	const char *remote = wf_gw_control_remote(d->control, p);
	char clash[WF_GW_REASON_MAX];
	char grant[512];

	json_object_object_add(o, "name", json_object_new_string(peer->name));
	if (peer->has_ip4)
		json_object_object_add(o, "ipv4", addr_text(AF_INET, &peer->ip4));
	if (peer->has_ip6)
		json_object_object_add(o, "ipv6", addr_text(AF_INET6, &peer->ip6));
	json_object_object_add(o, "connected", json_object_new_boolean(remote != NULL));
	if (remote)
		json_object_object_add(o, "remote", json_object_new_string(remote));
	json_object_object_add(o, "generation",
	                       json_object_new_int64((int64_t)d->peers[p].generation));
	if (d->peers[p].agent_version[0])
		json_object_object_add(o, "agent_version",
		                       json_object_new_string(d->peers[p].agent_version));
	json_object_object_add(o, "unsaved", json_object_new_boolean(d->peers[p].unsaved));
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

json_object *wf_gw_status_document(void *arg)
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
	wf_nlwatch_status_add(doc, d->watch);
	if (d->ct) {
		struct wf_ct_stats st;

		wf_ct_stale_stats(d->ct, &st);
		wf_ct_stats_status_add(doc, &st);
	}
	json_object_object_add(doc, "host_firewall", host_firewall_status(d));
	json_object_object_add(doc, "peers", peers);
	wf_gw_host_watch_status(&d->host, d->cfg, doc);
	return doc;
}

int wf_gw_collect_metrics(void *arg, struct wf_metrics *m)
{
	const struct wf_gw_daemon *d = arg;
	const struct wf_gw_control_counters *cc = wf_gw_control_counters(d->control);
	size_t connected = 0;

	for (size_t p = 0; p < d->cfg->n_peers; p++) {
		const struct wf_metric_label peer = {"peer", d->cfg->peers[p].name};
		bool up = wf_gw_control_remote(d->control, p) != NULL;

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
		               (double)d->peers[p].generation);
		wf_metrics_add(m, "wgfwd_gateway_peer_state_unsaved", WF_METRIC_GAUGE,
		               "1 when the peer's applied state could not be written to disk.",
		               &peer, 1, d->peers[p].unsaved);
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
	    (double)cc->states_superseded);
	wf_metrics_counter(m, "wgfwd_gateway_handshake_failures_total",
	                   "Control connections from peer addresses that failed the handshake.",
	                   (double)cc->handshake_failures);
	for (int r = 0; r < WF_GW_REJECT_MAX; r++)
		wf_metrics_add(m, "wgfwd_gateway_connections_rejected_total", WF_METRIC_COUNTER,
		               "Control connections turned away, by reason.",
		               WF_LABEL("reason", wf_gw_rejection_name((enum wf_gw_rejection)r)),
		               (double)cc->rejected[r]);
	wf_nlwatch_metrics(m, "wgfwd_gateway", d->watch);
	if (d->ct) {
		struct wf_ct_stats st;

		wf_ct_stale_stats(d->ct, &st);
		wf_ct_stats_metrics(m, "wgfwd_gateway", &st);
	}
	return wf_metrics_counter(m, "wgfwd_gateway_drift_repairs_total",
	                          "Times the kernel's ruleset had drifted and was repaired.",
	                          (double)d->drift_repairs);
}
