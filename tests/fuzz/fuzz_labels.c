/* Arbitrary bytes as label values, and as a small container list, through the label parsers
 * and the desired-state function.
 *
 * Input: two shape bytes per container (NCONT of them), then text. The whole text is fed to
 * each parser as one label value; split at '\n', its lines become the containers' labels
 * (ports, egress, network, enable for container 0, then container 1, …; a missing line is a
 * missing label). Beyond memory errors, the harness checks the promises of labels.h and
 * state.h: entries well formed and disjoint, messages one printable line, forwards unique and
 * never to an empty address, and the same state whatever the input order. */
#include <wgfwd/labels.h>
#include <wgfwd-agent/state.h>

#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NCONT       3
#define SHAPE_BYTES (2 * NCONT)
#define LINES       (4 * NCONT)
#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(void *ctx, const char *message)
{
	size_t len = strlen(message);

	CHECK(len > 0 && len < WF_LABEL_ERROR_MAX);
	for (size_t i = 0; i < len; i++)
		CHECK(message[i] >= 0x20 && message[i] < 0x7f);
	(*(size_t *)ctx)++;
}

static void check_ports(const char *value)
{
	static uint8_t seen[2][65536];
	struct wf_port_entry *v;
	size_t n, errors = 0;

	CHECK(wf_parse_ports(value, &v, &n, check_message, &errors) == 0);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		const struct wf_port_entry *e = &v[i];

		CHECK(e->protos && !(e->protos & ~(WF_PROTO_TCP | WF_PROTO_UDP)));
		CHECK(e->public_lo >= 1 && e->public_lo <= e->public_hi);
		CHECK(e->target_lo >= 1 && e->target_lo <= e->target_hi);
		CHECK(e->public_hi - e->public_lo == e->target_hi - e->target_lo);
		CHECK(e->public_hi - e->public_lo < WF_PORTS_RANGE_MAX);
		for (int b = 0; b < 2; b++) {
			if (!(e->protos & (1 << b)))
				continue;
			for (unsigned p = e->public_lo; p <= e->public_hi; p++) {
				CHECK(!seen[b][p]);
				seen[b][p] = 1;
			}
		}
	}
	free(v);
}

static void check_egress(const char *value)
{
	struct wf_egress_entry *v;
	size_t n, errors = 0;

	CHECK(wf_parse_egress(value, wf_service_lookup_builtin, NULL, &v, &n, check_message,
	                      &errors) == 0);
	for (size_t i = 0; i < n; i++) {
		CHECK(v[i].proto == 0 || v[i].proto == IPPROTO_TCP || v[i].proto == IPPROTO_UDP);
		if (!v[i].port_lo)
			CHECK(!v[i].port_hi);
		else
			CHECK(v[i].port_lo <= v[i].port_hi);
		if (!v[i].proto)
			CHECK(!v[i].port_lo);
	}
	free(v);
}

static void check_bool(const char *value)
{
	char err[WF_LABEL_ERROR_MAX];
	size_t errors = 0;
	bool b;

	if (wf_parse_bool(value, &b, err, sizeof(err)) < 0)
		check_message(&errors, err);
}

static void check_state(const struct wf_desired *d)
{
	for (size_t i = 0; i < d->n_forwards; i++) {
		const struct wf_forward *f = &d->forwards[i];

		CHECK(f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP);
		CHECK(f->public_port && f->target_port);
		if (i) {
			const struct wf_forward *prev = &d->forwards[i - 1];

			CHECK(prev->proto < f->proto ||
			      (prev->proto == f->proto && prev->public_port < f->public_port));
		}
		if (f->to_host) {
			CHECK(!f->has_ip4 && !f->has_ip6);
		} else {
			CHECK(f->has_ip4 || f->has_ip6);
			CHECK(!f->has_ip4 || f->ip4.s_addr != INADDR_ANY);
			CHECK(!f->has_ip6 || !IN6_IS_ADDR_UNSPECIFIED(&f->ip6));
		}
	}
	for (size_t i = 0; i < d->n_egress; i++) {
		const struct wf_egress *e = &d->egress[i];

		CHECK(e->to_host || e->has_ip4 || e->has_ip6);
	}
	for (size_t i = 0; i < d->n_problems; i++) {
		size_t errors = 0;

		check_message(&errors, d->problems[i].message);
	}
}

static void check_containers(const uint8_t *shape, char **lines, size_t n_lines)
{
	static const char *const names[NCONT] = {"c0", "c1", "c2"};
	static const char *const ids[NCONT] = {"0a0a", "0b0b", "0c0c"};
	static const char *const refs[4] = {"c0", "0b", "0c0c", "missing"};
	static const char *const keys[4] = {WF_LABEL_PORTS, WF_LABEL_EGRESS, WF_LABEL_NETWORK,
	                                    WF_LABEL_ENABLE};
	static const char *const net_names[2] = {"a", "b"};
	struct wf_container cs[NCONT], rev[NCONT];
	struct wf_label labels[NCONT][4];
	struct wf_network nets[NCONT][2];
	struct wf_desired d1, d2, empty = {0};
	struct wf_desired_diff diff;
	struct json_object *j;

	memset(cs, 0, sizeof(cs));
	memset(nets, 0, sizeof(nets));
	for (size_t i = 0; i < NCONT; i++) {
		uint8_t s0 = shape[2 * i], s1 = shape[2 * i + 1];
		struct wf_container *c = &cs[i];

		c->name = (char *)names[i];
		c->id = (char *)ids[i];
		c->netmode = (enum wf_netmode)(s0 & 3);
		c->running = s0 & 4;
		c->paused = s0 & 8;
		c->created_ns = s1 & 3;
		c->netmode_target = (char *)refs[(s1 >> 2) & 3];
		c->networks = nets[i];
		c->n_networks = ((s0 >> 4) & 3) > 2 ? 2 : (s0 >> 4) & 3;
		for (size_t k = 0; k < c->n_networks; k++) {
			struct wf_network *n = &nets[i][k];
			uint8_t bits = k ? s1 >> 4 : s0 >> 6;

			n->name = (char *)net_names[k ^ ((s1 >> 6) & 1)];
			n->bridge[0] = 'b';
			n->bridge[1] = (char)('0' + i);
			n->has_ip4 = bits & 1;
			n->has_ip6 = bits & 2;
			n->ip4.s_addr = htonl(0xac120000u | (uint32_t)(i << 8 | (k + 1)));
			n->ip6.s6_addr[0] = 0xfd;
			n->ip6.s6_addr[15] = (uint8_t)(i * 16 + k + 1);
		}
		c->labels = labels[i];
		for (size_t k = 0; k < 4; k++) {
			if (4 * i + k < n_lines)
				labels[i][c->n_labels++] =
				    (struct wf_label){(char *)keys[k], lines[4 * i + k]};
		}
	}
	for (size_t i = 0; i < NCONT; i++)
		rev[i] = cs[NCONT - 1 - i];

	CHECK(wf_desired_build_with(cs, NCONT, wf_service_lookup_builtin, NULL, &d1) == 0);
	CHECK(wf_desired_build_with(rev, NCONT, wf_service_lookup_builtin, NULL, &d2) == 0);
	check_state(&d1);
	CHECK(wf_desired_equal(&d1, &d2));
	CHECK(d1.n_forwards == d2.n_forwards && d1.n_egress == d2.n_egress &&
	      d1.n_problems == d2.n_problems);
	CHECK(!d1.n_forwards ||
	      !memcmp(d1.forwards, d2.forwards, d1.n_forwards * sizeof(*d1.forwards)));
	CHECK(!d1.n_egress || !memcmp(d1.egress, d2.egress, d1.n_egress * sizeof(*d1.egress)));
	CHECK(!d1.n_problems ||
	      !memcmp(d1.problems, d2.problems, d1.n_problems * sizeof(*d1.problems)));

	CHECK(wf_desired_diff(&d1, &d2, &diff) == 0);
	CHECK(wf_desired_diff_empty(&diff));
	wf_desired_diff_free(&diff);
	CHECK(wf_desired_diff(&empty, &d1, &diff) == 0);
	CHECK(diff.n_forwards_added == d1.n_forwards && !diff.n_forwards_removed);
	CHECK(diff.n_egress_added == d1.n_egress && !diff.n_egress_removed);
	wf_desired_diff_free(&diff);

	j = wf_desired_to_json(&d1);
	CHECK(j);
	CHECK(json_object_to_json_string(j));
	json_object_put(j);

	wf_desired_free(&d1);
	wf_desired_free(&d2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t shape[SHAPE_BYTES] = {0};
	size_t n_shape = size < SHAPE_BYTES ? size : SHAPE_BYTES;
	char *text, *lines[LINES], *p;
	size_t n_lines = 0, len = size - n_shape;

	memcpy(shape, data, n_shape);
	text = malloc(len + 1);
	if (!text)
		return 0;
	memcpy(text, data + n_shape, len);
	text[len] = '\0';

	check_ports(text);
	check_egress(text);
	check_bool(text);

	for (p = text; n_lines < LINES;) {
		char *nl = strchr(p, '\n');

		lines[n_lines++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	if (len)
		check_containers(shape, lines, n_lines);
	free(text);
	return 0;
}
