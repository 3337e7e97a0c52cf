#include "slices.h"

#include <errno.h>
#include <string.h>

#include "entries.h"

void wf_gw_slice_next(const struct wf_gw_entries *gone, const struct wf_gw_entries *came,
                      size_t max, size_t *gone_at, size_t *came_at)
{
	size_t i = *gone_at, j = *came_at, n = 0;

	while (i < gone->n_forwards || j < came->n_forwards) {
		const struct wf_ctl_forward *a = i < gone->n_forwards ? &gone->forwards[i] : NULL;
		const struct wf_ctl_forward *b = j < came->n_forwards ? &came->forwards[j] : NULL;
		int c = !a ? 1 : !b ? -1 : wf_gw_forward_cmp(a, b);
		size_t cost = c == 0 ? 2 : 1;

		if (n && n + cost > max)
			break;
		i += c <= 0;
		j += c >= 0;
		n += cost;
	}
	*gone_at = i;
	*came_at = j;
}

const struct wf_ctl_forward *wf_gw_slice_key(const struct wf_gw_entries *gone,
                                             const struct wf_gw_entries *came, size_t gone_at,
                                             size_t came_at)
{
	const struct wf_ctl_forward *a =
	    gone_at < gone->n_forwards ? &gone->forwards[gone_at] : NULL;
	const struct wf_ctl_forward *b =
	    came_at < came->n_forwards ? &came->forwards[came_at] : NULL;

	if (!a || !b)
		return a ? a : b;
	return wf_gw_forward_cmp(a, b) <= 0 ? a : b;
}

int wf_gw_slice_holds(const struct wf_gw_entries *held, const struct wf_gw_entries *next,
                      const struct wf_ctl_forward *from, bool promised, struct wf_gw_entries *out)
{
	size_t i = 0, j = 0;
	int err = wf_gw_entries_alloc(out, held->n_forwards + next->n_forwards, next->n_egress);

	for (size_t k = 0; k < next->n_egress && !err; k++)
		err = wf_gw_entries_add_egress(out, &next->egress[k]);
	while (!err && (i < held->n_forwards || j < next->n_forwards)) {
		const struct wf_ctl_forward *a = i < held->n_forwards ? &held->forwards[i] : NULL;
		const struct wf_ctl_forward *b = j < next->n_forwards ? &next->forwards[j] : NULL;
		int c = !a ? 1 : !b ? -1 : wf_gw_forward_cmp(a, b);
		bool in = !from || wf_gw_forward_cmp(c <= 0 ? a : b, from) < 0;
		const struct wf_ctl_forward *keep = NULL;

		if (c == 0)
			keep = in ? b : a;
		else if (c < 0)
			keep = in ? NULL : a;
		else
			keep = in || promised ? b : NULL;
		i += c <= 0;
		j += c >= 0;
		if (keep)
			err = wf_gw_entries_add_forward(out, keep);
	}
	if (err)
		wf_gw_entries_free(out);
	return err;
}
