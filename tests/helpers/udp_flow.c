/*
 * udp_flow: one long-lived UDP flow, for scenarios that must show a flow keeps going while
 * things break around it. One socket, so one source port and one conntrack entry throughout.
 *
 *   udp_flow [-s SRCADDR] [-p SRCPORT] [-i MS] ADDR PORT
 *	sends "seq N" every MS milliseconds (default 100), N counting from 1, and prints the N of
 *	every answer on its own line as it arrives (udp_echo serve answers with the payload at
 *	the end of its line). Runs until killed.
 *
 * Addresses are numeric only (static binary).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_addr(const char *text, unsigned port, struct sockaddr_in6 *sa)
{
	struct in_addr v4;

	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons((unsigned short)port);
	if (inet_pton(AF_INET6, text, &sa->sin6_addr) == 1)
		return 0;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		sa->sin6_addr.s6_addr[10] = 0xff;
		sa->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sa->sin6_addr.s6_addr[12], &v4, sizeof(v4));
		return 0;
	}
	fprintf(stderr, "udp_flow: invalid address `%s'\n", text);
	return -EINVAL;
}

/* The answer ends with our payload "seq N": print N. */
static void report(const char *buf)
{
	const char *p = strstr(buf, "seq ");

	if (p)
		printf("%ld\n", strtol(p + 4, NULL, 10));
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 dst, src;
	const char *src_addr = "::";
	unsigned src_port = 0, interval = 100;
	long long next;
	unsigned long seq = 0;
	int opt, fd, off = 0;

	while ((opt = getopt(argc, argv, "s:p:i:")) != -1) {
		switch (opt) {
		case 's':
			src_addr = optarg;
			break;
		case 'p':
			src_port = (unsigned)atoi(optarg);
			break;
		case 'i':
			interval = (unsigned)atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2 || !interval)
		goto usage;
	if (parse_addr(argv[optind], (unsigned)atoi(argv[optind + 1]), &dst) ||
	    parse_addr(src_addr, src_port, &src))
		return 2;
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		perror("udp_flow");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	next = now_ms();
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long now = now_ms();
		char buf[1024];
		ssize_t n;

		if (now >= next) {
			int len = snprintf(buf, sizeof(buf), "seq %lu", ++seq);

			/* Errors (unreachable while a route is gone) are part of what is measured.
			 */
			(void)sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&dst, sizeof(dst));
			next += interval;
			if (next < now)
				next = now + interval;
			continue;
		}
		if (poll(&pfd, 1, (int)(next - now)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		report(buf);
	}
usage:
	fprintf(stderr, "usage: udp_flow [-s SRCADDR] [-p SRCPORT] [-i MS] ADDR PORT\n");
	return 2;
}
