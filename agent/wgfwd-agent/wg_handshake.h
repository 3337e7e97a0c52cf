/* When a WireGuard tunnel last completed a handshake: a userspace implementation
 * (wireguard-go, boringtun) tells through its UAPI socket /var/run/wireguard/IFNAME.sock, the
 * kernel's through its generic netlink family. A live tunnel renews its handshake every two
 * minutes while traffic or keepalives flow, so one older than WF_WG_HANDSHAKE_STALE_S means
 * the peer is gone. */
#ifndef WGFWD_AGENT_WG_HANDSHAKE_H
#define WGFWD_AGENT_WG_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#define WF_WG_UAPI_DIR          "/var/run/wireguard"
#define WF_WG_HANDSHAKE_STALE_S 180

/* Pure: the latest last_handshake_time_sec of every peer in a UAPI `get' answer; 0 when no
 * peer ever completed one. -EINVAL when the answer is not one (no errno=0 line). */
int wf_wg_uapi_last_handshake(const char *answer, int64_t *sec);
/* Pure: the latest WGPEER_A_LAST_HANDSHAKE_TIME among the peers of one WG_CMD_GET_DEVICE
 * answer (a device with many peers answers in several), raising *sec only. -EINVAL when the
 * message is not such an answer. */
int wf_wg_genl_last_handshake(const void *msg, size_t len, int64_t *sec);
/* Asks ifname's UAPI socket, else the kernel. -ENOENT when neither knows the interface. */
int wf_wg_last_handshake(const char *ifname, int64_t *sec);

#endif
