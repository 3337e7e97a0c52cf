/*
 * ctl_attack: a misbehaving client of the gateway's control channel, for the hostile-input
 * scenarios. It speaks the real handshake (libwgfwd-core), so it can authenticate with the
 * right key and then break the protocol on purpose, or fail to authenticate in each way an
 * attacker might. It says what the gateway did, one line on stdout:
 *
 *   closed after N ms [error: REASON]    the gateway ended the connection (REASON when it sent
 *                                        an `error` first)
 *   open after N ms                      the gateway kept the connection open for the wait
 *   established                          mode ok: the gateway authenticated us and sent
 *                                        gateway_info
 *   ack applied|refused ...              mode state: the gateway's answer
 *   flood: N opened, N closed at once, N open after the wait
 *   state-flood: N states sent ... A applied, S superseded   mode state-flood: what came back
 *   state-latency: N states, A applied; slowest X ms, median Y ms; C sent once, slowest of them
 *   Z ms, next W ms                                                  mode state-latency
 *
 *   ctl_attack [-s SRC] [-k KEYFILE] [-i IDENTITY] [-w SECONDS] [-r N] ADDR PORT MODE [ARGS]
 *
 * -s binds the source address (the gateway decides by it which peer is calling), -k is the key
 * (a random one when absent), -i the identity claimed in the hello (default: SRC), -w how long
 * to wait for the gateway to react (default 8 s), -r how many states mode state sends on one
 * connection. Modes:
 *
 *   before the handshake   garbage, oversized, empty, bad-hello, truncated-hello, silent,
 *                          slowloris, wrong-key (random proof), replay-hello
 *   after the handshake    ok, replay, reorder, truncated, garbage-frame, bad-json,
 *                          oversized-frame, wrong-direction, state [FWD...],
 *                          state-flood N (N of the largest states, as fast as they go),
 *                          state-latency N FWD (N one-forward changes, each awaiting its ack)
 *   flood N                N connections at once, held for the wait
 *
 * state FWD: proto/public[:target][/6], e.g. tcp/80, udp/5353:53, tcp/443/6.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wgfwd/ctl.h>
#include <wgfwd/ctl_proto.h>
#include <wgfwd/hostport.h>
#include <wgfwd/util.h>
#include <wgfwd/keyfile.h>

#define FLOOD_MAX 1024

static struct {
	const char *src, *identity, *addr, *mode;
	uint16_t port;
	uint8_t key[WF_KEY_LEN];
	int wait_ms;
	unsigned repeat;
} o = {.wait_ms = 8000, .repeat = 1};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fill_sockaddr(const char *text, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len)
{
	if (!wf_sockaddr_from(text, port, ss, len))
		return 0;
	fprintf(stderr, "ctl_attack: `%s' is not an address\n", text);
	return -EINVAL;
}

static int dial(void)
{
	struct sockaddr_storage remote, local;
	socklen_t rlen, llen;
	int fd;

	if (fill_sockaddr(o.addr, o.port, &remote, &rlen))
		return -EINVAL;
	fd = socket(remote.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (o.src) {
		if (fill_sockaddr(o.src, 0, &local, &llen) ||
		    bind(fd, (struct sockaddr *)&local, llen) < 0) {
			perror("ctl_attack: bind");
			close(fd);
			return -EADDRNOTAVAIL;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	/* Bounded: a source the tunnel does not carry gets no answer at all. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (connect(fd, (struct sockaddr *)&remote, rlen) == 0)
		goto connected;
	if (errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		socklen_t elen = sizeof(int);

		errno = ETIMEDOUT;
		if (poll(&pfd, 1, o.wait_ms) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &errno, &elen) == 0 && errno == 0)
			goto connected;
	}
	fprintf(stderr, "ctl_attack: connect %s port %u: %s\n", o.addr, o.port, strerror(errno));
	printf("no connection: %s\n", strerror(errno));
	close(fd);
	return -ECONNREFUSED;
connected:
	fcntl(fd, F_SETFL, 0);
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(int fd, const void *body, size_t len)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];
	int err;

	wf_ctl_frame_header(header, (uint32_t)len);
	err = send_all(fd, header, sizeof(header));
	return err ? err : send_all(fd, body, len);
}

/* Reads exactly len bytes before the deadline: 1, 0 on EOF, -ETIMEDOUT, -errno. */
static int recv_all(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) == 0)
			return -ETIMEDOUT;
		n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -errno;
		if (n == 0)
			return 0;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/* One frame of at most max bytes into a malloc'd buffer: 1, 0 on EOF, -errno. */
static int recv_frame(int fd, uint8_t **body, size_t *len, size_t max, uint64_t deadline)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];
	int ret = recv_all(fd, header, sizeof(header), deadline);

	if (ret <= 0)
		return ret;
	ret = wf_ctl_frame_parse(header, sizeof(header), max, len);
	if (ret < 0)
		return ret;
	*body = malloc(*len);
	if (!*body)
		return -ENOMEM;
	ret = recv_all(fd, *body, *len, deadline);
	if (ret <= 0) {
		free(*body);
		*body = NULL;
	}
	return ret;
}

/* Waits for the gateway to end the connection and says how it did. With a session, frames
 * that arrive meanwhile are opened and an `error` is reported. Returns 0 when it closed. */
static int await_close(int fd, struct wf_ctl_session *s, uint64_t started)
{
	uint64_t deadline = now_ms() + (uint64_t)o.wait_ms;
	char error[WF_CTL_REASON_MAX + 16] = "";

	for (;;) {
		uint8_t *body = NULL, *plain;
		size_t len, plain_len;
		struct wf_ctl_msg m;
		char err[128];
		int ret;

		if (s) {
			ret = recv_frame(fd, &body, &len, WF_CTL_FRAME_MAX, deadline);
		} else {
			uint8_t scratch[512];

			ret = recv_all(fd, scratch, 1, deadline);
		}
		if (ret == 0 || (ret < 0 && ret != -ETIMEDOUT)) {
			printf("closed after %llu ms%s\n", (unsigned long long)(now_ms() - started),
			       error);
			return 0;
		}
		if (ret == -ETIMEDOUT) {
			printf("open after %llu ms%s\n", (unsigned long long)(now_ms() - started),
			       error);
			return 1;
		}
		if (!s || len < WF_CTL_TAG_LEN) {
			free(body);
			continue;
		}
		plain = malloc(len);
		if (plain && !wf_ctl_open(s, body, len, plain, &plain_len) &&
		    !wf_ctl_msg_decode((char *)plain, plain_len, &m, err, sizeof(err))) {
			if (m.type == WF_CTL_MSG_ERROR)
				snprintf(error, sizeof(error), " error: %s", m.error.reason);
			wf_ctl_msg_clear(&m);
		}
		free(plain);
		free(body);
	}
}

/* ---- the handshake ---- */

struct session {
	int fd;
	uint64_t started;
	struct wf_ctl_auth auth;
	struct wf_ctl_session s;
	uint8_t hello[WF_CTL_HANDSHAKE_FRAME_MAX];
	size_t hello_len;
};

static int hello(struct session *x)
{
	int ret = wf_ctl_auth_init(&x->auth, WF_CTL_CLIENT, o.key, o.identity);

	if (ret) {
		fprintf(stderr, "ctl_attack: identity `%s': %s\n", o.identity, strerror(-ret));
		return ret;
	}
	return wf_ctl_auth_start(&x->auth, x->hello, sizeof(x->hello), &x->hello_len);
}

/* Client hello, server hello, proof. With a wrong key our check of the server's proof fails:
 * then a random proof goes out, which is all an attacker without the key can send.
 * Returns 1 when we hold a session, 0 when the gateway closed, -errno. */
static int handshake(struct session *x)
{
	uint8_t *body = NULL, out[WF_CTL_HANDSHAKE_FRAME_MAX];
	size_t len, out_len = 0;
	char err[256];
	int ret;

	ret = hello(x);
	if (!ret)
		ret = send_frame(x->fd, x->hello, x->hello_len);
	if (ret)
		return ret;
	ret = recv_frame(x->fd, &body, &len, WF_CTL_HANDSHAKE_FRAME_MAX,
	                 now_ms() + (uint64_t)o.wait_ms);
	if (ret <= 0)
		return ret;
	ret = wf_ctl_auth_step(&x->auth, body, len, out, sizeof(out), &out_len, &x->s, err,
	                       sizeof(err));
	free(body);
	if (ret == -EACCES) {
		out[0] = WF_CTL_HELLO_TYPE_PROOF;
		randombytes_buf(out + 1, WF_CTL_MAC_LEN);
		ret = send_frame(x->fd, out, WF_CTL_CLIENT_PROOF_LEN);
		return ret ? ret : -EACCES;
	}
	if (ret != 1) {
		fprintf(stderr, "ctl_attack: handshake: %s\n", err);
		return ret < 0 ? ret : -EPROTO;
	}
	return send_frame(x->fd, out, out_len) ?: 1;
}

/* The first sealed frame the gateway sends is gateway_info. Returns 0 when it came, 1 when the
 * gateway closed instead (said on stdout, with its `error` when it sent one), -errno. */
static int await_gateway_info(struct session *x)
{
	uint8_t *body = NULL, *plain = NULL;
	size_t len, plain_len;
	struct wf_ctl_msg m;
	char err[256];
	int ret;

	ret = recv_frame(x->fd, &body, &len, WF_CTL_FRAME_MAX, now_ms() + (uint64_t)o.wait_ms);
	if (ret == 0 || ret == -ECONNRESET || ret == -EPIPE) {
		printf("closed after %llu ms\n", (unsigned long long)(now_ms() - x->started));
		return 1;
	}
	if (ret < 0)
		return ret;
	ret = -EBADMSG;
	plain = malloc(len);
	if (plain && len >= WF_CTL_TAG_LEN && !wf_ctl_open(&x->s, body, len, plain, &plain_len) &&
	    !wf_ctl_msg_decode((char *)plain, plain_len, &m, err, sizeof(err))) {
		ret = -EPROTO;
		if (m.type == WF_CTL_MSG_GATEWAY_INFO)
			ret = 0;
		if (m.type == WF_CTL_MSG_ERROR) {
			printf("closed after %llu ms error: %s\n",
			       (unsigned long long)(now_ms() - x->started), m.error.reason);
			ret = 1;
		}
		wf_ctl_msg_clear(&m);
	}
	free(plain);
	free(body);
	return ret;
}

/* Seals one message (or raw bytes when m is NULL) into a frame: header and body. */
static int seal_frame(struct session *x, const struct wf_ctl_msg *m, const char *raw,
                      uint8_t **frame, size_t *frame_len)
{
	char err[256], *json = NULL;
	size_t json_len;
	int ret;

	if (m) {
		ret = wf_ctl_msg_encode(m, &json, &json_len, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "ctl_attack: %s\n", err);
			return ret;
		}
	} else {
		json = strdup(raw);
		json_len = strlen(raw);
		if (!json)
			return -ENOMEM;
	}
	*frame_len = WF_CTL_FRAME_HEADER_LEN + json_len + WF_CTL_TAG_LEN;
	*frame = malloc(*frame_len);
	if (!*frame) {
		free(json);
		return -ENOMEM;
	}
	wf_ctl_frame_header(*frame, (uint32_t)(json_len + WF_CTL_TAG_LEN));
	ret = wf_ctl_seal(&x->s, (uint8_t *)json, json_len, *frame + WF_CTL_FRAME_HEADER_LEN);
	free(json);
	return ret;
}

/* ---- the attacks ---- */

static int parse_forward(const char *text, struct wf_ctl_forward *f)
{
	char proto[8];
	unsigned pub = 0, target = 0;
	int n = 0;

	memset(f, 0, sizeof(*f));
	if (sscanf(text, "%7[a-z]/%u%n", proto, &pub, &n) != 2)
		goto bad;
	text += n;
	target = pub;
	if (*text == ':' && sscanf(text, ":%u%n", &target, &n) == 1)
		text += n;
	f->family = AF_INET;
	if (!strcmp(text, "/6"))
		f->family = AF_INET6;
	else if (*text)
		goto bad;
	if (!strcmp(proto, "tcp"))
		f->proto = IPPROTO_TCP;
	else if (!strcmp(proto, "udp"))
		f->proto = IPPROTO_UDP;
	else
		goto bad;
	if (!pub || pub > 65535 || !target || target > 65535)
		goto bad;
	f->public_port = (uint16_t)pub;
	f->target_port = (uint16_t)target;
	return 0;
bad:
	fprintf(stderr, "ctl_attack: `%s' is not proto/public[:target][/6]\n", text);
	return -EINVAL;
}

/* Reads up to the next state_ack: 1 with it in ack, 0 when the gateway closed (said on
 * stdout), -errno. */
static int await_ack(struct session *x, struct wf_ctl_msg *ack)
{
	uint8_t *body = NULL, *plain = NULL;
	size_t len, plain_len;
	char err[256];
	int ret;

	for (;;) {
		ret = recv_frame(x->fd, &body, &len, WF_CTL_FRAME_MAX,
		                 now_ms() + (uint64_t)o.wait_ms);
		if (ret <= 0) {
			printf("closed after %llu ms\n",
			       (unsigned long long)(now_ms() - x->started));
			return 0;
		}
		plain = malloc(len);
		ret = -EBADMSG;
		if (plain && len >= WF_CTL_TAG_LEN &&
		    !wf_ctl_open(&x->s, body, len, plain, &plain_len) &&
		    !wf_ctl_msg_decode((char *)plain, plain_len, ack, err, sizeof(err)))
			ret = ack->type == WF_CTL_MSG_STATE_ACK;
		free(plain);
		free(body);
		body = plain = NULL;
		if (ret < 0) {
			printf("unreadable answer\n");
			return ret;
		}
		if (ret)
			return 1;
		wf_ctl_msg_clear(ack);
	}
}

/* Sends a state and prints the gateway's answer: one word per forward. With -r N: N states on
 * this connection, the forwards given and none by turns, the forwards given last; only the
 * last answer is printed. */
static int send_state(struct session *x, int argc, char **argv)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE}, ack = {0};
	uint8_t *frame = NULL;
	size_t frame_len;
	int ret = 0;

	struct wf_ctl_forward f;
	const char **names = calloc((size_t)argc + 1, sizeof(*names));
	size_t n = 0;

	m.state.forwards = calloc((size_t)argc + 1, sizeof(*m.state.forwards));
	if (!m.state.forwards || !names) {
		free(names);
		free(m.state.forwards);
		return -ENOMEM;
	}
	/* in the protocol's order (tcp ipv4, tcp ipv6, udp ipv4, udp ipv6), which the ack keeps:
	 * names[i] is the argument of forward i */
	for (int kind = 0; kind < 4; kind++) {
		for (int i = 0; i < argc; i++) {
			ret = parse_forward(argv[i], &f);
			if (ret)
				goto out;
			if ((f.proto == IPPROTO_UDP) * 2 + (f.family == AF_INET6) != kind)
				continue;
			names[n] = argv[i];
			m.state.forwards[n++] = f;
		}
	}
	for (unsigned r = 1; r <= o.repeat; r++) {
		m.state.generation = r;
		m.state.n_forwards = (o.repeat - r) % 2 ? 0 : (size_t)argc;
		free(frame);
		frame = NULL;
		ret = seal_frame(x, &m, NULL, &frame, &frame_len);
		if (!ret)
			ret = send_all(x->fd, frame, frame_len);
		if (ret)
			goto out;
		ret = await_ack(x, &ack);
		if (ret <= 0)
			goto out;
		if (r < o.repeat)
			wf_ctl_msg_clear(&ack);
	}
	printf("ack %s", ack.state_ack.applied ? "applied" : "refused");
	if (!ack.state_ack.applied)
		printf(" (%s)", ack.state_ack.reason);
	for (size_t i = 0; i < ack.state_ack.n_forwards; i++) {
		const struct wf_ctl_result *r = &ack.state_ack.forwards[i];

		printf(" %s=%s%s%s%s", names[i], r->accepted ? "accepted" : "refused",
		       r->accepted ? "" : " (", r->reason, r->accepted ? "" : ")");
	}
	printf("\n");
	ret = 0;
out:
	wf_ctl_msg_clear(&ack);
	free(frame);
	free(m.state.forwards);
	free(names);
	return ret;
}

/* Segments this end has sent again so far (0 when the kernel does not say). */
static uint32_t total_retrans(int fd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len))
		return 0;
	return info.tcpi_total_retrans;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* N small states, one after the other, each waiting for its ack: the forward of `spec' held
 * and let go by turns, so that every state is a change the gateway must apply. Prints the
 * slowest and the median time from sending a state to its ack, which the gateway sends once the
 * kernel holds the change; and the slowest of those that this end did not have to send again
 * (the socket's count of retransmitted segments unchanged): a segment lost on a full tunnel
 * costs a retransmission timeout of at least 200 ms, which says nothing of the gateway; so does
 * an ack the gateway had to send again, which this end cannot tell: hence the next slowest. */
static int state_latency(struct session *x, unsigned n, const char *spec)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE}, ack = {0};
	struct wf_ctl_forward f;
	double *ms = calloc(n + 1, sizeof(*ms)), clean_slowest = 0, clean_next = 0;
	unsigned applied = 0, clean = 0;
	int ret = parse_forward(spec, &f);

	if (!ms)
		return -ENOMEM;
	m.state.forwards = &f;
	for (unsigned r = 0; r < n && !ret; r++) {
		struct timespec a, b;
		uint8_t *frame = NULL;
		size_t frame_len;

		m.state.generation = r + 1;
		m.state.n_forwards = r % 2 ? 0 : 1;
		uint32_t retrans = total_retrans(x->fd);

		clock_gettime(CLOCK_MONOTONIC, &a);
		ret = seal_frame(x, &m, NULL, &frame, &frame_len);
		if (!ret)
			ret = send_all(x->fd, frame, frame_len);
		free(frame);
		if (!ret && await_ack(x, &ack) <= 0)
			ret = -EPIPE;
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		applied += !ret && ack.state_ack.applied;
		if (total_retrans(x->fd) == retrans) {
			clean++;
			if (ms[r] > clean_slowest) {
				clean_next = clean_slowest;
				clean_slowest = ms[r];
			} else if (ms[r] > clean_next) {
				clean_next = ms[r];
			}
		}
		wf_ctl_msg_clear(&ack);
	}
	if (!ret) {
		qsort(ms, n, sizeof(*ms), cmp_double);
		printf("state-latency: %u states, %u applied; slowest %.1f ms, median %.1f ms; "
		       "%u sent once, slowest of them %.1f ms, next %.1f ms\n",
		       n, applied, n ? ms[n - 1] : 0.0, n ? ms[n / 2] : 0.0, clean, clean_slowest,
		       clean_next);
	}
	free(ms);
	return ret;
}

/* Reads the acks of a state flood while it is being sent: a peer that leaves its acks unread
 * is cut off by the gateway, and that is not the attack measured here. */
struct flood_acks {
	struct session *x;
	unsigned n, applied, superseded, other, got;
};

static void *read_flood_acks(void *arg)
{
	struct flood_acks *a = arg;
	struct wf_ctl_msg ack = {0};

	while (a->got < a->n && await_ack(a->x, &ack) > 0) {
		if (ack.state_ack.applied)
			a->applied++;
		else if (strstr(ack.state_ack.reason, "superseded"))
			a->superseded++;
		else
			a->other++;
		a->got++;
		wf_ctl_msg_clear(&ack);
	}
	return NULL;
}

/* N of the largest states a message holds, as fast as the connection takes them: every one
 * WF_CTL_ENTRIES_MAX forwards (two port ranges by turns, so each one the gateway applies is a
 * real change) and WF_CTL_ENTRIES_MAX egress ports (refused: nothing is granted). Prints how
 * the acks came back. */
static int state_flood(struct session *x, unsigned n)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	struct flood_acks acks = {.x = x, .n = n};
	size_t count = WF_CTL_ENTRIES_MAX;
	uint64_t t0 = now_ms(), sent_ms;
	pthread_t reader;
	int ret = 0;

	m.state.forwards = calloc(count, sizeof(*m.state.forwards));
	m.state.egress = calloc(count, sizeof(*m.state.egress));
	if (!m.state.forwards || !m.state.egress ||
	    pthread_create(&reader, NULL, read_flood_acks, &acks)) {
		free(m.state.forwards);
		free(m.state.egress);
		return -ENOMEM;
	}
	m.state.n_forwards = count;
	m.state.n_egress = count;
	for (size_t i = 0; i < count; i++)
		m.state.egress[i] =
		    (struct wf_ctl_egress){IPPROTO_UDP, (uint16_t)(1 + i), (uint16_t)(1 + i)};
	/* Sealing counts frames out (tx), the reader counts frames in (rx): no field is shared. */
	for (unsigned r = 0; r < n && !ret; r++) {
		uint8_t *frame = NULL;
		size_t frame_len;

		for (size_t i = 0; i < count; i++) {
			uint16_t port = (uint16_t)(20000 + (r % 2) * 1000 + i);

			m.state.forwards[i] =
			    (struct wf_ctl_forward){IPPROTO_TCP, AF_INET, port, port};
		}
		m.state.generation = r + 1;
		ret = seal_frame(x, &m, NULL, &frame, &frame_len);
		if (!ret)
			ret = send_all(x->fd, frame, frame_len);
		free(frame);
	}
	sent_ms = now_ms() - t0;
	if (ret)
		shutdown(x->fd, SHUT_RDWR);
	pthread_join(reader, NULL);
	printf("state-flood: %u states sent in %llu ms, %u answered in %llu ms: %u applied, "
	       "%u superseded, %u otherwise\n",
	       n, (unsigned long long)sent_ms, acks.got, (unsigned long long)(now_ms() - t0),
	       acks.applied, acks.superseded, acks.other);
	free(m.state.forwards);
	free(m.state.egress);
	return ret;
}

/* Everything that needs a session: authenticate, then misbehave as mode says. */
static int after_handshake(struct session *x, int argc, char **argv)
{
	struct wf_ctl_msg ping = {.type = WF_CTL_MSG_PING};
	struct wf_ctl_msg pong = {.type = WF_CTL_MSG_PONG};
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	int ret = handshake(x);

	if (ret == 0 || ret == -ECONNRESET || ret == -EACCES)
		return await_close(x->fd, NULL, x->started);
	if (ret < 0)
		return ret;
	ret = await_gateway_info(x);
	if (ret == 1)
		return 0;
	if (ret) {
		fprintf(stderr, "ctl_attack: no gateway_info: %s\n", strerror(-ret));
		return ret;
	}
	if (!strcmp(o.mode, "ok")) {
		printf("established\n");
		return 0;
	}
	if (!strcmp(o.mode, "state"))
		return send_state(x, argc, argv);
	if (!strcmp(o.mode, "state-latency"))
		return state_latency(x, argc > 0 ? (unsigned)atoi(argv[0]) : 20,
		                     argc > 1 ? argv[1] : "tcp/4403");
	if (!strcmp(o.mode, "state-flood"))
		return state_flood(x, argc > 0 ? (unsigned)atoi(argv[0]) : 100);
	if (!strcmp(o.mode, "replay")) {
		/* The first copy is a valid ping; the same bytes again must not open. */
		ret = seal_frame(x, &ping, NULL, &a, &alen);
		if (!ret)
			ret = send_all(x->fd, a, alen);
		if (!ret)
			ret = send_all(x->fd, a, alen);
	} else if (!strcmp(o.mode, "reorder")) {
		ret = seal_frame(x, &ping, NULL, &a, &alen);
		if (!ret)
			ret = seal_frame(x, &ping, NULL, &b, &blen);
		if (!ret)
			ret = send_all(x->fd, b, blen);
		if (!ret)
			ret = send_all(x->fd, a, alen);
	} else if (!strcmp(o.mode, "truncated")) {
		/* A valid frame cut short, with a header that says so. */
		ret = seal_frame(x, &ping, NULL, &a, &alen);
		if (!ret) {
			wf_ctl_frame_header(a, (uint32_t)(alen - WF_CTL_FRAME_HEADER_LEN - 3));
			ret = send_all(x->fd, a, alen - 3);
		}
	} else if (!strcmp(o.mode, "garbage-frame")) {
		uint8_t junk[200];

		randombytes_buf(junk, sizeof(junk));
		ret = send_frame(x->fd, junk, sizeof(junk));
	} else if (!strcmp(o.mode, "bad-json")) {
		ret = seal_frame(x, NULL, "{\"v\":3,\"type\":\"state\",\"generation\":", &a, &alen);
		if (!ret)
			ret = send_all(x->fd, a, alen);
	} else if (!strcmp(o.mode, "wrong-direction")) {
		/* Messages only the gateway may send. */
		ack.state_ack.generation = 1;
		ack.state_ack.applied = false;
		snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason), "forged");
		ret = seal_frame(x, &ack, NULL, &a, &alen);
		if (!ret)
			ret = send_all(x->fd, a, alen);
		(void)pong;
	} else if (!strcmp(o.mode, "oversized-frame")) {
		uint8_t header[WF_CTL_FRAME_HEADER_LEN];

		wf_ctl_frame_header(header, WF_CTL_FRAME_MAX + 1);
		ret = send_all(x->fd, header, sizeof(header));
	} else {
		fprintf(stderr, "ctl_attack: unknown mode `%s'\n", o.mode);
		return -EINVAL;
	}
	free(a);
	free(b);
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		return ret;
	return await_close(x->fd, &x->s, x->started);
}

static int before_handshake(struct session *x)
{
	uint8_t buf[4096];
	int ret;

	if (!strcmp(o.mode, "silent"))
		return await_close(x->fd, NULL, x->started);
	if (!strcmp(o.mode, "garbage")) {
		randombytes_buf(buf, sizeof(buf));
		ret = send_all(x->fd, buf, sizeof(buf));
	} else if (!strcmp(o.mode, "oversized")) {
		/* A header announcing 4 GiB, then the body starts streaming. */
		memset(buf, 0xff, sizeof(buf));
		ret = send_all(x->fd, buf, sizeof(buf));
	} else if (!strcmp(o.mode, "empty")) {
		memset(buf, 0, WF_CTL_FRAME_HEADER_LEN);
		ret = send_all(x->fd, buf, WF_CTL_FRAME_HEADER_LEN);
	} else if (!strcmp(o.mode, "bad-hello")) {
		/* The right size and type byte, a wrong version and junk after it. */
		randombytes_buf(buf, 60);
		buf[0] = WF_CTL_HELLO_TYPE_CLIENT;
		buf[1] = 0x7f;
		ret = send_frame(x->fd, buf, 60);
	} else if (!strcmp(o.mode, "truncated-hello")) {
		ret = hello(x);
		if (!ret) {
			wf_ctl_frame_header(buf, (uint32_t)x->hello_len);
			memcpy(buf + WF_CTL_FRAME_HEADER_LEN, x->hello, x->hello_len);
			ret = send_all(x->fd, buf, WF_CTL_FRAME_HEADER_LEN + x->hello_len / 2);
		}
	} else if (!strcmp(o.mode, "slowloris")) {
		/* A valid hello, one byte every 300 ms: the handshake deadline must end it. */
		size_t total;

		ret = hello(x);
		wf_ctl_frame_header(buf, (uint32_t)x->hello_len);
		memcpy(buf + WF_CTL_FRAME_HEADER_LEN, x->hello, x->hello_len);
		total = WF_CTL_FRAME_HEADER_LEN + x->hello_len;
		for (size_t i = 0; !ret && i < total - 1; i++) {
			struct pollfd pfd = {.fd = x->fd, .events = POLLIN};

			ret = send_all(x->fd, buf + i, 1);
			if (!ret && poll(&pfd, 1, 300) == 1)
				break;
		}
	} else if (!strcmp(o.mode, "replay-hello")) {
		/* A second client hello where the proof belongs. */
		uint8_t *body = NULL;
		size_t len;

		ret = hello(x);
		if (!ret)
			ret = send_frame(x->fd, x->hello, x->hello_len);
		if (!ret && recv_frame(x->fd, &body, &len, WF_CTL_HANDSHAKE_FRAME_MAX,
		                       now_ms() + (uint64_t)o.wait_ms) == 1)
			ret = send_frame(x->fd, x->hello, x->hello_len);
		free(body);
	} else {
		return 2;
	}
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		return ret;
	return await_close(x->fd, NULL, x->started);
}

/* Many connections at once, from the same source: the gateway keeps a handful pending and
 * closes the rest at once; after the handshake deadline none is left. */
static int flood(int n)
{
	static int fds[FLOOD_MAX];
	int opened = 0, closed_at_once = 0, open_after = 0;
	uint8_t byte;

	if (n < 1 || n > FLOOD_MAX) {
		fprintf(stderr, "ctl_attack: flood: 1..%d connections\n", FLOOD_MAX);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		fds[i] = dial();
		if (fds[i] >= 0)
			opened++;
	}
	/* A moment for the gateway to accept and judge them all. */
	usleep(500 * 1000);
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (recv(fds[i], &byte, 1, MSG_DONTWAIT) == 0 ||
		    (errno != EAGAIN && errno != EWOULDBLOCK))
			closed_at_once++;
	}
	usleep((useconds_t)o.wait_ms * 1000);
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		errno = 0;
		if (recv(fds[i], &byte, 1, MSG_DONTWAIT) < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			open_after++;
		close(fds[i]);
	}
	printf("flood: %d opened, %d closed at once, %d open after the wait\n", opened,
	       closed_at_once, open_after);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: ctl_attack [-s SRC] [-k KEYFILE] [-i IDENTITY] [-w SECONDS] [-r N] "
	                "ADDR PORT MODE [ARGS]\n");
}

int main(int argc, char **argv)
{
	struct session x = {.fd = -1};
	char err[512];
	int opt, ret;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(o.key, sizeof(o.key));
	while ((opt = getopt(argc, argv, "s:k:i:w:r:")) != -1) {
		switch (opt) {
		case 's':
			o.src = optarg;
			break;
		case 'k':
			if (wf_keyfile_read(optarg, o.key, err, sizeof(err)) < 0) {
				fprintf(stderr, "ctl_attack: %s\n", err);
				return 2;
			}
			break;
		case 'i':
			o.identity = optarg;
			break;
		case 'w':
			o.wait_ms = atoi(optarg) * 1000;
			break;
		case 'r':
			o.repeat = (unsigned)atoi(optarg);
			if (!o.repeat)
				o.repeat = 1;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind < 3) {
		usage();
		return 2;
	}
	o.addr = argv[optind];
	o.port = (uint16_t)atoi(argv[optind + 1]);
	o.mode = argv[optind + 2];
	if (!o.identity)
		o.identity = o.src ? o.src : "192.0.2.99";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(o.mode, "flood"))
		return flood(argc - optind > 3 ? atoi(argv[optind + 3]) : 200) ? 1 : 0;

	x.started = now_ms();
	x.fd = dial();
	if (x.fd < 0)
		return 1;
	ret = before_handshake(&x);
	if (ret == 2)
		ret = after_handshake(&x, argc - optind - 3, argv + optind + 3);
	wf_ctl_auth_clear(&x.auth);
	wf_ctl_session_clear(&x.s);
	sodium_memzero(o.key, sizeof(o.key));
	close(x.fd);
	if (ret < 0)
		fprintf(stderr, "ctl_attack: %s\n", strerror(-ret));
	return ret < 0 ? 1 : 0;
}
