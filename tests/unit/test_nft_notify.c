/* The ledger of nftables notifications: which commits it accounts for, which tables they
 * touched, and what it refuses to vouch for (a commit only partly seen, a gap, lost messages). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>

#include <wgfwd/nft_notify.h>

static char buf[4096];

static struct nlmsghdr *msg(uint16_t type, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	return nlh;
}

/* One object message of a commit: type names what happened, attribute 1 the table. */
static enum wf_nft_note object(struct wf_nft_ledger *l, uint16_t type, uint8_t family,
                               const char *table)
{
	struct nlmsghdr *nlh = msg(type, family);

	if (table)
		mnl_attr_put_strz(nlh, 1, table);
	return wf_nft_ledger_feed(l, nlh);
}

static enum wf_nft_note newgen(struct wf_nft_ledger *l, uint32_t gen)
{
	struct nlmsghdr *nlh = msg(NFT_MSG_NEWGEN, NFPROTO_UNSPEC);

	mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(gen));
	mnl_attr_put_u32(nlh, NFTA_GEN_PROC_PID, htonl(4242));
	mnl_attr_put_strz(nlh, NFTA_GEN_PROC_NAME, "nft");
	return wf_nft_ledger_feed(l, nlh);
}

/* The agent's watched tables, and a first commit (at generation 10) that syncs the ledger. */
static void agent_ledger(struct wf_nft_ledger *l)
{
	wf_nft_ledger_init(l);
	assert_int_equal(wf_nft_ledger_watch(l, NFPROTO_INET, "wgfwd"), 0);
	assert_int_equal(wf_nft_ledger_watch(l, NFPROTO_IPV4, "filter"), 0);
	assert_int_equal(wf_nft_ledger_watch(l, NFPROTO_IPV6, "filter"), 0);
	object(l, NFT_MSG_NEWSETELEM, NFPROTO_INET, "wgfwd");
	assert_int_equal(newgen(l, 10), WF_NFT_NOTE_TOUCHED);
}

static void the_first_commit_seen_is_not_vouched_for(void **state)
{
	struct wf_nft_ledger l;

	wf_nft_ledger_init(&l);
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "wgfwd"), 0);
	/* it may have begun before the watcher listened */
	assert_int_equal(object(&l, NFT_MSG_NEWTABLE, NFPROTO_IPV4, "foo"), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 7), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 6, 7, NFPROTO_INET, "wgfwd"));
	assert_true(wf_nft_ledger_quiet(&l, 7, 7, NFPROTO_INET, "wgfwd"));
}

static void a_ledger_started_at_a_generation_vouches_for_the_commits_after(void **state)
{
	struct wf_nft_ledger l;

	wf_nft_ledger_init(&l);
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "wgfwd"), 0);
	wf_nft_ledger_start(&l, 7);
	/* what was committed at 7 is known; before it, nothing is */
	assert_int_equal(newgen(&l, 8), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 7, 8, NFPROTO_INET, "wgfwd"));
	assert_false(wf_nft_ledger_quiet(&l, 6, 8, NFPROTO_INET, "wgfwd"));
}

static void a_table_watched_while_a_commit_is_half_read(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	object(&l, NFT_MSG_NEWRULE, NFPROTO_INET, "later");
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "later"), 0);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "later"));
	/* between commits, nothing was missed */
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "later2"), 0);
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_INET, "later2"));
}

/* A commit of ours and one of someone else's, each touching our table. */
static enum wf_nft_note commit_from(struct wf_nft_ledger *l, uint32_t portid, uint32_t gen)
{
	struct nlmsghdr *nlh = msg(NFT_MSG_NEWSETELEM, NFPROTO_INET);

	nlh->nlmsg_pid = portid;
	mnl_attr_put_strz(nlh, 1, "wgfwd");
	assert_int_equal(wf_nft_ledger_feed(l, nlh),
	                 portid == 4242 ? WF_NFT_NOTE_NONE : WF_NFT_NOTE_TOUCHED);
	nlh = msg(NFT_MSG_NEWGEN, NFPROTO_UNSPEC);
	nlh->nlmsg_pid = portid;
	mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(gen));
	return wf_nft_ledger_feed(l, nlh);
}

static void our_own_commit_is_told_apart_and_still_touches_our_table(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	wf_nft_own_port_add(4242);
	assert_int_equal(commit_from(&l, 4242, 11), WF_NFT_NOTE_OWN);
	/* what was known before our commit does not stand past it */
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
	assert_true(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV4, "filter"));
	assert_int_equal(commit_from(&l, 999, 12), WF_NFT_NOTE_TOUCHED);
	wf_nft_own_port_remove(4242);
	assert_int_equal(commit_from(&l, 4243, 13), WF_NFT_NOTE_TOUCHED);
}

static void a_foreign_table_is_quiet_for_every_watched_table(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(object(&l, NFT_MSG_NEWTABLE, NFPROTO_IPV4, "foo"), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_QUIET);
	assert_int_equal(object(&l, NFT_MSG_NEWCHAIN, NFPROTO_IPV4, "foo"), WF_NFT_NOTE_NONE);
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV4, "foo"), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 10, 12, NFPROTO_INET, "wgfwd"));
	assert_true(wf_nft_ledger_quiet(&l, 10, 12, 0, NULL));
	assert_true(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_IPV4, "filter"));
	assert_int_equal(l.commits, 3);
	assert_int_equal(l.quiet, 2);
}

static void an_element_deleted_from_ours_touches_ours_alone(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(object(&l, NFT_MSG_DELSETELEM, NFPROTO_INET, "wgfwd"),
	                 WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, 0, NULL));
	/* Docker's chains were not touched */
	assert_true(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV4, "filter"));
	/* and what was committed at 11 holds past quiet commits */
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_INET, "wgfwd"));
}

/* A commit of thousands of elements names one table thousands of times; what follows them in
 * the same commit is still read for itself. */
static void a_table_after_many_elements_of_another_is_still_counted(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(object(&l, NFT_MSG_NEWSETELEM, NFPROTO_INET, "wgfwd"),
	                 WF_NFT_NOTE_TOUCHED);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(object(&l, NFT_MSG_NEWSETELEM, NFPROTO_INET, "wgfwd"),
		                 WF_NFT_NOTE_NONE);
	/* the same name in another family, a longer name it begins, then the family's own */
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV6, "wgfwd"), WF_NFT_NOTE_NONE);
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter2"), WF_NFT_NOTE_NONE);
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter"), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter"), WF_NFT_NOTE_NONE);
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV6, "filter"), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(object(&l, NFT_MSG_NEWSETELEM, NFPROTO_INET, "wgfwd"), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV4, "filter"));
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV6, "filter"));
	/* the next commit starts afresh: its first element of ours touches ours again */
	assert_int_equal(object(&l, NFT_MSG_DELSETELEM, NFPROTO_INET, "wgfwd"),
	                 WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_INET, "wgfwd"));
	assert_true(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_IPV4, "filter"));
	/* after a message naming no table, the table named before is named anew */
	assert_int_equal(object(&l, NFT_MSG_NEWTABLE, NFPROTO_IPV4, "foo"), WF_NFT_NOTE_NONE);
	assert_int_equal(object(&l, NFT_MSG_NEWTABLE, NFPROTO_IPV4, NULL), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(object(&l, NFT_MSG_NEWTABLE, NFPROTO_IPV4, "foo"), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 13), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 12, 13, NFPROTO_IPV4, "filter"));
}

/* The table is the first attribute only when it is: one named further on is looked for. */
static void a_table_named_after_another_attribute_is_found(void **state)
{
	struct wf_nft_ledger l;
	struct nlmsghdr *nlh;

	agent_ledger(&l);
	assert_int_equal(object(&l, NFT_MSG_NEWSETELEM, NFPROTO_IPV4, "filter"),
	                 WF_NFT_NOTE_TOUCHED);
	nlh = msg(NFT_MSG_NEWSETELEM, NFPROTO_INET);
	mnl_attr_put_strz(nlh, 2, "filter");
	mnl_attr_put_strz(nlh, 1, "wgfwd");
	assert_int_equal(wf_nft_ledger_feed(&l, nlh), WF_NFT_NOTE_TOUCHED);
	nlh = msg(NFT_MSG_NEWSETELEM, NFPROTO_IPV6);
	mnl_attr_put_strz(nlh, 2, "x");
	mnl_attr_put_strz(nlh, 1, "filter");
	assert_int_equal(wf_nft_ledger_feed(&l, nlh), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
}

/* A table watched in the middle of a commit whose messages named it already. */
static void a_table_watched_after_its_elements_began(void **state)
{
	struct wf_nft_ledger l;

	wf_nft_ledger_init(&l);
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_IPV4, "filter"), 0);
	object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter");
	assert_int_equal(newgen(&l, 10), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(object(&l, NFT_MSG_NEWSETELEM, NFPROTO_INET, "wgfwd"), WF_NFT_NOTE_NONE);
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "wgfwd"), 0);
	object(&l, NFT_MSG_NEWSETELEM, NFPROTO_INET, "wgfwd");
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
}

static void a_rule_in_dockers_filter_table_touches_that_family_only(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter"), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV4, "filter"));
	assert_true(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV6, "filter"));
	assert_true(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
	/* asked of every family, the one touched counts */
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, 0, "filter"));
	/* a table called filter of another family is someone else's */
	assert_int_equal(object(&l, NFT_MSG_NEWRULE, NFPROTO_INET, "filter"), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_QUIET);
}

static void a_table_watched_in_any_family(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(wf_nft_ledger_watch(&l, 0, "docker-bridges"), 0);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV4, "docker-bridges"));
	assert_int_equal(object(&l, NFT_MSG_NEWCHAIN, NFPROTO_IPV6, "docker-bridges"),
	                 WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_IPV4, "docker-bridges"));
	assert_true(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_INET, "wgfwd"));
}

static void flush_ruleset_deletes_our_table(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	object(&l, NFT_MSG_DELRULE, NFPROTO_IPV4, "foo");
	object(&l, NFT_MSG_DELTABLE, NFPROTO_IPV4, "foo");
	assert_int_equal(object(&l, NFT_MSG_DELTABLE, NFPROTO_INET, "wgfwd"), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
}

static void a_message_naming_no_table_touches_every_table(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(object(&l, NFT_MSG_DELTABLE, NFPROTO_INET, NULL), WF_NFT_NOTE_TOUCHED);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV6, "filter"));
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
}

static void a_gap_in_the_generations_is_not_vouched_for(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	/* the commit of 11 went unseen */
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 12, NFPROTO_INET, "wgfwd"));
	assert_int_equal(newgen(&l, 13), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 12, 13, NFPROTO_INET, "wgfwd"));
}

static void lost_notifications_trust_nothing_until_a_commit_is_seen_whole(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	wf_nft_ledger_lost(&l);
	/* still queued from before the loss: the loss may lie after them */
	object(&l, NFT_MSG_NEWTABLE, NFPROTO_IPV4, "foo");
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_INET, "wgfwd"));
	wf_nft_ledger_drained(&l);
	/* the first commit after may have begun before */
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_TOUCHED);
	assert_false(wf_nft_ledger_quiet(&l, 10, 12, NFPROTO_INET, "wgfwd"));
	assert_false(wf_nft_ledger_quiet(&l, 11, 12, NFPROTO_INET, "wgfwd"));
	assert_int_equal(newgen(&l, 13), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, 12, 13, NFPROTO_INET, "wgfwd"));
}

static void commits_not_seen_yet_are_not_quiet(void **state)
{
	struct wf_nft_ledger l;

	agent_ledger(&l);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_QUIET);
	assert_false(wf_nft_ledger_quiet(&l, 10, 12, NFPROTO_INET, "wgfwd"));
	assert_false(wf_nft_ledger_quiet(&l, 11, 10, NFPROTO_INET, "wgfwd"));
	/* a table nobody watches is vouched for by no one */
	assert_false(wf_nft_ledger_quiet(&l, 10, 11, NFPROTO_IPV4, "nat"));
}

static void generations_wrap_past_zero(void **state)
{
	struct wf_nft_ledger l;

	wf_nft_ledger_init(&l);
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "wgfwd"), 0);
	newgen(&l, UINT32_MAX - 1);
	assert_int_equal(newgen(&l, UINT32_MAX), WF_NFT_NOTE_QUIET);
	assert_int_equal(newgen(&l, 1), WF_NFT_NOTE_QUIET);
	assert_true(wf_nft_ledger_quiet(&l, UINT32_MAX - 1, 1, NFPROTO_INET, "wgfwd"));
}

static struct wf_nft_ledger *followed;

static bool follower_latest(void *ctx, uint32_t *genid)
{
	return wf_nft_ledger_latest(ctx, genid);
}

/* The generation a batch is guarded on without asking the kernel: the later of the caller's
 * own and the last one seen, never one from a ledger that lost count. */
static void the_latest_generation_known_is_the_later_of_own_and_seen(void **state)
{
	struct wf_nft_ledger l;
	uint32_t g = 0;

	wf_nft_ledger_init(&l);
	assert_false(wf_nft_ledger_latest(&l, &g));
	agent_ledger(&l);
	followed = &l;
	wf_nft_follow(&(struct wf_nft_follower){.latest = follower_latest, .ctx = followed});
	assert_true(wf_nft_ledger_latest(&l, &g));
	assert_int_equal(g, 10);
	/* own commit not read yet: the caller's */
	assert_int_equal(wf_nft_followed_latest(11), 11);
	/* someone else's seen: the ledger's */
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_QUIET);
	assert_int_equal(newgen(&l, 12), WF_NFT_NOTE_QUIET);
	assert_int_equal(wf_nft_followed_latest(11), 12);
	/* across the wrap */
	wf_nft_ledger_start(&l, 1);
	assert_int_equal(wf_nft_followed_latest(UINT32_MAX), 1);
	assert_int_equal(wf_nft_followed_latest(2), 2);
	wf_nft_ledger_lost(&l);
	assert_false(wf_nft_ledger_latest(&l, &g));
	assert_int_equal(wf_nft_followed_latest(2), 2);
	wf_nft_unfollow(followed);
	assert_int_equal(wf_nft_followed_latest(5), 5);
}

static void other_subsystems_are_not_read(void **state)
{
	struct wf_nft_ledger l;
	struct nlmsghdr *nlh;

	agent_ledger(&l);
	nlh = msg(0, NFPROTO_IPV4);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | 0;
	assert_int_equal(wf_nft_ledger_feed(&l, nlh), WF_NFT_NOTE_NONE);
	assert_int_equal(newgen(&l, 11), WF_NFT_NOTE_QUIET);
}

static void a_full_ledger_refuses_more_tables(void **state)
{
	struct wf_nft_ledger l;
	char name[16];

	wf_nft_ledger_init(&l);
	for (int i = 0; i < WF_NFT_WATCHED_MAX; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, name), 0);
	}
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "t0"), 0);
	assert_int_equal(wf_nft_ledger_watch(&l, NFPROTO_INET, "one-more"), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(the_first_commit_seen_is_not_vouched_for),
	    cmocka_unit_test(a_ledger_started_at_a_generation_vouches_for_the_commits_after),
	    cmocka_unit_test(a_table_watched_while_a_commit_is_half_read),
	    cmocka_unit_test(a_foreign_table_is_quiet_for_every_watched_table),
	    cmocka_unit_test(our_own_commit_is_told_apart_and_still_touches_our_table),
	    cmocka_unit_test(an_element_deleted_from_ours_touches_ours_alone),
	    cmocka_unit_test(a_table_after_many_elements_of_another_is_still_counted),
	    cmocka_unit_test(a_table_named_after_another_attribute_is_found),
	    cmocka_unit_test(a_table_watched_after_its_elements_began),
	    cmocka_unit_test(a_rule_in_dockers_filter_table_touches_that_family_only),
	    cmocka_unit_test(a_table_watched_in_any_family),
	    cmocka_unit_test(flush_ruleset_deletes_our_table),
	    cmocka_unit_test(a_message_naming_no_table_touches_every_table),
	    cmocka_unit_test(a_gap_in_the_generations_is_not_vouched_for),
	    cmocka_unit_test(lost_notifications_trust_nothing_until_a_commit_is_seen_whole),
	    cmocka_unit_test(commits_not_seen_yet_are_not_quiet),
	    cmocka_unit_test(generations_wrap_past_zero),
	    cmocka_unit_test(the_latest_generation_known_is_the_later_of_own_and_seen),
	    cmocka_unit_test(other_subsystems_are_not_read),
	    cmocka_unit_test(a_full_ledger_refuses_more_tables),
	};

	return cmocka_run_group_tests_name("nft_notify", tests, NULL, NULL);
}
