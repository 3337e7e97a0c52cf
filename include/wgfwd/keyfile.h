/* Control-channel keys: the 32-byte secret an agent shares with its gateway, its text form,
 * and reading it from a key file.
 *
 * The text form is "wgfwd1:" and 44 characters of base64. The prefix keeps a WireGuard key (the
 * same 44 characters alone, as `wg genkey` prints them) from being taken for a wgfwd key, or
 * the other way round. Key files written before the prefix existed are still read, with a
 * warning that says to make a new key.
 *
 * A key file holds one such line. It must be a regular file owned by root or by the user the
 * program runs as, that neither group nor others may access (an ACL may let this program's user
 * read it, as systemd's credentials do); anything else is refused with the file's name, owner
 * and mode, and with the chmod or chown that would fix it. No function here
 * ever puts key material into an error message or a log line. */
#ifndef WGFWD_KEYFILE_H
#define WGFWD_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define WF_KEY_LEN        32
#define WF_KEY_BASE64_LEN 45 /* 44 characters and the NUL */
#define WF_KEY_PREFIX     "wgfwd1:"
#define WF_KEY_TEXT_LEN   (sizeof(WF_KEY_PREFIX) - 1 + WF_KEY_BASE64_LEN)
/* wf_keyfile_read's answer for a key without the prefix: read, and err says to replace it. */
#define WF_KEYFILE_LEGACY 1

/* Fills key with fresh random bytes. Returns 0, or -EIO when the random source failed. */
int wf_key_generate(uint8_t key[WF_KEY_LEN]);
void wf_key_to_base64(const uint8_t key[WF_KEY_LEN], char out[WF_KEY_BASE64_LEN]);
/* The text form: WF_KEY_PREFIX and the base64. */
void wf_key_to_text(const uint8_t key[WF_KEY_LEN], char out[WF_KEY_TEXT_LEN]);
/* Exactly 44 characters of standard base64 that decode to 32 bytes; -EINVAL otherwise. */
int wf_key_from_base64(const char *text, uint8_t key[WF_KEY_LEN]);
/* The text form (0), or the base64 alone as keys were written before the prefix
 * (WF_KEYFILE_LEGACY); -EINVAL for anything else. */
int wf_key_from_text(const char *text, uint8_t key[WF_KEY_LEN]);
/* Reads a key file; trailing whitespace is ignored. Returns 0, or WF_KEYFILE_LEGACY for a key
 * without the prefix with a warning in err, or -errno with err saying what was wrong: -EPERM for
 * a mode that lets group or others in or an owner other than root or this user, -EINVAL for
 * content that is not a key, the open/read errno otherwise. */
int wf_keyfile_read(const char *path, uint8_t key[WF_KEY_LEN], char *err, size_t errlen);
/* Creates a new key file at path, mode 0600 whatever the umask, holding key as one line of its
 * text form. Never replaces anything: -EEXIST when path exists (a dangling symlink included).
 * On any failure nothing is left at path, and err says what went wrong. */
int wf_keyfile_write(const char *path, const uint8_t key[WF_KEY_LEN], char *err, size_t errlen);
/* Writes path into out as one shell word (quoted only when it needs to be), for the commands
 * the error messages suggest. */
void wf_shell_word(const char *path, char *out, size_t outlen);

#endif
