#include <wgfwd-gateway/host.h>

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void check(const char *text, const char *expect)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char err[256] = "", out[64];

	assert_int_equal(wf_gw_listen_parse(text, 51821, &ss, &len, err, sizeof(err)), 0);
	wf_gw_sockaddr_text((struct sockaddr *)&ss, out, sizeof(out));
	assert_string_equal(out, expect);
	assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                              : sizeof(struct sockaddr_in6));
}

static void listen_address_takes_the_default_port_when_none_is_given(void **state)
{
	check("192.168.160.1", "192.168.160.1:51821");
	check("fc00:0:0:160::1", "[fc00:0:0:160::1]:51821");
	check("[fc00::1]", "[fc00::1]:51821");
}

static void listen_address_with_port(void **state)
{
	check("192.168.160.1:7000", "192.168.160.1:7000");
	check("[fc00:0:0:160::1]:7000", "[fc00:0:0:160::1]:7000");
}

static void listen_address_errors_quote_the_text(void **state)
{
	const char *bad[] = {"wg0",           "192.168.160.1:0", "192.168.160.1:70000", "[fc00::1",
	                     "[fc00::1]7000", "192.168.160.1:",  "300.1.1.1",           ""};
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char quoted[64];

		err[0] = '\0';
		assert_int_equal(wf_gw_listen_parse(bad[i], 51821, &ss, &len, err, sizeof(err)),
		                 -EINVAL);
		snprintf(quoted, sizeof(quoted), "`%s'", bad[i]);
		assert_non_null(strstr(err, quoted));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(listen_address_takes_the_default_port_when_none_is_given),
	    cmocka_unit_test(listen_address_with_port),
	    cmocka_unit_test(listen_address_errors_quote_the_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
