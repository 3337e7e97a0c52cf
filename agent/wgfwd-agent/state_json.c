/* The desired state as JSON, for `wgfwd-agent --dry-run --json` and the status document. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

#include "state.h"

static int json_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int json_add_str(struct json_object *o, const char *key, const char *s, size_t max)
{
	return json_add(o, key, json_object_new_string_len(s, (int)strnlen(s, max)));
}

static int json_add_target(struct json_object *o, bool to_host, bool has_ip4,
                           const struct in_addr *ip4, bool has_ip6, const struct in6_addr *ip6,
                           const char *bridge)
{
	char buf[INET6_ADDRSTRLEN];

	if (json_add(o, "to_host", json_object_new_boolean(to_host)))
		return -ENOMEM;
	if (has_ip4 && (!inet_ntop(AF_INET, ip4, buf, sizeof(buf)) ||
	                json_add(o, "ip4", json_object_new_string(buf))))
		return -ENOMEM;
	if (has_ip6 && (!inet_ntop(AF_INET6, ip6, buf, sizeof(buf)) ||
	                json_add(o, "ip6", json_object_new_string(buf))))
		return -ENOMEM;
	if (bridge[0] && json_add_str(o, "bridge", bridge, IF_NAMESIZE))
		return -ENOMEM;
	return 0;
}

static struct json_object *forward_json(const struct wf_forward *f)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_add(o, "proto", json_object_new_string(wf_proto_name(f->proto))) ||
	    json_add(o, "public_port", json_object_new_int(f->public_port)) ||
	    json_add(o, "target_port", json_object_new_int(f->target_port)) ||
	    json_add_str(o, "container", f->container_name, sizeof(f->container_name)) ||
	    json_add_str(o, "container_id", f->container_id, sizeof(f->container_id)) ||
	    json_add_target(o, f->to_host, f->has_ip4, &f->ip4, f->has_ip6, &f->ip6, f->bridge) ||
	    (f->gateways[0] && json_add_str(o, "gateways", f->gateways, sizeof(f->gateways)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *egress_json(const struct wf_egress *e)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_add_str(o, "container", e->container_name, sizeof(e->container_name)) ||
	    json_add_str(o, "container_id", e->container_id, sizeof(e->container_id)) ||
	    json_add(o, "proto", json_object_new_string(wf_proto_name(e->proto))) ||
	    (e->port_lo && (json_add(o, "port_lo", json_object_new_int(e->port_lo)) ||
	                    json_add(o, "port_hi", json_object_new_int(e->port_hi)))) ||
	    json_add_target(o, e->to_host, e->has_ip4, &e->ip4, e->has_ip6, &e->ip6, e->bridge) ||
	    (e->gateways[0] && json_add_str(o, "gateways", e->gateways, sizeof(e->gateways)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *problem_json(const struct wf_problem *p)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_add_str(o, "container", p->container_name, sizeof(p->container_name)) ||
	    json_add_str(o, "container_id", p->container_id, sizeof(p->container_id)) ||
	    json_add_str(o, "label", p->label, sizeof(p->label)) ||
	    json_add_str(o, "message", p->message, sizeof(p->message)) ||
	    json_add(o, "waiting", json_object_new_boolean(p->waiting))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int json_append(struct json_object *array, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_array_add(array, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

struct json_object *wf_desired_to_json(const struct wf_desired *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *forwards = json_object_new_array();
	struct json_object *egress = json_object_new_array();
	struct json_object *problems = json_object_new_array();
	int r;

	if (!o || !forwards || !egress || !problems)
		goto fail;
	for (size_t i = 0; i < d->n_forwards; i++) {
		if (json_append(forwards, forward_json(&d->forwards[i])))
			goto fail;
	}
	for (size_t i = 0; i < d->n_egress; i++) {
		if (json_append(egress, egress_json(&d->egress[i])))
			goto fail;
	}
	for (size_t i = 0; i < d->n_problems; i++) {
		if (json_append(problems, problem_json(&d->problems[i])))
			goto fail;
	}
	/* json_add owns the value from here on, whether it succeeds or not. */
	r = json_add(o, "forwards", forwards);
	forwards = NULL;
	if (!r)
		r = json_add(o, "egress", egress);
	egress = NULL;
	if (!r)
		r = json_add(o, "problems", problems);
	problems = NULL;
	if (!r)
		return o;

fail:
	json_object_put(forwards);
	json_object_put(egress);
	json_object_put(problems);
	json_object_put(o);
	return NULL;
}

static bool gateway_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int wf_gateways_parse(const char *value, char out[WF_GATEWAY_LIST_MAX], char *err, size_t err_len)
{
	size_t len = 0;
	const char *s = value;

	memset(out, 0, WF_GATEWAY_LIST_MAX);
	for (;;) {
		const char *start;
		size_t n;

		while (*s == ' ' || *s == '\t')
			s++;
		start = s;
		while (gateway_name_char(*s))
			s++;
		n = (size_t)(s - start);
		while (*s == ' ' || *s == '\t')
			s++;
		if (!n || (*s && *s != ',')) {
			snprintf(err, err_len,
			         "`%s' is not a list of gateway names (letters, digits, `.', `_', "
			         "`-', separated by commas)",
			         value);
			return -EINVAL;
		}
		if (n >= WF_GATEWAY_NAME_MAX || len + n + 1 >= WF_GATEWAY_LIST_MAX) {
			snprintf(err, err_len,
			         "`%s': too long (names up to %d characters, %d in all)", value,
			         WF_GATEWAY_NAME_MAX - 1, WF_GATEWAY_LIST_MAX - 1);
			return -EINVAL;
		}
		if (len)
			out[len++] = ',';
		memcpy(out + len, start, n);
		len += n;
		if (!*s)
			return 0;
		s++;
	}
}

bool wf_gateways_allow(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (!list[0])
		return true;
	for (const char *p = list; p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && !strncmp(p, name, n))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}
