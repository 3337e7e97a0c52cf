/* `wgfwd doctor --gateway`'s view of the VPS's firewalls (pure): rulesets as `nft -j list
 * ruleset` prints them, the legacy iptables files, and the findings with their commands. */
#include <wgfwd/doctor_fw.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TABLE(fam, name) "{\"table\":{\"family\":\"" fam "\",\"name\":\"" name "\",\"handle\":1}},"
#define CHAIN(fam, table, name, hook, policy)                                         \
	"{\"chain\":{\"family\":\"" fam "\",\"table\":\"" table "\",\"name\":\"" name \
	"\",\"handle\":1,\"type\":\"filter\",\"hook\":\"" hook                        \
	"\",\"prio\":0,\"policy\":\"" policy "\"}},"
#define USER_CHAIN(fam, table, name)                                                  \
	"{\"chain\":{\"family\":\"" fam "\",\"table\":\"" table "\",\"name\":\"" name \
	"\",\"handle\":2}},"
/* iifname "wg0" tcp dport 51821 accept, as nft -j prints it */
#define RULE_WG0(fam, table, chain)                                                        \
	"{\"rule\":{\"family\":\"" fam "\",\"table\":\"" table "\",\"chain\":\"" chain     \
	"\",\"handle\":3,\"expr\":[{\"match\":{\"op\":\"==\",\"left\":{\"meta\":{\"key\":" \
	"\"iifname\"}},\"right\":\"wg0\"}},{\"accept\":null}]}},"
#define RULESET(...) "{\"nftables\":[{\"metainfo\":{\"json_schema_version\":1}}," __VA_ARGS__ "{}]}"

static struct wf_gw_hostfw rules;

static struct wf_fw_facts facts(const char *json)
{
	struct wf_gw_hostfw_spec p = {.control_port = 51821};
	struct wf_fw_facts f = {0};

	strcpy(p.tunnel_ifname, "wg0");
	strcpy(p.public_ifname, "eth0");
	wf_gw_hostfw_render(&p, true, &rules);
	f.nft_json = json;
	f.tunnel = "wg0";
	f.public_if = "eth0";
	f.control_port = 51821;
	f.rules = &rules;
	return f;
}

static struct wf_fw_findings run(const struct wf_fw_facts *f, int want_err)
{
	struct wf_fw_findings out;

	assert_int_equal(wf_doctor_fw(f, &out), want_err);
	return out;
}

static void assert_fix_has(const struct wf_fw_finding *n, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "%s\n", line);
	if (!strstr(n->fix, want) && strcmp(n->fix + strlen(n->fix) - strlen(line), line))
		fail_msg("no line `%s' in:\n%s", line, n->fix);
}

static const char *const UFW =
    RULESET(TABLE("ip", "filter") CHAIN("ip", "filter", "INPUT", "input", "drop")
                CHAIN("ip", "filter", "FORWARD", "forward", "drop")
                    USER_CHAIN("ip", "filter", "ufw-before-forward") TABLE("ip6", "filter")
                        CHAIN("ip6", "filter", "FORWARD", "forward", "drop")
                            USER_CHAIN("ip6", "filter", "ufw6-before-forward"));

static void ufw_with_the_rules_in_place_is_handled(void **state)
{
	struct wf_fw_facts f = facts(UFW);
	struct wf_fw_findings out;

	f.rules_known = true;
	f.rules_found = (struct wf_gw_hostfw_result){.chains = 4, .wanted = 10, .in_place = 10};
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_OK);
	assert_non_null(strstr(out.v[0].what, "ufw is active: wgfwd-gateway accepts its flows"));
	assert_non_null(strstr(out.v[0].what, "10 rules in place"));
	wf_fw_findings_free(&out);
}

static void ufw_without_the_rules_says_how(void **state)
{
	struct wf_fw_facts f = facts(UFW);
	struct wf_fw_findings out;

	f.rules_known = true;
	f.rules_found = (struct wf_gw_hostfw_result){.chains = 4, .wanted = 10, .in_place = 3};
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_WARN);
	assert_non_null(strstr(out.v[0].what, "not in place (3 of 10)"));
	assert_fix_has(&out.v[0],
	               "iptables -I FORWARD -o wg0 -m conntrack --ctstate DNAT -j ACCEPT");
	assert_fix_has(&out.v[0],
	               "ip6tables -I INPUT -i wg0 -p tcp -m tcp --dport 51821 -j ACCEPT");
	assert_fix_has(&out.v[0], "ufw route allow in on eth0 out on wg0");
	assert_fix_has(&out.v[0], "ufw route allow in on wg0 out on eth0");
	assert_fix_has(&out.v[0], "ufw allow in on wg0 to any port 51821 proto tcp");
	wf_fw_findings_free(&out);
}

/* ufw.conf says enabled, whatever the ruleset shows. */
static void ufw_enabled_in_its_config_counts(void **state)
{
	struct wf_fw_facts f = facts(RULESET());
	struct wf_fw_findings out;

	f.ufw_enabled = true;
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_non_null(strstr(out.v[0].what, "ufw is active; cannot read"));
	wf_fw_findings_free(&out);
}

static void plain_iptables_drop_policy_is_handled(void **state)
{
	struct wf_fw_facts f = facts(
	    RULESET(TABLE("ip", "filter") CHAIN("ip", "filter", "FORWARD", "forward", "drop")));
	struct wf_fw_findings out;

	f.rules_known = true;
	f.rules_found = (struct wf_gw_hostfw_result){.chains = 1, .wanted = 4, .in_place = 4};
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_OK);
	assert_string_equal(
	    out.v[0].what,
	    "iptables has policy DROP: wgfwd-gateway accepts its flows at the top of "
	    "iptables FORWARD and INPUT (4 rules in place); policy DROP in ip FORWARD");
	wf_fw_findings_free(&out);
}

static void firewalld_gets_firewall_cmd_commands(void **state)
{
	struct wf_fw_facts f = facts(RULESET(TABLE("inet", "firewalld") CHAIN(
	    "inet", "firewalld", "filter_FORWARD", "forward", "accept")));
	struct wf_fw_findings out = run(&f, 0);

	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_WARN);
	assert_non_null(strstr(out.v[0].what, "firewalld is running"));
	assert_fix_has(&out.v[0], "firewall-cmd --permanent --zone=wgfwd --add-interface=wg0");
	assert_fix_has(&out.v[0], "firewall-cmd --permanent --zone=wgfwd --add-port=51821/tcp");
	assert_fix_has(&out.v[0],
	               "firewall-cmd --permanent --policy=wgfwd-in --add-ingress-zone=public");
	assert_fix_has(&out.v[0],
	               "firewall-cmd --permanent --policy=wgfwd-out --set-target=ACCEPT");
	assert_fix_has(&out.v[0], "firewall-cmd --reload");
	wf_fw_findings_free(&out);

	/* its pid file alone is enough */
	f = facts(RULESET());
	f.firewalld_running = true;
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_non_null(strstr(out.v[0].what, "firewalld is running"));
	wf_fw_findings_free(&out);
}

static void foreign_drop_chains_get_nft_commands(void **state)
{
	struct wf_fw_facts f =
	    facts(RULESET(TABLE("inet", "host") CHAIN("inet", "host", "fw", "forward", "drop")
	                      CHAIN("inet", "host", "in", "input", "drop")
	                          CHAIN("inet", "host", "out", "output", "drop")
	                              CHAIN("inet", "host", "open", "forward", "accept")));
	struct wf_fw_findings out = run(&f, 0);

	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[0].level, WF_FW_WARN);
	assert_string_equal(out.v[0].what, "table inet host, chain fw (forward hook, policy drop) "
	                                   "drops wgfwd's forwarded flows: wgfwd does not edit "
	                                   "another owner's table");
	assert_fix_has(&out.v[0],
	               "nft insert rule inet host fw oifname \"wg0\" ct status dnat accept");
	assert_fix_has(&out.v[0], "nft insert rule inet host fw iifname \"wg0\" ct state "
	                          "established,related accept");
	assert_fix_has(&out.v[0], "nft insert rule inet host fw oifname \"wg0\" ct state "
	                          "established,related accept");
	assert_fix_has(&out.v[0],
	               "nft insert rule inet host fw iifname \"wg0\" oifname \"eth0\" accept");
	assert_non_null(strstr(out.v[1].what, "chain in (input hook, policy drop) drops wgfwd's "
	                                      "control connections"));
	assert_fix_has(&out.v[1],
	               "nft insert rule inet host in iifname \"wg0\" tcp dport 51821 accept");
	assert_null(strstr(out.v[1].fix, "ct status"));
	wf_fw_findings_free(&out);
}

static void a_chain_that_accepts_the_tunnel_is_fine(void **state)
{
	struct wf_fw_facts f = facts(RULESET(TABLE("ip", "host") CHAIN(
	    "ip", "host", "in", "input", "drop") RULE_WG0("ip", "host", "in")));
	struct wf_fw_findings out = run(&f, 0);

	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_OK);
	assert_non_null(strstr(out.v[0].what, "accepts traffic on wg0"));
	wf_fw_findings_free(&out);
}

static void wgfwds_own_tables_are_not_findings(void **state)
{
	struct wf_fw_facts f =
	    facts(RULESET(TABLE("inet", "wgfwd_gateway")
	                      CHAIN("inet", "wgfwd_gateway", "forward", "forward", "drop")
	                          CHAIN("inet", "wgfwd_anchor", "in", "input", "drop")));
	struct wf_fw_findings out = run(&f, 0);

	assert_int_equal(out.n, 0);
	wf_fw_findings_free(&out);
}

static void iptables_legacy_with_rules_is_unsupported(void **state)
{
	struct wf_fw_facts f = facts(RULESET());
	struct wf_fw_findings out;

	f.ip_tables_names = "filter\n";
	f.legacy_rules = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n";
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_FAIL);
	assert_non_null(strstr(out.v[0].what, "iptables-legacy holds rules: unsupported"));
	assert_fix_has(&out.v[0], "update-alternatives --set iptables /usr/sbin/iptables-nft");
	assert_fix_has(&out.v[0],
	               "iptables-legacy -I FORWARD -o wg0 -m conntrack --ctstate DNAT -j ACCEPT");
	assert_fix_has(&out.v[0],
	               "ip6tables-legacy -I INPUT -i wg0 -p tcp -m tcp --dport 51821 -j ACCEPT");
	wf_fw_findings_free(&out);

	/* loaded, but nothing in them */
	f.legacy_rules = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n";
	out = run(&f, 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].level, WF_FW_OK);
	wf_fw_findings_free(&out);

	/* not loaded at all */
	f.ip_tables_names = "";
	f.legacy_rules = NULL;
	out = run(&f, 0);
	assert_int_equal(out.n, 0);
	wf_fw_findings_free(&out);
}

static void a_bare_host_has_no_findings(void **state)
{
	struct wf_fw_facts f = facts(
	    RULESET(TABLE("ip", "filter") CHAIN("ip", "filter", "FORWARD", "forward", "accept")));
	struct wf_fw_findings out = run(&f, 0);

	assert_int_equal(out.n, 0);
	wf_fw_findings_free(&out);
}

static void garbage_is_refused_and_other_facts_still_count(void **state)
{
	const char *bad[] = {"", "nope", "{\"nftables\":{}}", "[1,2]",
	                     "{\"nftables\":[1,\"x\",{}]}"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wf_fw_facts f = facts(bad[i]);
		struct wf_fw_findings out;
		int err;

		f.firewalld_running = true;
		err = wf_doctor_fw(&f, &out);
		assert_true(err == -EINVAL || (i == 4 && err == 0));
		assert_int_equal(out.n, 1);
		wf_fw_findings_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ufw_with_the_rules_in_place_is_handled),
	    cmocka_unit_test(ufw_without_the_rules_says_how),
	    cmocka_unit_test(ufw_enabled_in_its_config_counts),
	    cmocka_unit_test(plain_iptables_drop_policy_is_handled),
	    cmocka_unit_test(firewalld_gets_firewall_cmd_commands),
	    cmocka_unit_test(foreign_drop_chains_get_nft_commands),
	    cmocka_unit_test(a_chain_that_accepts_the_tunnel_is_fine),
	    cmocka_unit_test(wgfwds_own_tables_are_not_findings),
	    cmocka_unit_test(iptables_legacy_with_rules_is_unsupported),
	    cmocka_unit_test(a_bare_host_has_no_findings),
	    cmocka_unit_test(garbage_is_refused_and_other_facts_still_count),
	};

	return cmocka_run_group_tests_name("doctor_fw", tests, NULL, NULL);
}
