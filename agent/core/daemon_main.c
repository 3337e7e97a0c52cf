#include <wgfwd/daemon_main.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <wgfwd/log.h>

int wf_daemon_opts(const struct wf_opt *opts, const char *program, const char *synopsis, int argc,
                   char **argv, char *const *log_level, const bool *log_json)
{
	enum wf_log_level level = WF_LOG_INFO;
	char err[512] = "";
	int ret;

	wf_log_init(program, WF_LOG_INFO, false);
	ret = wf_opts_parse(opts, "WGFWD_", program, synopsis, argc, argv, err, sizeof(err));
	if (ret == 1)
		return 1;
	if (ret) {
		fprintf(stderr, "%s: %s\n", program, err);
		return 2;
	}
	if (*log_level && wf_log_level_parse(*log_level, &level)) {
		fprintf(stderr, "%s: --log-level: `%s' is not debug, info, warn or error\n",
		        program, *log_level);
		return 2;
	}
	wf_log_init(program, level, *log_json);
	return 0;
}

long wf_addr_list_parse(const struct wf_strlist *list, struct in_addr *ip4, size_t *n4,
                        struct in6_addr *ip6, size_t *n6, size_t max)
{
	for (size_t i = 0; i < list->n; i++) {
		struct in_addr a4;
		struct in6_addr a6;

		if (inet_pton(AF_INET, list->v[i], &a4) == 1 && *n4 < max)
			ip4[(*n4)++] = a4;
		else if (inet_pton(AF_INET6, list->v[i], &a6) == 1 && *n6 < max)
			ip6[(*n6)++] = a6;
		else
			return (long)i;
	}
	return -1;
}

struct run {
	struct event_base *base;
	const char *stopping;
	void (*hup)(void *ctx);
	void *ctx;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct run *r = arg;

	if (sig == SIGHUP) {
		log_info("received SIGHUP: checking the kernel against the desired state now (the "
		         "configuration is read at start only: restart to change it)");
		r->hup(r->ctx);
		return;
	}
	log_info("received %s: exiting; %s", strsignal((int)sig), r->stopping);
	event_base_loopbreak(r->base);
}

int wf_daemon_run(struct event_base *base, const char *stopping, void (*hup)(void *ctx), void *ctx)
{
	static const int signals[] = {SIGTERM, SIGINT, SIGHUP};
	struct run r = {.base = base, .stopping = stopping, .hup = hup, .ctx = ctx};
	struct event *ev[3] = {NULL};
	int err = 0;

	for (size_t i = 0; i < 3 && !err; i++)
		if (!(ev[i] = evsignal_new(base, signals[i], on_signal, &r)) ||
		    evsignal_add(ev[i], NULL))
			err = -ENOMEM;
	if (!err && event_base_dispatch(base) < 0)
		err = -EIO;
	for (size_t i = 0; i < 3; i++)
		if (ev[i])
			event_free(ev[i]);
	return err;
}
