/* The Docker client against a real engine.
 *
 *   WF_DOCKER_HOST          unix:///path/to/docker.sock of the engine to use (unset: skipped)
 *   WF_DOCKER_IMAGE         an image with /bin/sleep (default "busybox")
 *   WF_DOCKER_CLI           the docker command (default /usr/bin/docker)
 *   WF_DOCKER_RESTART_CMD   a shell command that kills the engine and starts it again; the
 *                           engine-restart test is skipped without it
 *
 * Every container and network made here is named wfdk-live-<pid>-… and removed after each
 * test, which starts from an engine without any of them (the tests are independent). Each step
 * prints how long after its docker command began the client reported it. Without a network
 * namespace of its own, or with tests skipped, the run fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include <wgfwd-agent/docker.h>
#include <wgfwd/log.h>

#define WAIT_LIMIT_S 20
#define MAX_SEEN     64

struct live {
	struct event_base *base;
	struct event *tick;
	struct wf_docker *d;
	const char *cli, *host, *image;
	char prefix[64];
	struct wf_container *seen[MAX_SEEN];
	size_t n;
	int ups, downs, synced, changed, removed;
	struct timespec step_start;
	int64_t command_ms;
};

static struct live L;

static void mirror_remove(const char *id)
{
	for (size_t i = 0; i < L.n; i++) {
		if (!strcmp(L.seen[i]->id, id)) {
			wf_container_free(L.seen[i]);
			L.seen[i] = L.seen[--L.n];
			return;
		}
	}
}

static void mirror_clear(void)
{
	while (L.n)
		wf_container_free(L.seen[--L.n]);
}

static const struct wf_container *by_name(const char *suffix)
{
	char name[128];

	snprintf(name, sizeof(name), "%s-%s", L.prefix, suffix);
	for (size_t i = 0; i < L.n; i++) {
		if (!strcmp(L.seen[i]->name, name))
			return L.seen[i];
	}
	return NULL;
}

static void on_connection(void *ctx, bool up)
{
	(void)ctx;
	if (up)
		L.ups++;
	else
		L.downs++;
}

static void on_synced(void *ctx, const struct wf_container *list, size_t n)
{
	(void)ctx;
	mirror_clear();
	for (size_t i = 0; i < n && L.n < MAX_SEEN; i++)
		L.seen[L.n++] = wf_container_dup(&list[i]);
	L.synced++;
}

static void on_changed(void *ctx, const struct wf_container *c)
{
	(void)ctx;
	mirror_remove(c->id);
	if (L.n < MAX_SEEN)
		L.seen[L.n++] = wf_container_dup(c);
	L.changed++;
}

static void on_removed(void *ctx, const char *id)
{
	(void)ctx;
	mirror_remove(id);
	L.removed++;
}

static const struct wf_docker_ops ops = {
    .connection = on_connection,
    .synced = on_synced,
    .changed = on_changed,
    .removed = on_removed,
};

static int64_t step_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - L.step_start.tv_sec) * 1000 +
	       (now.tv_nsec - L.step_start.tv_nsec) / 1000000;
}

static pid_t spawn_shell(const char *cmd)
{
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &L.step_start);
	L.command_ms = -1;
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ))
		fail_msg("cannot run `%s'", cmd);
	return pid;
}

static bool command_done(pid_t pid)
{
	int status;
	pid_t done = waitpid(pid, &status, WNOHANG);

	if (done == 0)
		return false;
	if (done != pid)
		fail_msg("waitpid: %s", strerror(errno));
	L.command_ms = step_ms();
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("a command failed (exit status %d)", status);
	return true;
}

static pid_t docker_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static pid_t docker_start(const char *fmt, ...)
{
	char args[1024], cmd[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s -H %s %s >/dev/null", L.cli, L.host, args);
	return spawn_shell(cmd);
}

/* Runs a command to its end while the loop goes on: the client sees the engine's events as
 * they happen. */
static void finish_command(pid_t pid)
{
	while (!command_done(pid)) {
		event_base_loop(L.base, EVLOOP_ONCE);
		if (step_ms() > WAIT_LIMIT_S * 1000)
			fail_msg("a command did not finish");
	}
}

#define docker(...) finish_command(docker_start(__VA_ARGS__))

/* Runs a command until it is over and cond holds; says when cond first held, counted from
 * the start of the command, and how long the command took (the engine's share). */
static void step_report(const char *what, int64_t seen_ms)
{
	printf("  %-36s reported %5lld ms after its command began (which took %lld ms)\n", what,
	       (long long)seen_ms, (long long)L.command_ms);
}

#define STEP_PID(what, cond, pid)                                 \
	do {                                                      \
		pid_t pid_ = (pid);                               \
		bool done_ = false;                               \
		int64_t seen_ = -1;                               \
		for (;;) {                                        \
			if (!done_)                               \
				done_ = command_done(pid_);       \
			if (seen_ < 0 && (cond))                  \
				seen_ = step_ms();                \
			if (done_ && seen_ >= 0)                  \
				break;                            \
			event_base_loop(L.base, EVLOOP_ONCE);     \
			if (step_ms() > WAIT_LIMIT_S * 1000)      \
				fail_msg("never saw: %s", #cond); \
		}                                                 \
		step_report(what, seen_);                         \
	} while (0)

#define STEP(what, cond, ...) STEP_PID(what, cond, docker_start(__VA_ARGS__))

/* For what follows a command already over. */
#define WAIT_FOR(what, cond)                                      \
	do {                                                      \
		while (!(cond)) {                                 \
			event_base_loop(L.base, EVLOOP_ONCE);     \
			if (step_ms() > WAIT_LIMIT_S * 1000)      \
				fail_msg("never saw: %s", #cond); \
		}                                                 \
		step_report(what, step_ms());                     \
	} while (0)

/* Lets the events of the next MS milliseconds arrive. */
static void settle(int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, &L.step_start);
	while (step_ms() < ms)
		event_base_loop(L.base, EVLOOP_ONCE);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void cleanup_engine(void)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	         "%s -H %s ps -aq --filter name=%s | xargs -r %s -H %s rm -f >/dev/null 2>&1; "
	         "%s -H %s network ls -q --filter name=%s | xargs -r %s -H %s network rm "
	         ">/dev/null 2>&1",
	         L.cli, L.host, L.prefix, L.cli, L.host, L.cli, L.host, L.prefix, L.cli, L.host);
	if (system(cmd) < 0)
		perror("cleanup");
}

static int group_setup(void **state)
{
	struct timeval ms10 = {0, 10000};

	(void)state;
	L.host = getenv("WF_DOCKER_HOST");
	if (!L.host || !L.host[0])
		return 0;
	L.cli = getenv("WF_DOCKER_CLI") ? getenv("WF_DOCKER_CLI") : "/usr/bin/docker";
	L.image = getenv("WF_DOCKER_IMAGE") ? getenv("WF_DOCKER_IMAGE") : "busybox";
	snprintf(L.prefix, sizeof(L.prefix), "wfdk-live-%d", (int)getpid());
	L.base = event_base_new();
	L.tick = event_new(L.base, -1, EV_PERSIST, on_tick, NULL);
	event_add(L.tick, &ms10);
	if (wf_docker_new(&L.d, L.base, L.host, &ops, NULL))
		return -1;
	wf_docker_set_backoff(L.d, 100, 1000);
	clock_gettime(CLOCK_MONOTONIC, &L.step_start);
	while (L.synced == 0) {
		event_base_loop(L.base, EVLOOP_ONCE);
		if (step_ms() > WAIT_LIMIT_S * 1000) {
			fprintf(stderr, "no sync with %s\n", L.host);
			return -1;
		}
	}
	/* Let the event stream open before anything happens. */
	for (int i = 0; i < 20; i++)
		event_base_loop(L.base, EVLOOP_ONCE);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!L.host || !L.host[0])
		return 0;
	cleanup_engine();
	wf_docker_free(L.d);
	mirror_clear();
	event_free(L.tick);
	event_base_free(L.base);
	return 0;
}

static bool ours(const struct wf_container *c)
{
	size_t len = strlen(L.prefix);

	return !strncmp(c->name, L.prefix, len) && c->name[len] == '-';
}

static bool none_of_ours(void)
{
	for (size_t i = 0; i < L.n; i++) {
		if (ours(L.seen[i]))
			return false;
	}
	return true;
}

/* Each test leaves the engine, and the client's view of it, without any of its containers. */
static int test_teardown(void **state)
{
	(void)state;
	if (!L.host || !L.host[0])
		return 0;
	cleanup_engine();
	clock_gettime(CLOCK_MONOTONIC, &L.step_start);
	while (!none_of_ours()) {
		event_base_loop(L.base, EVLOOP_ONCE);
		if (step_ms() > WAIT_LIMIT_S * 1000) {
			fprintf(stderr,
			        "the client still reports containers removed from the engine\n");
			return -1;
		}
	}
	return 0;
}

static void need_engine(void)
{
	if (!L.host || !L.host[0]) {
		printf("  WF_DOCKER_HOST is unset: no engine to test against\n");
		skip();
	}
}

static bool has_ip4(const struct wf_container *c)
{
	for (size_t i = 0; c && i < c->n_networks; i++) {
		if (c->networks[i].has_ip4)
			return true;
	}
	return false;
}

static const struct wf_network *network_named(const struct wf_container *c, const char *suffix)
{
	char name[128];

	snprintf(name, sizeof(name), "%s-%s", L.prefix, suffix);
	for (size_t i = 0; c && i < c->n_networks; i++) {
		if (!strcmp(c->networks[i].name, name))
			return &c->networks[i];
	}
	return NULL;
}

/* A labelled container NAME on the default bridge, once the client reports its address. */
static void run_labelled(const char *suffix)
{
	STEP("run (labelled)", has_ip4(by_name(suffix)),
	     "run -d --name %s-%s --label wgfwd.ports=8080 %s sleep 100000", L.prefix, suffix,
	     L.image);
}

static void started_labelled_container_is_reported(void **state)
{
	const struct wf_network *n;

	(void)state;
	need_engine();
	docker("network create %s-net", L.prefix);
	STEP("run (labelled)", has_ip4(by_name("web")),
	     "run -d --name %s-web --label wgfwd.ports=8080 --network %s-net %s sleep 100000",
	     L.prefix, L.prefix, L.image);
	n = network_named(by_name("web"), "net");
	assert_non_null(n);
	assert_true(n->has_ip4);
	assert_int_equal(strncmp(n->bridge, "br-", 3), 0);
	assert_int_equal(strncmp(n->bridge + 3, n->id, 12), 0);
}

static void unlabelled_container_is_not_reported(void **state)
{
	int changed;

	(void)state;
	need_engine();
	changed = L.changed;
	docker("run -d --name %s-plain %s sleep 100000", L.prefix, L.image);
	/* A labelled one started after it is the barrier. */
	STEP("run (after an unlabelled one)", by_name("marker"),
	     "run -d --name %s-marker --label wgfwd.ports=1 %s sleep 100000", L.prefix, L.image);
	assert_null(by_name("plain"));
	assert_int_equal(L.changed, changed + 1);
}

static void renamed_container_is_reported_under_its_new_name(void **state)
{
	(void)state;
	need_engine();
	run_labelled("web");
	STEP("rename", by_name("web2") && !by_name("web"), "rename %s-web %s-web2", L.prefix,
	     L.prefix);
}

static void connected_and_disconnected_networks_are_reported(void **state)
{
	(void)state;
	need_engine();
	run_labelled("web2");
	docker("network create %s-net2", L.prefix);
	STEP("network connect",
	     network_named(by_name("web2"), "net2") &&
	         network_named(by_name("web2"), "net2")->has_ip4,
	     "network connect %s-net2 %s-web2", L.prefix, L.prefix);
	assert_int_equal(by_name("web2")->n_networks, 2);
	assert_string_not_equal(network_named(by_name("web2"), "net2")->bridge, "");
	STEP("network disconnect", !network_named(by_name("web2"), "net2"),
	     "network disconnect %s-net2 %s-web2", L.prefix, L.prefix);
	assert_int_equal(by_name("web2")->n_networks, 1);
}

static void paused_container_is_reported_paused(void **state)
{
	(void)state;
	need_engine();
	run_labelled("web2");
	STEP("pause", by_name("web2") && by_name("web2")->paused, "pause %s-web2", L.prefix);
	STEP("unpause", by_name("web2") && !by_name("web2")->paused, "unpause %s-web2", L.prefix);
}

static void stopped_container_is_removed_and_started_one_back(void **state)
{
	(void)state;
	need_engine();
	run_labelled("web2");
	STEP("stop", !by_name("web2"), "stop -t 0 %s-web2", L.prefix);
	STEP("start", has_ip4(by_name("web2")), "start %s-web2", L.prefix);
}

static void restarted_container_is_still_reported(void **state)
{
	int removed, changed;

	(void)state;
	need_engine();
	run_labelled("web2");
	removed = L.removed;
	changed = L.changed;
	/* The engine answers an inspect only once the restart is over, so a restart that
	 * keeps the address changes nothing the agent sees; one that moves it is a change. */
	docker("restart -t 0 %s-web2", L.prefix);
	WAIT_FOR("restart", has_ip4(by_name("web2")));
	settle(500);
	printf("  restart reported as %d removal(s) and %d change(s)\n", L.removed - removed,
	       L.changed - changed);
	/* Whatever the client saw go, it saw come back, and it reports the container now. */
	assert_true(L.removed - removed <= L.changed - changed);
	assert_true(has_ip4(by_name("web2")));
}

static void container_sharing_a_namespace_brings_its_owner(void **state)
{
	(void)state;
	need_engine();
	docker("run -d --name %s-owner %s sleep 100000", L.prefix, L.image);
	STEP("run (in another's namespace)", by_name("guest") && has_ip4(by_name("owner")),
	     "run -d --name %s-guest --label wgfwd.ports=9000 --network container:%s-owner %s "
	     "sleep 100000",
	     L.prefix, L.prefix, L.image);
	assert_int_equal(by_name("guest")->netmode, WF_NETMODE_CONTAINER);
	assert_string_equal(by_name("guest")->netmode_target, by_name("owner")->id);
}

static void removed_container_is_reported_removed(void **state)
{
	(void)state;
	need_engine();
	run_labelled("marker");
	STEP("rm -f", !by_name("marker"), "rm -f %s-marker", L.prefix);
}

static void engine_restart_resyncs_without_vanished_container(void **state)
{
	const char *restart = getenv("WF_DOCKER_RESTART_CMD");
	int downs, synced;

	(void)state;
	need_engine();
	if (!restart || !restart[0]) {
		printf("  WF_DOCKER_RESTART_CMD is unset: engine restart not tested\n");
		skip();
	}
	docker("run -d --rm --name %s-ephemeral --label wgfwd.ports=7000 %s sleep 100000", L.prefix,
	       L.image);
	STEP("run (restart policy always)", by_name("ephemeral") && has_ip4(by_name("survivor")),
	     "run -d --restart always --name %s-survivor --label wgfwd.ports=7001 %s sleep 100000",
	     L.prefix, L.image);
	downs = L.downs;
	synced = L.synced;
	STEP_PID("engine killed", L.downs > downs, spawn_shell(restart));
	WAIT_FOR("engine back, synchronised", L.synced > synced);
	/* An auto-removed container is gone after a restart; one restarted by policy is back. */
	WAIT_FOR("survivor running again", has_ip4(by_name("survivor")));
	assert_null(by_name("ephemeral"));
}

int main(void)
{
#define LIVE_TEST(f) cmocka_unit_test_teardown(f, test_teardown)
	const struct CMUnitTest tests[] = {
	    LIVE_TEST(started_labelled_container_is_reported),
	    LIVE_TEST(unlabelled_container_is_not_reported),
	    LIVE_TEST(renamed_container_is_reported_under_its_new_name),
	    LIVE_TEST(connected_and_disconnected_networks_are_reported),
	    LIVE_TEST(paused_container_is_reported_paused),
	    LIVE_TEST(stopped_container_is_removed_and_started_one_back),
	    LIVE_TEST(restarted_container_is_still_reported),
	    LIVE_TEST(container_sharing_a_namespace_brings_its_owner),
	    LIVE_TEST(removed_container_is_reported_removed),
	    LIVE_TEST(engine_restart_resyncs_without_vanished_container),
	};

	/* Like every kernel test: a namespace of its own (the engine is reached by its
	 * socket, which no network namespace hides). */
	if (unshare(CLONE_NEWNET)) {
		perror("test_docker_live: unshare(CLONE_NEWNET)");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	wf_log_init("test_docker_live", getenv("WF_TEST_DEBUG") ? WF_LOG_DEBUG : WF_LOG_WARN,
	            false);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
