/* ctnetlink against the kernel: every test runs in a fresh network namespace of its own, makes
 * entries with the conntrack tool or with real traffic over loopback, and checks what is left
 * through `conntrack -L`, the tool an operator would use. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>

#include <wgfwd/ct_stale.h>
#include <wgfwd-agent/ct_flush.h>
#include <wgfwd-gateway/ct_flush.h>
#include <wgfwd/conntrack.h>
#include <wgfwd/util.h>

#include "kernel_test.h"

#define CLIENT  "203.0.113.10"
#define TUNNEL  "192.168.160.2"
#define OLD_TGT "172.17.0.5"
#define NEW_TGT "172.17.0.6"

/* One entry made by the conntrack tool: a flow of `proto' from src:sport to dst:dport, plus
 * whatever else `extra' says (--dst-nat, --status, --zone, ...). */
static void ct_insert(const char *proto, const char *src, int sport, const char *dst, int dport,
                      const char *extra)
{
	sh("conntrack -I -p %s -s %s --sport %d -d %s --dport %d -t 300 %s%s >/dev/null 2>&1",
	   proto, src, sport, dst, dport, strcmp(proto, "tcp") ? "" : "--state ESTABLISHED ",
	   extra);
}

/* How many lines of `conntrack -L' (both families) contain every one of the needles. */
static int ct_listed(const char *needle, const char *also)
{
	char line[1024];
	int n = 0;
	FILE *p = popen("{ conntrack -L -f ipv4; conntrack -L -f ipv6; } 2>/dev/null", "r");

	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		n += strstr(line, needle) && (!also || strstr(line, also));
	assert_int_equal(pclose(p), 0);
	return n;
}

static int setup_namespace(void **state)
{
	struct wf_conntrack *ct;

	if (unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	if (system("ip link set lo up"))
		return -1;
	if (wf_conntrack_open(&ct))
		return -1;
	/* as the gateway searches: test_flush_by_a_dump_deletes_the_same_flows turns it off */
	wf_conntrack_set_kernel_flush(ct, true);
	*state = ct;
	return 0;
}

static int teardown_namespace(void **state)
{
	wf_conntrack_close(*state);
	return 0;
}

static union wf_addr addr(int family, const char *text)
{
	union wf_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(family, text, &a) != 1)
		fail_msg("bad address in test: %s", text);
	return a;
}

struct seen {
	struct wf_ct_entry e[16];
	size_t n;
};

static int remember(const struct wf_ct_entry *e, void *data)
{
	struct seen *s = data;

	if (s->n < 16)
		s->e[s->n++] = *e;
	return 0;
}

static const struct wf_ct_entry *find_from(const struct seen *s, int family, const char *src)
{
	union wf_addr a = addr(family, src);

	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].family == family &&
		    !memcmp(&s->e[i].orig.src, &a, family == AF_INET ? 4 : 16))
			return &s->e[i];
	return NULL;
}

/* The server's view of a forward whose target was OLD_TGT:5353. */
static struct wf_ct_match old_target(int family, const char *target)
{
	struct wf_ct_match m = {.family = (uint8_t)family,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_reply_src = true,
	                        .reply_sport = 5353,
	                        .status_set = IPS_DST_NAT};

	m.reply_src = addr(family, target);
	return m;
}

/* A forward that just appeared: flows to dst:5353 that nothing translated or answered. */
static struct wf_ct_match new_forward(int family, const char *dst)
{
	struct wf_ct_match m = {.family = (uint8_t)family,
	                        .l4proto = IPPROTO_UDP,
	                        .orig_dport = 5353,
	                        .has_orig_dst = true,
	                        .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};

	m.orig_dst = addr(family, dst);
	return m;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- dumps ---- */

static void test_dump_lists_each_entry_with_its_tuples(void **state)
{
	struct wf_conntrack *ct = *state;
	struct seen s = {0};
	const struct wf_ct_entry *e;

	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("tcp", "2001:db8:c::10", 51000, "fc00:0:0:160::2", 443, "");

	assert_int_equal(wf_conntrack_dump(ct, AF_INET, NULL, remember, &s), 0);
	assert_int_equal(s.n, 1);
	e = find_from(&s, AF_INET, CLIENT);
	assert_non_null(e);
	assert_int_equal(e->l4proto, IPPROTO_UDP);
	assert_int_equal(e->orig.sport, 40053);
	assert_int_equal(e->orig.dport, 5353);
	assert_memory_equal(&e->orig.dst, &(union wf_addr){.ip4 = addr(AF_INET, TUNNEL).ip4}, 4);
	assert_memory_equal(&e->reply.src, &(union wf_addr){.ip4 = addr(AF_INET, OLD_TGT).ip4}, 4);
	assert_int_equal(e->reply.sport, 5353);
	assert_int_equal(e->reply.dport, 40053);
	assert_true(e->status & IPS_DST_NAT);
	assert_true(e->has_id);

	s.n = 0;
	assert_int_equal(wf_conntrack_dump(ct, AF_INET6, NULL, remember, &s), 0);
	assert_int_equal(s.n, 1);
	e = find_from(&s, AF_INET6, "2001:db8:c::10");
	assert_non_null(e);
	assert_int_equal(e->l4proto, IPPROTO_TCP);
	assert_int_equal(e->orig.dport, 443);
	assert_false(e->status & IPS_DST_NAT);
}

static void test_dump_by_mark_lists_only_marked_entries(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_filter f = {.has_mark = true, .mark = 0x77660001, .mark_mask = 0xffffffff};
	struct seen s = {0};

	ct_insert("udp", "203.0.113.1", 1000, TUNNEL, 5353, "--mark 0x77660001");
	ct_insert("udp", "203.0.113.2", 1000, TUNNEL, 5353, "--mark 0x77660002");
	ct_insert("udp", "203.0.113.3", 1000, TUNNEL, 5353, "");
	assert_int_equal(wf_conntrack_dump(ct, AF_INET, &f, remember, &s), 0);
	assert_int_equal(s.n, 1);
	assert_non_null(find_from(&s, AF_INET, "203.0.113.1"));
	assert_int_equal(s.e[0].mark, 0x77660001);
}

static void test_dump_by_zone_lists_only_that_zone(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_filter f = {.has_zone = true, .zone = 7};
	struct seen s = {0};

	ct_insert("udp", "203.0.113.1", 1000, TUNNEL, 5353, "--zone 7");
	ct_insert("udp", "203.0.113.2", 1000, TUNNEL, 5353, "");
	assert_int_equal(wf_conntrack_dump(ct, AF_INET, &f, remember, &s), 0);
	assert_int_equal(s.n, 1);
	assert_non_null(find_from(&s, AF_INET, "203.0.113.1"));
	assert_int_equal(s.e[0].zone, 7);
}

static void test_dump_of_both_families_lists_each(void **state)
{
	struct wf_conntrack *ct = *state;
	struct seen s = {0};

	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "");
	ct_insert("tcp", "2001:db8:c::10", 51000, "fc00:0:0:160::2", 443, "");
	assert_int_equal(wf_conntrack_dump(ct, AF_UNSPEC, NULL, remember, &s), 0);
	assert_int_equal(s.n, 2);
	assert_non_null(find_from(&s, AF_INET, CLIENT));
	assert_non_null(find_from(&s, AF_INET6, "2001:db8:c::10"));
}

static void test_dump_by_status_lists_only_translated_entries(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_filter f = {.status = IPS_DST_NAT, .status_mask = IPS_DST_NAT};
	struct seen s = {0};

	ct_insert("udp", "203.0.113.1", 1000, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.2", 1000, TUNNEL, 5353, "");
	ct_insert("udp", "2001:db8:c::10", 1000, "fc00:0:0:160::2", 5353, "--dst-nat fd00:d0c::5");
	assert_int_equal(wf_conntrack_dump(ct, AF_UNSPEC, &f, remember, &s), 0);
	assert_int_equal(s.n, 2);
	assert_non_null(find_from(&s, AF_INET, "203.0.113.1"));
	assert_non_null(find_from(&s, AF_INET6, "2001:db8:c::10"));
}

static void test_dump_by_protocol_and_port_lists_only_those(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_filter f = {.l4proto = IPPROTO_UDP, .orig_dport = 5353};
	struct seen s = {0};

	ct_insert("udp", "203.0.113.1", 1000, TUNNEL, 5353, "");
	ct_insert("udp", "203.0.113.2", 1000, TUNNEL, 5354, "");
	ct_insert("tcp", "203.0.113.3", 1000, TUNNEL, 5353, "");
	assert_int_equal(wf_conntrack_dump(ct, AF_INET, &f, remember, &s), 0);
	assert_int_equal(s.n, 1);
	assert_non_null(find_from(&s, AF_INET, "203.0.113.1"));
	f.orig_dport = 0;
	s.n = 0;
	assert_int_equal(wf_conntrack_dump(ct, AF_INET, &f, remember, &s), 0);
	assert_int_equal(s.n, 2);
}

/* ---- deletes ---- */

static void test_deleting_a_missing_entry_gives_enoent(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_entry e = {.family = AF_INET, .l4proto = IPPROTO_UDP};

	e.orig.src = addr(AF_INET, CLIENT);
	e.orig.dst = addr(AF_INET, TUNNEL);
	e.orig.sport = 1;
	e.orig.dport = 2;
	assert_int_equal(wf_conntrack_delete(ct, &e), -ENOENT);
}

static void test_delete_with_another_id_spares_the_entry(void **state)
{
	struct wf_conntrack *ct = *state;
	struct seen s = {0};
	struct wf_ct_entry e;

	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "");
	assert_int_equal(wf_conntrack_dump(ct, AF_INET, NULL, remember, &s), 0);
	assert_int_equal(s.n, 1);
	e = s.e[0];
	e.id++;
	assert_int_equal(wf_conntrack_delete(ct, &e), -ENOENT);
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 1);
	assert_int_equal(wf_conntrack_delete(ct, &s.e[0]), 0);
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 0);
}

/* ---- flushing the entries of forwards that changed ---- */

static void test_flush_deletes_only_flows_translated_to_the_old_target(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = old_target(AF_INET, OLD_TGT);
	size_t deleted = 99;

	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.2", 40053, "192.0.2.1", 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.3", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	ct_insert("udp", "203.0.113.4", 40053, TUNNEL, 5354, "--dst-nat " OLD_TGT);
	ct_insert("tcp", "203.0.113.5", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	/* The server talking to the old target's address directly: nothing translated. */
	ct_insert("udp", "172.17.0.1", 40053, OLD_TGT, 5353, "");

	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.4 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.5 ", NULL), 1);
	assert_int_equal(ct_listed("src=172.17.0.1 ", NULL), 1);
}

static void test_flush_for_a_new_forward_deletes_only_untranslated_unanswered_flows(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = new_forward(AF_INET, TUNNEL);
	size_t deleted = 0;

	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "");
	ct_insert("udp", "203.0.113.2", 40053, TUNNEL, 5353, "--status SEEN_REPLY");
	ct_insert("udp", "203.0.113.3", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.4", 40053, "192.168.160.9", 5353, "");
	ct_insert("udp", "203.0.113.5", 40053, TUNNEL, 53, "");

	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.4 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.5 ", NULL), 1);
}

static void test_flush_reaches_entries_in_other_zones(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = old_target(AF_INET, OLD_TGT);
	size_t deleted = 0;

	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--zone 7 --dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	assert_int_equal(ct_listed("src=203.0.113.1 ", "zone=7"), 1);

	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", "zone=7"), 0);
	assert_int_equal(ct_listed("src=203.0.113.1 ", "src=" NEW_TGT), 1);
}

static void test_flush_of_ipv6_flows_leaves_ipv4_alone(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m[] = {old_target(AF_INET6, "fd00:d0c::5"),
	                          new_forward(AF_INET6, "fc00:0:0:160::2")};
	size_t deleted = 0;

	ct_insert("udp", "2001:db8:c::10", 40053, "fc00:0:0:160::2", 5353, "--dst-nat fd00:d0c::5");
	ct_insert("udp", "2001:db8:c::11", 40053, "fc00:0:0:160::2", 5353, "");
	ct_insert("udp", "2001:db8:c::12", 40053, "fc00:0:0:160::2", 5353, "--dst-nat fd00:d0c::6");
	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "");

	assert_int_equal(wf_conntrack_flush_forwards(ct, m, 2, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::12 ", NULL), 1);
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 1);
	/* the entry that probed the kernel's IPv6 filter is gone */
	assert_int_equal(ct_listed("src=100::1 ", NULL), 0);
	assert_int_equal(ct_listed("mark=2003202150", NULL), 0);
}

static void test_flush_of_both_families_deletes_the_flows_of_each(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m[] = {old_target(AF_INET6, "fd00:d0c::5"), old_target(AF_INET, OLD_TGT),
	                          new_forward(AF_INET, TUNNEL)};
	size_t deleted = 0;

	ct_insert("udp", "2001:db8:c::10", 40053, "fc00:0:0:160::2", 5353, "--dst-nat fd00:d0c::5");
	ct_insert("udp", "2001:db8:c::11", 40053, "fc00:0:0:160::2", 5353, "");
	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.2", 40053, TUNNEL, 5353, "");
	ct_insert("udp", "203.0.113.3", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);

	assert_int_equal(wf_conntrack_flush_forwards(ct, m, 3, &deleted), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 1);
}

/* IPv4 and IPv6 matches in one search, where the kernel's IPv6 address filter may be wrong
 * (6.18): the IPv4 ones are still a filtered delete, and only what the kernel cannot take is
 * left to a dump (none where its filter is right). */
static void test_flush_of_mixed_matches_deletes_in_the_kernel_what_it_can(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m[] = {old_target(AF_INET6, "fd00:d0c::5"),
	                          old_target(AF_INET, OLD_TGT)};
	struct wf_ct_stats st;
	size_t deleted = 0;

	sh("for i in $(seq 1 40); do conntrack -I -p udp -s 203.0.113.$i --sport 40053 -d " TUNNEL
	   " --dport 5353 -t 300 --dst-nat " OLD_TGT " >/dev/null 2>&1; done");
	ct_insert("udp", "203.0.113.200", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	ct_insert("udp", "2001:db8:c::10", 40053, "fc00:0:0:160::2", 5353, "--dst-nat fd00:d0c::5");
	ct_insert("udp", "2001:db8:c::11", 40053, "fc00:0:0:160::2", 5353, "--dst-nat fd00:d0c::6");
	assert_int_equal(ct_listed("src=" OLD_TGT " ", NULL), 40);

	assert_int_equal(wf_conntrack_flush_forwards(ct, m, 2, &deleted), 0);
	assert_int_equal(deleted, 41);
	assert_int_equal(ct_listed("src=" OLD_TGT " ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.200 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 1);
	wf_conntrack_stats(ct, &st);
	assert_int_equal(st.searched, 1);
	assert_int_equal(st.kernel_deletes, 1);
	assert_true(st.dumps <= 1);
}

/* More entries than one send of deletes carries: every one goes, and only those. */
static void test_flush_of_many_flows_deletes_each(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = old_target(AF_INET, OLD_TGT);
	size_t deleted = 0;

	sh("for i in $(seq 1 150); do conntrack -I -p udp -s 203.0.113.$((i %% 100 + 1)) "
	   "--sport $((30000 + i)) -d " TUNNEL " --dport 5353 -t 300 --dst-nat " OLD_TGT
	   " >/dev/null 2>&1; done");
	ct_insert("udp", "203.0.113.200", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	assert_int_equal(ct_listed("dport=5353 ", "src=" OLD_TGT " "), 150);
	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 150);
	assert_int_equal(ct_listed("dport=5353 ", "src=" OLD_TGT " "), 0);
	assert_int_equal(ct_listed("src=203.0.113.200 ", NULL), 1);
}

/* The same search by one dump, as a kernel that refuses filtered deletes gets it, and as more
 * matches than WF_CT_KERNEL_FLUSH_MAX get it. */
static void test_flush_by_a_dump_deletes_the_same_flows(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = old_target(AF_INET, OLD_TGT);
	size_t deleted = 99;

	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.3", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	ct_insert("udp", "203.0.113.4", 40053, TUNNEL, 5354, "--dst-nat " OLD_TGT);
	wf_conntrack_set_kernel_flush(ct, false);
	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.4 ", NULL), 1);
}

static void test_flush_of_more_matches_than_the_kernel_takes_deletes_each(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m[WF_CT_KERNEL_FLUSH_MAX + 1];
	size_t deleted = 0;

	for (size_t i = 0; i < WF_ARRAY_SIZE(m); i++) {
		m[i] = old_target(AF_INET, OLD_TGT);
		m[i].orig_dport = (uint16_t)(6000 + i);
		m[i].reply_sport = m[i].orig_dport;
		sh("conntrack -I -p udp -s 203.0.113.1 --sport 40053 -d " TUNNEL
		   " --dport %zu -t 300 --dst-nat " OLD_TGT ":%zu >/dev/null 2>&1",
		   6000 + i, 6000 + i);
	}
	ct_insert("udp", "203.0.113.2", 40053, TUNNEL, 6000, "--dst-nat " NEW_TGT);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), (int)WF_ARRAY_SIZE(m));
	assert_int_equal(wf_conntrack_flush_forwards(ct, m, WF_ARRAY_SIZE(m), &deleted), 0);
	assert_int_equal(deleted, WF_ARRAY_SIZE(m));
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 1);
}

static void test_flush_of_no_matches_deletes_nothing(void **state)
{
	struct wf_conntrack *ct = *state;
	size_t deleted = 99;

	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "");
	assert_int_equal(wf_conntrack_flush_forwards(ct, NULL, 0, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 1);
}

static void test_flush_refuses_a_match_without_a_port_and_deletes_nothing(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m[] = {old_target(AF_INET, OLD_TGT), old_target(AF_INET, OLD_TGT)};
	size_t deleted = 99;

	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	m[1].orig_dport = 0;
	assert_int_equal(wf_conntrack_flush_forwards(ct, m, 2, &deleted), -EINVAL);
	assert_int_equal(deleted, 0);
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 1);
}

/* ---- when the kernel is not walked ---- */

/* How many of this process's file descriptors are open to a path ending in `tail'. */
static int fds_open_to(const char *tail)
{
	char link[300], target[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		ssize_t len;
		size_t tl = strlen(tail);

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n += (size_t)len >= tl && !strcmp(target + len - tl, tail);
	}
	closedir(d);
	return n;
}

static void test_the_count_is_what_the_namespace_holds(void **state)
{
	struct wf_conntrack *ct = *state;
	unsigned long count = 99;

	assert_int_equal(wf_conntrack_count(ct, &count), 0);
	assert_int_equal(count, 0);
	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "");
	ct_insert("tcp", "2001:db8:c::10", 51000, "fc00:0:0:160::2", 443, "");
	assert_int_equal(wf_conntrack_count(ct, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(ct_listed("src=", NULL), 2);
	sh("conntrack -F >/dev/null 2>&1");
	assert_int_equal(wf_conntrack_count(ct, &count), 0);
	assert_int_equal(count, 0);
	/* each read from the one file kept open */
	assert_int_equal(fds_open_to("/nf_conntrack_count"), 1);
}

static void test_a_search_in_an_empty_namespace_is_skipped_and_one_with_a_flow_is_run(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = old_target(AF_INET, OLD_TGT);
	struct wf_ct_stats st;
	size_t deleted = 99;

	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 0);
	wf_conntrack_stats(ct, &st);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.searched, 0);

	/* One stale flow is enough for the walk, and it goes. */
	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	wf_conntrack_stats(ct, &st);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.searched, 1);

	/* An entry of no forward is no proof either: searched, and left. */
	ct_insert("tcp", "203.0.113.2", 40053, TUNNEL, 443, "");
	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 1);
	wf_conntrack_stats(ct, &st);
	assert_int_equal(st.searched, 2);
}

static void test_a_count_that_cannot_be_read_means_a_search(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m = old_target(AF_INET, OLD_TGT);
	struct wf_ct_stats st;
	size_t deleted = 99;

	wf_conntrack_set_count_path(ct, "/proc/sys/net/netfilter/no_such_count");
	assert_true(wf_ct_search_needed(ct));
	assert_int_equal(wf_conntrack_flush_forwards(ct, &m, 1, &deleted), 0);
	wf_conntrack_stats(ct, &st);
	assert_int_equal(st.searched, 1);
	assert_int_equal(st.skipped, 0);
}

/* ---- real traffic ---- */

static int udp_socket(const char *addr_text, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, addr_text, &sin.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void udp_send(int fd, const char *addr_text, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	assert_int_equal(inet_pton(AF_INET, addr_text, &sin.sin_addr), 1);
	assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)), 1);
}

/* Flows the kernel tracked itself: one translated by a DNAT rule, one to a port nobody listens
 * on (refused with ICMP, which is no answer), one answered by a service. */
static void test_flush_of_flows_the_kernel_tracked_from_real_traffic(void **state)
{
	struct wf_conntrack *ct = *state;
	struct wf_ct_match m[] = {old_target(AF_INET, "127.0.0.1"),
	                          new_forward(AF_INET, "127.0.0.1"),
	                          new_forward(AF_INET, "127.0.0.3")};
	struct sockaddr_in peer;
	socklen_t peer_len = sizeof(peer);
	char byte;
	size_t deleted = 0;
	int client, service;

	sh("nft -f - <<'EOF'\n"
	   "table ip wfct {\n"
	   "  chain out { type nat hook output priority -100; udp dport 7000 dnat to "
	   "127.0.0.1:5353; }\n"
	   "}\n"
	   "EOF");
	/* Public port 7000, translated to 127.0.0.1:5353. */
	m[0].orig_dport = 7000;
	client = udp_socket("127.0.0.1", 40053);
	udp_send(client, "127.0.0.2", 7000);
	close(client);
	client = udp_socket("127.0.0.1", 40054);
	udp_send(client, "127.0.0.1", 5353);
	close(client);
	service = udp_socket("127.0.0.3", 5353);
	client = udp_socket("127.0.0.1", 40055);
	udp_send(client, "127.0.0.3", 5353);
	assert_int_equal(recvfrom(service, &byte, 1, 0, (struct sockaddr *)&peer, &peer_len), 1);
	assert_int_equal(sendto(service, &byte, 1, 0, (struct sockaddr *)&peer, peer_len), 1);
	assert_int_equal(recv(client, &byte, 1, 0), 1);
	assert_int_equal(ct_listed("sport=40053 ", "dport=7000 "), 1);
	assert_int_equal(ct_listed("sport=40054 ", "[UNREPLIED]"), 1);
	assert_int_equal(ct_listed("sport=40055 ", NULL), 1);

	assert_int_equal(wf_conntrack_flush_forwards(ct, m, 3, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("sport=40053 ", NULL), 0);
	assert_int_equal(ct_listed("sport=40054 ", NULL), 0);
	assert_int_equal(ct_listed("sport=40055 ", NULL), 1);
	close(client);
	close(service);
}

/* ---- a burst of changes, searched for once ---- */

static struct wf_forward server_forward(uint8_t proto, const char *target)
{
	struct wf_forward f = {.proto = proto, .public_port = 5353, .target_port = 5353};

	if (target) {
		f.has_ip4 = true;
		f.ip4 = addr(AF_INET, target).ip4;
	}
	return f;
}

static void server_applied(struct wf_ct_flush *f, const struct wf_server_params *p,
                           struct wf_forward *fw, size_t n, int pending)
{
	struct wf_desired d = {.forwards = fw, .n_forwards = n};
	struct wf_ct_orig_dsts dsts;

	wf_server_ct_orig_dsts(p, NULL, 0, &dsts);
	assert_int_equal(wf_ct_flush_note(f, p, &dsts, &d), pending);
}

/* The agent's path: a forward moves to another container and back within one burst. The flows
 * that went to the other one meanwhile go; those of the target it has again stay. */
static void test_server_burst_spares_the_target_a_forward_has_again(void **state)
{
	struct wf_server_params p;
	struct wf_forward old_fw = server_forward(IPPROTO_UDP, OLD_TGT),
	                  new_fw = server_forward(IPPROTO_UDP, NEW_TGT);
	struct wf_ct_flush *f;
	size_t deleted = 99;

	wf_server_params_default(&p);
	p.has_tunnel_ip4 = true;
	p.tunnel_ip4 = addr(AF_INET, TUNNEL).ip4;
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	server_applied(f, &p, &old_fw, 1, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 0);

	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.2", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	ct_insert("udp", "203.0.113.3", 40053, TUNNEL, 5353, "");
	server_applied(f, &p, &new_fw, 1, 2);
	server_applied(f, &p, &old_fw, 1, 4);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 2);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 0);
	/* Nothing stays pending. */
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 0);
	assert_int_equal(deleted, 0);
	wf_ct_flush_free(f);
}

static void test_server_tcp_forward_that_appears_asks_the_kernel_nothing(void **state)
{
	struct wf_server_params p;
	struct wf_forward tcp = server_forward(IPPROTO_TCP, OLD_TGT);
	struct wf_ct_flush *f;
	size_t deleted = 99;

	wf_server_params_default(&p);
	p.has_tunnel_ip4 = true;
	p.tunnel_ip4 = addr(AF_INET, TUNNEL).ip4;
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	server_applied(f, &p, &tcp, 1, 0);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 0);
	/* When it goes, its flows do. */
	ct_insert("tcp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	server_applied(f, &p, NULL, 0, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	wf_ct_flush_free(f);
}

/* The same burst as the agent notes it: each change as its diff, against the state it keeps
 * and changes in place; the search prunes against that state as it is when it runs. */
static void noted(struct wf_ct_flush *f, const struct wf_server_params *p, struct wf_desired *held,
                  struct wf_forward *fw, size_t n, int pending)
{
	struct wf_desired now = {.forwards = fw, .n_forwards = n};
	struct wf_desired_diff diff;
	struct wf_ct_orig_dsts dsts;

	assert_int_equal(wf_desired_diff(held, &now, &diff), 0);
	held->forwards = fw;
	held->n_forwards = n;
	wf_server_ct_orig_dsts(p, NULL, 0, &dsts);
	assert_int_equal(wf_ct_flush_note_changes(f, p, &dsts, &diff, held), pending);
	wf_desired_diff_free(&diff);
}

static void test_server_noted_changes_spare_the_target_the_state_has_again(void **state)
{
	struct wf_server_params p;
	struct wf_forward old_fw = server_forward(IPPROTO_UDP, OLD_TGT),
	                  new_fw = server_forward(IPPROTO_UDP, NEW_TGT), both[2];
	struct wf_desired held = {0};
	struct wf_ct_flush *f;
	size_t deleted = 99;

	wf_server_params_default(&p);
	p.has_tunnel_ip4 = true;
	p.tunnel_ip4 = addr(AF_INET, TUNNEL).ip4;
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	noted(f, &p, &held, &old_fw, 1, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 0);

	ct_insert("udp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	ct_insert("udp", "203.0.113.2", 40053, TUNNEL, 5353, "--dst-nat " NEW_TGT);
	ct_insert("udp", "203.0.113.3", 40053, TUNNEL, 5353, "");
	noted(f, &p, &held, &new_fw, 1, 2);
	noted(f, &p, &held, &old_fw, 1, 4);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 2);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 0);
	/* A change with nothing to look for (a TCP forward appearing) asks the kernel nothing. */
	both[0] = server_forward(IPPROTO_TCP, OLD_TGT);
	both[1] = old_fw;
	noted(f, &p, &held, both, 2, 0);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 0);
	wf_ct_flush_free(f);
}

static struct wf_forward server_forward6(uint8_t proto, const char *target)
{
	struct wf_forward f = {.proto = proto, .public_port = 5353, .target_port = 5353};

	f.has_ip6 = true;
	f.ip6 = addr(AF_INET6, target).ip6;
	return f;
}

static void server_params6(struct wf_server_params *p)
{
	wf_server_params_default(p);
	p->has_tunnel_ip6 = true;
	p->tunnel_ip6 = addr(AF_INET6, "fc00:0:0:160::2").ip6;
}

/* A container stops and its IPv6 port goes with it: the search narrows to the agent's own
 * marks and leaves the addresses out (this kernel's IPv6 address filter may be wrong), so what
 * it deletes must still be only the translated flows of that port, answering from its old
 * target port, that the agent's rules marked. */
static void test_server_ipv6_port_gone_deletes_only_its_marked_translated_flows(void **state)
{
	struct wf_server_params p;
	struct wf_forward fw = server_forward6(IPPROTO_UDP, "fd00:d0c::5");
	struct wf_desired held = {0};
	struct wf_ct_flush *f;
	size_t deleted = 99;
	char fwmark[64], hairpin[64];

	(void)state;
	server_params6(&p);
	snprintf(fwmark, sizeof(fwmark), "--mark %u --dst-nat fd00:d0c::5", p.fwmark);
	snprintf(hairpin, sizeof(hairpin), "--mark %u --dst-nat fd00:d0c::5", p.hairpin_mark);
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	noted(f, &p, &held, &fw, 1, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	ct_insert("udp", "2001:db8:c::10", 40053, "fc00:0:0:160::2", 5353, fwmark);
	ct_insert("udp", "2001:db8:c::11", 40053, "2001:db8:1::1", 5353, hairpin);
	/* another mark: not a flow the agent's rules translated */
	ct_insert("udp", "2001:db8:c::12", 40053, "fc00:0:0:160::2", 5353,
	          "--mark 4660 --dst-nat fd00:d0c::5");
	/* another public port, and another target port */
	ct_insert("udp", "2001:db8:c::13", 40053, "fc00:0:0:160::2", 5354, fwmark);
	ct_insert("udp", "2001:db8:c::14", 40053, "fc00:0:0:160::2", 5353,
	          "--dst-nat [fd00:d0c::5]:6000");
	/* untranslated, and the same port of IPv4 */
	ct_insert("udp", "2001:db8:c::15", 40053, "fc00:0:0:160::2", 5353, "");
	ct_insert("udp", CLIENT, 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	assert_int_equal(ct_listed("src=2001:db8:c::1", NULL), 6);

	noted(f, &p, &held, NULL, 0, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::12 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::13 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::14 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::15 ", NULL), 1);
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 1);
	wf_ct_flush_free(f);
}

/* Marks one filter covers (a hairpin mark one bit from the fwmark): the same search is one
 * filtered delete by value and mask, and still leaves the flows of every other mark. */
static void test_server_ipv6_port_gone_with_covered_marks_is_one_delete(void **state)
{
	struct wf_server_params p;
	struct wf_forward fw = server_forward6(IPPROTO_UDP, "fd00:d0c::5");
	struct wf_desired held = {0};
	struct wf_ct_stats st;
	struct wf_ct_flush *f;
	size_t deleted = 99;
	char nat[4][64];

	(void)state;
	server_params6(&p);
	p.hairpin_mark = p.fwmark | 2;
	for (int i = 0; i < 4; i++)
		snprintf(nat[i], sizeof(nat[i]), "--mark %u --dst-nat fd00:d0c::5",
		         (p.fwmark & ~3u) | (unsigned)i);
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	noted(f, &p, &held, &fw, 1, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	for (int i = 0; i < 4; i++) {
		char src[32];

		snprintf(src, sizeof(src), "2001:db8:c::%d", 10 + i);
		ct_insert("udp", src, 40053, "fc00:0:0:160::2", 5353, nat[i]);
	}
	assert_int_equal(ct_listed("src=2001:db8:c::1", NULL), 4);
	noted(f, &p, &held, NULL, 0, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::12 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::13 ", NULL), 0);
	assert_int_equal(deleted, 2);
	wf_ct_flush_stats(f, &st);
	assert_int_equal(st.dumps, 0);
	wf_ct_flush_free(f);
}

/* A forward that moves keeps its port: the flows of its new target, marked and answering from
 * the same port as the old one's, are told apart by address alone, so they must stay. TCP, so
 * that the move's only match is the old target's (a UDP forward's arrival would look for
 * untranslated flows by address, which takes the dump anyway). */
static void test_server_ipv6_forward_still_in_place_keeps_its_flows(void **state)
{
	struct wf_server_params p;
	struct wf_forward old_fw = server_forward6(IPPROTO_TCP, "fd00:d0c::5"),
	                  new_fw = server_forward6(IPPROTO_TCP, "fd00:d0c::6");
	struct wf_desired held = {0};
	struct wf_ct_flush *f;
	size_t deleted = 99;
	char old_nat[64], new_nat[64];

	(void)state;
	server_params6(&p);
	snprintf(old_nat, sizeof(old_nat), "--mark %u --dst-nat fd00:d0c::5", p.fwmark);
	snprintf(new_nat, sizeof(new_nat), "--mark %u --dst-nat fd00:d0c::6", p.fwmark);
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	noted(f, &p, &held, &old_fw, 1, 0);
	ct_insert("tcp", "2001:db8:c::10", 40053, "fc00:0:0:160::2", 5353, old_nat);
	ct_insert("tcp", "2001:db8:c::11", 40053, "fc00:0:0:160::2", 5353, new_nat);

	noted(f, &p, &held, &new_fw, 1, 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 1);
	wf_ct_flush_free(f);
}

/* A restart: the container stops (its removal's match pending, the search due) and starts
 * again with the forward the same way. The settle after that apply drops the match and the
 * search is moot: the kernel is not asked, and the flow stays. */
static void test_server_restart_the_same_way_asks_the_kernel_nothing(void **state)
{
	struct wf_server_params p;
	struct wf_forward fw = server_forward(IPPROTO_TCP, OLD_TGT);
	struct wf_desired held = {0};
	struct wf_ct_stats st;
	struct wf_ct_flush *f;
	size_t deleted = 99;

	(void)state;
	wf_server_params_default(&p);
	p.has_tunnel_ip4 = true;
	p.tunnel_ip4 = addr(AF_INET, TUNNEL).ip4;
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	noted(f, &p, &held, &fw, 1, 0);
	assert_int_equal(wf_ct_flush_settle(f, &p), 0);
	ct_insert("tcp", "203.0.113.1", 40053, TUNNEL, 5353, "--dst-nat " OLD_TGT);
	noted(f, &p, &held, NULL, 0, 1);
	assert_int_equal(wf_ct_flush_settle(f, &p), 1);
	noted(f, &p, &held, &fw, 1, 1);
	assert_int_equal(wf_ct_flush_settle(f, &p), 0);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 0);
	assert_int_equal(deleted, 0);
	wf_ct_flush_stats(f, &st);
	assert_int_equal(st.searched, 0);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(st.moot, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 1);

	/* The same stop, staying: its search runs and the flow goes. */
	noted(f, &p, &held, NULL, 0, 1);
	assert_int_equal(wf_ct_flush_settle(f, &p), 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	wf_ct_flush_stats(f, &st);
	assert_int_equal(st.searched, 1);
	assert_int_equal(st.moot, 1);
	wf_ct_flush_free(f);
}

/* The container comes back with its IPv6 port at another address. At the stop's settle the
 * port was gone, so the search could have left the addresses out; it runs after the start,
 * with the port held again, and must still tell the old target's flows from the new one's by
 * address. */
static void test_server_forward_back_at_another_target_loses_only_its_old_flows(void **state)
{
	struct wf_server_params p;
	struct wf_forward old_fw = server_forward6(IPPROTO_TCP, "fd00:d0c::5"),
	                  new_fw = server_forward6(IPPROTO_TCP, "fd00:d0c::6");
	struct wf_desired held = {0};
	struct wf_ct_stats st;
	struct wf_ct_flush *f;
	size_t deleted = 99;
	char old_nat[64], new_nat[64];

	(void)state;
	server_params6(&p);
	snprintf(old_nat, sizeof(old_nat), "--mark %u --dst-nat fd00:d0c::5", p.fwmark);
	snprintf(new_nat, sizeof(new_nat), "--mark %u --dst-nat fd00:d0c::6", p.fwmark);
	assert_int_equal(wf_ct_flush_new(NULL, &f), 0);
	noted(f, &p, &held, &old_fw, 1, 0);
	ct_insert("tcp", "2001:db8:c::10", 40053, "fc00:0:0:160::2", 5353, old_nat);
	ct_insert("tcp", "2001:db8:c::11", 40053, "fc00:0:0:160::2", 5353, new_nat);
	noted(f, &p, &held, NULL, 0, 1);
	assert_int_equal(wf_ct_flush_settle(f, &p), 1);
	noted(f, &p, &held, &new_fw, 1, 1);
	assert_int_equal(wf_ct_flush_settle(f, &p), 1);
	assert_int_equal(wf_ct_flush_run(f, &p, &deleted), 1);
	assert_int_equal(deleted, 1);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 1);
	wf_ct_flush_stats(f, &st);
	assert_int_equal(st.moot, 0);
	wf_ct_flush_free(f);
}

/* The engine's view of the gateway: the state in place when the search runs. */
struct gateway_now {
	const struct wf_gw_config *cfg;
	const struct wf_gw_state *state;
	struct event_base *base;
	int searches, looked_for;
	size_t deleted;
};

static size_t gateway_prune(void *arg, struct wf_ct_match *m, size_t n)
{
	struct gateway_now *now = arg;

	return wf_gw_ct_prune(now->cfg, now->state, m, n);
}

static void gateway_flushed(void *arg, int looked_for, size_t deleted)
{
	struct gateway_now *now = arg;

	now->searches++;
	now->looked_for = looked_for;
	now->deleted = deleted;
	event_base_loopbreak(now->base);
}

/* A gateway whose peer 0 forwards UDP 5353 of 192.0.2.1 (state `with') or nothing (`without'),
 * its search engine deleting in the kernel, and one flow translated to the peer. */
struct udp_gateway {
	struct wf_ctl_forward udp;
	struct wf_gw_peer peer;
	struct wf_gw_config cfg;
	struct wf_gw_params p;
	struct wf_gw_entries held, none;
	struct wf_gw_state with, without;
	struct gateway_now now;
	struct wf_ct_stale *engine;
};

static void gateway_start(struct udp_gateway *g, bool forwarding, uint8_t proto)
{
	static const struct wf_ct_stale_ops ops = {.prune = gateway_prune,
	                                           .flushed = gateway_flushed};

	memset(g, 0, sizeof(*g));
	g->udp = (struct wf_ctl_forward){
	    .family = AF_INET, .proto = proto, .public_port = 5353, .target_port = 5353};
	g->peer = (struct wf_gw_peer){.has_ip4 = true, .ip4 = addr(AF_INET, TUNNEL).ip4};
	g->cfg = (struct wf_gw_config){.peers = &g->peer, .n_peers = 1};
	g->p.n_public_ip4 = 1;
	g->p.public_ip4[0] = addr(AF_INET, "192.0.2.1").ip4;
	g->held = (struct wf_gw_entries){.forwards = &g->udp, .n_forwards = 1};
	g->with = (struct wf_gw_state){.peers = &g->held, .n_peers = 1};
	g->without = (struct wf_gw_state){.peers = &g->none, .n_peers = 1};
	g->now.cfg = &g->cfg;
	g->now.state = forwarding ? &g->with : &g->without;
	g->now.base = event_base_new();
	assert_non_null(g->now.base);
	assert_int_equal(wf_ct_stale_new(g->now.base, &ops, &g->now, &g->engine), 0);
	wf_ct_stale_set_kernel_flush(g->engine, true);
	ct_insert(proto == IPPROTO_TCP ? "tcp" : "udp", "203.0.113.1", 40053, "192.0.2.1", 5353,
	          "--dst-nat " TUNNEL);
}

static void udp_gateway_start(struct udp_gateway *g, bool forwarding)
{
	gateway_start(g, forwarding, IPPROTO_UDP);
}

/* Notes the change from state A to B as the gateway does, before its state holds B; returns
 * what is pending. */
static int udp_gateway_change(struct udp_gateway *g, const struct wf_gw_state *a,
                              const struct wf_gw_state *b)
{
	struct wf_ct_match *m;
	size_t n;
	int pending;

	assert_int_equal(wf_gw_ct_matches(&g->p, &g->cfg, a, b, &m, &n), 0);
	pending = wf_ct_stale_note(g->engine, m, n);
	free(m);
	return pending;
}

/* The gateway's path: peer 0 lets a UDP port go, and takes it back within one burst. */
static void test_gateway_burst_searches_once_for_what_the_state_left_stale(void **state)
{
	struct udp_gateway g;
	double t0;

	(void)state;
	udp_gateway_start(&g, true);
	ct_insert("udp", "203.0.113.2", 40053, "192.0.2.1", 5353, "");
	ct_insert("udp", "203.0.113.3", 40053, "192.0.2.1", 5354, "");
	t0 = now_ms();
	/* The forward goes (a search due in WF_CT_REMOVED_DELAY_MS), then comes back: the
	 * refused flows' search is due sooner, and takes the removal's along. */
	assert_int_equal(udp_gateway_change(&g, &g.with, &g.without), 1);
	assert_int_equal(udp_gateway_change(&g, &g.without, &g.with), 2);
	/* Nothing is searched for until the burst has had its time. */
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 1);
	assert_int_equal(event_base_dispatch(g.now.base), 0);
	assert_true(now_ms() - t0 < WF_CT_REMOVED_DELAY_MS / 2);

	/* One search; translated flows are right again, refused ones get their chance. */
	assert_int_equal(g.now.searches, 1);
	assert_int_equal(g.now.looked_for, 1);
	assert_int_equal(g.now.deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 1);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.3 ", NULL), 1);
	/* Nothing stays pending: the next note starts a new burst. */
	assert_int_equal(wf_ct_stale_note(g.engine, NULL, 0), 0);
	wf_ct_stale_free(g.engine);
	assert_int_equal(g.now.searches, 1);
	event_base_free(g.now.base);
}

/* A removal alone waits for a restart to take the forward back: when none comes, the search
 * runs after WF_CT_REMOVED_DELAY_MS and deletes the flows. */
static void test_gateway_removal_alone_is_searched_for_after_its_delay(void **state)
{
	struct udp_gateway g;
	double t0;

	(void)state;
	udp_gateway_start(&g, false);
	t0 = now_ms();
	assert_int_equal(udp_gateway_change(&g, &g.with, &g.without), 1);
	assert_int_equal(event_base_dispatch(g.now.base), 0);
	assert_true(now_ms() - t0 >= WF_CT_REMOVED_DELAY_MS - 10);
	assert_int_equal(g.now.searches, 1);
	assert_int_equal(g.now.looked_for, 1);
	assert_int_equal(g.now.deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	wf_ct_stale_free(g.engine);
	event_base_free(g.now.base);
}

/* A gateway's state moves to `to' as it does after a change is in: the settle noted with it
 * runs once the loop turns. */
static void gateway_changed(struct udp_gateway *g, const struct wf_gw_state *to)
{
	g->now.state = to;
	assert_int_equal(event_base_loop(g->now.base, EVLOOP_NONBLOCK), 0);
}

/* A peer's container restarts: its TCP forward goes, then comes back the same way. The start's
 * settle drops the removal's match; the search due in WF_CT_REMOVED_DELAY_MS is cancelled, and
 * the kernel is never asked. */
static void test_gateway_restart_the_same_way_asks_the_kernel_nothing(void **state)
{
	struct udp_gateway g;
	struct wf_ct_stats st;
	double t0;

	(void)state;
	gateway_start(&g, true, IPPROTO_TCP);
	t0 = now_ms();
	assert_int_equal(udp_gateway_change(&g, &g.with, &g.without), 1);
	gateway_changed(&g, &g.without);
	assert_int_equal(g.now.searches, 0);
	assert_int_equal(udp_gateway_change(&g, &g.without, &g.with), 1);
	gateway_changed(&g, &g.with);
	/* Nothing is left to wait for. */
	assert_int_equal(event_base_dispatch(g.now.base), 1);
	assert_true(now_ms() - t0 < WF_CT_REMOVED_DELAY_MS / 2);
	wf_ct_stale_stats(g.engine, &st);
	assert_int_equal(st.searched, 0);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(st.moot, 1);
	/* told that the pending search went without a look */
	assert_int_equal(g.now.searches, 1);
	assert_int_equal(g.now.looked_for, 0);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 1);
	wf_ct_stale_free(g.engine);
	event_base_free(g.now.base);
}

/* The forward comes back to another target port: the old one's flows still go, after the
 * removal's delay. */
static void test_gateway_forward_back_at_another_target_still_loses_its_flows(void **state)
{
	struct udp_gateway g;
	struct wf_ctl_forward moved;
	struct wf_gw_entries held_moved;
	struct wf_gw_state with_moved;
	struct wf_ct_stats st;
	double t0;

	(void)state;
	gateway_start(&g, true, IPPROTO_TCP);
	moved = g.udp;
	moved.target_port = 6000;
	held_moved = (struct wf_gw_entries){.forwards = &moved, .n_forwards = 1};
	with_moved = (struct wf_gw_state){.peers = &held_moved, .n_peers = 1};
	ct_insert("tcp", "203.0.113.2", 40053, "192.0.2.1", 5353, "--dst-nat " TUNNEL ":6000");
	t0 = now_ms();
	assert_int_equal(udp_gateway_change(&g, &g.with, &g.without), 1);
	gateway_changed(&g, &g.without);
	assert_int_equal(udp_gateway_change(&g, &g.without, &with_moved), 1);
	gateway_changed(&g, &with_moved);
	assert_int_equal(event_base_dispatch(g.now.base), 0);
	assert_true(now_ms() - t0 >= WF_CT_REMOVED_DELAY_MS - 10);
	assert_int_equal(g.now.searches, 1);
	assert_int_equal(g.now.looked_for, 1);
	assert_int_equal(g.now.deleted, 1);
	assert_int_equal(ct_listed("src=203.0.113.1 ", NULL), 0);
	assert_int_equal(ct_listed("src=203.0.113.2 ", NULL), 1);
	wf_ct_stale_stats(g.engine, &st);
	assert_int_equal(st.searched, 1);
	assert_int_equal(st.moot, 0);
	wf_ct_stale_free(g.engine);
	event_base_free(g.now.base);
}

static void gateway_narrow(void *arg, struct wf_ct_match *m, size_t n)
{
	struct gateway_now *now = arg;

	wf_gw_ct_narrow(now->cfg, now->state, m, n);
}

/* Two peers and one IPv6 UDP forward, for the gateway's narrowed search. */
struct gateway_v6 {
	struct wf_ctl_forward udp;
	struct wf_gw_peer peers[2];
	struct wf_gw_config cfg;
	struct wf_ct_stale *engine;
};

static const struct wf_ct_stale_ops gateway_v6_ops = {
    .prune = gateway_prune, .narrow = gateway_narrow, .flushed = gateway_flushed};

static void gateway_v6_start(struct gateway_v6 *g, struct gateway_now *now)
{
	*g = (struct gateway_v6){
	    .udp = {.family = AF_INET6,
	            .proto = IPPROTO_UDP,
	            .public_port = 5353,
	            .target_port = 5353},
	    .peers = {{.has_ip6 = true, .ip6 = addr(AF_INET6, "fc00:0:0:160::2").ip6},
	              {.has_ip6 = true, .ip6 = addr(AF_INET6, "fc00:0:0:160::3").ip6}}};
	g->cfg = (struct wf_gw_config){.peers = g->peers, .n_peers = 2};
	now->cfg = &g->cfg;
	assert_int_equal(wf_ct_stale_new(NULL, &gateway_v6_ops, now, &g->engine), 0);
	wf_ct_stale_set_kernel_flush(g->engine, true);
}

/* An IPv6 flow from 2001:db8:c::CLIENT to the gateway's public 2001:db8:1::1 port DPORT,
 * translated to peer fc00:0:0:160::PEER at port TARGET, with conntrack mark MARK. */
static void gateway_v6_flow(int client, int dport, unsigned mark, int peer, int target)
{
	char src[32], nat[96];

	snprintf(src, sizeof(src), "2001:db8:c::%d", client);
	snprintf(nat, sizeof(nat), "--mark %u --dst-nat [fc00:0:0:160::%d]:%d", mark, peer, target);
	ct_insert("udp", src, 40053, "2001:db8:1::1", dport, nat);
}

/* A peer lets an IPv6 port go that no other peer holds: the gateway's search names its own mark
 * bit and leaves the addresses out (this kernel's IPv6 address filter may be wrong), so it is
 * one filtered delete and no dump, and what it deletes is still only the flows the gateway's
 * rules translated to that port, answering from its old target port: not an unmarked flow of
 * the same ports (Docker's DNAT on the VPS, or a flow from before the gateway marked its own). */
static void test_gateway_ipv6_port_gone_deletes_only_its_marked_flows_without_a_dump(void **state)
{
	struct gateway_v6 g;
	struct gateway_now now;
	struct wf_gw_params p = {.n_public_ip6 = 1};
	struct wf_gw_entries held[2] = {{.n_forwards = 1}}, none[2] = {{0}};
	struct wf_gw_state with = {.peers = held, .n_peers = 2},
	                   without = {.peers = none, .n_peers = 2};
	struct wf_ct_match *m;
	struct wf_ct_stats st;
	size_t n, deleted = 99;

	(void)state;
	now = (struct gateway_now){.state = &without};
	gateway_v6_start(&g, &now);
	held[0].forwards = &g.udp;
	p.public_ip6[0] = addr(AF_INET6, "2001:db8:1::1").ip6;
	gateway_v6_flow(10, 5353, WF_GW_CT_MARK, 2, 5353);
	gateway_v6_flow(11, 5353, WF_GW_CT_MARK | 0x5, 2, 5353);
	/* the gateway's flow to another peer: no peer holds the port, so it is stale too */
	gateway_v6_flow(12, 5353, WF_GW_CT_MARK, 3, 5353);
	/* unmarked, or marked by everything but the gateway's bit: not the gateway's */
	gateway_v6_flow(13, 5353, 0, 2, 5353);
	gateway_v6_flow(14, 5353, ~WF_GW_CT_MARK, 2, 5353);
	/* another target port, another public port, and untranslated */
	gateway_v6_flow(15, 5353, WF_GW_CT_MARK, 2, 6000);
	gateway_v6_flow(16, 5354, WF_GW_CT_MARK, 2, 5353);
	ct_insert("udp", "2001:db8:c::17", 40053, "2001:db8:1::1", 5353, "");
	/* the same port of IPv4 */
	ct_insert("udp", CLIENT, 40053, "192.0.2.1", 5353, "--dst-nat " TUNNEL);
	assert_int_equal(ct_listed("src=2001:db8:c::1", NULL), 8);

	assert_int_equal(wf_gw_ct_matches(&p, &g.cfg, &with, &without, &m, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(wf_ct_stale_add(g.engine, m, n), 1);
	free(m);
	assert_int_equal(wf_ct_stale_run(g.engine, &deleted), 1);
	assert_int_equal(deleted, 3);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::12 ", NULL), 0);
	for (int i = 13; i <= 17; i++) {
		char src[32];

		snprintf(src, sizeof(src), "src=2001:db8:c::%d ", i);
		assert_int_equal(ct_listed(src, NULL), 1);
	}
	assert_int_equal(ct_listed("src=" CLIENT " ", NULL), 1);
	wf_ct_stale_stats(g.engine, &st);
	assert_int_equal(st.kernel_deletes, 1);
	assert_int_equal(st.dumps, 0);
	wf_ct_stale_free(g.engine);
}

/* The port moved to another peer: the search keeps the old peer's address (by dump, on a kernel
 * whose IPv6 address filter is wrong), and the new peer's marked flows stay. */
static void test_gateway_ipv6_port_moved_keeps_the_new_peers_flows(void **state)
{
	struct gateway_v6 g;
	struct gateway_now now;
	struct wf_gw_params p = {0};
	struct wf_gw_entries first[2] = {{.n_forwards = 1}}, second[2] = {{0}, {.n_forwards = 1}};
	struct wf_gw_state before = {.peers = first, .n_peers = 2},
	                   after = {.peers = second, .n_peers = 2};
	struct wf_ct_match *m;
	size_t n, deleted = 99;

	(void)state;
	now = (struct gateway_now){.state = &after};
	gateway_v6_start(&g, &now);
	first[0].forwards = second[1].forwards = &g.udp;
	gateway_v6_flow(10, 5353, WF_GW_CT_MARK, 2, 5353);
	gateway_v6_flow(11, 5353, WF_GW_CT_MARK, 3, 5353);
	/* from before the gateway marked its flows */
	gateway_v6_flow(12, 5353, 0, 2, 5353);
	assert_int_equal(wf_gw_ct_matches(&p, &g.cfg, &before, &after, &m, &n), 0);
	assert_int_equal(wf_ct_stale_add(g.engine, m, n), (int)n);
	free(m);
	assert_true(wf_ct_stale_run(g.engine, &deleted) >= 1);
	assert_int_equal(deleted, 2);
	assert_int_equal(ct_listed("src=2001:db8:c::10 ", NULL), 0);
	assert_int_equal(ct_listed("src=2001:db8:c::11 ", NULL), 1);
	assert_int_equal(ct_listed("src=2001:db8:c::12 ", NULL), 0);
	wf_ct_stale_free(g.engine);
}

#define NS_TEST(f) cmocka_unit_test_setup_teardown(f, setup_namespace, teardown_namespace)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    NS_TEST(test_dump_lists_each_entry_with_its_tuples),
	    NS_TEST(test_dump_by_mark_lists_only_marked_entries),
	    NS_TEST(test_dump_by_zone_lists_only_that_zone),
	    NS_TEST(test_dump_of_both_families_lists_each),
	    NS_TEST(test_dump_by_status_lists_only_translated_entries),
	    NS_TEST(test_dump_by_protocol_and_port_lists_only_those),
	    NS_TEST(test_deleting_a_missing_entry_gives_enoent),
	    NS_TEST(test_delete_with_another_id_spares_the_entry),
	    NS_TEST(test_flush_deletes_only_flows_translated_to_the_old_target),
	    NS_TEST(test_flush_for_a_new_forward_deletes_only_untranslated_unanswered_flows),
	    NS_TEST(test_flush_reaches_entries_in_other_zones),
	    NS_TEST(test_flush_of_ipv6_flows_leaves_ipv4_alone),
	    NS_TEST(test_flush_of_both_families_deletes_the_flows_of_each),
	    NS_TEST(test_flush_of_mixed_matches_deletes_in_the_kernel_what_it_can),
	    NS_TEST(test_flush_of_many_flows_deletes_each),
	    NS_TEST(test_flush_by_a_dump_deletes_the_same_flows),
	    NS_TEST(test_flush_of_more_matches_than_the_kernel_takes_deletes_each),
	    NS_TEST(test_flush_of_no_matches_deletes_nothing),
	    NS_TEST(test_flush_refuses_a_match_without_a_port_and_deletes_nothing),
	    NS_TEST(test_the_count_is_what_the_namespace_holds),
	    NS_TEST(test_a_search_in_an_empty_namespace_is_skipped_and_one_with_a_flow_is_run),
	    NS_TEST(test_a_count_that_cannot_be_read_means_a_search),
	    NS_TEST(test_flush_of_flows_the_kernel_tracked_from_real_traffic),
	    NS_TEST(test_server_burst_spares_the_target_a_forward_has_again),
	    NS_TEST(test_server_tcp_forward_that_appears_asks_the_kernel_nothing),
	    NS_TEST(test_server_noted_changes_spare_the_target_the_state_has_again),
	    NS_TEST(test_server_ipv6_port_gone_deletes_only_its_marked_translated_flows),
	    NS_TEST(test_server_ipv6_forward_still_in_place_keeps_its_flows),
	    NS_TEST(test_server_ipv6_port_gone_with_covered_marks_is_one_delete),
	    NS_TEST(test_server_restart_the_same_way_asks_the_kernel_nothing),
	    NS_TEST(test_server_forward_back_at_another_target_loses_only_its_old_flows),
	    NS_TEST(test_gateway_burst_searches_once_for_what_the_state_left_stale),
	    NS_TEST(test_gateway_removal_alone_is_searched_for_after_its_delay),
	    NS_TEST(test_gateway_restart_the_same_way_asks_the_kernel_nothing),
	    NS_TEST(test_gateway_forward_back_at_another_target_still_loses_its_flows),
	    NS_TEST(test_gateway_ipv6_port_gone_deletes_only_its_marked_flows_without_a_dump),
	    NS_TEST(test_gateway_ipv6_port_moved_keeps_the_new_peers_flows),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("conntrack_kernel", tests, NULL, NULL);
}
