/* What the VPS's owner grants each peer: --peer-ports and --peer-egress parsing, and the
 * policy refusing what was not granted, with a reason the agent shows. */
#include <wgfwd-gateway/grants.h>
#include <wgfwd-gateway/policy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP

/* Peer a: 192.168.160.2 and fc00:0:0:160::2; peer b: 192.168.160.3. No grants. */
static struct wf_gw_config cfg;
static char err[512];

static int setup(void **state)
{
	struct wf_gw_peer p;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	assert_int_equal(
	    wf_gw_peer_parse("192.168.160.2,fc00:0:0:160::2=/k/a", &p, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)), 0);
	free(p.keyfile);
	assert_int_equal(wf_gw_peer_parse("192.168.160.3=/k/b", &p, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)), 0);
	free(p.keyfile);
	assert_int_equal(wf_gw_config_reserve(&cfg, TCP, 22, 22), 0);
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	wf_gw_config_free(&cfg);
	return 0;
}

static int grant(enum wf_gw_grant_kind kind, const char *spec)
{
	err[0] = '\0';
	return wf_gw_config_grant(&cfg, kind, spec, wf_service_lookup_builtin, err, sizeof(err));
}

static const struct wf_gw_grants *grants_of(size_t peer)
{
	return &cfg.peers[peer].grants;
}

static const char *ports_text(size_t peer)
{
	static char buf[256];

	wf_gw_grants_ports_text(grants_of(peer), buf, sizeof(buf));
	return buf;
}

static const char *egress_text(size_t peer)
{
	static char buf[256];

	wf_gw_grants_egress_text(grants_of(peer), buf, sizeof(buf));
	return buf;
}

/* Decides one request for peer and returns the decision (freed by the caller). */
static struct wf_gw_decision decide(size_t peer, struct wf_ctl_forward *f, size_t nf,
                                    struct wf_ctl_egress *g, size_t ng, struct wf_gw_state *next)
{
	struct wf_gw_entries want = {.forwards = f, .n_forwards = nf, .egress = g, .n_egress = ng};
	struct wf_gw_state cur;
	struct wf_gw_decision d;

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	assert_int_equal(wf_gw_policy_decide(&cfg, &cur, peer, &want, next, &d), 0);
	wf_gw_state_free(&cur);
	return d;
}

/* ---- parsing ---- */

static void without_grants_any_port_and_no_egress(void **state)
{
	assert_false(grants_of(0)->ports_limited);
	assert_string_equal(ports_text(0), "any");
	assert_string_equal(egress_text(0), "none");
	assert_true(wf_gw_grants_allow_port(grants_of(0), TCP, 8080));
	assert_false(wf_gw_grants_cover_egress(grants_of(0), &(struct wf_ctl_egress){TCP, 25, 25}));
	assert_false(wf_gw_grants_cover_egress(grants_of(0), &(struct wf_ctl_egress){0, 0, 0}));
}

static void ports_list_limits_the_peer_and_adds_up(void **state)
{
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=443, 1024-2000/tcp"), 0);
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "fc00:0:0:160::2=5353/udp"), 0);
	assert_string_equal(ports_text(0), "443,1024-2000/tcp,5353/udp");
	assert_true(wf_gw_grants_allow_port(grants_of(0), TCP, 443));
	assert_true(wf_gw_grants_allow_port(grants_of(0), UDP, 443));
	assert_true(wf_gw_grants_allow_port(grants_of(0), TCP, 2000));
	assert_false(wf_gw_grants_allow_port(grants_of(0), UDP, 2000));
	assert_true(wf_gw_grants_allow_port(grants_of(0), UDP, 5353));
	assert_false(wf_gw_grants_allow_port(grants_of(0), TCP, 5353));
	assert_false(wf_gw_grants_allow_port(grants_of(0), TCP, 8080));
	/* the other peer is untouched */
	assert_string_equal(ports_text(1), "any");
}

static void ports_any_and_none_stand_alone(void **state)
{
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=none"), 0);
	assert_string_equal(ports_text(0), "none");
	assert_false(wf_gw_grants_allow_port(grants_of(0), TCP, 443));
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=443"), -EINVAL);
	assert_string_equal(err, "peer-ports `192.168.160.2=443': this peer's ports were "
	                         "already `none'");
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=any"), -EINVAL);
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.3=any"), 0);
	assert_string_equal(ports_text(1), "any");
	assert_true(wf_gw_grants_allow_port(grants_of(1), TCP, 443));
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.3=80"), -EINVAL);
	assert_string_equal(err, "peer-ports `192.168.160.3=80': this peer's ports were "
	                         "already `any'");
}

static void ports_list_then_any_is_an_error(void **state)
{
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=443"), 0);
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=any"), -EINVAL);
	assert_string_equal(err, "peer-ports `192.168.160.2=any': `any' cannot join ports given "
	                         "for this peer before");
}

static void bad_port_grants_name_the_culprit(void **state)
{
	static const struct {
		const char *spec, *err;
	} bad[] = {
	    {"192.168.160.2", "peer-ports `192.168.160.2': expected ADDR=LIST, ADDR a peer's "
	                      "tunnel address"},
	    {"=443", "peer-ports `=443': expected ADDR=LIST, ADDR a peer's tunnel address"},
	    {"192.168.160.2=", "peer-ports `192.168.160.2=': expected ADDR=LIST, ADDR a peer's "
	                       "tunnel address"},
	    {"192.168.160.9=443", "peer-ports `192.168.160.9=443': `192.168.160.9' is no "
	                          "--peer's tunnel address"},
	    {"server=443", "peer-ports `server=443': `server' is no --peer's tunnel address"},
	    {"192.168.160.2=443,70000", "peer-ports `192.168.160.2=443,70000': `70000' is not "
	                                "PORT[-PORT][/tcp|/udp] with ports 1-65535 (or the "
	                                "list `any' or `none')"},
	    {"192.168.160.2=2000-1024", "peer-ports `192.168.160.2=2000-1024': `2000-1024' is "
	                                "not PORT[-PORT][/tcp|/udp] with ports 1-65535 (or the "
	                                "list `any' or `none')"},
	    {"192.168.160.2=443/sctp", "peer-ports `192.168.160.2=443/sctp': `443/sctp' is not "
	                               "PORT[-PORT][/tcp|/udp] with ports 1-65535 (or the list "
	                               "`any' or `none')"},
	    {"192.168.160.2=, ,", "peer-ports `192.168.160.2=, ,': no ports (write `none' for "
	                          "none)"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (grant(WF_GW_GRANT_PORTS, bad[i].spec) != -EINVAL)
			fail_msg("`%s' was accepted", bad[i].spec);
		assert_string_equal(err, bad[i].err);
	}
	/* nothing was granted by the bad ones */
	assert_string_equal(ports_text(0), "any");
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=443"), 0);
}

static void long_address_part_is_refused(void **state)
{
	char spec[200];

	memset(spec, '1', sizeof(spec));
	strcpy(spec + 100, "=443");
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, spec), -EINVAL);
	assert_non_null(strstr(err, "address part too long"));
	assert_int_equal(strncmp(err, "peer-egress `", 13), 0);
}

static void egress_grants_use_the_label_grammar(void **state)
{
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=smtp, tcp/6000-6010,udp/123"), 0);
	assert_string_equal(egress_text(0), "tcp/25,tcp/6000-6010,udp/123");
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=udp"), 0);
	assert_string_equal(egress_text(0), "tcp/25,tcp/6000-6010,udp/123,udp");
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.3=all"), 0);
	assert_string_equal(egress_text(1), "all");
}

static void egress_none_stands_alone(void **state)
{
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=none"), 0);
	assert_string_equal(egress_text(0), "none");
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=smtp"), -EINVAL);
	assert_string_equal(err, "peer-egress `192.168.160.2=smtp': this peer's egress was "
	                         "already `none'");
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.3=smtp"), 0);
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.3=none"), -EINVAL);
	assert_string_equal(err, "peer-egress `192.168.160.3=none': `none' cannot join egress "
	                         "granted to this peer before");
}

static void bad_egress_grants_name_the_culprit(void **state)
{
	static const struct {
		const char *spec, *err;
	} bad[] = {
	    {"192.168.160.2=25", "peer-egress `192.168.160.2=25': port `25' needs a protocol: "
	                         "write `tcp/25' or `udp/25'"},
	    {"192.168.160.2=smtp,nosuchservice",
	     "peer-egress `192.168.160.2=smtp,nosuchservice': unknown service `nosuchservice' "
	     "(not in the services database; write tcp/PORT or udp/PORT)"},
	    {"192.168.160.2=sctp/9", "peer-egress `192.168.160.2=sctp/9': unknown protocol "
	                             "`sctp' in entry `sctp/9' (use tcp or udp)"},
	    {"192.168.160.2=,", "peer-egress `192.168.160.2=,': no egress (write `none' for "
	                        "none)"},
	    {"10.0.0.1=smtp", "peer-egress `10.0.0.1=smtp': `10.0.0.1' is no --peer's tunnel "
	                      "address"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(grant(WF_GW_GRANT_EGRESS, bad[i].spec), -EINVAL);
		assert_string_equal(err, bad[i].err);
	}
	assert_string_equal(egress_text(0), "none");
}

static void egress_cover_needs_the_whole_request(void **state)
{
	const struct wf_gw_grants *g = grants_of(0);

	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=tcp/25,tcp/26-30,tcp/40,udp"), 0);
	assert_true(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 25, 25}));
	/* ranges granted apart cover a request together */
	assert_true(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 25, 30}));
	assert_false(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 25, 31}));
	assert_false(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 24, 25}));
	assert_false(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 30, 40}));
	/* a whole protocol granted covers its ports, not the other protocol's */
	assert_true(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){UDP, 53, 53}));
	assert_true(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){UDP, 0, 0}));
	assert_false(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 0, 0}));
	/* every protocol needs `all' */
	assert_false(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){0, 0, 0}));
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=all"), 0);
	assert_true(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){0, 0, 0}));
	assert_true(wf_gw_grants_cover_egress(g, &(struct wf_ctl_egress){TCP, 1, 65535}));
}

static void egress_cover_reaches_port_65535(void **state)
{
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=tcp/65000-65535"), 0);
	assert_true(
	    wf_gw_grants_cover_egress(grants_of(0), &(struct wf_ctl_egress){TCP, 65535, 65535}));
	assert_false(
	    wf_gw_grants_cover_egress(grants_of(0), &(struct wf_ctl_egress){TCP, 64999, 65535}));
}

static void long_grant_text_is_cut_visibly(void **state)
{
	char buf[16];

	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=1000,2000,3000,4000,5000"), 0);
	wf_gw_grants_ports_text(grants_of(0), buf, sizeof(buf));
	assert_string_equal(buf, "1000,2000,30...");
	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=tcp/1000,tcp/2000,tcp/3000"), 0);
	wf_gw_grants_egress_text(grants_of(0), buf, sizeof(buf));
	assert_string_equal(buf, "tcp/1000,tcp...");
}

static void config_copy_keeps_the_grants(void **state)
{
	struct wf_gw_config copy = {0};
	struct wf_gw_peer p = cfg.peers[0];

	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=smtp"), 0);
	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=443"), 0);
	p = cfg.peers[0];
	assert_int_equal(wf_gw_config_add_peer(&copy, &p, err, sizeof(err)), 0);
	wf_gw_config_free(&cfg);
	assert_int_equal(copy.peers[0].grants.n_egress, 1);
	assert_int_equal(copy.peers[0].grants.n_ports, 1);
	assert_true(copy.peers[0].grants.ports_limited);
	cfg = copy;
}

/* ---- deciding ---- */

static void ungranted_egress_is_refused_with_the_reason(void **state)
{
	struct wf_ctl_egress g[] = {{0, 0, 0}, {TCP, 25, 25}};
	struct wf_gw_state next;
	struct wf_gw_decision d = decide(0, NULL, 0, g, 2, &next);

	assert_int_equal(d.n_refused, 2);
	assert_int_equal(d.egress[0].status, WF_GW_NOT_GRANTED);
	assert_string_equal(d.egress[0].reason,
	                    "egress all not granted to this peer by the gateway (granted: none)");
	assert_int_equal(d.egress[1].status, WF_GW_NOT_GRANTED);
	assert_string_equal(
	    d.egress[1].reason,
	    "egress tcp/25 not granted to this peer by the gateway (granted: none)");
	assert_int_equal(next.peers[0].n_egress, 0);
	assert_string_equal(wf_gw_status_name(WF_GW_NOT_GRANTED), "not_granted");
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
}

static void granted_egress_is_held_and_the_rest_refused(void **state)
{
	struct wf_ctl_egress g[] = {{TCP, 25, 25}, {TCP, 0, 0}, {TCP, 6000, 6010}, {UDP, 0, 0}};
	struct wf_gw_state next;
	struct wf_gw_decision d;

	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=smtp,tcp/6000-6005"), 0);
	d = decide(0, NULL, 0, g, 4, &next);
	assert_int_equal(d.egress[0].status, WF_GW_ACCEPTED);
	assert_string_equal(d.egress[0].reason, "");
	assert_int_equal(d.egress[1].status, WF_GW_NOT_GRANTED);
	assert_string_equal(d.egress[1].reason, "egress tcp not granted to this peer by the "
	                                        "gateway (granted: tcp/25,tcp/6000-6005)");
	assert_int_equal(d.egress[2].status, WF_GW_NOT_GRANTED);
	assert_string_equal(d.egress[2].reason,
	                    "egress tcp/6000-6010 not granted to this peer by the gateway "
	                    "(granted: tcp/25,tcp/6000-6005)");
	assert_int_equal(d.egress[3].status, WF_GW_NOT_GRANTED);
	assert_int_equal(d.n_refused, 3);
	assert_int_equal(next.peers[0].n_egress, 1);
	assert_int_equal(next.peers[0].egress[0].port_lo, 25);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
}

static void egress_granted_to_one_peer_is_not_the_others(void **state)
{
	struct wf_ctl_egress g[] = {{TCP, 25, 25}};
	struct wf_gw_state next;
	struct wf_gw_decision d;

	assert_int_equal(grant(WF_GW_GRANT_EGRESS, "192.168.160.2=all"), 0);
	d = decide(1, NULL, 0, g, 1, &next);
	assert_int_equal(d.egress[0].status, WF_GW_NOT_GRANTED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
	d = decide(0, NULL, 0, g, 1, &next);
	assert_int_equal(d.egress[0].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
}

static void forward_outside_the_allowed_ports_is_refused(void **state)
{
	struct wf_ctl_forward f[] = {
	    {TCP, AF_INET, 1500, 80},
	    {TCP, AF_INET, 8080, 80},
	    {UDP, AF_INET6, 1500, 53},
	    {TCP, AF_INET, 22, 22},
	};
	struct wf_gw_state next;
	struct wf_gw_decision d;

	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.2=1024-2000/tcp"), 0);
	d = decide(0, f, 4, NULL, 0, &next);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[1].status, WF_GW_NOT_GRANTED);
	assert_string_equal(d.forwards[1].reason,
	                    "public port tcp/8080 not in this peer's allowed ports 1024-2000/tcp");
	assert_int_equal(d.forwards[2].status, WF_GW_NOT_GRANTED);
	assert_string_equal(d.forwards[2].reason,
	                    "public port udp/1500 not in this peer's allowed ports 1024-2000/tcp");
	/* reserved says so first: the owner's grant never opens a reserved port */
	assert_int_equal(d.forwards[3].status, WF_GW_RESERVED);
	assert_int_equal(next.peers[0].n_forwards, 1);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
}

static void a_peer_with_no_ports_forwards_nothing(void **state)
{
	struct wf_ctl_forward f[] = {{TCP, AF_INET, 443, 443}};
	struct wf_gw_state next;
	struct wf_gw_decision d;

	assert_int_equal(grant(WF_GW_GRANT_PORTS, "192.168.160.3=none"), 0);
	d = decide(1, f, 1, NULL, 0, &next);
	assert_int_equal(d.forwards[0].status, WF_GW_NOT_GRANTED);
	assert_string_equal(d.forwards[0].reason,
	                    "public port tcp/443 not in this peer's allowed ports none");
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
	/* and the other peer still may */
	d = decide(0, f, 1, NULL, 0, &next);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(without_grants_any_port_and_no_egress),
	    T(ports_list_limits_the_peer_and_adds_up),
	    T(ports_any_and_none_stand_alone),
	    T(ports_list_then_any_is_an_error),
	    T(bad_port_grants_name_the_culprit),
	    T(long_address_part_is_refused),
	    T(egress_grants_use_the_label_grammar),
	    T(egress_none_stands_alone),
	    T(bad_egress_grants_name_the_culprit),
	    T(egress_cover_needs_the_whole_request),
	    T(egress_cover_reaches_port_65535),
	    T(long_grant_text_is_cut_visibly),
	    T(config_copy_keeps_the_grants),
	    T(ungranted_egress_is_refused_with_the_reason),
	    T(granted_egress_is_held_and_the_rest_refused),
	    T(egress_granted_to_one_peer_is_not_the_others),
	    T(forward_outside_the_allowed_ports_is_refused),
	    T(a_peer_with_no_ports_forwards_nothing),
	};

	return cmocka_run_group_tests_name("gateway_grants", tests, NULL, NULL);
}
