/* Small helpers every module needs. */
#ifndef WGFWD_UTIL_H
#define WGFWD_UTIL_H

#include <stddef.h>
#include <string.h>

#define WF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Copies at most size-1 bytes and always terminates: names longer than their buffer are cut. */
void wf_copy_str(char *dst, size_t size, const char *src);

#define WF_COPY(dst, src) wf_copy_str((dst), sizeof(dst), (src))

#endif
