/* A message decoded in steps (wf_ctl_decoder_step) is decoded exactly as in one call: the same
 * result, the same message or the same error, whatever the size of the steps. Pure. */
#include <wgfwd/ctl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* xorshift: the same cases on every run */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t below(size_t n)
{
	return n ? (size_t)(next_random() % n) : 0;
}

/* What a decode gave: its return, its error and, decoded, the message encoded again. */
struct outcome {
	int ret;
	char err[256];
	char *text;
};

static void outcome_of(int ret, const char *err, const struct wf_ctl_msg *m, struct outcome *o)
{
	char why[256];
	size_t len;

	o->ret = ret;
	snprintf(o->err, sizeof(o->err), "%s", ret < 0 ? err : "");
	o->text = NULL;
	if (ret == 0)
		assert_int_equal(wf_ctl_msg_encode(m, &o->text, &len, why, sizeof(why)), 0);
}

static void decode_whole(const char *json, size_t len, struct outcome *o)
{
	struct wf_ctl_msg m;
	char err[256] = "";
	int ret = wf_ctl_msg_decode(json, len, &m, err, sizeof(err));

	outcome_of(ret, err, &m, o);
	wf_ctl_msg_clear(&m);
}

/* bytes 0: a random size for each step, from 1 to a few hundred */
static void decode_in_steps(const char *json, size_t len, size_t bytes, struct outcome *o,
                            unsigned *steps)
{
	struct wf_ctl_decoder *dc;
	struct wf_ctl_msg m;
	char err[256] = "";
	int ret;

	assert_int_equal(wf_ctl_decoder_new(json, len, &dc), 0);
	*steps = 0;
	do {
		memset(&m, 0x5a, sizeof(m));
		ret = wf_ctl_decoder_step(dc, bytes ? bytes : 1 + below(300), &m, err, sizeof(err));
		(*steps)++;
		if (ret == 1) {
			/* nothing is handed out before the end */
			assert_int_equal(m.type, 0);
			assert_null(m.state.forwards);
		}
	} while (ret == 1);
	outcome_of(ret, err, &m, o);
	if (ret < 0) {
		assert_int_equal(m.type, 0);
		assert_null(m.state.forwards);
		assert_null(m.state.egress);
	}
	wf_ctl_msg_clear(&m);
	wf_ctl_decoder_free(dc);
}

static void assert_same(const char *json, size_t len, size_t bytes)
{
	struct outcome whole, stepped;
	unsigned steps;

	decode_whole(json, len, &whole);
	decode_in_steps(json, len, bytes, &stepped, &steps);
	if (whole.ret != stepped.ret || strcmp(whole.err, stepped.err) ||
	    (whole.text && strcmp(whole.text, stepped.text)))
		fail_msg("%.*s\nin steps of %zu: %d \"%s\", whole: %d \"%s\"",
		         (int)(len < 300 ? len : 300), json, bytes, stepped.ret, stepped.err,
		         whole.ret, whole.err);
	free(whole.text);
	free(stepped.text);
}

static char *state_text(size_t forwards, size_t egress, bool any, const char *version)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	char err[256], *json;
	size_t len, n = 0;

	m.state.generation = 1 + below(1000);
	m.state.forwards = calloc(forwards + 1, sizeof(*m.state.forwards));
	m.state.egress = calloc(egress + 2, sizeof(*m.state.egress));
	assert_non_null(m.state.forwards);
	assert_non_null(m.state.egress);
	/* in the wire's order: tcp ipv4, tcp ipv6, udp ipv4, udp ipv6 */
	for (size_t i = 0; i < forwards; i++) {
		size_t kind = i * 4 / (forwards ? forwards : 1);
		uint16_t port = (uint16_t)(1 + i);

		m.state.forwards[n++] = (struct wf_ctl_forward){
		    kind < 2 ? IPPROTO_TCP : IPPROTO_UDP, kind % 2 ? AF_INET6 : AF_INET, port,
		    (uint16_t)(1 + below(65535))};
	}
	m.state.n_forwards = n;
	n = 0;
	for (size_t i = 0; i < egress; i++) {
		uint16_t lo = (uint16_t)(1 + below(60000));

		m.state.egress[n++] = (struct wf_ctl_egress){
		    i < egress / 2 ? IPPROTO_TCP : IPPROTO_UDP, lo, (uint16_t)(lo + below(100))};
	}
	if (any)
		m.state.egress[n++] = (struct wf_ctl_egress){0, 0, 0};
	m.state.n_egress = n;
	snprintf(m.state.agent_version, sizeof(m.state.agent_version), "%s", version);
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	wf_ctl_msg_clear(&m);
	return json;
}

static void largest_state_decodes_the_same_in_steps_and_no_step_is_large(void **state)
{
	char *json = state_text(WF_CTL_ENTRIES_MAX, WF_CTL_ENTRIES_MAX - 1, true, "1.2.3");
	size_t len = strlen(json);
	struct outcome whole, stepped;
	unsigned steps;

	decode_whole(json, len, &whole);
	assert_int_equal(whole.ret, 0);
	decode_in_steps(json, len, WF_CTL_DECODE_STEP, &stepped, &steps);
	assert_int_equal(stepped.ret, 0);
	assert_string_equal(whole.text, stepped.text);
	/* about a step per WF_CTL_DECODE_STEP bytes of text, each bounded by it */
	assert_true(steps > len / WF_CTL_DECODE_STEP);
	assert_true(steps < 4 * (len / WF_CTL_DECODE_STEP + 4));
	free(whole.text);
	free(stepped.text);
	/* a few sizes of step, including the smallest */
	for (size_t bytes = 1; bytes <= 1u << 20; bytes *= 61)
		assert_same(json, len, bytes);
	free(json);
}

static const char *const samples[] = {
    "{\"v\":3,\"type\":\"ping\"}",
    "{\"v\":3,\"type\":\"pong\"}",
    "{\"v\":3,\"type\":\"error\",\"reason\":\"caf\xc3\xa9 \xe2\x82\xac \\u00e9\\\"\"}",
    "{\"v\":3,\"type\":\"gateway_info\",\"ipv4\":[\"203.0.113.1\"],\"ipv6\":[\"2001:db8::1\"],"
    "\"mtu\":1420,\"gateway_version\":\"0.9.0\"}",
    "{\"v\":3,\"type\":\"state_ack\",\"generation\":7,\"applied\":true,\"reasons\":[\"taken "
    "\xe2\x80\x94 by another\"],\"forwards\":[0,1,0],\"egress\":[1]}",
    "{\"v\":3,\"type\":\"state_ack\",\"generation\":7,\"applied\":false,\"reason\":\"no\","
    "\"reasons\":[],\"forwards\":[],\"egress\":[]}",
    "{\"v\":3,\"type\":\"state_delta\",\"generation\":8,\"base\":7,\"add\":{\"forwards\":{"
    "\"tcp\":{\"ipv4\":[443,8443],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}},\"egress\":"
    "{\"tcp\":[],\"udp\":[],\"any\":false}},\"del\":{\"forwards\":{\"tcp\":{\"ipv4\":[443,443,"
    "80,8080],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}},\"egress\":{\"tcp\":[],\"udp\":"
    "[],\"any\":false}}}",
    /* members in another order, white space, a repeated key (the last one counts) */
    " { \"type\" : \"state\" , \"egress\" : {\"any\":true,\"udp\":[],\"tcp\":[25,25]},\n"
    "\"generation\":1,\"generation\":2,\"forwards\":{\"udp\":{\"ipv6\":[53,53],\"ipv4\":[]},"
    "\"tcp\":{\"ipv6\":[],\"ipv4\":[80,8080]}},\"v\":3}\t\r\n",
};

/* What a peer might get wrong, or try: a character flipped, dropped or added, the text cut
 * short or followed by more. */
static size_t mutate(const char *in, size_t len, char *out)
{
	static const char alphabet[] = " \t\n\r{}[]:,\"\\0123456789-.eEtrufalsn\x00\xc3\xa9\xe2\x82"
	                               "\xac\xff\x80";
	size_t pos = below(len + 1);
	char c = alphabet[below(sizeof(alphabet) - 1)];

	memcpy(out, in, len);
	switch (below(6)) {
	case 0: /* flipped */
		if (pos < len)
			out[pos] = c;
		return len;
	case 1: /* dropped */
		if (pos < len) {
			memmove(out + pos, out + pos + 1, len - pos - 1);
			return len - 1;
		}
		return len;
	case 2: /* added */
		memmove(out + pos + 1, out + pos, len - pos);
		out[pos] = c;
		return len + 1;
	case 3: /* cut short */
		return pos;
	case 4: /* white space, or something else, after the value */
		out[len] = below(2) ? ' ' : c;
		out[len + 1] = below(2) ? '\n' : c;
		return len + 2;
	default: /* the value again */
		memcpy(out + len, in, len);
		return 2 * len;
	}
}

static void any_text_decodes_the_same_in_steps_as_whole(void **state)
{
	enum { ROUNDS = 10000 };
	char *states[3];
	size_t n_cases = sizeof(samples) / sizeof(samples[0]) + 3;

	states[0] = state_text(40, 6, true, "0.1.0");
	states[1] = state_text(3, 0, false, "");
	states[2] = state_text(0, 3, false, "x");
	for (unsigned r = 0; r < ROUNDS; r++) {
		size_t k = below(n_cases);
		const char *in = k < 3 ? states[k] : samples[k - 3];
		size_t len = strlen(in), n;
		char *buf = malloc(2 * len + 2);

		assert_non_null(buf);
		/* the text as it is, or mutated once or a few times */
		memcpy(buf, in, len);
		n = len;
		for (size_t m = below(4); m > 0 && 2 * n + 2 <= 2 * len + 2; m--) {
			char *tmp = malloc(2 * n + 2);

			assert_non_null(tmp);
			n = mutate(buf, n, tmp);
			if (n > 2 * len) {
				free(tmp);
				break;
			}
			memcpy(buf, tmp, n);
			free(tmp);
		}
		assert_same(buf, n, 0);
		assert_same(buf, n, 1 + below(8));
		free(buf);
	}
	for (size_t k = 0; k < 3; k++)
		free(states[k]);
}

/* The end of the value can fall on the end of a step: what follows is judged as if the text
 * had been parsed whole. */
static void text_after_the_value_is_judged_at_any_step_boundary(void **state)
{
	static const char *const tails[] = {"",   " ",   " \n\t\r ", "x",  " x",
	                                    "{}", " \0", "\0 ",      "  ]"};
	const char *value = "{\"v\":3,\"type\":\"ping\"}";
	char buf[64];

	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		size_t tail = t == 6 || t == 7 ? 2 : strlen(tails[t]);
		size_t len = strlen(value) + tail;

		memcpy(buf, value, strlen(value));
		memcpy(buf + strlen(value), tails[t], tail);
		for (size_t bytes = 1; bytes <= len; bytes++)
			assert_same(buf, len, bytes);
	}
}

static void a_decoder_used_up_says_so(void **state)
{
	const char *json = "{\"v\":3,\"type\":\"ping\"}";
	struct wf_ctl_decoder *dc;
	struct wf_ctl_msg m;
	char err[256] = "";
	int ret;

	assert_int_equal(wf_ctl_decoder_new(json, strlen(json), &dc), 0);
	do
		ret = wf_ctl_decoder_step(dc, 4, &m, err, sizeof(err));
	while (ret == 1);
	assert_int_equal(ret, 0);
	assert_int_equal(m.type, WF_CTL_MSG_PING);
	assert_int_equal(wf_ctl_decoder_step(dc, 4, &m, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "nothing left to decode");
	wf_ctl_decoder_free(dc);
	/* freed half way */
	assert_int_equal(wf_ctl_decoder_new(json, strlen(json), &dc), 0);
	assert_int_equal(wf_ctl_decoder_step(dc, 4, &m, err, sizeof(err)), 1);
	assert_int_equal(wf_ctl_decoder_step(dc, 4, &m, err, sizeof(err)), 1);
	wf_ctl_decoder_free(dc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(largest_state_decodes_the_same_in_steps_and_no_step_is_large),
	    cmocka_unit_test(any_text_decodes_the_same_in_steps_as_whole),
	    cmocka_unit_test(text_after_the_value_is_judged_at_any_step_boundary),
	    cmocka_unit_test(a_decoder_used_up_says_so),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
