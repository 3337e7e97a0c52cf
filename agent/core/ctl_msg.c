#include <wgfwd/ctl.h>
#include <wgfwd/version.h>

#include "ctl_msg_internal.h"

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
_Static_assert(WF_CTL_DELTA_WORST <= WF_CTL_MSG_MAX, "the largest state_delta must fit");
_Static_assert(WF_CTL_DELTA_ACK_WORST <= WF_CTL_MSG_MAX, "the largest delta_ack must fit");
_Static_assert(WF_CTL_ACK_REASONS_MAX <= 9999, "an ack result is at most 4 digits");
/* ...and the receiver's counts let them through. */
_Static_assert(2 * 2 * WF_CTL_ENTRIES_MAX + 16 <= WF_CTL_JSON_COMMAS_MAX, "state commas");
_Static_assert(2 * WF_CTL_ENTRIES_MAX + WF_CTL_ACK_REASONS_MAX + 16 <= WF_CTL_JSON_COMMAS_MAX,
               "state_ack commas");

const struct name_value wf_ctl_msg_types[] = {
    {"state", WF_CTL_MSG_STATE},
    {"state_ack", WF_CTL_MSG_STATE_ACK},
    {"gateway_info", WF_CTL_MSG_GATEWAY_INFO},
    {"ping", WF_CTL_MSG_PING},
    {"pong", WF_CTL_MSG_PONG},
    {"error", WF_CTL_MSG_ERROR},
    {"state_delta", WF_CTL_MSG_STATE_DELTA},
    {"delta_ack", WF_CTL_MSG_DELTA_ACK},
    {NULL, 0},
};
const struct name_value wf_ctl_forward_protos[] = {
    {"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {NULL, 0}};
const struct name_value wf_ctl_egress_protos[] = {
    {"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {"any", 0}, {NULL, 0}};
const struct name_value wf_ctl_families[] = {{"ipv4", AF_INET}, {"ipv6", AF_INET6}, {NULL, 0}};

const char *wf_ctl_value_name(const struct name_value *table, int value)
{
	for (; table->name; table++) {
		if (table->value == value)
			return table->name;
	}
	return NULL;
}

const char *wf_ctl_msg_type_name(enum wf_ctl_msg_type type)
{
	const char *name = wf_ctl_value_name(wf_ctl_msg_types, (int)type);
	return name ? name : "unknown";
}

bool wf_ctl_msg_sent_by(enum wf_ctl_msg_type type, enum wf_ctl_role role)
{
	switch (type) {
	case WF_CTL_MSG_STATE:
	case WF_CTL_MSG_STATE_DELTA:
		return role == WF_CTL_CLIENT;
	case WF_CTL_MSG_STATE_ACK:
	case WF_CTL_MSG_DELTA_ACK:
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
	case WF_CTL_MSG_DELTA_ACK:
		free(m->state_ack.forwards);
		free(m->state_ack.egress);
		break;
	case WF_CTL_MSG_STATE_DELTA:
		wf_ctl_state_clear(&m->state_delta.add);
		wf_ctl_state_clear(&m->state_delta.del);
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

int wf_ctl_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

void wf_ctl_printable(char *dst, size_t dstlen, const char *src)
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

bool wf_ctl_reason_text_valid(const char *s, size_t len)
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
		return wf_ctl_fail(-EINVAL, err, errlen, "%s: longer than %d bytes", path,
		                   WF_CTL_REASON_MAX - 1);
	if (required && nul == reason)
		return wf_ctl_fail(-EINVAL, err, errlen, "%s: must not be empty", path);
	if (!required && nul != reason)
		return wf_ctl_fail(-EINVAL, err, errlen, "%s: must be empty here", path);
	if (!wf_ctl_reason_text_valid(reason, (size_t)(nul - reason)))
		return wf_ctl_fail(-EINVAL, err, errlen,
		                   "%s: not valid UTF-8 or holds control characters", path);
	return 0;
}

/* The order of the wire: forwards by protocol then family, egress tcp, udp, any. Kinds the
 * protocol does not know sort last (validation refuses them). */
static int forward_kind(const struct wf_ctl_forward *f)
{
	if (!wf_ctl_value_name(wf_ctl_forward_protos, f->proto) ||
	    !wf_ctl_value_name(wf_ctl_families, f->family))
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
bool wf_ctl_version_text_valid(const char *v)
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
	return v[0] && wf_ctl_version_text_valid(v);
}

static int check_version(const char *v, const char *path, char *err, size_t errlen)
{
	if (!wf_ctl_version_text_valid(v))
		return wf_ctl_fail(-EINVAL, err, errlen,
		                   "%s: want 1..%d printable characters without spaces", path,
		                   WF_CTL_VERSION_MAX - 1);
	return 0;
}

/* A list this short (a delta's, an ack's worth) finds a repeated key by looking back; a
 * longer one marks a bitmap of every key, 32 KiB to clear. */
#define SEEN_SCAN_MAX 64

static bool key_before(const struct wf_ctl_forward *f, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (f[j].proto == f[i].proto && f[j].family == f[i].family &&
		    f[j].public_port == f[i].public_port)
			return true;
	return false;
}

static int validate_state(const struct wf_ctl_state *s, char *err, size_t errlen)
{
	/* one bit per (proto, family, public_port): 2 * 2 * 65536 bits */
	uint8_t *seen = NULL;
	int ret = 0;

	if (s->generation > GENERATION_MAX)
		return wf_ctl_fail(-EINVAL, err, errlen,
		                   "generation: %" PRIu64 " is out of range 0..%" PRIu64,
		                   s->generation, GENERATION_MAX);
	if (check_version(s->agent_version, "agent_version", err, errlen) < 0)
		return -EINVAL;
	if (s->n_forwards > WF_CTL_ENTRIES_MAX || s->n_egress > WF_CTL_ENTRIES_MAX)
		return wf_ctl_fail(-EINVAL, err, errlen, "%s: more than %d entries",
		                   s->n_forwards > WF_CTL_ENTRIES_MAX ? "forwards" : "egress",
		                   WF_CTL_ENTRIES_MAX);
	if (s->n_forwards > SEEN_SCAN_MAX) {
		seen = calloc(1, 4 * 65536 / 8);
		if (!seen)
			return wf_ctl_fail(-ENOMEM, err, errlen, "out of memory");
	}
	for (size_t i = 0; i < s->n_forwards; i++) {
		const struct wf_ctl_forward *f = &s->forwards[i];
		size_t bit;

		if (!wf_ctl_value_name(wf_ctl_forward_protos, f->proto)) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "forwards[%zu].proto: %u is neither tcp nor udp", i,
			                  f->proto);
			goto out;
		}
		if (!wf_ctl_value_name(wf_ctl_families, f->family)) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "forwards[%zu].family: %u is neither ipv4 nor ipv6", i,
			                  f->family);
			goto out;
		}
		if (f->public_port == 0 || f->target_port == 0) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "forwards[%zu].%s: 0 is out of range 1..65535", i,
			                  f->public_port == 0 ? "public_port" : "target_port");
			goto out;
		}
		if (i > 0 && forward_kind(f) < forward_kind(&s->forwards[i - 1])) {
			ret = wf_ctl_fail(
			    -EINVAL, err, errlen,
			    "forwards[%zu]: %s %s after %s %s: the forwards of a state go "
			    "tcp ipv4, tcp ipv6, udp ipv4, then udp ipv6 (wf_ctl_state_order)",
			    i, wf_ctl_value_name(wf_ctl_forward_protos, f->proto),
			    wf_ctl_value_name(wf_ctl_families, f->family),
			    wf_ctl_value_name(wf_ctl_forward_protos, s->forwards[i - 1].proto),
			    wf_ctl_value_name(wf_ctl_families, s->forwards[i - 1].family));
			goto out;
		}
		bit = ((size_t)(f->proto == IPPROTO_UDP) << 17) |
		      ((size_t)(f->family == AF_INET6) << 16) | f->public_port;
		if (seen ? seen[bit / 8] & (1u << (bit % 8)) : key_before(s->forwards, i)) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "forwards[%zu]: a second forward for %s %s port %u", i,
			                  wf_ctl_value_name(wf_ctl_forward_protos, f->proto),
			                  wf_ctl_value_name(wf_ctl_families, f->family),
			                  f->public_port);
			goto out;
		}
		if (seen)
			seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	for (size_t i = 0; i < s->n_egress; i++) {
		const struct wf_ctl_egress *e = &s->egress[i];

		if (!wf_ctl_value_name(wf_ctl_egress_protos, e->proto)) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "egress[%zu].proto: %u is not tcp, udp or any", i,
			                  e->proto);
			goto out;
		}
		if ((e->port_lo == 0) != (e->port_hi == 0) || e->port_lo > e->port_hi) {
			ret = wf_ctl_fail(
			    -EINVAL, err, errlen,
			    "egress[%zu]: ports %u..%u are not a range within 1..65535 (or "
			    "0..0 for every port)",
			    i, e->port_lo, e->port_hi);
			goto out;
		}
		if (e->proto == 0 && e->port_lo != 0) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "egress[%zu]: proto any takes no ports (0..0)", i);
			goto out;
		}
		if (i > 0 && e->proto == 0 && s->egress[i - 1].proto == 0) {
			ret = wf_ctl_fail(-EINVAL, err, errlen,
			                  "egress[%zu]: a second entry for proto any", i);
			goto out;
		}
		if (i > 0 && egress_kind(e) < egress_kind(&s->egress[i - 1])) {
			ret = wf_ctl_fail(
			    -EINVAL, err, errlen,
			    "egress[%zu]: %s after %s: the egress entries of a state go "
			    "tcp, udp, then any (wf_ctl_state_order)",
			    i, wf_ctl_value_name(wf_ctl_egress_protos, e->proto),
			    wf_ctl_value_name(wf_ctl_egress_protos, s->egress[i - 1].proto));
			goto out;
		}
	}
out:
	free(seen);
	return ret;
}

/* The entries of one side of a delta follow a state's rules, with the message's path. */
static int validate_delta_list(const struct wf_ctl_state *l, const char *name, char *err,
                               size_t errlen)
{
	char inner[WF_CTL_REASON_MAX];
	int ret;

	if (l->generation || l->agent_version[0])
		return wf_ctl_fail(-EINVAL, err, errlen, "%s: a list of entries, not a state",
		                   name);
	ret = validate_state(l, inner, sizeof(inner));
	if (ret < 0)
		return wf_ctl_fail(ret, err, errlen, "%s.%s", name, inner);
	return 0;
}

static int validate_state_delta(const struct wf_ctl_state_delta *d, char *err, size_t errlen)
{
	int ret;

	if (d->generation > GENERATION_MAX || d->base > GENERATION_MAX)
		return wf_ctl_fail(
		    -EINVAL, err, errlen, "%s: %" PRIu64 " is out of range 0..%" PRIu64,
		    d->generation > GENERATION_MAX ? "generation" : "base",
		    d->generation > GENERATION_MAX ? d->generation : d->base, GENERATION_MAX);
	if ((ret = validate_delta_list(&d->add, "add", err, errlen)) < 0 ||
	    (ret = validate_delta_list(&d->del, "del", err, errlen)) < 0)
		return ret;
	if (d->add.n_forwards + d->del.n_forwards > WF_CTL_ENTRIES_MAX ||
	    d->add.n_egress + d->del.n_egress > WF_CTL_ENTRIES_MAX)
		return wf_ctl_fail(-EINVAL, err, errlen, "add and del: more than %d %s together",
		                   WF_CTL_ENTRIES_MAX,
		                   d->add.n_forwards + d->del.n_forwards > WF_CTL_ENTRIES_MAX
		                       ? "forwards"
		                       : "egress entries");
	return 0;
}

static int validate_results(const struct wf_ctl_result *r, size_t n, const char *list, char *err,
                            size_t errlen)
{
	char path[PATH_MAX_LEN];
	int ret;

	if (n > WF_CTL_ENTRIES_MAX)
		return wf_ctl_fail(-EINVAL, err, errlen, "%s: more than %d entries", list,
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

static int validate_state_ack(const struct wf_ctl_state_ack *a, bool delta, char *err,
                              size_t errlen)
{
	int ret;

	if (a->resend && (!delta || a->applied))
		return wf_ctl_fail(-EINVAL, err, errlen, "resend: %s",
		                   delta ? "only when applied is false" : "only in a delta_ack");

	if (a->generation > GENERATION_MAX)
		return wf_ctl_fail(-EINVAL, err, errlen,
		                   "generation: %" PRIu64 " is out of range 0..%" PRIu64,
		                   a->generation, GENERATION_MAX);
	ret = check_reason(a->reason, !a->applied, "reason", err, errlen);
	if (ret < 0)
		return ret;
	if (!a->applied && (a->n_forwards || a->n_egress))
		return wf_ctl_fail(-EINVAL, err, errlen,
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
	case WF_CTL_MSG_DELTA_ACK:
		return validate_state_ack(&m->state_ack, m->type == WF_CTL_MSG_DELTA_ACK, err,
		                          errlen);
	case WF_CTL_MSG_STATE_DELTA:
		return validate_state_delta(&m->state_delta, err, errlen);
	case WF_CTL_MSG_GATEWAY_INFO:
		if (m->gateway_info.n_ipv4 > WF_CTL_ADDRS_MAX ||
		    m->gateway_info.n_ipv6 > WF_CTL_ADDRS_MAX)
			return wf_ctl_fail(-EINVAL, err, errlen, "%s: more than %d addresses",
			                   m->gateway_info.n_ipv4 > WF_CTL_ADDRS_MAX ? "ipv4"
			                                                             : "ipv6",
			                   WF_CTL_ADDRS_MAX);
		if (m->gateway_info.mtu < WF_CTL_MTU_MIN || m->gateway_info.mtu > WF_CTL_MTU_MAX)
			return wf_ctl_fail(-EINVAL, err, errlen,
			                   "mtu: %" PRIu32 " is out of range %d..%d",
			                   m->gateway_info.mtu, WF_CTL_MTU_MIN, WF_CTL_MTU_MAX);
		return check_version(m->gateway_info.gateway_version, "gateway_version", err,
		                     errlen);
	case WF_CTL_MSG_PING:
	case WF_CTL_MSG_PONG:
		return 0;
	case WF_CTL_MSG_ERROR:
		return check_reason(m->error.reason, true, "reason", err, errlen);
	}
	return wf_ctl_fail(-EINVAL, err, errlen, "message type %d is unknown", (int)m->type);
}

/* The order wf_ctl_state_diff walks: kind first (the wire's), then ports. */
static int forward_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_forward *a = pa, *b = pb;
	int ka = forward_kind(a), kb = forward_kind(b);

	if (ka != kb)
		return ka - kb;
	return (int)a->public_port - (int)b->public_port;
}

int wf_ctl_forward_wire_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_forward *a = pa, *b = pb;
	int ka = (a->proto == IPPROTO_UDP) * 2 + (a->family == AF_INET6);
	int kb = (b->proto == IPPROTO_UDP) * 2 + (b->family == AF_INET6);

	return ka != kb ? ka - kb : (int)a->public_port - (int)b->public_port;
}

static int egress_cmp(const void *pa, const void *pb)
{
	const struct wf_ctl_egress *a = pa, *b = pb;
	int ka = egress_kind(a), kb = egress_kind(b);

	if (ka != kb)
		return ka - kb;
	if (a->port_lo != b->port_lo)
		return (int)a->port_lo - (int)b->port_lo;
	return (int)a->port_hi - (int)b->port_hi;
}

static bool sorted(const void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp((const char *)base + (i - 1) * size, (const char *)base + i * size) > 0)
			return false;
	return true;
}

int wf_ctl_state_sort(struct wf_ctl_state *s)
{
	if (!sorted(s->forwards, s->n_forwards, sizeof(*s->forwards), forward_cmp))
		qsort(s->forwards, s->n_forwards, sizeof(*s->forwards), forward_cmp);
	if (!sorted(s->egress, s->n_egress, sizeof(*s->egress), egress_cmp))
		qsort(s->egress, s->n_egress, sizeof(*s->egress), egress_cmp);
	return 0;
}

size_t wf_ctl_delta_entries(const struct wf_ctl_state_delta *d)
{
	return d->add.n_forwards + d->add.n_egress + d->del.n_forwards + d->del.n_egress;
}

static bool forward_same(const struct wf_ctl_forward *a, const struct wf_ctl_forward *b)
{
	return forward_cmp(a, b) == 0 && a->target_port == b->target_port;
}

int wf_ctl_state_diff(const struct wf_ctl_state *from, const struct wf_ctl_state *to,
                      struct wf_ctl_state_delta *d)
{
	size_t i = 0, j = 0;
	struct wf_ctl_state *add = &d->add, *del = &d->del;

	memset(d, 0, sizeof(*d));
	/* At most everything on each side: sized once, no growth in the walk. */
	add->forwards = malloc((to->n_forwards + 1) * sizeof(*add->forwards));
	del->forwards = malloc((from->n_forwards + 1) * sizeof(*del->forwards));
	add->egress = malloc((to->n_egress + 1) * sizeof(*add->egress));
	del->egress = malloc((from->n_egress + 1) * sizeof(*del->egress));
	if (!add->forwards || !del->forwards || !add->egress || !del->egress) {
		wf_ctl_state_clear(add);
		wf_ctl_state_clear(del);
		return -ENOMEM;
	}
	while (i < from->n_forwards || j < to->n_forwards) {
		const struct wf_ctl_forward *a = i < from->n_forwards ? &from->forwards[i] : NULL;
		const struct wf_ctl_forward *b = j < to->n_forwards ? &to->forwards[j] : NULL;
		int c = !a ? 1 : !b ? -1 : forward_cmp(a, b);

		if (c < 0) {
			del->forwards[del->n_forwards++] = *a;
			i++;
		} else if (c > 0) {
			add->forwards[add->n_forwards++] = *b;
			j++;
		} else {
			if (!forward_same(a, b)) {
				del->forwards[del->n_forwards++] = *a;
				add->forwards[add->n_forwards++] = *b;
			}
			i++;
			j++;
		}
	}
	for (i = 0, j = 0; i < from->n_egress || j < to->n_egress;) {
		const struct wf_ctl_egress *a = i < from->n_egress ? &from->egress[i] : NULL;
		const struct wf_ctl_egress *b = j < to->n_egress ? &to->egress[j] : NULL;
		int c = !a ? 1 : !b ? -1 : egress_cmp(a, b);

		if (c < 0)
			del->egress[del->n_egress++] = from->egress[i++];
		else if (c > 0)
			add->egress[add->n_egress++] = to->egress[j++];
		else
			i++, j++;
	}
	return 0;
}
