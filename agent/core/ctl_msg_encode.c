/* The control messages written as JSON (their grammar: ctl.h). */
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

/* One flat list of number pairs: [A1,B1,A2,B2,...]. */
static void put_pair(struct out *o, const char **sep, unsigned a, unsigned b)
{
	put(o, *sep);
	put_uint(o, a);
	put_n(o, ",", 1);
	put_uint(o, b);
	*sep = ",";
}

static void put_forwards(struct out *o, const struct wf_ctl_state *s, int proto, int family)
{
	const char *sep = "";

	put_n(o, "[", 1);
	for (size_t i = 0; i < s->n_forwards; i++)
		if (s->forwards[i].proto == proto && s->forwards[i].family == family)
			put_pair(o, &sep, s->forwards[i].public_port, s->forwards[i].target_port);
	put_n(o, "]", 1);
}

static void put_egress(struct out *o, const struct wf_ctl_state *s, int proto)
{
	const char *sep = "";

	put_n(o, "[", 1);
	for (size_t i = 0; i < s->n_egress; i++)
		if (s->egress[i].proto == proto)
			put_pair(o, &sep, s->egress[i].port_lo, s->egress[i].port_hi);
	put_n(o, "]", 1);
}

/* A state's "forwards" and "egress" members, after a separator of the caller's. */
static void put_entries(struct out *o, const struct wf_ctl_state *s)
{
	bool any = false;

	for (size_t i = 0; i < s->n_egress; i++)
		any = any || s->egress[i].proto == 0;
	put(o, "\"forwards\":{\"tcp\":{\"ipv4\":");
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
}

static void encode_state(struct out *o, const struct wf_ctl_state *s)
{
	put(o, ",\"generation\":");
	put_uint(o, s->generation);
	put_n(o, ",", 1);
	put_entries(o, s);
	if (s->agent_version[0]) {
		put(o, ",\"agent_version\":");
		put_string(o, s->agent_version);
	}
}

static void encode_state_delta(struct out *o, const struct wf_ctl_state_delta *d)
{
	put(o, ",\"generation\":");
	put_uint(o, d->generation);
	put(o, ",\"base\":");
	put_uint(o, d->base);
	put(o, ",\"add\":{");
	put_entries(o, &d->add);
	put(o, "},\"del\":{");
	put_entries(o, &d->del);
	put_n(o, "}", 1);
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

static int encode_state_ack(struct out *o, const struct wf_ctl_state_ack *a, bool delta)
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
	if (delta)
		put(o, a->resend ? ",\"resend\":true" : WF_CTL_DELTA_ACK_FIELD);
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
	case WF_CTL_MSG_DELTA_ACK:
		if (encode_state_ack(&o, &m->state_ack, m->type == WF_CTL_MSG_DELTA_ACK) < 0)
			o.failed = true;
		break;
	case WF_CTL_MSG_STATE_DELTA:
		encode_state_delta(&o, &m->state_delta);
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
		return wf_ctl_fail(-ENOMEM, err, errlen, "out of memory");
	}
	if (o.len > WF_CTL_MSG_MAX) {
		free(o.buf);
		return wf_ctl_fail(-EMSGSIZE, err, errlen, "%s message is %zu bytes, at most %d",
		                   wf_ctl_msg_type_name(m->type), o.len, WF_CTL_MSG_MAX);
	}
	*json = o.buf;
	*len = o.len;
	return 0;
}
