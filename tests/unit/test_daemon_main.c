/* What both daemons' main() share that is pure: address lists and socket addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd/daemon_main.h>
#include <wgfwd/util.h>

static void an_address_list_is_split_by_family(void **state)
{
	char *v[] = {"192.0.2.1", "2001:db8::1", "198.51.100.7"};
	struct wf_strlist l = {.v = v, .n = 3};
	struct in_addr ip4[2];
	struct in6_addr ip6[2];
	size_t n4 = 0, n6 = 0;
	char text[INET6_ADDRSTRLEN];

	assert_int_equal(wf_addr_list_parse(&l, ip4, &n4, ip6, &n6, 2), -1);
	assert_int_equal(n4, 2);
	assert_int_equal(n6, 1);
	assert_string_equal(inet_ntop(AF_INET, &ip4[1], text, sizeof(text)), "198.51.100.7");
	assert_string_equal(inet_ntop(AF_INET6, &ip6[0], text, sizeof(text)), "2001:db8::1");
}

static void the_first_bad_entry_is_named(void **state)
{
	char *bad[] = {"192.0.2.1", "example.org", "192.0.2.2"};
	char *many[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
	struct wf_strlist l = {.v = bad, .n = 3};
	struct in_addr ip4[2];
	struct in6_addr ip6[2];
	size_t n4 = 0, n6 = 0;

	assert_int_equal(wf_addr_list_parse(&l, ip4, &n4, ip6, &n6, 2), 1);
	/* one too many of a family is refused too */
	l = (struct wf_strlist){.v = many, .n = 3};
	n4 = n6 = 0;
	assert_int_equal(wf_addr_list_parse(&l, ip4, &n4, ip6, &n6, 2), 2);
	assert_int_equal(n4, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(an_address_list_is_split_by_family),
	    cmocka_unit_test(the_first_bad_entry_is_named),
	};

	return cmocka_run_group_tests_name("daemon_main", tests, NULL, NULL);
}
