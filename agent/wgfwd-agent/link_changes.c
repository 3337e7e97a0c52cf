#include "link_changes.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/util.h>

size_t link_forward_at(const struct wf_ctl_forward *forwards, size_t lo, size_t hi,
                       const struct wf_ctl_forward *f)
{
	return lo + wf_lower_bound(forwards + lo, hi - lo, sizeof(*forwards), f,
	                           wf_ctl_forward_wire_cmp);
}

void link_results_free(struct link_results *r)
{
	free(r->fw);
	free(r->eg);
	free(r->reasons);
	free(r->slot);
	memset(r, 0, sizeof(*r));
}

static size_t slots_for(size_t texts)
{
	size_t n = 16;

	while (n < 2 * texts + 2)
		n *= 2;
	return n;
}

int link_results_init(struct link_results *r, size_t n_fw, size_t n_eg, size_t refused)
{
	memset(r, 0, sizeof(*r));
	r->n_slots = slots_for(refused);
	r->fw = malloc((n_fw + 1) * sizeof(*r->fw));
	r->eg = malloc((n_eg + 1) * sizeof(*r->eg));
	r->slot = calloc(r->n_slots, sizeof(*r->slot));
	if (!r->fw || !r->eg || !r->slot) {
		link_results_free(r);
		return -ENOMEM;
	}
	return 0;
}

static uint32_t text_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (const char *c = s; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return h;
}

/* Room in the table for `more` texts besides those it has: the probes stay short. */
static int results_reserve(struct link_results *r, size_t more)
{
	size_t n = slots_for(r->n_reasons + more);
	uint32_t *slot;

	if (n <= r->n_slots)
		return 0;
	slot = calloc(n, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (size_t k = 0; k < r->n_reasons; k++) {
		size_t i = text_hash(r->reasons[k]) & (n - 1);

		while (slot[i])
			i = (i + 1) & (n - 1);
		slot[i] = (uint32_t)(k + 1);
	}
	free(r->slot);
	r->slot = slot;
	r->n_slots = n;
	return 0;
}

int link_results_code(struct link_results *r, const struct wf_ctl_result *res, uint32_t *code)
{
	size_t i;

	*code = 0;
	if (res->accepted)
		return 0;
	for (i = text_hash(res->reason) & (r->n_slots - 1); r->slot[i];
	     i = (i + 1) & (r->n_slots - 1)) {
		if (!strcmp(r->reasons[r->slot[i] - 1], res->reason)) {
			*code = r->slot[i];
			return 0;
		}
	}
	if (r->n_reasons == r->cap_reasons) {
		size_t cap = r->cap_reasons ? 2 * r->cap_reasons : 4;
		char(*grown)[WF_CTL_REASON_MAX] = realloc(r->reasons, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		r->reasons = grown;
		r->cap_reasons = cap;
	}
	WF_COPY(r->reasons[r->n_reasons], res->reason);
	r->slot[i] = (uint32_t)++r->n_reasons;
	*code = r->slot[i];
	return 0;
}

void link_results_entry(const struct link_results *r, uint32_t code, struct wf_ctl_result *out)
{
	out->accepted = !code;
	if (code)
		WF_COPY(out->reason, r->reasons[code - 1]);
	else
		out->reason[0] = '\0';
}

size_t link_refused_in(const struct wf_ctl_state_ack *a)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_forwards; i++)
		n += !a->forwards[i].accepted;
	for (size_t i = 0; i < a->n_egress; i++)
		n += !a->egress[i].accepted;
	return n;
}

int link_results_from_ack(struct link_results *r, const struct wf_ctl_state_ack *a)
{
	int err = link_results_init(r, a->n_forwards, a->n_egress, link_refused_in(a));

	for (size_t i = 0; !err && i < a->n_forwards; i++)
		err = link_results_code(r, &a->forwards[i], &r->fw[i]);
	for (size_t i = 0; !err && i < a->n_egress; i++)
		err = link_results_code(r, &a->egress[i], &r->eg[i]);
	if (err)
		link_results_free(r);
	return err;
}

void link_pending_forget(struct link_pending *p)
{
	wf_ctl_state_clear(&p->add);
	wf_ctl_state_clear(&p->del);
	p->cap_add = p->cap_del = 0;
	p->valid = false;
}

void link_pending_start(struct link_pending *p)
{
	p->add.n_forwards = p->del.n_forwards = 0;
	p->valid = true;
}

static void list_remove(struct wf_ctl_state *s, size_t at)
{
	memmove(&s->forwards[at], &s->forwards[at + 1],
	        (s->n_forwards - at - 1) * sizeof(*s->forwards));
	s->n_forwards--;
}

static int list_insert(struct wf_ctl_state *s, size_t *cap, size_t at,
                       const struct wf_ctl_forward *f)
{
	if (s->n_forwards == *cap) {
		size_t n = *cap ? 2 * *cap : 8;
		struct wf_ctl_forward *grown = realloc(s->forwards, n * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->forwards = grown;
		*cap = n;
	}
	memmove(&s->forwards[at + 1], &s->forwards[at],
	        (s->n_forwards - at) * sizeof(*s->forwards));
	s->forwards[at] = *f;
	s->n_forwards++;
	return 0;
}

static bool has_key(const struct wf_ctl_state *s, size_t at, const struct wf_ctl_forward *f)
{
	return at < s->n_forwards && !wf_ctl_forward_wire_cmp(&s->forwards[at], f);
}

int link_pending_del(struct link_pending *p, const struct wf_ctl_forward *f)
{
	size_t at;
	int err;

	if (!p->valid)
		return 0;
	/* one that came since the base just goes again */
	at = link_forward_at(p->add.forwards, 0, p->add.n_forwards, f);
	if (has_key(&p->add, at, f)) {
		list_remove(&p->add, at);
		return 0;
	}
	at = link_forward_at(p->del.forwards, 0, p->del.n_forwards, f);
	err = has_key(&p->del, at, f) ? -EPROTO : list_insert(&p->del, &p->cap_del, at, f);
	if (err)
		link_pending_forget(p);
	return err;
}

int link_pending_add(struct link_pending *p, const struct wf_ctl_forward *f)
{
	size_t at;
	int err;

	if (!p->valid)
		return 0;
	/* the base's own forward back as it was: no change */
	at = link_forward_at(p->del.forwards, 0, p->del.n_forwards, f);
	if (has_key(&p->del, at, f) && !memcmp(&p->del.forwards[at], f, sizeof(*f))) {
		list_remove(&p->del, at);
		return 0;
	}
	at = link_forward_at(p->add.forwards, 0, p->add.n_forwards, f);
	err = has_key(&p->add, at, f) ? -EPROTO : list_insert(&p->add, &p->cap_add, at, f);
	if (err)
		link_pending_forget(p);
	return err;
}

/* Copies the unchanged run s[*from, to) to out at *o, results with it. */
static void copy_run(const struct wf_ctl_state *s, const struct link_results *r, size_t *from,
                     size_t to, struct wf_ctl_forward *out, uint32_t *out_fw, size_t *o)
{
	memcpy(&out[*o], &s->forwards[*from], (to - *from) * sizeof(*out));
	memcpy(&out_fw[*o], &r->fw[*from], (to - *from) * sizeof(*out_fw));
	*o += to - *from;
	*from = to;
}

/* A few changes are moved in place, each shifting what follows it: no new arrays to fill. */
#define PATCH_IN_PLACE_MAX 8

static int patch_in_place(struct wf_ctl_state *s, struct link_results *r,
                          const struct wf_ctl_state_delta *d, const struct wf_ctl_state_ack *ack)
{
	const struct wf_ctl_state *add = &d->add, *del = &d->del;
	size_t n = s->n_forwards;
	int err = 0;

	/* All checked before anything moves: what does not fit leaves s and r as they were. */
	for (size_t k = 0; k < del->n_forwards; k++) {
		size_t at = link_forward_at(s->forwards, 0, n, &del->forwards[k]);

		if (!has_key(s, at, &del->forwards[k]) ||
		    memcmp(&s->forwards[at], &del->forwards[k], sizeof(*s->forwards)))
			return -EPROTO;
	}
	for (size_t a = 0; a < add->n_forwards; a++) {
		size_t at = link_forward_at(s->forwards, 0, n, &add->forwards[a]);
		bool deleted = false;

		for (size_t k = 0; k < del->n_forwards && !deleted; k++)
			deleted = !wf_ctl_forward_wire_cmp(&del->forwards[k], &add->forwards[a]);
		if (!deleted && has_key(s, at, &add->forwards[a]))
			return -EPROTO;
	}
	if (add->n_forwards > del->n_forwards) {
		size_t grown_n = n - del->n_forwards + add->n_forwards + 1;
		struct wf_ctl_forward *f = realloc(s->forwards, grown_n * sizeof(*f));
		uint32_t *fw;

		if (f)
			s->forwards = f;
		fw = f ? realloc(r->fw, grown_n * sizeof(*fw)) : NULL;
		if (!fw)
			return -ENOMEM;
		r->fw = fw;
	}
	if (results_reserve(r, link_refused_in(ack)))
		return -ENOMEM;
	for (size_t k = 0; k < del->n_forwards; k++) {
		size_t at = link_forward_at(s->forwards, 0, s->n_forwards, &del->forwards[k]);

		memmove(&s->forwards[at], &s->forwards[at + 1],
		        (s->n_forwards - at - 1) * sizeof(*s->forwards));
		memmove(&r->fw[at], &r->fw[at + 1], (s->n_forwards - at - 1) * sizeof(*r->fw));
		s->n_forwards--;
	}
	for (size_t a = 0; a < add->n_forwards && !err; a++) {
		size_t at = link_forward_at(s->forwards, 0, s->n_forwards, &add->forwards[a]);

		memmove(&s->forwards[at + 1], &s->forwards[at],
		        (s->n_forwards - at) * sizeof(*s->forwards));
		memmove(&r->fw[at + 1], &r->fw[at], (s->n_forwards - at) * sizeof(*r->fw));
		s->forwards[at] = add->forwards[a];
		s->n_forwards++;
		/* -ENOMEM here leaves a wrong code: the caller forgets s and r on any error */
		err = link_results_code(r, &ack->forwards[a], &r->fw[at]);
	}
	return err;
}

int link_patch(struct wf_ctl_state *s, struct link_results *r, const struct wf_ctl_state_delta *d,
               const struct wf_ctl_state_ack *ack)
{
	const struct wf_ctl_state *add = &d->add, *del = &d->del;
	size_t n, i = 0, o = 0, a = 0, k = 0;
	struct wf_ctl_forward *out;
	uint32_t *out_fw;
	int err = 0;

	if (add->n_egress || del->n_egress || ack->n_egress || ack->n_forwards != add->n_forwards ||
	    del->n_forwards > s->n_forwards)
		return -EPROTO;
	if (add->n_forwards + del->n_forwards <= PATCH_IN_PLACE_MAX)
		return patch_in_place(s, r, d, ack);
	n = s->n_forwards - del->n_forwards + add->n_forwards;
	out = malloc((n + 1) * sizeof(*out));
	out_fw = malloc((n + 1) * sizeof(*out_fw));
	if (!out || !out_fw || results_reserve(r, link_refused_in(ack))) {
		free(out);
		free(out_fw);
		return -ENOMEM;
	}
	/* In key order; a key in both lists goes, then comes back. */
	while (!err && (k < del->n_forwards || a < add->n_forwards)) {
		bool take_del =
		    k < del->n_forwards &&
		    (a == add->n_forwards ||
		     wf_ctl_forward_wire_cmp(&del->forwards[k], &add->forwards[a]) <= 0);
		const struct wf_ctl_forward *f = take_del ? &del->forwards[k] : &add->forwards[a];
		size_t at = link_forward_at(s->forwards, i, s->n_forwards, f);

		if (o + (at - i) > n) {
			err = -EPROTO;
			break;
		}
		copy_run(s, r, &i, at, out, out_fw, &o);
		if (take_del) {
			if (!has_key(s, at, f) || memcmp(&s->forwards[at], f, sizeof(*f)))
				err = -EPROTO;
			i = at + 1;
			k++;
			continue;
		}
		if (has_key(s, at, f) || o == n) {
			err = -EPROTO;
			continue;
		}
		out[o] = *f;
		err = link_results_code(r, &ack->forwards[a++], &out_fw[o++]);
	}
	if (!err && o + (s->n_forwards - i) == n)
		copy_run(s, r, &i, s->n_forwards, out, out_fw, &o);
	else if (!err)
		err = -EPROTO;
	if (err) {
		free(out);
		free(out_fw);
		return err;
	}
	free(s->forwards);
	free(r->fw);
	s->forwards = out;
	s->n_forwards = n;
	r->fw = out_fw;
	return 0;
}
