/* Reading and writing /proc/sys values, which every part checks or sets (forwarding,
 * rp_filter, accept_ra). */
#ifndef WGFWD_SYSCTL_H
#define WGFWD_SYSCTL_H

#include <stddef.h>

/* The value's first line, without its newline. 0 or -errno. */
int wf_sysctl_read(const char *path, char *buf, size_t len);
int wf_sysctl_write(const char *path, const char *value);
/* The value as a number; -1 when it cannot be read or is not one. */
int wf_sysctl_read_int(const char *path);

#endif
