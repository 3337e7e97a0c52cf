#include "wg_uapi.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int wf_wg_uapi_last_handshake(const char *answer, int64_t *sec)
{
	bool done = false;

	*sec = 0;
	for (const char *line = answer; line && *line;) {
		const char *nl = strchr(line, '\n');
		long long v;

		if (sscanf(line, "last_handshake_time_sec=%lld", &v) == 1 && v > *sec)
			*sec = v;
		else if (!strncmp(line, "errno=", 6))
			done = atoi(line + 6) == 0;
		line = nl ? nl + 1 : NULL;
	}
	return done ? 0 : -EINVAL;
}

int wf_wg_last_handshake(const char *ifname, int64_t *sec)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char buf[16384];
	size_t len = 0;
	int fd, err = 0;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", WF_WG_UAPI_DIR,
	                     ifname) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) || write(fd, "get=1\n\n", 7) != 7) {
		err = errno == ECONNREFUSED ? -ENOENT : -errno;
		goto out;
	}
	/* The answer ends with a blank line; a stuck implementation must not stall the agent. */
	while (len < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 200) != 1) {
			err = -ETIMEDOUT;
			goto out;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\n\n"))
			break;
	}
	buf[len] = '\0';
	err = wf_wg_uapi_last_handshake(buf, sec);
out:
	close(fd);
	return err;
}
