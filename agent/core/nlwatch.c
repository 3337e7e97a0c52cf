#include <wgfwd/nlwatch.h>

#include <errno.h>
#include <event2/event.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>

#include <wgfwd/netlink.h>
#include <wgfwd/util.h>

/* Notifications are counted, never parsed: any buffer drains them. */
#define WATCH_RECV_SIZE 16384

/* One socket a bus: nftables changes, and policy rules, routes, links and addresses. */
static const unsigned nft_groups[] = {NFNLGRP_NFTABLES};
static const unsigned route_groups[] = {
    RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,   RTNLGRP_IPV4_ROUTE,  RTNLGRP_IPV6_ROUTE,
    RTNLGRP_LINK,      RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
};

static const struct {
	int bus;
	const unsigned *groups;
	size_t n_groups;
} buses[] = {
    {NETLINK_NETFILTER, nft_groups, WF_ARRAY_SIZE(nft_groups)},
    {NETLINK_ROUTE, route_groups, WF_ARRAY_SIZE(route_groups)},
};

#define N_BUSES WF_ARRAY_SIZE(buses)

struct watch {
	struct wf_nl nl;
	struct event *ev;
	struct wf_nlwatch *w;
};

struct wf_nlwatch {
	struct watch watches[N_BUSES];
	void (*changed)(void *ctx);
	void *ctx;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct watch *wt = arg;

	if (wf_nl_drain(&wt->nl))
		wt->w->changed(wt->w->ctx);
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
	for (size_t i = 0; i < N_BUSES && !err; i++) {
		struct watch *wt = &w->watches[i];

		wt->w = w;
		err = wf_nl_open_groups(&wt->nl, buses[i].bus, buses[i].groups, buses[i].n_groups,
		                        WATCH_RECV_SIZE);
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
	*out = w;
	return 0;
}

void wf_nlwatch_free(struct wf_nlwatch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < N_BUSES; i++) {
		if (w->watches[i].ev)
			event_free(w->watches[i].ev);
		wf_nl_close(&w->watches[i].nl);
	}
	free(w);
}
