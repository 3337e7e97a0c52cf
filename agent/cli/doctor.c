#include <errno.h>
#include <getopt.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timex.h>

#include <wgfwd/cli.h>
#include <wgfwd/rtnl.h>
#include <wgfwd/server_render.h>
#include <wgfwd/sysctl.h>

struct doctor {
	int failures, warnings;
};

static void report(struct doctor *d, int level, const char *what, const char *advice)
{
	static const char *const tags[] = {"ok  ", "WARN", "FAIL"};

	printf("[%s] %s\n", tags[level], what);
	if (level && advice)
		printf("       -> %s\n", advice);
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

int wf_cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"interface", required_argument, NULL, 'i'},
	    {"table", required_argument, NULL, 't'},
	    {"gateway", no_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *ifname = "wg0";
	uint32_t table = WF_DEFAULT_TABLE;
	bool gateway = false;
	struct doctor d = {0};
	struct wf_rtnl *rt = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "i:t:gh", longopts, NULL)) != -1) {
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
		case 'h':
			printf("Usage: wgfwd doctor [--interface IFNAME] [--table N] [--gateway]\n"
			       "Checks forwarding, the tunnel interface and MTU, AllowedIPs, "
			       "rp_filter,\nDocker's FORWARD policy, the routing table and the "
			       "clock, and says what to do\nabout each failure. --gateway checks a "
			       "gateway host instead of a server.\n");
			return 0;
		default:
			fprintf(stderr, "wgfwd doctor: unknown option; see wgfwd doctor --help\n");
			return 2;
		}
	}
	if (wf_rtnl_open(&rt))
		rt = NULL;
	check_forwarding(&d);
	check_interface(&d, rt, ifname);
	check_allowed_ips(&d, ifname, !gateway);
	if (!gateway) {
		check_routing(&d, rt, table);
		check_docker_forward(&d);
	}
	check_clock(&d);
	if (rt)
		wf_rtnl_close(rt);
	printf("\n%d failure(s), %d warning(s)\n", d.failures, d.warnings);
	return d.failures ? 1 : 0;
}
