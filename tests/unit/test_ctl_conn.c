/* The control connection on a real event loop: two wf_ctl_conn over loopback TCP, or one
 * against a hand-driven peer on a socketpair that misbehaves on purpose. */
#include <wgfwd/ctl.h>
#include <wgfwd/ctl_proto.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static const uint8_t key[WF_CTL_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t other_key[WF_CTL_KEY_LEN] = "0123456789abcdef0123456789abcdeF";

#define PEER_ADDR "192.168.160.2"
/* Only a guard against a hung test: every test ends on an event long before. */
#define TEST_GUARD_MS 10000

/* What one wf_ctl_conn saw. */
struct side {
	struct wf_ctl_conn *conn;
	int established;
	int messages;
	struct wf_ctl_msg last; /* a deep copy is not needed: the fields read are plain */
	uint64_t ack_generation;
	size_t ack_forwards;
	bool ack_second_refused;
	int closed;
	int close_err;
	char close_reason[512];
};

struct world {
	struct event_base *base;
	struct side client, server;
	struct evconnlistener *listener;
	struct wf_ctl_conn_config server_cfg;
	bool guard_fired;
	/* what the test wants to happen in the callbacks */
	bool exchange_state;
	bool largest; /* ...and the state is the largest the limits allow */
	bool stop_on_any_close;
};

static struct world w;

static void stop(void)
{
	event_base_loopbreak(w.base);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	w.guard_fired = true;
	stop();
}

static void run_loop(void)
{
	struct timeval tv = {.tv_sec = TEST_GUARD_MS / 1000};
	struct event *guard = evtimer_new(w.base, on_guard, NULL);

	evtimer_add(guard, &tv);
	event_base_dispatch(w.base);
	event_free(guard);
	assert_false(w.guard_fired);
}

/* Runs the loop one event at a time until done() holds. */
static void loop_until(bool (*done)(void))
{
	struct timeval tv = {.tv_sec = TEST_GUARD_MS / 1000};
	struct event *guard = evtimer_new(w.base, on_guard, NULL);

	evtimer_add(guard, &tv);
	while (!done() && !w.guard_fired)
		event_base_loop(w.base, EVLOOP_ONCE);
	event_free(guard);
	assert_false(w.guard_fired);
}

static bool both_established(void)
{
	return w.client.established && w.server.established;
}

static void on_established(struct wf_ctl_conn *c, void *arg)
{
	struct side *s = arg;
	struct wf_ctl_msg info = {.type = WF_CTL_MSG_GATEWAY_INFO};

	s->established++;
	if (s == &w.server && w.exchange_state) {
		inet_pton(AF_INET, "203.0.113.5", &info.gateway_info.ipv4[0]);
		info.gateway_info.n_ipv4 = 1;
		info.gateway_info.mtu = 1420;
		assert_int_equal(wf_ctl_conn_send(c, &info), 0);
	}
}

/* WF_CTL_ENTRIES_MAX forwards and as many egress entries, every port 5 digits: the largest
 * state (WF_CTL_STATE_WORST). */
static void client_sends_largest_state(struct wf_ctl_conn *c)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE,
	                       .state = {.generation = INT64_MAX,
	                                 .n_forwards = WF_CTL_ENTRIES_MAX,
	                                 .n_egress = WF_CTL_ENTRIES_MAX}};

	m.state.forwards = calloc(WF_CTL_ENTRIES_MAX, sizeof(*m.state.forwards));
	m.state.egress = calloc(WF_CTL_ENTRIES_MAX, sizeof(*m.state.egress));
	assert_non_null(m.state.forwards);
	assert_non_null(m.state.egress);
	for (size_t i = 0; i < WF_CTL_ENTRIES_MAX; i++) {
		m.state.forwards[i] = (struct wf_ctl_forward){.proto = IPPROTO_UDP,
		                                              .family = AF_INET6,
		                                              .public_port = (uint16_t)(10000 + i),
		                                              .target_port = 65535};
		m.state.egress[i] = (struct wf_ctl_egress){
		    .proto = IPPROTO_UDP, .port_lo = 10000, .port_hi = (uint16_t)(10000 + i)};
	}
	assert_int_equal(wf_ctl_conn_send(c, &m), 0);
	wf_ctl_msg_clear(&m);
}

/* Every entry refused, for as many reasons as an ack carries and more. */
static void server_acks_largest_state(struct wf_ctl_conn *c, const struct wf_ctl_state *s)
{
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK,
	                         .state_ack = {.generation = s->generation,
	                                       .applied = true,
	                                       .n_forwards = s->n_forwards,
	                                       .n_egress = s->n_egress}};

	assert_int_equal(s->n_forwards, WF_CTL_ENTRIES_MAX);
	assert_int_equal(s->n_egress, WF_CTL_ENTRIES_MAX);
	assert_int_equal(s->forwards[WF_CTL_ENTRIES_MAX - 1].public_port,
	                 10000 + WF_CTL_ENTRIES_MAX - 1);
	ack.state_ack.forwards = calloc(s->n_forwards, sizeof(*ack.state_ack.forwards));
	ack.state_ack.egress = calloc(s->n_egress, sizeof(*ack.state_ack.egress));
	assert_non_null(ack.state_ack.forwards);
	assert_non_null(ack.state_ack.egress);
	for (size_t i = 0; i < s->n_forwards; i++)
		snprintf(ack.state_ack.forwards[i].reason, WF_CTL_REASON_MAX,
		         "udp/%u (IPv6) is held by another peer", s->forwards[i].public_port);
	for (size_t i = 0; i < s->n_egress; i++)
		snprintf(ack.state_ack.egress[i].reason, WF_CTL_REASON_MAX, "egress refused");
	assert_int_equal(wf_ctl_conn_send(c, &ack), 0);
	wf_ctl_msg_clear(&ack);
}

static void client_sends_state(struct wf_ctl_conn *c)
{
	if (w.largest) {
		client_sends_largest_state(c);
		return;
	}
	struct wf_ctl_forward forwards[] = {
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 443, .target_port = 443},
	    {.proto = IPPROTO_TCP, .family = AF_INET, .public_port = 22, .target_port = 2222},
	};
	struct wf_ctl_egress egress[] = {{.proto = IPPROTO_TCP, .port_lo = 25, .port_hi = 25}};
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE,
	                       .state = {.generation = 42,
	                                 .forwards = forwards,
	                                 .n_forwards = 2,
	                                 .egress = egress,
	                                 .n_egress = 1}};

	assert_int_equal(wf_ctl_conn_send(c, &m), 0);
}

static void server_acks_state(struct wf_ctl_conn *c, const struct wf_ctl_state *s)
{
	struct wf_ctl_result forwards[2] = {{.accepted = true},
	                                    {.accepted = false, .reason = "port 22 is reserved"}};
	struct wf_ctl_result egress[1] = {{.accepted = true}};
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK,
	                         .state_ack = {.generation = s->generation,
	                                       .applied = true,
	                                       .forwards = forwards,
	                                       .n_forwards = s->n_forwards,
	                                       .egress = egress,
	                                       .n_egress = s->n_egress}};

	assert_int_equal(s->n_forwards, 2);
	assert_int_equal(s->forwards[1].public_port, 22);
	assert_int_equal(s->n_egress, 1);
	assert_int_equal(wf_ctl_conn_send(c, &ack), 0);
}

static void on_message(struct wf_ctl_conn *c, const struct wf_ctl_msg *m, void *arg)
{
	struct side *s = arg;

	s->messages++;
	s->last.type = m->type;
	if (m->type == WF_CTL_MSG_GATEWAY_INFO) {
		s->last.gateway_info = m->gateway_info;
		if (w.exchange_state)
			client_sends_state(c);
	} else if (m->type == WF_CTL_MSG_STATE) {
		if (w.largest)
			server_acks_largest_state(c, &m->state);
		else
			server_acks_state(c, &m->state);
	} else if (m->type == WF_CTL_MSG_STATE_ACK) {
		s->ack_generation = m->state_ack.generation;
		s->ack_forwards = m->state_ack.n_forwards;
		s->ack_second_refused =
		    !m->state_ack.forwards[1].accepted &&
		    !strcmp(m->state_ack.forwards[1].reason,
		            w.largest ? "udp/10001 (IPv6) is held by another peer"
		                      : "port 22 is reserved");
		if (w.largest)
			s->ack_second_refused =
			    s->ack_second_refused && m->state_ack.n_egress == WF_CTL_ENTRIES_MAX &&
			    !strcmp(m->state_ack.forwards[WF_CTL_ENTRIES_MAX - 1].reason,
			            WF_CTL_REASON_OVERFLOW) &&
			    /* reasons go in the order they first appear: these come too late */
			    !strcmp(m->state_ack.egress[0].reason, WF_CTL_REASON_OVERFLOW);
		/* closing from inside a callback is allowed */
		wf_ctl_conn_close(c, "done");
		s->conn = NULL;
	}
}

static void on_close(struct wf_ctl_conn *c, int err, const char *reason, void *arg)
{
	struct side *s = arg;

	s->closed++;
	s->close_err = err;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
	/* freeing from inside on_close is allowed */
	wf_ctl_conn_free(c);
	s->conn = NULL;
	if (w.stop_on_any_close || (!w.client.conn && !w.server.conn))
		stop();
}

static const struct wf_ctl_conn_ops ops = {
    .on_established = on_established,
    .on_message = on_message,
    .on_close = on_close,
};

static struct wf_ctl_conn_config config(enum wf_ctl_role role, const uint8_t *k)
{
	struct wf_ctl_conn_config cfg = {.role = role};

	memcpy(cfg.key, k, WF_CTL_KEY_LEN);
	strcpy(cfg.identity, PEER_ADDR);
	return cfg;
}

static int setup(void **state)
{
	memset(&w, 0, sizeof(w));
	w.base = event_base_new();
	return w.base ? 0 : -1;
}

static int teardown(void **state)
{
	wf_ctl_conn_free(w.client.conn);
	wf_ctl_conn_free(w.server.conn);
	if (w.listener)
		evconnlistener_free(w.listener);
	/* let libevent finish closing what was freed inside callbacks */
	event_base_loop(w.base, EVLOOP_NONBLOCK);
	event_base_free(w.base);
	return 0;
}

/* Two real connections over loopback TCP */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	assert_null(w.server.conn);
	assert_int_equal(
	    wf_ctl_conn_new(w.base, fd, &w.server_cfg, &ops, &w.server, &w.server.conn), 0);
}

static void connect_over_loopback(const uint8_t *client_key, const uint8_t *server_key)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct wf_ctl_conn_config client_cfg = config(WF_CTL_CLIENT, client_key);
	socklen_t len = sizeof(addr);

	w.server_cfg = config(WF_CTL_SERVER, server_key);
	w.listener = evconnlistener_new_bind(w.base, on_accept, NULL,
	                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
	                                     (struct sockaddr *)&addr, sizeof(addr));
	assert_non_null(w.listener);
	assert_int_equal(
	    getsockname(evconnlistener_get_fd(w.listener), (struct sockaddr *)&addr, &len), 0);
	assert_int_equal(wf_ctl_conn_connect(w.base, (struct sockaddr *)&addr, sizeof(addr), NULL,
	                                     0, &client_cfg, &ops, &w.client, &w.client.conn),
	                 0);
}

static void handshake_then_state_and_ack_over_tcp(void **state)
{
	w.exchange_state = true;
	connect_over_loopback(key, key);
	run_loop();

	assert_int_equal(w.client.established, 1);
	assert_int_equal(w.server.established, 1);
	/* gateway_info, then state_ack */
	assert_int_equal(w.client.messages, 2);
	assert_int_equal(w.client.last.type, WF_CTL_MSG_STATE_ACK);
	assert_int_equal(w.client.last.gateway_info.mtu, 1420);
	assert_int_equal(w.client.ack_generation, 42);
	assert_int_equal(w.client.ack_forwards, 2);
	assert_true(w.client.ack_second_refused);
	assert_int_equal(w.server.messages, 1);
	/* the client closed with a reason, and the server was told it */
	assert_int_equal(w.client.closed, 0);
	assert_int_equal(w.server.closed, 1);
	assert_int_equal(w.server.close_err, -EPROTO);
	assert_string_equal(w.server.close_reason, "peer: done");
}

static void largest_state_and_its_ack_cross_a_connection(void **state)
{
	w.exchange_state = true;
	w.largest = true;
	connect_over_loopback(key, key);
	run_loop();

	assert_int_equal(w.client.messages, 2);
	assert_int_equal(w.client.last.type, WF_CTL_MSG_STATE_ACK);
	assert_true(w.client.ack_generation == INT64_MAX);
	assert_int_equal(w.client.ack_forwards, WF_CTL_ENTRIES_MAX);
	assert_true(w.client.ack_second_refused);
	assert_int_equal(w.server.messages, 1);
	assert_string_equal(w.server.close_reason, "peer: done");
}

static void different_keys_fail_on_both_ends(void **state)
{
	connect_over_loopback(key, other_key);
	run_loop();

	assert_int_equal(w.client.established, 0);
	assert_int_equal(w.server.established, 0);
	assert_int_equal(w.client.closed, 1);
	assert_int_equal(w.client.close_err, -EACCES);
	assert_non_null(strstr(w.client.close_reason, "different key"));
	assert_int_equal(w.server.closed, 1);
	assert_int_equal(w.server.close_err, -ECONNRESET);
}

static void refused_connect_is_reported_through_on_close(void **state)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct wf_ctl_conn_config cfg = config(WF_CTL_CLIENT, key);
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a port that was just free and has no listener */
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	close(fd);
	assert_int_equal(wf_ctl_conn_connect(w.base, (struct sockaddr *)&addr, sizeof(addr), NULL,
	                                     0, &cfg, &ops, &w.client, &w.client.conn),
	                 0);
	w.stop_on_any_close = true;
	run_loop();
	assert_int_equal(w.client.closed, 1);
	assert_int_equal(w.client.close_err, -ECONNREFUSED);
}

static void sending_is_refused_before_the_handshake_and_for_the_wrong_role(void **state)
{
	struct wf_ctl_msg ping = {.type = WF_CTL_MSG_PING};
	struct wf_ctl_msg s = {.type = WF_CTL_MSG_STATE};
	struct wf_ctl_conn_config client_cfg = config(WF_CTL_CLIENT, key);
	struct wf_ctl_conn_config server_cfg = config(WF_CTL_SERVER, key);
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(
	    wf_ctl_conn_new(w.base, fds[0], &client_cfg, &ops, &w.client, &w.client.conn), 0);
	assert_int_equal(
	    wf_ctl_conn_new(w.base, fds[1], &server_cfg, &ops, &w.server, &w.server.conn), 0);
	assert_int_equal(wf_ctl_conn_send(w.client.conn, &ping), -ENOTCONN);
	loop_until(both_established);
	assert_int_equal(wf_ctl_conn_send(w.server.conn, &s), -EPERM);
	assert_int_equal(wf_ctl_conn_send(w.client.conn, &s), 0);
	assert_string_equal(wf_ctl_conn_identity(w.server.conn), PEER_ADDR);
	assert_true(wf_ctl_conn_established(w.client.conn));
}

static void keepalive_answers_keep_an_idle_connection_open(void **state)
{
	struct wf_ctl_conn_config client_cfg = config(WF_CTL_CLIENT, key);
	struct wf_ctl_conn_config server_cfg = config(WF_CTL_SERVER, key);
	struct timeval run_for = {.tv_sec = 1};
	int fds[2];

	/* The server pings often and gives up after a few missed answers; the client never
	 * pings on its own within the test, so only its pongs keep the server content. */
	server_cfg.ping_interval_ms = 20;
	server_cfg.dead_after_ms = 400;
	client_cfg.ping_interval_ms = 60000;
	client_cfg.dead_after_ms = 60000;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(
	    wf_ctl_conn_new(w.base, fds[0], &client_cfg, &ops, &w.client, &w.client.conn), 0);
	assert_int_equal(
	    wf_ctl_conn_new(w.base, fds[1], &server_cfg, &ops, &w.server, &w.server.conn), 0);
	w.stop_on_any_close = true;
	event_base_loopexit(w.base, &run_for);
	run_loop();
	assert_int_equal(w.server.established, 1);
	assert_int_equal(w.server.closed, 0);
	assert_int_equal(w.client.closed, 0);
	/* pings and pongs never reach on_message */
	assert_int_equal(w.client.messages, 0);
	assert_int_equal(w.server.messages, 0);
}

/* A hand-driven peer on the other end of a socketpair */

struct raw_peer {
	int fd;
	struct event *ev;
	struct wf_ctl_auth auth;
	struct wf_ctl_session session;
	uint8_t buf[65536];
	size_t len;
	bool established;
	bool eof;
	int pings;
	char error[WF_CTL_REASON_MAX];
};

static struct raw_peer raw;

static void raw_write(const void *data, size_t len)
{
	assert_int_equal(write(raw.fd, data, len), (ssize_t)len);
}

static void raw_write_frame(const uint8_t *body, size_t len)
{
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];

	wf_ctl_frame_header(header, (uint32_t)len);
	raw_write(header, sizeof(header));
	raw_write(body, len);
}

static size_t raw_seal(const char *json, uint8_t *out)
{
	size_t len = strlen(json);

	assert_int_equal(wf_ctl_seal(&raw.session, (const uint8_t *)json, len, out), 0);
	return len + WF_CTL_TAG_LEN;
}

static void raw_send_sealed(const char *json)
{
	uint8_t sealed[1024];

	raw_write_frame(sealed, raw_seal(json, sealed));
}

static void raw_take_frame(const uint8_t *body, size_t len)
{
	uint8_t reply[WF_CTL_HANDSHAKE_FRAME_MAX], plain[4096];
	size_t reply_len, plain_len;
	struct wf_ctl_msg m;
	char err[256];
	int ret;

	if (!raw.established) {
		ret = wf_ctl_auth_step(&raw.auth, body, len, reply, sizeof(reply), &reply_len,
		                       &raw.session, err, sizeof(err));
		assert_true(ret >= 0);
		if (reply_len)
			raw_write_frame(reply, reply_len);
		raw.established = ret == 1;
		return;
	}
	assert_int_equal(wf_ctl_open(&raw.session, body, len, plain, &plain_len), 0);
	assert_int_equal(wf_ctl_msg_decode((const char *)plain, plain_len, &m, err, sizeof(err)),
	                 0);
	if (m.type == WF_CTL_MSG_PING)
		raw.pings++;
	if (m.type == WF_CTL_MSG_ERROR)
		snprintf(raw.error, sizeof(raw.error), "%s", m.error.reason);
	wf_ctl_msg_clear(&m);
}

static void raw_on_read(evutil_socket_t fd, short what, void *arg)
{
	ssize_t n = read(raw.fd, raw.buf + raw.len, sizeof(raw.buf) - raw.len);
	size_t body_len;

	if (n <= 0) {
		raw.eof = true;
		event_del(raw.ev);
		return;
	}
	raw.len += (size_t)n;
	while (wf_ctl_frame_parse(raw.buf, raw.len, sizeof(raw.buf), &body_len) == 1) {
		raw_take_frame(raw.buf + WF_CTL_FRAME_HEADER_LEN, body_len);
		memmove(raw.buf, raw.buf + WF_CTL_FRAME_HEADER_LEN + body_len,
		        raw.len - WF_CTL_FRAME_HEADER_LEN - body_len);
		raw.len -= WF_CTL_FRAME_HEADER_LEN + body_len;
	}
}

/* A server wf_ctl_conn on one end, the raw client on the other (its hello not yet sent). */
static void server_against_raw_client(struct wf_ctl_conn_config *server_cfg)
{
	int fds[2];

	memset(&raw, 0, sizeof(raw));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	raw.fd = fds[1];
	raw.ev = event_new(w.base, raw.fd, EV_READ | EV_PERSIST, raw_on_read, NULL);
	event_add(raw.ev, NULL);
	assert_int_equal(wf_ctl_auth_init(&raw.auth, WF_CTL_CLIENT, key, PEER_ADDR), 0);
	assert_int_equal(
	    wf_ctl_conn_new(w.base, fds[0], server_cfg, &ops, &w.server, &w.server.conn), 0);
	w.stop_on_any_close = true;
}

static void raw_send_hello(void)
{
	uint8_t hello[WF_CTL_HANDSHAKE_FRAME_MAX];
	size_t len;

	assert_int_equal(wf_ctl_auth_start(&raw.auth, hello, sizeof(hello), &len), 0);
	raw_write_frame(hello, len);
}

static bool raw_and_server_established(void)
{
	return raw.established && w.server.established;
}

static bool raw_saw_eof(void)
{
	return raw.eof;
}

static void raw_handshake(void)
{
	raw_send_hello();
	loop_until(raw_and_server_established);
}

/* Reads what the server sent last (its `error`), then the end of the stream. */
static void raw_drain_to_eof(void)
{
	loop_until(raw_saw_eof);
}

static void raw_free(void)
{
	event_free(raw.ev);
	close(raw.fd);
}

static void silent_peer_is_declared_dead(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);

	cfg.ping_interval_ms = 20;
	cfg.dead_after_ms = 150;
	server_against_raw_client(&cfg);
	raw_handshake();
	run_loop();
	assert_int_equal(w.server.closed, 1);
	assert_int_equal(w.server.close_err, -ETIMEDOUT);
	assert_non_null(strstr(w.server.close_reason, "nothing heard"));
	raw_drain_to_eof();
	assert_true(raw.pings > 0);
	assert_non_null(strstr(raw.error, "nothing heard"));
	raw_free();
}

static void silent_client_is_dropped_at_the_handshake_deadline(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);

	cfg.handshake_timeout_ms = 50;
	server_against_raw_client(&cfg);
	run_loop();
	assert_int_equal(w.server.established, 0);
	assert_int_equal(w.server.close_err, -ETIMEDOUT);
	assert_non_null(strstr(w.server.close_reason, "handshake not complete"));
	raw_drain_to_eof();
	raw_free();
}

static void trickling_client_is_dropped_at_the_handshake_deadline(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);
	uint8_t part[] = {0, 0, 0, 50, WF_CTL_HELLO_TYPE_CLIENT, WF_CTL_HANDSHAKE_VERSION, 1, 2, 3};

	cfg.handshake_timeout_ms = 50;
	server_against_raw_client(&cfg);
	raw_write(part, sizeof(part));
	run_loop();
	assert_int_equal(w.server.close_err, -ETIMEDOUT);
	raw_drain_to_eof();
	raw_free();
}

static void oversized_handshake_frame_closes_before_its_body(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];

	server_against_raw_client(&cfg);
	/* only the header: the server must not wait for a body */
	wf_ctl_frame_header(header, WF_CTL_HANDSHAKE_FRAME_MAX + 1);
	raw_write(header, sizeof(header));
	run_loop();
	assert_int_equal(w.server.close_err, -EMSGSIZE);
	raw_drain_to_eof();
	raw_free();
}

static void oversized_sealed_frame_closes_before_its_body(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);
	uint8_t header[WF_CTL_FRAME_HEADER_LEN];

	server_against_raw_client(&cfg);
	raw_handshake();
	wf_ctl_frame_header(header, WF_CTL_FRAME_MAX + 1);
	raw_write(header, sizeof(header));
	run_loop();
	assert_int_equal(w.server.close_err, -EMSGSIZE);
	raw_drain_to_eof();
	assert_non_null(strstr(raw.error, "at most 1048576"));
	raw_free();
}

static void replayed_sealed_frame_closes_the_connection(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);
	uint8_t sealed[256];
	size_t len;

	server_against_raw_client(&cfg);
	raw_handshake();
	len = raw_seal("{\"v\":3,\"type\":\"pong\"}", sealed);
	raw_write_frame(sealed, len);
	raw_write_frame(sealed, len);
	run_loop();
	assert_int_equal(w.server.close_err, -EBADMSG);
	assert_non_null(strstr(w.server.close_reason, "frame 1 does not authenticate"));
	raw_drain_to_eof();
	raw_free();
}

static void tampered_sealed_frame_closes_the_connection(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);
	uint8_t sealed[256];
	size_t len;

	server_against_raw_client(&cfg);
	raw_handshake();
	len = raw_seal("{\"v\":3,\"type\":\"pong\"}", sealed);
	sealed[5] ^= 1;
	raw_write_frame(sealed, len);
	run_loop();
	assert_int_equal(w.server.close_err, -EBADMSG);
	assert_int_equal(w.server.messages, 0);
	raw_drain_to_eof();
	raw_free();
}

static void malformed_message_is_answered_with_error_and_closed(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);

	server_against_raw_client(&cfg);
	raw_handshake();
	raw_send_sealed("{\"v\":3,\"type\":\"state\",\"generation\":1,\"forwards\":{\"tcp\":{"
	                "\"ipv4\":[70000,1],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}},"
	                "\"egress\":{\"tcp\":[],\"udp\":[],\"any\":false}}");
	run_loop();
	assert_int_equal(w.server.close_err, -EBADMSG);
	assert_int_equal(w.server.messages, 0);
	raw_drain_to_eof();
	assert_non_null(strstr(raw.error, "forwards.tcp.ipv4[0]: 70000 is out of range"));
	raw_free();
}

/* An agent from before message version 2 passes the handshake (its version did not change)
 * and is then told, in words, what is wrong. */
static void message_version_1_is_answered_with_the_versions(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);

	server_against_raw_client(&cfg);
	raw_handshake();
	raw_send_sealed("{\"v\":1,\"type\":\"state\",\"generation\":1,\"forwards\":[{\"proto\":"
	                "\"tcp\",\"family\":\"ipv4\",\"public_port\":443,\"target_port\":443}],"
	                "\"egress\":[]}");
	run_loop();
	assert_int_equal(w.server.close_err, -EBADMSG);
	assert_int_equal(w.server.messages, 0);
	assert_non_null(strstr(w.server.close_reason, "v: protocol version 1, this side speaks 3"));
	/* this side's software version too: the peer (an old agent) sent none */
	assert_non_null(strstr(w.server.close_reason, "(peer: version unknown; this side: wgfwd "));
	raw_drain_to_eof();
	assert_non_null(strstr(raw.error, "v: protocol version 1, this side speaks 3"));
	assert_non_null(strstr(raw.error, "(peer: version unknown; this side: wgfwd "));
	raw_free();
}

static void message_of_the_other_direction_closes_the_connection(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);

	server_against_raw_client(&cfg);
	raw_handshake();
	raw_send_sealed("{\"v\":3,\"type\":\"gateway_info\",\"ipv4\":[],\"ipv6\":[],\"mtu\":1420}");
	run_loop();
	assert_int_equal(w.server.close_err, -EPROTO);
	assert_int_equal(w.server.messages, 0);
	raw_drain_to_eof();
	assert_non_null(strstr(raw.error, "gateway_info"));
	raw_free();
}

static void client_claiming_another_identity_is_dropped(void **state)
{
	struct wf_ctl_conn_config cfg = config(WF_CTL_SERVER, key);

	strcpy(cfg.identity, "192.168.160.9");
	server_against_raw_client(&cfg);
	raw_send_hello();
	run_loop();
	assert_int_equal(w.server.close_err, -EACCES);
	assert_int_equal(w.server.established, 0);
	raw_drain_to_eof();
	raw_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(handshake_then_state_and_ack_over_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(largest_state_and_its_ack_cross_a_connection, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(different_keys_fail_on_both_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(refused_connect_is_reported_through_on_close, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        sending_is_refused_before_the_handshake_and_for_the_wrong_role, setup, teardown),
	    cmocka_unit_test_setup_teardown(keepalive_answers_keep_an_idle_connection_open, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(silent_peer_is_declared_dead, setup, teardown),
	    cmocka_unit_test_setup_teardown(silent_client_is_dropped_at_the_handshake_deadline,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(trickling_client_is_dropped_at_the_handshake_deadline,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(oversized_handshake_frame_closes_before_its_body, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(oversized_sealed_frame_closes_before_its_body, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(replayed_sealed_frame_closes_the_connection, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(tampered_sealed_frame_closes_the_connection, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(malformed_message_is_answered_with_error_and_closed,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(message_version_1_is_answered_with_the_versions, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(message_of_the_other_direction_closes_the_connection,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(client_claiming_another_identity_is_dropped, setup,
	                                    teardown),
	};

	/* as in the daemons: a write to a vanished peer is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
