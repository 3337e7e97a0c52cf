#include <wgfwd/options.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

struct settings {
	char *config, *interface;
	uint32_t table, port, every_ms, every_s;
	bool dry_run;
	struct wf_strlist peers, grants;
};

static struct settings s;

static const struct wf_opt opts[] = {
    {"config", WF_OPT_STRING, &s.config, "FILE", "read options from FILE"},
    {"interface", WF_OPT_STRING, &s.interface, "IFNAME", "tunnel interface"},
    {"table", WF_OPT_UINT, &s.table, "N", "routing table"},
    {"dry-run", WF_OPT_FLAG, &s.dry_run, NULL, "print, apply nothing"},
    {"peer", WF_OPT_LIST, &s.peers, "SPEC", "a peer; repeat"},
    {"port", WF_OPT_PORT, &s.port, "PORT", "a port"},
    {"every-ms", WF_OPT_MSEC, &s.every_ms, "DURATION", "bare numbers are milliseconds"},
    {"every-s", WF_OPT_SEC, &s.every_s, "DURATION", "bare numbers are seconds"},
    {"peer-egress", WF_OPT_LIST_SPACED, &s.grants, "ADDR=LIST", "a grant; repeat"},
    {0},
};

static int reset(void **state)
{
	wf_opts_free(opts);
	memset(&s, 0, sizeof(s));
	unsetenv("WGFWD_INTERFACE");
	unsetenv("WGFWD_PEER");
	unsetenv("WGFWD_TABLE");
	unsetenv("WGFWD_PEER_EGRESS");
	return 0;
}

static int parse(int argc, char **argv, char *err)
{
	return wf_opts_parse(opts, "WGFWD_", "prog", "[options]", argc, argv, err, 256);
}

static char *write_config(const char *text)
{
	static char path[] = "/tmp/wgfwd-opts-XXXXXX";
	int fd;

	strcpy(path, "/tmp/wgfwd-opts-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void command_line_sets_every_type(void **state)
{
	char err[256] = "";
	char *argv[] = {"prog",   "--interface", "wg1",    "--table", "0x10", "--dry-run",
	                "--peer", "a",           "--peer", "b",       NULL};

	assert_int_equal(parse(10, argv, err), 0);
	assert_string_equal(s.interface, "wg1");
	assert_int_equal(s.table, 16);
	assert_true(s.dry_run);
	assert_int_equal(s.peers.n, 2);
	assert_string_equal(s.peers.v[1], "b");
}

static void command_line_beats_environment_beats_config(void **state)
{
	char err[256] = "";
	char *path = write_config("# comment\ninterface = wgconf\ntable = 7\n");
	char *argv[] = {"prog", "--config", path, "--table", "9", NULL};

	setenv("WGFWD_INTERFACE", "wgenv", 1);
	assert_int_equal(parse(5, argv, err), 0);
	assert_string_equal(s.interface, "wgenv");
	assert_int_equal(s.table, 9);
	unlink(path);
}

static void config_file_lists_repeat_and_env_lists_split(void **state)
{
	char err[256] = "";
	char *path = write_config("peer = one\npeer = two\n");
	char *argv[] = {"prog", "--config", path, NULL};

	setenv("WGFWD_PEER", "three,four", 1);
	assert_int_equal(parse(3, argv, err), 0);
	assert_int_equal(s.peers.n, 4);
	assert_string_equal(s.peers.v[3], "four");
	unlink(path);
}

/* Values that hold commas themselves: whole in the config file and on the command line,
 * split at whitespace or `;' in one variable. */
static void spaced_lists_keep_their_commas(void **state)
{
	char err[256] = "";
	char *path = write_config("peer-egress = 10.0.0.2=smtp,submission\n");
	char *argv[] = {"prog", "--config", path, "--peer-egress", "10.0.0.5=tcp/25,udp", NULL};

	setenv("WGFWD_PEER_EGRESS", "10.0.0.3=smtp,tcp/6000-6010;10.0.0.4=all\n", 1);
	assert_int_equal(parse(5, argv, err), 0);
	assert_int_equal(s.grants.n, 4);
	assert_string_equal(s.grants.v[0], "10.0.0.2=smtp,submission");
	assert_string_equal(s.grants.v[1], "10.0.0.3=smtp,tcp/6000-6010");
	assert_string_equal(s.grants.v[2], "10.0.0.4=all");
	assert_string_equal(s.grants.v[3], "10.0.0.5=tcp/25,udp");
	unlink(path);
}

static void bad_input_is_named_in_the_error(void **state)
{
	char err[256] = "";
	char *path = write_config("interface = wg0\nbogus = 1\n");
	char *argv[] = {"prog", "--config", path, NULL};
	char *argv2[] = {"prog", "--table", "12x", NULL};
	char *argv3[] = {"prog", "--nope", NULL};

	assert_int_equal(parse(3, argv, err), -EINVAL);
	assert_non_null(strstr(err, ":2: unknown option `bogus'"));
	unlink(path);
	assert_int_equal(parse(3, argv2, err), -EINVAL);
	assert_non_null(strstr(err, "not a number: `12x'"));
	assert_int_equal(parse(2, argv3, err), -EINVAL);
	assert_non_null(strstr(err, "--nope"));
}

/* A gateway peer with both addresses is one entry, whatever else the variable holds. */
static void env_list_keeps_dual_stack_peers_whole(void **state)
{
	char err[256] = "";
	char *argv[] = {"prog", NULL};

	setenv("WGFWD_PEER",
	       "10.0.0.2,fc00::2=/k/a.key;10.0.0.3=/k/b.key,10.0.0.4=/k/c.key\n"
	       "10.0.0.5,fc00::5=/k/d.key e,f",
	       1);
	assert_int_equal(parse(1, argv, err), 0);
	assert_int_equal(s.peers.n, 6);
	assert_string_equal(s.peers.v[0], "10.0.0.2,fc00::2=/k/a.key");
	assert_string_equal(s.peers.v[1], "10.0.0.3=/k/b.key");
	assert_string_equal(s.peers.v[2], "10.0.0.4=/k/c.key");
	assert_string_equal(s.peers.v[3], "10.0.0.5,fc00::5=/k/d.key");
	assert_string_equal(s.peers.v[4], "e");
	assert_string_equal(s.peers.v[5], "f");
}

static void ports_outside_1_to_65535_are_refused(void **state)
{
	char err[256] = "";
	const char *bad[] = {"70000", "0", "-1", "65536", "443x", "", "4294967297"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"prog", "--port", (char *)bad[i], NULL};

		err[0] = '\0';
		assert_int_equal(parse(3, argv, err), -EINVAL);
		assert_non_null(strstr(err, "is not a port (1..65535)"));
	}
	{
		char *argv[] = {"prog", "--port", "65535", NULL};

		assert_int_equal(parse(3, argv, err), 0);
		assert_int_equal(s.port, 65535);
	}
}

static void durations_take_units_and_bare_numbers_keep_their_old_meaning(void **state)
{
	char err[256] = "";
	char *units[] = {"prog", "--every-ms", "2m", "--every-s", "500ms", NULL};
	char *bare[] = {"prog", "--every-ms", "1500", "--every-s", "30", NULL};
	char *hours[] = {"prog", "--every-s", "1h", NULL};
	const char *bad[] = {"5x", "s", "-1s", "1.5s", "4294968s", ""};

	assert_int_equal(parse(5, units, err), 0);
	assert_int_equal(s.every_ms, 120000);
	assert_int_equal(s.every_s, 500);
	assert_int_equal(parse(5, bare, err), 0);
	assert_int_equal(s.every_ms, 1500);
	assert_int_equal(s.every_s, 30000);
	assert_int_equal(parse(3, hours, err), 0);
	assert_int_equal(s.every_s, 3600000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"prog", "--every-s", (char *)bad[i], NULL};

		assert_int_equal(parse(3, argv, err), -EINVAL);
		assert_non_null(strstr(err, "is not a duration"));
	}
}

static void missing_config_file_is_an_error(void **state)
{
	char err[256] = "";
	char *argv[] = {"prog", "--config=/nonexistent/wgfwd.conf", NULL};

	assert_int_equal(parse(2, argv, err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/wgfwd.conf"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(command_line_sets_every_type, reset, reset),
	    cmocka_unit_test_setup_teardown(command_line_beats_environment_beats_config, reset,
	                                    reset),
	    cmocka_unit_test_setup_teardown(config_file_lists_repeat_and_env_lists_split, reset,
	                                    reset),
	    cmocka_unit_test_setup_teardown(spaced_lists_keep_their_commas, reset, reset),
	    cmocka_unit_test_setup_teardown(bad_input_is_named_in_the_error, reset, reset),
	    cmocka_unit_test_setup_teardown(missing_config_file_is_an_error, reset, reset),
	    cmocka_unit_test_setup_teardown(env_list_keeps_dual_stack_peers_whole, reset, reset),
	    cmocka_unit_test_setup_teardown(ports_outside_1_to_65535_are_refused, reset, reset),
	    cmocka_unit_test_setup_teardown(
	        durations_take_units_and_bare_numbers_keep_their_old_meaning, reset, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
