/* The order a peer's entries are kept in (entries.c), which deciding (policy.c) keeps too:
 * forwards by family, protocol and public port; egress by protocol and port range. The
 * containers' own functions are policy.h's. */
#ifndef WGFWD_GATEWAY_ENTRIES_H
#define WGFWD_GATEWAY_ENTRIES_H

#include "policy.h"

/* qsort/bsearch comparators of struct wf_ctl_forward and struct wf_ctl_egress. */
int wf_gw_forward_cmp(const void *pa, const void *pb);
int wf_gw_egress_cmp(const void *pa, const void *pb);

#endif
