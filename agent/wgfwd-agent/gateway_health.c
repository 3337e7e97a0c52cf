#include "gateway_health.h"

#include "wg_handshake.h"

static unsigned failover(unsigned ms)
{
	return ms ? ms : WF_FAILOVER_AFTER_MS;
}

unsigned wf_gateway_dead_after_ms(unsigned failover_ms)
{
	return failover(failover_ms) * 2 / 3;
}

unsigned wf_gateway_ping_interval_ms(unsigned failover_ms)
{
	unsigned ms = failover(failover_ms) / 6;

	return ms ? ms : 1;
}

bool wf_gateway_is_down(const struct wf_gateway_seen *s, double now_ms, int64_t now_s,
                        unsigned failover_ms)
{
	if (s->handshake && now_s - s->handshake > WF_WG_HANDSHAKE_STALE_S)
		return true;
	return !s->link_up && now_ms - s->last_up_ms >= failover(failover_ms) / 3.0;
}
