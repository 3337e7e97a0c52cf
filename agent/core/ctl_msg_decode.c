/* The control messages read from JSON, shape first (their grammar: ctl.h); the rules on
 * values are wf_ctl_msg_validate's. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/ctl.h>
#include <wgfwd/version.h>

#include "ctl_msg_internal.h"

/* Decoding: the JSON shape is checked here, the rules on values by wf_ctl_msg_validate. */

struct decoder {
	char *err;
	size_t errlen;
};

/* "prefix.name", or "name" for an empty prefix, cut to size - 1 bytes as snprintf would: a
 * message's every field has its path made, and snprintf's would cost more than its parsing. */
static void path_join(char *out, size_t size, const char *prefix, const char *name)
{
	size_t n = 0, len = strlen(prefix);

	if (len) {
		n = len < size - 1 ? len : size - 1;
		memcpy(out, prefix, n);
		if (n < size - 1)
			out[n++] = '.';
	}
	len = strlen(name);
	if (len > size - 1 - n)
		len = size - 1 - n;
	memcpy(out + n, name, len);
	out[n + len] = '\0';
}

static void field_path(char *out, const char *prefix, const char *name)
{
	path_join(out, PATH_MAX_LEN, prefix, name);
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
			wf_ctl_printable(shown, sizeof(shown), key);
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

/* val must be an integer already */
static int uint_value(struct decoder *d, struct json_object *val, const char *path, uint64_t min,
                      uint64_t max, uint64_t *out)
{
	int64_t as_signed;
	uint64_t as_unsigned;

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

static int get_uint(struct decoder *d, struct json_object *obj, const char *prefix,
                    const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
	struct json_object *val;
	char path[PATH_MAX_LEN];
	int ret;

	ret = get_field(d, obj, prefix, name, json_type_int, &val);
	if (ret < 0)
		return ret;
	field_path(path, prefix, name);
	return uint_value(d, val, path, min, max, out);
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
	if (memchr(s, '\0', len) || !wf_ctl_reason_text_valid(s, len))
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
	}
	for (const struct name_value *t = table; t->name; t++)
		snprintf(choices + strlen(choices), sizeof(choices) - strlen(choices), "%s%s",
		         t == table ? "" : ", ", t->name);
	field_path(path, prefix, name);
	wf_ctl_printable(shown, sizeof(shown), s);
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

static int get_object(struct decoder *d, struct json_object *obj, const char *prefix,
                      const char *name, const char *const *keys, struct json_object **val)
{
	char path[PATH_MAX_LEN];
	int ret = get_field(d, obj, prefix, name, json_type_object, val);

	if (ret < 0)
		return ret;
	field_path(path, prefix, name);
	return check_keys(d, *val, path, keys);
}

/* Element i of an array, an integer in min..max. */
static int get_element(struct decoder *d, struct json_object *arr, const char *list, size_t i,
                       uint64_t min, uint64_t max, uint64_t *out)
{
	struct json_object *val = json_object_array_get_idx(arr, i);
	char path[PATH_MAX_LEN];
	int64_t v;

	/* the common case without writing a path; uint_value says what is wrong */
	if (json_object_is_type(val, json_type_int)) {
		v = json_object_get_int64(val);
		if (v >= 0 && (uint64_t)v >= min && (uint64_t)v <= max) {
			*out = (uint64_t)v;
			return 0;
		}
	}
	snprintf(path, sizeof(path), "%s[%zu]", list, i);
	if (!json_object_is_type(val, json_type_int))
		return bad(d, "%s: want an integer, got %s", path,
		           json_type_desc(json_object_get_type(val)));
	return uint_value(d, val, path, min, max, out);
}

/* A flat list of pairs (public and target port, or a port range): its pair count. */
static int get_pairs(struct decoder *d, struct json_object *obj, const char *prefix,
                     const char *name, struct json_object **arr, size_t *pairs)
{
	char path[PATH_MAX_LEN];
	size_t n;
	int ret = get_array(d, obj, prefix, name, 2 * (size_t)WF_CTL_ENTRIES_MAX, arr, &n);

	if (ret < 0)
		return ret;
	if (n % 2) {
		field_path(path, prefix, name);
		return bad(d, "%s: %zu numbers, want pairs", path, n);
	}
	*pairs = n / 2;
	return 0;
}

static void *alloc_entries(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* The number lists of a state's forwards (four: per protocol and family) or egress (two: per
 * protocol), read a pair at a time, so that a largest state's can be read in steps. */
struct pair_lists {
	bool egress, any;
	size_t n_lists;
	struct json_object *arr[4];
	size_t pairs[4];
	char name[4][PATH_MAX_LEN];
	size_t k, i, n; /* the next pair: list k, pair i, entry n */
};

static const struct {
	const char *proto_name, *family_name;
	uint8_t proto, family;
} forward_kinds[] = {
    {"tcp", "ipv4", IPPROTO_TCP, AF_INET},
    {"tcp", "ipv6", IPPROTO_TCP, AF_INET6},
    {"udp", "ipv4", IPPROTO_UDP, AF_INET},
    {"udp", "ipv6", IPPROTO_UDP, AF_INET6},
};

static const uint8_t egress_protos[] = {IPPROTO_TCP, IPPROTO_UDP};

/* A state's forwards member, in root (at: its path, "" for the message itself): its shape
 * checked and its entries allocated, to be read by read_pairs. */
static int forwards_start(struct decoder *d, struct json_object *root, const char *at,
                          struct wf_ctl_state *s, struct pair_lists *pl)
{
	static const char *const keys[] = {"tcp", "udp", NULL};
	static const char *const family_keys[] = {"ipv4", "ipv6", NULL};
	struct json_object *forwards, *per_proto;
	size_t total = 0;
	char prefix[PATH_MAX_LEN], name[16];
	int ret;

	memset(pl, 0, sizeof(*pl));
	pl->n_lists = 4;
	path_join(name, sizeof(name), at, "forwards");
	ret = get_object(d, root, at, "forwards", keys, &forwards);
	for (size_t k = 0; ret == 0 && k < 4; k++) {
		path_join(prefix, sizeof(prefix), name, forward_kinds[k].proto_name);
		if (k % 2 == 0)
			ret = get_object(d, forwards, name, forward_kinds[k].proto_name,
			                 family_keys, &per_proto);
		if (ret == 0)
			ret = get_pairs(d, per_proto, prefix, forward_kinds[k].family_name,
			                &pl->arr[k], &pl->pairs[k]);
		total += ret == 0 ? pl->pairs[k] : 0;
	}
	if (ret < 0)
		return ret;
	if (total > WF_CTL_ENTRIES_MAX)
		return bad(d, "%s: %zu entries, at most %d", name, total, WF_CTL_ENTRIES_MAX);
	s->forwards = alloc_entries(total, sizeof(*s->forwards));
	if (!s->forwards)
		return -ENOMEM;
	s->n_forwards = total;
	for (size_t k = 0; k < 4; k++) {
		path_join(prefix, sizeof(prefix), name, forward_kinds[k].proto_name);
		path_join(pl->name[k], sizeof(pl->name[k]), prefix, forward_kinds[k].family_name);
	}
	return 0;
}

static int egress_start(struct decoder *d, struct json_object *root, const char *at,
                        struct wf_ctl_state *s, struct pair_lists *pl)
{
	static const char *const keys[] = {"tcp", "udp", "any", NULL};
	static const char *const names[] = {"tcp", "udp"};
	struct json_object *egress;
	size_t total;
	char name[16];
	int ret;

	memset(pl, 0, sizeof(*pl));
	pl->egress = true;
	pl->n_lists = 2;
	path_join(name, sizeof(name), at, "egress");
	if ((ret = get_object(d, root, at, "egress", keys, &egress)) < 0 ||
	    (ret = get_pairs(d, egress, name, "tcp", &pl->arr[0], &pl->pairs[0])) < 0 ||
	    (ret = get_pairs(d, egress, name, "udp", &pl->arr[1], &pl->pairs[1])) < 0 ||
	    (ret = get_bool(d, egress, name, "any", &pl->any)) < 0)
		return ret;
	total = pl->pairs[0] + pl->pairs[1] + pl->any;
	if (total > WF_CTL_ENTRIES_MAX)
		return bad(d, "%s: %zu entries, at most %d", name, total, WF_CTL_ENTRIES_MAX);
	s->egress = alloc_entries(total, sizeof(*s->egress));
	if (!s->egress)
		return -ENOMEM;
	s->n_egress = total;
	for (size_t k = 0; k < 2; k++)
		path_join(pl->name[k], sizeof(pl->name[k]), name, names[k]);
	return 0;
}

/* Reads up to max pairs of the lists into s's entries: 1 while more are left, 0 when all are
 * read, or the first error, in the lists' order. */
static int read_pairs(struct decoder *d, struct pair_lists *pl, struct wf_ctl_state *s, size_t max)
{
	uint64_t min = pl->egress ? 0 : 1;
	int ret;

	for (; pl->k < pl->n_lists; pl->k++, pl->i = 0) {
		for (; pl->i < pl->pairs[pl->k]; pl->i++, pl->n++) {
			struct json_object *arr = pl->arr[pl->k];
			uint64_t a, b;

			if (!max--)
				return 1;
			if ((ret = get_element(d, arr, pl->name[pl->k], 2 * pl->i, min, 65535,
			                       &a)) < 0 ||
			    (ret = get_element(d, arr, pl->name[pl->k], 2 * pl->i + 1, min, 65535,
			                       &b)) < 0)
				return ret;
			if (pl->egress)
				s->egress[pl->n] =
				    (struct wf_ctl_egress){.proto = egress_protos[pl->k],
				                           .port_lo = (uint16_t)a,
				                           .port_hi = (uint16_t)b};
			else
				s->forwards[pl->n] =
				    (struct wf_ctl_forward){.proto = forward_kinds[pl->k].proto,
				                            .family = forward_kinds[pl->k].family,
				                            .public_port = (uint16_t)a,
				                            .target_port = (uint16_t)b};
		}
	}
	if (pl->any)
		s->egress[pl->n] = (struct wf_ctl_egress){.proto = 0};
	return 0;
}

static int decode_forwards(struct decoder *d, struct json_object *root, const char *at,
                           struct wf_ctl_state *s)
{
	struct pair_lists pl;
	int ret = forwards_start(d, root, at, s, &pl);

	return ret < 0 ? ret : read_pairs(d, &pl, s, SIZE_MAX);
}

static int decode_egress(struct decoder *d, struct json_object *root, const char *at,
                         struct wf_ctl_state *s)
{
	struct pair_lists pl;
	int ret = egress_start(d, root, at, s, &pl);

	return ret < 0 ? ret : read_pairs(d, &pl, s, SIZE_MAX);
}

/* An optional string field: absent leaves buf empty. */
static int get_optional_string(struct decoder *d, struct json_object *obj, const char *name,
                               char *buf, size_t bufsize)
{
	if (!json_object_object_get_ex(obj, name, NULL))
		return 0;
	return get_string(d, obj, "", name, buf, bufsize);
}

/* A state's members up to its forwards' lists, which read_pairs reads (and then egress). */
static int state_start(struct decoder *d, struct json_object *root, struct wf_ctl_state *s,
                       struct pair_lists *pl)
{
	static const char *const keys[] = {"v",      "type",          "generation", "forwards",
	                                   "egress", "agent_version", NULL};
	int ret;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = get_optional_string(d, root, "agent_version", s->agent_version,
	                               sizeof(s->agent_version))) < 0 ||
	    (ret = get_uint(d, root, "", "generation", 0, GENERATION_MAX, &s->generation)) < 0)
		return ret;
	return forwards_start(d, root, "", s, pl);
}

static int decode_delta_list(struct decoder *d, struct json_object *root, const char *name,
                             struct wf_ctl_state *l)
{
	static const char *const keys[] = {"forwards", "egress", NULL};
	struct json_object *obj;
	int ret;

	if ((ret = get_object(d, root, "", name, keys, &obj)) < 0 ||
	    (ret = decode_forwards(d, obj, name, l)) < 0)
		return ret;
	return decode_egress(d, obj, name, l);
}

static int decode_state_delta(struct decoder *d, struct json_object *root,
                              struct wf_ctl_state_delta *s)
{
	static const char *const keys[] = {"v", "type", "generation", "base", "add", "del", NULL};
	int ret;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = get_uint(d, root, "", "generation", 0, GENERATION_MAX, &s->generation)) < 0 ||
	    (ret = get_uint(d, root, "", "base", 0, GENERATION_MAX, &s->base)) < 0 ||
	    (ret = decode_delta_list(d, root, "add", &s->add)) < 0)
		return ret;
	return decode_delta_list(d, root, "del", &s->del);
}

/* One result per entry: 0 accepted, K refused for reasons[K-1]. */
static int decode_results(struct decoder *d, struct json_object *root, const char *name,
                          struct json_object *reasons, bool *used, struct wf_ctl_result **out,
                          size_t *n)
{
	size_t n_reasons = json_object_array_length(reasons);
	struct json_object *arr;
	int ret;

	ret = get_array(d, root, "", name, WF_CTL_ENTRIES_MAX, &arr, n);
	if (ret < 0)
		return ret;
	*out = alloc_entries(*n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		struct wf_ctl_result *r = &(*out)[i];
		struct json_object *text;
		uint64_t k;

		ret = get_element(d, arr, name, i, 0, n_reasons, &k);
		if (ret < 0)
			return ret;
		r->accepted = k == 0;
		if (r->accepted)
			continue;
		/* the reasons were checked: each fits and is plain text */
		text = json_object_array_get_idx(reasons, k - 1);
		memcpy(r->reason, json_object_get_string(text),
		       (size_t)json_object_get_string_len(text) + 1);
		used[k - 1] = true;
	}
	return 0;
}

static int decode_state_ack(struct decoder *d, struct json_object *root, bool delta,
                            struct wf_ctl_state_ack *a)
{
	static const char *const keys[] = {"v",       "type",     "generation", "applied", "reason",
	                                   "reasons", "forwards", "egress",     NULL};
	static const char *const delta_keys[] = {"v",      "type",   "generation", "applied",
	                                         "resend", "reason", "reasons",    "forwards",
	                                         "egress", NULL};
	bool used[WF_CTL_ACK_REASONS_MAX] = {false};
	struct json_object *reason, *reasons;
	char path[PATH_MAX_LEN], scratch[WF_CTL_REASON_MAX];
	size_t n_reasons;
	int ret;

	if ((ret = check_keys(d, root, "", delta ? delta_keys : keys)) < 0 ||
	    (ret = get_uint(d, root, "", "generation", 0, GENERATION_MAX, &a->generation)) < 0 ||
	    (ret = get_bool(d, root, "", "applied", &a->applied)) < 0 ||
	    (delta && (ret = get_bool(d, root, "", "resend", &a->resend)) < 0))
		return ret;
	if (a->applied) {
		if (json_object_object_get_ex(root, "reason", &reason))
			return bad(d, "reason: only allowed when applied is false");
	} else if ((ret = get_string(d, root, "", "reason", a->reason, sizeof(a->reason))) < 0) {
		return ret;
	}
	ret = get_array(d, root, "", "reasons", WF_CTL_ACK_REASONS_MAX, &reasons, &n_reasons);
	if (ret < 0)
		return ret;
	if (!a->applied && n_reasons)
		return bad(d, "reasons: must be empty when the state was not applied");
	for (size_t i = 0; i < n_reasons; i++) {
		struct json_object *text = json_object_array_get_idx(reasons, i);

		snprintf(path, sizeof(path), "reasons[%zu]", i);
		if (!json_object_is_type(text, json_type_string))
			return bad(d, "%s: want a string, got %s", path,
			           json_type_desc(json_object_get_type(text)));
		if ((ret = string_value(d, text, path, scratch, sizeof(scratch))) < 0)
			return ret;
	}
	if ((ret = decode_results(d, root, "forwards", reasons, used, &a->forwards,
	                          &a->n_forwards)) < 0 ||
	    (ret = decode_results(d, root, "egress", reasons, used, &a->egress, &a->n_egress)) < 0)
		return ret;
	for (size_t i = 0; i < n_reasons; i++)
		if (!used[i])
			return bad(d, "reasons[%zu]: no result refers to it", i);
	return 0;
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
			wf_ctl_printable(shown, sizeof(shown), json_object_get_string(entry));
			return bad(d, "%s: \"%s\" is not an %s address", path, shown,
			           family == AF_INET ? "IPv4" : "IPv6");
		}
	}
	return 0;
}

static int decode_gateway_info(struct decoder *d, struct json_object *root,
                               struct wf_ctl_gateway_info *g)
{
	static const char *const keys[] = {"v", "type", "ipv4", "ipv6", "mtu", "gateway_version",
	                                   NULL};
	uint64_t mtu;
	int ret;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = get_optional_string(d, root, "gateway_version", g->gateway_version,
	                               sizeof(g->gateway_version))) < 0 ||
	    (ret = decode_addrs(d, root, "ipv4", AF_INET, g->ipv4, sizeof(g->ipv4[0]),
	                        &g->n_ipv4)) < 0 ||
	    (ret = decode_addrs(d, root, "ipv6", AF_INET6, g->ipv6, sizeof(g->ipv6[0]),
	                        &g->n_ipv6)) < 0 ||
	    (ret = get_uint(d, root, "", "mtu", WF_CTL_MTU_MIN, WF_CTL_MTU_MAX, &mtu)) < 0)
		return ret;
	g->mtu = (uint32_t)mtu;
	return 0;
}

/* Names both sides' message versions and, where the peer's message carries one in a field
 * of the name this version uses, both software versions: the text goes to the peer in
 * `error` and into both logs, and says which side to upgrade. */
static int version_mismatch(struct decoder *d, struct json_object *root, int64_t v)
{
	static const char *const fields[] = {"agent_version", "gateway_version"};
	char peer[WF_CTL_VERSION_MAX] = "";
	struct json_object *val;

	for (size_t i = 0; i < 2 && !peer[0]; i++) {
		if (json_object_object_get_ex(root, fields[i], &val) &&
		    json_object_is_type(val, json_type_string) &&
		    (size_t)json_object_get_string_len(val) < sizeof(peer)) {
			memcpy(peer, json_object_get_string(val),
			       (size_t)json_object_get_string_len(val) + 1);
			if (!wf_ctl_version_text_valid(peer))
				peer[0] = '\0';
		}
	}
	return bad(d,
	           "v: protocol version %" PRId64 ", this side speaks %d (peer: %s%s; this side: "
	           "wgfwd %s)",
	           v, WF_CTL_MSG_VERSION, peer[0] ? "wgfwd " : "",
	           peer[0] ? peer : "version unknown", wf_version);
}

/* The message's members; a state's only up to its forwards' lists (pl, for read_pairs). */
static int decode_root(struct decoder *d, struct json_object *root, struct wf_ctl_msg *out,
                       struct pair_lists *pl)
{
	static const char *const bare_keys[] = {"v", "type", NULL};
	static const char *const error_keys[] = {"v", "type", "reason", NULL};
	struct json_object *val;
	int ret, type = 0;

	if (!json_object_is_type(root, json_type_object))
		return bad(d, "message is %s, want an object",
		           json_type_desc(json_object_get_type(root)));
	if (!json_object_object_get_ex(root, "v", &val))
		return bad(d, "v: missing");
	if (!json_object_is_type(val, json_type_int))
		return bad(d, "v: want an integer, got %s",
		           json_type_desc(json_object_get_type(val)));
	if (json_object_get_int64(val) != WF_CTL_MSG_VERSION)
		return version_mismatch(d, root, json_object_get_int64(val));
	if ((ret = get_enum(d, root, "", "type", wf_ctl_msg_types, &type)) < 0)
		return ret;
	out->type = (enum wf_ctl_msg_type)type;
	switch (out->type) {
	case WF_CTL_MSG_STATE:
		return state_start(d, root, &out->state, pl);
	case WF_CTL_MSG_STATE_ACK:
	case WF_CTL_MSG_DELTA_ACK:
		return decode_state_ack(d, root, out->type == WF_CTL_MSG_DELTA_ACK,
		                        &out->state_ack);
	case WF_CTL_MSG_STATE_DELTA:
		return decode_state_delta(d, root, &out->state_delta);
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

/* Counts what the text holds before json-c builds it: its document costs about 70 bytes per
 * number and 800 per object, so 1 MiB of "{}," alone would cost 280 MB. Only a message within
 * WF_CTL_JSON_*_MAX gets parsed; the largest state (about 131,000 numbers) costs ~10 MB. */
static int check_shape(struct decoder *d, const char *json, size_t len)
{
	size_t containers = 0, members = 0, commas = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (json[i] == '\\')
				i++;
			else if (json[i] == '"')
				in_string = false;
			continue;
		}
		switch (json[i]) {
		case '"':
			in_string = true;
			break;
		case '{':
		case '[':
			containers++;
			break;
		case ':':
			members++;
			break;
		case ',':
			commas++;
			break;
		}
	}
	if (containers > WF_CTL_JSON_CONTAINERS_MAX)
		return bad(d, "message has %zu objects and arrays, at most %d", containers,
		           WF_CTL_JSON_CONTAINERS_MAX);
	if (members > WF_CTL_JSON_MEMBERS_MAX)
		return bad(d, "message has %zu object members, at most %d", members,
		           WF_CTL_JSON_MEMBERS_MAX);
	if (commas > WF_CTL_JSON_COMMAS_MAX)
		return bad(d,
		           "message has %zu commas, at most %d: more values than any message holds",
		           commas, WF_CTL_JSON_COMMAS_MAX);
	return 0;
}

/* A message decoded in steps: the text checked, parsed a piece at a time, its entries read a
 * run at a time, then validated. */
struct wf_ctl_decoder {
	const char *json;
	size_t len, at; /* parsed up to at */
	enum { DEC_START, DEC_PARSE, DEC_FORWARDS, DEC_EGRESS, DEC_VALIDATE, DEC_END } phase;
	struct json_tokener *tok;
	struct json_object *root;
	struct pair_lists lists;
	struct wf_ctl_msg msg;
};

int wf_ctl_decoder_new(const char *json, size_t len, struct wf_ctl_decoder **out)
{
	struct wf_ctl_decoder *dc = calloc(1, sizeof(*dc));

	if (!dc)
		return -ENOMEM;
	dc->json = json;
	dc->len = len;
	*out = dc;
	return 0;
}

void wf_ctl_decoder_free(struct wf_ctl_decoder *dc)
{
	if (!dc)
		return;
	wf_ctl_msg_clear(&dc->msg);
	json_object_put(dc->root);
	if (dc->tok)
		json_tokener_free(dc->tok);
	free(dc);
}

/* The value ended at `end' with text left after it, where parsing it whole would have gone on:
 * white space is taken, anything else is an error. The tail is parsed after an empty object,
 * as json-c would have parsed it after the value, so that the answer is its. */
static int parse_tail(struct decoder *d, struct wf_ctl_decoder *dc, size_t end)
{
	size_t tail = dc->len - end;
	char *text = malloc(tail + 2);
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	struct json_object *obj = NULL;
	enum json_tokener_error jerr;
	int ret = 0;

	if (!text || !tok) {
		ret = wf_ctl_fail(-ENOMEM, d->err, d->errlen, "out of memory");
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	memcpy(text, "{}", 2);
	memcpy(text + 2, dc->json + end, tail);
	obj = json_tokener_parse_ex(tok, text, (int)(tail + 2));
	jerr = json_tokener_get_error(tok);
	if (jerr != json_tokener_success)
		ret = bad(d, "message is not JSON: %s", json_tokener_error_desc(jerr));
	else if (json_tokener_get_parse_end(tok) != tail + 2)
		ret = bad(d, "message has %zu bytes after its JSON value",
		          tail + 2 - json_tokener_get_parse_end(tok));
out:
	json_object_put(obj);
	if (tok)
		json_tokener_free(tok);
	free(text);
	return ret;
}

/* Up to `bytes' more of the text parsed: 1 while more is left, 0 when the value is whole. */
/* How far back from its end a piece of the text looks for a comma to end after. */
#define CUT_SEARCH 256

static bool ends_token(char c)
{
	return strchr(",:[]{} \t\n\r", c) && c != '\0';
}

static int parse_some(struct decoder *d, struct wf_ctl_decoder *dc, size_t bytes)
{
	size_t n = dc->len - dc->at < bytes ? dc->len - dc->at : bytes, k = n;
	enum json_tokener_error jerr;

	/* json-c parses a text cut anywhere, but not always as it parses it whole: its UTF-8 check
	 * takes a character cut by the end of the input as invalid, and a number cut in two may
	 * be taken for two numbers, or refused with other words. A piece ends after a comma, a
	 * bracket, a colon or white space, the way json-c has ended every token before it (in a
	 * string, the string goes on): the last one within CUT_SEARCH bytes of its end, else the
	 * first one after. */
	if (dc->at + n < dc->len) {
		while (k > 0 && n - k < CUT_SEARCH && !ends_token(dc->json[dc->at + k - 1]))
			k--;
		if (k > 0 && ends_token(dc->json[dc->at + k - 1]))
			n = k;
		else
			while (dc->at + n < dc->len && !ends_token(dc->json[dc->at + n - 1]))
				n++;
	}
	dc->root = json_tokener_parse_ex(dc->tok, dc->json + dc->at, (int)n);
	jerr = json_tokener_get_error(dc->tok);
	if (jerr == json_tokener_continue) {
		dc->at += n;
		if (dc->at < dc->len)
			return 1;
		/* a bare literal or number is only known to end at the end of input */
		dc->root = json_tokener_parse_ex(dc->tok, "", 1);
		jerr = json_tokener_get_error(dc->tok);
		if (jerr == json_tokener_continue)
			return bad(d, "message is not whole JSON: it ends early");
		if (jerr != json_tokener_success)
			return bad(d, "message is not JSON: %s", json_tokener_error_desc(jerr));
		return 0;
	}
	if (jerr != json_tokener_success)
		return bad(d, "message is not JSON: %s", json_tokener_error_desc(jerr));
	dc->at += json_tokener_get_parse_end(dc->tok);
	if (dc->at == dc->len)
		return 0;
	/* Parsed whole, json-c would have seen the rest in this same call. */
	if (json_tokener_get_parse_end(dc->tok) < n)
		return bad(d, "message has %zu bytes after its JSON value", dc->len - dc->at);
	return parse_tail(d, dc, dc->at);
}

/* Reading a pair costs about what parsing this many bytes does. */
#define PAIR_BYTES 8

static int decoder_step(struct decoder *d, struct wf_ctl_decoder *dc, size_t bytes)
{
	int ret;

	switch (dc->phase) {
	case DEC_START:
		if (dc->len > WF_CTL_MSG_MAX)
			return bad(d, "message is %zu bytes, at most %d", dc->len, WF_CTL_MSG_MAX);
		if (dc->len == 0)
			return bad(d, "message is empty");
		if ((ret = check_shape(d, dc->json, dc->len)) < 0)
			return ret;
		dc->tok = json_tokener_new_ex(JSON_DEPTH_MAX);
		if (!dc->tok)
			return -ENOMEM;
		json_tokener_set_flags(dc->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		dc->phase = DEC_PARSE;
		return 1;
	case DEC_PARSE:
		if ((ret = parse_some(d, dc, bytes)) != 0)
			return ret;
		ret = decode_root(d, dc->root, &dc->msg, &dc->lists);
		if (ret < 0)
			return ret;
		dc->phase = dc->msg.type == WF_CTL_MSG_STATE ? DEC_FORWARDS : DEC_VALIDATE;
		return 1;
	case DEC_FORWARDS:
	case DEC_EGRESS:
		ret = read_pairs(d, &dc->lists, &dc->msg.state, bytes / PAIR_BYTES + 1);
		if (ret != 0)
			return ret;
		if (dc->phase == DEC_FORWARDS &&
		    (ret = egress_start(d, dc->root, "", &dc->msg.state, &dc->lists)) < 0)
			return ret;
		dc->phase = dc->phase == DEC_FORWARDS ? DEC_EGRESS : DEC_VALIDATE;
		return 1;
	case DEC_VALIDATE:
		json_object_put(dc->root);
		dc->root = NULL;
		ret = wf_ctl_msg_validate(&dc->msg, d->err, d->errlen);
		if (ret < 0)
			return ret == -ENOMEM ? ret : -EBADMSG;
		dc->phase = DEC_END;
		return 0;
	case DEC_END:
		break;
	}
	return bad(d, "nothing left to decode");
}

int wf_ctl_decoder_step(struct wf_ctl_decoder *dc, size_t bytes, struct wf_ctl_msg *out, char *err,
                        size_t errlen)
{
	struct decoder d = {.err = err, .errlen = errlen};
	int ret;

	memset(out, 0, sizeof(*out));
	if (dc->phase == DEC_END)
		return bad(&d, "nothing left to decode");
	ret = decoder_step(&d, dc, bytes ? bytes : 1);
	if (ret == 1)
		return 1;
	if (ret == -ENOMEM)
		wf_ctl_fail(ret, err, errlen, "out of memory");
	if (ret < 0)
		wf_ctl_msg_clear(&dc->msg);
	else
		*out = dc->msg;
	memset(&dc->msg, 0, sizeof(dc->msg));
	dc->phase = DEC_END;
	return ret;
}

int wf_ctl_msg_decode(const char *json, size_t len, struct wf_ctl_msg *out, char *err,
                      size_t errlen)
{
	struct wf_ctl_decoder *dc;
	int ret;

	memset(out, 0, sizeof(*out));
	if (wf_ctl_decoder_new(json, len, &dc))
		return wf_ctl_fail(-ENOMEM, err, errlen, "out of memory");
	do
		ret = wf_ctl_decoder_step(dc, SIZE_MAX, out, err, errlen);
	while (ret == 1);
	wf_ctl_decoder_free(dc);
	return ret;
}
