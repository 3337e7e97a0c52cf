#include "docker.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include <wgfwd/engine_info.h>
#include <wgfwd/log.h>

#include "docker_internal.h"

#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 10000u
/* Events since a second before the list: replays are harmless, a gap is not. */
#define SINCE_MARGIN_S 1

/* The events the client acts on. The engine ORs values of one key and ANDs keys; "destroy"
 * and "create" also match container events, which the client skips. Podman filters by its
 * own names ("died", "remove") and reports die/remove: Docker ignores names it has none of. */
#define EVENT_FILTERS                                                                        \
	"{\"type\":[\"container\",\"network\"],\"event\":[\"start\",\"die\",\"destroy\","    \
	"\"rename\",\"pause\",\"unpause\",\"update\",\"connect\",\"disconnect\",\"create\"," \
	"\"died\",\"remove\"]}"

static const char *const request_names[] = {
    [REQ_PING] = "/_ping",
    [REQ_VERSION] = "/version",
    [REQ_LIST] = "/containers/json",
    [REQ_NETWORKS] = "/networks",
    [REQ_INSPECT] = "/containers/{id}/json",
    [REQ_EVENTS] = "/events",
    [REQ_INFO] = "/info",
};

int wf_docker_host_socket(const char *docker_host, char *path, size_t size)
{
	const char *p;

	if (!docker_host || !docker_host[0])
		docker_host = getenv("DOCKER_HOST");
	if (!docker_host || !docker_host[0])
		docker_host = WF_DOCKER_HOST_DEFAULT;
	if (strncmp(docker_host, "unix://", 7))
		return strstr(docker_host, "://") ? -EPROTONOSUPPORT : -EINVAL;
	p = docker_host + 7;
	if (p[0] != '/')
		return -EINVAL;
	if (strlen(p) >= size)
		return -ENAMETOOLONG;
	memcpy(path, p, strlen(p) + 1);
	return 0;
}

static uint64_t next_random(struct wf_docker *d)
{
	/* xorshift64*: jitter only needs to keep agents from retrying in lockstep. */
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * 2685821657736338717ULL;
}

static int64_t elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

void wf_docker_kick(struct wf_docker *d)
{
	event_active(d->work, 0, 0);
}

/* Requests */

static void request_free(struct request *r)
{
	if (!r)
		return;
	free(r->key);
	free(r);
}

/* Forgets r (its transfer is the transport's to end). */
static void request_unlink(struct wf_docker *d, struct request *r)
{
	for (struct request **pp = &d->requests; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (d->networks_req == r)
		d->networks_req = NULL;
	for (struct entry *e = d->entries; e; e = e->next) {
		if (e->inflight == r)
			e->inflight = NULL;
	}
}

struct request *wf_docker_request(struct wf_docker *d, enum request_kind kind, const char *path,
                                  const char *key)
{
	struct request *r = calloc(1, sizeof(*r));
	char *versioned = NULL;

	if (!r)
		goto fail;
	r->kind = kind;
	r->deaths = d->deaths;
	if (kind == REQ_NETWORKS)
		r->networks_seq = ++d->networks_seq;
	if (key && !(r->key = strdup(key)))
		goto fail;
	bool bare = kind == REQ_VERSION || kind == REQ_PING;

	/* /_ping and /version are unversioned: the version is what they tell. */
	if (asprintf(&versioned, "%s%s%s", bare ? "" : "/v", bare ? "" : d->api, path) < 0) {
		versioned = NULL;
		goto fail;
	}
	r->get = wf_docker_http_get(d->http, versioned, kind == REQ_EVENTS, r);
	if (!r->get)
		goto fail;
	free(versioned);
	r->next = d->requests;
	d->requests = r;
	return r;

fail:
	free(versioned);
	request_free(r);
	return NULL;
}

static void requests_cancel(struct wf_docker *d)
{
	while (d->requests) {
		struct request *r = d->requests;

		request_unlink(d, r);
		wf_docker_http_cancel(d->http, r->get);
		request_free(r);
	}
}

static int on_event(const struct wf_docker_event *ev, void *ctx);

/* Runs inside curl: only parse and mark, the work runs later (wf_docker_kick). */
static int on_stream(void *ctx, const char *data, size_t len, char reason[WF_DOCKER_ERR_MAX])
{
	struct wf_docker *d = ctx;
	int ret = wf_docker_events_feed(d->parser, data, len, on_event, d, reason);

	if (ret == -ENOMEM)
		snprintf(reason, WF_DOCKER_ERR_MAX, "out of memory");
	return ret;
}

static void start_events(struct wf_docker *d)
{
	char *filters = curl_easy_escape(NULL, EVENT_FILTERS, 0);
	char path[1024];

	if (!filters) {
		wf_docker_fail(d, "out of memory");
		return;
	}
	snprintf(path, sizeof(path), "/events?since=%lld.%09ld&filters=%s",
	         (long long)d->list_time.tv_sec - SINCE_MARGIN_S, d->list_time.tv_nsec, filters);
	curl_free(filters);
	wf_docker_events_reset(d->parser);
	if (!wf_docker_request(d, REQ_EVENTS, path, NULL))
		wf_docker_fail(d, "cannot open the event stream");
}

static void report_synced(struct wf_docker *d)
{
	struct wf_container *list;
	size_t n;

	if (wf_docker_mirror_snapshot(d, &list, &n)) {
		wf_docker_fail(d, "out of memory");
		return;
	}
	d->phase = PHASE_FOLLOWING;
	clock_gettime(CLOCK_MONOTONIC, &d->up_since);
	d->last_failure[0] = '\0';
	log_debug("docker: synchronised, %zu container%s of interest", n, n == 1 ? "" : "s");
	if (d->link != LINK_UP) {
		d->link = LINK_UP;
		if (d->ops.connection)
			d->ops.connection(d->ctx, true);
	}
	if (d->ops.synced)
		d->ops.synced(d->ctx, list, n);
	free(list);
	start_events(d);
	/* Only a hint (the firewall backend, API 1.49 and later): never fails the session. Asked
	 * after the list, since Docker takes tens of milliseconds over /info, which it would
	 * otherwise spend beside the list and inspects the first apply waits for. */
	if (d->phase == PHASE_FOLLOWING)
		wf_docker_request(d, REQ_INFO, "/info", NULL);
}

/* Answers */

/* True when an answer parsed; else the session ends, saying why. */
static bool parsed(struct wf_docker *d, enum request_kind kind, int ret, const char *err)
{
	if (ret)
		wf_docker_fail(d, "GET %s: %s", request_names[kind],
		               ret == -EBADMSG ? err : strerror(-ret));
	return !ret;
}

static void finish_list_and_networks(struct wf_docker *d)
{
	if (!d->have_list || !d->have_networks)
		return;
	for (size_t i = 0; i < d->list.n; i++) {
		const struct wf_docker_summary *s = &d->list.v[i];

		if (!s->has_wgfwd_label)
			continue;
		if (wf_docker_mirror_want_inspect(d, s->id) ||
		    (s->netmode_target && wf_docker_mirror_want_inspect(d, s->netmode_target))) {
			wf_docker_fail(d, "out of memory");
			return;
		}
	}
	wf_docker_summaries_clear(&d->list);
	d->phase = PHASE_INSPECTING;
	wf_docker_kick(d);
}

/* The engine and its API are known: the list, the networks and /info. */
static void engine_known(struct wf_docker *d, const struct wf_docker_version *v)
{
	if (wf_docker_api_pick(v, d->api)) {
		wf_docker_fail(d, "engine %s speaks API %s (minimum %s); wgfwd needs %s to %s",
		               v->engine, v->api, v->min_api[0] ? v->min_api : "?",
		               WF_DOCKER_API_OLDEST, WF_DOCKER_API_NEWEST);
		return;
	}
	log_info("docker: engine %s at %s, API %s (using %s)", v->engine, d->socket_path, v->api,
	         d->api);
	/* Taken before the list: the event stream starts here. */
	clock_gettime(CLOCK_REALTIME, &d->list_time);
	d->phase = PHASE_LISTING;
	d->have_list = d->have_networks = false;
	if (!wf_docker_request(d, REQ_LIST, "/containers/json", NULL)) {
		wf_docker_fail(d, "cannot list containers");
		return;
	}
	d->networks_req = wf_docker_request(d, REQ_NETWORKS, "/networks", NULL);
	if (!d->networks_req) {
		wf_docker_fail(d, "cannot list networks");
		return;
	}
	d->firewall[0] = '\0';
}

static void finish_version(struct wf_docker *d, const struct wf_docker_reply *reply)
{
	struct wf_docker_version v;
	char err[WF_DOCKER_ERR_MAX] = "";
	int ret;

	ret = wf_docker_parse_version(reply->body, reply->len, &v, err);
	if (!parsed(d, REQ_VERSION, ret, err))
		return;
	engine_known(d, &v);
}

/* The engine and its API from /_ping's headers, as Docker's own client negotiates: /version
 * costs Docker tens of milliseconds (it asks containerd, and runs runc and docker-init for
 * their versions), /_ping one. An engine whose ping does not say is asked /version. */
static void finish_ping(struct wf_docker *d, const struct wf_docker_reply *reply)
{
	struct wf_docker_version v = {0};
	const char *slash = strchr(reply->server, '/');
	size_t n;

	if (reply->status == 200 && reply->api_version[0] && slash && slash[1] != ' ' && slash[1]) {
		snprintf(v.api, sizeof(v.api), "%s", reply->api_version);
		n = strcspn(slash + 1, " ");
		snprintf(v.engine, sizeof(v.engine), "%.*s", (int)n, slash + 1);
		engine_known(d, &v);
		return;
	}
	if (!wf_docker_request(d, REQ_VERSION, "/version", NULL))
		wf_docker_fail(d, "cannot start a request");
}

static void finish_info(struct wf_docker *d, const struct wf_docker_reply *reply)
{
	static const char version[] = "{\"Version\":\"\"}";
	struct wf_engine_info e;

	if (wf_engine_info_parse(version, sizeof(version) - 1, reply->body, reply->len, &e) == 0 &&
	    e.firewall[0]) {
		snprintf(d->firewall, sizeof(d->firewall), "%s", e.firewall);
		log_info("docker: firewall backend %s", d->firewall);
	}
}

/* A bridge network whose interface is not where its name says (Podman's netavark makes
 * podman<N>, and its compatible API names none) is the interface holding its gateway. */
static void locate_bridges(struct wf_docker_networks *nets)
{
	struct ifaddrs *ifs = NULL;

	for (size_t i = 0; i < nets->n; i++) {
		struct wf_docker_net *n = &nets->v[i];

		if (!n->bridge[0] || !n->has_gateway4 || if_nametoindex(n->bridge))
			continue;
		if (!ifs && getifaddrs(&ifs))
			return;
		for (struct ifaddrs *a = ifs; a; a = a->ifa_next) {
			if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET ||
			    memcmp(&((struct sockaddr_in *)a->ifa_addr)->sin_addr, &n->gateway4,
			           sizeof(n->gateway4)))
				continue;
			log_debug("docker: network %s is on %s (its gateway's interface)", n->name,
			          a->ifa_name);
			snprintf(n->bridge, sizeof(n->bridge), "%s", a->ifa_name);
			break;
		}
	}
	freeifaddrs(ifs);
}

static void finish_networks(struct wf_docker *d, const struct request *r,
                            const struct wf_docker_reply *reply)
{
	struct wf_docker_networks nets;
	char err[WF_DOCKER_ERR_MAX] = "";
	int ret;

	ret = wf_docker_parse_networks(reply->body, reply->len, &nets, err);
	if (!parsed(d, REQ_NETWORKS, ret, err))
		return;
	locate_bridges(&nets);
	wf_docker_networks_clear(&d->nets);
	d->nets = nets;
	if (d->phase == PHASE_LISTING) {
		d->have_networks = true;
		finish_list_and_networks(d);
	} else {
		wf_docker_mirror_apply_parked(d, r->networks_seq);
	}
}

static void finish_list(struct wf_docker *d, const struct wf_docker_reply *reply)
{
	char err[WF_DOCKER_ERR_MAX] = "";
	int ret;

	wf_docker_summaries_clear(&d->list);
	ret = wf_docker_parse_list(reply->body, reply->len, &d->list, err);
	if (!parsed(d, REQ_LIST, ret, err))
		return;
	d->have_list = true;
	finish_list_and_networks(d);
}

static void finish(struct wf_docker *d, struct request *r, const struct wf_docker_reply *reply)
{
	char message[WF_DOCKER_ERR_MAX];

	if (r->kind == REQ_EVENTS) {
		if (reply->error)
			wf_docker_fail(d, "event stream: %s", reply->error);
		else if (reply->status != 200)
			goto http_error;
		else
			wf_docker_fail(d, "event stream ended");
		return;
	}
	if (r->kind == REQ_INFO) {
		if (!reply->error && reply->status == 200)
			finish_info(d, reply);
		return;
	}
	if (r->kind == REQ_PING && !reply->error) {
		finish_ping(d, reply);
		return;
	}
	if (reply->cannot_connect) {
		wf_docker_fail(d, "cannot connect to %s: %s", d->socket_path, reply->error);
		return;
	}
	if (reply->error) {
		wf_docker_fail(d, "GET %s: %s", request_names[r->kind], reply->error);
		return;
	}
	if (reply->status == 200 || (r->kind == REQ_INSPECT && reply->status == 404)) {
		switch (r->kind) {
		case REQ_VERSION:
			finish_version(d, reply);
			break;
		case REQ_LIST:
			finish_list(d, reply);
			break;
		case REQ_NETWORKS:
			finish_networks(d, r, reply);
			break;
		case REQ_INSPECT:
			wf_docker_mirror_inspected(d, r, reply);
			break;
		case REQ_PING:
		case REQ_EVENTS:
		case REQ_INFO:
			break;
		}
		return;
	}
http_error:
	wf_docker_error_message(reply->body, reply->len, message, sizeof(message));
	wf_docker_fail(d, "GET %s: HTTP %ld%s%s", request_names[r->kind], reply->status,
	               message[0] ? ": " : "", message);
}

static void on_done(void *ctx, struct wf_docker_get *g, const struct wf_docker_reply *reply)
{
	struct wf_docker *d = ctx;
	struct request *r = wf_docker_get_user(g);

	request_unlink(d, r);
	finish(d, r, reply);
	request_free(r);
	wf_docker_kick(d);
}

/* What an event means: mark, never act (this runs inside a curl write callback). */
static int on_event(const struct wf_docker_event *ev, void *ctx)
{
	static const char *const container_actions[] = {
	    "start", "die", "destroy", "rename", "pause", "unpause", "update", "remove",
	};
	struct wf_docker *d = ctx;

	if (ev->type == WF_DOCKER_EVENT_CONTAINER) {
		bool relevant = false;

		for (size_t i = 0; i < sizeof(container_actions) / sizeof(*container_actions); i++)
			relevant |= !strcmp(ev->action, container_actions[i]);
		if (!relevant)
			return 0;
		if (!ev->has_wgfwd_label && !wf_docker_mirror_find(d, ev->actor_id) &&
		    !wf_docker_mirror_is_referenced(d, ev->actor_id, ev->name))
			return 0;
		log_debug("docker: container %s %s", ev->name, ev->action);
		if (!strcmp(ev->action, "die") || !strcmp(ev->action, "destroy") ||
		    !strcmp(ev->action, "remove"))
			return wf_docker_mirror_note_death(d, ev);
		return wf_docker_mirror_want_inspect(d, ev->actor_id);
	}
	if (ev->type == WF_DOCKER_EVENT_NETWORK) {
		if (!strcmp(ev->action, "create") || !strcmp(ev->action, "destroy")) {
			log_debug("docker: network %s %s", ev->name, ev->action);
			d->want_networks = true;
			wf_docker_kick(d);
			return 0;
		}
		if ((!strcmp(ev->action, "connect") || !strcmp(ev->action, "disconnect")) &&
		    ev->container_id[0] &&
		    (wf_docker_mirror_find(d, ev->container_id) ||
		     wf_docker_mirror_is_referenced(d, ev->container_id, NULL))) {
			log_debug("docker: network %s %s %.12s", ev->name, ev->action,
			          ev->container_id);
			return wf_docker_mirror_want_inspect(d, ev->container_id);
		}
	}
	return 0;
}

/* Sessions */

static void session_start(struct wf_docker *d)
{
	d->phase = PHASE_VERSION;
	if (!wf_docker_request(d, REQ_PING, "/_ping", NULL))
		wf_docker_fail(d, "cannot start a request");
}

static void session_reset(struct wf_docker *d)
{
	requests_cancel(d);
	wf_docker_mirror_clear(d);
	wf_docker_summaries_clear(&d->list);
	d->networks_req = NULL;
	d->want_networks = false;
	d->have_list = d->have_networks = false;
}

void wf_docker_fail(struct wf_docker *d, const char *fmt, ...)
{
	char reason[sizeof(d->last_failure)];
	struct timeval tv;
	unsigned delay;
	va_list ap;

	if (d->phase == PHASE_WAITING)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	if (d->phase == PHASE_FOLLOWING && elapsed_ms(&d->up_since) >= d->backoff_max_ms)
		d->backoff_ms = d->backoff_min_ms;
	delay = d->backoff_ms / 2 + (unsigned)(next_random(d) % (d->backoff_ms / 2 + 1));
	d->backoff_ms =
	    d->backoff_ms > d->backoff_max_ms / 2 ? d->backoff_max_ms : d->backoff_ms * 2;

	/* Once per cause: an engine that stays away is not news every ten seconds. */
	if (strcmp(reason, d->last_failure)) {
		log_warn("docker: %s; retrying in %u ms", reason, delay);
		snprintf(d->last_failure, sizeof(d->last_failure), "%s", reason);
	} else {
		log_debug("docker: %s; retrying in %u ms", reason, delay);
	}
	d->phase = PHASE_WAITING;
	session_reset(d);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(d->retry_timer, &tv);
	if (d->link != LINK_DOWN) {
		d->link = LINK_DOWN;
		if (d->ops.connection)
			d->ops.connection(d->ctx, false);
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_start(arg);
}

/* Starts what events asked for, and notices the end of the initial inspection. */
static void on_work(evutil_socket_t fd, short what, void *arg)
{
	struct wf_docker *d = arg;
	bool busy;

	(void)fd;
	(void)what;
	if (d->phase != PHASE_INSPECTING && d->phase != PHASE_FOLLOWING)
		return;
	if (d->want_networks && !d->networks_req) {
		d->want_networks = false;
		d->networks_req = wf_docker_request(d, REQ_NETWORKS, "/networks", NULL);
		if (!d->networks_req) {
			wf_docker_fail(d, "cannot list networks");
			return;
		}
	}
	busy = wf_docker_mirror_work(d);
	if (d->phase == PHASE_WAITING)
		return;
	if (d->phase == PHASE_INSPECTING && !busy && !d->networks_req && !d->want_networks)
		report_synced(d);
}

int wf_docker_new(struct wf_docker **out, struct event_base *base, const char *docker_host,
                  const struct wf_docker_ops *ops, void *ctx)
{
	static const struct timeval now = {0, 0};
	static const struct wf_docker_http_ops http_ops = {.done = on_done, .stream = on_stream};
	struct wf_docker *d;
	struct timespec ts;
	int ret;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	ret = wf_docker_host_socket(docker_host, d->socket_path, sizeof(d->socket_path));
	if (ret) {
		if (!docker_host || !docker_host[0])
			docker_host = getenv("DOCKER_HOST");
		if (ret == -EPROTONOSUPPORT)
			log_error("docker: `%s': only unix:// sockets are supported", docker_host);
		else
			log_error("docker: `%s' is not unix://<absolute path of a socket>",
			          docker_host);
		free(d);
		return ret;
	}
	d->base = base;
	if (ops)
		d->ops = *ops;
	d->ctx = ctx;
	d->backoff_min_ms = d->backoff_ms = BACKOFF_MIN_MS;
	d->backoff_max_ms = BACKOFF_MAX_MS;
	clock_gettime(CLOCK_REALTIME, &ts);
	d->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
	if (!d->rng)
		d->rng = 1;

	ret = wf_docker_http_new(&d->http, base, d->socket_path, &http_ops, d);
	if (ret) {
		free(d);
		return ret;
	}
	d->retry_timer = evtimer_new(base, on_retry, d);
	d->work = event_new(base, -1, 0, on_work, d);
	d->parser = wf_docker_events_new(WF_DOCKER_EVENT_MAX);
	if (!d->retry_timer || !d->work || !d->parser) {
		wf_docker_free(d);
		return -ENOMEM;
	}
	d->phase = PHASE_WAITING;
	evtimer_add(d->retry_timer, &now);
	*out = d;
	return 0;
}

const char *wf_docker_firewall(const struct wf_docker *d)
{
	return d->firewall;
}

void wf_docker_set_backoff(struct wf_docker *d, unsigned min_ms, unsigned max_ms)
{
	d->backoff_min_ms = d->backoff_ms = min_ms ? min_ms : 1;
	d->backoff_max_ms = max_ms > d->backoff_min_ms ? max_ms : d->backoff_min_ms;
}

void wf_docker_free(struct wf_docker *d)
{
	if (!d)
		return;
	d->phase = PHASE_WAITING;
	session_reset(d);
	wf_docker_http_free(d->http);
	wf_docker_networks_clear(&d->nets);
	wf_docker_events_free(d->parser);
	if (d->retry_timer)
		event_free(d->retry_timer);
	if (d->work)
		event_free(d->work);
	free(d);
}
