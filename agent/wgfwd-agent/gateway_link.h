/* The agent's end of the control channel: keeps one authenticated connection to the gateway,
 * reconnecting with capped backoff and jitter, and makes the gateway hold the agent's latest
 * full gateway state (re-sent whole after every reconnect, so the gateway heals by itself).
 * Between, one message is on its way at a time: each change goes, once the last message is
 * answered, as a state_delta on what the gateway acknowledged when that is smaller than the
 * state, and the ack's results for the added entries are merged into the per-entry results
 * the owner gets. Forwards changed by wf_gateway_link_change_forwards are booked as they
 * change (link_changes.h), so that such a delta and its ack cost what the change does plus
 * one copy of the acknowledged state; a whole state given is diffed whole (O(n)). */
#ifndef WGFWD_GATEWAY_LINK_H
#define WGFWD_GATEWAY_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <wgfwd/ctl.h>

struct event_base;
struct json_object;
struct wf_gateway_link;

/* The results of an acknowledged state: for each forward and egress entry (in the state's
 * order) 0 when accepted, or K when refused for reasons[K - 1]. */
struct wf_gateway_link_results {
	const uint32_t *fw, *eg;
	const char (*reasons)[WF_CTL_REASON_MAX];
};

struct wf_gateway_link_ops {
	void (*connection)(void *ctx, bool up);
	void (*gateway_info)(void *ctx, const struct wf_ctl_gateway_info *info);
	/* The results of every entry of a state the gateway answered (the one in flight, or
	 * the one it holds when it grants more of it later), or its refusal of the latest. */
	void (*state_ack)(void *ctx, const struct wf_ctl_state *state,
	                  const struct wf_ctl_state_ack *ack);
	/* Instead of state_ack, when set: the same answers with the results as the link keeps
	 * them (NULL when the gateway applied nothing), so that an answer to a delta does not
	 * spell out a result for each of the state's entries. */
	void (*state_results)(void *ctx, const struct wf_ctl_state *state,
	                      const struct wf_ctl_state_ack *ack,
	                      const struct wf_gateway_link_results *results);
};

struct wf_gateway_link_config {
	const char *gateway; /* the gateway's tunnel address */
	uint16_t port;       /* 0: WF_CTL_PORT */
	const char *local;   /* our tunnel address (bound, and our identity); NULL: chosen */
	uint8_t key[WF_CTL_KEY_LEN];
	unsigned backoff_min_ms, backoff_max_ms;  /* 0: 200 ms and 10 s */
	unsigned ping_interval_ms, dead_after_ms; /* 0: the protocol's defaults */
};

int wf_gateway_link_new(struct wf_gateway_link **out, struct event_base *base,
                        const struct wf_gateway_link_config *cfg,
                        const struct wf_gateway_link_ops *ops, void *ctx);
void wf_gateway_link_free(struct wf_gateway_link *l);
/* Copies the state (putting it in the protocol's order: see wf_ctl_state_order), gives it the
 * next generation and sends it when connected (or as soon as the connection is up). An
 * identical state is not sent again. One the protocol cannot carry is not sent at all: see
 * wf_gateway_link_state_error. The state passed to the state_ack callback is the copy. */
int wf_gateway_link_set_state(struct wf_gateway_link *l, const struct wf_ctl_state *state);
/* The latest state changed by a few forwards (del's go, add's come; a key in both is
 * replaced), sent as set_state sends it, at a cost that follows the change rather than the
 * state. -ESTALE, with nothing changed, when there is no state yet or the change does not fit
 * it (a forward to delete that it lacks, one to add that it has): give the whole state then. */
int wf_gateway_link_change_forwards(struct wf_gateway_link *l, const struct wf_ctl_forward *del,
                                    size_t n_del, const struct wf_ctl_forward *add, size_t n_add);
bool wf_gateway_link_up(const struct wf_gateway_link *l);
uint64_t wf_gateway_link_generation_sent(const struct wf_gateway_link *l);
uint64_t wf_gateway_link_generation_acked(const struct wf_gateway_link *l);
const char *wf_gateway_link_last_error(const struct wf_gateway_link *l);
/* Why the latest state cannot be sent (e.g. more forwards than a state holds), "" when it
 * can. The gateway keeps the last state it got meanwhile. */
const char *wf_gateway_link_state_error(const struct wf_gateway_link *l);

#endif
