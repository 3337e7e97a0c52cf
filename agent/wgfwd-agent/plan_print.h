/* Human-readable and JSON renderings of a desired state and of the server plan, for
 * `wgfwd-agent --dry-run` and for tests. Pure: writes into a FILE the caller chose. */
#ifndef WGFWD_PLAN_PRINT_H
#define WGFWD_PLAN_PRINT_H

#include <stdio.h>

#include "render.h"
#include "state.h"

void wf_desired_print(FILE *f, const struct wf_desired *d);
void wf_rule_print(FILE *f, const struct wf_rule *r);
void wf_route_print(FILE *f, const struct wf_route *r);
/* The whole plan: nft table, DOCKER-USER rules, policy rules and routes. */
int wf_server_plan_print(FILE *f, const struct wf_server_plan *plan);
struct json_object *wf_server_plan_to_json(const struct wf_server_plan *plan);

#endif
