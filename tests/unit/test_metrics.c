#include <wgfwd/metrics.h>
#include <wgfwd/metrics_http.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cmocka.h>

#include <wgfwd/util.h>

static char *render(struct wf_metrics *m)
{
	char *text;
	size_t len;

	assert_int_equal(wf_metrics_render(m, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void assert_renders(struct wf_metrics *m, const char *expected)
{
	char *text = render(m);

	assert_string_equal(text, expected);
	free(text);
}

static void counters_and_gauges_render_with_help_and_type(void **state)
{
	struct wf_metrics *m = wf_metrics_new();

	assert_int_equal(wf_metrics_counter(m, "wgfwd_applies_total", "Applies so far.", 42), 0);
	assert_int_equal(wf_metrics_gauge(m, "wgfwd_link_up", "1 when the link is up.", 1), 0);
	assert_renders(m, "# HELP wgfwd_applies_total Applies so far.\n"
	                  "# TYPE wgfwd_applies_total counter\n"
	                  "wgfwd_applies_total 42\n"
	                  "# HELP wgfwd_link_up 1 when the link is up.\n"
	                  "# TYPE wgfwd_link_up gauge\n"
	                  "wgfwd_link_up 1\n");
	wf_metrics_free(m);
}

static void an_empty_registry_renders_nothing(void **state)
{
	struct wf_metrics *m = wf_metrics_new();

	assert_renders(m, "");
	wf_metrics_free(m);
}

static void samples_of_one_family_render_together_in_first_seen_order(void **state)
{
	struct wf_metrics *m = wf_metrics_new();

	wf_metrics_add(m, "x_total", WF_METRIC_COUNTER, "X.", WF_LABEL("kind", "a"), 1);
	wf_metrics_gauge(m, "y", "Y.", 2);
	wf_metrics_add(m, "x_total", WF_METRIC_COUNTER, "ignored", WF_LABEL("kind", "b"), 3);
	assert_renders(m, "# HELP x_total X.\n"
	                  "# TYPE x_total counter\n"
	                  "x_total{kind=\"a\"} 1\n"
	                  "x_total{kind=\"b\"} 3\n"
	                  "# HELP y Y.\n"
	                  "# TYPE y gauge\n"
	                  "y 2\n");
	wf_metrics_free(m);
}

static void several_labels_render_in_the_order_given(void **state)
{
	struct wf_metrics *m = wf_metrics_new();
	const struct wf_metric_label labels[] = {{"peer", "192.168.160.2"}, {"proto", "tcp"}};

	assert_int_equal(
	    wf_metrics_add(m, "fwd", WF_METRIC_GAUGE, NULL, labels, WF_ARRAY_SIZE(labels), 5), 0);
	assert_renders(m, "# TYPE fwd gauge\n"
	                  "fwd{peer=\"192.168.160.2\",proto=\"tcp\"} 5\n");
	wf_metrics_free(m);
}

static void label_values_and_help_are_escaped(void **state)
{
	struct wf_metrics *m = wf_metrics_new();

	wf_metrics_add(m, "e", WF_METRIC_GAUGE, "back\\slash \"quoted\"\nnext line",
	               WF_LABEL("v", "a\"b\\c\nd"), 1);
	assert_renders(m, "# HELP e back\\\\slash \"quoted\"\\nnext line\n"
	                  "# TYPE e gauge\n"
	                  "e{v=\"a\\\"b\\\\c\\nd\"} 1\n");
	wf_metrics_free(m);
}

static void values_render_as_integers_fractions_and_special_values(void **state)
{
	struct wf_metrics *m = wf_metrics_new();

	wf_metrics_add(m, "v", WF_METRIC_GAUGE, NULL, WF_LABEL("k", "int"), 18446744073.0);
	wf_metrics_add(m, "v", WF_METRIC_GAUGE, NULL, WF_LABEL("k", "frac"), 0.0125);
	wf_metrics_add(m, "v", WF_METRIC_GAUGE, NULL, WF_LABEL("k", "neg"), -3);
	wf_metrics_add(m, "v", WF_METRIC_GAUGE, NULL, WF_LABEL("k", "inf"), INFINITY);
	wf_metrics_add(m, "v", WF_METRIC_GAUGE, NULL, WF_LABEL("k", "nan"), NAN);
	wf_metrics_add(m, "v", WF_METRIC_GAUGE, NULL, WF_LABEL("k", "big"), 1e20);
	assert_renders(m, "# TYPE v gauge\n"
	                  "v{k=\"int\"} 18446744073\n"
	                  "v{k=\"frac\"} 0.0125\n"
	                  "v{k=\"neg\"} -3\n"
	                  "v{k=\"inf\"} +Inf\n"
	                  "v{k=\"nan\"} NaN\n"
	                  "v{k=\"big\"} 1e+20\n");
	wf_metrics_free(m);
}

static void histogram_buckets_are_cumulative_with_sum_and_count(void **state)
{
	static const double bounds[] = {0.001, 0.01, 0.1};
	struct wf_metrics *m = wf_metrics_new();
	struct wf_histogram h;

	assert_int_equal(wf_histogram_init(&h, bounds, 3), 0);
	wf_histogram_observe(&h, 0.0005);
	wf_histogram_observe(&h, 0.001); /* a bound belongs to its own bucket (le) */
	wf_histogram_observe(&h, 0.05);
	wf_histogram_observe(&h, 2.5);
	assert_int_equal(wf_metrics_add_histogram(m, "apply_seconds", "Apply time.",
	                                          WF_LABEL("daemon", "agent"), &h),
	                 0);
	assert_renders(m, "# HELP apply_seconds Apply time.\n"
	                  "# TYPE apply_seconds histogram\n"
	                  "apply_seconds_bucket{daemon=\"agent\",le=\"0.001\"} 2\n"
	                  "apply_seconds_bucket{daemon=\"agent\",le=\"0.01\"} 2\n"
	                  "apply_seconds_bucket{daemon=\"agent\",le=\"0.1\"} 3\n"
	                  "apply_seconds_bucket{daemon=\"agent\",le=\"+Inf\"} 4\n"
	                  "apply_seconds_sum{daemon=\"agent\"} 2.5515\n"
	                  "apply_seconds_count{daemon=\"agent\"} 4\n");
	wf_metrics_free(m);
}

static void an_unlabelled_histogram_has_only_le(void **state)
{
	static const double bounds[] = {1};
	struct wf_metrics *m = wf_metrics_new();
	struct wf_histogram h;

	wf_histogram_init(&h, bounds, 1);
	wf_metrics_add_histogram(m, "h", NULL, NULL, 0, &h);
	assert_renders(m, "# TYPE h histogram\n"
	                  "h_bucket{le=\"1\"} 0\n"
	                  "h_bucket{le=\"+Inf\"} 0\n"
	                  "h_sum 0\n"
	                  "h_count 0\n");
	wf_metrics_free(m);
}

static void histogram_bounds_must_be_finite_and_increasing(void **state)
{
	static const double unordered[] = {0.1, 0.01}, repeated[] = {1, 1}, inf[] = {1, INFINITY};
	double many[WF_HISTOGRAM_BOUNDS_MAX + 1];
	struct wf_histogram h;

	for (size_t i = 0; i < WF_ARRAY_SIZE(many); i++)
		many[i] = (double)i;
	assert_int_equal(wf_histogram_init(&h, unordered, 2), -EINVAL);
	assert_int_equal(wf_histogram_init(&h, repeated, 2), -EINVAL);
	assert_int_equal(wf_histogram_init(&h, inf, 2), -EINVAL);
	assert_int_equal(wf_histogram_init(&h, many, 0), -EINVAL);
	assert_int_equal(wf_histogram_init(&h, many, WF_ARRAY_SIZE(many)), -EINVAL);
	assert_int_equal(wf_histogram_init(&h, many, WF_HISTOGRAM_BOUNDS_MAX), 0);
}

static void bad_names_are_refused(void **state)
{
	static const char *const bad_metric[] = {"", "1abc", "a-b", "a b", "ä"};
	static const char *const bad_label[] = {"", "1a", "a:b", "__name", "a.b"};

	for (size_t i = 0; i < WF_ARRAY_SIZE(bad_metric); i++) {
		struct wf_metrics *m = wf_metrics_new();

		assert_int_equal(wf_metrics_gauge(m, bad_metric[i], NULL, 1), -EINVAL);
		wf_metrics_free(m);
	}
	for (size_t i = 0; i < WF_ARRAY_SIZE(bad_label); i++) {
		struct wf_metrics *m = wf_metrics_new();

		assert_int_equal(wf_metrics_add(m, "ok:name_1", WF_METRIC_GAUGE, NULL,
		                                WF_LABEL(bad_label[i], "v"), 1),
		                 -EINVAL);
		wf_metrics_free(m);
	}
}

static void a_histogram_cannot_take_an_le_label(void **state)
{
	static const double bounds[] = {1};
	struct wf_metrics *m = wf_metrics_new();
	struct wf_histogram h;

	wf_histogram_init(&h, bounds, 1);
	assert_int_equal(wf_metrics_add_histogram(m, "h", NULL, WF_LABEL("le", "x"), &h), -EINVAL);
	wf_metrics_free(m);
	/* On other types le is an ordinary label. */
	m = wf_metrics_new();
	assert_int_equal(wf_metrics_add(m, "g", WF_METRIC_GAUGE, NULL, WF_LABEL("le", "x"), 1), 0);
	wf_metrics_free(m);
}

static void the_same_series_twice_is_refused(void **state)
{
	const struct wf_metric_label ab[] = {{"a", "1"}, {"b", "2"}},
	                             ba[] = {{"b", "2"}, {"a", "1"}};
	struct wf_metrics *m = wf_metrics_new();

	assert_int_equal(wf_metrics_add(m, "s", WF_METRIC_GAUGE, NULL, ab, 2, 1), 0);
	assert_int_equal(wf_metrics_add(m, "s", WF_METRIC_GAUGE, NULL, ba, 2, 1), -EINVAL);
	wf_metrics_free(m);

	m = wf_metrics_new();
	assert_int_equal(wf_metrics_gauge(m, "s", NULL, 1), 0);
	assert_int_equal(wf_metrics_gauge(m, "s", NULL, 1), -EINVAL);
	wf_metrics_free(m);
}

static void repeated_label_names_are_refused(void **state)
{
	const struct wf_metric_label aa[] = {{"a", "1"}, {"a", "2"}};
	struct wf_metrics *m = wf_metrics_new();

	assert_int_equal(wf_metrics_add(m, "s", WF_METRIC_GAUGE, NULL, aa, 2, 1), -EINVAL);
	wf_metrics_free(m);
}

static void the_first_error_sticks_until_render(void **state)
{
	struct wf_metrics *m = wf_metrics_new();
	char *text = (char *)"untouched";
	size_t len = 7;

	assert_int_equal(wf_metrics_counter(m, "n", NULL, 1), 0);
	assert_int_equal(wf_metrics_gauge(m, "n", NULL, 1), -EINVAL); /* another type */
	assert_int_equal(wf_metrics_gauge(m, "fine", NULL, 1), -EINVAL);
	assert_int_equal(wf_metrics_render(m, &text, &len), -EINVAL);
	assert_null(text);
	assert_int_equal(len, 0);
	wf_metrics_free(m);
}

static void add_refuses_the_histogram_type(void **state)
{
	struct wf_metrics *m = wf_metrics_new();

	assert_int_equal(wf_metrics_add(m, "h", WF_METRIC_HISTOGRAM, NULL, NULL, 0, 1), -EINVAL);
	wf_metrics_free(m);
}

/* ---- the listen address ---- */

static int parse(const char *spec, bool remote, struct sockaddr_storage *ss, char *err)
{
	socklen_t len = 0;
	int ret = wf_metrics_listen_parse(spec, remote, ss, &len, err, 256);

	if (!ret)
		assert_int_equal(len, ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                               : sizeof(struct sockaddr_in6));
	return ret;
}

static void loopback_addresses_are_accepted(void **state)
{
	struct sockaddr_storage ss;
	char err[256];

	assert_int_equal(parse("127.0.0.1:9586", false, &ss, err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9586);
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(parse("127.3.4.5:1", false, &ss, err), 0);
	assert_int_equal(parse("[::1]:9586", false, &ss, err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9586);
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	assert_int_equal(parse("127.0.0.1:0", false, &ss, err), 0);
}

static void other_addresses_need_allow_remote(void **state)
{
	static const char *const remote[] = {"0.0.0.0:9586", "192.168.160.1:9586", "[::]:9586",
	                                     "[fc00::1]:9586"};
	struct sockaddr_storage ss;
	char err[256];

	for (size_t i = 0; i < WF_ARRAY_SIZE(remote); i++) {
		assert_int_equal(parse(remote[i], false, &ss, err), -EINVAL);
		assert_non_null(strstr(err, "not a loopback address"));
		assert_non_null(strstr(err, "--metrics-allow-remote"));
		assert_int_equal(parse(remote[i], true, &ss, err), 0);
	}
}

static void malformed_addresses_say_what_is_wrong(void **state)
{
	static const struct {
		const char *spec, *says;
	} cases[] = {
	    {"", "expected ADDR:PORT"},
	    {"127.0.0.1", "expected ADDR:PORT"},
	    {"::1:9586", "expected ADDR:PORT"},
	    {"[::1]9586", "expected ADDR:PORT"},
	    {"[::1", "expected ADDR:PORT"},
	    {"127.0.0.1:", "is not a port"},
	    {"127.0.0.1:65536", "is not a port"},
	    {"127.0.0.1:-1", "is not a port"},
	    {"127.0.0.1:http", "is not a port"},
	    {"localhost:9586", "not a numeric IP address"},
	    {"[127.0.0.1]:9586", "not a numeric IP address"},
	    {"300.0.0.1:9586", "not a numeric IP address"},
	};
	struct sockaddr_storage ss;
	char err[256];

	for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
		err[0] = '\0';
		assert_int_equal(parse(cases[i].spec, true, &ss, err), -EINVAL);
		if (!strstr(err, cases[i].says))
			fail_msg("`%s': got `%s', expected it to say `%s'", cases[i].spec, err,
			         cases[i].says);
		assert_non_null(strstr(err, "--metrics"));
	}
}

/* ---- the endpoint, over loopback ---- */

struct scrape {
	struct event_base *base;
	int code;
	char content_type[128];
	char *body;
};

static int collect_two(void *ctx, struct wf_metrics *m)
{
	int *calls = ctx;

	(*calls)++;
	wf_metrics_counter(m, "test_scrapes_total", "Scrapes answered.", *calls);
	return wf_metrics_gauge(m, "test_up", NULL, 1);
}

static int collect_fails(void *ctx, struct wf_metrics *m)
{
	return -EIO;
}

static void on_response(struct evhttp_request *req, void *arg)
{
	struct scrape *s = arg;

	if (req && evhttp_request_get_response_code(req)) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		const char *ct =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		size_t n = evbuffer_get_length(in);

		s->code = evhttp_request_get_response_code(req);
		snprintf(s->content_type, sizeof(s->content_type), "%s", ct ? ct : "");
		s->body = calloc(1, n + 1);
		evbuffer_remove(in, s->body, n);
	}
	event_base_loopbreak(s->base);
}

static void scrape(struct event_base *base, const struct wf_metrics_server *srv,
                   enum evhttp_cmd_type method, const char *path, struct scrape *out)
{
	const char *addr = wf_metrics_server_address(srv);
	const char *colon = strrchr(addr, ':');
	char host[64];
	struct evhttp_connection *conn;
	struct evhttp_request *req;

	memset(out, 0, sizeof(*out));
	out->base = base;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	conn = evhttp_connection_base_new(base, NULL, host, (uint16_t)atoi(colon + 1));
	assert_non_null(conn);
	req = evhttp_request_new(on_response, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	assert_int_equal(evhttp_make_request(conn, req, method, path), 0);
	event_base_dispatch(base);
	evhttp_connection_free(conn);
}

static struct wf_metrics_server *open_server(struct event_base *base, wf_metrics_collect_fn fn,
                                             void *ctx)
{
	struct wf_metrics_server *srv = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	assert_int_equal(wf_metrics_listen_parse("127.0.0.1:0", false, &ss, &len, err, 256), 0);
	assert_int_equal(wf_metrics_server_open(base, &ss, len, fn, ctx, &srv), 0);
	return srv;
}

static void get_metrics_answers_the_collected_text(void **state)
{
	struct event_base *base = event_base_new();
	int calls = 0;
	struct wf_metrics_server *srv = open_server(base, collect_two, &calls);
	struct scrape s;

	assert_string_not_equal(strrchr(wf_metrics_server_address(srv), ':'), ":0");
	scrape(base, srv, EVHTTP_REQ_GET, "/metrics", &s);
	assert_int_equal(s.code, 200);
	assert_string_equal(s.content_type, "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(s.body, "# HELP test_scrapes_total Scrapes answered.\n"
	                            "# TYPE test_scrapes_total counter\n"
	                            "test_scrapes_total 1\n"
	                            "# TYPE test_up gauge\n"
	                            "test_up 1\n");
	free(s.body);
	/* Each scrape collects afresh. */
	scrape(base, srv, EVHTTP_REQ_GET, "/metrics?x=1", &s);
	assert_int_equal(s.code, 200);
	assert_non_null(strstr(s.body, "test_scrapes_total 2\n"));
	free(s.body);
	wf_metrics_server_close(srv);
	event_base_free(base);
}

static void other_paths_and_methods_are_refused(void **state)
{
	struct event_base *base = event_base_new();
	int calls = 0;
	struct wf_metrics_server *srv = open_server(base, collect_two, &calls);
	struct scrape s;

	scrape(base, srv, EVHTTP_REQ_GET, "/", &s);
	assert_int_equal(s.code, 404);
	free(s.body);
	scrape(base, srv, EVHTTP_REQ_GET, "/metrics/x", &s);
	assert_int_equal(s.code, 404);
	free(s.body);
	scrape(base, srv, EVHTTP_REQ_POST, "/metrics", &s);
	assert_true(s.code >= 400);
	free(s.body);
	assert_int_equal(calls, 0);
	wf_metrics_server_close(srv);
	event_base_free(base);
}

static void a_failed_collection_answers_500(void **state)
{
	struct event_base *base = event_base_new();
	struct wf_metrics_server *srv = open_server(base, collect_fails, NULL);
	struct scrape s;

	scrape(base, srv, EVHTTP_REQ_GET, "/metrics", &s);
	assert_int_equal(s.code, 500);
	free(s.body);
	wf_metrics_server_close(srv);
	event_base_free(base);
}

static void a_taken_port_fails_at_open(void **state)
{
	struct event_base *base = event_base_new();
	int calls = 0;
	struct wf_metrics_server *srv = open_server(base, collect_two, &calls), *second = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	assert_int_equal(wf_metrics_listen_parse(wf_metrics_server_address(srv), false, &ss, &len,
	                                         err, sizeof(err)),
	                 0);
	assert_int_equal(wf_metrics_server_open(base, &ss, len, collect_two, &calls, &second),
	                 -EADDRINUSE);
	assert_null(second);
	wf_metrics_server_close(srv);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(counters_and_gauges_render_with_help_and_type),
	    cmocka_unit_test(an_empty_registry_renders_nothing),
	    cmocka_unit_test(samples_of_one_family_render_together_in_first_seen_order),
	    cmocka_unit_test(several_labels_render_in_the_order_given),
	    cmocka_unit_test(label_values_and_help_are_escaped),
	    cmocka_unit_test(values_render_as_integers_fractions_and_special_values),
	    cmocka_unit_test(histogram_buckets_are_cumulative_with_sum_and_count),
	    cmocka_unit_test(an_unlabelled_histogram_has_only_le),
	    cmocka_unit_test(histogram_bounds_must_be_finite_and_increasing),
	    cmocka_unit_test(bad_names_are_refused),
	    cmocka_unit_test(a_histogram_cannot_take_an_le_label),
	    cmocka_unit_test(the_same_series_twice_is_refused),
	    cmocka_unit_test(repeated_label_names_are_refused),
	    cmocka_unit_test(the_first_error_sticks_until_render),
	    cmocka_unit_test(add_refuses_the_histogram_type),
	    cmocka_unit_test(loopback_addresses_are_accepted),
	    cmocka_unit_test(other_addresses_need_allow_remote),
	    cmocka_unit_test(malformed_addresses_say_what_is_wrong),
	    cmocka_unit_test(get_metrics_answers_the_collected_text),
	    cmocka_unit_test(other_paths_and_methods_are_refused),
	    cmocka_unit_test(a_failed_collection_answers_500),
	    cmocka_unit_test(a_taken_port_fails_at_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
