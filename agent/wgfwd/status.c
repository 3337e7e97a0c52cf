#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <wgfwd/names.h>
#include <wgfwd/status_socket.h>

#include "cli.h"

#define AGENT_SOCKET   WF_AGENT_STATUS_SOCKET
#define GATEWAY_SOCKET WF_GATEWAY_STATUS_SOCKET

static const char *str(struct json_object *o, const char *key, const char *fallback)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return fallback;
	return json_object_get_string(v);
}

static int64_t num(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static bool flag(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static struct json_object *arr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static void print_list(const char *label, struct json_object *a)
{
	size_t n = a ? json_object_array_length(a) : 0;

	printf("%s", label);
	for (size_t i = 0; i < n; i++)
		printf(" %s", json_object_get_string(json_object_array_get_idx(a, i)));
	printf("%s\n", n ? "" : " none");
}

/* With several gateways: each one's line, and which one egress leaves by. */
static void print_gateways(struct json_object *doc, struct json_object *agent)
{
	struct json_object *all = arr(doc, "gateways");
	size_t n = all ? json_object_array_length(all) : 0;

	if (n < 2)
		return;
	for (size_t i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(all, i);

		printf("gateway %s: %s on %s, table %lld: control channel %s, %s%s",
		       str(g, "name", "?"), str(g, "address", "?"), str(g, "interface", "?"),
		       (long long)num(g, "table"), flag(g, "connected") ? "up" : "DOWN",
		       flag(g, "healthy") ? "healthy" : "UNHEALTHY",
		       flag(g, "egress") ? ", egress leaves here" : "");
		if (json_object_object_get_ex(g, "last_handshake_age", NULL))
			printf(", WireGuard handshake %llds ago",
			       (long long)num(g, "last_handshake_age"));
		printf("\n");
		print_list("  public addresses:", arr(g, "public_ipv4"));
		print_list("                   ", arr(g, "public_ipv6"));
	}
	printf("egress through gateway %s (%lld switches)\n", str(agent, "egress_gateway", "none"),
	       (long long)num(agent, "egress_switches"));
}

/* Each gateway's answer for one forward, when there are several. */
static void print_by_gateway(struct json_object *by)
{
	size_t n = by ? json_object_array_length(by) : 0;

	if (n < 2)
		return;
	for (size_t i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(by, i);

		printf("      %-10s %s%s%s\n", str(g, "gateway", "?"), str(g, "state", "?"),
		       str(g, "reason", NULL) ? ": " : "", str(g, "reason", ""));
	}
}

static void print_agent(struct json_object *doc)
{
	struct json_object *agent = NULL, *gw = NULL, *a;
	size_t n;

	json_object_object_get_ex(doc, "agent", &agent);
	json_object_object_get_ex(doc, "gateway", &gw);
	printf("agent %s: docker %s, %lld container(s) of interest, interface %s, table %lld\n",
	       str(agent, "version", "(version unknown)"), str(agent, "docker", "?"),
	       (long long)num(agent, "containers"), str(agent, "interface", "?"),
	       (long long)num(agent, "table"));
	printf("  last apply: %s (%.2f ms), %lld applies, %lld errors%s%s\n",
	       flag(agent, "last_apply_ok") ? "ok" : "FAILED",
	       json_object_get_double(json_object_object_get(agent, "last_apply_ms")),
	       (long long)num(agent, "applies"), (long long)num(agent, "apply_errors"),
	       str(agent, "last_error", NULL) ? ": " : "", str(agent, "last_error", ""));
	if (json_object_object_get_ex(agent, "sysctls_ok", NULL) && !flag(agent, "sysctls_ok"))
		printf("  WARNING: forwarding, rp_filter or accept_ra settings are wrong and were "
		       "not fixed "
		       "(see the agent's log, or run `wgfwd doctor')\n");
	if (flag(agent, "bridge_accept_fwmark_missing"))
		printf(
		    "  WARNING: Docker uses its nftables backend and drops forwarded flows: add\n"
		    "    \"bridge-accept-fwmark\": \"%s\"\n"
		    "  to /etc/docker/daemon.json, restart Docker, and start the agent with\n"
		    "  --bridge-accept-fwmark %s\n",
		    WF_SUGGESTED_ACCEPT_MARK, WF_SUGGESTED_ACCEPT_MARK);
	else if (!strcmp(str(agent, "docker_firewall", ""), "nftables"))
		printf("  Docker firewall: nftables backend, flows carry bridge-accept-fwmark %s\n",
		       str(agent, "bridge_accept_fwmark", "?"));
	else if (flag(agent, "docker_user_missing"))
		printf(
		    "  note: Docker's DOCKER-USER chain is missing (Docker not using iptables?)\n");
	if (gw && str(gw, "address", NULL)) {
		printf("gateway %s (wgfwd-gateway %s): control channel %s, generation %lld sent, "
		       "%lld acknowledged%s%s\n",
		       str(gw, "address", "?"), str(gw, "version", "version unknown"),
		       flag(gw, "connected") ? "up" : "DOWN", (long long)num(gw, "generation_sent"),
		       (long long)num(gw, "generation_acked"),
		       str(gw, "last_error", NULL) ? "; last error: " : "",
		       str(gw, "last_error", ""));
		if (str(gw, "state_error", NULL))
			printf("  NOT SENT: %s\n", str(gw, "state_error", ""));
	} else {
		printf("gateway: none configured (data plane only)\n");
	}
	print_list("  public addresses:", arr(gw, "public_ipv4"));
	print_list("                   ", arr(gw, "public_ipv6"));
	print_gateways(doc, agent);

	a = arr(doc, "forwards");
	n = a ? json_object_array_length(a) : 0;
	printf("\n%-5s %-6s %-20s %-32s %s\n", "PROTO", "PUBLIC", "CONTAINER", "TARGET", "STATE");
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(a, i);
		char target[96];

		if (flag(f, "to_host"))
			snprintf(target, sizeof(target), "host:%lld",
			         (long long)num(f, "target_port"));
		else
			snprintf(target, sizeof(target), "%s%s%s port %lld", str(f, "ip4", ""),
			         str(f, "ip4", NULL) && str(f, "ip6", NULL) ? " " : "",
			         str(f, "ip6", ""), (long long)num(f, "target_port"));
		printf("%-5s %-6lld %-20s %-32s %s%s%s\n", str(f, "proto", "?"),
		       (long long)num(f, "public_port"), str(f, "container", "?"), target,
		       str(f, "state", "?"), str(f, "reason", NULL) ? ": " : "",
		       str(f, "reason", ""));
		print_by_gateway(arr(f, "by_gateway"));
	}
	if (!n)
		printf("(no forwards)\n");

	a = arr(doc, "egress");
	n = a ? json_object_array_length(a) : 0;
	printf("\negress through the tunnel:%s\n", n ? "" : " none");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		printf("  %-20s %s", str(e, "container", "?"), str(e, "proto", "all"));
		if (num(e, "port_lo"))
			printf(" ports %lld-%lld", (long long)num(e, "port_lo"),
			       (long long)num(e, "port_hi"));
		if (str(e, "state", NULL))
			printf(": %s%s%s", str(e, "state", ""), str(e, "reason", NULL) ? ": " : "",
			       str(e, "reason", ""));
		printf("\n");
	}
	a = arr(doc, "problems");
	n = a ? json_object_array_length(a) : 0;
	printf("\nproblems:%s\n", n ? "" : " none");
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(a, i);
		const char *label = str(p, "label", "");

		printf("  %s%s: %s%s%s\n", flag(p, "waiting") ? "(waiting) " : "",
		       str(p, "container", "?"), label, *label ? ": " : "", str(p, "message", ""));
	}
}

static void print_host_firewall(struct json_object *doc)
{
	struct json_object *hf;

	if (!json_object_object_get_ex(doc, "host_firewall", &hf))
		return;
	if (!flag(hf, "enabled"))
		printf("host firewall: not touched (--no-host-firewall)\n");
	else if (!num(hf, "iptables_chains"))
		printf("host firewall: no iptables FORWARD/INPUT chain, nothing to pass\n");
	else
		printf("host firewall: %lld accept rules in %lld iptables chains\n",
		       (long long)num(hf, "rules_in_place"), (long long)num(hf, "iptables_chains"));
}

/* The ports the gateway's host serves itself, each once: "tcp/2222 udp/53(ipv4)". */
static void print_host_ports(struct json_object *doc)
{
	struct json_object *a = arr(doc, "host_ports");
	size_t n = a ? json_object_array_length(a) : 0, shown = 0;

	printf("gateway host listens on:");
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_array_get_idx(a, i);
		bool other = false, before = false;

		/* Sorted by family first: an IPv6 entry whose IPv4 twin was printed is skipped. */
		for (size_t k = 0; k < n; k++) {
			struct json_object *y = json_object_array_get_idx(a, k);

			if (k == i || strcmp(str(x, "proto", ""), str(y, "proto", "")) ||
			    num(x, "port") != num(y, "port"))
				continue;
			other = true;
			before = before || k < i;
		}
		if (before)
			continue;
		printf(" %s/%lld%s%s%s", str(x, "proto", "?"), (long long)num(x, "port"),
		       other ? "" : "(", other ? "" : str(x, "family", "?"), other ? "" : ")");
		shown++;
	}
	printf("%s\n", shown ? "" : " nothing public");
	if (str(doc, "host_ports_error", NULL))
		printf(
		    "  WARNING: cannot list them now (%s): forwards are checked against the last "
		    "list\n",
		    str(doc, "host_ports_error", ""));
	a = arr(doc, "clashes");
	n = a ? json_object_array_length(a) : 0;
	if (n)
		printf("  CLASH: %zu forward%s take%s a port this host itself listens on (granted "
		       "before its service started; remove the forward or move the service)\n",
		       n, n == 1 ? "" : "s", n == 1 ? "s" : "");
}

static void print_gateway(struct json_object *doc)
{
	struct json_object *peers = arr(doc, "peers");
	size_t n = peers ? json_object_array_length(peers) : 0;

	printf("wgfwd-gateway %s\n", str(doc, "version", "(version unknown)"));
	print_list("gateway public addresses:", arr(doc, "public_ipv4"));
	print_list("                         ", arr(doc, "public_ipv6"));
	print_host_firewall(doc);
	print_host_ports(doc);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(peers, i);
		struct json_object *fw = arr(p, "forwards"), *eg = arr(p, "egress");
		size_t nf = fw ? json_object_array_length(fw) : 0;
		size_t ne = eg ? json_object_array_length(eg) : 0;

		printf("\npeer %s: %s, generation %lld, agent %s\n", str(p, "name", "?"),
		       flag(p, "connected") ? "connected" : "not connected",
		       (long long)num(p, "generation"), str(p, "agent_version", "version unknown"));
		printf("  allowed public ports: %s; granted egress: %s\n",
		       str(p, "allowed_ports", "?"), str(p, "granted_egress", "?"));
		for (size_t k = 0; k < nf; k++) {
			struct json_object *f = json_object_array_get_idx(fw, k);

			printf("  forward %s/%lld (%s) -> %s port %lld%s%s\n", str(f, "proto", "?"),
			       (long long)num(f, "public_port"), str(f, "family", "?"),
			       str(f, "target", "?"), (long long)num(f, "target_port"),
			       str(f, "clash", NULL) ? "  CLASH: " : "", str(f, "clash", ""));
		}
		for (size_t k = 0; k < ne; k++) {
			struct json_object *e = json_object_array_get_idx(eg, k);

			printf("  egress %s %lld-%lld\n", str(e, "proto", "all"),
			       (long long)num(e, "port_lo"), (long long)num(e, "port_hi"));
		}
	}
}

int wf_cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"agent", no_argument, NULL, 'a'},
	    {"gateway", no_argument, NULL, 'g'},
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"check", no_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *socket_path = NULL;
	bool gateway = false, chosen = false, json = false, check = false;
	struct json_object *doc;
	char err[512];
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "agsjch", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			gateway = false;
			chosen = true;
			break;
		case 'g':
			gateway = true;
			chosen = true;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			check = true;
			break;
		case 'h':
			printf(
			    "Usage: wgfwd status [--agent | --gateway] [--socket PATH] [--json] "
			    "[--check]\n"
			    "  --agent     the agent on this host (socket %s)\n"
			    "  --gateway   the gateway on this host (socket %s)\n"
			    "              (neither: the agent's socket if it exists, else the "
			    "gateway's)\n"
			    "  --socket    another status socket\n"
			    "  --json      the status document as JSON\n"
			    "  --check     exit 0 only when the daemon answers and its last apply "
			    "succeeded\n",
			    AGENT_SOCKET, GATEWAY_SOCKET);
			return 0;
		default:
			fprintf(stderr, "wgfwd status: unknown option; see wgfwd status --help\n");
			return 2;
		}
	}
	/* The same command on either host: the agent's socket where it exists, else the
	 * gateway's. */
	if (!socket_path && !chosen && access(AGENT_SOCKET, F_OK) && !access(GATEWAY_SOCKET, F_OK))
		gateway = true;
	if (!socket_path)
		socket_path = gateway ? GATEWAY_SOCKET : AGENT_SOCKET;
	ret = wf_status_fetch(socket_path, &doc, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "wgfwd status: %s\n", err);
		return 1;
	}
	if (check) {
		struct json_object *agent = NULL;
		bool is_agent = json_object_object_get_ex(doc, "agent", NULL);
		bool ok = !is_agent ? !json_object_object_get_ex(doc, "last_apply_ok", NULL) ||
		                          flag(doc, "last_apply_ok")
		                    : json_object_object_get_ex(doc, "agent", &agent) &&
		                          flag(agent, "last_apply_ok");

		json_object_put(doc);
		return ok ? 0 : 1;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(
		                   doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (json_object_object_get_ex(doc, "agent", NULL))
		print_agent(doc);
	else
		print_gateway(doc);
	json_object_put(doc);
	return 0;
}
