#include <wgfwd/metrics_http.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wgfwd/hostport.h>
#include <wgfwd/log.h>
#include <wgfwd/metrics.h>

/* A scrape is one small request: anything slower or larger is not a scraper. */
#define REQUEST_TIMEOUT_S 10
#define HEADERS_MAX       8192

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct wf_metrics_server {
	struct evhttp *http;
	wf_metrics_collect_fn collect;
	void *ctx;
	char address[INET6_ADDRSTRLEN + 8];
};

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

int wf_metrics_listen_parse(const char *spec, bool allow_remote, struct sockaddr_storage *ss,
                            socklen_t *len, char *err, size_t errlen)
{
	char why[192];

	/* Port 0: the kernel picks one, which wf_metrics_server_address then tells. */
	if (wf_hostport_parse(spec ? spec : "", 0, true, ss, len, why, sizeof(why))) {
		snprintf(err, errlen, "--metrics: %s", why);
		return -EINVAL;
	}
	if (!allow_remote && !is_loopback(ss)) {
		snprintf(err, errlen,
		         "--metrics: `%s' is not a loopback address; the endpoint has no "
		         "authentication, so give --metrics-allow-remote to listen there anyway",
		         spec);
		return -EINVAL;
	}
	return 0;
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; charset=utf-8");
	if (body)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct wf_metrics_server *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct wf_metrics *m;
	struct evbuffer *body;
	char *text = NULL;
	size_t len = 0;
	int err;

	if (!path || strcmp(path, "/metrics")) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found: metrics are at /metrics\n");
		return;
	}
	m = wf_metrics_new();
	err = m ? s->collect(s->ctx, m) : -ENOMEM;
	if (!err)
		err = wf_metrics_render(m, &text, &len);
	wf_metrics_free(m);
	body = err ? NULL : evbuffer_new();
	if (!body || evbuffer_add(body, text, len)) {
		log_error("metrics: cannot answer a scrape: %s", strerror(err ? -err : ENOMEM));
		reply_text(req, HTTP_INTERNAL, "Internal Server Error", "cannot collect metrics\n");
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  CONTENT_TYPE);
		evhttp_send_reply(req, HTTP_OK, "OK", body);
	}
	if (body)
		evbuffer_free(body);
	free(text);
}

int wf_metrics_server_open(struct event_base *base, const struct sockaddr_storage *ss,
                           socklen_t len, wf_metrics_collect_fn collect, void *ctx,
                           struct wf_metrics_server **out)
{
	struct wf_metrics_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	int fd = -1, err;

	if (!s)
		return -ENOMEM;
	s->collect = collect;
	s->ctx = ctx;
	fd = wf_tcp_listen(ss, len, false);
	if (fd < 0) {
		err = fd;
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0)
		bound = *ss;
	wf_hostport_text((const struct sockaddr *)&bound, s->address, sizeof(s->address));
	err = -ENOMEM;
	s->http = evhttp_new(base);
	if (!s->http)
		goto fail;
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET);
	evhttp_set_timeout(s->http, REQUEST_TIMEOUT_S);
	evhttp_set_max_headers_size(s->http, HEADERS_MAX);
	evhttp_set_max_body_size(s->http, 0);
	evhttp_set_gencb(s->http, on_request, s);
	if (!evhttp_accept_socket_with_handle(s->http, fd))
		goto fail;
	*out = s;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	wf_metrics_server_close(s);
	return err;
}

void wf_metrics_server_close(struct wf_metrics_server *s)
{
	if (!s)
		return;
	if (s->http)
		evhttp_free(s->http);
	free(s);
}

const char *wf_metrics_server_address(const struct wf_metrics_server *s)
{
	return s->address;
}
