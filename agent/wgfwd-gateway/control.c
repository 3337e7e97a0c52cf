#include "control.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wgfwd/log.h>
#include <wgfwd/util.h>

#include "clients.h"
#include "state_peek.h"

/* A peer's next state waits at least this long after one was applied, or twice as long as that
 * one took, whichever is longer: however fast states come, one peer holds the gateway for at
 * most a third of its time. */
#define STATE_TURN_MIN_S 0.01

/* A peer that sends faster than its turns come is not read while it waits for one, nor during
 * one once a newer state came: reading and opening a largest state costs milliseconds, and a
 * peer sending them as fast as it can would keep the gateway busy reading. When its turn comes,
 * its connection is read for this long (or half as long as its last turn's steps took,
 * whichever is longer) first, so that the turn takes the latest state of those that waited. */
#define STATE_READ_WINDOW_S 0.01

/* Event priorities: a peer's turn and its steps run before the connections are read, unless
 * that peer sends faster than its turns come. Then they run with the reads, so a state that
 * came meanwhile from another peer is taken, its turn made active at PRIO_TURN, and it goes
 * before the busy peer's next step (libevent runs a higher priority made active during a
 * callback as soon as that callback returns); and the busy peer's steps still come, as a lower
 * priority than the reads could starve them. */
enum { PRIO_TURN, PRIO_READ, PRIO_N };

static const char *const rejection_names[WF_GW_REJECT_MAX] = {
    [WF_GW_REJECT_NOT_A_PEER] = "not_a_peer",
    [WF_GW_REJECT_TOO_MANY] = "too_many",
    [WF_GW_REJECT_IDENTITY] = "identity",
};

/* One per configured peer. */
struct peer {
	struct wf_gw_control *ctl;
	struct client *conn; /* the established connection; NULL when none */
	double next_turn;    /* when its next state may be applied (now_seconds) */
	/* The latest state that came before its turn, as the text that came: only the one whose
	 * turn comes is decoded, those superseded first never are. It goes with the connection. */
	char *pending;
	size_t pending_len;
	uint64_t pending_generation;
	bool has_pending;
	bool busy;          /* its last state came before its turn */
	bool paused;        /* its connection is not read (busy) */
	bool window;        /* read again before its turn, which waits for the window's end */
	struct event *turn; /* the next turn, while a state waits */
	/* A turn goes in steps, each its own callback, so that between them the loop runs
	 * whatever else is ready, another peer's turn first: decode, apply, answer. */
	enum { STEP_NONE, STEP_DECODE, STEP_APPLY, STEP_SETTLE, STEP_ANSWER } step;
	struct event *next_step;
	/* The state whose turn it is, while it is decoded: its text and generation. */
	struct wf_ctl_decoder *decoder;
	char *text;
	uint64_t generation;
	struct wf_ctl_msg msg;        /* the decoded state, then its ack */
	struct wf_ctl_msg ack;        /* the ack, while ops->state's steps fill it */
	double worked;                /* the time the turn's steps took, without what ran between */
	double cpu, cpu_longest;      /* their CPU time, and that of the longest */
	unsigned steps, decode_steps; /* decode_steps: how many of them decoded its text */
	struct superseded {
		uint64_t generation, by;
	} * held; /* acks of states superseded during the steps, sent after the turn's own */
	size_t n_held;
	/* The generation of the last state or delta applied on this connection: the only base a
	 * delta may build on. */
	uint64_t base;
	bool holds_base;
};

const char *wf_gw_rejection_name(enum wf_gw_rejection r)
{
	return r < WF_GW_REJECT_MAX ? rejection_names[r] : "?";
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One step of a turn is over: what it took counts against its peer (and is logged with the
 * turn's answer, so that how long the loop was held shows). */
static void step_took(struct peer *p, double start, double cpu_start)
{
	double cpu = cpu_seconds() - cpu_start;

	p->worked += now_seconds() - start;
	p->cpu += cpu;
	if (cpu > p->cpu_longest)
		p->cpu_longest = cpu;
	p->steps++;
}

static void send_gateway_info(struct client *cl)
{
	struct wf_gw_control *c = cl->ctl;
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_GATEWAY_INFO};
	int err;

	c->ops.gateway_info(c->ctx, cl->peer, &m.gateway_info);
	err = wf_ctl_conn_send(cl->conn, &m);
	if (err)
		log_warn("peer %s: cannot send gateway_info: %s", peer_name(c, cl->peer),
		         strerror(-err));
}

/* The text of the state whose turn it is, once decoded or given up. */
static void forget_text(struct peer *p)
{
	wf_ctl_decoder_free(p->decoder);
	p->decoder = NULL;
	free(p->text);
	p->text = NULL;
}

/* The state whose turn it is, and its ack, once the turn is over. */
static void forget_turn(struct peer *p)
{
	forget_text(p);
	wf_ctl_msg_clear(&p->msg);
	wf_ctl_msg_clear(&p->ack);
	p->step = STEP_NONE;
}

static void drop_pending(struct peer *p)
{
	/* What was applied is saved all the same (a turn cut short or one that left its saving to
	 * the next, too). */
	if (p->step == STEP_APPLY && p->ctl->ops.abandon)
		p->ctl->ops.abandon(p->ctl->ctx, (size_t)(p - p->ctl->peers));
	else if (p->step != STEP_ANSWER && p->ctl->ops.settle)
		p->ctl->ops.settle(p->ctl->ctx, (size_t)(p - p->ctl->peers));
	if (p->turn)
		event_del(p->turn);
	free(p->pending);
	p->pending = NULL;
	p->has_pending = false;
	if (p->next_step)
		event_del(p->next_step);
	forget_turn(p);
	p->paused = p->window = false;
	free(p->held);
	p->held = NULL;
	p->n_held = 0;
	p->holds_base = false;
}

static void client_unlink(struct client *cl)
{
	struct wf_gw_control *c = cl->ctl;
	struct peer *p = &c->peers[cl->peer];

	for (struct client **at = &c->clients; *at; at = &(*at)->next) {
		if (*at == cl) {
			*at = cl->next;
			c->n_clients--;
			break;
		}
	}
	if (p->conn == cl) {
		p->conn = NULL;
		drop_pending(p);
	}
}

/* Ends a connection the gateway no longer wants; reason goes to the peer when established. */
static void client_drop(struct client *cl, const char *reason)
{
	client_unlink(cl);
	wf_ctl_conn_close(cl->conn, reason);
	free(cl);
}

static void send_ack(struct client *cl, const struct wf_ctl_msg *ack)
{
	int err = wf_ctl_conn_send(cl->conn, ack);

	if (err) {
		/* The agent retries on its next connection. */
		log_warn("peer %s: cannot send state_ack: %s", peer_name(cl->ctl, cl->peer),
		         strerror(-err));
		client_drop(cl, "the gateway could not answer");
	}
}

static void send_superseded(struct client *cl, uint64_t generation, uint64_t by)
{
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	int err;

	/* Acknowledged as not applied, which the agent ignores: it heeds only its latest. */
	ack.state_ack.generation = generation;
	ack.state_ack.applied = false;
	snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason),
	         "superseded by state %llu before its turn came", (unsigned long long)by);
	err = wf_ctl_conn_send(cl->conn, &ack);
	if (err)
		log_debug("peer %s: cannot acknowledge a superseded state: %s",
		          peer_name(cl->ctl, cl->peer), strerror(-err));
}

/* Acks go in the order the states came: while a turn's steps run, those of the states
 * superseded meanwhile wait for its own. Returns false when the connection was dropped. */
static bool supersede(struct client *cl, uint64_t by)
{
	struct peer *p = &cl->ctl->peers[cl->peer];
	struct superseded *grown;

	cl->ctl->count.states_superseded++;
	if (p->step == STEP_NONE) {
		send_superseded(cl, p->pending_generation, by);
		return true;
	}
	grown = realloc(p->held, (p->n_held + 1) * sizeof(*grown));
	if (!grown) {
		client_drop(cl, "the gateway is out of memory");
		return false;
	}
	p->held = grown;
	p->held[p->n_held++] = (struct superseded){p->pending_generation, by};
	return true;
}

static void send_held(struct client *cl)
{
	struct peer *p = &cl->ctl->peers[cl->peer];

	for (size_t i = 0; i < p->n_held; i++)
		send_superseded(cl, p->held[i].generation, p->held[i].by);
	free(p->held);
	p->held = NULL;
	p->n_held = 0;
}

/* A turn whose steps have taken this long yields as a busy peer's does: a small change goes
 * back to back, a largest state lets the loop read and take others' states between its steps. */
#define STEP_YIELD_AFTER_S 0.01

/* The peer's next step runs once the callback under way returns: before the reads of the
 * connections when the peer is not busy and its turn short so far, with them otherwise. */
static void step_soon(struct peer *p, int step)
{
	static const struct timeval at_once = {0, 0};
	bool yield = p->busy || p->worked > STEP_YIELD_AFTER_S;

	p->step = step;
	event_priority_set(p->next_step, yield ? PRIO_READ : PRIO_TURN);
	/* Made active from its own callback, the next step would run before the loop looks at
	 * the sockets and timers again (libevent runs a priority's queue to its end): the whole
	 * turn would go back to back, and another peer's state wait for all of it. As a timer
	 * due now, it comes after what the loop finds ready meanwhile. */
	if (yield)
		evtimer_add(p->next_step, &at_once);
	else
		event_active(p->next_step, EV_TIMEOUT, 1);
}

static void pause_reading(struct peer *p, bool pause)
{
	if (!p->conn || p->paused == pause)
		return;
	p->paused = pause;
	wf_ctl_conn_read_pause(p->conn->conn, pause);
}

static void schedule_turn(struct peer *p, double wait)
{
	struct timeval tv = {0, 0};

	event_del(p->turn);
	event_priority_set(p->turn, p->busy ? PRIO_READ : PRIO_TURN);
	if (wait <= 0) {
		/* Active at once: the loop runs it as soon as the callback under way returns,
		 * ahead of a busy peer's next step already waiting. */
		event_active(p->turn, EV_TIMEOUT, 1);
		return;
	}
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	evtimer_add(p->turn, &tv);
}

/* The first step: the latest state that came is taken, to be decoded (only it: those it
 * superseded never are), a piece at a time. */
static void on_turn(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	struct client *cl = p->conn;
	double start = now_seconds(), cpu_start = cpu_seconds();

	if (!cl || !p->has_pending || p->step != STEP_NONE)
		return;
	if (p->paused) {
		double window =
		    p->worked / 2 > STATE_READ_WINDOW_S ? p->worked / 2 : STATE_READ_WINDOW_S;

		pause_reading(p, false);
		p->window = true;
		schedule_turn(p, window);
		return;
	}
	p->window = false;
	if (wf_ctl_decoder_new(p->pending, p->pending_len, &p->decoder)) {
		client_drop(cl, "the gateway is out of memory");
		return;
	}
	p->text = p->pending;
	p->generation = p->pending_generation;
	p->pending = NULL;
	p->has_pending = false;
	p->worked = p->cpu = p->cpu_longest = 0;
	p->steps = p->decode_steps = 0;
	step_took(p, start, cpu_start);
	step_soon(p, STEP_DECODE);
}

/* A piece of the state's text decoded; once all of it is, its steps of applying come. */
static void decode_step(struct peer *p, struct client *cl)
{
	char err[WF_CTL_REASON_MAX], reason[WF_CTL_REASON_MAX + 16];
	int ret = wf_ctl_decoder_step(p->decoder, WF_CTL_DECODE_STEP, &p->msg, err, sizeof(err));

	if (ret == 1) {
		step_soon(p, STEP_DECODE);
		return;
	}
	forget_text(p);
	if (ret < 0 || p->msg.type != WF_CTL_MSG_STATE) {
		/* As the connection answers a message it cannot decode. */
		snprintf(reason, sizeof(reason), "bad message: %s", ret < 0 ? err : "not a state");
		log_warn("peer %s: %s: closing", peer_name(cl->ctl, cl->peer), reason);
		client_drop(cl, reason);
		return;
	}
	p->ack.type = WF_CTL_MSG_STATE_ACK;
	p->ack.state_ack.generation = p->msg.state.generation;
	step_soon(p, STEP_APPLY);
}

/* A large state's text, its decoding and its ack (a result with a reason for every entry: megabytes
 * for a largest one) go back to malloc's free lists when freed, not to the system, and the last of
 * them is freed here, after the turn: the process would keep the peak of the largest state it was
 * ever sent. Once such a message is gone, what is free goes back. */
#define LARGE_MESSAGE_ENTRIES 1024

static void give_back_after(size_t entries)
{
	if (entries >= LARGE_MESSAGE_ENTRIES)
		malloc_trim(0);
}

/* A newer state came while this one's turn was under way: only the latest matters, so the turn
 * ends where it stands unless its state is in whole already (then it is answered as usual).
 * What its slices put in stays, as the daemon's state says, and the newer state's turn goes on
 * from there; the ports it was granted and not yet given are anyone's again. Its ack says it
 * was not applied, as for a state superseded before its turn. Returns true when cut short. */
static bool cut_short(struct peer *p, struct client *cl)
{
	struct wf_gw_control *c = cl->ctl;
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	uint64_t generation = p->step == STEP_DECODE ? p->generation : p->msg.state.generation;
	/* a state still being decoded is one too large to decode at once */
	size_t entries = p->step == STEP_DECODE ? LARGE_MESSAGE_ENTRIES
	                                        : p->msg.state.n_forwards + p->msg.state.n_egress;

	if (p->step == STEP_APPLY && (!c->ops.cut || !c->ops.cut(c->ctx, cl->peer)))
		return false;
	c->count.states_superseded++;
	forget_turn(p);
	give_back_after(entries);
	p->holds_base = false;
	log_debug("peer %s: state %llu cut short by state %llu after %u steps, %.1f ms of CPU, "
	          "the longest %.1f ms",
	          peer_name(c, cl->peer), (unsigned long long)generation,
	          (unsigned long long)p->pending_generation, p->steps, p->cpu * 1e3,
	          p->cpu_longest * 1e3);
	p->next_turn =
	    now_seconds() + (2 * p->worked > STATE_TURN_MIN_S ? 2 * p->worked : STATE_TURN_MIN_S);
	ack.state_ack.generation = generation;
	snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason),
	         "superseded by state %llu while it was applied",
	         (unsigned long long)p->pending_generation);
	send_ack(cl, &ack); /* may drop the connection */
	if (p->conn != cl)
		return true;
	send_held(cl);
	p->busy = true;
	schedule_turn(p, p->next_turn - now_seconds());
	return true;
}

/* Decide and apply (ops->state, in as many steps as it asks), save (ops->settle), then, as the
 * last step, answer. A kernel change stays one transaction: it is all in one of the steps. */
static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	struct client *cl = p->conn;
	struct wf_gw_control *c;
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_STATE_ACK};
	double start = now_seconds(), cpu_start = cpu_seconds();
	size_t entries;

	if (!cl)
		return;
	c = cl->ctl;
	if (p->has_pending && (p->step == STEP_DECODE || p->step == STEP_APPLY) && cut_short(p, cl))
		return;
	if (p->step == STEP_DECODE) {
		p->decode_steps++;
		decode_step(p, cl);
		if (p->conn == cl)
			step_took(p, start, cpu_start);
		return;
	}
	if (p->step == STEP_APPLY) {
		if (c->ops.state(c->ctx, cl->peer, &p->msg.state, &p->ack.state_ack)) {
			step_took(p, start, cpu_start);
			step_soon(p, STEP_APPLY);
			return;
		}
		p->holds_base = p->ack.state_ack.applied;
		p->base = p->ack.state_ack.generation;
		wf_ctl_msg_clear(&p->msg);
		p->msg = p->ack;
		memset(&p->ack, 0, sizeof(p->ack));
		step_took(p, start, cpu_start);
		step_soon(p, c->ops.settle ? STEP_SETTLE : STEP_ANSWER);
		return;
	}
	if (p->step == STEP_SETTLE) {
		/* With a newer state waiting, its own settle step saves what the kernel holds then:
		 * until that, a restart writes the state before whole, as after a cut. */
		if (!p->has_pending)
			c->ops.settle(c->ctx, cl->peer);
		step_took(p, start, cpu_start);
		step_soon(p, STEP_ANSWER);
		return;
	}
	if (p->step != STEP_ANSWER)
		return;
	ack = p->msg;
	memset(&p->msg, 0, sizeof(p->msg));
	p->step = STEP_NONE;
	step_took(p, start, cpu_start);
	log_debug("peer %s: state %llu: %u steps, %.1f ms of CPU, the longest %.1f ms; %u of "
	          "them decoding",
	          peer_name(c, cl->peer), (unsigned long long)ack.state_ack.generation, p->steps,
	          p->cpu * 1e3, p->cpu_longest * 1e3, p->decode_steps);
	p->next_turn =
	    now_seconds() + (2 * p->worked > STATE_TURN_MIN_S ? 2 * p->worked : STATE_TURN_MIN_S);
	send_ack(cl, &ack); /* may drop the connection, and with it p's pending state */
	entries = ack.state_ack.n_forwards + ack.state_ack.n_egress;
	wf_ctl_msg_clear(&ack);
	give_back_after(entries);
	if (p->conn != cl)
		return;
	send_held(cl);
	/* A state that came during the steps waited for them: its turn is next. */
	if (p->has_pending) {
		p->busy = true;
		schedule_turn(p, p->next_turn - now_seconds());
	}
}

/* Every state waits for its turn as an event, so that the connections the loop has ready are
 * read first and a newer state of the same peer can still replace it. json is the state's text,
 * generation its generation. Returns false when the connection was dropped. */
static bool take_state(struct client *cl, const char *json, size_t len, uint64_t generation)
{
	struct wf_gw_control *c = cl->ctl;
	struct peer *p = &c->peers[cl->peer];
	double wait = p->next_turn - now_seconds();
	char *copy = malloc(len ? len : 1);

	/* A state within the rest after the last one keeps a peer busy, but does not make it so:
	 * a peer that sends its next change as soon as the last is answered still goes first. */
	p->busy = p->has_pending || p->step != STEP_NONE || (wait > 0 && p->busy);
	if (p->busy && !p->window)
		pause_reading(p, true);
	if (p->has_pending) {
		if (!supersede(cl, generation)) {
			free(copy);
			return false;
		}
		free(p->pending);
		p->pending = NULL;
		p->has_pending = false;
	}
	if (!copy) {
		client_drop(cl, "the gateway is out of memory");
		return false;
	}
	memcpy(copy, json, len);
	p->pending = copy;
	p->pending_len = len;
	p->pending_generation = generation;
	p->has_pending = true;
	/* A turn already due keeps its time, at the priority of now; during a turn's steps, the
	 * last of them schedules the next. */
	if (p->step == STEP_NONE && !p->window)
		schedule_turn(p, wait);
	return true;
}

/* A message the connection decodes at once, in the read's own step: up to this size, that costs
 * about what a step of a turn does (a state's 1 MiB took 35-50 ms of CPU). */
#define TEXT_AT_ONCE_MAX (256 * 1024)

/* A larger delta is not decoded: the agent is asked for its whole state, whose turn goes in
 * steps. A larger text that is neither a plain state nor a plain delta (an escaped or repeated
 * key: nothing an agent writes) is refused, as a message that cannot be decoded is. */
static void refuse_large(struct client *cl, const char *json, size_t len)
{
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_DELTA_ACK};
	struct peer *p = &cl->ctl->peers[cl->peer];
	char reason[WF_CTL_REASON_MAX];

	if (!wf_gw_peek_message(json, len, "state_delta", &ack.state_ack.generation)) {
		snprintf(
		    reason, sizeof(reason),
		    "bad message: %zu bytes, over %d, and not a state or delta written plainly",
		    len, TEXT_AT_ONCE_MAX);
		log_warn("peer %s: %s: closing", peer_name(cl->ctl, cl->peer), reason);
		client_drop(cl, reason);
		return;
	}
	ack.state_ack.resend = true;
	snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason),
	         "a delta of %zu bytes is more than the gateway decodes at once (%d): send the "
	         "whole state",
	         len, TEXT_AT_ONCE_MAX);
	p->holds_base = false;
	send_ack(cl, &ack);
}

static bool on_text(struct wf_ctl_conn *conn, const char *json, size_t len, void *arg)
{
	struct client *cl = arg;
	uint64_t generation = 0;

	if (!cl->established)
		return false;
	if (wf_gw_peek_state(json, len, &generation)) {
		take_state(cl, json, len, generation);
		return true;
	}
	if (len <= TEXT_AT_ONCE_MAX)
		return false;
	refuse_large(cl, json, len);
	return true;
}

/* A delta up to this size costs less than the turns are there to bound: it goes at once even
 * when its peer's turn has not come. */
#define DELTA_SMALL 64

/* A delta is applied as it arrives, without waiting for a turn: one change is cheap, and a
 * newer state could not supersede it anyway (it builds on the one before). One that cannot
 * build on what the gateway holds (another base, a state still waiting), or a large one
 * before its peer's turn, is answered resend: the agent sends its whole state, which waits
 * for its turn as any state does. */
static void take_delta(struct client *cl, const struct wf_ctl_state_delta *dl)
{
	struct wf_gw_control *c = cl->ctl;
	struct peer *p = &c->peers[cl->peer];
	struct wf_ctl_msg ack = {.type = WF_CTL_MSG_DELTA_ACK};
	double start = now_seconds(), took;

	ack.state_ack.generation = dl->generation;
	if (!p->holds_base || p->base != dl->base || p->has_pending || p->step != STEP_NONE ||
	    (start < p->next_turn && wf_ctl_delta_entries(dl) > DELTA_SMALL)) {
		ack.state_ack.resend = true;
		snprintf(ack.state_ack.reason, sizeof(ack.state_ack.reason),
		         !p->holds_base || p->base != dl->base
		             ? "the gateway does not hold generation %llu: send the whole state"
		             : "state %llu is not the latest the gateway took: send the whole "
		               "state",
		         (unsigned long long)dl->base);
		p->holds_base = false;
		send_ack(cl, &ack);
		return;
	}
	c->ops.state_delta(c->ctx, cl->peer, dl, &ack.state_ack);
	p->holds_base = ack.state_ack.applied;
	p->base = dl->generation;
	took = now_seconds() - start;
	if (now_seconds() + 2 * took > p->next_turn)
		p->next_turn = now_seconds() + 2 * took;
	send_ack(cl, &ack);
	wf_ctl_msg_clear(&ack);
}

static void on_message(struct wf_ctl_conn *conn, const struct wf_ctl_msg *m, void *arg)
{
	struct client *cl = arg;
	char err[WF_CTL_REASON_MAX], *json;
	size_t len;

	/* A state wf_gw_peek_state could not read: rare enough to be encoded again, so that what
	 * waits is always text. */
	if (m->type == WF_CTL_MSG_STATE && cl->established) {
		if (wf_ctl_msg_encode(m, &json, &len, err, sizeof(err)) < 0) {
			client_drop(cl, "the gateway is out of memory");
			return;
		}
		take_state(cl, json, len, m->state.generation);
		free(json);
		return;
	}
	if (m->type == WF_CTL_MSG_STATE_DELTA && cl->established) {
		take_delta(cl, &m->state_delta);
		return;
	}
	log_warn("peer %s: unexpected %s message: closing", peer_name(cl->ctl, cl->peer),
	         wf_ctl_msg_type_name(m->type));
	client_drop(cl, "unexpected message");
}

static void on_established(struct wf_ctl_conn *conn, void *arg)
{
	struct client *cl = arg;
	struct wf_gw_control *c = cl->ctl;
	struct peer *p = &c->peers[cl->peer];
	const char *identity = wf_ctl_conn_identity(conn);

	/* The key proves the peer; its name must agree with the address it came from. */
	if (wf_gw_config_find_peer_name(c->cfg, identity) != (int)cl->peer) {
		log_warn("control connection from %s (peer %s) claims to be %s: closing",
		         cl->remote, peer_name(c, cl->peer), identity);
		c->count.rejected[WF_GW_REJECT_IDENTITY]++;
		client_drop(cl, "identity does not match the source address");
		return;
	}
	if (p->conn) {
		log_info("peer %s: a new connection replaces the one from %s",
		         peer_name(c, cl->peer), p->conn->remote);
		client_drop(p->conn, "replaced by a newer connection");
	}
	cl->established = true;
	p->conn = cl;
	p->holds_base = false;
	log_info("peer %s connected from %s", peer_name(c, cl->peer), cl->remote);
	send_gateway_info(cl);
}

static void on_close(struct wf_ctl_conn *conn, int err, const char *reason, void *arg)
{
	struct client *cl = arg;
	struct wf_gw_control *c = cl->ctl;

	if (cl->established) {
		log_info("peer %s (%s) disconnected: %s; its forwards stay", peer_name(c, cl->peer),
		         cl->remote, reason);
	} else {
		log_warn("control connection from %s (peer %s) failed: %s", cl->remote,
		         peer_name(c, cl->peer), reason);
		c->count.handshake_failures++;
	}
	client_unlink(cl);
	wf_ctl_conn_free(conn);
	free(cl);
}

const struct wf_ctl_conn_ops wf_gw_client_ops = {
    .on_established = on_established,
    .on_message = on_message,
    .on_text = on_text,
    .on_close = on_close,
};

const char *wf_gw_control_remote(const struct wf_gw_control *c, size_t peer)
{
	return c->peers[peer].conn ? c->peers[peer].conn->remote : NULL;
}

int wf_gw_control_send(struct wf_gw_control *c, size_t peer, const struct wf_ctl_msg *m)
{
	return c->peers[peer].conn ? wf_ctl_conn_send(c->peers[peer].conn->conn, m) : -ENOTCONN;
}

void wf_gw_control_broadcast_info(struct wf_gw_control *c)
{
	for (size_t p = 0; p < c->cfg->n_peers; p++)
		if (c->peers[p].conn)
			send_gateway_info(c->peers[p].conn);
}

const struct wf_gw_control_counters *wf_gw_control_counters(const struct wf_gw_control *c)
{
	return &c->count;
}

int wf_gw_control_new(struct event_base *base, const struct wf_gw_config *cfg,
                      const uint8_t (*keys)[WF_KEY_LEN], const struct wf_gw_control_ops *ops,
                      void *ctx, struct wf_gw_control **out)
{
	struct wf_gw_control *c = calloc(1, sizeof(*c));
	int err = 0;

	if (!c)
		return -ENOMEM;
	c->base = base;
	c->cfg = cfg;
	c->keys = keys;
	c->ops = *ops;
	c->ctx = ctx;
	/* Events made from now on (connections, listeners) read at PRIO_READ. */
	if (event_base_get_npriorities(base) < PRIO_N && event_base_priority_init(base, PRIO_N))
		err = -EBUSY;
	else if (!(c->peers = calloc(cfg->n_peers + 1, sizeof(*c->peers))))
		err = -ENOMEM;
	for (size_t p = 0; !err && p < cfg->n_peers; p++)
		c->peers[p].ctl = c;
	for (size_t p = 0; !err && p < cfg->n_peers; p++)
		if (!(c->peers[p].turn = evtimer_new(base, on_turn, &c->peers[p])) ||
		    !(c->peers[p].next_step = evtimer_new(base, on_step, &c->peers[p])))
			err = -ENOMEM;
	if (err)
		wf_gw_control_free(c);
	else
		*out = c;
	return err;
}

void wf_gw_control_free(struct wf_gw_control *c)
{
	if (!c)
		return;
	while (c->clients)
		client_drop(c->clients, NULL);
	for (size_t i = 0; i < c->n_listeners; i++)
		evconnlistener_free(c->listeners[i]);
	for (size_t p = 0; c->peers && p < c->cfg->n_peers; p++) {
		drop_pending(&c->peers[p]);
		if (c->peers[p].turn)
			event_free(c->peers[p].turn);
		if (c->peers[p].next_step)
			event_free(c->peers[p].next_step);
	}
	free(c->peers);
	free(c);
}
