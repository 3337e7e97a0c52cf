#include <wgfwd/engine_info.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct json_object *parse(const char *json, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (!json || !len || len > (1u << 20))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static const char *string_at(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Podman's compatible /version lists a component named "Podman Engine". */
static bool is_podman(struct json_object *version)
{
	struct json_object *comps;

	if (!json_object_object_get_ex(version, "Components", &comps) ||
	    !json_object_is_type(comps, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(comps); i++) {
		const char *name = string_at(json_object_array_get_idx(comps, i), "Name");

		if (name && !strncasecmp(name, "podman", 6))
			return true;
	}
	return false;
}

int wf_engine_info_parse(const char *version_json, size_t version_len, const char *info_json,
                         size_t info_len, struct wf_engine_info *out)
{
	struct json_object *version = parse(version_json, version_len);
	struct json_object *info = parse(info_json, info_len), *fw;
	const char *s;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!version || !(s = string_at(version, "Version"))) {
		ret = -EBADMSG;
		goto out;
	}
	snprintf(out->version, sizeof(out->version), "%s", s);
	snprintf(out->name, sizeof(out->name), "%s", is_podman(version) ? "Podman" : "Docker");
	if ((s = string_at(version, "ApiVersion")))
		snprintf(out->api, sizeof(out->api), "%s", s);
	if (info && json_object_object_get_ex(info, "FirewallBackend", &fw) &&
	    (s = string_at(fw, "Driver")))
		snprintf(out->firewall, sizeof(out->firewall), "%s", s);
out:
	json_object_put(version);
	json_object_put(info);
	return ret;
}
