#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <linux/netfilter.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wgfwd/log.h>
#include <wgfwd/metrics.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/status_socket.h>
#include <wgfwd/util.h>
#include <wgfwd/version.h>

#include "apply.h"
#include "container.h"
#include "ct_flush.h"
#include "docker.h"
#include "drift_filter.h"
#include "gateway_health.h"
#include "gateway_link.h"
#include "state.h"
#include "daemon_internal.h"

/* Kernel notifications come in bursts (a tunnel recreated, an operator's script): one look
 * after the burst is enough. */
#define DRIFT_SETTLE_MS 50

/* Applies take about a millisecond when one container changes; seconds mean trouble. */
static const double apply_seconds_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,  0.1,    0.25,  1};

double wf_agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define APPLY_RETRY_MIN_MS 1000
#define APPLY_RETRY_MAX_MS 30000

void wf_agent_schedule_apply(struct wf_agent *a, unsigned delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	/* An apply already due sooner stays; a later one is pulled in. */
	if (evtimer_pending(a->apply_ev, NULL) && delay_ms)
		return;
	evtimer_add(a->apply_ev, &tv);
}

/* Containers: a mirror of what the Docker client reports. */

static ssize_t find_container(struct wf_agent *a, const char *id)
{
	for (size_t i = 0; i < a->n_containers; i++)
		if (!strcmp(a->containers[i]->id, id))
			return (ssize_t)i;
	return -1;
}

static void drop_containers(struct wf_agent *a)
{
	for (size_t i = 0; i < a->n_containers; i++)
		wf_container_free(a->containers[i]);
	a->n_containers = 0;
}

/* The copy c replaces goes to *was (NULL when there was none), or is freed when was is NULL. */
static int put_container(struct wf_agent *a, const struct wf_container *c,
                         struct wf_container **was)
{
	struct wf_container *copy = wf_container_dup(c);
	ssize_t i;

	if (!copy)
		return -ENOMEM;
	i = find_container(a, c->id);
	if (i >= 0) {
		if (was)
			*was = a->containers[i];
		else
			wf_container_free(a->containers[i]);
		a->containers[i] = copy;
		return 0;
	}
	if (a->n_containers == a->cap_containers) {
		size_t cap = a->cap_containers ? a->cap_containers * 2 : 32;
		struct wf_container **grown = realloc(a->containers, cap * sizeof(*grown));

		if (!grown) {
			wf_container_free(copy);
			return -ENOMEM;
		}
		a->containers = grown;
		a->cap_containers = cap;
	}
	a->containers[a->n_containers++] = copy;
	return 0;
}

static void on_docker_connection(void *ctx, bool up)
{
	struct wf_agent *a = ctx;

	if (!up && a->docker_up)
		log_warn("docker: connection lost; forwards stay as they are until it is back");
	if (up && !a->docker_up)
		log_info("docker: connected");
	if (!up)
		a->docker_reconnects++;
	a->docker_up = up;
}

/* Which containers changed since the desired state was last brought up to date: one can be
 * applied to it in place (wf_desired_update); more, or a new list, rebuild it whole. */
static void forget_changes(struct wf_agent *a, unsigned n_changed)
{
	wf_container_free(a->changed_was);
	a->changed_was = NULL;
	a->n_changed = n_changed;
}

/* Takes `was', the container as it was before this change (NULL: it was not there): the first
 * change's is what the desired state last saw. */
static void note_changed(struct wf_agent *a, const char *id, struct wf_container *was)
{
	if (a->n_changed == 0) {
		WF_COPY(a->changed_id, id);
		a->changed_was = was;
		a->n_changed = 1;
		return;
	}
	wf_container_free(was);
	if (a->n_changed != 1 || strcmp(a->changed_id, id))
		forget_changes(a, CHANGED_MANY);
}

static void on_docker_synced(void *ctx, const struct wf_container *list, size_t n)
{
	struct wf_agent *a = ctx;

	drop_containers(a);
	for (size_t i = 0; i < n; i++)
		if (put_container(a, &list[i], NULL))
			log_error("out of memory keeping container %s", list[i].name);
	log_info("docker: %zu container%s of interest", n, n == 1 ? "" : "s");
	a->synced = true;
	forget_changes(a, CHANGED_MANY);
	wf_agent_schedule_apply(a, 0);
}

static void on_docker_changed(void *ctx, const struct wf_container *c)
{
	struct wf_agent *a = ctx;
	struct wf_container *was = NULL;

	if (put_container(a, c, &was)) {
		log_error("out of memory keeping container %s", c->name);
		/* what the list holds is not what the state will be built from */
		forget_changes(a, CHANGED_MANY);
	}
	note_changed(a, c->id, was);
	wf_agent_schedule_apply(a, 0);
}

static void on_docker_removed(void *ctx, const char *id)
{
	struct wf_agent *a = ctx;
	ssize_t i = find_container(a, id);

	if (i < 0)
		return;
	note_changed(a, id, a->containers[i]);
	a->containers[i] = a->containers[--a->n_containers];
	wf_agent_schedule_apply(a, 0);
}

static const struct wf_docker_ops docker_ops = {
    .connection = on_docker_connection,
    .synced = on_docker_synced,
    .changed = on_docker_changed,
    .removed = on_docker_removed,
};

/* Problems are logged when they appear, not at every apply. */
static bool has_problem(const struct wf_problem *list, size_t n, const struct wf_problem *p)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].container_id, p->container_id) &&
		    !strcmp(list[i].label, p->label) && !strcmp(list[i].message, p->message))
			return true;
	return false;
}

static void log_new_problems(const struct wf_problem *before, size_t n_before,
                             const struct wf_desired *d)
{
	for (size_t i = 0; i < d->n_problems; i++) {
		char line[512];

		if (has_problem(before, n_before, &d->problems[i]))
			continue;
		wf_problem_format(&d->problems[i], line, sizeof(line));
		if (d->problems[i].waiting)
			log_info("%s", line);
		else
			log_warn("%s", line);
	}
}

#define LOG_EACH_FORWARD_MAX 16
/* Forwards (added or removed by one apply, or in a status document) from which the heap is
 * trimmed after it: a thousand leave megabytes of garbage behind. */
#define TRIM_AFTER_CHANGES 256

static void log_forward_changes(struct wf_agent *a, const struct wf_desired_diff *diffp)
{
	struct wf_desired_diff diff = *diffp;
	size_t left;
	bool each;

	/* A few changes are named one by one; many (a start-up, a port range) are summed up
	 * at info and named at debug, so that logging does not cost more than applying. */
	each = diff.n_forwards_removed + diff.n_forwards_added <= LOG_EACH_FORWARD_MAX;
	if (!each)
		log_info("forwards: %zu added, %zu removed", diff.n_forwards_added,
		         diff.n_forwards_removed);
	/* Not even formatted when nobody reads them. */
	if (!each && !wf_log_enabled(WF_LOG_DEBUG))
		diff.n_forwards_removed = diff.n_forwards_added = 0;
	/* The last one named waits for the apply's outcome and goes with it (say_change). */
	left = each ? diff.n_forwards_removed + diff.n_forwards_added : 0;
	a->change_line[0] = '\0';
	for (size_t i = 0; i < diff.n_forwards_removed; i++, left--) {
		const struct wf_forward *f = &diff.forwards_removed[i];

		snprintf(a->change_line, sizeof(a->change_line),
		         "forward removed: %s/%u (container %s)", wf_proto_name(f->proto),
		         f->public_port, f->container_name);
		if (left != 1)
			wf_log(each ? WF_LOG_INFO : WF_LOG_DEBUG, "%s", a->change_line);
	}
	for (size_t i = 0; i < diff.n_forwards_added; i++, left--) {
		const struct wf_forward *f = &diff.forwards_added[i];
		char ip4[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "";

		if (f->has_ip4)
			inet_ntop(AF_INET, &f->ip4, ip4, sizeof(ip4));
		if (f->has_ip6)
			inet_ntop(AF_INET6, &f->ip6, ip6, sizeof(ip6));
		snprintf(a->change_line, sizeof(a->change_line),
		         "forward: %s/%u -> %s %s%s%s port %u", wf_proto_name(f->proto),
		         f->public_port, f->container_name, f->to_host ? "(host)" : ip4,
		         ip4[0] && ip6[0] ? " " : "", ip6, f->target_port);
		if (left != 1)
			wf_log(each ? WF_LOG_INFO : WF_LOG_DEBUG, "%s", a->change_line);
	}
	if (left != 0 || !each)
		a->change_line[0] = '\0';
	for (size_t i = 0; i < diff.n_egress_added; i++) {
		const struct wf_egress *e = &diff.egress_added[i];

		log_info("egress: %s %s ports %u-%u through the tunnel", e->container_name,
		         e->proto ? wf_proto_name(e->proto) : "all", e->port_lo, e->port_hi);
	}
}

/* The first state against none: everything in it was added. A view of its own arrays, not a
 * copy (at start-up that would be megabytes touched for nothing): free it with diff_free. */
static void first_diff(const struct wf_desired *d, struct wf_desired_diff *diff)
{
	memset(diff, 0, sizeof(*diff));
	diff->forwards_added = d->forwards;
	diff->n_forwards_added = d->n_forwards;
	diff->egress_added = d->egress;
	diff->n_egress_added = d->n_egress;
}

static void diff_free(const struct wf_agent *a, struct wf_desired_diff *diff)
{
	if ((diff->forwards_added && diff->forwards_added == a->desired.forwards) ||
	    (diff->egress_added && diff->egress_added == a->desired.egress))
		memset(diff, 0, sizeof(*diff));
	else
		wf_desired_diff_free(diff);
}

/* Brings a->desired up to date with the containers, in place when one container changed, and
 * says what changed in *diff (diff_free it). 0 or -ENOMEM (a->desired as it was, the changes still
 * due). */
static int update_desired(struct wf_agent *a, struct wf_desired_diff *diff, bool *whole)
{
	struct wf_desired d;
	struct wf_container *flat;
	struct wf_problem *before = NULL;
	size_t n_before = a->desired.n_problems;
	int err = 1;

	memset(diff, 0, sizeof(*diff));
	*whole = false;
	if (a->have_desired && !a->n_changed)
		return 0;
	flat = calloc(a->n_containers + 1, sizeof(*flat));
	if (n_before)
		before = malloc(n_before * sizeof(*before));
	if (!flat || (n_before && !before)) {
		free(flat);
		free(before);
		return -ENOMEM;
	}
	if (n_before)
		memcpy(before, a->desired.problems, n_before * sizeof(*before));
	for (size_t i = 0; i < a->n_containers; i++)
		flat[i] = *a->containers[i];
	if (a->have_desired && a->n_changed == 1)
		err = wf_desired_update_was(&a->desired, flat, a->n_containers, a->changed_id,
		                            a->changed_was, diff);
	if (err == 1) {
		*whole = true;
		err = wf_desired_build(flat, a->n_containers, &d);
		if (!err && a->have_desired)
			err = wf_desired_diff(&a->desired, &d, diff);
		else if (!err)
			first_diff(&d, diff);
		if (!err) {
			if (a->have_desired)
				wf_desired_free(&a->desired);
			a->desired = d;
			a->have_desired = true;
		} else {
			wf_desired_free(&d);
		}
	}
	free(flat);
	if (!err) {
		forget_changes(a, 0);
		log_new_problems(before, n_before, &a->desired);
		log_forward_changes(a, diff);
	}
	free(before);
	return err;
}

/* Where a forwarded flow may have been sent before anything translated it: every gateway's
 * tunnel and public addresses, learnt ones included. */
static void flush_dsts(const struct wf_agent *a, struct wf_ct_orig_dsts *o)
{
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];

	if (a->n_gws)
		wf_agent_gateway_planes(a, planes);
	wf_server_ct_orig_dsts(&a->params, planes, a->n_gws, o);
}

/* Changes are noted as the desired state takes them, and searched for once the kernel holds
 * them (after a successful apply): what a failed apply left pending waits for the next. */
static void note_stale_flows(struct wf_agent *a, const struct wf_desired_diff *diff)
{
	struct wf_ct_orig_dsts dsts;
	int pending;

	if (!a->ct_flush || wf_desired_diff_empty(diff))
		return;
	flush_dsts(a, &dsts);
	pending = wf_ct_flush_note_changes(a->ct_flush, &a->params, &dsts, diff, &a->desired);
	if (pending < 0)
		log_warn("conntrack: cannot note the changed forwards (%s): their flows keep the "
		         "old path until they go idle",
		         strerror(-pending));
}

static void recheck_sysctls(struct wf_agent *a);

/* The render input: each gateway's plane, zeroed around it so that two compare whole. */
static void render_planes(const struct wf_agent *a, struct wf_server_gateway *planes)
{
	memset(planes, 0, WF_GATEWAYS_MAX * sizeof(*planes));
	if (a->n_gws)
		wf_agent_gateway_planes(a, planes);
}

/* A change of forwards alone, on what the last whole apply left: its map elements, without a
 * plan. With `rtnl' (a notification that can have touched them, a periodic look) the policy
 * rules and routes are synced too, which a container change leaves as they were. -ESTALE when
 * the whole path must go instead. */
static int apply_elements(struct wf_agent *a, const struct wf_desired_diff *diff,
                          const struct wf_server_gateway *planes, bool rtnl,
                          struct wf_apply_result *res)
{
	struct wf_server_elem_changes ch = {0};
	int err;

	memset(res, 0, sizeof(*res));
	if (!a->last_apply_ok || diff->n_egress_added || diff->n_egress_removed ||
	    memcmp(planes, a->planes, sizeof(a->planes)))
		return -ESTALE;
	err = wf_server_render_elements(&a->params, diff, &ch);
	if (err)
		return err;
	err = wf_dataplane_apply_elements(a->dp, &ch, rtnl, res);
	wf_server_elem_changes_free(&ch);
	return err;
}

/* The whole path: the plan rendered from the whole desired state, compared with the kernel's
 * table as cached (or read back) and applied. */
static int apply_whole(struct wf_agent *a, const struct wf_server_gateway *planes,
                       struct wf_apply_result *res)
{
	struct wf_server_plan plan;
	int err;

	if (a->n_gws)
		err = wf_server_render_gateways(&a->params, planes, a->n_gws, &a->desired, &plan);
	else
		err = wf_server_render(&a->params, &a->desired, &plan);
	if (err)
		return err;
	err = wf_dataplane_apply(a->dp, &plan, res);
	wf_server_plan_free(&plan);
	if (!err)
		memcpy(a->planes, planes, sizeof(a->planes));
	return err;
}

/* The change's last forward line when the apply did nothing to say it with. */
static void say_change_alone(struct wf_agent *a)
{
	if (a->change_line[0])
		log_info("%s", a->change_line);
	a->change_line[0] = '\0';
}

static void apply_now(evutil_socket_t fd, short what, void *arg)
{
	struct wf_agent *a = arg;
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];
	struct wf_desired_diff diff;
	struct wf_apply_result res;
	bool whole, push, rtnl;
	double start;
	int err;

	/* Before the first list from Docker the agent knows nothing: touching the kernel then
	 * would drop every forward a previous run left in place. */
	if (a->sysctls_due) {
		a->sysctls_due = false;
		recheck_sysctls(a);
	}
	if (!a->synced)
		return;
	rtnl = a->rtnl_due || !a->notes_filtered;
	a->rtnl_due = false;
	start = wf_agent_now_ms();
	if (update_desired(a, &diff, &whole)) {
		memset(&diff, 0, sizeof(diff));
		goto oom;
	}
	whole |= diff.n_forwards_added + diff.n_forwards_removed >= TRIM_AFTER_CHANGES;
	/* The links keep the last state and send it again after a reconnect: a look for drift,
	 * which changes nothing here, has nothing new for them. */
	push = whole || !wf_desired_diff_empty(&diff) || !a->pushed;
	note_stale_flows(a, &diff);
	render_planes(a, planes);
	/* A whole build (start-up, a resync, several containers at once) goes the whole way. */
	err = whole ? -ESTALE : apply_elements(a, &diff, planes, rtnl, &res);
	/* Whatever stopped the element-only path, the whole one knows how to recover. */
	if (err) {
		if (err != -ESTALE)
			log_debug("element updates failed (%s): applying the whole state",
			          strerror(-err));
		err = apply_whole(a, planes, &res);
		if (err == -ENOMEM)
			goto oom;
	}
	a->applies++;
	a->last_apply_ms = wf_agent_now_ms() - start;
	wf_histogram_observe(&a->apply_seconds, a->last_apply_ms / 1e3);
	a->last_apply_at = time(NULL);
	/* The engine says so itself from API 1.49; before, its table tells. */
	res.docker_nftables |= a->docker && !strncmp(wf_docker_firewall(a->docker), "nftables", 8);
	a->last_result = res;
	if (res.docker_nftables && !a->params.has_accept_mark && !a->accept_mark_advised) {
		a->accept_mark_advised = true;
		log_warn(
		    "Docker uses its nftables backend, which drops forwarded flows to unpublished "
		    "ports and has no DOCKER-USER: add \"bridge-accept-fwmark\": \"%s\" to "
		    "/etc/docker/daemon.json, restart Docker, and start wgfwd-agent with "
		    "--bridge-accept-fwmark %s",
		    WF_SUGGESTED_ACCEPT_MARK, WF_SUGGESTED_ACCEPT_MARK);
	}
	if (err) {
		char before[sizeof(a->last_error)];

		say_change_alone(a);
		memcpy(before, a->last_error, sizeof(before));
		a->apply_errors++;
		a->last_apply_ok = false;
		const char *missing = NULL;

		if (err == -ENODEV && !if_nametoindex(a->params.tunnel_ifname))
			missing = a->params.tunnel_ifname;
		for (size_t i = 0; err == -ENODEV && !missing && i < a->n_gws; i++)
			if (!if_nametoindex(a->gws[i].cfg.plane.ifname))
				missing = a->gws[i].cfg.plane.ifname;
		if (missing)
			snprintf(a->last_error, sizeof(a->last_error),
			         "interface %s does not exist (%s)", missing,
			         a->n_gws > 1 ? "--gateway-link" : "--interface");
		else if (res.nft_error.what[0])
			snprintf(a->last_error, sizeof(a->last_error), "%s: %s%s%s",
			         res.nft_error.what, strerror(-err),
			         res.nft_error.detail[0] ? ": " : "", res.nft_error.detail);
		else
			snprintf(a->last_error, sizeof(a->last_error), "%s", strerror(-err));
		/* A failure that stays (a missing interface) is said once, not every retry, and
		 * the retries slow down; a change of state still applies at once. */
		a->retry_ms = a->retry_ms ? a->retry_ms * 2 : APPLY_RETRY_MIN_MS;
		if (a->retry_ms > APPLY_RETRY_MAX_MS)
			a->retry_ms = APPLY_RETRY_MAX_MS;
		if (strcmp(before, a->last_error))
			log_error("apply failed: %s; retrying, at most every %u s", a->last_error,
			          APPLY_RETRY_MAX_MS / 1000);
		else
			log_debug("apply failed again: %s; next try in %u ms", a->last_error,
			          a->retry_ms);
		wf_agent_schedule_apply(a, a->retry_ms);
	} else {
		a->retry_ms = 0;
		if (!a->last_apply_ok && a->apply_errors)
			log_info("apply succeeded again");
		a->last_apply_ok = true;
		a->last_error[0] = '\0';
		/* Flows keep the path their conntrack entry took: the search runs off the
		 * convergence path, once for a burst, and not at all after a restart. */
		if (a->ct_flush)
			wf_ct_flush_settle(a->ct_flush, &a->params);
		a->nft_changes[res.nft]++;
		if (res.nft != WF_NFT_UNCHANGED || res.rule_changes || res.route_changes ||
		    res.docker_user_changes)
			log_info(
			    "%s%sapplied in %.2f ms: nft %s (+%zu -%zu elements), %zu DOCKER-USER, "
			    "%d rules, %d routes",
			    a->change_line, a->change_line[0] ? "; " : "", a->last_apply_ms,
			    res.nft == WF_NFT_REPLACED   ? "table replaced"
			    : res.nft == WF_NFT_ELEMENTS ? "elements"
			                                 : "unchanged",
			    res.elements_added, res.elements_removed, res.docker_user_changes,
			    res.rule_changes, res.route_changes);
		a->change_line[0] = '\0';
		say_change_alone(a);
	}
	if (push && a->pushed && !whole)
		wf_agent_push_gateway_diff(a, &diff);
	else if (push)
		wf_agent_push_gateway_state(a);
	a->pushed |= push;
	diff_free(a, &diff);
	/* A whole build or a big change leaves its peak (candidates, diff, plan, messages) in
	 * the heap; given back, the agent's memory follows its state rather than its busiest
	 * moment. The gateways' answers to it (as big) are trimmed after too. */
	if (whole) {
		malloc_trim(0);
		for (size_t i = 0; i < a->n_gws; i++)
			a->gws[i].trim_after_ack = push;
	}
	return;
oom:
	say_change_alone(a);
	diff_free(a, &diff);
	/* The state may have moved on without the kernel or the gateways: the retry, which
	 * finds no change left, gives them the whole of it. */
	a->last_apply_ok = false;
	a->pushed = false;
	log_error("out of memory building the desired state; retrying");
	wf_agent_schedule_apply(a, 1000);
}

/* Every tunnel needs loose reverse-path filtering, not only the first. */
static bool check_sysctls(const struct wf_agent *a, bool quiet)
{
	struct wf_server_params p = a->params;
	bool ok = wf_dataplane_check_sysctls(&p, a->cfg.fix_sysctls, quiet) == 0;

	for (size_t i = 1; i < a->cfg.n_gateways; i++) {
		WF_COPY(p.tunnel_ifname, a->cfg.gateways[i].plane.ifname);
		ok &= wf_dataplane_check_sysctls(&p, a->cfg.fix_sysctls, quiet) == 0;
	}
	return ok;
}

/* Forwarding can be switched off by someone else, and an interface created again comes back
 * with the default rp_filter or accept_ra: checked again whenever drift is looked for. What is
 * wrong is said when it goes wrong, not every time. */
static void recheck_sysctls(struct wf_agent *a)
{
	bool ok = check_sysctls(a, !a->sysctls_ok);

	if (ok && !a->sysctls_ok)
		log_info(
		    "forwarding, rp_filter and accept_ra are as the data plane needs them again");
	a->sysctls_ok = ok;
}

void wf_agent_reconcile(struct wf_agent *a)
{
	recheck_sysctls(a);
	a->rtnl_due = true;
	wf_agent_schedule_apply(a, 0);
}

static void on_reconcile(evutil_socket_t fd, short what, void *arg)
{
	wf_agent_reconcile(arg);
}

/* The tables an apply reads: its own, Docker's filter tables (DOCKER-USER, or FORWARD for
 * IPv6) and Docker's nftables backend. Commits touching none of them are no drift. */
static void watch_nft_tables(struct wf_nlwatch *w)
{
	wf_nlwatch_watch_nft(w, NFPROTO_INET, WF_SERVER_TABLE);
	wf_nlwatch_watch_nft(w, NFPROTO_IPV4, WF_DOCKER_USER_TABLE);
	wf_nlwatch_watch_nft(w, NFPROTO_IPV6, WF_DOCKER_USER_TABLE);
	wf_nlwatch_watch_nft(w, 0, WF_DOCKER_NFT_TABLE);
}

static void owned(const struct wf_agent *a, struct wf_agent_owned *own)
{
	struct wf_server_gateway planes[WF_GATEWAYS_MAX];

	if (a->n_gws)
		wf_agent_gateway_planes(a, planes);
	wf_agent_owned_from(&a->params, planes, a->n_gws, own);
}

/* The kernel keeps Docker's own notifications from waking the agent at all; it needs the
 * tunnels' indexes for that, so this runs again whenever a tunnel's link changes. A scope
 * that cannot be set costs wake-ups, not correctness: the filter still judges. */
static void scope_notes(struct wf_agent *a)
{
	struct wf_agent_owned own;
	struct wf_nlwatch_scope scope;
	int ifindex[WF_GATEWAYS_MAX] = {0};
	int err;

	owned(a, &own);
	for (size_t i = 0; i < own.n; i++)
		ifindex[i] = (int)if_nametoindex(own.tunnels[i]);
	wf_agent_scope(&own, ifindex, &scope);
	err = wf_nlwatch_scope_rtnl(a->watch, &scope);
	if (err && !a->scope_failed)
		log_debug("kernel notifications are not narrowed in the kernel (%s)",
		          strerror(-err));
	a->scope_failed = err != 0;
}

/* Each rtnetlink notification, judged by what it can touch: what it can have changed is
 * looked at again with the next apply, and what it cannot (Docker's veths, their addresses
 * and routes) wakes nothing. */
static bool on_kernel_note(void *ctx, const struct wf_nlwatch_note *note)
{
	struct wf_agent *a = ctx;
	struct wf_agent_owned own;
	unsigned looks;

	owned(a, &own);
	looks = wf_agent_note_looks(&own, note);
	a->rtnl_due |= (looks & WF_LOOK_RTNL) != 0;
	a->sysctls_due |= (looks & WF_LOOK_SYSCTLS) != 0;
	/* a tunnel made again has a new index */
	if ((note->kind == WF_NLWATCH_LINK && (looks & WF_LOOK_RTNL)) ||
	    note->kind == WF_NLWATCH_LOST)
		scope_notes(a);
	return looks != 0;
}

/* After a burst of notifications that can have touched what the agent owns (its table in a
 * commit of someone else's, its rules or routes, the tunnel): one look. Unfiltered, every
 * notification is a reason to read everything again. */
static void on_kernel_change(void *ctx)
{
	struct wf_agent *a = ctx;

	if (!a->notes_filtered)
		a->sysctls_due = true;
	wf_agent_schedule_apply(a, DRIFT_SETTLE_MS);
}

/* Status. */

static void trim_heap(evutil_socket_t fd, short what, void *arg)
{
	malloc_trim(0);
}

/* The document of a big state is megabytes of small objects, freed as soon as it is written
 * out: the heap they leave is given back a little later. */
static struct json_object *status_cb(void *ctx)
{
	struct wf_agent *a = ctx;
	struct timeval later = {0, 100000};

	if (a->desired.n_forwards >= TRIM_AFTER_CHANGES && !evtimer_pending(a->trim_ev, NULL))
		evtimer_add(a->trim_ev, &later);
	return wf_agent_status(a);
}

int wf_agent_new(struct wf_agent **out, struct event_base *base, const struct wf_agent_config *cfg)
{
	struct wf_agent *a = calloc(1, sizeof(*a));
	struct timeval interval;
	int err;

	if (!a)
		return -ENOMEM;
	a->base = base;
	a->cfg = *cfg;
	a->params = cfg->params;
	wf_histogram_init(&a->apply_seconds, apply_seconds_bounds,
	                  WF_ARRAY_SIZE(apply_seconds_bounds));
	interval.tv_sec = (cfg->reconcile_interval_ms ? cfg->reconcile_interval_ms : 30000) / 1000;
	interval.tv_usec = (cfg->reconcile_interval_ms % 1000) * 1000;

	a->sysctls_ok = check_sysctls(a, false);
	err = wf_dataplane_open(&a->dp);
	if (err) {
		log_error("cannot open netlink: %s", strerror(-err));
		goto fail;
	}
	err = wf_ct_flush_new(base, &a->ct_flush);
	if (err)
		log_warn("no conntrack access (%s): flows of a changed forward keep their old path "
		         "until they go idle",
		         strerror(-err));
	a->apply_ev = evtimer_new(base, apply_now, a);
	a->reconcile_ev = event_new(base, -1, EV_PERSIST, on_reconcile, a);
	a->trim_ev = evtimer_new(base, trim_heap, a);
	if (!a->apply_ev || !a->reconcile_ev || !a->trim_ev) {
		err = -ENOMEM;
		goto fail;
	}
	event_add(a->reconcile_ev, &interval);
	err = wf_nlwatch_new(&a->watch, base, on_kernel_change, a);
	if (err) {
		log_warn("no kernel change notifications (%s): drift is repaired only every %u ms",
		         strerror(-err), cfg->reconcile_interval_ms);
	} else {
		watch_nft_tables(a->watch);
		a->notes_filtered = wf_nlwatch_filter_rtnl(a->watch, on_kernel_note, a) == 0;
	}
	a->egress_gw = cfg->n_gateways ? 0 : -1;
	for (size_t i = 0; i < cfg->n_gateways && i < WF_GATEWAYS_MAX; i++) {
		err = wf_agent_gateway_start(a, &a->gws[i], &cfg->gateways[i]);
		if (err)
			goto fail;
		a->n_gws++;
	}
	/* Every gateway's tunnel and table in it. */
	if (a->notes_filtered)
		scope_notes(a);
	/* One gateway has nothing to fail over to. */
	if (a->n_gws > 1) {
		struct timeval tick = {0, 250000};

		a->health_ev = event_new(base, -1, EV_PERSIST, wf_agent_check_health, a);
		if (!a->health_ev) {
			err = -ENOMEM;
			goto fail;
		}
		event_add(a->health_ev, &tick);
	}
	if (cfg->status_socket) {
		err =
		    wf_status_socket_open(base, cfg->status_socket, 0660, status_cb, a, &a->status);
		if (err) {
			log_error("status socket %s: %s", cfg->status_socket, strerror(-err));
			goto fail;
		}
	}
	err = wf_docker_new(&a->docker, base, cfg->docker_host, &docker_ops, a);
	if (err) {
		log_error("docker: %s", strerror(-err));
		goto fail;
	}
	*out = a;
	return 0;
fail:
	wf_agent_free(a);
	return err;
}

void wf_agent_free(struct wf_agent *a)
{
	if (!a)
		return;
	wf_docker_free(a->docker);
	for (size_t i = 0; i < a->n_gws; i++)
		wf_agent_gateway_free(&a->gws[i]);
	if (a->health_ev)
		event_free(a->health_ev);
	wf_status_socket_close(a->status);
	wf_nlwatch_free(a->watch);
	if (a->apply_ev)
		event_free(a->apply_ev);
	if (a->trim_ev)
		event_free(a->trim_ev);
	if (a->reconcile_ev)
		event_free(a->reconcile_ev);
	/* A search still due runs before the agent goes. */
	wf_ct_flush_free(a->ct_flush);
	wf_dataplane_close(a->dp);
	drop_containers(a);
	free(a->containers);
	forget_changes(a, 0);
	if (a->have_desired)
		wf_desired_free(&a->desired);
	free(a);
}
