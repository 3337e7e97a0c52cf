#include <wgfwd/hostport.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wf_port_parse(const char *text, bool allow_zero, uint16_t *port)
{
	unsigned long v = 0;

	if (!*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (!v && !allow_zero)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* Splits text into its address and port parts; port is NULL when none is given. */
static int split(const char *text, char *host, size_t size, const char **port, bool *bracketed)
{
	const char *colon, *end;

	*port = NULL;
	*bracketed = text[0] == '[';
	if (*bracketed) {
		end = strchr(text, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		if (end[1] == ':')
			*port = end + 2;
		text++;
	} else {
		colon = strchr(text, ':');
		/* More than one colon: a bare IPv6 address, which cannot carry a port. */
		if (colon && !strchr(colon + 1, ':')) {
			end = colon;
			*port = colon + 1;
		} else {
			end = text + strlen(text);
		}
	}
	if ((size_t)(end - text) >= size)
		return -EINVAL;
	memcpy(host, text, (size_t)(end - text));
	host[end - text] = '\0';
	return 0;
}

/* One address of the families allowed, and the port, into ss. */
static int fill(const char *host, uint16_t port, bool v4, bool v6, struct sockaddr_storage *ss,
                socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (v4 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (v6 && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

int wf_sockaddr_from(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	return fill(addr, port, true, true, ss, len);
}

int wf_hostport_parse(const char *text, uint16_t default_port, bool allow_zero,
                      struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	uint16_t port = default_port;
	bool bracketed;

	memset(ss, 0, sizeof(*ss));
	if (!*text || split(text, host, sizeof(host), &port_text, &bracketed) ||
	    (!port_text && !default_port)) {
		snprintf(err, errlen, "`%s': expected %s", text,
		         default_port
		             ? "ADDR[:PORT], [ADDR6][:PORT] or ADDR6"
		             : "ADDR:PORT or [ADDR6]:PORT, e.g. 127.0.0.1:9586 or [::1]:9586");
		return -EINVAL;
	}
	if (port_text && wf_port_parse(port_text, allow_zero, &port)) {
		snprintf(err, errlen, "`%s': `%s' is not a port", text, port_text);
		return -EINVAL;
	}
	if (!fill(host, port, !bracketed, bracketed || !port_text, ss, len))
		return 0;
	snprintf(err, errlen, "`%s': `%s' is not a numeric IP address", text, host);
	return -EINVAL;
}

void wf_hostport_text(const struct sockaddr *sa, char *out, size_t len)
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

int wf_tcp_listen(const struct sockaddr_storage *ss, socklen_t len, bool freebind)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (freebind)
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
