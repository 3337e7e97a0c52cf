/* One container's change applied to a desired state in place, at the cost of that container's
 * entries rather than of the whole state. Pure. */
#include "state.h"
#include "state_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

static bool owned_by(const char *entry_id, const char *id)
{
	return entry_id[0] == id[0] && !cmp_strn(entry_id, id, WF_ID_MAX - 1);
}

static int key_cmp(const void *pa, const void *pb)
{
	const struct wf_forward *a = pa, *b = pb;
	int r = cmp_num(a->proto, b->proto);

	return r ? r : cmp_num(a->public_port, b->public_port);
}

/* The forward holding (proto, public_port) in d, sorted by that key; NULL when none does. */
static const struct wf_forward *holder(const struct wf_desired *d, const struct wf_forward *key)
{
	size_t at = wf_lower_bound(d->forwards, d->n_forwards, sizeof(*d->forwards), key, key_cmp);

	return at < d->n_forwards && !key_cmp(&d->forwards[at], key) ? &d->forwards[at] : NULL;
}

static bool shares_address(const struct wf_container *c, const struct wf_egress *e)
{
	for (size_t k = 0; k < c->n_networks; k++) {
		const struct wf_network *net = &c->networks[k];

		if ((e->has_ip4 && net->has_ip4 && net->ip4.s_addr == e->ip4.s_addr) ||
		    (e->has_ip6 && net->has_ip6 && IN6_ARE_ADDR_EQUAL(&net->ip6, &e->ip6)))
			return true;
	}
	return false;
}

/* Whether the entries of `id' depend on no other container and no other container's on them:
 * the cases where the whole build would give other containers' entries as they are. Ports won
 * and lost are told by the problems they leave; egress kept once for two containers only
 * happens where they share an address (host network, one container's network namespace). */
static bool independent(const struct wf_desired *d, const struct wf_container *containers, size_t n,
                        const char *id, const struct wf_desired *sub)
{
	for (size_t i = 0; i < n; i++)
		if (containers[i].netmode == WF_NETMODE_CONTAINER)
			return false;
	for (size_t i = 0; i < d->n_problems; i++)
		if (d->problems[i].contested)
			return false;
	for (size_t i = 0; i < sub->n_forwards; i++) {
		const struct wf_forward *h = holder(d, &sub->forwards[i]);

		if (sub->forwards[i].to_host || (h && !owned_by(h->container_id, id)))
			return false;
	}
	for (size_t i = 0; i < d->n_egress + sub->n_egress; i++) {
		const struct wf_egress *e =
		    i < d->n_egress ? &d->egress[i] : &sub->egress[i - d->n_egress];

		if (i < d->n_egress && !owned_by(e->container_id, id))
			continue;
		if (e->to_host)
			return false;
		for (size_t k = 0; k < n; k++)
			if (strcmp(containers[k].id ? containers[k].id : "", id) &&
			    shares_address(&containers[k], e))
				return false;
	}
	return true;
}

/* Copies what `id' owns in a list to old. */
#define COPY_OWNED(list, n, id, old, n_old)                        \
	do {                                                       \
		for (size_t i_ = 0; i_ < (n); i_++)                \
			if (owned_by((list)[i_].container_id, id)) \
				(old)[(n_old)++] = (list)[i_];     \
	} while (0)

/* Drops what `id' owns from a list, keeping the order of the rest. */
#define DROP_OWNED(list, n, id)                                     \
	do {                                                        \
		size_t keep_ = 0;                                   \
		for (size_t i_ = 0; i_ < (n); i_++)                 \
			if (!owned_by((list)[i_].container_id, id)) \
				(list)[keep_++] = (list)[i_];       \
		(n) = keep_;                                        \
	} while (0)

/* The forwards `id' owns, found in one pass over a state's: copied to old, their places in
 * at (ascending). A state holds thousands of forwards of hundreds of bytes each, so the
 * passes over it are what an update costs. 0 or -ENOMEM. */
static int find_owned_forwards(const struct wf_desired *d, const char *id, struct wf_desired *old,
                               size_t **at, bool *to_host)
{
	size_t cap = 0, cap_at = 0;

	*at = NULL;
	*to_host = false;
	for (size_t i = 0; i < d->n_forwards; i++) {
		if (!owned_by(d->forwards[i].container_id, id))
			continue;
		if (WF_ARRAY_RESERVE(old->forwards, old->n_forwards, cap, 1) ||
		    WF_ARRAY_RESERVE(*at, old->n_forwards, cap_at, 1))
			return -ENOMEM;
		(*at)[old->n_forwards] = i;
		old->forwards[old->n_forwards++] = d->forwards[i];
		*to_host |= d->forwards[i].to_host;
	}
	return 0;
}

/* Above this many of the labels' ports for each forward of a state, the pass over the state is
 * the cheaper way to find a container's forwards. */
#define KEYS_PER_PASS 16

static int cmp_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The same by key: every forward `id' holds in d came from the wgfwd.ports label of `was', the
 * container as d last saw it (NULL: d did not see it, so it holds none), so each is found by a
 * search of d for one of that label's ports, not by a pass over all of d. 1 when the label names
 * so many ports that the pass is cheaper. */
static int find_owned_forwards_by_key(const struct wf_desired *d, const char *id,
                                      const struct wf_container *was, struct wf_desired *old,
                                      size_t **at, bool *to_host)
{
	const char *ports = was ? wf_container_label(was, WF_LABEL_PORTS) : NULL;
	struct wf_port_entry *pe = NULL;
	size_t n_pe = 0, keys = 0, n = 0, cap = 0;
	int err = 0;

	*at = NULL;
	*to_host = false;
	if (!ports)
		return 0;
	if (wf_parse_ports(ports, &pe, &n_pe, NULL, NULL) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n_pe; i++)
		keys += (size_t)(pe[i].public_hi - pe[i].public_lo + 1) *
		        (size_t)(!!(pe[i].protos & WF_PROTO_TCP) + !!(pe[i].protos & WF_PROTO_UDP));
	if (keys > KEYS_PER_PASS && keys > d->n_forwards / KEYS_PER_PASS) {
		free(pe);
		return 1;
	}
	for (size_t i = 0; i < n_pe && !err; i++) {
		for (unsigned p = 0; p < 2 && !err; p++) {
			struct wf_forward key = {.proto = p ? IPPROTO_UDP : IPPROTO_TCP};

			if (!(pe[i].protos & (p ? WF_PROTO_UDP : WF_PROTO_TCP)))
				continue;
			for (uint32_t port = pe[i].public_lo; port <= pe[i].public_hi && !err;
			     port++) {
				const struct wf_forward *h;

				key.public_port = (uint16_t)port;
				h = holder(d, &key);
				if (!h || !owned_by(h->container_id, id))
					continue;
				if (WF_ARRAY_RESERVE(*at, n, cap, 1))
					err = -ENOMEM;
				else
					(*at)[n++] = (size_t)(h - d->forwards);
			}
		}
	}
	free(pe);
	if (err)
		return err;
	/* In d's order, each once (two entries of a label may name one port). */
	if (n > 1)
		qsort(*at, n, sizeof(**at), cmp_index);
	old->forwards = malloc((n + 1) * sizeof(*old->forwards));
	if (!old->forwards)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (i && (*at)[i] == (*at)[i - 1])
			continue;
		(*at)[old->n_forwards] = (*at)[i];
		old->forwards[old->n_forwards++] = d->forwards[(*at)[i]];
		*to_host |= d->forwards[(*at)[i]].to_host;
	}
	return 0;
}

static size_t first_after(const struct wf_forward *f, size_t n, const struct wf_forward *key);

static struct wf_forward *forwards_mem(const struct wf_desired *d)
{
	return d->forwards_mem ? d->forwards_mem : d->forwards;
}

/* The forwards at those places go; the rest move in runs, those after the first place toward
 * the start or, where `to_end' allows and they are fewer, those before the last toward the end
 * (a state holds thousands of forwards of hundreds of bytes: a change near one end moves few).
 * Moved toward the end, they leave room before d->forwards, and none at its end. */
static void drop_forwards_at(struct wf_desired *d, const size_t *at, size_t k, bool to_end)
{
	struct wf_forward *f = d->forwards;
	size_t keep = k ? at[0] : d->n_forwards, dst;

	if (to_end && k && at[k - 1] + 1 - k < d->n_forwards - at[0] - k) {
		dst = at[k - 1] + 1;
		for (size_t j = k; j-- > 0;) {
			size_t lo = j ? at[j - 1] + 1 : 0;

			dst -= at[j] - lo;
			if (at[j] > lo)
				memmove(&f[dst], &f[lo], (at[j] - lo) * sizeof(*f));
		}
		d->forwards_mem = forwards_mem(d);
		d->forwards += k;
		d->n_forwards -= k;
		return;
	}
	for (size_t j = 0; j < k; j++) {
		size_t run = at[j] + 1, end = j + 1 < k ? at[j + 1] : d->n_forwards;

		if (end > run)
			memmove(&f[keep], &f[run], (end - run) * sizeof(*f));
		keep += end - run;
	}
	d->n_forwards = keep;
}

/* Merges the n sorted forwards of add into d (whose keys they do not share), into the room
 * before d->forwards, which must hold n: only the forwards before the last new one move. */
static void merge_to_front(struct wf_desired *d, const struct wf_forward *add, size_t n)
{
	struct wf_forward *f = d->forwards, *to = d->forwards - n;
	size_t r = 0, w = 0;

	for (size_t j = 0; j < n; j++) {
		size_t pos = first_after(f, d->n_forwards, &add[j]);

		if (pos > r)
			memmove(&to[w], &f[r], (pos - r) * sizeof(*f));
		w += pos - r;
		r = pos;
		to[w++] = add[j];
	}
	/* the rest is where it belongs already: to + w == f + r */
	d->forwards = to;
	d->n_forwards += n;
}

/* The first of f[0..n) whose key is above key's (n when none is). */
static size_t first_after(const struct wf_forward *f, size_t n, const struct wf_forward *key)
{
	return wf_upper_bound(f, n, sizeof(*f), key, key_cmp);
}

/* memcpy, which must not be given a NULL source even for nothing. */
static void append(void *dst, const void *src, size_t n, size_t size)
{
	if (n)
		memcpy(dst, src, n * size);
}

static int egress_full_qcmp(const void *a, const void *b)
{
	return wf_egress_full_cmp(a, b);
}

static int problem_qcmp(const void *a, const void *b)
{
	return wf_problem_cmp(a, b);
}

static int update(struct wf_desired *d, const struct wf_container *containers, size_t n,
                  const char *id, bool known, const struct wf_container *was,
                  wf_service_resolver resolve, void *resolve_ctx, struct wf_desired_diff *diff)
{
	const struct wf_container *c = NULL;
	struct wf_desired sub, old = {0};
	struct wf_forward *grown;
	struct wf_egress *egress = NULL;
	struct wf_problem *problems = NULL;
	size_t n_fwd, i, j, k, slack, *at = NULL;
	bool to_host;
	int err;

	memset(diff, 0, sizeof(*diff));
	for (i = 0; i < n && !c; i++)
		if (containers[i].id && !strcmp(containers[i].id, id))
			c = &containers[i];
	err = wf_desired_build_with(c, c ? 1 : 0, resolve, resolve_ctx, &sub);
	if (err)
		return err;
	err = known ? find_owned_forwards_by_key(d, id, was, &old, &at, &to_host) : 1;
	if (err == 1) {
		wf_desired_free(&old);
		free(at);
		err = find_owned_forwards(d, id, &old, &at, &to_host);
	}
	if (err)
		goto out;
	if (to_host || !independent(d, containers, n, id, &sub)) {
		err = 1;
		goto out;
	}
	k = old.n_forwards;
	n_fwd = d->n_forwards - k + sub.n_forwards;
	old.egress = malloc((d->n_egress + 1) * sizeof(*old.egress));
	old.problems = malloc((d->n_problems + 1) * sizeof(*old.problems));
	egress = malloc((d->n_egress + sub.n_egress + 1) * sizeof(*egress));
	problems = malloc((d->n_problems + sub.n_problems + 1) * sizeof(*problems));
	slack = (size_t)(d->forwards - forwards_mem(d));
	grown = n_fwd > d->n_forwards ? realloc(forwards_mem(d), (slack + n_fwd) * sizeof(*grown))
	                              : forwards_mem(d);
	if (grown) {
		d->forwards = grown + slack;
		d->forwards_mem = slack ? grown : NULL;
	}
	if (!old.egress || !old.problems || !egress || !problems ||
	    (!grown && n_fwd > d->n_forwards)) {
		err = -ENOMEM;
		goto out;
	}
	/* Everything that can fail is done before d changes. */
	COPY_OWNED(d->egress, d->n_egress, id, old.egress, old.n_egress);
	COPY_OWNED(d->problems, d->n_problems, id, old.problems, old.n_problems);
	err = wf_desired_diff(&old, &sub, diff);
	if (err)
		goto out;
	/* Toward the end only when nothing is added after: the room at the end was counted for
	 * the additions. */
	drop_forwards_at(d, at, k, !sub.n_forwards);
	DROP_OWNED(d->egress, d->n_egress, id);
	DROP_OWNED(d->problems, d->n_problems, id);

	/* Both lists are sorted by key: merged from the back, nothing is overwritten unread, and
	 * what lies between two new entries moves in one piece. From the front instead where
	 * the drop left room there and fewer forwards lie before the last new one than after the
	 * first. */
	i = d->n_forwards;
	j = sub.n_forwards;
	if (j && (size_t)(d->forwards - forwards_mem(d)) >= j &&
	    first_after(d->forwards, i, &sub.forwards[j - 1]) <
	        i - first_after(d->forwards, i, &sub.forwards[0])) {
		merge_to_front(d, sub.forwards, j);
		j = 0;
		n_fwd = d->n_forwards;
		i = n_fwd;
	}
	for (k = n_fwd; j; j--) {
		size_t lo = first_after(d->forwards, i, &sub.forwards[j - 1]);

		if (lo < i)
			memmove(&d->forwards[k - (i - lo)], &d->forwards[lo],
			        (i - lo) * sizeof(*d->forwards));
		k -= i - lo;
		i = lo;
		d->forwards[--k] = sub.forwards[j - 1];
	}
	d->n_forwards = n_fwd;
	append(egress, d->egress, d->n_egress, sizeof(*egress));
	append(egress + d->n_egress, sub.egress, sub.n_egress, sizeof(*egress));
	free(d->egress);
	d->egress = egress;
	d->n_egress += sub.n_egress;
	if (d->n_egress > 1)
		qsort(d->egress, d->n_egress, sizeof(*d->egress), egress_full_qcmp);
	append(problems, d->problems, d->n_problems, sizeof(*problems));
	append(problems + d->n_problems, sub.problems, sub.n_problems, sizeof(*problems));
	free(d->problems);
	d->problems = problems;
	d->n_problems += sub.n_problems;
	if (d->n_problems > 1)
		qsort(d->problems, d->n_problems, sizeof(*d->problems), problem_qcmp);
	egress = NULL;
	problems = NULL;
out:
	free(at);
	free(egress);
	free(problems);
	wf_desired_free(&old);
	wf_desired_free(&sub);
	return err;
}

int wf_desired_update_with(struct wf_desired *d, const struct wf_container *containers, size_t n,
                           const char *id, wf_service_resolver resolve, void *resolve_ctx,
                           struct wf_desired_diff *diff)
{
	return update(d, containers, n, id, false, NULL, resolve, resolve_ctx, diff);
}

int wf_desired_update(struct wf_desired *d, const struct wf_container *containers, size_t n,
                      const char *id, struct wf_desired_diff *diff)
{
	return update(d, containers, n, id, false, NULL, NULL, NULL, diff);
}

int wf_desired_update_was_with(struct wf_desired *d, const struct wf_container *containers,
                               size_t n, const char *id, const struct wf_container *was,
                               wf_service_resolver resolve, void *resolve_ctx,
                               struct wf_desired_diff *diff)
{
	return update(d, containers, n, id, true, was, resolve, resolve_ctx, diff);
}

int wf_desired_update_was(struct wf_desired *d, const struct wf_container *containers, size_t n,
                          const char *id, const struct wf_container *was,
                          struct wf_desired_diff *diff)
{
	return update(d, containers, n, id, true, was, NULL, NULL, diff);
}
