/* What the VPS's owner grants each peer, from the gateway's configuration. Pure (the services
 * database aside).
 *
 *   --peer-ports  ADDR=any | none | PORT[-PORT][/tcp|/udp],...
 *       the public ports the peer may take; default any port not reserved
 *   --peer-egress ADDR=none | ENTRY,...
 *       the egress the peer may have, in the wgfwd.egress label grammar (smtp, tcp/25,
 *       tcp/6000-6010, tcp, udp, all); default none
 *
 * ADDR is any tunnel address of a configured peer. An option given again for the same peer
 * adds to its list; `any' and `none' stand alone. A request is granted only when the grant
 * covers all of it: asking for tcp when only tcp/25 is granted is refused whole, so that what
 * the agent routes into the tunnel is what the gateway forwards. */
#ifndef WGFWD_GATEWAY_GRANTS_H
#define WGFWD_GATEWAY_GRANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/labels.h>

#include "policy.h"

enum wf_gw_grant_kind {
	WF_GW_GRANT_PORTS,
	WF_GW_GRANT_EGRESS,
};

/* Parses one `ADDR=LIST' and adds it to that peer's grants. resolve NULL: the system's
 * services database. 0, -EINVAL with err naming the culprit, or -ENOMEM. */
int wf_gw_config_grant(struct wf_gw_config *cfg, enum wf_gw_grant_kind kind, const char *spec,
                       wf_service_resolver resolve, char *err, size_t errlen);

bool wf_gw_grants_allow_port(const struct wf_gw_grants *g, uint8_t proto, uint16_t port);
bool wf_gw_grants_cover_egress(const struct wf_gw_grants *g, const struct wf_ctl_egress *want);

/* Text for messages and status: "any", "none", "1024-2000,443/tcp"; "none", "tcp/25,udp",
 * "all". Cut with "..." when buf is short. */
void wf_gw_grants_ports_text(const struct wf_gw_grants *g, char *buf, size_t len);
void wf_gw_grants_egress_text(const struct wf_gw_grants *g, char *buf, size_t len);
/* One egress entry as a grant would spell it: "tcp/25", "tcp/6000-6010", "udp", "all". */
void wf_gw_egress_text(const struct wf_ctl_egress *e, char *buf, size_t len);

int wf_gw_grants_copy(struct wf_gw_grants *dst, const struct wf_gw_grants *src);
void wf_gw_grants_free(struct wf_gw_grants *g);

#endif
