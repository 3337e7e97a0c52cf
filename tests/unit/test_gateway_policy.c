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

/* Two peers: a with IPv4 and IPv6, b with IPv4 only; ssh and the WireGuard port reserved. */
static struct wf_gw_config cfg;

static int setup(void **state)
{
	char err[256] = "";
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
	assert_int_equal(wf_gw_config_reserve(&cfg, UDP, 51820, 51820), 0);
	/* Every egress granted: these tests are about the rest of the policy (grants.c's own
	 * tests start from no grant). */
	assert_int_equal(wf_gw_config_grant(&cfg, WF_GW_GRANT_EGRESS, "192.168.160.2=all",
	                                    wf_service_lookup_builtin, err, sizeof(err)),
	                 0);
	assert_int_equal(wf_gw_config_grant(&cfg, WF_GW_GRANT_EGRESS, "192.168.160.3=all",
	                                    wf_service_lookup_builtin, err, sizeof(err)),
	                 0);
	return 0;
}

static int teardown(void **state)
{
	wf_gw_config_free(&cfg);
	return 0;
}

static struct wf_ctl_forward fwd(uint8_t proto, uint16_t pub, uint16_t target)
{
	return (struct wf_ctl_forward){
	    .family = AF_INET, .proto = proto, .public_port = pub, .target_port = target};
}

static struct wf_ctl_forward fwd6(uint8_t proto, uint16_t pub, uint16_t target)
{
	struct wf_ctl_forward f = fwd(proto, pub, target);

	f.family = AF_INET6;
	return f;
}

static struct wf_ctl_egress egr(uint8_t proto, uint16_t lo, uint16_t hi)
{
	return (struct wf_ctl_egress){.proto = proto, .port_lo = lo, .port_hi = hi};
}

/* Decides `want` for one peer and makes the result the current state. */
static void decide(struct wf_gw_state *cur, size_t peer, const struct wf_gw_entries *want,
                   struct wf_gw_decision *d)
{
	struct wf_gw_state next;

	assert_int_equal(wf_gw_policy_decide(&cfg, cur, peer, want, &next, d), 0);
	wf_gw_state_free(cur);
	*cur = next;
}

static void reserved_ports_are_refused_for_their_protocol_only(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd(TCP, 22, 22), fwd(UDP, 22, 22), fwd(UDP, 51820, 1),
	                             fwd(TCP, 51820, 1)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 4};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_RESERVED);
	assert_non_null(strstr(d.forwards[0].reason, "tcp/22"));
	assert_int_equal(d.forwards[1].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[2].status, WF_GW_RESERVED);
	assert_int_equal(d.forwards[3].status, WF_GW_ACCEPTED);
	assert_int_equal(d.n_refused, 2);
	assert_int_equal(cur.peers[0].n_forwards, 2);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

/* A log line of refusals names the first few with their reasons, counts them all by kind,
 * and stays one short line however many were refused. */
static void refusals_are_summed_up_in_one_short_text(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd(TCP, 80, 80), fwd(TCP, 22, 22), fwd(UDP, 51820, 1),
	                             fwd6(TCP, 443, 443)};
	struct wf_ctl_egress g[] = {egr(99, 25, 25)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 4, .egress = g, .n_egress = 1};
	char text[512], kinds[128], small[24];

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	/* peer b: two reserved ports, no IPv6 address, a bad egress protocol */
	decide(&cur, 1, &want, &d);
	assert_int_equal(d.n_refused, 4);
	assert_string_equal(wf_gw_refusal_kinds_text(&d, kinds, sizeof(kinds)),
	                    "invalid 2, reserved 2");
	wf_gw_refusals_text(&d, f, 2, text, sizeof(text));
	assert_string_equal(text, "forward tcp/22: tcp/22 is reserved on the gateway; forward "
	                          "udp/51820: udp/51820 is reserved on the gateway; ...");
	wf_gw_refusals_text(&d, f, 10, text, sizeof(text));
	assert_non_null(strstr(text, "forward tcp/443: peer 192.168.160.3 has no IPv6"));
	assert_non_null(strstr(text, "; egress: "));
	assert_null(strstr(text, "..."));
	/* cut at the buffer, never past it */
	wf_gw_refusals_text(&d, f, 10, small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	wf_gw_decision_free(&d);
	/* nothing refused: nothing said */
	want.n_forwards = 1;
	want.n_egress = 0;
	decide(&cur, 1, &want, &d);
	assert_string_equal(wf_gw_refusals_text(&d, f, 3, text, sizeof(text)), "");
	assert_string_equal(wf_gw_refusal_kinds_text(&d, kinds, sizeof(kinds)), "");
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void reserved_list_without_protocol_covers_tcp_and_udp(void **state)
{
	char err[256] = "";
	struct wf_gw_port_range *r = NULL;
	size_t n = 0;
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd(TCP, 8000, 80), fwd(UDP, 8099, 80), fwd(TCP, 8100, 80)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 3};

	assert_int_equal(wf_gw_reserved_parse("8000-8099, 9000/udp", &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(wf_gw_config_reserve(&cfg, r[i].proto, r[i].lo, r[i].hi), 0);
	free(r);
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 1, &want, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_RESERVED);
	assert_int_equal(d.forwards[1].status, WF_GW_RESERVED);
	assert_int_equal(d.forwards[2].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void reserved_list_errors_name_the_bad_item(void **state)
{
	const char *bad[] = {"0", "70000", "20-10", "22/sctp", "22x", "-5", "22/"};
	char err[256];
	struct wf_gw_port_range *r = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wf_gw_reserved_parse(bad[i], &r, &n, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
	free(r);
}

static void first_peer_keeps_a_public_port(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward fa[] = {fwd(TCP, 443, 443)}, fb[] = {fwd(TCP, 443, 8443)};
	struct wf_gw_entries a = {.forwards = fa, .n_forwards = 1};
	struct wf_gw_entries b = {.forwards = fb, .n_forwards = 1};
	struct wf_gw_entries none = {0};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &a, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);

	decide(&cur, 1, &b, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_TAKEN);
	assert_non_null(strstr(d.forwards[0].reason, "another peer"));
	assert_int_equal(cur.peers[1].n_forwards, 0);
	wf_gw_decision_free(&d);

	/* Asking again does not move it either, and the holder may restate it. */
	decide(&cur, 0, &a, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);
	decide(&cur, 1, &b, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_TAKEN);
	wf_gw_decision_free(&d);

	/* Once the holder lets go, the other may have it. */
	decide(&cur, 0, &none, &d);
	wf_gw_decision_free(&d);
	decide(&cur, 1, &b, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	assert_int_equal(cur.peers[1].forwards[0].target_port, 8443);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void same_port_of_the_other_family_is_a_separate_key(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward fa[] = {fwd6(TCP, 443, 443)}, fb[] = {fwd(TCP, 443, 443)};
	struct wf_gw_entries a = {.forwards = fa, .n_forwards = 1};
	struct wf_gw_entries b = {.forwards = fb, .n_forwards = 1};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &a, &d);
	wf_gw_decision_free(&d);
	decide(&cur, 1, &b, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void a_peer_never_changes_another_peers_entries(void **state)
{
	struct wf_gw_state cur, before;
	struct wf_gw_decision d;
	struct wf_ctl_forward fa[] = {fwd(TCP, 25, 25), fwd(UDP, 53, 53)};
	struct wf_ctl_egress ga[] = {egr(TCP, 25, 25)};
	struct wf_gw_entries a = {.forwards = fa, .n_forwards = 2, .egress = ga, .n_egress = 1};
	struct wf_ctl_forward fb[] = {fwd(TCP, 25, 2525), fwd(TCP, 80, 80)};
	struct wf_gw_entries b = {.forwards = fb, .n_forwards = 2};
	struct wf_gw_entries none = {0};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &a, &d);
	wf_gw_decision_free(&d);
	assert_int_equal(wf_gw_state_init(&before, cfg.n_peers), 0);
	assert_int_equal(wf_gw_entries_copy(&before.peers[0], &cur.peers[0]), 0);

	decide(&cur, 1, &b, &d);
	wf_gw_decision_free(&d);
	assert_true(wf_gw_entries_equal(&cur.peers[0], &before.peers[0]));
	decide(&cur, 1, &none, &d);
	wf_gw_decision_free(&d);
	assert_true(wf_gw_entries_equal(&cur.peers[0], &before.peers[0]));
	assert_int_equal(cur.peers[1].n_forwards, 0);
	wf_gw_state_free(&before);
	wf_gw_state_free(&cur);
}

static void forward_of_a_family_the_peer_lacks_is_refused(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd6(TCP, 443, 443), fwd(TCP, 443, 443)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 2};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 1, &want, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_INVALID);
	assert_non_null(strstr(d.forwards[0].reason, "IPv6"));
	assert_int_equal(d.forwards[1].status, WF_GW_ACCEPTED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void invalid_forwards_are_refused_one_by_one(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd(1, 80, 80), fwd(TCP, 0, 80), fwd(TCP, 80, 0),
	                             fwd(TCP, 80, 80)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 4};

	f[3].family = 99;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want, &d);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(d.forwards[i].status, WF_GW_INVALID);
	assert_int_equal(cur.peers[0].n_forwards, 0);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void same_public_port_twice_keeps_the_first_target(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd(TCP, 80, 8080), fwd(TCP, 80, 8080), fwd(TCP, 80, 9090)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 3};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[1].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[2].status, WF_GW_DUPLICATE);
	assert_int_equal(cur.peers[0].n_forwards, 1);
	assert_int_equal(cur.peers[0].forwards[0].target_port, 8080);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void entries_beyond_the_limit_are_refused(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward f[] = {fwd(TCP, 80, 80), fwd(TCP, 81, 81), fwd(TCP, 82, 82)};
	struct wf_ctl_egress g[] = {egr(TCP, 25, 25), egr(TCP, 1000, 1001)};
	struct wf_gw_entries want = {.forwards = f, .n_forwards = 3, .egress = g, .n_egress = 2};

	cfg.max_entries = 4;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want, &d);
	assert_int_equal(d.forwards[2].status, WF_GW_ACCEPTED);
	assert_int_equal(d.egress[0].status, WF_GW_ACCEPTED);
	/* a range costs one set element per port */
	assert_int_equal(d.egress[1].status, WF_GW_TOO_MANY);
	assert_int_equal(d.n_refused, 1);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void egress_entries_are_checked_and_overlaps_allowed(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_egress g[] = {
	    egr(TCP, 25, 25), egr(TCP, 20, 30),        egr(0, 0, 0),
	    egr(UDP, 0, 0),   egr(0, 25, 25),          egr(TCP, 30, 20),
	    egr(TCP, 0, 5),   egr(IPPROTO_ICMP, 0, 0), egr(TCP, 25, 25),
	};
	struct wf_gw_entries want = {.egress = g, .n_egress = 9};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 1, &want, &d);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(d.egress[i].status, WF_GW_ACCEPTED);
	for (size_t i = 4; i < 8; i++)
		assert_int_equal(d.egress[i].status, WF_GW_INVALID);
	assert_int_equal(d.egress[8].status, WF_GW_ACCEPTED);
	/* the repeated entry is held once; sorted by protocol, then ports */
	assert_int_equal(cur.peers[1].n_egress, 4);
	assert_int_equal(cur.peers[1].egress[0].proto, 0);
	assert_int_equal(cur.peers[1].egress[1].port_lo, 20);
	assert_int_equal(cur.peers[1].egress[3].proto, UDP);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

static void the_gateway_wide_limit_counts_every_peer(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_forward a[] = {fwd(TCP, 80, 80), fwd(TCP, 81, 81), fwd(TCP, 82, 82)};
	struct wf_ctl_forward b[] = {fwd(TCP, 90, 90), fwd(TCP, 91, 91), fwd(TCP, 92, 92)};
	struct wf_ctl_egress g[] = {egr(TCP, 25, 25)};
	struct wf_gw_entries want_a = {.forwards = a, .n_forwards = 3};
	struct wf_gw_entries want_b = {.forwards = b, .n_forwards = 3, .egress = g, .n_egress = 1};

	cfg.max_total_entries = 4;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want_a, &d);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	decide(&cur, 1, &want_b, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[1].status, WF_GW_TOO_MANY);
	assert_non_null(strstr(d.forwards[1].reason, "all peers together"));
	assert_int_equal(d.forwards[2].status, WF_GW_TOO_MANY);
	assert_int_equal(d.egress[0].status, WF_GW_TOO_MANY);
	assert_int_equal(cur.peers[1].n_forwards, 1);
	wf_gw_decision_free(&d);
	/* The first peer restating its state keeps what it holds: the others leave it room. */
	decide(&cur, 0, &want_a, &d);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	/* and when it lets go, the second gets what it asked for */
	want_a.n_forwards = 0;
	decide(&cur, 0, &want_a, &d);
	wf_gw_decision_free(&d);
	decide(&cur, 1, &want_b, &d);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
	cfg.max_total_entries = 0;
}

static void a_repeated_entry_gets_the_answer_of_its_first(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_ctl_egress g[] = {egr(IPPROTO_ICMP, 0, 0), egr(TCP, 25, 25),
	                            egr(IPPROTO_ICMP, 0, 0), egr(TCP, 25, 25),
	                            egr(TCP, 1000, 1009),    egr(TCP, 1000, 1009)};
	struct wf_gw_entries want = {.egress = g, .n_egress = 6};

	cfg.max_entries = 5;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want, &d);
	assert_int_equal(d.egress[0].status, WF_GW_INVALID);
	assert_int_equal(d.egress[2].status, WF_GW_INVALID);
	assert_string_equal(d.egress[2].reason, d.egress[0].reason);
	assert_int_equal(d.egress[1].status, WF_GW_ACCEPTED);
	assert_int_equal(d.egress[3].status, WF_GW_ACCEPTED);
	/* ten ports do not fit the five left, twice */
	assert_int_equal(d.egress[4].status, WF_GW_TOO_MANY);
	assert_int_equal(d.egress[5].status, WF_GW_TOO_MANY);
	assert_int_equal(d.n_refused, 4);
	assert_int_equal(cur.peers[0].n_egress, 1);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
}

/* The largest request a state carries, every entry twice: decided in one pass that does not
 * compare entries pairwise (it used to: 32,768 entries took a quarter of a second). */
static void the_largest_request_with_every_entry_twice(void **state)
{
	size_t n = WF_GW_DEFAULT_MAX_ENTRIES;
	struct wf_ctl_forward *f = calloc(n, sizeof(*f));
	struct wf_ctl_egress *g = calloc(n, sizeof(*g));
	struct wf_gw_entries want = {.forwards = f, .n_forwards = n, .egress = g, .n_egress = n};
	struct wf_gw_state cur;
	struct wf_gw_decision d;

	assert_non_null(f);
	assert_non_null(g);
	for (size_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(1024 + i / 2);

		f[i] = (i & 2) ? fwd6(UDP, port, port) : fwd(TCP, port, port);
		g[i] = egr(UDP, port, port);
	}
	cfg.max_entries = n;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, &want, &d);
	/* n / 2 distinct forwards, then n / 2 distinct egress ports: exactly the limit */
	assert_int_equal(d.n_refused, 0);
	assert_int_equal(cur.peers[0].n_forwards, n / 2);
	assert_int_equal(cur.peers[0].n_egress, n / 2);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
	free(f);
	free(g);
}

static void decision_does_not_depend_on_request_order(void **state)
{
	struct wf_gw_state cur1, cur2;
	struct wf_gw_decision d;
	struct wf_ctl_forward f1[] = {fwd(TCP, 443, 443), fwd(UDP, 443, 443), fwd6(TCP, 80, 80)};
	struct wf_ctl_forward f2[] = {fwd6(TCP, 80, 80), fwd(UDP, 443, 443), fwd(TCP, 443, 443)};
	struct wf_ctl_egress g1[] = {egr(TCP, 25, 25), egr(UDP, 53, 53)};
	struct wf_ctl_egress g2[] = {egr(UDP, 53, 53), egr(TCP, 25, 25)};
	struct wf_gw_entries w1 = {.forwards = f1, .n_forwards = 3, .egress = g1, .n_egress = 2};
	struct wf_gw_entries w2 = {.forwards = f2, .n_forwards = 3, .egress = g2, .n_egress = 2};

	assert_int_equal(wf_gw_state_init(&cur1, cfg.n_peers), 0);
	assert_int_equal(wf_gw_state_init(&cur2, cfg.n_peers), 0);
	decide(&cur1, 0, &w1, &d);
	wf_gw_decision_free(&d);
	decide(&cur2, 0, &w2, &d);
	wf_gw_decision_free(&d);
	assert_true(wf_gw_state_equal(&cur1, &cur2));
	wf_gw_state_free(&cur1);
	wf_gw_state_free(&cur2);
}

/* A random forward of a small space (so keys meet): either family, either protocol, ports
 * 20..40 (22/tcp reserved), targets 1..3. */
static struct wf_ctl_forward random_forward(unsigned *seed)
{
	struct wf_ctl_forward f =
	    fwd(rand_r(seed) % 2 ? TCP : UDP, (uint16_t)(20 + rand_r(seed) % 21),
	        (uint16_t)(1 + rand_r(seed) % 3));

	if (rand_r(seed) % 2)
		f.family = AF_INET6;
	return f;
}

static bool same_key(const struct wf_ctl_forward *a, const struct wf_ctl_forward *b)
{
	return a->family == b->family && a->proto == b->proto && a->public_port == b->public_port;
}

static ssize_t key_in(const struct wf_gw_entries *e, const struct wf_ctl_forward *f)
{
	for (size_t i = 0; i < e->n_forwards; i++)
		if (same_key(&e->forwards[i], f))
			return (ssize_t)i;
	return -1;
}

/* On random sequences of changes to a's request, with b holding some of the ports all along
 * and no limit reached: deciding only each change gives what a holds when its whole request
 * is decided anew, and each added forward the verdict the whole decision gives it. */
static void deciding_changes_equals_deciding_the_whole_request(void **state)
{
	struct wf_gw_state cur;
	struct wf_gw_entries asked = {0}, b = {0};
	struct wf_gw_decision d;
	unsigned seed = 18;

	assert_int_equal(wf_gw_state_init(&cur, 2), 0);
	for (int i = 0; i < 12; i++) {
		struct wf_ctl_forward f = random_forward(&seed);

		f.family = AF_INET;
		if (key_in(&b, &f) < 0)
			assert_int_equal(wf_gw_entries_add_forward(&b, &f), 0);
	}
	decide(&cur, 1, &b, &d);
	wf_gw_decision_free(&d);
	for (int step = 0; step < 500; step++) {
		struct wf_gw_entries del = {0}, add = {0}, next_asked = {0}, mine;
		struct wf_gw_decision inc, whole;
		struct wf_gw_state next;

		/* del: some of what a asks for; add: keys it does not ask for after that */
		for (size_t i = 0; i < asked.n_forwards; i++) {
			if (rand_r(&seed) % 4 == 0)
				assert_int_equal(
				    wf_gw_entries_add_forward(&del, &asked.forwards[i]), 0);
			else
				assert_int_equal(
				    wf_gw_entries_add_forward(&next_asked, &asked.forwards[i]), 0);
		}
		for (int i = rand_r(&seed) % 4; i > 0; i--) {
			struct wf_ctl_forward f = random_forward(&seed);

			if (key_in(&next_asked, &f) >= 0)
				continue;
			assert_int_equal(wf_gw_entries_add_forward(&add, &f), 0);
			assert_int_equal(wf_gw_entries_add_forward(&next_asked, &f), 0);
		}
		assert_int_equal(
		    wf_gw_policy_decide_delta(&cfg, &cur, 0, &del, &add, &next_asked, &mine, &inc),
		    0);
		assert_int_equal(wf_gw_policy_decide(&cfg, &cur, 0, &next_asked, &next, &whole), 0);
		if (!wf_gw_entries_equal(&mine, &next.peers[0]))
			fail_msg("step %d: the change's decision holds %zu forwards, the whole "
			         "request's %zu",
			         step, mine.n_forwards, next.peers[0].n_forwards);
		assert_int_equal(inc.n_forwards, add.n_forwards);
		for (size_t i = 0; i < add.n_forwards; i++) {
			ssize_t at = key_in(&next_asked, &add.forwards[i]);

			assert_true(at >= 0);
			assert_int_equal(inc.forwards[i].status, whole.forwards[at].status);
			assert_string_equal(inc.forwards[i].reason, whole.forwards[at].reason);
		}
		/* b's entries are untouched by a's change */
		assert_true(wf_gw_entries_equal(&next.peers[1], &cur.peers[1]));
		wf_gw_entries_free(&cur.peers[0]);
		cur.peers[0] = mine;
		wf_gw_entries_free(&asked);
		asked = next_asked;
		wf_gw_entries_free(&del);
		wf_gw_entries_free(&add);
		wf_gw_state_free(&next);
		wf_gw_decision_free(&inc);
		wf_gw_decision_free(&whole);
	}
	assert_true(cur.peers[0].n_forwards > 0);
	wf_gw_entries_free(&asked);
	wf_gw_entries_free(&b);
	wf_gw_state_free(&cur);
}

/* A state's change in the kernel is what its peer's entries lost and gained: a forward that
 * stays is neither, one whose target moved is both. */
static void a_change_of_entries_is_what_went_and_what_came(void **state)
{
	struct wf_ctl_forward from_f[] = {fwd(TCP, 80, 80), fwd(TCP, 443, 443), fwd(UDP, 53, 53)};
	struct wf_ctl_forward to_f[] = {fwd(TCP, 443, 8443), fwd(TCP, 8080, 80), fwd(UDP, 53, 53)};
	struct wf_gw_entries from = {0}, to = {0}, gone, came;

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(wf_gw_entries_add_forward(&from, &from_f[i]), 0);
		assert_int_equal(wf_gw_entries_add_forward(&to, &to_f[i]), 0);
	}
	assert_int_equal(wf_gw_entries_forward_diff(&from, &to, &gone, &came), 0);
	assert_int_equal(gone.n_forwards, 2);
	assert_int_equal(gone.forwards[0].public_port, 80);
	assert_int_equal(gone.forwards[1].public_port, 443);
	assert_int_equal(gone.forwards[1].target_port, 443);
	assert_int_equal(came.n_forwards, 2);
	assert_int_equal(came.forwards[0].public_port, 443);
	assert_int_equal(came.forwards[0].target_port, 8443);
	assert_int_equal(came.forwards[1].public_port, 8080);
	wf_gw_entries_free(&gone);
	wf_gw_entries_free(&came);
	/* the same entries: nothing */
	assert_int_equal(wf_gw_entries_forward_diff(&to, &to, &gone, &came), 0);
	assert_int_equal(gone.n_forwards + came.n_forwards, 0);
	wf_gw_entries_free(&gone);
	wf_gw_entries_free(&came);
	wf_gw_entries_free(&from);
	wf_gw_entries_free(&to);
}

/* A decision made against an earlier state stands while nobody took one of its ports since. */
static void a_grant_stands_until_another_peer_takes_its_port(void **state)
{
	struct wf_gw_entries mine = {0};
	struct wf_gw_state cur;
	struct wf_ctl_forward f80 = fwd(TCP, 80, 80), f81 = fwd(TCP, 81, 81);

	assert_int_equal(wf_gw_state_init(&cur, 2), 0);
	assert_int_equal(wf_gw_entries_add_forward(&mine, &f80), 0);
	assert_true(wf_gw_policy_still_grantable(&cfg, &cur, 0, &mine));
	/* the other peer takes 81 meanwhile: 80 stands */
	assert_int_equal(wf_gw_entries_add_forward(&cur.peers[1], &f81), 0);
	assert_true(wf_gw_policy_still_grantable(&cfg, &cur, 0, &mine));
	/* but not within a gateway-wide limit that 81 filled */
	cfg.max_total_entries = 1;
	assert_false(wf_gw_policy_still_grantable(&cfg, &cur, 0, &mine));
	cfg.max_total_entries = 2;
	assert_true(wf_gw_policy_still_grantable(&cfg, &cur, 0, &mine));
	/* and not once the other peer holds 80 (entries sorted: 80 first) */
	cur.peers[1].forwards[0] = f80;
	assert_false(wf_gw_policy_still_grantable(&cfg, &cur, 0, &mine));
	wf_gw_entries_free(&mine);
	wf_gw_state_free(&cur);
}

static void unknown_peer_index_is_an_error(void **state)
{
	struct wf_gw_state cur, next;
	struct wf_gw_decision d;
	struct wf_gw_entries none = {0};

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	assert_int_equal(wf_gw_policy_decide(&cfg, &cur, 2, &none, &next, &d), -EINVAL);
	wf_gw_state_free(&cur);
}

static void peer_spec_names_the_peer_by_its_first_address(void **state)
{
	char err[256] = "";
	struct wf_gw_peer p;
	char ip[INET6_ADDRSTRLEN];

	assert_int_equal(wf_gw_peer_parse("fc00:0:0:160::5,10.0.0.5=/etc/k", &p, err, sizeof(err)),
	                 0);
	assert_string_equal(p.name, "fc00:0:0:160::5");
	assert_true(p.has_ip4 && p.has_ip6);
	inet_ntop(AF_INET, &p.ip4, ip, sizeof(ip));
	assert_string_equal(ip, "10.0.0.5");
	assert_string_equal(p.keyfile, "/etc/k");
	free(p.keyfile);
}

static void peer_spec_errors_say_what_is_wrong(void **state)
{
	const struct {
		const char *spec, *expect;
	} bad[] = {
	    {"10.0.0.1", "ADDR[,ADDR6]=KEYFILE"},       {"10.0.0.1=", "ADDR[,ADDR6]=KEYFILE"},
	    {"host=/k", "`host' is not an IP address"}, {"10.0.0.1,10.0.0.2=/k", "two IPv4"},
	    {"fc00::1,fc00::2=/k", "two IPv6"},         {"::ffff:10.0.0.1=/k", "plain IPv4"},
	};
	char err[256];
	struct wf_gw_peer p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wf_gw_peer_parse(bad[i].spec, &p, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i].expect));
	}
}

static void two_peers_cannot_share_an_address(void **state)
{
	char err[256] = "";
	struct wf_gw_peer p;

	assert_int_equal(
	    wf_gw_peer_parse("192.168.160.9,fc00:0:0:160:0::2=/k", &p, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)), -EEXIST);
	free(p.keyfile);
	assert_int_equal(wf_gw_config_find_peer_name(&cfg, "fc00::160:0:0:2"), -1);
	assert_int_equal(wf_gw_config_find_peer_name(&cfg, "fc00:0:0:160::2"), 0);
	assert_int_equal(wf_gw_config_find_peer_name(&cfg, "192.168.160.3"), 1);
}

/* The start-up decides every peer at once; it must answer as deciding them one after another
 * in configuration order would: the first keeps a port, limits count what came before. */
static void deciding_all_at_once_equals_deciding_in_order(void **state)
{
	struct wf_ctl_forward a[] = {fwd(TCP, 80, 80),    fwd(TCP, 22, 22),  fwd(TCP, 443, 443),
	                             fwd(TCP, 443, 8443), fwd6(UDP, 53, 53), fwd(TCP, 81, 81)};
	struct wf_ctl_forward b[] = {fwd(TCP, 80, 8080), fwd(UDP, 443, 443), fwd(TCP, 82, 82),
	                             fwd6(TCP, 82, 82),  fwd(TCP, 83, 83),   fwd(TCP, 84, 84)};
	struct wf_ctl_egress g[] = {egr(TCP, 25, 25), egr(UDP, 1000, 1001)};
	struct wf_gw_entries want[2] = {
	    {.forwards = a, .n_forwards = 6},
	    {.forwards = b, .n_forwards = 6, .egress = g, .n_egress = 2}};
	const size_t limits[] = {0, 7, 9};

	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		struct wf_gw_state cur, all;
		struct wf_gw_decision one[2], both[2];

		cfg.max_total_entries = limits[l];
		assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
		decide(&cur, 0, &want[0], &one[0]);
		decide(&cur, 1, &want[1], &one[1]);
		assert_int_equal(wf_gw_policy_decide_all(&cfg, want, &all, both), 0);
		assert_true(wf_gw_state_equal(&cur, &all));
		for (size_t p = 0; p < 2; p++) {
			assert_int_equal(both[p].n_refused, one[p].n_refused);
			assert_int_equal(both[p].n_forwards, one[p].n_forwards);
			for (size_t i = 0; i < one[p].n_forwards; i++) {
				assert_int_equal(both[p].forwards[i].status,
				                 one[p].forwards[i].status);
				assert_string_equal(both[p].forwards[i].reason,
				                    one[p].forwards[i].reason);
			}
			for (size_t i = 0; i < one[p].n_egress; i++)
				assert_int_equal(both[p].egress[i].status, one[p].egress[i].status);
			wf_gw_decision_free(&one[p]);
			wf_gw_decision_free(&both[p]);
		}
		/* the cases this covers */
		assert_int_equal(all.peers[1].n_forwards + all.peers[0].n_forwards,
		                 cur.peers[0].n_forwards + cur.peers[1].n_forwards);
		if (!limits[l]) {
			assert_int_equal(all.peers[0].n_forwards, 4);
			assert_null(wf_gw_entries_find_forward(&all.peers[1], &b[0]));
			assert_non_null(wf_gw_entries_find_forward(&all.peers[1], &b[1]));
		}
		wf_gw_state_free(&cur);
		wf_gw_state_free(&all);
	}
	cfg.max_total_entries = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(reserved_ports_are_refused_for_their_protocol_only,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(reserved_list_without_protocol_covers_tcp_and_udp,
	                                    setup, teardown),
	    cmocka_unit_test(reserved_list_errors_name_the_bad_item),
	    cmocka_unit_test_setup_teardown(refusals_are_summed_up_in_one_short_text, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(first_peer_keeps_a_public_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(same_port_of_the_other_family_is_a_separate_key, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_peer_never_changes_another_peers_entries, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(forward_of_a_family_the_peer_lacks_is_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(invalid_forwards_are_refused_one_by_one, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(same_public_port_twice_keeps_the_first_target, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(entries_beyond_the_limit_are_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(egress_entries_are_checked_and_overlaps_allowed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(the_gateway_wide_limit_counts_every_peer, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_repeated_entry_gets_the_answer_of_its_first, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(the_largest_request_with_every_entry_twice, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(decision_does_not_depend_on_request_order, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(deciding_changes_equals_deciding_the_whole_request,
	                                    setup, teardown),
	    cmocka_unit_test(a_change_of_entries_is_what_went_and_what_came),
	    cmocka_unit_test_setup_teardown(a_grant_stands_until_another_peer_takes_its_port, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(unknown_peer_index_is_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(deciding_all_at_once_equals_deciding_in_order, setup,
	                                    teardown),
	    cmocka_unit_test(peer_spec_names_the_peer_by_its_first_address),
	    cmocka_unit_test(peer_spec_errors_say_what_is_wrong),
	    cmocka_unit_test_setup_teardown(two_peers_cannot_share_an_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
