/* The Docker client against a stand-in engine: a small HTTP server on a unix socket, in the
 * same event loop, that serves what a test puts in its model and misbehaves on request in
 * ways a real engine never does (garbage, huge objects, cut streams, going away). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <wgfwd-agent/docker.h>
#include <wgfwd-agent/docker_json.h>
#include <wgfwd/log.h>

#define API            "1.41"
#define NET_WEB        "1111111111111111111111111111111111111111111111111111111111111111"
#define NET_NEW        "2222222222222222222222222222222222222222222222222222222222222222"
#define MAX_CONTAINERS 16
#define WAIT_LIMIT_S   10

/* The stand-in engine */

struct fake_container {
	char id[65];
	char name[64];
	char labels[256]; /* JSON object */
	char netmode[128];
	char networks[512]; /* JSON object: NetworkSettings.Networks */
	bool running;
	bool paused;
	bool present;
	int inspects;
	unsigned next_delay_ms; /* the next inspect is answered that much later */
};

struct conn {
	struct fake *f;
	struct bufferevent *bev;
	struct conn *next;
	bool closing;
};

struct delayed {
	struct conn *c;
	struct event *timer;
	int status;
	char *body;
};

struct fake {
	struct event_base *base;
	char dir[64];
	char path[108];
	struct evconnlistener *listener;
	struct conn *conns;
	struct conn *stream;
	struct fake_container c[MAX_CONTAINERS];
	char networks[2048];
	char api[16];        /* what /version says */
	char paths_api[16];  /* what request paths must carry */
	int fail_list_times; /* answer /containers/json with HTTP 500 that many times */
	unsigned networks_delay_ms;
	struct timespec list_time; /* when the last list was served */
	int versions, lists, streams, network_lists, pings;
	bool ping_says; /* /_ping names the engine and its API in its headers, as Docker's does */
	int delayed;    /* answers held back, not sent yet */
	char last_events_path[2048];
	char last_list_path[2048];
	const char *info; /* body of /info; NULL: 404, as an engine that does not serve it */
	/* a byte-at-a-time writer */
	struct event *drip;
	char *drip_buf;
	size_t drip_len, drip_off;
};

static void conn_free(struct conn *c)
{
	struct fake *f = c->f;

	for (struct conn **pp = &f->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (f->stream == c)
		f->stream = NULL;
	bufferevent_free(c->bev);
	free(c);
}

static bool conn_alive(struct fake *f, struct conn *c)
{
	for (struct conn *x = f->conns; x; x = x->next) {
		if (x == c)
			return true;
	}
	return false;
}

static void respond(struct conn *c, int status, const char *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                    status, status == 200 ? "OK" : "Error", strlen(body), body);
	c->closing = true;
}

static void on_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct delayed *dl = arg;

	(void)fd;
	(void)what;
	dl->c->f->delayed--;
	if (conn_alive(dl->c->f, dl->c))
		respond(dl->c, dl->status, dl->body);
	event_free(dl->timer);
	free(dl->body);
	free(dl);
}

static void respond_later(struct conn *c, int status, char *body, unsigned ms)
{
	struct delayed *dl = calloc(1, sizeof(*dl));
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	dl->c = c;
	dl->status = status;
	dl->body = body;
	dl->timer = evtimer_new(c->f->base, on_delayed, dl);
	evtimer_add(dl->timer, &tv);
	c->f->delayed++;
}

static char *inspect_json(const struct fake_container *fc)
{
	char *s;

	if (asprintf(
	        &s,
	        "{\"Id\":\"%s\",\"Name\":\"/%s\",\"Created\":\"2024-05-01T10:00:00.000000001Z\","
	        "\"State\":{\"Running\":%s,\"Paused\":%s},"
	        "\"HostConfig\":{\"NetworkMode\":\"%s\"},\"Config\":{\"Labels\":%s},"
	        "\"NetworkSettings\":{\"Networks\":%s}}",
	        fc->id, fc->name, fc->running ? "true" : "false", fc->paused ? "true" : "false",
	        fc->netmode, fc->labels, fc->networks) < 0)
		abort();
	return s;
}

static char *list_json(struct fake *f)
{
	size_t cap = 1 << 16, len = 0;
	char *s = malloc(cap);

	len += snprintf(s + len, cap - len, "[");
	for (int i = 0; i < MAX_CONTAINERS; i++) {
		const struct fake_container *fc = &f->c[i];

		if (!fc->present || !fc->running)
			continue;
		len += snprintf(s + len, cap - len,
		                "%s{\"Id\":\"%s\",\"Names\":[\"/%s\"],\"Labels\":%s,"
		                "\"State\":\"running\",\"HostConfig\":{\"NetworkMode\":\"%s\"}}",
		                len > 1 ? "," : "", fc->id, fc->name, fc->labels, fc->netmode);
	}
	snprintf(s + len, cap - len, "]");
	return s;
}

static struct fake_container *fake_find(struct fake *f, const char *id)
{
	for (int i = 0; i < MAX_CONTAINERS; i++) {
		if (f->c[i].present && (!strcmp(f->c[i].id, id) || !strcmp(f->c[i].name, id)))
			return &f->c[i];
	}
	return NULL;
}

static void handle_request(struct conn *c, const char *path)
{
	struct fake *f = c->f;
	char prefix[32];
	const char *p;

	if (!strcmp(path, "/_ping") && f->ping_says) {
		f->pings++;
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		                    "HTTP/1.1 200 OK\r\nApi-Version: %s\r\nServer: Docker/20.10.24 "
		                    "(linux)\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
		                    f->api);
		c->closing = true;
		return;
	}
	if (!strcmp(path, "/version")) {
		char body[256];

		f->versions++;
		snprintf(
		    body, sizeof(body),
		    "{\"Version\":\"20.10.24\",\"ApiVersion\":\"%s\",\"MinAPIVersion\":\"1.12\"}",
		    f->api);
		respond(c, 200, body);
		return;
	}
	snprintf(prefix, sizeof(prefix), "/v%s/", f->paths_api);
	if (strncmp(path, prefix, strlen(prefix))) {
		respond(c, 400, "{\"message\":\"unversioned\"}");
		return;
	}
	p = path + strlen(prefix) - 1;
	if (!strcmp(p, "/containers/json")) {
		f->lists++;
		clock_gettime(CLOCK_REALTIME, &f->list_time);
		snprintf(f->last_list_path, sizeof(f->last_list_path), "%s", path);
		if (f->fail_list_times > 0) {
			f->fail_list_times--;
			respond(c, 500, "{\"message\":\"the engine is having a bad day\"}");
			return;
		}
		char *body = list_json(f);
		respond(c, 200, body);
		free(body);
	} else if (!strcmp(p, "/info") && f->info) {
		respond(c, 200, f->info);
	} else if (!strcmp(p, "/networks")) {
		f->network_lists++;
		respond_later(c, 200, strdup(f->networks), f->networks_delay_ms);
	} else if (!strncmp(p, "/containers/", 12)) {
		char id[128];
		struct fake_container *fc;

		snprintf(id, sizeof(id), "%.*s", (int)strcspn(p + 12, "/"), p + 12);
		fc = fake_find(f, id);
		if (!fc) {
			respond(c, 404, "{\"message\":\"No such container\"}");
			return;
		}
		fc->inspects++;
		unsigned delay = fc->next_delay_ms;

		fc->next_delay_ms = 0;
		respond_later(c, 200, inspect_json(fc), delay);
	} else if (!strncmp(p, "/events?", 8)) {
		f->streams++;
		snprintf(f->last_events_path, sizeof(f->last_events_path), "%s", path);
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		                    "Transfer-Encoding: chunked\r\n\r\n");
		f->stream = c;
	} else {
		respond(c, 404, "{\"message\":\"page not found\"}");
	}
}

static void on_conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char head[4096], method[16], path[2048];
	size_t n;

	if (end.pos < 0)
		return;
	n = (size_t)end.pos + 4 < sizeof(head) - 1 ? (size_t)end.pos + 4 : sizeof(head) - 1;
	evbuffer_remove(in, head, n);
	head[n] = '\0';
	evbuffer_drain(in, evbuffer_get_length(in));
	if (sscanf(head, "%15s %2047s", method, path) != 2 || strcmp(method, "GET")) {
		respond(c, 400, "{\"message\":\"bad request\"}");
		return;
	}
	handle_request(c, path);
}

static void on_conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void on_conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
	struct fake *f = arg;
	struct conn *c = calloc(1, sizeof(*c));

	(void)l;
	(void)sa;
	(void)len;
	c->f = f;
	c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, on_conn_read, on_conn_write, on_conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = f->conns;
	f->conns = c;
}

static void fake_listen(struct fake *f)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	unlink(f->path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	f->listener = evconnlistener_new_bind(f->base, on_accept, f, LEV_OPT_CLOSE_ON_FREE, -1,
	                                      (struct sockaddr *)&sun, sizeof(sun));
	assert_non_null(f->listener);
}

/* The engine goes away: socket gone, every connection cut. */
static void fake_stop(struct fake *f)
{
	if (f->listener)
		evconnlistener_free(f->listener);
	f->listener = NULL;
	while (f->conns)
		conn_free(f->conns);
	unlink(f->path);
}

static void fake_init(struct fake *f, struct event_base *base)
{
	memset(f, 0, sizeof(*f));
	f->base = base;
	snprintf(f->dir, sizeof(f->dir), "/tmp/wfdk-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/docker.sock", f->dir);
	snprintf(f->api, sizeof(f->api), API);
	snprintf(f->paths_api, sizeof(f->paths_api), API);
	snprintf(f->networks, sizeof(f->networks),
	         "[{\"Name\":\"bridge\",\"Id\":\"%064d\",\"Driver\":\"bridge\",\"Options\":{"
	         "\"com.docker.network.bridge.name\":\"docker0\"}},"
	         "{\"Name\":\"web\",\"Id\":\"" NET_WEB "\",\"Driver\":\"bridge\",\"Options\":{}},"
	         "{\"Name\":\"host\",\"Id\":\"%064d\",\"Driver\":\"host\",\"Options\":{}}]",
	         3, 4);
}

static void fake_cleanup(struct fake *f)
{
	fake_stop(f);
	if (f->drip)
		event_free(f->drip);
	free(f->drip_buf);
	rmdir(f->dir);
}

static struct fake_container *fake_add(struct fake *f, char hex, const char *name,
                                       const char *labels, const char *netmode,
                                       const char *networks)
{
	for (int i = 0; i < MAX_CONTAINERS; i++) {
		struct fake_container *fc = &f->c[i];

		if (fc->present)
			continue;
		memset(fc, 0, sizeof(*fc));
		memset(fc->id, hex, 64);
		snprintf(fc->name, sizeof(fc->name), "%s", name);
		snprintf(fc->labels, sizeof(fc->labels), "%s", labels);
		snprintf(fc->netmode, sizeof(fc->netmode), "%s", netmode);
		snprintf(fc->networks, sizeof(fc->networks), "%s", networks);
		fc->running = true;
		fc->present = true;
		return fc;
	}
	fail();
	return NULL;
}

static void fake_send_raw(struct fake *f, const char *data, size_t len)
{
	assert_non_null(f->stream);
	evbuffer_add(bufferevent_get_output(f->stream->bev), data, len);
}

static void fake_send_chunk(struct fake *f, const char *data, size_t len)
{
	char head[32];

	snprintf(head, sizeof(head), "%zx\r\n", len);
	fake_send_raw(f, head, strlen(head));
	fake_send_raw(f, data, len);
	fake_send_raw(f, "\r\n", 2);
}

static char *container_event_at(const struct fake_container *fc, const char *action,
                                int64_t time_ns)
{
	char *s;
	size_t inner = strlen(fc->labels) - 2;

	if (asprintf(&s,
	             "{\"status\":\"%s\",\"id\":\"%s\",\"Type\":\"container\",\"Action\":\"%s\","
	             "\"Actor\":{\"ID\":\"%s\",\"Attributes\":{\"name\":\"%s\"%s%.*s}},"
	             "\"scope\":\"local\",\"time\":%lld,\"timeNano\":%lld}\n",
	             action, fc->id, action, fc->id, fc->name, inner ? "," : "", (int)inner,
	             fc->labels + 1, (long long)(time_ns / 1000000000), (long long)time_ns) < 0)
		abort();
	return s;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Stamped now, as the engine stamps what happens. */
static char *container_event(const struct fake_container *fc, const char *action)
{
	return container_event_at(fc, action, now_ns());
}

static void fake_container_event_at(struct fake *f, const struct fake_container *fc,
                                    const char *action, int64_t time_ns)
{
	char *ev = container_event_at(fc, action, time_ns);

	fake_send_chunk(f, ev, strlen(ev));
	free(ev);
}

static void fake_container_event(struct fake *f, const struct fake_container *fc,
                                 const char *action)
{
	fake_container_event_at(f, fc, action, now_ns());
}

static void fake_network_event(struct fake *f, const char *action, const char *net_id,
                               const char *name, const char *container)
{
	char ev[1024];

	snprintf(ev, sizeof(ev),
	         "{\"Type\":\"network\",\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\",\"Attributes\":"
	         "{\"name\":\"%s\",\"type\":\"bridge\"%s%s%s}},\"time\":1714557600}\n",
	         action, net_id, name, container ? ",\"container\":\"" : "",
	         container ? container : "", container ? "\"" : "");
	fake_send_chunk(f, ev, strlen(ev));
}

static void on_drip(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;

	(void)fd;
	(void)what;
	if (!f->stream || f->drip_off >= f->drip_len) {
		event_del(f->drip);
		return;
	}
	fake_send_raw(f, f->drip_buf + f->drip_off++, 1);
}

/* Writes the whole chunk, framing included, one byte per millisecond. */
static void fake_drip_chunk(struct fake *f, const char *data)
{
	struct timeval ms = {0, 1000};

	free(f->drip_buf);
	if (asprintf(&f->drip_buf, "%zx\r\n%s\r\n", strlen(data), data) < 0)
		abort();
	f->drip_len = strlen(f->drip_buf);
	f->drip_off = 0;
	if (!f->drip)
		f->drip = event_new(f->base, -1, EV_PERSIST, on_drip, f);
	event_add(f->drip, &ms);
}

/* What the client reported */

struct recorder {
	struct wf_container *mirror[MAX_CONTAINERS * 2];
	size_t n;
	int ups, downs, synced, changed, removed;
};

static void mirror_clear(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++)
		wf_container_free(r->mirror[i]);
	r->n = 0;
}

static struct wf_container *mirror_find(struct recorder *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->mirror[i]->id, id))
			return r->mirror[i];
	}
	return NULL;
}

static void mirror_remove(struct recorder *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!strcmp(r->mirror[i]->id, id)) {
			wf_container_free(r->mirror[i]);
			r->mirror[i] = r->mirror[--r->n];
			return;
		}
	}
}

static void on_connection(void *ctx, bool up)
{
	struct recorder *r = ctx;

	if (up)
		r->ups++;
	else
		r->downs++;
}

static void on_synced(void *ctx, const struct wf_container *list, size_t n)
{
	struct recorder *r = ctx;

	mirror_clear(r);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(strcmp(list[i - 1].id, list[i].id) < 0);
		assert_true(list[i].running);
		r->mirror[r->n++] = wf_container_dup(&list[i]);
	}
	r->synced++;
}

static void on_changed(void *ctx, const struct wf_container *c)
{
	struct recorder *r = ctx;

	assert_true(c->running);
	mirror_remove(r, c->id);
	r->mirror[r->n++] = wf_container_dup(c);
	r->changed++;
}

static void on_removed(void *ctx, const char *id)
{
	struct recorder *r = ctx;

	assert_non_null(mirror_find(r, id));
	mirror_remove(r, id);
	r->removed++;
}

static const struct wf_docker_ops recorder_ops = {
    .connection = on_connection,
    .synced = on_synced,
    .changed = on_changed,
    .removed = on_removed,
};

/* One test: an event loop, the stand-in engine, the client and what it reported. */

struct world {
	struct event_base *base;
	struct event *tick;
	struct fake f;
	struct recorder rec;
	struct wf_docker *d;
	char host[128];
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct timeval ms10 = {0, 10000};

	w->base = event_base_new();
	w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, NULL);
	event_add(w->tick, &ms10);
	fake_init(&w->f, w->base);
	snprintf(w->host, sizeof(w->host), "unix://%s", w->f.path);
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;

	wf_docker_free(w->d);
	mirror_clear(&w->rec);
	fake_cleanup(&w->f);
	event_free(w->tick);
	event_base_free(w->base);
	free(w);
	return 0;
}

static void client_start(struct world *w)
{
	assert_int_equal(wf_docker_new(&w->d, w->base, w->host, &recorder_ops, &w->rec), 0);
	wf_docker_set_backoff(w->d, 5, 40);
}

/* Runs the loop until cond holds. The limit only keeps a broken client from hanging the
 * suite; nothing here measures time. */
#define RUN_UNTIL(w, cond)                                         \
	do {                                                       \
		struct timespec t0_, t_;                           \
		clock_gettime(CLOCK_MONOTONIC, &t0_);              \
		while (!(cond)) {                                  \
			event_base_loop((w)->base, EVLOOP_ONCE);   \
			clock_gettime(CLOCK_MONOTONIC, &t_);       \
			if (t_.tv_sec - t0_.tv_sec > WAIT_LIMIT_S) \
				fail_msg("never saw: %s", #cond);  \
		}                                                  \
	} while (0)

/* Lets the loop run a little, for "nothing else happened" checks. */
static void run_for_ms(struct world *w, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(w->base, &tv);
	event_base_dispatch(w->base);
}

static const char *ip4_of(const struct wf_container *c, size_t net)
{
	static char buf[INET_ADDRSTRLEN];

	if (!c || net >= c->n_networks || !c->networks[net].has_ip4)
		return "";
	return inet_ntop(AF_INET, &c->networks[net].ip4, buf, sizeof(buf));
}

#define WEB_AT(ip)  "{\"web\":{\"NetworkID\":\"" NET_WEB "\",\"IPAddress\":\"" ip "\"}}"
#define LABEL_PORTS "{\"wgfwd.ports\":\"443\"}"

/* A: labelled on "web"; B: no labels; C: labelled, in D's network namespace; D: no labels. */
static void add_usual_containers(struct fake *f)
{
	char netmode[80];

	fake_add(f, 'a', "alpha", LABEL_PORTS, "web", WEB_AT("172.18.0.2"));
	fake_add(f, 'b', "beta", "{\"other\":\"x\"}", "web", WEB_AT("172.18.0.3"));
	snprintf(netmode, sizeof(netmode), "container:%064d", 0);
	memset(netmode + 10, 'd', 64);
	fake_add(f, 'c', "gamma", "{\"wgfwd.ports\":\"25\"}", netmode, "{}");
	fake_add(f, 'd', "delta", "{}", "default",
	         "{\"bridge\":{\"NetworkID\":\""
	         "0000000000000000000000000000000000000000000000000000000000000003"
	         "\",\"IPAddress\":\"172.17.0.2\"}}");
}

static void start_and_sync(struct world *w)
{
	add_usual_containers(&w->f);
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->rec.synced == 1 && w->f.stream);
}

static const char *id_of(char hex)
{
	static char id[65];

	memset(id, hex, 64);
	id[64] = '\0';
	return id;
}

static void sync_reports_labelled_containers_and_their_namespace_owners(void **state)
{
	struct world *w = *state;
	const struct wf_container *a, *c, *d;

	start_and_sync(w);
	assert_int_equal(w->rec.ups, 1);
	assert_int_equal(w->rec.downs, 0);
	assert_int_equal(w->rec.n, 3);
	a = mirror_find(&w->rec, id_of('a'));
	c = mirror_find(&w->rec, id_of('c'));
	d = mirror_find(&w->rec, id_of('d'));
	assert_non_null(a);
	assert_non_null(c);
	assert_non_null(d);
	assert_null(mirror_find(&w->rec, id_of('b')));
	assert_string_equal(a->name, "alpha");
	assert_string_equal(a->networks[0].bridge, "br-111111111111");
	assert_string_equal(ip4_of(a, 0), "172.18.0.2");
	assert_int_equal(c->netmode, WF_NETMODE_CONTAINER);
	assert_string_equal(c->netmode_target, id_of('d'));
	assert_string_equal(d->networks[0].bridge, "docker0");
	/* Requests name the negotiated API; events start from before the list. */
	assert_string_equal(w->f.last_list_path, "/v" API "/containers/json");
	/* Nothing can fall between the list and the events: they start before it. */
	long long since_s = 0, since_ns = 0;

	assert_int_equal(sscanf(strstr(w->f.last_events_path, "since="), "since=%lld.%9lld",
	                        &since_s, &since_ns),
	                 2);
	assert_true(since_s < w->f.list_time.tv_sec ||
	            (since_s == w->f.list_time.tv_sec && since_ns <= w->f.list_time.tv_nsec));
	assert_non_null(strstr(w->f.last_events_path, "filters="));
	assert_int_equal(w->f.c[1].inspects, 0);
}

static void started_container_is_reported_and_stopped_one_removed(void **state)
{
	struct world *w = *state;
	struct fake_container *e;

	start_and_sync(w);
	e = fake_add(&w->f, 'e', "epsilon", LABEL_PORTS, "web", WEB_AT("172.18.0.9"));
	fake_container_event(&w->f, e, "start");
	RUN_UNTIL(w, mirror_find(&w->rec, id_of('e')));
	assert_string_equal(ip4_of(mirror_find(&w->rec, id_of('e')), 0), "172.18.0.9");

	e->running = false;
	fake_container_event(&w->f, e, "die");
	RUN_UNTIL(w, !mirror_find(&w->rec, id_of('e')));
	assert_int_equal(w->rec.removed, 1);

	e->present = false;
	fake_container_event(&w->f, e, "destroy");
	/* Restarted in between: the stream goes on. */
	struct fake_container *a = &w->f.c[0];

	snprintf(a->networks, sizeof(a->networks), WEB_AT("172.18.0.20"));
	fake_container_event(&w->f, a, "restart");
	fake_container_event(&w->f, a, "start");
	RUN_UNTIL(w, !strcmp(ip4_of(mirror_find(&w->rec, id_of('a')), 0), "172.18.0.20"));
	assert_int_equal(w->rec.removed, 1);
	assert_int_equal(w->rec.synced, 1);
}

static void renamed_and_paused_containers_are_reported_again(void **state)
{
	struct world *w = *state;
	struct fake_container *a;

	start_and_sync(w);
	a = &w->f.c[0];
	snprintf(a->name, sizeof(a->name), "alpha2");
	fake_container_event(&w->f, a, "rename");
	RUN_UNTIL(w, !strcmp(mirror_find(&w->rec, id_of('a'))->name, "alpha2"));
	a->paused = true;
	fake_container_event(&w->f, a, "pause");
	RUN_UNTIL(w, mirror_find(&w->rec, id_of('a'))->paused);
	a->paused = false;
	fake_container_event(&w->f, a, "unpause");
	RUN_UNTIL(w, !mirror_find(&w->rec, id_of('a'))->paused);
	assert_int_equal(w->rec.removed, 0);
}

static void events_of_unrelated_containers_are_not_inspected(void **state)
{
	struct world *w = *state;
	struct fake_container *b, *a;

	start_and_sync(w);
	b = &w->f.c[1];
	a = &w->f.c[0];
	fake_container_event(&w->f, b, "start");
	fake_network_event(&w->f, "disconnect", NET_WEB, "web", b->id);
	snprintf(a->networks, sizeof(a->networks), WEB_AT("172.18.0.30"));
	fake_network_event(&w->f, "connect", NET_WEB, "web", a->id);
	RUN_UNTIL(w, !strcmp(ip4_of(mirror_find(&w->rec, id_of('a')), 0), "172.18.0.30"));
	assert_int_equal(b->inspects, 0);
}

static void namespace_owner_without_labels_is_followed(void **state)
{
	struct world *w = *state;
	struct fake_container *d;

	start_and_sync(w);
	d = &w->f.c[3];
	snprintf(d->networks, sizeof(d->networks),
	         "{\"bridge\":{\"NetworkID\":\"%064d\",\"IPAddress\":\"172.17.0.7\"}}", 3);
	fake_container_event(&w->f, d, "start");
	RUN_UNTIL(w, !strcmp(ip4_of(mirror_find(&w->rec, id_of('d')), 0), "172.17.0.7"));
}

static void later_event_wins_over_slower_earlier_inspect(void **state)
{
	struct world *w = *state;
	struct fake_container *a;
	int before;

	start_and_sync(w);
	a = &w->f.c[0];
	before = a->inspects;
	/* The first inspect answers late with what was true when it was asked... */
	snprintf(a->networks, sizeof(a->networks), WEB_AT("172.18.0.40"));
	a->next_delay_ms = 200;
	fake_container_event(&w->f, a, "update");
	RUN_UNTIL(w, a->inspects == before + 1);
	/* ...while a later event finds something newer. */
	snprintf(a->networks, sizeof(a->networks), WEB_AT("172.18.0.41"));
	fake_network_event(&w->f, "connect", NET_WEB, "web", a->id);
	RUN_UNTIL(w, a->inspects == before + 2 &&
	                 !strcmp(ip4_of(mirror_find(&w->rec, id_of('a')), 0), "172.18.0.41"));
	run_for_ms(w, 300);
	assert_string_equal(ip4_of(mirror_find(&w->rec, id_of('a')), 0), "172.18.0.41");
}

static void die_drops_the_container_and_asks_no_inspect(void **state)
{
	struct world *w = *state;
	struct fake_container *a;
	int before;

	start_and_sync(w);
	a = &w->f.c[0];
	before = a->inspects;
	a->running = false;
	fake_container_event(&w->f, a, "die");
	RUN_UNTIL(w, !mirror_find(&w->rec, id_of('a')));
	assert_int_equal(w->rec.removed, 1);
	/* The network events of its teardown ask nothing either. */
	fake_network_event(&w->f, "disconnect", NET_WEB, "web", a->id);
	run_for_ms(w, 100);
	assert_int_equal(a->inspects, before);
	/* The destroy after it only confirms. */
	a->present = false;
	fake_container_event(&w->f, a, "destroy");
	run_for_ms(w, 100);
	assert_null(mirror_find(&w->rec, id_of('a')));
	assert_int_equal(w->rec.removed, 1);
	assert_int_equal(w->rec.changed, 0);
	assert_int_equal(w->rec.downs, 0);
}

static void start_after_die_brings_it_back_whatever_the_die_inspect_says(void **state)
{
	struct world *w = *state;
	struct fake_container *a;
	int before;

	start_and_sync(w);
	a = &w->f.c[0];
	before = a->inspects;
	/* An inspect asked before the death (it says running) is on its way... */
	a->next_delay_ms = 300;
	fake_container_event(&w->f, a, "update");
	RUN_UNTIL(w, a->inspects == before + 1);
	a->running = false;
	fake_container_event(&w->f, a, "die");
	RUN_UNTIL(w, !mirror_find(&w->rec, id_of('a')));
	/* ...and the container is restarted meanwhile. */
	a->running = true;
	snprintf(a->networks, sizeof(a->networks), WEB_AT("172.18.0.50"));
	fake_container_event(&w->f, a, "start");
	RUN_UNTIL(w, !strcmp(ip4_of(mirror_find(&w->rec, id_of('a')), 0), "172.18.0.50"));
	RUN_UNTIL(w, w->f.delayed == 0);
	run_for_ms(w, 50);
	assert_string_equal(ip4_of(mirror_find(&w->rec, id_of('a')), 0), "172.18.0.50");
	assert_int_equal(w->rec.removed, 1);
	assert_int_equal(w->rec.changed, 1);
}

static void answer_waiting_for_the_network_list_does_not_undo_a_die(void **state)
{
	struct world *w = *state;
	struct fake_container *a;
	char networks[2048];
	int lists;

	start_and_sync(w);
	snprintf(networks, sizeof(networks),
	         "%.*s,{\"Name\":\"late\",\"Id\":\"" NET_NEW "\",\"Driver\":\"bridge\"}]",
	         (int)strlen(w->f.networks) - 1, w->f.networks);
	snprintf(w->f.networks, sizeof(w->f.networks), "%s", networks);
	w->f.networks_delay_ms = 200;
	lists = w->f.network_lists;
	a = &w->f.c[0];
	snprintf(a->networks, sizeof(a->networks),
	         "{\"late\":{\"NetworkID\":\"" NET_NEW "\",\"IPAddress\":\"172.30.0.5\"}}");
	fake_network_event(&w->f, "connect", NET_NEW, "late", a->id);
	/* Its answer, still running, waits for the list of networks... */
	RUN_UNTIL(w, w->f.network_lists == lists + 1);
	/* ...when it dies, and the die's own inspect is slower than that list. */
	a->running = false;
	a->next_delay_ms = 400;
	fake_container_event(&w->f, a, "die");
	RUN_UNTIL(w, !mirror_find(&w->rec, id_of('a')));
	RUN_UNTIL(w, w->f.delayed == 0);
	run_for_ms(w, 50);
	assert_null(mirror_find(&w->rec, id_of('a')));
	assert_int_equal(w->rec.removed, 1);
	assert_int_equal(w->rec.changed, 0);
}

static void answer_asked_by_name_before_a_die_does_not_undo_it(void **state)
{
	struct world *w = *state;
	struct fake_container *delta, *e;
	int before;

	start_and_sync(w);
	delta = &w->f.c[3];
	before = delta->inspects;
	/* A new container names delta as its namespace owner: delta is asked for by name. */
	delta->next_delay_ms = 300;
	e = fake_add(&w->f, 'e', "epsilon", LABEL_PORTS, "container:delta", "{}");
	fake_container_event(&w->f, e, "start");
	RUN_UNTIL(w, delta->inspects == before + 1);
	/* That answer (running) is held back while delta dies. */
	delta->running = false;
	fake_container_event(&w->f, delta, "die");
	RUN_UNTIL(w, !mirror_find(&w->rec, id_of('d')));
	RUN_UNTIL(w, w->f.delayed == 0);
	run_for_ms(w, 50);
	assert_null(mirror_find(&w->rec, id_of('d')));
	assert_non_null(mirror_find(&w->rec, id_of('e')));
	assert_int_equal(w->rec.removed, 1);
}

static void replayed_die_from_before_the_list_drops_nothing(void **state)
{
	struct world *w = *state;
	struct fake_container *a;
	int64_t list_ns;
	int before;

	start_and_sync(w);
	a = &w->f.c[0];
	before = a->inspects;
	/* The stream starts a second before the list: a restart from then comes again, though
	 * the list already has the container running. */
	list_ns = (int64_t)w->f.list_time.tv_sec * 1000000000 + w->f.list_time.tv_nsec;
	fake_container_event_at(&w->f, a, "die", list_ns - 500000000);
	fake_container_event_at(&w->f, a, "start", list_ns - 400000000);
	RUN_UNTIL(w, a->inspects > before);
	run_for_ms(w, 100);
	assert_non_null(mirror_find(&w->rec, id_of('a')));
	assert_int_equal(w->rec.removed, 0);
	assert_int_equal(w->rec.changed, 0);
}

static void container_on_network_created_after_the_list_gets_its_bridge(void **state)
{
	struct world *w = *state;
	struct fake_container *e, *g;
	char networks[2048];

	start_and_sync(w);
	snprintf(networks, sizeof(networks),
	         "%.*s,{\"Name\":\"late\",\"Id\":\"" NET_NEW "\",\"Driver\":\"bridge\"}]",
	         (int)strlen(w->f.networks) - 1, w->f.networks);
	snprintf(w->f.networks, sizeof(w->f.networks), "%s", networks);

	/* No network event at all: the unknown id alone makes the client read the list. */
	e = fake_add(&w->f, 'e', "epsilon", LABEL_PORTS, "late",
	             "{\"late\":{\"NetworkID\":\"" NET_NEW "\",\"IPAddress\":\"172.30.0.2\"}}");
	fake_container_event(&w->f, e, "start");
	RUN_UNTIL(w, mirror_find(&w->rec, id_of('e')));
	assert_string_equal(mirror_find(&w->rec, id_of('e'))->networks[0].bridge,
	                    "br-222222222222");

	/* With the events the engine sends. */
	g = fake_add(&w->f, 'f', "phi", LABEL_PORTS, "late",
	             "{\"late\":{\"NetworkID\":\"" NET_NEW "\",\"IPAddress\":\"172.30.0.3\"}}");
	fake_network_event(&w->f, "create", NET_NEW, "late", NULL);
	fake_network_event(&w->f, "connect", NET_NEW, "late", g->id);
	fake_container_event(&w->f, g, "start");
	RUN_UNTIL(w, mirror_find(&w->rec, id_of('f')));
	assert_string_equal(mirror_find(&w->rec, id_of('f'))->networks[0].bridge,
	                    "br-222222222222");
}

static void answer_waiting_for_the_network_list_does_not_outlive_a_later_one(void **state)
{
	struct world *w = *state;
	struct fake_container *e;
	char networks[2048];
	int lists;

	start_and_sync(w);
	snprintf(networks, sizeof(networks),
	         "%.*s,{\"Name\":\"late\",\"Id\":\"" NET_NEW "\",\"Driver\":\"bridge\"}]",
	         (int)strlen(w->f.networks) - 1, w->f.networks);
	snprintf(w->f.networks, sizeof(w->f.networks), "%s", networks);
	w->f.networks_delay_ms = 200;
	lists = w->f.network_lists;

	e = fake_add(&w->f, 'e', "epsilon", LABEL_PORTS, "late",
	             "{\"late\":{\"NetworkID\":\"" NET_NEW "\",\"IPAddress\":\"172.30.0.2\"}}");
	fake_container_event(&w->f, e, "start");
	RUN_UNTIL(w, w->f.network_lists == lists + 1);
	/* While the list is on its way, the container goes. */
	e->present = false;
	fake_container_event(&w->f, e, "destroy");
	run_for_ms(w, 300);
	assert_null(mirror_find(&w->rec, id_of('e')));
	assert_int_equal(w->rec.changed, 0);
	assert_int_equal(w->rec.removed, 0);
}

static void event_dripped_byte_by_byte_is_read(void **state)
{
	struct world *w = *state;
	struct fake_container *e;
	char *ev;

	start_and_sync(w);
	e = fake_add(&w->f, 'e', "epsilon", LABEL_PORTS, "web", WEB_AT("172.18.0.9"));
	ev = container_event(e, "start");
	fake_drip_chunk(&w->f, ev);
	free(ev);
	RUN_UNTIL(w, mirror_find(&w->rec, id_of('e')));
	assert_int_equal(w->rec.downs, 0);
}

/* The client noticed, said so, came back and dropped what vanished meanwhile. */
static void assert_resynced_without_alpha(struct world *w)
{
	RUN_UNTIL(w, w->rec.synced == 2 && w->f.stream);
	assert_int_equal(w->rec.downs, 1);
	assert_int_equal(w->rec.ups, 2);
	assert_null(mirror_find(&w->rec, id_of('a')));
	assert_non_null(mirror_find(&w->rec, id_of('c')));
	assert_int_equal(w->rec.n, 2);
}

static void garbage_in_event_stream_resynchronises(void **state)
{
	struct world *w = *state;
	const char *garbage = "{\"Type\":\"container\"}}{not json";

	start_and_sync(w);
	w->f.c[0].present = false;
	fake_send_chunk(&w->f, garbage, strlen(garbage));
	assert_resynced_without_alpha(w);
}

static void oversized_event_resynchronises(void **state)
{
	struct world *w = *state;
	size_t big = (3u << 20) / 2;
	char *huge = malloc(big);

	start_and_sync(w);
	w->f.c[0].present = false;
	memset(huge, ' ', big);
	memcpy(huge, "{\"x\":\"", 6);
	for (size_t off = 0; off < big; off += 65536)
		fake_send_chunk(&w->f, huge + off, big - off < 65536 ? big - off : 65536);
	free(huge);
	assert_resynced_without_alpha(w);
}

static void truncated_event_stream_resynchronises(void **state)
{
	struct world *w = *state;
	const char *half = "{\"Type\":\"container\",\"Action\":\"sta";

	start_and_sync(w);
	w->f.c[0].present = false;
	fake_send_raw(&w->f, "100\r\n", 5);
	fake_send_raw(&w->f, half, strlen(half));
	/* Cut once the bytes are out. */
	RUN_UNTIL(w, evbuffer_get_length(bufferevent_get_output(w->f.stream->bev)) == 0);
	conn_free(w->f.stream);
	assert_resynced_without_alpha(w);
}

static void engine_going_away_and_back_resynchronises(void **state)
{
	struct world *w = *state;
	int versions;

	start_and_sync(w);
	fake_stop(&w->f);
	RUN_UNTIL(w, w->rec.downs == 1);
	/* Retries while the engine is away, and says so once. */
	versions = w->f.versions;
	run_for_ms(w, 100);
	assert_int_equal(w->rec.downs, 1);
	assert_int_equal(w->f.versions, versions);
	w->f.c[0].present = false;
	fake_listen(&w->f);
	assert_resynced_without_alpha(w);
}

static void engine_absent_at_start_is_waited_for(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->rec.downs == 1);
	run_for_ms(w, 50);
	assert_int_equal(w->rec.synced, 0);
	fake_listen(&w->f);
	RUN_UNTIL(w, w->rec.synced == 1);
	assert_int_equal(w->rec.ups, 1);
	assert_int_equal(w->rec.n, 3);
}

static void http_error_from_engine_is_retried(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	w->f.fail_list_times = 3;
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->rec.synced == 1);
	assert_int_equal(w->f.lists, 4);
	assert_int_equal(w->rec.downs, 1);
	assert_int_equal(w->rec.ups, 1);
}

static void engine_speaking_too_old_an_api_is_refused(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	snprintf(w->f.api, sizeof(w->f.api), "1.18");
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->f.versions >= 3);
	assert_int_equal(w->f.lists, 0);
	assert_int_equal(w->rec.synced, 0);
	assert_int_equal(w->rec.downs, 1);
}

static void engine_named_by_its_ping_is_not_asked_its_version(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	w->f.ping_says = true;
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->rec.synced == 1);
	assert_int_equal(w->f.pings, 1);
	assert_int_equal(w->f.versions, 0);
	assert_string_equal(w->f.last_list_path, "/v" API "/containers/json");
}

static void engine_too_old_by_its_ping_is_refused(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	w->f.ping_says = true;
	snprintf(w->f.api, sizeof(w->f.api), "1.18");
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->f.pings >= 3);
	assert_int_equal(w->f.versions, 0);
	assert_int_equal(w->f.lists, 0);
	assert_int_equal(w->rec.synced, 0);
}

static void newer_engine_is_spoken_to_in_the_newest_known_api(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	snprintf(w->f.api, sizeof(w->f.api), "1.99");
	snprintf(w->f.paths_api, sizeof(w->f.paths_api), WF_DOCKER_API_NEWEST);
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->rec.synced == 1);
	assert_int_equal(w->rec.downs, 0);
	assert_string_equal(w->f.last_list_path, "/v" WF_DOCKER_API_NEWEST "/containers/json");
}

static void firewall_backend_is_what_info_reports_and_its_absence_is_no_failure(void **state)
{
	struct world *w = *state;

	add_usual_containers(&w->f);
	fake_listen(&w->f);
	client_start(w);
	RUN_UNTIL(w, w->rec.synced == 1);
	assert_string_equal(wf_docker_firewall(w->d), "");
	assert_int_equal(w->rec.downs, 0);

	fake_stop(&w->f);
	RUN_UNTIL(w, w->rec.downs == 1);
	w->f.info = "{\"ID\":\"x\",\"FirewallBackend\":{\"Driver\":\"nftables\",\"Info\":[]}}";
	fake_listen(&w->f);
	RUN_UNTIL(w, w->rec.synced == 2 && wf_docker_firewall(w->d)[0]);
	assert_string_equal(wf_docker_firewall(w->d), "nftables");
}

static void docker_host_names_a_unix_socket(void **state)
{
	char path[108];

	(void)state;
	assert_int_equal(wf_docker_host_socket("unix:///run/x.sock", path, sizeof(path)), 0);
	assert_string_equal(path, "/run/x.sock");
	assert_int_equal(wf_docker_host_socket("tcp://127.0.0.1:2375", path, sizeof(path)),
	                 -EPROTONOSUPPORT);
	assert_int_equal(wf_docker_host_socket("unix://relative", path, sizeof(path)), -EINVAL);
	assert_int_equal(wf_docker_host_socket("/run/x.sock", path, sizeof(path)), -EINVAL);
	setenv("DOCKER_HOST", "unix:///from/env.sock", 1);
	assert_int_equal(wf_docker_host_socket(NULL, path, sizeof(path)), 0);
	assert_string_equal(path, "/from/env.sock");
	unsetenv("DOCKER_HOST");
	assert_int_equal(wf_docker_host_socket("", path, sizeof(path)), 0);
	assert_string_equal(path, "/var/run/docker.sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, world_setup, world_teardown)
	    T(sync_reports_labelled_containers_and_their_namespace_owners),
	    T(started_container_is_reported_and_stopped_one_removed),
	    T(renamed_and_paused_containers_are_reported_again),
	    T(events_of_unrelated_containers_are_not_inspected),
	    T(namespace_owner_without_labels_is_followed),
	    T(later_event_wins_over_slower_earlier_inspect),
	    T(die_drops_the_container_and_asks_no_inspect),
	    T(start_after_die_brings_it_back_whatever_the_die_inspect_says),
	    T(answer_waiting_for_the_network_list_does_not_undo_a_die),
	    T(answer_asked_by_name_before_a_die_does_not_undo_it),
	    T(replayed_die_from_before_the_list_drops_nothing),
	    T(container_on_network_created_after_the_list_gets_its_bridge),
	    T(answer_waiting_for_the_network_list_does_not_outlive_a_later_one),
	    T(event_dripped_byte_by_byte_is_read),
	    T(garbage_in_event_stream_resynchronises),
	    T(oversized_event_resynchronises),
	    T(truncated_event_stream_resynchronises),
	    T(engine_going_away_and_back_resynchronises),
	    T(firewall_backend_is_what_info_reports_and_its_absence_is_no_failure),
	    T(engine_absent_at_start_is_waited_for),
	    T(http_error_from_engine_is_retried),
	    T(engine_speaking_too_old_an_api_is_refused),
	    T(engine_named_by_its_ping_is_not_asked_its_version),
	    T(engine_too_old_by_its_ping_is_refused),
	    T(newer_engine_is_spoken_to_in_the_newest_known_api),
	    cmocka_unit_test(docker_host_names_a_unix_socket),
#undef T
	};

	/* The stand-in writes to connections the client has dropped. */
	signal(SIGPIPE, SIG_IGN);
	wf_log_init("test_docker_client", getenv("WF_TEST_DEBUG") ? WF_LOG_DEBUG : WF_LOG_WARN,
	            false);
	if (getenv("WF_TEST_FILTER"))
		cmocka_set_test_filter(getenv("WF_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
