/* Benchmark traffic: a sink, a new-connection load generator, a bulk sender and a convergence
 * probe. Only ever talks to the addresses it is given (bench/run.sh gives it addresses inside
 * its own network namespaces or the lab's).
 *
 *   wfb_net sink PORT [PORT_HI]
 *       accept on [::]:PORT..PORT_HI (IPv4 too), read and discard, close at EOF; runs until
 *       killed
 *   wfb_net connrate ADDR PORT_LO PORT_HI SECONDS CONCURRENCY
 *       new TCP connections per second (handshake completed, then reset), ports cycled
 *   wfb_net latency ADDR PORT_LO PORT_HI COUNT
 *       handshake time of COUNT connections made one after another, ports spread evenly over
 *       the range
 *   wfb_net bulk ADDR PORT SECONDS
 *       send for SECONDS, then count until the receiver has read everything
 *   wfb_net probe up|down ADDR TIMEOUT_S INTERVAL_MS PORT...
 *       try each port every INTERVAL_MS, attempts overlapping, until it answers (up) or
 *       refuses (down); prints "PORT <CLOCK_REALTIME ns>" as each one gets there, "PORT
 *       timeout" for the others */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "wfb_net: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned long num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end) {
		fprintf(stderr, "wfb_net: not a number: %s\n", s);
		exit(2);
	}
	return v;
}

static socklen_t make_addr(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return sizeof(*in4);
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return sizeof(*in6);
	}
	fprintf(stderr, "wfb_net: not an address: %s\n", addr);
	exit(2);
}

/* A connection reset rather than closed: no TIME_WAIT piles up on either end. */
static void close_reset(int fd)
{
	struct linger l = {1, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static int connect_nb(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(&ss, addr, port);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- sink ---- */

static int listen_on(int ep, unsigned port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
	                         .sin6_port = htons((uint16_t)port),
	                         .sin6_addr = IN6ADDR_ANY_INIT};
	struct epoll_event ev = {.events = EPOLLIN};
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096))
		die("listen");
	/* listening sockets are told apart from connections by the top bit */
	ev.data.u64 = (1ULL << 32) | (unsigned)fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	return fd;
}

static _Noreturn void mode_sink(unsigned lo, unsigned hi)
{
	struct rlimit rl = {hi - lo + 1024, hi - lo + 1024};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	static char buf[256 * 1024];

	if (ep < 0)
		die("epoll");
	/* one listening socket per port: more descriptors than the default limit */
	if (hi - lo + 1024 > 1024)
		setrlimit(RLIMIT_NOFILE, &rl);
	for (unsigned port = lo; port <= hi; port++)
		listen_on(ep, port);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			int fd = (int)(evs[i].data.u64 & 0xffffffffu);

			if (evs[i].data.u64 >> 32) {
				int c;

				while ((c = accept4(fd, NULL, NULL,
				                    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = {.events = EPOLLIN,
					                          .data.u64 = (unsigned)c};

					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				close(fd); /* EOF or reset */
				break;
			}
		}
	}
}

/* ---- new connections ---- */

struct slot {
	int fd;
	double started;
};

static int mode_connrate(const char *addr, unsigned lo, unsigned hi, double seconds, unsigned conc)
{
	struct slot *slots = calloc(conc, sizeof(*slots));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned long ok = 0, failed = 0, stuck = 0;
	unsigned port = lo;
	double start = mono_s(), end = start + seconds, now;

	if (!slots || ep < 0)
		die("setup");
	for (unsigned i = 0; i < conc; i++)
		slots[i].fd = -1;
	while ((now = mono_s()) < end) {
		struct epoll_event evs[256];
		int n;

		for (unsigned i = 0; i < conc; i++) {
			if (slots[i].fd >= 0 && now - slots[i].started > 1.0) {
				close_reset(slots[i].fd);
				slots[i].fd = -1;
				stuck++;
			}
			if (slots[i].fd < 0) {
				struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};

				slots[i].fd = connect_nb(addr, port);
				port = port >= hi ? lo : port + 1;
				if (slots[i].fd < 0) {
					failed++;
					continue;
				}
				slots[i].started = now;
				epoll_ctl(ep, EPOLL_CTL_ADD, slots[i].fd, &ev);
			}
		}
		n = epoll_wait(ep, evs, 256, 10);
		for (int k = 0; k < n; k++) {
			struct slot *s = &slots[evs[k].data.u32];
			int err = 0;
			socklen_t len = sizeof(err);

			getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err)
				failed++;
			else
				ok++;
			close_reset(s->fd);
			s->fd = -1;
		}
	}
	now = mono_s();
	for (unsigned i = 0; i < conc; i++)
		if (slots[i].fd >= 0)
			close_reset(slots[i].fd);
	printf("connrate %lu connections in %.2f s: %.0f per second (%lu failed, %lu unanswered)\n",
	       ok, now - start, (double)ok / (now - start), failed, stuck);
	free(slots);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int mode_latency(const char *addr, unsigned lo, unsigned hi, unsigned count)
{
	double *us = calloc(count, sizeof(double));
	unsigned done = 0, failed = 0;

	if (!us)
		die("setup");
	for (unsigned i = 0; i < count; i++) {
		/* spread over the whole range, whatever COUNT is */
		unsigned port = lo + (unsigned)((unsigned long long)i * (hi - lo + 1) / count);
		struct sockaddr_storage ss;
		socklen_t len = make_addr(&ss, addr, port);
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		double t0;

		if (fd < 0)
			die("socket");
		t0 = mono_s();
		if (connect(fd, (struct sockaddr *)&ss, len) == 0)
			us[done++] = (mono_s() - t0) * 1e6;
		else
			failed++;
		close_reset(fd);
	}
	qsort(us, done, sizeof(*us), cmp_double);
	if (done)
		printf(
		    "latency %u handshakes: median %.1f us, p90 %.1f us, p99 %.1f us, p10 %.1f us, "
		    "min %.1f us (%u failed)\n",
		    done, us[done / 2], us[done * 9 / 10], us[done * 99 / 100], us[done / 10],
		    us[0], failed);
	else
		printf("latency 0 handshakes (%u failed)\n", failed);
	free(us);
	return done ? 0 : 1;
}

/* ---- bulk ---- */

static int mode_bulk(const char *addr, unsigned port, double seconds)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(&ss, addr, port);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), mss = 0;
	static char buf[128 * 1024];
	struct timeval tv = {(time_t)seconds + 10, 0};
	unsigned long long sent = 0;
	socklen_t ml = sizeof(mss);
	double start, end;

	if (fd < 0)
		die("socket");
	/* A stalled path shows as a timeout, not a hang. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len))
		die("connect");
	getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &ml);
	start = mono_s();
	end = start + seconds;
	while (mono_s() < end) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w < 0) {
			printf("bulk stalled after %llu bytes (%s), mss %d\n", sent,
			       strerror(errno), mss);
			close_reset(fd);
			return 1;
		}
		sent += (unsigned long long)w;
	}
	shutdown(fd, SHUT_WR);
	/* The sink closes once it has read everything: that is when the data has arrived. */
	if (read(fd, buf, sizeof(buf)) < 0) {
		printf("bulk stalled: %llu bytes sent, not all delivered (%s), mss %d\n", sent,
		       strerror(errno), mss);
		close_reset(fd);
		return 1;
	}
	end = mono_s();
	close(fd);
	printf("bulk %llu bytes in %.2f s: %.1f Mbit/s, mss %d\n", sent, end - start,
	       (double)sent * 8 / (end - start) / 1e6, mss);
	return 0;
}

/* ---- convergence probe ---- */

/* Attempts overlap: a new one starts every interval whether or not the last was answered, so
 * that a port that comes up while SYNs are being lost (a forward whose replies do not yet find
 * their way back) is seen within one interval, not once a lost attempt is given up. */
struct target {
	unsigned port;
	double next;
	long long reached;
};

struct attempt {
	int fd;
	unsigned target;
	double started;
};

static int mode_probe(bool up, const char *addr, double timeout, double interval_ms, int n,
                      char **ports)
{
	double interval = interval_ms / 1e3, deadline = mono_s() + timeout;
	/* an attempt that gets no answer at all is abandoned: later ones are fresh SYNs */
	double attempt_timeout = interval * 20 > 0.05 ? interval * 20 : 0.05;
	size_t per_target = (size_t)(attempt_timeout / interval) + 2;
	size_t n_att = (size_t)n * per_target;
	struct target *t = calloc((size_t)n, sizeof(*t));
	struct attempt *a = calloc(n_att, sizeof(*a));
	struct rlimit rl = {n_att + 64, n_att + 64};
	int ep = epoll_create1(EPOLL_CLOEXEC), left = n;
	bool trace = getenv("WFB_PROBE_TRACE") != NULL; /* every attempt's outcome, to stderr */

	if (!t || !a || ep < 0)
		die("setup");
	if (n_att + 64 > 1024)
		setrlimit(RLIMIT_NOFILE, &rl);
	for (size_t j = 0; j < n_att; j++)
		a[j].fd = -1;
	for (int i = 0; i < n; i++) {
		t[i].port = (unsigned)num(ports[i]);
		/* spread the first attempts over one interval */
		t[i].next = mono_s() + interval * i / n;
	}
	while (left && mono_s() < deadline) {
		struct epoll_event evs[256];
		double now = mono_s();
		size_t free_slot = 0;
		int k;

		for (size_t j = 0; j < n_att; j++)
			if (a[j].fd >= 0 && now - a[j].started > attempt_timeout) {
				if (trace)
					fprintf(stderr, "%lld %u no answer\n", real_ns(),
					        t[a[j].target].port);
				close_reset(a[j].fd);
				a[j].fd = -1;
			}
		for (int i = 0; i < n; i++) {
			struct epoll_event ev = {.events = EPOLLOUT};
			int fd;

			if (t[i].reached || now < t[i].next)
				continue;
			while (free_slot < n_att && a[free_slot].fd >= 0)
				free_slot++;
			if (free_slot == n_att)
				break;
			t[i].next = now + interval;
			fd = connect_nb(addr, t[i].port);
			if (fd < 0) {
				if (!up && errno == ECONNREFUSED) {
					t[i].reached = real_ns();
					left--;
					printf("%u %lld\n", t[i].port, t[i].reached);
					fflush(stdout);
				}
				continue;
			}
			a[free_slot] = (struct attempt){fd, (unsigned)i, now};
			ev.data.u64 = free_slot;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		}
		k = epoll_wait(ep, evs, 256, 1);
		for (int e = 0; e < k; e++) {
			struct attempt *x = &a[evs[e].data.u64];
			struct target *tt = &t[x->target];
			int err = 0;
			socklen_t len = sizeof(err);

			if (x->fd < 0)
				continue;
			getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (trace)
				fprintf(stderr, "%lld %u %s\n", real_ns(), tt->port,
				        err ? strerror(err) : "connected");
			if (!tt->reached && ((up && !err) || (!up && err == ECONNREFUSED))) {
				tt->reached = real_ns();
				left--;
				printf("%u %lld\n", tt->port, tt->reached);
				fflush(stdout);
			}
			close_reset(x->fd);
			x->fd = -1;
		}
		/* a port reached needs none of its other attempts */
		for (size_t j = 0; j < n_att; j++)
			if (a[j].fd >= 0 && t[a[j].target].reached) {
				close_reset(a[j].fd);
				a[j].fd = -1;
			}
	}
	for (size_t j = 0; j < n_att; j++)
		if (a[j].fd >= 0)
			close_reset(a[j].fd);
	for (int i = 0; i < n; i++)
		if (!t[i].reached)
			printf("%u timeout\n", t[i].port);
	free(a);
	free(t);
	return left ? 1 : 0;
}

int main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "sink"))
		mode_sink((unsigned)num(argv[2]), (unsigned)num(argv[argc - 1]));
	if (argc == 7 && !strcmp(argv[1], "connrate"))
		return mode_connrate(argv[2], (unsigned)num(argv[3]), (unsigned)num(argv[4]),
		                     (double)num(argv[5]), (unsigned)num(argv[6]));
	if (argc == 6 && !strcmp(argv[1], "latency"))
		return mode_latency(argv[2], (unsigned)num(argv[3]), (unsigned)num(argv[4]),
		                    (unsigned)num(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "bulk"))
		return mode_bulk(argv[2], (unsigned)num(argv[3]), (double)num(argv[4]));
	if (argc >= 7 && !strcmp(argv[1], "probe") &&
	    (!strcmp(argv[2], "up") || !strcmp(argv[2], "down")))
		return mode_probe(!strcmp(argv[2], "up"), argv[3], (double)num(argv[4]),
		                  (double)num(argv[5]), argc - 6, argv + 6);
	fprintf(stderr, "usage: wfb_net sink PORT [PORT_HI]\n"
	                "       wfb_net connrate ADDR PORT_LO PORT_HI SECONDS CONCURRENCY\n"
	                "       wfb_net latency ADDR PORT_LO PORT_HI COUNT\n"
	                "       wfb_net bulk ADDR PORT SECONDS\n"
	                "       wfb_net probe up|down ADDR TIMEOUT_S INTERVAL_MS PORT...\n");
	return 2;
}
