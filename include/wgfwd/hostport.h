/* Ports and numeric socket addresses as options and logs give them, one grammar for every
 * program:
 *
 *   port      decimal digits, 1..65535 (0 too where the kernel is to pick one)
 *   address   IPv4:PORT | [IPv6]:PORT
 *             and, where there is a default port, also IPv4 | [IPv6] | IPv6
 *
 * An IPv6 address needs its brackets before a port, since its last group could not be told
 * from one; brackets hold IPv6 only. Names are not resolved. */
#ifndef WGFWD_HOSTPORT_H
#define WGFWD_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Returns 0, or -EINVAL when text is not a port (or is 0 without allow_zero). */
int wf_port_parse(const char *text, bool allow_zero, uint16_t *port);

/* default_port 0: the port must be given. Returns 0 with ss and len filled, or -EINVAL with err
 * saying what was wrong, quoting text as `text'. */
int wf_hostport_parse(const char *text, uint16_t default_port, bool allow_zero,
                      struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen);

/* A bare IPv4 or IPv6 address (no port, no brackets, as a config field holds one) and a port
 * as a socket address. 0 or -EINVAL. */
int wf_sockaddr_from(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* A listening TCP socket (non-blocking, close-on-exec, IPv6 only for an IPv6 address) on a
 * socket address; freebind lets it bind an address not (yet) on any interface. The descriptor,
 * or -errno. */
int wf_tcp_listen(const struct sockaddr_storage *ss, socklen_t len, bool freebind);

/* "IPv4:PORT" / "[IPv6]:PORT", what wf_hostport_parse reads back. */
void wf_hostport_text(const struct sockaddr *sa, char *out, size_t len);

#endif
