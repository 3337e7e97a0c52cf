/* A peer's state_delta, its own job beside the whole state's turn (turn.c): a delta is applied
 * as it arrives, so it is turned into the request it makes of the one before, decided against
 * the others' entries as they are, applied as the elements of what went and came, and appended
 * to the peer's journal rather than its whole file written. */
#include "delta.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/log.h>
#include <wgfwd/util.h>

#include "daemon.h"
#include "peers.h"
#include "store.h"
#include "turn.h"

/* What follows an applied state or delta: its refusals logged and counted, clashes with the
 * host's ports looked for again, the acknowledgement filled. */
static void answer_applied(struct wf_gw_daemon *d, size_t peer, const struct wf_ctl_state *s,
                           const struct wf_gw_decision *dec, struct wf_ctl_state_ack *a)
{
	wf_gw_log_refusals(d, peer, s, dec);
	wf_gw_count_refusals(d, dec);
	wf_gw_host_watch_clashes(&d->host, d->cfg, &d->state);
	if (wf_gw_fill_ack(a, dec))
		/* Applied, but no results to say so: the agent tries again. */
		WF_COPY(a->reason, "the gateway is out of memory");
}

static bool egress_same(const struct wf_ctl_egress *a, const struct wf_ctl_egress *b)
{
	return a->proto == b->proto && a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

static int index_cmp(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;

	return (a > b) - (a < b);
}

/* The request a delta makes of the one before (asked, put in the wire's sorted order unless
 * `sorted` says it is): -ESRCH when the delta does not fit it (a removed entry it does not
 * hold, an added key it still holds), -ENOMEM. O(log n) per forward removed or added; what
 * stays is copied in runs. */
static int delta_request(struct wf_gw_entries *asked, bool sorted,
                         const struct wf_ctl_state_delta *dl, struct wf_gw_entries *out)
{
	struct wf_ctl_state view = {.forwards = asked->forwards,
	                            .n_forwards = asked->n_forwards,
	                            .egress = asked->egress,
	                            .n_egress = asked->n_egress};
	const struct wf_ctl_state *add = &dl->add, *del = &dl->del;
	struct wf_ctl_forward *added = NULL;
	size_t *went = NULL, *at = NULL, n = asked->n_forwards, from = 0, g = 0, j = 0;
	bool *gone = NULL;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	/* A whole state's order is the agent's; a delta's request is merged in the wire's. */
	if (!sorted)
		wf_ctl_state_sort(&view);
	gone = calloc(asked->n_egress + 1, sizeof(*gone));
	went = malloc((del->n_forwards + 1) * sizeof(*went));
	at = malloc((add->n_forwards + 1) * sizeof(*at));
	added = malloc((add->n_forwards + 1) * sizeof(*added));
	if (!gone || !went || !at || !added ||
	    wf_gw_entries_alloc(out, n + add->n_forwards, asked->n_egress + add->n_egress))
		goto fail;
	err = -ESRCH;
	for (size_t k = 0; k < del->n_forwards; k++) {
		const struct wf_ctl_forward *f = n ? bsearch(&del->forwards[k], asked->forwards, n,
		                                             sizeof(*f), wf_ctl_forward_wire_cmp)
		                                   : NULL;

		if (!f || f->target_port != del->forwards[k].target_port)
			goto fail;
		went[k] = (size_t)(f - asked->forwards);
	}
	qsort(went, del->n_forwards, sizeof(*went), index_cmp);
	for (size_t k = 0; k < del->n_egress; k++) {
		size_t e = 0;

		while (e < asked->n_egress &&
		       (gone[e] || !egress_same(&asked->egress[e], &del->egress[k])))
			e++;
		if (e == asked->n_egress)
			goto fail;
		gone[e] = true;
	}
	/* A delta's lists need only be in the wire's kinds; sorted, each goes in where it
	 * belongs, unless a forward of its key stays. */
	memcpy(added, add->forwards, add->n_forwards * sizeof(*added));
	qsort(added, add->n_forwards, sizeof(*added), wf_ctl_forward_wire_cmp);
	for (size_t k = 0; k < add->n_forwards; k++) {
		at[k] = wf_lower_bound(asked->forwards, n, sizeof(*asked->forwards), &added[k],
		                       wf_ctl_forward_wire_cmp);
		if (at[k] < n && !wf_ctl_forward_wire_cmp(&asked->forwards[at[k]], &added[k]) &&
		    !bsearch(&at[k], went, del->n_forwards, sizeof(*went), index_cmp))
			goto fail;
	}
	/* The runs of asked between the places where a forward went or came. */
	while (from < n || j < add->n_forwards) {
		size_t to = n;

		if (g < del->n_forwards && went[g] < to)
			to = went[g];
		if (j < add->n_forwards && at[j] < to)
			to = at[j];
		if (to > from)
			memcpy(out->forwards + out->n_forwards, asked->forwards + from,
			       (to - from) * sizeof(*out->forwards));
		out->n_forwards += to - from;
		from = to;
		if (j < add->n_forwards && at[j] == from)
			out->forwards[out->n_forwards++] = added[j++];
		else if (g < del->n_forwards && went[g] == from)
			from = went[g++] + 1;
	}
	for (size_t e = 0; e < asked->n_egress; e++)
		if (!gone[e])
			out->egress[out->n_egress++] = asked->egress[e];
	for (size_t e = 0; e < add->n_egress; e++)
		out->egress[out->n_egress++] = add->egress[e];
	view = (struct wf_ctl_state){.egress = out->egress, .n_egress = out->n_egress};
	wf_ctl_state_sort(&view);
	free(gone);
	free(went);
	free(at);
	free(added);
	return 0;
fail:
	free(gone);
	free(went);
	free(at);
	free(added);
	wf_gw_entries_free(out);
	return err;
}

/* The forwards a delta took from the peer (`gone`: those of del it held) and gave it (`came`:
 * the added ones granted), each alone in a state of every peer: O(changes log n). */
static int delta_forwards(const struct wf_gw_daemon *d, size_t peer,
                          const struct wf_ctl_state_delta *dl, const struct wf_gw_decision *dec,
                          struct wf_gw_state *gone, struct wf_gw_state *came)
{
	const struct wf_gw_entries *held = &d->state.peers[peer];
	int err = wf_gw_state_init(gone, d->state.n_peers);

	if (!err)
		err = wf_gw_state_init(came, d->state.n_peers);
	for (size_t i = 0; i < dl->del.n_forwards && !err; i++) {
		const struct wf_ctl_forward *f =
		    wf_gw_entries_find_forward(held, &dl->del.forwards[i]);

		if (f && f->target_port == dl->del.forwards[i].target_port)
			err = wf_gw_entries_add_forward(&gone->peers[peer], f);
	}
	for (size_t i = 0; i < dl->add.n_forwards && !err; i++)
		if (dec->forwards[i].status == WF_GW_ACCEPTED)
			err = wf_gw_entries_add_forward(&came->peers[peer], &dl->add.forwards[i]);
	return err;
}

/* One peer's change into the kernel: the rendered elements of what went and came when the
 * table is the one last written (no rendering of the others); the whole ruleset otherwise. */
static int apply_rendered(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                          const struct wf_nft_table *add, const struct wf_nft_table *del,
                          struct wf_gw_apply_result *res, char *why, size_t whylen)
{
	double start = wf_gw_seconds_now();
	int err = wf_gw_apply_elements(d->nft, &d->apply_cache, add, del, res);

	if (err) {
		if (err != -ESTALE)
			log_info("peer %s: element updates failed (%s): writing the whole ruleset",
			         wf_gw_peer_name(d, peer), strerror(-err));
		return wf_gw_daemon_apply(d, next, res, why, whylen);
	}
	wf_histogram_observe(&d->apply_seconds, wf_gw_seconds_now() - start);
	d->applies++;
	d->last_apply_ok = true;
	return 0;
}

static int apply_delta(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *next,
                       const struct wf_gw_state *gone, const struct wf_gw_state *came,
                       struct wf_gw_apply_result *res, char *why, size_t whylen)
{
	struct wf_nft_table *add = NULL, *del = NULL;
	int err = wf_gw_render_change(d, peer, next, gone, came, &add, &del);

	err = err ? wf_gw_daemon_apply(d, next, res, why, whylen)
	          : apply_rendered(d, peer, next, add, del, res, why, whylen);
	wf_nft_table_free(add);
	wf_nft_table_free(del);
	return err;
}

/* The journal is started anew (the whole file written) once it passes this plus two bytes a
 * forward held: a change costs a line, and a restart replays a few thousand at most. */
#define JOURNAL_BASE_BYTES 16384

/* What a delta changed, onto the disk: appended to the peer's journal when only forwards
 * changed, the whole file otherwise or when the journal has grown. */
static void save_delta(struct wf_gw_daemon *d, size_t peer, const struct wf_gw_state *gone,
                       const struct wf_gw_state *came, bool egress_changed)
{
	struct wf_gw_peer_run *run = &d->peers[peer];
	size_t size = 0;
	char err[512];

	if (!egress_changed && !run->unsaved) {
		if (!gone->peers[peer].n_forwards && !came->peers[peer].n_forwards)
			return;
		/* Synced a little later, with the changes that follow (daemon.h). */
		if (!wf_gw_store_append_open(d->s.state_dir, wf_gw_peer_name(d, peer),
		                             &run->journal_fd, &gone->peers[peer],
		                             &came->peers[peer], false, &size, err, sizeof(err))) {
			wf_gw_daemon_journal_written(d, peer);
			if (size <= JOURNAL_BASE_BYTES + 2 * d->state.peers[peer].n_forwards)
				return;
		} else {
			log_warn("peer %s: %s: writing its whole file instead",
			         wf_gw_peer_name(d, peer), err);
		}
	}
	wf_gw_daemon_save_peer(d, peer);
}

/* A peer's state_delta whose base the control server found held (control.h). */
void wf_gw_take_delta(void *arg, size_t peer, const struct wf_ctl_state_delta *dl,
                      struct wf_ctl_state_ack *a)
{
	struct wf_gw_daemon *d = arg;
	struct wf_gw_peer_run *run = &d->peers[peer];
	const struct wf_gw_entries add = {.forwards = dl->add.forwards,
	                                  .n_forwards = dl->add.n_forwards,
	                                  .egress = dl->add.egress,
	                                  .n_egress = dl->add.n_egress};
	const struct wf_gw_entries del = {.forwards = dl->del.forwards,
	                                  .n_forwards = dl->del.n_forwards,
	                                  .egress = dl->del.egress,
	                                  .n_egress = dl->del.n_egress};
	struct wf_gw_entries want = {0}, mine = {0};
	struct wf_gw_state next = {0}, gone = {0}, came = {0}, view = {0};
	struct wf_gw_decision dec = {0};
	struct wf_gw_apply_result res;
	struct wf_ctl_state named = dl->add;
	char why[1024] = "", change[96];
	bool egress_changed;
	int err;

	/* Only a forward to grant can meet a port this host listens on. */
	wf_gw_daemon_refresh_host_ports_for(d, &dl->add);
	err = delta_request(&run->asked, run->asked_sorted, dl, &want);
	if (err == -ESRCH) {
		log_warn("peer %s: delta %llu does not fit state %llu as the gateway holds it: "
		         "asking for the whole state",
		         wf_gw_peer_name(d, peer), (unsigned long long)dl->generation,
		         (unsigned long long)dl->base);
		a->resend = true;
		snprintf(
		    a->reason, sizeof(a->reason),
		    "the delta does not fit state %llu as the gateway holds it: send the whole "
		    "state",
		    (unsigned long long)dl->base);
		return;
	}
	if (!err)
		err = wf_gw_turns_view(d, peer, &view);
	/* Against the ports others' turns under way were promised, not only those they hold. */
	if (!err)
		err =
		    wf_gw_policy_decide_delta(d->cfg, &view, peer, &del, &add, &want, &mine, &dec);
	free(view.peers);
	/* The others' entries as they are: only this peer's array is new. */
	if (!err && !(next.peers = malloc(d->state.n_peers * sizeof(*next.peers))))
		err = -ENOMEM;
	if (err) {
		snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
		goto refuse;
	}
	next.n_peers = d->state.n_peers;
	memcpy(next.peers, d->state.peers, next.n_peers * sizeof(*next.peers));
	next.peers[peer] = mine;
	err = delta_forwards(d, peer, dl, &dec, &gone, &came);
	if (err) {
		snprintf(why, sizeof(why), "the gateway cannot decide: %s", strerror(-err));
		goto refuse;
	}
	err = apply_delta(d, peer, &next, &gone, &came, &res, why, sizeof(why));
	if (err)
		goto refuse;
	/* Only what went or came can have flows on a path that changed. */
	wf_gw_note_stale_flows(d, peer, &gone, &came);
	egress_changed = !wf_ctl_egress_equal(
	    d->state.peers[peer].egress, d->state.peers[peer].n_egress, mine.egress, mine.n_egress);
	wf_gw_entries_free(&d->state.peers[peer]);
	d->state.peers[peer] = mine;
	memset(&mine, 0, sizeof(mine));
	run->generation = dl->generation;
	wf_gw_entries_free(&run->asked);
	run->asked = want;
	run->asked_sorted = true;
	memset(&want, 0, sizeof(want));
	/* Refusals of the base stay as they were, a host port among them too. */
	run->retry = run->retry || wf_gw_host_port_refused(&dec);
	save_delta(d, peer, &gone, &came, egress_changed);
	log_info("peer %s: delta %llu on %llu: %zu forwards and %zu egress entries added, %zu and "
	         "%zu removed; %zu forwards and %zu egress entries held; %s",
	         wf_gw_peer_name(d, peer), (unsigned long long)dl->generation,
	         (unsigned long long)dl->base, dl->add.n_forwards, dl->add.n_egress,
	         dl->del.n_forwards, dl->del.n_egress, d->state.peers[peer].n_forwards,
	         d->state.peers[peer].n_egress, wf_gw_change_text(&res, change, sizeof(change)));
	named.generation = dl->generation;
	answer_applied(d, peer, &named, &dec, a);
	goto out;

refuse:
	wf_gw_answer_refused(d, peer, "delta", dl->generation, why, a);
out:
	free(next.peers);
	wf_gw_state_free(&gone);
	wf_gw_state_free(&came);
	wf_gw_entries_free(&want);
	wf_gw_entries_free(&mine);
	wf_gw_decision_free(&dec);
}
