/* The daemons' metrics endpoint: an HTTP listener (libevent's evhttp) that answers
 * GET /metrics with a registry the daemon fills at each request. Off unless asked for, and
 * on loopback only unless the operator allows more: the numbers describe the host's forwards
 * and peers, and nothing on the endpoint authenticates the reader. */
#ifndef WGFWD_METRICS_HTTP_H
#define WGFWD_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct wf_metrics;
struct wf_metrics_server;

/* Adds the daemon's samples to m; returns 0 or -errno (the scrape then answers 500). */
typedef int (*wf_metrics_collect_fn)(void *ctx, struct wf_metrics *m);

/* ADDR:PORT with a numeric address, [ADDR]:PORT for IPv6. Without allow_remote only loopback
 * addresses (127.0.0.0/8, ::1) pass. Returns 0, or -EINVAL with err saying what was wrong. */
int wf_metrics_listen_parse(const char *spec, bool allow_remote, struct sockaddr_storage *ss,
                            socklen_t *len, char *err, size_t errlen);

/* Binds and listens at once, so a taken port fails here. */
int wf_metrics_server_open(struct event_base *base, const struct sockaddr_storage *ss,
                           socklen_t len, wf_metrics_collect_fn collect, void *ctx,
                           struct wf_metrics_server **out);
void wf_metrics_server_close(struct wf_metrics_server *s);
/* The address it listens on ("127.0.0.1:9586", "[::1]:9586"), the port filled in when 0 was
 * asked for. */
const char *wf_metrics_server_address(const struct wf_metrics_server *s);

#endif
