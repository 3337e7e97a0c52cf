/* Which conntrack entries each daemon deletes when forwards change, without a kernel: the
 * server's matches from a change of the desired state, the gateway's from a change of what
 * its peers hold, and what is left of a burst of changes once the state at its end is in
 * place. */
#include <wgfwd-agent/ct_flush.h>
#include <wgfwd-gateway/ct_flush.h>
#include <wgfwd/ct_stale.h>

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "gateway_fixture.h"

static union wf_addr addr(int family, const char *text)
{
	union wf_addr a;

	memset(&a, 0, sizeof(a));
	assert_int_equal(inet_pton(family, text, &a), 1);
	return a;
}

static void assert_addr(int family, const union wf_addr *got, const char *want)
{
	union wf_addr w = addr(family, want);

	assert_memory_equal(got, &w, family == AF_INET ? 4 : 16);
}

/* ---- the server ---- */

static struct wf_server_params server_params(void)
{
	struct wf_server_params p;

	wf_server_params_default(&p);
	p.has_tunnel_ip4 = p.has_tunnel_ip6 = true;
	p.tunnel_ip4 = addr(AF_INET, "192.168.160.2").ip4;
	p.tunnel_ip6 = addr(AF_INET6, "fc00:0:0:160::2").ip6;
	p.gateway_ip4[p.n_gateway_ip4++] = addr(AF_INET, "192.0.2.1").ip4;
	return p;
}

static struct wf_forward container_forward(const char *ip4, uint16_t public_port,
                                           uint16_t target_port)
{
	struct wf_forward f = {.proto = IPPROTO_UDP,
	                       .public_port = public_port,
	                       .target_port = target_port,
	                       .has_ip4 = true};

	f.ip4 = addr(AF_INET, ip4).ip4;
	strcpy(f.bridge, "docker0");
	return f;
}

struct server_change {
	struct wf_forward removed[4], added[4];
	size_t n_removed, n_added;
};

/* The matches of one change, the flows' original destinations gathered from the n gateways
 * (none: the one p describes). */
static size_t server_matches_through(const struct wf_server_params *p,
                                     const struct wf_server_gateway *g, size_t n_g,
                                     struct server_change *c, struct wf_ct_match **m)
{
	struct wf_desired_diff diff = {.forwards_removed = c->removed,
	                               .n_forwards_removed = c->n_removed,
	                               .forwards_added = c->added,
	                               .n_forwards_added = c->n_added};
	struct wf_ct_orig_dsts dsts;
	size_t n = 99;

	wf_server_ct_orig_dsts(p, g, n_g, &dsts);
	assert_int_equal(wf_server_ct_matches(p, &dsts, &diff, m, &n), 0);
	assert_non_null(*m);
	for (size_t i = 0; i < n; i++)
		assert_true(wf_ct_match_valid(&(*m)[i]));
	return n;
}

static size_t server_matches(const struct wf_server_params *p, struct server_change *c,
                             struct wf_ct_match **m)
{
	return server_matches_through(p, NULL, 0, c, m);
}

/* A UDP forward of port, to the same port, that moved from one container address to another
 * (or, given the same one twice, changed in something else). */
static struct server_change moved(const char *from, const char *to, uint16_t port)
{
	struct server_change c = {.removed = {container_forward(from, port, port)},
	                          .added = {container_forward(to, port, port)},
	                          .n_removed = 1,
	                          .n_added = 1};

	return c;
}

static void test_removed_forward_deletes_flows_translated_to_its_target(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {.removed = {container_forward("172.17.0.5", 5353, 53)},
	                          .n_removed = 1};
	struct wf_ct_match *m;

	assert_int_equal(server_matches(&p, &c, &m), 1);
	assert_int_equal(m[0].family, AF_INET);
	assert_int_equal(m[0].l4proto, IPPROTO_UDP);
	assert_int_equal(m[0].orig_dport, 5353);
	assert_false(m[0].has_orig_dst);
	assert_true(m[0].has_reply_src);
	assert_addr(AF_INET, &m[0].reply_src, "172.17.0.5");
	assert_int_equal(m[0].reply_sport, 53);
	assert_int_equal(m[0].status_set, IPS_DST_NAT);
	assert_int_equal(m[0].status_clear, 0);
	free(m);
}

static void test_removed_dual_stack_forward_deletes_both_families(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {.removed = {container_forward("172.17.0.5", 443, 443)},
	                          .n_removed = 1};
	struct wf_ct_match *m;

	c.removed[0].proto = IPPROTO_TCP;
	c.removed[0].has_ip6 = true;
	c.removed[0].ip6 = addr(AF_INET6, "fd00:d0c::5").ip6;
	assert_int_equal(server_matches(&p, &c, &m), 2);
	assert_int_equal(m[0].family, AF_INET);
	assert_int_equal(m[1].family, AF_INET6);
	assert_addr(AF_INET6, &m[1].reply_src, "fd00:d0c::5");
	assert_int_equal(m[1].l4proto, IPPROTO_TCP);
	free(m);
}

static void test_removed_host_forward_to_the_same_port_needs_no_translation(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {.removed = {{.proto = IPPROTO_UDP,
	                                       .public_port = 5353,
	                                       .target_port = 5353,
	                                       .to_host = true}},
	                          .n_removed = 1};
	struct wf_ct_match *m;

	assert_int_equal(server_matches(&p, &c, &m), 2);
	assert_addr(AF_INET, &m[0].reply_src, "192.168.160.2");
	assert_int_equal(m[0].status_set, 0);
	assert_addr(AF_INET6, &m[1].reply_src, "fc00:0:0:160::2");
	free(m);
}

static void test_removed_host_forward_to_another_port_was_translated(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {.removed = {{.proto = IPPROTO_TCP,
	                                       .public_port = 8080,
	                                       .target_port = 80,
	                                       .to_host = true}},
	                          .n_removed = 1};
	struct wf_ct_match *m;

	p.has_tunnel_ip6 = false;
	assert_int_equal(server_matches(&p, &c, &m), 1);
	assert_addr(AF_INET, &m[0].reply_src, "192.168.160.2");
	assert_int_equal(m[0].reply_sport, 80);
	assert_int_equal(m[0].status_set, IPS_DST_NAT);
	free(m);
}

static void test_added_forward_deletes_unanswered_untranslated_flows_to_it(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {.added = {container_forward("172.17.0.6", 5353, 5353)},
	                          .n_added = 1};
	struct wf_ct_match *m;

	/* The tunnel address, and the gateway's public address for the hairpin. */
	assert_int_equal(server_matches(&p, &c, &m), 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(m[i].family, AF_INET);
		assert_int_equal(m[i].orig_dport, 5353);
		assert_true(m[i].has_orig_dst);
		assert_false(m[i].has_reply_src);
		assert_int_equal(m[i].status_set, 0);
		assert_int_equal(m[i].status_clear, IPS_DST_NAT | IPS_SEEN_REPLY);
	}
	assert_addr(AF_INET, &m[0].orig_dst, "192.168.160.2");
	assert_addr(AF_INET, &m[1].orig_dst, "192.0.2.1");
	free(m);
}

/* Flows through the second gateway arrive at this server's address on its tunnel: an added
 * forward looks for them there too, apart from the public addresses. */
static void test_added_forward_looks_where_each_gateway_sends_its_flows(void **state)
{
	static const char *const want4[] = {"192.168.160.2", "192.168.161.2", "192.0.2.1",
	                                    "198.18.0.1"};
	static const char *const want6[] = {"fc00:0:0:160::2", "fc00:0:0:161::2", "2001:db8:3::1"};
	struct wf_server_params p = server_params();
	struct server_change c = {.added = {container_forward("172.17.0.6", 5353, 5353)},
	                          .n_added = 1};
	struct wf_server_gateway g[2];
	struct wf_ct_match *m;

	c.added[0].has_ip6 = true;
	c.added[0].ip6 = addr(AF_INET6, "fd00:d0c::6").ip6;
	wf_server_gateway_from_params(&p, &g[0]);
	/* vps2 has IPv6 too, and shares a public address with vps1. */
	second_gateway(&p, "wg2", &g[1]);
	g[1].has_tunnel_ip6 = true;
	g[1].tunnel_ip6 = addr(AF_INET6, "fc00:0:0:161::2").ip6;
	g[1].public_ip4[g[1].n_public_ip4++] = addr(AF_INET, "192.0.2.1").ip4;
	g[1].public_ip6[g[1].n_public_ip6++] = addr(AF_INET6, "2001:db8:3::1").ip6;
	assert_int_equal(server_matches_through(&p, g, 2, &c, &m), 4 + 3);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(m[i].family, AF_INET);
		assert_addr(AF_INET, &m[i].orig_dst, want4[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(m[4 + i].family, AF_INET6);
		assert_addr(AF_INET6, &m[4 + i].orig_dst, want6[i]);
	}
	/* The public-address lists keep public addresses only. */
	assert_int_equal(p.n_gateway_ip4, 1);
	assert_int_equal(p.n_gateway_ip6, 0);
	free(m);
}

/* Every gateway at its limits: each tunnel address and each public address is looked for, none
 * crowded out by another gateway's. */
static void test_original_destinations_hold_every_gateways_addresses(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_server_gateway g[WF_GATEWAYS_MAX];
	struct wf_ct_orig_dsts dsts;
	char text[64];

	memset(g, 0, sizeof(g));
	for (size_t i = 0; i < WF_GATEWAYS_MAX; i++) {
		snprintf(text, sizeof(text), "10.%zu.0.2", i);
		g[i].has_tunnel_ip4 = true;
		g[i].tunnel_ip4 = addr(AF_INET, text).ip4;
		snprintf(text, sizeof(text), "fd00:%zu::2", i);
		g[i].has_tunnel_ip6 = true;
		g[i].tunnel_ip6 = addr(AF_INET6, text).ip6;
		for (size_t k = 0; k < WF_GATEWAY_ADDRS_MAX; k++) {
			snprintf(text, sizeof(text), "198.18.%zu.%zu", i, k + 1);
			g[i].public_ip4[g[i].n_public_ip4++] = addr(AF_INET, text).ip4;
			snprintf(text, sizeof(text), "2001:db8:%zu::%zu", i, k + 1);
			g[i].public_ip6[g[i].n_public_ip6++] = addr(AF_INET6, text).ip6;
		}
	}
	/* This server's own first tunnel address is the first gateway's. */
	p.tunnel_ip4 = g[0].tunnel_ip4;
	p.tunnel_ip6 = g[0].tunnel_ip6;
	wf_server_ct_orig_dsts(&p, g, WF_GATEWAYS_MAX, &dsts);
	assert_int_equal(dsts.n_ip4, WF_CT_ORIG_DSTS_MAX);
	assert_int_equal(dsts.n_ip6, WF_CT_ORIG_DSTS_MAX);
	assert_int_equal(WF_CT_ORIG_DSTS_MAX, WF_GATEWAYS_MAX * (1 + WF_GATEWAY_ADDRS_MAX));
	assert_addr(AF_INET, &(union wf_addr){.ip4 = dsts.ip4[WF_GATEWAYS_MAX - 1]}, "10.7.0.2");
	assert_addr(AF_INET, &(union wf_addr){.ip4 = dsts.ip4[WF_CT_ORIG_DSTS_MAX - 1]},
	            "198.18.7.8");
	assert_addr(AF_INET6, &(union wf_addr){.ip6 = dsts.ip6[WF_CT_ORIG_DSTS_MAX - 1]},
	            "2001:db8:7::8");
	for (size_t i = 0; i < dsts.n_ip4; i++)
		for (size_t k = i + 1; k < dsts.n_ip4; k++)
			assert_int_not_equal(dsts.ip4[i].s_addr, dsts.ip4[k].s_addr);
}

static void test_marks_are_each_gateways_and_the_hairpin_mark_once(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_server_gateway g[3];
	struct wf_ct_orig_dsts dsts;

	memset(g, 0, sizeof(g));
	g[0].fwmark = 0x10;
	g[1].fwmark = 0x20;
	g[2].fwmark = 0x10;
	p.hairpin_mark = 0x30;
	wf_server_ct_orig_dsts(&p, g, 3, &dsts);
	assert_int_equal(dsts.n_marks, 3);
	assert_int_equal(dsts.marks[0], 0x10);
	assert_int_equal(dsts.marks[1], 0x20);
	assert_int_equal(dsts.marks[2], 0x30);
	/* the one gateway the parameters describe */
	wf_server_ct_orig_dsts(&p, NULL, 0, &dsts);
	assert_int_equal(dsts.n_marks, 2);
	assert_int_equal(dsts.marks[0], p.fwmark);
	assert_int_equal(dsts.marks[1], p.hairpin_mark);
}

/* Only the IPv6 matches of translated flows to a port no forward has lose their addresses, and
 * they are narrowed to the marks. */
static void test_narrow_lets_addresses_go_only_where_the_port_is_gone(void **state)
{
	static const uint32_t marks[] = {0x77660001, 0x77660002};
	struct wf_forward held = container_forward("172.17.0.6", 8080, 80);
	struct wf_ct_match m[4], gone6 = {.family = AF_INET6,
	                                  .l4proto = IPPROTO_UDP,
	                                  .orig_dport = 9090,
	                                  .has_reply_src = true,
	                                  .reply_sport = 90,
	                                  .status_set = IPS_DST_NAT};

	gone6.reply_src = addr(AF_INET6, "fd00:d0c::5");
	m[0] = gone6;
	m[1] = gone6;
	m[1].orig_dport = 8080; /* a forward still has it */
	m[2] = gone6;
	m[2].family = AF_INET;
	m[2].reply_src = addr(AF_INET, "172.17.0.5");
	m[3] = (struct wf_ct_match){.family = AF_INET6,
	                            .l4proto = IPPROTO_UDP,
	                            .orig_dport = 9090,
	                            .has_orig_dst = true,
	                            .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	wf_server_ct_narrow(&held, 1, marks, 2, m, 4);
	assert_true(m[0].addrs_implied);
	assert_int_equal(m[0].n_marks, 2);
	assert_int_equal(m[0].marks[0], marks[0]);
	assert_int_equal(m[0].marks[1], marks[1]);
	assert_true(wf_ct_match_valid(&m[0]));
	for (size_t i = 1; i < 4; i++) {
		assert_false(m[i].addrs_implied);
		assert_int_equal(m[i].n_marks, 0);
	}
}

static void test_added_tcp_forward_searches_nothing(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {.added = {container_forward("172.17.0.6", 443, 443),
	                                    {.proto = IPPROTO_TCP,
	                                     .public_port = 22,
	                                     .target_port = 22,
	                                     .to_host = true}},
	                          .n_added = 2};
	struct wf_ct_match *m;

	c.added[0].proto = IPPROTO_TCP;
	c.added[0].has_ip6 = true;
	c.added[0].ip6 = addr(AF_INET6, "fd00:d0c::6").ip6;
	assert_int_equal(server_matches(&p, &c, &m), 0);
	free(m);
}

static void test_moved_tcp_forward_deletes_only_old_target_flows(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = moved("172.17.0.5", "172.17.0.6", 443);
	struct wf_ct_match *m;

	c.removed[0].proto = c.added[0].proto = IPPROTO_TCP;
	assert_int_equal(server_matches(&p, &c, &m), 1);
	assert_true(m[0].has_reply_src);
	assert_addr(AF_INET, &m[0].reply_src, "172.17.0.5");
	free(m);
}

static void test_moved_forward_deletes_old_target_flows_and_unanswered_ones(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = moved("172.17.0.5", "172.17.0.6", 5353);
	struct wf_ct_match *m;
	size_t n = server_matches(&p, &c, &m);

	assert_int_equal(n, 3);
	assert_true(m[0].has_reply_src);
	assert_addr(AF_INET, &m[0].reply_src, "172.17.0.5");
	assert_true(m[1].has_orig_dst && m[2].has_orig_dst);
	free(m);
}

static void test_family_whose_target_stays_is_left_alone(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = moved("172.17.0.5", "172.17.0.5", 5353);
	struct wf_ct_match *m;

	/* IPv4 stays where it was; only the IPv6 target is new. */
	c.added[0].has_ip6 = true;
	c.added[0].ip6 = addr(AF_INET6, "fd00:d0c::6").ip6;
	assert_int_equal(server_matches(&p, &c, &m), 1);
	assert_int_equal(m[0].family, AF_INET6);
	assert_true(m[0].has_orig_dst);
	assert_addr(AF_INET6, &m[0].orig_dst, "fc00:0:0:160::2");
	free(m);
}

static void test_forward_changed_only_in_bridge_name_deletes_nothing(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = moved("172.17.0.5", "172.17.0.5", 5353);
	struct wf_ct_match *m;

	strcpy(c.added[0].bridge, "br-apps");
	assert_int_equal(server_matches(&p, &c, &m), 0);
	free(m);
}

static void test_no_change_deletes_nothing(void **state)
{
	struct wf_server_params p = server_params();
	struct server_change c = {0};
	struct wf_ct_match *m;

	assert_int_equal(server_matches(&p, &c, &m), 0);
	free(m);
}

/* The matches of several changes in a row, as the agent gathers them in a burst, pruned
 * against the forwards in place at the end. */
static size_t server_burst(const struct wf_server_params *p, struct wf_forward *states[],
                           const size_t *n_states, size_t steps, struct wf_ct_match *out,
                           size_t cap)
{
	struct wf_ct_orig_dsts dsts;
	size_t n = 0;

	wf_server_ct_orig_dsts(p, NULL, 0, &dsts);
	for (size_t i = 1; i < steps; i++) {
		struct wf_desired from = {.forwards = states[i - 1], .n_forwards = n_states[i - 1]};
		struct wf_desired to = {.forwards = states[i], .n_forwards = n_states[i]};
		struct wf_desired_diff diff;
		struct wf_ct_match *m;
		size_t k;

		assert_int_equal(wf_desired_diff(&from, &to, &diff), 0);
		assert_int_equal(wf_server_ct_matches(p, &dsts, &diff, &m, &k), 0);
		wf_desired_diff_free(&diff);
		assert_true(n + k <= cap);
		memcpy(&out[n], m, k * sizeof(*m));
		n += k;
		free(m);
	}
	n = wf_server_ct_prune(p, states[steps - 1], n_states[steps - 1], out, n);
	return wf_ct_matches_unique(out, n);
}

static void test_forward_moved_and_moved_back_in_a_burst_spares_its_target(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_forward a = container_forward("172.17.0.5", 5353, 5353),
	                  b = container_forward("172.17.0.6", 5353, 5353);
	struct wf_forward *states[] = {&a, &b, &a};
	size_t n_states[] = {1, 1, 1};
	struct wf_ct_match m[16];
	size_t n = server_burst(&p, states, n_states, 3, m, 16);

	/* The flows that went to b meanwhile go; those of a are right again and stay; unanswered
	 * ones are looked for (the gateway and hairpin addresses). */
	assert_int_equal(n, 3);
	assert_true(m[0].has_reply_src);
	assert_addr(AF_INET, &m[0].reply_src, "172.17.0.6");
	assert_true(m[1].has_orig_dst && m[2].has_orig_dst);
}

static void test_forward_gone_and_back_in_a_burst_looks_only_for_unanswered_flows(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_forward a = container_forward("172.17.0.5", 5353, 5353);
	struct wf_forward *states[] = {&a, NULL, &a};
	size_t n_states[] = {1, 0, 1};
	struct wf_ct_match m[16];
	size_t n = server_burst(&p, states, n_states, 3, m, 16);

	/* While it was gone, datagrams from the tunnel went untranslated: those must go. */
	assert_int_equal(n, 2);
	assert_true(m[0].has_orig_dst && m[1].has_orig_dst);
	assert_addr(AF_INET, &m[0].orig_dst, "192.0.2.1");
	assert_addr(AF_INET, &m[1].orig_dst, "192.168.160.2");
}

static void test_forward_come_and_gone_in_a_burst_looks_only_for_its_flows(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_forward a = container_forward("172.17.0.5", 5353, 5353);
	struct wf_forward *states[] = {NULL, &a, NULL};
	size_t n_states[] = {0, 1, 0};
	struct wf_ct_match m[16];
	size_t n = server_burst(&p, states, n_states, 3, m, 16);

	/* Untranslated flows are right again with no forward; what it translated must go. */
	assert_int_equal(n, 1);
	assert_true(m[0].has_reply_src);
	assert_addr(AF_INET, &m[0].reply_src, "172.17.0.5");
}

static void test_prune_keeps_a_forward_to_another_target_port(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_forward a = container_forward("172.17.0.5", 8080, 80),
	                  b = container_forward("172.17.0.5", 8080, 8080);
	struct wf_forward *states[] = {&a, &b};
	size_t n_states[] = {1, 1};
	struct wf_ct_match m[16];
	size_t n = server_burst(&p, states, n_states, 2, m, 16);

	assert_int_equal(n, 3);
	assert_true(m[0].has_reply_src);
	assert_int_equal(m[0].reply_sport, 80);
}

static void test_prune_finds_each_forward_among_many(void **state)
{
	struct wf_server_params p = server_params();
	struct wf_forward now[40];
	struct wf_ct_match m[80];
	size_t n = 0;

	/* Sorted as a desired state keeps them: tcp before udp, by port. */
	for (size_t i = 0; i < 40; i++) {
		now[i] = container_forward("172.17.0.5", (uint16_t)(1000 + i % 20), 53);
		now[i].proto = i < 20 ? IPPROTO_TCP : IPPROTO_UDP;
	}
	for (size_t i = 0; i < 40; i++) {
		struct wf_ct_match same = {.family = AF_INET,
		                           .l4proto = now[i].proto,
		                           .orig_dport = now[i].public_port,
		                           .has_reply_src = true,
		                           .reply_src = addr(AF_INET, "172.17.0.5"),
		                           .reply_sport = 53,
		                           .status_set = IPS_DST_NAT};
		struct wf_ct_match other = same;

		other.reply_src = addr(AF_INET, "172.17.0.9");
		m[n++] = same;
		m[n++] = other;
	}
	n = wf_server_ct_prune(&p, now, 40, m, n);
	assert_int_equal(n, 40);
	for (size_t i = 0; i < n; i++)
		assert_addr(AF_INET, &m[i].reply_src, "172.17.0.9");
}

/* ---- the gateway ---- */

struct gateway {
	struct wf_gw_params p;
	struct wf_gw_peer peers[2];
	struct wf_gw_config cfg;
	struct wf_gw_entries before[2], after[2];
	struct wf_gw_state from, to;
};

static void gateway_init(struct gateway *g)
{
	memset(g, 0, sizeof(*g));
	g->p.public_ip4[g->p.n_public_ip4++] = addr(AF_INET, "192.0.2.1").ip4;
	g->p.public_ip4[g->p.n_public_ip4++] = addr(AF_INET, "192.0.2.2").ip4;
	g->p.public_ip6[g->p.n_public_ip6++] = addr(AF_INET6, "2001:db8:1::1").ip6;
	g->peers[0].has_ip4 = g->peers[0].has_ip6 = true;
	g->peers[0].ip4 = addr(AF_INET, "192.168.160.2").ip4;
	g->peers[0].ip6 = addr(AF_INET6, "fc00:0:0:160::2").ip6;
	g->peers[1].has_ip4 = true;
	g->peers[1].ip4 = addr(AF_INET, "192.168.160.3").ip4;
	g->cfg.peers = g->peers;
	g->cfg.n_peers = 2;
	g->from = (struct wf_gw_state){.peers = g->before, .n_peers = 2};
	g->to = (struct wf_gw_state){.peers = g->after, .n_peers = 2};
}

static size_t gateway_matches(struct gateway *g, struct wf_ct_match **m)
{
	size_t n = 99;

	assert_int_equal(wf_gw_ct_matches(&g->p, &g->cfg, &g->from, &g->to, m, &n), 0);
	assert_non_null(*m);
	for (size_t i = 0; i < n; i++)
		assert_true(wf_ct_match_valid(&(*m)[i]));
	return n;
}

static void test_gateway_removed_forward_deletes_flows_translated_to_the_peer(void **state)
{
	struct wf_ctl_forward f = {
	    .family = AF_INET, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5353};
	struct gateway g;
	struct wf_ct_match *m;

	gateway_init(&g);
	g.before[1] = (struct wf_gw_entries){.forwards = &f, .n_forwards = 1};
	assert_int_equal(gateway_matches(&g, &m), 1);
	assert_int_equal(m[0].family, AF_INET);
	assert_int_equal(m[0].orig_dport, 5353);
	assert_true(m[0].has_reply_src);
	assert_addr(AF_INET, &m[0].reply_src, "192.168.160.3");
	assert_int_equal(m[0].reply_sport, 5353);
	assert_int_equal(m[0].status_set, IPS_DST_NAT);
	free(m);
}

static void test_gateway_added_forward_deletes_unanswered_flows_to_each_public_address(void **state)
{
	struct wf_ctl_forward f = {
	    .family = AF_INET, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5353};
	struct gateway g;
	struct wf_ct_match *m;

	gateway_init(&g);
	g.after[0] = (struct wf_gw_entries){.forwards = &f, .n_forwards = 1};
	assert_int_equal(gateway_matches(&g, &m), 2);
	assert_addr(AF_INET, &m[0].orig_dst, "192.0.2.1");
	assert_addr(AF_INET, &m[1].orig_dst, "192.0.2.2");
	assert_int_equal(m[0].status_clear, IPS_DST_NAT | IPS_SEEN_REPLY);
	assert_false(m[0].has_reply_src);
	free(m);
}

static void test_gateway_ipv6_forward_uses_ipv6_addresses(void **state)
{
	struct wf_ctl_forward f = {
	    .family = AF_INET6, .proto = IPPROTO_TCP, .public_port = 443, .target_port = 443};
	struct gateway g;
	struct wf_ct_match *m;

	gateway_init(&g);
	g.before[0] = (struct wf_gw_entries){.forwards = &f, .n_forwards = 1};
	assert_int_equal(gateway_matches(&g, &m), 1);
	assert_int_equal(m[0].family, AF_INET6);
	assert_addr(AF_INET6, &m[0].reply_src, "fc00:0:0:160::2");
	free(m);
	f.proto = IPPROTO_UDP;
	g.before[0] = (struct wf_gw_entries){0};
	g.after[0] = (struct wf_gw_entries){.forwards = &f, .n_forwards = 1};
	assert_int_equal(gateway_matches(&g, &m), 1);
	assert_addr(AF_INET6, &m[0].orig_dst, "2001:db8:1::1");
	free(m);
}

static void test_gateway_added_tcp_forward_searches_nothing(void **state)
{
	struct wf_ctl_forward f[] = {
	    {.family = AF_INET, .proto = IPPROTO_TCP, .public_port = 443, .target_port = 443},
	    {.family = AF_INET6, .proto = IPPROTO_TCP, .public_port = 443, .target_port = 443}};
	struct gateway g;
	struct wf_ct_match *m;

	gateway_init(&g);
	g.after[0] = (struct wf_gw_entries){.forwards = f, .n_forwards = 2};
	assert_int_equal(gateway_matches(&g, &m), 0);
	free(m);
	/* Gone again: its flows, translated to the peer, do go. */
	g.before[0] = g.after[0];
	g.after[0] = (struct wf_gw_entries){0};
	assert_int_equal(gateway_matches(&g, &m), 2);
	free(m);
}

static void test_gateway_forward_of_a_family_without_addresses_deletes_nothing(void **state)
{
	struct wf_ctl_forward f = {
	    .family = AF_INET6, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5353};
	struct gateway g;
	struct wf_ct_match *m;

	gateway_init(&g);
	g.p.n_public_ip6 = 0;
	g.after[0] = (struct wf_gw_entries){.forwards = &f, .n_forwards = 1};
	assert_int_equal(gateway_matches(&g, &m), 0);
	free(m);
}

static void test_gateway_forwards_that_stay_are_left_alone(void **state)
{
	struct wf_ctl_forward kept[] = {
	    {.family = AF_INET, .proto = IPPROTO_TCP, .public_port = 80, .target_port = 80},
	    {.family = AF_INET, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5353}};
	struct wf_ctl_forward changed[] = {
	    {.family = AF_INET, .proto = IPPROTO_TCP, .public_port = 80, .target_port = 80},
	    {.family = AF_INET, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5354}};
	struct gateway g;
	struct wf_ct_match *m;

	gateway_init(&g);
	g.before[0] = (struct wf_gw_entries){.forwards = kept, .n_forwards = 2};
	g.after[0] = (struct wf_gw_entries){.forwards = kept, .n_forwards = 2};
	g.before[1] = (struct wf_gw_entries){.forwards = kept, .n_forwards = 1};
	g.after[1] = (struct wf_gw_entries){.forwards = kept, .n_forwards = 1};
	assert_int_equal(gateway_matches(&g, &m), 0);
	free(m);

	/* A new target port: the old one's flows go, and refused ones get another chance. */
	g.after[0] = (struct wf_gw_entries){.forwards = changed, .n_forwards = 2};
	assert_int_equal(gateway_matches(&g, &m), 3);
	assert_int_equal(m[0].orig_dport, 5353);
	assert_int_equal(m[0].reply_sport, 5353);
	assert_int_equal(m[1].orig_dport, 5353);
	assert_true(m[1].has_orig_dst);
	free(m);
}

static void test_gateway_prune_spares_what_the_state_makes_again(void **state)
{
	struct wf_ctl_forward udp = {
	    .family = AF_INET, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5353};
	struct wf_ctl_forward tcp = {
	    .family = AF_INET, .proto = IPPROTO_TCP, .public_port = 80, .target_port = 80};
	struct gateway g;
	struct wf_ct_match *m, all[8];
	size_t n;

	gateway_init(&g);
	/* Peer 1 gives up udp/5353 (its flows must go) and holds tcp/80 from now on. */
	g.before[1] = (struct wf_gw_entries){.forwards = &udp, .n_forwards = 1};
	g.after[1] = (struct wf_gw_entries){.forwards = &tcp, .n_forwards = 1};
	n = gateway_matches(&g, &m);
	assert_int_equal(n, 1);
	memcpy(all, m, n * sizeof(*m));
	free(m);
	/* Then peer 0 takes udp/5353: refused flows get their chance. */
	g.from = g.to;
	g.to = (struct wf_gw_state){.peers = g.before, .n_peers = 2};
	g.before[0] = (struct wf_gw_entries){.forwards = &udp, .n_forwards = 1};
	g.before[1] = g.after[1];
	assert_int_equal(gateway_matches(&g, &m), 2);
	memcpy(&all[n], m, 2 * sizeof(*m));
	n += 2;
	free(m);

	assert_int_equal(wf_gw_ct_prune(&g.cfg, &g.to, all, n), 3);
	assert_addr(AF_INET, &all[0].reply_src, "192.168.160.3");
	/* Peer 1 back on udp/5353 with the same target: its translated flows are right again. */
	g.before[0] = (struct wf_gw_entries){0};
	g.before[1] = (struct wf_gw_entries){.forwards = &udp, .n_forwards = 1};
	assert_int_equal(wf_gw_ct_prune(&g.cfg, &g.to, all, 3), 2);
	assert_true(all[0].has_orig_dst && all[1].has_orig_dst);
	/* And with nothing on udp/5353, the refused flows are right as they are. */
	g.before[1] = (struct wf_gw_entries){0};
	assert_int_equal(wf_gw_ct_prune(&g.cfg, &g.to, all, 2), 0);
}

/* Removals wait for a restart to take them back; a UDP forward that came is searched for at
 * once. */
static void test_gateway_search_waits_for_a_restart_unless_a_udp_forward_came(void **state)
{
	struct wf_ctl_forward udp = {
	    .family = AF_INET, .proto = IPPROTO_UDP, .public_port = 5353, .target_port = 5353};
	struct wf_ctl_forward tcp = {
	    .family = AF_INET, .proto = IPPROTO_TCP, .public_port = 80, .target_port = 80};
	struct gateway g;
	struct wf_ct_match *m;
	size_t n;

	gateway_init(&g);
	g.before[1] = (struct wf_gw_entries){.forwards = &tcp, .n_forwards = 1};
	n = gateway_matches(&g, &m);
	assert_int_equal(n, 1);
	assert_int_equal(wf_ct_matches_delay_ms(m, n), WF_CT_REMOVED_DELAY_MS);
	free(m);
	/* ... and udp/5353 came: one match at each public address */
	g.after[1] = (struct wf_gw_entries){.forwards = &udp, .n_forwards = 1};
	n = gateway_matches(&g, &m);
	assert_int_equal(n, 3);
	assert_int_equal(wf_ct_matches_delay_ms(m, n), WF_CT_COALESCE_MS);
	free(m);
	assert_true(WF_CT_REMOVED_DELAY_MS > WF_CT_COALESCE_MS);
}

/* IPv4's matches come first, each match once: one IPv6 match must not make the IPv4 ones
 * part of its search. */
/* Among many forwards of several peers, each match meets the one peer that holds its port. */
static void test_gateway_prune_finds_the_holder_among_many_forwards(void **state)
{
	static struct wf_ctl_forward a[1000], b[1000];
	struct gateway g;
	struct wf_ct_match m[4];

	gateway_init(&g);
	for (int i = 0; i < 1000; i++) {
		a[i] = (struct wf_ctl_forward){.family = AF_INET,
		                               .proto = IPPROTO_TCP,
		                               .public_port = (uint16_t)(1000 + i),
		                               .target_port = (uint16_t)(1000 + i)};
		b[i] = (struct wf_ctl_forward){.family = AF_INET,
		                               .proto = IPPROTO_UDP,
		                               .public_port = (uint16_t)(5000 + i),
		                               .target_port = 53};
	}
	g.after[0] = (struct wf_gw_entries){.forwards = a, .n_forwards = 1000};
	g.after[1] = (struct wf_gw_entries){.forwards = b, .n_forwards = 1000};
	/* Peer 1's udp/5500 to port 53: made again, as its removal match says. */
	m[0] = (struct wf_ct_match){.family = AF_INET,
	                            .l4proto = IPPROTO_UDP,
	                            .orig_dport = 5500,
	                            .has_reply_src = true,
	                            .reply_sport = 53,
	                            .status_set = IPS_DST_NAT};
	m[0].reply_src = addr(AF_INET, "192.168.160.3");
	/* The same to peer 0's address: peer 0 does not hold it, so those flows are stale. */
	m[1] = m[0];
	m[1].reply_src = addr(AF_INET, "192.168.160.2");
	/* Peer 0's tcp/1999 moved from port 80 to 1999: flows to port 80 are stale. */
	m[2] = (struct wf_ct_match){.family = AF_INET,
	                            .l4proto = IPPROTO_TCP,
	                            .orig_dport = 1999,
	                            .has_reply_src = true,
	                            .reply_sport = 80,
	                            .status_set = IPS_DST_NAT};
	m[2].reply_src = addr(AF_INET, "192.168.160.2");
	/* Unanswered flows to udp/5999, which peer 1 holds now: they must go. */
	m[3] = (struct wf_ct_match){.family = AF_INET,
	                            .l4proto = IPPROTO_UDP,
	                            .orig_dport = 5999,
	                            .has_orig_dst = true,
	                            .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	m[3].orig_dst = addr(AF_INET, "192.0.2.1");
	assert_int_equal(wf_gw_ct_prune(&g.cfg, &g.to, m, 4), 3);
	assert_addr(AF_INET, &m[0].reply_src, "192.168.160.2");
	assert_int_equal(m[1].orig_dport, 1999);
	assert_int_equal(m[2].orig_dport, 5999);
	/* No one holds udp/6000: its unanswered flows are right as they are. */
	m[0] = m[2];
	m[0].orig_dport = 6000;
	assert_int_equal(wf_gw_ct_prune(&g.cfg, &g.to, m, 1), 0);
}

/* Only the IPv6 match of a removed forward whose port no peer holds now is narrowed to the
 * gateway's mark bit and lets its addresses go; a port that moved to another peer, IPv4 and
 * the unanswered flows of an added forward keep their addresses. The mark is matched by its
 * bit alone, whatever else the mark holds. */
static void test_gateway_narrow_names_its_mark_only_where_no_peer_holds_the_port(void **state)
{
	struct wf_ctl_forward held = {
	    .family = AF_INET6, .proto = IPPROTO_UDP, .public_port = 8443, .target_port = 443};
	struct wf_ct_match m[4], gone6 = {.family = AF_INET6,
	                                  .l4proto = IPPROTO_UDP,
	                                  .orig_dport = 9090,
	                                  .has_reply_src = true,
	                                  .reply_sport = 90,
	                                  .status_set = IPS_DST_NAT};
	struct wf_ct_entry e = {.family = AF_INET6,
	                        .l4proto = IPPROTO_UDP,
	                        .orig = {.dport = 9090},
	                        .reply = {.sport = 90},
	                        .status = IPS_DST_NAT | IPS_SEEN_REPLY,
	                        .mark = WF_GW_CT_MARK | 0x5};
	struct gateway g;

	gateway_init(&g);
	g.after[0] = (struct wf_gw_entries){.forwards = &held, .n_forwards = 1};
	gone6.reply_src = addr(AF_INET6, "fc00:0:0:160::2");
	e.reply.src = gone6.reply_src;
	m[0] = gone6;
	m[1] = gone6;
	m[1].orig_dport = 8443; /* moved to peer 0 */
	m[2] = gone6;
	m[2].family = AF_INET;
	m[2].reply_src = addr(AF_INET, "192.168.160.3");
	m[3] = (struct wf_ct_match){.family = AF_INET6,
	                            .l4proto = IPPROTO_UDP,
	                            .orig_dport = 9090,
	                            .has_orig_dst = true,
	                            .status_clear = IPS_DST_NAT | IPS_SEEN_REPLY};
	wf_gw_ct_narrow(&g.cfg, &g.to, m, 4);
	assert_true(m[0].addrs_implied);
	assert_int_equal(m[0].n_marks, 1);
	assert_int_equal(m[0].marks[0], WF_GW_CT_MARK);
	assert_int_equal(m[0].mark_mask, WF_GW_CT_MARK);
	assert_true(wf_ct_match_valid(&m[0]));
	assert_int_equal(wf_ct_match_requests(&m[0]), 1);
	for (size_t i = 1; i < 4; i++) {
		assert_false(m[i].addrs_implied);
		assert_int_equal(m[i].n_marks, 0);
	}
	/* the search by dump selects what the filtered delete does: the bit, any other bits */
	assert_true(wf_ct_entry_matches(&m[0], &e));
	e.mark = 0x5;
	assert_false(wf_ct_entry_matches(&m[0], &e));
	e.mark = ~WF_GW_CT_MARK;
	assert_false(wf_ct_entry_matches(&m[0], &e));
	/* narrowed once, the same again */
	gone6 = m[0];
	wf_gw_ct_narrow(&g.cfg, &g.to, m, 1);
	assert_true(wf_ct_match_equal(&gone6, &m[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_removed_forward_deletes_flows_translated_to_its_target),
	    cmocka_unit_test(test_gateway_prune_finds_the_holder_among_many_forwards),
	    cmocka_unit_test(test_removed_dual_stack_forward_deletes_both_families),
	    cmocka_unit_test(test_removed_host_forward_to_the_same_port_needs_no_translation),
	    cmocka_unit_test(test_removed_host_forward_to_another_port_was_translated),
	    cmocka_unit_test(test_added_forward_deletes_unanswered_untranslated_flows_to_it),
	    cmocka_unit_test(test_added_forward_looks_where_each_gateway_sends_its_flows),
	    cmocka_unit_test(test_original_destinations_hold_every_gateways_addresses),
	    cmocka_unit_test(test_marks_are_each_gateways_and_the_hairpin_mark_once),
	    cmocka_unit_test(test_narrow_lets_addresses_go_only_where_the_port_is_gone),
	    cmocka_unit_test(test_added_tcp_forward_searches_nothing),
	    cmocka_unit_test(test_moved_tcp_forward_deletes_only_old_target_flows),
	    cmocka_unit_test(test_moved_forward_deletes_old_target_flows_and_unanswered_ones),
	    cmocka_unit_test(test_family_whose_target_stays_is_left_alone),
	    cmocka_unit_test(test_forward_changed_only_in_bridge_name_deletes_nothing),
	    cmocka_unit_test(test_no_change_deletes_nothing),
	    cmocka_unit_test(test_forward_moved_and_moved_back_in_a_burst_spares_its_target),
	    cmocka_unit_test(test_forward_gone_and_back_in_a_burst_looks_only_for_unanswered_flows),
	    cmocka_unit_test(test_forward_come_and_gone_in_a_burst_looks_only_for_its_flows),
	    cmocka_unit_test(test_prune_keeps_a_forward_to_another_target_port),
	    cmocka_unit_test(test_prune_finds_each_forward_among_many),
	    cmocka_unit_test(test_gateway_removed_forward_deletes_flows_translated_to_the_peer),
	    cmocka_unit_test(
	        test_gateway_added_forward_deletes_unanswered_flows_to_each_public_address),
	    cmocka_unit_test(test_gateway_ipv6_forward_uses_ipv6_addresses),
	    cmocka_unit_test(test_gateway_forward_of_a_family_without_addresses_deletes_nothing),
	    cmocka_unit_test(test_gateway_forwards_that_stay_are_left_alone),
	    cmocka_unit_test(test_gateway_added_tcp_forward_searches_nothing),
	    cmocka_unit_test(test_gateway_prune_spares_what_the_state_makes_again),
	    cmocka_unit_test(test_gateway_search_waits_for_a_restart_unless_a_udp_forward_came),
	    cmocka_unit_test(test_gateway_narrow_names_its_mark_only_where_no_peer_holds_the_port),
	};

	return cmocka_run_group_tests_name("ct_flush", tests, NULL, NULL);
}
