#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <json-c/json.h>
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
#include "wg_handshake.h"

/* Kernel notifications come in bursts (Docker adding a veth, our own commit): one look after
 * the burst is enough. */
#define DRIFT_SETTLE_MS 50

/* Applies take about a millisecond when one container changes; seconds mean trouble. */
static const double apply_seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,  0.1,    0.25,  1};

struct gateway_view {
	bool have_info;
	struct wf_ctl_gateway_info info;
	/* The last acknowledged state and its per-entry results, for status. */
	struct wf_ctl_forward *forwards;
	struct wf_ctl_result *results;
	size_t n;
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
	bool down; /* egress avoids it */
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
	struct event *ct_flush_ev; /* the search for stale conntrack entries, due after a burst */

	struct wf_container **containers;
	size_t n_containers, cap_containers;
	bool docker_up, synced;
	bool sysctls_ok; /* forwarding, rp_filter, accept_ra as the data plane needs them */
	bool accept_mark_advised; /* said once that Docker's nftables backend needs the mark */

	struct wf_desired desired;
	bool have_desired;

	uint64_t applies, apply_errors, docker_reconnects;
	uint64_t nft_changes[WF_NFT_REPLACED + 1]; /* successful applies, by enum wf_nft_change */
	struct wf_histogram apply_seconds;
	bool last_apply_ok;
	char last_error[1024];
	unsigned retry_ms; /* after a failed apply: doubles up to APPLY_RETRY_MAX_MS */
	double last_apply_ms;
	time_t last_apply_at;
	struct wf_apply_result last_result;
};

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
static void gateway_planes(const struct wf_agent *a, struct wf_server_gateway *out)
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

/* The conntrack search knows one set of gateway addresses: every gateway's. */
static void flush_params(const struct wf_agent *a, struct wf_server_params *p)
{
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];

	*p = a->params;
	if (!a->n_gws)
		return;
	gateway_planes(a, planes);
	p->n_gateway_ip4 = p->n_gateway_ip6 = 0;
	for (size_t i = 0; i < a->n_gws; i++) {
		for (size_t k = 0; k < planes[i].n_public_ip4; k++)
			if (p->n_gateway_ip4 < WF_GATEWAY_ADDRS_MAX)
				p->gateway_ip4[p->n_gateway_ip4++] = planes[i].public_ip4[k];
		for (size_t k = 0; k < planes[i].n_public_ip6; k++)
			if (p->n_gateway_ip6 < WF_GATEWAY_ADDRS_MAX)
				p->gateway_ip6[p->n_gateway_ip6++] = planes[i].public_ip6[k];
	}
}

/* Flows keep the path their conntrack entry took: once the kernel holds the new forwards, the
 * entries of the forwards that changed go, so their next packet takes the new path. The search
 * walks the kernel's whole conntrack hash (milliseconds even when it is empty), so it runs off
 * the convergence path: after the state has gone to the gateway, once for all the changes of a
 * burst. */
static void flush_stale_flows(evutil_socket_t fd, short what, void *arg)
{
	struct wf_agent *a = arg;
	struct wf_server_params p;
	size_t deleted = 0;
	int looked_for;

	flush_params(a, &p);
	looked_for = wf_ct_flush_run(a->ct_flush, &p, &deleted);
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
	struct wf_server_params p;
	int pending;

	if (!a->ct_flush)
		return;
	flush_params(a, &p);
	pending = wf_ct_flush_note(a->ct_flush, &p, d);
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

		gateway_planes(a, planes);
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
	/* Configured addresses win (gateway_planes); learnt ones serve the hairpin, but only
	 * those that can be a host on the internet. */
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
	gateway_planes(a, planes);
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

/* gw NULL: no gateway, the data plane alone. */
static const char *gateway_state_of(const struct gateway *gw, const struct wf_forward *f,
                                    int family, const char **reason)
{
	*reason = NULL;
	if (!gw)
		return "applied";
	if (!wf_gateways_allow(f->gateways, gw->cfg.name))
		return "not on this gateway (" WF_LABEL_GATEWAYS ")";
	for (size_t i = 0; i < gw->gw.n; i++) {
		const struct wf_ctl_forward *g = &gw->gw.forwards[i];

		if (g->proto != f->proto || g->public_port != f->public_port || g->family != family)
			continue;
		if (gw->gw.results[i].accepted)
			return "applied";
		*reason = gw->gw.results[i].reason;
		return "refused";
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

	gateway_planes(a, planes);
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
				gateway_planes(a, planes);
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

static struct json_object *status_cb(void *ctx)
{
	return wf_agent_status(ctx);
}

/* The first gateway's numbers, under the names a single gateway always had. */
static void gateway_metrics(const struct wf_agent *a, const struct gateway *g, struct wf_metrics *m)
{
	size_t refused = 0;

	for (size_t i = 0; i < g->gw.n; i++)
		refused += !g->gw.results[i].accepted;
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
