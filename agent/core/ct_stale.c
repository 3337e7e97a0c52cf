#include <wgfwd/ct_stale.h>

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <wgfwd/metrics.h>

struct wf_ct_stale {
	struct wf_conntrack *ct;
	struct wf_ct_pending pending;
	struct event *timer;  /* NULL without a base */
	struct event *settle; /* wf_ct_stale_note's settle, once the caller's change is in */
	double due;           /* CLOCK_MONOTONIC seconds at which the pending search runs */
	struct wf_ct_stale_ops ops;
	void *ctx;
	uint64_t moot;
};

int wf_ct_stale_run(struct wf_ct_stale *s, size_t *deleted)
{
	struct wf_ct_pending *q = &s->pending;
	size_t n;

	*deleted = 0;
	if (!q->n)
		return 0;
	n = s->ops.prune(s->ctx, q->m, q->n);
	if (s->ops.narrow)
		s->ops.narrow(s->ctx, q->m, n);
	return wf_ct_pending_flush(s->ct, q, n, deleted);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wf_ct_stale *s = arg;
	size_t deleted;
	int looked_for = wf_ct_stale_run(s, &deleted);

	if (s->ops.flushed)
		s->ops.flushed(s->ctx, looked_for, deleted);
}

static void on_settle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	wf_ct_stale_settle(arg);
}

int wf_ct_stale_new(struct event_base *base, const struct wf_ct_stale_ops *ops, void *ctx,
                    struct wf_ct_stale **out)
{
	struct wf_conntrack *ct;
	struct wf_ct_stale *s;
	int err = wf_conntrack_open(&ct);

	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (s && base) {
		s->timer = evtimer_new(base, on_timer, s);
		s->settle = evtimer_new(base, on_settle, s);
	}
	if (!s || (base && (!s->timer || !s->settle))) {
		if (s && s->timer)
			event_free(s->timer);
		if (s && s->settle)
			event_free(s->settle);
		free(s);
		wf_conntrack_close(ct);
		return -ENOMEM;
	}
	*s = (struct wf_ct_stale){
	    .ct = ct, .timer = s->timer, .settle = s->settle, .ops = *ops, .ctx = ctx};
	*out = s;
	return 0;
}

void wf_ct_stale_free(struct wf_ct_stale *s)
{
	if (!s)
		return;
	if (s->settle) {
		if (evtimer_pending(s->settle, NULL))
			wf_ct_stale_settle(s);
		event_free(s->settle);
	}
	if (s->timer) {
		if (evtimer_pending(s->timer, NULL))
			on_timer(-1, 0, s);
		event_free(s->timer);
	}
	wf_conntrack_close(s->ct);
	wf_ct_pending_free(&s->pending);
	free(s);
}

static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

unsigned wf_ct_matches_delay_ms(const struct wf_ct_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!m[i].has_reply_src)
			return WF_CT_COALESCE_MS;
	return WF_CT_REMOVED_DELAY_MS;
}

int wf_ct_stale_add(struct wf_ct_stale *s, const struct wf_ct_match *m, size_t n)
{
	int err = wf_ct_pending_add(&s->pending, m, n);

	return err ? err : (int)s->pending.n;
}

int wf_ct_stale_settle(struct wf_ct_stale *s)
{
	struct wf_ct_pending *q = &s->pending;
	unsigned ms;
	double due;

	if (!q->n)
		return 0;
	q->n = s->ops.prune(s->ctx, q->m, q->n);
	if (!q->n) {
		s->moot++;
		if (s->timer)
			evtimer_del(s->timer);
		if (s->ops.flushed)
			s->ops.flushed(s->ctx, 0, 0);
		return 0;
	}
	if (!s->timer)
		return (int)q->n;
	ms = wf_ct_matches_delay_ms(q->m, q->n);
	due = mono_seconds() + ms / 1e3;
	/* A search already due sooner serves these matches too; one due later comes forward. */
	if (!evtimer_pending(s->timer, NULL) || due < s->due) {
		const struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

		s->due = due;
		evtimer_add(s->timer, &tv);
	}
	return (int)q->n;
}

int wf_ct_stale_note(struct wf_ct_stale *s, const struct wf_ct_match *m, size_t n)
{
	int pending = wf_ct_stale_add(s, m, n);

	if (pending > 0 && s->settle && !evtimer_pending(s->settle, NULL)) {
		const struct timeval now = {0, 0};

		evtimer_add(s->settle, &now);
	}
	return pending;
}

void wf_ct_stale_set_kernel_flush(struct wf_ct_stale *s, bool on)
{
	wf_conntrack_set_kernel_flush(s->ct, on);
}

void wf_ct_stale_stats(const struct wf_ct_stale *s, struct wf_ct_stats *out)
{
	wf_conntrack_stats(s->ct, out);
	out->moot = s->moot;
}

void wf_ct_stats_status_add(struct json_object *obj, const struct wf_ct_stats *st)
{
	struct json_object *o;

	if (!st)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "run", json_object_new_int64((int64_t)st->searched));
	json_object_object_add(o, "skipped", json_object_new_int64((int64_t)st->skipped));
	json_object_object_add(o, "moot", json_object_new_int64((int64_t)st->moot));
	json_object_object_add(o, "filtered_deletes",
	                       json_object_new_int64((int64_t)st->kernel_deletes));
	json_object_object_add(o, "dumps", json_object_new_int64((int64_t)st->dumps));
	json_object_object_add(obj, "conntrack_searches", o);
}

int wf_ct_stats_metrics(struct wf_metrics *m, const char *prefix, const struct wf_ct_stats *st)
{
	char name[96];

	if (!st)
		return 0;
	snprintf(name, sizeof(name), "%s_conntrack_searches_total", prefix);
	wf_metrics_add(m, name, WF_METRIC_COUNTER,
	               "Searches for the conntrack entries of changed forwards: run (a walk of the "
	               "kernel's conntrack hash), skipped (the namespace held no entry) or moot (a "
	               "change made every pending match right again first).",
	               WF_LABEL("result", "run"), (double)st->searched);
	wf_metrics_add(m, name, WF_METRIC_COUNTER, NULL, WF_LABEL("result", "skipped"),
	               (double)st->skipped);
	wf_metrics_add(m, name, WF_METRIC_COUNTER, NULL, WF_LABEL("result", "moot"),
	               (double)st->moot);
	/* A search run may do both: how the searches went, not how many there were. */
	snprintf(name, sizeof(name), "%s_conntrack_search_walks_total", prefix);
	wf_metrics_add(m, name, WF_METRIC_COUNTER,
	               "Searches run that made the kernel's filtered deletes (Linux 6.15 and "
	               "later: a walk of the buckets that hold entries), and that made a dump (a "
	               "walk of every bucket under its lock).",
	               WF_LABEL("how", "filtered_delete"), (double)st->kernel_deletes);
	return wf_metrics_add(m, name, WF_METRIC_COUNTER, NULL, WF_LABEL("how", "dump"),
	                      (double)st->dumps);
}

int wf_ct_pending_take(struct wf_ct_pending *p, int err, struct wf_ct_match **out, size_t *n)
{
	if (!err && !p->m)
		p->m = malloc(sizeof(*p->m));
	if (err || !p->m) {
		wf_ct_pending_free(p);
		return err ? err : -ENOMEM;
	}
	*out = p->m;
	*n = p->n;
	p->m = NULL;
	p->n = p->cap = 0;
	return 0;
}
