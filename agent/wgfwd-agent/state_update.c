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

static int key_cmp(const struct wf_forward *a, const struct wf_forward *b)
{
	int r = cmp_num(a->proto, b->proto);

	return r ? r : cmp_num(a->public_port, b->public_port);
}

/* The forward holding (proto, public_port) in d, sorted by that key; NULL when none does. */
static const struct wf_forward *holder(const struct wf_desired *d, const struct wf_forward *key)
{
	size_t lo = 0, hi = d->n_forwards;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = key_cmp(&d->forwards[mid], key);

		if (!r)
			return &d->forwards[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
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

/* The forwards at those places go; the rest move in runs. */
static void drop_forwards_at(struct wf_desired *d, const size_t *at, size_t k)
{
	struct wf_forward *f = d->forwards;
	size_t keep = k ? at[0] : d->n_forwards;

	for (size_t j = 0; j < k; j++) {
		size_t run = at[j] + 1, end = j + 1 < k ? at[j + 1] : d->n_forwards;

		if (end > run)
			memmove(&f[keep], &f[run], (end - run) * sizeof(*f));
		keep += end - run;
	}
	d->n_forwards = keep;
}

/* The first of f[0..n) whose key is above key's (n when none is). */
static size_t first_after(const struct wf_forward *f, size_t n, const struct wf_forward *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&f[mid], key) > 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
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

int wf_desired_update_with(struct wf_desired *d, const struct wf_container *containers, size_t n,
                           const char *id, wf_service_resolver resolve, void *resolve_ctx,
                           struct wf_desired_diff *diff)
{
	const struct wf_container *c = NULL;
	struct wf_desired sub, old = {0};
	struct wf_forward *grown;
	struct wf_egress *egress = NULL;
	struct wf_problem *problems = NULL;
	size_t n_fwd, i, j, k, *at = NULL;
	bool to_host;
	int err;

	memset(diff, 0, sizeof(*diff));
	for (i = 0; i < n && !c; i++)
		if (containers[i].id && !strcmp(containers[i].id, id))
			c = &containers[i];
	err = wf_desired_build_with(c, c ? 1 : 0, resolve, resolve_ctx, &sub);
	if (err)
		return err;
	err = find_owned_forwards(d, id, &old, &at, &to_host);
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
	grown = n_fwd > d->n_forwards ? realloc(d->forwards, n_fwd * sizeof(*grown)) : d->forwards;
	if (grown)
		d->forwards = grown;
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
	drop_forwards_at(d, at, k);
	DROP_OWNED(d->egress, d->n_egress, id);
	DROP_OWNED(d->problems, d->n_problems, id);

	/* Both lists are sorted by key: merged from the back, nothing is overwritten unread, and
	 * what lies between two new entries moves in one piece. */
	i = d->n_forwards;
	j = sub.n_forwards;
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

int wf_desired_update(struct wf_desired *d, const struct wf_container *containers, size_t n,
                      const char *id, struct wf_desired_diff *diff)
{
	return wf_desired_update_with(d, containers, n, id, NULL, NULL, diff);
}
