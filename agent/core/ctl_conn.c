#include <wgfwd/ctl.h>
#include <wgfwd/ctl_proto.h>

#include <errno.h>
#include <inttypes.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A peer that reads nothing while we keep queueing is as good as dead. */
#define OUTPUT_BACKLOG_MAX (8 * WF_CTL_FRAME_MAX)
/* The largest frame and its header fit below it, so a frame never waits for bytes that will not
 * be read; one socket read (16 KiB) past it is what libevent may add. */
#define READ_BUFFER_MAX (WF_CTL_FRAME_HEADER_LEN + WF_CTL_FRAME_MAX)

enum conn_phase {
	PHASE_CONNECTING,
	PHASE_HANDSHAKE,
	PHASE_ESTABLISHED,
	PHASE_CLOSED,
};

struct wf_ctl_conn {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *handshake_timer;
	struct event *ping_timer;
	struct event *dead_timer;
	struct wf_ctl_conn_ops ops;
	void *arg;
	enum wf_ctl_role role;
	unsigned handshake_timeout_ms, ping_interval_ms, dead_after_ms;
	uint64_t last_heard_ms; /* CLOCK_MONOTONIC */
	enum conn_phase phase;
	struct wf_ctl_auth auth;
	struct wf_ctl_session session;
	char identity[WF_CTL_IDENTITY_MAX];
	/* callbacks from libevent in progress: freeing waits until the last one returns */
	unsigned busy;
	bool free_requested;
};

static struct timeval ms_to_tv(unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	return tv;
}

static void destroy(struct wf_ctl_conn *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->handshake_timer)
		event_free(c->handshake_timer);
	if (c->ping_timer)
		event_free(c->ping_timer);
	if (c->dead_timer)
		event_free(c->dead_timer);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

static void hold(struct wf_ctl_conn *c)
{
	c->busy++;
}

/* Returns false when the connection is gone (freed, or freed once this returns). */
static bool release(struct wf_ctl_conn *c)
{
	if (--c->busy == 0 && c->free_requested) {
		destroy(c);
		return false;
	}
	return !c->free_requested;
}

/* The socket is closed once libevent lets go of the bufferevent (at once, or when the
 * callback that is running returns). */
static void close_io(struct wf_ctl_conn *c)
{
	if (c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->handshake_timer)
		event_del(c->handshake_timer);
	if (c->ping_timer)
		event_del(c->ping_timer);
	if (c->dead_timer)
		event_del(c->dead_timer);
	wf_ctl_auth_clear(&c->auth);
	wf_ctl_session_clear(&c->session);
	c->phase = PHASE_CLOSED;
}

/* One non-blocking write of what is queued, just before the socket is closed: the last words
 * (an `error`) reach the peer when its socket has room, which is nearly always. The
 * bufferevent owns the head of its output buffer, so the bytes are copied, not drained. */
static void flush_now(struct wf_ctl_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int fd = (int)bufferevent_getfd(c->bev);
	size_t len = evbuffer_get_length(out);
	unsigned char *data;

	if (fd < 0 || len == 0)
		return;
	data = evbuffer_pullup(out, -1);
	if (data)
		(void)send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int queue_frame(struct wf_ctl_conn *c, const uint8_t *body, size_t len)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];
	struct evbuffer *out = bufferevent_get_output(c->bev);

	wf_ctl_frame_header(header, (uint32_t)len);
	if (evbuffer_add(out, header, sizeof(header)) < 0 || evbuffer_add(out, body, len) < 0)
		return -ENOMEM;
	return 0;
}

static int send_sealed(struct wf_ctl_conn *c, const struct wf_ctl_msg *m)
{
	char err[WF_CTL_REASON_MAX], *json;
	size_t json_len;
	uint8_t *sealed;
	int ret;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_BACKLOG_MAX)
		return -ENOBUFS;
	ret = wf_ctl_msg_encode(m, &json, &json_len, err, sizeof(err));
	if (ret < 0)
		return ret;
	sealed = malloc(json_len + WF_CTL_TAG_LEN);
	if (!sealed) {
		free(json);
		return -ENOMEM;
	}
	ret = wf_ctl_seal(&c->session, (const uint8_t *)json, json_len, sealed);
	if (ret == 0)
		ret = queue_frame(c, sealed, json_len + WF_CTL_TAG_LEN);
	free(sealed);
	free(json);
	return ret;
}

/* An `error` message must carry valid text of bounded length, whatever reason says. */
static void send_error(struct wf_ctl_conn *c, const char *reason)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_ERROR};
	char scratch[8];
	size_t len = 0;

	for (; reason[len] && len < sizeof(m.error.reason) - 1; len++) {
		unsigned char ch = (unsigned char)reason[len];
		m.error.reason[len] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	m.error.reason[len] = '\0';
	while (len > 0 && wf_ctl_msg_validate(&m, scratch, sizeof(scratch)) < 0 &&
	       (unsigned char)m.error.reason[len - 1] >= 0x80)
		m.error.reason[--len] = '\0';
	if (len == 0)
		return;
	send_sealed(c, &m);
}

/* Ends the connection for a reason the owner did not ask for. tell: send `error` first. */
static void conn_fail(struct wf_ctl_conn *c, int err, bool tell, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void conn_fail(struct wf_ctl_conn *c, int err, bool tell, const char *fmt, ...)
{
	char reason[WF_CTL_REASON_MAX + 64];
	va_list ap;

	if (c->phase == PHASE_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (tell && c->phase == PHASE_ESTABLISHED) {
		send_error(c, reason);
		flush_now(c);
	}
	close_io(c);
	if (c->ops.on_close)
		c->ops.on_close(c, err, reason, c->arg);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void arm(struct event *ev, unsigned ms)
{
	struct timeval tv = ms_to_tv(ms);
	event_add(ev, &tv);
}

static void become_established(struct wf_ctl_conn *c)
{
	c->phase = PHASE_ESTABLISHED;
	memcpy(c->identity, c->auth.identity, sizeof(c->identity));
	wf_ctl_auth_clear(&c->auth);
	event_del(c->handshake_timer);
	arm(c->ping_timer, c->ping_interval_ms);
	c->last_heard_ms = now_ms();
	arm(c->dead_timer, c->dead_after_ms);
	if (c->ops.on_established)
		c->ops.on_established(c, c->arg);
}

static void handle_handshake(struct wf_ctl_conn *c, const uint8_t *body, size_t len)
{
	uint8_t reply[WF_CTL_HANDSHAKE_FRAME_MAX];
	char err[160];
	size_t reply_len;
	int ret;

	ret = wf_ctl_auth_step(&c->auth, body, len, reply, sizeof(reply), &reply_len, &c->session,
	                       err, sizeof(err));
	if (ret < 0) {
		conn_fail(c, ret, false, "handshake: %s", err);
		return;
	}
	if (reply_len && queue_frame(c, reply, reply_len) < 0) {
		conn_fail(c, -ENOMEM, false, "handshake: out of memory");
		return;
	}
	if (ret == 1)
		become_established(c);
}

static void handle_message(struct wf_ctl_conn *c, const char *json, size_t len)
{
	enum wf_ctl_role peer = c->role == WF_CTL_CLIENT ? WF_CTL_SERVER : WF_CTL_CLIENT;
	struct wf_ctl_msg m, pong = {.type = WF_CTL_MSG_PONG};
	char err[WF_CTL_REASON_MAX];
	int ret;

	ret = wf_ctl_msg_decode(json, len, &m, err, sizeof(err));
	if (ret < 0) {
		conn_fail(c, ret == -ENOMEM ? -ENOMEM : -EBADMSG, true, "bad message: %s", err);
		return;
	}
	if (!wf_ctl_msg_sent_by(m.type, peer)) {
		conn_fail(c, -EPROTO, true, "a %s sent %s, which only the %s sends",
		          peer == WF_CTL_CLIENT ? "client" : "server", wf_ctl_msg_type_name(m.type),
		          peer == WF_CTL_CLIENT ? "server" : "client");
		goto out;
	}
	switch (m.type) {
	case WF_CTL_MSG_PING:
		ret = send_sealed(c, &pong);
		if (ret < 0)
			conn_fail(c, ret, false, "cannot answer a ping: %s", strerror(-ret));
		break;
	case WF_CTL_MSG_PONG:
		break;
	case WF_CTL_MSG_ERROR:
		conn_fail(c, -EPROTO, false, "peer: %s", m.error.reason);
		break;
	default:
		if (c->ops.on_message)
			c->ops.on_message(c, &m, c->arg);
		break;
	}
out:
	wf_ctl_msg_clear(&m);
}

/* Takes the whole frames at the head of the input, one at a time, until the connection ends
 * or the next frame is not all there yet. */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct wf_ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	hold(c);
	while (c->phase == PHASE_HANDSHAKE || c->phase == PHASE_ESTABLISHED) {
		bool established = c->phase == PHASE_ESTABLISHED;
		size_t max = established ? WF_CTL_FRAME_MAX : WF_CTL_HANDSHAKE_FRAME_MAX;
		uint8_t header[WF_CTL_FRAME_HEADER_LEN];
		size_t body_len = 0, plain_len;
		uint8_t *body, *plain;
		int ret;

		if (evbuffer_copyout(in, header, sizeof(header)) < (ev_ssize_t)sizeof(header))
			break;
		ret = wf_ctl_frame_parse(header, sizeof(header), max, &body_len);
		if (ret == -EMSGSIZE) {
			conn_fail(c, ret, true, "frame of %" PRIu32 " bytes announced, at most %zu",
			          (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
			              (uint32_t)header[2] << 8 | header[3],
			          max);
			break;
		}
		if (ret < 0) {
			conn_fail(c, ret, true, "empty frame");
			break;
		}
		if (evbuffer_get_length(in) < sizeof(header) + body_len)
			break;
		evbuffer_drain(in, sizeof(header));
		body = evbuffer_pullup(in, (ev_ssize_t)body_len);
		if (!established) {
			/* auth_step calls nobody: the body is drained after it */
			handle_handshake(c, body, body_len);
			if (c->bev)
				evbuffer_drain(in, body_len);
			continue;
		}
		plain = malloc(body_len);
		if (!plain) {
			conn_fail(c, -ENOMEM, false, "out of memory");
			break;
		}
		ret = wf_ctl_open(&c->session, body, body_len, plain, &plain_len);
		evbuffer_drain(in, body_len);
		if (ret < 0) {
			free(plain);
			conn_fail(
			    c, -EBADMSG, true,
			    "frame %llu does not authenticate (forged, replayed, reordered or "
			    "from another session)",
			    (unsigned long long)c->session.rx_seq);
			break;
		}
		c->last_heard_ms = now_ms();
		if (!c->ops.on_text || !c->ops.on_text(c, (const char *)plain, plain_len, c->arg))
			handle_message(c, (const char *)plain, plain_len);
		free(plain);
	}
	release(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct wf_ctl_conn *c = arg;
	int sock_err = EVUTIL_SOCKET_ERROR();
	size_t hello_len;
	uint8_t hello[WF_CTL_HANDSHAKE_FRAME_MAX];

	hold(c);
	if (what & BEV_EVENT_CONNECTED) {
		c->phase = PHASE_HANDSHAKE;
		if (wf_ctl_auth_start(&c->auth, hello, sizeof(hello), &hello_len) < 0 ||
		    queue_frame(c, hello, hello_len) < 0)
			conn_fail(c, -ENOMEM, false, "cannot send the client hello");
	} else if (c->phase == PHASE_CONNECTING) {
		conn_fail(c, -ECONNREFUSED, false, "connect: %s",
		          sock_err ? strerror(sock_err) : "failed");
	} else if (what & BEV_EVENT_EOF) {
		conn_fail(c, -ECONNRESET, false,
		          c->phase == PHASE_HANDSHAKE
		              ? "peer closed the connection during the handshake (wrong key?)"
		              : "peer closed the connection");
	} else if (what & BEV_EVENT_ERROR) {
		conn_fail(c, -ECONNRESET, false, "connection error: %s",
		          sock_err ? strerror(sock_err) : "unknown");
	}
	release(c);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct wf_ctl_conn *c = arg;

	hold(c);
	conn_fail(c, -ETIMEDOUT, false, "%s not complete after %u ms",
	          c->phase == PHASE_CONNECTING ? "connect" : "handshake", c->handshake_timeout_ms);
	release(c);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wf_ctl_conn *c = arg;
	struct wf_ctl_msg ping = {.type = WF_CTL_MSG_PING};
	int ret;

	hold(c);
	ret = send_sealed(c, &ping);
	if (ret < 0)
		conn_fail(c, ret, false, "cannot send a ping: %s",
		          ret == -ENOBUFS ? "the peer reads nothing" : strerror(-ret));
	release(c);
}

static void on_dead_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wf_ctl_conn *c = arg;
	uint64_t silent_ms = now_ms() - c->last_heard_ms;

	/* Frames only note the time and the timer looks at it when it fires: a busy stream
	 * costs no timer updates. */
	if (silent_ms < c->dead_after_ms) {
		arm(c->dead_timer, (unsigned)(c->dead_after_ms - silent_ms));
		return;
	}
	hold(c);
	conn_fail(c, -ETIMEDOUT, true, "nothing heard from the peer for %u ms", c->dead_after_ms);
	release(c);
}

static int conn_alloc(struct event_base *base, const struct wf_ctl_conn_config *cfg,
                      const struct wf_ctl_conn_ops *ops, void *arg, struct wf_ctl_conn **out)
{
	struct wf_ctl_conn *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base = base;
	c->ops = *ops;
	c->arg = arg;
	c->role = cfg->role;
	c->handshake_timeout_ms =
	    cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : WF_CTL_HANDSHAKE_TIMEOUT_MS;
	c->ping_interval_ms =
	    cfg->ping_interval_ms ? cfg->ping_interval_ms : WF_CTL_PING_INTERVAL_MS;
	c->dead_after_ms = cfg->dead_after_ms ? cfg->dead_after_ms : WF_CTL_DEAD_AFTER_MS;
	c->phase = PHASE_CONNECTING;
	ret = wf_ctl_auth_init(&c->auth, cfg->role, cfg->key,
	                       memchr(cfg->identity, '\0', sizeof(cfg->identity)) ? cfg->identity
	                                                                          : NULL);
	if (ret < 0)
		goto fail;
	memcpy(c->identity, c->auth.identity, sizeof(c->identity));
	c->handshake_timer = evtimer_new(base, on_handshake_timeout, c);
	c->ping_timer = event_new(base, -1, EV_PERSIST, on_ping_timer, c);
	c->dead_timer = evtimer_new(base, on_dead_timer, c);
	if (!c->handshake_timer || !c->ping_timer || !c->dead_timer) {
		ret = -ENOMEM;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	destroy(c);
	return ret;
}

static int conn_attach(struct wf_ctl_conn *c, int fd)
{
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		return -ENOMEM;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	/* Reading pauses while a whole frame waits to be handled: a peer sending faster than
	 * its frames are handled is slowed down by TCP instead of filling our memory. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_BUFFER_MAX);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
		return -EIO;
	arm(c->handshake_timer, c->handshake_timeout_ms);
	return 0;
}

int wf_ctl_conn_new(struct event_base *base, int fd, const struct wf_ctl_conn_config *cfg,
                    const struct wf_ctl_conn_ops *ops, void *arg, struct wf_ctl_conn **out)
{
	uint8_t hello[WF_CTL_HANDSHAKE_FRAME_MAX];
	struct wf_ctl_conn *c;
	size_t hello_len;
	int ret;

	if (evutil_make_socket_nonblocking(fd) < 0)
		return -errno;
	ret = conn_alloc(base, cfg, ops, arg, &c);
	if (ret < 0)
		return ret;
	ret = conn_attach(c, fd);
	if (ret < 0)
		goto fail;
	c->phase = PHASE_HANDSHAKE;
	if (c->role == WF_CTL_CLIENT) {
		ret = wf_ctl_auth_start(&c->auth, hello, sizeof(hello), &hello_len);
		if (ret == 0)
			ret = queue_frame(c, hello, hello_len);
		if (ret < 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	/* on failure the caller keeps the descriptor */
	if (c->bev)
		bufferevent_setfd(c->bev, -1);
	destroy(c);
	return ret;
}

int wf_ctl_conn_connect(struct event_base *base, const struct sockaddr *remote,
                        socklen_t remote_len, const struct sockaddr *local, socklen_t local_len,
                        const struct wf_ctl_conn_config *cfg, const struct wf_ctl_conn_ops *ops,
                        void *arg, struct wf_ctl_conn **out)
{
	struct wf_ctl_conn *c;
	int fd, ret;

	if (cfg->role != WF_CTL_CLIENT)
		return -EINVAL;
	ret = conn_alloc(base, cfg, ops, arg, &c);
	if (ret < 0)
		return ret;
	fd = socket(remote->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (local && bind(fd, local, local_len) < 0) {
		ret = -errno;
		close(fd);
		goto fail;
	}
	ret = conn_attach(c, fd);
	if (ret < 0) {
		if (!c->bev)
			close(fd);
		goto fail;
	}
	if (bufferevent_socket_connect(c->bev, remote, (int)remote_len) < 0) {
		ret = errno ? -errno : -ECONNREFUSED;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	destroy(c);
	return ret;
}

int wf_ctl_conn_send(struct wf_ctl_conn *c, const struct wf_ctl_msg *m)
{
	if (c->phase != PHASE_ESTABLISHED)
		return -ENOTCONN;
	if (!wf_ctl_msg_sent_by(m->type, c->role))
		return -EPERM;
	return send_sealed(c, m);
}

bool wf_ctl_conn_established(const struct wf_ctl_conn *c)
{
	return c->phase == PHASE_ESTABLISHED;
}

void wf_ctl_conn_read_pause(struct wf_ctl_conn *c, bool pause)
{
	if (!c->bev || c->phase != PHASE_ESTABLISHED)
		return;
	if (pause) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	/* A whole frame may wait in the buffer with nothing more coming to announce it. */
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

const char *wf_ctl_conn_identity(const struct wf_ctl_conn *c)
{
	return c->identity;
}

void wf_ctl_conn_close(struct wf_ctl_conn *c, const char *reason)
{
	if (!c)
		return;
	if (c->phase == PHASE_ESTABLISHED && reason) {
		send_error(c, reason);
		flush_now(c);
	}
	wf_ctl_conn_free(c);
}

void wf_ctl_conn_free(struct wf_ctl_conn *c)
{
	if (!c)
		return;
	close_io(c);
	if (c->busy) {
		c->free_requested = true;
		return;
	}
	destroy(c);
}
