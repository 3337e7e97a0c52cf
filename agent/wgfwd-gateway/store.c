#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "entries.h"

/* Far above what WF_GW_DEFAULT_MAX_ENTRIES entries take; anything bigger is not ours. */
#define STORE_FILE_MAX (64u << 20)

int wf_gw_store_path(const char *dir, const char *peer_name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/peer-%s.json", dir, peer_name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int journal_path(const char *dir, const char *peer_name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/peer-%s.journal", dir, peer_name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---- files ---- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int wf_gw_store_prepare_dir(const char *dir, uid_t user, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int ret = -errno;

		snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (lstat(dir, &st) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "state directory %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory %s is not a directory (a symbolic link?)",
		         dir);
		return -ENOTDIR;
	}
	/* Whoever may write here decides which ports the gateway opens at its next start. */
	if (st.st_uid != geteuid() && st.st_uid != 0 && st.st_uid != user) {
		snprintf(err, errlen,
		         "state directory %s belongs to uid %u, not to root or this daemon's user: "
		         "chown %u %s",
		         dir, (unsigned)st.st_uid, (unsigned)geteuid(), dir);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(
		    err, errlen,
		    "state directory %s is writable by group or others (mode %04o): chmod 700 %s",
		    dir, (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

int wf_gw_store_save(const char *dir, const char *peer_name, const struct wf_gw_entries *e,
                     char *err, size_t errlen)
{
	char path[4096], tmp[4096 + 8];
	char *json = NULL;
	int fd = -1, dirfd = -1, ret;

	ret = wf_gw_store_path(dir, peer_name, path, sizeof(path));
	if (ret) {
		snprintf(err, errlen, "state file name for %s in %s is too long", peer_name, dir);
		return ret;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ret = wf_gw_store_encode(peer_name, e, &json);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
		goto out;
	}
	/* A fresh file, never an existing one: whatever sits under the temporary name (a
	 * leftover, or a hard link planted to make us overwrite its target) is unlinked, and
	 * O_EXCL refuses anything that appears meanwhile. */
	if (unlinkat(dirfd, strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp, 0) < 0 &&
	    errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	ret = write_all(fd, json, strlen(json));
	if (!ret)
		ret = write_all(fd, "\n", 1);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	fd = -1;
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-ret));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* The rename is durable only once the directory itself is on disk. */
	if (fsync(dirfd) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot sync directory %s: %s", dir, strerror(errno));
		goto out;
	}
	/* The file holds what the journal said: it starts anew. Should this not happen, the
	 * journal's lines only say again what the file holds. */
	if (!journal_path(dir, peer_name, path, sizeof(path)) && unlink(path) < 0 &&
	    errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
	}
out:
	if (dirfd >= 0)
		close(dirfd);
	free(json);
	return ret;
}

static void journal_line(char *buf, size_t *len, char op, const struct wf_ctl_forward *f)
{
	*len += (size_t)sprintf(
	    buf + *len, "%c %s %s %u %u\n", op, f->family == AF_INET6 ? "ipv6" : "ipv4",
	    f->proto == IPPROTO_UDP ? "udp" : "tcp", f->public_port, f->target_port);
}

#define JOURNAL_LINE_MAX 32 /* "- ipv6 udp 65535 65535\n" and room */

/* A journal's data, and its name once it is new (a new file is durable once its directory
 * is). */
static int sync_journal(int fd, const char *dir, bool created)
{
	int dirfd;

	if (fdatasync(fd) < 0)
		return -errno;
	if (!created)
		return 0;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fsync(dirfd) < 0) {
		int ret = -errno;

		if (dirfd >= 0)
			close(dirfd);
		return ret;
	}
	close(dirfd);
	return 0;
}

int wf_gw_store_sync(const char *dir, const char *peer_name, bool name, char *err, size_t errlen)
{
	return wf_gw_store_sync_open(dir, peer_name, -1, name, err, errlen);
}

int wf_gw_store_sync_open(const char *dir, const char *peer_name, int fd, bool name, char *err,
                          size_t errlen)
{
	char path[4096];
	bool opened = fd < 0;
	int ret;

	if (journal_path(dir, peer_name, path, sizeof(path))) {
		snprintf(err, errlen, "journal file name for %s in %s is too long", peer_name, dir);
		return -ENAMETOOLONG;
	}
	if (opened)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	ret = sync_journal(fd, dir, name);
	if (opened)
		close(fd);
	if (ret)
		snprintf(err, errlen, "cannot sync %s: %s", path, strerror(-ret));
	return ret;
}

int wf_gw_store_append(const char *dir, const char *peer_name, const struct wf_gw_entries *gone,
                       const struct wf_gw_entries *came, bool sync, size_t *size, char *err,
                       size_t errlen)
{
	int fd = -1,
	    ret = wf_gw_store_append_open(dir, peer_name, &fd, gone, came, sync, size, err, errlen);

	if (fd >= 0)
		close(fd);
	return ret;
}

int wf_gw_store_append_open(const char *dir, const char *peer_name, int *fd,
                            const struct wf_gw_entries *gone, const struct wf_gw_entries *came,
                            bool sync, size_t *size, char *err, size_t errlen)
{
	size_t n = gone->n_forwards + came->n_forwards, len = 0;
	char path[4096], *buf;
	struct stat st = {0};
	int ret = 0;

	*size = 0;
	if (journal_path(dir, peer_name, path, sizeof(path))) {
		snprintf(err, errlen, "journal file name for %s in %s is too long", peer_name, dir);
		return -ENAMETOOLONG;
	}
	buf = malloc(n * JOURNAL_LINE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < gone->n_forwards; i++)
		journal_line(buf, &len, '-', &gone->forwards[i]);
	for (size_t i = 0; i < came->n_forwards; i++)
		journal_line(buf, &len, '+', &came->forwards[i]);
	if (*fd < 0)
		*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		free(buf);
		return ret;
	}
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode))
		ret = -EBADF;
	/* One write: a crash leaves whole lines and at most a torn last one, which is skipped. */
	if (!ret)
		ret = write_all(*fd, buf, len);
	if (!ret && sync)
		ret = sync_journal(*fd, dir, st.st_size == 0);
	if (ret)
		snprintf(err, errlen, "cannot append to %s: %s", path, strerror(-ret));
	*size = (size_t)st.st_size + len;
	if (ret) {
		close(*fd);
		*fd = -1;
	}
	free(buf);
	return ret;
}

/* One journal line onto the entries: each says what one key maps to, or that it maps to
 * nothing, so lines said twice change nothing more. 1 when it applied, 0 when it is not a
 * line of a journal, -ENOMEM. */
static int journal_apply(struct wf_gw_entries *e, const char *line)
{
	char op, family[8], proto[8];
	unsigned pub, target;
	struct wf_ctl_forward f;
	size_t at;
	int end = 0;

	if (sscanf(line, "%c %7s %7s %u %u%n", &op, family, proto, &pub, &target, &end) != 5 ||
	    (line[end] != '\n' && line[end] != '\0') || (op != '+' && op != '-') ||
	    (strcmp(family, "ipv4") && strcmp(family, "ipv6")) ||
	    (strcmp(proto, "tcp") && strcmp(proto, "udp")) || !pub || pub > 65535 || !target ||
	    target > 65535)
		return 0;
	f = (struct wf_ctl_forward){.family = strcmp(family, "ipv6") ? AF_INET : AF_INET6,
	                            .proto = strcmp(proto, "udp") ? IPPROTO_TCP : IPPROTO_UDP,
	                            .public_port = (uint16_t)pub,
	                            .target_port = (uint16_t)target};
	at = wf_gw_entries_forward_at(e, &f);
	if (at < e->n_forwards && !wf_gw_forward_cmp(&e->forwards[at], &f)) {
		if (op == '+') {
			e->forwards[at] = f;
		} else if (e->forwards[at].target_port == f.target_port) {
			memmove(&e->forwards[at], &e->forwards[at + 1],
			        (e->n_forwards - at - 1) * sizeof(f));
			e->n_forwards--;
		}
		return 1;
	}
	if (op == '-')
		return 1;
	/* Grown the adder's way, then moved into place. */
	if (wf_gw_entries_add_forward(e, &f))
		return -ENOMEM;
	memmove(&e->forwards[at + 1], &e->forwards[at], (e->n_forwards - 1 - at) * sizeof(f));
	e->forwards[at] = f;
	return 1;
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* Replays the peer's journal, if any, onto what its file held; it stops at the first line
 * that is not whole (a write a crash cut short). */
static int journal_replay(const char *dir, const char *peer_name, struct wf_gw_entries *e,
                          bool *found)
{
	char path[4096], why[256], *buf = NULL, *line, *nl;
	size_t len = 0;
	int ret;

	*found = false;
	if (journal_path(dir, peer_name, path, sizeof(path)))
		return 0;
	ret = read_file(path, &buf, &len, why, sizeof(why));
	if (ret)
		return ret == -ENOMEM ? ret : 0;
	*found = true;
	for (line = buf; (nl = memchr(line, '\n', len - (size_t)(line - buf))); line = nl + 1) {
		*nl = '\0';
		ret = journal_apply(e, line);
		if (ret <= 0)
			break;
	}
	free(buf);
	return ret < 0 ? ret : 0;
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	size_t have = 0;
	int ret = 0;

	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > STORE_FILE_MAX) {
		ret = -EBADMSG;
		snprintf(err, errlen, "not a regular file of at most %u bytes", STORE_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while (have < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (!n)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return ret;
}

static int store_read(const char *dir, const char *peer_name, struct wf_gw_entries *e, char *path,
                      size_t pathlen, char *why, size_t whylen)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = wf_gw_store_path(dir, peer_name, path, pathlen);
	if (ret) {
		snprintf(why, whylen, "state file name for %s in %s is too long", peer_name, dir);
		return ret;
	}
	ret = read_file(path, &buf, &len, why, whylen);
	if (!ret) {
		/* Drop the newline the writer adds after the object. */
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
			len--;
		ret = wf_gw_store_decode(buf, len, peer_name, e, why, whylen);
	}
	free(buf);
	if (!ret || ret == -ENOENT) {
		bool found;
		int jret = journal_replay(dir, peer_name, e, &found);

		if (jret)
			ret = jret;
		else if (found)
			ret = 0;
	}
	return ret;
}

int wf_gw_store_read(const char *dir, const char *peer_name, struct wf_gw_entries *e, char *err,
                     size_t errlen)
{
	char path[4096], why[256] = "";
	int ret = store_read(dir, peer_name, e, path, sizeof(path), why, sizeof(why));

	if (ret && ret != -ENOENT)
		snprintf(err, errlen, "%s: %s", path, why);
	return ret;
}

int wf_gw_store_load(const char *dir, const char *peer_name, struct wf_gw_entries *e, char *err,
                     size_t errlen)
{
	char path[4096], aside[4096 + 32], why[256] = "";
	int ret = store_read(dir, peer_name, e, path, sizeof(path), why, sizeof(why));

	if (ret != -EBADMSG) {
		if (ret && ret != -ENOENT)
			snprintf(err, errlen, "%s: %s", path, why);
		return ret;
	}
	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, aside) < 0)
		snprintf(err, errlen, "%s: %s (and it could not be moved aside: %s)", path, why,
		         strerror(errno));
	else
		snprintf(err, errlen, "%s: %s (moved aside to %s)", path, why, aside);
	return -EBADMSG;
}
