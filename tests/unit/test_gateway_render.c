#include <wgfwd-gateway/render.h>
#include <wgfwd-gateway/grants.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP

static struct wf_gw_config cfg;
static struct wf_gw_params params;
static struct wf_gw_state st;

/* Peer 0: 192.168.160.2 and fc00:0:0:160::2; peer 1: 192.168.160.3 only. */
static int setup(void **state)
{
	const char *specs[] = {"192.168.160.2,fc00:0:0:160::2=/k/a", "192.168.160.3=/k/b"};
	char err[256] = "";
	struct wf_gw_peer p;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(wf_gw_peer_parse(specs[i], &p, err, sizeof(err)), 0);
		assert_int_equal(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)), 0);
		free(p.keyfile);
	}
	assert_int_equal(wf_gw_config_grant(&cfg, WF_GW_GRANT_EGRESS, "192.168.160.2=all",
	                                    wf_service_lookup_builtin, err, sizeof(err)),
	                 0);
	assert_int_equal(wf_gw_config_grant(&cfg, WF_GW_GRANT_EGRESS, "192.168.160.3=all",
	                                    wf_service_lookup_builtin, err, sizeof(err)),
	                 0);
	memset(&params, 0, sizeof(params));
	strcpy(params.tunnel_ifname, "wg0");
	strcpy(params.public_ifname, "eth0");
	params.control_port = WF_GW_DEFAULT_CONTROL_PORT;
	inet_pton(AF_INET, "203.0.113.1", &params.public_ip4[params.n_public_ip4++]);
	inet_pton(AF_INET6, "2001:db8::1", &params.public_ip6[params.n_public_ip6++]);
	assert_int_equal(wf_gw_state_init(&st, cfg.n_peers), 0);
	return 0;
}

static int teardown(void **state)
{
	wf_gw_state_free(&st);
	wf_gw_config_free(&cfg);
	return 0;
}

static void grant(size_t peer, struct wf_ctl_forward *f, size_t nf, struct wf_ctl_egress *g,
                  size_t ng)
{
	struct wf_gw_entries want = {.forwards = f, .n_forwards = nf, .egress = g, .n_egress = ng};
	struct wf_gw_state next;
	struct wf_gw_decision d;

	assert_int_equal(wf_gw_policy_decide(&cfg, &st, peer, &want, &next, &d), 0);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&st);
	st = next;
}

static struct wf_nft_table *render(void)
{
	struct wf_nft_table *t = NULL;

	assert_int_equal(wf_gw_render(&params, &cfg, &st, &t), 0);
	assert_non_null(t);
	return t;
}

static char *print(const struct wf_nft_table *t)
{
	char *text = NULL;

	assert_int_equal(wf_nft_table_print(t, &text), 0);
	return text;
}

static void representative_state_prints_as_the_expected_ruleset(void **state)
{
	struct wf_ctl_forward fa[] = {
	    {TCP, AF_INET, 443, 443}, {TCP, AF_INET6, 443, 443}, {UDP, AF_INET, 53, 5353}};
	struct wf_ctl_egress ga[] = {{TCP, 25, 27}, {TCP, 26, 26}, {UDP, 0, 0}};
	struct wf_ctl_egress gb[] = {{0, 0, 0}};
	struct wf_nft_table *t;
	char *text;
	const char *expected =
	    "table inet wgfwd_gateway {\n"
	    "\tmap fwd4 {\n"
	    "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"
	    "\t\telements = { tcp . 443 : 192.168.160.2 . 443,\n"
	    "\t\t\t     udp . 53 : 192.168.160.2 . 5353 }\n"
	    "\t}\n"
	    "\n"
	    "\tset public4 {\n"
	    "\t\ttype ipv4_addr\n"
	    "\t\telements = { 203.0.113.1 }\n"
	    "\t}\n"
	    "\n"
	    "\tset egress4 {\n"
	    "\t\ttype ipv4_addr . inet_proto . inet_service\n"
	    "\t\telements = { 192.168.160.2 . tcp . 25,\n"
	    "\t\t\t     192.168.160.2 . tcp . 26,\n"
	    "\t\t\t     192.168.160.2 . tcp . 27 }\n"
	    "\t}\n"
	    "\n"
	    "\tset egress4_proto {\n"
	    "\t\ttype ipv4_addr . inet_proto\n"
	    "\t\telements = { 192.168.160.2 . udp }\n"
	    "\t}\n"
	    "\n"
	    "\tset egress4_all {\n"
	    "\t\ttype ipv4_addr\n"
	    "\t\telements = { 192.168.160.3 }\n"
	    "\t}\n"
	    "\n"
	    "\tmap fwd6 {\n"
	    "\t\ttype inet_proto . inet_service : ipv6_addr . inet_service\n"
	    "\t\telements = { tcp . 443 : fc00:0:0:160::2 . 443 }\n"
	    "\t}\n"
	    "\n"
	    "\tset public6 {\n"
	    "\t\ttype ipv6_addr\n"
	    "\t\telements = { 2001:db8::1 }\n"
	    "\t}\n"
	    "\n"
	    "\tset egress6 {\n"
	    "\t\ttype ipv6_addr . inet_proto . inet_service\n"
	    "\t\telements = { fc00:0:0:160::2 . tcp . 25,\n"
	    "\t\t\t     fc00:0:0:160::2 . tcp . 26,\n"
	    "\t\t\t     fc00:0:0:160::2 . tcp . 27 }\n"
	    "\t}\n"
	    "\n"
	    "\tset egress6_proto {\n"
	    "\t\ttype ipv6_addr . inet_proto\n"
	    "\t\telements = { fc00:0:0:160::2 . udp }\n"
	    "\t}\n"
	    "\n"
	    "\tset egress6_all {\n"
	    "\t\ttype ipv6_addr\n"
	    "\t}\n"
	    "\n"
	    "\tchain dnat_in {\n"
	    "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	    "\t\tmeta nfproto ipv4 ip daddr @public4 ct mark set ct mark | 0x08000000 dnat ip to "
	    "meta l4proto . th dport map @fwd4 comment \"public ports to peers (IPv4)\"\n"
	    "\t\tmeta nfproto ipv6 ip6 daddr @public6 ct mark set ct mark | 0x08000000 dnat ip6 "
	    "to meta l4proto . th dport map @fwd6 comment \"public ports to peers (IPv6)\"\n"
	    "\t}\n"
	    "\n"
	    "\tchain guard_in {\n"
	    "\t\ttype filter hook input priority filter; policy accept;\n"
	    "\t\tmeta l4proto tcp th dport 51821 iifname != \"wg0\" iifname != \"lo\" drop "
	    "comment \"the control port answers only on the tunnel\"\n"
	    "\t}\n"
	    "\n"
	    "\tchain clamp {\n"
	    "\t\ttype filter hook forward priority mangle; policy accept;\n"
	    "\t\toifname \"wg0\" meta l4proto tcp tcp flags syn tcp option maxseg size set rt "
	    "mtu comment \"MSS of SYNs entering the tunnel\"\n"
	    "\t\tiifname \"wg0\" meta l4proto tcp tcp flags syn tcp option maxseg size set rt "
	    "mtu comment \"MSS of SYNs leaving the tunnel\"\n"
	    "\t}\n"
	    "\n"
	    "\tchain forward {\n"
	    "\t\ttype filter hook forward priority filter; policy accept;\n"
	    "\t\tct state established,related accept comment \"replies and related\"\n"
	    "\t\toifname \"wg0\" ct status dnat accept comment \"forwarded public ports into "
	    "the tunnel\"\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" meta nfproto ipv4 ip saddr . meta l4proto . "
	    "th dport @egress4 accept comment \"egress by port (IPv4)\"\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" meta nfproto ipv4 ip saddr . meta l4proto "
	    "@egress4_proto accept comment \"egress by protocol (IPv4)\"\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" meta nfproto ipv4 ip saddr @egress4_all "
	    "accept comment \"egress of everything (IPv4)\"\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" meta nfproto ipv6 ip6 saddr . meta l4proto . "
	    "th dport @egress6 accept comment \"egress by port (IPv6)\"\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" meta nfproto ipv6 ip6 saddr . meta l4proto "
	    "@egress6_proto accept comment \"egress by protocol (IPv6)\"\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" meta nfproto ipv6 ip6 saddr @egress6_all "
	    "accept comment \"egress of everything (IPv6)\"\n"
	    "\t\toifname \"wg0\" drop comment \"nothing else enters the tunnel\"\n"
	    "\t\tiifname \"wg0\" drop comment \"nothing else leaves the tunnel\"\n"
	    "\t}\n"
	    "\n"
	    "\tchain dnat_local {\n"
	    "\t\ttype nat hook output priority dstnat; policy accept;\n"
	    "\t\tmeta nfproto ipv4 ip daddr @public4 ct mark set ct mark | 0x08000000 dnat ip to "
	    "meta l4proto . th dport map @fwd4 comment \"public ports from the gateway itself "
	    "(IPv4)\"\n"
	    "\t\tmeta nfproto ipv6 ip6 daddr @public6 ct mark set ct mark | 0x08000000 dnat ip6 "
	    "to meta l4proto . th dport map @fwd6 comment \"public ports from the gateway itself "
	    "(IPv6)\"\n"
	    "\t}\n"
	    "\n"
	    "\tchain snat_out {\n"
	    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	    "\t\tiifname \"wg0\" oifname \"eth0\" masquerade comment \"egress leaves with the "
	    "public address\"\n"
	    "\t}\n"
	    "}\n";

	grant(0, fa, 3, ga, 3);
	grant(1, NULL, 0, gb, 1);
	t = render();
	text = print(t);
	assert_string_equal(text, expected);
	free(text);
	wf_nft_table_free(t);
}

static void empty_state_keeps_every_chain_and_set_and_forward_policy_accept(void **state)
{
	struct wf_nft_table *t = render();
	size_t elems = 0;

	assert_int_equal(t->family, NFPROTO_INET);
	assert_string_equal(t->name, WF_GW_TABLE);
	assert_int_equal(t->n_chains, 6);
	assert_int_equal(t->n_sets, 10);
	for (size_t i = 0; i < t->n_sets; i++)
		if (strcmp(t->sets[i].name, WF_GW_PUBLIC4) &&
		    strcmp(t->sets[i].name, WF_GW_PUBLIC6))
			elems += t->sets[i].n_elems;
	assert_int_equal(elems, 0);
	/* The VPS forwards for others too: only the tunnel's own rules may drop. */
	assert_int_equal(wf_nft_table_find_chain(t, "forward")->policy, NF_ACCEPT);
	wf_nft_table_free(t);
}

static void forwards_target_the_peers_own_tunnel_address(void **state)
{
	struct wf_ctl_forward fb[] = {{TCP, AF_INET, 8080, 80}};
	struct wf_nft_table *t;
	struct wf_nft_set *map;
	char addr[INET_ADDRSTRLEN];

	grant(1, fb, 1, NULL, 0);
	t = render();
	map = wf_nft_table_find_set(t, WF_GW_MAP4);
	assert_int_equal(map->n_elems, 1);
	assert_int_equal(map->elems[0].key[1].port, 8080);
	inet_ntop(AF_INET, &map->elems[0].data[0].ip4, addr, sizeof(addr));
	assert_string_equal(addr, "192.168.160.3");
	assert_int_equal(map->elems[0].data[1].port, 80);
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_MAP6)->n_elems, 0);
	wf_nft_table_free(t);
}

/* A change's tables hold the whole table's sets, in its order and with its elements, but for
 * the public addresses (the same in both tables of a change), and no chain or rule. */
static void elements_alone_are_the_sets_of_the_whole_table(void **state)
{
	struct wf_ctl_forward fa[] = {{TCP, AF_INET, 443, 443}, {TCP, AF_INET6, 443, 8443}};
	struct wf_ctl_forward fb[] = {{UDP, AF_INET, 53, 5353}};
	struct wf_ctl_egress ga[] = {{TCP, 25, 25}};
	struct wf_nft_table *whole, *t = NULL;

	grant(0, fa, 2, ga, 1);
	grant(1, fb, 1, NULL, 0);
	whole = render();
	assert_int_equal(wf_gw_render_elements(&cfg, &st, &t), 0);
	assert_non_null(t);
	assert_int_equal(t->n_chains, 0);
	assert_int_equal(t->n_rules, 0);
	assert_int_equal(t->n_sets, whole->n_sets);
	for (size_t i = 0; i < t->n_sets; i++) {
		const struct wf_nft_set *a = &t->sets[i], *b = &whole->sets[i];
		bool public = !strcmp(b->name, WF_GW_PUBLIC4) || !strcmp(b->name, WF_GW_PUBLIC6);

		assert_string_equal(a->name, b->name);
		assert_int_equal(a->n_key, b->n_key);
		assert_int_equal(a->n_data, b->n_data);
		assert_int_equal(a->n_elems, public ? 0 : b->n_elems);
		if (!public && b->n_elems)
			assert_memory_equal(a->elems, b->elems, b->n_elems * sizeof(*b->elems));
	}
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_MAP4)->n_elems, 2);
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_MAP6)->n_elems, 1);
	wf_nft_table_free(t);
	wf_nft_table_free(whole);
	/* a state the config does not describe is refused, as by the whole render */
	st.n_peers--;
	assert_int_equal(wf_gw_render_elements(&cfg, &st, &t), -EINVAL);
	assert_null(t);
	st.n_peers++;
}

static void egress_everything_covers_the_narrower_entries(void **state)
{
	struct wf_ctl_egress g[] = {{TCP, 25, 25}, {0, 0, 0}, {UDP, 0, 0}};
	struct wf_nft_table *t;

	grant(0, NULL, 0, g, 3);
	t = render();
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS4)->n_elems, 0);
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS4_PROTO)->n_elems, 0);
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS4_ALL)->n_elems, 1);
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS6_ALL)->n_elems, 1);
	wf_nft_table_free(t);
}

static void egress_of_a_whole_protocol_covers_its_ports(void **state)
{
	struct wf_ctl_egress g[] = {{TCP, 1000, 1999}, {TCP, 0, 0}, {UDP, 1000, 1001}};
	struct wf_nft_table *t;

	grant(1, NULL, 0, g, 3);
	t = render();
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS4_PROTO)->n_elems, 1);
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS4)->n_elems, 2);
	/* peer 1 has no IPv6 address: nothing in the IPv6 sets */
	assert_int_equal(wf_nft_table_find_set(t, WF_GW_EGRESS6)->n_elems, 0);
	wf_nft_table_free(t);
}

static bool has_item(const struct wf_nft_rule *r, enum wf_nft_item_kind kind)
{
	for (size_t i = 0; i < r->n_items; i++)
		if (r->items[i].kind == kind)
			return true;
	return false;
}

static bool matches_ifname(const struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                           const char *name)
{
	for (size_t i = 0; i < r->n_items; i++) {
		const struct wf_nft_item *it = &r->items[i];

		if (it->kind == WF_NFT_MATCH && it->field == f && it->op == op &&
		    !strcmp(it->value.ifname, name))
			return true;
	}
	return false;
}

static void only_egress_to_the_public_interface_is_translated_at_the_source(void **state)
{
	struct wf_nft_table *t = render();
	size_t snat = 0;

	for (size_t i = 0; i < t->n_rules; i++) {
		const struct wf_nft_rule *r = &t->rules[i];

		if (!has_item(r, WF_NFT_MASQUERADE) && !has_item(r, WF_NFT_SNAT) &&
		    !has_item(r, WF_NFT_SNAT_KEEP_SOURCE))
			continue;
		snat++;
		assert_true(matches_ifname(r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, "wg0"));
		assert_true(matches_ifname(r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, "eth0"));
	}
	assert_int_equal(snat, 1);
	wf_nft_table_free(t);
}

static void every_dnat_needs_a_public_destination_address(void **state)
{
	struct wf_nft_table *t = render();
	size_t dnat = 0;

	for (size_t i = 0; i < t->n_rules; i++) {
		const struct wf_nft_rule *r = &t->rules[i];
		bool public_daddr = false;

		if (!has_item(r, WF_NFT_DNAT_MAP) && !has_item(r, WF_NFT_DNAT))
			continue;
		dnat++;
		for (size_t k = 0; k < r->n_items; k++) {
			const struct wf_nft_item *it = &r->items[k];

			if (it->kind == WF_NFT_MATCH_SET && !it->negate && it->n_keys == 1 &&
			    (it->keys[0] == WF_NFT_F_IP_DADDR ||
			     it->keys[0] == WF_NFT_F_IP6_DADDR) &&
			    !strncmp(it->set, "public", 6))
				public_daddr = true;
		}
		assert_true(public_daddr);
	}
	assert_int_equal(dnat, 4);
	wf_nft_table_free(t);
}

/* Every flow a map translates carries the gateway's mark bit, and only that bit is set: the
 * search for a removed forward's IPv6 flows finds them by it (ct_flush.c), and other software
 * may own the mark's other bits. */
static void every_dnat_sets_the_gateway_mark_bit_keeping_the_others(void **state)
{
	struct wf_nft_table *t = render();
	size_t marked = 0;

	assert_int_equal(__builtin_popcount(WF_GW_CT_MARK), 1);
	for (size_t i = 0; i < t->n_rules; i++)
		for (size_t k = 0; k < t->rules[i].n_items; k++) {
			const struct wf_nft_item *it = &t->rules[i].items[k];

			assert_int_not_equal(it->kind, WF_NFT_CT_MARK_SET);
			if (it->kind != WF_NFT_DNAT_MAP)
				continue;
			assert_int_equal(it->mark_mask, WF_GW_CT_MARK);
			assert_int_equal(it->mark, WF_GW_CT_MARK);
			marked++;
		}
	assert_int_equal(marked, 4);
	wf_nft_table_free(t);
}

static void two_peers_on_one_public_port_is_refused(void **state)
{
	struct wf_ctl_forward f = {TCP, AF_INET, 443, 443};
	struct wf_nft_table *t = NULL;

	/* Only a state that skipped the policy can look like this. */
	assert_int_equal(wf_gw_entries_add_forward(&st.peers[0], &f), 0);
	assert_int_equal(wf_gw_entries_add_forward(&st.peers[1], &f), 0);
	assert_int_equal(wf_gw_render(&params, &cfg, &st, &t), -EEXIST);
	assert_null(t);
}

static void anchor_holds_nat_chains_and_a_conntrack_user_only(void **state)
{
	struct wf_nft_table *t = NULL;
	char *text = NULL;

	assert_int_equal(wf_gw_render_anchor(&t), 0);
	assert_int_equal(wf_nft_table_print(t, &text), 0);
	assert_string_equal(text, "table inet wgfwd_anchor {\n"
	                          "\tchain prerouting {\n"
	                          "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	                          "\t\tct state new comment \"keeps connection tracking, and so "
	                          "established NAT, alive\"\n"
	                          "\t}\n"
	                          "\n"
	                          "\tchain postrouting {\n"
	                          "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	                          "\t}\n"
	                          "}\n");
	free(text);
	wf_nft_table_free(t);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(representative_state_prints_as_the_expected_ruleset),
	    T(empty_state_keeps_every_chain_and_set_and_forward_policy_accept),
	    T(forwards_target_the_peers_own_tunnel_address),
	    T(elements_alone_are_the_sets_of_the_whole_table),
	    T(egress_everything_covers_the_narrower_entries),
	    T(egress_of_a_whole_protocol_covers_its_ports),
	    T(only_egress_to_the_public_interface_is_translated_at_the_source),
	    T(every_dnat_needs_a_public_destination_address),
	    T(every_dnat_sets_the_gateway_mark_bit_keeping_the_others),
	    T(two_peers_on_one_public_port_is_refused),
	    cmocka_unit_test(anchor_holds_nat_chains_and_a_conntrack_user_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
