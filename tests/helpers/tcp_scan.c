/*
 * tcp_scan: which TCP ports of one address accept a connection, all tried at once.
 *
 *   tcp_scan [-t MS] ADDR PORT|LO-HI...
 *	starts a non-blocking connect to every port listed, waits at most MS milliseconds
 *	(default 2000) for the answers and prints each port that accepted, one per line, in
 *	order. A reset, an ICMP error or silence all count as closed.
 *
 * At most 4096 ports per run. Addresses are numeric only (static binary).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORTS_MAX 4096

static struct pollfd pfds[PORTS_MAX];
static unsigned short ports[PORTS_MAX];
static char open_port[65536];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int add_ports(const char *spec, size_t *n)
{
	char *end;
	long lo = strtol(spec, &end, 10), hi = lo;

	if (*end == '-')
		hi = strtol(end + 1, &end, 10);
	if (*end || lo < 1 || hi > 65535 || lo > hi) {
		fprintf(stderr, "tcp_scan: `%s' is not a port or LO-HI\n", spec);
		return -EINVAL;
	}
	for (long p = lo; p <= hi; p++) {
		if (*n == PORTS_MAX) {
			fprintf(stderr, "tcp_scan: at most %d ports\n", PORTS_MAX);
			return -E2BIG;
		}
		ports[(*n)++] = (unsigned short)p;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct rlimit rl = {PORTS_MAX + 64, PORTS_MAX + 64};
	socklen_t len;
	long long deadline;
	int opt, timeout = 2000, pending = 0;
	size_t n = 0;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			goto usage;
		timeout = atoi(optarg);
	}
	if (argc - optind < 2)
		goto usage;
	if (inet_pton(AF_INET, argv[optind], &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, argv[optind], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		len = sizeof(*sin6);
	} else {
		fprintf(stderr, "tcp_scan: `%s' is not an address\n", argv[optind]);
		return 2;
	}
	for (int i = optind + 1; i < argc; i++)
		if (add_ports(argv[i], &n))
			return 2;
	setrlimit(RLIMIT_NOFILE, &rl);
	for (size_t i = 0; i < n; i++) {
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

		pfds[i].fd = -1;
		if (fd < 0) {
			perror("tcp_scan: socket");
			return 1;
		}
		if (ss.ss_family == AF_INET)
			sin->sin_port = htons(ports[i]);
		else
			sin6->sin6_port = htons(ports[i]);
		if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
			open_port[ports[i]] = 1;
			close(fd);
		} else if (errno == EINPROGRESS) {
			pfds[i].fd = fd;
			pfds[i].events = POLLOUT;
			pending++;
		} else {
			close(fd);
		}
	}
	deadline = now_ms() + timeout;
	while (pending > 0 && now_ms() < deadline) {
		if (poll(pfds, n, (int)(deadline - now_ms())) <= 0)
			break;
		for (size_t i = 0; i < n; i++) {
			int err = 0;
			socklen_t elen = sizeof(err);

			if (pfds[i].fd < 0 || !pfds[i].revents)
				continue;
			getsockopt(pfds[i].fd, SOL_SOCKET, SO_ERROR, &err, &elen);
			if (!err)
				open_port[ports[i]] = 1;
			close(pfds[i].fd);
			pfds[i].fd = -1;
			pending--;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (pfds[i].fd >= 0)
			close(pfds[i].fd);
	for (int p = 1; p < 65536; p++)
		if (open_port[p])
			printf("%d\n", p);
	return 0;
usage:
	fprintf(stderr, "usage: tcp_scan [-t MS] ADDR PORT|LO-HI...\n");
	return 2;
}
