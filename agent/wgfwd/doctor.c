#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <linux/capability.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <unistd.h>

#include <wgfwd/engine_info.h>
#include <wgfwd/hostfw.h>
#include <wgfwd/names.h>
#include <wgfwd/rtnl.h>
#include <wgfwd/status_socket.h>
#include <wgfwd/sysctl.h>
#include <wgfwd/util.h>

#include "cli.h"
#include "doctor_fw.h"

struct doctor {
	int failures, warnings;
};

static void report(struct doctor *d, int level, const char *what, const char *advice)
{
	static const char *const tags[] = {"ok  ", "WARN", "FAIL"};

	printf("[%s] %s\n", tags[level], what);
	/* Advice of several lines (commands, one a line) is printed one a line. */
	for (const char *p = level ? advice : NULL, *nl; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		printf("       %s %.*s\n", p == advice ? "->" : "  ",
		       (int)(nl ? (size_t)(nl - p) : strlen(p)), p);
	}
	if (level == 1)
		d->warnings++;
	if (level == 2)
		d->failures++;
}

static void check_forwarding(struct doctor *d)
{
	int v4 = wf_sysctl_read_int("/proc/sys/net/ipv4/ip_forward");
	int v6 = wf_sysctl_read_int("/proc/sys/net/ipv6/conf/all/forwarding");

	report(d, v4 == 1 ? 0 : 2, v4 == 1 ? "IPv4 forwarding is on" : "IPv4 forwarding is off",
	       "sysctl -w net.ipv4.ip_forward=1 (the daemons set it at start unless told not to)");
	report(d, v6 == 1 ? 0 : 1, v6 == 1 ? "IPv6 forwarding is on" : "IPv6 forwarding is off",
	       "sysctl -w net.ipv6.conf.all.forwarding=1 for IPv6 forwards");
}

static void check_router_advertisements(struct doctor *d, const char *tunnel_ifname)
{
	char names[64][IF_NAMESIZE], what[160], advice[256];
	int fwd = wf_sysctl_read_int("/proc/sys/net/ipv6/conf/all/forwarding");
	size_t n = 0;

	if (wf_sysctl_ra_ignoring("/proc/sys/net/ipv6/conf", "/sys/class/net", tunnel_ifname, names,
	                          sizeof(names) / sizeof(names[0]), &n))
		return;
	if (!n) {
		report(d, 0, "router advertisements stay heard with IPv6 forwarding on (accept_ra)",
		       NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "%.*s: accept_ra is 1, router advertisements %s",
		         IF_NAMESIZE - 1, names[i],
		         fwd == 1 ? "are ignored (IPv6 forwarding is on)"
		                  : "will be ignored once IPv6 forwarding is on");
		snprintf(advice, sizeof(advice),
		         "sysctl -w net.ipv6.conf.%.*s.accept_ra=2, or a SLAAC home line loses its "
		         "IPv6 default route (the agent does it at start)",
		         IF_NAMESIZE - 1, names[i]);
		report(d, fwd == 1 ? 2 : 1, what, advice);
	}
}

static void check_interface(struct doctor *d, struct wf_rtnl *rt, const char *ifname)
{
	char what[160], path[128];
	uint32_t mtu = 0;
	int all, one;

	if (!if_nametoindex(ifname)) {
		snprintf(what, sizeof(what), "tunnel interface %s does not exist", ifname);
		report(d, 2, what, "start WireGuard first (wg-quick up wg0), or pass --interface");
		return;
	}
	if (rt && wf_rtnl_link_mtu(rt, ifname, &mtu) == 0) {
		snprintf(what, sizeof(what), "tunnel interface %s exists, MTU %u", ifname, mtu);
		report(d, mtu > 1420 ? 1 : 0, what,
		       "WireGuard over a 1500-byte path needs MTU 1420 or less; larger MTUs "
		       "fragment (the MSS clamp follows the route MTU)");
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", ifname);
	all = wf_sysctl_read_int("/proc/sys/net/ipv4/conf/all/rp_filter");
	one = wf_sysctl_read_int(path);
	if ((all > one ? all : one) == 1) {
		snprintf(what, sizeof(what), "strict reverse-path filtering on %s", ifname);
		report(d, 2, what,
		       "forwarded clients arrive with internet source addresses: set "
		       "net.ipv4.conf.<if>.rp_filter=2 (the agent does it at start)");
	} else {
		snprintf(what, sizeof(what), "reverse-path filtering on %s is loose or off",
		         ifname);
		report(d, 0, what, NULL);
	}
}

static void check_allowed_ips(struct doctor *d, const char *ifname, bool server)
{
	char cmd[128], line[512], what[160];
	bool v4_all = false, v6_all = false, any = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "wg show %s allowed-ips 2>/dev/null", ifname);
	p = popen(cmd, "r");
	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		any = true;
		v4_all |= strstr(line, "0.0.0.0/0") != NULL;
		v6_all |= strstr(line, "::/0") != NULL;
	}
	pclose(p);
	if (!any) {
		report(d, 1, "cannot read WireGuard peers (wg show)",
		       "is wireguard-tools installed?");
		return;
	}
	if (!server) {
		report(d, 0, "WireGuard peers configured", NULL);
		return;
	}
	snprintf(what, sizeof(what), "AllowedIPs of the gateway peer: IPv4 %s, IPv6 %s",
	         v4_all ? "any" : "LIMITED", v6_all ? "any" : "limited");
	report(d, v4_all ? (v6_all ? 0 : 1) : 2, what,
	       "forwarded clients keep their own addresses: the gateway peer needs "
	       "AllowedIPs = 0.0.0.0/0, ::/0 (with Table = off so nothing else is rerouted)");
}

static void check_routing(struct doctor *d, struct wf_rtnl *rt, uint32_t table)
{
	struct wf_route *routes = NULL;
	struct wf_rule *rules = NULL;
	size_t nr = 0, nu = 0;
	char what[160];

	if (!rt)
		return;
	wf_rtnl_route_list(rt, AF_UNSPEC, table, WF_RTPROT, &routes, &nr);
	wf_rtnl_rule_list(rt, AF_UNSPEC, WF_RTPROT, &rules, &nu);
	snprintf(what, sizeof(what), "routing table %u: %zu wgfwd route(s), %zu wgfwd rule(s)",
	         table, nr, nu);
	report(d, nr && nu ? 0 : 1, what,
	       "on the server the agent adds them when it runs; on the gateway none are needed");
	free(routes);
	free(rules);
}

static void check_docker_forward(struct doctor *d)
{
	char line[512];
	bool drop = false, ours = false, any = false;
	FILE *p = popen("iptables -S 2>/dev/null", "r");

	if (!p)
		return;
	while (fgets(line, sizeof(line), p)) {
		any = true;
		drop |= !strncmp(line, "-P FORWARD DROP", 15);
		ours |= !strncmp(line, "-A DOCKER-USER", 14) && strstr(line, "--ctstate DNAT");
	}
	pclose(p);
	if (!any)
		return;
	if (!drop)
		report(d, 0, "FORWARD policy is ACCEPT", NULL);
	else
		report(
		    d, ours ? 0 : 1,
		    ours ? "FORWARD policy DROP, and DOCKER-USER accepts tunnel DNAT flows"
		         : "FORWARD policy DROP and no DOCKER-USER accept for tunnel DNAT flows",
		    "the agent adds `-i wg0 -m conntrack --ctstate DNAT -j ACCEPT' to DOCKER-USER "
		    "while it runs; without it Docker drops forwarded connections");
}

/* All of a command's output, or NULL when it cannot run or fails. */
static char *command_output(const char *cmd)
{
	char chunk[4096], *text = NULL, *grown;
	size_t len = 0, got;
	FILE *p = popen(cmd, "r");

	if (!p)
		return NULL;
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		grown = realloc(text, len + got + 1);
		if (!grown)
			break;
		text = grown;
		memcpy(text + len, chunk, got);
		len += got;
		text[len] = '\0';
	}
	if (pclose(p) != 0 || !text) {
		free(text);
		return NULL;
	}
	return text;
}

static char *file_text(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "cat %s 2>/dev/null", path);
	return command_output(cmd);
}

static bool ufw_enabled(void)
{
	char line[256];
	bool on = false;
	FILE *f = fopen("/etc/ufw/ufw.conf", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		on |= !strncmp(line, "ENABLED=yes", 11);
	fclose(f);
	return on;
}

/* The interface of the IPv4 default route: where the internet is, unless told. */
static void default_route_ifname(char *out, size_t len)
{
	char *text = command_output("ip -o -4 route show default 2>/dev/null"), *dev;

	out[0] = '\0';
	if (text && (dev = strstr(text, " dev ")))
		snprintf(out, len, "%.*s", (int)strcspn(dev + 5, " \n"), dev + 5);
	free(text);
}

static void check_host_firewalls(struct doctor *d, const char *tunnel, const char *public_if,
                                 uint16_t control_port)
{
	struct wf_gw_hostfw_spec params = {.control_port = control_port};
	struct wf_fw_facts f = {0};
	struct wf_fw_findings out = {0};
	struct wf_gw_hostfw rules;
	struct wf_nft *nft = NULL;
	char *legacy = NULL;
	int err;

	WF_COPY(params.tunnel_ifname, tunnel);
	if (public_if)
		WF_COPY(params.public_ifname, public_if);
	else
		default_route_ifname(params.public_ifname, sizeof(params.public_ifname));
	wf_gw_hostfw_render(&params, true, &rules);
	f.tunnel = tunnel;
	f.public_if = params.public_ifname[0] ? params.public_ifname : "<public interface>";
	f.control_port = control_port;
	f.rules = &rules;
	f.nft_json = command_output("nft -j list ruleset 2>/dev/null");
	f.ip_tables_names = file_text("/proc/net/ip_tables_names");
	f.ip6_tables_names = file_text("/proc/net/ip6_tables_names");
	if ((f.ip_tables_names && f.ip_tables_names[0]) ||
	    (f.ip6_tables_names && f.ip6_tables_names[0]))
		legacy = command_output("{ iptables-legacy -S; ip6tables-legacy -S; } 2>/dev/null");
	f.legacy_rules = legacy;
	f.firewalld_running = !access("/run/firewalld/firewalld.pid", F_OK) ||
	                      !access("/var/run/firewalld/firewalld.pid", F_OK);
	f.ufw_enabled = ufw_enabled();
	if (!wf_nft_open(&nft)) {
		f.rules_known = !wf_gw_hostfw_check(nft, &rules, &f.rules_found);
		wf_nft_close(nft);
	}
	if (!f.nft_json)
		report(d, 1, "cannot list the nftables ruleset (nft -j list ruleset)",
		       "install nftables (the `nft' command) so doctor can look for other "
		       "firewalls");
	err = wf_doctor_fw(&f, &out);
	if (err == -EINVAL)
		report(d, 1, "`nft -j list ruleset' printed something other than nftables' JSON",
		       NULL);
	for (size_t i = 0; i < out.n; i++)
		report(d, out.v[i].level, out.v[i].what, out.v[i].fix[0] ? out.v[i].fix : NULL);
	if (!err && !out.n)
		report(d, 0, "no other firewall drops wgfwd's flows", NULL);
	wf_fw_findings_free(&out);
	free((char *)f.nft_json);
	free((char *)f.ip_tables_names);
	free((char *)f.ip6_tables_names);
	free(legacy);
}

struct body {
	char *data;
	size_t len;
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	char *grown;

	if (b->len + size * n > (1u << 20))
		return 0;
	grown = realloc(b->data, b->len + size * n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, p, size * n);
	b->data = grown;
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

/* GET path from the engine's unix socket; the body, or NULL. */
static char *engine_get(const char *socket_path, const char *path, size_t *len)
{
	struct body b = {0};
	CURL *c = curl_easy_init();
	char url[128];
	long code = 0;

	if (!c)
		return NULL;
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK ||
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
		free(b.data);
		b.data = NULL;
	}
	curl_easy_cleanup(c);
	*len = b.len;
	return b.data;
}

/* Exit status 0 of a shell command, its output searched for needle (NULL: any). */
static bool command_shows(const char *cmd, const char *needle)
{
	char line[512];
	bool found = false;
	FILE *p = popen(cmd, "r");

	if (!p)
		return false;
	while (fgets(line, sizeof(line), p))
		found |= !needle || strstr(line, needle) != NULL;
	return pclose(p) == 0 && found;
}

/* The agent's own view: whether it runs with a bridge-accept-fwmark. -1: no agent answers. */
static int agent_has_accept_mark(const char *status_socket)
{
	struct json_object *doc = NULL, *agent, *v;
	char err[256];
	int ret;

	if (wf_status_fetch(status_socket, &doc, err, sizeof(err)))
		return -1;
	ret = json_object_object_get_ex(doc, "agent", &agent) &&
	      json_object_object_get_ex(agent, "bridge_accept_fwmark", &v);
	json_object_put(doc);
	return ret;
}

static void check_engine(struct doctor *d, const char *docker_host, const char *status_socket)
{
	const char *sock = docker_host;
	struct wf_engine_info e;
	char *version, *info, what[256], advice[512];
	size_t vlen = 0, ilen = 0;
	bool nftables;
	int agent;

	if (!strncmp(sock, "unix://", 7))
		sock += 7;
	version = engine_get(sock, "/version", &vlen);
	info = version ? engine_get(sock, "/info", &ilen) : NULL;
	if (!version || wf_engine_info_parse(version, vlen, info, ilen, &e)) {
		snprintf(what, sizeof(what), "no container engine answers at %s", docker_host);
		report(d, 1, what,
		       "is Docker running? --docker-host (or DOCKER_HOST) names its socket");
		free(version);
		free(info);
		return;
	}
	free(version);
	free(info);
	/* Engines before API 1.49 do not say; Docker's nftables backend shows by its table. */
	if (!e.firewall[0] && !strcmp(e.name, "Docker"))
		snprintf(e.firewall, sizeof(e.firewall), "%s",
		         command_shows(
		             "nft list chain ip docker-bridges filter-FORWARD 2>/dev/null", NULL)
		             ? "nftables"
		             : "iptables");
	snprintf(what, sizeof(what), "engine: %s %s%s%s%s, firewall backend %s", e.name, e.version,
	         e.api[0] ? " (API " : "", e.api, e.api[0] ? ")" : "",
	         e.firewall[0] ? e.firewall : "not reported");
	report(d, 0, what, NULL);
	nftables = !strncmp(e.firewall, "nftables", 8);
	if (!nftables)
		return;
	snprintf(advice, sizeof(advice),
	         "add \"bridge-accept-fwmark\": \"%s\" to /etc/docker/daemon.json, restart "
	         "Docker, and give wgfwd-agent --bridge-accept-fwmark %s (the same value)",
	         WF_SUGGESTED_ACCEPT_MARK, WF_SUGGESTED_ACCEPT_MARK);
	if (!command_shows("nft list table ip docker-bridges 2>/dev/null", "ALLOW FW MARK"))
		report(d, 2,
		       "Docker's nftables backend has no bridge-accept-fwmark: it drops forwarded "
		       "flows to unpublished ports",
		       advice);
	else
		report(d, 0, "Docker accepts packets carrying its bridge-accept-fwmark", NULL);
	agent = agent_has_accept_mark(status_socket);
	if (agent == 0)
		report(d, 2,
		       "the agent runs without --bridge-accept-fwmark: its flows do not carry "
		       "Docker's accept mark",
		       advice);
	else if (agent > 0)
		report(d, 0, "the agent marks its flows with the bridge-accept-fwmark", NULL);
}

static void check_clock(struct doctor *d)
{
	struct timex tx = {0};
	int state = adjtimex(&tx);

	if (state == TIME_ERROR || (tx.status & STA_UNSYNC))
		report(d, 1, "system clock is not synchronised",
		       "logs of the two hosts will not line up; run an NTP client");
	else
		report(d, 0, "system clock is synchronised", NULL);
}

/* Who the running gateway is now, as the kernel sees it: the process behind its status socket
 * (the socket's own credentials are those of the moment it was made, maybe before the daemon
 * gave up root). */
static void check_gateway_user(struct doctor *d, const char *socket_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned long long eff = ~0ULL;
	long uid = -1;
	char what[256], path[64], line[256];
	FILE *f;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		if (fd >= 0)
			close(fd);
		snprintf(what, sizeof(what),
		         "no wgfwd-gateway answers on %s: its user is not checked", socket_path);
		report(d, 1, what, "start it, or name its status socket: --socket PATH");
		return;
	}
	close(fd);
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)cred.pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Uid:", 4))
			uid = strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "CapEff:", 7))
			eff = strtoull(line + 7, NULL, 16);
	}
	if (f)
		fclose(f);
	if (uid < 0) {
		snprintf(what, sizeof(what), "cannot read %s: wgfwd-gateway's user is not checked",
		         path);
		report(d, 1, what, "run wgfwd doctor as root");
		return;
	}
	if (uid == 0) {
		snprintf(what, sizeof(what), "wgfwd-gateway (pid %ld) runs as root (uid 0)",
		         (long)cred.pid);
		report(
		    d, 1, what,
		    "capabilities do not guard files: a compromised gateway could write root's "
		    "files and be root again\nrun it from wgfwd-gateway.service (User=wgfwd), or "
		    "set `user = wgfwd' in gateway.conf\n(useradd --system wgfwd, or "
		    "systemd-sysusers)");
	} else if (eff != 1ULL << CAP_NET_ADMIN) {
		snprintf(what, sizeof(what),
		         "wgfwd-gateway (pid %ld) runs as uid %ld with capabilities %llx, not "
		         "CAP_NET_ADMIN alone",
		         (long)cred.pid, uid, eff);
		report(d, 1, what, "start it as README's unit or container does");
	} else {
		snprintf(what, sizeof(what),
		         "wgfwd-gateway (pid %ld) runs as uid %ld with CAP_NET_ADMIN only",
		         (long)cred.pid, uid);
		report(d, 0, what, NULL);
	}
}

/* With several gateways the agent's status names each one's tunnel and table: each is checked
 * as the single one is, and its control channel and health are said. */
static void check_agent_gateways(struct doctor *d, struct wf_rtnl *rt, const char *status_socket)
{
	struct json_object *doc = NULL, *all;
	char err[256], what[256];
	size_t n;

	if (wf_status_fetch(status_socket, &doc, err, sizeof(err)))
		return;
	n = json_object_object_get_ex(doc, "gateways", &all) ? json_object_array_length(all) : 0;
	for (size_t i = 0; n > 1 && i < n; i++) {
		struct json_object *g = json_object_array_get_idx(all, i), *v;
		const char *name =
		    json_object_object_get_ex(g, "name", &v) ? json_object_get_string(v) : "?";
		const char *ifname =
		    json_object_object_get_ex(g, "interface", &v) ? json_object_get_string(v) : "";
		bool up =
		    json_object_object_get_ex(g, "connected", &v) && json_object_get_boolean(v);
		bool healthy =
		    json_object_object_get_ex(g, "healthy", &v) && json_object_get_boolean(v);

		if (ifname[0]) {
			check_interface(d, rt, ifname);
			check_allowed_ips(d, ifname, true);
		}
		if (json_object_object_get_ex(g, "table", &v))
			check_routing(d, rt, (uint32_t)json_object_get_int64(v));
		snprintf(what, sizeof(what), "gateway %s: control channel %s, %s", name,
		         up ? "up" : "down", healthy ? "healthy" : "unhealthy (egress avoids it)");
		report(d, up && healthy ? 0 : 1, what,
		       "check its tunnel (`wg show`) and that wgfwd-gateway runs on that VPS; its "
		       "forwards still answer through the other gateways");
	}
	json_object_put(doc);
}

int wf_cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"interface", required_argument, NULL, 'i'},
	    {"table", required_argument, NULL, 't'},
	    {"gateway", no_argument, NULL, 'g'},
	    {"public-interface", required_argument, NULL, 'p'},
	    {"control-port", required_argument, NULL, 'c'},
	    {"docker-host", required_argument, NULL, 'H'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *ifname = "wg0", *public_if = NULL, *status_socket = WF_AGENT_STATUS_SOCKET;
	const char *docker_host = getenv("DOCKER_HOST");
	unsigned long control_port = 51821;
	char *end;
	uint32_t table = WF_DEFAULT_TABLE;
	bool gateway = false, socket_given = false;
	struct doctor d = {0};
	struct wf_rtnl *rt = NULL;
	int c;

	optind = 1;
	if (!docker_host || !docker_host[0])
		docker_host = "unix:///var/run/docker.sock";
	while ((c = getopt_long(argc, argv, "i:t:gp:c:H:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 't':
			table = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'g':
			gateway = true;
			break;
		case 'p':
			public_if = optarg;
			break;
		case 'c':
			control_port = strtoul(optarg, &end, 10);
			if (*end || !control_port || control_port > 65535) {
				fprintf(stderr,
				        "wgfwd doctor: --control-port: `%s' is not a port\n",
				        optarg);
				return 2;
			}
			break;
		case 'H':
			docker_host = optarg;
			break;
		case 's':
			status_socket = optarg;
			socket_given = true;
			break;
		case 'h':
			printf(
			    "Usage: wgfwd doctor [--interface IFNAME] [--table N]\n"
			    "                    [--docker-host URL] [--socket PATH]\n"
			    "       wgfwd doctor --gateway [--interface IFNAME] "
			    "[--public-interface IFNAME] [--control-port PORT]\n"
			    "                    [--socket PATH]\n"
			    "Checks forwarding, accept_ra, the tunnel interface and MTU, "
			    "AllowedIPs, rp_filter,\nDocker's FORWARD policy, the routing table "
			    "and the clock, and says what to do\nabout each failure. On a server "
			    "it also names the container engine and its\nfirewall backend "
			    "(--docker-host, default $DOCKER_HOST or /var/run/docker.sock)\nand, "
			    "on Docker's nftables backend, checks bridge-accept-fwmark in Docker "
			    "and in\nthe agent (--socket, its status socket). --gateway checks a "
			    "gateway host instead\nof a server, and the host firewalls there: "
			    "ufw and iptables policy drop (wgfwd-gateway\npasses them itself; "
			    "says whether its rules are in place), firewalld, other\nnftables "
			    "tables that drop forwarded or input traffic, and iptables-legacy,\n"
			    "each with the commands that let wgfwd's traffic through. "
			    "--public-interface\n(default: that of the default route) and "
			    "--control-port (default 51821) are\nthe gateway's; it also says who "
			    "the running gateway is (--socket, its status\nsocket): root is a "
			    "warning.\n");
			return 0;
		default:
			fprintf(stderr, "wgfwd doctor: unknown option; see wgfwd doctor --help\n");
			return 2;
		}
	}
	if (wf_rtnl_open(&rt))
		rt = NULL;
	check_forwarding(&d);
	check_router_advertisements(&d, ifname);
	check_interface(&d, rt, ifname);
	check_allowed_ips(&d, ifname, !gateway);
	if (!gateway) {
		check_routing(&d, rt, table);
		check_docker_forward(&d);
		check_engine(&d, docker_host, status_socket);
		check_agent_gateways(&d, rt, status_socket);
	} else {
		check_host_firewalls(&d, ifname, public_if, (uint16_t)control_port);
		check_gateway_user(&d, socket_given ? status_socket : WF_GATEWAY_STATUS_SOCKET);
	}
	check_clock(&d);
	if (rt)
		wf_rtnl_close(rt);
	printf("\n%d failure(s), %d warning(s)\n", d.failures, d.warnings);
	return d.failures ? 1 : 0;
}
