#include <wgfwd/labels.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wgfwd/util.h>

#define QUOTE_CHARS      40
#define QUOTE_SIZE       (QUOTE_CHARS + 4)
#define SERVICE_NAME_MAX 64

struct span {
	const char *p;
	size_t len;
};

struct reporter {
	wf_label_error_fn fn;
	void *ctx;
};

static void report(const struct reporter *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report(const struct reporter *r, const char *fmt, ...)
{
	char msg[WF_LABEL_ERROR_MAX];
	va_list ap;

	if (!r->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->fn(r->ctx, msg);
}

void wf_label_quote(char *buf, size_t size, const char *text, size_t len)
{
	size_t n = 0, i;
	bool cut = len > QUOTE_CHARS;

	if (!size)
		return;
	if (cut)
		len = QUOTE_CHARS;
	for (i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (cut) {
		for (i = 0; i < 3 && n + 1 < size; i++)
			buf[n++] = '.';
	}
	buf[n] = '\0';
}

static void quote(char buf[QUOTE_SIZE], struct span s)
{
	wf_label_quote(buf, QUOTE_SIZE, s.p, s.len);
}

const char *wf_proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case 0:
		return "all";
	default:
		return "?";
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static struct span trim(struct span s)
{
	while (s.len && is_space(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_space(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Splits at the first c; false (and right empty) when c does not occur. */
static bool split(struct span s, char c, struct span *left, struct span *right)
{
	const char *at = memchr(s.p, c, s.len);

	if (!at) {
		*left = s;
		*right = (struct span){s.p + s.len, 0};
		return false;
	}
	*left = (struct span){s.p, (size_t)(at - s.p)};
	*right = (struct span){at + 1, s.len - (size_t)(at - s.p) - 1};
	return true;
}

static bool span_eq(struct span s, const char *word)
{
	size_t n = strlen(word);

	return s.len == n && !strncasecmp(s.p, word, n);
}

/* Calls fn for every non-empty, trimmed, comma-separated entry; stops at its first error. */
static int for_each_entry(const char *value, int (*fn)(void *state, struct span entry), void *state)
{
	struct span rest = {value, value ? strlen(value) : 0};

	while (rest.len) {
		struct span entry;
		int r;

		split(rest, ',', &entry, &rest);
		entry = trim(entry);
		if (!entry.len)
			continue;
		r = fn(state, entry);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A port: decimal digits only, 1..65535. */
static bool parse_port(struct span s, uint16_t *port)
{
	uint32_t v = 0;

	if (!s.len)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s.p[i] - '0');
		if (v > 65535)
			return false;
	}
	if (!v)
		return false;
	*port = (uint16_t)v;
	return true;
}

enum range_result {
	RANGE_OK,
	RANGE_BAD_PORT,  /* *bad is the offending port text */
	RANGE_BACKWARDS, /* start above end */
};

/* PORT or LO-HI. */
static enum range_result parse_range(struct span s, uint16_t *lo, uint16_t *hi, struct span *bad)
{
	struct span a, b;

	if (!split(s, '-', &a, &b)) {
		*bad = s;
		if (!parse_port(s, lo))
			return RANGE_BAD_PORT;
		*hi = *lo;
		return RANGE_OK;
	}
	*bad = a;
	if (!parse_port(a, lo))
		return RANGE_BAD_PORT;
	*bad = b;
	if (!parse_port(b, hi))
		return RANGE_BAD_PORT;
	*bad = s;
	return *lo <= *hi ? RANGE_OK : RANGE_BACKWARDS;
}

/* Digits and dashes starting with a digit: meant as a port or range, even if malformed. */
static bool looks_numeric(struct span s)
{
	if (!s.len || s.p[0] < '0' || s.p[0] > '9')
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if ((s.p[i] < '0' || s.p[i] > '9') && s.p[i] != '-')
			return false;
	}
	return true;
}

static bool parse_protos(struct span s, uint8_t *mask)
{
	if (span_eq(s, "tcp"))
		*mask = WF_PROTO_TCP;
	else if (span_eq(s, "udp"))
		*mask = WF_PROTO_UDP;
	else if (span_eq(s, "tcp+udp") || span_eq(s, "udp+tcp") || span_eq(s, "both"))
		*mask = WF_PROTO_TCP | WF_PROTO_UDP;
	else
		return false;
	return true;
}

static uint8_t mask_proto(int bit)
{
	return bit == WF_PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;
}

static const int proto_bits[] = {WF_PROTO_TCP, WF_PROTO_UDP};

/* ---- wgfwd.ports ---- */

struct ports_parse {
	struct reporter rep;
	struct wf_port_entry *entries;
	struct span *texts; /* entry text of each accepted entry, for duplicate messages */
	size_t n, cap, cap_texts;
	uint8_t *taken; /* one bit per (protocol, public port) */
};

static bool taken_test(const uint8_t *taken, int bit, uint16_t port)
{
	size_t i = (bit == WF_PROTO_TCP ? 0 : 65536) + port;

	return taken[i / 8] & (1u << (i % 8));
}

static void taken_set(uint8_t *taken, int bit, uint16_t port)
{
	size_t i = (bit == WF_PROTO_TCP ? 0 : 65536) + port;

	taken[i / 8] |= (uint8_t)(1u << (i % 8));
}

static struct span earlier_entry(const struct ports_parse *pp, int bit, uint16_t port)
{
	for (size_t i = 0; i < pp->n; i++) {
		const struct wf_port_entry *e = &pp->entries[i];

		if ((e->protos & bit) && e->public_lo <= port && port <= e->public_hi)
			return pp->texts[i];
	}
	return (struct span){"", 0};
}

static int ports_append(struct ports_parse *pp, const struct wf_port_entry *e, struct span text)
{
	if (WF_ARRAY_RESERVE(pp->entries, pp->n, pp->cap, 1) ||
	    WF_ARRAY_RESERVE(pp->texts, pp->n, pp->cap_texts, 1))
		return -ENOMEM;
	pp->entries[pp->n] = *e;
	pp->texts[pp->n] = text;
	pp->n++;
	return 0;
}

static int ports_entry(void *state, struct span entry)
{
	struct ports_parse *pp = state;
	struct wf_port_entry e = {.protos = WF_PROTO_TCP};
	char qe[QUOTE_SIZE], q1[QUOTE_SIZE], q2[QUOTE_SIZE];
	struct span body, proto, pub, tgt, extra, bad;
	unsigned pub_len, tgt_len;
	enum range_result rr;

	quote(qe, entry);
	if (split(entry, '/', &body, &proto) && !parse_protos(proto, &e.protos)) {
		quote(q1, proto);
		report(&pp->rep, "unknown protocol `%s' in entry `%s' (use tcp, udp or tcp+udp)",
		       q1, qe);
		return 0;
	}
	if (!split(body, ':', &pub, &tgt)) {
		tgt = pub;
	} else if (split(tgt, ':', &tgt, &extra)) {
		report(&pp->rep, "malformed entry `%s': more than one `:'", qe);
		return 0;
	}

	rr = parse_range(pub, &e.public_lo, &e.public_hi, &bad);
	if (rr == RANGE_OK)
		rr = parse_range(tgt, &e.target_lo, &e.target_hi, &bad);
	if (rr == RANGE_BAD_PORT) {
		quote(q1, bad);
		report(&pp->rep, "bad port `%s' in entry `%s'", q1, qe);
		return 0;
	}
	if (rr == RANGE_BACKWARDS) {
		quote(q1, bad);
		report(&pp->rep, "bad range `%s' in entry `%s': start above end", q1, qe);
		return 0;
	}

	pub_len = (unsigned)e.public_hi - e.public_lo + 1;
	tgt_len = (unsigned)e.target_hi - e.target_lo + 1;
	quote(q1, pub);
	quote(q2, tgt);
	if (pub_len > WF_PORTS_RANGE_MAX) {
		report(&pp->rep, "range `%s' in entry `%s' has %u ports; at most %u per entry", q1,
		       qe, pub_len, WF_PORTS_RANGE_MAX);
		return 0;
	}
	if (pub_len != tgt_len) {
		if (tgt_len == 1)
			report(
			    &pp->rep,
			    "range `%s' cannot map to the single port `%s' in entry `%s' (give a "
			    "target range of the same length)",
			    q1, q2, qe);
		else if (pub_len == 1)
			report(&pp->rep, "port `%s' cannot map to the range `%s' in entry `%s'", q1,
			       q2, qe);
		else
			report(&pp->rep,
			       "ranges `%s' and `%s' differ in length (%u and %u ports) in entry "
			       "`%s'",
			       q1, q2, pub_len, tgt_len, qe);
		return 0;
	}

	for (size_t b = 0; b < 2; b++) {
		if (!(e.protos & proto_bits[b]))
			continue;
		for (unsigned p = e.public_lo; p <= e.public_hi; p++) {
			if (!taken_test(pp->taken, proto_bits[b], (uint16_t)p))
				continue;
			quote(q1, earlier_entry(pp, proto_bits[b], (uint16_t)p));
			report(&pp->rep,
			       "duplicate entry `%s': public port %u/%s is already in entry `%s'",
			       qe, p, wf_proto_name(mask_proto(proto_bits[b])), q1);
			return 0;
		}
	}
	for (size_t b = 0; b < 2; b++) {
		if (!(e.protos & proto_bits[b]))
			continue;
		for (unsigned p = e.public_lo; p <= e.public_hi; p++)
			taken_set(pp->taken, proto_bits[b], (uint16_t)p);
	}
	return ports_append(pp, &e, entry);
}

int wf_parse_ports(const char *value, struct wf_port_entry **out, size_t *n_out,
                   wf_label_error_fn on_error, void *ctx)
{
	struct ports_parse pp = {.rep = {on_error, ctx}};
	int r;

	*out = NULL;
	*n_out = 0;
	pp.taken = calloc(2 * 65536 / 8, 1);
	if (!pp.taken)
		return -ENOMEM;
	r = for_each_entry(value, ports_entry, &pp);
	free(pp.taken);
	free(pp.texts);
	if (r < 0) {
		free(pp.entries);
		return r;
	}
	*out = pp.entries;
	*n_out = pp.n;
	return 0;
}

/* ---- services ---- */

static const struct {
	const char *name;
	uint8_t proto;
	uint16_t port;
} builtin_services[] = {
    {"ssh", IPPROTO_TCP, 22},    {"smtp", IPPROTO_TCP, 25},   {"domain", IPPROTO_TCP, 53},
    {"domain", IPPROTO_UDP, 53}, {"http", IPPROTO_TCP, 80},   {"pop3", IPPROTO_TCP, 110},
    {"ntp", IPPROTO_UDP, 123},   {"imap", IPPROTO_TCP, 143},  {"imap2", IPPROTO_TCP, 143},
    {"https", IPPROTO_TCP, 443}, {"https", IPPROTO_UDP, 443}, {"submissions", IPPROTO_TCP, 465},
    {"smtps", IPPROTO_TCP, 465}, {"ssmtp", IPPROTO_TCP, 465}, {"submission", IPPROTO_TCP, 587},
    {"imaps", IPPROTO_TCP, 993}, {"pop3s", IPPROTO_TCP, 995},
};

uint16_t wf_service_lookup_builtin(const char *name, uint8_t proto, void *ctx)
{
	for (size_t i = 0; i < sizeof(builtin_services) / sizeof(builtin_services[0]); i++) {
		if (builtin_services[i].proto == proto && !strcmp(builtin_services[i].name, name))
			return builtin_services[i].port;
	}
	return 0;
}

uint16_t wf_service_lookup_system(const char *name, uint8_t proto, void *ctx)
{
	struct servent se, *res = NULL;
	char buf[1024];

	if (!getservbyname_r(name, wf_proto_name(proto), &se, buf, sizeof(buf), &res) && res &&
	    res->s_port)
		return ntohs((uint16_t)res->s_port);
	return wf_service_lookup_builtin(name, proto, ctx);
}

/* Service names as the database spells them: letters, digits, `-', `_', `.', `+'. Looked up in
 * lower case so that `SMTP' works too. */
static bool service_name(struct span s, char name[SERVICE_NAME_MAX])
{
	if (!s.len || s.len >= SERVICE_NAME_MAX || !isalnum((unsigned char)s.p[0]))
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != '+')
			return false;
		name[i] = (char)tolower(c);
	}
	name[s.len] = '\0';
	return true;
}

/* ---- wgfwd.egress ---- */

struct egress_parse {
	struct reporter rep;
	wf_service_resolver resolve;
	void *resolve_ctx;
	struct wf_egress_entry *entries;
	struct span *texts;
	size_t n, cap, cap_texts;
};

static bool egress_overlap(const struct wf_egress_entry *a, const struct wf_egress_entry *b)
{
	uint16_t ahi = a->port_lo ? a->port_hi : 65535;
	uint16_t bhi = b->port_lo ? b->port_hi : 65535;

	if (!a->proto || !b->proto)
		return true;
	return a->proto == b->proto && a->port_lo <= bhi && b->port_lo <= ahi;
}

static int egress_append(struct egress_parse *ep, const struct wf_egress_entry *e, struct span text)
{
	if (WF_ARRAY_RESERVE(ep->entries, ep->n, ep->cap, 1) ||
	    WF_ARRAY_RESERVE(ep->texts, ep->n, ep->cap_texts, 1))
		return -ENOMEM;
	ep->entries[ep->n] = *e;
	ep->texts[ep->n] = text;
	ep->n++;
	return 0;
}

/* Resolves the port part of an entry for the protocols in mask into sel[]; 0 when an error
 * was reported. */
static size_t egress_ports(struct egress_parse *ep, struct span entry, uint8_t mask,
                           struct span spec, struct wf_egress_entry sel[2])
{
	char qe[QUOTE_SIZE], q1[QUOTE_SIZE], name[SERVICE_NAME_MAX];
	uint16_t lo = 0, hi = 0;
	size_t n = 0;
	struct span bad;

	quote(qe, entry);
	quote(q1, spec);
	if (span_eq(spec, "all")) {
		/* every port: lo = hi = 0 */
	} else if (looks_numeric(spec)) {
		enum range_result rr = parse_range(spec, &lo, &hi, &bad);

		quote(q1, bad);
		if (rr == RANGE_BAD_PORT) {
			report(&ep->rep, "bad port `%s' in entry `%s'", q1, qe);
			return 0;
		}
		if (rr == RANGE_BACKWARDS) {
			report(&ep->rep, "bad range `%s' in entry `%s': start above end", q1, qe);
			return 0;
		}
	} else if (!service_name(spec, name)) {
		report(&ep->rep, "bad port or service `%s' in entry `%s'", q1, qe);
		return 0;
	} else {
		for (size_t b = 0; b < 2; b++) {
			uint16_t port;

			if (!(mask & proto_bits[b]))
				continue;
			port = ep->resolve(name, mask_proto(proto_bits[b]), ep->resolve_ctx);
			if (!port) {
				report(&ep->rep, "unknown service `%s' for %s in entry `%s'", q1,
				       wf_proto_name(mask_proto(proto_bits[b])), qe);
				return 0;
			}
			sel[n++] = (struct wf_egress_entry){mask_proto(proto_bits[b]), port, port};
		}
		return n;
	}
	for (size_t b = 0; b < 2; b++) {
		if (mask & proto_bits[b])
			sel[n++] = (struct wf_egress_entry){mask_proto(proto_bits[b]), lo, hi};
	}
	return n;
}

static int egress_entry(void *state, struct span entry)
{
	struct egress_parse *ep = state;
	struct wf_egress_entry sel[2];
	char qe[QUOTE_SIZE], q1[QUOTE_SIZE], name[SERVICE_NAME_MAX];
	struct span a, b;
	uint8_t mask;
	size_t n = 0;

	quote(qe, entry);
	if (split(entry, '/', &a, &b)) {
		if (parse_protos(a, &mask)) {
			n = egress_ports(ep, entry, mask, b, sel);
		} else if (parse_protos(b, &mask)) {
			n = egress_ports(ep, entry, mask, a, sel);
		} else {
			quote(q1, looks_numeric(a) ? b : a);
			report(&ep->rep, "unknown protocol `%s' in entry `%s' (use tcp or udp)", q1,
			       qe);
		}
	} else if (span_eq(entry, "all")) {
		sel[n++] = (struct wf_egress_entry){0, 0, 0};
	} else if (parse_protos(entry, &mask)) {
		n = egress_ports(ep, entry, mask, (struct span){"all", 3}, sel);
	} else if (looks_numeric(entry)) {
		report(&ep->rep, "port `%s' needs a protocol: write `tcp/%s' or `udp/%s'", qe, qe,
		       qe);
	} else if (!service_name(entry, name)) {
		report(&ep->rep, "bad service name `%s'", qe);
	} else {
		for (size_t i = 0; i < 2; i++) {
			uint16_t port =
			    ep->resolve(name, mask_proto(proto_bits[i]), ep->resolve_ctx);

			if (port)
				sel[n++] =
				    (struct wf_egress_entry){mask_proto(proto_bits[i]), port, port};
		}
		if (!n)
			report(&ep->rep,
			       "unknown service `%s' (not in the services database; write "
			       "tcp/PORT or udp/PORT)",
			       qe);
	}

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < ep->n; j++) {
			if (!egress_overlap(&sel[i], &ep->entries[j]))
				continue;
			quote(q1, ep->texts[j]);
			report(&ep->rep, "duplicate entry `%s': overlaps entry `%s'", qe, q1);
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int r = egress_append(ep, &sel[i], entry);

		if (r < 0)
			return r;
	}
	return 0;
}

int wf_parse_egress(const char *value, wf_service_resolver resolve, void *resolve_ctx,
                    struct wf_egress_entry **out, size_t *n_out, wf_label_error_fn on_error,
                    void *ctx)
{
	struct egress_parse ep = {
	    .rep = {on_error, ctx},
	    .resolve = resolve ? resolve : wf_service_lookup_system,
	    .resolve_ctx = resolve_ctx,
	};
	int r;

	*out = NULL;
	*n_out = 0;
	r = for_each_entry(value, egress_entry, &ep);
	free(ep.texts);
	if (r < 0) {
		free(ep.entries);
		return r;
	}
	*out = ep.entries;
	*n_out = ep.n;
	return 0;
}

/* ---- wgfwd.enable ---- */

int wf_parse_bool(const char *value, bool *out, char *err, size_t err_size)
{
	static const char *const yes[] = {"true", "yes", "1"};
	static const char *const no[] = {"false", "no", "0"};
	struct span s = trim((struct span){value ? value : "", value ? strlen(value) : 0});
	char q[QUOTE_SIZE];

	for (size_t i = 0; i < 3; i++) {
		if (span_eq(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (span_eq(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	if (err && err_size) {
		quote(q, s);
		snprintf(err, err_size, "bad value `%s' (use true or false)", q);
	}
	return -EINVAL;
}
