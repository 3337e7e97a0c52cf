#include <wgfwd/log.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "wgfwd";
static enum wf_log_level log_min_level = WF_LOG_INFO;
static bool log_json;
static bool log_syslog;

void wf_log_to_syslog(void)
{
	openlog(log_program, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = true;
}

static const char *const level_names[] = {
    [WF_LOG_DEBUG] = "debug",
    [WF_LOG_INFO] = "info",
    [WF_LOG_WARN] = "warn",
    [WF_LOG_ERROR] = "error",
};

void wf_log_init(const char *program, enum wf_log_level min_level, bool json)
{
	log_program = program;
	log_min_level = min_level;
	log_json = json;
}

bool wf_log_enabled(enum wf_log_level level)
{
	return level >= log_min_level;
}

int wf_log_level_parse(const char *name, enum wf_log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcasecmp(name, level_names[i])) {
			*level = (enum wf_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Escaped into a buffer so that a line leaves in one write: stderr is unbuffered, and a write
 * per character made a JSON line cost some 75 system calls. */
static void json_escape(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s && n + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
}

void wf_log(enum wf_log_level level, const char *fmt, ...)
{
	char message[2048], stamp[64], escaped[6 * sizeof(message) + 1];
	char line[sizeof(escaped) + 256];
	int n;
	struct timespec now;
	struct tm tm;
	va_list ap;
	int saved_errno = errno;

	if (!wf_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	if (log_syslog) {
		static const int priorities[] = {
		    [WF_LOG_DEBUG] = LOG_DEBUG,
		    [WF_LOG_INFO] = LOG_INFO,
		    [WF_LOG_WARN] = LOG_WARNING,
		    [WF_LOG_ERROR] = LOG_ERR,
		};

		syslog(priorities[level], "%s", message);
		errno = saved_errno;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         now.tv_nsec / 1000000);

	if (log_json) {
		json_escape(escaped, sizeof(escaped), message);
		n = snprintf(
		    line, sizeof(line),
		    "{\"time\":\"%s\",\"program\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", stamp,
		    log_program, level_names[level], escaped);
	} else {
		n = snprintf(line, sizeof(line), "%s %s %s: %s\n", stamp, log_program,
		             level_names[level], message);
	}
	/* One write of the line as made: stderr's stream would format it again into a buffer
	 * of its own first. A line cut at the buffer's end still ends the line. */
	if (n >= (int)sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	fflush(stderr);
	for (ssize_t off = 0, w; n > 0 && off < n; off += w) {
		w = write(STDERR_FILENO, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w <= 0)
			break;
	}
	errno = saved_errno;
}
