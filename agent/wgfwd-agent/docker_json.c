#include "docker_json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int wf_dj_parse_document(const char *json, size_t len, struct json_object **out, char *err)
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

int wf_dj_req_string(struct json_object *o, const char *key, const char *path, const char **out,
                     char *err)
{
	int ret = wf_dj_opt_string(o, key, path, out, err);

	if (!ret && !*out)
		return wf_dj_fail(err, "%s: missing", path);
	return ret;
}

int wf_dj_opt_bool(struct json_object *o, const char *key, const char *path, bool *out, char *err)
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

int wf_dj_copy_bounded(char *dst, size_t size, const char *src, const char *path, char *err)
{
	size_t n = strlen(src);

	if (n >= size)
		return wf_dj_fail(err, "%s: `%s' is longer than %zu bytes", path, src, size - 1);
	memcpy(dst, src, n + 1);
	return 0;
}

int wf_dj_parse_array(const char *json, size_t len, const char *what, size_t item_size,
                      wf_dj_item_fn parse, void **v, size_t *n, char *err)
{
	struct json_object *root;
	size_t count;
	int ret;

	*v = NULL;
	*n = 0;
	ret = wf_dj_parse_document(json, len, &root, err);
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
	ret = wf_dj_parse_document(json, len, &root, err);
	if (ret)
		return ret;
	if (!json_object_is_type(root, json_type_object)) {
		ret = wf_dj_fail(err, "version: expected an object, got %s", wf_dj_type_name(root));
		goto out;
	}
	ret = wf_dj_req_string(root, "ApiVersion", "ApiVersion", &api, err);
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
	ret = wf_dj_copy_bounded(out->api, sizeof(out->api), api, "ApiVersion", err);
	if (!ret && min_api)
		ret = wf_dj_copy_bounded(out->min_api, sizeof(out->min_api), min_api,
		                         "MinAPIVersion", err);
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

void wf_docker_error_message(const char *body, size_t len, char *out, size_t out_len)
{
	struct json_object *root = NULL;
	const char *msg = NULL;
	size_t n;

	if (!out_len)
		return;
	if (len && !wf_dj_parse_document(body, len, &root, NULL))
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
