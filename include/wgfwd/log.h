/* Logging for the daemons and the CLI: one line per event, to stderr, plain or JSON, or to
 * syslog (facility daemon) once a daemon has detached from its terminal.
 * Errors are logged once, by the code that can act on them; callees return -errno. */
#ifndef WGFWD_LOG_H
#define WGFWD_LOG_H

#include <stdbool.h>

enum wf_log_level {
	WF_LOG_DEBUG,
	WF_LOG_INFO,
	WF_LOG_WARN,
	WF_LOG_ERROR,
};

void wf_log_init(const char *program, enum wf_log_level min_level, bool json);
bool wf_log_enabled(enum wf_log_level level);
/* From now on, lines go to syslog (LOG_DAEMON, the program's name) instead of stderr. */
void wf_log_to_syslog(void);
void wf_log(enum wf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wf_log_level_parse(const char *name, enum wf_log_level *level);

#define log_debug(...) wf_log(WF_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  wf_log(WF_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  wf_log(WF_LOG_WARN, __VA_ARGS__)
#define log_error(...) wf_log(WF_LOG_ERROR, __VA_ARGS__)

#endif
