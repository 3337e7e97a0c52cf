/* Comparing and diffing desired states: the orders a wf_desired keeps, and what changes
 * between two of them. Pure. */
#include "state.h"
#include "state_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int forward_plane_qcmp(const void *a, const void *b)
{
	return wf_forward_plane_cmp(a, b);
}

static int egress_plane_qcmp(const void *a, const void *b)
{
	return wf_egress_plane_cmp(a, b);
}

static int cmp_addrs(bool a_has4, const struct in_addr *a4, bool a_has6, const struct in6_addr *a6,
                     bool b_has4, const struct in_addr *b4, bool b_has6, const struct in6_addr *b6)
{
	int r;

	if ((r = cmp_num(a_has4, b_has4)))
		return r;
	if (a_has4 && (r = memcmp(a4, b4, sizeof(*a4))))
		return r;
	if ((r = cmp_num(a_has6, b_has6)))
		return r;
	if (a_has6 && (r = memcmp(a6, b6, sizeof(*a6))))
		return r;
	return 0;
}

/* Where a forward or an egress entry leads, compared alike for both: the fields share their
 * names and types. */
#define CMP_DESTINATION(a, b) \
	(cmp_num((a)->to_host, (b)->to_host)                                                  \
	     ?: cmp_addrs((a)->has_ip4, &(a)->ip4, (a)->has_ip6, &(a)->ip6, (b)->has_ip4,        \
	                  &(b)->ip4, (b)->has_ip6, &(b)->ip6)                                     \
	     ?: cmp_strn((a)->bridge, (b)->bridge, sizeof((a)->bridge))                        \
	     ?: cmp_strn((a)->gateways, (b)->gateways, sizeof((a)->gateways)))

/* What a forward renders to. */
int wf_forward_plane_cmp(const struct wf_forward *a, const struct wf_forward *b)
{
	int r;

	if ((r = cmp_num(a->proto, b->proto)) || (r = cmp_num(a->public_port, b->public_port)) ||
	    (r = cmp_num(a->target_port, b->target_port)))
		return r;
	return CMP_DESTINATION(a, b);
}

int wf_forward_full_cmp(const struct wf_forward *a, const struct wf_forward *b)
{
	int r;

	if ((r = wf_forward_plane_cmp(a, b)) ||
	    (r = cmp_strn(a->container_id, b->container_id, sizeof(a->container_id))))
		return r;
	return cmp_strn(a->container_name, b->container_name, sizeof(a->container_name));
}

int wf_egress_plane_cmp(const struct wf_egress *a, const struct wf_egress *b)
{
	int r;

	if ((r = cmp_num(a->proto, b->proto)) || (r = cmp_num(a->port_lo, b->port_lo)) ||
	    (r = cmp_num(a->port_hi, b->port_hi)))
		return r;
	return CMP_DESTINATION(a, b);
}

/* The state's order: by container, then what it renders to. */
int wf_egress_full_cmp(const struct wf_egress *a, const struct wf_egress *b)
{
	int r;

	if ((r = cmp_strn(a->container_name, b->container_name, sizeof(a->container_name))) ||
	    (r = cmp_strn(a->container_id, b->container_id, sizeof(a->container_id))))
		return r;
	return wf_egress_plane_cmp(a, b);
}

int wf_problem_cmp(const struct wf_problem *a, const struct wf_problem *b)
{
	int r;

	if ((r = cmp_strn(a->container_name, b->container_name, sizeof(a->container_name))) ||
	    (r = cmp_strn(a->container_id, b->container_id, sizeof(a->container_id))) ||
	    (r = cmp_strn(a->label, b->label, sizeof(a->label))) ||
	    (r = cmp_strn(a->message, b->message, sizeof(a->message))))
		return r;
	if ((r = cmp_num(a->waiting, b->waiting)))
		return r;
	return cmp_num(a->contested, b->contested);
}

bool wf_desired_equal(const struct wf_desired *a, const struct wf_desired *b)
{
	if (a->n_forwards != b->n_forwards || a->n_egress != b->n_egress ||
	    a->n_problems != b->n_problems)
		return false;
	for (size_t i = 0; i < a->n_forwards; i++) {
		if (wf_forward_full_cmp(&a->forwards[i], &b->forwards[i]))
			return false;
	}
	for (size_t i = 0; i < a->n_egress; i++) {
		if (wf_egress_full_cmp(&a->egress[i], &b->egress[i]))
			return false;
	}
	for (size_t i = 0; i < a->n_problems; i++) {
		if (wf_problem_cmp(&a->problems[i], &b->problems[i]))
			return false;
	}
	return true;
}

/* ---- diff ---- */

static bool is_sorted(const char *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp(v + (i - 1) * size, v + i * size) > 0)
			return false;
	return true;
}

/* The list itself when it is in order already (a state's forwards always are), else a sorted
 * copy in *copy. */
static const char *in_order(const void *v, size_t n, size_t size,
                            int (*cmp)(const void *, const void *), char **copy)
{
	*copy = NULL;
	if (is_sorted(v, n, size, cmp))
		return v;
	*copy = malloc(n * size);
	if (!*copy)
		return NULL;
	memcpy(*copy, v, n * size);
	qsort(*copy, n, size, cmp);
	return *copy;
}

/* Merge of two sorted lists: what only `from' has is removed, what only `to' has is added. */
static int diff_lists(const void *from, size_t n_from, const void *to, size_t n_to, size_t size,
                      int (*cmp)(const void *, const void *), void *addedp, size_t *n_added,
                      void *removedp, size_t *n_removed)
{
	char *copy_a, *copy_b;
	const char *a = in_order(from, n_from, size, cmp, &copy_a);
	const char *b = in_order(to, n_to, size, cmp, &copy_b);
	char *added = NULL, *removed = NULL;
	size_t i = 0, j = 0, n_add = 0, n_rm = 0;

	*n_added = *n_removed = 0;
	if ((n_from && !a) || (n_to && !b))
		goto oom;
	/* Counted first: a change of one entry among many needs room for one, not for all. */
	while (i < n_from || j < n_to) {
		int r = i == n_from ? 1 : j == n_to ? -1 : cmp(a + i * size, b + j * size);

		if (r < 0)
			n_rm++, i++;
		else if (r > 0)
			n_add++, j++;
		else
			i++, j++;
	}
	added = malloc(n_add ? n_add * size : 1);
	removed = malloc(n_rm ? n_rm * size : 1);
	if (!added || !removed)
		goto oom;
	for (i = j = 0; i < n_from || j < n_to;) {
		int r = i == n_from ? 1 : j == n_to ? -1 : cmp(a + i * size, b + j * size);

		if (r < 0)
			memcpy(removed + (*n_removed)++ * size, a + i++ * size, size);
		else if (r > 0)
			memcpy(added + (*n_added)++ * size, b + j++ * size, size);
		else
			i++, j++;
	}
	free(copy_a);
	free(copy_b);
	*(void **)addedp = added;
	*(void **)removedp = removed;
	return 0;
oom:
	free(copy_a);
	free(copy_b);
	free(added);
	free(removed);
	*n_added = *n_removed = 0;
	return -ENOMEM;
}

int wf_desired_diff(const struct wf_desired *from, const struct wf_desired *to,
                    struct wf_desired_diff *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = diff_lists(from->forwards, from->n_forwards, to->forwards, to->n_forwards,
	               sizeof(struct wf_forward), forward_plane_qcmp, &out->forwards_added,
	               &out->n_forwards_added, &out->forwards_removed, &out->n_forwards_removed);
	if (!r)
		r = diff_lists(from->egress, from->n_egress, to->egress, to->n_egress,
		               sizeof(struct wf_egress), egress_plane_qcmp, &out->egress_added,
		               &out->n_egress_added, &out->egress_removed, &out->n_egress_removed);
	if (r < 0)
		wf_desired_diff_free(out);
	return r;
}

bool wf_desired_diff_empty(const struct wf_desired_diff *d)
{
	return !d->n_forwards_added && !d->n_forwards_removed && !d->n_egress_added &&
	       !d->n_egress_removed;
}

void wf_desired_diff_free(struct wf_desired_diff *d)
{
	if (!d)
		return;
	free(d->forwards_added);
	free(d->forwards_removed);
	free(d->egress_added);
	free(d->egress_removed);
	memset(d, 0, sizeof(*d));
}

void wf_problem_format(const struct wf_problem *p, char *buf, size_t size)
{
	if (p->label[0])
		snprintf(buf, size, "%.*s: %.*s: %.*s", (int)sizeof(p->container_name),
		         p->container_name, (int)sizeof(p->label), p->label,
		         (int)sizeof(p->message), p->message);
	else
		snprintf(buf, size, "%.*s: %.*s", (int)sizeof(p->container_name), p->container_name,
		         (int)sizeof(p->message), p->message);
}
