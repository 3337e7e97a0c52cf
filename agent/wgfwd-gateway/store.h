/* The gateway's memory across restarts: the last applied entries of each peer, one JSON file
 * per peer in the state directory, so forwards come back at start-up before any agent has
 * reconnected.
 *
 * A file is replaced atomically (temporary file, fsync, rename, fsync of the directory): after
 * a crash it holds either the old state or the new one, never a mix. A file that cannot be
 * read as a state is moved aside (NAME.corrupt-TIME) so that it is kept for inspection and the
 * peer starts empty.
 *
 *   {"version":1,"peer":"192.168.160.2",
 *    "forwards":[{"family":"ipv4","proto":"tcp","public_port":443,"target_port":443}],
 *    "egress":[{"proto":"tcp","port_lo":25,"port_hi":25}]}
 *
 * One peer's change among many forwards does not rewrite its file: it is appended to
 * DIR/peer-NAME.journal, one line per forward that went or came, in order,
 *
 *   - ipv4 tcp 80 8080
 *   + ipv4 tcp 443 8443
 *
 * and reading the file replays the journal onto it. Each line says what one key (family,
 * protocol, public port) maps to, or that it no longer maps to that target, so replaying a
 * line twice changes nothing more: a crash between a whole save and the removal of the
 * journal it covers is harmless. Replay stops at the first line that is not whole (a crash in
 * the middle of an append). Saving the whole file removes the journal; the daemon does so
 * once the journal is larger than the file would be.
 */
#ifndef WGFWD_GATEWAY_STORE_H
#define WGFWD_GATEWAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy.h"

#define WF_GW_STORE_VERSION 1

/* The file of one peer: DIR/peer-NAME.json. -ENAMETOOLONG when it does not fit. */
int wf_gw_store_path(const char *dir, const char *peer_name, char *out, size_t len);
/* Returns 0 or -errno, with err saying which step failed on which file. */
/* Creates the state directory 0700 if missing; refuses one that is not a directory, belongs to
 * none of root, this process's user and `user' (the one the daemon becomes), or that group or
 * others may write. The message in err says the command that fixes it. */
int wf_gw_store_prepare_dir(const char *dir, uid_t user, char *err, size_t errlen);
int wf_gw_store_save(const char *dir, const char *peer_name, const struct wf_gw_entries *e,
                     char *err, size_t errlen);
/* Appends one change of what the peer holds to its journal: the forwards that went, then those
 * that came (egress changes go by wf_gw_store_save). *size is the journal's length after it:
 * save the whole file when it grows large, which starts the journal anew. Without sync the
 * lines are written (a crash of the process loses none) but reach the disk only with
 * wf_gw_store_sync: until then a power loss may take the last of them, which leaves the state
 * of an earlier change (replay stops at the first line that is not whole). */
int wf_gw_store_append(const char *dir, const char *peer_name, const struct wf_gw_entries *gone,
                       const struct wf_gw_entries *came, bool sync, size_t *size, char *err,
                       size_t errlen);
/* The same with the journal held open in *fd between calls (-1: none yet; left -1 after a
 * failure): a change then costs one write, not an open and a close. The caller closes it, and
 * must once a whole save has removed the journal. */
int wf_gw_store_append_open(const char *dir, const char *peer_name, int *fd,
                            const struct wf_gw_entries *gone, const struct wf_gw_entries *came,
                            bool sync, size_t *size, char *err, size_t errlen);
/* Onto the disk: what was appended to the peer's journal and, with name, the journal's name in
 * its directory (needed once after the journal is made). 0 also when there is no journal (a
 * whole save has taken its place). */
int wf_gw_store_sync(const char *dir, const char *peer_name, bool name, char *err, size_t errlen);
/* The same through the journal wf_gw_store_append_open holds open (fd -1: by its name). */
int wf_gw_store_sync_open(const char *dir, const char *peer_name, int fd, bool name, char *err,
                          size_t errlen);
/* Returns 0 with *e filled (free with wf_gw_entries_free), -ENOENT when the peer has no file,
 * -EBADMSG when the file is not a valid state (then it was moved aside, and err says what was
 * wrong and where the file is now), or another -errno with err filled. */
int wf_gw_store_load(const char *dir, const char *peer_name, struct wf_gw_entries *e, char *err,
                     size_t errlen);
/* The same without moving a bad file aside: nothing on disk changes. */
int wf_gw_store_read(const char *dir, const char *peer_name, struct wf_gw_entries *e, char *err,
                     size_t errlen);

/* The JSON text of one peer's entries, and its strict reader (no I/O). The reader takes the
 * encoder's own form on a fast path that builds no JSON tree; any other text goes through
 * wf_gw_store_decode_strict, which reads any JSON spelling of a state and says what is wrong
 * with the rest. Both give the same entries for every text the fast path accepts. */
int wf_gw_store_encode(const char *peer_name, const struct wf_gw_entries *e, char **json);
/* The same text built as a json-c tree: what the encoder's own form is checked against. */
int wf_gw_store_encode_json_c(const char *peer_name, const struct wf_gw_entries *e, char **json);
int wf_gw_store_decode(const char *json, size_t len, const char *peer_name, struct wf_gw_entries *e,
                       char *err, size_t errlen);
int wf_gw_store_decode_strict(const char *json, size_t len, const char *peer_name,
                              struct wf_gw_entries *e, char *err, size_t errlen);

#endif
