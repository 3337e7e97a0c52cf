/* Kernel change notifications that may mean drift: any nftables change, and changes of policy
 * rules, routes, links and addresses. The watcher only says "something changed"; the daemon
 * then compares the kernel with what it wants (cheap when nothing differs). */
#ifndef WGFWD_NLWATCH_H
#define WGFWD_NLWATCH_H

struct event_base;
struct wf_nlwatch;

int wf_nlwatch_new(struct wf_nlwatch **out, struct event_base *base, void (*changed)(void *ctx),
                   void *ctx);
void wf_nlwatch_free(struct wf_nlwatch *w);

#endif
