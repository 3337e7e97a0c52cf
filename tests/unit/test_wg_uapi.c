#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <wgfwd-agent/wg_uapi.h>

static void latest_handshake_of_every_peer(void **state)
{
	int64_t sec = -1;

	assert_int_equal(wf_wg_uapi_last_handshake("private_key=aa\nlisten_port=51820\n"
	                                           "public_key=bb\nlast_handshake_time_sec=100\n"
	                                           "last_handshake_time_nsec=5\n"
	                                           "public_key=cc\nlast_handshake_time_sec=1700\n"
	                                           "errno=0\n\n",
	                                           &sec),
	                 0);
	assert_int_equal(sec, 1700);
}

static void no_handshake_yet_is_zero(void **state)
{
	int64_t sec = -1;

	assert_int_equal(wf_wg_uapi_last_handshake("public_key=bb\nlast_handshake_time_sec=0\n"
	                                           "errno=0\n\n",
	                                           &sec),
	                 0);
	assert_int_equal(sec, 0);
}

static void an_error_or_a_cut_answer_is_refused(void **state)
{
	int64_t sec;

	assert_int_equal(wf_wg_uapi_last_handshake("errno=19\n\n", &sec), -EINVAL);
	assert_int_equal(wf_wg_uapi_last_handshake("last_handshake_time_sec=9\n", &sec), -EINVAL);
	assert_int_equal(wf_wg_uapi_last_handshake("", &sec), -EINVAL);
}

static void missing_socket_is_enoent(void **state)
{
	int64_t sec;

	assert_int_equal(wf_wg_last_handshake("wf-no-such-if", &sec), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(latest_handshake_of_every_peer),
	    cmocka_unit_test(no_handshake_yet_is_zero),
	    cmocka_unit_test(an_error_or_a_cut_answer_is_refused),
	    cmocka_unit_test(missing_socket_is_enoent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
