#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <wgfwd-agent/plan_print.h>
#include <wgfwd-agent/render.h>

#include "gateway_fixture.h"

static struct wf_server_params params(void)
{
	struct wf_server_params p;

	wf_server_params_default(&p);
	p.has_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.160.2", &p.tunnel_ip4);
	p.has_tunnel_ip6 = true;
	inet_pton(AF_INET6, "fc00:0:0:160::2", &p.tunnel_ip6);
	p.n_gateway_ip4 = 1;
	inet_pton(AF_INET, "192.0.2.1", &p.gateway_ip4[0]);
	return p;
}

static struct wf_forward web_forward(void)
{
	struct wf_forward f = {.proto = 6,
	                       .public_port = 443,
	                       .target_port = 8443,
	                       .has_ip4 = true,
	                       .has_ip6 = true,
	                       .bridge = "br-web",
	                       .container_name = "web"};

	inet_pton(AF_INET, "172.18.0.2", &f.ip4);
	inet_pton(AF_INET6, "fd00:d0c::2", &f.ip6);
	return f;
}

static struct wf_egress smtp_egress(void)
{
	struct wf_egress e = {.proto = 6,
	                      .port_lo = 25,
	                      .port_hi = 25,
	                      .has_ip4 = true,
	                      .bridge = "br-mail",
	                      .container_name = "mail"};

	inet_pton(AF_INET, "172.19.0.3", &e.ip4);
	return e;
}

static char *render_text(const struct wf_server_params *p, const struct wf_desired *d)
{
	struct wf_server_plan plan;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(wf_server_render(p, d, &plan), 0);
	assert_int_equal(wf_server_plan_print(f, &plan), 0);
	fclose(f);
	wf_server_plan_free(&plan);
	return buf;
}

static void assert_contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected to find:\n  %s\nin:\n%s", needle, text);
}

static void forward_becomes_one_element_per_family(void **state)
{
	struct wf_server_params p = params();
	struct wf_forward f = web_forward();
	struct wf_desired d = {.forwards = &f, .n_forwards = 1};
	char *text = render_text(&p, &d);

	assert_contains(text, "elements = { tcp . 443 : 172.18.0.2 . 8443 }");
	assert_contains(text, "elements = { tcp . 443 : fd00:d0c::2 . 8443 }");
	free(text);
}

static void inbound_dnat_only_for_local_addresses_from_the_tunnel(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text = render_text(&p, &d);

	assert_contains(text, "iifname \"wg0\" meta nfproto ipv4 fib daddr type local dnat ip to "
	                      "meta l4proto . th dport map @fwd4");
	assert_contains(text, "iifname \"wg0\" meta nfproto ipv6 fib daddr type local dnat ip6 to "
	                      "meta l4proto . th dport map @fwd6");
	free(text);
}

static void replies_are_marked_in_the_reply_direction_only(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text = render_text(&p, &d);

	assert_contains(text, "iifname \"wg0\" ct state new ct mark set 0x77660001");
	assert_contains(text, "ct direction reply ct mark 0x77660001 meta mark set 0x77660001");
	assert_contains(text, "type route hook output");
	assert_contains(text, "ip rule add priority 10000 fwmark 0x77660001/0xffffffff lookup "
	                      "51820 protocol 207");
	assert_contains(text, "ip rule add priority 10001 from 192.168.160.2/32 lookup 51820");
	assert_contains(text, "ip -6 rule add priority 10001 from fc00:0:0:160::2/128 lookup");
	assert_contains(text, "ip route add default dev wg0 table 51820 protocol 207");
	assert_contains(text, "ip -6 route add default dev wg0 table 51820 protocol 207");
	free(text);
}

static void egress_rule_is_scoped_by_bridge_source_and_port(void **state)
{
	struct wf_server_params p = params();
	struct wf_egress e = smtp_egress();
	struct wf_desired d = {.egress = &e, .n_egress = 1};
	char *text = render_text(&p, &d);

	assert_contains(text, "ip rule add priority 10002 iif br-mail from 172.19.0.3/32 ipproto "
	                      "tcp dport 25 lookup 51820 protocol 207");
	/* No IPv6 address: no IPv6 egress rule. */
	assert_null(strstr(text, "ip -6 rule add priority 10002"));
	assert_contains(text, "oifname \"wg0\" masquerade");
	free(text);
}

static void mss_is_clamped_into_the_tunnel(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text = render_text(&p, &d);

	assert_contains(text, "oifname \"wg0\" meta l4proto tcp tcp flags syn tcp option maxseg "
	                      "size set rt mtu");
	free(text);
}

static void docker_user_rule_has_the_iptables_shape(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text = render_text(&p, &d);

	assert_contains(text, "iifname \"wg0\" ct status dnat counter accept");
	free(text);

	p.docker_user = false;
	text = render_text(&p, &d);
	assert_null(strstr(text, "ct status dnat counter accept"));
	free(text);
}

static void hairpin_keeps_the_source_for_gateway_addresses(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text = render_text(&p, &d);

	assert_contains(text, "elements = { 192.0.2.1 }");
	assert_contains(text, "iifname != \"wg0\" meta nfproto ipv4 ip daddr @gateway_public4 ct "
	                      "mark set 0x77660002 dnat ip to");
	assert_contains(text, "ct mark 0x77660002 snat ip to ip saddr");
	free(text);
}

static void interface_and_table_come_from_the_parameters(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text;

	strcpy(p.tunnel_ifname, "wg1");
	p.table = 200;
	text = render_text(&p, &d);
	assert_contains(text, "iifname \"wg1\" ct state new");
	assert_contains(text, "ip route add default dev wg1 table 200");
	assert_null(strstr(text, "\"wg0\""));
	free(text);
}

static void host_network_forward_targets_the_tunnel_address(void **state)
{
	struct wf_server_params p = params();
	struct wf_forward f = {.proto = 17,
	                       .public_port = 53,
	                       .target_port = 53,
	                       .to_host = true,
	                       .container_name = "dns"};
	struct wf_desired d = {.forwards = &f, .n_forwards = 1};
	char *text = render_text(&p, &d);

	assert_contains(text, "udp . 53 : 192.168.160.2 . 53");
	assert_contains(text, "udp . 53 : fc00:0:0:160::2 . 53");
	free(text);
}

static void gateway_tunnel_address_gets_a_main_table_route(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text;

	p.has_gateway_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.160.1", &p.gateway_tunnel_ip4);
	text = render_text(&p, &d);
	assert_contains(text, "ip route add 192.168.160.1/32 dev wg0 table 254 protocol 207");
	free(text);
}

static void bridge_accept_fwmark_marks_new_tunnel_and_hairpin_flows(void **state)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	char *text = render_text(&p, &d);

	assert_null(strstr(text, "meta mark set meta mark"));
	free(text);

	p.has_accept_mark = true;
	p.accept_mark = 0x4000000;
	p.accept_mask = 0x4000000;
	text = render_text(&p, &d);
	/* only the mask's bits: marks others set on the packet survive */
	assert_contains(text, "iifname \"wg0\" ct state new ct mark set 0x77660001 meta mark set "
	                      "meta mark | 0x04000000");
	assert_contains(text, "ip daddr @gateway_public4 ct mark set 0x77660002 meta mark set meta "
	                      "mark | 0x04000000 dnat ip to");
	assert_contains(text, "ip6 daddr @gateway_public6 ct mark set 0x77660002 meta mark set "
	                      "meta mark | 0x04000000 dnat ip6 to");
	/* replies keep the whole fwmark their ip rule matches */
	assert_contains(text, "ct direction reply ct mark 0x77660001 meta mark set 0x77660001");
	free(text);

	p.accept_mark = 0x1;
	p.accept_mask = 0x3;
	text = render_text(&p, &d);
	assert_contains(text, "meta mark set meta mark & 0xfffffffc | 0x00000001");
	free(text);

	/* without a mask, Docker matches the whole mark: so is it set */
	p.accept_mask = 0xffffffff;
	p.accept_mark = 0x100;
	text = render_text(&p, &d);
	assert_contains(text, "ct state new ct mark set 0x77660001 meta mark set 0x00000100");
	free(text);
}

static void bridge_accept_fwmark_parses_as_dockerd_does(void **state)
{
	struct wf_server_params p = params();
	uint32_t mark, mask;
	char err[256];

	assert_int_equal(
	    wf_server_parse_accept_mark("0x4000000/0x4000000", &p, &mark, &mask, err, sizeof(err)),
	    0);
	assert_int_equal(mark, 0x4000000);
	assert_int_equal(mask, 0x4000000);
	assert_int_equal(wf_server_parse_accept_mark("256", &p, &mark, &mask, err, sizeof(err)), 0);
	assert_int_equal(mark, 256);
	assert_int_equal(mask, 0xffffffff);
	assert_int_equal(
	    wf_server_parse_accept_mark("010/0xff", &p, &mark, &mask, err, sizeof(err)), 0);
	assert_int_equal(mark, 8);

	static const char *const bad[] = {"",   "x",      "1/",          "/1",
	                                  "-1", "1/0",    "0x100000000", "3/1",
	                                  "0",  "0/0xff", "1 ",          "0x77660001"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (wf_server_parse_accept_mark(bad[i], &p, &mark, &mask, err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("accepted `%s'", bad[i]);
		assert_true(err[0] != '\0');
	}
	wf_server_parse_accept_mark("0x77660001", &p, &mark, &mask, err, sizeof(err));
	assert_non_null(strstr(err, "--fwmark"));
}

static void two_gateways(const struct wf_server_params *p, struct wf_server_gateway g[2])
{
	wf_server_gateway_from_params(p, &g[0]);
	strcpy(g[0].name, "vps1");
	second_gateway(p, "wg2", &g[1]);
	/* also vps1's: once in the set */
	inet_pton(AF_INET, "192.0.2.1", &g[1].public_ip4[g[1].n_public_ip4++]);
	g[1].n_public_ip6 = 1;
	inet_pton(AF_INET6, "2001:db8:3::1", &g[1].public_ip6[0]);
}

static char *render_gateways_text(const struct wf_server_params *p,
                                  const struct wf_server_gateway *g, size_t n,
                                  const struct wf_desired *d)
{
	struct wf_server_plan plan;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(wf_server_render_gateways(p, g, n, d, &plan), 0);
	assert_int_equal(wf_server_plan_print(f, &plan), 0);
	fclose(f);
	wf_server_plan_free(&plan);
	return buf;
}

/* The rules of the first n of two gateways with no forwards or egress: what every gateway gets
 * whatever it carries. */
static char *two_gateways_text(size_t n)
{
	struct wf_server_params p = params();
	struct wf_desired d = {0};
	struct wf_server_gateway g[2];

	two_gateways(&p, g);
	return render_gateways_text(&p, g, n, &d);
}

static void one_gateway_from_the_parameters_renders_as_before(void **state)
{
	struct wf_server_params p = params();
	struct wf_forward f = web_forward();
	struct wf_egress e = smtp_egress();
	struct wf_desired d = {.forwards = &f, .n_forwards = 1, .egress = &e, .n_egress = 1};
	struct wf_server_gateway g;
	char *a, *b;

	wf_server_gateway_from_params(&p, &g);
	a = render_text(&p, &d);
	b = render_gateways_text(&p, &g, 1, &d);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

static void each_gateway_marks_its_flows_and_routes_their_replies_back(void **state)
{
	char *text = two_gateways_text(2);

	assert_contains(text, "iifname \"wg0\" ct state new ct mark set 0x77660001");
	assert_contains(text, "iifname \"wg2\" ct state new ct mark set 0x77660011");
	assert_contains(text, "ct direction reply ct mark 0x77660011 meta mark set 0x77660011");
	assert_contains(text, "iifname \"wg2\" meta nfproto ipv4 fib daddr type local dnat ip to "
	                      "meta l4proto . th dport map @fwd4");
	assert_contains(text, "iifname \"wg2\" meta nfproto ipv6 fib daddr type local dnat ip6");
	assert_contains(text, "ip rule add priority 10000 fwmark 0x77660011/0xffffffff lookup "
	                      "51821 protocol 207");
	assert_contains(text, "ip rule add priority 10001 from 192.168.161.2/32 lookup 51821");
	assert_contains(text, "ip route add default dev wg2 table 51821 protocol 207");
	assert_contains(text, "ip -6 route add default dev wg2 table 51821 protocol 207");
	assert_contains(text, "ip route add 192.168.161.1/32 dev wg2");
	assert_contains(text, "oifname \"wg2\" ct mark set 0x77660019 masquerade");
	assert_contains(text, "oifname \"wg2\" meta l4proto tcp tcp flags syn tcp option maxseg");
	assert_contains(text, "iifname \"wg2\" ct status dnat counter accept");
	free(text);
}

static void egress_flows_keep_the_gateway_they_started_by(void **state)
{
	char *text = two_gateways_text(2);

	assert_contains(text, "oifname \"wg0\" ct mark set 0x77660009 masquerade");
	assert_contains(text, "oifname \"wg2\" ct mark set 0x77660019 masquerade");
	assert_contains(text, "ct direction original ct mark 0x77660019 meta mark set 0x77660019");
	assert_contains(text, "ip rule add priority 10000 fwmark 0x77660019/0xffffffff lookup "
	                      "51821 protocol 207");
	assert_contains(text, "ip -6 rule add priority 10000 fwmark 0x77660009/0xffffffff lookup "
	                      "51820 protocol 207");
	free(text);

	/* One gateway has nothing to keep a flow from: no such marks. */
	text = two_gateways_text(1);
	assert_null(strstr(text, "0x77660009"));
	free(text);
}

static void hairpin_knows_every_gateways_public_addresses(void **state)
{
	char *text = two_gateways_text(2);

	assert_contains(text, "elements = { 192.0.2.1,\n\t\t\t     198.18.0.1 }");
	assert_contains(text, "elements = { 2001:db8:3::1 }");
	assert_contains(text, "iifname != \"wg0\" iifname != \"wg2\" meta nfproto ipv4");
	free(text);
}

static void egress_leaves_by_the_first_gateway_not_down(void **state)
{
	struct wf_server_params p = params();
	struct wf_egress e = smtp_egress();
	struct wf_desired d = {.egress = &e, .n_egress = 1};
	struct wf_server_gateway g[2];
	char *text;

	two_gateways(&p, g);
	text = render_gateways_text(&p, g, 2, &d);
	assert_contains(text, "ip rule add priority 10002 iif br-mail from 172.19.0.3/32 ipproto "
	                      "tcp dport 25 lookup 51820 protocol 207");
	free(text);

	g[0].down = true;
	text = render_gateways_text(&p, g, 2, &d);
	assert_contains(text, "ip rule add priority 10002 iif br-mail from 172.19.0.3/32 ipproto "
	                      "tcp dport 25 lookup 51821 protocol 207");
	free(text);

	/* Restricted to vps1, it stays there even while vps1 is down. */
	strcpy(e.gateways, "vps1");
	text = render_gateways_text(&p, g, 2, &d);
	assert_contains(text, "ip rule add priority 10002 iif br-mail from 172.19.0.3/32 ipproto "
	                      "tcp dport 25 lookup 51820 protocol 207");
	free(text);
}

static void egress_gateway_choice(void **state)
{
	struct wf_server_gateway g[3] = {{.name = "a"}, {.name = "b"}, {.name = "c"}};

	assert_int_equal(wf_server_egress_gateway(g, 3, ""), 0);
	g[0].down = true;
	assert_int_equal(wf_server_egress_gateway(g, 3, ""), 1);
	assert_int_equal(wf_server_egress_gateway(g, 3, "c,a"), 2);
	g[1].down = g[2].down = true;
	/* all down: the first allowed, so egress comes back by itself with it */
	assert_int_equal(wf_server_egress_gateway(g, 3, ""), 0);
	assert_int_equal(wf_server_egress_gateway(g, 3, "c,b"), 1);
	assert_int_equal(wf_server_egress_gateway(g, 3, "x"), -1);
	g[0].down = false;
	assert_int_equal(wf_server_egress_gateway(g, 3, ""), 0);
}

static void same_input_renders_the_same_text(void **state)
{
	struct wf_server_params p = params();
	struct wf_forward f = web_forward();
	struct wf_egress e = smtp_egress();
	struct wf_desired d = {.forwards = &f, .n_forwards = 1, .egress = &e, .n_egress = 1};
	char *a = render_text(&p, &d), *b = render_text(&p, &d);

	assert_string_equal(a, b);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(forward_becomes_one_element_per_family),
	    cmocka_unit_test(inbound_dnat_only_for_local_addresses_from_the_tunnel),
	    cmocka_unit_test(replies_are_marked_in_the_reply_direction_only),
	    cmocka_unit_test(egress_rule_is_scoped_by_bridge_source_and_port),
	    cmocka_unit_test(mss_is_clamped_into_the_tunnel),
	    cmocka_unit_test(docker_user_rule_has_the_iptables_shape),
	    cmocka_unit_test(hairpin_keeps_the_source_for_gateway_addresses),
	    cmocka_unit_test(interface_and_table_come_from_the_parameters),
	    cmocka_unit_test(host_network_forward_targets_the_tunnel_address),
	    cmocka_unit_test(gateway_tunnel_address_gets_a_main_table_route),
	    cmocka_unit_test(bridge_accept_fwmark_marks_new_tunnel_and_hairpin_flows),
	    cmocka_unit_test(bridge_accept_fwmark_parses_as_dockerd_does),
	    cmocka_unit_test(same_input_renders_the_same_text),
	    cmocka_unit_test(one_gateway_from_the_parameters_renders_as_before),
	    cmocka_unit_test(each_gateway_marks_its_flows_and_routes_their_replies_back),
	    cmocka_unit_test(hairpin_knows_every_gateways_public_addresses),
	    cmocka_unit_test(egress_flows_keep_the_gateway_they_started_by),
	    cmocka_unit_test(egress_leaves_by_the_first_gateway_not_down),
	    cmocka_unit_test(egress_gateway_choice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
