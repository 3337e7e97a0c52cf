/* Shared by ctl_msg.c (types, validation), ctl_msg_encode.c and ctl_msg_decode.c, and by no
 * one else: the wire's names for enum values, and the checks both directions apply to text. */
#ifndef WGFWD_CTL_MSG_INTERNAL_H
#define WGFWD_CTL_MSG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deep enough for object -> object -> object -> array, with room to say "too deep" for
 * anything more. */
#define JSON_DEPTH_MAX 8
#define PATH_MAX_LEN   96
#define GENERATION_MAX ((uint64_t)INT64_MAX)

struct name_value {
	const char *name;
	int value;
};

/* NULL-terminated tables of the wire's names. */
extern const struct name_value wf_ctl_msg_types[], wf_ctl_forward_protos[], wf_ctl_egress_protos[],
    wf_ctl_families[];

const char *wf_ctl_value_name(const struct name_value *table, int value);
/* Writes the message into err and returns ret. */
int wf_ctl_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Text from the peer goes into error messages, which get logged: keep it short and plain. */
void wf_ctl_printable(char *dst, size_t dstlen, const char *src);
/* A reason travels in JSON and ends up in logs: valid UTF-8, no control characters. */
bool wf_ctl_reason_text_valid(const char *s, size_t len);
bool wf_ctl_version_text_valid(const char *v);

#endif
