/* What the Docker Engine API says, read into plain structs: /version, /containers/json,
 * /containers/{id}/json, /networks, and the /events stream (concatenated JSON objects that
 * the transport may split anywhere). Pure: no I/O, no logging; every parser returns 0 or
 * -errno and, on -EBADMSG, says in `err` exactly what was wrong. */
#ifndef WGFWD_DOCKER_JSON_H
#define WGFWD_DOCKER_JSON_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container.h"

#define WF_DOCKER_ERR_MAX      256
#define WF_DOCKER_API_MAX      16
#define WF_DOCKER_LABEL_PREFIX "wgfwd."
/* Oldest API whose fields the parsers rely on (Docker 1.12), and newest one they were read
 * against; the client speaks min(server, newest) but never below the server's minimum. */
#define WF_DOCKER_API_OLDEST "1.24"
#define WF_DOCKER_API_NEWEST "1.51"
/* One event object larger than this is not an event: the stream is broken. */
#define WF_DOCKER_EVENT_MAX (1u << 20)

struct wf_docker_version {
	char api[WF_DOCKER_API_MAX];     /* "1.41" */
	char min_api[WF_DOCKER_API_MAX]; /* "1.12"; "" when the engine does not say */
	char engine[64];                 /* "20.10.24+dfsg1", for the log */
};

int wf_docker_parse_version(const char *json, size_t len, struct wf_docker_version *out,
                            char err[WF_DOCKER_ERR_MAX]);
/* The API version to put in request paths ("/v<api>/…"), or -ENOTSUP when the engine is
 * older than WF_DOCKER_API_OLDEST or newer than anything we can speak. */
int wf_docker_api_pick(const struct wf_docker_version *v, char api[WF_DOCKER_API_MAX]);

/* One row of GET /containers/json: enough to decide which containers to inspect. */
struct wf_docker_summary {
	char *id;
	char *name;           /* first name, without '/' */
	bool has_wgfwd_label; /* some label key starts with "wgfwd." */
	char *netmode_target; /* target of NetworkMode "container:<target>", else NULL */
};

struct wf_docker_summaries {
	struct wf_docker_summary *v;
	size_t n;
};

int wf_docker_parse_list(const char *json, size_t len, struct wf_docker_summaries *out,
                         char err[WF_DOCKER_ERR_MAX]);
void wf_docker_summaries_clear(struct wf_docker_summaries *s);

/* GET /containers/{id}/json. The networks' bridge names are left empty: see
 * wf_docker_networks_resolve. Networks and labels come out sorted by name. */
int wf_docker_parse_inspect(const char *json, size_t len, struct wf_container *out,
                            char err[WF_DOCKER_ERR_MAX]);

struct wf_docker_net {
	char *id;
	char *name;
	char bridge[IF_NAMESIZE]; /* host interface, "" for drivers other than bridge */
	/* IPAM's first IPv4 gateway: it sits on the bridge, which finds the bridge where the
	 * engine does not name it (Podman's netavark calls its bridges podman<N>). */
	bool has_gateway4;
	struct in_addr gateway4;
};

struct wf_docker_networks {
	struct wf_docker_net *v;
	size_t n;
};

/* GET /networks. The bridge of a bridge-driver network is its
 * "com.docker.network.bridge.name" option, else "docker0" for the default network, else
 * "br-" and the first 12 hex digits of its id (what libnetwork names it). */
int wf_docker_parse_networks(const char *json, size_t len, struct wf_docker_networks *out,
                             char err[WF_DOCKER_ERR_MAX]);
void wf_docker_networks_clear(struct wf_docker_networks *n);
const struct wf_docker_net *wf_docker_networks_find(const struct wf_docker_networks *n,
                                                    const char *id);
/* Fills the bridge of each of c's networks from its NetworkID; returns how many ids were
 * unknown (a network created after `n` was read). */
size_t wf_docker_networks_resolve(const struct wf_docker_networks *n, struct wf_container *c);

/* One object of the /events stream, reduced to what the client acts on. */
enum wf_docker_event_type {
	WF_DOCKER_EVENT_OTHER,
	WF_DOCKER_EVENT_CONTAINER,
	WF_DOCKER_EVENT_NETWORK,
};

struct wf_docker_event {
	enum wf_docker_event_type type;
	char action[32];       /* "start", "die", "connect", …; longer ones truncated */
	char actor_id[65];     /* container id, or network id for network events */
	char name[256];        /* container or network name */
	char container_id[65]; /* network connect/disconnect: the container */
	bool has_wgfwd_label;  /* container events carry the container's labels */
	int64_t time_ns;
};

/* Called once per complete event object, in stream order. A non-zero return stops feeding
 * and is returned by wf_docker_events_feed. */
typedef int (*wf_docker_event_fn)(const struct wf_docker_event *ev, void *ctx);

struct wf_docker_events;

struct wf_docker_events *wf_docker_events_new(size_t max_object);
void wf_docker_events_free(struct wf_docker_events *p);
/* Forget a partial object (a new connection starts a new stream). */
void wf_docker_events_reset(struct wf_docker_events *p);
/* Feeds the next bytes of the stream, split anywhere. -EBADMSG on anything that is not a
 * JSON object (err says what), -EMSGSIZE when one object outgrows max_object; the parser is
 * then unusable until reset. Objects that are JSON but not events of a known shape are
 * skipped (type WF_DOCKER_EVENT_OTHER). */
int wf_docker_events_feed(struct wf_docker_events *p, const char *buf, size_t len,
                          wf_docker_event_fn fn, void *ctx, char err[WF_DOCKER_ERR_MAX]);

/* Docker's error bodies are {"message": "…"}; copies the message, or a prefix of the raw
 * body when it is something else. */
void wf_docker_error_message(const char *body, size_t len, char *out, size_t out_len);

#endif
