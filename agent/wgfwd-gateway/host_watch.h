/* wgfwd-gateway following the ports its own host serves (listeners.h), and telling the
 * operator about forwards that take one.
 *
 *   read (timer, and before each decision) -> host ports -> config.host_ports (policy input)
 *   state or host ports changed            -> clashes    -> log once each, status, metrics
 *
 * A read that fails keeps the ports of the last one that worked, and is logged once until
 * reads work again. */
#ifndef WGFWD_GATEWAY_HOST_WATCH_H
#define WGFWD_GATEWAY_HOST_WATCH_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listeners.h"

struct wf_gw_host_watch {
	struct wf_gw_host_ports ports;
	struct wf_gw_clash *clashes;
	size_t n_clashes;
	int read_err; /* of the last read: 0 or -errno */
	int wg_err;   /* of the last WireGuard query: 0, -ENOENT (no kernel WireGuard) or -errno */
	uint64_t reads, read_errors;
	struct wf_gw_nl_socks socks;
	int ifr_fd; /* asks for the public interface's index; has_ifr_fd when open */
	bool has_ifr_fd;
};

/* Reads the host's listeners and WireGuard's ports again (sockets whose inode is in skip[] left
 * out: the gateway's own). Returns true when the set of host ports changed. */
bool wf_gw_host_watch_read(struct wf_gw_host_watch *w, const struct wf_gw_params *p,
                           const uint32_t *skip, size_t n_skip);
/* The same for the protocols protos only (WF_GW_TCP, WF_GW_UDP); the ports of the others stay
 * as the last read found them. */
bool wf_gw_host_watch_read_protos(struct wf_gw_host_watch *w, const struct wf_gw_params *p,
                                  const uint32_t *skip, size_t n_skip, unsigned protos);
/* Finds the forwards of s on host ports again; logs each clash that is new and each that
 * ended. */
void wf_gw_host_watch_clashes(struct wf_gw_host_watch *w, const struct wf_gw_config *cfg,
                              const struct wf_gw_state *s);
/* The clash of one forward, if any: its reason (the same text a refusal would carry). */
bool wf_gw_host_watch_clash_reason(const struct wf_gw_host_watch *w, size_t peer,
                                   const struct wf_ctl_forward *f, char *buf, size_t len);
/* Adds "host_ports" and "clashes" to the gateway's status document. */
void wf_gw_host_watch_status(const struct wf_gw_host_watch *w, const struct wf_gw_config *cfg,
                             json_object *doc);
void wf_gw_host_watch_free(struct wf_gw_host_watch *w);

#endif
