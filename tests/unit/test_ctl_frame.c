/* Control channel framing and message encoding: pure functions, no sockets. */
#include <wgfwd/ctl.h>
#include <wgfwd/ctl_proto.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static size_t make_frame(uint8_t *buf, const char *body)
{
	size_t len = strlen(body);

	wf_ctl_frame_header(buf, (uint32_t)len);
	memcpy(buf + WF_CTL_FRAME_HEADER_LEN, body, len);
	return WF_CTL_FRAME_HEADER_LEN + len;
}

static void frame_header_is_big_endian_length(void **state)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];

	wf_ctl_frame_header(header, 0x01020304);
	assert_memory_equal(header, "\x01\x02\x03\x04", 4);
}

static void whole_frame_is_found_with_its_length(void **state)
{
	uint8_t buf[64];
	size_t len = make_frame(buf, "hello"), body_len = 0;

	assert_int_equal(wf_ctl_frame_parse(buf, len, 100, &body_len), 1);
	assert_int_equal(body_len, 5);
	assert_memory_equal(buf + WF_CTL_FRAME_HEADER_LEN, "hello", 5);
}

static void frame_split_anywhere_waits_for_the_rest(void **state)
{
	uint8_t buf[64];
	size_t len = make_frame(buf, "a frame split across reads");

	for (size_t have = 0; have < len; have++) {
		size_t body_len = 0;
		assert_int_equal(wf_ctl_frame_parse(buf, have, 100, &body_len), 0);
		if (have >= WF_CTL_FRAME_HEADER_LEN)
			assert_int_equal(body_len, len - WF_CTL_FRAME_HEADER_LEN);
	}
}

static void back_to_back_frames_are_taken_one_at_a_time(void **state)
{
	uint8_t buf[64];
	size_t len = make_frame(buf, "one"), body_len, off = 0;

	len += make_frame(buf + len, "three");
	assert_int_equal(wf_ctl_frame_parse(buf, len, 100, &body_len), 1);
	assert_int_equal(body_len, 3);
	off = WF_CTL_FRAME_HEADER_LEN + body_len;
	assert_int_equal(wf_ctl_frame_parse(buf + off, len - off, 100, &body_len), 1);
	assert_int_equal(body_len, 5);
	assert_memory_equal(buf + off + WF_CTL_FRAME_HEADER_LEN, "three", 5);
}

static void frame_of_exactly_the_cap_is_accepted(void **state)
{
	size_t body_len = 0;
	uint8_t *buf = calloc(1, WF_CTL_FRAME_HEADER_LEN + WF_CTL_FRAME_MAX);

	assert_non_null(buf);
	wf_ctl_frame_header(buf, WF_CTL_FRAME_MAX);
	assert_int_equal(
	    wf_ctl_frame_parse(buf, WF_CTL_FRAME_HEADER_LEN, WF_CTL_FRAME_MAX, &body_len), 0);
	assert_int_equal(body_len, WF_CTL_FRAME_MAX);
	assert_int_equal(wf_ctl_frame_parse(buf, WF_CTL_FRAME_HEADER_LEN + WF_CTL_FRAME_MAX,
	                                    WF_CTL_FRAME_MAX, &body_len),
	                 1);
	free(buf);
}

static void frame_over_the_cap_is_refused_from_its_header_alone(void **state)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];
	size_t body_len = 0;

	wf_ctl_frame_header(header, WF_CTL_FRAME_MAX + 1);
	assert_int_equal(wf_ctl_frame_parse(header, sizeof(header), WF_CTL_FRAME_MAX, &body_len),
	                 -EMSGSIZE);
	wf_ctl_frame_header(header, 0xffffffff);
	assert_int_equal(wf_ctl_frame_parse(header, sizeof(header), WF_CTL_FRAME_MAX, &body_len),
	                 -EMSGSIZE);
	wf_ctl_frame_header(header, WF_CTL_HANDSHAKE_FRAME_MAX + 1);
	assert_int_equal(
	    wf_ctl_frame_parse(header, sizeof(header), WF_CTL_HANDSHAKE_FRAME_MAX, &body_len),
	    -EMSGSIZE);
}

static void empty_frame_is_refused(void **state)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN] = {0};
	size_t body_len = 0;

	assert_int_equal(wf_ctl_frame_parse(header, sizeof(header), 100, &body_len), -EBADMSG);
}

/* Messages */

static void round_trip(const struct wf_ctl_msg *in, struct wf_ctl_msg *out)
{
	char err[256] = "", *json = NULL;
	size_t len = 0;

	assert_int_equal(wf_ctl_msg_encode(in, &json, &len, err, sizeof(err)), 0);
	assert_int_equal(strlen(json), len);
	if (wf_ctl_msg_decode(json, len, out, err, sizeof(err)) != 0)
		fail_msg("decoding %s: %s", json, err);
	assert_int_equal(out->type, in->type);
	free(json);
}

static void state_survives_encode_and_decode(void **state)
{
	struct wf_ctl_forward forwards[] = {
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 443, .target_port = 8443},
	    {.proto = IPPROTO_TCP, .family = AF_INET6, .public_port = 443, .target_port = 8443},
	    {.proto = IPPROTO_UDP, .family = AF_INET6, .public_port = 53, .target_port = 53},
	};
	struct wf_ctl_egress egress[] = {
	    {.proto = IPPROTO_TCP, .port_lo = 25, .port_hi = 25},
	    {.proto = IPPROTO_TCP, .port_lo = 0, .port_hi = 0},
	    {.proto = IPPROTO_UDP, .port_lo = 1000, .port_hi = 2000},
	    {.proto = 0, .port_lo = 0, .port_hi = 0},
	};
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_STATE,
	                        .state = {.generation = INT64_MAX,
	                                  .forwards = forwards,
	                                  .n_forwards = 3,
	                                  .egress = egress,
	                                  .n_egress = 4,
	                                  .agent_version = "1.2.3-4-gabcdef"}};
	struct wf_ctl_msg out;

	round_trip(&in, &out);
	assert_string_equal(out.state.agent_version, "1.2.3-4-gabcdef");
	assert_true(out.state.generation == INT64_MAX);
	assert_int_equal(out.state.n_forwards, 3);
	assert_int_equal(out.state.n_egress, 4);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(out.state.forwards[i].proto, forwards[i].proto);
		assert_int_equal(out.state.forwards[i].family, forwards[i].family);
		assert_int_equal(out.state.forwards[i].public_port, forwards[i].public_port);
		assert_int_equal(out.state.forwards[i].target_port, forwards[i].target_port);
	}
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(out.state.egress[i].proto, egress[i].proto);
		assert_int_equal(out.state.egress[i].port_lo, egress[i].port_lo);
		assert_int_equal(out.state.egress[i].port_hi, egress[i].port_hi);
	}
	wf_ctl_msg_clear(&out);
}

static void encode_text(const struct wf_ctl_msg *m, const char *want)
{
	char err[256] = "", *json = NULL;
	size_t len = 0;

	assert_int_equal(wf_ctl_msg_encode(m, &json, &len, err, sizeof(err)), 0);
	assert_string_equal(json, want);
	free(json);
}

static void state_is_written_as_port_lists(void **state)
{
	struct wf_ctl_forward forwards[] = {
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 443, .target_port = 443},
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 80, .target_port = 8080},
	    {.proto = IPPROTO_UDP, .family = AF_INET6, .public_port = 53, .target_port = 53},
	};
	struct wf_ctl_egress egress[] = {
	    {.proto = IPPROTO_TCP, .port_lo = 25, .port_hi = 25},
	    {.proto = IPPROTO_TCP, .port_lo = 587, .port_hi = 587},
	};
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE,
	                       .state = {.generation = 7,
	                                 .forwards = forwards,
	                                 .n_forwards = 3,
	                                 .egress = egress,
	                                 .n_egress = 2}};

	/* the example of the specification in ctl.h */
	encode_text(&m, "{\"v\":3,\"type\":\"state\",\"generation\":7,\"forwards\":{\"tcp\":{"
	                "\"ipv4\":[443,443,80,8080],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":"
	                "[53,53]}},\"egress\":{\"tcp\":[25,25,587,587],\"udp\":[],\"any\":false}}");
}

static void ack_lists_each_reason_once(void **state)
{
	struct wf_ctl_result forwards[] = {{.accepted = false, .reason = "no IPv6"},
	                                   {.accepted = true},
	                                   {.accepted = false, .reason = "tcp/22 is \"reserved\""},
	                                   {.accepted = false, .reason = "no IPv6"}};
	struct wf_ctl_result egress[] = {{.accepted = false, .reason = "tcp/22 is \"reserved\""},
	                                 {.accepted = true}};
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_ACK,
	                       .state_ack = {.generation = 9,
	                                     .applied = true,
	                                     .forwards = forwards,
	                                     .n_forwards = 4,
	                                     .egress = egress,
	                                     .n_egress = 2}},
	                  out;

	encode_text(&m, "{\"v\":3,\"type\":\"state_ack\",\"generation\":9,\"applied\":true,"
	                "\"reasons\":[\"no IPv6\",\"tcp/22 is \\\"reserved\\\"\"],\"forwards\":"
	                "[1,0,2,1],\"egress\":[2,0]}");
	round_trip(&m, &out);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(out.state_ack.forwards[i].accepted, forwards[i].accepted);
		assert_string_equal(out.state_ack.forwards[i].reason, forwards[i].reason);
	}
	assert_string_equal(out.state_ack.egress[0].reason, egress[0].reason);
	assert_true(out.state_ack.egress[1].accepted);
	wf_ctl_msg_clear(&out);
}

static void empty_state_survives_encode_and_decode(void **state)
{
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_STATE, .state = {.generation = 0}};
	struct wf_ctl_msg out;

	round_trip(&in, &out);
	assert_int_equal(out.state.n_forwards, 0);
	assert_int_equal(out.state.n_egress, 0);
	/* the software version is optional: absent, it stays empty */
	assert_string_equal(out.state.agent_version, "");
	wf_ctl_msg_clear(&out);
}

static void state_ack_survives_encode_and_decode(void **state)
{
	struct wf_ctl_result forwards[] = {{.accepted = true},
	                                   {.accepted = false, .reason = "port 22 is reserved"}};
	struct wf_ctl_result egress[] = {{.accepted = false, .reason = "égress \"all\" refused"}};
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_STATE_ACK,
	                        .state_ack = {.generation = 7,
	                                      .applied = true,
	                                      .forwards = forwards,
	                                      .n_forwards = 2,
	                                      .egress = egress,
	                                      .n_egress = 1}};
	struct wf_ctl_msg out;

	round_trip(&in, &out);
	assert_int_equal(out.state_ack.generation, 7);
	assert_true(out.state_ack.applied);
	assert_string_equal(out.state_ack.reason, "");
	assert_int_equal(out.state_ack.n_forwards, 2);
	assert_true(out.state_ack.forwards[0].accepted);
	assert_false(out.state_ack.forwards[1].accepted);
	assert_string_equal(out.state_ack.forwards[1].reason, "port 22 is reserved");
	assert_int_equal(out.state_ack.n_egress, 1);
	assert_string_equal(out.state_ack.egress[0].reason, egress[0].reason);
	wf_ctl_msg_clear(&out);
}

static void refused_state_ack_survives_encode_and_decode(void **state)
{
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_STATE_ACK,
	                        .state_ack = {.generation = 8,
	                                      .applied = false,
	                                      .reason = "nftables: Operation not permitted"}};
	struct wf_ctl_msg out;

	round_trip(&in, &out);
	assert_false(out.state_ack.applied);
	assert_string_equal(out.state_ack.reason, "nftables: Operation not permitted");
	wf_ctl_msg_clear(&out);
}

static void gateway_info_survives_encode_and_decode(void **state)
{
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_GATEWAY_INFO};
	struct wf_ctl_msg out;

	inet_pton(AF_INET, "203.0.113.5", &in.gateway_info.ipv4[0]);
	inet_pton(AF_INET, "198.51.100.9", &in.gateway_info.ipv4[1]);
	inet_pton(AF_INET6, "2001:db8::5", &in.gateway_info.ipv6[0]);
	in.gateway_info.n_ipv4 = 2;
	in.gateway_info.n_ipv6 = 1;
	in.gateway_info.mtu = 1420;
	strcpy(in.gateway_info.gateway_version, "0.1.0");
	round_trip(&in, &out);
	assert_string_equal(out.gateway_info.gateway_version, "0.1.0");
	assert_int_equal(out.gateway_info.n_ipv4, 2);
	assert_int_equal(out.gateway_info.n_ipv6, 1);
	assert_memory_equal(out.gateway_info.ipv4, in.gateway_info.ipv4,
	                    2 * sizeof(struct in_addr));
	assert_memory_equal(&out.gateway_info.ipv6[0], &in.gateway_info.ipv6[0],
	                    sizeof(struct in6_addr));
	assert_int_equal(out.gateway_info.mtu, 1420);
}

static void ping_pong_and_error_survive_encode_and_decode(void **state)
{
	struct wf_ctl_msg ping = {.type = WF_CTL_MSG_PING}, pong = {.type = WF_CTL_MSG_PONG};
	struct wf_ctl_msg error = {.type = WF_CTL_MSG_ERROR, .error = {.reason = "bye \\ \"now\""}};
	struct wf_ctl_msg out;

	round_trip(&ping, &out);
	round_trip(&pong, &out);
	round_trip(&error, &out);
	assert_string_equal(out.error.reason, "bye \\ \"now\"");
}

static void encoder_refuses_what_the_decoder_would(void **state)
{
	struct wf_ctl_forward dup[] = {
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 80, .target_port = 80},
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 80, .target_port = 81},
	};
	struct wf_ctl_egress any_with_ports[] = {{.proto = 0, .port_lo = 1, .port_hi = 2}};
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE,
	                       .state = {.forwards = dup, .n_forwards = 2}};
	char err[256], *json = NULL;
	size_t len;

	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "forwards[1]"));
	assert_null(json);

	m.state.n_forwards = 1;
	dup[0].public_port = 0;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "forwards[0].public_port"));

	m.state.n_forwards = 0;
	m.state.egress = any_with_ports;
	m.state.n_egress = 1;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "egress[0]"));

	m = (struct wf_ctl_msg){.type = WF_CTL_MSG_ERROR, .error = {.reason = "line\nbreak"}};
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);

	m = (struct wf_ctl_msg){.type = WF_CTL_MSG_GATEWAY_INFO, .gateway_info = {.mtu = 100}};
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "mtu"));
}

/* The largest state the limits allow: every entry a pair of 5-digit numbers, all in one list
 * (one comma more than spread over several), the largest generation. */
static void largest_state_fits_in_a_frame(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE}, out;
	char err[256] = "", *json = NULL;
	size_t len = 0;

	m.state.generation = INT64_MAX;
	memset(m.state.agent_version, '9', WF_CTL_VERSION_MAX - 1);
	m.state.n_forwards = WF_CTL_ENTRIES_MAX;
	m.state.n_egress = WF_CTL_ENTRIES_MAX;
	m.state.forwards = calloc(WF_CTL_ENTRIES_MAX, sizeof(*m.state.forwards));
	m.state.egress = calloc(WF_CTL_ENTRIES_MAX, sizeof(*m.state.egress));
	assert_non_null(m.state.forwards);
	assert_non_null(m.state.egress);
	for (size_t i = 0; i < WF_CTL_ENTRIES_MAX; i++) {
		m.state.forwards[i] = (struct wf_ctl_forward){.proto = IPPROTO_TCP,
		                                              .family = AF_INET,
		                                              .public_port = (uint16_t)(10000 + i),
		                                              .target_port = 65535};
		m.state.egress[i] = (struct wf_ctl_egress){
		    .proto = IPPROTO_TCP, .port_lo = 10000, .port_hi = (uint16_t)(10000 + i)};
	}
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	/* the arithmetic of ctl.h, checked against the encoder */
	assert_int_equal(len, WF_CTL_STATE_WORST);
	assert_true(len + WF_CTL_TAG_LEN <= WF_CTL_FRAME_MAX);
	print_message("largest state: %zu bytes of %d\n", len, WF_CTL_MSG_MAX);
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.state.n_forwards, WF_CTL_ENTRIES_MAX);
	assert_int_equal(out.state.n_egress, WF_CTL_ENTRIES_MAX);
	assert_memory_equal(out.state.forwards, m.state.forwards,
	                    WF_CTL_ENTRIES_MAX * sizeof(*m.state.forwards));
	assert_memory_equal(out.state.egress, m.state.egress,
	                    WF_CTL_ENTRIES_MAX * sizeof(*m.state.egress));
	wf_ctl_msg_clear(&out);
	free(json);

	/* the same number of entries of every kind, and the every-protocol entry */
	for (size_t i = 0; i < WF_CTL_ENTRIES_MAX; i++) {
		m.state.forwards[i].proto = i < WF_CTL_ENTRIES_MAX / 2 ? IPPROTO_TCP : IPPROTO_UDP;
		m.state.forwards[i].family = i % 2 ? AF_INET6 : AF_INET;
		m.state.forwards[i].public_port = (uint16_t)(1 + i / 2);
		m.state.egress[i].proto = i < WF_CTL_ENTRIES_MAX / 2 ? IPPROTO_TCP : IPPROTO_UDP;
	}
	m.state.egress[WF_CTL_ENTRIES_MAX - 1] = (struct wf_ctl_egress){.proto = 0};
	assert_int_equal(wf_ctl_state_order(&m.state), 0);
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_true(len <= WF_CTL_STATE_WORST);
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_memory_equal(out.state.forwards, m.state.forwards,
	                    WF_CTL_ENTRIES_MAX * sizeof(*m.state.forwards));
	assert_memory_equal(out.state.egress, m.state.egress,
	                    WF_CTL_ENTRIES_MAX * sizeof(*m.state.egress));
	wf_ctl_msg_clear(&out);
	free(json);
	wf_ctl_msg_clear(&m);
}

static void state_beyond_the_entry_limits_is_refused_by_the_encoder(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	char err[256], *json = NULL;
	size_t len;

	m.state.n_forwards = WF_CTL_ENTRIES_MAX + 1;
	m.state.forwards = calloc(m.state.n_forwards, sizeof(*m.state.forwards));
	assert_non_null(m.state.forwards);
	for (size_t i = 0; i < m.state.n_forwards; i++)
		m.state.forwards[i] = (struct wf_ctl_forward){
		    .proto = IPPROTO_TCP,
		    .family = AF_INET,
		    .public_port = (uint16_t)(i + 1),
		    .target_port = 65535,
		};
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "forwards: more than 32768 entries"));
	assert_null(json);
	wf_ctl_msg_clear(&m);
}

/* 255 bytes of '"' and '\\' (each escaped on the wire), different for each n. */
static void worst_reason(char *out, unsigned n)
{
	for (size_t i = 0; i < WF_CTL_REASON_MAX - 1; i++)
		out[i] = i < 16 && (n >> i) & 1 ? '\\' : '"';
	out[WF_CTL_REASON_MAX - 1] = '\0';
}

/* The largest ack: as many results as a state has entries, every one refused, for as many
 * different reasons as an ack carries, each as long as a reason gets and all escaped. */
static void largest_ack_fits_in_a_frame(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_ACK}, out;
	struct wf_ctl_state_ack *a = &m.state_ack;
	char err[256] = "", *json = NULL;
	size_t len = 0;

	a->generation = INT64_MAX;
	a->applied = true;
	a->n_forwards = a->n_egress = WF_CTL_ENTRIES_MAX;
	a->forwards = calloc(WF_CTL_ENTRIES_MAX, sizeof(*a->forwards));
	a->egress = calloc(WF_CTL_ENTRIES_MAX, sizeof(*a->egress));
	assert_non_null(a->forwards);
	assert_non_null(a->egress);
	/* each reason used once, then the last (4 digits) for everything else */
	for (size_t i = 0; i < 2 * (size_t)WF_CTL_ENTRIES_MAX; i++) {
		struct wf_ctl_result *r =
		    i < WF_CTL_ENTRIES_MAX ? &a->forwards[i] : &a->egress[i - WF_CTL_ENTRIES_MAX];

		worst_reason(r->reason,
		             i < WF_CTL_ACK_REASONS_MAX ? (unsigned)i : WF_CTL_ACK_REASONS_MAX - 1);
	}
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	assert_true(len <= WF_CTL_ACK_WORST);
	/* the bound counts every result as 4 digits; the first 999 have fewer */
	assert_true(len > WF_CTL_ACK_WORST - 4000);
	assert_true(len + WF_CTL_TAG_LEN <= WF_CTL_FRAME_MAX);
	print_message("largest state_ack: %zu bytes of %d\n", len, WF_CTL_MSG_MAX);
	assert_int_equal(wf_ctl_msg_decode(json, len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.state_ack.n_forwards, WF_CTL_ENTRIES_MAX);
	assert_int_equal(out.state_ack.n_egress, WF_CTL_ENTRIES_MAX);
	assert_memory_equal(out.state_ack.forwards, a->forwards,
	                    WF_CTL_ENTRIES_MAX * sizeof(*a->forwards));
	assert_memory_equal(out.state_ack.egress, a->egress,
	                    WF_CTL_ENTRIES_MAX * sizeof(*a->egress));
	wf_ctl_msg_clear(&out);
	free(json);
	wf_ctl_msg_clear(&m);
}

static void ack_with_more_reasons_than_fit_names_the_overflow(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE_ACK}, out;
	struct wf_ctl_state_ack *a = &m.state_ack;
	size_t n = 2 * WF_CTL_ACK_REASONS_MAX;

	a->applied = true;
	a->n_forwards = n;
	a->forwards = calloc(n, sizeof(*a->forwards));
	assert_non_null(a->forwards);
	for (size_t i = 0; i < n; i++)
		snprintf(a->forwards[i].reason, sizeof(a->forwards[i].reason),
		         "tcp/%zu is reserved on the gateway", i + 1);
	a->forwards[0].accepted = true;
	a->forwards[0].reason[0] = '\0';
	round_trip(&m, &out);
	assert_true(out.state_ack.forwards[0].accepted);
	for (size_t i = 1; i < n; i++) {
		assert_false(out.state_ack.forwards[i].accepted);
		assert_string_equal(out.state_ack.forwards[i].reason, i < WF_CTL_ACK_REASONS_MAX
		                                                          ? a->forwards[i].reason
		                                                          : WF_CTL_REASON_OVERFLOW);
	}
	wf_ctl_msg_clear(&out);
	wf_ctl_msg_clear(&m);
}

static void state_order_is_by_kind_and_stable(void **state)
{
	struct wf_ctl_forward f[] = {
	    {.proto = IPPROTO_UDP, .family = AF_INET6, .public_port = 1, .target_port = 1},
	    {.proto = IPPROTO_TCP, .family = AF_INET6, .public_port = 2, .target_port = 2},
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 3, .target_port = 3},
	    {.proto = IPPROTO_UDP, .family = AF_INET, .public_port = 4, .target_port = 4},
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 5, .target_port = 5},
	};
	struct wf_ctl_egress e[] = {
	    {.proto = 0},
	    {.proto = IPPROTO_UDP, .port_lo = 1, .port_hi = 1},
	    {.proto = IPPROTO_TCP, .port_lo = 2, .port_hi = 2},
	    {.proto = IPPROTO_TCP, .port_lo = 1, .port_hi = 1},
	};
	struct wf_ctl_msg m = {
	    .type = WF_CTL_MSG_STATE,
	    .state = {.forwards = f, .n_forwards = 5, .egress = e, .n_egress = 4}};
	const uint16_t want_ports[] = {3, 5, 2, 4, 1};
	char err[256] = "", *json = NULL;
	size_t len;

	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "forwards[1]: tcp ipv6 after udp ipv6"));
	assert_int_equal(wf_ctl_state_order(&m.state), 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(f[i].public_port, want_ports[i]);
	assert_int_equal(e[0].port_lo, 2);
	assert_int_equal(e[1].port_lo, 1);
	assert_int_equal(e[2].proto, IPPROTO_UDP);
	assert_int_equal(e[3].proto, 0);
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), 0);
	free(json);

	/* egress out of order, and a second every-protocol entry */
	e[0] = (struct wf_ctl_egress){.proto = IPPROTO_UDP, .port_lo = 1, .port_hi = 1};
	e[1] = (struct wf_ctl_egress){.proto = IPPROTO_TCP, .port_lo = 1, .port_hi = 1};
	m.state.n_forwards = 0;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "egress[1]: tcp after udp"));
	e[1] = (struct wf_ctl_egress){.proto = 0};
	e[2] = (struct wf_ctl_egress){.proto = 0};
	m.state.n_egress = 3;
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "egress[2]: a second entry for proto any"));
}

/* What a peer could send to make the receiver build a large document is refused from a scan
 * of the text, before json-c sees it. */
static void message_shapes_beyond_any_message_are_refused_unparsed(void **state)
{
	static const struct {
		const char *unit, *error;
	} cases[] = {
	    {"{}", "objects and arrays, at most 32"},
	    {"[]", "objects and arrays, at most 32"},
	    {"1", "commas, at most"},
	    {"\"\"", "commas, at most"},
	    {"\"a\":1", "object members, at most 64"},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t cap = WF_CTL_MSG_MAX, n = 0, u = strlen(cases[c].unit);
		char *json = malloc(cap), err[256] = "";
		struct wf_ctl_msg m;

		assert_non_null(json);
		n += (size_t)sprintf(json, "{\"v\":3,\"type\":\"ping\",\"x\":[");
		while (n + u + 3 < cap) {
			memcpy(json + n, cases[c].unit, u);
			n += u;
			json[n++] = ',';
		}
		memcpy(json + n - 1, "]}", 2);
		n++;
		assert_int_equal(wf_ctl_msg_decode(json, n, &m, err, sizeof(err)), -EBADMSG);
		if (!strstr(err, cases[c].error))
			fail_msg("%s: got \"%s\", want \"%s\"", cases[c].unit, err, cases[c].error);
		free(json);
	}
}

struct bad_case {
	const char *json;
	const char *error; /* must appear in the decoder's message */
};

/* A state with the forwards' and the egress' members as given. */
#define NOFWD    "\"forwards\":{\"tcp\":{\"ipv4\":[],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}}"
#define NOEGR    "\"egress\":{\"tcp\":[],\"udp\":[],\"any\":false}"
#define STATE(x) "{\"v\":3,\"type\":\"state\",\"generation\":1," x "}"
#define FWD(tcp4)                                                                           \
	STATE("\"forwards\":{\"tcp\":{\"ipv4\":" tcp4 ",\"ipv6\":[]},\"udp\":{\"ipv4\":[]," \
	      "\"ipv6\":[]}}," NOEGR)
#define FWDS(x) STATE("\"forwards\":" x "," NOEGR)
#define EGR(x)  STATE(NOFWD ",\"egress\":" x)
#define ACK(x)  "{\"v\":3,\"type\":\"state_ack\",\"generation\":1," x "}"
#define INFO(x) "{\"v\":3,\"type\":\"gateway_info\"," x "}"

static const struct bad_case bad_cases[] = {
    /* not a message at all */
    {"{\"v\":3,\"type\":\"ping\"", "not JSON: unexpected end of data"},
    {"{\"v\":3,\"type\":\"ping\"} {}", "not JSON"},
    {"{\"v\":3,\"type\":'ping'}", "not JSON"},
    {"{\"v\":3,\"type\":\"ping\",}", "not JSON"},
    {"[]", "an array, want an object"},
    {"null", "null, want an object"},
    {"\"ping\"", "a string, want an object"},
    {"{\"v\":3,\"type\":\"error\",\"reason\":\"\xff\"}", "not JSON"},
    {"{\"v\":3,\"type\":\"ping\",\"x\":[[[[[[[[[]]]]]]]]]}", "not JSON"},
    /* counted before parsing */
    /* 16 is let through, to the parser */
    {FWD("[[[[[[]]]]]]"), "not JSON: nesting too deep"},
    {FWD("[[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[]]"),
     "33 objects and arrays, at most 32"},
    /* version and type */
    {"{\"type\":\"ping\"}", "v: missing"},
    {"{\"v\":\"2\",\"type\":\"ping\"}", "v: want an integer, got a string"},
    {"{\"v\":3.0,\"type\":\"ping\"}", "v: want an integer, got a fraction"},
    {"{\"v\":1,\"type\":\"ping\"}", "v: protocol version 1, this side speaks 3"},
    {"{\"v\":4,\"type\":\"ping\"}", "v: protocol version 4, this side speaks 3"},
    {"{\"v\":0,\"type\":\"ping\"}", "v: protocol version 0"},
    {"{\"v\":3}", "type: missing"},
    {"{\"v\":3,\"type\":7}", "type: want a string, got an integer"},
    {"{\"v\":3,\"type\":\"hello\"}", "type: \"hello\" is not one of state, state_ack"},
    {"{\"v\":3,\"type\":\"ping\",\"seq\":1}", "unknown field \"seq\""},
    {"{\"v\":3,\"type\":\"pong\",\"x\":null}", "unknown field \"x\""},
    /* a version 1 state: every entry an object */
    {"{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[{\"proto\":\"tcp\",\"family\":"
     "\"ipv4\",\"public_port\":443,\"target_port\":443}],\"egress\":[]}",
     "v: protocol version 1, this side speaks 3"},
    /* a peer of another message version is told both sides' versions */
    {"{\"v\":4,\"type\":\"state\",\"agent_version\":\"9.0.0\"}",
     "v: protocol version 4, this side speaks 3 (peer: wgfwd 9.0.0; this side: wgfwd "},
    {"{\"v\":1,\"type\":\"gateway_info\",\"gateway_version\":\"0.0.1\"}",
     "this side speaks 3 (peer: wgfwd 0.0.1; this side: wgfwd "},
    {"{\"v\":1,\"type\":\"state\",\"agent_version\":\"a\\nb\"}",
     "(peer: version unknown; this side: wgfwd "},
    /* state */
    {STATE(NOFWD "," NOEGR ",\"extra\":1"), "unknown field \"extra\""},
    {STATE(NOFWD "," NOEGR ",\"agent_version\":\"\""), "agent_version: must not be empty"},
    {STATE(NOFWD "," NOEGR ",\"agent_version\":7"), "agent_version: want a string, got an integer"},
    {STATE(NOFWD "," NOEGR ",\"agent_version\":\"1.0 beta\""),
     "agent_version: want 1..63 printable characters without spaces"},
    {STATE(NOFWD "," NOEGR ",\"agent_version\":\"0123456789012345678901234567890123456789"
                 "012345678901234567890123\""),
     "agent_version: 64 bytes, at most 63"},
    {INFO("\"ipv4\":[],\"ipv6\":[],\"mtu\":1420,\"gateway_version\":\"\\u00e9\""),
     "gateway_version: want 1..63 printable characters without spaces"},
    {"{\"v\":3,\"type\":\"state\"," NOFWD "," NOEGR "}", "generation: missing"},
    {STATE(NOEGR), "forwards: missing"},
    {STATE(NOFWD), "egress: missing"},
    {"{\"v\":3,\"type\":\"state\",\"generation\":-1," NOFWD "," NOEGR "}",
     "generation: -1 is out of range"},
    {"{\"v\":3,\"type\":\"state\",\"generation\":9223372036854775808," NOFWD "," NOEGR "}",
     "generation: 9223372036854775808 is out of range 0..9223372036854775807"},
    {"{\"v\":3,\"type\":\"state\",\"generation\":1.5," NOFWD "," NOEGR "}",
     "generation: want an integer, got a fraction"},
    {STATE("\"forwards\":[]," NOEGR), "forwards: want an object, got an array"},
    {FWDS("{\"tcp\":{\"ipv4\":[],\"ipv6\":[]}}"), "forwards.udp: missing"},
    {FWDS("{\"tcp\":{\"ipv4\":[],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]},\"sctp\":{}}"),
     "forwards: unknown field \"sctp\""},
    {FWDS("{\"tcp\":{\"ipv4\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}}"),
     "forwards.tcp.ipv6: missing"},
    {FWDS("{\"tcp\":{\"ipv4\":[],\"ipv6\":[],\"ipx\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}}"),
     "forwards.tcp: unknown field \"ipx\""},
    {FWDS("{\"tcp\":[],\"udp\":{\"ipv4\":[],\"ipv6\":[]}}"),
     "forwards.tcp: want an object, got an array"},
    {FWD("{}"), "forwards.tcp.ipv4: want an array, got an object"},
    {FWD("[443]"), "forwards.tcp.ipv4: 1 numbers, want pairs"},
    {FWD("[443,443,80]"), "forwards.tcp.ipv4: 3 numbers, want pairs"},
    {FWD("[0,1]"), "forwards.tcp.ipv4[0]: 0 is out of range 1..65535"},
    {FWD("[1,65536]"), "forwards.tcp.ipv4[1]: 65536 is out of range 1..65535"},
    {FWD("[1,1,2,-8]"), "forwards.tcp.ipv4[3]: -8 is out of range"},
    {FWD("[\"443\",443]"), "forwards.tcp.ipv4[0]: want an integer, got a string"},
    {FWD("[443.0,443]"), "forwards.tcp.ipv4[0]: want an integer, got a fraction"},
    {FWD("[443,null]"), "forwards.tcp.ipv4[1]: want an integer, got null"},
    {FWD("[[443,443]]"), "forwards.tcp.ipv4: 1 numbers, want pairs"},
    {FWD("[443,443,443,8443]"), "forwards[1]: a second forward for tcp ipv4 port 443"},
    {FWDS("{\"tcp\":{\"ipv4\":[],\"ipv6\":[53,53,53,53]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}}"),
     "forwards[1]: a second forward for tcp ipv6 port 53"},
    {EGR("[]"), "egress: want an object, got an array"},
    {EGR("{\"tcp\":[],\"udp\":[]}"), "egress.any: missing"},
    {EGR("{\"tcp\":[],\"udp\":[],\"any\":0}"), "egress.any: want a boolean, got an integer"},
    {EGR("{\"tcp\":[],\"udp\":[],\"icmp\":[],\"any\":true}"), "egress: unknown field \"icmp\""},
    {EGR("{\"tcp\":[25],\"udp\":[],\"any\":false}"), "egress.tcp: 1 numbers, want pairs"},
    {EGR("{\"tcp\":[30,20],\"udp\":[],\"any\":false}"), "egress[0]: ports 30..20"},
    {EGR("{\"tcp\":[],\"udp\":[1,1,0,20],\"any\":false}"), "egress[1]: ports 0..20"},
    {EGR("{\"tcp\":[20,70000],\"udp\":[],\"any\":false}"),
     "egress.tcp[1]: 70000 is out of range 0..65535"},
    /* state_ack */
    {ACK("\"applied\":1,\"reasons\":[],\"forwards\":[],\"egress\":[]"),
     "applied: want a boolean, got an integer"},
    {ACK("\"reasons\":[],\"forwards\":[],\"egress\":[]"), "applied: missing"},
    {ACK("\"applied\":true,\"reason\":\"x\",\"reasons\":[],\"forwards\":[],\"egress\":[]"),
     "reason: only allowed when applied is false"},
    {ACK("\"applied\":false,\"reasons\":[],\"forwards\":[],\"egress\":[]"), "reason: missing"},
    {ACK("\"applied\":false,\"reason\":\"\",\"reasons\":[],\"forwards\":[],\"egress\":[]"),
     "reason: must not be empty"},
    {ACK("\"applied\":false,\"reason\":\"x\",\"reasons\":[],\"forwards\":[0],\"egress\":[]"),
     "forwards: must be empty when the state was not applied"},
    {ACK("\"applied\":false,\"reason\":\"x\",\"reasons\":[\"y\"],\"forwards\":[],\"egress\":[]"),
     "reasons: must be empty when the state was not applied"},
    {ACK("\"applied\":true,\"forwards\":[],\"egress\":[]"), "reasons: missing"},
    {ACK("\"applied\":true,\"reasons\":[],\"egress\":[]"), "forwards: missing"},
    {ACK("\"applied\":true,\"reasons\":[],\"forwards\":[1],\"egress\":[]"),
     "forwards[0]: 1 is out of range 0..0"},
    {ACK("\"applied\":true,\"reasons\":[\"x\"],\"forwards\":[0,2],\"egress\":[]"),
     "forwards[1]: 2 is out of range 0..1"},
    {ACK("\"applied\":true,\"reasons\":[\"x\"],\"forwards\":[true],\"egress\":[]"),
     "forwards[0]: want an integer, got a boolean"},
    {ACK("\"applied\":true,\"reasons\":[\"x\"],\"forwards\":[{\"accepted\":true}],\"egress\":[]"),
     "forwards[0]: want an integer, got an object"},
    {ACK("\"applied\":true,\"reasons\":[\"x\",\"y\"],\"forwards\":[0],\"egress\":[2]"),
     "reasons[0]: no result refers to it"},
    {ACK("\"applied\":true,\"reasons\":[\"\"],\"forwards\":[1],\"egress\":[]"),
     "reasons[0]: must not be empty"},
    {ACK("\"applied\":true,\"reasons\":[\"a\\tb\"],\"forwards\":[1],\"egress\":[]"),
     "reasons[0]: holds control characters"},
    {ACK("\"applied\":true,\"reasons\":[7],\"forwards\":[1],\"egress\":[]"),
     "reasons[0]: want a string, got an integer"},
    /* gateway_info */
    {INFO("\"ipv4\":[\"1.2.3\"],\"ipv6\":[],\"mtu\":1420"),
     "ipv4[0]: \"1.2.3\" is not an IPv4 address"},
    {INFO("\"ipv4\":[\"2001:db8::1\"],\"ipv6\":[],\"mtu\":1420"),
     "ipv4[0]: \"2001:db8::1\" is not an IPv4 address"},
    {INFO("\"ipv4\":[],\"ipv6\":[\"192.0.2.1\"],\"mtu\":1420"),
     "ipv6[0]: \"192.0.2.1\" is not an IPv6 address"},
    {INFO("\"ipv4\":[1],\"ipv6\":[],\"mtu\":1420"), "ipv4[0]: want a string, got an integer"},
    {INFO("\"ipv4\":[\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\","
          "\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\","
          "\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\",\"1.1.1.1\"],\"ipv6\":[],\"mtu\":1420"),
     "ipv4: 17 entries, at most 16"},
    {INFO("\"ipv4\":[],\"ipv6\":[],\"mtu\":100"), "mtu: 100 is out of range 576..65535"},
    {INFO("\"ipv4\":[],\"ipv6\":[]"), "mtu: missing"},
    {INFO("\"ipv4\":[],\"mtu\":1420"), "ipv6: missing"},
    /* error */
    {"{\"v\":3,\"type\":\"error\"}", "reason: missing"},
    {"{\"v\":3,\"type\":\"error\",\"reason\":\"\"}", "reason: must not be empty"},
    {"{\"v\":3,\"type\":\"error\",\"reason\":\"a\\nb\"}", "reason: holds control characters"},
    {"{\"v\":3,\"type\":\"error\",\"reason\":\"a\\u0000b\"}", "reason: holds control characters"},
    {"{\"v\":3,\"type\":\"error\",\"reason\":\"a\\u001bb\"}", "reason: holds control characters"},
};

static void every_strict_decode_error_is_refused_and_named(void **state)
{
	size_t failures = 0;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct wf_ctl_msg m;
		char err[256] = "";
		int ret;

		memset(&m, 0x5a, sizeof(m));
		ret = wf_ctl_msg_decode(bc->json, strlen(bc->json), &m, err, sizeof(err));
		if (ret != -EBADMSG || !strstr(err, bc->error)) {
			print_error("%s: got %d \"%s\", want \"%s\"\n", bc->json, ret, err,
			            bc->error);
			failures++;
		}
		/* a refused message leaves nothing behind */
		assert_int_equal(m.type, 0);
		assert_null(m.state.forwards);
		assert_null(m.state.egress);
	}
	assert_int_equal(failures, 0);
}

static void overlong_reason_is_refused(void **state)
{
	char json[600], err[256];
	struct wf_ctl_msg m;
	int n = snprintf(json, sizeof(json), "{\"v\":3,\"type\":\"error\",\"reason\":\"");

	memset(json + n, 'x', 300);
	strcpy(json + n + 300, "\"}");
	assert_int_equal(wf_ctl_msg_decode(json, strlen(json), &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "reason: 300 bytes, at most 255"));
}

static void message_over_the_cap_is_refused_unread(void **state)
{
	size_t len = WF_CTL_MSG_MAX + 1;
	char *json = malloc(len), err[256];
	struct wf_ctl_msg m;

	assert_non_null(json);
	memset(json, ' ', len);
	assert_int_equal(wf_ctl_msg_decode(json, len, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "at most"));
	assert_int_equal(wf_ctl_msg_decode(json, 0, &m, err, sizeof(err)), -EBADMSG);
	free(json);
}

static void decoder_needs_no_terminating_nul(void **state)
{
	const char text[] = "{\"v\":3,\"type\":\"ping\"}garbage";
	struct wf_ctl_msg m;
	char err[256];

	assert_int_equal(
	    wf_ctl_msg_decode(text, strlen("{\"v\":3,\"type\":\"ping\"}"), &m, err, sizeof(err)),
	    0);
	assert_int_equal(m.type, WF_CTL_MSG_PING);
}

static void each_type_has_one_sender(void **state)
{
	assert_true(wf_ctl_msg_sent_by(WF_CTL_MSG_STATE, WF_CTL_CLIENT));
	assert_false(wf_ctl_msg_sent_by(WF_CTL_MSG_STATE, WF_CTL_SERVER));
	assert_true(wf_ctl_msg_sent_by(WF_CTL_MSG_STATE_ACK, WF_CTL_SERVER));
	assert_false(wf_ctl_msg_sent_by(WF_CTL_MSG_STATE_ACK, WF_CTL_CLIENT));
	assert_true(wf_ctl_msg_sent_by(WF_CTL_MSG_GATEWAY_INFO, WF_CTL_SERVER));
	assert_false(wf_ctl_msg_sent_by(WF_CTL_MSG_GATEWAY_INFO, WF_CTL_CLIENT));
	assert_true(wf_ctl_msg_sent_by(WF_CTL_MSG_PING, WF_CTL_CLIENT));
	assert_true(wf_ctl_msg_sent_by(WF_CTL_MSG_ERROR, WF_CTL_SERVER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(frame_header_is_big_endian_length),
	    cmocka_unit_test(whole_frame_is_found_with_its_length),
	    cmocka_unit_test(frame_split_anywhere_waits_for_the_rest),
	    cmocka_unit_test(back_to_back_frames_are_taken_one_at_a_time),
	    cmocka_unit_test(frame_of_exactly_the_cap_is_accepted),
	    cmocka_unit_test(frame_over_the_cap_is_refused_from_its_header_alone),
	    cmocka_unit_test(empty_frame_is_refused),
	    cmocka_unit_test(state_survives_encode_and_decode),
	    cmocka_unit_test(empty_state_survives_encode_and_decode),
	    cmocka_unit_test(state_ack_survives_encode_and_decode),
	    cmocka_unit_test(refused_state_ack_survives_encode_and_decode),
	    cmocka_unit_test(gateway_info_survives_encode_and_decode),
	    cmocka_unit_test(ping_pong_and_error_survive_encode_and_decode),
	    cmocka_unit_test(encoder_refuses_what_the_decoder_would),
	    cmocka_unit_test(state_is_written_as_port_lists),
	    cmocka_unit_test(ack_lists_each_reason_once),
	    cmocka_unit_test(state_order_is_by_kind_and_stable),
	    cmocka_unit_test(largest_state_fits_in_a_frame),
	    cmocka_unit_test(state_beyond_the_entry_limits_is_refused_by_the_encoder),
	    cmocka_unit_test(largest_ack_fits_in_a_frame),
	    cmocka_unit_test(ack_with_more_reasons_than_fit_names_the_overflow),
	    cmocka_unit_test(message_shapes_beyond_any_message_are_refused_unparsed),
	    cmocka_unit_test(every_strict_decode_error_is_refused_and_named),
	    cmocka_unit_test(overlong_reason_is_refused),
	    cmocka_unit_test(message_over_the_cap_is_refused_unread),
	    cmocka_unit_test(decoder_needs_no_terminating_nul),
	    cmocka_unit_test(each_type_has_one_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
