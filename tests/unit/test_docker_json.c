#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd-agent/docker_json.h>

#include "docker_samples.h"

#define WEB1_ID     "125d8fa87e2966c04f47a365b5f52bd4e5fd24871ad9c5728076b147fe3d7dff"
#define PLAIN_ID    "4b5f5507ea95e92ccab306bd923cfe02102207f861141713266de095a5994e32"
#define FOLLOWER_ID "26ece52d1a9a67c5ab95010a798a75df2e95675aa7fe0b1a9c22b73bc26b3640"

static int parse_inspect(const char *json, struct wf_container *c, char *err)
{
	return wf_docker_parse_inspect(json, strlen(json), c, err);
}

static void load_networks(struct wf_docker_networks *nets)
{
	char err[WF_DOCKER_ERR_MAX] = "";

	assert_int_equal(
	    wf_docker_parse_networks(sample_networks, strlen(sample_networks), nets, err), 0);
}

static void assert_ip4(const struct in_addr *a, const char *text)
{
	char buf[INET_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET, a, buf, sizeof(buf)));
	assert_string_equal(buf, text);
}

static void assert_ip6(const struct in6_addr *a, const char *text)
{
	char buf[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(AF_INET6, a, buf, sizeof(buf)));
	assert_string_equal(buf, text);
}

static void inspect_reads_container_on_two_user_networks(void **state)
{
	struct wf_docker_networks nets;
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_inspect(sample_inspect_web1, &c, err), 0);
	assert_string_equal(c.id, WEB1_ID);
	assert_string_equal(c.name, "web1");
	assert_true(c.created_ns == 1795612360149634978LL);
	assert_true(c.running);
	assert_false(c.paused);
	assert_int_equal(c.netmode, WF_NETMODE_BRIDGE);
	assert_null(c.netmode_target);

	assert_int_equal(c.n_labels, 2);
	assert_string_equal(c.labels[0].key, "wgfwd.egress");
	assert_string_equal(c.labels[0].value, "smtp");
	assert_string_equal(c.labels[1].key, "wgfwd.ports");
	assert_string_equal(c.labels[1].value, "443,25");
	assert_string_equal(wf_container_label(&c, "wgfwd.ports"), "443,25");

	assert_int_equal(c.n_networks, 2);
	assert_string_equal(c.networks[0].name, "v6net");
	assert_string_equal(c.networks[0].id,
	                    "c88893e60b066a7bc4cbccb20f7439ae5e11c8de13a873a9231169008507e9ce");
	assert_true(c.networks[0].has_ip4);
	assert_ip4(&c.networks[0].ip4, "172.20.0.2");
	assert_true(c.networks[0].has_ip6);
	assert_ip6(&c.networks[0].ip6, "fd00:dead::2");
	assert_string_equal(c.networks[1].name, "web_default");
	assert_true(c.networks[1].has_ip4);
	assert_ip4(&c.networks[1].ip4, "172.18.0.2");
	assert_false(c.networks[1].has_ip6);
	assert_string_equal(c.networks[0].bridge, "");

	load_networks(&nets);
	assert_int_equal(wf_docker_networks_resolve(&nets, &c), 0);
	assert_string_equal(c.networks[0].bridge, "br-c88893e60b06");
	assert_string_equal(c.networks[1].bridge, "br-ee39fb1d8f92");
	wf_docker_networks_clear(&nets);
	wf_container_clear(&c);
}

static void inspect_reads_host_network_mode(void **state)
{
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_inspect(sample_inspect_host, &c, err), 0);
	assert_string_equal(c.name, "hostc");
	assert_int_equal(c.netmode, WF_NETMODE_HOST);
	assert_int_equal(c.n_networks, 1);
	assert_string_equal(c.networks[0].name, "host");
	assert_false(c.networks[0].has_ip4);
	assert_false(c.networks[0].has_ip6);
	wf_container_clear(&c);
}

static void inspect_reads_container_network_mode_target(void **state)
{
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_inspect(sample_inspect_follower, &c, err), 0);
	assert_string_equal(c.id, FOLLOWER_ID);
	assert_int_equal(c.netmode, WF_NETMODE_CONTAINER);
	assert_string_equal(c.netmode_target, WEB1_ID);
	assert_int_equal(c.n_networks, 0);
	assert_string_equal(wf_container_label(&c, "wgfwd.ports"), "9000");
	wf_container_clear(&c);
}

static void inspect_reads_none_network_mode(void **state)
{
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_inspect(sample_inspect_none, &c, err), 0);
	assert_int_equal(c.netmode, WF_NETMODE_NONE);
	wf_container_clear(&c);
}

static void inspect_maps_default_network_mode_to_docker0(void **state)
{
	struct wf_docker_networks nets;
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_inspect(sample_inspect_default, &c, err), 0);
	assert_string_equal(c.id, PLAIN_ID);
	assert_int_equal(c.netmode, WF_NETMODE_BRIDGE);
	assert_int_equal(c.n_labels, 0);
	assert_int_equal(c.n_networks, 1);
	load_networks(&nets);
	assert_int_equal(wf_docker_networks_resolve(&nets, &c), 0);
	assert_string_equal(c.networks[0].name, "bridge");
	assert_string_equal(c.networks[0].bridge, "docker0");
	assert_ip4(&c.networks[0].ip4, "172.17.0.2");
	wf_docker_networks_clear(&nets);
	wf_container_clear(&c);
}

static void inspect_of_created_container_has_network_without_address(void **state)
{
	struct wf_docker_networks nets;
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(parse_inspect(sample_inspect_created, &c, err), 0);
	assert_false(c.running);
	assert_int_equal(c.n_networks, 1);
	assert_string_equal(c.networks[0].name, "mail_net");
	assert_string_equal(c.networks[0].id, "");
	assert_false(c.networks[0].has_ip4);
	load_networks(&nets);
	/* No id yet is not an unknown network: nothing to look up. */
	assert_int_equal(wf_docker_networks_resolve(&nets, &c), 0);
	assert_string_equal(c.networks[0].bridge, "");
	wf_docker_networks_clear(&nets);
	wf_container_clear(&c);
}

/* A minimal inspect document with one field replaced. */
static char *inspect_with(const char *id, const char *created, const char *state,
                          const char *labels, const char *networks)
{
	char *s;

	if (asprintf(&s,
	             "{\"Id\":\"%s\",\"Name\":\"/x\",\"Created\":\"%s\",\"State\":%s,"
	             "\"HostConfig\":{\"NetworkMode\":\"default\"},\"Config\":{\"Labels\":%s},"
	             "\"NetworkSettings\":{\"Networks\":%s}}",
	             id, created, state, labels, networks) < 0)
		fail();
	return s;
}

static void expect_inspect_error(char *json, const char *what)
{
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";

	assert_int_equal(parse_inspect(json, &c, err), -EBADMSG);
	if (!strstr(err, what))
		fail_msg("error `%s' does not mention `%s'", err, what);
	assert_null(c.id);
	free(json);
}

#define OK_ID      WEB1_ID
#define OK_CREATED "2026-11-25T13:12:40.149634978Z"
#define OK_STATE   "{\"Running\":true}"

static void inspect_says_which_field_is_wrong(void **state)
{
	(void)state;
	expect_inspect_error(inspect_with("abc", OK_CREATED, OK_STATE, "{}", "{}"), "Id");
	expect_inspect_error(inspect_with(OK_ID, "yesterday", OK_STATE, "{}", "{}"), "Created");
	expect_inspect_error(inspect_with(OK_ID, OK_CREATED, "{\"Running\":\"yes\"}", "{}", "{}"),
	                     "State.Running");
	expect_inspect_error(inspect_with(OK_ID, OK_CREATED, "[]", "{}", "{}"), "State");
	expect_inspect_error(
	    inspect_with(OK_ID, OK_CREATED, OK_STATE, "{\"wgfwd.ports\":443}", "{}"),
	    "Config.Labels.wgfwd.ports");
	expect_inspect_error(inspect_with(OK_ID, OK_CREATED, OK_STATE, "{}",
	                                  "{\"n\":{\"IPAddress\":\"172.18.0.300\"}}"),
	                     "NetworkSettings.Networks.n.IPAddress");
	expect_inspect_error(inspect_with(OK_ID, OK_CREATED, OK_STATE, "{}",
	                                  "{\"n\":{\"GlobalIPv6Address\":\"fd00::g\"}}"),
	                     "GlobalIPv6Address");
	expect_inspect_error(
	    inspect_with(OK_ID, OK_CREATED, OK_STATE, "{}", "{\"n\":{\"NetworkID\":5}}"),
	    "NetworkSettings.Networks.n.NetworkID: expected a string");
	expect_inspect_error(strdup("{\"Id\":\"" OK_ID "\""), "truncated");
	expect_inspect_error(strdup("{\"Id\":\"" OK_ID "\"} x"), "trailing");
	expect_inspect_error(strdup("[1]"), "expected an object");
	expect_inspect_error(strdup("{\"Id\": x}"), "invalid JSON");
	expect_inspect_error(strdup("{\"Name\":\"/x\"}"), "Id: missing");
}

static void inspect_accepts_null_and_missing_optional_parts(void **state)
{
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";
	char *json = inspect_with(OK_ID, OK_CREATED, "null", "null", "null");

	(void)state;
	assert_int_equal(parse_inspect(json, &c, err), 0);
	assert_false(c.running);
	assert_int_equal(c.n_labels, 0);
	assert_int_equal(c.n_networks, 0);
	wf_container_clear(&c);
	free(json);
}

static int64_t created_of(const char *created)
{
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";
	char *json = inspect_with(OK_ID, created, OK_STATE, "{}", "{}");
	int64_t ns;

	if (parse_inspect(json, &c, err))
		fail_msg("`%s': %s", created, err);
	ns = c.created_ns;
	wf_container_clear(&c);
	free(json);
	return ns;
}

static void inspect_reads_creation_time_with_any_precision_and_offset(void **state)
{
	(void)state;
	assert_true(created_of("1970-01-01T00:00:00Z") == 0);
	assert_true(created_of("2000-02-29T23:59:59Z") == 951868799LL * 1000000000);
	assert_true(created_of("2000-02-29T23:59:59.5Z") == 951868799LL * 1000000000 + 500000000);
	assert_true(created_of("2026-11-25T15:12:40.149634978+02:00") == 1795612360149634978LL);
	assert_true(created_of("2026-11-25T13:12:40.1496349781234Z") == 1795612360149634978LL);
	assert_true(created_of("1969-12-31T23:59:59Z") == -1000000000LL);
}

static void networks_name_each_bridge_interface(void **state)
{
	struct wf_docker_networks nets;
	const struct wf_docker_net *n;

	(void)state;
	load_networks(&nets);
	assert_int_equal(nets.n, 6);
	n = wf_docker_networks_find(
	    &nets, "b39bfccd4fcb311d9cb3261f593edd1bf6495043e66552eda7693b70e5c5ba57");
	assert_non_null(n);
	assert_string_equal(n->name, "bridge");
	assert_string_equal(n->bridge, "docker0");
	n = wf_docker_networks_find(
	    &nets, "bad342922377a0e913b0bda1a13421591e1805a3ae883889bcd3639649ab1b72");
	assert_string_equal(n->name, "mail_net");
	assert_string_equal(n->bridge, "brmail0");
	n = wf_docker_networks_find(
	    &nets, "ee39fb1d8f925c574e1a444dea293927b43b45f6e8a5a8b664dc80669e8fb219");
	assert_string_equal(n->name, "web_default");
	assert_string_equal(n->bridge, "br-ee39fb1d8f92");
	n = wf_docker_networks_find(
	    &nets, "4dabe28d1e9ad8008e7fe02db5beb654c37e7ca933cdd6764c542abbe69fcfca");
	assert_string_equal(n->name, "host");
	assert_string_equal(n->bridge, "");
	n = wf_docker_networks_find(
	    &nets, "9a839b5a3a48c3d176c08db50d2ea215b46acbad67d3a4cde382c1b49a683929");
	assert_string_equal(n->name, "none");
	assert_string_equal(n->bridge, "");
	assert_null(wf_docker_networks_find(&nets, "0123456789ab"));
	wf_docker_networks_clear(&nets);
}

static void networks_default_bridge_without_name_option_is_docker0(void **state)
{
	const char *json =
	    "[{\"Name\":\"bridge\",\"Id\":\"0123456789abcdef\",\"Driver\":\"bridge\","
	    "\"Options\":{}},"
	    "{\"Name\":\"mv\",\"Id\":\"fedcba9876543210\",\"Driver\":\"macvlan\","
	    "\"Options\":null}]";
	struct wf_docker_networks nets;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(wf_docker_parse_networks(json, strlen(json), &nets, err), 0);
	assert_string_equal(nets.v[0].bridge, "docker0");
	assert_string_equal(nets.v[1].bridge, "");
	wf_docker_networks_clear(&nets);
}

/* Podman's compatible API names no bridge: its IPv4 gateway locates it. */
static void networks_keep_the_ipv4_gateway_of_podman_networks(void **state)
{
	const char *json =
	    "[{\"Name\":\"pnet\",\"Id\":\"63fd0b91625bdb56b055\",\"Driver\":\"bridge\","
	    "\"Options\":{},\"IPAM\":{\"Config\":[{\"Subnet\":\"fd00:28::/64\",\"Gateway\":"
	    "\"fd00:28::1\"},{\"Subnet\":\"172.28.0.0/24\",\"Gateway\":\"172.28.0.1\"}]}},"
	    "{\"Name\":\"x\",\"Id\":\"fedcba9876543210\",\"Driver\":\"bridge\","
	    "\"IPAM\":{\"Config\":[{\"Gateway\":7}]}}]";
	struct wf_docker_networks nets;
	char err[WF_DOCKER_ERR_MAX] = "", a[INET_ADDRSTRLEN];

	(void)state;
	assert_int_equal(wf_docker_parse_networks(json, strlen(json), &nets, err), 0);
	assert_string_equal(nets.v[0].bridge, "br-63fd0b91625b");
	assert_true(nets.v[0].has_gateway4);
	inet_ntop(AF_INET, &nets.v[0].gateway4, a, sizeof(a));
	assert_string_equal(a, "172.28.0.1");
	assert_false(nets.v[1].has_gateway4);

	/* Podman's inspect: NetworkID is the network's name */
	struct wf_network net = {.name = "pnet", .id = "pnet"};
	struct wf_container c = {.networks = &net, .n_networks = 1};

	assert_int_equal(wf_docker_networks_resolve(&nets, &c), 0);
	assert_string_equal(net.bridge, "br-63fd0b91625b");
	net.id = "other";
	assert_int_equal(wf_docker_networks_resolve(&nets, &c), 1);
	wf_docker_networks_clear(&nets);
}

static void networks_reject_bridge_name_longer_than_an_interface_name(void **state)
{
	const char *json =
	    "[{\"Name\":\"n\",\"Id\":\"0123456789abcdef\",\"Driver\":\"bridge\","
	    "\"Options\":{\"com.docker.network.bridge.name\":\"abcdefghijklmnop\"}}]";
	struct wf_docker_networks nets;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(wf_docker_parse_networks(json, strlen(json), &nets, err), -EBADMSG);
	assert_non_null(strstr(err, "com.docker.network.bridge.name"));
	assert_int_equal(nets.n, 0);
}

static void resolve_counts_networks_missing_from_the_list(void **state)
{
	const char *json = "[{\"Name\":\"a\",\"Id\":\"aaaaaaaaaaaaaaaa\",\"Driver\":\"bridge\"}]";
	struct wf_docker_networks nets;
	struct wf_container c;
	char err[WF_DOCKER_ERR_MAX] = "";
	char *doc = inspect_with(OK_ID, OK_CREATED, OK_STATE, "{}",
	                         "{\"a\":{\"NetworkID\":\"aaaaaaaaaaaaaaaa\"},"
	                         "\"b\":{\"NetworkID\":\"bbbbbbbbbbbbbbbb\"}}");

	(void)state;
	assert_int_equal(wf_docker_parse_networks(json, strlen(json), &nets, err), 0);
	assert_int_equal(parse_inspect(doc, &c, err), 0);
	assert_int_equal(wf_docker_networks_resolve(&nets, &c), 1);
	assert_string_equal(c.networks[0].bridge, "br-aaaaaaaaaaaa");
	assert_string_equal(c.networks[1].bridge, "");
	wf_container_clear(&c);
	wf_docker_networks_clear(&nets);
	free(doc);
}

static void list_tells_labelled_containers_and_their_targets(void **state)
{
	struct wf_docker_summaries list;
	char err[WF_DOCKER_ERR_MAX] = "";
	int labelled = 0;

	(void)state;
	assert_int_equal(wf_docker_parse_list(sample_list, strlen(sample_list), &list, err), 0);
	assert_int_equal(list.n, 5);
	for (size_t i = 0; i < list.n; i++) {
		const struct wf_docker_summary *s = &list.v[i];

		labelled += s->has_wgfwd_label;
		if (!strcmp(s->name, "plain"))
			assert_false(s->has_wgfwd_label);
		if (!strcmp(s->name, "follower")) {
			assert_string_equal(s->id, FOLLOWER_ID);
			assert_string_equal(s->netmode_target, WEB1_ID);
		} else {
			assert_null(s->netmode_target);
		}
	}
	assert_int_equal(labelled, 4);
	wf_docker_summaries_clear(&list);
}

static void list_rejects_rows_without_container_id(void **state)
{
	const char *json = "[{\"Id\":\"" WEB1_ID "\"},{\"Names\":[\"/x\"]}]";
	struct wf_docker_summaries list;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(wf_docker_parse_list(json, strlen(json), &list, err), -EBADMSG);
	assert_string_equal(err, "containers[1].Id: missing");
	assert_int_equal(list.n, 0);
}

static int pick(const char *api, const char *min_api, char out[WF_DOCKER_API_MAX])
{
	struct wf_docker_version v = {0};

	snprintf(v.api, sizeof(v.api), "%s", api);
	snprintf(v.min_api, sizeof(v.min_api), "%s", min_api);
	return wf_docker_api_pick(&v, out);
}

static void api_version_is_the_lower_of_engine_and_client(void **state)
{
	struct wf_docker_version v;
	char err[WF_DOCKER_ERR_MAX] = "", api[WF_DOCKER_API_MAX];

	(void)state;
	assert_int_equal(wf_docker_parse_version(sample_version, strlen(sample_version), &v, err),
	                 0);
	assert_string_equal(v.api, "1.41");
	assert_string_equal(v.min_api, "1.12");
	assert_string_equal(v.engine, "20.10.24+dfsg1");
	assert_int_equal(wf_docker_api_pick(&v, api), 0);
	assert_string_equal(api, "1.41");

	assert_int_equal(pick("1.52", "1.44", api), 0);
	assert_string_equal(api, WF_DOCKER_API_NEWEST);
	assert_int_equal(pick("1.24", "", api), 0);
	assert_string_equal(api, "1.24");
	assert_int_equal(pick("1.23", "1.12", api), -ENOTSUP);
	assert_int_equal(pick("2.0", "1.60", api), -ENOTSUP);
	assert_int_equal(pick("x", "", api), -ENOTSUP);
}

static void version_rejects_malformed_api_version(void **state)
{
	const char *json = "{\"ApiVersion\":\"1.x\"}";
	struct wf_docker_version v;
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	assert_int_equal(wf_docker_parse_version(json, strlen(json), &v, err), -EBADMSG);
	assert_non_null(strstr(err, "ApiVersion"));
}

/* Event stream */

struct seen {
	struct wf_docker_event ev[64];
	size_t n;
	int stop_after;
};

static int collect(const struct wf_docker_event *ev, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 64)
		s->ev[s->n] = *ev;
	s->n++;
	if (s->stop_after && (int)s->n == s->stop_after)
		return -ECANCELED;
	return 0;
}

static void assert_same_events(const struct seen *a, const struct seen *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n && i < 64; i++)
		assert_memory_equal(&a->ev[i], &b->ev[i], sizeof(a->ev[i]));
}

static void events_reads_each_object_of_a_chunk(void **state)
{
	struct wf_docker_events *p = wf_docker_events_new(0);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct seen s = {0};

	(void)state;
	assert_int_equal(
	    wf_docker_events_feed(p, sample_events, strlen(sample_events), collect, &s, err), 0);
	assert_int_equal(s.n, 28);

	assert_int_equal(s.ev[0].type, WF_DOCKER_EVENT_CONTAINER);
	assert_string_equal(s.ev[0].action, "rename");
	assert_string_equal(s.ev[0].actor_id, PLAIN_ID);
	assert_string_equal(s.ev[0].name, "plain2");
	assert_false(s.ev[0].has_wgfwd_label);
	assert_true(s.ev[0].time_ns == 1795612370532981849LL);

	assert_string_equal(s.ev[1].action, "pause");
	assert_string_equal(s.ev[1].actor_id, WEB1_ID);
	assert_true(s.ev[1].has_wgfwd_label);

	assert_int_equal(s.ev[3].type, WF_DOCKER_EVENT_NETWORK);
	assert_string_equal(s.ev[3].action, "disconnect");
	assert_string_equal(s.ev[3].container_id, WEB1_ID);
	assert_string_equal(s.ev[3].name, "v6net");

	assert_int_equal(s.ev[21].type, WF_DOCKER_EVENT_NETWORK);
	assert_string_equal(s.ev[21].action, "create");
	assert_string_equal(s.ev[21].name, "scratch");
	wf_docker_events_free(p);
}

static void events_split_at_every_byte_read_the_same(void **state)
{
	size_t len = strlen(sample_events);
	struct seen whole = {0};
	char err[WF_DOCKER_ERR_MAX] = "";
	struct wf_docker_events *p = wf_docker_events_new(0);

	(void)state;
	assert_int_equal(wf_docker_events_feed(p, sample_events, len, collect, &whole, err), 0);
	for (size_t cut = 0; cut <= len; cut++) {
		struct seen s = {0};

		wf_docker_events_reset(p);
		assert_int_equal(wf_docker_events_feed(p, sample_events, cut, collect, &s, err), 0);
		assert_int_equal(
		    wf_docker_events_feed(p, sample_events + cut, len - cut, collect, &s, err), 0);
		assert_same_events(&whole, &s);
	}
	wf_docker_events_free(p);
}

static void events_fed_one_byte_at_a_time_read_the_same(void **state)
{
	size_t len = strlen(sample_events);
	struct seen whole = {0}, drip = {0};
	char err[WF_DOCKER_ERR_MAX] = "";
	struct wf_docker_events *p = wf_docker_events_new(0);

	(void)state;
	assert_int_equal(wf_docker_events_feed(p, sample_events, len, collect, &whole, err), 0);
	wf_docker_events_reset(p);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(
		    wf_docker_events_feed(p, sample_events + i, 1, collect, &drip, err), 0);
	assert_same_events(&whole, &drip);
	wf_docker_events_free(p);
}

static void events_split_inside_a_utf8_character_read_the_same(void **state)
{
	const char *stream =
	    "{\"Type\":\"container\",\"Action\":\"rename\",\"Actor\":{\"ID\":\"" WEB1_ID
	    "\",\"Attributes\":{\"name\":\"caf\xc3\xa9-\xe2\x82\xac\"}}}";
	size_t len = strlen(stream);
	struct wf_docker_events *p = wf_docker_events_new(0);
	char err[WF_DOCKER_ERR_MAX] = "";

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		struct seen s = {0};

		wf_docker_events_reset(p);
		assert_int_equal(wf_docker_events_feed(p, stream, cut, collect, &s, err), 0);
		assert_int_equal(
		    wf_docker_events_feed(p, stream + cut, len - cut, collect, &s, err), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.ev[0].name, "caf\xc3\xa9-\xe2\x82\xac");
	}
	wf_docker_events_free(p);
}

static void events_need_no_separator_and_allow_any_whitespace(void **state)
{
	const char *stream =
	    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" WEB1_ID
	    "\"}}{\"Type\":\"network\",\"Action\":\"create\",\"Actor\":{\"ID\":"
	    "\"n\"}}\r\n \t{\"Type\":\"image\",\"Action\":\"pull\",\"Actor\":{"
	    "\"ID\":\"i\"}}\n";
	struct wf_docker_events *p = wf_docker_events_new(0);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct seen s = {0};

	(void)state;
	assert_int_equal(wf_docker_events_feed(p, stream, strlen(stream), collect, &s, err), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.ev[0].type, WF_DOCKER_EVENT_CONTAINER);
	assert_int_equal(s.ev[1].type, WF_DOCKER_EVENT_NETWORK);
	assert_int_equal(s.ev[2].type, WF_DOCKER_EVENT_OTHER);
	wf_docker_events_free(p);
}

static void events_of_unknown_shape_are_skipped_not_fatal(void **state)
{
	const char *stream =
	    "{}{\"Type\":\"container\"}{\"Type\":\"container\",\"Action\":\"start\","
	    "\"Actor\":{\"ID\":\"not-an-id\"}}{\"Type\":1,\"Action\":[],\"Actor\":"
	    "\"x\"}";
	struct wf_docker_events *p = wf_docker_events_new(0);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct seen s = {0};

	(void)state;
	assert_int_equal(wf_docker_events_feed(p, stream, strlen(stream), collect, &s, err), 0);
	assert_int_equal(s.n, 4);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(s.ev[i].type, WF_DOCKER_EVENT_OTHER);
	wf_docker_events_free(p);
}

static void expect_garbage(const char *stream, size_t good_before)
{
	struct wf_docker_events *p = wf_docker_events_new(0);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct seen s = {0};

	assert_int_equal(wf_docker_events_feed(p, stream, strlen(stream), collect, &s, err),
	                 -EBADMSG);
	assert_int_equal(s.n, good_before);
	assert_true(err[0] != '\0');
	/* Broken stays broken until the connection (and the parser) starts again. */
	assert_int_equal(wf_docker_events_feed(p, "{}", 2, collect, &s, err), -EBADMSG);
	wf_docker_events_reset(p);
	assert_int_equal(wf_docker_events_feed(p, "{}", 2, collect, &s, err), 0);
	assert_int_equal(s.n, good_before + 1);
	wf_docker_events_free(p);
}

static void events_garbage_breaks_the_stream(void **state)
{
	(void)state;
	expect_garbage("{}\n}{", 1);
	expect_garbage("{}[1,2]", 1);
	expect_garbage("null ", 0);
	expect_garbage("42 ", 0);
	expect_garbage("\"x\"", 0);
	expect_garbage("{\"a\" 1}", 0);
	expect_garbage("{\"a\":1,}", 0);
	expect_garbage("HTTP/1.1 200 OK\r\n", 0);
}

static void events_larger_than_the_limit_break_the_stream(void **state)
{
	size_t big = 2u << 20;
	char *huge = malloc(big + 16);
	struct wf_docker_events *p = wf_docker_events_new(0);
	struct wf_docker_events *small = wf_docker_events_new(10);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct seen s = {0};

	(void)state;
	memcpy(huge, "{\"a\":\"", 6);
	memset(huge + 6, 'x', big);
	memcpy(huge + 6 + big, "\"}", 3);
	assert_int_equal(wf_docker_events_feed(p, huge, strlen(huge), collect, &s, err), -EMSGSIZE);
	assert_int_equal(s.n, 0);

	/* The same in small pieces. */
	wf_docker_events_reset(p);
	int ret = 0;
	for (size_t off = 0; off < strlen(huge) && !ret; off += 4096)
		ret = wf_docker_events_feed(p, huge + off, 4096, collect, &s, err);
	assert_int_equal(ret, -EMSGSIZE);

	/* Exactly at the limit is fine, whitespace around it does not count; one byte more is
	 * not. */
	assert_int_equal(wf_docker_events_feed(small, "{\"a\":\"12\"}", 10, collect, &s, err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(wf_docker_events_feed(small, "\n {\"a\":\"1\"}\n\n{\"a\":\"12\"}\n", 24,
	                                       collect, &s, err),
	                 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(wf_docker_events_feed(small, "{\"a\":\"123\"}", 11, collect, &s, err),
	                 -EMSGSIZE);
	assert_int_equal(s.n, 3);
	wf_docker_events_free(small);
	wf_docker_events_free(p);
	free(huge);
}

static void events_callback_can_stop_the_feed(void **state)
{
	struct wf_docker_events *p = wf_docker_events_new(0);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct seen s = {.stop_after = 2};

	(void)state;
	assert_int_equal(
	    wf_docker_events_feed(p, sample_events, strlen(sample_events), collect, &s, err),
	    -ECANCELED);
	assert_int_equal(s.n, 2);
	wf_docker_events_free(p);
}

static void error_message_is_read_from_docker_error_body(void **state)
{
	const char *body = "{\"message\":\"No such container: abc\"}\n";
	char out[64];

	(void)state;
	wf_docker_error_message(body, strlen(body), out, sizeof(out));
	assert_string_equal(out, "No such container: abc");
	wf_docker_error_message("page not found\n", 15, out, sizeof(out));
	assert_string_equal(out, "page not found");
	wf_docker_error_message("a\x01"
	                        "b",
	                        3, out, sizeof(out));
	assert_string_equal(out, "a?b");
	wf_docker_error_message("", 0, out, sizeof(out));
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(inspect_reads_container_on_two_user_networks),
	    cmocka_unit_test(inspect_reads_host_network_mode),
	    cmocka_unit_test(inspect_reads_container_network_mode_target),
	    cmocka_unit_test(inspect_reads_none_network_mode),
	    cmocka_unit_test(inspect_maps_default_network_mode_to_docker0),
	    cmocka_unit_test(inspect_of_created_container_has_network_without_address),
	    cmocka_unit_test(inspect_says_which_field_is_wrong),
	    cmocka_unit_test(inspect_accepts_null_and_missing_optional_parts),
	    cmocka_unit_test(inspect_reads_creation_time_with_any_precision_and_offset),
	    cmocka_unit_test(networks_name_each_bridge_interface),
	    cmocka_unit_test(networks_default_bridge_without_name_option_is_docker0),
	    cmocka_unit_test(networks_reject_bridge_name_longer_than_an_interface_name),
	    cmocka_unit_test(networks_keep_the_ipv4_gateway_of_podman_networks),
	    cmocka_unit_test(resolve_counts_networks_missing_from_the_list),
	    cmocka_unit_test(list_tells_labelled_containers_and_their_targets),
	    cmocka_unit_test(list_rejects_rows_without_container_id),
	    cmocka_unit_test(api_version_is_the_lower_of_engine_and_client),
	    cmocka_unit_test(version_rejects_malformed_api_version),
	    cmocka_unit_test(events_reads_each_object_of_a_chunk),
	    cmocka_unit_test(events_split_at_every_byte_read_the_same),
	    cmocka_unit_test(events_fed_one_byte_at_a_time_read_the_same),
	    cmocka_unit_test(events_split_inside_a_utf8_character_read_the_same),
	    cmocka_unit_test(events_need_no_separator_and_allow_any_whitespace),
	    cmocka_unit_test(events_of_unknown_shape_are_skipped_not_fatal),
	    cmocka_unit_test(events_garbage_breaks_the_stream),
	    cmocka_unit_test(events_larger_than_the_limit_break_the_stream),
	    cmocka_unit_test(events_callback_can_stop_the_feed),
	    cmocka_unit_test(error_message_is_read_from_docker_error_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
