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
	uint32_t table;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
