#include <wgfwd-agent/state.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CONTAINERS_MAX 8
#define LABELS_MAX     4
#define NETWORKS_MAX   3

/* Containers described in place: the state function only reads them. */
struct fixture {
	struct wf_container c[CONTAINERS_MAX];
	struct wf_label labels[CONTAINERS_MAX][LABELS_MAX];
	struct wf_network nets[CONTAINERS_MAX][NETWORKS_MAX];
	size_t n;
	struct wf_desired d;
};

static struct fixture fx;

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	return 0;
}

static int teardown(void **state)
{
	wf_desired_free(&fx.d);
	return 0;
}

static struct wf_container *add(const char *name, const char *id, int64_t created_ns)
{
	struct wf_container *c = &fx.c[fx.n];

	assert_true(fx.n < CONTAINERS_MAX);
	c->name = (char *)name;
	c->id = (char *)id;
	c->created_ns = created_ns;
	c->running = true;
	c->netmode = WF_NETMODE_BRIDGE;
	c->labels = fx.labels[fx.n];
	c->networks = fx.nets[fx.n];
	fx.n++;
	return c;
}

static void label(struct wf_container *c, const char *key, const char *value)
{
	assert_true(c->n_labels < LABELS_MAX);
	c->labels[c->n_labels++] = (struct wf_label){(char *)key, (char *)value};
}

/* ip4 / ip6 NULL: the network has no address of that family (yet). */
static struct wf_network *net(struct wf_container *c, const char *name, const char *bridge,
                              const char *ip4, const char *ip6)
{
	struct wf_network *n = &c->networks[c->n_networks++];

	assert_true(c->n_networks <= NETWORKS_MAX);
	n->name = (char *)name;
	snprintf(n->bridge, sizeof(n->bridge), "%s", bridge);
	if (ip4) {
		n->has_ip4 = true;
		assert_int_equal(inet_pton(AF_INET, ip4, &n->ip4), 1);
	}
	if (ip6) {
		n->has_ip6 = true;
		assert_int_equal(inet_pton(AF_INET6, ip6, &n->ip6), 1);
	}
	return n;
}

static struct wf_desired *build(void)
{
	wf_desired_free(&fx.d);
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &fx.d),
	                 0);
	return &fx.d;
}

static void assert_ip4(const struct in_addr *a, const char *expected)
{
	char buf[INET_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET, a, buf, sizeof(buf)));
	assert_string_equal(buf, expected);
}

static void assert_ip6(const struct in6_addr *a, const char *expected)
{
	char buf[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET6, a, buf, sizeof(buf)));
	assert_string_equal(buf, expected);
}

static void assert_forward(const struct wf_forward *f, uint8_t proto, uint16_t public_port,
                           uint16_t target_port, const char *container)
{
	assert_int_equal(f->proto, proto);
	assert_int_equal(f->public_port, public_port);
	assert_int_equal(f->target_port, target_port);
	assert_string_equal(f->container_name, container);
}

static void assert_problem(const struct wf_problem *p, const char *container, const char *label_,
                           bool waiting, const char *message)
{
	assert_string_equal(p->container_name, container);
	assert_string_equal(p->label, label_);
	assert_int_equal(p->waiting, waiting);
	assert_string_equal(p->message, message);
}

static struct wf_container *web(void)
{
	struct wf_container *c = add("web", "aaaa0001", 100);

	label(c, WF_LABEL_PORTS, "443");
	net(c, "web_default", "br-web", "172.18.0.2", NULL);
	return c;
}

/* ---- targets ---- */

static void container_on_one_network_gets_its_forward(void **state)
{
	struct wf_desired *d;

	web();
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_int_equal(d->n_problems, 0);
	assert_forward(&d->forwards[0], IPPROTO_TCP, 443, 443, "web");
	assert_string_equal(d->forwards[0].container_id, "aaaa0001");
	assert_string_equal(d->forwards[0].bridge, "br-web");
	assert_false(d->forwards[0].to_host);
	assert_true(d->forwards[0].has_ip4);
	assert_false(d->forwards[0].has_ip6);
	assert_ip4(&d->forwards[0].ip4, "172.18.0.2");
}

static void dual_stack_container_forward_carries_both_addresses(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	net(c, "web_default", "br-web", "172.18.0.2", "fd00:18::2");
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_true(d->forwards[0].has_ip4);
	assert_true(d->forwards[0].has_ip6);
	assert_ip4(&d->forwards[0].ip4, "172.18.0.2");
	assert_ip6(&d->forwards[0].ip6, "fd00:18::2");
}

static void ipv6_only_container_forward_carries_only_ipv6(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	net(c, "v6net", "br-v6", NULL, "fd00:18::2");
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_false(d->forwards[0].has_ip4);
	assert_true(d->forwards[0].has_ip6);
	assert_ip6(&d->forwards[0].ip6, "fd00:18::2");
}

static void several_networks_without_network_label_is_a_problem(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	net(c, "web_front", "br-front", "172.18.0.2", NULL);
	net(c, "web_back", "br-back", "172.19.0.2", NULL);
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "web", WF_LABEL_NETWORK, false,
	               "on several networks (`web_back', `web_front'); choose one with "
	               "wgfwd.network");
}

static void network_label_picks_one_of_several_networks(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	label(c, WF_LABEL_NETWORK, "web_front");
	net(c, "web_back", "br-back", "172.19.0.2", NULL);
	net(c, "web_front", "br-front", "172.18.0.2", NULL);
	d = build();
	assert_int_equal(d->n_problems, 0);
	assert_int_equal(d->n_forwards, 1);
	assert_string_equal(d->forwards[0].bridge, "br-front");
	assert_ip4(&d->forwards[0].ip4, "172.18.0.2");
}

static void network_label_may_name_the_network_id(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	label(c, WF_LABEL_NETWORK, "0123abcd");
	net(c, "web_back", "br-back", "172.19.0.2", NULL);
	net(c, "web_front", "br-front", "172.18.0.2", NULL)->id = "0123abcd";
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_string_equal(d->forwards[0].bridge, "br-front");
}

static void network_label_naming_another_network_is_a_problem(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	label(c, WF_LABEL_NETWORK, "frontend");
	net(c, "web_default", "br-web", "172.18.0.2", NULL);
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "web", WF_LABEL_NETWORK, false,
	               "not on network `frontend' (its networks: `web_default')");
}

static void host_mode_container_forwards_to_the_host(void **state)
{
	struct wf_container *c = add("dns", "bbbb0001", 100);
	struct wf_desired *d;

	c->netmode = WF_NETMODE_HOST;
	label(c, WF_LABEL_PORTS, "53/tcp+udp");
	d = build();
	assert_int_equal(d->n_problems, 0);
	assert_int_equal(d->n_forwards, 2);
	assert_forward(&d->forwards[0], IPPROTO_TCP, 53, 53, "dns");
	assert_forward(&d->forwards[1], IPPROTO_UDP, 53, 53, "dns");
	for (size_t i = 0; i < 2; i++) {
		assert_true(d->forwards[i].to_host);
		assert_false(d->forwards[i].has_ip4);
		assert_false(d->forwards[i].has_ip6);
		assert_string_equal(d->forwards[i].bridge, "");
	}
}

static void container_mode_follows_the_target_by_name_id_or_prefix(void **state)
{
	static const char *const refs[] = {"vpn", "cccc00010000", "cccc0001", "/vpn"};

	for (size_t i = 0; i < 4; i++) {
		struct wf_container *vpn, *app;
		struct wf_desired *d;

		setup(NULL);
		vpn = add("vpn", "cccc00010000", 100);
		net(vpn, "vpn_default", "br-vpn", "172.20.0.5", "fd00:20::5");
		app = add("app", "dddd00010000", 200);
		app->netmode = WF_NETMODE_CONTAINER;
		app->netmode_target = (char *)refs[i];
		label(app, WF_LABEL_PORTS, "8080:80");
		d = build();
		assert_int_equal(d->n_problems, 0);
		assert_int_equal(d->n_forwards, 1);
		assert_forward(&d->forwards[0], IPPROTO_TCP, 8080, 80, "app");
		assert_string_equal(d->forwards[0].container_id, "dddd00010000");
		assert_string_equal(d->forwards[0].bridge, "br-vpn");
		assert_ip4(&d->forwards[0].ip4, "172.20.0.5");
		assert_ip6(&d->forwards[0].ip6, "fd00:20::5");
		teardown(NULL);
	}
}

static void container_mode_uses_the_target_network_label(void **state)
{
	struct wf_container *vpn = add("vpn", "cccc0001", 100), *app;
	struct wf_desired *d;

	label(vpn, WF_LABEL_NETWORK, "outside");
	net(vpn, "inside", "br-in", "172.21.0.5", NULL);
	net(vpn, "outside", "br-out", "172.20.0.5", NULL);
	app = add("app", "dddd0001", 200);
	app->netmode = WF_NETMODE_CONTAINER;
	app->netmode_target = "vpn";
	label(app, WF_LABEL_PORTS, "80");
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_string_equal(d->forwards[0].bridge, "br-out");
}

static void container_mode_of_host_mode_target_forwards_to_the_host(void **state)
{
	struct wf_container *h = add("hostnet", "cccc0001", 100), *app;
	struct wf_desired *d;

	h->netmode = WF_NETMODE_HOST;
	app = add("app", "dddd0001", 200);
	app->netmode = WF_NETMODE_CONTAINER;
	app->netmode_target = "hostnet";
	label(app, WF_LABEL_PORTS, "80");
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_true(d->forwards[0].to_host);
}

static void container_mode_with_missing_target_is_waiting(void **state)
{
	struct wf_container *app = add("app", "dddd0001", 200);
	struct wf_desired *d;

	app->netmode = WF_NETMODE_CONTAINER;
	app->netmode_target = "vpn";
	label(app, WF_LABEL_PORTS, "80");
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "app", "", true, "network container `vpn' not found");
}

static void container_mode_with_stopped_target_is_waiting(void **state)
{
	struct wf_container *vpn = add("vpn", "cccc0001", 100), *app;
	struct wf_desired *d;

	vpn->running = false;
	net(vpn, "vpn_default", "br-vpn", "172.20.0.5", NULL);
	app = add("app", "dddd0001", 200);
	app->netmode = WF_NETMODE_CONTAINER;
	app->netmode_target = "vpn";
	label(app, WF_LABEL_PORTS, "80");
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "app", "", true, "network container `vpn' is not running");
}

static void container_mode_with_ambiguous_prefix_is_a_problem(void **state)
{
	struct wf_container *app;
	struct wf_desired *d;

	add("one", "cccc0001", 100);
	add("two", "cccc0002", 100);
	app = add("app", "dddd0001", 200);
	app->netmode = WF_NETMODE_CONTAINER;
	app->netmode_target = "cccc";
	label(app, WF_LABEL_PORTS, "80");
	d = build();
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "app", "", false,
	               "network container `cccc' matches several containers");
}

static void container_mode_loop_is_a_problem(void **state)
{
	struct wf_container *a = add("a", "aaaa0001", 100), *b;
	struct wf_desired *d;

	a->netmode = WF_NETMODE_CONTAINER;
	a->netmode_target = "b";
	label(a, WF_LABEL_PORTS, "80");
	b = add("b", "bbbb0001", 100);
	b->netmode = WF_NETMODE_CONTAINER;
	b->netmode_target = "a";
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "a", "", false,
	               "network_mode container: more than 8 containers deep at `b' (a loop?)");
}

static void network_mode_none_is_a_problem(void **state)
{
	struct wf_container *c = add("offline", "aaaa0001", 100);
	struct wf_desired *d;

	c->netmode = WF_NETMODE_NONE;
	label(c, WF_LABEL_PORTS, "80");
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_problem(&d->problems[0], "offline", "", false,
	               "network mode none: nothing to forward to");
}

static void running_container_without_address_is_waiting(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	label(c, WF_LABEL_EGRESS, "smtp");
	net(c, "web_default", "br-web", NULL, NULL);
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_egress, 0);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "web", "", true, "no address yet on network `web_default'");
}

static void zero_address_counts_as_no_address(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	net(c, "web_default", "br-web", "0.0.0.0", "::");
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_true(d->problems[0].waiting);

	inet_pton(AF_INET6, "fd00::9", &fx.nets[0][0].ip6);
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_false(d->forwards[0].has_ip4);
	assert_true(d->forwards[0].has_ip6);
}

static void container_on_no_network_yet_is_waiting(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "443");
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_problem(&d->problems[0], "web", "", true, "not attached to any network yet");
}

/* ---- which containers count ---- */

static void stopped_container_gives_nothing(void **state)
{
	web()->running = false;
	build();
	assert_int_equal(fx.d.n_forwards, 0);
	assert_int_equal(fx.d.n_problems, 0);
}

static void paused_container_keeps_its_forwards(void **state)
{
	web()->paused = true;
	build();
	assert_int_equal(fx.d.n_forwards, 1);
	assert_int_equal(fx.d.n_problems, 0);
}

static void container_without_ports_or_egress_gives_nothing(void **state)
{
	struct wf_container *c = add("db", "aaaa0002", 100);

	label(c, WF_LABEL_ENABLE, "maybe");
	label(c, WF_LABEL_NETWORK, "nowhere");
	label(c, "com.example.other", "443");
	build();
	assert_int_equal(fx.d.n_forwards, 0);
	assert_int_equal(fx.d.n_problems, 0);
}

static void enable_false_switches_a_container_off(void **state)
{
	static const char *const off[] = {"false", "no", "0", "FALSE"};

	for (size_t i = 0; i < 4; i++) {
		setup(NULL);
		label(web(), WF_LABEL_ENABLE, off[i]);
		build();
		assert_int_equal(fx.d.n_forwards, 0);
		assert_int_equal(fx.d.n_problems, 0);
		teardown(NULL);
	}
	label(web(), WF_LABEL_ENABLE, "yes");
	build();
	assert_int_equal(fx.d.n_forwards, 1);
}

static void bad_enable_value_switches_the_container_off_with_a_problem(void **state)
{
	struct wf_container *other = add("other", "aaaa0002", 50);

	label(other, WF_LABEL_PORTS, "80");
	net(other, "n", "br-n", "172.18.0.3", NULL);
	label(web(), WF_LABEL_ENABLE, "perhaps");
	build();
	assert_int_equal(fx.d.n_forwards, 1);
	assert_forward(&fx.d.forwards[0], IPPROTO_TCP, 80, 80, "other");
	assert_int_equal(fx.d.n_problems, 1);
	assert_problem(&fx.d.problems[0], "web", WF_LABEL_ENABLE, false,
	               "bad value `perhaps' (use true or false)");
}

static void bad_entries_keep_the_other_entries(void **state)
{
	struct wf_container *c = add("mail", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_PORTS, "25,70000/tcp,587");
	label(c, WF_LABEL_EGRESS, "smtp,smtpx");
	net(c, "mail_default", "br-mail", "172.18.0.2", NULL);
	d = build();
	assert_int_equal(d->n_forwards, 2);
	assert_forward(&d->forwards[0], IPPROTO_TCP, 25, 25, "mail");
	assert_forward(&d->forwards[1], IPPROTO_TCP, 587, 587, "mail");
	assert_int_equal(d->n_egress, 1);
	assert_int_equal(d->n_problems, 2);
	assert_problem(&d->problems[0], "mail", WF_LABEL_EGRESS, false,
	               "unknown service `smtpx' (not in the services database; write tcp/PORT or "
	               "udp/PORT)");
	assert_problem(&d->problems[1], "mail", WF_LABEL_PORTS, false,
	               "bad port `70000' in entry `70000/tcp'");
}

static void only_bad_entries_give_no_network_problem(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);

	label(c, WF_LABEL_PORTS, "nope");
	build();
	assert_int_equal(fx.d.n_problems, 1);
	assert_string_equal(fx.d.problems[0].label, WF_LABEL_PORTS);
}

/* ---- conflicts ---- */

static void older_container_wins_a_port_whatever_the_input_order(void **state)
{
	for (int order = 0; order < 2; order++) {
		struct wf_container *older, *younger;

		setup(NULL);
		if (order) {
			younger = add("young", "aaaa0001", 200);
			older = add("old", "ffff0001", 100);
		} else {
			older = add("old", "ffff0001", 100);
			younger = add("young", "aaaa0001", 200);
		}
		label(older, WF_LABEL_PORTS, "443");
		net(older, "n", "br-n", "172.18.0.2", NULL);
		label(younger, WF_LABEL_PORTS, "443,80");
		net(younger, "n", "br-n", "172.18.0.3", NULL);
		build();
		assert_int_equal(fx.d.n_forwards, 2);
		assert_forward(&fx.d.forwards[0], IPPROTO_TCP, 80, 80, "young");
		assert_forward(&fx.d.forwards[1], IPPROTO_TCP, 443, 443, "old");
		assert_int_equal(fx.d.n_problems, 1);
		assert_problem(&fx.d.problems[0], "young", WF_LABEL_PORTS, false,
		               "public port 443/tcp is taken by container `old', which is older");
		teardown(NULL);
	}
}

static void same_age_conflict_goes_to_the_lower_id(void **state)
{
	struct wf_container *b = add("b", "bbbb0001", 100), *a = add("a", "aaaa0001", 100);

	label(b, WF_LABEL_PORTS, "443");
	net(b, "n", "br-n", "172.18.0.2", NULL);
	label(a, WF_LABEL_PORTS, "443");
	net(a, "n", "br-n", "172.18.0.3", NULL);
	build();
	assert_int_equal(fx.d.n_forwards, 1);
	assert_forward(&fx.d.forwards[0], IPPROTO_TCP, 443, 443, "a");
	assert_problem(&fx.d.problems[0], "b", WF_LABEL_PORTS, false,
	               "public port 443/tcp is taken by container `a', which has the same "
	               "creation time and a lower id");
}

static void conflict_over_a_range_is_one_problem_and_other_protocol_stays(void **state)
{
	struct wf_container *old = add("old", "aaaa0001", 100), *young = add("young", "bbbb", 200);

	label(old, WF_LABEL_PORTS, "30000-30004/tcp");
	net(old, "n", "br-n", "172.18.0.2", NULL);
	label(young, WF_LABEL_PORTS, "29998-30009/tcp+udp");
	net(young, "n", "br-n", "172.18.0.3", NULL);
	build();
	/* old: 5 tcp; young: tcp 29998-29999 and 30005-30009, udp all 12 */
	assert_int_equal(fx.d.n_forwards, 5 + 7 + 12);
	assert_int_equal(fx.d.n_problems, 1);
	assert_problem(&fx.d.problems[0], "young", WF_LABEL_PORTS, false,
	               "public ports 30000-30004/tcp are taken by container `old', which is older");
}

static void two_winners_give_two_problems(void **state)
{
	struct wf_container *a = add("a", "aaaa", 100), *b = add("b", "bbbb", 150),
	                    *c = add("c", "cccc", 200);

	label(a, WF_LABEL_PORTS, "80");
	net(a, "n", "br-n", "172.18.0.2", NULL);
	label(b, WF_LABEL_PORTS, "81");
	net(b, "n", "br-n", "172.18.0.3", NULL);
	label(c, WF_LABEL_PORTS, "80-81");
	net(c, "n", "br-n", "172.18.0.4", NULL);
	build();
	assert_int_equal(fx.d.n_forwards, 2);
	assert_int_equal(fx.d.n_problems, 2);
	assert_problem(&fx.d.problems[0], "c", WF_LABEL_PORTS, false,
	               "public port 80/tcp is taken by container `a', which is older");
	assert_problem(&fx.d.problems[1], "c", WF_LABEL_PORTS, false,
	               "public port 81/tcp is taken by container `b', which is older");
}

/* ---- egress ---- */

static void egress_carries_the_container_address(void **state)
{
	struct wf_container *c = add("mail", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, WF_LABEL_EGRESS, "smtp,domain");
	net(c, "mail_default", "br-mail", "172.18.0.2", "fd00:18::2");
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_egress, 3);
	assert_int_equal(d->egress[0].proto, IPPROTO_TCP);
	assert_int_equal(d->egress[0].port_lo, 25);
	assert_int_equal(d->egress[1].proto, IPPROTO_TCP);
	assert_int_equal(d->egress[1].port_lo, 53);
	assert_int_equal(d->egress[2].proto, IPPROTO_UDP);
	assert_int_equal(d->egress[2].port_lo, 53);
	assert_string_equal(d->egress[0].container_name, "mail");
	assert_string_equal(d->egress[0].bridge, "br-mail");
	assert_ip4(&d->egress[0].ip4, "172.18.0.2");
	assert_ip6(&d->egress[0].ip6, "fd00:18::2");
}

static void egress_all_of_a_host_mode_container(void **state)
{
	struct wf_container *c = add("h", "aaaa0001", 100);

	c->netmode = WF_NETMODE_HOST;
	label(c, WF_LABEL_EGRESS, "all");
	build();
	assert_int_equal(fx.d.n_egress, 1);
	assert_int_equal(fx.d.egress[0].proto, 0);
	assert_int_equal(fx.d.egress[0].port_lo, 0);
	assert_true(fx.d.egress[0].to_host);
}

static void egress_of_containers_sharing_a_namespace_is_kept_once(void **state)
{
	struct wf_container *vpn = add("vpn", "cccc0001", 100), *a, *b;

	net(vpn, "n", "br-n", "172.18.0.2", NULL);
	a = add("a", "aaaa0001", 300);
	b = add("b", "bbbb0001", 200);
	a->netmode = b->netmode = WF_NETMODE_CONTAINER;
	a->netmode_target = b->netmode_target = "vpn";
	label(a, WF_LABEL_EGRESS, "smtp,submission");
	label(b, WF_LABEL_EGRESS, "smtp");
	build();
	assert_int_equal(fx.d.n_problems, 0);
	assert_int_equal(fx.d.n_egress, 2);
	assert_string_equal(fx.d.egress[0].container_name, "a");
	assert_int_equal(fx.d.egress[0].port_lo, 587);
	assert_string_equal(fx.d.egress[1].container_name, "b");
	assert_int_equal(fx.d.egress[1].port_lo, 25);
}

/* ---- order and determinism ---- */

static void output_is_sorted(void **state)
{
	struct wf_container *z = add("zeta", "ffff", 100), *a = add("alpha", "eeee", 100),
	                    *m = add("mid", "dddd", 100);

	label(z, WF_LABEL_PORTS, "9000/udp,443,53/udp");
	label(z, WF_LABEL_EGRESS, "udp/123,smtp");
	net(z, "n", "br-n", "172.18.0.9", NULL);
	label(a, WF_LABEL_PORTS, "80,bad");
	label(a, WF_LABEL_EGRESS, "submission");
	net(a, "n", "br-n", "172.18.0.1", NULL);
	label(m, WF_LABEL_PORTS, "22");
	build();

	assert_int_equal(fx.d.n_forwards, 4);
	assert_forward(&fx.d.forwards[0], IPPROTO_TCP, 80, 80, "alpha");
	assert_forward(&fx.d.forwards[1], IPPROTO_TCP, 443, 443, "zeta");
	assert_forward(&fx.d.forwards[2], IPPROTO_UDP, 53, 53, "zeta");
	assert_forward(&fx.d.forwards[3], IPPROTO_UDP, 9000, 9000, "zeta");
	assert_int_equal(fx.d.n_egress, 3);
	assert_string_equal(fx.d.egress[0].container_name, "alpha");
	assert_string_equal(fx.d.egress[1].container_name, "zeta");
	assert_int_equal(fx.d.egress[1].proto, IPPROTO_TCP);
	assert_int_equal(fx.d.egress[2].proto, IPPROTO_UDP);
	assert_int_equal(fx.d.n_problems, 2);
	assert_string_equal(fx.d.problems[0].container_name, "alpha");
	assert_string_equal(fx.d.problems[1].container_name, "mid");
}

static void build_is_byte_equal_for_every_input_order(void **state)
{
	static const size_t perms[][4] = {
	    {0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}, {3, 0, 1, 2}, {1, 0, 3, 2},
	};
	struct wf_container base[4];
	struct wf_desired first = {0};

	{
		struct wf_container *a = add("a", "aaaa", 300), *b = add("b", "bbbb", 100),
		                    *c = add("c", "cccc", 100), *h = add("h", "dddd", 50);

		label(a, WF_LABEL_PORTS, "443,8000-8003,53/udp,x");
		label(a, WF_LABEL_EGRESS, "smtp,all");
		net(a, "n1", "br-1", "172.18.0.2", "fd00::2");
		label(b, WF_LABEL_PORTS, "443,8002/both");
		label(b, WF_LABEL_EGRESS, "tcp/6000-6010");
		net(b, "n1", "br-1", "172.18.0.3", NULL);
		label(c, WF_LABEL_PORTS, "8000-8001,53");
		c->netmode = WF_NETMODE_CONTAINER;
		c->netmode_target = "b";
		h->netmode = WF_NETMODE_HOST;
		label(h, WF_LABEL_PORTS, "22,8003");
		label(h, WF_LABEL_EGRESS, "smtp");
	}
	memcpy(base, fx.c, sizeof(base));
	for (size_t p = 0; p < sizeof(perms) / sizeof(perms[0]); p++) {
		struct wf_desired d;

		for (size_t i = 0; i < 4; i++)
			fx.c[i] = base[perms[p][i]];
		assert_int_equal(
		    wf_desired_build_with(fx.c, 4, wf_service_lookup_builtin, NULL, &d), 0);
		if (!p) {
			first = d;
			assert_true(first.n_forwards > 0);
			assert_true(first.n_problems > 0);
			continue;
		}
		assert_true(wf_desired_equal(&first, &d));
		assert_int_equal(d.n_forwards, first.n_forwards);
		assert_memory_equal(d.forwards, first.forwards, d.n_forwards * sizeof(*d.forwards));
		assert_int_equal(d.n_egress, first.n_egress);
		assert_memory_equal(d.egress, first.egress, d.n_egress * sizeof(*d.egress));
		assert_int_equal(d.n_problems, first.n_problems);
		assert_memory_equal(d.problems, first.problems, d.n_problems * sizeof(*d.problems));
		wf_desired_free(&d);
	}
	wf_desired_free(&first);
}

/* ---- equality and diff ---- */

/* Each forward of a range, on both protocols, is byte for byte the one its fields describe,
 * padding and unused bytes zero. */
static void every_forward_of_a_range_is_filled_whole(void **state)
{
	struct wf_container *c = add("web", "0123abcd", 1);
	const struct wf_desired *d;

	label(c, "wgfwd.ports", "8000-8002:9000-9002/tcp+udp,53/udp");
	label(c, "wgfwd.gateways", "vps1");
	net(c, "appnet", "br-app", "172.18.0.5", "fd00:18::5");
	d = build();
	assert_int_equal(d->n_forwards, 7);
	for (size_t i = 0; i < d->n_forwards; i++) {
		const struct wf_forward *f = &d->forwards[i];
		struct wf_forward want;

		memset(&want, 0, sizeof(want));
		want.proto = f->proto;
		want.public_port = f->public_port;
		want.target_port =
		    f->public_port == 53 ? 53 : (uint16_t)(9000 + f->public_port - 8000);
		want.has_ip4 = want.has_ip6 = true;
		assert_int_equal(inet_pton(AF_INET, "172.18.0.5", &want.ip4), 1);
		assert_int_equal(inet_pton(AF_INET6, "fd00:18::5", &want.ip6), 1);
		strcpy(want.bridge, "br-app");
		strcpy(want.gateways, "vps1");
		strcpy(want.container_id, "0123abcd");
		strcpy(want.container_name, "web");
		assert_memory_equal(f, &want, sizeof(want));
	}
	assert_forward(&d->forwards[0], IPPROTO_TCP, 8000, 9000, "web");
	assert_forward(&d->forwards[2], IPPROTO_TCP, 8002, 9002, "web");
	assert_forward(&d->forwards[3], IPPROTO_UDP, 53, 53, "web");
	assert_forward(&d->forwards[6], IPPROTO_UDP, 8002, 9002, "web");
}

static void equal_states_compare_equal_and_changed_ones_do_not(void **state)
{
	struct wf_desired a, b;

	web();
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &a), 0);
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &b), 0);
	assert_true(wf_desired_equal(&a, &b));
	b.forwards[0].target_port = 8443;
	assert_false(wf_desired_equal(&a, &b));
	wf_desired_free(&b);
	fx.labels[0][0].value = "443,bad";
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &b), 0);
	assert_false(wf_desired_equal(&a, &b));
	wf_desired_free(&a);
	wf_desired_free(&b);
}

static void diff_of_a_state_with_itself_is_empty(void **state)
{
	struct wf_desired_diff diff;

	web();
	build();
	assert_int_equal(wf_desired_diff(&fx.d, &fx.d, &diff), 0);
	assert_true(wf_desired_diff_empty(&diff));
	wf_desired_diff_free(&diff);
}

static void diff_lists_added_and_removed_forwards(void **state)
{
	struct wf_desired before, after;
	struct wf_desired_diff diff;
	struct wf_container *mail;

	web();
	assert_int_equal(
	    wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &before), 0);
	mail = add("mail", "bbbb0001", 200);
	label(mail, WF_LABEL_PORTS, "25");
	label(mail, WF_LABEL_EGRESS, "smtp");
	net(mail, "mail_default", "br-mail", "172.19.0.2", NULL);
	fx.c[0].running = false;
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &after),
	                 0);

	assert_int_equal(wf_desired_diff(&before, &after, &diff), 0);
	assert_int_equal(diff.n_forwards_added, 1);
	assert_forward(&diff.forwards_added[0], IPPROTO_TCP, 25, 25, "mail");
	assert_int_equal(diff.n_forwards_removed, 1);
	assert_forward(&diff.forwards_removed[0], IPPROTO_TCP, 443, 443, "web");
	assert_int_equal(diff.n_egress_added, 1);
	assert_int_equal(diff.egress_added[0].port_lo, 25);
	assert_int_equal(diff.n_egress_removed, 0);
	wf_desired_diff_free(&diff);

	assert_int_equal(wf_desired_diff(&after, &before, &diff), 0);
	assert_int_equal(diff.n_forwards_added, 1);
	assert_forward(&diff.forwards_added[0], IPPROTO_TCP, 443, 443, "web");
	assert_int_equal(diff.n_egress_removed, 1);
	wf_desired_diff_free(&diff);
	wf_desired_free(&before);
	wf_desired_free(&after);
}

static void diff_of_a_moved_forward_removes_old_and_adds_new_target(void **state)
{
	struct wf_desired before, after;
	struct wf_desired_diff diff;

	web();
	assert_int_equal(
	    wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &before), 0);
	inet_pton(AF_INET, "172.18.0.7", &fx.nets[0][0].ip4);
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &after),
	                 0);
	assert_int_equal(wf_desired_diff(&before, &after, &diff), 0);
	assert_int_equal(diff.n_forwards_removed, 1);
	assert_ip4(&diff.forwards_removed[0].ip4, "172.18.0.2");
	assert_int_equal(diff.n_forwards_added, 1);
	assert_ip4(&diff.forwards_added[0].ip4, "172.18.0.7");
	wf_desired_diff_free(&diff);
	wf_desired_free(&before);
	wf_desired_free(&after);
}

static void diff_ignores_a_recreated_container_with_the_same_address(void **state)
{
	struct wf_desired before, after;
	struct wf_desired_diff diff;

	web();
	assert_int_equal(
	    wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &before), 0);
	fx.c[0].id = "ffff0009";
	fx.c[0].name = "web-new";
	assert_int_equal(wf_desired_build_with(fx.c, fx.n, wf_service_lookup_builtin, NULL, &after),
	                 0);
	assert_false(wf_desired_equal(&before, &after));
	assert_int_equal(wf_desired_diff(&before, &after, &diff), 0);
	assert_true(wf_desired_diff_empty(&diff));
	wf_desired_diff_free(&diff);
	wf_desired_free(&before);
	wf_desired_free(&after);
}

static void diff_from_empty_state_adds_everything(void **state)
{
	struct wf_desired empty = {0};
	struct wf_desired_diff diff;
	struct wf_container *c = web();

	fx.labels[0][0].value = "443,80/udp";
	label(c, WF_LABEL_EGRESS, "smtp");
	build();
	assert_int_equal(wf_desired_diff(&empty, &fx.d, &diff), 0);
	assert_int_equal(diff.n_forwards_added, 2);
	assert_int_equal(diff.n_forwards_removed, 0);
	assert_int_equal(diff.n_egress_added, 1);
	wf_desired_diff_free(&diff);
}

/* ---- output ---- */

static void json_export_lists_forwards_egress_and_problems(void **state)
{
	struct wf_container *c = add("mail", "aaaa0001", 100), *h = add("h", "bbbb0001", 100);
	struct json_object *j;

	label(c, WF_LABEL_PORTS, "25,bad");
	label(c, WF_LABEL_EGRESS, "tcp/6000-6010");
	net(c, "mail_default", "br-mail", "172.18.0.2", "fd00::2");
	h->netmode = WF_NETMODE_HOST;
	label(h, WF_LABEL_PORTS, "53/udp");
	label(h, WF_LABEL_EGRESS, "all");
	build();
	j = wf_desired_to_json(&fx.d);
	assert_non_null(j);
	assert_string_equal(
	    json_object_to_json_string_ext(j,
	                                   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	    "{\"forwards\":["
	    "{\"proto\":\"tcp\",\"public_port\":25,\"target_port\":25,\"container\":\"mail\","
	    "\"container_id\":\"aaaa0001\",\"to_host\":false,\"ip4\":\"172.18.0.2\","
	    "\"ip6\":\"fd00::2\",\"bridge\":\"br-mail\"},"
	    "{\"proto\":\"udp\",\"public_port\":53,\"target_port\":53,\"container\":\"h\","
	    "\"container_id\":\"bbbb0001\",\"to_host\":true}],"
	    "\"egress\":["
	    "{\"container\":\"h\",\"container_id\":\"bbbb0001\",\"proto\":\"all\","
	    "\"to_host\":true},"
	    "{\"container\":\"mail\",\"container_id\":\"aaaa0001\",\"proto\":\"tcp\","
	    "\"port_lo\":6000,\"port_hi\":6010,\"to_host\":false,\"ip4\":\"172.18.0.2\","
	    "\"ip6\":\"fd00::2\",\"bridge\":\"br-mail\"}],"
	    "\"problems\":["
	    "{\"container\":\"mail\",\"container_id\":\"aaaa0001\",\"label\":\"wgfwd.ports\","
	    "\"message\":\"bad port `bad' in entry `bad'\",\"waiting\":false}]}");
	json_object_put(j);
}

static void problem_formats_as_one_log_line(void **state)
{
	char buf[512];
	struct wf_container *c = add("web", "aaaa0001", 100);

	label(c, WF_LABEL_PORTS, "70000/tcp");
	label(add("late", "bbbb0001", 100), WF_LABEL_PORTS, "80");
	build();
	assert_int_equal(fx.d.n_problems, 2);
	wf_problem_format(&fx.d.problems[0], buf, sizeof(buf));
	assert_string_equal(buf, "late: not attached to any network yet");
	wf_problem_format(&fx.d.problems[1], buf, sizeof(buf));
	assert_string_equal(buf, "web: wgfwd.ports: bad port `70000' in entry `70000/tcp'");
}

/* ---- container helpers ---- */

static void container_copy_is_deep_and_frees_cleanly(void **state)
{
	struct wf_container *c = web(), *copy;

	c->netmode_target = "x";
	fx.nets[0][0].id = "net0";
	copy = wf_container_dup(c);
	assert_non_null(copy);
	assert_ptr_not_equal(copy->name, c->name);
	assert_string_equal(copy->name, "web");
	assert_string_equal(copy->id, "aaaa0001");
	assert_string_equal(copy->netmode_target, "x");
	assert_int_equal(copy->created_ns, 100);
	assert_int_equal(copy->n_labels, 1);
	assert_string_equal(wf_container_label(copy, WF_LABEL_PORTS), "443");
	assert_null(wf_container_label(copy, WF_LABEL_EGRESS));
	assert_int_equal(copy->n_networks, 1);
	assert_string_equal(copy->networks[0].name, "web_default");
	assert_string_equal(copy->networks[0].id, "net0");
	assert_string_equal(copy->networks[0].bridge, "br-web");
	assert_memory_equal(&copy->networks[0].ip4, &c->networks[0].ip4, sizeof(struct in_addr));
	wf_container_clear(copy);
	assert_null(copy->name);
	assert_int_equal(copy->n_labels, 0);
	wf_container_free(copy);
	wf_container_free(NULL);
}

static void mistyped_label_is_reported_and_the_rest_still_applies(void **state)
{
	struct wf_container *c = web();
	struct wf_desired *d;

	label(c, "wgfwd.egres", "smtp");
	d = build();
	assert_int_equal(d->n_forwards, 1);
	assert_int_equal(d->n_problems, 1);
	assert_problem(&d->problems[0], "web", "wgfwd.egres", false,
	               "unknown label (known: wgfwd.ports, wgfwd.egress, wgfwd.network, "
	               "wgfwd.enable, wgfwd.gateways)");
}

static void gateways_label_restricts_forwards_and_egress(void **state)
{
	struct wf_container *c = web();
	struct wf_desired *d;

	label(c, "wgfwd.egress", "smtp");
	label(c, "wgfwd.gateways", " vps2 , vps1");
	d = build();
	assert_int_equal(d->n_problems, 0);
	assert_int_equal(d->n_forwards, 1);
	assert_string_equal(d->forwards[0].gateways, "vps2,vps1");
	assert_int_equal(d->n_egress, 1);
	assert_string_equal(d->egress[0].gateways, "vps2,vps1");
}

static void bad_gateways_label_is_a_problem_of_that_container_only(void **state)
{
	struct wf_container *c = web();
	struct wf_container *other = add("other", "aaaa0002", 200);
	struct wf_desired *d;

	label(other, WF_LABEL_PORTS, "80");
	net(other, "web_default", "br-web", "172.18.0.3", NULL);
	label(c, "wgfwd.gateways", "vps1,,vps2");
	d = build();
	assert_int_equal(d->n_problems, 1);
	assert_string_equal(d->problems[0].label, "wgfwd.gateways");
	assert_non_null(strstr(d->problems[0].message, "not a list of gateway names"));
	/* the other container keeps its forward; the bad one has none */
	assert_int_equal(d->n_forwards, 1);
	assert_int_equal(d->forwards[0].public_port, 80);
}

static void gateways_list_parses_and_matches_names(void **state)
{
	char out[WF_GATEWAY_LIST_MAX], err[256];
	static const char *const bad[] = {"", ",", "a,", "a b", "a;b", "vps 1", "-x,/"};

	assert_int_equal(wf_gateways_parse("vps1", out, err, sizeof(err)), 0);
	assert_string_equal(out, "vps1");
	assert_int_equal(wf_gateways_parse("a.b_c-1,\tZ", out, err, sizeof(err)), 0);
	assert_string_equal(out, "a.b_c-1,Z");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wf_gateways_parse(bad[i], out, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted `%s'", bad[i]);
	assert_int_equal(
	    wf_gateways_parse("0123456789012345678901234567890123456789", out, err, sizeof(err)),
	    -EINVAL);
	assert_true(wf_gateways_allow("", "anything"));
	assert_true(wf_gateways_allow("vps1,vps2", "vps2"));
	assert_true(wf_gateways_allow("vps1,vps2", "vps1"));
	assert_false(wf_gateways_allow("vps1,vps2", "vps"));
	assert_false(wf_gateways_allow("vps10", "vps1"));
}

static void only_a_mistyped_label_is_still_reported(void **state)
{
	struct wf_container *c = add("web", "aaaa0001", 100);
	struct wf_desired *d;

	label(c, "wgfwd.port", "443");
	label(c, "com.example.other", "x");
	net(c, "web_default", "br-web", "172.18.0.2", NULL);
	d = build();
	assert_int_equal(d->n_forwards, 0);
	assert_int_equal(d->n_problems, 1);
	assert_string_equal(d->problems[0].label, "wgfwd.port");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(container_on_one_network_gets_its_forward),
	    T(dual_stack_container_forward_carries_both_addresses),
	    T(ipv6_only_container_forward_carries_only_ipv6),
	    T(several_networks_without_network_label_is_a_problem),
	    T(network_label_picks_one_of_several_networks),
	    T(network_label_may_name_the_network_id),
	    T(network_label_naming_another_network_is_a_problem),
	    T(host_mode_container_forwards_to_the_host),
	    T(container_mode_follows_the_target_by_name_id_or_prefix),
	    T(container_mode_uses_the_target_network_label),
	    T(container_mode_of_host_mode_target_forwards_to_the_host),
	    T(container_mode_with_missing_target_is_waiting),
	    T(container_mode_with_stopped_target_is_waiting),
	    T(container_mode_with_ambiguous_prefix_is_a_problem),
	    T(container_mode_loop_is_a_problem),
	    T(network_mode_none_is_a_problem),
	    T(running_container_without_address_is_waiting),
	    T(zero_address_counts_as_no_address),
	    T(container_on_no_network_yet_is_waiting),
	    T(stopped_container_gives_nothing),
	    T(paused_container_keeps_its_forwards),
	    T(container_without_ports_or_egress_gives_nothing),
	    T(enable_false_switches_a_container_off),
	    T(bad_enable_value_switches_the_container_off_with_a_problem),
	    T(bad_entries_keep_the_other_entries),
	    T(gateways_label_restricts_forwards_and_egress),
	    T(bad_gateways_label_is_a_problem_of_that_container_only),
	    T(gateways_list_parses_and_matches_names),
	    T(mistyped_label_is_reported_and_the_rest_still_applies),
	    T(only_a_mistyped_label_is_still_reported),
	    T(only_bad_entries_give_no_network_problem),
	    T(older_container_wins_a_port_whatever_the_input_order),
	    T(same_age_conflict_goes_to_the_lower_id),
	    T(conflict_over_a_range_is_one_problem_and_other_protocol_stays),
	    T(two_winners_give_two_problems),
	    T(egress_carries_the_container_address),
	    T(egress_all_of_a_host_mode_container),
	    T(egress_of_containers_sharing_a_namespace_is_kept_once),
	    T(output_is_sorted),
	    T(build_is_byte_equal_for_every_input_order),
	    T(every_forward_of_a_range_is_filled_whole),
	    T(equal_states_compare_equal_and_changed_ones_do_not),
	    T(diff_of_a_state_with_itself_is_empty),
	    T(diff_lists_added_and_removed_forwards),
	    T(diff_of_a_moved_forward_removes_old_and_adds_new_target),
	    T(diff_ignores_a_recreated_container_with_the_same_address),
	    T(diff_from_empty_state_adds_everything),
	    T(json_export_lists_forwards_egress_and_problems),
	    T(problem_formats_as_one_log_line),
	    T(container_copy_is_deep_and_frees_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
