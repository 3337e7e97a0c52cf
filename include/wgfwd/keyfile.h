/* Control-channel keys: the 32-byte secret an agent shares with its gateway, its base64 text
 * form (the same shape as `wg genkey`), and reading it from a key file.
 *
 * A key file holds one base64 line. It must be a regular file that neither group nor others
 * may access; anything else is refused with the file's name and mode, and with the chmod or
 * chown that would fix it. No function here ever puts key material into an error message or
 * a log line. */
#ifndef WGFWD_KEYFILE_H
#define WGFWD_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define WF_KEY_LEN        32
#define WF_KEY_BASE64_LEN 45 /* 44 characters and the NUL */

/* Fills key with fresh random bytes. Returns 0, or -EIO when the random source failed. */
int wf_key_generate(uint8_t key[WF_KEY_LEN]);
void wf_key_to_base64(const uint8_t key[WF_KEY_LEN], char out[WF_KEY_BASE64_LEN]);
/* Exactly 44 characters of standard base64 that decode to 32 bytes; -EINVAL otherwise. */
int wf_key_from_base64(const char *text, uint8_t key[WF_KEY_LEN]);
/* Reads a key file; trailing whitespace is ignored. On failure returns -errno and says in err
 * what was wrong: -EPERM for a mode that lets group or others in, -EINVAL for content that is
 * not a key, the open/read errno otherwise. */
int wf_keyfile_read(const char *path, uint8_t key[WF_KEY_LEN], char *err, size_t errlen);
/* Creates a new key file at path, mode 0600 whatever the umask, holding key as one base64
 * line. Never replaces anything: -EEXIST when path exists (a dangling symlink included).
 * On any failure nothing is left at path, and err says what went wrong. */
int wf_keyfile_write(const char *path, const uint8_t key[WF_KEY_LEN], char *err, size_t errlen);
/* Writes path into out as one shell word (quoted only when it needs to be), for the commands
 * the error messages suggest. */
void wf_shell_word(const char *path, char *out, size_t outlen);

#endif
