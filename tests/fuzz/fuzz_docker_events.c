/* The Docker parsers on hostile input: the event stream cut into pieces chosen by the input
 * must read exactly as the whole stream does, and the document parsers (inspect, list,
 * networks, version) must say no without crashing or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd-agent/docker_json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 256

static const char known_networks[] =
    "[{\"Name\":\"bridge\",\"Id\":"
    "\"b39bfccd4fcb311d9cb3261f593edd1bf6495043e66552eda7693b70e5c5ba57\","
    "\"Driver\":\"bridge\",\"Options\":{\"com.docker.network.bridge.name\":\"docker0\"}},"
    "{\"Name\":\"web_default\",\"Id\":"
    "\"ee39fb1d8f925c574e1a444dea293927b43b45f6e8a5a8b664dc80669e8fb219\",\"Driver\":\"bridge\"}]";

struct seen {
	struct wf_docker_event ev[MAX_EVENTS];
	size_t n;
};

static int collect(const struct wf_docker_event *ev, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < MAX_EVENTS)
		s->ev[s->n] = *ev;
	s->n++;
	return 0;
}

/* Feeds the stream in pieces whose sizes come from a generator seeded by the input. */
static int feed_split(struct wf_docker_events *p, const char *buf, size_t len, uint32_t seed,
                      struct seen *s)
{
	char err[WF_DOCKER_ERR_MAX];
	size_t off = 0;

	while (off < len) {
		size_t n;
		int ret;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 64;
		if (n > len - off)
			n = len - off;
		ret = wf_docker_events_feed(p, buf + off, n, collect, s, err);
		if (ret)
			return ret;
		off += n;
	}
	return 0;
}

static void events_read_the_same_however_cut(const char *buf, size_t len, size_t max_object,
                                             uint32_t seed)
{
	struct wf_docker_events *whole_p = wf_docker_events_new(max_object);
	struct wf_docker_events *split_p = wf_docker_events_new(max_object);
	static struct seen whole, split;
	char err[WF_DOCKER_ERR_MAX];
	int whole_ret, split_ret;

	if (!whole_p || !split_p)
		abort();
	whole.n = split.n = 0;
	whole_ret = wf_docker_events_feed(whole_p, buf, len, collect, &whole, err);
	split_ret = feed_split(split_p, buf, len, seed, &split);
	/* A valid stream reads the same however it is cut. A broken one need not break at the
	 * same place: json-c takes an invalid number cut right after its digits ("1795", then
	 * "-12") for the digits alone, and at the size limit it may need the byte past the
	 * limit to see a syntax error, which a cut there turns into "too large". */
	if (whole_ret)
		goto out;
	if (split_ret || whole.n != split.n)
		abort();
	for (size_t i = 0; i < whole.n && i < MAX_EVENTS; i++) {
		if (memcmp(&whole.ev[i], &split.ev[i], sizeof(whole.ev[i])))
			abort();
	}
out:
	wf_docker_events_free(whole_p);
	wf_docker_events_free(split_p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char err[WF_DOCKER_ERR_MAX];
	struct wf_container c;
	struct wf_docker_networks nets;
	struct wf_docker_summaries list;
	struct wf_docker_version v;
	char api[WF_DOCKER_API_MAX];
	uint32_t seed = 0;

	for (size_t i = 0; i < size && i < 4; i++)
		seed = seed << 8 | data[i];

	events_read_the_same_however_cut(buf, size, 0, seed);
	events_read_the_same_however_cut(buf, size, 64 + seed % 512, seed);

	if (!wf_docker_parse_inspect(buf, size, &c, err)) {
		if (wf_docker_parse_networks(known_networks, strlen(known_networks), &nets, err))
			abort();
		wf_docker_networks_resolve(&nets, &c);
		wf_docker_networks_clear(&nets);
		wf_container_clear(&c);
	}
	if (!wf_docker_parse_networks(buf, size, &nets, err)) {
		for (size_t i = 0; i < nets.n; i++) {
			if (strlen(nets.v[i].bridge) >= sizeof(nets.v[i].bridge))
				abort();
		}
		wf_docker_networks_clear(&nets);
	}
	if (!wf_docker_parse_list(buf, size, &list, err))
		wf_docker_summaries_clear(&list);
	if (!wf_docker_parse_version(buf, size, &v, err))
		wf_docker_api_pick(&v, api);
	wf_docker_error_message(buf, size, err, sizeof(err));
	return 0;
}
