/* Whether a control message's text is a state, and its generation, without decoding it
 * (state_peek.c). */
#ifndef WGFWD_GATEWAY_STATE_PEEK_H
#define WGFWD_GATEWAY_STATE_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Only plain members of the top-level object count; anything unusual answers false, and the
 * message is decoded as any other. */
bool wf_gw_peek_state(const char *json, size_t len, uint64_t *generation);
/* The same for a message of another type that has a generation (state_delta). */
bool wf_gw_peek_message(const char *json, size_t len, const char *type, uint64_t *generation);

#endif
