/* What the agent's gateway link keeps between messages, at a cost that follows a change:
 *
 *   results   the per-entry results of the state the gateway acknowledged, compact (a number
 *             per entry, each refusal's text once);
 *   pending   the forwards changed since the base of the next delta (the state in flight, else
 *             the acknowledged one), kept sorted: that delta without a walk over the state;
 *   patch     the acknowledged state and its results moved on by a delta the gateway applied,
 *             in place: a few entries moved in by bisection, more in one merge that copies
 *             the unchanged runs whole.
 *
 * Forwards are ordered as wf_ctl_state_sort orders them (the wire's order). */
#ifndef WGFWD_AGENT_LINK_CHANGES_H
#define WGFWD_AGENT_LINK_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/ctl.h>

struct link_results {
	uint32_t *fw, *eg; /* 0 accepted, K refused for reasons[K - 1] */
	char (*reasons)[WF_CTL_REASON_MAX];
	size_t n_reasons, cap_reasons;
	uint32_t *slot; /* open addressing over the texts: index + 1, 0 empty */
	size_t n_slots;
};

/* Forwards changed since a base: base - del + add is the state. A key is at most once in each
 * list; one in both is a forward replaced. */
struct link_pending {
	struct wf_ctl_state add, del;
	size_t cap_add, cap_del;
	bool valid; /* false: the base is not known, the next message is worked out whole */
};

/* Where forward f is, or would go, in the sorted forwards[lo, hi). */
size_t link_forward_at(const struct wf_ctl_forward *forwards, size_t lo, size_t hi,
                       const struct wf_ctl_forward *f);

void link_results_free(struct link_results *r);
/* Room for n_fw and n_eg entries, of which at most `refused` distinct texts. */
int link_results_init(struct link_results *r, size_t n_fw, size_t n_eg, size_t refused);
/* What one entry's result becomes: 0, or the number of its text, added when new. */
int link_results_code(struct link_results *r, const struct wf_ctl_result *res, uint32_t *code);
void link_results_entry(const struct link_results *r, uint32_t code, struct wf_ctl_result *out);
size_t link_refused_in(const struct wf_ctl_state_ack *a);
/* The results of a whole state's ack. */
int link_results_from_ack(struct link_results *r, const struct wf_ctl_state_ack *a);

void link_pending_forget(struct link_pending *p);
/* Now the base: nothing changed since. */
void link_pending_start(struct link_pending *p);
/* Forward f left the state (it was there) or came (it was not). -ENOMEM leaves the book
 * invalid. */
int link_pending_del(struct link_pending *p, const struct wf_ctl_forward *f);
int link_pending_add(struct link_pending *p, const struct wf_ctl_forward *f);

/* The acknowledged state s and its results r, moved on by the forwards-only delta d the
 * gateway applied with these results (one per added forward). -EPROTO, with nothing changed,
 * when d does not fit s or the ack does not fit d; after -ENOMEM s and r stand for nothing. */
int link_patch(struct wf_ctl_state *s, struct link_results *r, const struct wf_ctl_state_delta *d,
               const struct wf_ctl_state_ack *ack);

#endif
