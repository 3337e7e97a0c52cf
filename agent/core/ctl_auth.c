#include <wgfwd/ctl_proto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Every derived value is PRF(label, transcript); distinct labels keep the proofs of the two
 * directions and the two session keys apart. */
static const char label_server_proof[] = "wgfwd ctl v2 server proof";
static const char label_client_proof[] = "wgfwd ctl v2 client proof";
static const char label_client_to_server[] = "wgfwd ctl v2 client to server";
static const char label_server_to_client[] = "wgfwd ctl v2 server to client";

#define SERVER_HELLO_UNSIGNED_LEN (WF_CTL_SERVER_HELLO_LEN - WF_CTL_MAC_LEN)
#define IDENTITY_LEN_MAX          (WF_CTL_IDENTITY_MAX - 1)
/* Where the fields of the hellos start. */
#define HELLO_NONCE     2
#define HELLO_EPHEMERAL (HELLO_NONCE + WF_CTL_NONCE_LEN)
#define HELLO_ID_LEN    (HELLO_EPHEMERAL + WF_CTL_EPHEMERAL_LEN)
#define HELLO_ID        (HELLO_ID_LEN + 1)

_Static_assert(HELLO_ID + IDENTITY_LEN_MAX <= WF_CTL_HANDSHAKE_FRAME_MAX,
               "the longest client hello fits a handshake frame");
_Static_assert(WF_CTL_SERVER_HELLO_LEN <= WF_CTL_HANDSHAKE_FRAME_MAX,
               "the server hello fits a handshake frame");

/* PRF(label, transcript || extra): the session keys add the ephemeral shared secret as extra. */
static void prf_with(uint8_t out[WF_CTL_MAC_LEN], const uint8_t key[WF_CTL_KEY_LEN],
                     const char *label, const uint8_t *transcript, size_t transcript_len,
                     const uint8_t *extra, size_t extra_len)
{
	uint8_t digest[crypto_generichash_BYTES_MAX];
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	crypto_generichash_update(&st, transcript, transcript_len);
	if (extra_len)
		crypto_generichash_update(&st, extra, extra_len);
	crypto_generichash_final(&st, digest, sizeof(digest));
	crypto_generichash_init(&st, key, WF_CTL_KEY_LEN, WF_CTL_MAC_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, digest, sizeof(digest));
	crypto_generichash_final(&st, out, WF_CTL_MAC_LEN);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(digest, sizeof(digest));
}

static void prf(uint8_t out[WF_CTL_MAC_LEN], const uint8_t key[WF_CTL_KEY_LEN], const char *label,
                const uint8_t *transcript, size_t transcript_len)
{
	prf_with(out, key, label, transcript, transcript_len, NULL, 0);
}

static bool identity_valid(const char *identity, size_t len)
{
	if (len == 0 || len > IDENTITY_LEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (identity[i] <= 0x20 || identity[i] >= 0x7f)
			return false;
	}
	return true;
}

bool wf_ctl_identity_equal(const char *a, const char *b)
{
	uint8_t addr_a[sizeof(struct in6_addr)], addr_b[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, a, addr_a) == 1 && inet_pton(AF_INET, b, addr_b) == 1)
		return !memcmp(addr_a, addr_b, sizeof(struct in_addr));
	if (inet_pton(AF_INET6, a, addr_a) == 1 && inet_pton(AF_INET6, b, addr_b) == 1)
		return !memcmp(addr_a, addr_b, sizeof(struct in6_addr));
	return !strcmp(a, b);
}

int wf_ctl_auth_init(struct wf_ctl_auth *a, enum wf_ctl_role role, const uint8_t *key,
                     const char *identity)
{
	size_t len = identity ? strlen(identity) : 0;

	memset(a, 0, sizeof(*a));
	a->state = WF_CTL_AUTH_FAILED;
	if (sodium_init() < 0)
		return -EIO;
	if (role != WF_CTL_CLIENT && role != WF_CTL_SERVER)
		return -EINVAL;
	if ((role == WF_CTL_CLIENT || len > 0) && !identity_valid(identity, len))
		return -EINVAL;
	a->role = role;
	memcpy(a->key, key, WF_CTL_KEY_LEN);
	if (len)
		memcpy(a->identity, identity, len + 1);
	a->state = WF_CTL_AUTH_START;
	return 0;
}

static void transcript_append(struct wf_ctl_auth *a, const uint8_t *data, size_t len)
{
	/* The layouts bound the three bodies to WF_CTL_TRANSCRIPT_MAX together. */
	memcpy(a->transcript + a->transcript_len, data, len);
	a->transcript_len += len;
}

int wf_ctl_auth_start(struct wf_ctl_auth *a, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t id_len = strlen(a->identity);
	size_t len = WF_CTL_CLIENT_HELLO_MIN - 1 + id_len;

	if (a->role != WF_CTL_CLIENT || a->state != WF_CTL_AUTH_START)
		return -EPROTO;
	if (cap < len)
		return -ENOBUFS;
	randombytes_buf(a->client_nonce, sizeof(a->client_nonce));
	crypto_kx_keypair(a->ephemeral_pk, a->ephemeral_sk);
	out[0] = WF_CTL_HELLO_TYPE_CLIENT;
	out[1] = WF_CTL_HANDSHAKE_VERSION;
	memcpy(out + HELLO_NONCE, a->client_nonce, WF_CTL_NONCE_LEN);
	memcpy(out + HELLO_EPHEMERAL, a->ephemeral_pk, WF_CTL_EPHEMERAL_LEN);
	out[HELLO_ID_LEN] = (uint8_t)id_len;
	memcpy(out + HELLO_ID, a->identity, id_len);
	transcript_append(a, out, len);
	*out_len = len;
	a->state = WF_CTL_AUTH_WAIT_SERVER;
	return 0;
}

/* The X25519 secret of this side's ephemeral key and the peer's: mixed into the session keys,
 * it is what a recorded session cannot be opened without once both sides forgot their
 * ephemeral keys, even by someone who later steals K. The ephemeral secret is wiped here. */
static int ephemeral_secret(struct wf_ctl_auth *a, const uint8_t *peer_pk,
                            uint8_t out[WF_CTL_EPHEMERAL_LEN])
{
	int ret = crypto_scalarmult(out, a->ephemeral_sk, peer_pk);

	sodium_memzero(a->ephemeral_sk, sizeof(a->ephemeral_sk));
	/* libsodium refuses a point of small order: the secret would be all zeros. */
	return ret == 0 ? 0 : -EACCES;
}

static void derive_session(struct wf_ctl_auth *a, struct wf_ctl_session *s)
{
	uint8_t c2s[WF_CTL_SESSION_KEY_LEN], s2c[WF_CTL_SESSION_KEY_LEN];

	prf_with(c2s, a->key, label_client_to_server, a->transcript, a->transcript_len, a->shared,
	         sizeof(a->shared));
	prf_with(s2c, a->key, label_server_to_client, a->transcript, a->transcript_len, a->shared,
	         sizeof(a->shared));
	sodium_memzero(a->shared, sizeof(a->shared));
	memset(s, 0, sizeof(*s));
	memcpy(s->tx_key, a->role == WF_CTL_CLIENT ? c2s : s2c, WF_CTL_SESSION_KEY_LEN);
	memcpy(s->rx_key, a->role == WF_CTL_CLIENT ? s2c : c2s, WF_CTL_SESSION_KEY_LEN);
	sodium_memzero(c2s, sizeof(c2s));
	sodium_memzero(s2c, sizeof(s2c));
	a->state = WF_CTL_AUTH_DONE;
}

static int check_header(const uint8_t *in, size_t in_len, uint8_t want_type, const char *what,
                        char *err, size_t errlen)
{
	if (in_len < 1) {
		snprintf(err, errlen, "empty handshake frame, want the %s", what);
		return -EBADMSG;
	}
	if (in[0] != want_type) {
		snprintf(err, errlen, "handshake message type %u, want %u (the %s)", in[0],
		         want_type, what);
		return -EPROTO;
	}
	if (want_type != WF_CTL_HELLO_TYPE_PROOF) {
		if (in_len < 2) {
			snprintf(err, errlen, "%s is truncated", what);
			return -EBADMSG;
		}
		if (in[1] != WF_CTL_HANDSHAKE_VERSION) {
			snprintf(err, errlen, "%s has handshake version %u, this side speaks %u",
			         what, in[1], WF_CTL_HANDSHAKE_VERSION);
			return -EPROTO;
		}
	}
	return 0;
}

static int server_on_client_hello(struct wf_ctl_auth *a, const uint8_t *in, size_t in_len,
                                  uint8_t *out, size_t cap, size_t *out_len, char *err,
                                  size_t errlen)
{
	char claimed[WF_CTL_IDENTITY_MAX];
	size_t id_len;
	int ret;

	ret = check_header(in, in_len, WF_CTL_HELLO_TYPE_CLIENT, "client hello", err, errlen);
	if (ret < 0)
		return ret;
	if (in_len < WF_CTL_CLIENT_HELLO_MIN) {
		snprintf(err, errlen, "client hello has %zu bytes, want at least %d", in_len,
		         WF_CTL_CLIENT_HELLO_MIN);
		return -EBADMSG;
	}
	id_len = in[HELLO_ID_LEN];
	if (in_len != WF_CTL_CLIENT_HELLO_MIN - 1 + id_len) {
		snprintf(err, errlen, "client hello has %zu bytes, its identity length says %zu",
		         in_len, WF_CTL_CLIENT_HELLO_MIN - 1 + id_len);
		return -EBADMSG;
	}
	if (!identity_valid((const char *)in + HELLO_ID, id_len)) {
		snprintf(err, errlen, "client hello: identity is not 1..%d printable characters",
		         IDENTITY_LEN_MAX);
		return -EBADMSG;
	}
	memcpy(claimed, in + HELLO_ID, id_len);
	claimed[id_len] = '\0';
	if (a->identity[0] && !wf_ctl_identity_equal(claimed, a->identity)) {
		snprintf(err, errlen, "client claims identity %s, the connection is from %s",
		         claimed, a->identity);
		return -EACCES;
	}
	if (cap < WF_CTL_SERVER_HELLO_LEN)
		return -ENOBUFS;
	crypto_kx_keypair(a->ephemeral_pk, a->ephemeral_sk);
	if (ephemeral_secret(a, in + HELLO_EPHEMERAL, a->shared)) {
		snprintf(err, errlen, "client hello: ephemeral key of small order");
		return -EACCES;
	}
	memcpy(a->identity, claimed, id_len + 1);
	memcpy(a->client_nonce, in + HELLO_NONCE, WF_CTL_NONCE_LEN);
	transcript_append(a, in, in_len);

	randombytes_buf(a->server_nonce, sizeof(a->server_nonce));
	out[0] = WF_CTL_HELLO_TYPE_SERVER;
	out[1] = WF_CTL_HANDSHAKE_VERSION;
	memcpy(out + HELLO_NONCE, a->server_nonce, WF_CTL_NONCE_LEN);
	memcpy(out + HELLO_EPHEMERAL, a->ephemeral_pk, WF_CTL_EPHEMERAL_LEN);
	transcript_append(a, out, SERVER_HELLO_UNSIGNED_LEN);
	prf(out + SERVER_HELLO_UNSIGNED_LEN, a->key, label_server_proof, a->transcript,
	    a->transcript_len);
	transcript_append(a, out + SERVER_HELLO_UNSIGNED_LEN, WF_CTL_MAC_LEN);
	*out_len = WF_CTL_SERVER_HELLO_LEN;
	a->state = WF_CTL_AUTH_WAIT_PROOF;
	return 0;
}

/* check_header, and a message of exactly want_len bytes. */
static int check_fixed(const uint8_t *in, size_t in_len, uint8_t want_type, const char *what,
                       size_t want_len, char *err, size_t errlen)
{
	int ret = check_header(in, in_len, want_type, what, err, errlen);

	if (ret < 0)
		return ret;
	if (in_len != want_len) {
		snprintf(err, errlen, "%s has %zu bytes, want %zu", what, in_len, want_len);
		return -EBADMSG;
	}
	return ret;
}

static int client_on_server_hello(struct wf_ctl_auth *a, const uint8_t *in, size_t in_len,
                                  uint8_t *out, size_t cap, size_t *out_len,
                                  struct wf_ctl_session *session, char *err, size_t errlen)
{
	uint8_t expected[WF_CTL_MAC_LEN];
	int ret;

	ret = check_fixed(in, in_len, WF_CTL_HELLO_TYPE_SERVER, "server hello",
	                  WF_CTL_SERVER_HELLO_LEN, err, errlen);
	if (ret < 0)
		return ret;
	if (cap < WF_CTL_CLIENT_PROOF_LEN)
		return -ENOBUFS;
	memcpy(a->server_nonce, in + HELLO_NONCE, WF_CTL_NONCE_LEN);
	transcript_append(a, in, SERVER_HELLO_UNSIGNED_LEN);
	prf(expected, a->key, label_server_proof, a->transcript, a->transcript_len);
	if (crypto_verify_32(expected, in + SERVER_HELLO_UNSIGNED_LEN) != 0) {
		snprintf(err, errlen,
		         "server proof does not verify: the gateway holds a different key");
		return -EACCES;
	}
	if (ephemeral_secret(a, in + HELLO_EPHEMERAL, a->shared)) {
		snprintf(err, errlen, "server hello: ephemeral key of small order");
		return -EACCES;
	}
	transcript_append(a, in + SERVER_HELLO_UNSIGNED_LEN, WF_CTL_MAC_LEN);

	out[0] = WF_CTL_HELLO_TYPE_PROOF;
	prf(out + 1, a->key, label_client_proof, a->transcript, a->transcript_len);
	transcript_append(a, out, WF_CTL_CLIENT_PROOF_LEN);
	*out_len = WF_CTL_CLIENT_PROOF_LEN;
	derive_session(a, session);
	return 1;
}

static int server_on_client_proof(struct wf_ctl_auth *a, const uint8_t *in, size_t in_len,
                                  struct wf_ctl_session *session, char *err, size_t errlen)
{
	uint8_t expected[WF_CTL_MAC_LEN];
	int ret;

	ret = check_fixed(in, in_len, WF_CTL_HELLO_TYPE_PROOF, "client proof",
	                  WF_CTL_CLIENT_PROOF_LEN, err, errlen);
	if (ret < 0)
		return ret;
	prf(expected, a->key, label_client_proof, a->transcript, a->transcript_len);
	if (crypto_verify_32(expected, in + 1) != 0) {
		snprintf(err, errlen,
		         "client proof does not verify: the agent holds a different key");
		return -EACCES;
	}
	transcript_append(a, in, in_len);
	derive_session(a, session);
	return 1;
}

int wf_ctl_auth_step(struct wf_ctl_auth *a, const uint8_t *in, size_t in_len, uint8_t *out,
                     size_t cap, size_t *out_len, struct wf_ctl_session *session, char *err,
                     size_t errlen)
{
	int ret;

	*out_len = 0;
	if (a->role == WF_CTL_SERVER && a->state == WF_CTL_AUTH_START)
		ret = server_on_client_hello(a, in, in_len, out, cap, out_len, err, errlen);
	else if (a->role == WF_CTL_SERVER && a->state == WF_CTL_AUTH_WAIT_PROOF)
		ret = server_on_client_proof(a, in, in_len, session, err, errlen);
	else if (a->role == WF_CTL_CLIENT && a->state == WF_CTL_AUTH_WAIT_SERVER)
		ret =
		    client_on_server_hello(a, in, in_len, out, cap, out_len, session, err, errlen);
	else {
		snprintf(err, errlen, "handshake frame out of turn");
		ret = -EPROTO;
	}
	if (ret == -ENOBUFS)
		snprintf(err, errlen, "handshake reply does not fit %zu bytes", cap);
	if (ret < 0) {
		*out_len = 0;
		a->state = WF_CTL_AUTH_FAILED;
		sodium_memzero(a->key, sizeof(a->key));
		sodium_memzero(a->ephemeral_sk, sizeof(a->ephemeral_sk));
		sodium_memzero(a->shared, sizeof(a->shared));
	}
	return ret;
}

void wf_ctl_auth_clear(struct wf_ctl_auth *a)
{
	sodium_memzero(a, sizeof(*a));
	a->state = WF_CTL_AUTH_FAILED;
}

static void seq_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES], uint64_t seq)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

int wf_ctl_seal(struct wf_ctl_session *s, const uint8_t *plain, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	if (s->tx_seq == UINT64_MAX)
		return -EOVERFLOW;
	seq_nonce(nonce, s->tx_seq);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plain, len, NULL, 0, NULL, nonce,
	                                          s->tx_key);
	s->tx_seq++;
	return 0;
}

int wf_ctl_open(struct wf_ctl_session *s, const uint8_t *sealed, size_t len, uint8_t *out,
                size_t *out_len)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
	unsigned long long plain_len;

	if (len < WF_CTL_TAG_LEN)
		return -EBADMSG;
	if (s->rx_seq == UINT64_MAX)
		return -EOVERFLOW;
	seq_nonce(nonce, s->rx_seq);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plain_len, NULL, sealed, len, NULL, 0,
	                                              nonce, s->rx_key) != 0)
		return -EBADMSG;
	s->rx_seq++;
	*out_len = (size_t)plain_len;
	return 0;
}

void wf_ctl_session_clear(struct wf_ctl_session *s)
{
	sodium_memzero(s, sizeof(*s));
}
