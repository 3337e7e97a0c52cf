#include "plan_print.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/labels.h>

static const char *addr_text(int family, const void *addr, char *buf, size_t size)
{
	return inet_ntop(family, addr, buf, (socklen_t)size);
}

void wf_desired_print(FILE *f, const struct wf_desired *d)
{
	char a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN];

	fprintf(f, "Forwards (%zu):\n", d->n_forwards);
	if (!d->n_forwards)
		fprintf(f, "  none\n");
	for (size_t i = 0; i < d->n_forwards; i++) {
		const struct wf_forward *x = &d->forwards[i];

		fprintf(f, "  %-3s %5u -> %-20s", wf_proto_name(x->proto), x->public_port,
		        x->container_name);
		if (x->to_host)
			fprintf(f, " host");
		if (x->has_ip4)
			fprintf(f, " %s", addr_text(AF_INET, &x->ip4, a4, sizeof(a4)));
		if (x->has_ip6)
			fprintf(f, " %s", addr_text(AF_INET6, &x->ip6, a6, sizeof(a6)));
		fprintf(f, " port %u\n", x->target_port);
	}
	fprintf(f, "Egress through the tunnel (%zu):\n", d->n_egress);
	if (!d->n_egress)
		fprintf(f, "  none\n");
	for (size_t i = 0; i < d->n_egress; i++) {
		const struct wf_egress *e = &d->egress[i];

		fprintf(f, "  %-20s %s", e->container_name,
		        e->proto ? wf_proto_name(e->proto) : "all");
		if (e->port_lo)
			fprintf(f, e->port_lo == e->port_hi ? " port %u" : " ports %u-%u",
			        e->port_lo, e->port_hi);
		if (e->bridge[0])
			fprintf(f, " (from %s", e->bridge);
		if (e->has_ip4)
			fprintf(f, " %s", addr_text(AF_INET, &e->ip4, a4, sizeof(a4)));
		if (e->has_ip6)
			fprintf(f, " %s", addr_text(AF_INET6, &e->ip6, a6, sizeof(a6)));
		fprintf(f, "%s\n", e->bridge[0] ? ")" : "");
	}
	fprintf(f, "Problems (%zu):\n", d->n_problems);
	if (!d->n_problems)
		fprintf(f, "  none\n");
	for (size_t i = 0; i < d->n_problems; i++) {
		char line[512];

		wf_problem_format(&d->problems[i], line, sizeof(line));
		fprintf(f, "  %s%s\n", d->problems[i].waiting ? "(waiting) " : "", line);
	}
}

void wf_rule_print(FILE *f, const struct wf_rule *r)
{
	char buf[INET6_ADDRSTRLEN];

	fprintf(f, "ip%s rule add priority %u", r->family == AF_INET6 ? " -6" : "", r->priority);
	if (r->has_fwmark)
		fprintf(f, " fwmark 0x%x/0x%x", r->fwmark, r->fwmask);
	if (r->iifname[0])
		fprintf(f, " iif %s", r->iifname);
	if (r->src_len)
		fprintf(f, " from %s/%u", addr_text(r->family, &r->src, buf, sizeof(buf)),
		        r->src_len);
	if (r->ipproto)
		fprintf(f, " ipproto %s", wf_proto_name(r->ipproto));
	if (r->dport_lo)
		fprintf(f, r->dport_lo == r->dport_hi ? " dport %u" : " dport %u-%u", r->dport_lo,
		        r->dport_hi);
	fprintf(f, " lookup %u protocol %u\n", r->table, r->protocol);
}

void wf_route_print(FILE *f, const struct wf_route *r)
{
	char buf[INET6_ADDRSTRLEN];

	fprintf(f, "ip%s route add", r->family == AF_INET6 ? " -6" : "");
	if (r->type == RTN_UNREACHABLE)
		fprintf(f, " unreachable");
	if (r->dst_len)
		fprintf(f, " %s/%u", addr_text(r->family, &r->dst, buf, sizeof(buf)), r->dst_len);
	else
		fprintf(f, " default");
	if (r->has_gateway)
		fprintf(f, " via %s", addr_text(r->family, &r->gateway, buf, sizeof(buf)));
	if (r->oifname[0])
		fprintf(f, " dev %s", r->oifname);
	fprintf(f, " table %u protocol %u\n", r->table, r->protocol);
}

int wf_server_plan_print(FILE *f, const struct wf_server_plan *plan)
{
	char *text = NULL;
	int err = wf_nft_table_print(plan->table, &text);

	if (err)
		return err;
	fprintf(f, "%s", text);
	free(text);
	for (size_t i = 0; i < plan->n_docker_user; i++) {
		const struct wf_nft_rule *r = &plan->docker_user[i];

		err = wf_nft_rule_print(r, &text);
		if (err)
			return err;
		fprintf(f, "%s%s # in Docker's %s filter %s\n", i ? "" : "\n", text,
		        r->family == NFPROTO_IPV6 ? "ip6" : "ip", r->chain);
		free(text);
	}
	fprintf(f, "\n# policy routing:\n");
	for (size_t i = 0; i < plan->n_routes; i++)
		wf_route_print(f, &plan->routes[i]);
	for (size_t i = 0; i < plan->n_rules; i++)
		wf_rule_print(f, &plan->rules[i]);
	return 0;
}

static struct json_object *captured(void (*print)(FILE *, const void *), const void *obj)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_object *s;

	if (!f)
		return NULL;
	print(f, obj);
	fclose(f);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	s = json_object_new_string(buf);
	free(buf);
	return s;
}

static void print_rule_cb(FILE *f, const void *r)
{
	wf_rule_print(f, r);
}

static void print_route_cb(FILE *f, const void *r)
{
	wf_route_print(f, r);
}

struct json_object *wf_server_plan_to_json(const struct wf_server_plan *plan)
{
	struct json_object *o = json_object_new_object();
	struct json_object *rules = json_object_new_array();
	struct json_object *routes = json_object_new_array();
	struct json_object *docker_user = json_object_new_array();
	char *text = NULL;

	if (!o || !rules || !routes || !docker_user)
		goto fail;
	if (wf_nft_table_print(plan->table, &text))
		goto fail;
	json_object_object_add(o, "nft", json_object_new_string(text));
	free(text);
	for (size_t i = 0; i < plan->n_docker_user; i++) {
		if (wf_nft_rule_print(&plan->docker_user[i], &text))
			goto fail;
		json_object_array_add(docker_user, json_object_new_string(text));
		free(text);
	}
	for (size_t i = 0; i < plan->n_rules; i++)
		json_object_array_add(rules, captured(print_rule_cb, &plan->rules[i]));
	for (size_t i = 0; i < plan->n_routes; i++)
		json_object_array_add(routes, captured(print_route_cb, &plan->routes[i]));
	json_object_object_add(o, "docker_user", docker_user);
	json_object_object_add(o, "ip_rules", rules);
	json_object_object_add(o, "ip_routes", routes);
	return o;
fail:
	json_object_put(o);
	json_object_put(rules);
	json_object_put(routes);
	json_object_put(docker_user);
	return NULL;
}
