/* The control channel between wgfwd-agent (the client) and wgfwd-gateway (the server): the
 * protocol's specification, its messages as C structs with strict JSON encode/decode, and
 * wf_ctl_conn, one authenticated connection on a libevent bufferevent for either role.
 * The pure pieces below the connection (framing, handshake, sealing) are in ctl_proto.h.
 *
 * Protocol
 * ========
 *
 * Versions. Two layers carry a version each. The handshake, the key schedule and the sealing
 * below are version 2 (WF_CTL_HANDSHAKE_VERSION: the byte in the hellos, and the "v2" in the
 * labels). Handshake version 1 (until the change that made 2) had no ephemeral keys: its
 * session keys came from K and the transcript alone, so whoever stole K could open every
 * recorded session. The messages are version 3 (WF_CTL_MSG_VERSION: the "v" of every message). A
 * change to either layer is a new version of that layer. Message version 1 (until the change
 * that made 2) wrote every entry of a state as an object with named fields, about 72 bytes
 * each, so a frame held only ~14,500 entries; version 2 writes the entries as plain port
 * lists and every state the limits allow fits in one frame. Version 3 adds `state_delta` and
 * `delta_ack` (one change without the whole state) and nothing else: its other messages are
 * version 2's. A peer speaking another message version passes the handshake and is then told
 * so: its first message is answered with `error` "v: protocol version 2, this side speaks 3",
 * and both sides log it. A version 2 agent therefore cannot talk to a version 3 gateway, nor
 * the other way round; the gateway keeps every peer's forwards meanwhile (they are in its
 * store), so upgrading both, in either order, loses no traffic that was flowing.
 *
 * Transport. TCP. The gateway listens on its tunnel address, port 51821 (WF_CTL_PORT). When it
 * accepts a connection it maps the TCP source address to a configured peer (one whose tunnel
 * address it is) and uses that peer's key; any other source is closed without a word.
 *
 * Key. Each agent shares a 32-byte random secret K with the gateway (`wgfwd genkey` prints one
 * in base64, like `wg genkey`; see keyfile.h). K proves both sides to each other and seeds the
 * session keys together with an ephemeral X25519 exchange. It never crosses the wire.
 *
 * Frames. A frame is a 4-byte big-endian length N and N bytes of body. N = 0 is invalid.
 * During the handshake N <= 160 (WF_CTL_HANDSHAKE_FRAME_MAX); after it N <= 1 MiB
 * (WF_CTL_FRAME_MAX). A header announcing more closes the connection at once, before any of
 * the body is read. Buffers grow with the bytes that arrive, never ahead of them: a peer still
 * in the handshake makes the receiver hold no more than one socket read (libevent reads at most
 * 16 KiB at a time) beside its 160-byte frame. After it, a receiver stops reading while a whole
 * frame waits in its buffer: a peer that sends faster than its frames are handled is slowed
 * by TCP, and makes the receiver hold at most about one frame. A peer that does not read what
 * it is sent is closed once more than 8 frames' worth wait for it.
 *
 * Handshake. Three plain frames with fixed binary layouts; Nc and Ns are 32 fresh random
 * bytes (randombytes_buf) from the client and the server, Ec and Es the public halves of
 * X25519 key pairs each side makes anew for the connection (crypto_kx_keypair):
 *
 *     client hello   C -> S   0x01 | 0x02 (version) | Nc[32] | Ec[32] | L (1..63) | identity[L]
 *     server hello   S -> C   0x02 | 0x02 (version) | Ns[32] | Es[32] | Ms[32]
 *     client proof   C -> S   0x03 | Mc[32]
 *
 * The identity is the client's tunnel address as text (1..63 printable ASCII characters, no
 * spaces). The gateway checks it names the peer it chose by source address (compared as
 * addresses, so "fc00::2" equals "fc00:0::2"): a peer cannot speak for another one.
 * CH, SH and CP are the three frame bodies exactly as sent, and
 *
 *     H(x)         = BLAKE2b-512(x)                               crypto_generichash
 *     PRF(label,x) = BLAKE2b-256 keyed with K of label || H(x)    crypto_generichash, keyed
 *
 *     DH  = X25519(ec, Es) = X25519(es, Ec)                      crypto_scalarmult
 *     Ms  = PRF("wgfwd ctl v2 server proof",     CH || SH without Ms)
 *     Mc  = PRF("wgfwd ctl v2 client proof",     CH || SH)
 *     Kcs = PRF("wgfwd ctl v2 client to server", CH || SH || CP || DH)
 *     Ksc = PRF("wgfwd ctl v2 server to client", CH || SH || CP || DH)
 *
 * The client checks Ms, the server checks Mc, both in constant time (crypto_verify_32). Each
 * MAC covers the other side's fresh nonce, so neither can be replayed; the labels differ per
 * direction, so neither can be reflected; each covers the whole transcript so far, so nothing
 * in it can be changed, the ephemeral keys included: only the holder of K can put its own
 * Ec or Es in the middle. An ephemeral key of small order (DH would be all zeros) fails the
 * handshake. Each side wipes its ephemeral secret as soon as DH is computed and DH once the
 * session keys are, so a stolen K opens no session recorded before (forward secrecy). Any failure
 * closes the connection with no reply. The handshake must be complete 5 s after the TCP connection
 * (the gateway drops slow or silent clients).
 *
 * Sealed frames. After the handshake every frame body is
 *
 *     ChaCha20-Poly1305-IETF(key = Kcs or Ksc, nonce = 0x00000000 | seq as 64-bit big endian,
 *                            no associated data, plaintext = one JSON message)
 *
 * seq counts the frames of one direction from 0 and is never sent. A frame that is dropped,
 * replayed, reordered, truncated, injected or taken from another session (other nonces, other
 * keys) fails to open, and the receiver closes the connection. The keys are new for every
 * connection and every direction, so a counter nonce never repeats under one key and no random
 * nonces (XChaCha) are needed.
 *
 * Messages. A JSON object of at most 1 MiB - 16 bytes (WF_CTL_MSG_MAX), UTF-8:
 * {"v":3,"type":TYPE,...fields}. The fields are exactly those listed; none may be missing (except
 * those marked optional, which a receiver takes as absent when missing) and none may be added
 * (a new field is a new version). An unknown type, a missing or unknown
 * field, a wrong JSON type, a number out of range, a second forward for the same key, a
 * message of the other direction or a version other than 3 is an error: the receiver sends
 * `error` and closes, and nothing of that message takes effect. Outside its
 * strings a message has at most 32 '{' and '[' (objects and arrays), 64 ':' (object members)
 * and 4 * WF_CTL_ENTRIES_MAX + 64 ',' (WF_CTL_JSON_*_MAX); the receiver counts them before it
 * parses, so no message can make it build a large document.
 *
 *   state         agent -> gateway. The whole gateway part of the agent's desired state (not a
 *                 difference); it replaces the previous one. The agent sends it after every
 *                 connect, when the gateway asks for it (`delta_ack` resend) and on a change
 *                 whose `state_delta` would not be smaller; the gateway applies states and
 *                 deltas in the order they arrive and does not compare generations.
 *       generation   integer 0..2^63-1, chosen by the agent and echoed in the ack
 *       forwards     {"tcp":{"ipv4":L,"ipv6":L},"udp":{"ipv4":L,"ipv6":L}}: per protocol and
 *                    family, L is a flat list of public and target port pairs,
 *                    [P1,T1,P2,T2,...], every port 1..65535. The state's forwards, in order,
 *                    are tcp/ipv4's, tcp/ipv6's, udp/ipv4's and udp/ipv6's; at most one per
 *                    (proto, family, public port). The target is always the peer's own tunnel
 *                    address of that family.
 *       egress       {"tcp":R,"udp":R,"any":B}: R is a flat list of port ranges,
 *                    [LO1,HI1,LO2,HI2,...] with 1 <= LO <= HI <= 65535, or LO = HI = 0 for
 *                    every port of the protocol; B true is one more entry, every protocol and
 *                    port. In order: tcp's, udp's, then the every-protocol one. Entries may
 *                    overlap.
 *                    For example, tcp 443 and 80 to 8080 over IPv4, udp 53 over IPv6, and mail
 *                    out: {"v":2,"type":"state","generation":7,"forwards":{"tcp":{"ipv4":
 *                    [443,443,80,8080],"ipv6":[]},"udp":{"ipv4":[],"ipv6":[53,53]}},
 *                    "egress":{"tcp":[25,25,587,587],"udp":[],"any":false}}
 *       agent_version  optional: the agent's software version (`wgfwd-agent --version`),
 *                    1..63 printable ASCII characters without spaces (WF_CTL_VERSION_MAX);
 *                    the gateway shows it in its status and log
 *   state_ack     gateway -> agent, one per state, in order.
 *       generation   the state's
 *       applied      true when the gateway's rules now reflect the state
 *       reason       only when applied is false: why nothing was applied
 *       reasons      the distinct reasons of the refusals below, each listed once and used at
 *                    least once, at most 1024 (WF_CTL_ACK_REASONS_MAX); empty when not applied
 *       forwards     when applied, one integer per forward of the state, in its order: 0 for
 *                    accepted, K for refused by the gateway's policy because of reasons[K-1];
 *                    empty when not applied
 *       egress       the same for the egress entries
 *                    A gateway with more distinct reasons than an ack carries sends the first
 *                    1023 and, for the rest, WF_CTL_REASON_OVERFLOW (its log has every one).
 *   state_delta   agent -> gateway. One change: the state of generation `base` with some
 *                 entries removed and some added, which the gateway applies as if it were that
 *                 whole state, except that what it held of the base stays decided as it was:
 *                 only the added entries go through its policy (so a limit reached refuses
 *                 added entries, never held ones), and an entry refused in the base stays
 *                 refused until a whole state asks for it again.
 *       generation   as in state
 *       base         the generation of the last state or delta this connection carried that
 *                    the gateway acknowledged as applied. The gateway holds only that one: for
 *                    any other base (it restarted, the connection is new, the base was refused
 *                    or superseded) it applies nothing and answers `delta_ack` with resend
 *                    true, and the agent sends its whole state.
 *       add, del     each {"forwards":F,"egress":E}, F and E exactly as a state's forwards and
 *                    egress. The gateway removes del, then adds add. A removed forward is named
 *                    by its key (proto, family, public port) and its target must be the one
 *                    held; a changed target is the old forward in del and the new one in add.
 *                    A removed egress entry takes away one equal entry. Each list is in a
 *                    state's order with at most one forward per key; add and del together hold
 *                    at most WF_CTL_ENTRIES_MAX forwards and WF_CTL_ENTRIES_MAX egress entries.
 *                    A del the base does not hold, or an add of a key the base still holds
 *                    after del, makes the gateway answer resend true (nothing applied): the
 *                    agent's idea of the base was wrong, and a whole state mends it.
 *                    For example, 443 to 8443 instead of 443, and 80 gone: {"v":3,"type":
 *                    "state_delta","generation":8,"base":7,"add":{"forwards":{"tcp":{"ipv4":
 *                    [443,8443],"ipv6":[]},"udp":{"ipv4":[],"ipv6":[]}},"egress":{"tcp":[],
 *                    "udp":[],"any":false}},"del":{"forwards":{"tcp":{"ipv4":[443,443,80,
 *                    8080],"ipv6":[]},"udp":{"ipv4":[],"ipv6":[]}},"egress":{"tcp":[],"udp":
 *                    [],"any":false}}}
 *   delta_ack     gateway -> agent, one per state_delta, in order (a state is answered with
 *                 state_ack). The fields of state_ack, where forwards and egress hold one
 *                 result per added entry (add's, in its order), and:
 *       resend       true when nothing was applied because the gateway does not hold the
 *                    base, or would rather take the change as a state (one of the agent's
 *                    states still waits for its turn, a large delta came before the peer's
 *                    turn, or the delta's text is over 256 KiB, more than the gateway decodes
 *                    at once: whole states are what the gateway paces and decodes in steps);
 *                    applied is then
 *                    false and the agent sends its whole state next. Always false when
 *                    applied is true.
 *   gateway_info  gateway -> agent, first thing after the handshake.
 *       ipv4, ipv6   the gateway's public addresses (at most 16 of each, may be empty)
 *       mtu          the tunnel MTU, 576..65535
 *       gateway_version  optional: the gateway's software version, as agent_version
 *   ping, pong    either way, no fields. Each side pings every 10 s and answers a ping with a
 *                 pong; a side that hears nothing for 30 s closes the connection.
 *   error         either way, then the sender closes.
 *       reason       1..255 bytes of UTF-8, no control characters
 *
 * A state or state_delta over 256 KiB names its "type" and "generation" plainly (no escape in
 * the key, neither repeated): the gateway reads them without decoding the text, which it
 * decodes in steps, and refuses a larger text it cannot read so (error, then close).
 *
 * Strings ("reason", "reasons", identity) never carry control characters, so they can be
 * logged as they are. Each list of entries (forwards; egress) holds at most
 * WF_CTL_ENTRIES_MAX entries. Senders never repeat a key within an object; a receiver built
 * on json-c cannot see a repeat and keeps the last one.
 *
 * Sizes. Every message the limits allow fits in one frame, with room to spare; ctl_msg.c
 * asserts it at compile time from these worst cases, and a unit test encodes them:
 *   state      WF_CTL_STATE_WORST: 2 * WF_CTL_ENTRIES_MAX entries of two 5-digit numbers
 *              (12 bytes each) and the largest generation: 786,595 bytes (75% of a frame)
 *   state_ack  WF_CTL_ACK_WORST: 1024 reasons of 255 bytes that all need escaping (513 bytes
 *              each) and 2 * WF_CTL_ENTRIES_MAX results of 5 bytes each: 853,105 bytes (81%)
 *   state_delta  WF_CTL_DELTA_WORST: as many entries as a state and two empty lists more:
 *              786,816 bytes (75%)
 *   delta_ack  the largest state_ack and ","resend":false": 853,120 bytes (81%)
 * The agent sends every state the limits allow (a delta only when it is smaller than the
 * state, so always within them); one beyond them (more than
 * WF_CTL_ENTRIES_MAX forwards or egress entries) is not sent at all, and the agent logs why
 * and shows it in its status.
 */
#ifndef WGFWD_CTL_H
#define WGFWD_CTL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <wgfwd/keyfile.h>

#define WF_CTL_HANDSHAKE_VERSION   2
#define WF_CTL_MSG_VERSION         3
#define WF_CTL_PORT                51821
#define WF_CTL_KEY_LEN             WF_KEY_LEN
#define WF_CTL_HANDSHAKE_FRAME_MAX 160
#define WF_CTL_FRAME_MAX           (1024 * 1024)
#define WF_CTL_MSG_MAX             (WF_CTL_FRAME_MAX - 16)
#define WF_CTL_IDENTITY_MAX        64  /* with the NUL */
#define WF_CTL_REASON_MAX          256 /* with the NUL */
#define WF_CTL_VERSION_MAX         64  /* with the NUL */
#define WF_CTL_ADDRS_MAX           16
#define WF_CTL_ENTRIES_MAX         32768 /* per list: forwards; egress */
#define WF_CTL_MTU_MIN             576
#define WF_CTL_MTU_MAX             65535
#define WF_CTL_ACK_REASONS_MAX     1024
#define WF_CTL_REASON_OVERFLOW                                                                \
	"refused for a reason the acknowledgement had no room for (more than 1023 different " \
	"ones); the gateway's log has it"
/* What a message may hold, counted before it is parsed. */
#define WF_CTL_JSON_CONTAINERS_MAX 32
#define WF_CTL_JSON_MEMBERS_MAX    64
#define WF_CTL_JSON_COMMAS_MAX     (4 * WF_CTL_ENTRIES_MAX + 64)
/* The longest messages the limits allow: these skeletons (the largest generation, every list
 * empty) and the entries. A state's entries are pairs of 5-digit numbers ("65535,65535,",
 * 12 bytes); an ack's results are numbers up to 1024 ("1024,", 5 bytes) and its reasons 255
 * bytes of '"' or '\' (each escaped, so 510 bytes, quoted and separated: 513). */
#define WF_CTL_STATE_SKELETON                                                                   \
	"{\"v\":3,\"type\":\"state\",\"generation\":9223372036854775807,\"forwards\":{\"tcp\":" \
	"{\"ipv4\":[],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":[]}},\"egress\":{\"tcp\":[],"  \
	"\"udp\":[],\"any\":false}}"
#define WF_CTL_ACK_SKELETON                                                                    \
	"{\"v\":3,\"type\":\"state_ack\",\"generation\":9223372036854775807,\"applied\":true," \
	"\"reasons\":[],\"forwards\":[],\"egress\":[]}"
#define WF_CTL_DELTA_SKELETON                                                                   \
	"{\"v\":3,\"type\":\"state_delta\",\"generation\":9223372036854775807,\"base\":"        \
	"9223372036854775807,\"add\":{\"forwards\":{\"tcp\":{\"ipv4\":[],\"ipv6\":[]},\"udp\":" \
	"{\"ipv4\":[],\"ipv6\":[]}},\"egress\":{\"tcp\":[],\"udp\":[],\"any\":false}},\"del\":" \
	"{\"forwards\":{\"tcp\":{\"ipv4\":[],\"ipv6\":[]},\"udp\":{\"ipv4\":[],\"ipv6\":"       \
	"[]}},\"egress\":{\"tcp\":[],\"udp\":[],\"any\":false}}}"
#define WF_CTL_DELTA_ACK_FIELD     ",\"resend\":false"
#define WF_CTL_STATE_VERSION_FIELD ",\"agent_version\":\"\""
#define WF_CTL_STATE_WORST                                                            \
	(sizeof(WF_CTL_STATE_SKELETON) - 1 + sizeof(WF_CTL_STATE_VERSION_FIELD) - 1 + \
	 (WF_CTL_VERSION_MAX - 1) + 2 * (12 * (size_t)WF_CTL_ENTRIES_MAX - 1))
#define WF_CTL_DELTA_WORST \
	(sizeof(WF_CTL_DELTA_SKELETON) - 1 + 2 * (12 * (size_t)WF_CTL_ENTRIES_MAX - 1))
#define WF_CTL_ACK_WORST                                                          \
	(sizeof(WF_CTL_ACK_SKELETON) - 1 + WF_CTL_ACK_REASONS_MAX * (size_t)513 + \
	 2 * 5 * (size_t)WF_CTL_ENTRIES_MAX)
/* "delta_ack" is shorter than "state_ack": the same worst case and the field is a bound. */
#define WF_CTL_DELTA_ACK_WORST (WF_CTL_ACK_WORST + sizeof(WF_CTL_DELTA_ACK_FIELD) - 1)

#define WF_CTL_HANDSHAKE_TIMEOUT_MS 5000
#define WF_CTL_PING_INTERVAL_MS     10000
#define WF_CTL_DEAD_AFTER_MS        30000

enum wf_ctl_role {
	WF_CTL_CLIENT, /* the agent */
	WF_CTL_SERVER, /* the gateway */
};

enum wf_ctl_msg_type {
	WF_CTL_MSG_STATE,
	WF_CTL_MSG_STATE_ACK,
	WF_CTL_MSG_GATEWAY_INFO,
	WF_CTL_MSG_PING,
	WF_CTL_MSG_PONG,
	WF_CTL_MSG_ERROR,
	WF_CTL_MSG_STATE_DELTA,
	WF_CTL_MSG_DELTA_ACK,
};

/* One entry type from the message through the gateway's policy, store, ruleset and conntrack.
 * A forward: public proto/port of one address family, sent to the peer's own tunnel address of
 * that family (from the gateway's configuration, never from the message), target_port. */
struct wf_ctl_forward {
	uint8_t proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t family; /* AF_INET or AF_INET6 */
	uint16_t public_port;
	uint16_t target_port;
};

/* Egress: traffic from the peer's tunnel address allowed out of the gateway's public
 * interface. */
struct wf_ctl_egress {
	uint8_t proto;             /* IPPROTO_TCP, IPPROTO_UDP, or 0 for every protocol */
	uint16_t port_lo, port_hi; /* both 0: every port */
};

struct wf_ctl_state {
	uint64_t generation;
	struct wf_ctl_forward *forwards;
	size_t n_forwards;
	struct wf_ctl_egress *egress;
	size_t n_egress;
	char agent_version[WF_CTL_VERSION_MAX]; /* optional: "" when not sent */
};

/* A state_delta: add and del are two lists of entries (their generation and agent_version
 * unused, "" and 0). */
struct wf_ctl_state_delta {
	uint64_t generation;
	uint64_t base;
	struct wf_ctl_state add, del;
};

struct wf_ctl_result {
	bool accepted;
	char reason[WF_CTL_REASON_MAX]; /* "" when accepted */
};

struct wf_ctl_state_ack {
	uint64_t generation;
	bool applied;
	char reason[WF_CTL_REASON_MAX]; /* "" when applied */
	struct wf_ctl_result *forwards;
	size_t n_forwards;
	struct wf_ctl_result *egress;
	size_t n_egress;
	bool resend; /* delta_ack only: the gateway does not hold the base */
};

struct wf_ctl_gateway_info {
	struct in_addr ipv4[WF_CTL_ADDRS_MAX];
	size_t n_ipv4;
	struct in6_addr ipv6[WF_CTL_ADDRS_MAX];
	size_t n_ipv6;
	uint32_t mtu;
	char gateway_version[WF_CTL_VERSION_MAX]; /* optional: "" when not sent */
};

struct wf_ctl_error {
	char reason[WF_CTL_REASON_MAX];
};

struct wf_ctl_msg {
	enum wf_ctl_msg_type type;
	union {
		struct wf_ctl_state state;
		struct wf_ctl_state_ack state_ack; /* also a delta_ack's */
		struct wf_ctl_state_delta state_delta;
		struct wf_ctl_gateway_info gateway_info;
		struct wf_ctl_error error;
	};
};

/* Frees what a message owns (the entry arrays) and zeroes it; safe on a zeroed message. */
void wf_ctl_msg_clear(struct wf_ctl_msg *m);
/* A deep copy of a state (dst is overwritten, not freed): 0 or -ENOMEM. */
int wf_ctl_state_copy(struct wf_ctl_state *dst, const struct wf_ctl_state *src);
/* Frees a state's entry arrays and zeroes it. */
void wf_ctl_state_clear(struct wf_ctl_state *s);
/* Entry by entry, in order. */
bool wf_ctl_forwards_equal(const struct wf_ctl_forward *a, size_t na,
                           const struct wf_ctl_forward *b, size_t nb);
bool wf_ctl_egress_equal(const struct wf_ctl_egress *a, size_t na, const struct wf_ctl_egress *b,
                         size_t nb);
const char *wf_ctl_msg_type_name(enum wf_ctl_msg_type type);
/* True when role may send messages of this type. */
bool wf_ctl_msg_sent_by(enum wf_ctl_msg_type type, enum wf_ctl_role role);

/* The delta that turns `from` into `to`, both in the protocol's order (wf_ctl_state_order)
 * with their forwards sorted by public port within each kind (as wf_ctl_state_sort leaves
 * them): O(n). Egress entries are matched as a multiset. d's generation and base are left
 * 0 for the caller. 0 or -ENOMEM; on failure d is zeroed. */
int wf_ctl_state_diff(const struct wf_ctl_state *from, const struct wf_ctl_state *to,
                      struct wf_ctl_state_delta *d);
/* What state_delta carries of d: its entries, added and removed. */
size_t wf_ctl_delta_entries(const struct wf_ctl_state_delta *d);
/* Sorts a state into the protocol's order with the forwards of each kind by public port and
 * the egress of each kind by ports: the order wf_ctl_state_diff wants. O(n) when it already
 * is. -ENOMEM. */
int wf_ctl_state_sort(struct wf_ctl_state *s);
/* That order of two valid forwards (kind, then public port) without looking their protocol and
 * family up by name: for the searches of a change's few forwards among many. */
int wf_ctl_forward_wire_cmp(const void *a, const void *b);
/* Puts a state's entries in the order the protocol sends them (forwards tcp ipv4, tcp ipv6,
 * udp ipv4, udp ipv6; egress tcp, udp, any), keeping the order within each kind. The results
 * of the state's ack come in this order. -ENOMEM. */
int wf_ctl_state_order(struct wf_ctl_state *s);
/* True when v may travel as agent_version or gateway_version. */
bool wf_ctl_version_valid(const char *v);
/* Checks a message against every rule of the specification; says what is wrong in err. */
int wf_ctl_msg_validate(const struct wf_ctl_msg *m, char *err, size_t errlen);
/* Encodes a valid message as compact JSON into a malloc'd NUL-terminated string. -EINVAL
 * (reason in err) for a message that breaks the specification (a state's entries out of
 * order included: see wf_ctl_state_order), -ENOMEM. Every valid message fits
 * (WF_CTL_STATE_WORST, WF_CTL_ACK_WORST); -EMSGSIZE, longer than WF_CTL_MSG_MAX, is only a
 * safety net. An ack whose refusals have more than WF_CTL_ACK_REASONS_MAX different reasons
 * goes with the first 1023 and WF_CTL_REASON_OVERFLOW for the rest. */
int wf_ctl_msg_encode(const struct wf_ctl_msg *m, char **json, size_t *len, char *err,
                      size_t errlen);
/* Strict decoding of len bytes (no NUL needed). On success out owns its arrays (free with
 * wf_ctl_msg_clear); on failure returns -EBADMSG, out is left zeroed and err says exactly
 * what was wrong, e.g. "forwards[2].public_port: 70000 is out of range 1..65535". */
int wf_ctl_msg_decode(const char *json, size_t len, struct wf_ctl_msg *out, char *err,
                      size_t errlen);
/* The same decoding in steps, each of a bounded cost, so that a largest message does not hold
 * an event loop for long: the text checked, parsed about `bytes' at a time, a state's entries
 * read as many at a time as that many bytes hold, then the whole validated. json must stay as
 * it is until the decoder is freed. A step returns 1 while more are to come; then, once, what
 * wf_ctl_msg_decode would have returned for the text, with out and err as it fills them. */
struct wf_ctl_decoder;
#define WF_CTL_DECODE_STEP (64 * 1024)
int wf_ctl_decoder_new(const char *json, size_t len, struct wf_ctl_decoder **out);
int wf_ctl_decoder_step(struct wf_ctl_decoder *dc, size_t bytes, struct wf_ctl_msg *out, char *err,
                        size_t errlen);
void wf_ctl_decoder_free(struct wf_ctl_decoder *dc);

/* One control connection on a libevent event loop.
 *
 * Both daemons use it the same way: make one per TCP connection with the peer's key, wait for
 * on_established, exchange messages with wf_ctl_conn_send / on_message, and learn of the end
 * through on_close. The connection itself runs the handshake, its deadline, the keepalive
 * (pings are answered and never reach on_message) and closes on any protocol error, telling
 * the peer why with an `error` message when the session is established.
 *
 * Callbacks run from the event loop. Inside any of them the owner may send, close or free the
 * connection. on_close is called at most once, for every end the owner did not ask for; the
 * object stays allocated until the owner calls wf_ctl_conn_free (in on_close or later).
 * The process must ignore SIGPIPE: libevent writes with writev, which raises it when the peer
 * is gone. */
struct event_base;
struct wf_ctl_conn;

struct wf_ctl_conn_ops {
	void (*on_established)(struct wf_ctl_conn *c, void *arg);
	/* m is only valid during the call. */
	void (*on_message)(struct wf_ctl_conn *c, const struct wf_ctl_msg *m, void *arg);
	/* Optional: each message's text, before it is decoded (only valid during the call).
	 * true: the owner took it and decodes it when it needs it (wf_ctl_msg_decode); false: it
	 * is decoded and goes to on_message. */
	bool (*on_text)(struct wf_ctl_conn *c, const char *json, size_t len, void *arg);
	/* err: -ECONNREFUSED (connect failed), -ECONNRESET (peer closed or reset), -ETIMEDOUT
	 * (handshake deadline or silent peer), -EMSGSIZE (frame over the cap), -EBADMSG (frame
	 * failed to open or decode), -EACCES (handshake authentication), -EPROTO (protocol
	 * violation, or the peer sent `error`: then reason is "peer: <its reason>"). */
	void (*on_close)(struct wf_ctl_conn *c, int err, const char *reason, void *arg);
};

struct wf_ctl_conn_config {
	enum wf_ctl_role role;
	uint8_t key[WF_CTL_KEY_LEN];
	/* client: its tunnel address as text (required); server: the tunnel address of the peer
	 * it chose by source address ("" accepts any identity) */
	char identity[WF_CTL_IDENTITY_MAX];
	/* 0 means the WF_CTL_* default */
	unsigned handshake_timeout_ms;
	unsigned ping_interval_ms;
	unsigned dead_after_ms;
};

/* Takes over a connected stream socket (made non-blocking, closed by the connection). The
 * client sends its hello at once. */
int wf_ctl_conn_new(struct event_base *base, int fd, const struct wf_ctl_conn_config *cfg,
                    const struct wf_ctl_conn_ops *ops, void *arg, struct wf_ctl_conn **out);
/* Client: connects to the gateway (from local, when not NULL: the agent binds its tunnel
 * address so the gateway sees the right source). A failed connect arrives as on_close. */
int wf_ctl_conn_connect(struct event_base *base, const struct sockaddr *remote,
                        socklen_t remote_len, const struct sockaddr *local, socklen_t local_len,
                        const struct wf_ctl_conn_config *cfg, const struct wf_ctl_conn_ops *ops,
                        void *arg, struct wf_ctl_conn **out);
/* Seals and queues one message. -ENOTCONN before on_established or after the end, -EPERM for
 * a type this role may not send, -EINVAL/-EMSGSIZE as wf_ctl_msg_encode. A failure to encode
 * does not end the connection. */
int wf_ctl_conn_send(struct wf_ctl_conn *c, const struct wf_ctl_msg *m);
bool wf_ctl_conn_established(const struct wf_ctl_conn *c);
/* Stops reading from the peer (TCP then slows it down) or starts again; what waits in the
 * buffer is handled when reading starts again. Only for an established connection. */
void wf_ctl_conn_read_pause(struct wf_ctl_conn *c, bool pause);
/* The identity the client claimed (server) or claims (client). */
const char *wf_ctl_conn_identity(const struct wf_ctl_conn *c);
/* Ends the connection and frees it, without on_close. When established and reason is not
 * NULL, the peer is sent `error` with it first (best effort: what the socket takes now). */
void wf_ctl_conn_close(struct wf_ctl_conn *c, const char *reason);
/* Frees a connection (closing it silently if it is still open). NULL is fine. */
void wf_ctl_conn_free(struct wf_ctl_conn *c);

#endif
