/* The agent's end of the control channel against a scripted gateway on loopback: whole state
 * on connect, deltas on what was acknowledged, one message at a time, results merged per
 * entry, and the whole state again when the gateway asks for it. */
#include <wgfwd-agent/gateway_link.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
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

#include <wgfwd/log.h>

static const uint8_t key[WF_CTL_KEY_LEN] = "0123456789abcdef0123456789abcdef";

#define GUARD_MS 10000

/* The scripted gateway: holds what it applied, refuses ports 22 and 33, answers at once unless
 * told to hold its answers or to forget what it holds. */
struct gateway {
	struct event_base *base;
	struct evconnlistener *listener;
	struct wf_ctl_conn *conn;
	uint16_t port;
	struct wf_ctl_state held;
	bool holds;
	bool forget;    /* answer the next delta with resend */
	bool hold_acks; /* keep answers back */
	struct wf_ctl_msg waiting[8];
	size_t n_waiting;
	/* what came */
	int states, deltas;
	struct wf_ctl_msg last; /* the last message, a deep copy of its entries */
};

/* What the link told its owner. */
#define OWN_MAX 128
struct owner {
	int acks;
	struct wf_ctl_state state;
	struct wf_ctl_result forwards[OWN_MAX];
	size_t n_forwards;
	bool applied;
};

static struct gateway gw;
static struct owner own;
static bool guard_fired;

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	guard_fired = true;
	event_base_loopbreak(gw.base);
}

/* Runs the loop until *counter reaches want. */
static void run_until(int *counter, int want)
{
	struct timeval tv = {.tv_sec = GUARD_MS / 1000};
	struct event *guard = evtimer_new(gw.base, on_guard, NULL);

	evtimer_add(guard, &tv);
	while (*counter < want && !guard_fired)
		event_base_loop(gw.base, EVLOOP_ONCE);
	event_free(guard);
	assert_false(guard_fired);
}

static void results_for(const struct wf_ctl_forward *f, size_t n, struct wf_ctl_state_ack *a)
{
	a->applied = true;
	a->n_forwards = n;
	a->forwards = calloc(n + 1, sizeof(*a->forwards));
	a->egress = calloc(1, sizeof(*a->egress));
	for (size_t i = 0; i < n; i++) {
		a->forwards[i].accepted = f[i].public_port != 22 && f[i].public_port != 33;
		if (!a->forwards[i].accepted)
			snprintf(a->forwards[i].reason, sizeof(a->forwards[i].reason),
			         f[i].public_port == 22 ? "tcp/22 is reserved on the gateway"
			                                : "33 is taken");
	}
}

/* The gateway's side of a delta, by the protocol: del goes, add comes, sorted again. */
static void apply_delta(const struct wf_ctl_state_delta *d)
{
	struct wf_ctl_state next = {0};

	next.forwards = calloc(gw.held.n_forwards + d->add.n_forwards + 1, sizeof(*next.forwards));
	for (size_t i = 0; i < gw.held.n_forwards; i++) {
		bool gone = false;

		for (size_t j = 0; j < d->del.n_forwards; j++)
			gone = gone || wf_ctl_forwards_equal(&gw.held.forwards[i], 1,
			                                     &d->del.forwards[j], 1);
		if (!gone)
			next.forwards[next.n_forwards++] = gw.held.forwards[i];
	}
	for (size_t j = 0; j < d->add.n_forwards; j++)
		next.forwards[next.n_forwards++] = d->add.forwards[j];
	wf_ctl_state_sort(&next);
	next.generation = d->generation;
	wf_ctl_state_clear(&gw.held);
	gw.held = next;
}

static void answer(struct wf_ctl_msg *ack)
{
	if (gw.hold_acks) {
		assert_true(gw.n_waiting < 8);
		gw.waiting[gw.n_waiting++] = *ack;
		return;
	}
	assert_int_equal(wf_ctl_conn_send(gw.conn, ack), 0);
	wf_ctl_msg_clear(ack);
}

static void release_acks(void)
{
	gw.hold_acks = false;
	for (size_t i = 0; i < gw.n_waiting; i++)
		answer(&gw.waiting[i]);
	gw.n_waiting = 0;
}

static void gw_on_message(struct wf_ctl_conn *c, const struct wf_ctl_msg *m, void *arg)
{
	struct wf_ctl_msg ack = {0};

	wf_ctl_msg_clear(&gw.last);
	gw.last.type = m->type;
	if (m->type == WF_CTL_MSG_STATE) {
		gw.states++;
		wf_ctl_state_copy(&gw.last.state, &m->state);
		wf_ctl_state_clear(&gw.held);
		wf_ctl_state_copy(&gw.held, &m->state);
		gw.holds = true;
		ack.type = WF_CTL_MSG_STATE_ACK;
		ack.state_ack.generation = m->state.generation;
		results_for(m->state.forwards, m->state.n_forwards, &ack.state_ack);
	} else if (m->type == WF_CTL_MSG_STATE_DELTA) {
		gw.deltas++;
		gw.last.state_delta.generation = m->state_delta.generation;
		gw.last.state_delta.base = m->state_delta.base;
		wf_ctl_state_copy(&gw.last.state_delta.add, &m->state_delta.add);
		wf_ctl_state_copy(&gw.last.state_delta.del, &m->state_delta.del);
		ack.type = WF_CTL_MSG_DELTA_ACK;
		ack.state_ack.generation = m->state_delta.generation;
		if (gw.forget || !gw.holds || gw.held.generation != m->state_delta.base) {
			gw.forget = false;
			gw.holds = false;
			ack.state_ack.resend = true;
			snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason),
			         "the gateway does not hold it");
		} else {
			apply_delta(&m->state_delta);
			results_for(m->state_delta.add.forwards, m->state_delta.add.n_forwards,
			            &ack.state_ack);
		}
	} else {
		return;
	}
	answer(&ack);
}

static void gw_on_established(struct wf_ctl_conn *c, void *arg)
{
	struct wf_ctl_msg info = {.type = WF_CTL_MSG_GATEWAY_INFO};

	info.gateway_info.mtu = 1420;
	wf_ctl_conn_send(c, &info);
}

static void gw_on_close(struct wf_ctl_conn *c, int err, const char *reason, void *arg)
{
	wf_ctl_conn_free(c);
	if (gw.conn == c)
		gw.conn = NULL;
}

static const struct wf_ctl_conn_ops gw_ops = {
    .on_established = gw_on_established,
    .on_message = gw_on_message,
    .on_close = gw_on_close,
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
	struct wf_ctl_conn_config cfg = {.role = WF_CTL_SERVER};

	memcpy(cfg.key, key, sizeof(key));
	if (gw.conn)
		wf_ctl_conn_free(gw.conn);
	gw.holds = false;
	assert_int_equal(wf_ctl_conn_new(gw.base, fd, &cfg, &gw_ops, NULL, &gw.conn), 0);
}

static void on_state_ack(void *ctx, const struct wf_ctl_state *state,
                         const struct wf_ctl_state_ack *ack)
{
	own.acks++;
	own.applied = ack->applied;
	wf_ctl_state_clear(&own.state);
	wf_ctl_state_copy(&own.state, state);
	own.n_forwards = ack->n_forwards < OWN_MAX ? ack->n_forwards : OWN_MAX;
	memcpy(own.forwards, ack->forwards, own.n_forwards * sizeof(*ack->forwards));
}

/* The same answers, as the link keeps them: spelt out here as state_ack would. */
static void on_state_results(void *ctx, const struct wf_ctl_state *state,
                             const struct wf_ctl_state_ack *ack,
                             const struct wf_gateway_link_results *r)
{
	own.acks++;
	own.applied = ack->applied;
	wf_ctl_state_clear(&own.state);
	wf_ctl_state_copy(&own.state, state);
	own.n_forwards = 0;
	if (!r)
		return;
	own.n_forwards = state->n_forwards < OWN_MAX ? state->n_forwards : OWN_MAX;
	for (size_t i = 0; i < own.n_forwards; i++) {
		own.forwards[i].accepted = !r->fw[i];
		snprintf(own.forwards[i].reason, sizeof(own.forwards[i].reason), "%s",
		         r->fw[i] ? r->reasons[r->fw[i] - 1] : "");
	}
}

static const struct wf_gateway_link_ops link_ops = {.state_ack = on_state_ack};
static const struct wf_gateway_link_ops results_ops = {.state_results = on_state_results};
static bool use_results;

static struct wf_gateway_link *link_up(void)
{
	struct wf_gateway_link_config cfg = {.gateway = "127.0.0.1", .local = "127.0.0.1"};
	struct wf_gateway_link *l;

	cfg.port = gw.port;
	memcpy(cfg.key, key, sizeof(key));
	assert_int_equal(
	    wf_gateway_link_new(&l, gw.base, &cfg, use_results ? &results_ops : &link_ops, NULL),
	    0);
	return l;
}

static void set(struct wf_gateway_link *l, const uint16_t *ports, size_t n)
{
	struct wf_ctl_forward f[16];
	struct wf_ctl_state s = {.forwards = f, .n_forwards = n};

	for (size_t i = 0; i < n; i++)
		f[i] = (struct wf_ctl_forward){IPPROTO_TCP, AF_INET, ports[i], ports[i]};
	assert_int_equal(wf_gateway_link_set_state(l, &s), 0);
}

static const struct wf_ctl_result *result_of(uint16_t port)
{
	for (size_t i = 0; i < own.n_forwards; i++)
		if (own.state.forwards[i].public_port == port)
			return &own.forwards[i];
	fail_msg("no result for port %u", port);
	return NULL;
}

static void connect_sends_the_state_and_a_change_sends_a_delta(void **state)
{
	struct wf_gateway_link *l = link_up();
	const uint16_t first[] = {443, 80, 22, 25, 993};
	const uint16_t second[] = {443, 8080, 22, 25, 993};

	set(l, first, 5);
	run_until(&own.acks, 1);
	assert_int_equal(gw.states, 1);
	assert_int_equal(gw.last.state.n_forwards, 5);
	/* sorted for the deltas: the results follow that order */
	assert_int_equal(own.state.forwards[0].public_port, 22);
	assert_false(result_of(22)->accepted);

	set(l, second, 5);
	run_until(&own.acks, 2);
	assert_int_equal(gw.states, 1);
	assert_int_equal(gw.deltas, 1);
	assert_int_equal(gw.last.state_delta.base, 1);
	assert_int_equal(gw.last.state_delta.generation, 2);
	assert_int_equal(gw.last.state_delta.add.n_forwards, 1);
	assert_int_equal(gw.last.state_delta.add.forwards[0].public_port, 8080);
	assert_int_equal(gw.last.state_delta.del.n_forwards, 1);
	assert_int_equal(gw.last.state_delta.del.forwards[0].public_port, 80);
	/* every entry's result, the base's kept and the added one's from the ack */
	assert_true(own.applied);
	assert_int_equal(own.n_forwards, 5);
	assert_false(result_of(22)->accepted);
	assert_string_equal(result_of(22)->reason, "tcp/22 is reserved on the gateway");
	assert_true(result_of(8080)->accepted);
	assert_true(result_of(443)->accepted);
	assert_int_equal(wf_gateway_link_generation_acked(l), 2);
	wf_gateway_link_free(l);
}

/* The results as the link keeps them name the same refusals, after a state and a delta. */
static void results_as_kept_say_what_the_acks_said(void **state)
{
	use_results = true;
	connect_sends_the_state_and_a_change_sends_a_delta(state);
	use_results = false;
}

/* A change handed over as the forwards it changes goes as the same delta as the whole state
 * would; one that does not fit the state is refused and changes nothing. */
static void changed_forwards_go_as_the_delta_the_whole_state_makes(void **state)
{
	struct wf_gateway_link *l = link_up();
	const uint16_t first[] = {443, 80, 22, 25, 993};
	const struct wf_ctl_forward f80 = {IPPROTO_TCP, AF_INET, 80, 80},
	                            f8080 = {IPPROTO_TCP, AF_INET, 8080, 8080},
	                            f25 = {IPPROTO_TCP, AF_INET, 25, 25};

	assert_int_equal(wf_gateway_link_change_forwards(l, NULL, 0, &f8080, 1), -ESTALE);
	set(l, first, 5);
	run_until(&own.acks, 1);
	assert_int_equal(wf_gateway_link_change_forwards(l, &f80, 1, &f8080, 1), 0);
	run_until(&own.acks, 2);
	assert_int_equal(gw.deltas, 1);
	assert_int_equal(gw.last.state_delta.add.n_forwards, 1);
	assert_int_equal(gw.last.state_delta.add.forwards[0].public_port, 8080);
	assert_int_equal(gw.last.state_delta.del.n_forwards, 1);
	assert_int_equal(gw.last.state_delta.del.forwards[0].public_port, 80);
	assert_int_equal(own.state.n_forwards, 5);
	assert_true(result_of(8080)->accepted);
	assert_false(result_of(22)->accepted);

	/* 80 is gone, 25 is there: neither fits, and the state stays */
	assert_int_equal(wf_gateway_link_change_forwards(l, &f80, 1, NULL, 0), -ESTALE);
	assert_int_equal(wf_gateway_link_change_forwards(l, NULL, 0, &f25, 1), -ESTALE);
	assert_int_equal(wf_gateway_link_generation_sent(l), 2);
	/* the same forward given and taken: 25 moved */
	assert_int_equal(wf_gateway_link_change_forwards(l, &f25, 1, &f25, 1), 0);
	run_until(&own.acks, 3);
	assert_int_equal(own.state.n_forwards, 5);
	/* a forward the protocol cannot carry is checked as a whole state would be */
	assert_int_equal(wf_gateway_link_change_forwards(
	                     l, NULL, 0, &(struct wf_ctl_forward){IPPROTO_TCP, AF_INET, 0, 0}, 1),
	                 0);
	assert_non_null(strstr(wf_gateway_link_state_error(l), "0 is out of range"));
	assert_int_equal(wf_gateway_link_change_forwards(
	                     l, &(struct wf_ctl_forward){IPPROTO_TCP, AF_INET, 0, 0}, 1, NULL, 0),
	                 0);
	assert_string_equal(wf_gateway_link_state_error(l), "");
	wf_gateway_link_free(l);
}

static void a_gateway_without_the_base_gets_the_whole_state(void **state)
{
	struct wf_gateway_link *l = link_up();
	const uint16_t first[] = {443, 80, 25};
	const uint16_t second[] = {443, 80, 25, 9000};

	set(l, first, 3);
	run_until(&own.acks, 1);
	gw.forget = true;
	set(l, second, 4);
	run_until(&own.acks, 2);
	assert_int_equal(gw.deltas, 1);
	assert_int_equal(gw.states, 2);
	assert_int_equal(gw.last.type, WF_CTL_MSG_STATE);
	assert_int_equal(gw.last.state.n_forwards, 4);
	assert_int_equal(own.n_forwards, 4);
	assert_true(result_of(9000)->accepted);
	wf_gateway_link_free(l);
}

/* Changes while a message is on its way wait for its answer, and go as one delta on it. */
static void changes_in_flight_go_as_one_delta_on_the_answer(void **state)
{
	struct wf_gateway_link *l = link_up();
	const uint16_t a[] = {1000, 1001, 1002, 1003}, b[] = {1000, 1001, 1002, 1003, 1004},
	               c[] = {1000, 1001, 1002, 1003, 1004, 1005},
	               d[] = {1001, 1002, 1003, 1004, 1005, 1006};

	set(l, a, 4);
	run_until(&own.acks, 1);
	gw.hold_acks = true;
	set(l, b, 5);
	run_until(&gw.deltas, 1);
	set(l, c, 6);
	set(l, d, 6);
	/* nothing more goes until the answer */
	for (int i = 0; i < 20; i++)
		event_base_loop(gw.base, EVLOOP_NONBLOCK);
	assert_int_equal(gw.deltas, 1);
	release_acks();
	run_until(&own.acks, 3);
	assert_int_equal(gw.deltas, 2);
	assert_int_equal(gw.last.state_delta.base, 2);
	assert_int_equal(gw.last.state_delta.generation, 4);
	assert_int_equal(gw.last.state_delta.add.n_forwards, 2); /* 1005, 1006 */
	assert_int_equal(gw.last.state_delta.del.n_forwards, 1); /* 1000 */
	assert_int_equal(own.n_forwards, 6);
	assert_true(wf_ctl_forwards_equal(gw.held.forwards, gw.held.n_forwards, own.state.forwards,
	                                  own.state.n_forwards));
	wf_gateway_link_free(l);
}

/* A change that is most of the state goes as the state. */
static void a_delta_no_smaller_than_the_state_is_not_sent(void **state)
{
	struct wf_gateway_link *l = link_up();
	const uint16_t a[] = {1, 2, 3}, b[] = {4, 5, 6};

	set(l, a, 3);
	run_until(&own.acks, 1);
	set(l, b, 3);
	run_until(&own.acks, 2);
	assert_int_equal(gw.deltas, 0);
	assert_int_equal(gw.states, 2);
	wf_gateway_link_free(l);
}

/* Runs the loop until the gateway acknowledged the latest state. */
static void run_until_acked(struct wf_gateway_link *l)
{
	struct timeval tv = {.tv_sec = GUARD_MS / 1000};
	struct event *guard = evtimer_new(gw.base, on_guard, NULL);

	evtimer_add(guard, &tv);
	while (wf_gateway_link_generation_acked(l) != wf_gateway_link_generation_sent(l) &&
	       !guard_fired)
		event_base_loop(gw.base, EVLOOP_ONCE);
	event_free(guard);
	assert_false(guard_fired);
}

#define KEYS 80 /* 20 ports of each protocol and family */

static struct wf_ctl_forward key_forward(unsigned k, uint16_t target)
{
	return (struct wf_ctl_forward){.proto = k / 40 ? IPPROTO_UDP : IPPROTO_TCP,
	                               .family = k / 20 % 2 ? AF_INET6 : AF_INET,
	                               .public_port = (uint16_t)(20 + k % 20),
	                               .target_port = target};
}

/* The model's forwards as a state (target 0: absent). */
static void model_state(const uint16_t *target, struct wf_ctl_forward *f, struct wf_ctl_state *s)
{
	memset(s, 0, sizeof(*s));
	s->forwards = f;
	for (unsigned k = 0; k < KEYS; k++)
		if (target[k])
			f[s->n_forwards++] = key_forward(k, target[k]);
}

/* Changes handed over a few forwards at a time, many while a message is on its way, some as a
 * whole state, leave the owner with the state and the results that the same state sent whole
 * on a new connection brings. */
static void random_changes_end_where_the_whole_state_does(void **state)
{
	use_results = true;
	for (unsigned seed = 1; seed <= 40; seed++) {
		struct wf_gateway_link *l = link_up();
		uint16_t target[KEYS] = {0};
		struct wf_ctl_forward f[KEYS];
		struct wf_ctl_state s, kept = {0};
		struct wf_ctl_result results[OWN_MAX];
		size_t n_results;

		srandom(seed);
		for (unsigned k = 0; k < KEYS; k++)
			target[k] = random() % 2 ? (uint16_t)(1000 + k) : 0;
		model_state(target, f, &s);
		assert_int_equal(wf_gateway_link_set_state(l, &s), 0);
		run_until_acked(l);
		for (int step = 0; step < 60; step++) {
			struct wf_ctl_forward del[4], add[4];
			size_t n_del = 0, n_add = 0;
			unsigned n = 1 + (unsigned)(random() % 4), picked[4];

			if (random() % 3 == 0)
				gw.hold_acks = true;
			else if (gw.hold_acks)
				release_acks();
			if (random() % 12 == 0) {
				for (unsigned i = 0; i < n; i++) {
					unsigned k = (unsigned)(random() % KEYS);

					target[k] = target[k] ? 0 : (uint16_t)(2000 + k);
				}
				model_state(target, f, &s);
				assert_int_equal(wf_gateway_link_set_state(l, &s), 0);
				event_base_loop(gw.base, EVLOOP_NONBLOCK);
				continue;
			}
			for (unsigned i = 0; i < n; i++) {
				unsigned k = (unsigned)(random() % KEYS);
				bool again = false;

				for (unsigned j = 0; j < i; j++)
					again = again || picked[j] == k;
				picked[i] = k;
				if (again)
					continue;
				if (target[k])
					del[n_del++] = key_forward(k, target[k]);
				/* absent: comes; present: goes, or is replaced, or moves (the same)
				 */
				switch (target[k] ? random() % 3 : 0) {
				case 0:
					target[k] = target[k] ? 0 : (uint16_t)(1000 + k);
					break;
				case 1:
					target[k] = target[k] == 1000 + k ? (uint16_t)(3000 + k)
					                                  : (uint16_t)(1000 + k);
					break;
				default:
					break;
				}
				if (target[k])
					add[n_add++] = key_forward(k, target[k]);
			}
			assert_int_equal(wf_gateway_link_change_forwards(l, del, n_del, add, n_add),
			                 0);
			event_base_loop(gw.base, EVLOOP_NONBLOCK);
		}
		release_acks();
		run_until_acked(l);
		assert_true(gw.deltas > 10);
		model_state(target, f, &s);
		/* the gateway holds the model, and the owner was told it with its results */
		assert_true(
		    wf_ctl_forwards_equal(gw.held.forwards, gw.held.n_forwards, f, s.n_forwards));
		assert_true(wf_ctl_forwards_equal(own.state.forwards, own.state.n_forwards, f,
		                                  s.n_forwards));
		wf_ctl_state_copy(&kept, &own.state);
		n_results = own.n_forwards;
		memcpy(results, own.forwards, sizeof(results));
		wf_gateway_link_free(l);

		l = link_up();
		assert_int_equal(wf_gateway_link_set_state(l, &s), 0);
		run_until_acked(l);
		assert_true(wf_ctl_forwards_equal(own.state.forwards, own.state.n_forwards,
		                                  kept.forwards, kept.n_forwards));
		assert_int_equal(own.n_forwards, n_results);
		for (size_t i = 0; i < n_results; i++) {
			assert_int_equal(own.forwards[i].accepted, results[i].accepted);
			assert_string_equal(own.forwards[i].reason, results[i].reason);
		}
		wf_ctl_state_clear(&kept);
		wf_gateway_link_free(l);
	}
	use_results = false;
}

static int setup(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	memset(&gw, 0, sizeof(gw));
	wf_ctl_state_clear(&own.state);
	memset(&own, 0, sizeof(own));
	guard_fired = false;
	gw.base = event_base_new();
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	gw.listener = evconnlistener_new_bind(gw.base, on_accept, NULL,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
	                                      (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(gw.listener);
	getsockname(evconnlistener_get_fd(gw.listener), (struct sockaddr *)&sin, &len);
	gw.port = ntohs(sin.sin_port);
	return 0;
}

static int teardown(void **state)
{
	wf_ctl_conn_free(gw.conn);
	evconnlistener_free(gw.listener);
	event_base_free(gw.base);
	wf_ctl_state_clear(&gw.held);
	wf_ctl_msg_clear(&gw.last);
	for (size_t i = 0; i < gw.n_waiting; i++)
		wf_ctl_msg_clear(&gw.waiting[i]);
	wf_ctl_state_clear(&own.state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(connect_sends_the_state_and_a_change_sends_a_delta,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(results_as_kept_say_what_the_acks_said, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(changed_forwards_go_as_the_delta_the_whole_state_makes,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(a_gateway_without_the_base_gets_the_whole_state, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(changes_in_flight_go_as_one_delta_on_the_answer, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_delta_no_smaller_than_the_state_is_not_sent, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(random_changes_end_where_the_whole_state_does, setup,
	                                    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	wf_log_init("test_gateway_link", WF_LOG_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
