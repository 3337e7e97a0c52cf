#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <wgfwd/engine_info.h>

#define DOC(s) s, sizeof(s) - 1

/* Debian 12's docker.io: no FirewallBackend in /info (API 1.41). */
static void docker_20_10_names_itself_without_a_backend(void **state)
{
	struct wf_engine_info e;

	assert_int_equal(wf_engine_info_parse(DOC("{\"Version\":\"20.10.24+dfsg1\",\"ApiVersion\":"
	                                          "\"1.41\",\"Components\":[{\"Name\":\"Engine\","
	                                          "\"Version\":\"20.10.24+dfsg1\"}]}"),
	                                      DOC("{\"ID\":\"x\",\"Driver\":\"overlay2\"}"), &e),
	                 0);
	assert_string_equal(e.name, "Docker");
	assert_string_equal(e.version, "20.10.24+dfsg1");
	assert_string_equal(e.api, "1.41");
	assert_string_equal(e.firewall, "");
}

/* Docker 29 with "firewall-backend": "nftables" (API 1.49 and later). */
static void docker_29_reports_its_firewall_backend(void **state)
{
	struct wf_engine_info e;

	assert_int_equal(
	    wf_engine_info_parse(DOC("{\"Version\":\"29.1.0\",\"ApiVersion\":\"1.52\"}"),
	                         DOC("{\"FirewallBackend\":{\"Driver\":\"nftables\",\"Info\":[]}}"),
	                         &e),
	    0);
	assert_string_equal(e.name, "Docker");
	assert_string_equal(e.firewall, "nftables");
}

static void podman_is_told_by_its_component(void **state)
{
	struct wf_engine_info e;

	assert_int_equal(wf_engine_info_parse(DOC("{\"Version\":\"4.3.1\",\"ApiVersion\":\"1.41\","
	                                          "\"Components\":[{\"Name\":\"Podman Engine\","
	                                          "\"Version\":\"4.3.1\"}]}"),
	                                      NULL, 0, &e),
	                 0);
	assert_string_equal(e.name, "Podman");
	assert_string_equal(e.version, "4.3.1");
}

static void unreadable_version_is_an_error(void **state)
{
	struct wf_engine_info e;

	assert_int_equal(wf_engine_info_parse(NULL, 0, NULL, 0, &e), -EBADMSG);
	assert_int_equal(wf_engine_info_parse(DOC("[]"), NULL, 0, &e), -EBADMSG);
	assert_int_equal(wf_engine_info_parse(DOC("{\"Version\":1}"), NULL, 0, &e), -EBADMSG);
	assert_int_equal(wf_engine_info_parse(DOC("{\"Version\":\"1\""), NULL, 0, &e), -EBADMSG);
	/* a broken /info only loses the backend */
	assert_int_equal(wf_engine_info_parse(DOC("{\"Version\":\"1\"}"), DOC("{\"Firewall"), &e),
	                 0);
	assert_string_equal(e.firewall, "");
	assert_int_equal(wf_engine_info_parse(DOC("{\"Version\":\"1\"}"),
	                                      DOC("{\"FirewallBackend\":\"nftables\"}"), &e),
	                 0);
	assert_string_equal(e.firewall, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(docker_20_10_names_itself_without_a_backend),
	    cmocka_unit_test(docker_29_reports_its_firewall_backend),
	    cmocka_unit_test(podman_is_told_by_its_component),
	    cmocka_unit_test(unreadable_version_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
