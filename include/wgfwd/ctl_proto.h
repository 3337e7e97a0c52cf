/* The control channel's pure building blocks: framing, the handshake state machine and the
 * sealing of established frames. No sockets and no clocks, so every step can be driven and
 * checked in memory. ctl.h holds the protocol specification; wf_ctl_conn puts these pieces
 * on a bufferevent. */
#ifndef WGFWD_CTL_PROTO_H
#define WGFWD_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/ctl.h>

#define WF_CTL_FRAME_HEADER_LEN 4
#define WF_CTL_NONCE_LEN        32
#define WF_CTL_EPHEMERAL_LEN    32 /* an X25519 public key */
#define WF_CTL_MAC_LEN          32
#define WF_CTL_SESSION_KEY_LEN  32
#define WF_CTL_TAG_LEN          16

#define WF_CTL_HELLO_TYPE_CLIENT 1
#define WF_CTL_HELLO_TYPE_SERVER 2
#define WF_CTL_HELLO_TYPE_PROOF  3

#define WF_CTL_CLIENT_HELLO_MIN (2 + WF_CTL_NONCE_LEN + WF_CTL_EPHEMERAL_LEN + 1 + 1)
#define WF_CTL_SERVER_HELLO_LEN (2 + WF_CTL_NONCE_LEN + WF_CTL_EPHEMERAL_LEN + WF_CTL_MAC_LEN)
#define WF_CTL_CLIENT_PROOF_LEN (1 + WF_CTL_MAC_LEN)
#define WF_CTL_TRANSCRIPT_MAX                                                      \
	(WF_CTL_CLIENT_HELLO_MIN + WF_CTL_IDENTITY_MAX + WF_CTL_SERVER_HELLO_LEN + \
	 WF_CTL_CLIENT_PROOF_LEN)

/* Framing. Looks at the start of buf (len bytes) for one frame whose body may be at most max
 * bytes. Returns 1 when a whole frame is there (its body starts at
 * buf + WF_CTL_FRAME_HEADER_LEN), 0 when more bytes are needed, -EMSGSIZE as soon as the
 * header announces more than max and -EBADMSG for an empty frame. *body_len is set whenever
 * the header is whole and valid, so a stream reader knows how much to wait for. */
int wf_ctl_frame_parse(const uint8_t *buf, size_t len, size_t max, size_t *body_len);
void wf_ctl_frame_header(uint8_t out[WF_CTL_FRAME_HEADER_LEN], uint32_t body_len);

/* One direction pair of an established connection. Counters start at 0 and are never sent. */
struct wf_ctl_session {
	uint8_t tx_key[WF_CTL_SESSION_KEY_LEN];
	uint8_t rx_key[WF_CTL_SESSION_KEY_LEN];
	uint64_t tx_seq;
	uint64_t rx_seq;
};

/* Seals len bytes of plaintext into out (len + WF_CTL_TAG_LEN bytes) with the next send
 * counter. -EOVERFLOW once the counter is spent. */
int wf_ctl_seal(struct wf_ctl_session *s, const uint8_t *plain, size_t len, uint8_t *out);
/* Opens a sealed body into out (len - WF_CTL_TAG_LEN bytes) with the next receive counter.
 * -EBADMSG when it does not authenticate: tampered, replayed, reordered, from another session
 * or truncated. The counter advances only on success. */
int wf_ctl_open(struct wf_ctl_session *s, const uint8_t *sealed, size_t len, uint8_t *out,
                size_t *out_len);
void wf_ctl_session_clear(struct wf_ctl_session *s);

enum wf_ctl_auth_state {
	WF_CTL_AUTH_START,       /* client: hello not sent yet; server: awaiting client hello */
	WF_CTL_AUTH_WAIT_SERVER, /* client: awaiting server hello */
	WF_CTL_AUTH_WAIT_PROOF,  /* server: awaiting client proof */
	WF_CTL_AUTH_DONE,
	WF_CTL_AUTH_FAILED,
};

/* One side of one handshake. Plain data so tests can look inside; wipe with
 * wf_ctl_auth_clear. */
struct wf_ctl_auth {
	enum wf_ctl_role role;
	enum wf_ctl_auth_state state;
	uint8_t key[WF_CTL_KEY_LEN];
	uint8_t client_nonce[WF_CTL_NONCE_LEN];
	uint8_t server_nonce[WF_CTL_NONCE_LEN];
	/* This side's ephemeral X25519 key pair (the secret wiped once used) and the secret it
	 * shares with the peer's, until the session keys are derived. */
	uint8_t ephemeral_pk[WF_CTL_EPHEMERAL_LEN];
	uint8_t ephemeral_sk[WF_CTL_EPHEMERAL_LEN];
	uint8_t shared[WF_CTL_EPHEMERAL_LEN];
	uint8_t transcript[WF_CTL_TRANSCRIPT_MAX];
	size_t transcript_len;
	/* client: the identity it claims; server: the one it expects ("" accepts any), then the
	 * one the client claimed */
	char identity[WF_CTL_IDENTITY_MAX];
};

/* identity: for a client its tunnel address as text, for a server the address it expects
 * (NULL or "" accepts any identity). -EINVAL for an identity that is not 1..63 printable
 * characters, -EIO when libsodium cannot start. */
int wf_ctl_auth_init(struct wf_ctl_auth *a, enum wf_ctl_role role, const uint8_t *key,
                     const char *identity);
/* Client only: writes the client hello (at most WF_CTL_HANDSHAKE_FRAME_MAX bytes). */
int wf_ctl_auth_start(struct wf_ctl_auth *a, uint8_t *out, size_t cap, size_t *out_len);
/* Feeds one received handshake body. A reply to send, if any, goes to out (*out_len, 0 when
 * none). Returns 0 while the handshake goes on, 1 when it is complete (session filled; the
 * client's proof is in out and must still be sent), or -errno with the reason in err:
 * -EBADMSG malformed, -EPROTO wrong message or version, -EACCES authentication failed.
 * Once it failed, every later call fails. */
int wf_ctl_auth_step(struct wf_ctl_auth *a, const uint8_t *in, size_t in_len, uint8_t *out,
                     size_t cap, size_t *out_len, struct wf_ctl_session *session, char *err,
                     size_t errlen);
void wf_ctl_auth_clear(struct wf_ctl_auth *a);

/* True when two identities name the same peer: addresses compare as addresses, anything else
 * byte for byte. */
bool wf_ctl_identity_equal(const char *a, const char *b);

#endif
