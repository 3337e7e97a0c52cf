/* The engine's /events stream, read one JSON object at a time as bytes arrive (docker_json.h). */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

#include "docker_json.h"
#include "docker_json_internal.h"

struct wf_docker_events {
	struct json_tokener *tok;
	size_t object_bytes; /* fed into the object being parsed; 0 between objects */
	size_t max_object;
	bool broken;
};

struct wf_docker_events *wf_docker_events_new(size_t max_object)
{
	struct wf_docker_events *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tok = json_tokener_new();
	if (!p->tok) {
		free(p);
		return NULL;
	}
	json_tokener_set_flags(p->tok, TOKENER_FLAGS);
	p->max_object = max_object ? max_object : WF_DOCKER_EVENT_MAX;
	if (p->max_object > INT_MAX - 1)
		p->max_object = INT_MAX - 1;
	return p;
}

void wf_docker_events_free(struct wf_docker_events *p)
{
	if (!p)
		return;
	json_tokener_free(p->tok);
	free(p);
}

void wf_docker_events_reset(struct wf_docker_events *p)
{
	json_tokener_reset(p->tok);
	p->object_bytes = 0;
	p->broken = false;
}

/* Four fields an event: a copy, not a formatted print each. */
static void copy_trunc(char *dst, size_t size, const char *src)
{
	wf_copy_str(dst, size, src ? src : "");
}

/* Shapes the client does not understand become WF_DOCKER_EVENT_OTHER, never an error: the
 * engine may add event types, and a stream that is valid JSON is not broken. */
static void reduce_event(struct json_object *o, struct wf_docker_event *ev)
{
	struct json_object *actor, *attrs, *v;
	const char *type = NULL, *action = NULL, *id = NULL;

	memset(ev, 0, sizeof(*ev));
	wf_dj_opt_string(o, "Type", "Type", &type, NULL);
	wf_dj_opt_string(o, "Action", "Action", &action, NULL);
	wf_dj_opt_object(o, "Actor", "Actor", &actor, NULL);
	wf_dj_opt_string(actor, "ID", "Actor.ID", &id, NULL);
	wf_dj_opt_object(actor, "Attributes", "Actor.Attributes", &attrs, NULL);
	v = wf_dj_member(o, "timeNano");
	if (json_object_is_type(v, json_type_int))
		ev->time_ns = json_object_get_int64(v);
	if (!type || !action || !id)
		return;
	copy_trunc(ev->action, sizeof(ev->action), action);
	copy_trunc(ev->actor_id, sizeof(ev->actor_id), id);
	if (attrs) {
		const char *name = NULL, *container = NULL;

		wf_dj_opt_string(attrs, "name", "name", &name, NULL);
		wf_dj_opt_string(attrs, "container", "container", &container, NULL);
		copy_trunc(ev->name, sizeof(ev->name), name);
		if (container && wf_dj_is_container_id(container))
			copy_trunc(ev->container_id, sizeof(ev->container_id), container);
	}
	if (!strcmp(type, "container") && wf_dj_is_container_id(id)) {
		ev->type = WF_DOCKER_EVENT_CONTAINER;
		ev->has_wgfwd_label = wf_dj_has_wgfwd_key(attrs);
	} else if (!strcmp(type, "network")) {
		ev->type = WF_DOCKER_EVENT_NETWORK;
	}
}

static int broken(struct wf_docker_events *p, int ret)
{
	p->broken = true;
	return ret;
}

int wf_docker_events_feed(struct wf_docker_events *p, const char *buf, size_t len,
                          wf_docker_event_fn fn, void *ctx, char err[WF_DOCKER_ERR_MAX])
{
	size_t off = 0;

	if (p->broken)
		return wf_dj_fail(err, "event stream already broken");
	while (off < len) {
		struct json_object *obj;
		enum json_tokener_error jerr;
		struct wf_docker_event ev;
		size_t room, n, used, tail;
		int ret;

		/* Whitespace between objects belongs to none: json-c eats some of it after an
		 * object or not, depending on where the stream was cut. */
		if (!p->object_bytes) {
			while (off < len && wf_dj_is_space(buf[off]))
				off++;
			if (off == len)
				break;
		}
		/* Never hand the tokener more than one byte past the limit: a huge object is
		 * refused before it is held in memory. */
		room = p->max_object + 1 - p->object_bytes;
		n = len - off < room ? len - off : room;
		obj = json_tokener_parse_ex(p->tok, buf + off, (int)n);
		jerr = json_tokener_get_error(p->tok);
		if (jerr == json_tokener_continue) {
			p->object_bytes += n;
			off += n;
			if (p->object_bytes > p->max_object) {
				wf_dj_fail(err, "event object larger than %zu bytes",
				           p->max_object);
				return broken(p, -EMSGSIZE);
			}
			continue;
		}
		used = json_tokener_get_parse_end(p->tok);
		if (jerr != json_tokener_success) {
			json_object_put(obj);
			wf_dj_fail(err, "invalid JSON in event stream at object byte %zu: %s",
			           p->object_bytes + used, json_tokener_error_desc(jerr));
			return broken(p, -EBADMSG);
		}
		if (!used || used > n) {
			json_object_put(obj);
			wf_dj_fail(err, "event stream parser made no progress");
			return broken(p, -EBADMSG);
		}
		for (tail = 0; tail < used && wf_dj_is_space(buf[off + used - 1 - tail]); tail++)
			;
		off += used;
		if (p->object_bytes + used - tail > p->max_object) {
			json_object_put(obj);
			wf_dj_fail(err, "event object larger than %zu bytes", p->max_object);
			return broken(p, -EMSGSIZE);
		}
		p->object_bytes = 0;
		if (!json_object_is_type(obj, json_type_object)) {
			wf_dj_fail(err, "event stream: expected an object, got %s",
			           obj ? wf_dj_type_name(obj) : "null");
			json_object_put(obj);
			return broken(p, -EBADMSG);
		}
		reduce_event(obj, &ev);
		json_object_put(obj);
		ret = fn(&ev, ctx);
		if (ret)
			return ret;
	}
	return 0;
}
