#include <wgfwd/keyfile.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Longer than any key line with generous whitespace; anything longer is not a key. */
#define KEYFILE_READ_MAX 128
/* A path quoted for the shell in a message; a longer one is cut (the message names it in full). */
#define PATH_WORD_MAX 1024

int wf_key_generate(uint8_t key[WF_KEY_LEN])
{
	if (sodium_init() < 0)
		return -EIO;
	randombytes_buf(key, WF_KEY_LEN);
	return 0;
}

void wf_key_to_base64(const uint8_t key[WF_KEY_LEN], char out[WF_KEY_BASE64_LEN])
{
	sodium_bin2base64(out, WF_KEY_BASE64_LEN, key, WF_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

void wf_key_to_text(const uint8_t key[WF_KEY_LEN], char out[WF_KEY_TEXT_LEN])
{
	memcpy(out, WF_KEY_PREFIX, sizeof(WF_KEY_PREFIX) - 1);
	wf_key_to_base64(key, out + sizeof(WF_KEY_PREFIX) - 1);
}

int wf_key_from_text(const char *text, uint8_t key[WF_KEY_LEN])
{
	if (!strncmp(text, WF_KEY_PREFIX, sizeof(WF_KEY_PREFIX) - 1))
		return wf_key_from_base64(text + sizeof(WF_KEY_PREFIX) - 1, key);
	return wf_key_from_base64(text, key) ? -EINVAL : WF_KEYFILE_LEGACY;
}

int wf_key_from_base64(const char *text, uint8_t key[WF_KEY_LEN])
{
	uint8_t decoded[WF_KEY_LEN + 3];
	size_t text_len = strlen(text), decoded_len = 0;
	const char *end = NULL;
	int ret = -EINVAL;

	if (text_len != WF_KEY_BASE64_LEN - 1)
		return -EINVAL;
	if (sodium_base642bin(decoded, sizeof(decoded), text, text_len, NULL, &decoded_len, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		goto out;
	if (end != text + text_len || decoded_len != WF_KEY_LEN)
		goto out;
	memcpy(key, decoded, WF_KEY_LEN);
	ret = 0;
out:
	sodium_memzero(decoded, sizeof(decoded));
	return ret;
}

void wf_shell_word(const char *path, char *out, size_t outlen)
{
	size_t n = 0;
	const char *p;

	if (!outlen)
		return;
	if (*path && strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	                          "_./:@%+=,-") == strlen(path)) {
		snprintf(out, outlen, "%s", path);
		return;
	}
	/* 'it'\''s': a quote ends the word, is escaped, and a new word begins. */
#define PUT(c)                          \
	do {                            \
		if (n + 1 < outlen)     \
			out[n++] = (c); \
	} while (0)
	PUT('\'');
	for (p = path; *p; p++) {
		if (*p == '\'') {
			PUT('\'');
			PUT('\\');
			PUT('\'');
		}
		PUT(*p);
	}
	PUT('\'');
#undef PUT
	out[n] = '\0';
}

static void user_name(uid_t uid, char *out, size_t outlen)
{
	struct passwd pw, *found = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		snprintf(out, outlen, "%s", found->pw_name);
	else
		snprintf(out, outlen, "%u", (unsigned)uid);
}

/* open() said EACCES: name what stands in the way, and the command that clears it. */
static void explain_no_access(const char *path, char *err, size_t errlen)
{
	char word[PATH_WORD_MAX], owner[64], self[64];
	uid_t euid = geteuid();
	struct stat st;

	wf_shell_word(path, word, sizeof(word));
	user_name(euid, self, sizeof(self));
	if (stat(path, &st) < 0) {
		snprintf(err, errlen,
		         "key file %s: a directory on its path does not let user %s through "
		         "(run as root, or put the key where %s can reach it)",
		         path, self, self);
	} else if (st.st_uid != euid) {
		user_name(st.st_uid, owner, sizeof(owner));
		snprintf(err, errlen,
		         "key file %s belongs to %s and this program runs as %s: "
		         "chown %s %s (or run as root)",
		         path, owner, self, self, word);
	} else {
		snprintf(err, errlen, "key file %s: its owner %s may not read it: chmod 600 %s",
		         path, self, word);
	}
}

int wf_keyfile_write(const char *path, const uint8_t key[WF_KEY_LEN], char *err, size_t errlen)
{
	char line[WF_KEY_TEXT_LEN + 1];
	size_t len, done = 0;
	int fd, ret = 0;

	/* O_EXCL: an existing file, or any symlink, is never written through. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EEXIST)
			snprintf(err, errlen,
			         "%s already exists: not overwritten (a key in use would be lost; "
			         "remove it first to make a new one)",
			         path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* The umask may have taken the owner's bits too; the daemons want exactly the owner's. */
	if (fchmod(fd, 0600) < 0) {
		ret = -errno;
		goto fail;
	}
	wf_key_to_text(key, line);
	len = strlen(line);
	line[len++] = '\n';
	while (done < len) {
		ssize_t n = write(fd, line + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto fail;
		}
		done += (size_t)n;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		goto fail;
	}
	sodium_memzero(line, sizeof(line));
	if (close(fd) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		unlink(path);
		return ret;
	}
	return 0;
fail:
	sodium_memzero(line, sizeof(line));
	snprintf(err, errlen, "%s: %s", path, strerror(-ret));
	close(fd);
	unlink(path);
	return ret;
}

/* With a POSIX ACL, the group bits of the mode are the ACL's mask, not the owning group's
 * access: systemd hands a credential (LoadCredential=) to a service user as a 0400 root file
 * with the entry user:SERVICE:r, which stat shows as 0440. Such a file is private when the ACL
 * (little-endian, as the kernel stores it) gives the owning group and others nothing, names no
 * group, and names no user but this program's, for reading only. */
static bool acl_private(int fd)
{
	uint8_t acl[4 + 8 * 16];
	ssize_t n = fgetxattr(fd, "system.posix_acl_access", acl, sizeof(acl));
	uint32_t version;

	if (n < 4 || (n - 4) % 8)
		return false;
	memcpy(&version, acl, 4);
	if (le32toh(version) != 2)
		return false;
	for (ssize_t off = 4; off < n; off += 8) {
		uint16_t tag, perm;
		uint32_t id;

		memcpy(&tag, acl + off, 2);
		memcpy(&perm, acl + off + 2, 2);
		memcpy(&id, acl + off + 4, 4);
		switch (le16toh(tag)) {
		case 0x01: /* the owner */
		case 0x10: /* the mask */
			break;
		case 0x02: /* a named user */
			if (le32toh(id) != geteuid() || (le16toh(perm) & ~4))
				return false;
			break;
		case 0x04: /* the owning group */
		case 0x20: /* others */
			if (le16toh(perm))
				return false;
			break;
		default: /* a named group, or what this reading does not know */
			return false;
		}
	}
	return true;
}

int wf_keyfile_read(const char *path, uint8_t key[WF_KEY_LEN], char *err, size_t errlen)
{
	char word[PATH_WORD_MAX];
	char text[KEYFILE_READ_MAX + 1];
	size_t len = 0;
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EACCES)
			explain_no_access(path, err, errlen);
		else
			snprintf(err, errlen, "key file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "key file %s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "key file %s: not a regular file", path);
		goto out;
	}
	/* Whoever owns the file may change it, and so decide which key this program trusts. */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		char owner[64], self[64];

		ret = -EPERM;
		wf_shell_word(path, word, sizeof(word));
		user_name(st.st_uid, owner, sizeof(owner));
		user_name(geteuid(), self, sizeof(self));
		snprintf(
		    err, errlen,
		    "key file %s belongs to %s: it must belong to root or to %s, the user this "
		    "program runs as: chown %s %s",
		    path, owner, self, self, word);
		goto out;
	}
	if ((st.st_mode & S_IRWXO) ||
	    ((st.st_mode & S_IRWXG) && ((st.st_mode & S_IRWXG) != S_IRGRP || !acl_private(fd)))) {
		ret = -EPERM;
		wf_shell_word(path, word, sizeof(word));
		snprintf(err, errlen,
		         "key file %s has mode %04o: group and others must have no access to it: "
		         "chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), word);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "key file %s: %s", path, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(text)) {
			ret = -EINVAL;
			snprintf(err, errlen, "key file %s: too long to be a key", path);
			goto out;
		}
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
	                   text[len - 1] == '\t'))
		len--;
	text[len] = '\0';
	if (len == 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "key file %s: empty", path);
		goto out;
	}
	ret = wf_key_from_text(text, key);
	if (ret < 0)
		snprintf(err, errlen,
		         "key file %s: not a key (want one line of \"" WF_KEY_PREFIX
		         "\" and 44 base64 characters encoding 32 bytes, as `wgfwd genkey` prints)",
		         path);
	else if (ret == WF_KEYFILE_LEGACY)
		snprintf(
		    err, errlen,
		    "key file %s holds a key without the \"" WF_KEY_PREFIX
		    "\" prefix (as written before it existed, or a WireGuard key): it is used, but "
		    "make a new one with `wgfwd genkey` and put it on both hosts",
		    path);
out:
	sodium_memzero(text, sizeof(text));
	close(fd);
	return ret;
}
