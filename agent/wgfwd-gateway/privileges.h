/* Who the gateway is once it runs: the user, the one capability it keeps (CAP_NET_ADMIN, for
 * nftables, conntrack and the forwarding sysctls), and where its keys come from when a service
 * manager hands them over.
 *
 *   started by wgfwd-gateway.service   already user wgfwd, CAP_NET_ADMIN ambient; keys in
 *                                      $CREDENTIALS_DIRECTORY
 *   started as root with `user = NAME' becomes NAME after start-up, keeping CAP_NET_ADMIN
 *   started as root without it         stays uid 0 with CAP_NET_ADMIN only, and says so
 *
 * In every case the end is the same: bounding, permitted and effective sets hold CAP_NET_ADMIN
 * at most, and no_new_privs forbids regaining anything. */
#ifndef WGFWD_GATEWAY_PRIVILEGES_H
#define WGFWD_GATEWAY_PRIVILEGES_H

#include <stddef.h>
#include <sys/types.h>

/* Keeps CAP_NET_ADMIN only and forbids regaining any. With a user (uid and gid not 0) the
 * process becomes that user on the way (unless it already is), its groups that one group.
 * Returns 0, or 1 when the bounding set kept more (that takes CAP_SETPCAP; no_new_privs keeps
 * the rest out of reach), or -errno when the change of user or the capset failed. */
int wf_gw_drop_privileges(uid_t uid, gid_t gid);

/* wf_gw_drop_privileges, then one log line saying who the daemon now is: a warning with the way
 * out when that is still root. Returns 0, or -errno when the change of user failed. */
int wf_gw_settle_privileges(uid_t uid, gid_t gid);

/* For a root that becomes a user (uid or gid not 0) once started: the state directory and
 * its files become the user's (unless the directory is already; CAP_CHOWN only for one root
 * wrote), and from here until wf_gw_files_as_self files are opened and made as that user
 * (setfsuid), so the state is the user's from the start and a root that may not override file
 * permissions (a container's) still reads and writes it. Nothing to do for a process that is
 * not root. Returns 0 or -errno, logged. */
int wf_gw_files_as_user(const char *dir, uid_t uid, gid_t gid);
/* Files as the process's own user again (the status socket is made as root). */
void wf_gw_files_as_self(void);

/* The uid and gid of a user name: 0 or -ENOENT with err saying so. */
int wf_gw_user_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Where to read the key file configured as `path': the credential of the same base name when
 * the service manager passed one ($CREDENTIALS_DIRECTORY, systemd's LoadCredential=), so a
 * daemon that is not root reads a key only root may read on disk; path itself otherwise.
 * Returns 1 (credential) or 0 (path) with out filled, -ENAMETOOLONG when out is too small. */
int wf_gw_key_source(const char *path, char *out, size_t len);

#endif
