/* What the agent shows: the document `wgfwd status` prints, and the metrics. */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <string.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd/metrics.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

#include "daemon_internal.h"

/* gw NULL: no gateway, the data plane alone. */
static const char *gateway_state_of(const struct gateway *gw, const struct wf_forward *f,
                                    int family, const char **reason)
{
	*reason = NULL;
	if (!gw)
		return "applied";
	if (!wf_gateways_allow(f->gateways, gw->cfg.name))
		return "not on this gateway (" WF_LABEL_GATEWAYS ")";
	size_t i;

	if (wf_gateway_view_find(&gw->gw, f->proto, f->public_port, family, &i)) {
		*reason = wf_gateway_view_refusal(&gw->gw, i);
		return *reason ? "refused" : "applied";
	}
	if (wf_gateway_link_state_error(gw->link)[0]) {
		*reason = wf_gateway_link_state_error(gw->link);
		return "not sent to the gateway";
	}
	return "waiting for the gateway";
}

/* A refused egress entry is still routed into the tunnel here, and the gateway drops it: the
 * status says so rather than "applied". */
static const char *gateway_egress_state_of(const struct gateway *gw, const struct wf_egress *e,
                                           const char **reason)
{
	*reason = NULL;
	if (!gw)
		return "applied";
	for (size_t i = 0; i < gw->gw.n_egress; i++) {
		const struct wf_ctl_egress *g = &gw->gw.egress[i];

		if (g->proto != e->proto || g->port_lo != e->port_lo || g->port_hi != e->port_hi)
			continue;
		if (gw->gw.egress_results[i].accepted)
			return "applied";
		*reason = gw->gw.egress_results[i].reason;
		return "refused";
	}
	if (wf_gateway_link_state_error(gw->link)[0]) {
		*reason = wf_gateway_link_state_error(gw->link);
		return "not sent to the gateway";
	}
	return "waiting for the gateway";
}

static struct json_object *addr_array(int family, const void *addrs, size_t n)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && i < n; i++) {
		char buf[INET6_ADDRSTRLEN];
		const void *p = family == AF_INET
		                    ? (const void *)&((const struct in_addr *)addrs)[i]
		                    : (const void *)&((const struct in6_addr *)addrs)[i];

		inet_ntop(family, p, buf, sizeof(buf));
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

static uint64_t gateway_reconnects(const struct wf_agent *a)
{
	uint64_t n = 0;

	for (size_t i = 0; i < a->n_gws; i++)
		n += a->gws[i].reconnects;
	return n;
}

/* The gateway whose answer a forward's "state" shows: the first it may use. */
static const struct gateway *first_gateway_of(const struct wf_agent *a, const char *allowed)
{
	for (size_t i = 0; i < a->n_gws; i++)
		if (wf_gateways_allow(allowed, a->gws[i].cfg.name))
			return &a->gws[i];
	return a->n_gws ? &a->gws[0] : NULL;
}

static struct json_object *forward_by_gateway(const struct wf_agent *a, const struct wf_forward *f,
                                              int family)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && i < a->n_gws; i++) {
		struct json_object *o = json_object_new_object();
		const char *reason;
		const char *state = gateway_state_of(&a->gws[i], f, family, &reason);

		json_object_object_add(o, "gateway", json_object_new_string(a->gws[i].cfg.name));
		json_object_object_add(o, "state", json_object_new_string(state));
		if (reason)
			json_object_object_add(o, "reason", json_object_new_string(reason));
		json_object_array_add(arr, o);
	}
	return arr;
}

static struct json_object *gateway_json(const struct wf_agent *a, const struct gateway *g)
{
	struct json_object *gw = json_object_new_object();
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];
	const struct wf_server_gateway *plane = &planes[g - a->gws];

	wf_agent_gateway_planes(a, planes);
	json_object_object_add(gw, "name", json_object_new_string(g->cfg.name));
	json_object_object_add(gw, "interface", json_object_new_string(g->cfg.plane.ifname));
	json_object_object_add(gw, "table", json_object_new_int64(g->cfg.plane.table));
	json_object_object_add(gw, "address", json_object_new_string(g->cfg.address));
	json_object_object_add(gw, "connected",
	                       json_object_new_boolean(wf_gateway_link_up(g->link)));
	json_object_object_add(gw, "healthy", json_object_new_boolean(!g->down));
	json_object_object_add(
	    gw, "egress", json_object_new_boolean(a->egress_gw >= 0 && &a->gws[a->egress_gw] == g));
	if (g->seen.handshake)
		json_object_object_add(
		    gw, "last_handshake_age",
		    json_object_new_int64((int64_t)(time(NULL) - g->seen.handshake)));
	json_object_object_add(gw, "reconnects", json_object_new_int64((int64_t)g->reconnects));
	json_object_object_add(
	    gw, "generation_sent",
	    json_object_new_int64((int64_t)wf_gateway_link_generation_sent(g->link)));
	json_object_object_add(
	    gw, "generation_acked",
	    json_object_new_int64((int64_t)wf_gateway_link_generation_acked(g->link)));
	if (wf_gateway_link_last_error(g->link)[0])
		json_object_object_add(gw, "last_error",
		                       json_object_new_string(wf_gateway_link_last_error(g->link)));
	if (wf_gateway_link_state_error(g->link)[0])
		json_object_object_add(
		    gw, "state_error",
		    json_object_new_string(wf_gateway_link_state_error(g->link)));
	json_object_object_add(gw, "public_ipv4",
	                       addr_array(AF_INET, plane->public_ip4, plane->n_public_ip4));
	json_object_object_add(gw, "public_ipv6",
	                       addr_array(AF_INET6, plane->public_ip6, plane->n_public_ip6));
	if (g->gw.have_info)
		json_object_object_add(gw, "mtu", json_object_new_int64(g->gw.info.mtu));
	if (g->gw.have_info && g->gw.info.gateway_version[0])
		json_object_object_add(gw, "version",
		                       json_object_new_string(g->gw.info.gateway_version));
	return gw;
}

struct json_object *wf_agent_status(struct wf_agent *a)
{
	struct wf_desired empty = {0};
	const struct wf_desired *d = a->have_desired ? &a->desired : &empty;
	struct json_object *doc = wf_desired_to_json(d);
	struct json_object *forwards, *egress, *agent, *gw;

	if (!doc)
		return NULL;
	if (json_object_object_get_ex(doc, "forwards", &forwards)) {
		for (size_t i = 0; i < d->n_forwards && i < json_object_array_length(forwards);
		     i++) {
			struct json_object *fo = json_object_array_get_idx(forwards, i);
			const struct wf_forward *f = &d->forwards[i];
			int family = f->has_ip4 || (f->to_host && a->params.has_tunnel_ip4)
			                 ? AF_INET
			                 : AF_INET6;
			const char *reason;
			const char *state =
			    gateway_state_of(first_gateway_of(a, f->gateways), f, family, &reason);

			json_object_object_add(fo, "state", json_object_new_string(state));
			if (reason)
				json_object_object_add(fo, "reason",
				                       json_object_new_string(reason));
			if (a->n_gws > 1)
				json_object_object_add(fo, "by_gateway",
				                       forward_by_gateway(a, f, family));
		}
	}
	if (json_object_object_get_ex(doc, "egress", &egress)) {
		for (size_t i = 0; i < d->n_egress && i < json_object_array_length(egress); i++) {
			struct json_object *eo = json_object_array_get_idx(egress, i);
			const struct wf_egress *e = &d->egress[i];
			struct wf_server_gateway planes[WF_GATEWAYS_MAX];
			int by = -1;
			const char *reason;
			const char *state;

			if (a->n_gws) {
				wf_agent_gateway_planes(a, planes);
				by = wf_server_egress_gateway(planes, a->n_gws, e->gateways);
			}
			state = gateway_egress_state_of(by >= 0 ? &a->gws[by] : NULL, e, &reason);
			if (a->n_gws && by < 0) {
				state = "refused";
				reason =
				    "no configured gateway has a name " WF_LABEL_GATEWAYS " lists";
			}
			json_object_object_add(eo, "state", json_object_new_string(state));
			if (reason)
				json_object_object_add(eo, "reason",
				                       json_object_new_string(reason));
			if (by >= 0)
				json_object_object_add(eo, "gateway",
				                       json_object_new_string(a->gws[by].cfg.name));
		}
	}
	agent = json_object_new_object();
	json_object_object_add(agent, "version", json_object_new_string(wf_version));
	json_object_object_add(agent, "docker",
	                       json_object_new_string(a->docker_up ? "connected" : "disconnected"));
	json_object_object_add(agent, "containers",
	                       json_object_new_int64((int64_t)a->n_containers));
	json_object_object_add(agent, "applies", json_object_new_int64((int64_t)a->applies));
	json_object_object_add(agent, "apply_errors",
	                       json_object_new_int64((int64_t)a->apply_errors));
	wf_nlwatch_status_add(agent, a->watch);
	if (a->ct_flush) {
		struct wf_ct_stats st;

		wf_ct_flush_stats(a->ct_flush, &st);
		wf_ct_stats_status_add(agent, &st);
	}
	json_object_object_add(agent, "last_apply_ok", json_object_new_boolean(a->last_apply_ok));
	json_object_object_add(agent, "last_apply_ms", json_object_new_double(a->last_apply_ms));
	json_object_object_add(agent, "last_apply_at", json_object_new_int64(a->last_apply_at));
	json_object_object_add(
	    agent, "reconnects",
	    json_object_new_int64((int64_t)(a->docker_reconnects + gateway_reconnects(a))));
	if (a->last_error[0])
		json_object_object_add(agent, "last_error", json_object_new_string(a->last_error));
	json_object_object_add(agent, "interface", json_object_new_string(a->params.tunnel_ifname));
	json_object_object_add(agent, "table", json_object_new_int64(a->params.table));
	json_object_object_add(agent, "sysctls_ok", json_object_new_boolean(a->sysctls_ok));
	json_object_object_add(agent, "docker_user_missing",
	                       json_object_new_boolean(a->last_result.docker_user_missing));
	json_object_object_add(agent, "docker_firewall",
	                       json_object_new_string(a->last_result.docker_nftables ? "nftables"
	                                              : a->last_result.docker_user_missing
	                                                  ? "unknown"
	                                                  : "iptables"));
	if (a->params.has_accept_mark) {
		char mark[32];

		snprintf(mark, sizeof(mark), "0x%x/0x%x", a->params.accept_mark,
		         a->params.accept_mask);
		json_object_object_add(agent, "bridge_accept_fwmark", json_object_new_string(mark));
	}
	json_object_object_add(
	    agent, "bridge_accept_fwmark_missing",
	    json_object_new_boolean(a->last_result.docker_nftables && !a->params.has_accept_mark));
	json_object_object_add(doc, "agent", agent);

	/* "gateway": the first one (or the data plane's configuration when there is none);
	 * "gateways": every one, in the configured order. */
	if (a->n_gws) {
		struct json_object *all = json_object_new_array();

		gw = gateway_json(a, &a->gws[0]);
		for (size_t i = 0; i < a->n_gws; i++)
			json_object_array_add(all, gateway_json(a, &a->gws[i]));
		json_object_object_add(doc, "gateways", all);
		json_object_object_add(agent, "egress_gateway",
		                       a->egress_gw >= 0
		                           ? json_object_new_string(a->gws[a->egress_gw].cfg.name)
		                           : NULL);
		json_object_object_add(agent, "egress_switches",
		                       json_object_new_int64((int64_t)a->egress_switches));
	} else {
		gw = json_object_new_object();
		json_object_object_add(
		    gw, "public_ipv4",
		    addr_array(AF_INET, a->params.gateway_ip4, a->params.n_gateway_ip4));
		json_object_object_add(
		    gw, "public_ipv6",
		    addr_array(AF_INET6, a->params.gateway_ip6, a->params.n_gateway_ip6));
	}
	json_object_object_add(doc, "gateway", gw);
	return doc;
}

/* The first gateway's numbers, under the names a single gateway always had. */
static void gateway_metrics(const struct wf_agent *a, const struct gateway *g, struct wf_metrics *m)
{
	size_t refused = g->gw.n_refused;

	wf_metrics_gauge(m, "wgfwd_agent_gateway_link_up",
	                 "1 while the control channel to the gateway is up.",
	                 wf_gateway_link_up(g->link));
	wf_metrics_counter(m, "wgfwd_agent_gateway_reconnects_total",
	                   "Times the control channel to the gateway went down.",
	                   (double)gateway_reconnects(a));
	wf_metrics_gauge(m, "wgfwd_agent_gateway_generation_sent",
	                 "Generation of the latest state sent to the gateway.",
	                 (double)wf_gateway_link_generation_sent(g->link));
	wf_metrics_gauge(m, "wgfwd_agent_gateway_generation_acked",
	                 "Generation of the latest state the gateway acknowledged.",
	                 (double)wf_gateway_link_generation_acked(g->link));
	wf_metrics_gauge(m, "wgfwd_agent_gateway_state_applied",
	                 "1 when the gateway applied the last state it acknowledged.",
	                 g->gw.applied);
	wf_metrics_gauge(m, "wgfwd_agent_gateway_state_unsendable",
	                 "1 when the latest state cannot be sent (more entries than a state "
	                 "holds).",
	                 wf_gateway_link_state_error(g->link)[0] != '\0');
	wf_metrics_add(m, "wgfwd_agent_gateway_refused", WF_METRIC_GAUGE,
	               "Entries of the last acknowledged state the gateway refused.",
	               WF_LABEL("entry", "forward"), (double)refused);
	wf_metrics_add(m, "wgfwd_agent_gateway_refused", WF_METRIC_GAUGE, NULL,
	               WF_LABEL("entry", "egress"), (double)g->gw.egress_refused);
}

/* Metrics: the numbers behind the status document, one sample each. */
int wf_agent_metrics(struct wf_agent *a, struct wf_metrics *m)
{
	static const char *const nft_kinds[] = {[WF_NFT_UNCHANGED] = "unchanged",
	                                        [WF_NFT_ELEMENTS] = "elements",
	                                        [WF_NFT_REPLACED] = "replaced"};
	struct wf_desired empty = {0};
	const struct wf_desired *d = a->have_desired ? &a->desired : &empty;
	size_t waiting = 0;

	for (size_t i = 0; i < d->n_problems; i++)
		waiting += d->problems[i].waiting;
	wf_metrics_gauge(m, "wgfwd_agent_docker_connected",
	                 "1 while the agent follows Docker's events.", a->docker_up);
	wf_metrics_counter(m, "wgfwd_agent_docker_reconnects_total",
	                   "Times the connection to Docker was lost (or the first one failed).",
	                   (double)a->docker_reconnects);
	wf_metrics_gauge(m, "wgfwd_agent_containers", "Containers with wgfwd labels.",
	                 (double)a->n_containers);
	wf_metrics_gauge(m, "wgfwd_agent_forwards", "Forwards in the desired state.",
	                 (double)d->n_forwards);
	wf_metrics_gauge(m, "wgfwd_agent_egress_selections",
	                 "Egress selections (container, protocol, ports) through the tunnel.",
	                 (double)d->n_egress);
	wf_metrics_add(m, "wgfwd_agent_problems", WF_METRIC_GAUGE,
	               "Label problems: waiting (e.g. no address yet) or errors.",
	               WF_LABEL("kind", "waiting"), (double)waiting);
	wf_metrics_add(m, "wgfwd_agent_problems", WF_METRIC_GAUGE, NULL, WF_LABEL("kind", "error"),
	               (double)(d->n_problems - waiting));
	wf_metrics_counter(m, "wgfwd_agent_applies_total",
	                   "Times the desired state was applied to the kernel.",
	                   (double)a->applies);
	wf_metrics_counter(m, "wgfwd_agent_apply_errors_total", "Applies that failed.",
	                   (double)a->apply_errors);
	wf_nlwatch_metrics(m, "wgfwd_agent", a->watch);
	if (a->ct_flush) {
		struct wf_ct_stats st;

		wf_ct_flush_stats(a->ct_flush, &st);
		wf_ct_stats_metrics(m, "wgfwd_agent", &st);
	}
	wf_metrics_gauge(m, "wgfwd_agent_last_apply_success", "1 when the last apply succeeded.",
	                 a->last_apply_ok);
	wf_metrics_gauge(m, "wgfwd_agent_last_apply_duration_seconds",
	                 "Time the last apply took, from the containers to the kernel.",
	                 a->last_apply_ms / 1e3);
	wf_metrics_gauge(m, "wgfwd_agent_last_apply_timestamp_seconds",
	                 "When the last apply ended, in seconds since the epoch.",
	                 (double)a->last_apply_at);
	wf_metrics_add_histogram(m, "wgfwd_agent_apply_duration_seconds",
	                         "Time applies took, from the containers to the kernel.", NULL, 0,
	                         &a->apply_seconds);
	for (size_t k = 0; k < WF_ARRAY_SIZE(nft_kinds); k++)
		wf_metrics_add(m, "wgfwd_agent_nft_changes_total", WF_METRIC_COUNTER,
		               "Successful applies by what they changed in the nftables table.",
		               WF_LABEL("kind", nft_kinds[k]), (double)a->nft_changes[k]);
	if (!a->n_gws)
		return 0;
	gateway_metrics(a, &a->gws[0], m);
	wf_metrics_counter(m, "wgfwd_agent_egress_switches_total",
	                   "Times unrestricted egress moved to another gateway.",
	                   (double)a->egress_switches);
	for (size_t i = 0; i < a->n_gws; i++) {
		const struct gateway *g = &a->gws[i];
		const char *name = g->cfg.name;

		wf_metrics_add(m, "wgfwd_agent_gateway_up", WF_METRIC_GAUGE,
		               "1 while the control channel to this gateway is up.",
		               WF_LABEL("gateway", name), wf_gateway_link_up(g->link));
		wf_metrics_add(m, "wgfwd_agent_gateway_healthy", WF_METRIC_GAUGE,
		               "1 while egress may use this gateway (its channel and tunnel live).",
		               WF_LABEL("gateway", name), !g->down);
		wf_metrics_add(m, "wgfwd_agent_gateway_egress", WF_METRIC_GAUGE,
		               "1 for the gateway unrestricted egress leaves by.",
		               WF_LABEL("gateway", name), a->egress_gw == (int)i);
		wf_metrics_add(m, "wgfwd_agent_gateway_link_reconnects_total", WF_METRIC_COUNTER,
		               "Times the control channel to this gateway went down.",
		               WF_LABEL("gateway", name), (double)g->reconnects);
	}
	return 0;
}

bool wf_agent_healthy(const struct wf_agent *a)
{
	return a->last_apply_ok;
}
