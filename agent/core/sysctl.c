#include <wgfwd/sysctl.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wf_sysctl_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int wf_sysctl_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

int wf_sysctl_read_int(const char *path)
{
	char buf[32], *end;
	long v;

	if (wf_sysctl_read(path, buf, sizeof(buf)))
		return -1;
	v = strtol(buf, &end, 10);
	if (end == buf || v < 0 || v > 1000000)
		return -1;
	return (int)v;
}

static bool docker_bridge_name(const char *ifname)
{
	if (!strcmp(ifname, "docker0"))
		return true;
	if (strncmp(ifname, "br-", 3) || strlen(ifname) != 15)
		return false;
	for (const char *c = ifname + 3; *c; c++)
		if (!isxdigit((unsigned char)*c) || isupper((unsigned char)*c))
			return false;
	return true;
}

bool wf_sysctl_ra_candidate(const char *ifname, const char *tunnel_ifname)
{
	if (!strcmp(ifname, "all") || !strcmp(ifname, "default") || !strcmp(ifname, "lo"))
		return false;
	if (tunnel_ifname && !strcmp(ifname, tunnel_ifname))
		return false;
	/* Docker names a container's host-side link veth<7 hex>; it is a bridge port. */
	return !docker_bridge_name(ifname) && strncmp(ifname, "veth", 4);
}

int wf_sysctl_ra_ignoring(const char *conf_dir, const char *sys_net_dir, const char *tunnel_ifname,
                          char (*names)[IF_NAMESIZE], size_t max, size_t *n)
{
	DIR *dir = opendir(conf_dir);
	struct dirent *e;
	char path[512];

	*n = 0;
	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= IF_NAMESIZE ||
		    !wf_sysctl_ra_candidate(e->d_name, tunnel_ifname))
			continue;
		snprintf(path, sizeof(path), "%s/%s/accept_ra", conf_dir, e->d_name);
		if (wf_sysctl_read_int(path) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s/disable_ipv6", conf_dir, e->d_name);
		if (wf_sysctl_read_int(path) == 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s/brport", sys_net_dir, e->d_name);
		if (access(path, F_OK) == 0)
			continue;
		if (*n < max)
			strcpy(names[*n], e->d_name);
		(*n)++;
	}
	closedir(dir);
	if (*n > max)
		*n = max;
	return 0;
}
