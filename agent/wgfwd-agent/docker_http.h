/* The Docker client's transport: HTTP GETs to the engine's unix socket, without blocking, on a
 * libevent loop (libcurl's multi interface: one persistent event per socket, one timer, every
 * finished transfer collected after each action). A GET's body is kept, up to 32 MiB, and
 * handed over when the transfer ends; a streaming GET (the event stream) hands its body over
 * as it arrives instead, once the engine answered 200.
 *
 *   docker.c --wf_docker_http_get--> engine --body--> done() / stream() --> docker.c
 *
 * It knows nothing of containers: what a path means is the caller's. */
#ifndef WGFWD_AGENT_DOCKER_HTTP_H
#define WGFWD_AGENT_DOCKER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "docker_json.h"

struct event_base;
struct wf_docker_http;
struct wf_docker_get;

struct wf_docker_reply {
	long status;      /* HTTP status; 0 when none came */
	const char *body; /* NUL-terminated; "" when none */
	size_t len;
	const char *error;   /* why the transfer failed; NULL when it did not */
	bool cannot_connect; /* the engine's socket refused: error says why (ENOENT, …) */
	/* Headers that name the engine: Api-Version ("1.41") and Server ("Docker/20.10.24
	 * (linux)"); "" when absent. */
	const char *api_version;
	const char *server;
};

struct wf_docker_http_ops {
	/* A GET ended, well or not. It is freed once this returns. */
	void (*done)(void *ctx, struct wf_docker_get *g, const struct wf_docker_reply *reply);
	/* Data of a streaming GET answered 200, called from inside curl: only parse and mark.
	 * 0 to go on; else the transfer stops and done() gives reason as its error. */
	int (*stream)(void *ctx, const char *data, size_t len, char reason[WF_DOCKER_ERR_MAX]);
};

int wf_docker_http_new(struct wf_docker_http **out, struct event_base *base,
                       const char *socket_path, const struct wf_docker_http_ops *ops, void *ctx);
/* Stops every GET still running (done() is not called for them). */
void wf_docker_http_free(struct wf_docker_http *h);

/* Starts GET http://localhost<path>; `user` is the caller's, read back with
 * wf_docker_get_user. NULL when it cannot start (logged). */
struct wf_docker_get *wf_docker_http_get(struct wf_docker_http *h, const char *path, bool stream,
                                         void *user);
void *wf_docker_get_user(const struct wf_docker_get *g);
/* Stops and frees a GET that has not ended: done() is not called for it. */
void wf_docker_http_cancel(struct wf_docker_http *h, struct wf_docker_get *g);

#endif
