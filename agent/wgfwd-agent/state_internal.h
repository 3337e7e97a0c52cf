/* Shared by the desired-state modules (state.c, state_diff.c, state_update.c) and no one else:
 * the orders a wf_desired keeps its lists in. */
#ifndef WGFWD_AGENT_STATE_INTERNAL_H
#define WGFWD_AGENT_STATE_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "state.h"

static inline int cmp_num(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static inline int cmp_strn(const char *a, const char *b, size_t n)
{
	return strncmp(a, b, n);
}

/* What a forward renders to: proto, public port, target, bridge, gateways. */
int wf_forward_plane_cmp(const struct wf_forward *a, const struct wf_forward *b);
/* ...then container id and name. */
int wf_forward_full_cmp(const struct wf_forward *a, const struct wf_forward *b);
int wf_egress_plane_cmp(const struct wf_egress *a, const struct wf_egress *b);
/* The state's order: by container, then what it renders to. */
int wf_egress_full_cmp(const struct wf_egress *a, const struct wf_egress *b);
int wf_problem_cmp(const struct wf_problem *a, const struct wf_problem *b);

#endif
