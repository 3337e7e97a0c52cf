/* Control-channel keys: generation, base64 form and key files. */
#include <wgfwd/keyfile.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];
static char path[128];

static int make_dir(void **state)
{
	strcpy(dir, "/tmp/wfctl-keyfile-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/key", dir);
	return 0;
}

static int remove_dir(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static void write_file(const char *content, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void generated_key_survives_base64(void **state)
{
	uint8_t key[WF_KEY_LEN], back[WF_KEY_LEN], other[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN];

	assert_int_equal(wf_key_generate(key), 0);
	assert_int_equal(wf_key_generate(other), 0);
	assert_memory_not_equal(key, other, WF_KEY_LEN);
	wf_key_to_base64(key, text);
	assert_int_equal(strlen(text), 44);
	assert_int_equal(text[43], '=');
	assert_int_equal(wf_key_from_base64(text, back), 0);
	assert_memory_equal(key, back, WF_KEY_LEN);
}

static void text_that_is_not_a_key_is_refused(void **state)
{
	uint8_t key[WF_KEY_LEN];

	/* 32 bytes of 0x00 is "AAAA...A=" */
	assert_int_equal(wf_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", key),
	                 0);
	/* not base64 */
	assert_int_equal(wf_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*=", key),
	                 -EINVAL);
	/* too short, too long */
	assert_int_equal(wf_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", key),
	                 -EINVAL);
	assert_int_equal(wf_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", key),
	                 -EINVAL);
	/* 44 characters that decode to 31 and to 33 bytes */
	assert_int_equal(wf_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", key),
	                 -EINVAL);
	assert_int_equal(wf_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key),
	                 -EINVAL);
	assert_int_equal(wf_key_from_base64("", key), -EINVAL);
}

static void private_key_file_is_read(void **state)
{
	uint8_t key[WF_KEY_LEN], back[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN + 2], err[256] = "";

	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_base64(key, text);
	strcat(text, "\n");
	write_file(text, 0600);
	assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), 0);
	assert_memory_equal(key, back, WF_KEY_LEN);

	write_file(text, 0400);
	assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), 0);
}

static void key_file_others_may_read_is_refused_by_name_and_mode(void **state)
{
	static const mode_t modes[] = {0640, 0604, 0660, 0606, 0610, 0601, 0644, 0666};
	uint8_t key[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN], err[256], want[16];

	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_base64(key, text);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(text, modes[i]);
		err[0] = '\0';
		assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), -EPERM);
		snprintf(want, sizeof(want), "%04o", (unsigned)modes[i]);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, want));
		/* the key itself is never echoed */
		assert_null(strstr(err, text));
	}
}

static void key_file_with_bad_content_is_refused_without_echo(void **state)
{
	static const char *const contents[] = {
	    "not a key at all\n",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=AAAA\n",
	    /* two keys on two lines */
	    ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
	    "",
	    "\n\n",
	};
	uint8_t key[WF_KEY_LEN];
	char err[256];

	for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
		write_file(contents[i], 0600);
		err[0] = '\0';
		assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, path));
		if (strlen(contents[i]) > 4)
			assert_null(strstr(err, "AAAAAAAA"));
	}
}

static void oversized_key_file_is_refused(void **state)
{
	char big[4096];
	uint8_t key[WF_KEY_LEN];
	char err[256];

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(big, 0600);
	assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too long"));
}

static void missing_key_file_and_directory_are_refused_by_name(void **state)
{
	uint8_t key[WF_KEY_LEN];
	char err[256];

	unlink(path);
	assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(wf_keyfile_read(dir, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(generated_key_survives_base64),
	    cmocka_unit_test(text_that_is_not_a_key_is_refused),
	    cmocka_unit_test(private_key_file_is_read),
	    cmocka_unit_test(key_file_others_may_read_is_refused_by_name_and_mode),
	    cmocka_unit_test(key_file_with_bad_content_is_refused_without_echo),
	    cmocka_unit_test(oversized_key_file_is_refused),
	    cmocka_unit_test(missing_key_file_and_directory_are_refused_by_name),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
