/* The daemons' local status socket: a unix stream socket (mode 0660 by default) that
 * answers every connection with one JSON document and closes. `wgfwd status` reads it.
 * The daemon builds the document on demand through a callback, so the answer is current. */
#ifndef WGFWD_STATUS_SOCKET_H
#define WGFWD_STATUS_SOCKET_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct wf_status_socket;

typedef struct json_object *(*wf_status_fn)(void *ctx);

int wf_status_socket_open(struct event_base *base, const char *path, mode_t mode, wf_status_fn fn,
                          void *ctx, struct wf_status_socket **out);
void wf_status_socket_close(struct wf_status_socket *s);

/* Client side: reads the whole document from `path`. */
int wf_status_fetch(const char *path, struct json_object **out, char *err, size_t errlen);

#endif
