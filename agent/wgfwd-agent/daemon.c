#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <json-c/json.h>
#include <linux/netfilter.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wgfwd/keyfile.h>
#include <wgfwd/log.h>
#include <wgfwd/metrics.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/status_socket.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

#include "addr_scope.h"
#include "apply.h"
#include "container.h"
#include "ct_flush.h"
#include "docker.h"
#include "gateway_health.h"
#include "gateway_link.h"
#include "state.h"
#include "daemon_internal.h"
#include "wg_handshake.h"

/* Kernel notifications come in bursts (Docker adding a veth, our own commit): one look after
 * the burst is enough. */
#define DRIFT_SETTLE_MS 50

/* Applies take about a millisecond when one container changes; seconds mean trouble. */
static const double apply_seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,  0.1,    0.25,  1};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define APPLY_RETRY_MIN_MS 1000
#define APPLY_RETRY_MAX_MS 30000

static void schedule_apply(struct wf_agent *a, unsigned delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	/* An apply already due sooner stays; a later one is pulled in. */
	if (evtimer_pending(a->apply_ev, NULL) && delay_ms)
		return;
	evtimer_add(a->apply_ev, &tv);
}

/* Containers: a mirror of what the Docker client reports. */

static ssize_t find_container(struct wf_agent *a, const char *id)
{
	for (size_t i = 0; i < a->n_containers; i++)
		if (!strcmp(a->containers[i]->id, id))
			return (ssize_t)i;
	return -1;
}

static void drop_containers(struct wf_agent *a)
{
	for (size_t i = 0; i < a->n_containers; i++)
		wf_container_free(a->containers[i]);
	a->n_containers = 0;
}

static int put_container(struct wf_agent *a, const struct wf_container *c)
{
	struct wf_container *copy = wf_container_dup(c);
	ssize_t i;

	if (!copy)
		return -ENOMEM;
	i = find_container(a, c->id);
	if (i >= 0) {
		wf_container_free(a->containers[i]);
		a->containers[i] = copy;
		return 0;
	}
	if (a->n_containers == a->cap_containers) {
		size_t cap = a->cap_containers ? a->cap_containers * 2 : 32;
		struct wf_container **grown = realloc(a->containers, cap * sizeof(*grown));

		if (!grown) {
			wf_container_free(copy);
			return -ENOMEM;
		}
		a->containers = grown;
		a->cap_containers = cap;
	}
	a->containers[a->n_containers++] = copy;
	return 0;
}

static void on_docker_connection(void *ctx, bool up)
{
	struct wf_agent *a = ctx;

	if (!up && a->docker_up)
		log_warn("docker: connection lost; forwards stay as they are until it is back");
	if (up && !a->docker_up)
		log_info("docker: connected");
	if (!up)
		a->docker_reconnects++;
	a->docker_up = up;
}

static void on_docker_synced(void *ctx, const struct wf_container *list, size_t n)
{
	struct wf_agent *a = ctx;

	drop_containers(a);
	for (size_t i = 0; i < n; i++)
		if (put_container(a, &list[i]))
			log_error("out of memory keeping container %s", list[i].name);
	log_info("docker: %zu container%s of interest", n, n == 1 ? "" : "s");
	a->synced = true;
	schedule_apply(a, 0);
}

static void on_docker_changed(void *ctx, const struct wf_container *c)
{
	struct wf_agent *a = ctx;

	if (put_container(a, c))
		log_error("out of memory keeping container %s", c->name);
	schedule_apply(a, 0);
}

static void on_docker_removed(void *ctx, const char *id)
{
	struct wf_agent *a = ctx;
	ssize_t i = find_container(a, id);

	if (i < 0)
		return;
	wf_container_free(a->containers[i]);
	a->containers[i] = a->containers[--a->n_containers];
	schedule_apply(a, 0);
}

static const struct wf_docker_ops docker_ops = {
    .connection = on_docker_connection,
    .synced = on_docker_synced,
    .changed = on_docker_changed,
    .removed = on_docker_removed,
};

/* Problems are logged when they appear, not at every apply. */
static bool has_problem(const struct wf_desired *d, const struct wf_problem *p)
{
	for (size_t i = 0; i < d->n_problems; i++)
		if (!strcmp(d->problems[i].container_id, p->container_id) &&
		    !strcmp(d->problems[i].label, p->label) &&
		    !strcmp(d->problems[i].message, p->message))
			return true;
	return false;
}

static void log_new_problems(struct wf_agent *a, const struct wf_desired *d)
{
	for (size_t i = 0; i < d->n_problems; i++) {
		char line[512];

		if (a->have_desired && has_problem(&a->desired, &d->problems[i]))
			continue;
		wf_problem_format(&d->problems[i], line, sizeof(line));
		if (d->problems[i].waiting)
			log_info("%s", line);
		else
			log_warn("%s", line);
	}
}

#define LOG_EACH_FORWARD_MAX 16

static void log_forward_changes(struct wf_agent *a, const struct wf_desired *d)
{
	struct wf_desired empty = {0};
	struct wf_desired_diff diff;
	bool each;

	if (wf_desired_diff(a->have_desired ? &a->desired : &empty, d, &diff))
		return;
	/* A few changes are named one by one; many (a start-up, a port range) are summed up
	 * at info and named at debug, so that logging does not cost more than applying. */
	each = diff.n_forwards_removed + diff.n_forwards_added <= LOG_EACH_FORWARD_MAX;
	if (!each)
		log_info("forwards: %zu added, %zu removed", diff.n_forwards_added,
		         diff.n_forwards_removed);
	for (size_t i = 0; i < diff.n_forwards_removed; i++) {
		const struct wf_forward *f = &diff.forwards_removed[i];

		wf_log(each ? WF_LOG_INFO : WF_LOG_DEBUG, "forward removed: %s/%u (container %s)",
		       wf_proto_name(f->proto), f->public_port, f->container_name);
	}
	for (size_t i = 0; i < diff.n_forwards_added; i++) {
		const struct wf_forward *f = &diff.forwards_added[i];
		char ip4[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "";

		if (f->has_ip4)
			inet_ntop(AF_INET, &f->ip4, ip4, sizeof(ip4));
		if (f->has_ip6)
			inet_ntop(AF_INET6, &f->ip6, ip6, sizeof(ip6));
		wf_log(each ? WF_LOG_INFO : WF_LOG_DEBUG, "forward: %s/%u -> %s %s%s%s port %u",
		       wf_proto_name(f->proto), f->public_port, f->container_name,
		       f->to_host ? "(host)" : ip4, ip4[0] && ip6[0] ? " " : "", ip6,
		       f->target_port);
	}
	for (size_t i = 0; i < diff.n_egress_added; i++) {
		const struct wf_egress *e = &diff.egress_added[i];

		log_info("egress: %s %s ports %u-%u through the tunnel", e->container_name,
		         e->proto ? wf_proto_name(e->proto) : "all", e->port_lo, e->port_hi);
	}
	wf_desired_diff_free(&diff);
}

static int gateway_state_from(const struct gateway *g, const struct wf_desired *d,
                              struct wf_ctl_state *s)
{
	memset(s, 0, sizeof(*s));
	s->forwards = calloc(2 * d->n_forwards + 1, sizeof(*s->forwards));
	s->egress = calloc(d->n_egress + 1, sizeof(*s->egress));
	if (!s->forwards || !s->egress) {
		free(s->forwards);
		free(s->egress);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->n_forwards; i++) {
		const struct wf_forward *f = &d->forwards[i];
		bool v4 = f->to_host ? g->cfg.plane.has_tunnel_ip4 : f->has_ip4;
		bool v6 = f->to_host ? g->cfg.plane.has_tunnel_ip6 : f->has_ip6;

		if (!wf_gateways_allow(f->gateways, g->cfg.name))
			continue;

		/* The gateway keeps the port: this server maps it to the container's. */
		if (v4)
			s->forwards[s->n_forwards++] =
			    (struct wf_ctl_forward){.proto = f->proto,
			                            .family = AF_INET,
			                            .public_port = f->public_port,
			                            .target_port = f->public_port};
		if (v6)
			s->forwards[s->n_forwards++] =
			    (struct wf_ctl_forward){.proto = f->proto,
			                            .family = AF_INET6,
			                            .public_port = f->public_port,
			                            .target_port = f->public_port};
	}
	for (size_t i = 0; i < d->n_egress; i++) {
		const struct wf_egress *e = &d->egress[i];
		bool dup = !wf_gateways_allow(e->gateways, g->cfg.name);

		for (size_t k = 0; k < s->n_egress && !dup; k++)
			dup = s->egress[k].proto == e->proto &&
			      s->egress[k].port_lo == e->port_lo &&
			      s->egress[k].port_hi == e->port_hi;
		if (!dup)
			s->egress[s->n_egress++] = (struct wf_ctl_egress){
			    .proto = e->proto, .port_lo = e->port_lo, .port_hi = e->port_hi};
	}
	return 0;
}

/* Every gateway gets its own part: what the labels let it carry. A refusal by one of them
 * changes nothing on the others. */
static void push_gateway_state(struct wf_agent *a)
{
	for (size_t i = 0; i < a->n_gws; i++) {
		struct gateway *g = &a->gws[i];
		struct wf_ctl_state s;

		if (gateway_state_from(g, &a->desired, &s))
			return;
		if (wf_gateway_link_set_state(g->link, &s))
			log_error("gateway %s: out of memory queueing the state", g->cfg.name);
		free(s.forwards);
		free(s.egress);
	}
}

/* The render input: each gateway's configuration, the public addresses it told (unless
 * configured) and whether egress avoids it. */
void wf_agent_gateway_planes(const struct wf_agent *a, struct wf_server_gateway *out)
{
	for (size_t i = 0; i < a->n_gws; i++) {
		const struct gateway *g = &a->gws[i];

		out[i] = g->cfg.plane;
		if (!out[i].n_public_ip4 && !out[i].n_public_ip6) {
			memcpy(out[i].public_ip4, g->learnt_ip4, sizeof(out[i].public_ip4));
			out[i].n_public_ip4 = g->n_learnt_ip4;
			memcpy(out[i].public_ip6, g->learnt_ip6, sizeof(out[i].public_ip6));
			out[i].n_public_ip6 = g->n_learnt_ip6;
		}
		out[i].down = g->down;
	}
}

/* Where a forwarded flow may have been sent before anything translated it: every gateway's
 * tunnel and public addresses, learnt ones included. */
static void flush_dsts(const struct wf_agent *a, struct wf_ct_orig_dsts *o)
{
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];

	if (a->n_gws)
		wf_agent_gateway_planes(a, planes);
	wf_server_ct_orig_dsts(&a->params, planes, a->n_gws, o);
}

/* Flows keep the path their conntrack entry took: once the kernel holds the new forwards, the
 * entries of the forwards that changed go, so their next packet takes the new path. The search
 * walks the kernel's whole conntrack hash (milliseconds even when it is empty), so it runs off
 * the convergence path: after the state has gone to the gateway, once for all the changes of a
 * burst. */
static void flush_stale_flows(evutil_socket_t fd, short what, void *arg)
{
	struct wf_agent *a = arg;
	size_t deleted = 0;
	int looked_for;

	looked_for = wf_ct_flush_run(a->ct_flush, &a->params, &deleted);
	if (looked_for < 0)
		log_warn("conntrack: cannot delete the entries of changed forwards (%s): their "
		         "flows keep the old path until they go idle",
		         strerror(-looked_for));
	else if (deleted)
		log_info("conntrack: deleted %zu entr%s of changed forwards", deleted,
		         deleted == 1 ? "y" : "ies");
	else if (looked_for)
		log_debug("conntrack: no entries of changed forwards to delete");
}

static void note_stale_flows(struct wf_agent *a, const struct wf_desired *d)
{
	struct timeval tv = {0, WF_CT_COALESCE_MS * 1000};
	struct wf_ct_orig_dsts dsts;
	int pending;

	if (!a->ct_flush)
		return;
	flush_dsts(a, &dsts);
	pending = wf_ct_flush_note(a->ct_flush, &a->params, &dsts, d);
	if (pending < 0)
		log_warn("conntrack: cannot note the changed forwards (%s): their flows keep the "
		         "old path until they go idle",
		         strerror(-pending));
	else if (pending && !evtimer_pending(a->ct_flush_ev, NULL))
		evtimer_add(a->ct_flush_ev, &tv);
}

static void apply_now(evutil_socket_t fd, short what, void *arg)
{
	struct wf_agent *a = arg;
	struct wf_container *flat = NULL;
	struct wf_desired d;
	struct wf_server_plan plan;
	struct wf_apply_result res;
	double start;
	int err;

	/* Before the first list from Docker the agent knows nothing: touching the kernel then
	 * would drop every forward a previous run left in place. */
	if (!a->synced)
		return;
	start = now_ms();
	flat = calloc(a->n_containers + 1, sizeof(*flat));
	if (!flat)
		goto oom;
	for (size_t i = 0; i < a->n_containers; i++)
		flat[i] = *a->containers[i];
	err = wf_desired_build(flat, a->n_containers, &d);
	free(flat);
	if (err)
		goto oom;
	log_new_problems(a, &d);
	log_forward_changes(a, &d);

	if (a->n_gws) {
		struct wf_server_gateway planes[WF_GATEWAYS_MAX];

		wf_agent_gateway_planes(a, planes);
		err = wf_server_render_gateways(&a->params, planes, a->n_gws, &d, &plan);
	} else {
		err = wf_server_render(&a->params, &d, &plan);
	}
	if (err) {
		wf_desired_free(&d);
		goto oom;
	}
	err = wf_dataplane_apply(a->dp, &plan, &res);
	wf_server_plan_free(&plan);
	a->applies++;
	a->last_apply_ms = now_ms() - start;
	wf_histogram_observe(&a->apply_seconds, a->last_apply_ms / 1e3);
	a->last_apply_at = time(NULL);
	/* The engine says so itself from API 1.49; before, its table tells. */
	res.docker_nftables |= a->docker && !strncmp(wf_docker_firewall(a->docker), "nftables", 8);
	a->last_result = res;
	if (res.docker_nftables && !a->params.has_accept_mark && !a->accept_mark_advised) {
		a->accept_mark_advised = true;
		log_warn(
		    "Docker uses its nftables backend, which drops forwarded flows to unpublished "
		    "ports and has no DOCKER-USER: add \"bridge-accept-fwmark\": \"%s\" to "
		    "/etc/docker/daemon.json, restart Docker, and start wgfwd-agent with "
		    "--bridge-accept-fwmark %s",
		    WF_SUGGESTED_ACCEPT_MARK, WF_SUGGESTED_ACCEPT_MARK);
	}
	if (err) {
		char before[sizeof(a->last_error)];

		memcpy(before, a->last_error, sizeof(before));
		a->apply_errors++;
		a->last_apply_ok = false;
		const char *missing = NULL;

		if (err == -ENODEV && !if_nametoindex(a->params.tunnel_ifname))
			missing = a->params.tunnel_ifname;
		for (size_t i = 0; err == -ENODEV && !missing && i < a->n_gws; i++)
			if (!if_nametoindex(a->gws[i].cfg.plane.ifname))
				missing = a->gws[i].cfg.plane.ifname;
		if (missing)
			snprintf(a->last_error, sizeof(a->last_error),
			         "interface %s does not exist (%s)", missing,
			         a->n_gws > 1 ? "--gateway-link" : "--interface");
		else if (res.nft_error.what[0])
			snprintf(a->last_error, sizeof(a->last_error), "%s: %s%s%s",
			         res.nft_error.what, strerror(-err),
			         res.nft_error.detail[0] ? ": " : "", res.nft_error.detail);
		else
			snprintf(a->last_error, sizeof(a->last_error), "%s", strerror(-err));
		/* A failure that stays (a missing interface) is said once, not every retry, and
		 * the retries slow down; a change of state still applies at once. */
		a->retry_ms = a->retry_ms ? a->retry_ms * 2 : APPLY_RETRY_MIN_MS;
		if (a->retry_ms > APPLY_RETRY_MAX_MS)
			a->retry_ms = APPLY_RETRY_MAX_MS;
		if (strcmp(before, a->last_error))
			log_error("apply failed: %s; retrying, at most every %u s", a->last_error,
			          APPLY_RETRY_MAX_MS / 1000);
		else
			log_debug("apply failed again: %s; next try in %u ms", a->last_error,
			          a->retry_ms);
		schedule_apply(a, a->retry_ms);
	} else {
		a->retry_ms = 0;
		if (!a->last_apply_ok && a->apply_errors)
			log_info("apply succeeded again");
		a->last_apply_ok = true;
		a->last_error[0] = '\0';
		note_stale_flows(a, &d);
		a->nft_changes[res.nft]++;
		if (res.nft != WF_NFT_UNCHANGED || res.rule_changes || res.route_changes ||
		    res.docker_user_changes)
			log_info(
			    "applied in %.2f ms: nft %s (+%zu -%zu elements), %zu DOCKER-USER, "
			    "%d rules, %d routes",
			    a->last_apply_ms,
			    res.nft == WF_NFT_REPLACED   ? "table replaced"
			    : res.nft == WF_NFT_ELEMENTS ? "elements"
			                                 : "unchanged",
			    res.elements_added, res.elements_removed, res.docker_user_changes,
			    res.rule_changes, res.route_changes);
	}
	if (a->have_desired)
		wf_desired_free(&a->desired);
	a->desired = d;
	a->have_desired = true;
	push_gateway_state(a);
	return;
oom:
	log_error("out of memory building the desired state; retrying");
	schedule_apply(a, 1000);
}

/* Every tunnel needs loose reverse-path filtering, not only the first. */
static bool check_sysctls(const struct wf_agent *a, bool quiet)
{
	struct wf_server_params p = a->params;
	bool ok = wf_dataplane_check_sysctls(&p, a->cfg.fix_sysctls, quiet) == 0;

	for (size_t i = 1; i < a->cfg.n_gateways; i++) {
		WF_COPY(p.tunnel_ifname, a->cfg.gateways[i].plane.ifname);
		ok &= wf_dataplane_check_sysctls(&p, a->cfg.fix_sysctls, quiet) == 0;
	}
	return ok;
}

/* Forwarding can be switched off by someone else, and an interface created again comes back
 * with the default rp_filter or accept_ra: checked again whenever drift is looked for. What is
 * wrong is said when it goes wrong, not every time. */
static void recheck_sysctls(struct wf_agent *a)
{
	bool ok = check_sysctls(a, !a->sysctls_ok);

	if (ok && !a->sysctls_ok)
		log_info(
		    "forwarding, rp_filter and accept_ra are as the data plane needs them again");
	a->sysctls_ok = ok;
}

static void on_reconcile(evutil_socket_t fd, short what, void *arg)
{
	recheck_sysctls(arg);
	schedule_apply(arg, 0);
}

void wf_agent_reconcile(struct wf_agent *a)
{
	recheck_sysctls(a);
	schedule_apply(a, 0);
}

/* The tables an apply reads: its own, Docker's filter tables (DOCKER-USER, or FORWARD for
 * IPv6) and Docker's nftables backend. Commits touching none of them are no drift. */
static void watch_nft_tables(struct wf_nlwatch *w)
{
	wf_nlwatch_watch_nft(w, NFPROTO_INET, WF_SERVER_TABLE);
	wf_nlwatch_watch_nft(w, NFPROTO_IPV4, WF_DOCKER_USER_TABLE);
	wf_nlwatch_watch_nft(w, NFPROTO_IPV6, WF_DOCKER_USER_TABLE);
	wf_nlwatch_watch_nft(w, 0, WF_DOCKER_NFT_TABLE);
}

static void on_kernel_change(void *ctx)
{
	recheck_sysctls(ctx);
	schedule_apply(ctx, DRIFT_SETTLE_MS);
}

/* Gateway link callbacks. */

static void on_gateway_connection(void *ctx, bool up)
{
	struct gateway *g = ctx;

	if (!up)
		g->reconnects++;
	g->seen.last_up_ms = now_ms();
}

/* The server's own addresses, read when the gateway speaks: a gateway that advertises one of
 * them would capture the server's connections to itself. */
#define OWN_ADDRS_MAX 64
struct own_addrs {
	struct in_addr ip4[OWN_ADDRS_MAX];
	struct in6_addr ip6[OWN_ADDRS_MAX];
	struct wf_own_addrs view;
};

static void own_addrs_read(struct own_addrs *o)
{
	struct ifaddrs *ifs;

	memset(o, 0, sizeof(*o));
	o->view.ip4 = o->ip4;
	o->view.ip6 = o->ip6;
	if (getifaddrs(&ifs))
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET && o->view.n_ip4 < OWN_ADDRS_MAX)
			o->ip4[o->view.n_ip4++] = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6 && o->view.n_ip6 < OWN_ADDRS_MAX)
			o->ip6[o->view.n_ip6++] = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
	}
	freeifaddrs(ifs);
}

static void log_refused_gateway_addr(void *ctx, int family, const void *addr, const char *why)
{
	char text[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, text, sizeof(text));
	log_warn("gateway: ignoring advertised public address %s: %s (pin the gateway's "
	         "addresses with --gateway-public if it is right)",
	         text, why);
}

static void on_gateway_info(void *ctx, const struct wf_ctl_gateway_info *info)
{
	struct gateway *g = ctx;
	size_t n4 = info->n_ipv4 < WF_CTL_ADDRS_MAX ? info->n_ipv4 : WF_CTL_ADDRS_MAX;
	size_t n6 = info->n_ipv6 < WF_CTL_ADDRS_MAX ? info->n_ipv6 : WF_CTL_ADDRS_MAX;

	g->gw.info = *info;
	g->gw.have_info = true;
	/* Configured addresses win (wf_agent_gateway_planes); learnt ones serve the hairpin, but
	 * only those that can be a host on the internet. */
	if (!g->cfg.plane.n_public_ip4 && !g->cfg.plane.n_public_ip6) {
		struct own_addrs own;

		own_addrs_read(&own);
		wf_addrs_keep_global(info->ipv4, n4, info->ipv6, n6, &own.view, g->learnt_ip4,
		                     &g->n_learnt_ip4, g->learnt_ip6, &g->n_learnt_ip6,
		                     WF_GATEWAY_ADDRS_MAX, log_refused_gateway_addr, NULL);
	}
	log_info("gateway %s: %zu public IPv4, %zu public IPv6 address%s, tunnel MTU %u",
	         g->cfg.name, info->n_ipv4, info->n_ipv6, info->n_ipv6 == 1 ? "" : "es", info->mtu);
	schedule_apply(g->a, 0);
}

static void on_state_ack(void *ctx, const struct wf_ctl_state *state,
                         const struct wf_ctl_state_ack *ack)
{
	struct gateway *g = ctx;
	struct gateway_view *gw = &g->gw;

	free(gw->forwards);
	free(gw->results);
	free(gw->egress);
	free(gw->egress_results);
	gw->forwards = NULL;
	gw->results = NULL;
	gw->egress = NULL;
	gw->egress_results = NULL;
	gw->n = 0;
	gw->n_egress = 0;
	gw->egress_refused = 0;
	gw->applied = ack->applied;
	WF_COPY(gw->reason, ack->reason);
	if (!ack->applied) {
		log_warn("gateway %s did not apply generation %llu: %s", g->cfg.name,
		         (unsigned long long)ack->generation, ack->reason);
		return;
	}
	gw->forwards = malloc((state->n_forwards + 1) * sizeof(*gw->forwards));
	gw->results = malloc((state->n_forwards + 1) * sizeof(*gw->results));
	if (!gw->forwards || !gw->results)
		return;
	for (size_t i = 0; i < state->n_forwards && i < ack->n_forwards; i++) {
		gw->forwards[i] = state->forwards[i];
		gw->results[i] = ack->forwards[i];
		if (!ack->forwards[i].accepted)
			log_warn("gateway %s refused %s/%u (%s): %s", g->cfg.name,
			         wf_proto_name(state->forwards[i].proto),
			         state->forwards[i].public_port,
			         state->forwards[i].family == AF_INET6 ? "IPv6" : "IPv4",
			         ack->forwards[i].reason);
		gw->n++;
	}
	gw->egress = malloc((state->n_egress + 1) * sizeof(*gw->egress));
	gw->egress_results = malloc((state->n_egress + 1) * sizeof(*gw->egress_results));
	if (!gw->egress || !gw->egress_results)
		return;
	for (size_t i = 0; i < state->n_egress && i < ack->n_egress; i++) {
		gw->egress[i] = state->egress[i];
		gw->egress_results[i] = ack->egress[i];
		gw->n_egress++;
		if (ack->egress[i].accepted)
			continue;
		gw->egress_refused++;
		log_warn("gateway %s refused egress %s %u-%u: %s", g->cfg.name,
		         state->egress[i].proto ? wf_proto_name(state->egress[i].proto) : "all",
		         state->egress[i].port_lo, state->egress[i].port_hi, ack->egress[i].reason);
	}
	log_info("gateway %s applied generation %llu", g->cfg.name,
	         (unsigned long long)ack->generation);
}

static void check_health(evutil_socket_t fd, short what, void *arg)
{
	struct wf_agent *a = arg;
	double now = now_ms();
	time_t wall = time(NULL);
	bool changed = false;
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];
	int egress;

	for (size_t i = 0; i < a->n_gws; i++) {
		struct gateway *g = &a->gws[i];
		bool up = wf_gateway_link_up(g->link), down;
		int64_t hs = 0;

		g->seen.link_up = up;
		if (up)
			g->seen.last_up_ms = now;
		if (wf_wg_last_handshake(g->cfg.plane.ifname, &hs) == 0)
			g->seen.handshake = hs;
		down = wf_gateway_is_down(&g->seen, now, wall, a->cfg.failover_after_ms);
		if (down == g->down)
			continue;
		g->down = down;
		changed = true;
		if (down)
			log_warn("gateway %s: down (%s)", g->cfg.name,
			         !up ? "control channel down"
			             : "no WireGuard handshake for minutes");
		else
			log_info("gateway %s: up again", g->cfg.name);
	}
	if (!changed)
		return;
	wf_agent_gateway_planes(a, planes);
	egress = wf_server_egress_gateway(planes, a->n_gws, "");
	if (egress != a->egress_gw) {
		a->egress_switches++;
		log_info("egress: now through gateway %s (was %s)",
		         egress >= 0 ? a->gws[egress].cfg.name : "none",
		         a->egress_gw >= 0 ? a->gws[a->egress_gw].cfg.name : "none");
		a->egress_gw = egress;
	}
	schedule_apply(a, 0);
}

static const struct wf_gateway_link_ops link_ops = {
    .connection = on_gateway_connection,
    .gateway_info = on_gateway_info,
    .state_ack = on_state_ack,
};

/* Status. */

static struct json_object *status_cb(void *ctx)
{
	return wf_agent_status(ctx);
}

static int gateway_start(struct wf_agent *a, struct gateway *g, const struct wf_agent_gateway *cfg)
{
	struct wf_gateway_link_config lc = {
	    .gateway = cfg->address,
	    .port = cfg->port,
	    .dead_after_ms = wf_gateway_dead_after_ms(a->cfg.failover_after_ms),
	    .ping_interval_ms = wf_gateway_ping_interval_ms(a->cfg.failover_after_ms)};
	const struct wf_server_gateway *p = &cfg->plane;
	char ferr[1024];
	char local[INET6_ADDRSTRLEN];
	int err;

	g->a = a;
	g->cfg = *cfg;
	g->seen.last_up_ms = now_ms();
	/* One gateway has nothing to fail over to: its channel keeps the protocol's pace. */
	if (a->cfg.n_gateways == 1 && !a->cfg.failover_after_ms)
		lc.dead_after_ms = lc.ping_interval_ms = 0;
	err = wf_keyfile_read(cfg->key_file, lc.key, ferr, sizeof(ferr));
	if (err < 0) {
		log_error("%s", ferr);
		return err;
	}
	if (err == WF_KEYFILE_LEGACY)
		log_warn("%s", ferr);
	if (p->has_tunnel_ip4 && strchr(cfg->address, '.')) {
		inet_ntop(AF_INET, &p->tunnel_ip4, local, sizeof(local));
		lc.local = local;
	} else if (p->has_tunnel_ip6 && strchr(cfg->address, ':')) {
		inet_ntop(AF_INET6, &p->tunnel_ip6, local, sizeof(local));
		lc.local = local;
	}
	err = wf_gateway_link_new(&g->link, a->base, &lc, &link_ops, g);
	sodium_memzero(lc.key, sizeof(lc.key));
	if (err)
		log_error("gateway %s: %s", cfg->address, strerror(-err));
	return err;
}

static void gateway_free(struct gateway *g)
{
	wf_gateway_link_free(g->link);
	free(g->gw.forwards);
	free(g->gw.results);
	free(g->gw.egress);
	free(g->gw.egress_results);
}

int wf_agent_new(struct wf_agent **out, struct event_base *base, const struct wf_agent_config *cfg)
{
	struct wf_agent *a = calloc(1, sizeof(*a));
	struct timeval interval;
	int err;

	if (!a)
		return -ENOMEM;
	a->base = base;
	a->cfg = *cfg;
	a->params = cfg->params;
	wf_histogram_init(&a->apply_seconds, apply_seconds_bounds,
	                  WF_ARRAY_SIZE(apply_seconds_bounds));
	interval.tv_sec = (cfg->reconcile_interval_ms ? cfg->reconcile_interval_ms : 30000) / 1000;
	interval.tv_usec = (cfg->reconcile_interval_ms % 1000) * 1000;

	a->sysctls_ok = check_sysctls(a, false);
	err = wf_dataplane_open(&a->dp);
	if (err) {
		log_error("cannot open netlink: %s", strerror(-err));
		goto fail;
	}
	err = wf_ct_flush_new(&a->ct_flush);
	if (err)
		log_warn("no conntrack access (%s): flows of a changed forward keep their old path "
		         "until they go idle",
		         strerror(-err));
	a->apply_ev = evtimer_new(base, apply_now, a);
	a->reconcile_ev = event_new(base, -1, EV_PERSIST, on_reconcile, a);
	a->ct_flush_ev = evtimer_new(base, flush_stale_flows, a);
	if (!a->apply_ev || !a->reconcile_ev || !a->ct_flush_ev) {
		err = -ENOMEM;
		goto fail;
	}
	event_add(a->reconcile_ev, &interval);
	err = wf_nlwatch_new(&a->watch, base, on_kernel_change, a);
	if (err)
		log_warn("no kernel change notifications (%s): drift is repaired only every %u ms",
		         strerror(-err), cfg->reconcile_interval_ms);
	else
		watch_nft_tables(a->watch);
	a->egress_gw = cfg->n_gateways ? 0 : -1;
	for (size_t i = 0; i < cfg->n_gateways && i < WF_GATEWAYS_MAX; i++) {
		err = gateway_start(a, &a->gws[i], &cfg->gateways[i]);
		if (err)
			goto fail;
		a->n_gws++;
	}
	/* One gateway has nothing to fail over to. */
	if (a->n_gws > 1) {
		struct timeval tick = {0, 250000};

		a->health_ev = event_new(base, -1, EV_PERSIST, check_health, a);
		if (!a->health_ev) {
			err = -ENOMEM;
			goto fail;
		}
		event_add(a->health_ev, &tick);
	}
	if (cfg->status_socket) {
		err =
		    wf_status_socket_open(base, cfg->status_socket, 0660, status_cb, a, &a->status);
		if (err) {
			log_error("status socket %s: %s", cfg->status_socket, strerror(-err));
			goto fail;
		}
	}
	err = wf_docker_new(&a->docker, base, cfg->docker_host, &docker_ops, a);
	if (err) {
		log_error("docker: %s", strerror(-err));
		goto fail;
	}
	*out = a;
	return 0;
fail:
	wf_agent_free(a);
	return err;
}

void wf_agent_free(struct wf_agent *a)
{
	if (!a)
		return;
	wf_docker_free(a->docker);
	for (size_t i = 0; i < a->n_gws; i++)
		gateway_free(&a->gws[i]);
	if (a->health_ev)
		event_free(a->health_ev);
	wf_status_socket_close(a->status);
	wf_nlwatch_free(a->watch);
	if (a->apply_ev)
		event_free(a->apply_ev);
	if (a->reconcile_ev)
		event_free(a->reconcile_ev);
	if (a->ct_flush_ev) {
		/* A search still due runs before the agent goes. */
		if (evtimer_pending(a->ct_flush_ev, NULL))
			flush_stale_flows(-1, 0, a);
		event_free(a->ct_flush_ev);
	}
	wf_dataplane_close(a->dp);
	wf_ct_flush_free(a->ct_flush);
	drop_containers(a);
	free(a->containers);
	if (a->have_desired)
		wf_desired_free(&a->desired);
	free(a);
}
