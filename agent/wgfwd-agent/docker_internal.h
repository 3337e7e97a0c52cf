/* Shared by the Docker client's files, not by anyone else: the client (docker.c: sessions,
 * the engine's version, the lists, the event stream, reconnection) and the container mirror
 * (docker_mirror.c: the followed containers and what is reported about them), over the
 * transport (docker_http.c). */
#ifndef WGFWD_AGENT_DOCKER_INTERNAL_H
#define WGFWD_AGENT_DOCKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>
#include <time.h>

#include "docker.h"
#include "docker_http.h"
#include "docker_json.h"

enum request_kind {
	REQ_PING,
	REQ_VERSION,
	REQ_LIST,
	REQ_NETWORKS,
	REQ_INSPECT,
	REQ_EVENTS,
	REQ_INFO,
};

/* A GET the client asked for, and what it needs to know when the answer comes. */
struct request {
	struct request *next;
	struct wf_docker_get *get;
	enum request_kind kind;
	char *key;             /* inspect: the id or name asked for */
	uint64_t deaths;       /* inspect: d->deaths when it was sent */
	unsigned networks_seq; /* networks: how many network lists were asked for, this one too */
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
	PHASE_VERSION, /* /_ping, then /version if the ping did not say */
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

	struct wf_docker_http *http;
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

/* The client (docker.c). */
/* Ends the session: everything is forgotten, and a new one starts after a backoff. */
void wf_docker_fail(struct wf_docker *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Runs the deferred work (wf_docker_mirror_work) on the next turn of the loop. */
void wf_docker_kick(struct wf_docker *d);
/* GET of an API path (versioned here); NULL when it cannot start. */
struct request *wf_docker_request(struct wf_docker *d, enum request_kind kind, const char *path,
                                  const char *key);

/* The container mirror (docker_mirror.c). */
struct entry *wf_docker_mirror_find(struct wf_docker *d, const char *id);
/* Asks for an inspect of id (a container id or name) on the next turn. */
int wf_docker_mirror_want_inspect(struct wf_docker *d, const char *id);
/* Whether some followed container shares the network namespace of id (or name). */
bool wf_docker_mirror_is_referenced(struct wf_docker *d, const char *id, const char *name);
/* A die or destroy event. */
int wf_docker_mirror_note_death(struct wf_docker *d, const struct wf_docker_event *ev);
/* The answer to an inspect (200 or 404). */
void wf_docker_mirror_inspected(struct wf_docker *d, const struct request *r,
                                const struct wf_docker_reply *reply);
/* After a network list was read (the seq-th asked for). */
void wf_docker_mirror_apply_parked(struct wf_docker *d, unsigned seq);
/* Reports deaths and starts the inspects asked for; true while any is pending. False with
 * d->phase PHASE_WAITING when it failed the session. */
bool wf_docker_mirror_work(struct wf_docker *d);
/* The running containers, sorted by id, shallow copies the entries keep owning: free(*out). */
int wf_docker_mirror_snapshot(struct wf_docker *d, struct wf_container **out, size_t *n);
void wf_docker_mirror_clear(struct wf_docker *d);

#endif
