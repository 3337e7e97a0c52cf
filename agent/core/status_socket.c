#include <wgfwd/status_socket.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <wgfwd/log.h>
#include <wgfwd/util.h>

#define STATUS_MAX (16u << 20)

struct wf_status_socket {
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	wf_status_fn fn;
	void *ctx;
};

static void on_flushed(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	struct wf_status_socket *s = arg;
	struct bufferevent *bev;
	struct json_object *doc = s->fn(s->ctx);
	const char *text = doc ? json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN) : "{}";

	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		json_object_put(doc);
		return;
	}
	bufferevent_setcb(bev, NULL, on_flushed, on_event, NULL);
	bufferevent_write(bev, text, strlen(text));
	bufferevent_write(bev, "\n", 1);
	bufferevent_enable(bev, EV_WRITE);
	json_object_put(doc);
}

int wf_status_socket_open(struct event_base *base, const char *path, mode_t mode, wf_status_fn fn,
                          void *ctx, struct wf_status_socket **out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct wf_status_socket *s;
	char dir[sizeof(sun.sun_path)], *slash;
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	WF_COPY(sun.sun_path, path);
	WF_COPY(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	WF_COPY(s->path, path);
	s->fn = fn;
	s->ctx = ctx;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	/* A socket left by a killed daemon is stale, not a reason to fail. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, mode) < 0) {
		err = -errno;
		close(fd);
		goto fail;
	}
	s->listener = evconnlistener_new(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (!s->listener) {
		err = -errno ? -errno : -ENOMEM;
		close(fd);
		unlink(path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	free(s);
	return err;
}

void wf_status_socket_close(struct wf_status_socket *s)
{
	if (!s)
		return;
	evconnlistener_free(s->listener);
	unlink(s->path);
	free(s);
}

int wf_status_fetch(const char *path, struct json_object **out, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	WF_COPY(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot connect to %s: %s (is the daemon running?)", path,
		         strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0) {
			ret = -ETIMEDOUT;
			snprintf(err, errlen, "%s: no answer within 5 s", path);
			goto out;
		}
		if (len + 4096 > STATUS_MAX) {
			ret = -EMSGSIZE;
			snprintf(err, errlen, "%s: answer too large", path);
			goto out;
		}
		if (WF_ARRAY_RESERVE(buf, len, cap, 4096)) {
			ret = -ENOMEM;
			goto out;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = json_tokener_parse(buf);
	if (!*out) {
		ret = -EBADMSG;
		snprintf(err, errlen, "%s: answer is not JSON", path);
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}
