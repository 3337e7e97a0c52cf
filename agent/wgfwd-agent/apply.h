/* The agent's hands on the server's kernel: makes the kernel hold exactly a rendered plan.
 *
 * Compares before it writes, so applying the same plan twice changes nothing; when only map
 * elements differ (one container started or stopped) it sends just those elements, otherwise
 * it replaces the owned table whole. The owned table, the DOCKER-USER rules and the nftables
 * part of every change go in one transaction; policy rules and routes follow (rtnetlink has no
 * transactions), added before anything is removed. */
#ifndef WGFWD_DATAPLANE_H
#define WGFWD_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>

#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_sync.h>
#include <wgfwd/rtnl.h>

#include "render.h"

struct wf_apply_result {
	enum wf_nft_change nft;
	bool read_back; /* the table was read from the kernel, not known from the last commit */
	size_t elements_added, elements_removed;
	size_t docker_user_changes;
	int rule_changes, route_changes;
	bool docker_user_missing; /* Docker's chain is absent: nothing to accept there */
	bool docker_nftables;     /* ...because Docker uses its nftables backend */
	bool element_path;        /* wf_dataplane_apply_elements: no plan rendered */
	struct wf_nft_error nft_error;
};

struct wf_dataplane;

int wf_dataplane_open(struct wf_dataplane **out);
void wf_dataplane_close(struct wf_dataplane *dp);
int wf_dataplane_apply(struct wf_dataplane *dp, const struct wf_server_plan *plan,
                       struct wf_apply_result *result);
/* The element-only path: applies one desired-state change's map elements (render.h) on what
 * the last whole apply left (its table as cached, its DOCKER-USER rules, and with `rtnl' its
 * policy rules and routes synced again), at a cost that follows the change, not the table.
 * -ESTALE, with nothing changed, when the kernel is not known to hold what that apply left
 * (none went through since the data plane opened or since a failure, another process committed
 * to the agent's table or Docker's, the cache disagrees with the change): the caller then
 * applies a whole plan, which reads the kernel back. Any other failure also leaves the next
 * apply to be a whole one. */
int wf_dataplane_apply_elements(struct wf_dataplane *dp, const struct wf_server_elem_changes *ch,
                                bool rtnl, struct wf_apply_result *res);
/* Removes everything the agent owns: its table, its DOCKER-USER rules, rules and routes. */
int wf_dataplane_cleanup(struct wf_dataplane *dp, const struct wf_server_params *p);
/* The same, for several gateways: every tunnel's DOCKER-USER rules go too. */
int wf_dataplane_cleanup_gateways(struct wf_dataplane *dp, const struct wf_server_params *p,
                                  const struct wf_server_gateway *gws, size_t n);
/* Forwarding and reverse-path settings the data plane depends on; fixes them when `fix`. */
int wf_dataplane_check_sysctls(const struct wf_server_params *p, bool fix, bool quiet);

#endif
