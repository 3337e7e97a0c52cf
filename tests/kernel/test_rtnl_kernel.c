/* rtnetlink against the kernel: every test runs in a fresh network namespace of its own and
 * checks what it did through `ip -j`, the tool an operator would use. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd/rtnl.h>

#include "kernel_test.h"

#define V0   "wfrt-v0"
#define DEV1 "wfrt-d0"

/* The array `ip -j …` prints. */
static json_object *ip_json(const char *args)
{
	char cmd[512], chunk[4096];
	char *text = NULL;
	size_t len = 0, got;
	json_object *root;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip -j %s", args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		text = realloc(text, len + got + 1);
		assert_non_null(text);
		memcpy(text + len, chunk, got);
		len += got;
	}
	assert_int_equal(pclose(p), 0);
	assert_non_null(text);
	text[len] = '\0';
	root = json_tokener_parse(text);
	if (!root || !json_object_is_type(root, json_type_array))
		fail_msg("`%s' printed no JSON array: %s", cmd, text);
	free(text);
	return root;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key, int64_t missing)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return missing;
	return json_object_get_int64(v);
}

static void assert_jstr(json_object *o, const char *key, const char *want)
{
	const char *got = jstr(o, key);

	if (!want && got)
		fail_msg("%s: expected none, ip shows \"%s\" in %s", key, got,
		         json_object_to_json_string(o));
	if (want && (!got || strcmp(got, want)))
		fail_msg("%s: expected \"%s\", ip shows \"%s\" in %s", key, want,
		         got ? got : "none", json_object_to_json_string(o));
}

static int setup_namespace(void **state)
{
	struct wf_rtnl *r;

	if (unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	/* No dummy driver on every kernel: an empty bridge is an interface just as idle. */
	sh("set -e; ip link set lo up;"
	   "ip link add " DEV1 " type dummy 2>/dev/null || ip link add " DEV1 " type bridge;"
	   "ip link set " DEV1 " up;"
	   "ip link add " V0 " type veth peer name wfrt-v1;"
	   "ip link set " V0 " up; ip link set wfrt-v1 up;"
	   "ip addr add 10.200.0.1/24 dev " V0 ";"
	   "ip -6 addr add fd00:200::1/64 dev " V0 " nodad");
	if (wf_rtnl_open(&r))
		return -1;
	*state = r;
	return 0;
}

static int teardown_namespace(void **state)
{
	wf_rtnl_close(*state);
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

/* The four shapes wgfwd uses, for one family. */
static size_t rule_shapes(int family, struct wf_rule out[4])
{
	bool v6 = family == AF_INET6;

	memset(out, 0, 4 * sizeof(out[0]));
	out[0] = (struct wf_rule){.family = family,
	                          .priority = 100,
	                          .table = 200,
	                          .has_fwmark = true,
	                          .fwmark = 0x1,
	                          .fwmask = 0xff,
	                          .protocol = WF_RTPROT};
	out[1] = (struct wf_rule){.family = family,
	                          .priority = 101,
	                          .table = 200,
	                          .iifname = "br-x",
	                          .src_len = v6 ? 128 : 32,
	                          .ipproto = IPPROTO_TCP,
	                          .dport_lo = 25,
	                          .dport_hi = 25,
	                          .protocol = WF_RTPROT};
	out[1].src = addr(family, v6 ? "fd00:18::2" : "172.18.0.2");
	out[2] = (struct wf_rule){.family = family,
	                          .priority = 102,
	                          .table = 200,
	                          .src_len = v6 ? 128 : 32,
	                          .protocol = WF_RTPROT};
	out[2].src = addr(family, v6 ? "fd00:160::2" : "192.168.160.2");
	out[3] = (struct wf_rule){.family = family,
	                          .priority = 103,
	                          .table = 1000,
	                          .has_fwmark = true,
	                          .fwmark = 0x2,
	                          .fwmask = 0xffffffff,
	                          .protocol = WF_RTPROT};
	return 4;
}

static json_object *find_by_priority(json_object *rules, uint32_t priority)
{
	for (size_t i = 0; i < json_object_array_length(rules); i++) {
		json_object *o = json_object_array_get_idx(rules, i);
		if (jint(o, "priority", -1) == priority)
			return o;
	}
	fail_msg("ip shows no rule with priority %u", priority);
	return NULL;
}

static void assert_rule_shown(json_object *rules, const struct wf_rule *rule)
{
	json_object *o = find_by_priority(rules, rule->priority);
	char buf[INET6_ADDRSTRLEN + 16];
	unsigned int host_len = rule->family == AF_INET6 ? 128 : 32;

	if (rule->has_fwmark) {
		snprintf(buf, sizeof(buf), "0x%x", rule->fwmark);
		assert_jstr(o, "fwmark", buf);
		snprintf(buf, sizeof(buf), "0x%x", rule->fwmask);
		assert_jstr(o, "fwmask", rule->fwmask == 0xffffffff ? NULL : buf);
	} else {
		assert_jstr(o, "fwmark", NULL);
	}
	assert_jstr(o, "iif", rule->iifname[0] ? rule->iifname : NULL);
	if (rule->src_len) {
		inet_ntop(rule->family, &rule->src, buf, sizeof(buf));
		assert_jstr(o, "src", buf);
		assert_int_equal(jint(o, "srclen", host_len), rule->src_len);
	} else {
		assert_jstr(o, "src", "all");
	}
	assert_jstr(o, "ipproto", rule->ipproto == IPPROTO_TCP ? "tcp" : NULL);
	if (rule->dport_lo)
		assert_int_equal(jint(o, "dport", -1), rule->dport_lo);
	else
		assert_int_equal(jint(o, "dport", -1), -1);
	snprintf(buf, sizeof(buf), "%u", rule->table);
	assert_jstr(o, "table", buf);
	assert_jstr(o, "protocol", "207");
}

static void rules_of_each_shape_show_in_ip_rule(void **state, int family)
{
	struct wf_rule rules[4];
	size_t n = rule_shapes(family, rules);
	json_object *shown;

	for (size_t i = 0; i < n; i++)
		assert_int_equal(wf_rtnl_rule_add(*state, &rules[i]), 0);
	shown = ip_json(family == AF_INET6 ? "-6 rule show" : "rule show");
	for (size_t i = 0; i < n; i++)
		assert_rule_shown(shown, &rules[i]);
	json_object_put(shown);
}

static void test_ipv4_rules_of_each_shape_show_in_ip_rule(void **state)
{
	rules_of_each_shape_show_in_ip_rule(state, AF_INET);
}

static void test_ipv6_rules_of_each_shape_show_in_ip_rule(void **state)
{
	rules_of_each_shape_show_in_ip_rule(state, AF_INET6);
}

static void test_table_above_255_is_kept_whole(void **state)
{
	struct wf_rule rule = {
	    .family = AF_INET, .priority = 300, .table = 70000, .protocol = WF_RTPROT};
	struct wf_rule *got;
	size_t n;
	json_object *shown;

	assert_int_equal(wf_rtnl_rule_add(*state, &rule), 0);
	shown = ip_json("rule show");
	assert_jstr(find_by_priority(shown, 300), "table", "70000");
	json_object_put(shown);
	assert_int_equal(wf_rtnl_rule_list(*state, AF_INET, WF_RTPROT, &got, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].table, 70000);
	free(got);
}

static void add_foreign_rules(void)
{
	sh("ip rule add prio 100 fwmark 0x1/0xff table 200 protocol static");
	sh("ip rule add prio 500 from 10.9.9.9 table 300 protocol static");
	sh("ip -6 rule add prio 500 from fd00:9::9 table 300 protocol static");
	sh("ip rule add prio 501 from 10.9.9.8 table 300");
}

static void assert_foreign_rules_intact(void)
{
	json_object *v4 = ip_json("rule show"), *v6 = ip_json("-6 rule show");
	size_t foreign4 = 0, foreign6 = 0;

	for (size_t i = 0; i < json_object_array_length(v4); i++) {
		json_object *o = json_object_array_get_idx(v4, i);
		const char *proto = jstr(o, "protocol");
		if (!proto || strcmp(proto, "207"))
			foreign4++;
	}
	for (size_t i = 0; i < json_object_array_length(v6); i++) {
		json_object *o = json_object_array_get_idx(v6, i);
		const char *proto = jstr(o, "protocol");
		if (!proto || strcmp(proto, "207"))
			foreign6++;
	}
	/* local, main, default (IPv4 only) and the ones added above. */
	assert_int_equal(foreign4, 3 + 3);
	assert_int_equal(foreign6, 2 + 1);
	assert_jstr(find_by_priority(v4, 100), "protocol", "static");
	json_object_put(v4);
	json_object_put(v6);
}

static void assert_rules_listed(struct wf_rtnl *r, int family, const struct wf_rule *want,
                                size_t n_want)
{
	struct wf_rule *got;
	size_t n;

	assert_int_equal(wf_rtnl_rule_list(r, family, WF_RTPROT, &got, &n), 0);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n_want; i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found = found || wf_rule_equal(&want[i], &got[j]);
		if (!found)
			fail_msg("rule with priority %u not listed", want[i].priority);
	}
	free(got);
}

static size_t all_shapes(struct wf_rule out[8])
{
	size_t n = rule_shapes(AF_INET, out);
	return n + rule_shapes(AF_INET6, out + n);
}

static void test_rule_list_returns_exactly_what_was_added(void **state)
{
	struct wf_rule rules[8], *got;
	size_t n = all_shapes(rules), n_got;

	add_foreign_rules();
	for (size_t i = 0; i < n; i++)
		assert_int_equal(wf_rtnl_rule_add(*state, &rules[i]), 0);

	assert_int_equal(wf_rtnl_rule_list(*state, AF_UNSPEC, WF_RTPROT, &got, &n_got), 0);
	assert_int_equal(n_got, n);
	for (size_t i = 0; i < n; i++)
		assert_true(wf_rule_equal(&rules[i], &got[i]));
	free(got);
	assert_rules_listed(*state, AF_INET, rules, 4);
	assert_rules_listed(*state, AF_INET6, rules + 4, 4);

	/* Every owner: ours, the foreign ones and the kernel's defaults. */
	assert_int_equal(wf_rtnl_rule_list(*state, AF_UNSPEC, 0, &got, &n_got), 0);
	assert_int_equal(n_got, n + 4 + 5);
	free(got);
}

static void test_rule_sync_twice_changes_nothing_the_second_time(void **state)
{
	struct wf_rule rules[8];
	size_t n = all_shapes(rules);

	add_foreign_rules();
	assert_int_equal(wf_rtnl_sync_rules(*state, rules, n), (int)n);
	assert_int_equal(wf_rtnl_sync_rules(*state, rules, n), 0);
	assert_rules_listed(*state, AF_UNSPEC, rules, n);
	assert_foreign_rules_intact();
}

static void test_rule_sync_to_smaller_set_removes_only_ours(void **state)
{
	struct wf_rule rules[8], keep[3];
	size_t n = all_shapes(rules);

	add_foreign_rules();
	assert_int_equal(wf_rtnl_sync_rules(*state, rules, n), (int)n);
	keep[0] = rules[0];
	keep[1] = rules[2];
	keep[2] = rules[5];
	assert_int_equal(wf_rtnl_sync_rules(*state, keep, 3), (int)n - 3);
	assert_rules_listed(*state, AF_UNSPEC, keep, 3);
	assert_foreign_rules_intact();
	assert_int_equal(wf_rtnl_sync_rules(*state, keep, 3), 0);
}

static void test_rule_sync_to_empty_removes_all_ours(void **state)
{
	struct wf_rule rules[8];
	size_t n = all_shapes(rules);

	add_foreign_rules();
	assert_int_equal(wf_rtnl_sync_rules(*state, rules, n), (int)n);
	assert_int_equal(wf_rtnl_sync_rules(*state, NULL, 0), (int)n);
	assert_rules_listed(*state, AF_UNSPEC, NULL, 0);
	assert_foreign_rules_intact();
}

static void test_rule_sync_takes_wanted_protocol_to_be_ours(void **state)
{
	struct wf_rule rule = {.family = AF_INET, .priority = 100, .table = 200, .src_len = 32};
	json_object *shown;

	rule.src = addr(AF_INET, "192.168.160.2");
	assert_int_equal(wf_rtnl_sync_rules(*state, &rule, 1), 1);
	shown = ip_json("rule show");
	assert_jstr(find_by_priority(shown, 100), "protocol", "207");
	json_object_put(shown);
	assert_int_equal(wf_rtnl_sync_rules(*state, &rule, 1), 0);
}

/* A kernel delete takes the first rule that has every attribute named, so removing a less
 * specific extra can take a more specific wanted rule of the same priority with it. */
static void test_rule_sync_keeps_wanted_rule_whose_less_specific_twin_goes(void **state)
{
	struct wf_rule wanted = {.family = AF_INET,
	                         .priority = 100,
	                         .table = 200,
	                         .src_len = 32,
	                         .has_fwmark = true,
	                         .fwmark = 0x1,
	                         .protocol = WF_RTPROT};
	struct wf_rule extra;
	int changes;

	wanted.src = addr(AF_INET, "192.168.160.2");
	extra = wanted;
	extra.has_fwmark = false;
	assert_int_equal(wf_rtnl_rule_add(*state, &wanted), 0);
	assert_int_equal(wf_rtnl_rule_add(*state, &extra), 0);

	changes = wf_rtnl_sync_rules(*state, &wanted, 1);
	assert_true(changes >= 1);
	assert_rules_listed(*state, AF_UNSPEC, &wanted, 1);
	assert_int_equal(wf_rtnl_sync_rules(*state, &wanted, 1), 0);
}

static void test_deleting_missing_rule_gives_enoent(void **state)
{
	struct wf_rule rules[4];

	rule_shapes(AF_INET, rules);
	assert_int_equal(wf_rtnl_rule_del(*state, &rules[1]), -ENOENT);
	assert_int_equal(wf_rtnl_rule_add(*state, &rules[1]), 0);
	assert_int_equal(wf_rtnl_rule_del(*state, &rules[1]), 0);
	assert_int_equal(wf_rtnl_rule_del(*state, &rules[1]), -ENOENT);
}

static void test_deleting_rule_of_another_owner_gives_enoent(void **state)
{
	struct wf_rule rules[4];
	json_object *shown;

	rule_shapes(AF_INET, rules);
	sh("ip rule add prio 100 fwmark 0x1/0xff table 200 protocol static");
	assert_int_equal(wf_rtnl_rule_del(*state, &rules[0]), -ENOENT);
	shown = ip_json("rule show");
	assert_jstr(find_by_priority(shown, 100), "protocol", "static");
	json_object_put(shown);
}

static void test_adding_same_rule_twice_gives_eexist(void **state)
{
	struct wf_rule rules[4];

	rule_shapes(AF_INET6, rules);
	assert_int_equal(wf_rtnl_rule_add(*state, &rules[2]), 0);
	assert_int_equal(wf_rtnl_rule_add(*state, &rules[2]), -EEXIST);
}

/* Routes */

static struct wf_route route_via(int family, uint32_t table, const char *gateway)
{
	struct wf_route rt = {.family = family,
	                      .table = table,
	                      .has_gateway = true,
	                      .oifname = V0,
	                      .type = RTN_UNICAST,
	                      .protocol = WF_RTPROT};

	rt.gateway = addr(family, gateway);
	return rt;
}

static struct wf_route route_unreachable(int family, uint32_t table)
{
	return (struct wf_route){
	    .family = family, .table = table, .type = RTN_UNREACHABLE, .protocol = WF_RTPROT};
}

static struct wf_route route_prefix(int family, const char *dst, uint8_t len, uint32_t metric)
{
	struct wf_route rt = {.family = family,
	                      .table = RT_TABLE_MAIN,
	                      .dst_len = len,
	                      .oifname = DEV1,
	                      .type = RTN_UNICAST,
	                      .metric = metric,
	                      .protocol = WF_RTPROT};

	rt.dst = addr(family, dst);
	return rt;
}

static size_t route_shapes(struct wf_route out[8])
{
	out[0] = route_via(AF_INET, 200, "10.200.0.2");
	out[1] = route_via(AF_INET6, 200, "fd00:200::2");
	out[2] = route_unreachable(AF_INET, 201);
	out[3] = route_unreachable(AF_INET6, 201);
	out[4] = route_prefix(AF_INET, "10.201.0.0", 24, 0);
	out[5] = route_prefix(AF_INET6, "fd00:201::", 64, 0);
	out[6] = route_prefix(AF_INET, "10.202.0.0", 24, 7);
	out[6].table = 1000;
	out[7] = route_via(AF_INET, 201, "10.200.0.3");
	out[7].dst = addr(AF_INET, "10.203.0.0");
	out[7].dst_len = 16;
	out[7].metric = 50;
	return 8;
}

static json_object *find_route(json_object *routes, const char *dst)
{
	for (size_t i = 0; i < json_object_array_length(routes); i++) {
		json_object *o = json_object_array_get_idx(routes, i);
		const char *d = jstr(o, "dst");
		if (d && !strcmp(d, dst))
			return o;
	}
	fail_msg("ip shows no route to %s", dst);
	return NULL;
}

static void assert_route_shown(const struct wf_route *rt)
{
	char args[64], dst[INET6_ADDRSTRLEN + 8], gw[INET6_ADDRSTRLEN];
	json_object *shown, *o;

	snprintf(args, sizeof(args), "%s route show table %u", rt->family == AF_INET6 ? "-6" : "",
	         rt->table);
	shown = ip_json(args);
	if (rt->dst_len) {
		inet_ntop(rt->family, &rt->dst, dst, sizeof(dst));
		snprintf(dst + strlen(dst), sizeof(dst) - strlen(dst), "/%u", rt->dst_len);
	} else {
		strcpy(dst, "default");
	}
	o = find_route(shown, dst);
	if (rt->has_gateway) {
		inet_ntop(rt->family, &rt->gateway, gw, sizeof(gw));
		assert_jstr(o, "gateway", gw);
	} else {
		assert_jstr(o, "gateway", NULL);
	}
	if (rt->type == RTN_UNICAST) {
		assert_jstr(o, "dev", rt->oifname);
		assert_jstr(o, "type", NULL);
	} else {
		assert_jstr(o, "type", rt->type == RTN_UNREACHABLE ? "unreachable" : "blackhole");
	}
	assert_jstr(o, "protocol", "207");
	if (rt->family == AF_INET6)
		assert_int_equal(jint(o, "metric", -1), rt->metric ? rt->metric : 1024);
	else
		assert_int_equal(jint(o, "metric", 0), rt->metric);
	json_object_put(shown);
}

static void test_routes_of_each_shape_show_in_ip_route(void **state)
{
	struct wf_route routes[8];
	size_t n = route_shapes(routes);

	for (size_t i = 0; i < n; i++) {
		int err = wf_rtnl_route_add(*state, &routes[i]);
		if (err)
			fail_msg("route %zu: %s", i, strerror(-err));
	}
	for (size_t i = 0; i < n; i++)
		assert_route_shown(&routes[i]);
}

static void add_foreign_routes(void)
{
	sh("ip route add 10.210.0.0/24 dev " DEV1 " proto static");
	sh("ip route add 10.211.0.0/24 via 10.200.0.2 table 200 proto static");
	sh("ip -6 route add fd00:211::/64 via fd00:200::2 dev " V0 " table 200 proto static");
}

static size_t count_routes(const char *args, const char *protocol)
{
	json_object *shown = ip_json(args);
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(shown); i++) {
		const char *p = jstr(json_object_array_get_idx(shown, i), "protocol");
		if (p && !strcmp(p, protocol))
			n++;
	}
	json_object_put(shown);
	return n;
}

static void assert_foreign_routes_intact(void)
{
	assert_int_equal(count_routes("route show table main", "static"), 1);
	assert_int_equal(count_routes("route show table 200", "static"), 1);
	assert_int_equal(count_routes("-6 route show table 200", "static"), 1);
	/* The kernel's own connected routes as well. */
	assert_int_equal(count_routes("route show table main", "kernel"), 1);
}

static void assert_routes_listed(struct wf_rtnl *r, const struct wf_route *want, size_t n_want)
{
	struct wf_route *got;
	size_t n;

	assert_int_equal(wf_rtnl_route_list(r, AF_UNSPEC, 0, WF_RTPROT, &got, &n), 0);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n_want; i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found = found || wf_route_equal(&want[i], &got[j]);
		if (!found)
			fail_msg("route %zu not listed", i);
	}
	free(got);
}

static void test_route_list_returns_exactly_what_was_added(void **state)
{
	struct wf_route routes[8], *got;
	size_t n = route_shapes(routes), n_got;

	add_foreign_routes();
	for (size_t i = 0; i < n; i++)
		assert_int_equal(wf_rtnl_route_add(*state, &routes[i]), 0);
	assert_routes_listed(*state, routes, n);

	assert_int_equal(wf_rtnl_route_list(*state, AF_INET6, 200, WF_RTPROT, &got, &n_got), 0);
	assert_int_equal(n_got, 1);
	assert_true(wf_route_equal(&got[0], &routes[1]));
	assert_string_equal(got[0].oifname, V0);
	free(got);

	assert_int_equal(wf_rtnl_route_list(*state, AF_INET, 1000, 0, &got, &n_got), 0);
	assert_int_equal(n_got, 1);
	assert_true(wf_route_equal(&got[0], &routes[6]));
	free(got);

	/* Any owner in table 200: ours and the foreign ones. */
	assert_int_equal(wf_rtnl_route_list(*state, AF_UNSPEC, 200, 0, &got, &n_got), 0);
	assert_int_equal(n_got, 4);
	free(got);
}

static void test_route_sync_twice_changes_nothing_the_second_time(void **state)
{
	struct wf_route routes[8];
	size_t n = route_shapes(routes);

	add_foreign_routes();
	assert_int_equal(wf_rtnl_sync_routes(*state, routes, n), (int)n);
	assert_int_equal(wf_rtnl_sync_routes(*state, routes, n), 0);
	assert_routes_listed(*state, routes, n);
	assert_foreign_routes_intact();
}

static void test_route_sync_to_smaller_set_removes_only_ours(void **state)
{
	struct wf_route routes[8], keep[3];
	size_t n = route_shapes(routes);

	add_foreign_routes();
	assert_int_equal(wf_rtnl_sync_routes(*state, routes, n), (int)n);
	keep[0] = routes[1];
	keep[1] = routes[2];
	keep[2] = routes[4];
	assert_int_equal(wf_rtnl_sync_routes(*state, keep, 3), (int)n - 3);
	assert_routes_listed(*state, keep, 3);
	assert_foreign_routes_intact();
	assert_int_equal(wf_rtnl_sync_routes(*state, keep, 3), 0);
}

static void test_route_sync_to_empty_removes_all_ours(void **state)
{
	struct wf_route routes[8];
	size_t n = route_shapes(routes);

	add_foreign_routes();
	assert_int_equal(wf_rtnl_sync_routes(*state, routes, n), (int)n);
	assert_int_equal(wf_rtnl_sync_routes(*state, NULL, 0), (int)n);
	assert_routes_listed(*state, NULL, 0);
	assert_foreign_routes_intact();
}

static void test_route_sync_moves_own_route_to_new_gateway_in_one_step(void **state)
{
	struct wf_route before[2] = {route_via(AF_INET, 200, "10.200.0.2"),
	                             route_via(AF_INET6, 200, "fd00:200::2")};
	struct wf_route after[2] = {route_via(AF_INET, 200, "10.200.0.3"),
	                            route_unreachable(AF_INET6, 200)};

	assert_int_equal(wf_rtnl_sync_routes(*state, before, 2), 2);
	assert_int_equal(wf_rtnl_sync_routes(*state, after, 2), 2);
	assert_routes_listed(*state, after, 2);
	assert_route_shown(&after[0]);
	assert_route_shown(&after[1]);
	assert_int_equal(wf_rtnl_sync_routes(*state, after, 2), 0);
}

/* Deleting the old device route after the replace would match the new one too, since a
 * delete that names no gateway matches any. */
static void test_route_sync_replacing_device_route_with_gateway_route_is_one_change(void **state)
{
	struct wf_route before = route_via(AF_INET, 200, "10.200.0.2");
	struct wf_route after = route_via(AF_INET, 200, "10.200.0.3");

	before.has_gateway = false;
	assert_int_equal(wf_rtnl_sync_routes(*state, &before, 1), 1);
	assert_int_equal(wf_rtnl_sync_routes(*state, &after, 1), 1);
	assert_routes_listed(*state, &after, 1);
	assert_route_shown(&after);
	assert_int_equal(wf_rtnl_sync_routes(*state, &after, 1), 0);
}

static void test_route_sync_leaves_slot_held_by_another_owner(void **state)
{
	struct wf_route want[2] = {route_unreachable(AF_INET, 202),
	                           route_prefix(AF_INET, "10.201.0.0", 24, 0)};

	sh("ip route add default via 10.200.0.2 table 202 proto static");
	assert_int_equal(wf_rtnl_sync_routes(*state, want, 2), -EEXIST);
	assert_int_equal(count_routes("route show table 202", "static"), 1);
	assert_int_equal(count_routes("route show table 202", "207"), 0);
	assert_routes_listed(*state, &want[1], 1);
}

static void test_deleting_missing_route_gives_enoent(void **state)
{
	struct wf_route rt = route_via(AF_INET, 200, "10.200.0.2");
	struct wf_route rt6 = route_unreachable(AF_INET6, 201);

	assert_int_equal(wf_rtnl_route_del(*state, &rt), -ENOENT);
	assert_int_equal(wf_rtnl_route_add(*state, &rt), 0);
	assert_int_equal(wf_rtnl_route_add(*state, &rt), -EEXIST);
	assert_int_equal(wf_rtnl_route_del(*state, &rt), 0);
	assert_int_equal(wf_rtnl_route_del(*state, &rt), -ENOENT);
	assert_int_equal(wf_rtnl_route_del(*state, &rt6), -ENOENT);
}

static void test_deleting_route_of_another_owner_gives_enoent(void **state)
{
	struct wf_route rt = route_prefix(AF_INET, "10.210.0.0", 24, 0);

	add_foreign_routes();
	assert_int_equal(wf_rtnl_route_del(*state, &rt), -ENOENT);
	assert_foreign_routes_intact();
}

static void test_route_on_missing_interface_gives_enodev(void **state)
{
	struct wf_route rt = route_via(AF_INET, 200, "10.200.0.2");

	strcpy(rt.oifname, "wfrt-none");
	assert_int_equal(wf_rtnl_route_add(*state, &rt), -ENODEV);
}

static void test_link_mtu_reads_the_interface_mtu(void **state)
{
	uint32_t mtu = 0;

	sh("ip link set " V0 " mtu 1420");
	assert_int_equal(wf_rtnl_link_mtu(*state, V0, &mtu), 0);
	assert_int_equal(mtu, 1420);
	assert_int_equal(wf_rtnl_link_mtu(*state, "lo", &mtu), 0);
	assert_int_equal(mtu, 65536);
	assert_int_equal(wf_rtnl_link_mtu(*state, "wfrt-none", &mtu), -ENODEV);
}

#define NS_TEST(f) cmocka_unit_test_setup_teardown(f, setup_namespace, teardown_namespace)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    NS_TEST(test_ipv4_rules_of_each_shape_show_in_ip_rule),
	    NS_TEST(test_ipv6_rules_of_each_shape_show_in_ip_rule),
	    NS_TEST(test_table_above_255_is_kept_whole),
	    NS_TEST(test_rule_list_returns_exactly_what_was_added),
	    NS_TEST(test_rule_sync_twice_changes_nothing_the_second_time),
	    NS_TEST(test_rule_sync_to_smaller_set_removes_only_ours),
	    NS_TEST(test_rule_sync_to_empty_removes_all_ours),
	    NS_TEST(test_rule_sync_takes_wanted_protocol_to_be_ours),
	    NS_TEST(test_rule_sync_keeps_wanted_rule_whose_less_specific_twin_goes),
	    NS_TEST(test_deleting_missing_rule_gives_enoent),
	    NS_TEST(test_deleting_rule_of_another_owner_gives_enoent),
	    NS_TEST(test_adding_same_rule_twice_gives_eexist),
	    NS_TEST(test_routes_of_each_shape_show_in_ip_route),
	    NS_TEST(test_route_list_returns_exactly_what_was_added),
	    NS_TEST(test_route_sync_twice_changes_nothing_the_second_time),
	    NS_TEST(test_route_sync_to_smaller_set_removes_only_ours),
	    NS_TEST(test_route_sync_to_empty_removes_all_ours),
	    NS_TEST(test_route_sync_moves_own_route_to_new_gateway_in_one_step),
	    NS_TEST(test_route_sync_replacing_device_route_with_gateway_route_is_one_change),
	    NS_TEST(test_route_sync_leaves_slot_held_by_another_owner),
	    NS_TEST(test_deleting_missing_route_gives_enoent),
	    NS_TEST(test_deleting_route_of_another_owner_gives_enoent),
	    NS_TEST(test_route_on_missing_interface_gives_enodev),
	    NS_TEST(test_link_mtu_reads_the_interface_mtu),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("rtnl_kernel", tests, NULL, NULL);
}
