#include "gateway_link.h"

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

	struct wf_ctl_state state; /* latest, owned */
	bool have_state;
	bool state_sent_on_conn; /* sent on the current connection */
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

static void send_state(struct wf_gateway_link *l)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE};
	int err;

	if (!l->up || !l->have_state || l->state_sent_on_conn || l->state_error[0])
		return;
	m.state = l->state;
	if (wf_ctl_version_valid(wf_version))
		WF_COPY(m.state.agent_version, wf_version);
	err = wf_ctl_conn_send(l->conn, &m);
	if (err == -EINVAL || err == -EMSGSIZE) {
		state_cannot_be_sent(l, strerror(-err));
		return;
	}
	if (err) {
		log_error("gateway %s: cannot send state generation %llu: %s", l->gateway,
		          (unsigned long long)l->state.generation, strerror(-err));
		return;
	}
	l->state_sent_on_conn = true;
	log_debug("gateway %s: sent state generation %llu (%zu forwards, %zu egress)", l->gateway,
	          (unsigned long long)l->state.generation, l->state.n_forwards, l->state.n_egress);
}

static void on_established(struct wf_ctl_conn *c, void *arg)
{
	struct wf_gateway_link *l = arg;

	l->up = true;
	l->backoff_ms = 0;
	l->state_sent_on_conn = false;
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
		/* Acks of states replaced since are history: only the latest one counts. */
		if (!l->have_state || m->state_ack.generation != l->state.generation)
			break;
		l->generation_acked = m->state_ack.generation;
		if (l->ops.state_ack)
			l->ops.state_ack(l->ctx, &l->state, &m->state_ack);
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
	/* in the order of the wire, which the gateway's ack follows */
	err = wf_ctl_state_order(&copy);
	if (err || (l->have_state && same_entries(&l->state, &copy))) {
		wf_ctl_state_clear(&copy);
		return err;
	}
	copy.generation = l->next_generation++;
	wf_ctl_state_clear(&l->state);
	l->state = copy;
	l->have_state = true;
	l->state_sent_on_conn = false;
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
