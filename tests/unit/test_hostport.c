#include <wgfwd/hostport.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <wgfwd/util.h>

/* Parses text and prints the address back: what was understood, in one string. */
static void check(const char *text, uint16_t default_port, bool allow_zero, const char *expect)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char err[256] = "", out[64];

	assert_int_equal(
	    wf_hostport_parse(text, default_port, allow_zero, &ss, &len, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	wf_hostport_text((struct sockaddr *)&ss, out, sizeof(out));
	assert_string_equal(out, expect);
	assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                              : sizeof(struct sockaddr_in6));
}

/* Refused, with a message that quotes the text and says which part is wrong. */
static void refused(const char *text, uint16_t default_port, bool allow_zero, const char *says)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char err[256] = "", quoted[80];

	assert_int_equal(
	    wf_hostport_parse(text, default_port, allow_zero, &ss, &len, err, sizeof(err)),
	    -EINVAL);
	snprintf(quoted, sizeof(quoted), "`%s'", text);
	assert_non_null(strstr(err, quoted));
	if (!strstr(err, says))
		fail_msg("`%s': `%s' does not say `%s'", text, err, says);
}

static void addresses_with_a_port(void **state)
{
	check("192.168.160.1:7000", 0, false, "192.168.160.1:7000");
	check("127.0.0.1:1", 0, false, "127.0.0.1:1");
	check("0.0.0.0:65535", 0, false, "0.0.0.0:65535");
	check("[fc00:0:0:160::1]:7000", 0, false, "[fc00:0:0:160::1]:7000");
	check("[::1]:9586", 0, false, "[::1]:9586");
	check("[::ffff:10.0.0.1]:80", 0, false, "[::ffff:10.0.0.1]:80");
	/* a given port wins over the default */
	check("192.168.160.1:7000", 51821, false, "192.168.160.1:7000");
	check("[fc00::1]:7000", 51821, false, "[fc00::1]:7000");
}

static void the_default_port_fills_in_where_none_is_given(void **state)
{
	check("192.168.160.1", 51821, false, "192.168.160.1:51821");
	check("fc00:0:0:160::1", 51821, false, "[fc00:0:0:160::1]:51821");
	check("[fc00::1]", 51821, false, "[fc00::1]:51821");
	/* bare IPv6: every group is the address, none the port */
	check("fc00::1:9586", 51821, false, "[fc00::1:9586]:51821");
}

static void without_a_default_the_port_is_required(void **state)
{
	refused("127.0.0.1", 0, false, "expected ADDR:PORT");
	refused("[::1]", 0, false, "expected ADDR:PORT");
	refused("::1:9586", 0, false, "expected ADDR:PORT");
	refused("fc00::1", 0, false, "expected ADDR:PORT");
}

static void port_zero_only_where_the_kernel_may_pick(void **state)
{
	refused("127.0.0.1:0", 0, false, "`0' is not a port");
	refused("[::1]:0", 51821, false, "`0' is not a port");
	check("127.0.0.1:0", 0, true, "127.0.0.1:0");
	check("[::1]:0", 0, true, "[::1]:0");
}

static void ports_are_decimal_digits_up_to_65535(void **state)
{
	static const char *const bad[] = {"127.0.0.1:",     "127.0.0.1:65536", "127.0.0.1:-1",
	                                  "127.0.0.1:+80",  "127.0.0.1: 80",   "127.0.0.1:80 ",
	                                  "127.0.0.1:0x50", "127.0.0.1:http",  "[::1]:99999999999",
	                                  "127.0.0.1:1e3"};

	for (size_t i = 0; i < WF_ARRAY_SIZE(bad); i++)
		refused(bad[i], 0, true, "is not a port");
	check("127.0.0.1:00080", 0, false, "127.0.0.1:80");
}

static void brackets_hold_ipv6_only_and_must_close(void **state)
{
	refused("[127.0.0.1]:9586", 0, false, "not a numeric IP address");
	refused("[127.0.0.1]", 51821, false, "not a numeric IP address");
	refused("[::1", 0, false, "expected");
	refused("[::1]9586", 0, false, "expected");
	refused("[fc00::1]7000", 51821, false, "expected");
	refused("[]:80", 0, false, "not a numeric IP address");
}

static void names_and_broken_addresses_are_not_addresses(void **state)
{
	refused("localhost:9586", 0, false, "`localhost' is not a numeric IP address");
	refused("300.0.0.1:9586", 0, false, "not a numeric IP address");
	refused("300.1.1.1", 51821, false, "not a numeric IP address");
	refused("wg0", 51821, false, "`wg0' is not a numeric IP address");
	refused(":80", 0, false, "not a numeric IP address");
	refused("", 51821, false, "expected");
	refused("", 0, false, "expected");
	refused("[aaaa:bbbb:cccc:dddd:eeee:ffff:0000:1111:2222:3333]:80", 0, false, "expected");
}

static void port_parse_alone(void **state)
{
	uint16_t p = 7;

	assert_int_equal(wf_port_parse("1", false, &p), 0);
	assert_int_equal(p, 1);
	assert_int_equal(wf_port_parse("65535", false, &p), 0);
	assert_int_equal(p, 65535);
	assert_int_equal(wf_port_parse("0", true, &p), 0);
	assert_int_equal(p, 0);
	p = 7;
	assert_int_equal(wf_port_parse("0", false, &p), -EINVAL);
	assert_int_equal(wf_port_parse("65536", false, &p), -EINVAL);
	assert_int_equal(wf_port_parse("", true, &p), -EINVAL);
	assert_int_equal(wf_port_parse("-1", true, &p), -EINVAL);
	assert_int_equal(p, 7);
}

static void a_socket_address_from_an_address_and_a_port(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	assert_int_equal(wf_sockaddr_from("192.0.2.1", 51821, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 51821);
	assert_int_equal(wf_sockaddr_from("fc00::1", 0, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	/* bare addresses only: brackets and ports are the callers' grammar */
	assert_int_equal(wf_sockaddr_from("[fc00::1]", 0, &ss, &len), -EINVAL);
	assert_int_equal(wf_sockaddr_from("192.0.2.1:80", 0, &ss, &len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(addresses_with_a_port),
	    cmocka_unit_test(the_default_port_fills_in_where_none_is_given),
	    cmocka_unit_test(without_a_default_the_port_is_required),
	    cmocka_unit_test(port_zero_only_where_the_kernel_may_pick),
	    cmocka_unit_test(ports_are_decimal_digits_up_to_65535),
	    cmocka_unit_test(brackets_hold_ipv6_only_and_must_close),
	    cmocka_unit_test(names_and_broken_addresses_are_not_addresses),
	    cmocka_unit_test(port_parse_alone),
	    cmocka_unit_test(a_socket_address_from_an_address_and_a_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
