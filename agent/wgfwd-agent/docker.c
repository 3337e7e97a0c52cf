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

#include "docker_json.h"

#define BODY_MAX           (32u << 20)
#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 30000L
#define MAX_CONNECTIONS    8L
#define BACKOFF_MIN_MS     100u
#define BACKOFF_MAX_MS     10000u
/* Events since a second before the list: replays are harmless, a gap is not. */
#define SINCE_MARGIN_S 1

/* The events the client acts on. The engine ORs values of one key and ANDs keys; "destroy"
 * and "create" also match container events, which the client skips. Podman filters by its
 * own names ("died", "remove") and reports die/remove: Docker ignores names it has none of. */
#define EVENT_FILTERS                                                                        \
	"{\"type\":[\"container\",\"network\"],\"event\":[\"start\",\"die\",\"destroy\","    \
	"\"rename\",\"pause\",\"unpause\",\"update\",\"connect\",\"disconnect\",\"create\"," \
	"\"died\",\"remove\"]}"

enum request_kind {
	REQ_VERSION,
	REQ_LIST,
	REQ_NETWORKS,
	REQ_INSPECT,
	REQ_EVENTS,
	REQ_INFO,
};

static const char *const request_names[] = {
    [REQ_VERSION] = "/version",   [REQ_LIST] = "/containers/json",
    [REQ_NETWORKS] = "/networks", [REQ_INSPECT] = "/containers/{id}/json",
    [REQ_EVENTS] = "/events",     [REQ_INFO] = "/info",
};

struct request {
	struct request *next;
	struct wf_docker *d;
	CURL *easy;
	enum request_kind kind;
	char *key;             /* inspect: the id or name asked for */
	uint64_t deaths;       /* inspect: d->deaths when it was sent */
	unsigned networks_seq; /* networks: how many network lists were asked for, this one too */
	char *body;
	size_t len, cap;
	char reason[WF_DOCKER_ERR_MAX]; /* why the write callback stopped the transfer */
	char curl_err[CURL_ERROR_SIZE];
};

/* A container the client follows. */
struct entry {
	struct entry *next;
	char *id;
	struct wf_container *c;      /* as last reported; NULL when not running */
	struct wf_container *parked; /* inspected, on a network the list does not know yet */
	unsigned parked_until;       /* the first network list that knows all it can know */
	uint64_t parked_deaths;      /* d->deaths when the parked answer was asked for */
	struct request *inflight;
	bool want;  /* an event asks for an inspect */
	bool again; /* an event came while an inspect was in flight: its answer is stale */
	/* A die or destroy event newer than the list: report it gone without waiting for the
	 * inspect, which Docker answers only once its teardown is done (~200 ms). */
	bool dead;
	uint64_t died; /* d->deaths at its last die or destroy event; 0: none */
};

enum phase {
	PHASE_WAITING, /* for the next attempt */
	PHASE_VERSION,
	PHASE_LISTING,
	PHASE_INSPECTING,
	PHASE_FOLLOWING,
};

enum link_state {
	LINK_UNKNOWN,
	LINK_DOWN,
	LINK_UP,
};

struct wf_docker {
	struct event_base *base;
	struct wf_docker_ops ops;
	void *ctx;
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	CURLM *multi;
	struct event *curl_timer;
	struct event *retry_timer;
	struct event *work; /* deferred: start requests outside curl's callbacks */
	struct request *requests;

	enum phase phase;
	enum link_state link;
	char api[WF_DOCKER_API_MAX];
	char firewall[32]; /* /info's FirewallBackend.Driver; "" when the engine does not say */
	struct timespec list_time;
	struct timespec up_since;
	bool have_list, have_networks;
	struct wf_docker_summaries list;
	struct wf_docker_networks nets;
	unsigned networks_seq;
	uint64_t deaths; /* die and destroy events seen, all containers */
	struct request *networks_req;
	bool want_networks;
	struct entry *entries;
	struct wf_docker_events *parser;

	char last_failure[WF_DOCKER_ERR_MAX + 64];
	unsigned backoff_min_ms, backoff_max_ms, backoff_ms;
	uint64_t rng;
};

struct sock {
	struct event *ev;
};

static void fail_session(struct wf_docker *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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

static void kick(struct wf_docker *d)
{
	event_active(d->work, 0, 0);
}

/* Containers */

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool container_equal(const struct wf_container *a, const struct wf_container *b)
{
	if (!str_equal(a->id, b->id) || !str_equal(a->name, b->name) ||
	    a->created_ns != b->created_ns || a->running != b->running || a->paused != b->paused ||
	    a->netmode != b->netmode || !str_equal(a->netmode_target, b->netmode_target) ||
	    a->n_labels != b->n_labels || a->n_networks != b->n_networks)
		return false;
	for (size_t i = 0; i < a->n_labels; i++) {
		if (!str_equal(a->labels[i].key, b->labels[i].key) ||
		    !str_equal(a->labels[i].value, b->labels[i].value))
			return false;
	}
	for (size_t i = 0; i < a->n_networks; i++) {
		const struct wf_network *x = &a->networks[i], *y = &b->networks[i];

		if (!str_equal(x->name, y->name) || !str_equal(x->id, y->id) ||
		    strcmp(x->bridge, y->bridge) || x->has_ip4 != y->has_ip4 ||
		    x->has_ip6 != y->has_ip6 || (x->has_ip4 && x->ip4.s_addr != y->ip4.s_addr) ||
		    (x->has_ip6 && memcmp(&x->ip6, &y->ip6, sizeof(x->ip6))))
			return false;
	}
	return true;
}

static struct entry *entry_find(struct wf_docker *d, const char *id)
{
	for (struct entry *e = d->entries; e; e = e->next) {
		if (!strcmp(e->id, id))
			return e;
	}
	return NULL;
}

static struct entry *entry_get(struct wf_docker *d, const char *id)
{
	struct entry *e = entry_find(d, id);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->id = strdup(id);
	if (!e->id) {
		free(e);
		return NULL;
	}
	e->next = d->entries;
	d->entries = e;
	return e;
}

static void entry_free(struct entry *e)
{
	wf_container_free(e->c);
	wf_container_free(e->parked);
	free(e->id);
	free(e);
}

/* An answer asked for before e's last death may still come, under e's id or under a name
 * (a network_mode target): e must remember that death until then. */
static bool stale_answer_pending(struct wf_docker *d, const struct entry *e)
{
	if (!e->died)
		return false;
	for (const struct request *r = d->requests; r; r = r->next) {
		if (r->kind == REQ_INSPECT && r->deaths < e->died)
			return true;
	}
	for (const struct entry *x = d->entries; x; x = x->next) {
		if (x->parked && x->parked_deaths < e->died)
			return true;
	}
	return false;
}

/* Drops e once nothing about it is reported or pending. */
static void entry_forget_if_idle(struct wf_docker *d, struct entry *e)
{
	if (e->c || e->parked || e->inflight || e->want || e->again || e->dead ||
	    stale_answer_pending(d, e))
		return;
	for (struct entry **pp = &d->entries; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			entry_free(e);
			return;
		}
	}
}

static void entries_forget_idle(struct wf_docker *d)
{
	struct entry *next;

	for (struct entry *e = d->entries; e; e = next) {
		next = e->next;
		entry_forget_if_idle(d, e);
	}
}

static void entries_clear(struct wf_docker *d)
{
	while (d->entries) {
		struct entry *e = d->entries;

		d->entries = e->next;
		entry_free(e);
	}
}

/* A container some followed container shares its network namespace with. */
static bool is_referenced(struct wf_docker *d, const char *id, const char *name)
{
	for (struct entry *e = d->entries; e; e = e->next) {
		const char *t = e->c ? e->c->netmode_target : NULL;

		if (t && (!strcmp(t, id) || (name && name[0] && !strcmp(t, name))))
			return true;
	}
	return false;
}

static int want_inspect(struct wf_docker *d, const char *id)
{
	struct entry *e = entry_get(d, id);

	if (!e)
		return -ENOMEM;
	if (e->inflight)
		e->again = true;
	else
		e->want = true;
	kick(d);
	return 0;
}

/* Requests */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata);

static void request_free(struct request *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	free(r->key);
	free(r->body);
	free(r);
}

static void request_unlink(struct wf_docker *d, struct request *r)
{
	for (struct request **pp = &d->requests; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	curl_multi_remove_handle(d->multi, r->easy);
	if (d->networks_req == r)
		d->networks_req = NULL;
	for (struct entry *e = d->entries; e; e = e->next) {
		if (e->inflight == r)
			e->inflight = NULL;
	}
}

static struct request *request_start(struct wf_docker *d, enum request_kind kind, const char *path,
                                     const char *key)
{
	struct request *r = calloc(1, sizeof(*r));
	char *url = NULL;
	CURLMcode mc;

	if (!r)
		goto fail;
	r->d = d;
	r->kind = kind;
	r->deaths = d->deaths;
	if (kind == REQ_NETWORKS)
		r->networks_seq = ++d->networks_seq;
	if (key && !(r->key = strdup(key)))
		goto fail;
	/* /version is unversioned: the version is what it tells. */
	if (asprintf(&url, "http://localhost%s%s%s", kind == REQ_VERSION ? "" : "/v",
	             kind == REQ_VERSION ? "" : d->api, path) < 0) {
		url = NULL;
		goto fail;
	}
	r->easy = curl_easy_init();
	if (!r->easy)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	curl_easy_setopt(r->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "wgfwd-agent");
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	if (kind != REQ_EVENTS)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	mc = curl_multi_add_handle(d->multi, r->easy);
	if (mc != CURLM_OK) {
		log_error("docker: cannot start %s: %s", request_names[kind],
		          curl_multi_strerror(mc));
		goto fail;
	}
	free(url);
	r->next = d->requests;
	d->requests = r;
	log_debug("docker: GET %s", path);
	return r;

fail:
	free(url);
	request_free(r);
	return NULL;
}

static void requests_cancel(struct wf_docker *d)
{
	while (d->requests) {
		struct request *r = d->requests;

		request_unlink(d, r);
		request_free(r);
	}
}

static long response_code(struct request *r)
{
	long code = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static int on_event(const struct wf_docker_event *ev, void *ctx);

/* Runs inside curl: only parse and mark, the work runs later (kick). */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct request *r = userdata;
	size_t n = size * nmemb;
	int ret;

	if (r->kind == REQ_EVENTS && response_code(r) == 200) {
		ret = wf_docker_events_feed(r->d->parser, ptr, n, on_event, r->d, r->reason);
		if (ret == -ENOMEM)
			snprintf(r->reason, sizeof(r->reason), "out of memory");
		return ret ? 0 : n;
	}
	if (n > BODY_MAX - r->len) {
		snprintf(r->reason, sizeof(r->reason), "response larger than %u bytes", BODY_MAX);
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *body;

		while (cap < r->len + n + 1)
			cap *= 2;
		body = realloc(r->body, cap);
		if (!body) {
			snprintf(r->reason, sizeof(r->reason), "out of memory");
			return 0;
		}
		r->body = body;
		r->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static void start_events(struct wf_docker *d)
{
	char *filters = curl_easy_escape(NULL, EVENT_FILTERS, 0);
	char path[1024];

	if (!filters) {
		fail_session(d, "out of memory");
		return;
	}
	snprintf(path, sizeof(path), "/events?since=%lld.%09ld&filters=%s",
	         (long long)d->list_time.tv_sec - SINCE_MARGIN_S, d->list_time.tv_nsec, filters);
	curl_free(filters);
	wf_docker_events_reset(d->parser);
	if (!request_start(d, REQ_EVENTS, path, NULL))
		fail_session(d, "cannot open the event stream");
}

static int cmp_container_ptr(const void *a, const void *b)
{
	const struct wf_container *x = *(const struct wf_container *const *)a;
	const struct wf_container *y = *(const struct wf_container *const *)b;

	return strcmp(x->id, y->id);
}

static void report_synced(struct wf_docker *d)
{
	const struct wf_container **sorted = NULL;
	struct wf_container *list = NULL;
	size_t n = 0, i = 0;

	for (struct entry *e = d->entries; e; e = e->next)
		n += e->c != NULL;
	if (n) {
		sorted = calloc(n, sizeof(*sorted));
		list = calloc(n, sizeof(*list));
		if (!sorted || !list) {
			free(sorted);
			free(list);
			fail_session(d, "out of memory");
			return;
		}
	}
	for (struct entry *e = d->entries; e; e = e->next) {
		if (e->c)
			sorted[i++] = e->c;
	}
	if (n)
		qsort(sorted, n, sizeof(*sorted), cmp_container_ptr);
	for (i = 0; i < n; i++)
		list[i] = *sorted[i]; /* shallow: the entries keep owning the strings */

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
	free(sorted);
	free(list);
	start_events(d);
}

/* Applying inspect results */

static void report_gone(struct wf_docker *d, struct entry *e)
{
	if (!e->c)
		return;
	wf_container_free(e->c);
	e->c = NULL;
	if (d->phase == PHASE_FOLLOWING && d->ops.removed)
		d->ops.removed(d->ctx, e->id);
}

/* c answers an inspect sent when d->deaths was `deaths`. */
static void apply(struct wf_docker *d, struct entry *e, struct wf_container *c, uint64_t deaths)
{
	if (!c->running) {
		wf_container_free(c);
		report_gone(d, e);
		return;
	}
	if (strcmp(e->id, c->id)) {
		/* Asked by name (a network_mode target): file it under its id. */
		struct entry *by_id = entry_get(d, c->id);

		if (!by_id) {
			wf_container_free(c);
			fail_session(d, "out of memory");
			return;
		}
		e = by_id;
	}
	if (deaths < e->died) {
		/* Asked before the container's last death, answered after it: reporting it
		 * running would bring back what the death took away. The inspect that death
		 * asked for tells what it is now. */
		log_debug("docker: dropping an answer about %s from before it stopped", c->name);
		wf_container_free(c);
		return;
	}
	if (c->netmode == WF_NETMODE_CONTAINER && c->netmode_target) {
		struct entry *t = entry_find(d, c->netmode_target);

		if ((!t || (!t->c && !t->inflight && !t->parked)) &&
		    want_inspect(d, c->netmode_target)) {
			wf_container_free(c);
			fail_session(d, "out of memory");
			return;
		}
	}
	if (e->c && container_equal(e->c, c)) {
		wf_container_free(c);
		return;
	}
	wf_container_free(e->c);
	e->c = c;
	if (d->phase == PHASE_FOLLOWING && d->ops.changed)
		d->ops.changed(d->ctx, c);
}

/* After a network list was read (the seq-th asked for): report the containers that waited
 * for it. A list asked for after the container was inspected knows all its networks but
 * those removed since, which keep an empty bridge. */
static void apply_parked(struct wf_docker *d, unsigned seq)
{
	struct entry *next;

	for (struct entry *e = d->entries; e; e = next) {
		struct wf_container *c = e->parked;

		next = e->next;
		if (!c)
			continue;
		if (e->again) {
			e->parked = NULL;
			wf_container_free(c);
			continue;
		}
		if (wf_docker_networks_resolve(&d->nets, c)) {
			if (seq < e->parked_until) {
				d->want_networks = true;
				continue;
			}
			log_debug("docker: %s is on a network the engine no longer lists", c->name);
		}
		e->parked = NULL;
		apply(d, e, c, e->parked_deaths);
		if (d->phase == PHASE_WAITING)
			return;
	}
	entries_forget_idle(d);
}

static void finish_inspect(struct wf_docker *d, struct request *r, long code)
{
	struct entry *e = entry_find(d, r->key);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct wf_container *c;
	int ret;

	if (!e) /* cannot happen: entries outlive their requests */
		return;
	if (e->again) {
		e->again = false;
		e->want = true;
		kick(d);
		return;
	}
	/* An older answer still waiting for the network list must not come after this one. */
	wf_container_free(e->parked);
	e->parked = NULL;
	if (code == 404) {
		report_gone(d, e);
		if (r->deaths < d->deaths)
			entries_forget_idle(d);
		else
			entry_forget_if_idle(d, e);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fail_session(d, "out of memory");
		return;
	}
	ret = wf_docker_parse_inspect(r->body ? r->body : "", r->len, c, err);
	if (ret) {
		free(c);
		fail_session(d, "inspect of %s: %s", r->key,
		             ret == -EBADMSG ? err : strerror(-ret));
		return;
	}
	/* A network the list does not know was created after it was read: read it again
	 * before reporting the container. */
	if (wf_docker_networks_resolve(&d->nets, c)) {
		e->parked = c;
		e->parked_until = d->networks_seq + 1;
		e->parked_deaths = r->deaths;
		d->want_networks = true;
		return;
	}
	apply(d, e, c, r->deaths);
	if (d->phase == PHASE_WAITING)
		return;
	/* The last answer from before a death lets the dead entries go. */
	if (r->deaths < d->deaths)
		entries_forget_idle(d);
	else
		entry_forget_if_idle(d, e);
}

static void finish_list_and_networks(struct wf_docker *d)
{
	if (!d->have_list || !d->have_networks)
		return;
	for (size_t i = 0; i < d->list.n; i++) {
		const struct wf_docker_summary *s = &d->list.v[i];

		if (!s->has_wgfwd_label)
			continue;
		if (want_inspect(d, s->id) ||
		    (s->netmode_target && want_inspect(d, s->netmode_target))) {
			fail_session(d, "out of memory");
			return;
		}
	}
	wf_docker_summaries_clear(&d->list);
	d->phase = PHASE_INSPECTING;
	kick(d);
}

static void finish_version(struct wf_docker *d, struct request *r)
{
	struct wf_docker_version v;
	char err[WF_DOCKER_ERR_MAX] = "";
	int ret;

	ret = wf_docker_parse_version(r->body ? r->body : "", r->len, &v, err);
	if (ret) {
		fail_session(d, "GET /version: %s", ret == -EBADMSG ? err : strerror(-ret));
		return;
	}
	if (wf_docker_api_pick(&v, d->api)) {
		fail_session(d, "engine %s speaks API %s (minimum %s); wgfwd needs %s to %s",
		             v.engine, v.api, v.min_api[0] ? v.min_api : "?", WF_DOCKER_API_OLDEST,
		             WF_DOCKER_API_NEWEST);
		return;
	}
	log_info("docker: engine %s at %s, API %s (using %s)", v.engine, d->socket_path, v.api,
	         d->api);
	/* Taken before the list: the event stream starts here. */
	clock_gettime(CLOCK_REALTIME, &d->list_time);
	d->phase = PHASE_LISTING;
	d->have_list = d->have_networks = false;
	if (!request_start(d, REQ_LIST, "/containers/json", NULL)) {
		fail_session(d, "cannot list containers");
		return;
	}
	d->networks_req = request_start(d, REQ_NETWORKS, "/networks", NULL);
	if (!d->networks_req) {
		fail_session(d, "cannot list networks");
		return;
	}
	/* Only a hint (the firewall backend, API 1.49 and later): never fails the session. */
	d->firewall[0] = '\0';
	request_start(d, REQ_INFO, "/info", NULL);
}

static void finish_info(struct wf_docker *d, struct request *r)
{
	static const char version[] = "{\"Version\":\"\"}";
	struct wf_engine_info e;

	if (wf_engine_info_parse(version, sizeof(version) - 1, r->body, r->len, &e) == 0 &&
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

static void finish_networks(struct wf_docker *d, struct request *r)
{
	struct wf_docker_networks nets;
	char err[WF_DOCKER_ERR_MAX] = "";
	int ret;

	ret = wf_docker_parse_networks(r->body ? r->body : "", r->len, &nets, err);
	if (ret) {
		fail_session(d, "GET /networks: %s", ret == -EBADMSG ? err : strerror(-ret));
		return;
	}
	locate_bridges(&nets);
	wf_docker_networks_clear(&d->nets);
	d->nets = nets;
	if (d->phase == PHASE_LISTING) {
		d->have_networks = true;
		finish_list_and_networks(d);
	} else {
		apply_parked(d, r->networks_seq);
	}
}

static void finish_list(struct wf_docker *d, struct request *r)
{
	char err[WF_DOCKER_ERR_MAX] = "";
	int ret;

	wf_docker_summaries_clear(&d->list);
	ret = wf_docker_parse_list(r->body ? r->body : "", r->len, &d->list, err);
	if (ret) {
		fail_session(d, "GET /containers/json: %s", ret == -EBADMSG ? err : strerror(-ret));
		return;
	}
	d->have_list = true;
	finish_list_and_networks(d);
}

static void finish(struct wf_docker *d, struct request *r, CURLcode res)
{
	char message[WF_DOCKER_ERR_MAX];
	long code;

	if (r->kind == REQ_EVENTS) {
		if (r->reason[0])
			fail_session(d, "event stream: %s", r->reason);
		else if (res != CURLE_OK)
			fail_session(d, "event stream: %s",
			             r->curl_err[0] ? r->curl_err : curl_easy_strerror(res));
		else if (response_code(r) != 200)
			goto http_error;
		else
			fail_session(d, "event stream ended");
		return;
	}
	if (r->kind == REQ_INFO) {
		if (res == CURLE_OK && response_code(r) == 200)
			finish_info(d, r);
		return;
	}
	if (res == CURLE_COULDNT_CONNECT) {
		long os_errno = 0;

		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
		fail_session(d, "cannot connect to %s: %s", d->socket_path,
		             os_errno ? strerror((int)os_errno) : curl_easy_strerror(res));
		return;
	}
	if (res != CURLE_OK) {
		fail_session(d, "GET %s: %s", request_names[r->kind],
		             r->reason[0]     ? r->reason
		             : r->curl_err[0] ? r->curl_err
		                              : curl_easy_strerror(res));
		return;
	}
	code = response_code(r);
	if (code == 200 || (r->kind == REQ_INSPECT && code == 404)) {
		switch (r->kind) {
		case REQ_VERSION:
			finish_version(d, r);
			break;
		case REQ_LIST:
			finish_list(d, r);
			break;
		case REQ_NETWORKS:
			finish_networks(d, r);
			break;
		case REQ_INSPECT:
			finish_inspect(d, r, code);
			break;
		case REQ_EVENTS:
		case REQ_INFO:
			break;
		}
		return;
	}
http_error:
	wf_docker_error_message(r->body ? r->body : "", r->len, message, sizeof(message));
	fail_session(d, "GET %s: HTTP %ld%s%s", request_names[r->kind], response_code(r),
	             message[0] ? ": " : "", message);
}

/* A container stopped (die) or went (destroy). An event newer than the list is news enough
 * to drop the container at once; one from before it (the stream starts a second before the
 * list) may be followed by a start the list already saw, so there the inspect decides. Either
 * way the inspect confirms, and answers asked for before the death are dropped (apply). */
static int note_death(struct wf_docker *d, const struct wf_docker_event *ev)
{
	int64_t list_ns = (int64_t)d->list_time.tv_sec * 1000000000 + d->list_time.tv_nsec;
	struct entry *e = entry_get(d, ev->actor_id);

	if (!e)
		return -ENOMEM;
	e->died = ++d->deaths;
	if (ev->time_ns >= list_ns && e->c)
		e->dead = true;
	return want_inspect(d, ev->actor_id);
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
		if (!ev->has_wgfwd_label && !entry_find(d, ev->actor_id) &&
		    !is_referenced(d, ev->actor_id, ev->name))
			return 0;
		log_debug("docker: container %s %s", ev->name, ev->action);
		if (!strcmp(ev->action, "die") || !strcmp(ev->action, "destroy") ||
		    !strcmp(ev->action, "remove"))
			return note_death(d, ev);
		return want_inspect(d, ev->actor_id);
	}
	if (ev->type == WF_DOCKER_EVENT_NETWORK) {
		if (!strcmp(ev->action, "create") || !strcmp(ev->action, "destroy")) {
			log_debug("docker: network %s %s", ev->name, ev->action);
			d->want_networks = true;
			kick(d);
			return 0;
		}
		if ((!strcmp(ev->action, "connect") || !strcmp(ev->action, "disconnect")) &&
		    ev->container_id[0] &&
		    (entry_find(d, ev->container_id) || is_referenced(d, ev->container_id, NULL))) {
			log_debug("docker: network %s %s %.12s", ev->name, ev->action,
			          ev->container_id);
			return want_inspect(d, ev->container_id);
		}
	}
	return 0;
}

/* Sessions */

static void session_start(struct wf_docker *d)
{
	d->phase = PHASE_VERSION;
	if (!request_start(d, REQ_VERSION, "/version", NULL))
		fail_session(d, "cannot start a request");
}

static void session_reset(struct wf_docker *d)
{
	requests_cancel(d);
	entries_clear(d);
	wf_docker_summaries_clear(&d->list);
	d->networks_req = NULL;
	d->want_networks = false;
	d->have_list = d->have_networks = false;
}

static void fail_session(struct wf_docker *d, const char *fmt, ...)
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
	bool busy = false;
	char path[300];

	(void)fd;
	(void)what;
	if (d->phase != PHASE_INSPECTING && d->phase != PHASE_FOLLOWING)
		return;
	if (d->want_networks && !d->networks_req) {
		d->want_networks = false;
		d->networks_req = request_start(d, REQ_NETWORKS, "/networks", NULL);
		if (!d->networks_req) {
			fail_session(d, "cannot list networks");
			return;
		}
	}
	for (struct entry *e = d->entries; e; e = e->next) {
		if (e->dead) {
			e->dead = false;
			log_debug("docker: %s stopped", e->c ? e->c->name : e->id);
			report_gone(d, e);
		}
		if (e->want && !e->inflight) {
			char *escaped = curl_easy_escape(NULL, e->id, 0);

			if (!escaped) {
				fail_session(d, "out of memory");
				return;
			}
			snprintf(path, sizeof(path), "/containers/%s/json", escaped);
			curl_free(escaped);
			e->want = false;
			e->inflight = request_start(d, REQ_INSPECT, path, e->id);
			if (!e->inflight) {
				fail_session(d, "cannot inspect %s", e->id);
				return;
			}
		}
		busy |= e->inflight || e->want || e->parked;
	}
	if (d->phase == PHASE_INSPECTING && !busy && !d->networks_req && !d->want_networks)
		report_synced(d);
}

/* libcurl on libevent: one persistent event per socket, one timer, and every finished
 * transfer collected after each action. */

static void drain(struct wf_docker *d)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(d->multi, &left))) {
		struct request *r = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		CURLcode res = msg->data.result;
		request_unlink(d, r);
		finish(d, r, res);
		request_free(r);
		kick(d);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct wf_docker *d = arg;
	int action =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(d->multi, fd, action, &running);
	drain(d);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wf_docker *d = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(d);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct wf_docker *d = userp;
	struct sock *sk = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sk) {
			event_free(sk->ev);
			free(sk);
			curl_multi_assign(d->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	       (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!sk) {
		sk = calloc(1, sizeof(*sk));
		if (!sk)
			return -1;
		curl_multi_assign(d->multi, s, sk);
	} else {
		event_free(sk->ev);
	}
	sk->ev = event_new(d->base, s, kind, on_socket_event, d);
	if (!sk->ev || event_add(sk->ev, NULL))
		return -1;
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct wf_docker *d = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(d->curl_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(d->curl_timer, &tv);
	return 0;
}

int wf_docker_new(struct wf_docker **out, struct event_base *base, const char *docker_host,
                  const struct wf_docker_ops *ops, void *ctx)
{
	static const struct timeval now = {0, 0};
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
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		free(d);
		return -ENOMEM;
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

	d->multi = curl_multi_init();
	d->curl_timer = evtimer_new(base, on_curl_timer, d);
	d->retry_timer = evtimer_new(base, on_retry, d);
	d->work = event_new(base, -1, 0, on_work, d);
	d->parser = wf_docker_events_new(WF_DOCKER_EVENT_MAX);
	if (!d->multi || !d->curl_timer || !d->retry_timer || !d->work || !d->parser) {
		wf_docker_free(d);
		return -ENOMEM;
	}
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, MAX_CONNECTIONS);
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
	if (d->multi) {
		session_reset(d);
		/* Closes cached connections, which removes their socket events. */
		curl_multi_cleanup(d->multi);
	}
	wf_docker_networks_clear(&d->nets);
	wf_docker_events_free(d->parser);
	if (d->curl_timer)
		event_free(d->curl_timer);
	if (d->retry_timer)
		event_free(d->retry_timer);
	if (d->work)
		event_free(d->work);
	free(d);
	curl_global_cleanup();
}
