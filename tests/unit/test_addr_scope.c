#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <wgfwd-agent/addr_scope.h>

static struct in_addr v4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct in6_addr v6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static void ipv4_outside_the_internet_is_named(void **state)
{
	static const struct {
		const char *addr, *why;
	} cases[] = {
	    {"0.0.0.0", "this network"},
	    {"127.0.0.1", "loopback"},
	    {"127.255.255.254", "loopback"},
	    {"10.1.2.3", "private"},
	    {"172.16.0.1", "private"},
	    {"172.31.255.255", "private"},
	    {"192.168.160.1", "private"},
	    {"169.254.1.1", "link-local"},
	    {"100.64.0.1", "shared"},
	    {"100.127.255.255", "shared"},
	    {"224.0.0.1", "multicast"},
	    {"239.255.255.250", "multicast"},
	    {"240.0.0.1", "reserved"},
	    {"255.255.255.255", "reserved"},
	    {"192.0.0.9", "IETF"},
	    {"198.18.0.1", "benchmarking"},
	    {"198.19.255.255", "benchmarking"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = wf_addr4_not_global(v4(cases[i].addr));

		assert_non_null(why);
		assert_non_null(strstr(why, cases[i].why));
	}
}

static void ipv4_on_the_internet_passes(void **state)
{
	static const char *const ok[] = {"1.1.1.1",      "8.8.8.8",        "172.15.255.255",
	                                 "172.32.0.0",   "100.63.255.255", "100.128.0.0",
	                                 "192.0.2.1",    "198.51.100.7",   "203.0.113.130",
	                                 "198.17.255.1", "198.20.0.1",     "223.255.255.254"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_null(wf_addr4_not_global(v4(ok[i])));
}

static void ipv6_must_be_global_unicast(void **state)
{
	static const struct {
		const char *addr, *why;
	} cases[] = {
	    {"::", "outside 2000::/3"},      {"::1", "loopback"},
	    {"::ffff:1.1.1.1", "outside"},   {"fe80::1", "link-local"},
	    {"fc00:0:0:160::1", "unique"},   {"fd00:d0c::1", "unique"},
	    {"ff02::1", "multicast"},        {"4000::1", "outside"},
	    {"64:ff9b::1.1.1.1", "outside"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct in6_addr a = v6(cases[i].addr);
		const char *why = wf_addr6_not_global(&a);

		assert_non_null(why);
		assert_non_null(strstr(why, cases[i].why));
	}
	struct in6_addr g = v6("2606:4700:4700::1111"), doc = v6("2001:db8:1::1"),
	                top = v6("3fff:ffff::1");
	assert_null(wf_addr6_not_global(&g));
	assert_null(wf_addr6_not_global(&doc));
	assert_null(wf_addr6_not_global(&top));
}

struct refusals {
	int n;
	char last[64];
};

static void count_refusal(void *ctx, int family, const void *addr, const char *why)
{
	struct refusals *r = ctx;

	r->n++;
	strncpy(r->last, why, sizeof(r->last) - 1);
}

static void advertised_addresses_keep_only_global_ones_not_the_servers(void **state)
{
	struct in_addr in4[] = {v4("127.0.0.1"), v4("192.0.2.1"), v4("203.0.113.130"),
	                        v4("10.0.0.1"), v4("198.51.100.1")};
	struct in6_addr in6[] = {v6("::1"), v6("2001:db8:1::1"), v6("fc00:0:0:160::2")};
	struct in_addr own4[] = {v4("203.0.113.130")};
	struct wf_own_addrs own = {.ip4 = own4, .n_ip4 = 1};
	struct in_addr out4[8];
	struct in6_addr out6[8];
	size_t n4, n6;
	struct refusals r = {0};

	wf_addrs_keep_global(in4, 5, in6, 3, &own, out4, &n4, out6, &n6, 8, count_refusal, &r);
	assert_int_equal(n4, 2);
	assert_int_equal(out4[0].s_addr, v4("192.0.2.1").s_addr);
	assert_int_equal(out4[1].s_addr, v4("198.51.100.1").s_addr);
	assert_int_equal(n6, 1);
	struct in6_addr want6 = v6("2001:db8:1::1");
	assert_memory_equal(&out6[0], &want6, sizeof(want6));
	assert_int_equal(r.n, 5);
}

static void the_servers_own_ipv6_address_is_refused(void **state)
{
	struct in6_addr in6[] = {v6("2001:db8:2::2")};
	struct in6_addr own6[] = {v6("2001:db8:2::2")};
	struct wf_own_addrs own = {.ip6 = own6, .n_ip6 = 1};
	struct in6_addr out6[2];
	struct in_addr out4[2];
	size_t n4, n6;
	struct refusals r = {0};

	wf_addrs_keep_global(NULL, 0, in6, 1, &own, out4, &n4, out6, &n6, 2, count_refusal, &r);
	assert_int_equal(n6, 0);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.last, "own"));
}

static void more_than_the_room_is_refused_not_overrun(void **state)
{
	struct in_addr in4[] = {v4("192.0.2.1"), v4("192.0.2.2"), v4("192.0.2.3")};
	struct in_addr out4[2] = {0};
	struct in6_addr out6[1];
	size_t n4, n6;
	struct refusals r = {0};

	wf_addrs_keep_global(in4, 3, NULL, 0, NULL, out4, &n4, out6, &n6, 2, count_refusal, &r);
	assert_int_equal(n4, 2);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.last, "more addresses"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ipv4_outside_the_internet_is_named),
	    cmocka_unit_test(ipv4_on_the_internet_passes),
	    cmocka_unit_test(ipv6_must_be_global_unicast),
	    cmocka_unit_test(advertised_addresses_keep_only_global_ones_not_the_servers),
	    cmocka_unit_test(the_servers_own_ipv6_address_is_refused),
	    cmocka_unit_test(more_than_the_room_is_refused_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
