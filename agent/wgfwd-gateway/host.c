#include "host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <wgfwd/log.h>
#include <wgfwd/sysctl.h>
#include <wgfwd/util.h>

/* Sets path to want unless it already holds it; logs what changed and why. */
static int sysctl_set(const char *path, const char *want, const char *why)
{
	char cur[32];
	int err = wf_sysctl_read(path, cur, sizeof(cur));

	if (!err && strcmp(cur, want)) {
		err = wf_sysctl_write(path, want);
		if (err)
			log_error("cannot set %s to %s (%s): %s", path, want, why, strerror(-err));
		else
			log_info("set %s from %s to %s: %s", path, cur, want, why);
	}
	return err;
}

int wf_gw_enable_forwarding(const char *public_ifname)
{
	char path[128], cur[8] = "";
	int err;

	err = sysctl_set("/proc/sys/net/ipv4/ip_forward", "1",
	                 "public ports are forwarded into the tunnel");
	if (err) {
		log_error("cannot switch on IPv4 forwarding: %s", strerror(-err));
		return err;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", public_ifname);
	if (wf_sysctl_read(path, cur, sizeof(cur)) == 0 && !strcmp(cur, "1"))
		sysctl_set(path, "2",
		           "keep accepting router advertisements once IPv6 forwarding is on");
	err = sysctl_set("/proc/sys/net/ipv6/conf/all/forwarding", "1",
	                 "IPv6 public ports are forwarded into the tunnel");
	if (err == -ENOENT)
		log_warn("IPv6 is disabled on this host: only IPv4 is forwarded");
	else if (err)
		log_warn("IPv6 forwarding stays off: only IPv4 is forwarded");
	return 0;
}

static int cmp4(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct in_addr));
}

static int cmp6(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct in6_addr));
}

int wf_gw_interface_addresses(const char *ifname, struct in_addr *ip4, size_t *n4,
                              struct in6_addr *ip6, size_t *n6)
{
	struct ifaddrs *list, *ifa;

	*n4 = *n6 = 0;
	if (!if_nametoindex(ifname))
		return -ENODEV;
	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || strcmp(ifa->ifa_name, ifname))
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET && *n4 < WF_GW_PUBLIC_MAX) {
			ip4[(*n4)++] = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
		} else if (ifa->ifa_addr->sa_family == AF_INET6 && *n6 < WF_GW_PUBLIC_MAX) {
			const struct in6_addr *a =
			    &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;

			if (!IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_MULTICAST(a))
				ip6[(*n6)++] = *a;
		}
	}
	freeifaddrs(list);
	qsort(ip4, *n4, sizeof(*ip4), cmp4);
	qsort(ip6, *n6, sizeof(*ip6), cmp6);
	return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int wf_gw_listen_parse(const char *text, uint16_t default_port, struct sockaddr_storage *ss,
                       socklen_t *len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_text = NULL, *colon;
	uint16_t port = default_port;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || (size_t)(close - text - 1) >= sizeof(host) ||
		    (close[1] && close[1] != ':'))
			goto bad;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		if (close[1] == ':')
			port_text = close + 2;
	} else {
		colon = strchr(text, ':');
		/* More than one colon: a bare IPv6 address. */
		if (colon && !strchr(colon + 1, ':')) {
			if ((size_t)(colon - text) >= sizeof(host))
				goto bad;
			memcpy(host, text, (size_t)(colon - text));
			host[colon - text] = '\0';
			port_text = colon + 1;
		} else {
			if (strlen(text) >= sizeof(host))
				goto bad;
			strcpy(host, text);
		}
	}
	if ((!port_text || !parse_port(port_text, &port)) && !wf_sockaddr_from(host, port, ss, len))
		return 0;
bad:
	snprintf(err, errlen, "listen address `%s': expected ADDR[:PORT] or [ADDR6]:PORT", text);
	return -EINVAL;
}

void wf_gw_sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		snprintf(out, len, "%s:%u", addr, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
		snprintf(out, len, "[%s]:%u", addr, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, len, "(family %u)", sa->sa_family);
	}
}

int wf_gw_listen_socket(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The tunnel address may come up after the daemon (WireGuard restarting). */
	setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 16) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

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
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && !ret)
			ret = -errno;
	}
	/* Then the user, while CAP_SETUID and CAP_SETGID are still effective. */
	if (uid || gid) {
		int err = become(uid, gid);

		if (err)
			return err;
	}
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	/* Keep CAP_NET_ADMIN only where the process had it: capset cannot add. */
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
