#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <wgfwd-agent/gateway_health.h>
#include <wgfwd-agent/wg_handshake.h>

#define NOW_S 1800000000

static void a_connected_gateway_with_a_fresh_handshake_is_up(void **state)
{
	struct wf_gateway_seen s = {.link_up = true, .last_up_ms = 0, .handshake = NOW_S - 100};

	assert_false(wf_gateway_is_down(&s, 1e9, NOW_S, 3000));
}

static void a_channel_down_counts_after_a_third_of_the_failover_time(void **state)
{
	struct wf_gateway_seen s = {.link_up = false, .last_up_ms = 10000};

	assert_false(wf_gateway_is_down(&s, 10999, NOW_S, 3000));
	assert_true(wf_gateway_is_down(&s, 11000, NOW_S, 3000));
	/* the default failover time: 15 s, so 5 s */
	assert_false(wf_gateway_is_down(&s, 14999, NOW_S, 0));
	assert_true(wf_gateway_is_down(&s, 15000, NOW_S, 0));
}

static void a_stale_handshake_is_down_whatever_the_channel_says(void **state)
{
	struct wf_gateway_seen s = {
	    .link_up = true, .last_up_ms = 0, .handshake = NOW_S - WF_WG_HANDSHAKE_STALE_S};

	assert_false(wf_gateway_is_down(&s, 0, NOW_S, 3000));
	s.handshake--;
	assert_true(wf_gateway_is_down(&s, 0, NOW_S, 3000));
	/* never a handshake known (no socket, no kernel answer): the channel decides */
	s.handshake = 0;
	assert_false(wf_gateway_is_down(&s, 0, NOW_S, 3000));
}

static void the_channel_paces_itself_by_the_failover_time(void **state)
{
	assert_int_equal(wf_gateway_dead_after_ms(3000), 2000);
	assert_int_equal(wf_gateway_ping_interval_ms(3000), 500);
	assert_int_equal(wf_gateway_dead_after_ms(0), 10000);
	assert_int_equal(wf_gateway_ping_interval_ms(0), 2500);
	assert_int_equal(wf_gateway_ping_interval_ms(3), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_connected_gateway_with_a_fresh_handshake_is_up),
	    cmocka_unit_test(a_channel_down_counts_after_a_third_of_the_failover_time),
	    cmocka_unit_test(a_stale_handshake_is_down_whatever_the_channel_says),
	    cmocka_unit_test(the_channel_paces_itself_by_the_failover_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
