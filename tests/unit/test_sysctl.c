#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(value_reads_back_without_its_newline, make_file,
	                                    remove_file),
	    cmocka_unit_test_setup_teardown(long_value_is_cut_to_the_buffer, make_file,
	                                    remove_file),
	    cmocka_unit_test_setup_teardown(missing_or_non_numeric_reads_as_minus_one, make_file,
	                                    remove_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
