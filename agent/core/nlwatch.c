#include <wgfwd/nlwatch.h>

#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netconf.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <wgfwd/metrics.h>
#include <wgfwd/netlink.h>
#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_notify.h>
#include <wgfwd/util.h>

/* rtnetlink notifications come one to a datagram (a link's, the largest, a few kilobytes);
 * without a filter they are only counted. nftables ones are read whole: the kernel packs them
 * into datagrams of up to a couple of pages. */
#define ROUTE_RECV_SIZE 16384
#define NFT_RECV_SIZE   65536

/* One socket a bus: nftables changes, and policy rules, routes, links and addresses. */
static const unsigned nft_groups[] = {NFNLGRP_NFTABLES};
static const unsigned route_groups[] = {
    RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,   RTNLGRP_IPV4_ROUTE,  RTNLGRP_IPV6_ROUTE,
    RTNLGRP_LINK,      RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
};

enum { BUS_NFT, BUS_ROUTE };

static const struct {
	int bus;
	const unsigned *groups;
	size_t n_groups;
	size_t recv_size;
} buses[] = {
    [BUS_NFT] = {NETLINK_NETFILTER, nft_groups, WF_ARRAY_SIZE(nft_groups), NFT_RECV_SIZE},
    [BUS_ROUTE] = {NETLINK_ROUTE, route_groups, WF_ARRAY_SIZE(route_groups), ROUTE_RECV_SIZE},
};

#define N_BUSES WF_ARRAY_SIZE(buses)

/* Joined once a filter judges what comes: unfiltered, a new veth's would be one more wake-up. */
static const unsigned netconf_groups[] = {RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF};

struct watch {
	struct wf_nl nl;
	struct event *ev;
	struct wf_nlwatch *w;
};

struct wf_nlwatch {
	struct watch watches[N_BUSES];
	void (*changed)(void *ctx);
	void *ctx;
	struct wf_nft_ledger ledger;
	bool pending; /* a change read outside the loop (by the ledger's user), to be said in it */
	uint64_t lost;
	wf_nlwatch_filter_fn filter;
	void *filter_ctx;
	uint64_t rtnl_notes, rtnl_quiet;
};

struct note_attrs {
	struct wf_nlwatch_note *n;
	int bad;
};

static int note_attr(const struct nlattr *a, void *data)
{
	struct note_attrs *na = data;
	struct wf_nlwatch_note *n = na->n;
	uint16_t type = mnl_attr_get_type(a);
	size_t len = mnl_attr_get_payload_len(a);

	switch (n->kind) {
	case WF_NLWATCH_RULE:
		if (type == FRA_TABLE && len >= 4)
			n->table = mnl_attr_get_u32(a);
		else if (type == FRA_PROTOCOL && len >= 1)
			n->protocol = mnl_attr_get_u8(a);
		break;
	case WF_NLWATCH_ROUTE:
		if (type == RTA_TABLE && len >= 4)
			n->table = mnl_attr_get_u32(a);
		else if (type == RTA_OIF && len >= 4)
			n->ifindex = (int)mnl_attr_get_u32(a);
		break;
	case WF_NLWATCH_LINK:
		if (type == IFLA_IFNAME && len) {
			const char *name = mnl_attr_get_payload(a);
			size_t l = strnlen(name, len);

			if (l >= IF_NAMESIZE) {
				na->bad = 1;
				break;
			}
			memcpy(n->ifname, name, l);
			n->ifname[l] = '\0';
		} else if (type == IFLA_MASTER && len >= 4) {
			n->master = mnl_attr_get_u32(a) != 0;
		}
		break;
	case WF_NLWATCH_NETCONF:
		if (type == NETCONFA_IFINDEX && len >= 4)
			n->ifindex = (int)mnl_attr_get_u32(a);
		break;
	default:
		break;
	}
	return 0;
}

int wf_nlwatch_note_parse(const struct nlmsghdr *nlh, struct wf_nlwatch_note *out)
{
	struct note_attrs na = {out, 0};
	size_t hdr;

	memset(out, 0, sizeof(*out));
	switch (nlh->nlmsg_type) {
	case RTM_NEWRULE:
	case RTM_DELRULE:
		out->kind = WF_NLWATCH_RULE;
		hdr = sizeof(struct fib_rule_hdr);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		out->kind = WF_NLWATCH_ROUTE;
		hdr = sizeof(struct rtmsg);
		break;
	case RTM_NEWLINK:
	case RTM_DELLINK:
		out->kind = WF_NLWATCH_LINK;
		hdr = sizeof(struct ifinfomsg);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		out->kind = WF_NLWATCH_ADDR;
		hdr = sizeof(struct ifaddrmsg);
		break;
	case RTM_NEWNETCONF:
	case RTM_DELNETCONF:
		out->kind = WF_NLWATCH_NETCONF;
		hdr = sizeof(struct netconfmsg);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (nlh->nlmsg_len < NLMSG_LENGTH(hdr))
		return -EINVAL;
	out->removed = nlh->nlmsg_type == RTM_DELRULE || nlh->nlmsg_type == RTM_DELROUTE ||
	               nlh->nlmsg_type == RTM_DELLINK || nlh->nlmsg_type == RTM_DELADDR ||
	               nlh->nlmsg_type == RTM_DELNETCONF;
	/* Every header begins with its family byte. */
	out->family = *(const uint8_t *)mnl_nlmsg_get_payload(nlh);
	if (out->kind == WF_NLWATCH_RULE) {
		const struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);

		out->table = frh->table;
	} else if (out->kind == WF_NLWATCH_ROUTE) {
		const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);

		out->table = rtm->rtm_table;
		out->protocol = rtm->rtm_protocol;
	} else if (out->kind == WF_NLWATCH_LINK) {
		out->ifindex = ((const struct ifinfomsg *)mnl_nlmsg_get_payload(nlh))->ifi_index;
	} else if (out->kind == WF_NLWATCH_ADDR) {
		out->ifindex =
		    (int)((const struct ifaddrmsg *)mnl_nlmsg_get_payload(nlh))->ifa_index;
	}
	if (wf_nl_attrs_walk((const char *)mnl_nlmsg_get_payload(nlh) + MNL_ALIGN(hdr),
	                     (const char *)nlh + nlh->nlmsg_len, note_attr, &na) ||
	    na.bad)
		return -EINVAL;
	return 0;
}

/* Reads what the rtnetlink socket holds, each notification judged by the filter: true when
 * one may touch what the daemon owns. */
static bool read_rtnl(struct wf_nlwatch *w)
{
	struct wf_nl *nl = &w->watches[BUS_ROUTE].nl;
	bool said = false;

	for (;;) {
		ssize_t got = recv(wf_nl_fd(nl), nl->buf, nl->buf_size, MSG_DONTWAIT | MSG_TRUNC);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)nl->buf;
		struct wf_nlwatch_note note;
		int left;

		if (got < 0 && errno == EINTR)
			continue;
		if ((got < 0 && errno == ENOBUFS) || (got > 0 && (size_t)got > nl->buf_size)) {
			w->lost++;
			memset(&note, 0, sizeof(note));
			note.kind = WF_NLWATCH_LOST;
			said |= w->filter(w->filter_ctx, &note);
			continue;
		}
		if (got <= 0)
			return said;
		left = (int)got;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			int err = wf_nlwatch_note_parse(nlh, &note);

			if (err == -EOPNOTSUPP)
				continue;
			w->rtnl_notes++;
			if (err) {
				memset(&note, 0, sizeof(note));
				note.kind = WF_NLWATCH_LOST;
			} else if (note.ifindex > 0 && (note.kind == WF_NLWATCH_ADDR ||
			                                note.kind == WF_NLWATCH_NETCONF)) {
				if (!if_indextoname((unsigned)note.ifindex, note.ifname))
					note.ifname[0] = '\0';
			}
			if (w->filter(w->filter_ctx, &note))
				said = true;
			else
				w->rtnl_quiet++;
		}
	}
}

/* Reads what the nftables socket holds, without waiting, into the ledger: true when a watched
 * table may have changed (or, with none named, when anything came). */
static bool read_nft(struct wf_nlwatch *w)
{
	struct wf_nl *nl = &w->watches[BUS_NFT].nl;
	bool said = false;

	for (;;) {
		ssize_t got = recv(wf_nl_fd(nl), nl->buf, nl->buf_size, MSG_DONTWAIT | MSG_TRUNC);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)nl->buf;
		int left;

		if (got < 0 && errno == EINTR)
			continue;
		if ((got < 0 && errno == ENOBUFS) || (got > 0 && (size_t)got > nl->buf_size)) {
			wf_nft_ledger_lost(&w->ledger);
			w->lost++;
			said = true;
			continue;
		}
		if (got <= 0) {
			wf_nft_ledger_drained(&w->ledger);
			return said;
		}
		if (!w->ledger.n_tables)
			said = true;
		left = (int)got;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (wf_nft_ledger_feed(&w->ledger, nlh) == WF_NFT_NOTE_TOUCHED)
				said = true;
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct watch *wt = arg;
	struct wf_nlwatch *w = wt->w;
	bool said;

	if (wt == &w->watches[BUS_NFT]) {
		said = read_nft(w) || w->pending;
		w->pending = false;
	} else if (w->filter) {
		said = read_rtnl(w);
	} else {
		said = wf_nl_drain(&wt->nl);
	}
	if (said)
		w->changed(w->ctx);
}

/* Asked before a cache is trusted: what is queued is read first, so that a commit that just
 * returned is accounted for; a change found is said from the loop, not from inside the
 * caller's apply. */
static void read_queued(struct wf_nlwatch *w)
{
	if (read_nft(w)) {
		w->pending = true;
		event_active(w->watches[BUS_NFT].ev, EV_READ, 0);
	}
}

static bool followed_quiet(void *ctx, uint32_t from, uint32_t to, uint8_t family, const char *name)
{
	struct wf_nlwatch *w = ctx;

	read_queued(w);
	return wf_nft_ledger_quiet(&w->ledger, from, to, family, name);
}

static bool followed_latest(void *ctx, uint32_t *genid)
{
	struct wf_nlwatch *w = ctx;

	read_queued(w);
	return wf_nft_ledger_latest(&w->ledger, genid);
}

/* The kernel advances the generation before it sends a commit's notifications: asked once the
 * socket listens, the generation says from where on every commit is seen whole. Without an
 * answer, the first commit seen does that. */
static void sync_ledger(struct wf_nlwatch *w)
{
	struct wf_nft *nft;
	uint32_t genid;

	if (wf_nft_open(&nft))
		return;
	if (!wf_nft_genid(nft, &genid))
		wf_nft_ledger_start(&w->ledger, genid);
	wf_nft_close(nft);
}

int wf_nlwatch_new(struct wf_nlwatch **out, struct event_base *base, void (*changed)(void *ctx),
                   void *ctx)
{
	struct wf_nlwatch *w = calloc(1, sizeof(*w));
	int err = 0;

	if (!w)
		return -ENOMEM;
	w->changed = changed;
	w->ctx = ctx;
	wf_nft_ledger_init(&w->ledger);
	for (size_t i = 0; i < N_BUSES && !err; i++) {
		struct watch *wt = &w->watches[i];

		wt->w = w;
		err = wf_nl_open_groups(&wt->nl, buses[i].bus, buses[i].groups, buses[i].n_groups,
		                        buses[i].recv_size);
		if (!err)
			wt->ev = event_new(base, wf_nl_fd(&wt->nl), EV_READ | EV_PERSIST,
			                   on_readable, wt);
		if (!err && (!wt->ev || event_add(wt->ev, NULL)))
			err = -ENOMEM;
	}
	if (err) {
		wf_nlwatch_free(w);
		return err;
	}
	/* A daemon's own large commits (thousands of elements at start) notify in bulk: room for
	 * them spares a read-back after each. */
	wf_nl_reserve(&w->watches[BUS_NFT].nl, 0, 16u << 20);
	sync_ledger(w);
	wf_nft_follow(&(struct wf_nft_follower){
	    .quiet = followed_quiet, .latest = followed_latest, .ctx = w});
	*out = w;
	return 0;
}

int wf_nlwatch_watch_nft(struct wf_nlwatch *w, uint8_t family, const char *table)
{
	return wf_nft_ledger_watch(&w->ledger, family, table);
}

int wf_nlwatch_filter_rtnl(struct wf_nlwatch *w, wf_nlwatch_filter_fn fn, void *ctx)
{
	struct wf_nl *nl = &w->watches[BUS_ROUTE].nl;

	for (size_t i = 0; i < WF_ARRAY_SIZE(netconf_groups); i++)
		if (mnl_socket_setsockopt(nl->sock, NETLINK_ADD_MEMBERSHIP,
		                          (void *)&netconf_groups[i],
		                          sizeof(netconf_groups[i])) < 0)
			return -errno;
	w->filter = fn;
	w->filter_ctx = ctx;
	return 0;
}

/* A classic BPF program over one rtnetlink notification (the kernel sends them one to a
 * datagram), built forward only: jumps name a label, resolved once all is emitted. */
#define PROG_MAX 128
enum { L_KEEP, L_DROP, L_ROUTE, L_LINK, L_ADDR, L_NETCONF, L_NEXT0, L_MAX = L_NEXT0 + 4 };

struct prog {
	struct sock_filter ins[PROG_MAX];
	int jt[PROG_MAX], jf[PROG_MAX]; /* label, or -1: the next instruction */
	size_t n;
	int at[L_MAX];
	bool full;
};

static void emit(struct prog *p, uint16_t code, uint32_t k, int jt, int jf)
{
	if (p->n == PROG_MAX) {
		p->full = true;
		return;
	}
	p->ins[p->n] = (struct sock_filter){code, 0, 0, k};
	p->jt[p->n] = jt;
	p->jf[p->n] = jf;
	p->n++;
}

static void label(struct prog *p, int l)
{
	p->at[l] = (int)p->n;
}

static int resolve(struct prog *p)
{
	for (size_t i = 0; i < p->n; i++) {
		int t[2] = {p->jt[i], p->jf[i]};

		for (int k = 0; k < 2; k++) {
			int off = t[k] < 0 ? 0 : p->at[t[k]] - (int)i - 1;

			if (off < 0 || off > 255)
				return -E2BIG;
			if (p->ins[i].code == (BPF_JMP | BPF_JA)) {
				p->ins[i].k = (uint32_t)off;
				break;
			}
			if (k)
				p->ins[i].jf = (uint8_t)off;
			else
				p->ins[i].jt = (uint8_t)off;
		}
	}
	return p->full ? -E2BIG : 0;
}

/* Loads are in network order: a host-order field is compared with its htons/htonl. */
#define LD_B(off)       emit(p, BPF_LD | BPF_B | BPF_ABS, (off), -1, -1)
#define LD_H(off)       emit(p, BPF_LD | BPF_H | BPF_ABS, (off), -1, -1)
#define LD_W(off)       emit(p, BPF_LD | BPF_W | BPF_ABS, (off), -1, -1)
#define JEQ(k, l)       emit(p, BPF_JMP | BPF_JEQ | BPF_K, (k), (l), -1)
#define JNE(k, l)       emit(p, BPF_JMP | BPF_JEQ | BPF_K, (k), -1, (l))
#define AND(k)          emit(p, BPF_ALU | BPF_AND | BPF_K, (k), -1, -1)
#define RET(l)          emit(p, BPF_JMP | BPF_JA, 0, (l), (l))
#define HDR             NLMSG_HDRLEN
#define FIRST_ATTR(hdr) (HDR + NLMSG_ALIGN(hdr))

static bool prefix_kept(const struct wf_nlwatch_scope *s, const struct wf_nlwatch_prefix *x)
{
	for (size_t i = 0; i < s->n_keep_names; i++)
		if (!strncmp(s->keep_names[i], x->bytes,
		             x->len < IF_NAMESIZE ? x->len : IF_NAMESIZE))
			return true;
	return false;
}

/* Drops the link when its name (the first attribute, as the kernel writes it) begins with x;
 * goes to `next' when it does not. */
static void skip_prefix(struct prog *p, const struct wf_nlwatch_prefix *x, int next)
{
	for (size_t w = 0; w * 4 < x->len; w++) {
		size_t n = x->len - w * 4 < 4 ? x->len - w * 4 : 4;
		uint32_t want = 0, mask = 0;

		for (size_t b = 0; b < 4; b++) {
			want = want << 8 | (b < n ? (uint8_t)x->bytes[w * 4 + b] : 0);
			mask = mask << 8 | (b < n ? 0xff : 0);
		}
		LD_W(FIRST_ATTR(sizeof(struct ifinfomsg)) + NLA_HDRLEN + w * 4);
		if (mask != 0xffffffff)
			AND(mask);
		JNE(want, next);
	}
	RET(L_DROP);
}

static int build_scope(const struct wf_nlwatch_scope *s, struct prog *p)
{
	static const uint16_t types[][2] = {
	    {RTM_NEWROUTE, L_ROUTE},     {RTM_DELROUTE, L_ROUTE},     {RTM_NEWLINK, L_LINK},
	    {RTM_DELLINK, L_LINK},       {RTM_NEWADDR, L_ADDR},       {RTM_DELADDR, L_ADDR},
	    {RTM_NEWNETCONF, L_NETCONF}, {RTM_DELNETCONF, L_NETCONF},
	};
	const size_t ifname_at = FIRST_ATTR(sizeof(struct ifinfomsg));
	const size_t ifindex_at = FIRST_ATTR(sizeof(struct netconfmsg));

	memset(p, 0, sizeof(*p));
	LD_H(offsetof(struct nlmsghdr, nlmsg_type));
	for (size_t i = 0; i < WF_ARRAY_SIZE(types); i++)
		JEQ(htons(types[i][0]), types[i][1]);
	RET(L_KEEP);

	label(p, L_ROUTE);
	LD_B(HDR + offsetof(struct rtmsg, rtm_protocol));
	JEQ(s->protocol, L_KEEP);
	LD_B(HDR + offsetof(struct rtmsg, rtm_table));
	JEQ(RT_TABLE_COMPAT, L_KEEP);
	for (size_t i = 0; i < s->n_tables; i++)
		if (s->tables[i] < 256)
			JEQ(s->tables[i], L_KEEP);
	RET(L_DROP);

	label(p, L_LINK);
	LD_B(HDR + offsetof(struct ifinfomsg, ifi_family));
	JEQ(AF_BRIDGE, L_DROP);
	LD_H(ifname_at + offsetof(struct nlattr, nla_type));
	JNE(htons(IFLA_IFNAME), L_KEEP);
	for (size_t i = 0; i < s->n_skip_links && i < WF_ARRAY_SIZE(s->skip_links); i++) {
		const struct wf_nlwatch_prefix *x = &s->skip_links[i];

		if (x->len && x->len <= sizeof(x->bytes) && !prefix_kept(s, x))
			skip_prefix(p, x, L_NEXT0 + (int)i);
		label(p, L_NEXT0 + (int)i);
	}
	RET(L_KEEP);

	label(p, L_ADDR);
	LD_B(HDR + offsetof(struct ifaddrmsg, ifa_scope));
	JEQ(RT_SCOPE_LINK, L_DROP);
	JEQ(RT_SCOPE_HOST, L_DROP);
	LD_W(HDR + offsetof(struct ifaddrmsg, ifa_index));
	for (size_t i = 0; i < s->n_ifindex; i++)
		JEQ(htonl((uint32_t)s->ifindex[i]), L_KEEP);
	RET(L_DROP);

	label(p, L_NETCONF);
	LD_H(ifindex_at + offsetof(struct nlattr, nla_type));
	JNE(htons(NETCONFA_IFINDEX), L_KEEP);
	LD_W(ifindex_at + NLA_HDRLEN);
	JEQ(htonl((uint32_t)NETCONFA_IFINDEX_ALL), L_KEEP);
	JEQ(htonl((uint32_t)NETCONFA_IFINDEX_DEFAULT), L_KEEP);
	for (size_t i = 0; i < s->n_ifindex; i++)
		JEQ(htonl((uint32_t)s->ifindex[i]), L_KEEP);
	RET(L_DROP);

	label(p, L_KEEP);
	emit(p, BPF_RET | BPF_K, 0xffffffff, -1, -1);
	label(p, L_DROP);
	emit(p, BPF_RET | BPF_K, 0, -1, -1);
	return resolve(p);
}

int wf_nlwatch_scope_rtnl(struct wf_nlwatch *w, const struct wf_nlwatch_scope *scope)
{
	int fd = wf_nl_fd(&w->watches[BUS_ROUTE].nl);
	struct sock_fprog fprog;
	struct prog *p = malloc(sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	err = build_scope(scope, p);
	if (!err) {
		fprog.len = (unsigned short)p->n;
		fprog.filter = p->ins;
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)))
			err = -errno;
	}
	if (err)
		setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, NULL, 0);
	free(p);
	return err;
}

void wf_nlwatch_counts(const struct wf_nlwatch *w, struct wf_nlwatch_counts *out)
{
	out->nft_commits = w->ledger.commits;
	out->nft_quiet = w->ledger.quiet;
	out->lost = w->lost;
	out->rtnl_notes = w->rtnl_notes;
	out->rtnl_quiet = w->rtnl_quiet;
}

void wf_nlwatch_status_add(struct json_object *doc, const struct wf_nlwatch *w)
{
	struct wf_nlwatch_counts c = {0};
	struct wf_nft_reads r;
	json_object *reads = json_object_new_object(), *commits = json_object_new_object();

	wf_nft_reads_get(&r);
	if (w)
		wf_nlwatch_counts(w, &c);
	json_object_object_add(reads, "tables", json_object_new_int64((int64_t)r.tables));
	json_object_object_add(reads, "chains", json_object_new_int64((int64_t)r.chains));
	json_object_object_add(doc, "readbacks", reads);
	json_object_object_add(commits, "seen", json_object_new_int64((int64_t)c.nft_commits));
	json_object_object_add(commits, "passed", json_object_new_int64((int64_t)c.nft_quiet));
	json_object_object_add(commits, "notifications_lost",
	                       json_object_new_int64((int64_t)c.lost));
	json_object_object_add(doc, "nft_commits", commits);
}

int wf_nlwatch_metrics(struct wf_metrics *m, const char *prefix, const struct wf_nlwatch *w)
{
	struct wf_nlwatch_counts c = {0};
	struct wf_nft_reads r;
	char name[96];

	wf_nft_reads_get(&r);
	if (w)
		wf_nlwatch_counts(w, &c);
	snprintf(name, sizeof(name), "%s_nft_readbacks_total", prefix);
	wf_metrics_add(m, name, WF_METRIC_COUNTER,
	               "Reads of nftables state from the kernel (what was committed last was not "
	               "known to stand).",
	               WF_LABEL("what", "table"), (double)r.tables);
	wf_metrics_add(m, name, WF_METRIC_COUNTER, NULL, WF_LABEL("what", "chain"),
	               (double)r.chains);
	snprintf(name, sizeof(name), "%s_nft_commits_passed_total", prefix);
	return wf_metrics_counter(m, name,
	                          "nftables commits of other processes that touched none of the "
	                          "tables read, and so were no drift.",
	                          (double)c.nft_quiet);
}

int wf_nlwatch_nft_fd(const struct wf_nlwatch *w)
{
	return wf_nl_fd(&w->watches[BUS_NFT].nl);
}

void wf_nlwatch_free(struct wf_nlwatch *w)
{
	if (!w)
		return;
	wf_nft_unfollow(w);
	for (size_t i = 0; i < N_BUSES; i++) {
		if (w->watches[i].ev)
			event_free(w->watches[i].ev);
		wf_nl_close(&w->watches[i].nl);
	}
	free(w);
}
