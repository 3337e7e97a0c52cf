#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <wgfwd-agent/gateway_spec.h>

static void name_interface_address_port_and_key(void **state)
{
	struct wf_gateway_spec g;
	char err[512];

	assert_int_equal(wf_gateway_spec_parse("vps1,wg1,192.168.160.1:51821,/etc/wgfwd/k1", &g,
	                                       err, sizeof(err)),
	                 0);
	assert_string_equal(g.name, "vps1");
	assert_string_equal(g.ifname, "wg1");
	assert_string_equal(g.address, "192.168.160.1");
	assert_int_equal(g.port, 51821);
	assert_string_equal(g.key_file, "/etc/wgfwd/k1");
}

static void port_and_key_may_be_left_out(void **state)
{
	struct wf_gateway_spec g;
	char err[512];

	assert_int_equal(wf_gateway_spec_parse("b,wg2,192.168.161.1", &g, err, sizeof(err)), 0);
	assert_string_equal(g.address, "192.168.161.1");
	assert_int_equal(g.port, 0);
	assert_string_equal(g.key_file, "");
	assert_int_equal(wf_gateway_spec_parse("b,wg2,fc00:0:0:161::1", &g, err, sizeof(err)), 0);
	assert_string_equal(g.address, "fc00:0:0:161::1");
	assert_int_equal(g.port, 0);
	assert_int_equal(wf_gateway_spec_parse("b,wg2,[fc00::1]:7000,/k", &g, err, sizeof(err)), 0);
	assert_string_equal(g.address, "fc00::1");
	assert_int_equal(g.port, 7000);
	assert_string_equal(g.key_file, "/k");
}

static void malformed_specs_say_what_is_wrong(void **state)
{
	static const char *const bad[] = {
	    "",
	    "vps1",
	    "vps1,wg1",
	    "vps1,,192.168.160.1",
	    ",wg1,192.168.160.1",
	    "vps 1,wg1,192.168.160.1",
	    "vps1,wg1,gateway.example",
	    "vps1,wg1,192.168.160.1:0",
	    "vps1,wg1,192.168.160.1:70000",
	    "vps1,wg1,192.168.160.1:",
	    "vps1,wg1,[fc00::1",
	    "vps1,wg1,[fc00::1]7000",
	    "vps1,wg1,192.168.160.1,/k,extra",
	    "vps1,an-interface-name-too-long,192.168.160.1",
	};
	struct wf_gateway_spec g;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (wf_gateway_spec_parse(bad[i], &g, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted `%s'", bad[i]);
		assert_non_null(strstr(err, "`"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(name_interface_address_port_and_key),
	    cmocka_unit_test(port_and_key_may_be_left_out),
	    cmocka_unit_test(malformed_specs_say_what_is_wrong),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
