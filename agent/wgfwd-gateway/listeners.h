/* The ports the gateway's own host serves, so that no forward takes them.
 *
 *   sock_diag dumps (tcp LISTEN, udp unbound-to-a-peer; IPv4 and IPv6) -> listening sockets
 *   WireGuard generic netlink (every WireGuard interface)               -> listen ports
 *     + the public addresses --wf_gw_host_ports_build--> host ports (family, proto, port)
 *     x what the peers hold   --wf_gw_host_clashes-->    forwards that take one
 *
 * DNAT runs in prerouting, before local delivery: a forward of a port the host listens on
 * steals that port's new connections. The gateway translates only what is addressed to its
 * public addresses (render.h), so only a socket bound to a wildcard address or to a public
 * address can lose anything. One bound to loopback or to the tunnel address (the gateway's own
 * control socket among them) never meets a translated packet and is left out.
 *
 * sock_diag answers for the caller's network namespace only, which is the one whose
 * prerouting the gateway programs. It sends no notification when a socket starts listening, so
 * the daemon reads again on a timer and just before it decides on a peer's new state.
 *
 * Building and parsing are pure (tests, fuzzing); the readers log nothing, and either open a
 * netlink socket per call or keep theirs open between calls (the daemon reads before every
 * decision, and opening two sockets cost as much as the dumps of an idle host). Addresses are
 * in network byte order, ports in host byte order. */
#ifndef WGFWD_GATEWAY_LISTENERS_H
#define WGFWD_GATEWAY_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/netlink.h>
#include <wgfwd/rtnl.h> /* union wf_addr */

#include "policy.h"
#include "render.h"

#define WF_GW_DEFAULT_LISTENER_INTERVAL 5000 /* ms */

/* One socket as sock_diag reports it. */
struct wf_gw_listener {
	uint8_t family; /* of the socket: AF_INET or AF_INET6 */
	uint8_t proto;  /* IPPROTO_TCP or IPPROTO_UDP: the protocol the dump asked for */
	uint8_t state;  /* TCP_LISTEN; an unconnected UDP socket is TCP_CLOSE */
	/* AF_INET6: IPV6_V6ONLY (INET_DIAG_SKV6ONLY). A kernel that does not say leaves it false,
	 * so an IPv6 wildcard counts for IPv4 too: the side that never lets a forward steal. */
	bool v6only;
	uint16_t port;  /* local port */
	uint16_t dport; /* remote port: 0 unless connected */
	union wf_addr addr;
	uint32_t ifindex; /* SO_BINDTODEVICE; 0: any interface */
	uint32_t inode;
};

/* A port the host serves to one address family of its public addresses. */
struct wf_gw_host_port {
	uint8_t family; /* AF_INET or AF_INET6: the family of the public address it is reached on */
	uint8_t proto;
	uint16_t port;
};

/* Kept sorted and unique by wf_gw_host_ports_build, so two sets compare with memcmp. */
struct wf_gw_host_ports {
	struct wf_gw_host_port *v;
	size_t n;
};

/* A forward a peer holds on a port the host serves: granted before the host's service
 * started, kept, and shown to the operator. */
struct wf_gw_clash {
	size_t peer;
	struct wf_ctl_forward forward;
};

/* ---- pure ---- */

/* Buffers are aligned as for struct nlmsghdr and at least WF_GW_NL_MSG_SIZE long. Build returns
 * the message length or -EINVAL. */
#define WF_GW_NL_MSG_SIZE 128
/* A sock_diag dump of one family's (AF_INET, AF_INET6) sockets of proto (tcp: listening; udp:
 * not connected to a peer). */
int wf_gw_diag_request_build(void *buf, size_t size, int family, uint8_t proto);
/* One SOCK_DIAG_BY_FAMILY answer of len bytes, from a dump of proto: 0, or -EINVAL for anything
 * malformed (short, stray bytes, a bad attribute, a family that is neither). */
int wf_gw_diag_parse(const void *msg, size_t len, uint8_t proto, struct wf_gw_listener *l);

/* The public families a socket is reachable on, as the bits 1 (IPv4) and 2 (IPv6): 0 when a
 * forward can never take its port. public_ifindex is the public interface's (0: unknown, then a
 * socket bound to a device counts as if it was not). */
#define WF_GW_FAMILY4 1
#define WF_GW_FAMILY6 2
int wf_gw_listener_families(const struct wf_gw_listener *l, const struct wf_gw_params *p,
                            uint32_t public_ifindex);

/* The host ports of n listeners (those whose inode is in skip[] left out) and of the WireGuard
 * listen ports (udp, both families: the kernel's WireGuard binds the wildcard of each). out is
 * overwritten. 0 or -ENOMEM. */
int wf_gw_host_ports_build(const struct wf_gw_listener *l, size_t n, const uint16_t *wg_ports,
                           size_t n_wg, const struct wf_gw_params *p, uint32_t public_ifindex,
                           const uint32_t *skip, size_t n_skip, struct wf_gw_host_ports *out);
/* Protocols as bits, for reads of some of them. */
#define WF_GW_TCP 1u
#define WF_GW_UDP 2u
unsigned wf_gw_proto_bit(uint8_t proto);
/* The ports of a read of the protocols fresh_protos (fresh) with those of the other protocols
 * kept from an earlier read (old): sorted and unique as wf_gw_host_ports_build makes them. out
 * is overwritten. 0 or -ENOMEM. */
int wf_gw_host_ports_join(const struct wf_gw_host_ports *fresh, unsigned fresh_protos,
                          const struct wf_gw_host_ports *old, struct wf_gw_host_ports *out);
bool wf_gw_host_ports_has(const struct wf_gw_host_ports *hp, uint8_t family, uint8_t proto,
                          uint16_t port);
bool wf_gw_host_ports_equal(const struct wf_gw_host_ports *a, const struct wf_gw_host_ports *b);
void wf_gw_host_ports_free(struct wf_gw_host_ports *hp);

/* The forwards of s on a host port, in peer then forward order. 0 or -ENOMEM. */
int wf_gw_host_clashes(const struct wf_gw_state *s, const struct wf_gw_host_ports *hp,
                       struct wf_gw_clash **out, size_t *n);
bool wf_gw_clash_in(const struct wf_gw_clash *c, const struct wf_gw_clash *set, size_t n);
/* "the gateway itself listens on tcp/2222": the reason a forward is refused or flagged. */
void wf_gw_host_port_reason(char *buf, size_t len, uint8_t proto, uint16_t port);

/* WireGuard generic netlink: CTRL_CMD_GETFAMILY for "wireguard", WG_CMD_GET_DEVICE by index. */
int wf_gw_genl_family_request_build(void *buf, size_t size, const char *name);
/* The family id of a CTRL_CMD_NEWFAMILY answer: 0 or -EINVAL. */
int wf_gw_genl_family_parse(const void *msg, size_t len, uint16_t *id);
int wf_gw_wg_device_request_build(void *buf, size_t size, uint16_t family_id, uint32_t ifindex);
/* The listen port of one WG_CMD_GET_DEVICE answer: 0 (port set, possibly 0), -ENOENT (a later
 * message of the same answer, which carries peers only) or -EINVAL. */
int wf_gw_wg_device_parse(const void *msg, size_t len, uint16_t *port);

/* ---- the kernel ---- */

/* The sockets the readers keep open from one call to the next (zeroed: none yet). */
struct wf_gw_nl_socks {
	struct wf_nl diag, genl;
	bool has_diag, has_genl;
};
void wf_gw_nl_socks_close(struct wf_gw_nl_socks *s);

/* Every TCP listener and unconnected UDP socket of this network namespace, both families.
 * *out is malloc'ed (free it); 0 or -errno. */
int wf_gw_listeners_read(struct wf_gw_listener **out, size_t *n);
int wf_gw_listeners_read_on(struct wf_gw_nl_socks *s, struct wf_gw_listener **out, size_t *n);
/* Those of some protocols only (WF_GW_TCP, WF_GW_UDP): two dumps where a forward of one
 * protocol is decided, not four. */
int wf_gw_listeners_read_protos_on(struct wf_gw_nl_socks *s, unsigned protos,
                                   struct wf_gw_listener **out, size_t *n);
/* The listen ports of every WireGuard interface the kernel's WireGuard runs (0 ports left
 * out). -ENOENT when the kernel has no WireGuard family (no module, or a userspace
 * implementation, whose socket sock_diag lists as any other). *ports is malloc'ed. */
int wf_gw_wireguard_ports(uint16_t **ports, size_t *n);
int wf_gw_wireguard_ports_on(struct wf_gw_nl_socks *s, uint16_t **ports, size_t *n);

#endif
