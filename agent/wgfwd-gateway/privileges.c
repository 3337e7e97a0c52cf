#include "privileges.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <wgfwd/log.h>

int wf_gw_user_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *found = NULL;
	char buf[2048];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) || !found) {
		snprintf(err, errlen, "no user %s (create one: useradd --system %s)", name, name);
		return -ENOENT;
	}
	*uid = found->pw_uid;
	*gid = found->pw_gid;
	return 0;
}

static int become(uid_t uid, gid_t gid)
{
	/* Permitted capabilities survive the change of uid only with KEEPCAPS; the effective
	 * set is cleared by it and raised again by the capset that follows. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ? -errno : 0;
}

static bool already(uid_t uid, gid_t gid)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	return !getresuid(&r, &e, &s) && !getresgid(&rg, &eg, &sg) && r == uid && e == uid &&
	       s == uid && rg == gid && eg == gid && sg == gid;
}

int wf_gw_drop_privileges(uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	int ret = 0;

	/* The bounding set first: it takes CAP_SETPCAP, which the capset below gives up. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		/* Already gone (a service manager's bounding set): nothing to ask for. */
		if (cap == CAP_NET_ADMIN || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			ret = 1;
	}
	/* Then the user, while CAP_SETUID and CAP_SETGID are still effective. A service manager
	 * that started the daemon as that user left nothing to change, and nothing to do it with.
	 */
	if ((uid || gid) && !already(uid, gid)) {
		int err = become(uid, gid);

		if (err)
			return err;
	}
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	/* Keep CAP_NET_ADMIN only where the process had it: capset cannot add. An empty
	 * inheritable set also empties the ambient one: nothing the daemon might run keeps it. */
	for (size_t i = 0; i < 2; i++) {
		uint32_t keep = i == CAP_TO_INDEX(CAP_NET_ADMIN) ? CAP_TO_MASK(CAP_NET_ADMIN) : 0;

		data[i].permitted &= keep;
		data[i].effective = data[i].permitted;
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return ret;
}

static int hand_over(int dirfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
		return -errno;
	if (st.st_uid == uid && st.st_gid == gid)
		return 0;
	return fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0 ? -errno
	                                                                                : 0;
}

static int hand_over_dir(const char *dir, uid_t uid, gid_t gid)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), err;
	struct dirent *de;
	DIR *list;

	err = dfd < 0 ? -errno : hand_over(dfd, "", uid, gid);
	if (err) {
		log_error("cannot hand the state directory %s to uid %u: %s%s", dir, (unsigned)uid,
		          strerror(-err),
		          err == -EPERM ? " (it takes CAP_CHOWN once, or chown it yourself)" : "");
		if (dfd >= 0)
			close(dfd);
		return err;
	}
	list = fdopendir(dfd);
	if (!list) {
		err = -errno;
		close(dfd);
		return err;
	}
	while ((de = readdir(list))) {
		int ret = de->d_name[0] == '.' ? 0 : hand_over(dirfd(list), de->d_name, uid, gid);

		if (ret && !err) {
			err = ret;
			log_error("cannot hand %s/%s to uid %u: %s", dir, de->d_name, (unsigned)uid,
			          strerror(-err));
		}
	}
	closedir(list);
	return err;
}

int wf_gw_files_as_user(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;
	int err;

	if ((!uid && !gid) || geteuid() != 0)
		return 0;
	if (lstat(dir, &st) < 0)
		return -errno;
	/* The user's already (made for it, or by an earlier start): a root without
	 * CAP_DAC_OVERRIDE could not even list it. */
	if (st.st_uid != uid || st.st_gid != gid) {
		err = hand_over_dir(dir, uid, gid);
		if (err)
			return err;
	}
	setfsgid(gid);
	setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid) {
		log_error("cannot open files as uid %u", (unsigned)uid);
		return -EPERM;
	}
	return 0;
}

void wf_gw_files_as_self(void)
{
	setfsuid(geteuid());
	setfsgid(getegid());
}

int wf_gw_settle_privileges(uid_t uid, gid_t gid)
{
	int err = wf_gw_drop_privileges(uid, gid);

	if (err < 0 && (uid || gid)) {
		log_error("cannot become uid %u gid %u: %s%s", (unsigned)uid, (unsigned)gid,
		          strerror(-err),
		          err == -EPERM
		              ? " (the change takes CAP_SETUID, CAP_SETGID and CAP_SETPCAP; "
		                "a container: --cap-add SETUID --cap-add SETGID --cap-add "
		                "SETPCAP; or stay root without the user option: "
		                "WGFWD_USER=)"
		              : "");
		return err;
	}
	if (err < 0)
		log_warn("keeping more privileges than CAP_NET_ADMIN: %s", strerror(-err));
	if (err > 0)
		log_warn("the capability bounding set keeps more than CAP_NET_ADMIN (dropping them "
		         "takes CAP_SETPCAP); no_new_privs keeps them out of reach");
	/* Capabilities do not guard files: uid 0 still owns /etc and /root, and a compromised
	 * daemon could write a cron job or an ssh key and be root again. */
	if (geteuid() == 0)
		log_warn(
		    "running as root (uid 0)%s: a compromised gateway would still own root's "
		    "files; run it as a user of its own: wgfwd-gateway.service does (User=wgfwd), "
		    "or `user = wgfwd' in the configuration (useradd --system wgfwd)",
		    err < 0 ? "" : " with CAP_NET_ADMIN only");
	else if (err >= 0)
		log_info("running as uid %u gid %u with CAP_NET_ADMIN only", (unsigned)geteuid(),
		         (unsigned)getegid());
	return 0;
}

int wf_gw_key_source(const char *path, char *out, size_t len)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY"), *base = strrchr(path, '/');
	struct stat st;
	int n;

	base = base ? base + 1 : path;
	if (dir && dir[0] == '/' && base[0]) {
		n = snprintf(out, len, "%s/%s", dir, base);
		if (n < 0 || (size_t)n >= len)
			return -ENAMETOOLONG;
		if (!lstat(out, &st))
			return 1;
	}
	n = snprintf(out, len, "%s", path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
