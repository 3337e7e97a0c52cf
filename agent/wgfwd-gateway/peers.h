/* What a peer's state turn (turn.h) and its deltas (delta.h) share with the rest of peers.c:
 * the refusals logged and counted, the conntrack entries a change leaves stale noted, the ack's
 * results filled, a refusal answered, and a change of forwards rendered as elements. */
#ifndef WGFWD_GATEWAY_PEERS_H
#define WGFWD_GATEWAY_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/ctl.h>

#include "daemon.h"

void wf_gw_fill_results(struct wf_ctl_result *out, const struct wf_gw_result *in, size_t n);
void wf_gw_count_refusals(struct wf_gw_daemon *d, const struct wf_gw_decision *dec);
/* One line per state however much of it was refused. */
void wf_gw_log_refusals(const struct wf_gw_daemon *d, size_t peer, const struct wf_ctl_state *s,
                        const struct wf_gw_decision *dec);
/* The conntrack entries of the forwards that changed from `from` to `to`, to be deleted once
 * the agent has its answer. */
void wf_gw_note_stale_flows(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *from,
                            const struct wf_gw_state *to);
bool wf_gw_host_port_refused(const struct wf_gw_decision *dec);
int wf_gw_fill_ack(struct wf_ctl_state_ack *a, const struct wf_gw_decision *dec);
void wf_gw_answer_refused(struct wf_gw_daemon *d, size_t peer, const char *what,
                          uint64_t generation, const char *why, struct wf_ctl_state_ack *a);
/* The elements of what went and came as two tables of the same shape, when only forwards
 * change; -ESTALE otherwise (the whole ruleset goes). */
int wf_gw_render_change(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                        const struct wf_gw_state *gone, const struct wf_gw_state *came,
                        struct wf_nft_table **add, struct wf_nft_table **del);
double wf_gw_seconds_now(void);

#endif
