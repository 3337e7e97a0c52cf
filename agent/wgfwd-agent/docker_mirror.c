/* The container mirror: the containers the client follows, and the state machine that keeps
 * what it reported (synced, changed, removed) in step with the engine. Events mark entries
 * (want an inspect, died); inspect answers are applied in event order; answers asked for
 * before a container's death are dropped; a container on a network the last list did not
 * know waits (parked) for the next list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <wgfwd/log.h>

#include "docker_internal.h"

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

struct entry *wf_docker_mirror_find(struct wf_docker *d, const char *id)
{
	for (struct entry *e = d->entries; e; e = e->next) {
		if (!strcmp(e->id, id))
			return e;
	}
	return NULL;
}

static struct entry *entry_get(struct wf_docker *d, const char *id)
{
	struct entry *e = wf_docker_mirror_find(d, id);

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

void wf_docker_mirror_clear(struct wf_docker *d)
{
	while (d->entries) {
		struct entry *e = d->entries;

		d->entries = e->next;
		entry_free(e);
	}
}

/* A container some followed container shares its network namespace with. */
bool wf_docker_mirror_is_referenced(struct wf_docker *d, const char *id, const char *name)
{
	for (struct entry *e = d->entries; e; e = e->next) {
		const char *t = e->c ? e->c->netmode_target : NULL;

		if (t && (!strcmp(t, id) || (name && name[0] && !strcmp(t, name))))
			return true;
	}
	return false;
}

int wf_docker_mirror_want_inspect(struct wf_docker *d, const char *id)
{
	struct entry *e = entry_get(d, id);

	if (!e)
		return -ENOMEM;
	if (e->inflight)
		e->again = true;
	else
		e->want = true;
	wf_docker_kick(d);
	return 0;
}

static int cmp_container_ptr(const void *a, const void *b)
{
	const struct wf_container *x = *(const struct wf_container *const *)a;
	const struct wf_container *y = *(const struct wf_container *const *)b;

	return strcmp(x->id, y->id);
}

int wf_docker_mirror_snapshot(struct wf_docker *d, struct wf_container **out, size_t *n)
{
	const struct wf_container **sorted = NULL;
	struct wf_container *list = NULL;
	size_t i = 0;

	*n = 0;
	for (struct entry *e = d->entries; e; e = e->next)
		*n += e->c != NULL;
	if (*n) {
		sorted = calloc(*n, sizeof(*sorted));
		list = calloc(*n, sizeof(*list));
		if (!sorted || !list) {
			free(sorted);
			free(list);
			return -ENOMEM;
		}
	}
	for (struct entry *e = d->entries; e; e = e->next) {
		if (e->c)
			sorted[i++] = e->c;
	}
	if (*n)
		qsort(sorted, *n, sizeof(*sorted), cmp_container_ptr);
	for (i = 0; i < *n; i++)
		list[i] = *sorted[i]; /* shallow: the entries keep owning the strings */
	free(sorted);
	*out = list;
	return 0;
}

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
			wf_docker_fail(d, "out of memory");
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
		struct entry *t = wf_docker_mirror_find(d, c->netmode_target);

		if ((!t || (!t->c && !t->inflight && !t->parked)) &&
		    wf_docker_mirror_want_inspect(d, c->netmode_target)) {
			wf_container_free(c);
			wf_docker_fail(d, "out of memory");
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
void wf_docker_mirror_apply_parked(struct wf_docker *d, unsigned seq)
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

void wf_docker_mirror_inspected(struct wf_docker *d, const struct request *r,
                                const struct wf_docker_reply *reply)
{
	struct entry *e = wf_docker_mirror_find(d, r->key);
	char err[WF_DOCKER_ERR_MAX] = "";
	struct wf_container *c;
	int ret;

	if (!e) /* cannot happen: entries outlive their requests */
		return;
	if (e->again) {
		e->again = false;
		e->want = true;
		wf_docker_kick(d);
		return;
	}
	/* An older answer still waiting for the network list must not come after this one. */
	wf_container_free(e->parked);
	e->parked = NULL;
	if (reply->status == 404) {
		report_gone(d, e);
		if (r->deaths < d->deaths)
			entries_forget_idle(d);
		else
			entry_forget_if_idle(d, e);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		wf_docker_fail(d, "out of memory");
		return;
	}
	ret = wf_docker_parse_inspect(reply->body, reply->len, c, err);
	if (ret) {
		free(c);
		wf_docker_fail(d, "inspect of %s: %s", r->key,
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

/* A container stopped (die) or went (destroy). An event newer than the list is news enough
 * to drop the container at once, and asks no inspect: what the container does next comes as
 * events of its own (a start asks its inspect), and Docker would answer this one only once
 * its teardown is done, to say what the event said. One from before the list (the stream
 * starts a second before it) may be followed by a start the list already saw, so there the
 * inspect decides. Either way answers asked for before the death are dropped (apply). */
int wf_docker_mirror_note_death(struct wf_docker *d, const struct wf_docker_event *ev)
{
	int64_t list_ns = (int64_t)d->list_time.tv_sec * 1000000000 + d->list_time.tv_nsec;
	struct entry *e = entry_get(d, ev->actor_id);

	if (!e)
		return -ENOMEM;
	e->died = ++d->deaths;
	if (ev->time_ns >= list_ns && e->c) {
		e->dead = true;
		wf_docker_kick(d);
		return 0;
	}
	return wf_docker_mirror_want_inspect(d, ev->actor_id);
}

bool wf_docker_mirror_work(struct wf_docker *d)
{
	bool busy = false, gone = false;
	char path[300];

	for (struct entry *e = d->entries; e; e = e->next) {
		if (e->dead) {
			e->dead = false;
			log_debug("docker: %s stopped", e->c ? e->c->name : e->id);
			report_gone(d, e);
			gone = true;
		}
		if (e->want && !e->inflight) {
			char *escaped = curl_easy_escape(NULL, e->id, 0);

			if (!escaped) {
				wf_docker_fail(d, "out of memory");
				return false;
			}
			snprintf(path, sizeof(path), "/containers/%s/json", escaped);
			curl_free(escaped);
			e->want = false;
			e->inflight = wf_docker_request(d, REQ_INSPECT, path, e->id);
			if (!e->inflight) {
				wf_docker_fail(d, "cannot inspect %s", e->id);
				return false;
			}
		}
		busy |= e->inflight || e->want || e->parked;
	}
	/* A stopped container is forgotten at once, so the network events of its teardown
	 * (disconnect) find nothing to inspect. */
	if (gone)
		entries_forget_idle(d);
	return busy;
}
