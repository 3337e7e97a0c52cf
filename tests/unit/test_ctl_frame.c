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
	    {.proto = IPPROTO_UDP, .family = AF_INET6, .public_port = 53, .target_port = 53},
	    {.proto = IPPROTO_TCP, .family = AF_INET6, .public_port = 443, .target_port = 8443},
	};
	struct wf_ctl_egress egress[] = {
	    {.proto = IPPROTO_TCP, .port_lo = 25, .port_hi = 25},
	    {.proto = IPPROTO_UDP, .port_lo = 1000, .port_hi = 2000},
	    {.proto = IPPROTO_TCP, .port_lo = 0, .port_hi = 0},
	    {.proto = 0, .port_lo = 0, .port_hi = 0},
	};
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_STATE,
	                        .state = {.generation = INT64_MAX,
	                                  .forwards = forwards,
	                                  .n_forwards = 3,
	                                  .egress = egress,
	                                  .n_egress = 4}};
	struct wf_ctl_msg out;

	round_trip(&in, &out);
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

static void empty_state_survives_encode_and_decode(void **state)
{
	struct wf_ctl_msg in = {.type = WF_CTL_MSG_STATE, .state = {.generation = 0}};
	struct wf_ctl_msg out;

	round_trip(&in, &out);
	assert_int_equal(out.state.n_forwards, 0);
	assert_int_equal(out.state.n_egress, 0);
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
	round_trip(&in, &out);
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

static void state_too_large_for_a_frame_is_refused_by_the_encoder(void **state)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	char err[256], *json = NULL;
	size_t len;

	m.state.n_forwards = WF_CTL_ENTRIES_MAX;
	m.state.forwards = calloc(m.state.n_forwards, sizeof(*m.state.forwards));
	assert_non_null(m.state.forwards);
	for (size_t i = 0; i < m.state.n_forwards; i++)
		m.state.forwards[i] = (struct wf_ctl_forward){
		    .proto = IPPROTO_TCP,
		    .family = AF_INET,
		    .public_port = (uint16_t)(i + 1),
		    .target_port = 65535,
		};
	assert_int_equal(wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err)), -EMSGSIZE);
	assert_null(json);
	wf_ctl_msg_clear(&m);
}

struct bad_case {
	const char *json;
	const char *error; /* must appear in the decoder's message */
};

#define FWD(x)  "{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[" x "],\"egress\":[]}"
#define EGR(x)  "{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[],\"egress\":[" x "]}"
#define OKF     "{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":443,\"target_port\":443}"
#define ACK(x)  "{\"v\":1,\"type\":\"state_ack\",\"generation\":1," x "}"
#define INFO(x) "{\"v\":1,\"type\":\"gateway_info\"," x "}"

static const struct bad_case bad_cases[] = {
    /* not a message at all */
    {"{\"v\":1,\"type\":\"ping\"", "not JSON: unexpected end of data"},
    {"{\"v\":1,\"type\":\"ping\"} {}", "not JSON"},
    {"{\"v\":1,\"type\":'ping'}", "not JSON"},
    {"{\"v\":1,\"type\":\"ping\",}", "not JSON"},
    {"[]", "an array, want an object"},
    {"null", "null, want an object"},
    {"\"ping\"", "a string, want an object"},
    {"{\"v\":1,\"type\":\"error\",\"reason\":\"\xff\"}", "not JSON"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[[[[[[[[[]]]]]]]]],\"egress\":[]}",
     "not JSON"},
    /* version and type */
    {"{\"type\":\"ping\"}", "v: missing"},
    {"{\"v\":\"1\",\"type\":\"ping\"}", "v: want an integer, got a string"},
    {"{\"v\":1.0,\"type\":\"ping\"}", "v: want an integer, got a fraction"},
    {"{\"v\":2,\"type\":\"ping\"}", "v: protocol version 2, this side speaks 1"},
    {"{\"v\":0,\"type\":\"ping\"}", "v: protocol version 0"},
    {"{\"v\":1}", "type: missing"},
    {"{\"v\":1,\"type\":7}", "type: want a string, got an integer"},
    {"{\"v\":1,\"type\":\"hello\"}", "type: \"hello\" is not one of state, state_ack"},
    {"{\"v\":1,\"type\":\"ping\",\"seq\":1}", "unknown field \"seq\""},
    {"{\"v\":1,\"type\":\"pong\",\"x\":null}", "unknown field \"x\""},
    /* state */
    {"{\"v\":1,\"type\":\"state\",\"forwards\":[],\"egress\":[]}", "generation: missing"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":1,\"egress\":[]}", "forwards: missing"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[]}", "egress: missing"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":-1,\"forwards\":[],\"egress\":[]}",
     "generation: -1 is out of range"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":9223372036854775808,\"forwards\":[],"
     "\"egress\":[]}",
     "generation: 9223372036854775808 is out of range 0..9223372036854775807"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":1.5,\"forwards\":[],\"egress\":[]}",
     "generation: want an integer, got a fraction"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":{},\"egress\":[]}",
     "forwards: want an array, got an object"},
    {"{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[],\"egress\":[],\"extra\":1}",
     "unknown field \"extra\""},
    {FWD("1"), "forwards[0]: want an object, got an integer"},
    {FWD(OKF ",null"), "forwards[1]: want an object, got null"},
    {FWD("{\"proto\":\"sctp\",\"family\":\"ipv4\",\"public_port\":1,\"target_port\":1}"),
     "forwards[0].proto: \"sctp\" is not one of tcp, udp"},
    {FWD("{\"proto\":\"any\",\"family\":\"ipv4\",\"public_port\":1,\"target_port\":1}"),
     "forwards[0].proto: \"any\" is not one of tcp, udp"},
    {FWD("{\"proto\":6,\"family\":\"ipv4\",\"public_port\":1,\"target_port\":1}"),
     "forwards[0].proto: want a string, got an integer"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipx\",\"public_port\":1,\"target_port\":1}"),
     "forwards[0].family: \"ipx\" is not one of ipv4, ipv6"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":0,\"target_port\":1}"),
     "forwards[0].public_port: 0 is out of range 1..65535"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":65536,\"target_port\":1}"),
     "forwards[0].public_port: 65536 is out of range 1..65535"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":\"443\",\"target_port\":1}"),
     "forwards[0].public_port: want an integer, got a string"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":443.0,\"target_port\":1}"),
     "forwards[0].public_port: want an integer, got a fraction"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":443}"),
     "forwards[0].target_port: missing"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":443,\"target_port\":-8}"),
     "forwards[0].target_port: -8 is out of range"},
    {FWD("{\"proto\":\"tcp\",\"family\":\"ipv4\",\"public_port\":1,\"target_port\":1,"
         "\"target\":\"10.0.0.1\"}"),
     "forwards[0]: unknown field \"target\""},
    {FWD(OKF "," OKF), "forwards[1]: a second forward for tcp ipv4 port 443"},
    {EGR("{\"proto\":\"icmp\",\"port_lo\":0,\"port_hi\":0}"),
     "egress[0].proto: \"icmp\" is not one of tcp, udp, any"},
    {EGR("{\"proto\":\"tcp\",\"port_lo\":30,\"port_hi\":20}"), "egress[0]: ports 30..20"},
    {EGR("{\"proto\":\"tcp\",\"port_lo\":0,\"port_hi\":20}"), "egress[0]: ports 0..20"},
    {EGR("{\"proto\":\"tcp\",\"port_lo\":20,\"port_hi\":70000}"),
     "egress[0].port_hi: 70000 is out of range 0..65535"},
    {EGR("{\"proto\":\"any\",\"port_lo\":25,\"port_hi\":25}"),
     "egress[0]: proto any takes no ports"},
    {EGR("{\"proto\":\"udp\",\"port_lo\":25}"), "egress[0].port_hi: missing"},
    /* state_ack */
    {ACK("\"applied\":1,\"forwards\":[],\"egress\":[]"), "applied: want a boolean, got an integer"},
    {ACK("\"forwards\":[],\"egress\":[]"), "applied: missing"},
    {ACK("\"applied\":true,\"reason\":\"x\",\"forwards\":[],\"egress\":[]"),
     "reason: only allowed when applied is false"},
    {ACK("\"applied\":false,\"forwards\":[],\"egress\":[]"), "reason: missing"},
    {ACK("\"applied\":false,\"reason\":\"\",\"forwards\":[],\"egress\":[]"),
     "reason: must not be empty"},
    {ACK("\"applied\":false,\"reason\":\"x\",\"forwards\":[{\"accepted\":true}],\"egress\":[]"),
     "forwards: must be empty when the state was not applied"},
    {ACK("\"applied\":true,\"forwards\":[{\"accepted\":false}],\"egress\":[]"),
     "forwards[0].reason: missing"},
    {ACK("\"applied\":true,\"forwards\":[],\"egress\":[{\"accepted\":true,\"reason\":\"x\"}]"),
     "egress[0].reason: only allowed when accepted is false"},
    {ACK("\"applied\":true,\"forwards\":[{\"accepted\":\"yes\"}],\"egress\":[]"),
     "forwards[0].accepted: want a boolean, got a string"},
    {ACK("\"applied\":true,\"forwards\":[{\"accepted\":true,\"why\":1}],\"egress\":[]"),
     "forwards[0]: unknown field \"why\""},
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
    {"{\"v\":1,\"type\":\"error\"}", "reason: missing"},
    {"{\"v\":1,\"type\":\"error\",\"reason\":\"\"}", "reason: must not be empty"},
    {"{\"v\":1,\"type\":\"error\",\"reason\":\"a\\nb\"}", "reason: holds control characters"},
    {"{\"v\":1,\"type\":\"error\",\"reason\":\"a\\u0000b\"}", "reason: holds control characters"},
    {"{\"v\":1,\"type\":\"error\",\"reason\":\"a\\u001bb\"}", "reason: holds control characters"},
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
	int n = snprintf(json, sizeof(json), "{\"v\":1,\"type\":\"error\",\"reason\":\"");

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
	const char text[] = "{\"v\":1,\"type\":\"ping\"}garbage";
	struct wf_ctl_msg m;
	char err[256];

	assert_int_equal(
	    wf_ctl_msg_decode(text, strlen("{\"v\":1,\"type\":\"ping\"}"), &m, err, sizeof(err)),
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
	    cmocka_unit_test(state_too_large_for_a_frame_is_refused_by_the_encoder),
	    cmocka_unit_test(every_strict_decode_error_is_refused_and_named),
	    cmocka_unit_test(overlong_reason_is_refused),
	    cmocka_unit_test(message_over_the_cap_is_refused_unread),
	    cmocka_unit_test(decoder_needs_no_terminating_nul),
	    cmocka_unit_test(each_type_has_one_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
