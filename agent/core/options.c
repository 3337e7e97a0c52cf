#include <wgfwd/options.h>
#include <wgfwd/version.h>
#include <wgfwd/hostport.h>
#include <wgfwd/util.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct wf_opt *find_opt(const struct wf_opt *opts, const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts;
	return NULL;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1") ||
	    !strcasecmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0") ||
	    !strcasecmp(s, "off")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* "500ms", "30s", "2m", "1h" -> milliseconds; a bare number is bare_ms milliseconds each. */
static int parse_duration(const char *value, unsigned bare_ms, uint32_t *out, bool *bare)
{
	static const struct {
		const char *suffix;
		unsigned ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	char *end;
	unsigned long long v;
	unsigned ms = 0;

	if (!isdigit((unsigned char)value[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno)
		return -EINVAL;
	*bare = !*end;
	if (*bare)
		ms = bare_ms;
	for (size_t i = 0; !ms && i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].suffix))
			ms = units[i].ms;
	if (!ms || v > UINT32_MAX / ms)
		return -EINVAL;
	*out = (uint32_t)(v * ms);
	return 0;
}

static int set_value(const struct wf_opt *o, const char *value, const char *origin, char *err,
                     size_t errlen)
{
	switch (o->type) {
	case WF_OPT_STRING: {
		char **target = o->target;
		char *copy = strdup(value);

		if (!copy)
			return -ENOMEM;
		free(*target);
		*target = copy;
		return 0;
	}
	case WF_OPT_UINT: {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(value, &end, 0);
		if (errno || end == value || *end || v > UINT32_MAX || value[0] == '-') {
			snprintf(err, errlen, "%s: %s: not a number: `%s'", origin, o->name, value);
			return -EINVAL;
		}
		*(uint32_t *)o->target = (uint32_t)v;
		return 0;
	}
	case WF_OPT_PORT: {
		uint16_t v;

		if (wf_port_parse(value, false, &v)) {
			snprintf(err, errlen, "%s: %s: `%s' is not a port (1..65535)", origin,
			         o->name, value);
			return -EINVAL;
		}
		*(uint32_t *)o->target = (uint32_t)v;
		return 0;
	}
	case WF_OPT_MSEC:
	case WF_OPT_SEC: {
		const char *bare_unit = o->type == WF_OPT_MSEC ? "ms" : "s";
		bool bare;

		if (parse_duration(value, o->type == WF_OPT_MSEC ? 1 : 1000, o->target, &bare)) {
			snprintf(err, errlen,
			         "%s: %s: `%s' is not a duration (a number and ms, s, m or h: "
			         "500ms, 30s, 2m)",
			         origin, o->name, value);
			return -EINVAL;
		}
		if (bare)
			fprintf(
			    stderr,
			    "warning: %s: %s: `%s' has no unit and is taken as %s%s, as before; "
			    "write the unit (%s%s), a bare number is deprecated\n",
			    origin, o->name, value, value, bare_unit, value, bare_unit);
		return 0;
	}
	case WF_OPT_FLAG:
		if (parse_bool(value, o->target)) {
			snprintf(err, errlen, "%s: %s: expected true or false, not `%s'", origin,
			         o->name, value);
			return -EINVAL;
		}
		return 0;
	case WF_OPT_LIST:
	case WF_OPT_LIST_SPACED: {
		struct wf_strlist *l = o->target;
		if (WF_ARRAY_RESERVE(l->v, l->n, l->cap, 1))
			return -ENOMEM;
		l->v[l->n] = strdup(value);
		if (!l->v[l->n])
			return -ENOMEM;
		l->n++;
		return 0;
	}
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int wf_opts_read_file(const struct wf_opt *opts, const char *path, char *err, size_t errlen)
{
	char line[1024], origin[300];
	unsigned lineno = 0;
	int ret = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		char *key, *value, *eq, *hash;
		const struct wf_opt *o;

		lineno++;
		snprintf(origin, sizeof(origin), "%s:%u", path, lineno);
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "%s: expected `key = value', got `%s'", origin, key);
			ret = -EINVAL;
			break;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		o = find_opt(opts, key);
		if (!o || !strcmp(key, "config")) {
			snprintf(err, errlen, "%s: unknown option `%s'", origin, key);
			ret = -EINVAL;
			break;
		}
		ret = set_value(o, value, origin, err, errlen);
		if (ret)
			break;
	}
	fclose(f);
	return ret;
}

/* A list in one variable: entries separated by whitespace, newlines or ';', and by commas,
 * except that a comma inside a `KEY=VALUE' entry before its '=' joins (a gateway peer,
 * `ADDR4,ADDR6=KEYFILE'). So "a,b", "a b" and "10.0.0.2,fc00::2=/k;10.0.0.3=/k2" all work.
 * A WF_OPT_LIST_SPACED list splits at whitespace, newlines and ';' only. */
static int set_env_list(const struct wf_opt *o, const char *value, const char *origin, char *err,
                        size_t errlen)
{
	char *copy = strdup(value), *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, "; \t\r\n", &save); tok && !ret;
	     tok = strtok_r(NULL, "; \t\r\n", &save)) {
		bool keyed = strchr(tok, '=') != NULL;
		char *start = tok;

		/* Values that hold commas themselves (`ADDR=25,587'): whole tokens. */
		if (o->type == WF_OPT_LIST_SPACED) {
			ret = set_value(o, tok, origin, err, errlen);
			continue;
		}

		for (char *p = tok;; p++) {
			if (*p &&
			    (*p != ',' || (keyed && !memchr(start, '=', (size_t)(p - start)))))
				continue;
			if (p > start) {
				char c = *p;

				*p = '\0';
				ret = set_value(o, start, origin, err, errlen);
				*p = c;
				if (ret)
					break;
			}
			if (!*p)
				break;
			start = p + 1;
		}
	}
	free(copy);
	return ret;
}

static int read_env(const struct wf_opt *opts, const char *prefix, char *err, size_t errlen)
{
	char name[128];

	for (; opts->name; opts++) {
		const char *value;
		size_t i, p = strlen(prefix);

		if (!strcmp(opts->name, "config") || p + strlen(opts->name) >= sizeof(name))
			continue;
		memcpy(name, prefix, p);
		for (i = 0; opts->name[i]; i++)
			name[p + i] =
			    opts->name[i] == '-' ? '_' : toupper((unsigned char)opts->name[i]);
		name[p + i] = '\0';
		value = getenv(name);
		if (!value || !*value)
			continue;
		if (opts->type == WF_OPT_LIST || opts->type == WF_OPT_LIST_SPACED) {
			int ret = set_env_list(opts, value, name, err, errlen);

			if (ret)
				return ret;
		} else {
			int ret = set_value(opts, value, name, err, errlen);

			if (ret)
				return ret;
		}
	}
	return 0;
}

void wf_opts_usage(FILE *f, const char *program, const char *synopsis, const struct wf_opt *opts)
{
	fprintf(f, "Usage: %s %s\n\nOptions:\n", program, synopsis);
	for (; opts->name; opts++) {
		char left[64];

		if (opts->type == WF_OPT_FLAG)
			snprintf(left, sizeof(left), "--%s", opts->name);
		else
			snprintf(left, sizeof(left), "--%s %s", opts->name,
			         opts->metavar ? opts->metavar : "VALUE");
		fprintf(f, "  %-30s %s\n", left, opts->help);
	}
	fprintf(f, "  %-30s %s\n", "--help", "show this help");
	fprintf(f, "  %-30s %s\n", "--version", "show the version and the control message version");
}

int wf_opts_parse(const struct wf_opt *opts, const char *env_prefix, const char *program,
                  const char *synopsis, int argc, char **argv, char *err, size_t errlen)
{
	size_t n = 0;
	struct option *longopts;
	int ret = 0, c, index;

	for (const struct wf_opt *o = opts; o->name; o++)
		n++;
	longopts = calloc(n + 3, sizeof(*longopts));
	if (!longopts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		longopts[i].name = opts[i].name;
		longopts[i].has_arg = opts[i].type == WF_OPT_FLAG ? no_argument : required_argument;
		longopts[i].val = 0;
	}
	longopts[n].name = "help";
	longopts[n].val = 'h';
	longopts[n + 1].name = "version";
	longopts[n + 1].val = 'V';

	/* --version answers even where the configuration would be refused. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version")) {
			wf_version_print(stdout, program);
			ret = 1;
			goto out;
		}
	}
	/* The config file is read first so that the environment and the command line win. */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path) {
			ret = wf_opts_read_file(opts, path, err, errlen);
			if (ret)
				goto out;
		}
	}
	if (env_prefix) {
		ret = read_env(opts, env_prefix, err, errlen);
		if (ret)
			goto out;
	}

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, &index)) != -1) {
		const struct wf_opt *o;

		if (c == 'h') {
			wf_opts_usage(stdout, program, synopsis, opts);
			ret = 1;
			goto out;
		}
		if (c == 'V') {
			wf_version_print(stdout, program);
			ret = 1;
			goto out;
		}
		if (c == '?' || c == ':') {
			snprintf(err, errlen, "unknown option or missing value: `%s'",
			         argv[optind - 1]);
			ret = -EINVAL;
			goto out;
		}
		o = &opts[index];
		if (!strcmp(o->name, "config"))
			continue;
		if (o->type == WF_OPT_FLAG) {
			*(bool *)o->target = true;
			continue;
		}
		ret = set_value(o, optarg, "command line", err, errlen);
		if (ret)
			goto out;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument `%s'", argv[optind]);
		ret = -EINVAL;
	}
out:
	free(longopts);
	return ret;
}

void wf_strlist_free(struct wf_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void wf_opts_free(const struct wf_opt *opts)
{
	for (; opts->name; opts++) {
		if (opts->type == WF_OPT_STRING) {
			free(*(char **)opts->target);
			*(char **)opts->target = NULL;
		} else if (opts->type == WF_OPT_LIST || opts->type == WF_OPT_LIST_SPACED) {
			wf_strlist_free(opts->target);
		}
	}
}
