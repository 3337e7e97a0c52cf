/* The change watcher against the kernel: each test runs in a fresh network namespace, makes
 * one change with the tool an operator would use, and checks that the watcher said so, and
 * that it stays quiet while nothing changes. */
#include <errno.h>
#include <event2/event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd/nlwatch.h>

#include "kernel_test.h"

struct watched {
	struct event_base *base;
	struct wf_nlwatch *w;
	int changes;
};

static void on_changed(void *ctx)
{
	struct watched *t = ctx;

	t->changes++;
	event_base_loopbreak(t->base);
}

static int setup(void **state)
{
	struct watched *t = calloc(1, sizeof(*t));

	if (!t || unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		free(t);
		return -1;
	}
	sh("ip link set lo up");
	t->base = event_base_new();
	if (!t->base || wf_nlwatch_new(&t->w, t->base, on_changed, t)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct watched *t = *state;

	wf_nlwatch_free(t->w);
	event_base_free(t->base);
	free(t);
	return 0;
}

/* Runs the loop until the watcher speaks or ms pass; returns how often it spoke. */
static int run_for(struct watched *t, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	t->changes = 0;
	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
	return t->changes;
}

static void nothing_changes_nothing_is_said(void **state)
{
	assert_int_equal(run_for(*state, 300), 0);
}

static void an_nft_table_is_a_change(void **state)
{
	sh("nft add table inet wfwatch");
	assert_int_equal(run_for(*state, 2000), 1);
	assert_int_equal(run_for(*state, 300), 0);
}

static void a_policy_rule_is_a_change(void **state)
{
	sh("ip rule add from 10.9.9.9 lookup 99");
	assert_int_equal(run_for(*state, 2000), 1);
}

static void a_route_is_a_change(void **state)
{
	sh("ip route add 10.9.9.0/24 dev lo table 99");
	assert_int_equal(run_for(*state, 2000), 1);
}

static void an_address_is_a_change(void **state)
{
	sh("ip addr add 10.9.9.1/32 dev lo");
	assert_int_equal(run_for(*state, 2000), 1);
}

#define NS_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    NS_TEST(nothing_changes_nothing_is_said), NS_TEST(an_nft_table_is_a_change),
	    NS_TEST(a_policy_rule_is_a_change),       NS_TEST(a_route_is_a_change),
	    NS_TEST(an_address_is_a_change),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("nlwatch_kernel", tests, NULL, NULL);
}
