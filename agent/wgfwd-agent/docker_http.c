#include "docker_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include <wgfwd/log.h>
#include <wgfwd/util.h>

#define BODY_MAX           (32u << 20)
#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 30000L
#define MAX_CONNECTIONS    8L

struct wf_docker_get {
	struct wf_docker_get *next;
	struct wf_docker_http *h;
	CURL *easy;
	bool stream;
	void *user;
	char *body;
	size_t len, cap;
	char reason[WF_DOCKER_ERR_MAX]; /* why the write callback stopped the transfer */
	char curl_err[CURL_ERROR_SIZE];
};

struct wf_docker_http {
	struct event_base *base;
	struct wf_docker_http_ops ops;
	void *ctx;
	char *socket_path;
	CURLM *multi;
	struct event *timer;
	struct wf_docker_get *gets;
};

struct sock {
	struct event *ev;
};

void *wf_docker_get_user(const struct wf_docker_get *g)
{
	return g->user;
}

static long response_code(struct wf_docker_get *g)
{
	long code = 0;

	curl_easy_getinfo(g->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static void get_free(struct wf_docker_get *g)
{
	if (!g)
		return;
	if (g->easy)
		curl_easy_cleanup(g->easy);
	free(g->body);
	free(g);
}

static void get_unlink(struct wf_docker_http *h, struct wf_docker_get *g)
{
	for (struct wf_docker_get **pp = &h->gets; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	curl_multi_remove_handle(h->multi, g->easy);
}

void wf_docker_http_cancel(struct wf_docker_http *h, struct wf_docker_get *g)
{
	if (!g)
		return;
	get_unlink(h, g);
	get_free(g);
}

/* Runs inside curl. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct wf_docker_get *g = userdata;
	size_t n = size * nmemb;

	if (g->stream && response_code(g) == 200)
		return g->h->ops.stream(g->h->ctx, ptr, n, g->reason) ? 0 : n;
	if (n > BODY_MAX - g->len) {
		snprintf(g->reason, sizeof(g->reason), "response larger than %u bytes", BODY_MAX);
		return 0;
	}
	if (WF_ARRAY_RESERVE(g->body, g->len, g->cap, n + 1)) {
		snprintf(g->reason, sizeof(g->reason), "out of memory");
		return 0;
	}
	memcpy(g->body + g->len, ptr, n);
	g->len += n;
	g->body[g->len] = '\0';
	return n;
}

struct wf_docker_get *wf_docker_http_get(struct wf_docker_http *h, const char *path, bool stream,
                                         void *user)
{
	struct wf_docker_get *g = calloc(1, sizeof(*g));
	char *url = NULL;
	CURLMcode mc;

	if (!g)
		goto fail;
	g->h = h;
	g->stream = stream;
	g->user = user;
	if (asprintf(&url, "http://localhost%s", path) < 0) {
		url = NULL;
		goto fail;
	}
	g->easy = curl_easy_init();
	if (!g->easy)
		goto fail;
	curl_easy_setopt(g->easy, CURLOPT_URL, url);
	curl_easy_setopt(g->easy, CURLOPT_UNIX_SOCKET_PATH, h->socket_path);
	curl_easy_setopt(g->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(g->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g->easy, CURLOPT_USERAGENT, "wgfwd-agent");
	curl_easy_setopt(g->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	if (!stream)
		curl_easy_setopt(g->easy, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(g->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(g->easy, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(g->easy, CURLOPT_PRIVATE, g);
	curl_easy_setopt(g->easy, CURLOPT_ERRORBUFFER, g->curl_err);
	mc = curl_multi_add_handle(h->multi, g->easy);
	if (mc != CURLM_OK) {
		log_error("docker: cannot start GET %s: %s", path, curl_multi_strerror(mc));
		goto fail;
	}
	free(url);
	g->next = h->gets;
	h->gets = g;
	log_debug("docker: GET %s", path);
	return g;

fail:
	free(url);
	get_free(g);
	return NULL;
}

/* Copies the value of a header of the final response ("" when it had none): what
 * curl_easy_header points to lasts only until its next call. */
static const char *header_value(struct wf_docker_get *g, const char *name, char *buf, size_t size)
{
	struct curl_header *hdr;

	buf[0] = '\0';
	if (curl_easy_header(g->easy, name, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
		snprintf(buf, size, "%s", hdr->value);
	return buf;
}

static void finished(struct wf_docker_http *h, struct wf_docker_get *g, CURLcode res)
{
	char api_version[16], server[128];
	struct wf_docker_reply reply = {
	    .status = response_code(g),
	    .body = g->body ? g->body : "",
	    .len = g->len,
	    .api_version = header_value(g, "Api-Version", api_version, sizeof(api_version)),
	    .server = header_value(g, "Server", server, sizeof(server)),
	};
	long os_errno = 0;

	if (res == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(g->easy, CURLINFO_OS_ERRNO, &os_errno);
		reply.cannot_connect = true;
		reply.error = os_errno ? strerror((int)os_errno) : curl_easy_strerror(res);
	} else if (res != CURLE_OK) {
		reply.error = g->reason[0]     ? g->reason
		              : g->curl_err[0] ? g->curl_err
		                               : curl_easy_strerror(res);
	}
	h->ops.done(h->ctx, g, &reply);
}

/* Every transfer that ended, collected after each action. */
static void collect(struct wf_docker_http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		struct wf_docker_get *g = NULL;
		CURLcode res;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&g);
		res = msg->data.result;
		get_unlink(h, g);
		finished(h, g, res);
		get_free(g);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct wf_docker_http *h = arg;
	int action =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(h->multi, fd, action, &running);
	collect(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wf_docker_http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(h);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct wf_docker_http *h = userp;
	struct sock *sk = socketp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (sk) {
			event_free(sk->ev);
			free(sk);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
	       (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!sk) {
		sk = calloc(1, sizeof(*sk));
		if (!sk)
			return -1;
		curl_multi_assign(h->multi, s, sk);
	} else {
		event_free(sk->ev);
	}
	sk->ev = event_new(h->base, s, kind, on_socket_event, h);
	if (!sk->ev || event_add(sk->ev, NULL))
		return -1;
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct wf_docker_http *h = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

int wf_docker_http_new(struct wf_docker_http **out, struct event_base *base,
                       const char *socket_path, const struct wf_docker_http_ops *ops, void *ctx)
{
	struct wf_docker_http *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	h->base = base;
	h->ops = *ops;
	h->ctx = ctx;
	h->socket_path = strdup(socket_path);
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, on_timer, h);
	if (!h->socket_path || !h->multi || !h->timer) {
		wf_docker_http_free(h);
		return -ENOMEM;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, MAX_CONNECTIONS);
	*out = h;
	return 0;
}

void wf_docker_http_free(struct wf_docker_http *h)
{
	if (!h)
		return;
	if (h->multi) {
		while (h->gets)
			wf_docker_http_cancel(h, h->gets);
		/* Closes cached connections, which removes their socket events. */
		curl_multi_cleanup(h->multi);
	}
	if (h->timer)
		event_free(h->timer);
	free(h->socket_path);
	free(h);
	curl_global_cleanup();
}
