/* Why a peer's whole state is taken in steps, and the steps themselves: a largest state must
 * not hold the loop for long, and another peer's turn may come between two steps (the comment
 * on the steps says how that is met). What turns and deltas share is peers.h's. */
#include "turn.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/log.h>
#include <wgfwd/util.h>

#include "daemon.h"
#include "peers.h"

/* The message's entries are the policy's: one type from the wire to the kernel. */
static int entries_from_message(const struct wf_ctl_state *s, struct wf_gw_entries *e)
{
	const struct wf_gw_entries asked = {.forwards = s->forwards,
	                                    .n_forwards = s->n_forwards,
	                                    .egress = s->egress,
	                                    .n_egress = s->n_egress};

	return wf_gw_entries_copy(e, &asked);
}

/* A peer may send states of up to 65,536 entries, and what deciding and rendering one takes
 * goes back to malloc's free lists, not to the system: the process would keep the peak of the
 * largest state ever seen. After a large state, it goes back. */
#define LARGE_STATE_ENTRIES 1024

static void return_memory(const struct wf_ctl_state *s)
{
	if (s->n_forwards + s->n_egress >= LARGE_STATE_ENTRIES)
		malloc_trim(0);
}

/* A state's turn goes in steps (control.h), so that no step of a largest state holds the loop
 * for long: decide; the elements of what the peer's entries lost and gained, rendered; their
 * batch, built; the kernel's one transaction and what the daemon keeps of it; the results for
 * the ack, a slice at a time. Another peer's turn may come between them and change what it
 * holds: when that takes nothing this decision grants, the turn goes on (its elements are its
 * peer's alone; apply.h guards the batch on the generation that change left); otherwise it
 * starts again from deciding. After a few such restarts the steps up to the commit run back
 * to back, so that a peer among busy ones is not kept waiting for ever. */

enum turn_phase { TURN_DECIDE, TURN_RENDER, TURN_PREPARE, TURN_COMMIT, TURN_FILL };

#define TURN_RESTARTS_MAX 2
/* Results filled for the ack per step: each costs a reason's copy into fresh memory. */
#define TURN_FILL_SLICE 8192

struct wf_gw_turn {
	enum turn_phase phase;
	unsigned restarts;
	struct wf_gw_entries want, held; /* held: what the peer held when it was decided */
	struct wf_gw_state next, gone, came;
	struct wf_gw_decision dec;
	struct wf_nft_table *add, *del; /* NULL: the whole ruleset is written */
	struct wf_gw_elements *batch;   /* their batch, built; NULL: the whole ruleset */
	size_t filled;
};

static void turn_reset(struct wf_gw_turn *t)
{
	wf_gw_entries_free(&t->want);
	wf_gw_entries_free(&t->held);
	wf_gw_state_free(&t->next);
	wf_gw_state_free(&t->gone);
	wf_gw_state_free(&t->came);
	wf_gw_decision_free(&t->dec);
	wf_nft_table_free(t->add);
	wf_nft_table_free(t->del);
	t->add = t->del = NULL;
	wf_gw_elements_free(t->batch);
	t->batch = NULL;
	t->phase = TURN_DECIDE;
	t->filled = 0;
}

static void turn_end(struct wf_gw_daemon *d, size_t peer)
{
	if (!d->peers[peer].turn)
		return;
	turn_reset(d->peers[peer].turn);
	free(d->peers[peer].turn);
	d->peers[peer].turn = NULL;
}

/* Whether the turn's decision still stands against what the peers hold now: 0 nothing changed,
 * 1 others changed but not what it grants (their entries in the turn's next state are taken
 * anew), -1 it must be decided again. O(n log n). */
static int turn_check(const struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	bool moved = false;

	if (!wf_gw_entries_equal(&d->state.peers[peer], &t->held))
		return -1;
	for (size_t p = 0; p < d->state.n_peers; p++)
		moved = moved ||
		        (p != peer && !wf_gw_entries_equal(&d->state.peers[p], &t->next.peers[p]));
	if (!moved)
		return 0;
	if (!wf_gw_policy_still_grantable(d->cfg, &d->state, peer, &t->next.peers[peer]))
		return -1;
	for (size_t p = 0; p < d->state.n_peers; p++) {
		if (p == peer || wf_gw_entries_equal(&d->state.peers[p], &t->next.peers[p]))
			continue;
		wf_gw_entries_free(&t->next.peers[p]);
		if (wf_gw_entries_copy(&t->next.peers[p], &d->state.peers[p]))
			return -1;
	}
	return 1;
}

static int turn_decide(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                       const struct wf_ctl_state *s)
{
	/* This peer asks anew and is decided below; others may have a refusal to retry. */
	d->peers[peer].retry = false;
	wf_gw_daemon_refresh_host_ports(d, true);
	int err = entries_from_message(s, &t->want);

	if (!err)
		err = wf_gw_entries_copy(&t->held, &d->state.peers[peer]);
	if (!err)
		err = wf_gw_policy_decide(d->cfg, &d->state, peer, &t->want, &t->next, &t->dec);
	return err;
}

/* The elements of what went and came, rendered; a change they cannot carry (of egress, or one
 * that cannot be rendered alone) leaves them NULL and the whole ruleset goes instead. */
static void turn_render(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	if (wf_gw_state_init(&t->gone, d->state.n_peers) ||
	    wf_gw_state_init(&t->came, d->state.n_peers) ||
	    wf_gw_entries_forward_diff(&t->held, &t->next.peers[peer], &t->gone.peers[peer],
	                               &t->came.peers[peer]) ||
	    wf_gw_render_change(d, peer, &t->next, &t->gone, &t->came, &t->add, &t->del)) {
		wf_nft_table_free(t->add);
		wf_nft_table_free(t->del);
		t->add = t->del = NULL;
	}
}

/* The kernel's change and what the daemon keeps of it; the ack's arrays, to be filled. */
static int turn_commit(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                       const struct wf_ctl_state *s, struct wf_ctl_state_ack *a, char *why,
                       size_t whylen)
{
	struct wf_gw_peer_run *run = &d->peers[peer];
	struct wf_gw_apply_result res;
	char change[96];
	bool same;
	double start = wf_gw_seconds_now();
	int err =
	    t->batch ? wf_gw_elements_commit(d->nft, &d->apply_cache, t->batch, &res) : -ESTALE;

	if (!err) {
		wf_histogram_observe(&d->apply_seconds, wf_gw_seconds_now() - start);
		d->applies++;
		d->last_apply_ok = true;
	} else {
		if (err != -ESTALE)
			log_info("peer %s: element updates failed (%s): writing the whole ruleset",
			         wf_gw_peer_name(d, peer), strerror(-err));
		err = wf_gw_daemon_apply(d, &t->next, &res, why, whylen);
	}
	if (err)
		return err;
	same = wf_gw_entries_equal(&d->state.peers[peer], &t->next.peers[peer]);
	if (!same)
		wf_gw_note_stale_flows(d, peer, &d->state, &t->next);
	wf_gw_state_free(&d->state);
	d->state = t->next;
	memset(&t->next, 0, sizeof(t->next));
	run->generation = s->generation;
	wf_gw_entries_free(&run->asked);
	run->asked = t->want;
	memset(&t->want, 0, sizeof(t->want));
	run->retry = wf_gw_host_port_refused(&t->dec);
	/* saved in a step of its own (settle_state) */
	run->unsaved |= !same;
	log_info("peer %s: state %llu: %zu of %zu forwards and %zu of %zu egress entries held; "
	         "%s",
	         wf_gw_peer_name(d, peer), (unsigned long long)s->generation,
	         d->state.peers[peer].n_forwards, s->n_forwards, d->state.peers[peer].n_egress,
	         s->n_egress, wf_gw_change_text(&res, change, sizeof(change)));
	wf_gw_log_refusals(d, peer, s, &t->dec);
	wf_gw_count_refusals(d, &t->dec);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	a->applied = true;
	a->n_forwards = t->dec.n_forwards;
	a->n_egress = t->dec.n_egress;
	a->forwards = calloc(a->n_forwards ? a->n_forwards : 1, sizeof(*a->forwards));
	a->egress = calloc(a->n_egress ? a->n_egress : 1, sizeof(*a->egress));
	if (!a->forwards || !a->egress)
		/* Applied, but no results to say so: the agent tries again. */
		WF_COPY(a->reason, "the gateway is out of memory");
	return 0;
}

/* One slice of the ack's results; true when all are in. */
static bool turn_fill(struct wf_gw_turn *t, struct wf_ctl_state_ack *a)
{
	size_t n = t->dec.n_forwards + t->dec.n_egress, end = t->filled + TURN_FILL_SLICE;

	if (!a->forwards || !a->egress)
		return true;
	for (; t->filled < n && t->filled < end; t->filled++) {
		size_t i = t->filled;

		if (i < t->dec.n_forwards)
			wf_gw_fill_results(&a->forwards[i], &t->dec.forwards[i], 1);
		else
			wf_gw_fill_results(&a->egress[i - t->dec.n_forwards],
			                   &t->dec.egress[i - t->dec.n_forwards], 1);
	}
	return t->filled == n;
}

/* One step of the turn; true while more are to come. */
static bool turn_step(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                      const struct wf_ctl_state *s, struct wf_ctl_state_ack *a)
{
	char why[1024] = "";
	int err;

	if (t->phase != TURN_DECIDE && t->phase != TURN_FILL) {
		int check = turn_check(d, peer, t);

		if (check < 0) {
			t->restarts++;
			turn_reset(t);
		}
	}
	switch (t->phase) {
	case TURN_DECIDE:
		err = turn_decide(d, peer, t, s);
		if (err) {
			snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
			break;
		}
		t->phase = TURN_RENDER;
		return true;
	case TURN_RENDER:
		turn_render(d, peer, t);
		t->phase = TURN_PREPARE;
		return true;
	case TURN_PREPARE:
		if (t->add &&
		    wf_gw_elements_prepare(d->nft, &d->apply_cache, t->add, t->del, &t->batch))
			t->batch = NULL;
		t->phase = TURN_COMMIT;
		return true;
	case TURN_COMMIT:
		err = turn_commit(d, peer, t, s, a, why, sizeof(why));
		if (err)
			break;
		t->phase = TURN_FILL;
		return true;
	case TURN_FILL:
		return !turn_fill(t, a);
	}
	wf_gw_answer_refused(d, peer, "state", s->generation, why, a);
	return false;
}

/* A peer's state whose turn has come (control.h): one step each call. */
bool wf_gw_take_state(void *arg, size_t peer, const struct wf_ctl_state *s,
                      struct wf_ctl_state_ack *a)
{
	struct wf_gw_daemon *d = arg;
	struct wf_gw_peer_run *run = &d->peers[peer];
	struct wf_gw_turn *t = run->turn;
	bool more;

	if (!t) {
		t = run->turn = calloc(1, sizeof(*t));
		if (!t) {
			wf_gw_answer_refused(d, peer, "state", s->generation,
			                     "the gateway is out of memory", a);
			return false;
		}
		if (strcmp(run->agent_version, s->agent_version)) {
			log_info("peer %s: wgfwd-agent %s", wf_gw_peer_name(d, peer),
			         s->agent_version[0] ? s->agent_version : "(version not sent)");
			WF_COPY(run->agent_version, s->agent_version);
		}
	}
	do
		more = turn_step(d, peer, t, s, a);
	while (more && t->restarts > TURN_RESTARTS_MAX && t->phase != TURN_FILL);
	if (!more) {
		turn_end(d, peer);
		return_memory(s);
	}
	return more;
}

/* A turn left before its end (the peer went): what the kernel holds is kept and saved. */
void wf_gw_abandon_state(void *arg, size_t peer)
{
	struct wf_gw_daemon *d = arg;

	turn_end(d, peer);
	if (d->peers[peer].unsaved)
		wf_gw_daemon_save_peer(d, peer);
}

/* The state take_state applied is written in a step of its own: for a largest state, as long
 * as deciding and applying it, and another peer's turn may come between the two. */
void wf_gw_settle_state(void *arg, size_t peer)
{
	struct wf_gw_daemon *d = arg;

	if (d->peers[peer].unsaved)
		wf_gw_daemon_save_peer(d, peer);
}
