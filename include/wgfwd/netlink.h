/* The one netlink transport under nftables, rtnetlink, conntrack, socket diagnostics and the
 * change watcher: a socket of one netlink bus and the exchanges every module needs.
 *
 *   module builds a request --wf_nl_talk--> kernel --answers--> module's reply callback
 *   nftables builds a batch --wf_nl_send_iov--> kernel --acks, wf_nl_acks--> per-message callback
 *   kernel notifications --> group socket (wf_nl_open_groups) --wf_nl_drain--> "something changed"
 *
 * One errno policy for all: the kernel's error when it refused the request, else the reply
 * callback's first error, else -EAGAIN for a dump the kernel marked interrupted (something
 * changed while it was being read: read it again), else 0. The whole answer is always read,
 * so the socket is clean for the next request, and answers to an earlier request that was
 * abandoned midway are told apart by their sequence number and dropped. */
#ifndef WGFWD_NETLINK_H
#define WGFWD_NETLINK_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iovec;
struct mnl_socket;

struct wf_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *buf;
	size_t buf_size;
	int sndbuf, rcvbuf; /* what wf_nl_reserve last set; 0: the system's default */
};

/* Opens and binds a socket of bus (NETLINK_ROUTE, NETLINK_NETFILTER, NETLINK_SOCK_DIAG,
 * NETLINK_GENERIC) with acks that carry only the failed request's header, and extended acks
 * (the kernel's own message) where the kernel has them. recv_size is the receive buffer: at
 * least the largest message a dump of this bus sends. Returns 0 or -errno. */
int wf_nl_open(struct wf_nl *n, int bus, size_t recv_size);
/* A non-blocking socket of bus that joins the multicast groups (RTNLGRP_*, NFNLGRP_*) and
 * only listens, with a receive buffer large enough to ride out a burst of notifications. */
int wf_nl_open_groups(struct wf_nl *n, int bus, const unsigned *groups, size_t n_groups,
                      size_t recv_size);
void wf_nl_close(struct wf_nl *n);
/* A module's handle (struct wf_nft, wf_rtnl, wf_conntrack) is a struct of `size` bytes whose
 * first member is its struct wf_nl: allocated zeroed and opened as wf_nl_open does, stored at
 * *handlep; closed and freed (NULL is fine). */
int wf_nl_handle_new(void *handlep, size_t size, int bus, size_t recv_size);
void wf_nl_handle_free(void *handle);
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

/* Reads and drops whatever is queued, without waiting. True when anything was, an overrun
 * (ENOBUFS: notifications were lost) included. */
bool wf_nl_drain(struct wf_nl *n);

/* Batches (nftables transactions): the caller numbers the messages and sends them in one go,
 * then reads the acknowledgements until it has all it asked for. */
/* Grows the socket's buffers to at least snd and rcv bytes (past the system's limits when
 * privileged); a failure leaves them as they were, and the exchange may then fail. */
void wf_nl_reserve(struct wf_nl *n, size_t snd, size_t rcv);
/* Sends the messages in iov with one sendmsg: -EMSGSIZE when the kernel took less. */
int wf_nl_send_iov(struct wf_nl *n, const struct iovec *iov, size_t iovlen);

struct wf_nl_ack {
	uint32_t seq;        /* of the message acknowledged */
	int error;           /* 0 or the kernel's -errno */
	const char *ext_msg; /* the kernel's words on the error, NULL when none */
	uint32_t offset;     /* of the offending attribute in the message, 0 when not given */
};
typedef void (*wf_nl_ack_fn)(const struct wf_nl_ack *ack, void *data);
typedef bool (*wf_nl_done_fn)(void *data);
/* Gives each acknowledgement to fn until done(data): -ETIMEDOUT when none came for timeout_ms,
 * -EBADMSG for one that cannot be parsed, -errno when reading failed. */
int wf_nl_acks(struct wf_nl *n, wf_nl_ack_fn fn, wf_nl_done_fn done, void *data, int timeout_ms);

#endif
