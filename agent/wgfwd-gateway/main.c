/* wgfwd-gateway: options, then the daemon (daemon.c) on an event loop that ends with SIGTERM or
 * SIGINT; SIGHUP repairs drift now. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wgfwd/daemon_main.h>
#include <wgfwd/log.h>
#include <wgfwd/metrics_http.h>
#include <wgfwd/options.h>
#include <wgfwd/util.h>

#include "daemon.h"
#include "grants.h"
#include "host.h"
#include "listeners.h"
#include "privileges.h"

#define PROGRAM "wgfwd-gateway"

static struct {
	char *config, *interface, *public_interface, *state_dir, *status_socket, *log_level, *user;
	char *metrics;
	struct wf_strlist listen, peers, peer_ports, peer_egress, reserved, public_addresses;
	uint32_t wireguard_port, max_entries, max_total_entries, reconcile_interval,
	    listener_interval;
	bool log_json, foreground, cleanup, dry_run, metrics_allow_remote, no_host_firewall;
	bool check_config;
} o;

static const struct wf_opt opts[] = {
    {"config", WF_OPT_STRING, &o.config, "FILE", "read options from FILE (`key = value')"},
    {"interface", WF_OPT_STRING, &o.interface, "IFNAME", "WireGuard interface (default wg0)"},
    {"public-interface", WF_OPT_STRING, &o.public_interface, "IFNAME",
     "interface facing the internet (required)"},
    {"listen", WF_OPT_LIST, &o.listen, "ADDR[:PORT]",
     "control address on the tunnel, port 51821 by default; repeatable (default: every "
     "address of the WireGuard interface)"},
    {"peer", WF_OPT_LIST, &o.peers, "ADDR[,ADDR6]=KEYFILE",
     "an agent: its tunnel address(es) and key file; repeatable"},
    {"peer-ports", WF_OPT_LIST_SPACED, &o.peer_ports, "ADDR=PORTS",
     "public ports the peer at tunnel address ADDR may take: `any' (default), `none' or "
     "e.g. 443,25/tcp,30000-30100/udp; repeatable"},
    {"peer-egress", WF_OPT_LIST_SPACED, &o.peer_egress, "ADDR=EGRESS",
     "egress the peer at ADDR may have: `none' (default) or entries of the wgfwd.egress "
     "label, e.g. smtp,submission or tcp/25 or all; repeatable"},
    {"state-dir", WF_OPT_STRING, &o.state_dir, "DIR",
     "where the applied state is kept (default " WF_GW_DEFAULT_STATE_DIR ")"},
    {"user", WF_OPT_STRING, &o.user, "NAME",
     "once started, run as this user with CAP_NET_ADMIN only (default: stay root); the "
     "state directory is handed to it"},
    {"status-socket", WF_OPT_STRING, &o.status_socket, "PATH",
     "status socket for `wgfwd status --gateway' (default " WF_GW_DEFAULT_STATUS_SOCKET
     "; `none' for none)"},
    {"metrics", WF_OPT_STRING, &o.metrics, "ADDR:PORT",
     "serve Prometheus metrics at http://ADDR:PORT/metrics (default: off)"},
    {"metrics-allow-remote", WF_OPT_FLAG, &o.metrics_allow_remote, NULL,
     "let --metrics listen on an address other than loopback"},
    {"reserved-ports", WF_OPT_LIST, &o.reserved, "LIST",
     "public ports no agent may take, e.g. 25,8000-8100/tcp (tcp/22, the WireGuard and "
     "the control port always are); repeatable"},
    {"wireguard-port", WF_OPT_PORT, &o.wireguard_port, "PORT",
     "WireGuard's UDP listen port, reserved (default 51820)"},
    {"public-address", WF_OPT_LIST, &o.public_addresses, "ADDR",
     "a public address to forward from; repeatable (default: the public interface's, "
     "followed as they change)"},
    {"max-entries", WF_OPT_UINT, &o.max_entries, "N",
     "per agent: forwards plus egress ports (default 32768)"},
    {"max-total-entries", WF_OPT_UINT, &o.max_total_entries, "N",
     "all agents together: forwards plus egress ports, 0 for no limit (default 262144)"},
    {"reconcile-interval", WF_OPT_SEC, &o.reconcile_interval, "DURATION",
     "compare the kernel with the desired ruleset this often: 30s, 500ms, 2m; 0 for never "
     "(default 30s; a bare number is seconds, deprecated)"},
    {"listener-interval", WF_OPT_SEC, &o.listener_interval, "DURATION",
     "read the ports this host itself listens on this often (also before each decision), 0 "
     "for only then (default 5s)"},
    {"no-host-firewall", WF_OPT_FLAG, &o.no_host_firewall, NULL,
     "do not add accept rules for wgfwd's flows to the host's iptables FORWARD and INPUT "
     "chains (ufw, iptables policy drop); removes those of an earlier run"},
    {"log-level", WF_OPT_STRING, &o.log_level, "LEVEL", "debug, info, warn or error"},
    {"log-json", WF_OPT_FLAG, &o.log_json, NULL, "log one JSON object per line"},
    {"foreground", WF_OPT_FLAG, &o.foreground, NULL,
     "stay in the foreground, logging to stderr (otherwise detach once ready and log to "
     "syslog)"},
    {"cleanup", WF_OPT_FLAG, &o.cleanup, NULL,
     "remove the gateway's nftables table and its iptables accept rules, and exit"},
    {"dry-run", WF_OPT_FLAG, &o.dry_run, NULL,
     "print the ruleset the persisted state gives and exit"},
    {"check-config", WF_OPT_FLAG, &o.check_config, NULL,
     "check the options (command line, environment, config file) and exit: 0 when valid"},
    {0},
};

static int ifname_option(const char *name, const char *value, char out[IF_NAMESIZE])
{
	if (!value || !value[0] || strlen(value) >= IF_NAMESIZE || strchr(value, '/')) {
		fprintf(stderr, "%s: --%s: `%s' is not an interface name\n", PROGRAM, name,
		        value ? value : "");
		return -EINVAL;
	}
	strcpy(out, value);
	return 0;
}

static int public_addresses(struct wf_gw_settings *s)
{
	struct wf_gw_params *p = &s->params;
	long bad = wf_addr_list_parse(&o.public_addresses, p->public_ip4, &p->n_public_ip4,
	                              p->public_ip6, &p->n_public_ip6, WF_GW_PUBLIC_MAX);

	if (bad >= 0) {
		fprintf(stderr,
		        "%s: --public-address: `%s' is not an IP address (or more than %d of one "
		        "family)\n",
		        PROGRAM, o.public_addresses.v[bad], WF_GW_PUBLIC_MAX);
		return -EINVAL;
	}
	s->public_fixed = o.public_addresses.n > 0;
	return 0;
}

static int listen_addresses(struct wf_gw_settings *s)
{
	char err[256];
	uint16_t port = 0;

	s->params.control_port = WF_GW_DEFAULT_CONTROL_PORT;
	if (o.listen.n > WF_GW_LISTEN_MAX) {
		fprintf(stderr, "%s: at most %d --listen addresses\n", PROGRAM, WF_GW_LISTEN_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < o.listen.n; i++) {
		struct sockaddr_storage *ss = &s->listen[s->n_listen];
		uint16_t p;

		if (wf_hostport_parse(o.listen.v[i], WF_GW_DEFAULT_CONTROL_PORT, false, ss,
		                      &s->listen_len[s->n_listen], err, sizeof(err))) {
			fprintf(stderr, "%s: --listen: %s\n", PROGRAM, err);
			return -EINVAL;
		}
		p = ntohs(ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port
		                                   : ((struct sockaddr_in6 *)ss)->sin6_port);
		/* One control port: it is reserved, and guarded on the tunnel, as one number. */
		if (port && p != port) {
			fprintf(stderr, "%s: --listen: every address must use the same port\n",
			        PROGRAM);
			return -EINVAL;
		}
		port = p;
		s->n_listen++;
	}
	if (port)
		s->params.control_port = port;
	return 0;
}

static int policy(struct wf_gw_settings *s)
{
	struct wf_gw_config *cfg = &s->policy;
	char err[512];
	int ret;

	cfg->max_entries = o.max_entries;
	cfg->max_total_entries = o.max_total_entries;
	if (!o.peers.n) {
		fprintf(stderr, "%s: no peers: give --peer ADDR[,ADDR6]=KEYFILE for each agent\n",
		        PROGRAM);
		return -EINVAL;
	}
	for (size_t i = 0; i < o.peers.n; i++) {
		struct wf_gw_peer peer;

		ret = wf_gw_peer_parse(o.peers.v[i], &peer, err, sizeof(err));
		if (!ret) {
			ret = wf_gw_config_add_peer(cfg, &peer, err, sizeof(err));
			free(peer.keyfile);
		}
		if (ret) {
			fprintf(stderr, "%s: %s\n", PROGRAM, err);
			return ret;
		}
	}
	for (size_t i = 0; i < o.peer_ports.n + o.peer_egress.n; i++) {
		bool ports = i < o.peer_ports.n;

		ret = wf_gw_config_grant(cfg, ports ? WF_GW_GRANT_PORTS : WF_GW_GRANT_EGRESS,
		                         ports ? o.peer_ports.v[i]
		                               : o.peer_egress.v[i - o.peer_ports.n],
		                         NULL, err, sizeof(err));
		if (ret) {
			if (ret == -EINVAL)
				fprintf(stderr, "%s: %s\n", PROGRAM, err);
			return ret;
		}
	}
	if (!o.wireguard_port || o.wireguard_port > 65535) {
		fprintf(stderr, "%s: --wireguard-port: %u is not a port\n", PROGRAM,
		        o.wireguard_port);
		return -EINVAL;
	}
	/* The gateway's own doors are never forwarded: ssh, WireGuard, the control channel. */
	ret = wf_gw_config_reserve(cfg, IPPROTO_TCP, 22, 22);
	if (!ret)
		ret = wf_gw_config_reserve(cfg, IPPROTO_UDP, (uint16_t)o.wireguard_port,
		                           (uint16_t)o.wireguard_port);
	if (!ret)
		ret = wf_gw_config_reserve(cfg, IPPROTO_TCP, s->params.control_port,
		                           s->params.control_port);
	for (size_t i = 0; i < o.reserved.n && !ret; i++) {
		ret = wf_gw_reserved_parse(o.reserved.v[i], &cfg->reserved, &cfg->n_reserved, err,
		                           sizeof(err));
		if (ret == -EINVAL)
			fprintf(stderr, "%s: %s\n", PROGRAM, err);
	}
	return ret;
}

static int settings(struct wf_gw_settings *s)
{
	char err[256];
	int ret;

	memset(s, 0, sizeof(*s));
	ret =
	    ifname_option("interface", o.interface ? o.interface : "wg0", s->params.tunnel_ifname);
	if (!ret && !o.public_interface && !o.cleanup) {
		fprintf(stderr,
		        "%s: --public-interface is required (the interface facing the "
		        "internet, e.g. eth0)\n",
		        PROGRAM);
		ret = -EINVAL;
	}
	if (!ret && o.public_interface)
		ret =
		    ifname_option("public-interface", o.public_interface, s->params.public_ifname);
	if (!ret)
		ret = public_addresses(s);
	if (!ret)
		ret = listen_addresses(s);
	if (!ret && !o.cleanup)
		ret = policy(s);
	if (ret)
		return ret;
	WF_COPY(s->state_dir, o.state_dir ? o.state_dir : WF_GW_DEFAULT_STATE_DIR);
	if (o.user && o.user[0] && wf_gw_user_lookup(o.user, &s->uid, &s->gid, err, sizeof(err))) {
		fprintf(stderr, "%s: --user: %s\n", PROGRAM, err);
		return -EINVAL;
	}
	if (o.status_socket && strlen(o.status_socket) >= sizeof(s->status_socket)) {
		fprintf(stderr, "%s: --status-socket: a unix socket path has at most %zu bytes\n",
		        PROGRAM, sizeof(s->status_socket) - 1);
		return -EINVAL;
	}
	if (!o.status_socket)
		WF_COPY(s->status_socket, WF_GW_DEFAULT_STATUS_SOCKET);
	else if (strcmp(o.status_socket, "none"))
		WF_COPY(s->status_socket, o.status_socket);
	s->reconcile_interval_ms = o.reconcile_interval;
	s->listener_interval_ms = o.listener_interval;
	s->host_firewall = !o.no_host_firewall;
	if (o.metrics && wf_metrics_listen_parse(o.metrics, o.metrics_allow_remote, &s->metrics,
	                                         &s->metrics_len, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", PROGRAM, err);
		return -EINVAL;
	}
	return 0;
}

/* Detaches once the daemon is ready: the parent exits 0 only after the child has applied the
 * ruleset and listens, so `wgfwd-gateway && next-step` can rely on it. */
static int detach(int *ready_fd)
{
	int fds[2], status;
	pid_t pid;
	char c;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) == 1)
			_exit(0);
		waitpid(pid, &status, 0);
		_exit(WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : 1);
	}
	close(fds[0]);
	setsid();
	*ready_fd = fds[1];
	return 0;
}

/* Until it is ready the daemon logs to the terminal, so that a failed start says why where it
 * was started; from then on to syslog, and the terminal is let go of entirely. */
static void say_ready(int fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	wf_log_to_syslog();
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(fd, "", 1) < 0)
		log_warn("cannot tell the parent process the daemon is ready");
	close(fd);
}

static void on_sighup(void *d)
{
	wf_gw_daemon_reconcile(d, "SIGHUP");
}

int main(int argc, char **argv)
{
	struct wf_gw_settings s;
	struct wf_gw_daemon *d = NULL;
	struct event_base *base;
	int ret, ready_fd = -1;

	/* Defaults; the config file, the environment and the command line override them. */
	o.wireguard_port = WF_GW_DEFAULT_WIREGUARD_PORT;
	o.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	o.max_total_entries = WF_GW_DEFAULT_MAX_TOTAL;
	o.reconcile_interval = WF_GW_DEFAULT_RECONCILE_INTERVAL;
	o.listener_interval = WF_GW_DEFAULT_LISTENER_INTERVAL;
	ret = wf_daemon_opts(opts, PROGRAM, "--public-interface IFNAME --peer ADDR=KEYFILE", argc,
	                     argv, &o.log_level, &o.log_json);
	if (ret) {
		wf_opts_free(opts);
		return ret == 1 ? 0 : 2;
	}
	ret = settings(&s);
	wf_opts_free(opts);
	if (ret || o.check_config) {
		wf_gw_config_free(&s.policy);
		if (!ret)
			printf("%s: configuration ok\n", PROGRAM);
		return ret ? 2 : 0;
	}
	/* Before any event loop exists: libevent's state does not survive a fork. */
	if (!o.foreground && !o.cleanup && !o.dry_run) {
		ret = detach(&ready_fd);
		if (ret) {
			log_error("cannot detach: %s", strerror(-ret));
			wf_gw_config_free(&s.policy);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	ret = base ? wf_gw_daemon_new(&s, base, &d) : -ENOMEM;
	if (ret) {
		log_error("%s", strerror(-ret));
		if (base)
			event_base_free(base);
		wf_gw_config_free(&s.policy);
		return 1;
	}
	if (o.cleanup) {
		ret = wf_gw_daemon_cleanup(d);
	} else if (o.dry_run) {
		ret = wf_gw_daemon_print_ruleset(d, stdout);
	} else {
		ret = wf_gw_daemon_start(d);
		if (!ret && ready_fd >= 0)
			say_ready(ready_fd);
		if (!ret)
			ret = wf_daemon_run(base, "the rules stay in place", on_sighup, d);
	}
	wf_gw_daemon_free(d);
	event_base_free(base);
	return ret ? 1 : 0;
}
