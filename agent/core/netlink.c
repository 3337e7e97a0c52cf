#include <wgfwd/netlink.h>

#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int wf_nl_open(struct wf_nl *n, int bus, size_t recv_size)
{
	int one = 1, ret;

	memset(n, 0, sizeof(*n));
	n->buf = malloc(recv_size);
	if (!n->buf)
		return -ENOMEM;
	n->buf_size = recv_size;
	n->sock = mnl_socket_open(bus);
	if (!n->sock) {
		ret = -errno;
		goto err_free;
	}
	/* Errors then carry only the header of the failed request, not all of it, and the
	 * kernel's own words where it has them. Older kernels lack either: nothing breaks. */
	mnl_socket_setsockopt(n->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(n->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto err_close;
	}
	n->portid = mnl_socket_get_portid(n->sock);
	/* A different start per process keeps a restarted daemon's numbers apart from answers
	 * the kernel may still hold for its predecessor's socket. */
	n->seq = (uint32_t)time(NULL);
	return 0;

err_close:
	mnl_socket_close(n->sock);
err_free:
	free(n->buf);
	memset(n, 0, sizeof(*n));
	return ret;
}

void wf_nl_close(struct wf_nl *n)
{
	if (n->sock)
		mnl_socket_close(n->sock);
	free(n->buf);
	memset(n, 0, sizeof(*n));
}

int wf_nl_fd(const struct wf_nl *n)
{
	return mnl_socket_get_fd(n->sock);
}

int wf_nl_attrs_walk(const void *start, const void *end, wf_nl_attr_fn fn, void *data)
{
	const struct nlattr *attr = start;

	for (; mnl_attr_ok(attr, (int)((const char *)end - (const char *)attr));
	     attr = mnl_attr_next(attr))
		if (fn(attr, data))
			return -EINVAL;
	if ((const char *)attr < (const char *)end)
		return -EINVAL;
	return 0;
}

int wf_nl_nested_walk(const struct nlattr *nest, wf_nl_attr_fn fn, void *data)
{
	const char *payload = mnl_attr_get_payload(nest);

	return wf_nl_attrs_walk(payload, payload + mnl_attr_get_payload_len(nest), fn, data);
}

static int ack_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	return e->error;
}

static int done_status(const struct nlmsghdr *nlh)
{
	int status = 0;

	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(status))
		memcpy(&status, mnl_nlmsg_get_payload(nlh), sizeof(status));
	return status < 0 ? status : 0;
}

int wf_nl_talk(struct wf_nl *n, struct nlmsghdr *req, wf_nl_reply_fn cb, void *data)
{
	bool dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	bool interrupted = false;
	int cb_err = 0;
	uint32_t seq = ++n->seq;

	req->nlmsg_seq = seq;
	req->nlmsg_pid = 0;
	if (!dump)
		req->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(n->sock, req, req->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		ssize_t got = mnl_socket_recvfrom(n->sock, n->buf, n->buf_size);
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf;
		int left, err;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		left = (int)got;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_pid != n->portid || nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				interrupted = true;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				err = ack_error(nlh);
				return err ? err : cb_err;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				err = done_status(nlh);
				if (err)
					return err;
				return cb_err ? cb_err : interrupted ? -EAGAIN : 0;
			}
			if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			if (cb && !cb_err)
				cb_err = cb(nlh, data);
		}
	}
}
