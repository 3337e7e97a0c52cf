#include "state.h"
#include "state_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/labels.h>
#include <wgfwd/util.h>

#define NETMODE_HOPS_MAX 8
#define QUOTE_SIZE       48
#define NET_LIST_SIZE    160

struct fwd_candidate {
	struct wf_forward f;
	const struct wf_container *owner;
};

struct egress_candidate {
	struct wf_egress e;
	const struct wf_container *owner;
};

struct port_loss {
	const struct wf_container *loser, *winner;
	uint8_t proto;
	uint16_t port;
};

struct builder {
	const struct wf_container *containers;
	size_t n_containers;
	wf_service_resolver resolve;
	void *resolve_ctx;
	struct fwd_candidate *fwd;
	size_t n_fwd, cap_fwd;
	struct egress_candidate *egress;
	size_t n_egress, cap_egress;
	struct wf_problem *problems;
	size_t n_problems, cap_problems;
	int err; /* first -ENOMEM; everything after it is skipped */
};

/* Where a container's traffic lives: the server itself, or one address set on one network. */
struct target {
	bool to_host;
	const struct wf_network *net;
};

/* qsort, which must not be given a NULL array even when it is empty. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* Zero-fills the rest of dst, so that equal states are equal byte for byte. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t len = strnlen(str(src), size - 1);

	memset(dst, 0, size);
	memcpy(dst, str(src), len);
}

static void quote_str(char buf[QUOTE_SIZE], const char *s)
{
	wf_label_quote(buf, QUOTE_SIZE, str(s), strlen(str(s)));
}

static void add_problem(struct builder *b, const struct wf_container *c, const char *label,
                        bool waiting, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_problem(struct builder *b, const struct wf_container *c, const char *label,
                        bool waiting, const char *fmt, ...)
{
	struct wf_problem *p;
	va_list ap;

	if (b->err)
		return;
	if (WF_ARRAY_RESERVE(b->problems, b->n_problems, b->cap_problems, 1)) {
		b->err = -ENOMEM;
		return;
	}
	p = &b->problems[b->n_problems++];
	memset(p, 0, sizeof(*p));
	copy_str(p->container_id, sizeof(p->container_id), c->id);
	copy_str(p->container_name, sizeof(p->container_name), c->name);
	copy_str(p->label, sizeof(p->label), label);
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof(p->message), fmt, ap);
	va_end(ap);
	p->waiting = waiting;
}

struct label_ctx {
	struct builder *b;
	const struct wf_container *c;
	const char *label;
};

static void on_label_error(void *ctx, const char *message)
{
	struct label_ctx *lc = ctx;

	add_problem(lc->b, lc->c, lc->label, false, "%s", message);
}

/* ---- finding the target ---- */

/* By exact id, exact name, then unique id prefix. -ENOENT, or -EEXIST when a prefix is
 * ambiguous. */
static int find_container(const struct builder *b, const char *ref,
                          const struct wf_container **found)
{
	const struct wf_container *match = NULL;
	size_t len = strlen(ref);

	if (ref[0] == '/')
		ref++, len--;
	if (!len)
		return -ENOENT;
	for (size_t i = 0; i < b->n_containers; i++) {
		if (!strcmp(str(b->containers[i].id), ref)) {
			*found = &b->containers[i];
			return 0;
		}
	}
	for (size_t i = 0; i < b->n_containers; i++) {
		if (!strcmp(str(b->containers[i].name), ref)) {
			*found = &b->containers[i];
			return 0;
		}
	}
	for (size_t i = 0; i < b->n_containers; i++) {
		if (strncmp(str(b->containers[i].id), ref, len))
			continue;
		if (match)
			return -EEXIST;
		match = &b->containers[i];
	}
	if (!match)
		return -ENOENT;
	*found = match;
	return 0;
}

static bool net_has_address(const struct wf_network *net)
{
	return (net->has_ip4 && net->ip4.s_addr != INADDR_ANY) ||
	       (net->has_ip6 && !IN6_IS_ADDR_UNSPECIFIED(&net->ip6));
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "`a', `b'" in name order, so the message does not depend on the order Docker listed them. */
static void network_list(const struct wf_container *c, char buf[NET_LIST_SIZE])
{
	const char **names = calloc(c->n_networks, sizeof(*names));
	size_t len = 0;

	buf[0] = '\0';
	if (!names)
		return;
	for (size_t i = 0; i < c->n_networks; i++)
		names[i] = str(c->networks[i].name);
	sort(names, c->n_networks, sizeof(*names), cmp_str_ptr);
	for (size_t i = 0; i < c->n_networks; i++) {
		char q[QUOTE_SIZE], item[QUOTE_SIZE + 8];
		size_t n;

		quote_str(q, names[i]);
		n = (size_t)snprintf(item, sizeof(item), "%s`%s'", i ? ", " : "", q);
		/* keep room for ", ..." */
		if (len + n + sizeof(", ...") > NET_LIST_SIZE) {
			memcpy(buf + len, ", ...", sizeof(", ..."));
			break;
		}
		memcpy(buf + len, item, n + 1);
		len += n;
	}
	free(names);
}

static const struct wf_network *find_network(const struct wf_container *c, const char *want)
{
	for (size_t i = 0; i < c->n_networks; i++) {
		if (!strcmp(str(c->networks[i].name), want))
			return &c->networks[i];
	}
	for (size_t i = 0; i < c->n_networks; i++) {
		if (c->networks[i].id && !strcmp(c->networks[i].id, want))
			return &c->networks[i];
	}
	return NULL;
}

/* True with *t filled, or false once a problem has been reported. */
static bool resolve_target(struct builder *b, const struct wf_container *c, struct target *t)
{
	const struct wf_container *ns = c;
	const char *want = wf_container_label(c, WF_LABEL_NETWORK);
	const struct wf_network *net;
	char q[QUOTE_SIZE], nets[NET_LIST_SIZE];

	for (unsigned hops = 0; ns->netmode == WF_NETMODE_CONTAINER; hops++) {
		const struct wf_container *next = NULL;
		int r;

		quote_str(q, ns->netmode_target);
		if (hops == NETMODE_HOPS_MAX) {
			add_problem(b, c, "", false,
			            "network_mode container: more than %d containers deep at `%s' "
			            "(a loop?)",
			            NETMODE_HOPS_MAX, q);
			return false;
		}
		r = find_container(b, str(ns->netmode_target), &next);
		if (r == -EEXIST) {
			add_problem(b, c, "", false,
			            "network container `%s' matches several containers", q);
			return false;
		}
		if (r < 0) {
			add_problem(b, c, "", true, "network container `%s' not found", q);
			return false;
		}
		if (!next->running) {
			add_problem(b, c, "", true, "network container `%s' is not running", q);
			return false;
		}
		if (!want)
			want = wf_container_label(next, WF_LABEL_NETWORK);
		ns = next;
	}

	memset(t, 0, sizeof(*t));
	switch (ns->netmode) {
	case WF_NETMODE_HOST:
		t->to_host = true;
		return true;
	case WF_NETMODE_BRIDGE:
		break;
	default:
		quote_str(q, ns->name);
		if (ns == c)
			add_problem(b, c, "", false, "network mode none: nothing to forward to");
		else
			add_problem(b, c, "", false, "network container `%s' has network mode none",
			            q);
		return false;
	}

	if (!ns->n_networks) {
		add_problem(b, c, "", true, "not attached to any network yet");
		return false;
	}
	network_list(ns, nets);
	if (want) {
		net = find_network(ns, want);
		if (!net) {
			quote_str(q, want);
			add_problem(b, c, WF_LABEL_NETWORK, false,
			            "not on network `%s' (its networks: %s)", q, nets);
			return false;
		}
	} else if (ns->n_networks > 1) {
		add_problem(b, c, WF_LABEL_NETWORK, false,
		            "on several networks (%s); choose one with " WF_LABEL_NETWORK, nets);
		return false;
	} else {
		net = &ns->networks[0];
	}
	if (!net_has_address(net)) {
		quote_str(q, net->name);
		add_problem(b, c, "", true, "no address yet on network `%s'", q);
		return false;
	}
	t->net = net;
	return true;
}

static void fill_target(const struct target *t, bool *to_host, bool *has_ip4, bool *has_ip6,
                        struct in_addr *ip4, struct in6_addr *ip6, char bridge[IF_NAMESIZE])
{
	const struct wf_network *net = t->net;

	*to_host = t->to_host;
	if (!net)
		return;
	*has_ip4 = net->has_ip4 && net->ip4.s_addr != INADDR_ANY;
	*has_ip6 = net->has_ip6 && !IN6_IS_ADDR_UNSPECIFIED(&net->ip6);
	if (*has_ip4)
		*ip4 = net->ip4;
	if (*has_ip6)
		*ip6 = net->ip6;
	memcpy(bridge, net->bridge, strnlen(net->bridge, IF_NAMESIZE - 1));
}

/* ---- one container ---- */

static void add_forwards(struct builder *b, const struct wf_container *c, const struct target *t,
                         const char *gateways, const struct wf_port_entry *entries, size_t n)
{
	static const uint8_t bits[] = {WF_PROTO_TCP, WF_PROTO_UDP};
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	struct fwd_candidate model;
	size_t count = 0;

	/* Room for all at once: a range of thousands would otherwise be copied as it grows. */
	for (size_t i = 0; i < n; i++)
		count += (size_t)(entries[i].public_hi - entries[i].public_lo + 1) *
		         (!!(entries[i].protos & bits[0]) + !!(entries[i].protos & bits[1]));
	if (WF_ARRAY_RESERVE(b->fwd, b->n_fwd, b->cap_fwd, count)) {
		b->err = -ENOMEM;
		return;
	}
	if (!count)
		return;
	/* What all of the container's forwards share is filled once; each forward is a copy of
	 * it with its ports (a range of thousands would otherwise fill every field thousands of
	 * times). */
	memset(&model, 0, sizeof(model));
	model.owner = c;
	fill_target(t, &model.f.to_host, &model.f.has_ip4, &model.f.has_ip6, &model.f.ip4,
	            &model.f.ip6, model.f.bridge);
	memcpy(model.f.gateways, gateways, sizeof(model.f.gateways));
	copy_str(model.f.container_id, sizeof(model.f.container_id), c->id);
	copy_str(model.f.container_name, sizeof(model.f.container_name), c->name);
	for (size_t i = 0; i < n; i++) {
		const struct wf_port_entry *e = &entries[i];

		for (size_t k = 0; k < 2; k++) {
			if (!(e->protos & bits[k]))
				continue;
			for (unsigned p = e->public_lo; p <= e->public_hi; p++) {
				struct fwd_candidate *fc = &b->fwd[b->n_fwd++];

				memcpy(fc, &model, sizeof(*fc));
				fc->f.proto = protos[k];
				fc->f.public_port = (uint16_t)p;
				fc->f.target_port = (uint16_t)(e->target_lo + (p - e->public_lo));
			}
		}
	}
}

static void add_egress(struct builder *b, const struct wf_container *c, const struct target *t,
                       const char *gateways, const struct wf_egress_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct egress_candidate *ec;

		if (WF_ARRAY_RESERVE(b->egress, b->n_egress, b->cap_egress, 1)) {
			b->err = -ENOMEM;
			return;
		}
		ec = &b->egress[b->n_egress++];
		memset(ec, 0, sizeof(*ec));
		ec->owner = c;
		ec->e.proto = entries[i].proto;
		ec->e.port_lo = entries[i].port_lo;
		ec->e.port_hi = entries[i].port_hi;
		fill_target(t, &ec->e.to_host, &ec->e.has_ip4, &ec->e.has_ip6, &ec->e.ip4,
		            &ec->e.ip6, ec->e.bridge);
		memcpy(ec->e.gateways, gateways, sizeof(ec->e.gateways));
		copy_str(ec->e.container_id, sizeof(ec->e.container_id), c->id);
		copy_str(ec->e.container_name, sizeof(ec->e.container_name), c->name);
	}
}

/* A mistyped key (wgfwd.port) would otherwise do nothing, silently. */
static void report_unknown_labels(struct builder *b, const struct wf_container *c)
{
	static const char *const known[] = {WF_LABEL_PORTS, WF_LABEL_EGRESS, WF_LABEL_NETWORK,
	                                    WF_LABEL_ENABLE, WF_LABEL_GATEWAYS};

	for (size_t i = 0; i < c->n_labels; i++) {
		const char *key = c->labels[i].key;
		bool ok = strncmp(key, "wgfwd.", 6) != 0;

		for (size_t k = 0; !ok && k < sizeof(known) / sizeof(known[0]); k++)
			ok = !strcmp(key, known[k]);
		if (!ok)
			add_problem(b, c, key, false,
			            "unknown label (known: " WF_LABEL_PORTS ", " WF_LABEL_EGRESS
			            ", " WF_LABEL_NETWORK ", " WF_LABEL_ENABLE
			            ", " WF_LABEL_GATEWAYS ")");
	}
}

static void build_container(struct builder *b, const struct wf_container *c)
{
	const char *ports = wf_container_label(c, WF_LABEL_PORTS);
	const char *egress = wf_container_label(c, WF_LABEL_EGRESS);
	const char *enable = wf_container_label(c, WF_LABEL_ENABLE);
	const char *gw_label = wf_container_label(c, WF_LABEL_GATEWAYS);
	char gateways[WF_GATEWAY_LIST_MAX] = "";
	struct label_ctx ports_ctx = {b, c, WF_LABEL_PORTS};
	struct label_ctx egress_ctx = {b, c, WF_LABEL_EGRESS};
	struct wf_port_entry *pe = NULL;
	struct wf_egress_entry *ee = NULL;
	size_t n_pe = 0, n_ee = 0;
	char err[WF_LABEL_ERROR_MAX];
	struct target t;
	bool on = true;

	if (!c->running)
		return;
	report_unknown_labels(b, c);
	if (!ports && !egress)
		return;
	if (enable && wf_parse_bool(enable, &on, err, sizeof(err)) < 0) {
		add_problem(b, c, WF_LABEL_ENABLE, false, "%s", err);
		return;
	}
	if (!on)
		return;
	if (gw_label && wf_gateways_parse(gw_label, gateways, err, sizeof(err))) {
		add_problem(b, c, WF_LABEL_GATEWAYS, false, "%s", err);
		return;
	}
	if (ports && wf_parse_ports(ports, &pe, &n_pe, on_label_error, &ports_ctx) < 0)
		b->err = -ENOMEM;
	if (egress && !b->err &&
	    wf_parse_egress(egress, b->resolve, b->resolve_ctx, &ee, &n_ee, on_label_error,
	                    &egress_ctx) < 0)
		b->err = -ENOMEM;
	if (!b->err && (n_pe || n_ee) && resolve_target(b, c, &t)) {
		add_forwards(b, c, &t, gateways, pe, n_pe);
		add_egress(b, c, &t, gateways, ee, n_ee);
	}
	free(pe);
	free(ee);
}

/* ---- ordering ---- */
/* Older first; the id breaks ties so that the outcome never depends on the input order. */
static int seniority_cmp(const struct wf_container *a, const struct wf_container *b)
{
	int r;

	if ((r = cmp_num(a->created_ns, b->created_ns)))
		return r;
	return strcmp(str(a->id), str(b->id));
}

static int fwd_candidate_qcmp(const void *pa, const void *pb)
{
	const struct fwd_candidate *a = pa, *b = pb;
	int r;

	if ((r = cmp_num(a->f.proto, b->f.proto)) ||
	    (r = cmp_num(a->f.public_port, b->f.public_port)) ||
	    (r = seniority_cmp(a->owner, b->owner)))
		return r;
	return wf_forward_full_cmp(&a->f, &b->f);
}

static int egress_candidate_qcmp(const void *pa, const void *pb)
{
	const struct egress_candidate *a = pa, *b = pb;
	int r;

	if ((r = wf_egress_plane_cmp(&a->e, &b->e)) || (r = seniority_cmp(a->owner, b->owner)))
		return r;
	return wf_egress_full_cmp(&a->e, &b->e);
}

static int port_loss_qcmp(const void *pa, const void *pb)
{
	const struct port_loss *a = pa, *b = pb;
	int r;

	if ((r = seniority_cmp(a->loser, b->loser)) || (r = seniority_cmp(a->winner, b->winner)) ||
	    (r = cmp_num(a->proto, b->proto)))
		return r;
	return cmp_num(a->port, b->port);
}

static int egress_full_qcmp(const void *a, const void *b)
{
	return wf_egress_full_cmp(a, b);
}

static int problem_qcmp(const void *a, const void *b)
{
	return wf_problem_cmp(a, b);
}
/* ---- assembling the state ---- */

static void report_losses(struct builder *b, struct port_loss *losses, size_t n)
{
	sort(losses, n, sizeof(*losses), port_loss_qcmp);
	for (size_t i = 0; i < n;) {
		const struct port_loss *first = &losses[i];
		char q[QUOTE_SIZE], ports[24];
		size_t j = i + 1;

		while (j < n && losses[j].loser == first->loser &&
		       losses[j].winner == first->winner && losses[j].proto == first->proto &&
		       losses[j].port == losses[j - 1].port + 1)
			j++;
		quote_str(q, first->winner->name);
		if (j - i == 1)
			snprintf(ports, sizeof(ports), "port %u", first->port);
		else
			snprintf(ports, sizeof(ports), "ports %u-%u", first->port,
			         losses[j - 1].port);
		add_problem(b, first->loser, WF_LABEL_PORTS, false,
		            "public %s/%s %s taken by container `%s', which %s", ports,
		            wf_proto_name(first->proto), j - i == 1 ? "is" : "are", q,
		            first->winner->created_ns == first->loser->created_ns
		                ? "has the same creation time and a lower id"
		                : "is older");
		if (!b->err)
			b->problems[b->n_problems - 1].contested = true;
		i = j;
	}
}

/* One winner per (proto, public port): the first of each run, candidates being sorted. */
static int settle_forwards(struct builder *b, struct wf_desired *out)
{
	struct port_loss *losses = NULL;
	size_t n_losses = 0, cap_losses = 0;

	/* One container's ranges, or containers listed by port, come in order already. */
	for (size_t i = 1; i < b->n_fwd; i++) {
		if (fwd_candidate_qcmp(&b->fwd[i - 1], &b->fwd[i]) > 0) {
			sort(b->fwd, b->n_fwd, sizeof(*b->fwd), fwd_candidate_qcmp);
			break;
		}
	}
	/* The winners are written over the candidates, behind the one being read: a state of
	 * thousands of forwards then touches no fresh memory. */
	for (size_t i = 0; i < b->n_fwd;) {
		const struct wf_container *winner = b->fwd[i].owner;
		uint8_t proto = b->fwd[i].f.proto;
		uint16_t port = b->fwd[i].f.public_port;
		size_t j = i + 1;

		/* memmove: the first winners land on themselves */
		memmove((struct wf_forward *)(void *)b->fwd + out->n_forwards++, &b->fwd[i].f,
		        sizeof(b->fwd[i].f));
		for (;
		     j < b->n_fwd && b->fwd[j].f.proto == proto && b->fwd[j].f.public_port == port;
		     j++) {
			if (WF_ARRAY_RESERVE(losses, n_losses, cap_losses, 1)) {
				free(losses);
				return -ENOMEM;
			}
			losses[n_losses++] =
			    (struct port_loss){b->fwd[j].owner, winner, proto, port};
		}
		i = j;
	}
	if (out->n_forwards) {
		struct wf_forward *shrunk =
		    realloc(b->fwd, out->n_forwards * sizeof(*out->forwards));

		out->forwards = shrunk ? shrunk : (struct wf_forward *)(void *)b->fwd;
		b->fwd = NULL;
		b->n_fwd = b->cap_fwd = 0;
	}
	report_losses(b, losses, n_losses);
	free(losses);
	return b->err;
}

static int settle_egress(struct builder *b, struct wf_desired *out)
{
	sort(b->egress, b->n_egress, sizeof(*b->egress), egress_candidate_qcmp);
	if (b->n_egress) {
		out->egress = calloc(b->n_egress, sizeof(*out->egress));
		if (!out->egress)
			return -ENOMEM;
	}
	for (size_t i = 0; i < b->n_egress; i++) {
		if (out->n_egress &&
		    !wf_egress_plane_cmp(&out->egress[out->n_egress - 1], &b->egress[i].e))
			continue;
		memcpy(&out->egress[out->n_egress++], &b->egress[i].e, sizeof(b->egress[i].e));
	}
	sort(out->egress, out->n_egress, sizeof(*out->egress), egress_full_qcmp);
	return 0;
}

int wf_desired_build_with(const struct wf_container *containers, size_t n,
                          wf_service_resolver resolve, void *resolve_ctx, struct wf_desired *out)
{
	struct builder b = {
	    .containers = containers,
	    .n_containers = n,
	    .resolve = resolve ? resolve : wf_service_lookup_system,
	    .resolve_ctx = resolve_ctx,
	};
	int r;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n && !b.err; i++)
		build_container(&b, &containers[i]);
	r = b.err;
	if (!r)
		r = settle_forwards(&b, out);
	if (!r)
		r = settle_egress(&b, out);
	free(b.fwd);
	free(b.egress);
	if (r < 0) {
		free(b.problems);
		wf_desired_free(out);
		return r;
	}
	sort(b.problems, b.n_problems, sizeof(*b.problems), problem_qcmp);
	out->problems = b.problems;
	out->n_problems = b.n_problems;
	return 0;
}

int wf_desired_build(const struct wf_container *containers, size_t n, struct wf_desired *out)
{
	return wf_desired_build_with(containers, n, NULL, NULL, out);
}

void wf_desired_free(struct wf_desired *d)
{
	if (!d)
		return;
	free(d->forwards_mem ? d->forwards_mem : d->forwards);
	free(d->egress);
	free(d->problems);
	memset(d, 0, sizeof(*d));
}
