/* Shared by docker_json.c (the engine's answers) and docker_events.c (its event stream), and by
 * no one else: the checks on JSON both apply. Each error writes WF_DOCKER_ERR_MAX bytes of err. */
#ifndef WGFWD_AGENT_DOCKER_JSON_INTERNAL_H
#define WGFWD_AGENT_DOCKER_JSON_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define TOKENER_FLAGS (JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS)

int wf_dj_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool wf_dj_is_space(char c);
const char *wf_dj_type_name(struct json_object *o);
struct json_object *wf_dj_member(struct json_object *o, const char *key);
int wf_dj_opt_string(struct json_object *o, const char *key, const char *path, const char **out,
                     char *err);
int wf_dj_opt_object(struct json_object *o, const char *key, const char *path,
                     struct json_object **out, char *err);
bool wf_dj_is_container_id(const char *s);
bool wf_dj_has_wgfwd_key(struct json_object *labels);

#endif
