/* The gateway's persisted state as the decoder sees it from disk, then through the policy and
 * the ruleset renderer: whatever a file holds, decoding either fails cleanly or yields entries
 * that encode back to the same thing (and that the strict reader reads alike), and the policy never
 * lets the renderer see a conflict. */
#include <wgfwd-gateway/render.h>
#include <wgfwd-gateway/store.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PEER "192.168.160.2"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wf_gw_config cfg = {.max_entries = 4096};
	struct wf_gw_params params = {.tunnel_ifname = "wg0",
	                              .public_ifname = "eth0",
	                              .control_port = WF_GW_DEFAULT_CONTROL_PORT};
	struct wf_gw_entries e, again;
	struct wf_gw_state empty, next;
	struct wf_gw_decision d;
	struct wf_gw_peer peer;
	struct wf_nft_table *t;
	char err[256], *json;

	if (wf_gw_store_decode((const char *)data, size, PEER, &e, err, sizeof(err)))
		return 0;
	/* The fast path may take a text only as the strict reader reads it. */
	if (wf_gw_store_decode_strict((const char *)data, size, PEER, &again, err, sizeof(err)) ||
	    !wf_gw_entries_equal(&e, &again))
		abort();
	wf_gw_entries_free(&again);
	if (wf_gw_store_encode(PEER, &e, &json) == 0) {
		if (wf_gw_store_decode(json, strlen(json), PEER, &again, err, sizeof(err)) ||
		    !wf_gw_entries_equal(&e, &again))
			abort();
		wf_gw_entries_free(&again);
		free(json);
	}
	if (wf_gw_peer_parse(PEER ",fc00::2=/k", &peer, err, sizeof(err)) == 0) {
		wf_gw_config_add_peer(&cfg, &peer, err, sizeof(err));
		free(peer.keyfile);
	}
	wf_gw_config_reserve(&cfg, IPPROTO_TCP, 22, 22);
	inet_pton(AF_INET, "203.0.113.1", &params.public_ip4[params.n_public_ip4++]);
	if (cfg.n_peers == 1 && wf_gw_state_init(&empty, 1) == 0) {
		if (wf_gw_policy_decide(&cfg, &empty, 0, &e, &next, &d) == 0) {
			if (wf_gw_render(&params, &cfg, &next, &t) != 0)
				abort();
			wf_nft_table_free(t);
			wf_gw_state_free(&next);
			wf_gw_decision_free(&d);
		}
		wf_gw_state_free(&empty);
	}
	wf_gw_config_free(&cfg);
	wf_gw_entries_free(&e);
	return 0;
}
