/*
 * udp_echo: the lab's UDP service and client, static so it runs in a busybox container.
 *
 *   udp_echo serve [-p PORT] [-n NAME]
 *	answers every datagram with one line "ADDR PORT NAME PAYLOAD": the source address and
 *	port the service saw, who answered (NAME, default the host name) and what was sent.
 *	IPv4 sources are printed as plain dotted quads, never as ::ffff:a.b.c.d.
 *   udp_echo send [-s SRCADDR] [-p SRCPORT] [-t SECONDS] ADDR PORT [MESSAGE]
 *	sends one datagram and prints the first answer; exits 1 when none came in time.
 *
 * Addresses are numeric only: name lookups in a static glibc binary need shared libraries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 5353

static int parse_port(const char *text, unsigned short *port)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || *end || end == text || value > 65535) {
		fprintf(stderr, "udp_echo: invalid port `%s'\n", text);
		return -EINVAL;
	}
	*port = (unsigned short)value;
	return 0;
}

/* Fills a sockaddr_in6 for ADDR (IPv4 becomes v4-mapped) so one dual-stack socket serves both. */
static int parse_addr(const char *text, unsigned short port, struct sockaddr_in6 *sa)
{
	struct in_addr v4;

	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(port);
	if (inet_pton(AF_INET6, text, &sa->sin6_addr) == 1)
		return 0;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		sa->sin6_addr.s6_addr[10] = 0xff;
		sa->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sa->sin6_addr.s6_addr[12], &v4, sizeof(v4));
		return 0;
	}
	fprintf(stderr, "udp_echo: invalid address `%s'\n", text);
	return -EINVAL;
}

static void format_addr(const struct sockaddr_in6 *sa, char *buf, size_t len)
{
	if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr))
		inet_ntop(AF_INET, &sa->sin6_addr.s6_addr[12], buf, len);
	else
		inet_ntop(AF_INET6, &sa->sin6_addr, buf, len);
}

static int open_dual_stack(void)
{
	int fd, off = 0;

	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp_echo: socket");
		return -errno;
	}
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0) {
		perror("udp_echo: IPV6_V6ONLY");
		close(fd);
		return -errno;
	}
	return fd;
}

static int serve(int argc, char **argv)
{
	unsigned short port = DEFAULT_PORT;
	char name[256] = "";
	struct sockaddr_in6 sa;
	int fd, opt;

	while ((opt = getopt(argc, argv, "p:n:")) != -1) {
		switch (opt) {
		case 'p':
			if (parse_port(optarg, &port) < 0)
				return 2;
			break;
		case 'n':
			snprintf(name, sizeof(name), "%s", optarg);
			break;
		default:
			return 2;
		}
	}
	if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
		snprintf(name, sizeof(name), "unknown");

	fd = open_dual_stack();
	if (fd < 0)
		return 1;
	parse_addr("::", port, &sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("udp_echo: bind");
		return 1;
	}
	printf("udp_echo: %s listening on udp/%u\n", name, port);
	fflush(stdout);

	for (;;) {
		char payload[1024], reply[1400], from[INET6_ADDRSTRLEN];
		struct sockaddr_in6 peer;
		socklen_t peer_len = sizeof(peer);
		ssize_t n;
		int len;

		n = recvfrom(fd, payload, sizeof(payload) - 1, 0, (struct sockaddr *)&peer,
		             &peer_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("udp_echo: recvfrom");
			return 1;
		}
		while (n > 0 && (payload[n - 1] == '\n' || payload[n - 1] == '\r'))
			n--;
		payload[n] = '\0';
		format_addr(&peer, from, sizeof(from));
		len = snprintf(reply, sizeof(reply), "%s %u %s %s\n", from, ntohs(peer.sin6_port),
		               name, payload);
		if (len >= (int)sizeof(reply))
			len = sizeof(reply) - 1;
		fputs(reply, stdout);
		fflush(stdout);
		if (sendto(fd, reply, len, 0, (struct sockaddr *)&peer, peer_len) < 0)
			perror("udp_echo: sendto");
	}
}

static int send_one(int argc, char **argv)
{
	const char *source = NULL, *message = "ping";
	unsigned short source_port = 0, port;
	struct sockaddr_in6 local, remote;
	struct pollfd pfd;
	char reply[1500];
	int fd, opt, timeout_ms = 3000;
	ssize_t n;

	while ((opt = getopt(argc, argv, "s:p:t:")) != -1) {
		switch (opt) {
		case 's':
			source = optarg;
			break;
		case 'p':
			if (parse_port(optarg, &source_port) < 0)
				return 2;
			break;
		case 't':
			timeout_ms = atoi(optarg) * 1000;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind < 2 || argc - optind > 3) {
		fprintf(stderr, "usage: udp_echo send [-s SRCADDR] [-p SRCPORT] [-t SECONDS] "
		                "ADDR PORT [MESSAGE]\n");
		return 2;
	}
	if (parse_port(argv[optind + 1], &port) < 0 || parse_addr(argv[optind], port, &remote) < 0)
		return 2;
	if (argc - optind == 3)
		message = argv[optind + 2];

	fd = open_dual_stack();
	if (fd < 0)
		return 1;
	if (source || source_port) {
		int on = 1;

		if (parse_addr(source ? source : "::", source_port, &local) < 0)
			return 2;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
			perror("udp_echo: bind");
			return 1;
		}
	}
	/* connect() makes the kernel drop answers from anyone but the peer asked. */
	if (connect(fd, (struct sockaddr *)&remote, sizeof(remote)) < 0) {
		perror("udp_echo: connect");
		return 1;
	}
	if (send(fd, message, strlen(message), 0) < 0) {
		perror("udp_echo: send");
		return 1;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, timeout_ms) <= 0) {
		fprintf(stderr, "udp_echo: no answer from %s port %u\n", argv[optind], port);
		return 1;
	}
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	if (n < 0) {
		perror("udp_echo: recv");
		return 1;
	}
	reply[n] = '\0';
	fputs(reply, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return serve(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return send_one(argc - 1, argv + 1);
	fprintf(stderr, "usage: udp_echo serve [-p PORT] [-n NAME]\n"
	                "       udp_echo send [-s SRCADDR] [-p SRCPORT] [-t SECONDS] ADDR PORT "
	                "[MESSAGE]\n");
	return 2;
}
