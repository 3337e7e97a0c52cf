#include <wgfwd/ctl.h>
#include <wgfwd/version.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every message the limits allow fits in one frame (ctl.h, "Sizes"); a unit test encodes
 * these worst cases and checks the arithmetic. */
_Static_assert(WF_CTL_STATE_WORST <= WF_CTL_MSG_MAX, "the largest state must fit in a frame");
_Static_assert(WF_CTL_ACK_WORST <= WF_CTL_MSG_MAX, "the largest state_ack must fit in a frame");
_Static_assert(WF_CTL_ACK_REASONS_MAX <= 9999, "an ack result is at most 4 digits");
/* ...and the receiver's counts let them through. */
_Static_assert(2 * 2 * WF_CTL_ENTRIES_MAX + 16 <= WF_CTL_JSON_COMMAS_MAX, "state commas");
_Static_assert(2 * WF_CTL_ENTRIES_MAX + WF_CTL_ACK_REASONS_MAX + 16 <= WF_CTL_JSON_COMMAS_MAX,
               "state_ack commas");

/* Deep enough for object -> object -> object -> array, with room to say "too deep" for
 * anything more. */
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

int wf_ctl_state_copy(struct wf_ctl_state *dst, const struct wf_ctl_state *src)
{
	struct wf_ctl_forward *f = NULL;
	struct wf_ctl_egress *e = NULL;

	if (src->n_forwards) {
		f = malloc(src->n_forwards * sizeof(*f));
		if (!f)
			return -ENOMEM;
		memcpy(f, src->forwards, src->n_forwards * sizeof(*f));
	}
	if (src->n_egress) {
		e = malloc(src->n_egress * sizeof(*e));
		if (!e) {
			free(f);
			return -ENOMEM;
		}
		memcpy(e, src->egress, src->n_egress * sizeof(*e));
	}
	*dst = *src;
	dst->forwards = f;
	dst->egress = e;
	return 0;
}

void wf_ctl_state_clear(struct wf_ctl_state *s)
{
	free(s->forwards);
	free(s->egress);
	memset(s, 0, sizeof(*s));
}

/* Field by field: the structs have padding. */
bool wf_ctl_forwards_equal(const struct wf_ctl_forward *a, size_t na,
                           const struct wf_ctl_forward *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].proto != b[i].proto || a[i].family != b[i].family ||
		    a[i].public_port != b[i].public_port || a[i].target_port != b[i].target_port)
			return false;
	return true;
}

bool wf_ctl_egress_equal(const struct wf_ctl_egress *a, size_t na, const struct wf_ctl_egress *b,
                         size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].proto != b[i].proto || a[i].port_lo != b[i].port_lo ||
		    a[i].port_hi != b[i].port_hi)
			return false;
	return true;
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

/* The order of the wire: forwards by protocol then family, egress tcp, udp, any. Kinds the
 * protocol does not know sort last (validation refuses them). */
static int forward_kind(const struct wf_ctl_forward *f)
{
	if (!value_name(forward_protos, f->proto) || !value_name(families, f->family))
		return 4;
	return (f->proto == IPPROTO_UDP) * 2 + (f->family == AF_INET6);
}

static int egress_kind(const struct wf_ctl_egress *e)
{
	switch (e->proto) {
	case IPPROTO_TCP:
		return 0;
	case IPPROTO_UDP:
		return 1;
	case 0:
		return 2;
	}
	return 3;
}

int wf_ctl_state_order(struct wf_ctl_state *s)
{
	struct wf_ctl_forward *f = NULL;
	struct wf_ctl_egress *e = NULL;
	size_t n = 0;

	if (s->n_forwards) {
		f = malloc(s->n_forwards * sizeof(*f));
		if (!f)
			return -ENOMEM;
	}
	if (s->n_egress) {
		e = malloc(s->n_egress * sizeof(*e));
		if (!e) {
			free(f);
			return -ENOMEM;
		}
	}
	for (int kind = 0; kind <= 4; kind++)
		for (size_t i = 0; i < s->n_forwards; i++)
			if (forward_kind(&s->forwards[i]) == kind)
				f[n++] = s->forwards[i];
	if (n)
		memcpy(s->forwards, f, n * sizeof(*f));
	n = 0;
	for (int kind = 0; kind <= 3; kind++)
		for (size_t i = 0; i < s->n_egress; i++)
			if (egress_kind(&s->egress[i]) == kind)
				e[n++] = s->egress[i];
	if (n)
		memcpy(s->egress, e, n * sizeof(*e));
	free(f);
	free(e);
	return 0;
}

/* A software version: optional, 1..63 printable ASCII characters, no spaces. */
static bool version_text_valid(const char *v)
{
	const char *nul = memchr(v, '\0', WF_CTL_VERSION_MAX);

	if (!nul)
		return false;
	for (; *v; v++)
		if (*v <= 0x20 || *v >= 0x7f)
			return false;
	return true;
}

bool wf_ctl_version_valid(const char *v)
{
	return v[0] && version_text_valid(v);
}

static int check_version(const char *v, const char *path, char *err, size_t errlen)
{
	if (!version_text_valid(v))
		return fail(-EINVAL, err, errlen,
		            "%s: want 1..%d printable characters without spaces", path,
		            WF_CTL_VERSION_MAX - 1);
	return 0;
}

static int validate_state(const struct wf_ctl_state *s, char *err, size_t errlen)
{
	/* one bit per (proto, family, public_port): 2 * 2 * 65536 bits */
	uint8_t *seen = NULL;
	int ret = 0;

	if (s->generation > GENERATION_MAX)
		return fail(-EINVAL, err, errlen,
		            "generation: %" PRIu64 " is out of range 0..%" PRIu64, s->generation,
		            GENERATION_MAX);
	if (check_version(s->agent_version, "agent_version", err, errlen) < 0)
		return -EINVAL;
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

		if (!value_name(forward_protos, f->proto)) {
			ret = fail(-EINVAL, err, errlen,
			           "forwards[%zu].proto: %u is neither tcp nor udp", i, f->proto);
			goto out;
		}
		if (!value_name(families, f->family)) {
			ret =
			    fail(-EINVAL, err, errlen,
			         "forwards[%zu].family: %u is neither ipv4 nor ipv6", i, f->family);
			goto out;
		}
		if (f->public_port == 0 || f->target_port == 0) {
			ret = fail(-EINVAL, err, errlen,
			           "forwards[%zu].%s: 0 is out of range 1..65535", i,
			           f->public_port == 0 ? "public_port" : "target_port");
			goto out;
		}
		if (i > 0 && forward_kind(f) < forward_kind(&s->forwards[i - 1])) {
			ret =
			    fail(-EINVAL, err, errlen,
			         "forwards[%zu]: %s %s after %s %s: the forwards of a state go "
			         "tcp ipv4, tcp ipv6, udp ipv4, then udp ipv6 (wf_ctl_state_order)",
			         i, value_name(forward_protos, f->proto),
			         value_name(families, f->family),
			         value_name(forward_protos, s->forwards[i - 1].proto),
			         value_name(families, s->forwards[i - 1].family));
			goto out;
		}
		bit = ((size_t)(f->proto == IPPROTO_UDP) << 17) |
		      ((size_t)(f->family == AF_INET6) << 16) | f->public_port;
		if (seen[bit / 8] & (1u << (bit % 8))) {
			ret = fail(-EINVAL, err, errlen,
			           "forwards[%zu]: a second forward for %s %s port %u", i,
			           value_name(forward_protos, f->proto),
			           value_name(families, f->family), f->public_port);
			goto out;
		}
		seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	for (size_t i = 0; i < s->n_egress; i++) {
		const struct wf_ctl_egress *e = &s->egress[i];

		if (!value_name(egress_protos, e->proto)) {
			ret = fail(-EINVAL, err, errlen,
			           "egress[%zu].proto: %u is not tcp, udp or any", i, e->proto);
			goto out;
		}
		if ((e->port_lo == 0) != (e->port_hi == 0) || e->port_lo > e->port_hi) {
			ret = fail(-EINVAL, err, errlen,
			           "egress[%zu]: ports %u..%u are not a range within 1..65535 (or "
			           "0..0 for every port)",
			           i, e->port_lo, e->port_hi);
			goto out;
		}
		if (e->proto == 0 && e->port_lo != 0) {
			ret = fail(-EINVAL, err, errlen,
			           "egress[%zu]: proto any takes no ports (0..0)", i);
			goto out;
		}
		if (i > 0 && e->proto == 0 && s->egress[i - 1].proto == 0) {
			ret = fail(-EINVAL, err, errlen,
			           "egress[%zu]: a second entry for proto any", i);
			goto out;
		}
		if (i > 0 && egress_kind(e) < egress_kind(&s->egress[i - 1])) {
			ret = fail(-EINVAL, err, errlen,
			           "egress[%zu]: %s after %s: the egress entries of a state go "
			           "tcp, udp, then any (wf_ctl_state_order)",
			           i, value_name(egress_protos, e->proto),
			           value_name(egress_protos, s->egress[i - 1].proto));
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
		char scratch[8];

		/* the path is only written for an error */
		if (check_reason(r[i].reason, !r[i].accepted, "", scratch, sizeof(scratch)) == 0)
			continue;
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
		return check_version(m->gateway_info.gateway_version, "gateway_version", err,
		                     errlen);
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
		return 0;
	case WF_CTL_MSG_ERROR:
		return check_reason(m->error.reason, true, "reason", err, errlen);
	}
	return fail(-EINVAL, err, errlen, "message type %d is unknown", (int)m->type);
}

/* Encoding. Messages are written straight into one buffer: no document is built, so a state
 * of 65,536 entries costs its ~800 kB of text and nothing more. */

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static bool out_room(struct out *o, size_t more)
{
	size_t cap;
	char *p;

	if (o->failed)
		return false;
	if (o->len + more + 1 <= o->cap)
		return true;
	cap = o->cap ? o->cap : 256;
	while (cap < o->len + more + 1)
		cap *= 2;
	p = realloc(o->buf, cap);
	if (!p) {
		o->failed = true;
		return false;
	}
	o->buf = p;
	o->cap = cap;
	return true;
}

static void put_n(struct out *o, const char *s, size_t n)
{
	if (!out_room(o, n))
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put(struct out *o, const char *s)
{
	put_n(o, s, strlen(s));
}

static void put_uint(struct out *o, uint64_t v)
{
	char text[24], *p = text + sizeof(text);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_n(o, p, (size_t)(text + sizeof(text) - p));
}

/* Validated text holds no control characters, so only '"' and '\' need escaping; anything
 * below 0x20 would still come out as valid JSON. */
static void put_string(struct out *o, const char *s)
{
	put_n(o, "\"", 1);
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c && c != '"' && c != '\\' && c >= 0x20)
			continue;
		put_n(o, run, (size_t)(s - run));
		if (!c)
			break;
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		put(o, esc);
		run = s + 1;
	}
	put_n(o, "\"", 1);
}

static void put_forwards(struct out *o, const struct wf_ctl_state *s, int proto, int family)
{
	const char *sep = "";

	put_n(o, "[", 1);
	for (size_t i = 0; i < s->n_forwards; i++) {
		const struct wf_ctl_forward *f = &s->forwards[i];

		if (f->proto != proto || f->family != family)
			continue;
		put(o, sep);
		put_uint(o, f->public_port);
		put_n(o, ",", 1);
		put_uint(o, f->target_port);
		sep = ",";
	}
	put_n(o, "]", 1);
}

static void put_egress(struct out *o, const struct wf_ctl_state *s, int proto)
{
	const char *sep = "";

	put_n(o, "[", 1);
	for (size_t i = 0; i < s->n_egress; i++) {
		const struct wf_ctl_egress *e = &s->egress[i];

		if (e->proto != proto)
			continue;
		put(o, sep);
		put_uint(o, e->port_lo);
		put_n(o, ",", 1);
		put_uint(o, e->port_hi);
		sep = ",";
	}
	put_n(o, "]", 1);
}

static void encode_state(struct out *o, const struct wf_ctl_state *s)
{
	bool any = false;

	for (size_t i = 0; i < s->n_egress; i++)
		any = any || s->egress[i].proto == 0;
	put(o, ",\"generation\":");
	put_uint(o, s->generation);
	put(o, ",\"forwards\":{\"tcp\":{\"ipv4\":");
	put_forwards(o, s, IPPROTO_TCP, AF_INET);
	put(o, ",\"ipv6\":");
	put_forwards(o, s, IPPROTO_TCP, AF_INET6);
	put(o, "},\"udp\":{\"ipv4\":");
	put_forwards(o, s, IPPROTO_UDP, AF_INET);
	put(o, ",\"ipv6\":");
	put_forwards(o, s, IPPROTO_UDP, AF_INET6);
	put(o, "}},\"egress\":{\"tcp\":");
	put_egress(o, s, IPPROTO_TCP);
	put(o, ",\"udp\":");
	put_egress(o, s, IPPROTO_UDP);
	put(o, any ? ",\"any\":true}" : ",\"any\":false}");
	if (s->agent_version[0]) {
		put(o, ",\"agent_version\":");
		put_string(o, s->agent_version);
	}
}

/* The distinct reasons of an ack's refusals, in the order they first appear, found through
 * an open-addressing hash of at most WF_CTL_ACK_REASONS_MAX + 1 strings. */
#define REASON_SLOTS 4096
_Static_assert(REASON_SLOTS >= 2 * (WF_CTL_ACK_REASONS_MAX + 1), "reason hash too small");

struct reason_table {
	const char *text[WF_CTL_ACK_REASONS_MAX + 1];
	size_t n;
	bool overflow; /* more than WF_CTL_ACK_REASONS_MAX: the last slot is the overflow text */
	uint16_t slot[REASON_SLOTS]; /* index + 1; 0 is empty */
};

static uint32_t reason_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The index of text, added when new and there is room; -1 when the table is full. */
static int reason_find(struct reason_table *t, const char *text, bool add)
{
	uint32_t i = reason_hash(text) & (REASON_SLOTS - 1);

	for (; t->slot[i]; i = (i + 1) & (REASON_SLOTS - 1))
		if (!strcmp(t->text[t->slot[i] - 1], text))
			return t->slot[i] - 1;
	if (!add || t->n > WF_CTL_ACK_REASONS_MAX)
		return -1;
	t->text[t->n] = text;
	t->slot[i] = (uint16_t)++t->n;
	return (int)t->n - 1;
}

static void reasons_collect(struct reason_table *t, const struct wf_ctl_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!r[i].accepted)
			reason_find(t, r[i].reason, true);
}

/* What result i says on the wire: 0 accepted, K refused for reasons[K-1]. */
static unsigned reason_ref(struct reason_table *t, const struct wf_ctl_result *r)
{
	int k;

	if (r->accepted)
		return 0;
	k = reason_find(t, r->reason, false);
	if (t->overflow && (k < 0 || k >= WF_CTL_ACK_REASONS_MAX - 1))
		return WF_CTL_ACK_REASONS_MAX;
	return (unsigned)k + 1;
}

static void put_results(struct out *o, struct reason_table *t, const struct wf_ctl_result *r,
                        size_t n)
{
	put_n(o, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			put_n(o, ",", 1);
		put_uint(o, reason_ref(t, &r[i]));
	}
	put_n(o, "]", 1);
}

static int encode_state_ack(struct out *o, const struct wf_ctl_state_ack *a)
{
	struct reason_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	reasons_collect(t, a->forwards, a->n_forwards);
	reasons_collect(t, a->egress, a->n_egress);
	if (t->n > WF_CTL_ACK_REASONS_MAX) {
		t->overflow = true;
		t->n = WF_CTL_ACK_REASONS_MAX;
	}
	put(o, ",\"generation\":");
	put_uint(o, a->generation);
	put(o, a->applied ? ",\"applied\":true" : ",\"applied\":false");
	if (!a->applied) {
		put(o, ",\"reason\":");
		put_string(o, a->reason);
	}
	put(o, ",\"reasons\":[");
	for (size_t i = 0; i < t->n; i++) {
		if (i)
			put_n(o, ",", 1);
		put_string(o, t->overflow && i == WF_CTL_ACK_REASONS_MAX - 1
		                  ? WF_CTL_REASON_OVERFLOW
		                  : t->text[i]);
	}
	put(o, "],\"forwards\":");
	put_results(o, t, a->forwards, a->n_forwards);
	put(o, ",\"egress\":");
	put_results(o, t, a->egress, a->n_egress);
	free(t);
	return 0;
}

static void encode_gateway_info(struct out *o, const struct wf_ctl_gateway_info *g)
{
	char text[INET6_ADDRSTRLEN];

	put(o, ",\"ipv4\":[");
	for (size_t i = 0; i < g->n_ipv4; i++) {
		put(o, i ? ",\"" : "\"");
		put(o, inet_ntop(AF_INET, &g->ipv4[i], text, sizeof(text)) ? text : "");
		put_n(o, "\"", 1);
	}
	put(o, "],\"ipv6\":[");
	for (size_t i = 0; i < g->n_ipv6; i++) {
		put(o, i ? ",\"" : "\"");
		put(o, inet_ntop(AF_INET6, &g->ipv6[i], text, sizeof(text)) ? text : "");
		put_n(o, "\"", 1);
	}
	put(o, "],\"mtu\":");
	put_uint(o, g->mtu);
	if (g->gateway_version[0]) {
		put(o, ",\"gateway_version\":");
		put_string(o, g->gateway_version);
	}
}

int wf_ctl_msg_encode(const struct wf_ctl_msg *m, char **json, size_t *len, char *err,
                      size_t errlen)
{
	struct out o = {0};
	int ret;

	*json = NULL;
	*len = 0;
	ret = wf_ctl_msg_validate(m, err, errlen);
	if (ret < 0)
		return ret;
	put(&o, "{\"v\":");
	put_uint(&o, WF_CTL_MSG_VERSION);
	put(&o, ",\"type\":");
	put_string(&o, wf_ctl_msg_type_name(m->type));
	switch (m->type) {
	case WF_CTL_MSG_STATE:
		encode_state(&o, &m->state);
		break;
	case WF_CTL_MSG_STATE_ACK:
		if (encode_state_ack(&o, &m->state_ack) < 0)
			o.failed = true;
		break;
	case WF_CTL_MSG_GATEWAY_INFO:
		encode_gateway_info(&o, &m->gateway_info);
		break;
	case WF_CTL_MSG_ERROR:
		put(&o, ",\"reason\":");
		put_string(&o, m->error.reason);
		break;
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
		break;
	}
	put_n(&o, "}", 1);
	if (o.failed) {
		free(o.buf);
		return fail(-ENOMEM, err, errlen, "out of memory");
	}
	if (o.len > WF_CTL_MSG_MAX) {
		free(o.buf);
		return fail(-EMSGSIZE, err, errlen, "%s message is %zu bytes, at most %d",
		            wf_ctl_msg_type_name(m->type), o.len, WF_CTL_MSG_MAX);
	}
	*json = o.buf;
	*len = o.len;
	return 0;
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

static int decode_forwards(struct decoder *d, struct json_object *root, struct wf_ctl_state *s)
{
	static const char *const keys[] = {"tcp", "udp", NULL};
	static const char *const family_keys[] = {"ipv4", "ipv6", NULL};
	static const struct {
		const char *proto_name, *family_name;
		uint8_t proto, family;
	} kinds[] = {
	    {"tcp", "ipv4", IPPROTO_TCP, AF_INET},
	    {"tcp", "ipv6", IPPROTO_TCP, AF_INET6},
	    {"udp", "ipv4", IPPROTO_UDP, AF_INET},
	    {"udp", "ipv6", IPPROTO_UDP, AF_INET6},
	};
	struct json_object *forwards, *per_proto, *lists[4];
	size_t pairs[4], total = 0, n = 0;
	char prefix[PATH_MAX_LEN], list[PATH_MAX_LEN];
	int ret;

	ret = get_object(d, root, "", "forwards", keys, &forwards);
	for (size_t k = 0; ret == 0 && k < 4; k++) {
		snprintf(prefix, sizeof(prefix), "forwards.%s", kinds[k].proto_name);
		if (k % 2 == 0)
			ret = get_object(d, forwards, "forwards", kinds[k].proto_name, family_keys,
			                 &per_proto);
		if (ret == 0)
			ret = get_pairs(d, per_proto, prefix, kinds[k].family_name, &lists[k],
			                &pairs[k]);
		total += ret == 0 ? pairs[k] : 0;
	}
	if (ret < 0)
		return ret;
	if (total > WF_CTL_ENTRIES_MAX)
		return bad(d, "forwards: %zu entries, at most %d", total, WF_CTL_ENTRIES_MAX);
	s->forwards = alloc_entries(total, sizeof(*s->forwards));
	if (!s->forwards)
		return -ENOMEM;
	s->n_forwards = total;
	for (size_t k = 0; k < 4; k++) {
		snprintf(list, sizeof(list), "forwards.%s.%s", kinds[k].proto_name,
		         kinds[k].family_name);
		for (size_t i = 0; i < pairs[k]; i++, n++) {
			uint64_t public_port, target_port;

			if ((ret = get_element(d, lists[k], list, 2 * i, 1, 65535, &public_port)) <
			        0 ||
			    (ret = get_element(d, lists[k], list, 2 * i + 1, 1, 65535,
			                       &target_port)) < 0)
				return ret;
			s->forwards[n] =
			    (struct wf_ctl_forward){.proto = kinds[k].proto,
			                            .family = kinds[k].family,
			                            .public_port = (uint16_t)public_port,
			                            .target_port = (uint16_t)target_port};
		}
	}
	return 0;
}

static int decode_egress(struct decoder *d, struct json_object *root, struct wf_ctl_state *s)
{
	static const char *const keys[] = {"tcp", "udp", "any", NULL};
	static const char *const names[] = {"tcp", "udp"};
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	struct json_object *egress, *lists[2];
	size_t pairs[2], total, n = 0;
	char list[PATH_MAX_LEN];
	bool any = false;
	int ret;

	if ((ret = get_object(d, root, "", "egress", keys, &egress)) < 0 ||
	    (ret = get_pairs(d, egress, "egress", "tcp", &lists[0], &pairs[0])) < 0 ||
	    (ret = get_pairs(d, egress, "egress", "udp", &lists[1], &pairs[1])) < 0 ||
	    (ret = get_bool(d, egress, "egress", "any", &any)) < 0)
		return ret;
	total = pairs[0] + pairs[1] + any;
	if (total > WF_CTL_ENTRIES_MAX)
		return bad(d, "egress: %zu entries, at most %d", total, WF_CTL_ENTRIES_MAX);
	s->egress = alloc_entries(total, sizeof(*s->egress));
	if (!s->egress)
		return -ENOMEM;
	s->n_egress = total;
	for (size_t k = 0; k < 2; k++) {
		snprintf(list, sizeof(list), "egress.%s", names[k]);
		for (size_t i = 0; i < pairs[k]; i++, n++) {
			uint64_t lo, hi;

			if ((ret = get_element(d, lists[k], list, 2 * i, 0, 65535, &lo)) < 0 ||
			    (ret = get_element(d, lists[k], list, 2 * i + 1, 0, 65535, &hi)) < 0)
				return ret;
			s->egress[n] = (struct wf_ctl_egress){
			    .proto = protos[k], .port_lo = (uint16_t)lo, .port_hi = (uint16_t)hi};
		}
	}
	if (any)
		s->egress[n] = (struct wf_ctl_egress){.proto = 0};
	return 0;
}

/* An optional string field: absent leaves buf empty. */
static int get_optional_string(struct decoder *d, struct json_object *obj, const char *name,
                               char *buf, size_t bufsize)
{
	if (!json_object_object_get_ex(obj, name, NULL))
		return 0;
	return get_string(d, obj, "", name, buf, bufsize);
}

static int decode_state(struct decoder *d, struct json_object *root, struct wf_ctl_state *s)
{
	static const char *const keys[] = {"v",      "type",          "generation", "forwards",
	                                   "egress", "agent_version", NULL};
	int ret;

	if ((ret = check_keys(d, root, "", keys)) < 0 ||
	    (ret = get_optional_string(d, root, "agent_version", s->agent_version,
	                               sizeof(s->agent_version))) < 0 ||
	    (ret = get_uint(d, root, "", "generation", 0, GENERATION_MAX, &s->generation)) < 0 ||
	    (ret = decode_forwards(d, root, s)) < 0)
		return ret;
	return decode_egress(d, root, s);
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

static int decode_state_ack(struct decoder *d, struct json_object *root, struct wf_ctl_state_ack *a)
{
	static const char *const keys[] = {"v",       "type",     "generation", "applied", "reason",
	                                   "reasons", "forwards", "egress",     NULL};
	bool used[WF_CTL_ACK_REASONS_MAX] = {false};
	struct json_object *reason, *reasons;
	char path[PATH_MAX_LEN], scratch[WF_CTL_REASON_MAX];
	size_t n_reasons;
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
			if (!version_text_valid(peer))
				peer[0] = '\0';
		}
	}
	return bad(d,
	           "v: protocol version %" PRId64 ", this side speaks %d (peer: %s%s; this side: "
	           "wgfwd %s)",
	           v, WF_CTL_MSG_VERSION, peer[0] ? "wgfwd " : "",
	           peer[0] ? peer : "version unknown", wf_version);
}

static int decode_root(struct decoder *d, struct json_object *root, struct wf_ctl_msg *out)
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
	if ((ret = check_shape(&d, json, len)) < 0)
		return ret;
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
