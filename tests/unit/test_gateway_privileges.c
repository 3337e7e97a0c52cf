/* The gateway's keys as a service manager hands them over: the credential of the same name is
 * preferred to the configured path, and a key file that an ACL lets this user read (systemd's
 * credentials: 0400 root, user:SERVICE:r, shown as mode 0440) is accepted while any other ACL
 * is refused. */
#include <wgfwd-gateway/privileges.h>
#include <wgfwd/keyfile.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#define ACL_USER_OBJ  0x01
#define ACL_USER      0x02
#define ACL_GROUP_OBJ 0x04
#define ACL_GROUP     0x08
#define ACL_MASK      0x10
#define ACL_OTHER     0x20
#define NO_ID         0xffffffffu

static char dir[64], key[128];

static int make_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/wfgw-priv-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(key, sizeof(key), "%s/server.key", dir);
	return 0;
}

static int remove_dir(void **state)
{
	(void)state;
	unlink(key);
	rmdir(dir);
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static void write_key(void)
{
	uint8_t k[WF_KEY_LEN];
	char err[256];

	unlink(key);
	assert_int_equal(wf_key_generate(k), 0);
	assert_int_equal(wf_keyfile_write(key, k, err, sizeof(err)), 0);
	assert_int_equal(chmod(key, 0400), 0);
}

struct acl_entry {
	uint16_t tag, perm;
	uint32_t id;
};

/* Sets the file's access ACL as setfacl would; false where the file system has no ACLs. */
static bool set_acl(const struct acl_entry *e, size_t n)
{
	uint8_t buf[4 + 8 * 8];
	uint32_t version = htole32(2);

	memcpy(buf, &version, 4);
	for (size_t i = 0; i < n; i++) {
		uint16_t tag = htole16(e[i].tag), perm = htole16(e[i].perm);
		uint32_t id = htole32(e[i].id);

		memcpy(buf + 4 + 8 * i, &tag, 2);
		memcpy(buf + 4 + 8 * i + 2, &perm, 2);
		memcpy(buf + 4 + 8 * i + 4, &id, 4);
	}
	if (setxattr(key, "system.posix_acl_access", buf, 4 + 8 * n, 0) < 0) {
		assert_true(errno == EOPNOTSUPP);
		return false;
	}
	return true;
}

static void credential_of_the_same_name_is_preferred(void **state)
{
	char out[256], want[256];

	(void)state;
	write_key();
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(wf_gw_key_source("/etc/wgfwd/server.key", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/wgfwd/server.key");

	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(wf_gw_key_source("/etc/wgfwd/server.key", out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s/server.key", dir);
	assert_string_equal(out, want);
	assert_int_equal(wf_gw_key_source("server.key", out, sizeof(out)), 1);
	assert_string_equal(out, want);

	/* No such credential: the configured file, as without a service manager. */
	assert_int_equal(wf_gw_key_source("/etc/wgfwd/home.key", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/wgfwd/home.key");
	/* A relative directory is nobody's credentials directory. */
	setenv("CREDENTIALS_DIRECTORY", "tmp", 1);
	assert_int_equal(wf_gw_key_source("/etc/wgfwd/server.key", out, sizeof(out)), 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(wf_gw_key_source("/etc/wgfwd/server.key", out, 8), -ENAMETOOLONG);
}

static void credential_readable_by_this_user_through_an_acl_is_read(void **state)
{
	const struct acl_entry acl[] = {{ACL_USER_OBJ, 4, NO_ID},
	                                {ACL_USER, 4, (uint32_t)geteuid()},
	                                {ACL_GROUP_OBJ, 0, NO_ID},
	                                {ACL_MASK, 4, NO_ID},
	                                {ACL_OTHER, 0, NO_ID}};
	uint8_t k[WF_KEY_LEN];
	char err[512];
	struct stat st;

	(void)state;
	write_key();
	if (!set_acl(acl, 5))
		skip();
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0440);
	assert_int_equal(wf_keyfile_read(key, k, err, sizeof(err)), 0);
}

static void acl_letting_in_anyone_else_is_refused(void **state)
{
	static const struct {
		const char *what;
		struct acl_entry e[5];
	} cases[] = {
	    {"another user",
	     {{ACL_USER_OBJ, 4, NO_ID},
	      {ACL_USER, 4, 12345},
	      {ACL_GROUP_OBJ, 0, NO_ID},
	      {ACL_MASK, 4, NO_ID},
	      {ACL_OTHER, 0, NO_ID}}},
	    {"a named group",
	     {{ACL_USER_OBJ, 4, NO_ID},
	      {ACL_GROUP_OBJ, 0, NO_ID},
	      {ACL_GROUP, 4, 12345},
	      {ACL_MASK, 4, NO_ID},
	      {ACL_OTHER, 0, NO_ID}}},
	    {"the owning group",
	     {{ACL_USER_OBJ, 4, NO_ID},
	      {ACL_USER, 4, 0},
	      {ACL_GROUP_OBJ, 4, NO_ID},
	      {ACL_MASK, 4, NO_ID},
	      {ACL_OTHER, 0, NO_ID}}},
	    {"this user, writing",
	     {{ACL_USER_OBJ, 4, NO_ID},
	      {ACL_USER, 6, 0},
	      {ACL_GROUP_OBJ, 0, NO_ID},
	      {ACL_MASK, 6, NO_ID},
	      {ACL_OTHER, 0, NO_ID}}},
	};
	uint8_t k[WF_KEY_LEN];
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_entry e[5];

		memcpy(e, cases[i].e, sizeof(e));
		for (size_t j = 0; j < 5; j++)
			if (e[j].tag == ACL_USER && e[j].id == 0)
				e[j].id = (uint32_t)geteuid();
		write_key();
		if (!set_acl(e, 5))
			skip();
		print_message("ACL for %s\n", cases[i].what);
		assert_int_equal(wf_keyfile_read(key, k, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "group and others must have no access"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(credential_of_the_same_name_is_preferred),
	    cmocka_unit_test(credential_readable_by_this_user_through_an_acl_is_read),
	    cmocka_unit_test(acl_letting_in_anyone_else_is_refused),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
