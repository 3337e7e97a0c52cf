/* Arbitrary bytes as --peer-ports and --peer-egress values, through the grant parser and the
 * policy that checks requests against the grants.
 *
 * Input: one kind byte (even: ports, odd: egress), then the text, split at '\n' into several
 * options given in turn for the two configured peers (addressed by either of their addresses
 * when the text names one). Beyond memory errors, the harness checks the promises of
 * grants.h: a refused option names itself and leaves the grants as they were; grants
 * are well formed; and a request the grants do not cover is refused, one they cover is not
 * refused as ungranted. */
#include <wgfwd-gateway/grants.h>
#include <wgfwd-gateway/policy.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_grants(const struct wf_gw_grants *g)
{
	char text[256];

	for (size_t i = 0; i < g->n_ports; i++)
		CHECK(g->ports[i].lo && g->ports[i].lo <= g->ports[i].hi);
	CHECK(!g->n_ports || g->ports_limited);
	for (size_t i = 0; i < g->n_egress; i++) {
		const struct wf_ctl_egress *e = &g->egress[i];

		CHECK(e->proto == 0 || e->proto == IPPROTO_TCP || e->proto == IPPROTO_UDP);
		CHECK(e->proto || (!e->port_lo && !e->port_hi));
		CHECK(!e->port_lo || e->port_lo <= e->port_hi);
		/* what was granted is covered */
		CHECK(wf_gw_grants_cover_egress(g, e));
	}
	wf_gw_grants_ports_text(g, text, sizeof(text));
	CHECK(strlen(text) < sizeof(text));
	wf_gw_grants_egress_text(g, text, sizeof(text));
	CHECK(strlen(text) < sizeof(text));
}

static void check_decide(const struct wf_gw_config *cfg, uint16_t port)
{
	struct wf_ctl_forward f = {IPPROTO_TCP, AF_INET, port ? port : 1, 80};
	struct wf_ctl_egress g[] = {
	    {IPPROTO_TCP, port ? port : 1, port ? port : 1}, {IPPROTO_UDP, 0, 0}, {0, 0, 0}};
	struct wf_gw_entries want = {.forwards = &f, .n_forwards = 1, .egress = g, .n_egress = 3};
	struct wf_gw_state cur, next;
	struct wf_gw_decision d;

	CHECK(wf_gw_state_init(&cur, cfg->n_peers) == 0);
	CHECK(wf_gw_policy_decide(cfg, &cur, 0, &want, &next, &d) == 0);
	CHECK((d.forwards[0].status == WF_GW_NOT_GRANTED) ==
	      !wf_gw_grants_allow_port(&cfg->peers[0].grants, f.proto, f.public_port));
	for (size_t i = 0; i < 3; i++)
		CHECK((d.egress[i].status == WF_GW_NOT_GRANTED) ==
		      !wf_gw_grants_cover_egress(&cfg->peers[0].grants, &g[i]));
	wf_gw_decision_free(&d);
	wf_gw_state_free(&next);
	wf_gw_state_free(&cur);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"10.0.0.2", "fc00::2", "10.0.0.3"};
	struct wf_gw_config cfg = {.max_entries = 64};
	char err[512], *text, *save = NULL;
	struct wf_gw_peer p = {0};
	size_t line = 0;

	if (size < 1 || size > 4096)
		return 0;
	CHECK(wf_gw_peer_parse("10.0.0.2,fc00::2=/k", &p, err, sizeof(err)) == 0);
	CHECK(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)) == 0);
	free(p.keyfile);
	CHECK(wf_gw_peer_parse("10.0.0.3=/k", &p, err, sizeof(err)) == 0);
	CHECK(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)) == 0);
	free(p.keyfile);
	text = malloc(size);
	CHECK(text);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
		enum wf_gw_grant_kind kind =
		    (data[0] + line) & 1 ? WF_GW_GRANT_EGRESS : WF_GW_GRANT_PORTS;
		char spec[4200];
		struct wf_gw_grants before[2];
		int ret;

		/* A line with '=' is a whole spec; otherwise it is granted to a known peer. */
		if (strchr(l, '='))
			snprintf(spec, sizeof(spec), "%s", l);
		else
			snprintf(spec, sizeof(spec), "%s=%s", names[line % 3], l);
		for (size_t i = 0; i < 2; i++)
			CHECK(wf_gw_grants_copy(&before[i], &cfg.peers[i].grants) == 0);
		err[0] = '\0';
		ret = wf_gw_config_grant(&cfg, kind, spec, wf_service_lookup_builtin, err,
		                         sizeof(err));
		CHECK(ret == 0 || ret == -EINVAL);
		if (ret) {
			CHECK(err[0]);
			for (size_t i = 0; i < 2; i++) {
				CHECK(before[i].n_ports == cfg.peers[i].grants.n_ports);
				CHECK(before[i].n_egress == cfg.peers[i].grants.n_egress);
				CHECK(before[i].ports_limited == cfg.peers[i].grants.ports_limited);
			}
		}
		for (size_t i = 0; i < 2; i++)
			wf_gw_grants_free(&before[i]);
	}
	for (size_t i = 0; i < 2; i++)
		check_grants(&cfg.peers[i].grants);
	check_decide(&cfg, (uint16_t)(data[0] * 257));
	free(text);
	wf_gw_config_free(&cfg);
	return 0;
}
