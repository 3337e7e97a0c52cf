#include <wgfwd/keyfile.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longer than any key line with generous whitespace; anything longer is not a key. */
#define KEYFILE_READ_MAX 128

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

int wf_keyfile_read(const char *path, uint8_t key[WF_KEY_LEN], char *err, size_t errlen)
{
	char text[KEYFILE_READ_MAX + 1];
	size_t len = 0;
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
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
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ret = -EPERM;
		snprintf(err, errlen,
		         "key file %s has mode %04o: group and others must have no access to it "
		         "(chmod 600 %s)",
		         path, (unsigned)(st.st_mode & 07777), path);
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
	ret = wf_key_from_base64(text, key);
	if (ret < 0)
		snprintf(err, errlen,
		         "key file %s: not a key (want one line of 44 base64 characters encoding "
		         "32 bytes, as `wgfwd genkey` prints)",
		         path);
out:
	sodium_memzero(text, sizeof(text));
	close(fd);
	return ret;
}
