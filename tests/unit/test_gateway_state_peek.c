/* The control server's peek at a state's text: the generation of a plain state is read without
 * decoding it, and anything unusual answers false so that the message is decoded as any other. */
#include <wgfwd-gateway/state_peek.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static bool peek(const char *json, uint64_t *generation)
{
	*generation = 0;
	return wf_gw_peek_state(json, strlen(json), generation);
}

static void plain_state_gives_its_generation(void **state)
{
	uint64_t g;

	(void)state;
	assert_true(
	    peek("{\"type\":\"state\",\"generation\":42,\"forwards\":[],\"egress\":[]}", &g));
	assert_int_equal(g, 42);
}

static void members_in_any_order_and_spacing(void **state)
{
	uint64_t g;

	(void)state;
	assert_true(peek(" \n{ \"generation\" : 7 ,\t\"type\" : \"state\" }\r\n", &g));
	assert_int_equal(g, 7);
}

static void strings_and_nested_members_do_not_count(void **state)
{
	uint64_t g;

	(void)state;
	assert_true(peek("{\"note\":\"}{\\\"type\\\"\",\"x\":{\"generation\":5,\"type\":\"hello\"},"
	                 "\"type\":\"state\",\"generation\":3}",
	                 &g));
	assert_int_equal(g, 3);
	assert_false(peek("{\"type\":\"state\",\"x\":{\"generation\":5}}", &g));
}

static void largest_generation_that_fits_is_read(void **state)
{
	uint64_t g;

	(void)state;
	assert_true(peek("{\"type\":\"state\",\"generation\":18446744073709551605}", &g));
	assert_true(g == UINT64_C(18446744073709551605));
	assert_false(peek("{\"type\":\"state\",\"generation\":99999999999999999999}", &g));
}

static void other_messages_are_not_states(void **state)
{
	uint64_t g;

	(void)state;
	assert_false(peek("{\"type\":\"state_delta\",\"generation\":1}", &g));
	assert_false(peek("{\"type\":\"hello\",\"generation\":1}", &g));
	assert_false(peek("{\"generation\":1}", &g));
	assert_false(peek("{\"type\":\"state\"}", &g));
	assert_false(peek("[{\"type\":\"state\",\"generation\":1}]", &g));
	assert_false(peek("", &g));
}

static void unusual_text_is_left_to_the_decoder(void **state)
{
	uint64_t g;

	(void)state;
	assert_false(peek("{\"typ\\u0065\":\"state\",\"generation\":1}", &g));
	assert_false(peek("{\"a\\nb\":1,\"type\":\"state\",\"generation\":1}", &g));
	assert_false(peek("{\"type\":\"state\",\"type\":\"state\",\"generation\":1}", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":1,\"generation\":2}", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":1.5}", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":1e3}", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":-1}", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":\"1\"}", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":1} x", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":1", &g));
	assert_false(peek("{\"type\":\"state\",\"generation\":1,\"s\":\"unterminated}", &g));
}

/* A delta's type and generation, read as a state's are; the one type asked for only. */
static void a_delta_is_read_by_its_own_type(void **state)
{
	const char *delta = "{\"v\":3,\"type\":\"state_delta\",\"generation\":9,\"base\":8}";
	uint64_t g = 0;

	(void)state;
	assert_true(wf_gw_peek_message(delta, strlen(delta), "state_delta", &g));
	assert_true(g == 9);
	assert_false(wf_gw_peek_message(delta, strlen(delta), "state", &g));
	assert_false(wf_gw_peek_message(delta, strlen(delta), "state_delt", &g));
	delta = "{\"type\":\"state\",\"generation\":1}";
	assert_false(wf_gw_peek_message(delta, strlen(delta), "state_delta", &g));
	delta = "{\"type\":\"state_delta\"";
	assert_false(wf_gw_peek_message(delta, strlen(delta), "state_delta", &g));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(plain_state_gives_its_generation),
	    cmocka_unit_test(members_in_any_order_and_spacing),
	    cmocka_unit_test(strings_and_nested_members_do_not_count),
	    cmocka_unit_test(largest_generation_that_fits_is_read),
	    cmocka_unit_test(other_messages_are_not_states),
	    cmocka_unit_test(unusual_text_is_left_to_the_decoder),
	    cmocka_unit_test(a_delta_is_read_by_its_own_type),
	};

	return cmocka_run_group_tests_name("gateway_state_peek", tests, NULL, NULL);
}
