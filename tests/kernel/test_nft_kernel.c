/* The nftables module against the kernel, in a private network namespace: what is committed
 * is what nft and iptables read, read-back compares equal, failed batches change nothing,
 * elements change one by one, big maps fit one commit, and other owners' tables are left
 * alone. Needs root, nft and iptables (iptables-nft). */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include <wgfwd/nft_kernel.h>
#include "wgfwd/nft_sync.h"

#define TABLE "wfnft-test"

static struct wf_nft *nft;

static char *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run(const char *fmt, ...)
{
	char *cmd, *out = NULL;
	size_t size = 0;
	va_list ap;
	FILE *p, *o;
	char buf[4096];
	size_t n;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	assert_true(ret > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	o = open_memstream(&out, &size);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, o);
	fclose(o);
	ret = pclose(p);
	if (!WIFEXITED(ret) || WEXITSTATUS(ret) != 0)
		fail_msg("`%s' failed: %s", cmd, out);
	free(cmd);
	return out;
}

static struct wf_nft_value ifname(const char *name)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IFNAME};

	snprintf(v.ifname, sizeof(v.ifname), "%s", name);
	return v;
}

static struct wf_nft_value mark(uint32_t m)
{
	return (struct wf_nft_value){.type = WF_NFT_T_MARK, .mark = m};
}

static struct wf_nft_value proto(uint8_t p)
{
	return (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = p};
}

static struct wf_nft_value port(uint16_t p)
{
	return (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = p};
}

static struct wf_nft_value ip4(const char *s)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IPV4_ADDR};

	inet_pton(AF_INET, s, &v.ip4);
	return v;
}

static struct wf_nft_value ip6(const char *s)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IPV6_ADDR};

	inet_pton(AF_INET6, s, &v.ip6);
	return v;
}

static void add(struct wf_nft_rule *r, struct wf_nft_item it)
{
	wf_nft_rule_item(r, &it);
}

static void match(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                  struct wf_nft_value v)
{
	wf_nft_rule_match(r, f, op, &v);
}

static struct wf_nft_item lookup_item(enum wf_nft_item_kind kind, const char *set, uint8_t family)
{
	struct wf_nft_item it = {
	    .kind = kind,
	    .keys = {WF_NFT_F_L4PROTO, WF_NFT_F_TH_DPORT},
	    .n_keys = 2,
	    .family = family,
	};

	snprintf(it.set, sizeof(it.set), "%s", set);
	return it;
}

static struct wf_nft_set dnat4_map(void)
{
	return (struct wf_nft_set){
	    .name = "dnat4",
	    .key = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE},
	    .n_key = 2,
	    .data = {WF_NFT_T_IPV4_ADDR, WF_NFT_T_INET_SERVICE},
	    .n_data = 2,
	};
}

static struct wf_nft_elem dnat4_elem(uint8_t p, uint16_t public_port, const char *addr,
                                     uint16_t target_port)
{
	return (struct wf_nft_elem){.key = {proto(p), port(public_port)},
	                            .data = {ip4(addr), port(target_port)}};
}

/* A table with every kind of item the module can express. */
static struct wf_nft_table *every_item_table(void)
{
	struct wf_nft_table *t = wf_nft_table_new(NFPROTO_INET, TABLE);
	struct wf_nft_chain chains[] = {
	    {.name = "pre",
	     .base = true,
	     .type = "nat",
	     .hook = NF_INET_PRE_ROUTING,
	     .priority = -100,
	     .policy = NF_ACCEPT},
	    {.name = "mangle",
	     .base = true,
	     .type = "filter",
	     .hook = NF_INET_PRE_ROUTING,
	     .priority = -150,
	     .policy = NF_ACCEPT},
	    {.name = "post",
	     .base = true,
	     .type = "nat",
	     .hook = NF_INET_POST_ROUTING,
	     .priority = 100,
	     .policy = NF_ACCEPT},
	    {.name = "fwd",
	     .base = true,
	     .type = "filter",
	     .hook = NF_INET_FORWARD,
	     .priority = 0,
	     .policy = NF_DROP},
	    {.name = "other"},
	};
	struct wf_nft_set m4 = dnat4_map();
	struct wf_nft_set m6 = {
	    .name = "dnat6",
	    .key = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE},
	    .n_key = 2,
	    .data = {WF_NFT_T_IPV6_ADDR, WF_NFT_T_INET_SERVICE},
	    .n_data = 2,
	};
	struct wf_nft_set ports = {
	    .name = "ports", .key = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE}, .n_key = 2};
	struct wf_nft_set odd = {
	    .name = "odd",
	    .key = {WF_NFT_T_MARK, WF_NFT_T_IFNAME, WF_NFT_T_IPV6_ADDR},
	    .n_key = 3,
	};
	struct wf_nft_elem e;
	struct wf_nft_rule r;
	struct wf_nft_set *s;

	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		assert_non_null(wf_nft_table_add_chain(t, &chains[i]));
	s = wf_nft_table_add_set(t, &m4);
	e = dnat4_elem(6, 443, "192.0.2.5", 8443);
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	e = dnat4_elem(17, 53, "192.0.2.6", 53);
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	s = wf_nft_table_add_set(t, &m6);
	e = (struct wf_nft_elem){.key = {proto(17), port(53)},
	                         .data = {ip6("2001:db8::5"), port(5353)}};
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	s = wf_nft_table_add_set(t, &ports);
	e = (struct wf_nft_elem){.key = {proto(6), port(25)}};
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	s = wf_nft_table_add_set(t, &odd);
	e = (struct wf_nft_elem){.key = {mark(0x10), ifname("wg0"), ip6("2001:db8::1")}};
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);

	r = (struct wf_nft_rule){.chain = "pre", .comment = "published ports"};
	match(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	add(&r, lookup_item(WF_NFT_MATCH_SET, "ports", 0));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_COUNTER});
	add(&r, lookup_item(WF_NFT_DNAT_MAP, "dnat4", NFPROTO_IPV4));
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "pre"};
	match(&r, WF_NFT_F_IP6_DADDR, WF_NFT_OP_EQ, ip6("2001:db8::"));
	r.items[0].prefix_len = 32;
	add(&r, lookup_item(WF_NFT_DNAT_MAP, "dnat6", NFPROTO_IPV6));
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "pre"};
	match(&r, WF_NFT_F_IP_SADDR, WF_NFT_OP_NEQ, ip4("10.16.0.0"));
	r.items[0].prefix_len = 12;
	match(&r, WF_NFT_F_IP_DADDR, WF_NFT_OP_EQ, ip4("192.0.2.1"));
	match(&r, WF_NFT_F_L4PROTO, WF_NFT_OP_EQ, proto(6));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_MATCH,
	                             .field = WF_NFT_F_TH_SPORT,
	                             .op = WF_NFT_OP_RANGE,
	                             .value = port(1000),
	                             .value_hi = port(2000)});
	match(&r, WF_NFT_F_TH_DPORT, WF_NFT_OP_NEQ, port(22));
	add(&r, (struct wf_nft_item){
	            .kind = WF_NFT_DNAT, .nat_addr = ip4("192.0.2.7"), .nat_port = 8080});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "pre"};
	match(&r, WF_NFT_F_FIB_DADDR_TYPE, WF_NFT_OP_EQ, mark(2 /* RTN_LOCAL */));
	match(&r, WF_NFT_F_NFPROTO, WF_NFT_OP_EQ, proto(NFPROTO_IPV6));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_DNAT, .nat_addr = ip6("2001:db8::7")});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "mangle"};
	match(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	match(&r, WF_NFT_F_CT_STATE, WF_NFT_OP_ANY_BITS, mark(NF_CT_STATE_BIT(IP_CT_NEW)));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_CT_MARK_SET, .mark = 0x1234});
	add(&r, (struct wf_nft_item){
	            .kind = WF_NFT_META_MARK_SET, .mark = 0x4000000, .mark_mask = 0x4000000});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "mangle"};
	match(&r, WF_NFT_F_CT_DIRECTION, WF_NFT_OP_EQ, proto(1 /* reply */));
	match(&r, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, mark(0x1234));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_META_MARK_FROM_CT});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "mangle"};
	match(&r, WF_NFT_F_META_MARK, WF_NFT_OP_NEQ, mark(0x1));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_META_MARK_SET, .mark = 0x99});
	add(&r,
	    (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_JUMP, .chain = "other"});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "post"};
	match(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, ifname("eth0"));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_MASQUERADE});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "post"};
	match(&r, WF_NFT_F_CT_STATUS, WF_NFT_OP_ANY_BITS, mark(IPS_DST_NAT));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_SNAT_KEEP_SOURCE, .family = NFPROTO_IPV4});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "post"};
	add(&r, (struct wf_nft_item){.kind = WF_NFT_SNAT_KEEP_SOURCE, .family = NFPROTO_IPV6});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "post"};
	match(&r, WF_NFT_F_NFPROTO, WF_NFT_OP_EQ, proto(NFPROTO_IPV4));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_SNAT, .nat_addr = ip4("192.0.2.9")});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "fwd"};
	match(&r, WF_NFT_F_TCP_FLAGS, WF_NFT_OP_ANY_BITS, mark(0x02));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_MSS_CLAMP});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "fwd"};
	add(&r,
	    (struct wf_nft_item){.kind = WF_NFT_MATCH_SET,
	                         .keys = {WF_NFT_F_META_MARK, WF_NFT_F_IIFNAME, WF_NFT_F_IP6_SADDR},
	                         .n_keys = 3,
	                         .set = "odd",
	                         .negate = true});
	add(&r, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_ACCEPT});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "fwd"};
	add(&r,
	    (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_GOTO, .chain = "other"});
	wf_nft_table_add_rule(t, &r);

	r = (struct wf_nft_rule){.chain = "other"};
	add(&r, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_RETURN});
	wf_nft_table_add_rule(t, &r);
	r = (struct wf_nft_rule){.chain = "other"};
	add(&r, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_DROP});
	wf_nft_table_add_rule(t, &r);
	return t;
}

static int commit_replace(const struct wf_nft_table *t, struct wf_nft_error *err)
{
	struct wf_nft_batch *b = wf_nft_batch_new();
	int ret;

	assert_non_null(b);
	assert_int_equal(wf_nft_batch_replace_table(b, t), 0);
	ret = wf_nft_commit(nft, b, err);
	wf_nft_batch_free(b);
	return ret;
}

static void commit_ok(struct wf_nft_batch *b)
{
	struct wf_nft_error err;
	int ret = wf_nft_commit(nft, b, &err);

	if (ret)
		fail_msg("commit: %s: %s: %s", strerror(-ret), err.what, err.detail);
	wf_nft_batch_free(b);
}

static void replace_ok(const struct wf_nft_table *t)
{
	struct wf_nft_batch *b = wf_nft_batch_new();

	assert_non_null(b);
	assert_int_equal(wf_nft_batch_replace_table(b, t), 0);
	commit_ok(b);
}

static struct wf_nft_table *read_back(void)
{
	struct wf_nft_table *k = NULL;

	assert_int_equal(wf_nft_table_get(nft, NFPROTO_INET, TABLE, &k), 0);
	return k;
}

static int reset(void **state)
{
	free(run("nft flush ruleset"));
	return 0;
}

static json_object *json_entries(const char *text)
{
	json_object *root = json_tokener_parse(text), *list;

	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "nftables", &list));
	json_object_get(list);
	json_object_put(root);
	return list;
}

/* The object of kind ("map", "chain", ...) named name among nft -j's entries. */
static json_object *json_find(json_object *list, const char *kind, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *entry = json_object_array_get_idx(list, i), *obj, *n;

		if (json_object_object_get_ex(entry, kind, &obj) &&
		    json_object_object_get_ex(obj, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return obj;
	}
	return NULL;
}

static const char *json_str(json_object *obj, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(obj, key, &v));
	return json_object_get_string(v);
}

static void every_item_kind_is_listed_by_nft_as_built(void **state)
{
	struct wf_nft_table *t = every_item_table();
	json_object *list, *obj, *v;
	char *text, *json;
	size_t rules = 0;

	replace_ok(t);
	text = run("nft list table inet " TABLE);
	static const char *const lines[] = {
	    "type inet_proto . inet_service : ipv4_addr . inet_service",
	    "tcp . 443 : 192.0.2.5 . 8443",
	    "udp . 53 : 192.0.2.6 . 53",
	    "type inet_proto . inet_service : ipv6_addr . inet_service",
	    "elements = { udp . 53 : 2001:db8::5 . 5353 }",
	    "type mark . ifname . ipv6_addr",
	    "elements = { 0x00000010 . \"wg0\" . 2001:db8::1 }",
	    "type nat hook prerouting priority dstnat; policy accept;",
	    "type filter hook forward priority filter; policy drop;",
	    "type filter hook prerouting priority mangle; policy accept;",
	    "iifname \"wg0\" meta l4proto . th dport @ports counter packets 0 bytes 0 dnat ip to "
	    "meta l4proto . th dport map @dnat4 comment \"published ports\"",
	    "ip6 daddr 2001:db8::/32 dnat ip6 to meta l4proto . th dport map @dnat6",
	    "ip saddr != 10.16.0.0/12 ip daddr 192.0.2.1 tcp sport 1000-2000 tcp dport != 22 "
	    "dnat ip to 192.0.2.7:8080",
	    "fib daddr type local meta nfproto ipv6 dnat ip6 to 2001:db8::7",
	    "iifname \"wg0\" ct state new ct mark set 0x00001234 meta mark set meta mark | "
	    "0x04000000",
	    "ct direction reply ct mark 0x00001234 meta mark set ct mark",
	    "meta mark != 0x00000001 meta mark set 0x00000099 jump other",
	    "oifname \"eth0\" masquerade",
	    "ct status dnat snat ip to ip saddr",
	    "snat ip6 to ip6 saddr",
	    "meta nfproto ipv4 snat ip to 192.0.2.9",
	    "tcp flags syn tcp option maxseg size set rt mtu",
	    "meta mark . iifname . ip6 saddr != @odd accept",
	    "goto other",
	    "return",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (!strstr(text, lines[i]))
			fail_msg("nft list lacks `%s' in:\n%s", lines[i], text);

	json = run("nft -j list table inet " TABLE);
	list = json_entries(json);
	obj = json_find(list, "map", "dnat4");
	assert_non_null(obj);
	assert_true(json_object_object_get_ex(obj, "type", &v));
	assert_string_equal(json_object_to_json_string(v), "[ \"inet_proto\", \"inet_service\" ]");
	assert_true(json_object_object_get_ex(obj, "map", &v));
	/* nft 1.0.6 writes map data types as one string */
	assert_string_equal(json_object_get_string(v), "ipv4_addr . inet_service");
	assert_true(json_object_object_get_ex(obj, "elem", &v));
	assert_int_equal(json_object_array_length(v), 2);
	obj = json_find(list, "chain", "fwd");
	assert_non_null(obj);
	assert_string_equal(json_str(obj, "hook"), "forward");
	assert_string_equal(json_str(obj, "policy"), "drop");
	obj = json_find(list, "chain", "other");
	assert_non_null(obj);
	assert_false(json_object_object_get_ex(obj, "hook", &v));
	for (size_t i = 0; i < json_object_array_length(list); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(list, i), "rule", &v))
			rules++;
	assert_int_equal(rules, t->n_rules);
	json_object_put(list);
	free(json);
	free(text);
	wf_nft_table_free(t);
}

static void read_back_table_equals_the_committed_one(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;

	/* the kernel lists rules chain by chain, in the order the chains were made */
	replace_ok(t);
	k = read_back();
	assert_int_equal(k->n_chains, t->n_chains);
	assert_int_equal(k->n_sets, t->n_sets);
	assert_int_equal(k->n_rules, t->n_rules);
	for (size_t i = 0; i < k->n_rules; i++) {
		assert_int_not_equal(k->rules[i].handle, 0);
		if (!wf_nft_rule_equal(&k->rules[i], &t->rules[i]))
			fail_msg("rule %zu in chain %s differs after read-back", i,
			         t->rules[i].chain);
	}
	assert_string_equal(k->rules[0].comment, "published ports");
	assert_int_equal(wf_nft_table_find_set(k, "dnat4")->n_elems, 2);
	assert_true(wf_nft_table_equal(k, t));
	wf_nft_table_free(k);
	wf_nft_table_free(t);
}

static void replacing_with_the_same_table_keeps_the_content(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k1, *k2;

	replace_ok(t);
	k1 = read_back();
	replace_ok(t);
	k2 = read_back();
	assert_true(wf_nft_table_equal(k2, t));
	assert_int_equal(k1->n_rules, k2->n_rules);
	for (size_t i = 0; i < k1->n_rules; i++)
		assert_int_equal(k1->rules[i].digest, k2->rules[i].digest);
	wf_nft_table_free(k1);
	wf_nft_table_free(k2);
	wf_nft_table_free(t);
}

static void changed_desired_table_no_longer_equals_the_kernel(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;

	replace_ok(t);
	k = read_back();
	t->rules[1].items[0].prefix_len = 48;
	assert_false(wf_nft_table_equal(k, t));
	t->rules[1].items[0].prefix_len = 32;
	wf_nft_table_find_set(t, "dnat4")->elems[0].data[1].port = 9443;
	assert_false(wf_nft_table_equal(k, t));
	wf_nft_table_free(k);
	wf_nft_table_free(t);
}

static void failed_batch_changes_nothing_and_names_the_bad_rule(void **state)
{
	struct wf_nft_table *t = every_item_table(), *bad = every_item_table(), *k;
	struct wf_nft_elem e = dnat4_elem(6, 8080, "192.0.2.50", 80);
	struct wf_nft_error err;
	struct wf_nft_rule r = {.chain = "fwd"};

	replace_ok(t);
	/* valid changes first, then a rule jumping to a chain that does not exist */
	assert_int_equal(wf_nft_set_add_elem(wf_nft_table_find_set(bad, "dnat4"), &e), 0);
	match(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	add(&r, (struct wf_nft_item){
	            .kind = WF_NFT_VERDICT, .verdict = WF_NFT_JUMP, .chain = "missing"});
	wf_nft_table_add_rule(bad, &r);
	assert_int_equal(commit_replace(bad, &err), -ENOENT);
	assert_int_equal(err.err, -ENOENT);
	assert_string_equal(err.what, "rule in chain fwd: iifname \"wg0\" jump missing");
	assert_non_null(strstr(err.detail, "jump missing"));

	k = read_back();
	assert_true(wf_nft_table_equal(k, t));
	wf_nft_table_free(k);
	wf_nft_table_free(bad);
	wf_nft_table_free(t);
}

static void conflicting_element_is_named_in_the_error(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;
	struct wf_nft_set change = dnat4_map();
	struct wf_nft_elem e = dnat4_elem(6, 443, "192.0.2.99", 443);
	struct wf_nft_batch *b = wf_nft_batch_new();
	struct wf_nft_error err;
	int ret;

	replace_ok(t);
	assert_int_equal(wf_nft_set_add_elem(&change, &e), 0);
	assert_int_equal(wf_nft_batch_add_elems(b, NFPROTO_INET, TABLE, &change), 0);
	ret = wf_nft_commit(nft, b, &err);
	assert_int_not_equal(ret, 0);
	assert_string_equal(err.what, "elements of map dnat4");
	assert_non_null(strstr(err.detail, "element tcp . 443 : 192.0.2.99 . 443"));
	k = read_back();
	assert_true(wf_nft_table_equal(k, t));
	wf_nft_table_free(k);
	wf_nft_batch_free(b);
	wf_nft_set_clear_elems(&change);
	wf_nft_table_free(t);
}

static void single_elements_change_without_touching_the_rest(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;
	struct wf_nft_set change = dnat4_map();
	struct wf_nft_elem added = dnat4_elem(17, 5000, "192.0.2.8", 5001);
	struct wf_nft_elem removed = dnat4_elem(6, 443, "192.0.2.5", 8443);
	struct wf_nft_batch *b;
	struct wf_nft_set *s;
	uint64_t handles[64];

	replace_ok(t);
	k = read_back();
	for (size_t i = 0; i < k->n_rules; i++)
		handles[i] = k->rules[i].handle;
	wf_nft_table_free(k);

	assert_int_equal(wf_nft_set_add_elem(&change, &added), 0);
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_add_elems(b, NFPROTO_INET, TABLE, &change), 0);
	commit_ok(b);
	s = wf_nft_table_find_set(t, "dnat4");
	assert_int_equal(wf_nft_set_add_elem(s, &added), 0);
	k = read_back();
	assert_true(wf_nft_table_equal(k, t));
	wf_nft_table_free(k);

	wf_nft_set_clear_elems(&change);
	assert_int_equal(wf_nft_set_add_elem(&change, &removed), 0);
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_delete_elems(b, NFPROTO_INET, TABLE, &change), 0);
	commit_ok(b);
	s->elems[0] = s->elems[--s->n_elems]; /* elems[0] is the one removed */
	k = read_back();
	assert_true(wf_nft_table_equal(k, t));
	/* rules were not rebuilt */
	for (size_t i = 0; i < k->n_rules; i++)
		assert_int_equal(k->rules[i].handle, handles[i]);
	wf_nft_table_free(k);
	wf_nft_set_clear_elems(&change);
	wf_nft_table_free(t);
}

static void element_data_changes_by_delete_and_add_in_one_batch(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;
	struct wf_nft_set old_elem = dnat4_map(), new_elem = dnat4_map();
	struct wf_nft_elem before = dnat4_elem(6, 443, "192.0.2.5", 8443);
	struct wf_nft_elem after = dnat4_elem(6, 443, "192.0.2.99", 443);
	struct wf_nft_batch *b = wf_nft_batch_new();

	replace_ok(t);
	assert_int_equal(wf_nft_set_add_elem(&old_elem, &before), 0);
	assert_int_equal(wf_nft_set_add_elem(&new_elem, &after), 0);
	assert_int_equal(wf_nft_batch_delete_elems(b, NFPROTO_INET, TABLE, &old_elem), 0);
	assert_int_equal(wf_nft_batch_add_elems(b, NFPROTO_INET, TABLE, &new_elem), 0);
	commit_ok(b);
	wf_nft_table_find_set(t, "dnat4")->elems[0] = after;
	k = read_back();
	assert_true(wf_nft_table_equal(k, t));
	wf_nft_table_free(k);
	wf_nft_set_clear_elems(&old_elem);
	wf_nft_set_clear_elems(&new_elem);
	wf_nft_table_free(t);
}

static void deleting_a_missing_element_fails_and_names_it(void **state)
{
	struct wf_nft_table *t = every_item_table();
	struct wf_nft_set gone = dnat4_map();
	struct wf_nft_elem e = dnat4_elem(17, 4242, "192.0.2.5", 1);
	struct wf_nft_batch *b = wf_nft_batch_new();
	struct wf_nft_error err;

	replace_ok(t);
	assert_int_equal(wf_nft_set_add_elem(&gone, &e), 0);
	assert_int_equal(wf_nft_batch_delete_elems(b, NFPROTO_INET, TABLE, &gone), 0);
	assert_int_equal(wf_nft_commit(nft, b, &err), -ENOENT);
	assert_string_equal(err.what, "element deletions of map dnat4");
	assert_non_null(strstr(err.detail, "element udp . 4242"));
	wf_nft_batch_free(b);
	wf_nft_set_clear_elems(&gone);
	wf_nft_table_free(t);
}

static void twenty_thousand_elements_fit_in_one_commit(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;
	struct wf_nft_set *s = wf_nft_table_find_set(t, "dnat4");
	struct wf_nft_batch *b = wf_nft_batch_new();
	char addr[32], *count;

	for (int i = 0; i < 20000; i++) {
		struct wf_nft_elem e;

		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i >> 16, (i >> 8) & 0xff, i & 0xff);
		e = dnat4_elem(i % 2 ? 6 : 17, (uint16_t)(10000 + i / 2), addr, 80);
		assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	}
	assert_int_equal(wf_nft_batch_replace_table(b, t), 0);
	assert_true(wf_nft_batch_size(b) > 10); /* elements were split over messages */
	commit_ok(b);
	k = read_back();
	assert_int_equal(wf_nft_table_find_set(k, "dnat4")->n_elems, 20002);
	assert_true(wf_nft_table_equal(k, t));
	count = run("nft list map inet " TABLE " dnat4 | grep -o ' : 10\\.' | wc -l");
	assert_int_equal(atoi(count), 20000);
	free(count);
	wf_nft_table_free(k);
	wf_nft_table_free(t);
}

static struct wf_nft_rule docker_user_rule(const char *comment)
{
	struct wf_nft_rule r = {.chain = "DOCKER-USER"};

	match(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	match(&r, WF_NFT_F_CT_STATUS, WF_NFT_OP_ANY_BITS, mark(IPS_DST_NAT));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_COUNTER});
	add(&r, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_ACCEPT});
	if (comment)
		snprintf(r.comment, sizeof(r.comment), "%s", comment);
	return r;
}

static void docker_user_rule_reads_back_in_iptables(void **state)
{
	struct wf_nft_rule desired = docker_user_rule(NULL), *rules;
	struct wf_nft_batch *b;
	size_t n;
	char *out;

	free(run("iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN"));
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_insert_rule(b, NFPROTO_IPV4, "filter", &desired), 0);
	commit_ok(b);

	out = run("iptables -S DOCKER-USER");
	assert_string_equal(out, "-N DOCKER-USER\n"
	                         "-A DOCKER-USER -i wg0 -m conntrack --ctstate DNAT -j ACCEPT\n"
	                         "-A DOCKER-USER -j RETURN\n");
	free(out);
	out = run("nft list chain ip filter DOCKER-USER 2>/dev/null");
	assert_non_null(
	    strstr(out, "iifname \"wg0\" ct status dnat counter packets 0 bytes 0 accept"));
	free(out);

	assert_int_equal(
	    wf_nft_chain_rules_get(nft, NFPROTO_IPV4, "filter", "DOCKER-USER", &rules, &n), 0);
	assert_int_equal(n, 2);
	assert_true(wf_nft_rule_equal(&rules[0], &desired));
	assert_false(wf_nft_rule_equal(&rules[1], &desired));

	b = wf_nft_batch_new();
	assert_int_equal(
	    wf_nft_batch_delete_rule(b, NFPROTO_IPV4, "filter", "DOCKER-USER", rules[0].handle), 0);
	commit_ok(b);
	free(rules);
	out = run("iptables -S DOCKER-USER");
	assert_string_equal(out, "-N DOCKER-USER\n-A DOCKER-USER -j RETURN\n");
	free(out);
}

static void docker_user_rule_with_comment_stays_readable(void **state)
{
	struct wf_nft_rule desired = docker_user_rule("wgfwd"), *rules;
	struct wf_nft_batch *b;
	size_t n;
	char *out;

	free(run("nft add table ip filter && nft add chain ip filter DOCKER-USER"));
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_insert_rule(b, NFPROTO_IPV4, "filter", &desired), 0);
	commit_ok(b);
	out = run("iptables -S DOCKER-USER");
	assert_string_equal(out, "-N DOCKER-USER\n-A DOCKER-USER -i wg0 -m conntrack --ctstate "
	                         "DNAT -m comment --comment wgfwd -j ACCEPT\n");
	free(out);
	assert_int_equal(
	    wf_nft_chain_rules_get(nft, NFPROTO_IPV4, "filter", "DOCKER-USER", &rules, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rules[0].comment, "wgfwd");
	assert_true(wf_nft_rule_equal(&rules[0], &desired));
	free(rules);
}

static void rule_written_by_iptables_is_found_by_shape(void **state)
{
	struct wf_nft_rule desired = docker_user_rule(NULL), *rules;
	size_t n;

	free(run("iptables -N DOCKER-USER && "
	         "iptables -I DOCKER-USER -i wg0 -m conntrack --ctstate DNAT -j ACCEPT"));
	assert_int_equal(
	    wf_nft_chain_rules_get(nft, NFPROTO_IPV4, "filter", "DOCKER-USER", &rules, &n), 0);
	assert_int_equal(n, 1);
	assert_true(rules[0].iptables_compat);
	assert_true(wf_nft_rule_equal(&rules[0], &desired));
	free(rules);
}

static void ct_mark_rule_in_docker_user_matches_iptables_connmark(void **state)
{
	struct wf_nft_rule desired = {.chain = "DOCKER-USER"}, *rules;
	struct wf_nft_batch *b;
	size_t n;
	char *out;

	match(&desired, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	match(&desired, WF_NFT_F_CT_MARK, WF_NFT_OP_NEQ, mark(0x1234));
	add(&desired, (struct wf_nft_item){.kind = WF_NFT_COUNTER});
	add(&desired, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_ACCEPT});
	free(run("iptables -N DOCKER-USER && "
	         "iptables -A DOCKER-USER -i wg0 -m connmark ! --mark 0x1234 -j ACCEPT"));
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_insert_rule(b, NFPROTO_IPV4, "filter", &desired), 0);
	commit_ok(b);
	out = run("iptables -S DOCKER-USER");
	assert_string_equal(out, "-N DOCKER-USER\n"
	                         "-A DOCKER-USER -i wg0 -m connmark ! --mark 0x1234 -j ACCEPT\n"
	                         "-A DOCKER-USER -i wg0 -m connmark ! --mark 0x1234 -j ACCEPT\n");
	free(out);
	assert_int_equal(
	    wf_nft_chain_rules_get(nft, NFPROTO_IPV4, "filter", "DOCKER-USER", &rules, &n), 0);
	assert_int_equal(n, 2);
	assert_true(wf_nft_rule_equal(&rules[0], &desired));
	assert_true(wf_nft_rule_equal(&rules[1], &desired));
	free(rules);
}

static void missing_chain_or_table_reads_as_enoent(void **state)
{
	struct wf_nft_table *k = NULL;
	struct wf_nft_rule *rules = NULL;
	size_t n;

	assert_int_equal(wf_nft_table_get(nft, NFPROTO_INET, TABLE, &k), -ENOENT);
	assert_int_equal(
	    wf_nft_chain_rules_get(nft, NFPROTO_IPV4, "filter", "DOCKER-USER", &rules, &n),
	    -ENOENT);
}

static void deleting_a_table_works_whether_or_not_it_exists(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k = NULL;
	struct wf_nft_batch *b;

	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_delete_table(b, NFPROTO_INET, TABLE), 0);
	commit_ok(b);
	replace_ok(t);
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_delete_table(b, NFPROTO_INET, TABLE), 0);
	commit_ok(b);
	assert_int_equal(wf_nft_table_get(nft, NFPROTO_INET, TABLE, &k), -ENOENT);
	wf_nft_table_free(t);
}

static void tables_of_other_owners_are_untouched(void **state)
{
	struct wf_nft_table *t = every_item_table();
	struct wf_nft_set change = dnat4_map();
	struct wf_nft_elem e = dnat4_elem(6, 9000, "192.0.2.9", 9000);
	struct wf_nft_batch *b;
	char *before, *after;

	/* same names as ours, in another table and in another family */
	free(run("nft -f - <<'EOF'\n"
	         "table inet wfnft-other {\n"
	         "  map dnat4 { type inet_proto . inet_service : ipv4_addr . inet_service; "
	         "elements = { tcp . 443 : 192.0.2.77 . 443 } }\n"
	         "  chain pre { type nat hook prerouting priority -100; policy accept; "
	         "dnat ip to meta l4proto . th dport map @dnat4; }\n"
	         "}\n"
	         "table ip " TABLE " {\n  chain pre {\n    counter\n  }\n}\n"
	         "EOF"));
	before = run("nft list table inet wfnft-other; nft list table ip " TABLE);

	replace_ok(t);
	replace_ok(t);
	assert_int_equal(wf_nft_set_add_elem(&change, &e), 0);
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_add_elems(b, NFPROTO_INET, TABLE, &change), 0);
	commit_ok(b);
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_delete_elems(b, NFPROTO_INET, TABLE, &change), 0);
	commit_ok(b);
	b = wf_nft_batch_new();
	assert_int_equal(wf_nft_batch_delete_table(b, NFPROTO_INET, TABLE), 0);
	commit_ok(b);

	after = run("nft list table inet wfnft-other; nft list table ip " TABLE);
	assert_string_equal(before, after);
	free(before);
	free(after);
	wf_nft_set_clear_elems(&change);
	wf_nft_table_free(t);
}

static void empty_batch_commits_nothing(void **state)
{
	struct wf_nft_batch *b = wf_nft_batch_new();

	assert_int_equal(wf_nft_batch_size(b), 0);
	commit_ok(b);
}

static uint32_t genid_now(void)
{
	uint32_t g;

	assert_int_equal(wf_nft_genid(nft, &g), 0);
	return g;
}

static void every_commit_advances_the_generation_by_one(void **state)
{
	struct wf_nft_table *t = every_item_table();
	uint32_t before = genid_now(), after;
	struct wf_nft_batch *b;

	replace_ok(t);
	assert_int_equal(genid_now(), before + 1);
	b = wf_nft_batch_new_at(before + 1);
	assert_int_equal(wf_nft_batch_replace_table(b, t), 0);
	assert_int_equal(wf_nft_commit(nft, b, &(struct wf_nft_error){0}), 0);
	assert_true(wf_nft_batch_genid_after(b, &after));
	assert_int_equal(after, genid_now());
	wf_nft_batch_free(b);
	wf_nft_table_free(t);
}

static void guarded_batch_is_refused_after_another_commit(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;
	struct wf_nft_set change = dnat4_map();
	struct wf_nft_elem added = dnat4_elem(17, 5000, "192.0.2.8", 5001);
	struct wf_nft_error err;
	struct wf_nft_batch *b;
	uint32_t g, after;

	replace_ok(t);
	g = genid_now();
	b = wf_nft_batch_new_at(g);
	assert_int_equal(wf_nft_set_add_elem(&change, &added), 0);
	assert_int_equal(wf_nft_batch_add_elems(b, NFPROTO_INET, TABLE, &change), 0);
	free(run("nft add table ip someone_else"));
	assert_int_equal(wf_nft_commit(nft, b, &err), -ERESTART);
	assert_false(wf_nft_batch_genid_after(b, &after));
	k = read_back();
	assert_true(wf_nft_table_equal(k, t)); /* the element did not land */
	wf_nft_table_free(k);
	wf_nft_batch_free(b);
	wf_nft_set_clear_elems(&change);
	wf_nft_table_free(t);
}

/* The sync reads the kernel only when someone else committed since its last commit, and then
 * repairs what they changed in our table. */
static void cached_sync_reads_back_only_after_another_commit(void **state)
{
	struct wf_nft_table *t = every_item_table(), *k;
	struct wf_nft_set *s = wf_nft_table_find_set(t, "dnat4");
	struct wf_nft_elem added = dnat4_elem(17, 5000, "192.0.2.8", 5001);
	struct wf_nft_cache cache = {0};
	struct wf_nft_sync res;

	for (int round = 0; round < 4; round++) {
		struct wf_nft_batch *b;
		int err;

		if (round == 2)
			assert_int_equal(wf_nft_set_add_elem(s, &added), 0);
		if (round == 3)
			free(run("nft delete element inet " TABLE " dnat4 '{ udp . 5000 }'"));
		b = wf_nft_batch_new_at(genid_now());
		assert_int_equal(wf_nft_batch_sync_table(nft, b, t, &cache, &res), 0);
		switch (round) {
		case 0: /* nothing known yet: read, and the table is missing */
			assert_true(res.read_back);
			assert_int_equal(res.change, WF_NFT_REPLACED);
			break;
		case 1: /* our own commit since: nothing to read, nothing to do */
			assert_false(res.read_back);
			assert_int_equal(res.change, WF_NFT_UNCHANGED);
			break;
		case 2:
			assert_false(res.read_back);
			assert_int_equal(res.change, WF_NFT_ELEMENTS);
			assert_int_equal(res.elements_added, 1);
			break;
		case 3: /* someone removed an element: the generation moved, the kernel is read */
			assert_true(res.read_back);
			assert_int_equal(res.change, WF_NFT_ELEMENTS);
			assert_int_equal(res.elements_added, 1);
			break;
		}
		err = wf_nft_batch_size(b) ? wf_nft_commit(nft, b, &(struct wf_nft_error){0}) : 0;
		assert_int_equal(err, 0);
		wf_nft_cache_settle(&cache, b, err);
		wf_nft_batch_free(b);
		k = read_back();
		assert_true(wf_nft_table_equal(k, t));
		wf_nft_table_free(k);
	}
	wf_nft_cache_free(&cache);
	wf_nft_table_free(t);
}

/* Docker's bridge-accept-fwmark beside other marks: the masked set adds its bit to a packet
 * that already carries another mark, and Docker's own match (`meta mark and MASK == MARK`, as
 * its nftables backend writes it) accepts the packet. Pings to loopback (requests and replies
 * both leave through output), counted. */
static void masked_mark_set_keeps_other_bits_and_passes_dockers_match(void **state)
{
	struct wf_nft_table *t = wf_nft_table_new(NFPROTO_INET, TABLE);
	struct wf_nft_chain c = {.name = "out",
	                         .base = true,
	                         .type = "route",
	                         .hook = NF_INET_LOCAL_OUT,
	                         .priority = -160,
	                         .policy = NF_ACCEPT};
	struct wf_nft_rule r = {.chain = "out"};
	char *text;

	free(run("ip link set lo up"));
	wf_nft_table_add_chain(t, &c);
	match(&r, WF_NFT_F_L4PROTO, WF_NFT_OP_EQ, proto(IPPROTO_ICMP));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_META_MARK_SET, .mark = 0x11});
	add(&r, (struct wf_nft_item){
	            .kind = WF_NFT_META_MARK_SET, .mark = 0x4000000, .mark_mask = 0x4000000});
	wf_nft_table_add_rule(t, &r);
	replace_ok(t);
	free(run("nft add table ip docker-test"));
	free(run("nft add chain ip docker-test out '{ type filter hook output priority 0; }'"));
	free(run("nft add rule ip docker-test out meta mark and 67108864 == 67108864 "
	         "counter comment \\\"ALLOW FW MARK\\\""));
	free(run("nft add rule ip docker-test out meta mark 0x04000011 counter comment "
	         "\\\"both marks\\\""));
	free(run("ping -c 2 -W 1 -q 127.0.0.1"));
	text = run("nft list chain ip docker-test out");
	if (!strstr(text, "counter packets 4 bytes 336 comment \"ALLOW FW MARK\"") ||
	    !strstr(text, "counter packets 4 bytes 336 comment \"both marks\""))
		fail_msg("the marked packets were not counted:\n%s", text);
	free(text);
	wf_nft_table_free(t);
}

static int open_socket(void **state)
{
	return wf_nft_open(&nft);
}

static int close_socket(void **state)
{
	wf_nft_close(nft);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(every_item_kind_is_listed_by_nft_as_built, reset),
	    cmocka_unit_test_setup(read_back_table_equals_the_committed_one, reset),
	    cmocka_unit_test_setup(replacing_with_the_same_table_keeps_the_content, reset),
	    cmocka_unit_test_setup(changed_desired_table_no_longer_equals_the_kernel, reset),
	    cmocka_unit_test_setup(failed_batch_changes_nothing_and_names_the_bad_rule, reset),
	    cmocka_unit_test_setup(conflicting_element_is_named_in_the_error, reset),
	    cmocka_unit_test_setup(single_elements_change_without_touching_the_rest, reset),
	    cmocka_unit_test_setup(element_data_changes_by_delete_and_add_in_one_batch, reset),
	    cmocka_unit_test_setup(deleting_a_missing_element_fails_and_names_it, reset),
	    cmocka_unit_test_setup(twenty_thousand_elements_fit_in_one_commit, reset),
	    cmocka_unit_test_setup(docker_user_rule_reads_back_in_iptables, reset),
	    cmocka_unit_test_setup(docker_user_rule_with_comment_stays_readable, reset),
	    cmocka_unit_test_setup(rule_written_by_iptables_is_found_by_shape, reset),
	    cmocka_unit_test_setup(ct_mark_rule_in_docker_user_matches_iptables_connmark, reset),
	    cmocka_unit_test_setup(missing_chain_or_table_reads_as_enoent, reset),
	    cmocka_unit_test_setup(deleting_a_table_works_whether_or_not_it_exists, reset),
	    cmocka_unit_test_setup(tables_of_other_owners_are_untouched, reset),
	    cmocka_unit_test_setup(empty_batch_commits_nothing, reset),
	    cmocka_unit_test_setup(every_commit_advances_the_generation_by_one, reset),
	    cmocka_unit_test_setup(guarded_batch_is_refused_after_another_commit, reset),
	    cmocka_unit_test_setup(cached_sync_reads_back_only_after_another_commit, reset),
	    cmocka_unit_test_setup(masked_mark_set_keeps_other_bits_and_passes_dockers_match,
	                           reset),
	};

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (kernel tests need root)\n",
		        strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests(tests, open_socket, close_socket);
}
