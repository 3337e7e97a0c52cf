/* The gateway's accept rules for the host's iptables chains, rendered (pure): the iptables
 * commands they stand for, and the bytecode, which must be exactly what iptables-nft writes for
 * those commands (taken from `nft --debug=netlink list table ip filter` after running them). */
#include <wgfwd/hostfw.h>

#include <linux/netfilter.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct wf_gw_hostfw_spec params(const char *pub)
{
	struct wf_gw_hostfw_spec p;

	memset(&p, 0, sizeof(p));
	strcpy(p.tunnel_ifname, "wg0");
	strcpy(p.public_ifname, pub);
	p.control_port = 51821;
	return p;
}

static void commands_are_the_iptables_ones(void **state)
{
	static const char *const want[] = {
	    "iptables -I FORWARD -o wg0 -m conntrack --ctstate DNAT -j ACCEPT",
	    "iptables -I FORWARD -i wg0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	    "iptables -I FORWARD -o wg0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	    "iptables -I FORWARD -i wg0 -o eth0 -j ACCEPT",
	    "iptables -I INPUT -i wg0 -p tcp -m tcp --dport 51821 -j ACCEPT",
	    "ip6tables -I FORWARD -o wg0 -m conntrack --ctstate DNAT -j ACCEPT",
	    "ip6tables -I FORWARD -i wg0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	    "ip6tables -I FORWARD -o wg0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	    "ip6tables -I FORWARD -i wg0 -o eth0 -j ACCEPT",
	    "ip6tables -I INPUT -i wg0 -p tcp -m tcp --dport 51821 -j ACCEPT",
	};
	struct wf_gw_hostfw_spec p = params("eth0");
	struct wf_gw_hostfw hf;

	wf_gw_hostfw_render(&p, true, &hf);
	assert_true(hf.enabled);
	assert_int_equal(hf.n, 10);
	for (size_t i = 0; i < hf.n; i++) {
		assert_string_equal(hf.text[i], want[i]);
		assert_true(hf.rules[i].iptables_compat);
		assert_int_equal(hf.rules[i].family, i < 5 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		assert_string_equal(hf.rules[i].chain, i % 5 == 4 ? "INPUT" : "FORWARD");
	}
}

static void without_a_public_interface_there_is_no_egress_rule(void **state)
{
	struct wf_gw_hostfw_spec p = params("");
	struct wf_gw_hostfw hf;

	wf_gw_hostfw_render(&p, false, &hf);
	assert_false(hf.enabled);
	assert_int_equal(hf.n, 8);
	for (size_t i = 0; i < hf.n; i++)
		assert_null(strstr(hf.text[i], "-o  "));
}

static void assert_bytecode(const struct wf_nft_rule *r, const char *want)
{
	char *text = NULL;

	assert_int_equal(wf_nft_rule_bytecode(r->family, r, &text), 0);
	if (strcmp(text, want))
		fail_msg("bytecode:\n%s\nwanted:\n%s", text, want);
	free(text);
}

static void bytecode_is_what_iptables_nft_writes(void **state)
{
	struct wf_gw_hostfw_spec p = params("eth0");
	struct wf_gw_hostfw hf;

	wf_gw_hostfw_render(&p, true, &hf);
	assert_bytecode(&hf.rules[0], "[ meta load oifname => reg 1 ]\n"
	                              "[ cmp eq reg 1 0x00306777 ]\n"
	                              "[ match name conntrack rev 3 ]\n"
	                              "[ counter pkts 0 bytes 0 ]\n"
	                              "[ immediate reg 0 accept ]\n");
	assert_bytecode(&hf.rules[3], "[ meta load iifname => reg 1 ]\n"
	                              "[ cmp eq reg 1 0x00306777 ]\n"
	                              "[ meta load oifname => reg 1 ]\n"
	                              "[ cmp eq reg 1 0x30687465 0x00000000 ]\n"
	                              "[ counter pkts 0 bytes 0 ]\n"
	                              "[ immediate reg 0 accept ]\n");
	assert_bytecode(&hf.rules[9], "[ meta load iifname => reg 1 ]\n"
	                              "[ cmp eq reg 1 0x00306777 ]\n"
	                              "[ meta load l4proto => reg 1 ]\n"
	                              "[ cmp eq reg 1 0x00000006 ]\n"
	                              "[ payload load 2b @ transport header + 2 => reg 1 ]\n"
	                              "[ cmp eq reg 1 0x00006dca ]\n"
	                              "[ counter pkts 0 bytes 0 ]\n"
	                              "[ immediate reg 0 accept ]\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(commands_are_the_iptables_ones),
	    cmocka_unit_test(without_a_public_interface_there_is_no_egress_rule),
	    cmocka_unit_test(bytecode_is_what_iptables_nft_writes),
	};

	return cmocka_run_group_tests_name("gateway_hostfw_render", tests, NULL, NULL);
}
