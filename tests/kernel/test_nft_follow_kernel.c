/* A daemon's record of its table past other processes' nftables commits, against the kernel:
 * each test runs in a fresh network namespace with a change watcher that names the table it
 * owns, commits that table through the cached sync, and then lets someone else commit with
 * the tools an operator would use. A commit elsewhere is not said and costs no read-back; one
 * touching the table is said, read back and repaired; lost notifications fall back to a
 * read-back. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <linux/netfilter.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_sync.h>
#include <wgfwd/nlwatch.h>

#include "kernel_test.h"

#define TABLE   "wftest"
#define N_PEERS 2000

struct follow {
	struct event_base *base;
	struct wf_nlwatch *w;
	struct wf_nft *nft;
	struct wf_nft_cache cache;
	struct wf_nft_table *want;
	int changes;
};

static void on_changed(void *ctx)
{
	struct follow *t = ctx;

	t->changes++;
}

/* inet wftest: a set of addresses (hashed: the kernel lists them in no order) and an input
 * chain accepting them. */
static struct wf_nft_table *peers_table(size_t n)
{
	struct wf_nft_table *t = wf_nft_table_new(NFPROTO_INET, TABLE);
	struct wf_nft_chain c = {.name = "input",
	                         .base = true,
	                         .type = "filter",
	                         .hook = NF_INET_LOCAL_IN,
	                         .priority = 0,
	                         .policy = NF_ACCEPT};
	struct wf_nft_set s = {.name = "peers", .key = {WF_NFT_T_IPV4_ADDR}, .n_key = 1};
	struct wf_nft_rule r = {.chain = "input"};
	struct wf_nft_set *ps;

	assert_non_null(wf_nft_table_add_chain(t, &c));
	ps = wf_nft_table_add_set(t, &s);
	assert_non_null(ps);
	for (size_t i = 0; i < n; i++) {
		struct wf_nft_elem e = {0};

		e.key[0] = (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR};
		e.key[0].ip4.s_addr = htonl(0x0a000000u + (uint32_t)i);
		assert_int_equal(wf_nft_set_add_elem(ps, &e), 0);
	}
	wf_nft_rule_item(&r, &(struct wf_nft_item){.kind = WF_NFT_MATCH_SET,
	                                           .keys = {WF_NFT_F_IP_SADDR},
	                                           .n_keys = 1,
	                                           .set = "peers"});
	wf_nft_rule_item(&r,
	                 &(struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_ACCEPT});
	assert_non_null(wf_nft_table_add_rule(t, &r));
	return t;
}

/* Runs the loop for ms; returns how often the watcher spoke. */
static int run_for(struct follow *t, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	t->changes = 0;
	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
	return t->changes;
}

/* One apply as the daemons make it: guarded by the generation, synced through the cache. */
static struct wf_nft_sync apply(struct follow *t)
{
	struct wf_nft_sync res;
	struct wf_nft_batch *b;
	uint32_t genid;
	int err;

	assert_int_equal(wf_nft_genid(t->nft, &genid), 0);
	b = wf_nft_batch_new_at(genid);
	assert_non_null(b);
	assert_int_equal(wf_nft_batch_sync_table(t->nft, b, t->want, &t->cache, &res), 0);
	err = wf_nft_batch_size(b) ? wf_nft_commit(t->nft, b, &(struct wf_nft_error){0}) : 0;
	assert_int_equal(err, 0);
	wf_nft_cache_settle(&t->cache, b, err);
	wf_nft_batch_free(b);
	return res;
}

static uint64_t table_reads(void)
{
	struct wf_nft_reads r;

	wf_nft_reads_get(&r);
	return r.tables;
}

/* The kernel holds exactly what the test wants. */
static void kernel_holds_want(struct follow *t)
{
	struct wf_nft_table *k = NULL;

	assert_int_equal(wf_nft_table_get(t->nft, NFPROTO_INET, TABLE, &k), 0);
	assert_true(wf_nft_table_equal(k, t->want));
	wf_nft_table_free(k);
}

static int setup(void **state)
{
	struct follow *t = calloc(1, sizeof(*t));

	if (!t || unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		free(t);
		return -1;
	}
	t->base = event_base_new();
	if (!t->base || wf_nlwatch_new(&t->w, t->base, on_changed, t) || wf_nft_open(&t->nft)) {
		free(t);
		return -1;
	}
	wf_nlwatch_watch_nft(t->w, NFPROTO_INET, TABLE);
	wf_nlwatch_watch_nft(t->w, 0, "filter");
	t->want = peers_table(N_PEERS);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct follow *t = *state;

	wf_nft_cache_free(&t->cache);
	wf_nft_table_free(t->want);
	wf_nft_close(t->nft);
	wf_nlwatch_free(t->w);
	event_base_free(t->base);
	free(t);
	return 0;
}

/* The table committed and the watcher past the commit's notifications. */
static struct follow *committed(void **state)
{
	struct follow *t = *state;
	struct wf_nft_sync res = apply(t);

	assert_int_equal(res.change, WF_NFT_REPLACED);
	run_for(t, 200);
	res = apply(t);
	assert_int_equal(res.change, WF_NFT_UNCHANGED);
	assert_false(res.read_back);
	return t;
}

static void a_foreign_commit_is_no_change_and_costs_no_read_back(void **state)
{
	struct follow *t = committed(state);
	struct wf_nlwatch_counts c;
	uint64_t reads = table_reads();

	sh("nft add table ip foo");
	sh("nft add chain ip foo bar '{ type filter hook forward priority 0; }'");
	sh("nft add rule ip foo bar counter accept");
	assert_int_equal(run_for(t, 300), 0);
	wf_nlwatch_counts(t->w, &c);
	assert_true(c.nft_quiet >= 3);
	/* the next apply trusts what it committed before those three commits */
	for (int i = 0; i < 2; i++) {
		struct wf_nft_sync res = apply(t);

		assert_false(res.read_back);
		assert_int_equal(res.change, WF_NFT_UNCHANGED);
	}
	assert_int_equal(table_reads(), reads);
	kernel_holds_want(t);
}

/* This process's own commit holds what it wrote: not said, and trusted after. */
static void our_own_commit_is_not_said(void **state)
{
	struct follow *t = committed(state);
	struct wf_nft_set *s = wf_nft_table_find_set(t->want, "peers");
	struct wf_nft_elem e = {0};
	struct wf_nft_sync res;

	e.key[0] = (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR};
	e.key[0].ip4.s_addr = htonl(0x0b000001u);
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	res = apply(t);
	assert_int_equal(res.change, WF_NFT_ELEMENTS);
	assert_int_equal(run_for(t, 300), 0);
	res = apply(t);
	assert_false(res.read_back);
	assert_int_equal(res.change, WF_NFT_UNCHANGED);
}

/* A commit not yet read by the loop: the apply reads what is queued before it trusts. */
static void a_foreign_commit_just_made_is_accounted_before_the_apply(void **state)
{
	struct follow *t = committed(state);
	struct wf_nft_sync res;

	sh("nft add table ip foo");
	res = apply(t);
	assert_false(res.read_back);
	assert_int_equal(run_for(t, 200), 0);
}

static void an_element_deleted_from_our_table_is_read_back_and_repaired(void **state)
{
	struct follow *t = committed(state);
	struct wf_nft_sync res;

	sh("nft delete element inet " TABLE " peers '{ 10.0.0.7 }'");
	assert_int_equal(run_for(t, 300), 1);
	res = apply(t);
	assert_true(res.read_back);
	assert_int_equal(res.change, WF_NFT_ELEMENTS);
	assert_int_equal(res.elements_added, 1);
	assert_int_equal(res.elements_removed, 0);
	kernel_holds_want(t);
}

static void a_rule_inserted_into_our_chain_is_read_back_and_removed(void **state)
{
	struct follow *t = committed(state);
	struct wf_nft_sync res;

	sh("nft insert rule inet " TABLE " input tcp dport 22 drop");
	assert_int_equal(run_for(t, 300), 1);
	res = apply(t);
	assert_true(res.read_back);
	assert_int_equal(res.change, WF_NFT_REPLACED);
	kernel_holds_want(t);
}

static void flush_ruleset_is_read_back_and_rebuilt(void **state)
{
	struct follow *t = committed(state);
	struct wf_nft_sync res;

	sh("nft flush ruleset");
	assert_int_equal(run_for(t, 300), 1);
	res = apply(t);
	assert_true(res.read_back);
	assert_int_equal(res.change, WF_NFT_REPLACED);
	kernel_holds_want(t);
}

/* iptables' filter table is watched (rules of ours live in its chains): a change there is
 * said, and what was known of those chains no longer stands; our own table's record does. */
static void a_change_to_iptables_filter_is_said(void **state)
{
	struct follow *t = committed(state);
	struct wf_nft_known chains = {0};
	struct wf_nft_batch *b;
	struct wf_nft_sync res;
	uint32_t g;

	assert_int_equal(wf_nft_genid(t->nft, &g), 0);
	b = wf_nft_batch_new_at(g);
	wf_nft_known_settle(&chains, b, 0); /* an empty batch: known at g */
	wf_nft_batch_free(b);
	sh("iptables -w -A INPUT -p tcp --dport 2222 -j ACCEPT");
	assert_true(run_for(t, 300) >= 1);
	assert_int_equal(wf_nft_genid(t->nft, &g), 0);
	b = wf_nft_batch_new_at(g);
	assert_false(wf_nft_known_current(&chains, b));
	wf_nft_batch_free(b);
	res = apply(t);
	assert_false(res.read_back);
	/* and a foreign commit after it leaves both known */
	assert_int_equal(wf_nft_genid(t->nft, &g), 0);
	b = wf_nft_batch_new_at(g);
	wf_nft_known_settle(&chains, b, 0);
	wf_nft_batch_free(b);
	sh("nft add table ip foo");
	assert_int_equal(run_for(t, 300), 0);
	assert_int_equal(wf_nft_genid(t->nft, &g), 0);
	b = wf_nft_batch_new_at(g);
	assert_true(wf_nft_known_current(&chains, b));
	wf_nft_batch_free(b);
}

/* Notifications overflow the watcher's socket: whatever the lost commits were, the watcher
 * says so and the next apply reads the kernel. */
static void lost_notifications_fall_back_to_a_read_back(void **state)
{
	struct follow *t = committed(state);
	int small = 1;
	struct wf_nlwatch_counts c;
	struct wf_nft_sync res;

	/* the kernel's floor for a receive buffer: a few kilobytes */
	assert_int_equal(
	    setsockopt(wf_nlwatch_nft_fd(t->w), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	sh("nft add table ip foo");
	sh("nft add set ip foo big '{ type inet_service; }'");
	sh("for i in $(seq 1 300); do echo \"add element ip foo big { $i }\"; done | nft -f -");
	assert_true(run_for(t, 300) >= 1);
	wf_nlwatch_counts(t->w, &c);
	assert_true(c.lost >= 1);
	res = apply(t);
	assert_true(res.read_back);
	assert_int_equal(res.change, WF_NFT_UNCHANGED);
	/* the first commit seen after is not vouched for either; the one after it is */
	sh("nft add table ip bar");
	assert_int_equal(run_for(t, 300), 1);
	res = apply(t);
	assert_true(res.read_back);
	sh("nft add table ip baz");
	assert_int_equal(run_for(t, 300), 0);
	res = apply(t);
	assert_false(res.read_back);
}

#define NS_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    NS_TEST(a_foreign_commit_is_no_change_and_costs_no_read_back),
	    NS_TEST(a_foreign_commit_just_made_is_accounted_before_the_apply),
	    NS_TEST(our_own_commit_is_not_said),
	    NS_TEST(an_element_deleted_from_our_table_is_read_back_and_repaired),
	    NS_TEST(a_rule_inserted_into_our_chain_is_read_back_and_removed),
	    NS_TEST(flush_ruleset_is_read_back_and_rebuilt),
	    NS_TEST(a_change_to_iptables_filter_is_said),
	    NS_TEST(lost_notifications_fall_back_to_a_read_back),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("nft_follow_kernel", tests, NULL, NULL);
}
