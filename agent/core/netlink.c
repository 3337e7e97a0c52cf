#include <wgfwd/netlink.h>

#include <errno.h>
#include <libmnl/libmnl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int nl_open(struct wf_nl *n, int bus, int flags, size_t recv_size)
{
	int one = 1, ret;

	memset(n, 0, sizeof(*n));
	n->buf = malloc(recv_size);
	if (!n->buf)
		return -ENOMEM;
	n->buf_size = recv_size;
	n->sock = mnl_socket_open2(bus, flags);
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

int wf_nl_open(struct wf_nl *n, int bus, size_t recv_size)
{
	return nl_open(n, bus, SOCK_CLOEXEC, recv_size);
}

int wf_nl_handle_new(void *handlep, size_t size, int bus, size_t recv_size)
{
	struct wf_nl *n = calloc(1, size);
	int ret;

	if (!n)
		return -ENOMEM;
	ret = wf_nl_open(n, bus, recv_size);
	if (ret) {
		free(n);
		return ret;
	}
	memcpy(handlep, &n, sizeof(n));
	return 0;
}

void wf_nl_handle_free(void *handle)
{
	if (!handle)
		return;
	wf_nl_close(handle);
	free(handle);
}

int wf_nl_open_groups(struct wf_nl *n, int bus, const unsigned *groups, size_t n_groups,
                      size_t recv_size)
{
	int ret = nl_open(n, bus, SOCK_CLOEXEC | SOCK_NONBLOCK, recv_size);

	if (ret)
		return ret;
	for (size_t i = 0; i < n_groups; i++) {
		if (mnl_socket_setsockopt(n->sock, NETLINK_ADD_MEMBERSHIP, (void *)&groups[i],
		                          sizeof(groups[i])) < 0) {
			ret = -errno;
			wf_nl_close(n);
			return ret;
		}
	}
	wf_nl_reserve(n, 0, 1 << 20);
	return 0;
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

/* An error or ack, with the extended-ack attributes that follow the failed request's header
 * (or the whole request, on kernels that do not cap it). */
static int parse_ack(const struct nlmsghdr *nlh, struct wf_nl_ack *ack)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t skip = sizeof(*e);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	*ack = (struct wf_nl_ack){.seq = nlh->nlmsg_seq, .error = e->error};
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return 0;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		skip += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	mnl_attr_for_each(attr, nlh, skip)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			ack->ext_msg = mnl_attr_get_str(attr);
		else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS &&
		         mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			ack->offset = mnl_attr_get_u32(attr);
	}
	return 0;
}

/* Reads one datagram of answers into n->buf: its length, or -errno (-ENOSPC for one cut
 * short by the buffer). A signal is no error. */
static int recv_answers(struct wf_nl *n)
{
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(n->sock, n->buf, n->buf_size);

		if (got >= 0)
			return (int)got;
		if (errno != EINTR)
			return -errno;
	}
}

static int ack_error(const struct nlmsghdr *nlh)
{
	struct wf_nl_ack ack;

	return parse_ack(nlh, &ack) ? -EBADMSG : ack.error;
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
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf;
		int left = recv_answers(n), err;

		if (left < 0)
			return left;
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

bool wf_nl_drain(struct wf_nl *n)
{
	bool any = false;

	for (;;) {
		ssize_t got = recv(wf_nl_fd(n), n->buf, n->buf_size, MSG_DONTWAIT);

		if (got > 0 || (got < 0 && errno == ENOBUFS))
			any = true;
		else if (got < 0 && errno == EINTR)
			continue;
		else
			return any;
	}
}

static void grow_buf(int fd, int opt_force, int opt, int *current, size_t want)
{
	int size = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int)want;

	if (size <= *current)
		return;
	if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) &&
	    setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)))
		return;
	*current = size;
}

void wf_nl_reserve(struct wf_nl *n, size_t snd, size_t rcv)
{
	if (snd)
		grow_buf(wf_nl_fd(n), SO_SNDBUFFORCE, SO_SNDBUF, &n->sndbuf, snd);
	if (rcv)
		grow_buf(wf_nl_fd(n), SO_RCVBUFFORCE, SO_RCVBUF, &n->rcvbuf, rcv);
}

int wf_nl_send_iov(struct wf_nl *n, const struct iovec *iov, size_t iovlen)
{
	struct sockaddr_nl addr = {.nl_family = AF_NETLINK};
	struct msghdr msg = {
	    .msg_name = &addr,
	    .msg_namelen = sizeof(addr),
	    .msg_iov = (struct iovec *)iov,
	    .msg_iovlen = iovlen,
	};
	size_t total = 0;
	ssize_t sent;

	for (size_t i = 0; i < iovlen; i++)
		total += iov[i].iov_len;
	sent = sendmsg(wf_nl_fd(n), &msg, 0);
	if (sent < 0)
		return -errno;
	return (size_t)sent == total ? 0 : -EMSGSIZE;
}

int wf_nl_acks(struct wf_nl *n, wf_nl_ack_fn fn, wf_nl_done_fn done, void *data, int timeout_ms)
{
	while (!done(data)) {
		struct pollfd pfd = {.fd = wf_nl_fd(n), .events = POLLIN};
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)n->buf;
		int left;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		left = recv_answers(n);
		if (left < 0)
			return left;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			struct wf_nl_ack ack;

			if (nlh->nlmsg_pid != n->portid || nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (parse_ack(nlh, &ack))
				return -EBADMSG;
			fn(&ack, data);
		}
	}
	return 0;
}
