/* The agent's side of its gateways: what each one is sent (its part of the desired state),
 * what each one answers (public addresses, acknowledgements), and whether each one is down.
 *
 *   desired state --wf_agent_push_gateway_state--> each gateway's link
 *   link callbacks --> gateway view (status), learnt addresses --> the next apply */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wgfwd/keyfile.h>
#include <wgfwd/log.h>
#include <wgfwd/util.h>

#include "addr_scope.h"
#include "daemon_internal.h"
#include "link_changes.h"
#include "wg_handshake.h"

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

/* Hands gateway g its whole part of the desired state. -ENOMEM when even that part cannot be
 * made (the caller stops: the next apply pushes again). */
static int push_whole_state(const struct wf_agent *a, struct gateway *g)
{
	struct wf_ctl_state s;

	if (gateway_state_from(g, &a->desired, &s))
		return -ENOMEM;
	if (wf_gateway_link_set_state(g->link, &s))
		log_error("gateway %s: out of memory queueing the state", g->cfg.name);
	free(s.forwards);
	free(s.egress);
	return 0;
}

/* Every gateway gets its own part: what the labels let it carry. A refusal by one of them
 * changes nothing on the others. */
void wf_agent_push_gateway_state(struct wf_agent *a)
{
	for (size_t i = 0; i < a->n_gws; i++)
		if (push_whole_state(a, &a->gws[i]))
			return;
}

/* A gateway's entries for a few forwards (as gateway_state_from makes them), appended. */
static int gateway_forwards_from(const struct gateway *g, const struct wf_forward *f, size_t n,
                                 struct wf_ctl_forward **out, size_t *n_out)
{
	*out = calloc(2 * n + 1, sizeof(**out));
	*n_out = 0;
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool v4 = f[i].to_host ? g->cfg.plane.has_tunnel_ip4 : f[i].has_ip4;
		bool v6 = f[i].to_host ? g->cfg.plane.has_tunnel_ip6 : f[i].has_ip6;

		if (!wf_gateways_allow(f[i].gateways, g->cfg.name))
			continue;
		for (int v = 0; v <= 1; v++)
			if (v ? v6 : v4)
				(*out)[(*n_out)++] =
				    (struct wf_ctl_forward){.proto = f[i].proto,
				                            .family = v ? AF_INET6 : AF_INET,
				                            .public_port = f[i].public_port,
				                            .target_port = f[i].public_port};
	}
	return 0;
}

/* Entries both deleted and added again (a forward that moved to another container address:
 * the gateway sends it to this server all the same) are no change for the gateway. */
static void cancel_same(struct wf_ctl_forward *del, size_t *n_del, struct wf_ctl_forward *add,
                        size_t *n_add)
{
	for (size_t i = 0; i < *n_del; i++)
		for (size_t k = 0; k < *n_add; k++)
			if (!memcmp(&del[i], &add[k], sizeof(del[i]))) {
				del[i--] = del[--*n_del];
				add[k] = add[--*n_add];
				break;
			}
}

static int push_gateway_diff(struct gateway *g, const struct wf_desired_diff *diff)
{
	struct wf_ctl_forward *del = NULL, *add = NULL;
	size_t n_del, n_add;
	int err;

	err = gateway_forwards_from(g, diff->forwards_removed, diff->n_forwards_removed, &del,
	                            &n_del);
	if (!err)
		err = gateway_forwards_from(g, diff->forwards_added, diff->n_forwards_added, &add,
		                            &n_add);
	if (!err) {
		cancel_same(del, &n_del, add, &n_add);
		err = wf_gateway_link_change_forwards(g->link, del, n_del, add, n_add);
	}
	free(del);
	free(add);
	return err;
}

void wf_agent_push_gateway_diff(struct wf_agent *a, const struct wf_desired_diff *diff)
{
	/* Egress entries are kept once for every container that asks: the whole list tells. */
	if (diff->n_egress_added || diff->n_egress_removed) {
		wf_agent_push_gateway_state(a);
		return;
	}
	for (size_t i = 0; i < a->n_gws; i++)
		if (push_gateway_diff(&a->gws[i], diff) && push_whole_state(a, &a->gws[i]))
			return;
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

/* Gateway link callbacks. */

static void on_gateway_connection(void *ctx, bool up)
{
	struct gateway *g = ctx;

	if (!up)
		g->reconnects++;
	g->acked_since_up = false;
	g->seen.last_up_ms = wf_agent_now_ms();
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
	wf_agent_schedule_apply(g->a, 0);
}

static int ctl_forward_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_forward *a = pa, *b = pb;

	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->public_port != b->public_port)
		return a->public_port < b->public_port ? -1 : 1;
	return (a->family > b->family) - (a->family < b->family);
}

bool wf_gateway_view_find(const struct gateway_view *gw, uint8_t proto, uint16_t port, int family,
                          size_t *i)
{
	struct wf_ctl_forward key = {
	    .proto = proto, .family = (uint8_t)family, .public_port = port};

	if (!gw->wire_sorted && !gw->sorted) {
		for (*i = 0; *i < gw->n; (*i)++)
			if (!ctl_forward_cmp(&gw->forwards[*i], &key))
				return true;
		return false;
	}
	*i = gw->wire_sorted ? link_forward_at(gw->forwards, 0, gw->n, &key)
	                     : wf_lower_bound(gw->forwards, gw->n, sizeof(*gw->forwards), &key,
	                                      ctl_forward_cmp);
	return *i < gw->n && !ctl_forward_cmp(&gw->forwards[*i], &key);
}

static int refusal_index_cmp(const void *element, const void *key)
{
	size_t a = ((const struct gateway_refusal *)element)->index, b = *(const size_t *)key;

	return (a > b) - (a < b);
}

const char *wf_gateway_view_refusal(const struct gateway_view *gw, size_t i)
{
	size_t at =
	    wf_lower_bound(gw->refused, gw->n_refused, sizeof(*gw->refused), &i, refusal_index_cmp);

	return at < gw->n_refused && gw->refused[at].index == i ? gw->refused[at].reason : NULL;
}

static void gateway_view_clear(struct gateway_view *gw)
{
	free(gw->forwards);
	free(gw->refused);
	free(gw->egress);
	free(gw->egress_results);
	gw->forwards = NULL;
	gw->refused = NULL;
	gw->egress = NULL;
	gw->egress_results = NULL;
	gw->n = gw->n_refused = gw->n_egress = 0;
	gw->egress_refused = 0;
	gw->sorted = true;
	gw->wire_sorted = false;
}

/* Refusals are named one by one up to this many; beyond, counted. */
#define LOG_EACH_REFUSAL_MAX 16

static void on_state_ack(void *ctx, const struct wf_ctl_state *state,
                         const struct wf_ctl_state_ack *ack,
                         const struct wf_gateway_link_results *r)
{
	struct gateway *g = ctx;
	struct gateway_view *gw = &g->gw;
	size_t n = state->n_forwards;
	size_t n_refused = 0;

	gateway_view_clear(gw);
	gw->applied = ack->applied;
	WF_COPY(gw->reason, ack->reason);
	if (!ack->applied || !r) {
		log_warn("gateway %s did not apply generation %llu: %s", g->cfg.name,
		         (unsigned long long)ack->generation, ack->reason);
		return;
	}
	for (size_t i = 0; i < n; i++)
		n_refused += r->fw[i] != 0;
	gw->forwards = malloc((n + 1) * sizeof(*gw->forwards));
	gw->refused = malloc((n_refused + 1) * sizeof(*gw->refused));
	if (!gw->forwards || !gw->refused)
		return;
	/* the link keeps its states in the wire's order: copied whole, looked up in it */
	memcpy(gw->forwards, state->forwards, n * sizeof(*gw->forwards));
	gw->n = n;
	gw->sorted = false;
	gw->wire_sorted = true;
	for (size_t i = 0; i < n && gw->n_refused < n_refused; i++) {
		if (!r->fw[i])
			continue;
		gw->refused[gw->n_refused].index = i;
		WF_COPY(gw->refused[gw->n_refused].reason, r->reasons[r->fw[i] - 1]);
		if (++gw->n_refused <= LOG_EACH_REFUSAL_MAX)
			log_warn("gateway %s refused %s/%u (%s): %s", g->cfg.name,
			         wf_proto_name(state->forwards[i].proto),
			         state->forwards[i].public_port,
			         state->forwards[i].family == AF_INET6 ? "IPv6" : "IPv4",
			         r->reasons[r->fw[i] - 1]);
	}
	if (n_refused > LOG_EACH_REFUSAL_MAX)
		log_warn("gateway %s refused %zu more forwards (wgfwd status names them)",
		         g->cfg.name, n_refused - LOG_EACH_REFUSAL_MAX);
	gw->egress = malloc((state->n_egress + 1) * sizeof(*gw->egress));
	gw->egress_results = malloc((state->n_egress + 1) * sizeof(*gw->egress_results));
	if (!gw->egress || !gw->egress_results)
		return;
	for (size_t i = 0; i < state->n_egress; i++) {
		struct wf_ctl_result *res = &gw->egress_results[i];

		gw->egress[i] = state->egress[i];
		res->accepted = !r->eg[i];
		res->reason[0] = '\0';
		if (r->eg[i])
			WF_COPY(res->reason, r->reasons[r->eg[i] - 1]);
		gw->n_egress++;
		if (res->accepted)
			continue;
		gw->egress_refused++;
		log_warn("gateway %s refused egress %s %u-%u: %s", g->cfg.name,
		         state->egress[i].proto ? wf_proto_name(state->egress[i].proto) : "all",
		         state->egress[i].port_lo, state->egress[i].port_hi, res->reason);
	}
	/* Each change's own line says it applied here; the gateway's answer is news when it is
	 * the first on a connection, or refuses something (said above). */
	wf_log(g->acked_since_up && !n_refused && !gw->egress_refused ? WF_LOG_DEBUG : WF_LOG_INFO,
	       "gateway %s applied generation %llu", g->cfg.name,
	       (unsigned long long)ack->generation);
	g->acked_since_up = true;
	if (g->trim_after_ack) {
		g->trim_after_ack = false;
		malloc_trim(0);
	}
}

void wf_agent_check_health(evutil_socket_t fd, short what, void *arg)
{
	struct wf_agent *a = arg;
	double now = wf_agent_now_ms();
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
	wf_agent_schedule_apply(a, 0);
}

static const struct wf_gateway_link_ops link_ops = {
    .connection = on_gateway_connection,
    .gateway_info = on_gateway_info,
    .state_results = on_state_ack,
};

int wf_agent_gateway_start(struct wf_agent *a, struct gateway *g,
                           const struct wf_agent_gateway *cfg)
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
	g->seen.last_up_ms = wf_agent_now_ms();
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

void wf_agent_gateway_free(struct gateway *g)
{
	wf_gateway_link_free(g->link);
	gateway_view_clear(&g->gw);
}
