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

struct wf_nlwatch {
	struct wf_nl nft, route;
	struct event *nft_ev, *route_ev;
	void (*changed)(void *ctx);
	void *ctx;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct wf_nlwatch *w = arg;

	if (wf_nl_drain(fd == wf_nl_fd(&w->nft) ? &w->nft : &w->route))
		w->changed(w->ctx);
}

int wf_nlwatch_new(struct wf_nlwatch **out, struct event_base *base, void (*changed)(void *ctx),
                   void *ctx)
{
	static const unsigned nft_groups[] = {NFNLGRP_NFTABLES};
	static const unsigned route_groups[] = {
	    RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,   RTNLGRP_IPV4_ROUTE,  RTNLGRP_IPV6_ROUTE,
	    RTNLGRP_LINK,      RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
	};
	struct wf_nlwatch *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->changed = changed;
	w->ctx = ctx;
	err = wf_nl_open_groups(&w->nft, NETLINK_NETFILTER, nft_groups, WF_ARRAY_SIZE(nft_groups),
	                        WATCH_RECV_SIZE);
	if (!err)
		err = wf_nl_open_groups(&w->route, NETLINK_ROUTE, route_groups,
		                        WF_ARRAY_SIZE(route_groups), WATCH_RECV_SIZE);
	if (err)
		goto fail;
	w->nft_ev = event_new(base, wf_nl_fd(&w->nft), EV_READ | EV_PERSIST, on_readable, w);
	w->route_ev = event_new(base, wf_nl_fd(&w->route), EV_READ | EV_PERSIST, on_readable, w);
	if (!w->nft_ev || !w->route_ev) {
		err = -ENOMEM;
		goto fail;
	}
	event_add(w->nft_ev, NULL);
	event_add(w->route_ev, NULL);
	*out = w;
	return 0;
fail:
	wf_nlwatch_free(w);
	return err;
}

void wf_nlwatch_free(struct wf_nlwatch *w)
{
	if (!w)
		return;
	if (w->nft_ev)
		event_free(w->nft_ev);
	if (w->route_ev)
		event_free(w->route_ev);
	wf_nl_close(&w->nft);
	wf_nl_close(&w->route);
	free(w);
}
