/* The change watcher against the kernel: each test runs in a fresh network namespace, makes
 * one change with the tool an operator would use, and checks that the watcher said so, and
 * that it stays quiet while nothing changes. With the agent's filter (drift_filter.h), what
 * Docker does on a container start is no change, and what touches the agent's own still is. */
#include <errno.h>
#include <net/if.h>
#include <event2/event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd-agent/drift_filter.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/rtnl.h>

#include "kernel_test.h"

struct watched {
	struct event_base *base;
	struct wf_nlwatch *w;
	int changes;
	struct wf_agent_owned own;
	unsigned looks; /* WF_LOOK_* of the notes since the last run */
	int notes;
	int veth_notes; /* of links named veth* */
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

static int run_for(struct watched *t, int ms);

#define OWN_TABLE  99
#define OWN_TUNNEL "wgt1"

static bool agent_filter(void *ctx, const struct wf_nlwatch_note *note)
{
	struct watched *t = ctx;
	unsigned looks = wf_agent_note_looks(&t->own, note);

	t->notes++;
	t->veth_notes += note->kind == WF_NLWATCH_LINK && !strncmp(note->ifname, "veth", 4);
	t->looks |= looks;
	return looks != 0;
}

/* As the agent watches: its tunnel OWN_TUNNEL (a veth here) and its table OWN_TABLE. */
static int setup_filtered(void **state)
{
	struct wf_server_params p;
	struct watched *t;

	if (setup(state))
		return -1;
	t = *state;
	sh("ip link add " OWN_TUNNEL " type veth peer name wgt1peer");
	sh("ip link set " OWN_TUNNEL " up");
	wf_server_params_default(&p);
	strcpy(p.tunnel_ifname, OWN_TUNNEL);
	p.table = OWN_TABLE;
	wf_agent_owned_from(&p, NULL, 0, &t->own);
	if (wf_nlwatch_filter_rtnl(t->w, agent_filter, t))
		return -1;
	/* what the tunnel's making told goes before the test begins */
	run_for(t, 300);
	return 0;
}

/* ... and with the kernel narrowing them as the agent asks it to. */
static int setup_scoped(void **state)
{
	struct wf_nlwatch_scope scope;
	struct watched *t;
	int ifindex;

	if (setup_filtered(state))
		return -1;
	t = *state;
	ifindex = (int)if_nametoindex(OWN_TUNNEL);
	wf_agent_scope(&t->own, &ifindex, &scope);
	if (wf_nlwatch_scope_rtnl(t->w, &scope))
		return -1;
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
	t->looks = 0;
	t->notes = 0;
	t->veth_notes = 0;
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

/* What dockerd does in the server's namespace for a container start and stop: a veth pair,
 * one end on a bridge with addresses and routes of its own, the other end gone. */
static void dockers_veths_are_no_change(void **state)
{
	struct watched *t = *state;
	struct wf_nlwatch_counts c;

	sh("ip link add br-0123456789ab type bridge && ip link set br-0123456789ab up");
	sh("ip addr add 172.18.0.1/16 dev br-0123456789ab");
	assert_int_equal(run_for(t, 300), 0);
	sh("ip link add veth1a2b3c4 type veth peer name veth5d6e7f8");
	sh("ip link set veth1a2b3c4 master br-0123456789ab && ip link set veth1a2b3c4 up");
	sh("ip link set veth5d6e7f8 up && ip addr add 172.18.0.2/16 dev veth5d6e7f8");
	sh("ip route add 172.19.0.0/16 dev veth5d6e7f8");
	sh("ip link del veth1a2b3c4");
	assert_int_equal(run_for(t, 500), 0);
	assert_true(t->notes > 5);
	assert_true(t->veth_notes > 0);
	wf_nlwatch_counts(t->w, &c);
	assert_true(c.rtnl_notes >= (uint64_t)t->notes);
	assert_true(c.rtnl_quiet >= (uint64_t)t->notes);
}

/* Scoped, the kernel keeps the veths' notifications, their addresses and routes to itself:
 * the agent is not even woken for them. */
static void dockers_veths_do_not_wake_the_agent(void **state)
{
	struct watched *t = *state;

	sh("ip link add veth1a2b3c4 type veth peer name veth5d6e7f8");
	sh("ip link set veth5d6e7f8 up && ip addr add 172.18.0.2/16 dev veth5d6e7f8");
	sh("ip route add 172.19.0.0/16 dev veth5d6e7f8");
	sh("sysctl -qw net.ipv4.conf.veth5d6e7f8.rp_filter=1");
	sh("ip link del veth1a2b3c4");
	assert_int_equal(run_for(t, 500), 0);
	assert_int_equal(t->veth_notes, 0);
	assert_int_equal(t->notes, 0);
}

static void a_rule_of_the_agents_is_a_change(void **state)
{
	struct watched *t = *state;

	sh("ip rule add fwmark 0x77660001 lookup 100 priority 10000 protocol 207");
	assert_int_equal(run_for(t, 2000), 1);
	assert_int_equal(t->looks, WF_LOOK_RTNL);
	sh("ip rule del priority 10000");
	assert_int_equal(run_for(t, 2000), 1);
	assert_int_equal(t->looks, WF_LOOK_RTNL);
	/* someone else's, elsewhere */
	sh("ip rule add from 10.9.9.9 lookup 100");
	assert_int_equal(run_for(t, 300), 0);
}

static void a_route_in_the_agents_table_is_a_change(void **state)
{
	struct watched *t = *state;

	sh("ip route add default dev " OWN_TUNNEL " table 99");
	assert_int_equal(run_for(t, 2000), 1);
	assert_int_equal(t->looks, WF_LOOK_RTNL);
	sh("ip route add 10.9.9.0/24 dev " OWN_TUNNEL " table 100");
	assert_int_equal(run_for(t, 300), 0);
	/* the agent's own route to the gateway, in the main table */
	sh("ip route add 10.9.8.1/32 dev " OWN_TUNNEL " proto 207");
	assert_int_equal(run_for(t, 2000), 1);
	assert_int_equal(t->looks, WF_LOOK_RTNL);
}

/* The kernel drops IPv4 routes through a link that goes down without a word of its own. */
static void the_tunnel_going_down_is_a_change(void **state)
{
	struct watched *t = *state;

	sh("ip link set " OWN_TUNNEL " down");
	assert_int_equal(run_for(t, 2000), 1);
	assert_true(t->looks & WF_LOOK_RTNL);
}

static void forwarding_and_rp_filter_are_a_change(void **state)
{
	struct watched *t = *state;

	/* a namespace may start with the values of the machine's own: each is set apart first */
	sh("sysctl -qw net.ipv4.conf." OWN_TUNNEL ".rp_filter=0 net.ipv4.ip_forward=0 "
	   "net.ipv4.conf.wgt1peer.rp_filter=0");
	run_for(t, 300);
	sh("sysctl -qw net.ipv4.conf." OWN_TUNNEL ".rp_filter=1");
	assert_int_equal(run_for(t, 2000), 1);
	assert_int_equal(t->looks, WF_LOOK_SYSCTLS);
	sh("sysctl -qw net.ipv4.ip_forward=1");
	assert_int_equal(run_for(t, 2000), 1);
	assert_int_equal(t->looks, WF_LOOK_SYSCTLS);
	/* another link's: not one the agent keeps */
	sh("sysctl -qw net.ipv4.conf.wgt1peer.rp_filter=1");
	assert_int_equal(run_for(t, 300), 0);
}

/* The same as unfiltered, through the agent's filter. */
static void filtered_nothing_changes_nothing_is_said(void **state)
{
	nothing_changes_nothing_is_said(state);
}

static void filtered_an_nft_table_is_still_a_change(void **state)
{
	an_nft_table_is_a_change(state);
}

static void scoped_an_nft_table_is_still_a_change(void **state)
{
	an_nft_table_is_a_change(state);
}

static void scoped_a_rule_of_the_agents_is_a_change(void **state)
{
	a_rule_of_the_agents_is_a_change(state);
}

static void scoped_a_route_in_the_agents_table_is_a_change(void **state)
{
	a_route_in_the_agents_table_is_a_change(state);
}

static void scoped_the_tunnel_going_down_is_a_change(void **state)
{
	the_tunnel_going_down_is_a_change(state);
}

static void scoped_forwarding_and_rp_filter_are_a_change(void **state)
{
	forwarding_and_rp_filter_are_a_change(state);
}

#define SCOPED_TEST(f)   cmocka_unit_test_setup_teardown(f, setup_scoped, teardown)
#define NS_TEST(f)       cmocka_unit_test_setup_teardown(f, setup, teardown)
#define FILTERED_TEST(f) cmocka_unit_test_setup_teardown(f, setup_filtered, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    NS_TEST(nothing_changes_nothing_is_said),
	    NS_TEST(an_nft_table_is_a_change),
	    NS_TEST(a_policy_rule_is_a_change),
	    NS_TEST(a_route_is_a_change),
	    NS_TEST(an_address_is_a_change),
	    FILTERED_TEST(filtered_nothing_changes_nothing_is_said),
	    FILTERED_TEST(filtered_an_nft_table_is_still_a_change),
	    FILTERED_TEST(dockers_veths_are_no_change),
	    FILTERED_TEST(a_rule_of_the_agents_is_a_change),
	    FILTERED_TEST(a_route_in_the_agents_table_is_a_change),
	    FILTERED_TEST(the_tunnel_going_down_is_a_change),
	    FILTERED_TEST(forwarding_and_rp_filter_are_a_change),
	    SCOPED_TEST(dockers_veths_do_not_wake_the_agent),
	    SCOPED_TEST(scoped_an_nft_table_is_still_a_change),
	    SCOPED_TEST(scoped_a_rule_of_the_agents_is_a_change),
	    SCOPED_TEST(scoped_a_route_in_the_agents_table_is_a_change),
	    SCOPED_TEST(scoped_the_tunnel_going_down_is_a_change),
	    SCOPED_TEST(scoped_forwarding_and_rp_filter_are_a_change),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("nlwatch_kernel", tests, NULL, NULL);
}
