/* Benchmark driver for wgfwd's control path: rendering and programming N forwards, one change
 * among N, the agent's whole per-event work, and what the data structures cost in memory.
 * Run it inside a private network namespace (bench/run.sh uses `unshare -n`); it owns the
 * tables it writes there.
 *
 *   wfb_apply cold     server|gateway N REPS   render + apply N forwards into an empty kernel
 *   wfb_apply change   server|gateway N REPS   add and remove one forward among N
 *   wfb_apply pipeline N REPS                 one container stops/starts among N containers:
 *                                              desired state, diff, render, apply
 *   wfb_apply readback server|gateway N REPS   reading the owned table back, alone
 *   wfb_apply gwset    N PUBLIC PEER PORT      leave the gateway ruleset with N forwards in place
 *   wfb_apply ctflush  K REPS                the daemons' conntrack search with K entries present
 *   wfb_apply ctlsize  N                   control-channel state message for N dual-stack forwards
 *   wfb_apply gwpeers  PEERS N REPS           gateway render of N forwards spread over PEERS
 *   wfb_apply gwbig    PEERS PER REPS DIR     PEERS peers with PER forwards each: the restart
 *                                              (load every peer's file from DIR, render,
 *                                              apply into an empty kernel) and one peer's change,
 *                                              whole and as a delta's elements
 *   wfb_apply mem      N                      heap and RSS of N containers/forwards (no kernel)
 *
 * Every timing line reads: what, n, median, min, max, p90 in milliseconds (nearest rank), and
 * the run count. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter/nf_conntrack_common.h>

#include <wgfwd/conntrack.h>
#include <wgfwd-agent/container.h>
#include <wgfwd/ctl.h>
#include <wgfwd-agent/apply.h>
#include <wgfwd-gateway/apply.h>
#include <wgfwd-gateway/policy.h>
#include <wgfwd-gateway/render.h>
#include <wgfwd-gateway/store.h>
#include <wgfwd/log.h>
#include <wgfwd/nft.h>
#include <wgfwd/nft_diff.h>
#include <wgfwd-agent/render.h>
#include <wgfwd-agent/state.h>
#include <wgfwd/util.h>

#define FIRST_PORT 10000
#define EXTRA_PORT 9999 /* the forward a change adds: not among the N */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least P% of the values at or below it. */
static double rank(const double *sorted, size_t count, unsigned pct)
{
	size_t r = (count * pct + 99) / 100;

	return sorted[r ? r - 1 : 0];
}

static void report(const char *what, size_t n, double *v, size_t count)
{
	if (!count)
		return;
	qsort(v, count, sizeof(*v), cmp_double);
	printf("%-34s n=%-6zu median %9.3f ms  min %9.3f  max %9.3f  p90 %9.3f  (%zu runs)\n", what,
	       n, rank(v, count, 50), v[0], v[count - 1], rank(v, count, 90), count);
	fflush(stdout);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "wfb_apply: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the server side: wf_desired -> wf_server_render -> wf_dataplane_apply ---- */

static struct in_addr container_addr(size_t i)
{
	struct in_addr a = {htonl(0xac100002u + (uint32_t)i)}; /* 172.16.0.2 and up */

	return a;
}

static void forward_fill(struct wf_forward *f, size_t i, uint16_t port)
{
	memset(f, 0, sizeof(*f));
	f->proto = IPPROTO_TCP;
	f->public_port = port;
	f->target_port = 80;
	f->has_ip4 = true;
	f->ip4 = container_addr(i);
	WF_COPY(f->bridge, "docker0");
	snprintf(f->container_id, sizeof(f->container_id), "%064zx", i + 1);
	snprintf(f->container_name, sizeof(f->container_name), "svc%zu", i);
}

/* N forwards, plus the extra one when `extra`; sorted by port as wf_desired_build leaves them. */
static void desired_fill(struct wf_desired *d, struct wf_forward *buf, size_t n, bool extra)
{
	size_t k = 0;

	if (extra)
		forward_fill(&buf[k++], n, EXTRA_PORT);
	for (size_t i = 0; i < n; i++)
		forward_fill(&buf[k++], i, (uint16_t)(FIRST_PORT + i));
	memset(d, 0, sizeof(*d));
	d->forwards = buf;
	d->n_forwards = k;
}

static void server_params(struct wf_server_params *p)
{
	wf_server_params_default(p);
	WF_COPY(p->tunnel_ifname, "wg0");
	p->has_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.160.2", &p->tunnel_ip4);
	p->n_gateway_ip4 = 1;
	inet_pton(AF_INET, "192.0.2.1", &p->gateway_ip4[0]);
}

static int server_apply(struct wf_dataplane *dp, const struct wf_server_params *p,
                        const struct wf_desired *d, double *render_ms, double *apply_ms)
{
	struct wf_server_plan plan;
	struct wf_apply_result res;
	double t0 = now_ms(), t1;
	int err = wf_server_render(p, d, &plan);

	if (err)
		return err;
	t1 = now_ms();
	err = wf_dataplane_apply(dp, &plan, &res);
	if (apply_ms)
		*apply_ms = now_ms() - t1;
	if (render_ms)
		*render_ms = t1 - t0;
	if (err)
		fprintf(stderr, "wfb_apply: apply: %s: %s\n", res.nft_error.what,
		        res.nft_error.detail);
	wf_server_plan_free(&plan);
	return err;
}

/* ---- the gateway side: wf_gw_state -> wf_gw_render -> wf_gw_apply ---- */

struct gw {
	struct wf_gw_params params;
	struct wf_gw_config cfg;
	struct wf_gw_peer *peers;
	struct wf_gw_state state;
	struct wf_gw_apply_cache cache;
};

static void gw_init(struct gw *g, size_t n_peers)
{
	memset(g, 0, sizeof(*g));
	WF_COPY(g->params.tunnel_ifname, "wg0");
	WF_COPY(g->params.public_ifname, "eth0");
	inet_pton(AF_INET, "192.0.2.1", &g->params.public_ip4[0]);
	g->params.n_public_ip4 = 1;
	g->params.control_port = WF_GW_DEFAULT_CONTROL_PORT;
	g->peers = calloc(n_peers, sizeof(*g->peers));
	if (!g->peers)
		die("peers", -ENOMEM);
	for (size_t i = 0; i < n_peers; i++) {
		g->peers[i].has_ip4 = true;
		g->peers[i].ip4.s_addr =
		    htonl(0xc0a8a002u + (uint32_t)i); /* 192.168.160.2 and up */
		inet_ntop(AF_INET, &g->peers[i].ip4, g->peers[i].name, sizeof(g->peers[i].name));
	}
	g->cfg.peers = g->peers;
	g->cfg.n_peers = n_peers;
	g->cfg.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	if (wf_gw_state_init(&g->state, n_peers))
		die("state", -ENOMEM);
}

/* N forwards spread evenly over the peers, plus the extra one on the first peer. */
static void gw_fill(struct gw *g, size_t n, bool extra)
{
	size_t per = (n + g->cfg.n_peers - 1) / g->cfg.n_peers;

	for (size_t p = 0; p < g->cfg.n_peers; p++)
		g->state.peers[p].n_forwards = 0;
	if (extra) {
		struct wf_ctl_forward f = {IPPROTO_TCP, AF_INET, EXTRA_PORT, EXTRA_PORT};

		if (wf_gw_entries_add_forward(&g->state.peers[0], &f))
			die("forward", -ENOMEM);
	}
	for (size_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(FIRST_PORT + i);
		struct wf_ctl_forward f = {IPPROTO_TCP, AF_INET, port, port};

		if (wf_gw_entries_add_forward(&g->state.peers[i / per], &f))
			die("forward", -ENOMEM);
	}
}

static void gw_free(struct gw *g)
{
	wf_gw_state_free(&g->state);
	wf_gw_apply_cache_free(&g->cache);
	free(g->peers);
}

static int gw_apply(struct wf_nft *nft, struct gw *g, double *render_ms, double *apply_ms)
{
	struct wf_gw_apply_result res;
	struct wf_nft_table *t;
	double t0 = now_ms(), t1;
	int err = wf_gw_render(&g->params, &g->cfg, &g->state, &t);

	if (err)
		return err;
	t1 = now_ms();
	err = wf_gw_apply(nft, &g->cache, t, &res);
	if (apply_ms)
		*apply_ms = now_ms() - t1;
	if (render_ms)
		*render_ms = t1 - t0;
	if (err)
		fprintf(stderr, "wfb_apply: gateway apply: %s: %s\n", res.error.what,
		        res.error.detail);
	wf_nft_table_free(t);
	return err;
}

static int gw_remove(struct wf_nft *nft)
{
	struct wf_nft_batch *b = wf_nft_batch_new();
	struct wf_nft_error e;
	int err;

	if (!b)
		return -ENOMEM;
	err = wf_nft_batch_delete_table(b, NFPROTO_INET, WF_GW_TABLE);
	if (!err)
		err = wf_nft_batch_delete_table(b, NFPROTO_INET, WF_GW_ANCHOR_TABLE);
	if (!err)
		err = wf_nft_commit(nft, b, &e);
	wf_nft_batch_free(b);
	return err;
}

/* ---- modes ---- */

struct side {
	bool gateway;
	struct wf_dataplane *dp;
	struct wf_nft *nft;
	struct wf_server_params sp;
	struct wf_forward *buf;
	struct gw gw;
};

static void side_open(struct side *s, const char *name, size_t n)
{
	int err;

	memset(s, 0, sizeof(*s));
	if (!strcmp(name, "gateway"))
		s->gateway = true;
	else if (strcmp(name, "server"))
		die("side must be server or gateway", EINVAL);
	err = wf_nft_open(&s->nft);
	if (err)
		die("nft", err);
	if (s->gateway) {
		gw_init(&s->gw, 1);
	} else {
		err = wf_dataplane_open(&s->dp);
		if (err)
			die("dataplane", err);
		server_params(&s->sp);
		s->buf = calloc(n + 1, sizeof(*s->buf));
		if (!s->buf)
			die("forwards", -ENOMEM);
	}
}

static void side_close(struct side *s)
{
	if (s->gateway) {
		gw_remove(s->nft);
		gw_free(&s->gw);
	} else {
		wf_dataplane_cleanup(s->dp, &s->sp);
		wf_dataplane_close(s->dp);
	}
	wf_nft_close(s->nft);
	free(s->buf);
}

static int side_apply(struct side *s, size_t n, bool extra, double *render_ms, double *apply_ms)
{
	struct wf_desired d;

	if (s->gateway) {
		gw_fill(&s->gw, n, extra);
		return gw_apply(s->nft, &s->gw, render_ms, apply_ms);
	}
	desired_fill(&d, s->buf, n, extra);
	return server_apply(s->dp, &s->sp, &d, render_ms, apply_ms);
}

static int side_clear(struct side *s)
{
	return s->gateway ? gw_remove(s->nft) : wf_dataplane_cleanup(s->dp, &s->sp);
}

static const char *side_table(const struct side *s)
{
	return s->gateway ? WF_GW_TABLE : WF_SERVER_TABLE;
}

static void mode_cold(const char *side_name, size_t n, size_t reps)
{
	double *render = calloc(reps, sizeof(double)), *apply = calloc(reps, sizeof(double));
	double *total = calloc(reps, sizeof(double));
	char what[64];
	struct side s;

	side_open(&s, side_name, n);
	for (size_t r = 0; r < reps; r++) {
		int err = side_clear(&s);

		if (err)
			die("cleanup", err);
		pause_ms(50); /* the kernel frees the old table's memory out of line */
		err = side_apply(&s, n, false, &render[r], &apply[r]);
		if (err)
			die("apply", err);
		total[r] = render[r] + apply[r];
	}
	snprintf(what, sizeof(what), "cold %s render", side_name);
	report(what, n, render, reps);
	snprintf(what, sizeof(what), "cold %s apply", side_name);
	report(what, n, apply, reps);
	snprintf(what, sizeof(what), "cold %s render+apply", side_name);
	report(what, n, total, reps);
	side_close(&s);
	free(render);
	free(apply);
	free(total);
}

/* The one-element batch the element-update path sends, committed alone: the kernel's part. */
static double commit_one(struct side *s, bool add)
{
	struct wf_nft_set one = {
	    .name = WF_SERVER_MAP4,
	    .key = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE},
	    .n_key = 2,
	    .data = {WF_NFT_T_IPV4_ADDR, WF_NFT_T_INET_SERVICE},
	    .n_data = 2,
	};
	struct wf_nft_elem e = {0};
	struct wf_nft_batch *b = wf_nft_batch_new();
	struct wf_nft_error ne;
	double t0;
	int err;

	e.key[0] = (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = IPPROTO_TCP};
	e.key[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = EXTRA_PORT};
	e.data[0] = (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR, .ip4 = container_addr(0)};
	e.data[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = 80};
	if (!b || wf_nft_set_add_elem(&one, &e))
		die("batch", -ENOMEM);
	err = add ? wf_nft_batch_add_elems(b, NFPROTO_INET, side_table(s), &one)
	          : wf_nft_batch_delete_elems(b, NFPROTO_INET, side_table(s), &one);
	if (err)
		die("batch", err);
	t0 = now_ms();
	err = wf_nft_commit(s->nft, b, &ne);
	t0 = now_ms() - t0;
	if (err)
		die(ne.what, err);
	wf_nft_batch_free(b);
	wf_nft_set_clear_elems(&one);
	return t0;
}

/* One forward added and removed among N, through the daemons' own path: compared with the
 * table they committed last, held in memory while the ruleset generation shows that nobody
 * else committed since. Then the same after someone else's commit, which costs a read-back. */
static void mode_change(const char *side_name, size_t n, size_t reps)
{
	double *add = calloc(reps, sizeof(double)), *del = calloc(reps, sizeof(double));
	double *add_apply = calloc(reps, sizeof(double)), *render = calloc(reps, sizeof(double));
	double *readback = calloc(reps, sizeof(double)), *c_add = calloc(reps, sizeof(double));
	double *c_del = calloc(reps, sizeof(double)), *foreign = calloc(reps, sizeof(double));
	double first;
	char what[64];
	struct side s;
	int err;

	side_open(&s, side_name, n);
	err = side_clear(&s);
	if (!err)
		err = side_apply(&s, n, false, NULL, NULL);
	if (err)
		die("initial apply", err);
	/* The first change right after a large insert meets the kernel's deferred hash resize:
	 * measured on its own. */
	{
		double r, a;

		err = side_apply(&s, n, true, &r, &a);
		first = r + a;
		if (!err)
			err = side_apply(&s, n, false, NULL, NULL);
		if (err)
			die("first change", err);
	}
	pause_ms(300);
	for (size_t i = 0; i < reps; i++) {
		double r, a;

		err = side_apply(&s, n, true, &r, &a);
		if (err)
			die("add one", err);
		add[i] = r + a;
		add_apply[i] = a;
		render[i] = r;
		err = side_apply(&s, n, false, &r, &a);
		if (err)
			die("remove one", err);
		del[i] = r + a;
	}
	for (size_t i = 0; i < reps; i++) {
		struct wf_nft_table *t = NULL;
		double t0, r, a;

		c_add[i] = commit_one(&s, true);
		c_del[i] = commit_one(&s, false);
		err = side_apply(&s, n, true, &r, &a);
		if (err)
			die("add one after a foreign commit", err);
		foreign[i] = r + a;
		err = side_apply(&s, n, false, NULL, NULL);
		if (err)
			die("remove one", err);

		t0 = now_ms();
		err = wf_nft_table_get(s.nft, NFPROTO_INET, side_table(&s), &t);
		readback[i] = now_ms() - t0;
		wf_nft_table_free(t);
		if (err)
			die("read back", err);
	}
	snprintf(what, sizeof(what), "change %s first after insert", side_name);
	report(what, n, &first, 1);
	snprintf(what, sizeof(what), "change %s add one (total)", side_name);
	report(what, n, add, reps);
	snprintf(what, sizeof(what), "change %s remove one (total)", side_name);
	report(what, n, del, reps);
	snprintf(what, sizeof(what), "change %s   of which render", side_name);
	report(what, n, render, reps);
	snprintf(what, sizeof(what), "change %s   apply (add)", side_name);
	report(what, n, add_apply, reps);
	snprintf(what, sizeof(what), "change %s   kernel commit add", side_name);
	report(what, n, c_add, reps);
	snprintf(what, sizeof(what), "change %s   kernel commit del", side_name);
	report(what, n, c_del, reps);
	snprintf(what, sizeof(what), "change %s add after another's commit", side_name);
	report(what, n, foreign, reps);
	snprintf(what, sizeof(what), "change %s   read-back alone", side_name);
	report(what, n, readback, reps);
	side_close(&s);
	free(add);
	free(del);
	free(add_apply);
	free(render);
	free(readback);
	free(c_add);
	free(c_del);
	free(foreign);
}

/* Containers as the Docker client reports them: one bridge network, one port label each. */
struct fleet {
	struct wf_container *c;
	size_t n;
};

static void fleet_make(struct fleet *f, size_t n)
{
	f->c = calloc(n, sizeof(*f->c));
	f->n = n;
	if (!f->c)
		die("containers", -ENOMEM);
	for (size_t i = 0; i < n; i++) {
		struct wf_container *c = &f->c[i];
		char buf[80];

		snprintf(buf, sizeof(buf), "%064zx", i + 1);
		c->id = strdup(buf);
		snprintf(buf, sizeof(buf), "svc%zu", i);
		c->name = strdup(buf);
		c->created_ns = (int64_t)i;
		c->running = true;
		c->netmode = WF_NETMODE_BRIDGE;
		c->labels = calloc(1, sizeof(*c->labels));
		c->n_labels = 1;
		c->labels[0].key = strdup(WF_LABEL_PORTS);
		snprintf(buf, sizeof(buf), "%zu:80", FIRST_PORT + i);
		c->labels[0].value = strdup(buf);
		c->networks = calloc(1, sizeof(*c->networks));
		c->n_networks = 1;
		c->networks[0].name = strdup("bridge");
		c->networks[0].id = strdup("0123456789abcdef0123456789abcdef"
		                           "0123456789abcdef0123456789abcdef");
		WF_COPY(c->networks[0].bridge, "docker0");
		c->networks[0].has_ip4 = true;
		c->networks[0].ip4 = container_addr(i);
	}
}

static void fleet_free(struct fleet *f)
{
	for (size_t i = 0; i < f->n; i++)
		wf_container_clear(&f->c[i]);
	free(f->c);
}

/* What the agent's apply_now does for one event: the desired state brought up to date (one
 * container changed: in place, else built whole and diffed), render, apply. */
static int pipeline_once(struct wf_dataplane *dp, const struct wf_server_params *p,
                         const struct fleet *f, const char *changed, struct wf_desired *prev,
                         double ms[5])
{
	struct wf_desired d;
	struct wf_desired_diff diff;
	struct wf_server_plan plan;
	struct wf_apply_result res;
	double t0 = now_ms(), t1, t2, t3, t4;
	int err = changed ? wf_desired_update_with(prev, f->c, f->n, changed,
	                                           wf_service_lookup_builtin, NULL, &diff)
	                  : 1;

	if (err < 0)
		return err;
	t1 = now_ms();
	if (err == 1) {
		err = wf_desired_build_with(f->c, f->n, wf_service_lookup_builtin, NULL, &d);
		if (err)
			return err;
		t1 = now_ms();
		err = wf_desired_diff(prev, &d, &diff);
		if (err)
			return err;
		wf_desired_free(prev);
		*prev = d;
	}
	wf_desired_diff_free(&diff);
	t2 = now_ms();
	err = wf_server_render(p, prev, &plan);
	if (err)
		return err;
	t3 = now_ms();
	err = wf_dataplane_apply(dp, &plan, &res);
	t4 = now_ms();
	wf_server_plan_free(&plan);
	ms[0] = t1 - t0;
	ms[1] = t2 - t1;
	ms[2] = t3 - t2;
	ms[3] = t4 - t3;
	ms[4] = t4 - t0;
	return err;
}

static void mode_pipeline(size_t n, size_t reps)
{
	static const char *names[5] = {"pipeline desired build", "pipeline diff", "pipeline render",
	                               "pipeline apply", "pipeline total"};
	double *v[5];
	struct wf_server_params p;
	struct wf_dataplane *dp;
	struct wf_desired prev = {0};
	struct fleet f;
	double ms[5];
	int err;

	for (int k = 0; k < 5; k++)
		v[k] = calloc(2 * reps, sizeof(double));
	server_params(&p);
	err = wf_dataplane_open(&dp);
	if (err)
		die("dataplane", err);
	fleet_make(&f, n);
	wf_dataplane_cleanup(dp, &p);
	err = pipeline_once(dp, &p, &f, NULL, &prev, ms);
	if (err)
		die("initial apply", err);
	pause_ms(300);
	for (size_t i = 0; i < 2 * reps; i++) {
		/* stop one container, then start it again */
		f.c[n / 2].running = i % 2;
		err = pipeline_once(dp, &p, &f, f.c[n / 2].id, &prev, ms);
		if (err)
			die("apply", err);
		for (int k = 0; k < 5; k++)
			v[k][i] = ms[k];
	}
	for (int k = 0; k < 5; k++) {
		report(names[k], n, v[k], 2 * reps);
		free(v[k]);
	}
	wf_desired_free(&prev);
	wf_dataplane_cleanup(dp, &p);
	wf_dataplane_close(dp);
	fleet_free(&f);
}

/* Read-back alone, for profiling (perf record) the element dump and its parsing. */
static void mode_readback(const char *side_name, size_t n, size_t reps)
{
	double *v = calloc(reps, sizeof(double));
	char what[64];
	struct side s;
	int err;

	side_open(&s, side_name, n);
	err = side_clear(&s);
	if (!err)
		err = side_apply(&s, n, false, NULL, NULL);
	if (err)
		die("initial apply", err);
	pause_ms(300);
	for (size_t i = 0; i < reps; i++) {
		struct wf_nft_table *t = NULL;
		double t0 = now_ms();

		err = wf_nft_table_get(s.nft, NFPROTO_INET, side_table(&s), &t);
		v[i] = now_ms() - t0;
		wf_nft_table_free(t);
		if (err)
			die("read back", err);
	}
	snprintf(what, sizeof(what), "read-back %s", side_name);
	report(what, n, v, reps);
	side_close(&s);
	free(v);
}

/* What the conntrack cleanup after a change costs when the table holds K entries: K UDP flows
 * on loopback (the caller makes conntrack run in this namespace), then the agent's flush for
 * one changed forward, which finds nothing to delete and so measures the search. */
static int count_entry(const struct wf_ct_entry *e, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

/* The search as it was: one unfiltered dump per family the matches name. */
static int plain_family_dumps(struct wf_conntrack *ct, bool v6)
{
	size_t seen = 0;
	int err = wf_conntrack_dump(ct, AF_INET, NULL, count_entry, &seen);

	if (!err && v6)
		err = wf_conntrack_dump(ct, AF_INET6, NULL, count_entry, &seen);
	return err;
}

static void time_ctflush(const char *what, size_t k, size_t reps, struct wf_conntrack *ct,
                         const struct wf_ct_match *m, size_t n, int plain)
{
	double *v = calloc(reps, sizeof(double));

	if (!v)
		die("calloc", -ENOMEM);
	for (size_t r = 0; r < reps; r++) {
		size_t deleted = 0;
		double t0 = now_ms();
		int err = plain ? plain_family_dumps(ct, plain > 1)
		                : wf_conntrack_flush_forwards(ct, m, n, &deleted);

		v[r] = now_ms() - t0;
		if (err)
			die("flush", err);
	}
	report(what, k, v, reps);
	free(v);
}

/* A stopped container's forwards, as the agent searches for them: one IPv4 forward; one
 * dual-stack forward; ten dual-stack forwards of a burst. The first lines time the search as it
 * was before it became one filtered dump: an unfiltered dump per family. */
static void mode_ctflush(size_t k, size_t reps)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct wf_ct_match m[20];
	struct wf_conntrack *ct;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err;

	if (fd < 0)
		die("socket", -errno);
	for (size_t i = 0; i < 20; i++) {
		m[i] = (struct wf_ct_match){.family = i % 2 ? AF_INET6 : AF_INET,
		                            .l4proto = IPPROTO_TCP,
		                            .orig_dport = (uint16_t)(EXTRA_PORT - i / 2),
		                            .has_reply_src = true,
		                            .status_set = IPS_DST_NAT};
		if (i % 2)
			inet_pton(AF_INET6, "fd00:d0c::5", &m[i].reply_src.ip6);
		else
			m[i].reply_src.ip4 = container_addr(i / 2);
	}
	/* distinct destination address and port per flow: 127.0.0.0/8 all loops back */
	for (size_t i = 0; i < k; i++) {
		to.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i / 50000));
		to.sin_port = htons((uint16_t)(10000 + i % 50000));
		if (sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			die("sendto", -errno);
	}
	close(fd);
	err = wf_conntrack_open(&ct);
	if (err)
		die("conntrack", err);
	time_ctflush("ct as before: IPv4 dump", k, reps, ct, NULL, 0, 1);
	time_ctflush("ct as before: IPv4 + IPv6 dumps", k, reps, ct, NULL, 0, 2);
	/* as the gateway searches: filtered deletes where the kernel can */
	wf_conntrack_set_kernel_flush(ct, true);
	time_ctflush("conntrack flush, one forward", k, reps, ct, m, 1, 0);
	wf_conntrack_set_kernel_flush(ct, false);
	time_ctflush("ct flush, one forward, by a dump", k, reps, ct, m, 1, 0);
	wf_conntrack_set_kernel_flush(ct, true);
	time_ctflush("ct flush, one dual-stack forward", k, reps, ct, m, 2, 0);
	time_ctflush("ct flush, 10 dual-stack forwards", k, reps, ct, m, 20, 0);
	wf_conntrack_close(ct);
}

/* The control messages for N dual-stack TCP forwards (as the agent sends them: every IPv4
 * forward, then every IPv6 one), with the ack accepting all of them and with the ack refusing
 * every IPv6 one for one reason (a peer without an IPv6 tunnel address), against the frame
 * limit; and the time to encode and to decode the state. */
static void mode_ctlsize(size_t n)
{
	struct wf_ctl_msg m = {.type = WF_CTL_MSG_STATE}, a = {.type = WF_CTL_MSG_STATE_ACK}, out;
	char err[256] = "", aerr[256] = "", rerr[256] = "";
	size_t len = 0, alen = 0, rlen = 0;
	char *json = NULL, *ajson = NULL, *rjson = NULL;
	double t0, enc_ms = 0, dec_ms = 0;
	int ret, aret, rret;

	m.state.generation = 1;
	m.state.forwards = calloc(2 * n + 1, sizeof(*m.state.forwards));
	a.state_ack.generation = 1;
	a.state_ack.applied = true;
	a.state_ack.forwards = calloc(2 * n + 1, sizeof(*a.state_ack.forwards));
	if (!m.state.forwards || !a.state_ack.forwards)
		die("entries", -ENOMEM);
	for (size_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(FIRST_PORT + i);

		m.state.forwards[i] = (struct wf_ctl_forward){IPPROTO_TCP, AF_INET, port, port};
		m.state.forwards[n + i] =
		    (struct wf_ctl_forward){IPPROTO_TCP, AF_INET6, port, port};
		a.state_ack.forwards[i].accepted = true;
		a.state_ack.forwards[n + i].accepted = true;
	}
	m.state.n_forwards = a.state_ack.n_forwards = 2 * n;
	t0 = now_ms();
	ret = wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err));
	enc_ms = now_ms() - t0;
	if (ret == 0) {
		t0 = now_ms();
		if (wf_ctl_msg_decode(json, len, &out, err, sizeof(err)) < 0)
			die(err, -EBADMSG);
		dec_ms = now_ms() - t0;
		wf_ctl_msg_clear(&out);
	}
	aret = wf_ctl_msg_encode(&a, &ajson, &alen, aerr, sizeof(aerr));
	for (size_t i = 0; i < n; i++) {
		a.state_ack.forwards[n + i].accepted = false;
		snprintf(a.state_ack.forwards[n + i].reason, WF_CTL_REASON_MAX,
		         "peer 192.168.160.2 has no IPv6 tunnel address");
	}
	rret = wf_ctl_msg_encode(&a, &rjson, &rlen, rerr, sizeof(rerr));
	printf("%-34s n=%-6zu state %8zu bytes (%s)  ack %8zu bytes (%s)  ack refusing IPv6 %8zu "
	       "bytes (%s)  limit %d bytes\n",
	       "control message, dual-stack", n, len, ret ? strerror(-ret) : "ok", alen,
	       aret ? strerror(-aret) : "ok", rlen, rret ? strerror(-rret) : "ok", WF_CTL_MSG_MAX);
	if (ret == 0)
		printf("%-34s n=%-6zu state encode %7.2f ms  decode %7.2f ms\n",
		       "control message, dual-stack", n, enc_ms, dec_ms);
	fflush(stdout);
	free(json);
	free(ajson);
	free(rjson);
	wf_ctl_msg_clear(&m);
	wf_ctl_msg_clear(&a);
}

/* Leaves wgfwd's gateway ruleset in place with N forwards of PUBLIC:port (FIRST_PORT on) to
 * PEER:TARGET (0: the same port, as the agent asks), on interfaces eth0 (public) and wg0
 * (tunnel): the per-packet benchmark's gateway. */
static void mode_gwset(size_t n, const char *public, const char *peer, unsigned target)
{
	struct wf_nft *nft;
	struct gw g;
	int err;

	gw_init(&g, 1);
	if (inet_pton(AF_INET, public, &g.params.public_ip4[0]) != 1 ||
	    inet_pton(AF_INET, peer, &g.peers[0].ip4) != 1)
		die("address", EINVAL);
	for (size_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(FIRST_PORT + i);
		struct wf_ctl_forward f = {IPPROTO_TCP, AF_INET, port,
		                           target ? (uint16_t)target : port};

		if (wf_gw_entries_add_forward(&g.state.peers[0], &f))
			die("forward", -ENOMEM);
	}
	err = wf_nft_open(&nft);
	if (!err)
		err = gw_remove(nft);
	if (!err)
		err = gw_apply(nft, &g, NULL, NULL);
	if (err)
		die("gateway apply", err);
	wf_nft_close(nft);
	gw_free(&g);
}

/* PEERS peers holding PER forwards each, as a gateway serving many servers holds them: every
 * peer's entries saved the way the daemon saves them (wf_gw_store_save into DIR), then
 *   restart   load every peer's file, render and apply into an empty kernel: what a gateway
 *             does at start before it answers (the process start and its sockets aside);
 *   change    one forward of one peer added, then removed: render + apply of the whole state,
 *             as the daemon does for one peer's new state.
 * More than 65,535 forwards need both protocols: the first 50,000 are TCP, the rest UDP. */
static void big_fill_peer(struct gw *g, size_t p, size_t per)
{
	g->state.peers[p].n_forwards = 0;
	for (size_t j = 0; j < per; j++) {
		size_t k = p * per + j;
		uint16_t port = (uint16_t)(1024 + k % 50000); /* clear of 51820/51821 */
		struct wf_ctl_forward f = {.family = AF_INET,
		                           .proto = k < 50000 ? IPPROTO_TCP : IPPROTO_UDP,
		                           .public_port = port,
		                           .target_port = port};

		if (wf_gw_entries_add_forward(&g->state.peers[p], &f))
			die("forward", -ENOMEM);
	}
}

static void mode_gwbig(size_t peers, size_t per, size_t reps, const char *dir)
{
	double *load = calloc(reps, sizeof(double)), *cold = calloc(reps, sizeof(double));
	double *add = calloc(reps * 4, sizeof(double)), *del = calloc(reps * 4, sizeof(double));
	char what[64], err[256];
	struct wf_nft *nft;
	struct gw g;
	int e;

	if (!load || !cold || !add || !del)
		die("calloc", -ENOMEM);
	gw_init(&g, peers);
	for (size_t p = 0; p < peers; p++)
		big_fill_peer(&g, p, per);
	for (size_t p = 0; p < peers; p++) {
		e = wf_gw_store_save(dir, g.peers[p].name, &g.state.peers[p], err, sizeof(err));
		if (e) {
			fprintf(stderr, "wfb_apply: save: %s\n", err);
			exit(1);
		}
	}
	e = wf_nft_open(&nft);
	if (e)
		die("nft", e);
	for (size_t r = 0; r < reps; r++) {
		double t0 = now_ms(), t1;

		gw_remove(nft);
		wf_gw_apply_cache_free(&g.cache);
		memset(&g.cache, 0, sizeof(g.cache));
		for (size_t p = 0; p < peers; p++) {
			wf_gw_entries_free(&g.state.peers[p]);
			e = wf_gw_store_load(dir, g.peers[p].name, &g.state.peers[p], err,
			                     sizeof(err));
			if (e) {
				fprintf(stderr, "wfb_apply: load: %s\n", err);
				exit(1);
			}
		}
		t1 = now_ms();
		e = gw_apply(nft, &g, NULL, NULL);
		if (e)
			die("gateway apply", e);
		load[r] = t1 - t0;
		cold[r] = now_ms() - t0;
	}
	snprintf(what, sizeof(what), "gwbig %zux%zu restart: load", peers, per);
	report(what, peers * per, load, reps);
	snprintf(what, sizeof(what), "gwbig %zux%zu restart: all", peers, per);
	report(what, peers * per, cold, reps);
	for (size_t r = 0; r < reps * 4; r++) {
		/* none of the others */
		struct wf_ctl_forward f = {.family = AF_INET,
		                           .proto = IPPROTO_TCP,
		                           .public_port = 60000,
		                           .target_port = 60000};
		double t0 = now_ms();

		if (wf_gw_entries_add_forward(&g.state.peers[0], &f))
			die("forward", -ENOMEM);
		e = gw_apply(nft, &g, NULL, NULL);
		if (e)
			die("gateway apply", e);
		add[r] = now_ms() - t0;
		big_fill_peer(&g, 0, per);
		t0 = now_ms();
		e = gw_apply(nft, &g, NULL, NULL);
		if (e)
			die("gateway apply", e);
		del[r] = now_ms() - t0;
	}
	snprintf(what, sizeof(what), "gwbig %zux%zu change: add one", peers, per);
	report(what, peers * per, add, reps * 4);
	snprintf(what, sizeof(what), "gwbig %zux%zu change: remove one", peers, per);
	report(what, peers * per, del, reps * 4);
	/* The same change as the daemon applies a state_delta: the policy on the added forward
	 * alone, then the elements of what went and came, rendered alone and sent on the cached
	 * table. */
	for (size_t r = 0; r < reps * 4; r++) {
		struct wf_ctl_forward f = {.family = AF_INET,
		                           .proto = IPPROTO_TCP,
		                           .public_port = 60000,
		                           .target_port = 60000};
		struct wf_gw_entries added = {.forwards = &f, .n_forwards = 1}, nothing = {0}, mine;
		struct wf_gw_decision dec;
		struct wf_gw_state one, none;
		struct wf_gw_apply_result res;
		struct wf_nft_table *with, *without;
		double t0 = now_ms();

		if (wf_gw_policy_decide_delta(&g.cfg, &g.state, 0, &nothing, &added, &added, &mine,
		                              &dec))
			die("decide", -ENOMEM);
		wf_gw_entries_free(&mine);
		wf_gw_decision_free(&dec);
		if (wf_gw_state_init(&one, peers) || wf_gw_state_init(&none, peers) ||
		    wf_gw_entries_add_forward(&one.peers[0], &f))
			die("state", -ENOMEM);
		if (wf_gw_render(&g.params, &g.cfg, &one, &with) ||
		    wf_gw_render(&g.params, &g.cfg, &none, &without))
			die("render", -EINVAL);
		e = wf_gw_apply_elements(nft, &g.cache, with, without, &res);
		if (e)
			die("gateway elements", e);
		add[r] = now_ms() - t0;
		wf_nft_table_free(with);
		wf_nft_table_free(without);
		t0 = now_ms();
		if (wf_gw_render(&g.params, &g.cfg, &none, &with) ||
		    wf_gw_render(&g.params, &g.cfg, &one, &without))
			die("render", -EINVAL);
		e = wf_gw_apply_elements(nft, &g.cache, with, without, &res);
		if (e)
			die("gateway elements", e);
		del[r] = now_ms() - t0;
		wf_nft_table_free(with);
		wf_nft_table_free(without);
		wf_gw_state_free(&one);
		wf_gw_state_free(&none);
	}
	snprintf(what, sizeof(what), "gwbig %zux%zu delta: add one", peers, per);
	report(what, peers * per, add, reps * 4);
	snprintf(what, sizeof(what), "gwbig %zux%zu delta: remove one", peers, per);
	report(what, peers * per, del, reps * 4);
	gw_remove(nft);
	wf_nft_close(nft);
	gw_free(&g);
	free(load);
	free(cold);
	free(add);
	free(del);
}

static void mode_gwpeers(size_t peers, size_t n, size_t reps)
{
	double *v = calloc(reps, sizeof(double));
	char what[64];
	struct gw g;

	gw_init(&g, peers);
	gw_fill(&g, n, false);
	for (size_t r = 0; r < reps; r++) {
		struct wf_nft_table *t;
		double t0 = now_ms();
		int err = wf_gw_render(&g.params, &g.cfg, &g.state, &t);

		v[r] = now_ms() - t0;
		if (err)
			die("render", err);
		wf_nft_table_free(t);
	}
	snprintf(what, sizeof(what), "gateway render, %zu peers", peers);
	report(what, n, v, reps);
	gw_free(&g);
	free(v);
}

struct mem_sample {
	size_t heap; /* bytes handed out by malloc, from the heap and from mmap */
	long rss_kb;
};

static struct mem_sample mem_now(void)
{
	struct mallinfo2 mi = mallinfo2();
	struct mem_sample m = {mi.uordblks + mi.hblkhd, 0};
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			m.rss_kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return m;
}

static void mem_line(const char *what, size_t n, struct mem_sample before, struct mem_sample after)
{
	double bytes = (double)after.heap - (double)before.heap;

	printf("%-34s n=%-6zu heap %+10.0f kB (%6.0f bytes per forward)  process RSS %6ld kB\n",
	       what, n, bytes / 1024, n ? bytes / (double)n : 0.0, after.rss_kb);
}

static void mode_mem(size_t n)
{
	struct mem_sample m0, m1, m2, m3, m4;
	struct wf_server_params p;
	struct wf_server_plan plan;
	struct wf_desired d;
	struct wf_nft_table *t;
	struct fleet f;
	struct gw g;

	server_params(&p);
	m0 = mem_now();
	fleet_make(&f, n);
	m1 = mem_now();
	if (wf_desired_build_with(f.c, f.n, wf_service_lookup_builtin, NULL, &d))
		die("desired", -ENOMEM);
	m2 = mem_now();
	if (wf_server_render(&p, &d, &plan))
		die("render", -ENOMEM);
	m3 = mem_now();
	gw_init(&g, 1);
	gw_fill(&g, n, false);
	if (wf_gw_render(&g.params, &g.cfg, &g.state, &t))
		die("gateway render", -ENOMEM);
	m4 = mem_now();
	mem_line("mem containers (agent's mirror)", n, m0, m1);
	mem_line("mem desired state", n, m1, m2);
	mem_line("mem server plan (nft model)", n, m2, m3);
	mem_line("mem gateway state + table", n, m3, m4);
	mem_line("mem all of the above", n, m0, m4);
	wf_nft_table_free(t);
	gw_free(&g);
	wf_server_plan_free(&plan);
	wf_desired_free(&d);
	fleet_free(&f);
}

static size_t arg_size(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || !*s)
		die("not a number", EINVAL);
	return v;
}

int main(int argc, char **argv)
{
	wf_log_init("wfb_apply", WF_LOG_WARN, false);
	if (argc == 5 && !strcmp(argv[1], "cold"))
		mode_cold(argv[2], arg_size(argv[3]), arg_size(argv[4]));
	else if (argc == 5 && !strcmp(argv[1], "change"))
		mode_change(argv[2], arg_size(argv[3]), arg_size(argv[4]));
	else if (argc == 5 && !strcmp(argv[1], "readback"))
		mode_readback(argv[2], arg_size(argv[3]), arg_size(argv[4]));
	else if (argc == 4 && !strcmp(argv[1], "pipeline"))
		mode_pipeline(arg_size(argv[2]), arg_size(argv[3]));
	else if (argc == 6 && !strcmp(argv[1], "gwset"))
		mode_gwset(arg_size(argv[2]), argv[3], argv[4], (unsigned)arg_size(argv[5]));
	else if (argc == 4 && !strcmp(argv[1], "ctflush"))
		mode_ctflush(arg_size(argv[2]), arg_size(argv[3]));
	else if (argc == 3 && !strcmp(argv[1], "ctlsize"))
		mode_ctlsize(arg_size(argv[2]));
	else if (argc == 5 && !strcmp(argv[1], "gwpeers"))
		mode_gwpeers(arg_size(argv[2]), arg_size(argv[3]), arg_size(argv[4]));
	else if (argc == 6 && !strcmp(argv[1], "gwbig"))
		mode_gwbig(arg_size(argv[2]), arg_size(argv[3]), arg_size(argv[4]), argv[5]);
	else if (argc == 3 && !strcmp(argv[1], "mem"))
		mode_mem(arg_size(argv[2]));
	else {
		fprintf(stderr, "usage: wfb_apply cold|change|readback server|gateway N REPS\n"
		                "       wfb_apply pipeline N REPS\n"
		                "       wfb_apply gwset N PUBLIC PEER TARGET_PORT\n"
		                "       wfb_apply ctflush K REPS\n"
		                "       wfb_apply ctlsize N\n"
		                "       wfb_apply gwpeers PEERS N REPS\n"
		                "       wfb_apply gwbig PEERS PER REPS DIR\n"
		                "       wfb_apply mem N\n");
		return 2;
	}
	return 0;
}
