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
#include <sys/wait.h>
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
	char text[WF_KEY_TEXT_LEN + 2], err[256] = "";

	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_text(key, text);
	assert_int_equal(strncmp(text, "wgfwd1:", 7), 0);
	assert_int_equal(strlen(text), 7 + 44);
	strcat(text, "\n");
	write_file(text, 0600);
	assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), 0);
	assert_memory_equal(key, back, WF_KEY_LEN);

	write_file(text, 0400);
	assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), 0);
}

static void key_without_the_prefix_is_read_with_a_warning(void **state)
{
	uint8_t key[WF_KEY_LEN], back[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN + 2], err[512] = "";

	/* A key file from before the prefix, or a WireGuard key: the same 44 characters. */
	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_base64(key, text);
	strcat(text, "\n");
	write_file(text, 0600);
	assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), WF_KEYFILE_LEGACY);
	assert_memory_equal(key, back, WF_KEY_LEN);
	assert_non_null(strstr(err, "without the \"wgfwd1:\" prefix"));
	assert_non_null(strstr(err, "wgfwd genkey"));
	assert_null(strstr(err, text));
	/* A prefix of another version is no key at all. */
	write_file("wgfwd2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0600);
	assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), -EINVAL);
	assert_int_equal(wf_key_from_text("wgfwd1:", back), -EINVAL);
}

static void key_file_owned_by_another_user_is_refused(void **state)
{
	uint8_t key[WF_KEY_LEN];
	char text[WF_KEY_TEXT_LEN], err[512] = "";

	/* Root may read anyone's file; the owner check is what stops it trusting one. */
	if (geteuid() != 0)
		skip();
	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_text(key, text);
	write_file(text, 0600);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "belongs to"));
	assert_non_null(strstr(err, "chown root"));
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), 0);
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

static void refused_mode_says_the_chmod_to_run(void **state)
{
	char spaced[160], err[512], want[512];
	uint8_t key[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN];
	int fd;

	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_base64(key, text);
	write_file(text, 0644);
	assert_int_equal(wf_keyfile_read(path, key, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), ": chmod 600 %s", path);
	assert_non_null(strstr(err, want));

	/* A name the shell would split is quoted, so the command can be pasted as it is. */
	snprintf(spaced, sizeof(spaced), "%s/it's a key", dir);
	fd = open(spaced, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	assert_int_equal(wf_keyfile_read(spaced, key, err, sizeof(err)), -EPERM);
	unlink(spaced);
	snprintf(want, sizeof(want), ": chmod 600 '%s/it'\\''s a key'", dir);
	assert_non_null(strstr(err, want));
}

static void shell_words_are_quoted_only_when_needed(void **state)
{
	char out[64];

	wf_shell_word("/etc/wgfwd/server-1.key", out, sizeof(out));
	assert_string_equal(out, "/etc/wgfwd/server-1.key");
	wf_shell_word("my key", out, sizeof(out));
	assert_string_equal(out, "'my key'");
	wf_shell_word("a'b", out, sizeof(out));
	assert_string_equal(out, "'a'\\''b'");
	wf_shell_word("$(reboot)", out, sizeof(out));
	assert_string_equal(out, "'$(reboot)'");
	wf_shell_word("", out, sizeof(out));
	assert_string_equal(out, "''");
	/* cut, but always terminated */
	wf_shell_word("a very long name with spaces", out, 8);
	assert_int_equal(strlen(out), 7);
}

/* As another user, the root-owned 0600 file cannot be opened: the message names the chown. */
static void key_file_of_another_user_says_the_chown_to_run(void **state)
{
	uint8_t key[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN], err[512], want[512];
	int status;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	assert_int_equal(wf_key_generate(key), 0);
	wf_key_to_base64(key, text);
	write_file(text, 0600);
	assert_int_equal(chmod(dir, 0711), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(10);
		if (wf_keyfile_read(path, key, err, sizeof(err)) != -EACCES)
			_exit(11);
		snprintf(want, sizeof(want), " belongs to root and this program runs as ");
		if (!strstr(err, want))
			_exit(12);
		/* nobody, or 65534 where the user database has no such name */
		snprintf(want, sizeof(want), ": chown nobody %s (or run as root)", path);
		if (!strstr(err, want)) {
			snprintf(want, sizeof(want), ": chown 65534 %s (or run as root)", path);
			if (!strstr(err, want))
				_exit(13);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(chmod(dir, 0700), 0);
}

static void new_key_file_is_private_whatever_the_umask(void **state)
{
	static const mode_t masks[] = {0, 022, 077, 0277, 0377};
	uint8_t key[WF_KEY_LEN], back[WF_KEY_LEN];
	char err[256];
	struct stat st;
	mode_t old;

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		unlink(path);
		assert_int_equal(wf_key_generate(key), 0);
		old = umask(masks[i]);
		assert_int_equal(wf_keyfile_write(path, key, err, sizeof(err)), 0);
		umask(old);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_size, WF_KEY_TEXT_LEN); /* the text and a newline */
		assert_int_equal(wf_keyfile_read(path, back, err, sizeof(err)), 0);
		assert_memory_equal(key, back, WF_KEY_LEN);
	}
}

static void existing_file_is_never_overwritten(void **state)
{
	uint8_t key[WF_KEY_LEN];
	char err[256], buf[16] = "", link_path[160], target[160];
	int fd;

	assert_int_equal(wf_key_generate(key), 0);
	write_file("in use\n", 0600);
	assert_int_equal(wf_keyfile_write(path, key, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "already exists: not overwritten"));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 7);
	close(fd);
	assert_string_equal(buf, "in use\n");

	/* nor written through a symlink, even one that points nowhere yet */
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	snprintf(target, sizeof(target), "%s/target", dir);
	assert_int_equal(symlink(target, link_path), 0);
	assert_int_equal(wf_keyfile_write(link_path, key, err, sizeof(err)), -EEXIST);
	assert_int_equal(access(target, F_OK), -1);
	unlink(link_path);
}

static void failed_write_names_the_file_and_leaves_nothing(void **state)
{
	uint8_t key[WF_KEY_LEN];
	char err[256], missing[160];

	assert_int_equal(wf_key_generate(key), 0);
	snprintf(missing, sizeof(missing), "%s/no/such/dir/key", dir);
	assert_int_equal(wf_keyfile_write(missing, key, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(wf_keyfile_write(dir, key, err, sizeof(err)), -EEXIST);
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
	    cmocka_unit_test(key_without_the_prefix_is_read_with_a_warning),
	    cmocka_unit_test(key_file_owned_by_another_user_is_refused),
	    cmocka_unit_test(key_file_others_may_read_is_refused_by_name_and_mode),
	    cmocka_unit_test(refused_mode_says_the_chmod_to_run),
	    cmocka_unit_test(shell_words_are_quoted_only_when_needed),
	    cmocka_unit_test(key_file_of_another_user_says_the_chown_to_run),
	    cmocka_unit_test(new_key_file_is_private_whatever_the_umask),
	    cmocka_unit_test(existing_file_is_never_overwritten),
	    cmocka_unit_test(failed_write_names_the_file_and_leaves_nothing),
	    cmocka_unit_test(key_file_with_bad_content_is_refused_without_echo),
	    cmocka_unit_test(oversized_key_file_is_refused),
	    cmocka_unit_test(missing_key_file_and_directory_are_refused_by_name),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
