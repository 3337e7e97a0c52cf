#include <wgfwd/nlwatch.h>

#include <errno.h>
#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wgfwd/log.h>

struct wf_nlwatch {
	struct mnl_socket *nft, *route;
	struct event *nft_ev, *route_ev;
	void (*changed)(void *ctx);
	void *ctx;
};

static void drain(evutil_socket_t fd, short what, void *arg)
{
	struct wf_nlwatch *w = arg;
	char buf[16384];
	bool any = false;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			any = true;
			continue;
		}
		/* An overrun lost notifications: that, too, means "look again". */
		if (n < 0 && errno == ENOBUFS) {
			any = true;
			continue;
		}
		break;
	}
	if (any)
		w->changed(w->ctx);
}

static int open_group_socket(int bus, const unsigned *groups, size_t n, struct mnl_socket **out)
{
	struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int err, size = 1 << 20;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, (void *)&groups[i],
		                          sizeof(groups[i])) < 0)
			goto fail;
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*out = nl;
	return 0;
fail:
	err = -errno;
	mnl_socket_close(nl);
	return err;
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
	err = open_group_socket(NETLINK_NETFILTER, nft_groups, 1, &w->nft);
	if (!err)
		err = open_group_socket(NETLINK_ROUTE, route_groups,
		                        sizeof(route_groups) / sizeof(route_groups[0]), &w->route);
	if (err)
		goto fail;
	w->nft_ev = event_new(base, mnl_socket_get_fd(w->nft), EV_READ | EV_PERSIST, drain, w);
	w->route_ev = event_new(base, mnl_socket_get_fd(w->route), EV_READ | EV_PERSIST, drain, w);
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
	if (w->nft)
		mnl_socket_close(w->nft);
	if (w->route)
		mnl_socket_close(w->route);
	free(w);
}
