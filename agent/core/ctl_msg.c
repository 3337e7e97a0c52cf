#include <wgfwd/ctl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for object -> array -> object, with room to say "too deep" for anything more. */
#define JSON_DEPTH_MAX 8
#define PATH_MAX_LEN   96
#define GENERATION_MAX ((uint64_t)INT64_MAX)

struct name_value {
	const char *name;
	int value;
};

static const struct name_value msg_types[] = {
    {"state", WF_CTL_MSG_STATE},
    {"state_ack", WF_CTL_MSG_STATE_ACK},
    {"gateway_info", WF_CTL_MSG_GATEWAY_INFO},
    {"ping", WF_CTL_MSG_PING},
    {"pong", WF_CTL_MSG_PONG},
    {"error", WF_CTL_MSG_ERROR},
    {NULL, 0},
};
static const struct name_value forward_protos[] = {
    {"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {NULL, 0}};
static const struct name_value egress_protos[] = {
    {"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {"any", 0}, {NULL, 0}};
static const struct name_value families[] = {{"ipv4", AF_INET}, {"ipv6", AF_INET6}, {NULL, 0}};

static const char *value_name(const struct name_value *table, int value)
{
	for (; table->name; table++) {
		if (table->value == value)
			return table->name;
	}
	return NULL;
}

const char *wf_ctl_msg_type_name(enum wf_ctl_msg_type type)
{
	const char *name = value_name(msg_types, (int)type);
	return name ? name : "unknown";
}

bool wf_ctl_msg_sent_by(enum wf_ctl_msg_type type, enum wf_ctl_role role)
{
	switch (type) {
	case WF_CTL_MSG_STATE:
		return role == WF_CTL_CLIENT;
	case WF_CTL_MSG_STATE_ACK:
	case WF_CTL_MSG_GATEWAY_INFO:
		return role == WF_CTL_SERVER;
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
	case WF_CTL_MSG_ERROR:
		return true;
	}
	return false;
}

void wf_ctl_msg_clear(struct wf_ctl_msg *m)
{
	switch (m->type) {
	case WF_CTL_MSG_STATE:
		free(m->state.forwards);
		free(m->state.egress);
		break;
	case WF_CTL_MSG_STATE_ACK:
		free(m->state_ack.forwards);
		free(m->state_ack.egress);
		break;
	default:
		break;
	}
	memset(m, 0, sizeof(*m));
}

static int fail(int ret, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Text from the peer goes into error messages, which get logged: keep it short and plain. */
static void printable(char *dst, size_t dstlen, const char *src)
{
	size_t i = 0;

	for (; *src && i + 4 < dstlen && i < 32; src++, i++)
		dst[i] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	if (*src && i + 4 < dstlen) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

/* A reason travels in JSON and ends up in logs: valid UTF-8, no control characters. */
static bool reason_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t extra;
		uint32_t cp;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= extra)
			return false;
		for (size_t i = 1; i <= extra; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return false;
		p += extra + 1;
	}
	return true;
}

static int check_reason(const char *reason, bool required, const char *path, char *err,
                        size_t errlen)
{
	const char *nul = memchr(reason, '\0', WF_CTL_REASON_MAX);

	if (!nul)
		return fail(-EINVAL, err, errlen, "%s: longer than %d bytes", path,
		            WF_CTL_REASON_MAX - 1);
	if (required && nul == reason)
		return fail(-EINVAL, err, errlen, "%s: must not be empty", path);
	if (!required && nul != reason)
		return fail(-EINVAL, err, errlen, "%s: must be empty here", path);
	if (!reason_text_valid(reason, (size_t)(nul - reason)))
		return fail(-EINVAL, err, errlen, "%s: not valid UTF-8 or holds control characters",
		            path);
	return 0;
}

static int validate_state(const struct wf_ctl_state *s, char *err, size_t errlen)
{
	/* one bit per (proto, family, public_port): 2 * 2 * 65536 bits */
	uint8_t *seen = NULL;
	char path[PATH_MAX_LEN];
	int ret = 0;

	if (s->generation > GENERATION_MAX)
		return fail(-EINVAL, err, errlen,
		            "generation: %" PRIu64 " is out of range 0..%" PRIu64, s->generation,
		            GENERATION_MAX);
	if (s->n_forwards > WF_CTL_ENTRIES_MAX || s->n_egress > WF_CTL_ENTRIES_MAX)
		return fail(-EINVAL, err, errlen, "%s: more than %d entries",
		            s->n_forwards > WF_CTL_ENTRIES_MAX ? "forwards" : "egress",
		            WF_CTL_ENTRIES_MAX);
	if (s->n_forwards) {
		seen = calloc(1, 4 * 65536 / 8);
		if (!seen)
			return fail(-ENOMEM, err, errlen, "out of memory");
	}
	for (size_t i = 0; i < s->n_forwards; i++) {
		const struct wf_ctl_forward *f = &s->forwards[i];
		size_t bit;

		snprintf(path, sizeof(path), "forwards[%zu]", i);
		if (!value_name(forward_protos, f->proto)) {
			ret = fail(-EINVAL, err, errlen, "%s.proto: %u is neither tcp nor udp",
			           path, f->proto);
			goto out;
		}
		if (!value_name(families, f->family)) {
			ret = fail(-EINVAL, err, errlen, "%s.family: %u is neither ipv4 nor ipv6",
			           path, f->family);
			goto out;
		}
		if (f->public_port == 0 || f->target_port == 0) {
			ret = fail(-EINVAL, err, errlen, "%s.%s: 0 is out of range 1..65535", path,
			           f->public_port == 0 ? "public_port" : "target_port");
			goto out;
		}
		bit = ((size_t)(f->proto == IPPROTO_UDP) << 17) |
		      ((size_t)(f->family == AF_INET6) << 16) | f->public_port;
		if (seen[bit / 8] & (1u << (bit % 8))) {
			ret = fail(-EINVAL, err, errlen, "%s: a second forward for %s %s port %u",
			           path, value_name(forward_protos, f->proto),
			           value_name(families, f->family), f->public_port);
			goto out;
		}
		seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	for (size_t i = 0; i < s->n_egress; i++) {
		const struct wf_ctl_egress *e = &s->egress[i];

		snprintf(path, sizeof(path), "egress[%zu]", i);
		if (!value_name(egress_protos, e->proto)) {
			ret = fail(-EINVAL, err, errlen, "%s.proto: %u is not tcp, udp or any",
			           path, e->proto);
			goto out;
		}
		if ((e->port_lo == 0) != (e->port_hi == 0) || e->port_lo > e->port_hi) {
			ret = fail(-EINVAL, err, errlen,
			           "%s: ports %u..%u are not a range within 1..65535 (or 0..0 for "
			           "every port)",
			           path, e->port_lo, e->port_hi);
			goto out;
		}
		if (e->proto == 0 && e->port_lo != 0) {
			ret =
			    fail(-EINVAL, err, errlen, "%s: proto any takes no ports (0..0)", path);
			goto out;
		}
	}
out:
	free(seen);
	return ret;
}

static int validate_results(const struct wf_ctl_result *r, size_t n, const char *list, char *err,
                            size_t errlen)
{
	char path[PATH_MAX_LEN];
	int ret;

	if (n > WF_CTL_ENTRIES_MAX)
		return fail(-EINVAL, err, errlen, "%s: more than %d entries", list,
		            WF_CTL_ENTRIES_MAX);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s[%zu].reason", list, i);
		ret = check_reason(r[i].reason, !r[i].accepted, path, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int validate_state_ack(const struct wf_ctl_state_ack *a, char *err, size_t errlen)
{
	int ret;

	if (a->generation > GENERATION_MAX)
		return fail(-EINVAL, err, errlen,
		            "generation: %" PRIu64 " is out of range 0..%" PRIu64, a->generation,
		            GENERATION_MAX);
	ret = check_reason(a->reason, !a->applied, "reason", err, errlen);
	if (ret < 0)
		return ret;
	if (!a->applied && (a->n_forwards || a->n_egress))
		return fail(-EINVAL, err, errlen,
		            "%s: must be empty when the state was not applied",
		            a->n_forwards ? "forwards" : "egress");
	ret = validate_results(a->forwards, a->n_forwards, "forwards", err, errlen);
	if (ret < 0)
		return ret;
	return validate_results(a->egress, a->n_egress, "egress", err, errlen);
}

int wf_ctl_msg_validate(const struct wf_ctl_msg *m, char *err, size_t errlen)
{
	switch (m->type) {
	case WF_CTL_MSG_STATE:
		return validate_state(&m->state, err, errlen);
	case WF_CTL_MSG_STATE_ACK:
		return validate_state_ack(&m->state_ack, err, errlen);
	case WF_CTL_MSG_GATEWAY_INFO:
		if (m->gateway_info.n_ipv4 > WF_CTL_ADDRS_MAX ||
		    m->gateway_info.n_ipv6 > WF_CTL_ADDRS_MAX)
			return fail(-EINVAL, err, errlen, "%s: more than %d addresses",
			            m->gateway_info.n_ipv4 > WF_CTL_ADDRS_MAX ? "ipv4" : "ipv6",
			            WF_CTL_ADDRS_MAX);
		if (m->gateway_info.mtu < WF_CTL_MTU_MIN || m->gateway_info.mtu > WF_CTL_MTU_MAX)
			return fail(-EINVAL, err, errlen, "mtu: %" PRIu32 " is out of range %d..%d",
			            m->gateway_info.mtu, WF_CTL_MTU_MIN, WF_CTL_MTU_MAX);
		return 0;
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
		return 0;
	case WF_CTL_MSG_ERROR:
		return check_reason(m->error.reason, true, "reason", err, errlen);
	}
	return fail(-EINVAL, err, errlen, "message type %d is unknown", (int)m->type);
}

/* Encoding. Objects are built with json-c; allocation failures surface as NULL. */

static bool add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_object_add(obj, key, val) < 0) {
		json_object_put(val);
		return false;
	}
	return true;
}

static bool append(struct json_object *arr, struct json_object *val)
{
	if (!val)
		return false;
	if (json_object_array_add(arr, val) < 0) {
		json_object_put(val);
		return false;
	}
	return true;
}

static struct json_object *encode_state(const struct wf_ctl_state *s, struct json_object *root)
{
	struct json_object *forwards = json_object_new_array(), *egress = json_object_new_array();
	bool ok = add(root, "generation", json_object_new_int64((int64_t)s->generation));

	ok = add(root, "forwards", forwards) && ok;
	ok = add(root, "egress", egress) && ok;
	for (size_t i = 0; ok && i < s->n_forwards; i++) {
		const struct wf_ctl_forward *f = &s->forwards[i];
		struct json_object *o = json_object_new_object();

		ok =
		    append(forwards, o) &&
		    add(o, "proto", json_object_new_string(value_name(forward_protos, f->proto))) &&
		    add(o, "family", json_object_new_string(value_name(families, f->family))) &&
		    add(o, "public_port", json_object_new_int(f->public_port)) &&
		    add(o, "target_port", json_object_new_int(f->target_port));
	}
	for (size_t i = 0; ok && i < s->n_egress; i++) {
		const struct wf_ctl_egress *e = &s->egress[i];
		struct json_object *o = json_object_new_object();

		ok = append(egress, o) &&
		     add(o, "proto", json_object_new_string(value_name(egress_protos, e->proto))) &&
		     add(o, "port_lo", json_object_new_int(e->port_lo)) &&
		     add(o, "port_hi", json_object_new_int(e->port_hi));
	}
	return ok ? root : NULL;
}

static bool encode_results(struct json_object *root, const char *key, const struct wf_ctl_result *r,
                           size_t n)
{
	struct json_object *arr = json_object_new_array();
	bool ok = add(root, key, arr);

	for (size_t i = 0; ok && i < n; i++) {
		struct json_object *o = json_object_new_object();

		ok = append(arr, o) && add(o, "accepted", json_object_new_boolean(r[i].accepted));
		if (ok && !r[i].accepted)
			ok = add(o, "reason", json_object_new_string(r[i].reason));
	}
	return ok;
}

static struct json_object *encode_state_ack(const struct wf_ctl_state_ack *a,
                                            struct json_object *root)
{
	bool ok = add(root, "generation", json_object_new_int64((int64_t)a->generation)) &&
	          add(root, "applied", json_object_new_boolean(a->applied));

	if (ok && !a->applied)
		ok = add(root, "reason", json_object_new_string(a->reason));
	ok = ok && encode_results(root, "forwards", a->forwards, a->n_forwards);
	ok = ok && encode_results(root, "egress", a->egress, a->n_egress);
	return ok ? root : NULL;
}

static struct json_object *encode_gateway_info(const struct wf_ctl_gateway_info *g,
                                               struct json_object *root)
{
	struct json_object *v4 = json_object_new_array(), *v6 = json_object_new_array();
	char text[INET6_ADDRSTRLEN];
	bool ok = add(root, "ipv4", v4);

	ok = add(root, "ipv6", v6) && ok;
	for (size_t i = 0; ok && i < g->n_ipv4; i++)
		ok = inet_ntop(AF_INET, &g->ipv4[i], text, sizeof(text)) &&
		     append(v4, json_object_new_string(text));
	for (size_t i = 0; ok && i < g->n_ipv6; i++)
		ok = inet_ntop(AF_INET6, &g->ipv6[i], text, sizeof(text)) &&
		     append(v6, json_object_new_string(text));
	ok = ok && add(root, "mtu", json_object_new_int64(g->mtu));
	return ok ? root : NULL;
}

int wf_ctl_msg_encode(const struct wf_ctl_msg *m, char **json, size_t *len, char *err,
                      size_t errlen)
{
	struct json_object *root, *done = NULL;
	const char *text;
	size_t text_len;
	int ret;

	*json = NULL;
	*len = 0;
	ret = wf_ctl_msg_validate(m, err, errlen);
	if (ret < 0)
		return ret;
	root = json_object_new_object();
	if (!root || !add(root, "v", json_object_new_int(WF_CTL_VERSION)) ||
	    !add(root, "type", json_object_new_string(wf_ctl_msg_type_name(m->type))))
		goto nomem;
	switch (m->type) {
	case WF_CTL_MSG_STATE:
		done = encode_state(&m->state, root);
		break;
	case WF_CTL_MSG_STATE_ACK:
		done = encode_state_ack(&m->state_ack, root);
		break;
	case WF_CTL_MSG_GATEWAY_INFO:
		done = encode_gateway_info(&m->gateway_info, root);
		break;
	case WF_CTL_MSG_ERROR:
		done = add(root, "reason", json_object_new_string(m->error.reason)) ? root : NULL;
		break;
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
		done = root;
		break;
	}
	if (!done)
		goto nomem;
	text = json_object_to_json_string_length(
	    root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &text_len);
	if (!text)
		goto nomem;
	if (text_len > WF_CTL_MSG_MAX) {
		json_object_put(root);
		return fail(-EMSGSIZE, err, errlen, "%s message is %zu bytes, at most %d",
		            wf_ctl_msg_type_name(m->type), text_len, WF_CTL_MSG_MAX);
	}
	*json = malloc(text_len + 1);
	if (!*json)
		goto nomem;
	memcpy(*json, text, text_len + 1);
	*len = text_len;
	json_object_put(root);
	return 0;
nomem:
	json_object_put(root);
	return fail(-ENOMEM, err, errlen, "out of memory");
}

/* Decoding: the JSON shape is checked here, the rules on values by wf_ctl_msg_validate. */

struct decoder {
	char *err;
	size_t errlen;
};

static void field_path(char *out, const char *prefix, const char *name)
{
	snprintf(out, PATH_MAX_LEN, "%s%s%s", prefix, *prefix ? "." : "", name);
}

static const char *json_type_desc(enum json_type type)
{
	switch (type) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a fraction";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

static int bad(struct decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct decoder *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* keys: NULL-terminated list of every field the object may have. */
static int check_keys(struct decoder *d, struct json_object *obj, const char *prefix,
                      const char *const *keys)
{
	json_object_object_foreach(obj, key, val)
	{
		const char *const *k = keys;
		char shown[48];

		(void)val;
		while (*k && strcmp(*k, key))
			k++;
		if (!*k) {
			printable(shown, sizeof(shown), key);
			return bad(d, "%s%sunknown field \"%s\"", prefix, *prefix ? ": " : "",
			           shown);
		}
	}
	return 0;
}

static int get_field(struct decoder *d, struct json_object *obj, const char *prefix,
                     const char *name, enum json_type want, struct json_object **val)
{
	char path[PATH_MAX_LEN];

	field_path(path, prefix, name);
	if (!json_object_object_get_ex(obj, name, val))
		return bad(d, "%s: missing", path);
	if (!json_object_is_type(*val, want))
		return bad(d, "%s: want %s, got %s", path, json_type_desc(want),
		           json_type_desc(json_object_get_type(*val)));
	return 0;
}

static int get_uint(struct decoder *d, struct json_object *obj, const char *prefix,
                    const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	struct json_object *val;
	char path[PATH_MAX_LEN];
	int64_t as_signed;
	uint64_t as_unsigned;
	int ret;

	ret = get_field(d, obj, prefix, name, json_type_int, &val);
	if (ret < 0)
		return ret;
	field_path(path, prefix, name);
	/* json-c keeps integers above INT64_MAX as uint64 and clamps get_int64 for them */
	as_signed = json_object_get_int64(val);
	if (as_signed < 0)
		return bad(d, "%s: %" PRId64 " is out of range %" PRIu64 "..%" PRIu64, path,
		           as_signed, min, max);
	as_unsigned = json_object_get_uint64(val);
	if (as_unsigned < min || as_unsigned > max)
		return bad(d, "%s: %" PRIu64 " is out of range %" PRIu64 "..%" PRIu64, path,
		           as_unsigned, min, max);
	*out = as_unsigned;
	return 0;
}

static int get_port(struct decoder *d, struct json_object *obj, const char *prefix,
                    const char *name, uint16_t min, uint16_t *out)
{
	uint64_t v;
	int ret = get_uint(d, obj, prefix, name, min, 65535, &v);

	if (ret == 0)
		*out = (uint16_t)v;
	return ret;
}

static int get_bool(struct decoder *d, struct json_object *obj, const char *prefix,
                    const char *name, bool *out)
{
	struct json_object *val;
	int ret = get_field(d, obj, prefix, name, json_type_boolean, &val);

	if (ret == 0)
		*out = json_object_get_boolean(val);
	return ret;
}

static int string_value(struct decoder *d, struct json_object *val, const char *path, char *buf,
                        size_t bufsize)
{
	const char *s = json_object_get_string(val);
	size_t len = (size_t)json_object_get_string_len(val);

	if (len == 0)
		return bad(d, "%s: must not be empty", path);
	if (len >= bufsize)
		return bad(d, "%s: %zu bytes, at most %zu", path, len, bufsize - 1);
	if (memchr(s, '\0', len) || !reason_text_valid(s, len))
		return bad(d, "%s: holds control characters", path);
	memcpy(buf, s, len + 1);
	return 0;
}

static int get_string(struct decoder *d, struct json_object *obj, const char *prefix,
                      const char *name, char *buf, size_t bufsize)
{
	struct json_object *val;
	char path[PATH_MAX_LEN];
	int ret = get_field(d, obj, prefix, name, json_type_string, &val);

	if (ret < 0)
		return ret;
	field_path(path, prefix, name);
	return string_value(d, val, path, buf, bufsize);
}

static int get_enum(struct decoder *d, struct json_object *obj, const char *prefix,
                    const char *name, const struct name_value *table, int *out)
{
	struct json_object *val;
	char path[PATH_MAX_LEN], shown[48], choices[64] = "";
	const char *s;
	int ret = get_field(d, obj, prefix, name, json_type_string, &val);

	if (ret < 0)
		return ret;
	s = json_object_get_string(val);
	for (const struct name_value *t = table; t->name; t++) {
		if ((size_t)json_object_get_string_len(val) == strlen(t->name) &&
		    !strcmp(s, t->name)) {
			*out = t->value;
			return 0;
		}
		snprintf(choices + strlen(choices), sizeof(choices) - strlen(choices), "%s%s",
		         t == table ? "" : ", ", t->name);
	}
	field_path(path, prefix, name);
	printable(shown, sizeof(shown), s);
	return bad(d, "%s: \"%s\" is not one of %s", path, shown, choices);
}

static int get_array(struct decoder *d, struct json_object *obj, const char *prefix,
                     const char *name, size_t max, struct json_object **arr, size_t *n)
{
	char path[PATH_MAX_LEN];
	int ret = get_field(d, obj, prefix, name, json_type_array, arr);

	if (ret < 0)
		return ret;
	*n = json_object_array_length(*arr);
	if (*n > max) {
		field_path(path, prefix, name);
		return bad(d, "%s: %zu entries, at most %zu", path, *n, max);
	}
	return 0;
}

static int get_entry(struct decoder *d, struct json_object *arr, size_t i, const char *path,
                     const char *const *keys, struct json_object **entry)
{
	*entry = json_object_array_get_idx(arr, i);
	if (!json_object_is_type(*entry, json_type_object))
		return bad(d, "%s: want an object, got %s", path,
		           json_type_desc(json_object_get_type(*entry)));
	return check_keys(d, *entry, path, keys);
}

static void *alloc_entries(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

static int decode_state(struct decoder *d, struct json_object *root, struct wf_ctl_state *s)
{
	static const char *const keys[] = {"v", "type", "generation", "forwards", "egress", NULL};
	static const char *const forward_keys[] = {"proto", "family", "public_port", "target_port",
	                                           NULL};
	static const char *const egress_keys[] = {"proto", "port_lo", "port_hi", NULL};
	struct json_object *forwards, *egress, *entry;
	char path[PATH_MAX_LEN];
	int ret, value;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = get_uint(d, root, "", "generation", 0, GENERATION_MAX, &s->generation)) < 0 ||
	    (ret = get_array(d, root, "", "forwards", WF_CTL_ENTRIES_MAX, &forwards,
	                     &s->n_forwards)) < 0 ||
	    (ret = get_array(d, root, "", "egress", WF_CTL_ENTRIES_MAX, &egress, &s->n_egress)) < 0)
		return ret;
	s->forwards = alloc_entries(s->n_forwards, sizeof(*s->forwards));
	s->egress = alloc_entries(s->n_egress, sizeof(*s->egress));
	if (!s->forwards || !s->egress)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_forwards; i++) {
		struct wf_ctl_forward *f = &s->forwards[i];

		snprintf(path, sizeof(path), "forwards[%zu]", i);
		if ((ret = get_entry(d, forwards, i, path, forward_keys, &entry)) < 0 ||
		    (ret = get_enum(d, entry, path, "proto", forward_protos, &value)) < 0)
			return ret;
		f->proto = (uint8_t)value;
		if ((ret = get_enum(d, entry, path, "family", families, &value)) < 0)
			return ret;
		f->family = (uint8_t)value;
		if ((ret = get_port(d, entry, path, "public_port", 1, &f->public_port)) < 0 ||
		    (ret = get_port(d, entry, path, "target_port", 1, &f->target_port)) < 0)
			return ret;
	}
	for (size_t i = 0; i < s->n_egress; i++) {
		struct wf_ctl_egress *e = &s->egress[i];

		snprintf(path, sizeof(path), "egress[%zu]", i);
		if ((ret = get_entry(d, egress, i, path, egress_keys, &entry)) < 0 ||
		    (ret = get_enum(d, entry, path, "proto", egress_protos, &value)) < 0)
			return ret;
		e->proto = (uint8_t)value;
		if ((ret = get_port(d, entry, path, "port_lo", 0, &e->port_lo)) < 0 ||
		    (ret = get_port(d, entry, path, "port_hi", 0, &e->port_hi)) < 0)
			return ret;
	}
	return 0;
}

static int decode_results(struct decoder *d, struct json_object *root, const char *name,
                          struct wf_ctl_result **out, size_t *n)
{
	static const char *const keys[] = {"accepted", "reason", NULL};
	struct json_object *arr, *entry, *reason;
	char path[PATH_MAX_LEN];
	int ret;

	ret = get_array(d, root, "", name, WF_CTL_ENTRIES_MAX, &arr, n);
	if (ret < 0)
		return ret;
	*out = alloc_entries(*n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		struct wf_ctl_result *r = &(*out)[i];

		snprintf(path, sizeof(path), "%s[%zu]", name, i);
		if ((ret = get_entry(d, arr, i, path, keys, &entry)) < 0 ||
		    (ret = get_bool(d, entry, path, "accepted", &r->accepted)) < 0)
			return ret;
		if (r->accepted) {
			if (json_object_object_get_ex(entry, "reason", &reason))
				return bad(d, "%s.reason: only allowed when accepted is false",
				           path);
		} else if ((ret = get_string(d, entry, path, "reason", r->reason,
		                             sizeof(r->reason))) < 0) {
			return ret;
		}
	}
	return 0;
}

static int decode_state_ack(struct decoder *d, struct json_object *root, struct wf_ctl_state_ack *a)
{
	static const char *const keys[] = {"v",      "type",     "generation", "applied",
	                                   "reason", "forwards", "egress",     NULL};
	struct json_object *reason;
	int ret;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = get_uint(d, root, "", "generation", 0, GENERATION_MAX, &a->generation)) < 0 ||
	    (ret = get_bool(d, root, "", "applied", &a->applied)) < 0)
		return ret;
	if (a->applied) {
		if (json_object_object_get_ex(root, "reason", &reason))
			return bad(d, "reason: only allowed when applied is false");
	} else if ((ret = get_string(d, root, "", "reason", a->reason, sizeof(a->reason))) < 0) {
		return ret;
	}
	if ((ret = decode_results(d, root, "forwards", &a->forwards, &a->n_forwards)) < 0)
		return ret;
	return decode_results(d, root, "egress", &a->egress, &a->n_egress);
}

static int decode_addrs(struct decoder *d, struct json_object *root, const char *name, int family,
                        void *addrs, size_t addr_size, size_t *n)
{
	struct json_object *arr, *entry;
	char path[PATH_MAX_LEN], shown[48];
	int ret;

	ret = get_array(d, root, "", name, WF_CTL_ADDRS_MAX, &arr, n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < *n; i++) {
		snprintf(path, sizeof(path), "%s[%zu]", name, i);
		entry = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(entry, json_type_string))
			return bad(d, "%s: want a string, got %s", path,
			           json_type_desc(json_object_get_type(entry)));
		if (inet_pton(family, json_object_get_string(entry),
		              (uint8_t *)addrs + i * addr_size) != 1 ||
		    strlen(json_object_get_string(entry)) !=
		        (size_t)json_object_get_string_len(entry)) {
			printable(shown, sizeof(shown), json_object_get_string(entry));
			return bad(d, "%s: \"%s\" is not an %s address", path, shown,
			           family == AF_INET ? "IPv4" : "IPv6");
		}
	}
	return 0;
}

static int decode_gateway_info(struct decoder *d, struct json_object *root,
                               struct wf_ctl_gateway_info *g)
{
	static const char *const keys[] = {"v", "type", "ipv4", "ipv6", "mtu", NULL};
	uint64_t mtu;
	int ret;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = decode_addrs(d, root, "ipv4", AF_INET, g->ipv4, sizeof(g->ipv4[0]),
	                        &g->n_ipv4)) < 0 ||
	    (ret = decode_addrs(d, root, "ipv6", AF_INET6, g->ipv6, sizeof(g->ipv6[0]),
	                        &g->n_ipv6)) < 0 ||
	    (ret = get_uint(d, root, "", "mtu", WF_CTL_MTU_MIN, WF_CTL_MTU_MAX, &mtu)) < 0)
		return ret;
	g->mtu = (uint32_t)mtu;
	return 0;
}

static int decode_root(struct decoder *d, struct json_object *root, struct wf_ctl_msg *out)
{
	static const char *const bare_keys[] = {"v", "type", NULL};
	static const char *const error_keys[] = {"v", "type", "reason", NULL};
	struct json_object *val;
	int ret, type;

	if (!json_object_is_type(root, json_type_object))
		return bad(d, "message is %s, want an object",
		           json_type_desc(json_object_get_type(root)));
	if (!json_object_object_get_ex(root, "v", &val))
		return bad(d, "v: missing");
	if (!json_object_is_type(val, json_type_int))
		return bad(d, "v: want an integer, got %s",
		           json_type_desc(json_object_get_type(val)));
	if (json_object_get_int64(val) != WF_CTL_VERSION)
		return bad(d, "v: protocol version %" PRId64 ", this side speaks %d",
		           json_object_get_int64(val), WF_CTL_VERSION);
	if ((ret = get_enum(d, root, "", "type", msg_types, &type)) < 0)
		return ret;
	out->type = (enum wf_ctl_msg_type)type;
	switch (out->type) {
	case WF_CTL_MSG_STATE:
		return decode_state(d, root, &out->state);
	case WF_CTL_MSG_STATE_ACK:
		return decode_state_ack(d, root, &out->state_ack);
	case WF_CTL_MSG_GATEWAY_INFO:
		return decode_gateway_info(d, root, &out->gateway_info);
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
		return check_keys(d, root, "", bare_keys);
	case WF_CTL_MSG_ERROR:
		if ((ret = check_keys(d, root, "", error_keys)) < 0)
			return ret;
		return get_string(d, root, "", "reason", out->error.reason,
		                  sizeof(out->error.reason));
	}
	return bad(d, "type: unknown");
}

int wf_ctl_msg_decode(const char *json, size_t len, struct wf_ctl_msg *out, char *err,
                      size_t errlen)
{
	struct decoder d = {.err = err, .errlen = errlen};
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	enum json_tokener_error jerr;
	bool end_known = false;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len > WF_CTL_MSG_MAX)
		return bad(&d, "message is %zu bytes, at most %d", len, WF_CTL_MSG_MAX);
	if (len == 0)
		return bad(&d, "message is empty");
	tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok)
		return fail(-ENOMEM, err, errlen, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/* a bare literal or number is only known to end at the end of input */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_continue) {
			ret = bad(&d, "message is not whole JSON: it ends early");
			goto out;
		}
		end_known = true;
	}
	if (jerr != json_tokener_success) {
		ret = bad(&d, "message is not JSON: %s", json_tokener_error_desc(jerr));
		goto out;
	}
	if (!end_known && json_tokener_get_parse_end(tok) != len) {
		ret = bad(&d, "message has %zu bytes after its JSON value",
		          len - json_tokener_get_parse_end(tok));
		goto out;
	}
	ret = decode_root(&d, root, out);
	if (ret == 0) {
		ret = wf_ctl_msg_validate(out, err, errlen);
		if (ret < 0)
			ret = ret == -ENOMEM ? ret : -EBADMSG;
	} else if (ret == -ENOMEM) {
		fail(ret, err, errlen, "out of memory");
	}
out:
	if (ret < 0)
		wf_ctl_msg_clear(out);
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}
