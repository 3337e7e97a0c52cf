/* What both daemons' main() do alike: read the options and start logging, read lists of
 * addresses, and run the event loop until SIGTERM or SIGINT, with SIGHUP meaning "compare the
 * kernel with the desired state now". The daemons themselves (construct / start / free) know
 * nothing of signals. */
#ifndef WGFWD_DAEMON_MAIN_H
#define WGFWD_DAEMON_MAIN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include <wgfwd/options.h>

struct event_base;

/* Parses the options (command line, WGFWD_ environment, config file) and starts logging at
 * *log_level ("info" when NULL), in JSON when *log_json; both point into opts' targets.
 * Returns 0 to go on, 1 when --help or --version was answered, 2 after saying on stderr what
 * is wrong. The options stay parsed (wf_opts_free frees them). */
int wf_daemon_opts(const struct wf_opt *opts, const char *program, const char *synopsis, int argc,
                   char **argv, char *const *log_level, const bool *log_json);

/* Adds each of list's addresses to ip4 or ip6 by family, at most max of each. Returns the index
 * of the first entry that is not an address (or one too many of its family), or -1. */
long wf_addr_list_parse(const struct wf_strlist *list, struct in_addr *ip4, size_t *n4,
                        struct in6_addr *ip6, size_t *n6, size_t max);

/* Runs base until SIGTERM or SIGINT, logging stopping (what happens to what the daemon set
 * up); on SIGHUP calls hup(ctx). 0, or -errno when the loop could not run. */
int wf_daemon_run(struct event_base *base, const char *stopping, void (*hup)(void *ctx), void *ctx);

#endif
