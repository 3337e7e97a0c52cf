/* The state file's text: the canonical form the gateway writes, read back without a JSON
 * tree, and a strict json-c reader for anything else, which alone words the errors. The files
 * themselves and the journal are store.c's. */
#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static json_object *forward_json(const struct wf_ctl_forward *f)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_object_object_add(
	        o, "family", json_object_new_string(f->family == AF_INET6 ? "ipv6" : "ipv4")) ||
	    json_object_object_add(o, "proto",
	                           json_object_new_string(wf_gw_proto_name(f->proto))) ||
	    json_object_object_add(o, "public_port", json_object_new_int(f->public_port)) ||
	    json_object_object_add(o, "target_port", json_object_new_int(f->target_port))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *egress_json(const struct wf_ctl_egress *g)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_object_object_add(o, "proto",
	                           json_object_new_string(wf_gw_proto_name(g->proto))) ||
	    json_object_object_add(o, "port_lo", json_object_new_int(g->port_lo)) ||
	    json_object_object_add(o, "port_hi", json_object_new_int(g->port_hi))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- the canonical text, written without a JSON tree ---- */

/* Each change of a peer writes its whole file; json-c's tree of a largest state took longer to
 * build than the rest of the change together. The text is what json-c writes (JSON_C_TO_STRING_
 * PLAIN, the keys in this order), built directly; a name with a character JSON might escape
 * goes through json-c instead. */
#define FORWARD_TEXT_MAX                                                                       \
	sizeof("{\"family\":\"ipv4\",\"proto\":\"tcp\",\"public_port\":65535,\"target_port\":" \
	       "65535},")
#define EGRESS_TEXT_MAX sizeof("{\"proto\":\"tcp\",\"port_lo\":65535,\"port_hi\":65535},")

static char *put(char *at, const char *text, size_t n)
{
	memcpy(at, text, n);
	return at + n;
}

#define PUT(at, text) put(at, text, sizeof(text) - 1)

static char *put_number(char *at, unsigned v)
{
	char digits[8];
	size_t n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*at++ = digits[--n];
	return at;
}

static char *put_string(char *at, const char *s)
{
	*at++ = '"';
	at = put(at, s, strlen(s));
	*at++ = '"';
	return at;
}

static bool plain_name(const char *name)
{
	return strlen(name) < 256 && strspn(name, "0123456789abcdefABCDEF.:") == strlen(name);
}

static int encode_canonical(const char *peer_name, const struct wf_gw_entries *e, char **json)
{
	size_t max = 64 + strlen(peer_name) + e->n_forwards * FORWARD_TEXT_MAX +
	             e->n_egress * EGRESS_TEXT_MAX;
	char *buf = malloc(max), *at = buf;

	if (!buf)
		return -ENOMEM;
	at = PUT(at, "{\"version\":");
	at = put_number(at, WF_GW_STORE_VERSION);
	at = PUT(at, ",\"peer\":");
	at = put_string(at, peer_name);
	at = PUT(at, ",\"forwards\":[");
	for (size_t i = 0; i < e->n_forwards; i++) {
		const struct wf_ctl_forward *f = &e->forwards[i];

		if (i)
			*at++ = ',';
		at = PUT(at, "{\"family\":");
		at = put_string(at, f->family == AF_INET6 ? "ipv6" : "ipv4");
		at = PUT(at, ",\"proto\":");
		at = put_string(at, wf_gw_proto_name(f->proto));
		at = PUT(at, ",\"public_port\":");
		at = put_number(at, f->public_port);
		at = PUT(at, ",\"target_port\":");
		at = put_number(at, f->target_port);
		*at++ = '}';
	}
	at = PUT(at, "],\"egress\":[");
	for (size_t i = 0; i < e->n_egress; i++) {
		const struct wf_ctl_egress *g = &e->egress[i];

		if (i)
			*at++ = ',';
		at = PUT(at, "{\"proto\":");
		at = put_string(at, wf_gw_proto_name(g->proto));
		at = PUT(at, ",\"port_lo\":");
		at = put_number(at, g->port_lo);
		at = PUT(at, ",\"port_hi\":");
		at = put_number(at, g->port_hi);
		*at++ = '}';
	}
	at = PUT(at, "]}");
	*at = '\0';
	*json = buf;
	return 0;
}

int wf_gw_store_encode(const char *peer_name, const struct wf_gw_entries *e, char **json)
{
	if (plain_name(peer_name))
		return encode_canonical(peer_name, e, json);
	return wf_gw_store_encode_json_c(peer_name, e, json);
}

int wf_gw_store_encode_json_c(const char *peer_name, const struct wf_gw_entries *e, char **json)
{
	json_object *root = json_object_new_object(), *fwd = json_object_new_array(),
	            *egr = json_object_new_array();
	int ret = -ENOMEM;

	*json = NULL;
	if (!root || !fwd || !egr)
		goto out;
	for (size_t i = 0; i < e->n_forwards; i++) {
		json_object *o = forward_json(&e->forwards[i]);

		if (!o || json_object_array_add(fwd, o)) {
			json_object_put(o);
			goto out;
		}
	}
	for (size_t i = 0; i < e->n_egress; i++) {
		json_object *o = egress_json(&e->egress[i]);

		if (!o || json_object_array_add(egr, o)) {
			json_object_put(o);
			goto out;
		}
	}
	if (json_object_object_add(root, "version", json_object_new_int(WF_GW_STORE_VERSION)) ||
	    json_object_object_add(root, "peer", json_object_new_string(peer_name)))
		goto out;
	if (json_object_object_add(root, "forwards", fwd))
		goto out;
	fwd = NULL;
	if (json_object_object_add(root, "egress", egr))
		goto out;
	egr = NULL;
	*json = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	ret = *json ? 0 : -ENOMEM;
out:
	json_object_put(fwd);
	json_object_put(egr);
	json_object_put(root);
	return ret;
}

/* ---- reading ---- */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static json_object *field(json_object *o, const char *name, json_type type, const char *where,
                          char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(o, name, &v)) {
		bad(err, errlen, "%s: `%s' is missing", where, name);
		return NULL;
	}
	if (!json_object_is_type(v, type)) {
		bad(err, errlen, "%s.%s: wrong type", where, name);
		return NULL;
	}
	return v;
}

static int port_field(json_object *o, const char *name, const char *where, bool zero_ok,
                      uint16_t *out, char *err, size_t errlen)
{
	json_object *v = field(o, name, json_type_int, where, err, errlen);
	int64_t n;

	if (!v)
		return -EBADMSG;
	n = json_object_get_int64(v);
	if (n < (zero_ok ? 0 : 1) || n > 65535)
		return bad(err, errlen, "%s.%s: %lld is not a port", where, name, (long long)n);
	*out = (uint16_t)n;
	return 0;
}

static int proto_field(json_object *o, const char *where, bool all_ok, uint8_t *out, char *err,
                       size_t errlen)
{
	json_object *v = field(o, "proto", json_type_string, where, err, errlen);
	const char *s;

	if (!v)
		return -EBADMSG;
	s = json_object_get_string(v);
	if (!strcmp(s, "tcp"))
		*out = IPPROTO_TCP;
	else if (!strcmp(s, "udp"))
		*out = IPPROTO_UDP;
	else if (all_ok && !strcmp(s, "all"))
		*out = 0;
	else
		return bad(err, errlen, "%s.proto: `%s' is not a protocol", where, s);
	return 0;
}

static int read_forward(json_object *o, const char *where, struct wf_ctl_forward *f, char *err,
                        size_t errlen)
{
	json_object *fam;
	const char *s;

	if (!json_object_is_type(o, json_type_object))
		return bad(err, errlen, "%s: not an object", where);
	fam = field(o, "family", json_type_string, where, err, errlen);
	if (!fam)
		return -EBADMSG;
	s = json_object_get_string(fam);
	if (!strcmp(s, "ipv4"))
		f->family = AF_INET;
	else if (!strcmp(s, "ipv6"))
		f->family = AF_INET6;
	else
		return bad(err, errlen, "%s.family: `%s' is not ipv4 or ipv6", where, s);
	if (proto_field(o, where, false, &f->proto, err, errlen) ||
	    port_field(o, "public_port", where, false, &f->public_port, err, errlen) ||
	    port_field(o, "target_port", where, false, &f->target_port, err, errlen))
		return -EBADMSG;
	return 0;
}

static int read_egress(json_object *o, const char *where, struct wf_ctl_egress *g, char *err,
                       size_t errlen)
{
	if (!json_object_is_type(o, json_type_object))
		return bad(err, errlen, "%s: not an object", where);
	if (proto_field(o, where, true, &g->proto, err, errlen) ||
	    port_field(o, "port_lo", where, true, &g->port_lo, err, errlen) ||
	    port_field(o, "port_hi", where, true, &g->port_hi, err, errlen))
		return -EBADMSG;
	return 0;
}

static int read_entries(json_object *root, struct wf_gw_entries *e, char *err, size_t errlen)
{
	json_object *fwd = field(root, "forwards", json_type_array, "state", err, errlen);
	json_object *egr =
	    fwd ? field(root, "egress", json_type_array, "state", err, errlen) : NULL;
	char where[48];

	if (!fwd || !egr)
		return -EBADMSG;
	for (size_t i = 0; i < json_object_array_length(fwd); i++) {
		struct wf_ctl_forward f = {0};

		snprintf(where, sizeof(where), "forwards[%zu]", i);
		if (read_forward(json_object_array_get_idx(fwd, i), where, &f, err, errlen))
			return -EBADMSG;
		if (wf_gw_entries_add_forward(e, &f))
			return -ENOMEM;
	}
	for (size_t i = 0; i < json_object_array_length(egr); i++) {
		struct wf_ctl_egress g = {0};

		snprintf(where, sizeof(where), "egress[%zu]", i);
		if (read_egress(json_object_array_get_idx(egr, i), where, &g, err, errlen))
			return -EBADMSG;
		if (wf_gw_entries_add_egress(e, &g))
			return -ENOMEM;
	}
	return 0;
}

static bool same_peer(const char *a, const char *b)
{
	unsigned char x[sizeof(struct in6_addr)], y[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
		return !memcmp(x, y, sizeof(struct in_addr));
	if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
		return !memcmp(x, y, sizeof(struct in6_addr));
	return !strcmp(a, b);
}

/* ---- the canonical text, read without a JSON tree ---- */

/* A restart reads every peer's file before the first forward is back; building json-c's tree
 * of a file costs ten times what its entries do. What wf_gw_store_encode wrote (its key order,
 * no spaces, no escapes, numbers in range) is read here directly; anything else, valid or not,
 * goes to the strict reader below, which alone decides what is wrong with it. */
struct scan {
	const char *p, *end;
};

static bool lit(struct scan *s, const char *text, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, text, n))
		return false;
	s->p += n;
	return true;
}

#define LIT(s, text) lit(s, text, sizeof(text) - 1)

static bool number(struct scan *s, unsigned min, unsigned max, uint16_t *out)
{
	const char *start = s->p;
	unsigned v = 0;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - start < 6)
		v = v * 10 + (unsigned)(*s->p++ - '0');
	if (s->p == start || s->p - start > 5 || (*start == '0' && s->p - start > 1) || v < min ||
	    v > max)
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool canonical_proto(struct scan *s, bool all_ok, uint8_t *proto)
{
	if (LIT(s, "tcp\""))
		*proto = IPPROTO_TCP;
	else if (LIT(s, "udp\""))
		*proto = IPPROTO_UDP;
	else if (all_ok && LIT(s, "all\""))
		*proto = 0;
	else
		return false;
	return true;
}

static bool canonical_forward(struct scan *s, struct wf_ctl_forward *f)
{
	if (!LIT(s, "{\"family\":\""))
		return false;
	if (LIT(s, "ipv4\""))
		f->family = AF_INET;
	else if (LIT(s, "ipv6\""))
		f->family = AF_INET6;
	else
		return false;
	return LIT(s, ",\"proto\":\"") && canonical_proto(s, false, &f->proto) &&
	       LIT(s, ",\"public_port\":") && number(s, 1, 65535, &f->public_port) &&
	       LIT(s, ",\"target_port\":") && number(s, 1, 65535, &f->target_port) && LIT(s, "}");
}

static bool canonical_egress(struct scan *s, struct wf_ctl_egress *g)
{
	return LIT(s, "{\"proto\":\"") && canonical_proto(s, true, &g->proto) &&
	       LIT(s, ",\"port_lo\":") && number(s, 0, 65535, &g->port_lo) &&
	       LIT(s, ",\"port_hi\":") && number(s, 0, 65535, &g->port_hi) && LIT(s, "}");
}

static bool canonical_peer(struct scan *s, const char *peer_name)
{
	char name[INET6_ADDRSTRLEN];
	size_t n = 0;

	while (s->p < s->end && *s->p != '"') {
		/* strchr finds a NUL too: the text's own bytes must not end the name early. */
		if (n + 1 >= sizeof(name) || !*s->p || !strchr("0123456789abcdefABCDEF.:", *s->p))
			return false;
		name[n++] = *s->p++;
	}
	name[n] = '\0';
	return LIT(s, "\"") && same_peer(name, peer_name);
}

static bool decode_canonical(const char *json, size_t len, const char *peer_name,
                             struct wf_gw_entries *e)
{
	struct scan s = {json, json + len};
	uint16_t version;

	memset(e, 0, sizeof(*e));
	if (!LIT(&s, "{\"version\":") || !number(&s, 0, 65535, &version) ||
	    version != WF_GW_STORE_VERSION || !LIT(&s, ",\"peer\":\"") ||
	    !canonical_peer(&s, peer_name) || !LIT(&s, ",\"forwards\":["))
		return false;
	if (!LIT(&s, "]")) {
		do {
			struct wf_ctl_forward f = {0};

			if (!canonical_forward(&s, &f) || wf_gw_entries_add_forward(e, &f))
				goto no;
		} while (LIT(&s, ","));
		if (!LIT(&s, "]"))
			goto no;
	}
	if (!LIT(&s, ",\"egress\":["))
		goto no;
	if (!LIT(&s, "]")) {
		do {
			struct wf_ctl_egress g = {0};

			if (!canonical_egress(&s, &g) || wf_gw_entries_add_egress(e, &g))
				goto no;
		} while (LIT(&s, ","));
		if (!LIT(&s, "]"))
			goto no;
	}
	if (LIT(&s, "}") && s.p == s.end)
		return true;
no:
	wf_gw_entries_free(e);
	return false;
}

int wf_gw_store_decode_strict(const char *json, size_t len, const char *peer_name,
                              struct wf_gw_entries *e, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new_ex(8);
	json_object *root = NULL, *v;
	enum json_tokener_error jerr;
	int ret;

	memset(e, 0, sizeof(*e));
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		ret = bad(err, errlen, "the file ends in the middle of the JSON text");
		goto out;
	}
	if (jerr != json_tokener_success) {
		ret = bad(err, errlen, "not JSON: %s at byte %zu", json_tokener_error_desc(jerr),
		          json_tokener_get_parse_end(tok));
		goto out;
	}
	if (json_tokener_get_parse_end(tok) != len) {
		ret = bad(err, errlen, "text after the JSON object at byte %zu",
		          json_tokener_get_parse_end(tok));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		ret = bad(err, errlen, "not a JSON object");
		goto out;
	}
	v = field(root, "version", json_type_int, "state", err, errlen);
	if (!v) {
		ret = -EBADMSG;
		goto out;
	}
	if (json_object_get_int64(v) != WF_GW_STORE_VERSION) {
		ret = bad(err, errlen, "version %lld, expected %d",
		          (long long)json_object_get_int64(v), WF_GW_STORE_VERSION);
		goto out;
	}
	v = field(root, "peer", json_type_string, "state", err, errlen);
	if (!v) {
		ret = -EBADMSG;
		goto out;
	}
	if (!same_peer(json_object_get_string(v), peer_name)) {
		ret = bad(err, errlen, "the file belongs to peer `%s', not %s",
		          json_object_get_string(v), peer_name);
		goto out;
	}
	ret = read_entries(root, e, err, errlen);
out:
	if (ret)
		wf_gw_entries_free(e);
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

int wf_gw_store_decode(const char *json, size_t len, const char *peer_name, struct wf_gw_entries *e,
                       char *err, size_t errlen)
{
	if (decode_canonical(json, len, peer_name, e))
		return 0;
	return wf_gw_store_decode_strict(json, len, peer_name, e, err, errlen);
}
