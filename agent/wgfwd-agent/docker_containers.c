/* The engine's view of containers: the /containers/json list and one container's
 * /containers/{id}/json (docker_json.h). */
#include "docker_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "docker_json_internal.h"

static char *strip_slash_dup(const char *name)
{
	return strdup(name[0] == '/' ? name + 1 : name);
}

static void summary_clear(struct wf_docker_summary *s)
{
	free(s->id);
	free(s->name);
	free(s->netmode_target);
	memset(s, 0, sizeof(*s));
}

void wf_docker_summaries_clear(struct wf_docker_summaries *s)
{
	for (size_t i = 0; i < s->n; i++)
		summary_clear(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int netmode_target(const char *mode, const char **target)
{
	*target = NULL;
	if (mode && !strncmp(mode, "container:", 10)) {
		*target = mode + 10;
		if (!**target)
			return -EBADMSG;
	}
	return 0;
}

static int parse_summary(struct json_object *row, size_t idx, struct wf_docker_summary *s,
                         char *err)
{
	struct json_object *names, *labels, *host_config;
	const char *id, *mode = NULL, *target;
	char path[64];
	int ret;

	if (!json_object_is_type(row, json_type_object))
		return wf_dj_fail(err, "containers[%zu]: expected an object, got %s", idx,
		                  wf_dj_type_name(row));
	snprintf(path, sizeof(path), "containers[%zu].Id", idx);
	ret = wf_dj_req_string(row, "Id", path, &id, err);
	if (ret)
		return ret;
	if (!wf_dj_is_container_id(id))
		return wf_dj_fail(err, "%s: `%.80s' is not a container id", path, id);
	snprintf(path, sizeof(path), "containers[%zu].Labels", idx);
	ret = wf_dj_opt_object(row, "Labels", path, &labels, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "containers[%zu].HostConfig", idx);
	ret = wf_dj_opt_object(row, "HostConfig", path, &host_config, err);
	if (!ret) {
		snprintf(path, sizeof(path), "containers[%zu].HostConfig.NetworkMode", idx);
		ret = wf_dj_opt_string(host_config, "NetworkMode", path, &mode, err);
	}
	if (ret)
		return ret;
	if (netmode_target(mode, &target))
		return wf_dj_fail(err, "%s: `container:' without a container", path);

	s->id = strdup(id);
	if (!s->id)
		return -ENOMEM;
	names = wf_dj_member(row, "Names");
	if (json_object_is_type(names, json_type_array) && json_object_array_length(names) > 0 &&
	    json_object_is_type(json_object_array_get_idx(names, 0), json_type_string)) {
		s->name =
		    strip_slash_dup(json_object_get_string(json_object_array_get_idx(names, 0)));
		if (!s->name)
			return -ENOMEM;
	}
	s->has_wgfwd_label = wf_dj_has_wgfwd_key(labels);
	if (target) {
		s->netmode_target = strdup(target);
		if (!s->netmode_target)
			return -ENOMEM;
	}
	return 0;
}

static int parse_summary_item(struct json_object *item, size_t idx, void *out, char *err)
{
	return parse_summary(item, idx, out, err);
}

int wf_docker_parse_list(const char *json, size_t len, struct wf_docker_summaries *out,
                         char err[WF_DOCKER_ERR_MAX])
{
	void *v;
	int ret = wf_dj_parse_array(json, len, "containers", sizeof(*out->v), parse_summary_item,
	                            &v, &out->n, err);

	out->v = v;
	if (ret)
		wf_docker_summaries_clear(out);
	return ret;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/* RFC 3339 as Docker writes it: 2026-11-25T13:12:40.149634978Z (or with an offset). */
static int parse_rfc3339_ns(const char *s, int64_t *out)
{
	static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int year, mon, day, hour, min, sec, off_h = 0, off_m = 0, frac_digits = 0;
	int64_t frac = 0, secs;
	const char *p;

	if (strlen(s) < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) ||
	    s[7] != '-' || !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59 ||
	    sec > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (frac_digits < 9) {
				frac = frac * 10 + (*p - '0');
				frac_digits++;
			}
		}
		if (!frac_digits)
			return -EINVAL;
		for (; frac_digits < 9; frac_digits++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (!digits(p + 1, 2, &off_h) || p[3] != ':' || !digits(p + 4, 2, &off_m) ||
		    off_h > 23 || off_m > 59)
			return -EINVAL;
		if (*p == '-') {
			off_h = -off_h;
			off_m = -off_m;
		}
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	secs = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hour * 3600 +
	       min * 60 + sec - off_h * 3600 - off_m * 60;
	if (__builtin_mul_overflow(secs, (int64_t)1000000000, out) ||
	    __builtin_add_overflow(*out, frac, out))
		return -ERANGE;
	return 0;
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct wf_label *)a)->key, ((const struct wf_label *)b)->key);
}

static int cmp_network(const void *a, const void *b)
{
	return strcmp(((const struct wf_network *)a)->name, ((const struct wf_network *)b)->name);
}

static int parse_labels(struct json_object *labels, struct wf_container *c, char *err)
{
	size_t n;

	if (!labels)
		return 0;
	n = (size_t)json_object_object_length(labels);
	if (!n)
		return 0;
	c->labels = calloc(n, sizeof(*c->labels));
	if (!c->labels)
		return -ENOMEM;
	json_object_object_foreach(labels, key, val)
	{
		struct wf_label *l = &c->labels[c->n_labels];

		if (!json_object_is_type(val, json_type_string))
			return wf_dj_fail(err, "Config.Labels.%s: expected a string, got %s", key,
			                  wf_dj_type_name(val));
		l->key = strdup(key);
		l->value = strdup(json_object_get_string(val));
		c->n_labels++;
		if (!l->key || !l->value)
			return -ENOMEM;
	}
	qsort(c->labels, c->n_labels, sizeof(*c->labels), cmp_label);
	return 0;
}

/* A network's string member; its path is spelt out only for an error, not at every inspect. */
static int network_string(struct json_object *val, const char *name, const char *key,
                          const char **out, char *err)
{
	struct json_object *v = wf_dj_member(val, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return wf_dj_fail(err,
		                  "NetworkSettings.Networks.%.200s.%s: expected a string, got %s",
		                  name, key, wf_dj_type_name(v));
	*out = json_object_get_string(v);
	return 0;
}

static int parse_network(const char *name, struct json_object *val, struct wf_network *net,
                         char *err)
{
	const char *id, *ip4, *ip6;
	int ret;

	net->name = strdup(name);
	if (!net->name)
		return -ENOMEM;
	if (!json_object_is_type(val, json_type_object))
		return wf_dj_fail(err,
		                  "NetworkSettings.Networks.%.200s: expected an object, got %s",
		                  name, wf_dj_type_name(val));
	ret = network_string(val, name, "NetworkID", &id, err);
	if (ret)
		return ret;
	net->id = strdup(id ? id : "");
	if (!net->id)
		return -ENOMEM;

	ret = network_string(val, name, "IPAddress", &ip4, err);
	if (ret)
		return ret;
	if (ip4 && ip4[0]) {
		if (inet_pton(AF_INET, ip4, &net->ip4) != 1)
			return wf_dj_fail(
			    err,
			    "NetworkSettings.Networks.%.200s.IPAddress: `%.64s' is not "
			    "an IPv4 address",
			    name, ip4);
		net->has_ip4 = true;
	}
	ret = network_string(val, name, "GlobalIPv6Address", &ip6, err);
	if (ret)
		return ret;
	if (ip6 && ip6[0]) {
		if (inet_pton(AF_INET6, ip6, &net->ip6) != 1)
			return wf_dj_fail(
			    err,
			    "NetworkSettings.Networks.%.200s.GlobalIPv6Address: `%.64s' "
			    "is not an IPv6 address",
			    name, ip6);
		net->has_ip6 = true;
	}
	return 0;
}

static int parse_networks_of(struct json_object *networks, struct wf_container *c, char *err)
{
	size_t n;
	int ret;

	if (!networks)
		return 0;
	n = (size_t)json_object_object_length(networks);
	if (!n)
		return 0;
	c->networks = calloc(n, sizeof(*c->networks));
	if (!c->networks)
		return -ENOMEM;
	json_object_object_foreach(networks, name, val)
	{
		ret = parse_network(name, val, &c->networks[c->n_networks++], err);
		if (ret)
			return ret;
	}
	qsort(c->networks, c->n_networks, sizeof(*c->networks), cmp_network);
	return 0;
}

static int parse_netmode(const char *mode, struct wf_container *c, char *err)
{
	const char *target;

	if (!mode || !strcmp(mode, "default") || !strcmp(mode, "bridge")) {
		c->netmode = WF_NETMODE_BRIDGE;
	} else if (!strcmp(mode, "host")) {
		c->netmode = WF_NETMODE_HOST;
	} else if (!strcmp(mode, "none")) {
		c->netmode = WF_NETMODE_NONE;
	} else if (!strncmp(mode, "container:", 10)) {
		if (netmode_target(mode, &target))
			return wf_dj_fail(
			    err, "HostConfig.NetworkMode: `container:' without a container");
		c->netmode = WF_NETMODE_CONTAINER;
		c->netmode_target = strdup(target);
		if (!c->netmode_target)
			return -ENOMEM;
	} else {
		/* A user-defined network's name. */
		c->netmode = WF_NETMODE_BRIDGE;
	}
	return 0;
}

static int parse_inspect_object(struct json_object *root, struct wf_container *c, char *err)
{
	struct json_object *state, *host_config, *config, *labels, *settings, *networks;
	const char *id, *name, *created, *mode;
	int ret;

	if (!json_object_is_type(root, json_type_object))
		return wf_dj_fail(err, "container: expected an object, got %s",
		                  wf_dj_type_name(root));
	ret = wf_dj_req_string(root, "Id", "Id", &id, err);
	if (ret)
		return ret;
	if (!wf_dj_is_container_id(id))
		return wf_dj_fail(err, "Id: `%.80s' is not a container id", id);
	ret = wf_dj_req_string(root, "Name", "Name", &name, err);
	if (!ret)
		ret = wf_dj_req_string(root, "Created", "Created", &created, err);
	if (ret)
		return ret;
	c->id = strdup(id);
	c->name = strip_slash_dup(name);
	if (!c->id || !c->name)
		return -ENOMEM;
	if (parse_rfc3339_ns(created, &c->created_ns))
		return wf_dj_fail(err, "Created: `%.64s' is not an RFC 3339 time", created);

	ret = wf_dj_opt_object(root, "State", "State", &state, err);
	if (!ret)
		ret = wf_dj_opt_bool(state, "Running", "State.Running", &c->running, err);
	if (!ret)
		ret = wf_dj_opt_bool(state, "Paused", "State.Paused", &c->paused, err);
	if (!ret)
		ret = wf_dj_opt_object(root, "HostConfig", "HostConfig", &host_config, err);
	if (!ret)
		ret = wf_dj_opt_string(host_config, "NetworkMode", "HostConfig.NetworkMode", &mode,
		                       err);
	if (!ret)
		ret = parse_netmode(mode, c, err);
	if (!ret)
		ret = wf_dj_opt_object(root, "Config", "Config", &config, err);
	if (!ret)
		ret = wf_dj_opt_object(config, "Labels", "Config.Labels", &labels, err);
	if (!ret)
		ret = parse_labels(labels, c, err);
	if (!ret)
		ret = wf_dj_opt_object(root, "NetworkSettings", "NetworkSettings", &settings, err);
	if (!ret)
		ret = wf_dj_opt_object(settings, "Networks", "NetworkSettings.Networks", &networks,
		                       err);
	if (!ret)
		ret = parse_networks_of(networks, c, err);
	return ret;
}

int wf_docker_parse_inspect(const char *json, size_t len, struct wf_container *out,
                            char err[WF_DOCKER_ERR_MAX])
{
	struct json_object *root;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = wf_dj_parse_document(json, len, &root, err);
	if (ret)
		return ret;
	ret = parse_inspect_object(root, out, err);
	if (ret)
		wf_container_clear(out);
	json_object_put(root);
	return ret;
}
