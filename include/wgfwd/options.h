/* Options shared by the daemons: one table per program describes every option once, and the
 * same table is read from a config file (`key = value`, `#` comments, keys may repeat for
 * lists), from environment variables (PREFIX + upper-cased key, dashes as underscores; a list
 * split at commas and whitespace, a spaced list at whitespace and `;') and
 * from the command line, in that order of precedence (the command line wins). */
#ifndef WGFWD_OPTIONS_H
#define WGFWD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum wf_opt_type {
	WF_OPT_STRING, /* target: char ** (strdup'ed; previous value freed) */
	WF_OPT_UINT,   /* target: uint32_t *; decimal or 0x-hex */
	WF_OPT_FLAG,   /* target: bool *; no argument on the command line; true/false elsewhere */
	WF_OPT_LIST,   /* target: struct wf_strlist *; repeatable, values appended */
	WF_OPT_PORT,   /* target: uint32_t *; 1..65535 */
	/* Durations, target uint32_t * in milliseconds: a number with a unit, `500ms', `30s',
	 * `2m', `1h'. A bare number keeps the meaning the option had before units (MSEC:
	 * milliseconds, SEC: seconds), with a warning on stderr. */
	WF_OPT_MSEC,
	WF_OPT_SEC,
	/* As WF_OPT_LIST, for values that hold commas themselves (`ADDR=25,587'): one
	 * environment variable separates them by whitespace or `;' only. */
	WF_OPT_LIST_SPACED,
};

struct wf_strlist {
	char **v;
	size_t n, cap;
};

struct wf_opt {
	const char *name;
	enum wf_opt_type type;
	void *target;
	const char *metavar;
	const char *help;
};

/* Returns 0, 1 when --help or --version was asked (and answered on stdout), or -EINVAL with err
 * filled. */
int wf_opts_parse(const struct wf_opt *opts, const char *env_prefix, const char *program,
                  const char *synopsis, int argc, char **argv, char *err, size_t errlen);
void wf_opts_usage(FILE *f, const char *program, const char *synopsis, const struct wf_opt *opts);
int wf_opts_read_file(const struct wf_opt *opts, const char *path, char *err, size_t errlen);
void wf_opts_free(const struct wf_opt *opts);
void wf_strlist_free(struct wf_strlist *l);

#endif
