#include "docker_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "docker_json_internal.h"

int wf_dj_fail(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err, WF_DOCKER_ERR_MAX, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

bool wf_dj_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* One JSON document filling the whole buffer (trailing whitespace allowed). */
static int parse_document(const char *json, size_t len, struct json_object **out, char *err)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > INT_MAX)
		return -EMSGSIZE;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, TOKENER_FLAGS);
	obj = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue)
		return wf_dj_fail(err, "truncated JSON (%zu bytes)", len);
	if (jerr != json_tokener_success)
		return wf_dj_fail(err, "invalid JSON at byte %zu: %s", end,
		                  json_tokener_error_desc(jerr));
	for (size_t i = end; i < len; i++) {
		if (!wf_dj_is_space(json[i])) {
			json_object_put(obj);
			return wf_dj_fail(err, "trailing data after JSON at byte %zu", i);
		}
	}
	*out = obj;
	return 0;
}

const char *wf_dj_type_name(struct json_object *o)
{
	return json_type_to_name(json_object_get_type(o));
}

/* Member `key` of object o; NULL when o is not an object, the key is absent or null. */
struct json_object *wf_dj_member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The string at o.key: NULL with no error when absent or null, -EBADMSG when of
 * another type. `path` names the member in messages. */
int wf_dj_opt_string(struct json_object *o, const char *key, const char *path, const char **out,
                     char *err)
{
	struct json_object *v = wf_dj_member(o, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return wf_dj_fail(err, "%s: expected a string, got %s", path, wf_dj_type_name(v));
	*out = json_object_get_string(v);
	return 0;
}

static int req_string(struct json_object *o, const char *key, const char *path, const char **out,
                      char *err)
{
	int ret = wf_dj_opt_string(o, key, path, out, err);

	if (!ret && !*out)
		return wf_dj_fail(err, "%s: missing", path);
	return ret;
}

static int opt_bool(struct json_object *o, const char *key, const char *path, bool *out, char *err)
{
	struct json_object *v = wf_dj_member(o, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return wf_dj_fail(err, "%s: expected a boolean, got %s", path, wf_dj_type_name(v));
	*out = json_object_get_boolean(v);
	return 0;
}

/* An object member that may be absent or null (NULL out), but nothing else. */
int wf_dj_opt_object(struct json_object *o, const char *key, const char *path,
                     struct json_object **out, char *err)
{
	struct json_object *v = wf_dj_member(o, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return wf_dj_fail(err, "%s: expected an object, got %s", path, wf_dj_type_name(v));
	*out = v;
	return 0;
}

bool wf_dj_is_container_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == 64;
}

bool wf_dj_has_wgfwd_key(struct json_object *labels)
{
	if (!labels)
		return false;
	json_object_object_foreach(labels, key, val)
	{
		(void)val;
		if (!strncmp(key, WF_DOCKER_LABEL_PREFIX, strlen(WF_DOCKER_LABEL_PREFIX)))
			return true;
	}
	return false;
}

static char *strip_slash_dup(const char *name)
{
	return strdup(name[0] == '/' ? name + 1 : name);
}

static int copy_bounded(char *dst, size_t size, const char *src, const char *path, char *err)
{
	size_t n = strlen(src);

	if (n >= size)
		return wf_dj_fail(err, "%s: `%s' is longer than %zu bytes", path, src, size - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

/* "1.41" -> 141-ish ordering key; -1 unless digits '.' digits. */
static long api_key(const char *s)
{
	char *end;
	long major, minor;

	if (!s || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	major = strtol(s, &end, 10);
	if (errno || *end != '.' || end[1] < '0' || end[1] > '9' || major > 1000)
		return -1;
	minor = strtol(end + 1, &end, 10);
	if (errno || *end || minor > 1000)
		return -1;
	return major * 10000 + minor;
}

int wf_docker_parse_version(const char *json, size_t len, struct wf_docker_version *out,
                            char err[WF_DOCKER_ERR_MAX])
{
	struct json_object *root;
	const char *api, *min_api, *engine;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = parse_document(json, len, &root, err);
	if (ret)
		return ret;
	if (!json_object_is_type(root, json_type_object)) {
		ret = wf_dj_fail(err, "version: expected an object, got %s", wf_dj_type_name(root));
		goto out;
	}
	ret = req_string(root, "ApiVersion", "ApiVersion", &api, err);
	if (!ret)
		ret = wf_dj_opt_string(root, "MinAPIVersion", "MinAPIVersion", &min_api, err);
	if (!ret)
		ret = wf_dj_opt_string(root, "Version", "Version", &engine, err);
	if (ret)
		goto out;
	if (api_key(api) < 0) {
		ret = wf_dj_fail(err, "ApiVersion: `%.32s' is not <major>.<minor>", api);
		goto out;
	}
	if (min_api && min_api[0] && api_key(min_api) < 0) {
		ret = wf_dj_fail(err, "MinAPIVersion: `%.32s' is not <major>.<minor>", min_api);
		goto out;
	}
	ret = copy_bounded(out->api, sizeof(out->api), api, "ApiVersion", err);
	if (!ret && min_api)
		ret =
		    copy_bounded(out->min_api, sizeof(out->min_api), min_api, "MinAPIVersion", err);
	if (!ret && engine)
		snprintf(out->engine, sizeof(out->engine), "%s", engine);
out:
	json_object_put(root);
	return ret;
}

int wf_docker_api_pick(const struct wf_docker_version *v, char api[WF_DOCKER_API_MAX])
{
	long server = api_key(v->api), server_min = api_key(v->min_api);
	long oldest = api_key(WF_DOCKER_API_OLDEST), newest = api_key(WF_DOCKER_API_NEWEST);

	if (server < 0 || server < oldest || server_min > newest)
		return -ENOTSUP;
	snprintf(api, WF_DOCKER_API_MAX, "%s", server < newest ? v->api : WF_DOCKER_API_NEWEST);
	return 0;
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
	ret = req_string(row, "Id", path, &id, err);
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

/* A document that is an array of `what`, each item parsed into the next of *v (item_size
 * bytes each). On failure *n counts the items to clear, the failed one included. */
typedef int (*item_parse_fn)(struct json_object *item, size_t idx, void *out, char *err);

static int parse_array(const char *json, size_t len, const char *what, size_t item_size,
                       item_parse_fn parse, void **v, size_t *n, char err[WF_DOCKER_ERR_MAX])
{
	struct json_object *root;
	size_t count;
	int ret;

	*v = NULL;
	*n = 0;
	ret = parse_document(json, len, &root, err);
	if (ret)
		return ret;
	if (!json_object_is_type(root, json_type_array)) {
		ret = wf_dj_fail(err, "%s: expected an array, got %s", what, wf_dj_type_name(root));
		goto out;
	}
	count = json_object_array_length(root);
	if (count) {
		*v = calloc(count, item_size);
		if (!*v) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < count && !ret; i++) {
		*n = i + 1;
		ret = parse(json_object_array_get_idx(root, i), i, (char *)*v + i * item_size, err);
	}
out:
	json_object_put(root);
	return ret;
}

static int parse_summary_item(struct json_object *item, size_t idx, void *out, char *err)
{
	return parse_summary(item, idx, out, err);
}

int wf_docker_parse_list(const char *json, size_t len, struct wf_docker_summaries *out,
                         char err[WF_DOCKER_ERR_MAX])
{
	void *v;
	int ret = parse_array(json, len, "containers", sizeof(*out->v), parse_summary_item, &v,
	                      &out->n, err);

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

static int parse_network(const char *name, struct json_object *val, struct wf_network *net,
                         char *err)
{
	const char *id, *ip4, *ip6;
	char path[300];
	int ret;

	net->name = strdup(name);
	if (!net->name)
		return -ENOMEM;
	if (!json_object_is_type(val, json_type_object))
		return wf_dj_fail(err,
		                  "NetworkSettings.Networks.%.200s: expected an object, got %s",
		                  name, wf_dj_type_name(val));
	snprintf(path, sizeof(path), "NetworkSettings.Networks.%.200s.NetworkID", name);
	ret = wf_dj_opt_string(val, "NetworkID", path, &id, err);
	if (ret)
		return ret;
	net->id = strdup(id ? id : "");
	if (!net->id)
		return -ENOMEM;

	snprintf(path, sizeof(path), "NetworkSettings.Networks.%.200s.IPAddress", name);
	ret = wf_dj_opt_string(val, "IPAddress", path, &ip4, err);
	if (ret)
		return ret;
	if (ip4 && ip4[0]) {
		if (inet_pton(AF_INET, ip4, &net->ip4) != 1)
			return wf_dj_fail(err, "%s: `%.64s' is not an IPv4 address", path, ip4);
		net->has_ip4 = true;
	}
	snprintf(path, sizeof(path), "NetworkSettings.Networks.%.200s.GlobalIPv6Address", name);
	ret = wf_dj_opt_string(val, "GlobalIPv6Address", path, &ip6, err);
	if (ret)
		return ret;
	if (ip6 && ip6[0]) {
		if (inet_pton(AF_INET6, ip6, &net->ip6) != 1)
			return wf_dj_fail(err, "%s: `%.64s' is not an IPv6 address", path, ip6);
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
	ret = req_string(root, "Id", "Id", &id, err);
	if (ret)
		return ret;
	if (!wf_dj_is_container_id(id))
		return wf_dj_fail(err, "Id: `%.80s' is not a container id", id);
	ret = req_string(root, "Name", "Name", &name, err);
	if (!ret)
		ret = req_string(root, "Created", "Created", &created, err);
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
		ret = opt_bool(state, "Running", "State.Running", &c->running, err);
	if (!ret)
		ret = opt_bool(state, "Paused", "State.Paused", &c->paused, err);
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
	ret = parse_document(json, len, &root, err);
	if (ret)
		return ret;
	ret = parse_inspect_object(root, out, err);
	if (ret)
		wf_container_clear(out);
	json_object_put(root);
	return ret;
}

void wf_docker_networks_clear(struct wf_docker_networks *n)
{
	for (size_t i = 0; i < n->n; i++) {
		free(n->v[i].id);
		free(n->v[i].name);
	}
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

/* Optional and best effort: a network without it keeps the bridge its name gives. */
static void net_gateway4(struct json_object *o, struct wf_docker_net *net)
{
	struct json_object *ipam, *config, *gw;

	if (!json_object_object_get_ex(o, "IPAM", &ipam) ||
	    !json_object_object_get_ex(ipam, "Config", &config) ||
	    !json_object_is_type(config, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(config); i++) {
		struct json_object *c = json_object_array_get_idx(config, i);

		if (json_object_object_get_ex(c, "Gateway", &gw) &&
		    json_object_is_type(gw, json_type_string) &&
		    inet_pton(AF_INET, json_object_get_string(gw), &net->gateway4) == 1) {
			net->has_gateway4 = true;
			return;
		}
	}
}

static int parse_net(struct json_object *o, size_t idx, struct wf_docker_net *net, char *err)
{
	struct json_object *options;
	const char *name, *id, *driver, *bridge = NULL, *is_default = NULL;
	char path[64];
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return wf_dj_fail(err, "networks[%zu]: expected an object, got %s", idx,
		                  wf_dj_type_name(o));
	snprintf(path, sizeof(path), "networks[%zu].Name", idx);
	ret = req_string(o, "Name", path, &name, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "networks[%zu].Id", idx);
	ret = req_string(o, "Id", path, &id, err);
	if (ret)
		return ret;
	if (strlen(id) < 12)
		return wf_dj_fail(err, "%s: `%s' is not a network id", path, id);
	snprintf(path, sizeof(path), "networks[%zu].Driver", idx);
	ret = wf_dj_opt_string(o, "Driver", path, &driver, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "networks[%zu].Options", idx);
	ret = wf_dj_opt_object(o, "Options", path, &options, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "networks[%zu].Options[com.docker.network.bridge.name]", idx);
	ret = wf_dj_opt_string(options, "com.docker.network.bridge.name", path, &bridge, err);
	if (ret)
		return ret;
	ret = wf_dj_opt_string(options, "com.docker.network.bridge.default_bridge", path,
	                       &is_default, err);
	if (ret)
		return ret;

	net->id = strdup(id);
	net->name = strdup(name);
	if (!net->id || !net->name)
		return -ENOMEM;
	if (!driver || strcmp(driver, "bridge"))
		return 0;
	net_gateway4(o, net);
	if (bridge && bridge[0]) {
		snprintf(path, sizeof(path),
		         "networks[%zu].Options[com.docker.network.bridge.name]", idx);
		return copy_bounded(net->bridge, sizeof(net->bridge), bridge, path, err);
	}
	if ((is_default && !strcmp(is_default, "true")) || !strcmp(name, "bridge"))
		snprintf(net->bridge, sizeof(net->bridge), "docker0");
	else
		snprintf(net->bridge, sizeof(net->bridge), "br-%.12s", id);
	return 0;
}

static int parse_net_item(struct json_object *item, size_t idx, void *out, char *err)
{
	return parse_net(item, idx, out, err);
}

int wf_docker_parse_networks(const char *json, size_t len, struct wf_docker_networks *out,
                             char err[WF_DOCKER_ERR_MAX])
{
	void *v;
	int ret =
	    parse_array(json, len, "networks", sizeof(*out->v), parse_net_item, &v, &out->n, err);

	out->v = v;
	if (ret)
		wf_docker_networks_clear(out);
	return ret;
}

const struct wf_docker_net *wf_docker_networks_find(const struct wf_docker_networks *n,
                                                    const char *id)
{
	for (size_t i = 0; i < n->n; i++) {
		if (!strcmp(n->v[i].id, id))
			return &n->v[i];
	}
	return NULL;
}

size_t wf_docker_networks_resolve(const struct wf_docker_networks *n, struct wf_container *c)
{
	size_t unknown = 0;

	for (size_t i = 0; i < c->n_networks; i++) {
		struct wf_network *net = &c->networks[i];
		const struct wf_docker_net *dn =
		    net->id ? wf_docker_networks_find(n, net->id) : NULL;

		/* Podman 4's compatible inspect gives the network's name as its NetworkID */
		for (size_t k = 0; !dn && net->id && net->name && k < n->n; k++)
			if (!strcmp(n->v[k].name, net->id) && !strcmp(n->v[k].name, net->name))
				dn = &n->v[k];

		if (dn) {
			memcpy(net->bridge, dn->bridge, sizeof(net->bridge));
		} else {
			net->bridge[0] = '\0';
			if (net->id && net->id[0])
				unknown++;
		}
	}
	return unknown;
}

void wf_docker_error_message(const char *body, size_t len, char *out, size_t out_len)
{
	struct json_object *root = NULL;
	const char *msg = NULL;
	size_t n;

	if (!out_len)
		return;
	if (len && !parse_document(body, len, &root, NULL))
		wf_dj_opt_string(root, "message", "message", &msg, NULL);
	if (msg) {
		snprintf(out, out_len, "%s", msg);
	} else {
		while (len && wf_dj_is_space(body[len - 1]))
			len--;
		n = len < out_len - 1 ? len : out_len - 1;
		for (size_t i = 0; i < n; i++)
			out[i] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : '?';
		out[n] = '\0';
	}
	json_object_put(root);
}
