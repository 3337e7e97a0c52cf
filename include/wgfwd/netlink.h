/* The one netlink transport under nftables, rtnetlink, conntrack and socket diagnostics: a
 * socket of one netlink bus and the request/answer exchange every module needs.
 *
 *   module builds a request --wf_nl_talk--> kernel --answers--> module's reply callback
 *
 * One errno policy for all: the kernel's error when it refused the request, else the reply
 * callback's first error, else -EAGAIN for a dump the kernel marked interrupted (something
 * changed while it was being read: read it again), else 0. The whole answer is always read,
 * so the socket is clean for the next request, and answers to an earlier request that was
 * abandoned midway are told apart by their sequence number and dropped. */
#ifndef WGFWD_NETLINK_H
#define WGFWD_NETLINK_H

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;

struct wf_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *buf;
	size_t buf_size;
};

/* Opens and binds a socket of bus (NETLINK_ROUTE, NETLINK_NETFILTER, NETLINK_SOCK_DIAG,
 * NETLINK_GENERIC) with acks that carry only the failed request's header, and extended acks
 * (the kernel's own message) where the kernel has them. recv_size is the receive buffer: at
 * least the largest message a dump of this bus sends. Returns 0 or -errno. */
int wf_nl_open(struct wf_nl *n, int bus, size_t recv_size);
void wf_nl_close(struct wf_nl *n);
int wf_nl_fd(const struct wf_nl *n);

/* Called for each answer to the request that is not an ack, error or end of dump; returns 0
 * or -errno (the first error stops further calls, not the reading). */
typedef int (*wf_nl_reply_fn)(const struct nlmsghdr *nlh, void *data);

/* Parsing answers. fn is called for every attribute between start and end and returns 0 or
 * non-zero to stop; stray bytes after the last attribute are an error, not the silent end of
 * the list (a last attribute may end unpadded). -EINVAL when fn stopped or bytes were left. */
typedef int (*wf_nl_attr_fn)(const struct nlattr *attr, void *data);
int wf_nl_attrs_walk(const void *start, const void *end, wf_nl_attr_fn fn, void *data);
/* The same over a nested attribute's payload. */
int wf_nl_nested_walk(const struct nlattr *nest, wf_nl_attr_fn fn, void *data);

/* Sends req, numbered here (a request that is not a dump asks for an ack), and reads its whole
 * answer; see the errno policy above. cb may be NULL. */
int wf_nl_talk(struct wf_nl *n, struct nlmsghdr *req, wf_nl_reply_fn cb, void *data);

#endif
