/* The checks on JSON that every reader of the engine's answers applies: docker_json.c (these
 * helpers, /version, error bodies), docker_containers.c, docker_networks.c and docker_events.c
 * (the event stream), and no one else. Each error writes WF_DOCKER_ERR_MAX bytes of err. */
#ifndef WGFWD_AGENT_DOCKER_JSON_INTERNAL_H
#define WGFWD_AGENT_DOCKER_JSON_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define TOKENER_FLAGS (JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS)

/* One JSON document filling the whole buffer (trailing whitespace allowed). */
int wf_dj_parse_document(const char *json, size_t len, struct json_object **out, char *err);
int wf_dj_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool wf_dj_is_space(char c);
const char *wf_dj_type_name(struct json_object *o);
struct json_object *wf_dj_member(struct json_object *o, const char *key);
int wf_dj_opt_string(struct json_object *o, const char *key, const char *path, const char **out,
                     char *err);
int wf_dj_opt_object(struct json_object *o, const char *key, const char *path,
                     struct json_object **out, char *err);
int wf_dj_req_string(struct json_object *o, const char *key, const char *path, const char **out,
                     char *err);
int wf_dj_opt_bool(struct json_object *o, const char *key, const char *path, bool *out, char *err);
/* A string that must fit dst: -EBADMSG naming path when it does not. */
int wf_dj_copy_bounded(char *dst, size_t size, const char *src, const char *path, char *err);
bool wf_dj_is_container_id(const char *s);
bool wf_dj_has_wgfwd_key(struct json_object *labels);

/* A document that is an array of `what`, each item parsed into the next of *v (item_size
 * bytes each). On failure *n counts the items to clear, the failed one included. */
typedef int (*wf_dj_item_fn)(struct json_object *item, size_t idx, void *out, char *err);
int wf_dj_parse_array(const char *json, size_t len, const char *what, size_t item_size,
                      wf_dj_item_fn parse, void **v, size_t *n, char *err);

#endif
