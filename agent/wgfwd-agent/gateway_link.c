#include "gateway_link.h"
#include "link_changes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include <wgfwd/log.h>
#include <wgfwd/hostport.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

struct wf_gateway_link {
	struct event_base *base;
	struct wf_gateway_link_config cfg;
	char gateway[INET6_ADDRSTRLEN];
	char local[INET6_ADDRSTRLEN];
	struct wf_gateway_link_ops ops;
	void *ctx;

	struct wf_ctl_conn *conn;
	bool up;
	struct event *retry;
	unsigned backoff_ms;

	struct wf_ctl_state state; /* latest, owned, sorted (wf_ctl_state_sort) */
	bool have_state;
	/* The generation last sent on this connection (0: none), and what is on its way: one
	 * message at a time, so that the next can be a delta on what the gateway acknowledged. */
	uint64_t attempted;
	bool inflight;
	struct wf_ctl_state sent;        /* the state the message in flight makes, unless made of
	                                  * the pending changes (sent_pending): then acked + delta */
	struct wf_ctl_state_delta delta; /* when it is a delta: its lists */
	bool sent_delta, sent_pending;
	uint64_t sent_generation;
	/* The forwards changed since the state in flight, else the acknowledged one. */
	struct link_pending pending;
	/* What the gateway acknowledged as applied on this connection, with its results: the
	 * base of the next delta. */
	struct wf_ctl_state acked;
	struct link_results acked_results;
	bool acked_valid;
	uint64_t next_generation;
	uint64_t generation_acked;
	char last_error[256];
	char state_error[512]; /* why the latest state cannot be sent; "" when it can */
};

static void link_connect(evutil_socket_t fd, short what, void *arg);

static void schedule_retry(struct wf_gateway_link *l)
{
	unsigned max = l->cfg.backoff_max_ms ? l->cfg.backoff_max_ms : 10000;
	unsigned min = l->cfg.backoff_min_ms ? l->cfg.backoff_min_ms : 200;
	unsigned delay;
	struct timeval tv;

	l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : min;
	if (l->backoff_ms > max)
		l->backoff_ms = max;
	/* Jitter in [delay/2, delay): many agents restarted together do not reconnect in step. */
	delay = l->backoff_ms / 2 + randombytes_uniform(l->backoff_ms / 2 + 1);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(l->retry, &tv);
}

static bool same_entries(const struct wf_ctl_state *a, const struct wf_ctl_state *b)
{
	return wf_ctl_forwards_equal(a->forwards, a->n_forwards, b->forwards, b->n_forwards) &&
	       wf_ctl_egress_equal(a->egress, a->n_egress, b->egress, b->n_egress);
}

/* A state the protocol cannot carry (more entries than a state holds) is never sent: the
 * gateway keeps the last one it got, and the reason is logged once and shown in the status
 * until a state that can be sent replaces it. */
static void state_cannot_be_sent(struct wf_gateway_link *l, const char *why)
{
	snprintf(l->state_error, sizeof(l->state_error),
	         "state generation %llu (%zu forwards, %zu egress entries) cannot be sent: %s",
	         (unsigned long long)l->state.generation, l->state.n_forwards, l->state.n_egress,
	         why);
	log_error("gateway %s: %s; the gateway keeps the last state it got", l->gateway,
	          l->state_error);
}

static void check_state(struct wf_gateway_link *l)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE, .state = l->state};
	char err[256];
	int ret = wf_ctl_msg_validate(&m, err, sizeof(err));

	if (ret == -EINVAL) {
		state_cannot_be_sent(l, err);
		return;
	}
	if (l->state_error[0])
		log_info("gateway %s: state generation %llu can be sent again", l->gateway,
		         (unsigned long long)l->state.generation);
	l->state_error[0] = '\0';
}

static void forget_acked(struct wf_gateway_link *l)
{
	wf_ctl_state_clear(&l->acked);
	link_results_free(&l->acked_results);
	l->acked_valid = false;
}

static void forget_sent(struct wf_gateway_link *l)
{
	wf_ctl_state_clear(&l->sent);
	wf_ctl_state_clear(&l->delta.add);
	wf_ctl_state_clear(&l->delta.del);
	l->inflight = false;
	l->sent_delta = l->sent_pending = false;
	l->sent_generation = 0;
}

/* A delta goes when it holds fewer entries than the state: its lists cost what a state's do
 * per entry. */
static bool delta_smaller(const struct wf_ctl_state_delta *d, const struct wf_ctl_state *s)
{
	return wf_ctl_delta_entries(d) < s->n_forwards + s->n_egress;
}

/* The delta the changes since the acknowledged state make, taken from the pending book: no
 * copy of the state and no walk over it. False when the book does not know them or the state
 * would be smaller. */
static bool delta_from_pending(struct wf_gateway_link *l)
{
	struct link_pending *p = &l->pending;

	if (!p->valid || !l->acked_valid ||
	    p->add.n_forwards + p->del.n_forwards >= l->state.n_forwards + l->state.n_egress)
		return false;
	memset(&l->delta, 0, sizeof(l->delta));
	l->delta.add.forwards = p->add.forwards;
	l->delta.add.n_forwards = p->add.n_forwards;
	l->delta.del.forwards = p->del.forwards;
	l->delta.del.n_forwards = p->del.n_forwards;
	memset(&p->add, 0, sizeof(p->add));
	memset(&p->del, 0, sizeof(p->del));
	p->cap_add = p->cap_del = 0;
	l->sent_pending = true;
	return true;
}

/* Sends the latest state, as a delta on what the gateway acknowledged when that is smaller,
 * unless a message is on its way (its ack brings the next turn) or it went already. */
static void send_state(struct wf_gateway_link *l)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	int err;

	if (!l->up || !l->have_state || l->inflight || l->state_error[0] ||
	    l->attempted == l->state.generation)
		return;
	if (delta_from_pending(l)) {
		l->sent_delta = true;
	} else {
		if (wf_ctl_state_copy(&l->sent, &l->state))
			return;
		if (l->acked_valid && !wf_ctl_state_diff(&l->acked, &l->state, &l->delta)) {
			if (delta_smaller(&l->delta, &l->state)) {
				l->sent_delta = true;
			} else {
				wf_ctl_state_clear(&l->delta.add);
				wf_ctl_state_clear(&l->delta.del);
			}
		}
	}
	if (l->sent_delta) {
		m.type = WF_CTL_MSG_STATE_DELTA;
		m.state_delta = l->delta;
		m.state_delta.generation = l->state.generation;
		m.state_delta.base = l->acked.generation;
	} else {
		m.state = l->state;
		if (wf_ctl_version_valid(wf_version))
			WF_COPY(m.state.agent_version, wf_version);
	}
	err = wf_ctl_conn_send(l->conn, &m);
	if (err == -EINVAL || err == -EMSGSIZE) {
		forget_sent(l);
		link_pending_forget(&l->pending);
		state_cannot_be_sent(l, strerror(-err));
		return;
	}
	if (err) {
		forget_sent(l);
		link_pending_forget(&l->pending);
		log_error("gateway %s: cannot send state generation %llu: %s", l->gateway,
		          (unsigned long long)l->state.generation, strerror(-err));
		return;
	}
	l->inflight = true;
	l->attempted = l->sent_generation = l->state.generation;
	/* what changes from here on is on top of what just went */
	link_pending_start(&l->pending);
	if (l->sent_delta)
		log_debug("gateway %s: sent delta %llu on %llu (%zu forwards and %zu egress "
		          "entries added, %zu and %zu removed)",
		          l->gateway, (unsigned long long)l->state.generation,
		          (unsigned long long)l->acked.generation, l->delta.add.n_forwards,
		          l->delta.add.n_egress, l->delta.del.n_forwards, l->delta.del.n_egress);
	else
		log_debug("gateway %s: sent state generation %llu (%zu forwards, %zu egress)",
		          l->gateway, (unsigned long long)l->state.generation, l->state.n_forwards,
		          l->state.n_egress);
}

static int egress_value_cmp(const struct wf_ctl_egress *a, const struct wf_ctl_egress *b)
{
	int ka = a->proto == IPPROTO_TCP ? 0 : a->proto == IPPROTO_UDP ? 1 : 2;
	int kb = b->proto == IPPROTO_TCP ? 0 : b->proto == IPPROTO_UDP ? 1 : 2;

	if (ka != kb)
		return ka - kb;
	if (a->port_lo != b->port_lo)
		return (int)a->port_lo - (int)b->port_lo;
	return (int)a->port_hi - (int)b->port_hi;
}

/* The results of the state a delta made: the added entries' from its ack, the others' from
 * the base's. All lists are sorted, so one walk each: O(n). */
static int merge_results(struct wf_gateway_link *l, const struct wf_ctl_state_ack *ack,
                         struct link_results *out)
{
	const struct wf_ctl_state *s = &l->sent, *base = &l->acked, *add = &l->delta.add;
	const struct link_results *had = &l->acked_results;
	struct wf_ctl_result r;
	size_t b = 0, a = 0;
	int err;

	if (ack->n_forwards != add->n_forwards || ack->n_egress != add->n_egress)
		return -EPROTO;
	err = link_results_init(out, s->n_forwards, s->n_egress,
	                        had->n_reasons + link_refused_in(ack));
	for (size_t i = 0; !err && i < s->n_forwards; i++) {
		const struct wf_ctl_forward *f = &s->forwards[i];

		while (a < add->n_forwards && wf_ctl_forward_wire_cmp(&add->forwards[a], f) < 0)
			a++;
		if (a < add->n_forwards && wf_ctl_forward_wire_cmp(&add->forwards[a], f) == 0) {
			err = link_results_code(out, &ack->forwards[a++], &out->fw[i]);
			continue;
		}
		while (b < base->n_forwards && wf_ctl_forward_wire_cmp(&base->forwards[b], f) < 0)
			b++;
		if (b < base->n_forwards && wf_ctl_forward_wire_cmp(&base->forwards[b], f) == 0) {
			link_results_entry(had, had->fw[b++], &r);
			err = link_results_code(out, &r, &out->fw[i]);
		} else {
			err = -EPROTO;
		}
	}
	a = b = 0;
	for (size_t i = 0; !err && i < s->n_egress; i++) {
		const struct wf_ctl_egress *e = &s->egress[i];

		while (b < base->n_egress && egress_value_cmp(&base->egress[b], e) < 0)
			b++;
		if (b < base->n_egress && egress_value_cmp(&base->egress[b], e) == 0) {
			link_results_entry(had, had->eg[b++], &r);
			err = link_results_code(out, &r, &out->eg[i]);
			continue;
		}
		while (a < add->n_egress && egress_value_cmp(&add->egress[a], e) < 0)
			a++;
		if (a < add->n_egress && egress_value_cmp(&add->egress[a], e) == 0)
			err = link_results_code(out, &ack->egress[a++], &out->eg[i]);
		else
			err = -EPROTO;
	}
	if (err)
		link_results_free(out);
	return err;
}

/* The state in flight is now what the gateway holds, with these results (taken over). */
static void now_acked(struct wf_gateway_link *l, struct link_results *r)
{
	forget_acked(l);
	l->acked = l->sent;
	memset(&l->sent, 0, sizeof(l->sent));
	l->acked_results = *r;
	l->acked_valid = true;
}

/* The results of the state the gateway holds, as they are kept. */
static void tell_results(struct wf_gateway_link *l, const struct wf_ctl_state_ack *ack)
{
	const struct link_results *r = &l->acked_results;
	const struct wf_gateway_link_results v = {r->fw, r->eg,
	                                          (const char(*)[WF_CTL_REASON_MAX])r->reasons};

	l->ops.state_results(l->ctx, &l->acked, ack, &v);
}

/* The whole ack of what the gateway holds, for the owner: built for the call only. */
static void tell_acked(struct wf_gateway_link *l, const struct wf_ctl_state_ack *ack)
{
	const struct link_results *r = &l->acked_results;
	struct wf_ctl_state_ack whole = *ack;

	whole.n_forwards = l->acked.n_forwards;
	whole.n_egress = l->acked.n_egress;
	whole.forwards = malloc((whole.n_forwards + 1) * sizeof(*whole.forwards));
	whole.egress = malloc((whole.n_egress + 1) * sizeof(*whole.egress));
	if (whole.forwards && whole.egress) {
		for (size_t i = 0; i < whole.n_forwards; i++)
			link_results_entry(r, r->fw[i], &whole.forwards[i]);
		for (size_t i = 0; i < whole.n_egress; i++)
			link_results_entry(r, r->eg[i], &whole.egress[i]);
		l->ops.state_ack(l->ctx, &l->acked, &whole);
	}
	free(whole.forwards);
	free(whole.egress);
}

/* The answer to the message in flight. */
static void take_ack(struct wf_gateway_link *l, const struct wf_ctl_msg *m)
{
	const struct wf_ctl_state_ack *ack = &m->state_ack;
	/* what went, when it is the latest state: a state made of pending changes is no copy */
	const struct wf_ctl_state *sent = l->sent_pending ? &l->state : &l->sent;
	struct link_results r;
	bool delta = m->type == WF_CTL_MSG_DELTA_ACK;
	int err;

	if (delta != l->sent_delta) {
		log_warn("gateway %s: a %s answered a %s: sending the whole state", l->gateway,
		         wf_ctl_msg_type_name(m->type), l->sent_delta ? "state_delta" : "state");
		forget_acked(l);
		forget_sent(l);
		link_pending_forget(&l->pending);
		l->attempted = 0;
		return;
	}
	if (ack->resend || !ack->applied) {
		if (ack->resend)
			log_info("gateway %s: %s", l->gateway, ack->reason);
		else if (l->ops.state_results && l->sent_generation == l->state.generation)
			l->ops.state_results(l->ctx, sent, ack, NULL);
		else if (l->ops.state_ack && l->sent_generation == l->state.generation)
			l->ops.state_ack(l->ctx, sent, ack);
		forget_acked(l);
		forget_sent(l);
		link_pending_forget(&l->pending);
		/* resend: the whole state goes at once; refused: with the next change */
		if (ack->resend)
			l->attempted = 0;
		return;
	}
	if (l->sent_pending) {
		err = link_patch(&l->acked, &l->acked_results, &l->delta, ack);
		if (!err)
			l->acked.generation = l->sent_generation;
	} else if (delta)
		err = merge_results(l, ack, &r);
	else if (ack->n_forwards != l->sent.n_forwards || ack->n_egress != l->sent.n_egress)
		err = -EPROTO;
	else
		err = link_results_from_ack(&r, ack);
	if (err) {
		log_warn("gateway %s: %s %llu acknowledged with results that do not fit it: "
		         "sending the whole state",
		         l->gateway, delta ? "delta" : "state",
		         (unsigned long long)ack->generation);
		forget_acked(l);
		forget_sent(l);
		link_pending_forget(&l->pending);
		l->attempted = 0;
		return;
	}
	if (!l->sent_pending)
		now_acked(l, &r);
	forget_sent(l);
	l->generation_acked = ack->generation;
	if (l->ops.state_results) {
		tell_results(l, ack);
		return;
	}
	if (!l->ops.state_ack)
		return;
	if (delta)
		tell_acked(l, ack);
	else
		l->ops.state_ack(l->ctx, &l->acked, ack);
}

static void on_established(struct wf_ctl_conn *c, void *arg)
{
	struct wf_gateway_link *l = arg;

	l->up = true;
	l->backoff_ms = 0;
	/* A new connection holds nothing: the first message is the whole state. */
	l->attempted = 0;
	forget_sent(l);
	forget_acked(l);
	link_pending_forget(&l->pending);
	l->last_error[0] = '\0';
	log_info("gateway %s: control channel up", l->gateway);
	if (l->ops.connection)
		l->ops.connection(l->ctx, true);
	send_state(l);
}

static void on_message(struct wf_ctl_conn *c, const struct wf_ctl_msg *m, void *arg)
{
	struct wf_gateway_link *l = arg;

	switch (m->type) {
	case WF_CTL_MSG_GATEWAY_INFO:
		log_info("gateway %s: wgfwd-gateway %s", l->gateway,
		         m->gateway_info.gateway_version[0] ? m->gateway_info.gateway_version
		                                            : "(version not sent)");
		if (l->ops.gateway_info)
			l->ops.gateway_info(l->ctx, &m->gateway_info);
		break;
	case WF_CTL_MSG_STATE_ACK:
	case WF_CTL_MSG_DELTA_ACK:
		if (l->inflight && m->state_ack.generation == l->sent_generation) {
			take_ack(l, m);
			send_state(l);
			break;
		}
		/* New results for what the gateway holds (it granted a port it had refused). */
		if (m->type == WF_CTL_MSG_STATE_ACK && l->acked_valid && m->state_ack.applied &&
		    m->state_ack.generation == l->acked.generation &&
		    m->state_ack.n_forwards == l->acked.n_forwards &&
		    m->state_ack.n_egress == l->acked.n_egress) {
			struct link_results r;

			if (link_results_from_ack(&r, &m->state_ack))
				break;
			link_results_free(&l->acked_results);
			l->acked_results = r;
			if (l->ops.state_results)
				tell_results(l, &m->state_ack);
			else if (l->ops.state_ack)
				l->ops.state_ack(l->ctx, &l->acked, &m->state_ack);
		}
		break;
	default:
		break;
	}
}

static void on_close(struct wf_ctl_conn *c, int err, const char *reason, void *arg)
{
	struct wf_gateway_link *l = arg;
	bool was_up = l->up;

	snprintf(l->last_error, sizeof(l->last_error), "%s%s%s", strerror(-err),
	         reason && *reason ? ": " : "", reason ? reason : "");
	if (was_up)
		log_warn("gateway %s: control channel down: %s", l->gateway, l->last_error);
	else
		log_debug("gateway %s: cannot connect: %s", l->gateway, l->last_error);
	wf_ctl_conn_free(c);
	l->conn = NULL;
	l->up = false;
	forget_sent(l);
	if (was_up && l->ops.connection)
		l->ops.connection(l->ctx, false);
	schedule_retry(l);
}

static const struct wf_ctl_conn_ops conn_ops = {
    .on_established = on_established,
    .on_message = on_message,
    .on_close = on_close,
};

static void link_connect(evutil_socket_t fd, short what, void *arg)
{
	struct wf_gateway_link *l = arg;
	struct sockaddr_storage remote, local;
	socklen_t remote_len, local_len = 0;
	struct wf_ctl_conn_config cfg = {.role = WF_CTL_CLIENT};
	int err;

	memcpy(cfg.key, l->cfg.key, sizeof(cfg.key));
	cfg.ping_interval_ms = l->cfg.ping_interval_ms;
	cfg.dead_after_ms = l->cfg.dead_after_ms;
	wf_sockaddr_from(l->gateway, l->cfg.port ? l->cfg.port : WF_CTL_PORT, &remote, &remote_len);
	if (l->local[0]) {
		wf_sockaddr_from(l->local, 0, &local, &local_len);
		WF_COPY(cfg.identity, l->local);
	}
	err = wf_ctl_conn_connect(l->base, (struct sockaddr *)&remote, remote_len,
	                          local_len ? (struct sockaddr *)&local : NULL, local_len, &cfg,
	                          &conn_ops, l, &l->conn);
	sodium_memzero(cfg.key, sizeof(cfg.key));
	if (err) {
		snprintf(l->last_error, sizeof(l->last_error), "connect: %s", strerror(-err));
		log_debug("gateway %s: %s", l->gateway, l->last_error);
		schedule_retry(l);
	}
}

int wf_gateway_link_new(struct wf_gateway_link **out, struct event_base *base,
                        const struct wf_gateway_link_config *cfg,
                        const struct wf_gateway_link_ops *ops, void *ctx)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct wf_gateway_link *l;
	struct timeval now = {0, 0};

	if (wf_sockaddr_from(cfg->gateway, 0, &ss, &len))
		return -EINVAL;
	if (cfg->local && wf_sockaddr_from(cfg->local, 0, &ss, &len))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->base = base;
	l->cfg = *cfg;
	/* Kept out of swap where the limits allow; nothing depends on it. */
	sodium_mlock(l->cfg.key, sizeof(l->cfg.key));
	WF_COPY(l->gateway, cfg->gateway);
	if (cfg->local)
		WF_COPY(l->local, cfg->local);
	l->ops = *ops;
	l->ctx = ctx;
	l->next_generation = 1;
	l->retry = evtimer_new(base, link_connect, l);
	if (!l->retry) {
		free(l);
		return -ENOMEM;
	}
	evtimer_add(l->retry, &now);
	*out = l;
	return 0;
}

void wf_gateway_link_free(struct wf_gateway_link *l)
{
	if (!l)
		return;
	wf_ctl_conn_free(l->conn);
	event_free(l->retry);
	wf_ctl_state_clear(&l->state);
	forget_sent(l);
	forget_acked(l);
	link_pending_forget(&l->pending);
	sodium_munlock(l->cfg.key, sizeof(l->cfg.key));
	free(l);
}

int wf_gateway_link_set_state(struct wf_gateway_link *l, const struct wf_ctl_state *state)
{
	struct wf_ctl_state copy;
	int err;

	err = wf_ctl_state_copy(&copy, state);
	if (err)
		return err;
	/* in the order of the wire, which the gateway's ack follows, sorted for the deltas */
	err = wf_ctl_state_sort(&copy);
	if (err || (l->have_state && same_entries(&l->state, &copy))) {
		wf_ctl_state_clear(&copy);
		return err;
	}
	copy.generation = l->next_generation++;
	/* a state given whole is diffed whole */
	link_pending_forget(&l->pending);
	wf_ctl_state_clear(&l->state);
	l->state = copy;
	l->have_state = true;
	check_state(l);
	send_state(l);
	return 0;
}

/* A state that passed the checks, changed by a few forwards, passes them when the forwards
 * that came do (and the count stays within bounds): only they are checked, in the wire's
 * order. Nonzero when they do not, or cannot be checked. */
static int check_added(const struct wf_ctl_forward *add, size_t n_add)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	char err[256];
	int ret;

	if (!n_add)
		return 0;
	m.state.forwards = malloc(n_add * sizeof(*add));
	if (!m.state.forwards)
		return -ENOMEM;
	memcpy(m.state.forwards, add, n_add * sizeof(*add));
	m.state.n_forwards = n_add;
	ret = wf_ctl_state_sort(&m.state);
	if (!ret)
		ret = wf_ctl_msg_validate(&m, err, sizeof(err));
	free(m.state.forwards);
	return ret;
}

int wf_gateway_link_change_forwards(struct wf_gateway_link *l, const struct wf_ctl_forward *del,
                                    size_t n_del, const struct wf_ctl_forward *add, size_t n_add)
{
	struct wf_ctl_state *s = &l->state;
	struct wf_ctl_forward *grown;

	if (!l->have_state)
		return -ESTALE;
	/* All checked before anything moves: a change that does not fit leaves the state. */
	for (size_t i = 0; i < n_del; i++) {
		size_t at = link_forward_at(s->forwards, 0, s->n_forwards, &del[i]);

		if (at == s->n_forwards || wf_ctl_forward_wire_cmp(&s->forwards[at], &del[i]) ||
		    s->forwards[at].target_port != del[i].target_port)
			return -ESTALE;
		for (size_t k = 0; k < i; k++)
			if (!wf_ctl_forward_wire_cmp(&del[k], &del[i]))
				return -ESTALE;
	}
	for (size_t i = 0; i < n_add; i++) {
		size_t at = link_forward_at(s->forwards, 0, s->n_forwards, &add[i]);
		bool deleted = false;

		for (size_t k = 0; k < n_del && !deleted; k++)
			deleted = !wf_ctl_forward_wire_cmp(&del[k], &add[i]);
		for (size_t k = 0; k < i; k++)
			if (!wf_ctl_forward_wire_cmp(&add[k], &add[i]))
				return -ESTALE;
		if (!deleted && at < s->n_forwards &&
		    !wf_ctl_forward_wire_cmp(&s->forwards[at], &add[i]))
			return -ESTALE;
	}
	if (!n_del && !n_add)
		return 0;
	grown = realloc(s->forwards, (s->n_forwards + n_add + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->forwards = grown;
	for (size_t i = 0; i < n_del; i++) {
		size_t at = link_forward_at(s->forwards, 0, s->n_forwards, &del[i]);

		memmove(&s->forwards[at], &s->forwards[at + 1],
		        (s->n_forwards - at - 1) * sizeof(*grown));
		s->n_forwards--;
		link_pending_del(&l->pending, &del[i]);
	}
	for (size_t i = 0; i < n_add; i++) {
		size_t at = link_forward_at(s->forwards, 0, s->n_forwards, &add[i]);

		memmove(&s->forwards[at + 1], &s->forwards[at],
		        (s->n_forwards - at) * sizeof(*grown));
		s->forwards[at] = add[i];
		s->n_forwards++;
		link_pending_add(&l->pending, &add[i]);
	}
	s->generation = l->next_generation++;
	if (l->state_error[0] || s->n_forwards > WF_CTL_ENTRIES_MAX || check_added(add, n_add))
		check_state(l);
	send_state(l);
	return 0;
}

bool wf_gateway_link_up(const struct wf_gateway_link *l)
{
	return l->up;
}

uint64_t wf_gateway_link_generation_sent(const struct wf_gateway_link *l)
{
	return l->have_state ? l->state.generation : 0;
}

uint64_t wf_gateway_link_generation_acked(const struct wf_gateway_link *l)
{
	return l->generation_acked;
}

const char *wf_gateway_link_last_error(const struct wf_gateway_link *l)
{
	return l->last_error;
}

const char *wf_gateway_link_state_error(const struct wf_gateway_link *l)
{
	return l->state_error;
}
