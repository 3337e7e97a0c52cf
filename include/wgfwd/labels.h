/* The label grammar: parses the values of the wgfwd.* container labels. Pure, no I/O except
 * the services database behind wf_service_lookup_system. The agent reads labels with it; the
 * gateway reads the egress its owner grants each peer (--peer-egress) in the same grammar.
 *
 * A label value holds comma-separated entries. A bad entry is reported through the error
 * callback with the offending text quoted, and is left out; the entries around it still
 * count. The parsers fail (-errno) only when memory runs out.
 *
 *   wgfwd.ports    443 | 8443:443 | 53/udp | 2222:22/tcp | 30000-30009 |
 *                  30000-30009:40000-40009/udp | 5353/tcp+udp
 *                  PUBLIC[:TARGET][/PROTO], each side a port or a range LO-HI; a range maps
 *                  onto a target range of the same length (many-to-one is not a DNAT map and
 *                  is an error); at most WF_PORTS_RANGE_MAX ports per entry; PROTO is tcp
 *                  (default), udp, or tcp+udp (alias both).
 *   wgfwd.egress   smtp | submission | tcp/25 | 25/tcp | udp/123 | tcp/6000-6010 | tcp/smtp |
 *                  tcp | udp | all
 *                  A service name selects each protocol the services database lists it for; a
 *                  bare protocol selects all of its ports; `all' selects every protocol. A bare
 *                  number is an error (which protocol?).
 *   wgfwd.enable   true/false, yes/no, 1/0 (any case).
 *
 * Entries are matched against the earlier entries of the same label: one that selects a port
 * an earlier one already selected is a duplicate, reported and left out. Empty entries
 * (`443,,80', a trailing comma) are ignored. */
#ifndef WGFWD_LABELS_H
#define WGFWD_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WF_PROTO_TCP 0x1
#define WF_PROTO_UDP 0x2

#define WF_PORTS_RANGE_MAX 1024 /* ports one wgfwd.ports entry may expand to */
#define WF_LABEL_ERROR_MAX 256  /* longest message given to the error callback, with NUL */

/* Called once per bad entry with a complete message such as
 * "bad port `70000' in entry `70000/tcp'" (the label name is not part of it). */
typedef void (*wf_label_error_fn)(void *ctx, const char *message);

/* Port of service `name' for one protocol (IPPROTO_TCP / IPPROTO_UDP), 0 when unknown. */
typedef uint16_t (*wf_service_resolver)(const char *name, uint8_t proto, void *ctx);

/* The services database (getservbyname_r), then the built-in table. */
uint16_t wf_service_lookup_system(const char *name, uint8_t proto, void *ctx);
/* The built-in table only: the mail, web, DNS and time services, with the names Debian's
 * database lacks (smtps). Deterministic; what tests and fuzzing use. */
uint16_t wf_service_lookup_builtin(const char *name, uint8_t proto, void *ctx);

/* One wgfwd.ports entry. public_hi - public_lo == target_hi - target_lo. */
struct wf_port_entry {
	uint8_t protos; /* WF_PROTO_TCP | WF_PROTO_UDP */
	uint16_t public_lo, public_hi;
	uint16_t target_lo, target_hi;
};

/* One wgfwd.egress selection. proto 0: every protocol; port_lo 0: every port of proto. */
struct wf_egress_entry {
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP or 0 */
	uint16_t port_lo, port_hi;
};

/* *out is malloc'd (NULL when *n_out is 0) and owned by the caller. 0 or -ENOMEM. */
int wf_parse_ports(const char *value, struct wf_port_entry **out, size_t *n_out,
                   wf_label_error_fn on_error, void *ctx);
/* A service name that selects tcp and udp yields two entries. resolve NULL: the system. */
int wf_parse_egress(const char *value, wf_service_resolver resolve, void *resolve_ctx,
                    struct wf_egress_entry **out, size_t *n_out, wf_label_error_fn on_error,
                    void *ctx);
/* 0, or -EINVAL with a message in err (when err is not NULL). */
int wf_parse_bool(const char *value, bool *out, char *err, size_t err_size);

/* "tcp", "udp", "all" (0) or "?". */
const char *wf_proto_name(uint8_t proto);

/* Copies text[0..len) into buf for quoting in a message: at most 40 characters (then "..."),
 * anything not printable ASCII as '?', so a message stays one readable line. */
void wf_label_quote(char *buf, size_t size, const char *text, size_t len);

#endif
