#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <wgfwd/sysctl.h>

static char path[64];

static int make_file(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/wgfwd-sysctl-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int remove_file(void **state)
{
	unlink(path);
	return 0;
}

static void value_reads_back_without_its_newline(void **state)
{
	char buf[16];

	assert_int_equal(wf_sysctl_write(path, "2\n"), 0);
	assert_int_equal(wf_sysctl_read(path, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2");
	assert_int_equal(wf_sysctl_read_int(path), 2);
}

static void long_value_is_cut_to_the_buffer(void **state)
{
	char buf[4];

	assert_int_equal(wf_sysctl_write(path, "123456"), 0);
	assert_int_equal(wf_sysctl_read(path, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "123");
}

static void missing_or_non_numeric_reads_as_minus_one(void **state)
{
	assert_int_equal(wf_sysctl_write(path, "yes"), 0);
	assert_int_equal(wf_sysctl_read_int(path), -1);
	assert_int_equal(wf_sysctl_read_int("/nonexistent/wgfwd"), -1);
	assert_true(wf_sysctl_read("/nonexistent/wgfwd", (char[8]){0}, 8) < 0);
}

static void ra_candidates_leave_out_pseudo_entries_tunnel_and_docker_bridges(void **state)
{
	assert_true(wf_sysctl_ra_candidate("eth0", "wg0"));
	assert_true(wf_sysctl_ra_candidate("br0", "wg0"));
	assert_true(wf_sysctl_ra_candidate("br-lan", "wg0"));
	assert_false(wf_sysctl_ra_candidate("wg0", "wg0"));
	assert_false(wf_sysctl_ra_candidate("all", "wg0"));
	assert_false(wf_sysctl_ra_candidate("default", "wg0"));
	assert_false(wf_sysctl_ra_candidate("lo", "wg0"));
	assert_false(wf_sysctl_ra_candidate("docker0", "wg0"));
	assert_false(wf_sysctl_ra_candidate("veth1a2b3c4", "wg0"));
	assert_false(wf_sysctl_ra_candidate("br-0123456789ab", "wg0"));
	assert_true(wf_sysctl_ra_candidate("br-0123456789AB", "wg0"));
	assert_true(wf_sysctl_ra_candidate("br-0123456789abc", NULL));
}

static char root[64];

static void put(const char *rel, const char *value)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (value) {
		FILE *f = fopen(p, "w");

		assert_non_null(f);
		fputs(value, f);
		fclose(f);
	} else {
		assert_int_equal(mkdir(p, 0700), 0);
	}
}

static int make_tree(void **state)
{
	static const char *const dirs[] = {
	    "conf",      "net",      "conf/all",   "conf/default", "conf/lo",   "conf/eth0",
	    "conf/eth1", "conf/wg0", "conf/port1", "conf/dummy0",  "net/port1", "net/port1/brport"};

	snprintf(root, sizeof(root), "/tmp/wgfwd-ra-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		put(dirs[i], NULL);
	put("conf/all/accept_ra", "1\n");
	put("conf/default/accept_ra", "1\n");
	put("conf/lo/accept_ra", "1\n");
	put("conf/eth0/accept_ra", "1\n");
	put("conf/eth1/accept_ra", "2\n");
	put("conf/wg0/accept_ra", "1\n");
	put("conf/port1/accept_ra", "1\n");
	put("conf/dummy0/accept_ra", "1\n");
	put("conf/dummy0/disable_ipv6", "1\n");
	return 0;
}

static int remove_tree(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) ? -1 : 0;
}

static void ra_ignoring_finds_only_interfaces_that_would_lose_their_route(void **state)
{
	char conf[128], net[128], names[4][IF_NAMESIZE];
	size_t n = 99;

	snprintf(conf, sizeof(conf), "%s/conf", root);
	snprintf(net, sizeof(net), "%s/net", root);
	assert_int_equal(wf_sysctl_ra_ignoring(conf, net, "wg0", names, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "eth0");

	put("conf/eth1/accept_ra", "1\n");
	assert_int_equal(wf_sysctl_ra_ignoring(conf, net, "wg0", names, 1, &n), 0);
	assert_int_equal(n, 1); /* cut to what fits */
}

static void ra_ignoring_without_ipv6_is_an_error(void **state)
{
	char names[1][IF_NAMESIZE];
	size_t n = 7;

	assert_true(
	    wf_sysctl_ra_ignoring("/nonexistent/wgfwd", "/nonexistent", "wg0", names, 1, &n) < 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(value_reads_back_without_its_newline, make_file,
	                                    remove_file),
	    cmocka_unit_test_setup_teardown(long_value_is_cut_to_the_buffer, make_file,
	                                    remove_file),
	    cmocka_unit_test_setup_teardown(missing_or_non_numeric_reads_as_minus_one, make_file,
	                                    remove_file),
	    cmocka_unit_test(ra_candidates_leave_out_pseudo_entries_tunnel_and_docker_bridges),
	    cmocka_unit_test_setup_teardown(
	        ra_ignoring_finds_only_interfaces_that_would_lose_their_route, make_tree,
	        remove_tree),
	    cmocka_unit_test(ra_ignoring_without_ipv6_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
