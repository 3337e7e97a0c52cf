/* The gateway's control server: listens for agents on the tunnel, lets only configured peers
 * reach the handshake, keeps one established connection per peer, and hands each peer's states
 * to the daemon in turns.
 *
 *   accept (peer by source address, connection limits) -> handshake (the peer's key)
 *     -> identity == peer of the source address -> gateway_info
 *   state (its text) -> the peer's pending state (a newer one supersedes it, acknowledged as
 *     not applied, never decoded) -> its turn, in steps with the loop's other work between:
 *     decode, a piece of the text at a time -> ops->state, as many steps as it asks (decide,
 *     render, apply, results: turn.c) -> ops->settle (save) -> state_ack
 *   A newer state that comes during the decode or ops->state's steps cuts the turn short
 *   (ops->cut): only the latest state matters, and its turn comes next.
 *
 * Turns bound what one peer can cost the others: after a state of a peer is applied, its next
 * waits at least a minimum interval or twice as long as that one's steps took; meanwhile only
 * its latest state is kept. The steps of a peer that sends faster than that run with the reads
 * of the connections, those of any other peer before them, so another peer's state waits at
 * most for the one step under way (so do those of a turn that has run 10 ms, busy or not); and
 * its connection is not read while it waits for a turn, but for a short window before it and
 * during it until one more state comes (which cuts it short), so that reading its states does
 * not take the gateway's time either. A text over 256 KiB that is not a plain state is not
 * decoded in one piece: a delta is answered resend, anything else refused. */
#ifndef WGFWD_GATEWAY_CONTROL_H
#define WGFWD_GATEWAY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <wgfwd/ctl.h>

#include "policy.h"

struct event_base;
struct wf_gw_control;

/* Connections turned away before or after the handshake, by why; a failed handshake is counted
 * on its own. */
enum wf_gw_rejection {
	WF_GW_REJECT_NOT_A_PEER,
	WF_GW_REJECT_TOO_MANY,
	WF_GW_REJECT_IDENTITY,
	WF_GW_REJECT_MAX,
};

const char *wf_gw_rejection_name(enum wf_gw_rejection r);

struct wf_gw_control_counters {
	uint64_t states_superseded, handshake_failures;
	uint64_t rejected[WF_GW_REJECT_MAX];
};

struct wf_gw_control_ops {
	/* A peer's state whose turn has come, one step a call: true while it wants another (the
	 * loop's other work, other peers' turns first, runs between them). The last fills the
	 * ack (its generation is set); the control server sends it. */
	bool (*state)(void *ctx, size_t peer, const struct wf_ctl_state *s,
	              struct wf_ctl_state_ack *ack);
	/* The peer went while its state's steps were under way: none comes any more. */
	void (*abandon)(void *ctx, size_t peer);
	/* Optional: a newer state of the peer came while its state's steps were under way. True
	 * when the steps end there (none comes any more, what they put in the kernel stays);
	 * false when the state is in whole already, and its last steps come as usual. */
	bool (*cut)(void *ctx, size_t peer);
	/* Optional: what is left of that state's work once the kernel holds it (saving it), as a
	 * step of its own before the ack goes; it runs even when the peer has gone meanwhile. */
	void (*settle)(void *ctx, size_t peer);
	/* A peer's state_delta whose base it holds (see take_delta in control.c). Fills the
	 * delta_ack; resend when the delta does not fit what the peer asked for last. */
	void (*state_delta)(void *ctx, size_t peer, const struct wf_ctl_state_delta *dl,
	                    struct wf_ctl_state_ack *ack);
	/* What a peer is told once its connection is established. */
	void (*gateway_info)(void *ctx, size_t peer, struct wf_ctl_gateway_info *gi);
};

/* keys: one per peer of cfg, in its order; both must outlive the control server. */
int wf_gw_control_new(struct event_base *base, const struct wf_gw_config *cfg,
                      const uint8_t (*keys)[WF_KEY_LEN], const struct wf_gw_control_ops *ops,
                      void *ctx, struct wf_gw_control **out);
/* Closes every connection (without a word to the peers) and the listeners. */
void wf_gw_control_free(struct wf_gw_control *c);

/* Listens on one more address; at most max_listeners. Logs what failed; 0 or -errno. */
int wf_gw_control_listen(struct wf_gw_control *c, const struct sockaddr_storage *ss, socklen_t len,
                         size_t max_listeners);
/* The inode numbers of the listening sockets (the host's own listening ports leave them out).
 * Returns how many, at most max. */
size_t wf_gw_control_socket_inodes(const struct wf_gw_control *c, uint32_t *ino, size_t max);

/* The peer's established connection's remote address, NULL when it has none. */
const char *wf_gw_control_remote(const struct wf_gw_control *c, size_t peer);
/* Sends to the peer's established connection, if any: 0, -ENOTCONN or -errno. */
int wf_gw_control_send(struct wf_gw_control *c, size_t peer, const struct wf_ctl_msg *m);
/* Sends gateway_info again to every established peer (the public addresses changed). */
void wf_gw_control_broadcast_info(struct wf_gw_control *c);
const struct wf_gw_control_counters *wf_gw_control_counters(const struct wf_gw_control *c);

#endif
