/* Whether egress may use a gateway, from what the agent sees of it. Pure.
 *
 *   control channel up/down + when it was last up + the tunnel's last handshake
 *     --wf_gateway_is_down--> down (egress avoids it) --wf_server_egress_gateway--> choice
 *
 * The control channel gives up on a silent gateway after two thirds of the failover time and
 * counts as down after the last third, so a silent gateway is left after about the failover
 * time and a quick restart of the gateway's daemon moves nothing. A tunnel whose last
 * handshake is older than WF_WG_HANDSHAKE_STALE_S is dead whatever the channel says (the
 * channel's own pings keep a live tunnel's handshake fresh). */
#ifndef WGFWD_AGENT_GATEWAY_HEALTH_H
#define WGFWD_AGENT_GATEWAY_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#define WF_FAILOVER_AFTER_MS 15000

struct wf_gateway_seen {
	bool link_up;
	double last_up_ms; /* monotonic: when the channel was last seen up (or the start) */
	int64_t handshake; /* epoch seconds of the tunnel's last handshake, 0: unknown */
};

/* The control channel's ping interval and silence limit for a failover time (0: default). */
unsigned wf_gateway_dead_after_ms(unsigned failover_ms);
unsigned wf_gateway_ping_interval_ms(unsigned failover_ms);

bool wf_gateway_is_down(const struct wf_gateway_seen *s, double now_ms, int64_t now_s,
                        unsigned failover_ms);

#endif
