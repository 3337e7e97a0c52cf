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
#include "slices.h"

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
 * for long: decide (with what the peer's forwards lose and gain, in key order); then, a slice
 * at a time (slices.h), the elements of the slice rendered and their batch built, and the
 * batch committed as a transaction of its own; the results for the ack, a slice at a time.
 * A change the elements cannot carry (of egress, or when the kernel's table is not the one the
 * daemon last wrote) goes as the whole ruleset, in one transaction.
 *
 * Another peer's turn may come between two steps, and between two slices. What a peer sees:
 *  - each slice applies whole or not at all; a key that moves (same public port, new target)
 *    changes within one slice, so a port never lacks a target nor has two;
 *  - a port granted to this peer is held for it from its decision to the turn's end: others
 *    are decided against the promise (wf_gw_turns_view), so none may take it in between;
 *  - a port this peer gives up stays its own in the daemon's state until the slice removing
 *    it is in; only then may another peer's decision take it;
 *  - the daemon's state holds, for this peer, what the kernel holds after the slices in so
 *    far: a whole ruleset written meanwhile (another peer's, a drift repair) writes exactly
 *    that, and the remaining slices go on from it;
 *  - a failed slice leaves the earlier ones in: the whole ruleset of the decided state is
 *    written instead; if that fails too, the peer holds (in the daemon's state, the kernel and,
 *    at the settle step, its file) what the slices in so far left, and is told its state
 *    failed;
 *  - the ack goes once the whole state is in; a newer state that comes before (control.h)
 *    cuts the turn short where it stands (wf_gw_cut_state): the slices in stay, the promise
 *    goes, the ack says the state was not applied, and the newer one's turn decides from
 *    what the kernel holds.
 * The state file is written at the end (settle; the next turn's, when one waits); mid-way only
 * as what the kernel holds then (the peer went, or a repair saved every peer not saved). Until
 * then it holds the state before, and a restart writes what it holds whole, so the kernel
 * always ends as the file says.
 *
 * When another peer's turn changes what it holds but takes nothing this decision grants, the
 * turn goes on (its elements are its peer's alone; apply.h guards each batch on the generation
 * that change left); otherwise it starts again from deciding, from what the kernel holds. After
 * a few such restarts the steps up to the first slice's commit run back to back, so that a peer
 * among busy ones is not kept waiting for ever; from then on, its promise keeps its ports. */

enum turn_phase {
	TURN_DECIDE,
	TURN_DECIDING,
	TURN_PREPARE,
	TURN_COMMIT,
	TURN_WHOLE,
	TURN_FINISH,
	TURN_FILL
};

#define TURN_RESTARTS_MAX 2
/* Results filled for the ack per step: each costs a reason's copy into fresh memory. */
#define TURN_FILL_SLICE 4096
/* Entries decided per step: a refused one costs the formatting of its reason. */
#define TURN_DECIDE_SLICE 8192

/* Element changes per slice: slices.h's, or WFGW_SLICE_ELEMENTS from the environment (tests
 * and measurements compare bounds; a large one makes a change one transaction again). */
static size_t slice_max(void)
{
	static size_t max;

	if (!max) {
		const char *env = getenv("WFGW_SLICE_ELEMENTS");
		long v = env ? strtol(env, NULL, 10) : 0;

		max = v > 0 ? (size_t)v : WF_GW_SLICE_MAX;
	}
	return max;
}

struct wf_gw_turn {
	enum turn_phase phase;
	unsigned restarts;
	bool sliced;                     /* a slice is in: the steps go one at a time */
	bool whole;                      /* the state went in as the whole ruleset */
	struct wf_gw_entries want, held; /* held: what the peer held when it was decided */
	struct wf_gw_entries now;      /* what the kernel holds of it: held, then slice by slice */
	struct wf_gw_entries promised; /* now and the ports granted that are not in yet */
	struct wf_gw_entries gone, came; /* its forwards that go and come, in key order */
	size_t gone_at, came_at, gone_end, came_end; /* the slice under way */
	struct wf_gw_state next;
	struct wf_gw_state slice_gone, slice_came; /* the slice's forwards, for rendering */
	struct wf_gw_decision dec;
	struct wf_gw_decider *decider; /* while deciding */
	unsigned decide_steps;
	struct wf_gw_elements *batch;
	struct wf_gw_apply_result res; /* over all slices */
	double apply_seconds;
	size_t filled;
};

static void slice_unview(struct wf_gw_turn *t, size_t peer)
{
	if (t->slice_gone.peers)
		memset(&t->slice_gone.peers[peer], 0, sizeof(t->slice_gone.peers[peer]));
	if (t->slice_came.peers)
		memset(&t->slice_came.peers[peer], 0, sizeof(t->slice_came.peers[peer]));
}

static void turn_reset(struct wf_gw_turn *t, size_t peer)
{
	slice_unview(t, peer);
	wf_gw_entries_free(&t->want);
	wf_gw_entries_free(&t->held);
	wf_gw_entries_free(&t->now);
	wf_gw_entries_free(&t->promised);
	wf_gw_entries_free(&t->gone);
	wf_gw_entries_free(&t->came);
	wf_gw_state_free(&t->next);
	wf_gw_state_free(&t->slice_gone);
	wf_gw_state_free(&t->slice_came);
	wf_gw_decision_free(&t->dec);
	wf_gw_decider_free(t->decider);
	t->decider = NULL;
	t->decide_steps = 0;
	wf_gw_elements_free(t->batch);
	t->batch = NULL;
	t->phase = TURN_DECIDE;
	t->sliced = t->whole = false;
	t->gone_at = t->came_at = t->gone_end = t->came_end = 0;
	memset(&t->res, 0, sizeof(t->res));
	t->apply_seconds = 0;
	t->filled = 0;
}

static void turn_end(struct wf_gw_daemon *d, size_t peer)
{
	if (!d->peers[peer].turn)
		return;
	turn_reset(d->peers[peer].turn, peer);
	free(d->peers[peer].turn);
	d->peers[peer].turn = NULL;
}

/* Decided, and not yet in whole: others see what it was granted. */
static bool turn_promises(const struct wf_gw_turn *t)
{
	return t && t->phase != TURN_DECIDE && t->phase != TURN_DECIDING && t->phase != TURN_FILL;
}

int wf_gw_turns_view(const struct wf_gw_daemon *d, size_t peer, struct wf_gw_state *view)
{
	view->n_peers = d->state.n_peers;
	view->peers = malloc((view->n_peers ? view->n_peers : 1) * sizeof(*view->peers));
	if (!view->peers)
		return -ENOMEM;
	for (size_t p = 0; p < view->n_peers; p++) {
		const struct wf_gw_turn *t = d->peers[p].turn;

		view->peers[p] = p != peer && turn_promises(t) ? t->promised : d->state.peers[p];
	}
	return 0;
}

/* Whether the turn's decision still stands against what the peers hold now: 0 nothing changed,
 * 1 others changed but not what it grants (their entries in the turn's next state are taken
 * anew), -1 it must be decided again. O(n log n). */
static int turn_check(const struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	struct wf_gw_state view;
	bool moved = false, grantable;

	if (!wf_gw_entries_equal(&d->state.peers[peer], &t->now))
		return -1;
	for (size_t p = 0; p < d->state.n_peers; p++)
		moved = moved ||
		        (p != peer && !wf_gw_entries_equal(&d->state.peers[p], &t->next.peers[p]));
	if (!moved)
		return 0;
	if (wf_gw_turns_view(d, peer, &view))
		return -1;
	grantable = wf_gw_policy_still_grantable(d->cfg, &view, peer, &t->next.peers[peer]);
	free(view.peers);
	if (!grantable)
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

/* The decision begun: what the peer asks and holds, and the decider (policy.h), which takes a
 * run of entries a step against what the others hold (or were promised) then. */
static int turn_decide_start(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                             const struct wf_ctl_state *s)
{
	struct wf_gw_state view = {0};
	int err;

	/* This peer asks anew and is decided below; others may have a refusal to retry. */
	d->peers[peer].retry = false;
	wf_gw_daemon_refresh_host_ports(d, true);
	err = entries_from_message(s, &t->want);
	if (!err)
		err = wf_gw_entries_copy(&t->held, &d->state.peers[peer]);
	if (!err)
		err = wf_gw_entries_copy(&t->now, &d->state.peers[peer]);
	if (!err)
		err = wf_gw_turns_view(d, peer, &view);
	if (!err)
		err = wf_gw_decider_new(d->cfg, &view, peer, &t->want, &t->decider);
	free(view.peers);
	return err;
}

/* A run of the decision; once it is whole, what it changes of the peer's forwards and the
 * promise others see from now. 1 while more is to decide, -EAGAIN when it must be taken again
 * (another peer took a port it granted between two of its steps). */
static int turn_decide(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	struct wf_gw_state view = {0};
	const struct wf_gw_entries *mine;
	int err = wf_gw_turns_view(d, peer, &view);

	if (!err)
		err = wf_gw_decider_step(t->decider, &view, TURN_DECIDE_SLICE, &t->next, &t->dec);
	t->decide_steps++;
	if (err == 0 && t->decide_steps > 1 &&
	    !wf_gw_policy_still_grantable(d->cfg, &view, peer, &t->next.peers[peer]))
		err = -EAGAIN;
	free(view.peers);
	if (err)
		return err;
	wf_gw_decider_free(t->decider);
	t->decider = NULL;
	/* The others as they hold, not as promised: what a whole ruleset would write of them. */
	for (size_t p = 0; p < d->state.n_peers && !err; p++) {
		if (p == peer || wf_gw_entries_equal(&d->state.peers[p], &t->next.peers[p]))
			continue;
		wf_gw_entries_free(&t->next.peers[p]);
		err = wf_gw_entries_copy(&t->next.peers[p], &d->state.peers[p]);
	}
	mine = &t->next.peers[peer];
	if (!err)
		err = wf_gw_entries_forward_diff(&t->held, mine, &t->gone, &t->came);
	if (!err)
		err = wf_gw_slice_holds(&t->held, mine, wf_gw_slice_key(&t->gone, &t->came, 0, 0),
		                        true, &t->promised);
	if (!err)
		err = wf_gw_state_init(&t->slice_gone, d->state.n_peers);
	if (!err)
		err = wf_gw_state_init(&t->slice_came, d->state.n_peers);
	return err;
}

/* The next slice's elements, rendered, and their batch, built; false when they cannot go as
 * elements (the whole ruleset goes instead). */
static bool turn_prepare(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	struct wf_nft_table *add = NULL, *del = NULL;
	bool ok;

	t->gone_end = t->gone_at;
	t->came_end = t->came_at;
	wf_gw_slice_next(&t->gone, &t->came, slice_max(), &t->gone_end, &t->came_end);
	t->slice_gone.peers[peer] = (struct wf_gw_entries){
	    .forwards = t->gone.forwards + t->gone_at, .n_forwards = t->gone_end - t->gone_at};
	t->slice_came.peers[peer] = (struct wf_gw_entries){
	    .forwards = t->came.forwards + t->came_at, .n_forwards = t->came_end - t->came_at};
	ok = !wf_gw_render_change(d, peer, &t->next, &t->slice_gone, &t->slice_came, &add, &del) &&
	     !wf_gw_elements_prepare(d->nft, &d->apply_cache, add, del, &t->batch);
	wf_nft_table_free(add);
	wf_nft_table_free(del);
	if (!ok) {
		wf_gw_elements_free(t->batch);
		t->batch = NULL;
	}
	return ok;
}

/* What the daemon keeps of the state once the kernel holds all of it; the ack's arrays, to be
 * filled. */
static void turn_finish(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                        const struct wf_ctl_state *s, struct wf_ctl_state_ack *a)
{
	struct wf_gw_peer_run *run = &d->peers[peer];
	char change[96], steps[40] = "";

	run->generation = s->generation;
	wf_gw_entries_free(&run->asked);
	run->asked = t->want;
	run->asked_sorted = false;
	memset(&t->want, 0, sizeof(t->want));
	run->retry = wf_gw_host_port_refused(&t->dec);
	/* saved in a step of its own (settle_state) */
	run->unsaved |= !wf_gw_entries_equal(&t->held, &d->state.peers[peer]);
	/* A state decided in more than one step is one large enough to say so. */
	if (t->decide_steps > 1)
		snprintf(steps, sizeof(steps), "; decided in %u steps", t->decide_steps);
	log_info("peer %s: state %llu: %zu of %zu forwards and %zu of %zu egress entries held; "
	         "%s%s",
	         wf_gw_peer_name(d, peer), (unsigned long long)s->generation,
	         d->state.peers[peer].n_forwards, s->n_forwards, d->state.peers[peer].n_egress,
	         s->n_egress, wf_gw_change_text(&t->res, change, sizeof(change)), steps);
	wf_gw_log_refusals(d, peer, s, &t->dec);
	wf_gw_count_refusals(d, &t->dec);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	a->applied = true;
	a->n_forwards = t->dec.n_forwards;
	a->n_egress = t->dec.n_egress;
	/* zeroed by turn_fill, a slice a step: megabytes first touched */
	a->forwards = malloc((a->n_forwards ? a->n_forwards : 1) * sizeof(*a->forwards));
	a->egress = malloc((a->n_egress ? a->n_egress : 1) * sizeof(*a->egress));
	if (!a->forwards || !a->egress)
		/* Applied, but no results to say so: the agent tries again. */
		WF_COPY(a->reason, "the gateway is out of memory");
}

/* The decided state as the whole ruleset, in one transaction (turn_check took the others'
 * entries anew this step). On failure the kernel and the daemon's state keep what the slices
 * in so far left, to be saved in the settle step. */
static int turn_whole(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t, char *why,
                      size_t whylen)
{
	struct wf_gw_apply_result sliced = t->res;
	int err = wf_gw_daemon_apply(d, &t->next, &t->res, why, whylen);

	/* the log's count of elements: the slices' and the rest's */
	t->res.elements_added += sliced.elements_added;
	t->res.elements_removed += sliced.elements_removed;
	if (err) {
		d->peers[peer].unsaved |= t->sliced;
		return err;
	}
	if (!wf_gw_entries_equal(&d->state.peers[peer], &t->next.peers[peer]))
		wf_gw_note_stale_flows(d, peer, &d->state, &t->next);
	wf_gw_state_free(&d->state);
	d->state = t->next;
	memset(&t->next, 0, sizeof(t->next));
	t->whole = true;
	return 0;
}

/* One slice into the kernel, and into what the daemon holds of the peer. -ESTALE and the like
 * when it did not go (nothing of it is in). */
static int turn_commit_slice(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t)
{
	struct wf_gw_apply_result res;
	struct wf_gw_entries now, promised;
	const struct wf_ctl_forward *key;
	double start = wf_gw_seconds_now();
	int err = wf_gw_elements_commit(d->nft, &d->apply_cache, t->batch, &res);

	wf_gw_elements_free(t->batch);
	t->batch = NULL;
	if (err) {
		if (err != -ESTALE)
			log_info("peer %s: element updates failed (%s): writing the whole ruleset",
			         wf_gw_peer_name(d, peer), strerror(-err));
		return err;
	}
	t->apply_seconds += wf_gw_seconds_now() - start;
	t->res.table = res.table != WF_NFT_UNCHANGED ? res.table : t->res.table;
	t->res.elements_added += res.elements_added;
	t->res.elements_removed += res.elements_removed;
	t->sliced = true;
	wf_gw_note_stale_flows(d, peer, &t->slice_gone, &t->slice_came);
	slice_unview(t, peer);
	t->gone_at = t->gone_end;
	t->came_at = t->came_end;
	key = wf_gw_slice_key(&t->gone, &t->came, t->gone_at, t->came_at);
	/* The kernel holds the slice: so does the daemon's state, whatever comes next. Without the
	 * memory to say so, the kernel is made to hold the decided state whole. */
	if (wf_gw_slice_holds(&t->held, &t->next.peers[peer], key, false, &now))
		return -ENOMEM;
	if (wf_gw_slice_holds(&t->held, &t->next.peers[peer], key, true, &promised)) {
		wf_gw_entries_free(&now);
		return -ENOMEM;
	}
	wf_gw_entries_free(&t->promised);
	t->promised = promised;
	wf_gw_entries_free(&d->state.peers[peer]);
	d->state.peers[peer] = now;
	wf_gw_entries_free(&t->now);
	if (wf_gw_entries_copy(&t->now, &now))
		return -ENOMEM;
	d->peers[peer].unsaved = true;
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
		struct wf_ctl_result *r =
		    i < t->dec.n_forwards ? &a->forwards[i] : &a->egress[i - t->dec.n_forwards];

		memset(r, 0, sizeof(*r));
		if (i < t->dec.n_forwards)
			wf_gw_fill_results(r, &t->dec.forwards[i], 1);
		else
			wf_gw_fill_results(r, &t->dec.egress[i - t->dec.n_forwards], 1);
	}
	return t->filled == n;
}

/* One step of the turn; true while more are to come. */
static bool turn_step(struct wf_gw_daemon *d, size_t peer, struct wf_gw_turn *t,
                      const struct wf_ctl_state *s, struct wf_ctl_state_ack *a)
{
	char why[1024] = "";
	int err;

	if (turn_promises(t) && t->phase != TURN_FINISH) {
		int check = turn_check(d, peer, t);

		if (check < 0) {
			t->restarts++;
			turn_reset(t, peer);
		}
	}
	switch (t->phase) {
	case TURN_DECIDE:
		err = turn_decide_start(d, peer, t, s);
		if (err) {
			snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
			break;
		}
		t->phase = TURN_DECIDING;
		return true;
	case TURN_DECIDING:
		err = turn_decide(d, peer, t);
		if (err == 1)
			return true;
		if (err == -EAGAIN) {
			t->restarts++;
			turn_reset(t, peer);
			return true;
		}
		if (err) {
			snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
			break;
		}
		t->phase =
		    wf_ctl_egress_equal(t->held.egress, t->held.n_egress,
		                        t->next.peers[peer].egress, t->next.peers[peer].n_egress)
		        ? TURN_PREPARE
		        : TURN_WHOLE;
		return true;
	case TURN_PREPARE:
		t->phase = turn_prepare(d, peer, t) ? TURN_COMMIT : TURN_WHOLE;
		return true;
	case TURN_COMMIT:
		if (turn_commit_slice(d, peer, t)) {
			t->phase = TURN_WHOLE;
			/* Straight on: the peer's slices in so far are in the others' view already.
			 */
			err = turn_whole(d, peer, t, why, sizeof(why));
			if (err)
				break;
			t->phase = TURN_FINISH;
			return true;
		}
		t->phase = wf_gw_slice_key(&t->gone, &t->came, t->gone_at, t->came_at)
		               ? TURN_PREPARE
		               : TURN_FINISH;
		return true;
	case TURN_WHOLE:
		err = turn_whole(d, peer, t, why, sizeof(why));
		if (err)
			break;
		t->phase = TURN_FINISH;
		return true;
	case TURN_FINISH:
		if (!t->whole) {
			wf_histogram_observe(&d->apply_seconds, t->apply_seconds);
			d->applies++;
			d->last_apply_ok = true;
		}
		turn_finish(d, peer, t, s, a);
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
	while (more && t->restarts > TURN_RESTARTS_MAX && !t->sliced && t->phase != TURN_FILL);
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

/* A newer state came (control.h): unless this one is in whole already, the turn ends where it
 * stands. The kernel and the daemon's state keep what its slices put in (saved by the next
 * turn's settle step, or when the peer goes); its promise goes with it, so the ports granted
 * and not yet in are anyone's again. */
bool wf_gw_cut_state(void *arg, size_t peer)
{
	struct wf_gw_daemon *d = arg;
	struct wf_gw_turn *t = d->peers[peer].turn;

	if (t && (t->phase == TURN_FINISH || t->phase == TURN_FILL))
		return false;
	turn_end(d, peer);
	return true;
}

/* The state take_state applied is written in a step of its own: for a largest state, as long
 * as deciding and applying it, and another peer's turn may come between the two. */
void wf_gw_settle_state(void *arg, size_t peer)
{
	struct wf_gw_daemon *d = arg;

	if (d->peers[peer].unsaved)
		wf_gw_daemon_save_peer(d, peer);
}
