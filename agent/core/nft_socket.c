/* The nftables socket: opened on the one netlink transport, and the request/answer exchange
 * the read-back speaks through it. */
#include <errno.h>
#include <stdlib.h>

#include <linux/netlink.h>

#include <wgfwd/nft_notify.h>

#include "nft_internal.h"

#define RECV_BUF_SIZE 65536 /* a dump message is at most 32 KiB */

/* nl first: the handle is made and freed by the transport. Extended acks carry the kernel's
 * message and the offending attribute, which commit errors report; older kernels lack them
 * and errors are still mapped by seq. */
int wf_nft_open(struct wf_nft **out)
{
	int err = wf_nl_handle_new(out, sizeof(**out), NETLINK_NETFILTER, RECV_BUF_SIZE);

	/* its commits are told apart from other processes' (nft_notify.h) */
	if (!err)
		wf_nft_own_port_add((*out)->nl.portid);
	return err;
}

void wf_nft_close(struct wf_nft *n)
{
	if (n)
		wf_nft_own_port_remove(n->nl.portid);
	wf_nl_handle_free(n);
}

struct mnl_reply {
	mnl_cb_t cb;
	void *data;
};

/* libnftnl's parsers are libmnl callbacks, which say MNL_CB_ERROR and leave the cause in
 * errno; the transport wants -errno. */
static int mnl_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct mnl_reply *r = data;

	errno = 0;
	if (r->cb(nlh, r->data) == MNL_CB_ERROR)
		return errno ? -errno : -EPROTO;
	return 0;
}

int wf_nft_request(struct wf_nft *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_reply r = {.cb = cb, .data = data};

	/* What an abandoned commit left unread goes first (its answers carry no dump seq). */
	wf_nl_drain(&n->nl);
	return wf_nl_talk(&n->nl, nlh, mnl_reply_cb, &r);
}
