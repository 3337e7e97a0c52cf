/* wgfwd-agent: runs on the home server; see README "wgfwd-agent". */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/daemon_main.h>
#include <wgfwd/log.h>
#include <wgfwd/names.h>
#include <wgfwd/metrics_http.h>
#include <wgfwd/options.h>
#include <wgfwd/util.h>

#include "apply.h"
#include "daemon.h"
#include "docker.h"
#include "gateway_spec.h"
#include "plan_print.h"
#include "render.h"
#include "state.h"

#define DEFAULT_STATUS_SOCKET WF_AGENT_STATUS_SOCKET

static struct {
	char *config, *interface, *docker_host, *gateway, *key, *status_socket, *log_level;
	char *metrics, *bridge_accept_fwmark;
	uint32_t gateway_port, table, fwmark, hairpin_mark, rule_priority, reconcile_ms;
	uint32_t failover_ms;
	struct wf_strlist gateway_public, tunnel_address, gateway_link;
	bool no_docker_user, no_fix_sysctls, dry_run, json, cleanup, log_json, check_config;
	bool metrics_allow_remote;
} opt = {
    .gateway_port = 51821,
    .table = WF_DEFAULT_TABLE,
    .fwmark = WF_DEFAULT_FWMARK,
    .hairpin_mark = WF_DEFAULT_HAIRPIN_MARK,
    .rule_priority = WF_DEFAULT_RULE_PRIO,
    .reconcile_ms = 30000,
};

static const struct wf_opt options[] = {
    {"config", WF_OPT_STRING, &opt.config, "FILE", "read options from FILE (key = value lines)"},
    {"interface", WF_OPT_STRING, &opt.interface, "IFNAME", "WireGuard interface (default wg0)"},
    {"docker-host", WF_OPT_STRING, &opt.docker_host, "URL",
     "Docker socket (default $DOCKER_HOST, else unix:///var/run/docker.sock)"},
    {"gateway", WF_OPT_STRING, &opt.gateway, "ADDR",
     "gateway's tunnel address for the control channel (none: data plane only)"},
    {"gateway-port", WF_OPT_PORT, &opt.gateway_port, "PORT", "control channel port (51821)"},
    {"key", WF_OPT_STRING, &opt.key, "FILE", "shared key file made by `wgfwd genkey'"},
    {"gateway-link", WF_OPT_LIST_SPACED, &opt.gateway_link, "NAME,IFNAME,ADDR[:PORT][,KEYFILE]",
     "one of several gateways, repeated in egress's order of preference (instead of "
     "--gateway and --interface; KEYFILE defaults to --key, PORT to --gateway-port)"},
    {"failover-after", WF_OPT_MSEC, &opt.failover_ms, "DURATION",
     "with several gateways: egress leaves one whose control channel is silent or down this "
     "long (default 15s)"},
    {"tunnel-address", WF_OPT_LIST, &opt.tunnel_address, "ADDR",
     "this server's tunnel address (repeat for IPv6; default: read from the interface)"},
    {"gateway-public", WF_OPT_LIST, &opt.gateway_public, "ADDR",
     "gateway public address for NAT loopback (repeat; default: learnt from the gateway)"},
    {"table", WF_OPT_UINT, &opt.table, "N", "routing table for the tunnel (51820)"},
    {"fwmark", WF_OPT_UINT, &opt.fwmark, "MARK", "mark of tunnel flows (0x77660001)"},
    {"hairpin-mark", WF_OPT_UINT, &opt.hairpin_mark, "MARK",
     "conntrack mark of NAT loopback flows (0x77660002)"},
    {"rule-priority", WF_OPT_UINT, &opt.rule_priority, "N",
     "first priority of the agent's ip rules (10000)"},
    {"bridge-accept-fwmark", WF_OPT_STRING, &opt.bridge_accept_fwmark, "MARK[/MASK]",
     "the same value as dockerd's bridge-accept-fwmark: tunnel flows carry it through "
     "Docker's nftables rules (default: none)"},
    {"no-docker-user", WF_OPT_FLAG, &opt.no_docker_user, NULL,
     "do not add the accept rules to Docker's DOCKER-USER chain"},
    {"no-fix-sysctls", WF_OPT_FLAG, &opt.no_fix_sysctls, NULL,
     "report wrong forwarding/rp_filter settings instead of fixing them"},
    {"reconcile-interval", WF_OPT_MSEC, &opt.reconcile_ms, "DURATION",
     "compare the kernel with the desired state at least this often: 30s, 500ms, 2m "
     "(default 30s; a bare number is milliseconds, deprecated)"},
    {"status-socket", WF_OPT_STRING, &opt.status_socket, "PATH",
     "status socket for `wgfwd status' (" DEFAULT_STATUS_SOCKET ")"},
    {"metrics", WF_OPT_STRING, &opt.metrics, "ADDR:PORT",
     "serve Prometheus metrics at http://ADDR:PORT/metrics (default: off)"},
    {"metrics-allow-remote", WF_OPT_FLAG, &opt.metrics_allow_remote, NULL,
     "let --metrics listen on an address other than loopback"},
    {"dry-run", WF_OPT_FLAG, &opt.dry_run, NULL,
     "read Docker once, print the desired state and rules, apply nothing"},
    {"json", WF_OPT_FLAG, &opt.json, NULL, "with --dry-run: print JSON"},
    {"cleanup", WF_OPT_FLAG, &opt.cleanup, NULL,
     "remove everything the agent owns (table, rules, routes) and exit"},
    {"check-config", WF_OPT_FLAG, &opt.check_config, NULL,
     "check the options (command line, environment, config file) and exit: 0 when valid"},
    {"log-level", WF_OPT_STRING, &opt.log_level, "LEVEL", "debug, info, warn or error (info)"},
    {"log-json", WF_OPT_FLAG, &opt.log_json, NULL, "log one JSON object per line"},
    {0},
};

static int parse_addresses(struct wf_server_params *p)
{
	long bad = wf_addr_list_parse(&opt.gateway_public, p->gateway_ip4, &p->n_gateway_ip4,
	                              p->gateway_ip6, &p->n_gateway_ip6, WF_GATEWAY_ADDRS_MAX);

	if (bad >= 0) {
		log_error("--gateway-public: not an address: `%s'", opt.gateway_public.v[bad]);
		return -EINVAL;
	}
	for (size_t i = 0; i < opt.tunnel_address.n; i++) {
		const char *s = opt.tunnel_address.v[i];

		if (inet_pton(AF_INET, s, &p->tunnel_ip4) == 1)
			p->has_tunnel_ip4 = true;
		else if (inet_pton(AF_INET6, s, &p->tunnel_ip6) == 1)
			p->has_tunnel_ip6 = true;
		else {
			log_error("--tunnel-address: not an address: `%s'", s);
			return -EINVAL;
		}
	}
	return 0;
}

/* A tunnel's own addresses, when not configured: the first global ones on the interface. */
static void read_interface_addresses(const char *ifname, bool *has4, struct in_addr *ip4,
                                     bool *has6, struct in6_addr *ip6)
{
	struct ifaddrs *ifs, *i;

	if (*has4 || *has6 || getifaddrs(&ifs))
		return;
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, ifname))
			continue;
		if (i->ifa_addr->sa_family == AF_INET && !*has4) {
			*ip4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			*has4 = true;
		} else if (i->ifa_addr->sa_family == AF_INET6 && !*has6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a))
				continue;
			*ip6 = *a;
			*has6 = true;
		}
	}
	freeifaddrs(ifs);
}

static void read_tunnel_addresses(struct wf_server_params *p)
{
	read_interface_addresses(p->tunnel_ifname, &p->has_tunnel_ip4, &p->tunnel_ip4,
	                         &p->has_tunnel_ip6, &p->tunnel_ip6);
}

static struct wf_gateway_spec specs[WF_GATEWAYS_MAX];

/* --gateway-link, each in its own interface, table and mark; the first one's are the
 * parameters' (so --table and --fwmark keep their meaning). */
static int parse_gateway_links(struct wf_server_params *p, struct wf_agent_config *cfg)
{
	char err[512];

	if (opt.gateway_link.n > WF_GATEWAYS_MAX) {
		log_error("--gateway-link: at most %d gateways", WF_GATEWAYS_MAX);
		return -EINVAL;
	}
	if (opt.gateway || opt.interface || opt.gateway_public.n || opt.tunnel_address.n) {
		log_error("--gateway-link names each gateway's interface and address, and each "
		          "gateway tells its public addresses: drop --gateway, --interface, "
		          "--gateway-public and --tunnel-address");
		return -EINVAL;
	}
	for (size_t i = 0; i < opt.gateway_link.n; i++) {
		struct wf_gateway_spec *s = &specs[i];
		struct wf_agent_gateway *g = &cfg->gateways[i];
		struct wf_server_gateway *pl = &g->plane;

		if (wf_gateway_spec_parse(opt.gateway_link.v[i], s, err, sizeof(err))) {
			log_error("--gateway-link: %s", err);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(specs[k].name, s->name) ||
			    !strcmp(specs[k].ifname, s->ifname)) {
				log_error(
				    "--gateway-link: `%s' and `%s' share a name or an interface",
				    opt.gateway_link.v[k], opt.gateway_link.v[i]);
				return -EINVAL;
			}
		if (!s->key_file[0] && !opt.key) {
			log_error("--gateway-link: `%s' names no key file and there is no --key",
			          opt.gateway_link.v[i]);
			return -EINVAL;
		}
		WF_COPY(g->name, s->name);
		g->address = s->address;
		g->port = s->port ? s->port : (uint16_t)opt.gateway_port;
		g->key_file = s->key_file[0] ? s->key_file : opt.key;
		WF_COPY(pl->name, s->name);
		WF_COPY(pl->ifname, s->ifname);
		pl->table = p->table + (uint32_t)i;
		pl->fwmark = p->fwmark + (uint32_t)i * WF_GATEWAY_MARK_STEP;
		if (i && (pl->fwmark == p->hairpin_mark ||
		          (p->has_accept_mark && pl->fwmark == p->accept_mark))) {
			log_error(
			    "--gateway-link: gateway %s's mark 0x%08x (--fwmark + 0x%x for each "
			    "gateway before it) is taken: pick another --fwmark",
			    s->name, pl->fwmark, WF_GATEWAY_MARK_STEP);
			return -EINVAL;
		}
		if (inet_pton(AF_INET, s->address, &pl->peer_ip4) == 1)
			pl->has_peer_ip4 = true;
		else if (inet_pton(AF_INET6, s->address, &pl->peer_ip6) == 1)
			pl->has_peer_ip6 = true;
		read_interface_addresses(pl->ifname, &pl->has_tunnel_ip4, &pl->tunnel_ip4,
		                         &pl->has_tunnel_ip6, &pl->tunnel_ip6);
	}
	cfg->n_gateways = opt.gateway_link.n;
	/* The first gateway's interface carries host forwards and the sysctl checks' name. */
	WF_COPY(p->tunnel_ifname, specs[0].ifname);
	read_tunnel_addresses(p);
	return 0;
}

struct dry_run {
	struct event_base *base;
	const struct wf_server_params *params;
	const struct wf_agent_config *cfg; /* its gateways, when there are several */
	int result;
};

static void dry_run_synced(void *ctx, const struct wf_container *list, size_t n)
{
	struct dry_run *dr = ctx;
	struct wf_desired d;
	struct wf_server_plan plan;

	dr->result = wf_desired_build(list, n, &d);
	if (dr->result)
		goto out;
	if (dr->cfg->n_gateways > 1) {
		struct wf_server_gateway planes[WF_GATEWAYS_MAX];

		for (size_t i = 0; i < dr->cfg->n_gateways; i++)
			planes[i] = dr->cfg->gateways[i].plane;
		dr->result =
		    wf_server_render_gateways(dr->params, planes, dr->cfg->n_gateways, &d, &plan);
	} else {
		dr->result = wf_server_render(dr->params, &d, &plan);
	}
	if (dr->result) {
		wf_desired_free(&d);
		goto out;
	}
	if (opt.json) {
		struct json_object *doc = json_object_new_object();

		json_object_object_add(doc, "desired", wf_desired_to_json(&d));
		json_object_object_add(doc, "server", wf_server_plan_to_json(&plan));
		printf("%s\n", json_object_to_json_string_ext(
		                   doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	} else {
		wf_desired_print(stdout, &d);
		printf("\nWould apply:\n");
		dr->result = wf_server_plan_print(stdout, &plan);
	}
	wf_server_plan_free(&plan);
	wf_desired_free(&d);
out:
	event_base_loopbreak(dr->base);
}

static void dry_run_connection(void *ctx, bool up)
{
	if (!up)
		log_warn("docker: not reachable yet; retrying");
}

static void dry_run_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dry_run *dr = arg;

	log_error("docker did not answer within 10 s");
	dr->result = -ETIMEDOUT;
	event_base_loopbreak(dr->base);
}

static int run_dry(struct event_base *base, const struct wf_server_params *params,
                   const struct wf_agent_config *cfg)
{
	static const struct wf_docker_ops ops = {.connection = dry_run_connection,
	                                         .synced = dry_run_synced};
	struct dry_run dr = {.base = base, .params = params, .cfg = cfg, .result = -EINTR};
	struct timeval limit = {10, 0};
	struct event *timer = evtimer_new(base, dry_run_timeout, &dr);
	struct wf_docker *docker;
	int err = wf_docker_new(&docker, base, opt.docker_host, &ops, &dr);

	if (err) {
		log_error("docker: %s", strerror(-err));
		event_free(timer);
		return err;
	}
	evtimer_add(timer, &limit);
	event_base_dispatch(base);
	wf_docker_free(docker);
	event_free(timer);
	return dr.result;
}

static int collect_metrics(void *ctx, struct wf_metrics *m)
{
	return wf_agent_metrics(ctx, m);
}

/* SIGHUP does not reload the configuration (restart for that: the options shape the
 * objects every module holds); it makes the agent check its settings and the kernel now,
 * the way `systemctl reload` is commonly understood, instead of killing it. */
static void on_sighup(void *agent)
{
	wf_agent_reconcile(agent);
}

int main(int argc, char **argv)
{
	struct wf_server_params params;
	struct wf_agent_config cfg = {0};
	struct event_base *base = NULL;
	struct wf_agent *agent = NULL;
	struct wf_metrics_server *metrics = NULL;
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_len = 0;
	char err[512];
	int ret;

	ret = wf_daemon_opts(options, "wgfwd-agent", "[options]", argc, argv, &opt.log_level,
	                     &opt.log_json);
	if (ret) {
		wf_opts_free(options);
		return ret == 1 ? 0 : 2;
	}
	if (opt.metrics && wf_metrics_listen_parse(opt.metrics, opt.metrics_allow_remote,
	                                           &metrics_addr, &metrics_len, err, sizeof(err))) {
		fprintf(stderr, "wgfwd-agent: %s\n", err);
		wf_opts_free(options);
		return 2;
	}

	wf_server_params_default(&params);
	if (opt.interface)
		WF_COPY(params.tunnel_ifname, opt.interface);
	params.table = opt.table;
	params.fwmark = opt.fwmark;
	params.hairpin_mark = opt.hairpin_mark;
	params.rule_priority = opt.rule_priority;
	params.docker_user = !opt.no_docker_user;
	if (opt.bridge_accept_fwmark) {
		if (wf_server_parse_accept_mark(opt.bridge_accept_fwmark, &params,
		                                &params.accept_mark, &params.accept_mask, err,
		                                sizeof(err))) {
			log_error("--bridge-accept-fwmark: %s", err);
			ret = 2;
			goto out;
		}
		params.has_accept_mark = true;
	}
	if (parse_addresses(&params)) {
		ret = 2;
		goto out;
	}
	if (opt.gateway_link.n && parse_gateway_links(&params, &cfg)) {
		ret = 2;
		goto out;
	}
	read_tunnel_addresses(&params);
	if (opt.gateway) {
		if (inet_pton(AF_INET, opt.gateway, &params.gateway_tunnel_ip4) == 1)
			params.has_gateway_tunnel_ip4 = true;
		else if (inet_pton(AF_INET6, opt.gateway, &params.gateway_tunnel_ip6) == 1)
			params.has_gateway_tunnel_ip6 = true;
		else {
			log_error("--gateway: not an address: `%s'", opt.gateway);
			ret = 2;
			goto out;
		}
	}
	if (opt.gateway && !opt.key) {
		log_error("--gateway needs --key (the file `wgfwd genkey' made)");
		ret = 2;
		goto out;
	}

	if (opt.check_config) {
		printf("wgfwd-agent: configuration ok\n");
		ret = 0;
		goto out;
	}
	base = event_base_new();
	if (!base) {
		log_error("cannot create the event loop");
		ret = 1;
		goto out;
	}
	if (opt.dry_run) {
		ret = run_dry(base, &params, &cfg) ? 1 : 0;
		goto out;
	}
	if (opt.cleanup) {
		struct wf_dataplane *dp;

		ret = wf_dataplane_open(&dp);
		if (!ret) {
			struct wf_server_gateway planes[WF_GATEWAYS_MAX];

			for (size_t i = 0; i < cfg.n_gateways; i++)
				planes[i] = cfg.gateways[i].plane;
			ret = cfg.n_gateways ? wf_dataplane_cleanup_gateways(dp, &params, planes,
			                                                     cfg.n_gateways)
			                     : wf_dataplane_cleanup(dp, &params);
			wf_dataplane_close(dp);
		}
		if (ret)
			log_error("cleanup: %s", strerror(-ret));
		else
			log_info("removed everything wgfwd-agent owned");
		ret = ret ? 1 : 0;
		goto out;
	}

	cfg.params = params;
	cfg.docker_host = opt.docker_host;
	cfg.status_socket = opt.status_socket ? opt.status_socket : DEFAULT_STATUS_SOCKET;
	cfg.reconcile_interval_ms = opt.reconcile_ms;
	cfg.failover_after_ms = opt.failover_ms;
	if (opt.gateway) {
		/* One gateway, as it always was: named by its address. */
		struct wf_agent_gateway *g = &cfg.gateways[0];

		WF_COPY(g->name, opt.gateway);
		g->address = opt.gateway;
		g->port = (uint16_t)opt.gateway_port;
		g->key_file = opt.key;
		wf_server_gateway_from_params(&params, &g->plane);
		WF_COPY(g->plane.name, opt.gateway);
		cfg.n_gateways = 1;
	}
	cfg.fix_sysctls = !opt.no_fix_sysctls;
	signal(SIGPIPE, SIG_IGN);
	if (wf_agent_new(&agent, base, &cfg)) {
		ret = 1;
		goto out;
	}
	if (opt.metrics) {
		ret = wf_metrics_server_open(base, &metrics_addr, metrics_len, collect_metrics,
		                             agent, &metrics);
		if (ret) {
			log_error("--metrics %s: %s", opt.metrics, strerror(-ret));
			ret = 1;
			goto out;
		}
		log_info("metrics at http://%s/metrics", wf_metrics_server_address(metrics));
	}
	if (cfg.n_gateways > 1)
		for (size_t i = 0; i < cfg.n_gateways; i++)
			log_info("gateway %s: interface %s, table %u, mark 0x%08x, control channel "
			         "%s port %u",
			         cfg.gateways[i].name, cfg.gateways[i].plane.ifname,
			         cfg.gateways[i].plane.table, cfg.gateways[i].plane.fwmark,
			         cfg.gateways[i].address, cfg.gateways[i].port);
	log_info("started: interface %s, table %u, gateway %s", params.tunnel_ifname, params.table,
	         cfg.n_gateways > 1 ? "several (above)"
	         : opt.gateway      ? opt.gateway
	                            : "none (data plane only)");
	ret = wf_daemon_run(base, "forwards stay in place (use --cleanup to remove them)",
	                    on_sighup, agent)
	          ? 1
	          : 0;
out:
	wf_metrics_server_close(metrics);
	wf_agent_free(agent);
	if (base)
		event_base_free(base);
	wf_opts_free(options);
	return ret;
}
