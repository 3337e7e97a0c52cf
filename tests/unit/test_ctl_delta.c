/* state_delta and delta_ack: their wire form, strict decoding and limits, and the difference
 * the agent computes between two states. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <wgfwd/ctl.h>

#define TCP4(p, t)                                                                              \
	(struct wf_ctl_forward)                                                                 \
	{                                                                                       \
		.proto = IPPROTO_TCP, .family = AF_INET, .public_port = (p), .target_port = (t) \
	}

static struct wf_ctl_forward fw_add[] = {
    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 443, .target_port = 8443},
    {.proto = IPPROTO_UDP, .family = AF_INET6, .public_port = 53, .target_port = 53},
};
static struct wf_ctl_forward fw_del[] = {
    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 80, .target_port = 8080},
    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 443, .target_port = 443},
};
static struct wf_ctl_egress eg_add[] = {{.proto = IPPROTO_TCP, .port_lo = 25, .port_hi = 25},
                                        {.proto = 0}};

static struct wf_ctl_msg sample_delta(void)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_DELTA};

	m.state_delta.generation = 8;
	m.state_delta.base = 7;
	m.state_delta.add.forwards = fw_add;
	m.state_delta.add.n_forwards = 2;
	m.state_delta.add.egress = eg_add;
	m.state_delta.add.n_egress = 2;
	m.state_delta.del.forwards = fw_del;
	m.state_delta.del.n_forwards = 2;
	return m;
}

static void delta_is_written_as_two_lists_of_a_state(void **state)
{
	struct wf_ctl_msg m = sample_delta();
	char err[256] = "", *json = NULL;
	size_t len;

	/* in the wire's order: 80 before 443 is not required, only the kinds */
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_string_equal(
	    json,
	    "{\"v\":3,\"type\":\"state_delta\",\"generation\":8,\"base\":7,\"add\":{\"forwards\":"
	    "{\"tcp\":{\"ipv4\":[443,8443],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[53,53]}},"
	    "\"egress\":{\"tcp\":[25,25],\"udp\":[],\"any\":true}},\"del\":{\"forwards\":{\"tcp\":"
	    "{\"ipv4\":[80,8080,443,443],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}},"
	    "\"egress\":{\"tcp\":[],\"udp\":[],\"any\":false}}}");
	assert_int_equal(len, strlen(json));
	free(json);
}

static void delta_survives_encode_and_decode(void **state)
{
	struct wf_ctl_msg m = sample_delta(), out;
	char err[256] = "", *json = NULL;
	size_t len;

	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.type, WF_CTL_MSG_STATE_DELTA);
	assert_int_equal(out.state_delta.generation, 8);
	assert_int_equal(out.state_delta.base, 7);
	assert_true(wf_ctl_forwards_equal(out.state_delta.add.forwards,
	                                  out.state_delta.add.n_forwards, fw_add, 2));
	assert_true(wf_ctl_forwards_equal(out.state_delta.del.forwards,
	                                  out.state_delta.del.n_forwards, fw_del, 2));
	assert_true(wf_ctl_egress_equal(out.state_delta.add.egress, out.state_delta.add.n_egress,
	                                eg_add, 2));
	assert_int_equal(out.state_delta.del.n_egress, 0);
	assert_int_equal(wf_ctl_delta_entries(&out.state_delta), 6);
	wf_ctl_msg_clear(&out);
	free(json);
}

static void delta_ack_carries_resend(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_DELTA_ACK}, out;
	struct wf_ctl_result r[2] = {{.accepted = true}, {.accepted = false, .reason = "taken"}};
	char err[256] = "", *json = NULL;
	size_t len;

	m.state_ack.generation = 9;
	m.state_ack.resend = true;
	snprintf(m.state_ack.reason, sizeof(m.state_ack.reason), "base 3 is not held");
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_string_equal(json, "{\"v\":3,\"type\":\"delta_ack\",\"generation\":9,\"applied\":"
	                          "false,\"resend\":true,\"reason\":\"base 3 is not held\","
	                          "\"reasons\":[],\"forwards\":[],\"egress\":[]}");
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.type, WF_CTL_MSG_DELTA_ACK);
	assert_true(out.state_ack.resend);
	assert_false(out.state_ack.applied);
	wf_ctl_msg_clear(&out);
	free(json);

	/* applied: results for the added entries, never resend */
	m.state_ack.applied = true;
	m.state_ack.reason[0] = '\0';
	m.state_ack.forwards = r;
	m.state_ack.n_forwards = 2;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "resend: only when applied is false");
	m.state_ack.resend = false;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(json, "\"applied\":true,\"resend\":false,\"reasons\":[\"taken\"],"
	                             "\"forwards\":[0,1]"));
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.state_ack.n_forwards, 2);
	assert_string_equal(out.state_ack.forwards[1].reason, "taken");
	wf_ctl_msg_clear(&out);
	free(json);

	/* a state_ack has no resend */
	m.type = WF_CTL_MSG_STATE_ACK;
	m.state_ack.applied = false;
	m.state_ack.n_forwards = 0;
	snprintf(m.state_ack.reason, sizeof(m.state_ack.reason), "no");
	m.state_ack.resend = true;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "resend: only in a delta_ack");
}

#define NOFWD    "\"forwards\":{\"tcp\":{\"ipv4\":[],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}}"
#define NOEGR    "\"egress\":{\"tcp\":[],\"udp\":[],\"any\":false}"
#define EMPTY    "{" NOFWD "," NOEGR "}"
#define DELTA(x) "{\"v\":3,\"type\":\"state_delta\",\"generation\":2,\"base\":1," x "}"
#define TCP4LIST(l)                           \
	"{\"forwards\":{\"tcp\":{\"ipv4\":" l \
	",\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}}," NOEGR "}"

static void every_strict_delta_error_is_refused_and_named(void **state)
{
	static const struct {
		const char *json, *error;
	} cases[] = {
	    {DELTA("\"add\":" EMPTY ",\"del\":" EMPTY), NULL},
	    {"{\"v\":3,\"type\":\"state_delta\",\"generation\":2,\"add\":" EMPTY ",\"del\":" EMPTY
	     "}",
	     "base: missing"},
	    {DELTA("\"add\":" EMPTY), "del: missing"},
	    {DELTA("\"add\":" EMPTY ",\"del\":" EMPTY ",\"x\":1"), "unknown field \"x\""},
	    {DELTA("\"add\":{" NOFWD "," NOEGR ",\"y\":1},\"del\":" EMPTY),
	     "add: unknown field \"y\""},
	    {DELTA("\"add\":{" NOFWD "},\"del\":" EMPTY), "add.egress: missing"},
	    {DELTA("\"add\":" TCP4LIST("[70000,1]") ",\"del\":" EMPTY),
	     "add.forwards.tcp.ipv4[0]: 70000 is out of range 1..65535"},
	    {DELTA("\"add\":" EMPTY ",\"del\":" TCP4LIST("[80,80,80,81]")),
	     "del.forwards[1]: a second forward for tcp ipv4 port 80"},
	    {DELTA("\"add\":" EMPTY ",\"del\":{" NOFWD ",\"egress\":{\"tcp\":[5,4],\"udp\":[],"
	           "\"any\":false}}"),
	     "del.egress[0]: ports 5..4 are not a range"},
	    {DELTA("\"add\":" EMPTY ",\"del\":" EMPTY ",\"base\":-1"), "base: -1 is out of range"},
	    {"{\"v\":3,\"type\":\"state_delta\",\"generation\":2,\"base\":9223372036854775808,"
	     "\"add\":" EMPTY ",\"del\":" EMPTY "}",
	     "base: 9223372036854775808 is out of range"},
	    {"{\"v\":3,\"type\":\"delta_ack\",\"generation\":1,\"applied\":true,\"reasons\":[],"
	     "\"forwards\":[],\"egress\":[]}",
	     "resend: missing"},
	    {"{\"v\":3,\"type\":\"delta_ack\",\"generation\":1,\"applied\":true,\"resend\":true,"
	     "\"reasons\":[],\"forwards\":[],\"egress\":[]}",
	     "resend: only when applied is false"},
	    {"{\"v\":3,\"type\":\"state_ack\",\"generation\":1,\"applied\":true,\"resend\":false,"
	     "\"reasons\":[],\"forwards\":[],\"egress\":[]}",
	     "unknown field \"resend\""},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct wf_ctl_msg m;
		char err[256] = "";
		int ret =
		    wf_ctl_msg_decode(cases[c].json, strlen(cases[c].json), &m, err, sizeof(err));

		if (!cases[c].error) {
			if (ret != 0)
				fail_msg("case %zu: %s", c, err);
			wf_ctl_msg_clear(&m);
			continue;
		}
		if (ret != -EBADMSG || !strstr(err, cases[c].error))
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", c, ret, err,
			         cases[c].error);
	}
}

/* The same entries as the largest state, spread over add and del: within a frame, and the
 * limit counts both lists together. */
static void largest_delta_fits_and_the_limit_counts_both_lists(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_DELTA}, out;
	struct wf_ctl_state *lists[2] = {&m.state_delta.add, &m.state_delta.del};
	char err[256] = "", *json = NULL;
	size_t len = 0, half = WF_CTL_ENTRIES_MAX / 2;

	m.state_delta.generation = INT64_MAX;
	m.state_delta.base = INT64_MAX;
	for (int l = 0; l < 2; l++) {
		lists[l]->forwards = calloc(half + 1, sizeof(struct wf_ctl_forward));
		lists[l]->egress = calloc(half + 1, sizeof(struct wf_ctl_egress));
		assert_non_null(lists[l]->forwards);
		assert_non_null(lists[l]->egress);
		for (size_t i = 0; i <= half; i++) {
			lists[l]->forwards[i] = TCP4((uint16_t)(10000 + i), 65535);
			lists[l]->egress[i] =
			    (struct wf_ctl_egress){.proto = IPPROTO_TCP,
			                           .port_lo = 10000,
			                           .port_hi = (uint16_t)(10000 + i)};
		}
		lists[l]->n_forwards = half;
		lists[l]->n_egress = half;
	}
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_true(len <= WF_CTL_DELTA_WORST);
	assert_true(WF_CTL_DELTA_WORST <= WF_CTL_MSG_MAX);
	print_message("largest delta: %zu bytes (bound %zu) of %d\n", len,
	              (size_t)WF_CTL_DELTA_WORST, WF_CTL_MSG_MAX);
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_int_equal(wf_ctl_delta_entries(&out.state_delta), 2 * WF_CTL_ENTRIES_MAX);
	wf_ctl_msg_clear(&out);
	free(json);

	/* one more forward than the limit, over both lists */
	m.state_delta.add.n_forwards = half + 1;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "add and del: more than 32768 forwards together");
	m.state_delta.add.n_forwards = half;
	m.state_delta.del.n_egress = half + 1;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "add and del: more than 32768 egress entries together");
	m.state_delta.del.n_egress = half;
	wf_ctl_msg_clear(&m);
}

static void diff_names_what_changed(void **state)
{
	struct wf_ctl_forward from_f[] = {TCP4(22, 22), TCP4(80, 8080), TCP4(443, 443)};
	struct wf_ctl_forward to_f[] = {TCP4(80, 8080), TCP4(443, 8443), TCP4(993, 993)};
	struct wf_ctl_egress from_e[] = {{IPPROTO_TCP, 25, 25}, {IPPROTO_TCP, 25, 25}};
	struct wf_ctl_egress to_e[] = {{IPPROTO_TCP, 25, 25}, {IPPROTO_UDP, 53, 53}, {0, 0, 0}};
	struct wf_ctl_state from = {
	    .forwards = from_f, .n_forwards = 3, .egress = from_e, .n_egress = 2};
	struct wf_ctl_state to = {.forwards = to_f, .n_forwards = 3, .egress = to_e, .n_egress = 3};
	struct wf_ctl_forward want_add[] = {TCP4(443, 8443), TCP4(993, 993)};
	struct wf_ctl_forward want_del[] = {TCP4(22, 22), TCP4(443, 443)};
	struct wf_ctl_state_delta d;

	assert_int_equal(wf_ctl_state_diff(&from, &to, &d), 0);
	assert_true(wf_ctl_forwards_equal(d.add.forwards, d.add.n_forwards, want_add, 2));
	assert_true(wf_ctl_forwards_equal(d.del.forwards, d.del.n_forwards, want_del, 2));
	/* egress as a multiset: one of the two tcp 25 goes */
	assert_true(wf_ctl_egress_equal(d.del.egress, d.del.n_egress, from_e, 1));
	assert_true(wf_ctl_egress_equal(d.add.egress, d.add.n_egress, to_e + 1, 2));
	wf_ctl_state_clear(&d.add);
	wf_ctl_state_clear(&d.del);

	/* nothing changed: nothing to send */
	assert_int_equal(wf_ctl_state_diff(&to, &to, &d), 0);
	assert_int_equal(wf_ctl_delta_entries(&d), 0);
	wf_ctl_state_clear(&d.add);
	wf_ctl_state_clear(&d.del);
}

/* What the gateway does with a delta, by the protocol's words: del taken away (each one
 * must be held), then add put in (each key must be free). */
static int apply_delta(const struct wf_ctl_state *base, const struct wf_ctl_state_delta *d,
                       struct wf_ctl_state *out)
{
	bool *gone = calloc(base->n_forwards + base->n_egress + 1, sizeof(*gone));
	size_t n = 0;

	assert_non_null(gone);
	memset(out, 0, sizeof(*out));
	out->forwards = calloc(base->n_forwards + d->add.n_forwards + 1, sizeof(*out->forwards));
	out->egress = calloc(base->n_egress + d->add.n_egress + 1, sizeof(*out->egress));
	for (size_t i = 0; i < d->del.n_forwards; i++) {
		size_t j = 0;

		while (j < base->n_forwards &&
		       (gone[j] ||
		        !wf_ctl_forwards_equal(&base->forwards[j], 1, &d->del.forwards[i], 1)))
			j++;
		if (j == base->n_forwards)
			return -1;
		gone[j] = true;
	}
	for (size_t i = 0; i < d->del.n_egress; i++) {
		size_t j = 0;

		while (j < base->n_egress &&
		       (gone[base->n_forwards + j] ||
		        !wf_ctl_egress_equal(&base->egress[j], 1, &d->del.egress[i], 1)))
			j++;
		if (j == base->n_egress)
			return -1;
		gone[base->n_forwards + j] = true;
	}
	for (size_t j = 0; j < base->n_forwards; j++)
		if (!gone[j])
			out->forwards[n++] = base->forwards[j];
	for (size_t i = 0; i < d->add.n_forwards; i++)
		out->forwards[n++] = d->add.forwards[i];
	out->n_forwards = n;
	for (size_t j = 0, k = 0; j < base->n_egress; j++)
		if (!gone[base->n_forwards + j])
			out->egress[k++] = base->egress[j], out->n_egress = k;
	for (size_t i = 0; i < d->add.n_egress; i++)
		out->egress[out->n_egress++] = d->add.egress[i];
	free(gone);
	return wf_ctl_state_sort(out);
}

static void random_state(struct wf_ctl_state *s, unsigned *seed)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	static const uint8_t families[] = {AF_INET, AF_INET6};
	bool used[2][2][64] = {{{false}}};
	size_t n = (size_t)(rand_r(seed) % 40), ne = (size_t)(rand_r(seed) % 5);

	memset(s, 0, sizeof(*s));
	s->forwards = calloc(n + 1, sizeof(*s->forwards));
	s->egress = calloc(ne + 1, sizeof(*s->egress));
	assert_non_null(s->forwards);
	assert_non_null(s->egress);
	for (size_t i = 0; i < n; i++) {
		int p = rand_r(seed) % 2, f = rand_r(seed) % 2, port = 1 + rand_r(seed) % 63;

		if (used[p][f][port])
			continue;
		used[p][f][port] = true;
		s->forwards[s->n_forwards++] =
		    (struct wf_ctl_forward){.proto = protos[p],
		                            .family = families[f],
		                            .public_port = (uint16_t)port,
		                            .target_port = (uint16_t)(1 + rand_r(seed) % 3)};
	}
	for (size_t i = 0; i < ne; i++) {
		int lo = 1 + rand_r(seed) % 3;

		s->egress[s->n_egress++] =
		    (struct wf_ctl_egress){.proto = protos[rand_r(seed) % 2],
		                           .port_lo = (uint16_t)lo,
		                           .port_hi = (uint16_t)(lo + rand_r(seed) % 2)};
	}
	assert_int_equal(wf_ctl_state_sort(s), 0);
}

/* On random pairs of states: the delta, applied as the protocol says to the first, gives the
 * second, never names an entry twice, and survives the wire. */
static void diff_applied_to_its_base_gives_the_target(void **state)
{
	unsigned seed = 18;

	for (int round = 0; round < 2000; round++) {
		struct wf_ctl_state a, b, c;
		struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_DELTA}, out;
		char err[256] = "", *json;
		size_t len;

		random_state(&a, &seed);
		random_state(&b, &seed);
		assert_int_equal(wf_ctl_state_diff(&a, &b, &m.state_delta), 0);
		assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
		assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
		assert_int_equal(apply_delta(&a, &out.state_delta, &c), 0);
		assert_true(
		    wf_ctl_forwards_equal(c.forwards, c.n_forwards, b.forwards, b.n_forwards));
		assert_true(wf_ctl_egress_equal(c.egress, c.n_egress, b.egress, b.n_egress));
		wf_ctl_msg_clear(&out);
		wf_ctl_msg_clear(&m);
		free(json);
		wf_ctl_state_clear(&a);
		wf_ctl_state_clear(&b);
		wf_ctl_state_clear(&c);
	}
}

/* A short list looks back for a repeated key, a long one marks a bitmap: both find the same
 * repeat, wherever it is, and pass a list of distinct keys. */
static void a_repeated_key_is_found_in_short_and_long_lists(void **state)
{
	static const size_t sizes[] = {2, 3, 64, 65, 200};
	struct wf_ctl_forward f[200];
	char err[256], want[128];

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_DELTA};

		for (size_t i = 0; i < n; i++)
			f[i] = TCP4((uint16_t)(1000 + i), 80);
		m.state_delta.add = (struct wf_ctl_state){.forwards = f, .n_forwards = n};
		assert_int_equal(wf_ctl_msg_validate(&m, err, sizeof(err)), 0);
		/* the last repeats the first; the same port of another family is no repeat */
		f[n - 1].public_port = 1000;
		snprintf(want, sizeof(want),
		         "add.forwards[%zu]: a second forward for tcp ipv4 port 1000", n - 1);
		assert_int_equal(wf_ctl_msg_validate(&m, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, want);
		f[n - 1].family = AF_INET6;
		assert_int_equal(wf_ctl_msg_validate(&m, err, sizeof(err)), 0);
	}
}

static void sort_orders_by_kind_then_port(void **state)
{
	struct wf_ctl_forward f[] = {
	    {IPPROTO_UDP, AF_INET, 5, 5}, TCP4(9, 9), {IPPROTO_TCP, AF_INET6, 1, 1}, TCP4(3, 3)};
	struct wf_ctl_forward want[] = {
	    TCP4(3, 3), TCP4(9, 9), {IPPROTO_TCP, AF_INET6, 1, 1}, {IPPROTO_UDP, AF_INET, 5, 5}};
	struct wf_ctl_egress e[] = {
	    {0, 0, 0}, {IPPROTO_UDP, 1, 1}, {IPPROTO_TCP, 9, 9}, {IPPROTO_TCP, 2, 3}};
	struct wf_ctl_egress want_e[] = {
	    {IPPROTO_TCP, 2, 3}, {IPPROTO_TCP, 9, 9}, {IPPROTO_UDP, 1, 1}, {0, 0, 0}};
	struct wf_ctl_state s = {.forwards = f, .n_forwards = 4, .egress = e, .n_egress = 4};

	assert_int_equal(wf_ctl_state_sort(&s), 0);
	assert_true(wf_ctl_forwards_equal(f, 4, want, 4));
	assert_true(wf_ctl_egress_equal(e, 4, want_e, 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(delta_is_written_as_two_lists_of_a_state),
	    cmocka_unit_test(delta_survives_encode_and_decode),
	    cmocka_unit_test(delta_ack_carries_resend),
	    cmocka_unit_test(every_strict_delta_error_is_refused_and_named),
	    cmocka_unit_test(largest_delta_fits_and_the_limit_counts_both_lists),
	    cmocka_unit_test(diff_names_what_changed),
	    cmocka_unit_test(diff_applied_to_its_base_gives_the_target),
	    cmocka_unit_test(a_repeated_key_is_found_in_short_and_long_lists),
	    cmocka_unit_test(sort_orders_by_kind_then_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
