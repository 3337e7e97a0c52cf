#include "apply.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wgfwd/log.h>
#include <wgfwd/nft_notify.h>
#include <wgfwd/sysctl.h>
#include <wgfwd/util.h>

/* Our DOCKER-USER rules as last committed: while the ruleset generation is the one they were
 * committed at, nobody (Docker included) can have touched them. */
struct docker_user_cache {
	struct wf_nft_known at;
	bool missing, nftables;
	size_t n;
	uint64_t digests[WF_SERVER_DOCKER_USER_MAX];
};

struct wf_dataplane {
	struct wf_nft *nft;
	struct wf_rtnl *rtnl;
	struct wf_nft_cache table_cache;
	struct docker_user_cache docker_user;
	/* The last whole plan that went through, without its table: what the element-only path
	 * keeps in place (DOCKER-USER rules, policy rules, routes). */
	struct wf_server_plan standing;
	bool have_standing;
	/* its DOCKER-USER rules' digests: worked out once, not at every element change */
	uint64_t standing_digests[WF_SERVER_DOCKER_USER_MAX];
};

int wf_dataplane_open(struct wf_dataplane **out)
{
	struct wf_dataplane *dp = calloc(1, sizeof(*dp));
	int err;

	if (!dp)
		return -ENOMEM;
	err = wf_nft_open(&dp->nft);
	if (!err)
		err = wf_rtnl_open(&dp->rtnl);
	if (err) {
		wf_dataplane_close(dp);
		return err;
	}
	*out = dp;
	return 0;
}

void wf_dataplane_close(struct wf_dataplane *dp)
{
	if (!dp)
		return;
	if (dp->nft)
		wf_nft_close(dp->nft);
	if (dp->rtnl)
		wf_rtnl_close(dp->rtnl);
	wf_nft_cache_free(&dp->table_cache);
	wf_server_plan_free(&dp->standing);
	free(dp);
}

static void docker_user_digests(const struct wf_server_plan *plan, uint64_t *out);

/* The plan's parts besides the table, kept for the element-only path. */
static int keep_standing(struct wf_dataplane *dp, const struct wf_server_plan *plan)
{
	struct wf_server_plan *s = &dp->standing;

	wf_server_plan_free(s);
	dp->have_standing = false;
	memcpy(s->docker_user, plan->docker_user, sizeof(s->docker_user));
	s->n_docker_user = plan->n_docker_user;
	s->rules = malloc((plan->n_rules ? plan->n_rules : 1) * sizeof(*s->rules));
	s->routes = malloc((plan->n_routes ? plan->n_routes : 1) * sizeof(*s->routes));
	if (!s->rules || !s->routes) {
		wf_server_plan_free(s);
		return -ENOMEM;
	}
	memcpy(s->rules, plan->rules, plan->n_rules * sizeof(*s->rules));
	memcpy(s->routes, plan->routes, plan->n_routes * sizeof(*s->routes));
	s->n_rules = plan->n_rules;
	s->n_routes = plan->n_routes;
	docker_user_digests(s, dp->standing_digests);
	dp->have_standing = true;
	return 0;
}

/* Where our rules for one family go: DOCKER-USER, or for IPv6 on a Docker that made none,
 * the top of FORWARD (its policy is DROP all the same). */
static int docker_chain_rules(struct wf_dataplane *dp, uint8_t family, const char **chain,
                              struct wf_nft_rule **have, size_t *n_have)
{
	int err;

	*chain = WF_DOCKER_USER_CHAIN;
	err = wf_nft_chain_rules_get(dp->nft, family, WF_DOCKER_USER_TABLE, *chain, have, n_have);
	if (err == -ENOENT && family == NFPROTO_IPV6) {
		*chain = WF_DOCKER_FORWARD_CHAIN;
		err = wf_nft_chain_rules_get(dp->nft, family, WF_DOCKER_USER_TABLE, *chain, have,
		                             n_have);
	}
	return err;
}

/* Our rules in Docker's chains: present exactly once each while wanted, absent otherwise. */
static int batch_docker_user_family(struct wf_dataplane *dp, struct wf_nft_batch *b, uint8_t family,
                                    const struct wf_nft_rule *want, size_t n_want,
                                    const struct wf_nft_rule *ours, size_t n_ours,
                                    struct wf_apply_result *res)
{
	struct wf_nft_rule *have = NULL;
	size_t n_have = 0;
	const char *chain;
	int err = docker_chain_rules(dp, family, &chain, &have, &n_have);

	if (err == -ENOENT) {
		struct wf_nft_rule *fwd = NULL;
		size_t n_fwd = 0;

		if (family != NFPROTO_IPV4)
			return 0;
		res->docker_user_missing = true;
		/* Docker 29's nftables backend: no DOCKER-USER, its own table instead */
		if (wf_nft_chain_rules_get(dp->nft, NFPROTO_IPV4, WF_DOCKER_NFT_TABLE,
		                           WF_DOCKER_NFT_FORWARD_CHAIN, &fwd, &n_fwd) == 0)
			res->docker_nftables = true;
		free(fwd);
		return 0;
	}
	if (err)
		return err;
	for (size_t i = 0; i < n_ours && !err; i++) {
		bool wanted = false, seen = false;
		struct wf_nft_rule placed;

		if (ours[i].family != family)
			continue;
		placed = ours[i];
		WF_COPY(placed.chain, chain);
		for (size_t k = 0; k < n_want; k++)
			wanted |= wf_nft_rule_equal(&want[k], &ours[i]);
		for (size_t k = 0; k < n_have && !err; k++) {
			if (!wf_nft_rule_equal(&have[k], &placed))
				continue;
			if (wanted && !seen) {
				seen = true;
				continue;
			}
			err = wf_nft_batch_delete_rule(b, family, WF_DOCKER_USER_TABLE, chain,
			                               have[k].handle);
			res->docker_user_changes++;
		}
		if (!err && wanted && !seen) {
			err = wf_nft_batch_insert_rule(b, family, WF_DOCKER_USER_TABLE, &placed);
			res->docker_user_changes++;
		}
	}
	free(have);
	return err;
}

static int batch_docker_user(struct wf_dataplane *dp, struct wf_nft_batch *b,
                             const struct wf_nft_rule *want, size_t n_want,
                             const struct wf_nft_rule *ours, size_t n_ours,
                             struct wf_apply_result *res)
{
	int err = batch_docker_user_family(dp, b, NFPROTO_IPV4, want, n_want, ours, n_ours, res);

	if (!err)
		err =
		    batch_docker_user_family(dp, b, NFPROTO_IPV6, want, n_want, ours, n_ours, res);
	return err;
}

/* The plan's DOCKER-USER rules, by what the kernel would hold. */
static void docker_user_digests(const struct wf_server_plan *plan, uint64_t *out)
{
	for (size_t i = 0; i < plan->n_docker_user; i++)
		out[i] = wf_nft_rule_digest(plan->docker_user[i].family, &plan->docker_user[i]);
}

static bool docker_user_known(const struct docker_user_cache *c, const struct wf_server_plan *plan,
                              const uint64_t *digests, const struct wf_nft_batch *b)
{
	/* Docker's chains live in its filter tables, or its nftables backend's table */
	return wf_nft_known_current_table(&c->at, b, 0, WF_DOCKER_USER_TABLE) &&
	       wf_nft_known_current_table(&c->at, b, 0, WF_DOCKER_NFT_TABLE) &&
	       c->n == plan->n_docker_user &&
	       !memcmp(digests, c->digests, c->n * sizeof(digests[0]));
}

static void docker_user_settle(struct docker_user_cache *c, const struct wf_server_plan *plan,
                               const uint64_t *digests, const struct wf_nft_batch *b, int err,
                               const struct wf_apply_result *res)
{
	wf_nft_known_settle(&c->at, b, err);
	c->missing = res->docker_user_missing;
	c->nftables = res->docker_nftables;
	c->n = plan->n_docker_user;
	memcpy(c->digests, digests, c->n * sizeof(digests[0]));
}

/* The nftables part of a plan, in one transaction, guarded by the ruleset generation it was
 * worked out against. `whole` skips the comparison and rebuilds the table: what a retry does
 * when element updates met a table changed since it was read. */
static int apply_nft(struct wf_dataplane *dp, const struct wf_server_plan *plan, bool whole,
                     struct wf_apply_result *res)
{
	struct wf_nft_batch *b;
	struct wf_nft_sync sync = {.change = WF_NFT_REPLACED, .read_back = true};
	uint64_t docker_user[WF_SERVER_DOCKER_USER_MAX];
	uint32_t genid;
	int err;

	memset(res, 0, sizeof(*res));
	/* Without a generation (an old kernel), the batch goes unguarded and the cache unused. */
	b = wf_nft_genid(dp->nft, &genid) ? wf_nft_batch_new() : wf_nft_batch_new_at(genid);
	if (!b)
		return -ENOMEM;
	if (whole)
		err = wf_nft_batch_replace_table(b, plan->table);
	else
		err = wf_nft_batch_sync_table(dp->nft, b, plan->table, &dp->table_cache, &sync);
	res->nft = sync.change;
	res->read_back = sync.read_back;
	res->elements_added = sync.elements_added;
	res->elements_removed = sync.elements_removed;
	docker_user_digests(plan, docker_user);
	if (!err && docker_user_known(&dp->docker_user, plan, docker_user, b)) {
		res->docker_user_missing = dp->docker_user.missing;
		res->docker_nftables = dp->docker_user.nftables;
	} else if (!err)
		err = batch_docker_user(dp, b, plan->docker_user, plan->n_docker_user,
		                        plan->docker_user, plan->n_docker_user, res);
	if (!err && wf_nft_batch_size(b))
		err = wf_nft_commit(dp->nft, b, &res->nft_error);
	wf_nft_cache_settle(&dp->table_cache, b, err);
	docker_user_settle(&dp->docker_user, plan, docker_user, b, err, res);
	wf_nft_batch_free(b);
	return err;
}

struct nft_attempt {
	struct wf_dataplane *dp;
	const struct wf_server_plan *plan;
	struct wf_apply_result *res;
};

static int nft_attempt(void *ctx, bool whole, enum wf_nft_change *change)
{
	struct nft_attempt *a = ctx;
	int err = apply_nft(a->dp, a->plan, whole, a->res);

	*change = a->res->nft;
	return err;
}

/* Routes and policy rules as the plan has them. */
static int apply_rtnl(struct wf_dataplane *dp, const struct wf_server_plan *plan,
                      struct wf_apply_result *res)
{
	/* Routes before rules: a rule pointing at an empty table would blackhole replies. A
	 * route slot held by another owner (-EEXIST) leaves the rest synced, rules included. */
	res->route_changes = wf_rtnl_sync_routes(dp->rtnl, plan->routes, plan->n_routes);
	if (res->route_changes < 0 && res->route_changes != -EEXIST)
		return res->route_changes;
	res->rule_changes = wf_rtnl_sync_rules(dp->rtnl, plan->rules, plan->n_rules);
	if (res->rule_changes < 0)
		return res->rule_changes;
	if (res->route_changes < 0) {
		snprintf(res->nft_error.what, sizeof(res->nft_error.what),
		         "route in table %u: another owner holds the slot",
		         plan->n_routes ? plan->routes[0].table : 0);
		return res->route_changes;
	}
	return 0;
}

int wf_dataplane_apply(struct wf_dataplane *dp, const struct wf_server_plan *plan,
                       struct wf_apply_result *res)
{
	struct nft_attempt a = {dp, plan, res};
	int err;

	dp->have_standing = false;
	err = wf_nft_apply_retrying(nft_attempt, &a);
	if (!err)
		err = apply_rtnl(dp, plan, res);
	if (!err)
		err = keep_standing(dp, plan);
	return err;
}

int wf_dataplane_apply_elements(struct wf_dataplane *dp, const struct wf_server_elem_changes *ch,
                                bool rtnl, struct wf_apply_result *res)
{
	const struct wf_server_plan *plan = &dp->standing;
	const uint64_t *docker_user = dp->standing_digests;
	struct wf_nft_sync sync;
	struct wf_nft_batch *b;
	uint32_t genid;
	int err;

	memset(res, 0, sizeof(*res));
	res->element_path = true;
	if (!dp->have_standing)
		return -ESTALE;
	/* The cache's generation (this process's last commit), or a later one the change watcher
	 * followed, saves asking the kernel at each change: a commit not read of yet makes it
	 * refuse the batch. Without any generation to guard the batch, nothing is known of the
	 * kernel's table. */
	if (dp->table_cache.at.valid)
		genid = wf_nft_followed_latest(dp->table_cache.at.genid);
	else if (wf_nft_genid(dp->nft, &genid))
		return -ESTALE;
	b = wf_nft_batch_new_at(genid);
	if (!b)
		return -ENOMEM;
	err = wf_nft_batch_sync_elements(b, NFPROTO_INET, WF_SERVER_TABLE, ch->del, ch->add,
	                                 WF_ARRAY_SIZE(ch->del), &dp->table_cache, &sync);
	res->nft = sync.change;
	res->elements_added = sync.elements_added;
	res->elements_removed = sync.elements_removed;
	/* Someone committed to Docker's tables: the whole path looks at our rules there. */
	if (!err && !docker_user_known(&dp->docker_user, plan, docker_user, b))
		err = -ESTALE;
	if (!err) {
		res->docker_user_missing = dp->docker_user.missing;
		res->docker_nftables = dp->docker_user.nftables;
	}
	if (!err && wf_nft_batch_size(b))
		err = wf_nft_commit(dp->nft, b, &res->nft_error);
	if (err == -ERESTART) {
		/* Someone committed after the generation guessed: nothing of the batch went in,
		 * and the whole path asks the kernel where it is. */
		memset(&res->nft_error, 0, sizeof(res->nft_error));
		err = -ESTALE;
	}
	wf_nft_cache_settle(&dp->table_cache, b, err);
	if (err != -ESTALE)
		docker_user_settle(&dp->docker_user, plan, docker_user, b, err, res);
	wf_nft_batch_free(b);
	if (!err && rtnl)
		err = apply_rtnl(dp, plan, res);
	if (err)
		dp->have_standing = false;
	return err;
}

int wf_dataplane_cleanup(struct wf_dataplane *dp, const struct wf_server_params *p)
{
	struct wf_server_gateway g;

	wf_server_gateway_from_params(p, &g);
	return wf_dataplane_cleanup_gateways(dp, p, &g, 1);
}

int wf_dataplane_cleanup_gateways(struct wf_dataplane *dp, const struct wf_server_params *p,
                                  const struct wf_server_gateway *gws, size_t n)
{
	struct wf_desired empty = {0};
	struct wf_server_plan plan;
	struct wf_apply_result res = {0};
	struct wf_nft_batch *b;
	struct wf_nft_table *have = NULL;
	int err, ret;

	dp->have_standing = false;
	wf_nft_cache_free(&dp->table_cache);
	err = wf_server_render_gateways(p, gws, n, &empty, &plan);
	if (err)
		return err;
	b = wf_nft_batch_new();
	if (!b) {
		wf_server_plan_free(&plan);
		return -ENOMEM;
	}
	err = batch_docker_user(dp, b, NULL, 0, plan.docker_user, plan.n_docker_user, &res);
	if (!err && wf_nft_table_get(dp->nft, plan.table->family, plan.table->name, &have) == 0)
		err = wf_nft_batch_delete_table(b, plan.table->family, plan.table->name);
	wf_nft_table_free(have);
	if (!err && wf_nft_batch_size(b))
		err = wf_nft_commit(dp->nft, b, &res.nft_error);
	if (err && res.nft_error.what[0])
		log_error("cleanup: %s: %s", res.nft_error.what, strerror(-err));
	wf_nft_batch_free(b);
	wf_server_plan_free(&plan);

	ret = wf_rtnl_sync_rules(dp->rtnl, NULL, 0);
	if (ret < 0 && !err)
		err = ret;
	ret = wf_rtnl_sync_routes(dp->rtnl, NULL, 0);
	if (ret < 0 && !err)
		err = ret;
	return err;
}

/* Ensures `path` holds one of the accepted values, writing `fix_to` when allowed. */
static int sysctl_ensure(const char *path, const char *accepted, const char *fix_to, bool fix,
                         bool quiet, const char *why)
{
	char cur[32];
	int err = wf_sysctl_read(path, cur, sizeof(cur));

	if (err) {
		if (!quiet)
			log_warn("cannot read %s: %s", path, strerror(-err));
		return err;
	}
	if (strchr(accepted, cur[0]) && cur[0])
		return 0;
	if (!fix) {
		if (!quiet)
			log_warn("%s is %s; %s (set it to %s)", path, cur, why, fix_to);
		return -EINVAL;
	}
	err = wf_sysctl_write(path, fix_to);
	if (err) {
		log_error("cannot set %s to %s (%s): %s", path, fix_to, why, strerror(-err));
		return err;
	}
	log_info("set %s from %s to %s: %s", path, cur, fix_to, why);
	return 0;
}

/* Before IPv6 forwarding goes on: a home line that hands out IPv6 by router advertisement
 * would otherwise lose its default route, at once (turning forwarding on purges RA routes of
 * interfaces with accept_ra 1) and for good (later RAs are ignored). */
static int keep_router_advertisements(const struct wf_server_params *p, bool fix, bool quiet)
{
	char names[64][IF_NAMESIZE], path[128];
	size_t n = 0;
	int err = 0;

	if (wf_sysctl_ra_ignoring("/proc/sys/net/ipv6/conf", "/sys/class/net", p->tunnel_ifname,
	                          names, WF_ARRAY_SIZE(names), &n))
		return 0; /* no IPv6 on this host */
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", names[i]);
		err |= sysctl_ensure(path, "02", "2", fix, quiet,
		                     "router advertisements are heard with IPv6 forwarding on");
	}
	return err;
}

int wf_dataplane_check_sysctls(const struct wf_server_params *p, bool fix, bool quiet)
{
	char path[128];
	int err = 0;

	err |= keep_router_advertisements(p, fix, quiet);
	err |= sysctl_ensure("/proc/sys/net/ipv4/ip_forward", "1", "1", fix, quiet,
	                     "tunnel traffic is forwarded to containers");
	err |= sysctl_ensure("/proc/sys/net/ipv6/conf/all/forwarding", "1", "1", fix, quiet,
	                     "IPv6 tunnel traffic is forwarded to containers");
	/* Strict reverse-path filtering drops tunnel packets from internet clients: their
	 * addresses route via the home line. The effective value is max(all, interface). */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", p->tunnel_ifname);
	if (access(path, F_OK) == 0) {
		char all[8] = "";

		wf_sysctl_read("/proc/sys/net/ipv4/conf/all/rp_filter", all, sizeof(all));
		if (all[0] == '1')
			err |= sysctl_ensure(path, "2", "2", fix, quiet,
			                     "loose reverse-path filtering on the tunnel");
		else
			err |= sysctl_ensure(path, "02", "2", fix, quiet,
			                     "loose reverse-path filtering on the tunnel");
	} else if (!quiet) {
		log_warn("tunnel interface %s does not exist yet", p->tunnel_ifname);
	}
	return err ? -EINVAL : 0;
}
