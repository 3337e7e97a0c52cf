/* Small helpers every module needs. */
#ifndef WGFWD_UTIL_H
#define WGFWD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define WF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Copies at most size-1 bytes and always terminates: names longer than their buffer are cut. */
void wf_copy_str(char *dst, size_t size, const char *src);

#define WF_COPY(dst, src) wf_copy_str((dst), sizeof(dst), (src))

/* A bare IPv4 or IPv6 address (no port, no brackets) and a port as a socket address. 0 or
 * -EINVAL. */
int wf_sockaddr_from(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

#endif
