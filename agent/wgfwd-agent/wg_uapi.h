/* When each WireGuard tunnel last completed a handshake, as its userspace implementation
 * (wireguard-go, boringtun) tells through its UAPI socket /var/run/wireguard/IFNAME.sock.
 * A live tunnel renews its handshake every two minutes while traffic or keepalives flow, so
 * one older than WF_WG_HANDSHAKE_STALE_S means the peer is gone. */
#ifndef WGFWD_AGENT_WG_UAPI_H
#define WGFWD_AGENT_WG_UAPI_H

#include <stdint.h>

#define WF_WG_UAPI_DIR          "/var/run/wireguard"
#define WF_WG_HANDSHAKE_STALE_S 180

/* Pure: the latest last_handshake_time_sec of every peer in a UAPI `get' answer; 0 when no
 * peer ever completed one. -EINVAL when the answer is not one (no errno=0 line). */
int wf_wg_uapi_last_handshake(const char *answer, int64_t *sec);
/* Asks the socket of ifname. -ENOENT when there is none (a kernel tunnel, or none at all). */
int wf_wg_last_handshake(const char *ifname, int64_t *sec);

#endif
