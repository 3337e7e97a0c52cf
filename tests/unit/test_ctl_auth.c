/* The control channel handshake and sealed frames, both sides in memory. */
#include <wgfwd/ctl.h>
#include <wgfwd/ctl_proto.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <cmocka.h>

static const uint8_t key[WF_CTL_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t other_key[WF_CTL_KEY_LEN] = "0123456789abcdef0123456789abcdeF";

/* One handshake, with every frame kept so tests can replay or alter them. */
struct run {
	struct wf_ctl_auth client, server;
	struct wf_ctl_session client_session, server_session;
	uint8_t hello[WF_CTL_HANDSHAKE_FRAME_MAX], server_hello[WF_CTL_HANDSHAKE_FRAME_MAX],
	    proof[WF_CTL_HANDSHAKE_FRAME_MAX];
	size_t hello_len, server_hello_len, proof_len;
	int server_on_hello, client_on_server_hello, server_on_proof;
	char client_err[256], server_err[256];
};

static void start(struct run *r, const uint8_t *client_key, const uint8_t *server_key,
                  const char *client_id, const char *expected_id)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(wf_ctl_auth_init(&r->client, WF_CTL_CLIENT, client_key, client_id), 0);
	assert_int_equal(wf_ctl_auth_init(&r->server, WF_CTL_SERVER, server_key, expected_id), 0);
	assert_int_equal(wf_ctl_auth_start(&r->client, r->hello, sizeof(r->hello), &r->hello_len),
	                 0);
}

static void server_takes_hello(struct run *r)
{
	r->server_on_hello = wf_ctl_auth_step(
	    &r->server, r->hello, r->hello_len, r->server_hello, sizeof(r->server_hello),
	    &r->server_hello_len, &r->server_session, r->server_err, sizeof(r->server_err));
}

static void client_takes_server_hello(struct run *r)
{
	r->client_on_server_hello = wf_ctl_auth_step(
	    &r->client, r->server_hello, r->server_hello_len, r->proof, sizeof(r->proof),
	    &r->proof_len, &r->client_session, r->client_err, sizeof(r->client_err));
}

static void server_takes_proof(struct run *r)
{
	uint8_t none[WF_CTL_HANDSHAKE_FRAME_MAX];
	size_t none_len;

	r->server_on_proof =
	    wf_ctl_auth_step(&r->server, r->proof, r->proof_len, none, sizeof(none), &none_len,
	                     &r->server_session, r->server_err, sizeof(r->server_err));
	assert_int_equal(none_len, 0);
}

static void handshake(struct run *r, const uint8_t *client_key, const uint8_t *server_key)
{
	start(r, client_key, server_key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(r);
	assert_int_equal(r->server_on_hello, 0);
	client_takes_server_hello(r);
	if (r->client_on_server_hello == 1)
		server_takes_proof(r);
}

static void seal(struct wf_ctl_session *s, const char *text, uint8_t *out, size_t *out_len)
{
	assert_int_equal(wf_ctl_seal(s, (const uint8_t *)text, strlen(text), out), 0);
	*out_len = strlen(text) + WF_CTL_TAG_LEN;
}

static void assert_opens_to(struct wf_ctl_session *s, const uint8_t *sealed, size_t len,
                            const char *text)
{
	uint8_t plain[256];
	size_t plain_len;

	assert_int_equal(wf_ctl_open(s, sealed, len, plain, &plain_len), 0);
	assert_int_equal(plain_len, strlen(text));
	assert_memory_equal(plain, text, plain_len);
}

static int try_open(struct wf_ctl_session *s, const uint8_t *sealed, size_t len)
{
	uint8_t plain[256];
	size_t plain_len;

	return wf_ctl_open(s, sealed, len, plain, &plain_len);
}

static void same_key_establishes_both_sides_and_frames_flow_both_ways(void **state)
{
	uint8_t frame[256];
	size_t len;
	struct run r;

	handshake(&r, key, key);
	assert_int_equal(r.client_on_server_hello, 1);
	assert_int_equal(r.server_on_proof, 1);
	assert_int_equal(r.client.state, WF_CTL_AUTH_DONE);
	assert_int_equal(r.server.state, WF_CTL_AUTH_DONE);
	assert_string_equal(r.server.identity, "192.168.160.2");
	assert_int_equal(r.hello_len, WF_CTL_CLIENT_HELLO_MIN - 1 + strlen("192.168.160.2"));
	assert_int_equal(r.server_hello_len, WF_CTL_SERVER_HELLO_LEN);
	assert_int_equal(r.proof_len, WF_CTL_CLIENT_PROOF_LEN);
	assert_true(r.hello_len <= WF_CTL_HANDSHAKE_FRAME_MAX);

	for (int i = 0; i < 3; i++) {
		seal(&r.client_session, "{\"v\":1,\"type\":\"ping\"}", frame, &len);
		assert_opens_to(&r.server_session, frame, len, "{\"v\":1,\"type\":\"ping\"}");
		seal(&r.server_session, "{\"v\":1,\"type\":\"pong\"}", frame, &len);
		assert_opens_to(&r.client_session, frame, len, "{\"v\":1,\"type\":\"pong\"}");
	}
	/* the two directions use different keys */
	assert_memory_not_equal(r.client_session.tx_key, r.client_session.rx_key,
	                        WF_CTL_SESSION_KEY_LEN);
}

static void client_refuses_a_server_with_another_key(void **state)
{
	struct run r;

	handshake(&r, key, other_key);
	assert_int_equal(r.client_on_server_hello, -EACCES);
	assert_non_null(strstr(r.client_err, "different key"));
	assert_int_equal(r.proof_len, 0);
	assert_int_equal(r.client.state, WF_CTL_AUTH_FAILED);
}

/* The PRF exactly as ctl.h specifies it, written from the text rather than the code. */
static void spec_prf(uint8_t out[32], const uint8_t *k, const char *label, const uint8_t *t,
                     size_t t_len)
{
	uint8_t digest[64];
	crypto_generichash_state st;

	crypto_generichash(digest, sizeof(digest), t, t_len, NULL, 0);
	crypto_generichash_init(&st, k, WF_CTL_KEY_LEN, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, digest, sizeof(digest));
	crypto_generichash_final(&st, out, 32);
}

/* A client written from ctl.h's text, speaking to the real server. */
static void handshake_follows_the_specification(void **state)
{
	static const char id[] = "192.168.160.2";
	uint8_t t[WF_CTL_TRANSCRIPT_MAX + 32], mac[32], kcs[32], ksc[32], dh[32];
	uint8_t ec_pk[32], ec_sk[32], nc[32], sh[WF_CTL_HANDSHAKE_FRAME_MAX], none[8];
	struct wf_ctl_auth server;
	struct wf_ctl_session session;
	size_t t_len = 0, sh_len, none_len;
	char err[256] = "";
	struct run r;

	/* The real client's hello has the layout the text gives. */
	start(&r, key, key, id, NULL);
	assert_int_equal(r.hello[0], 1);
	assert_int_equal(r.hello[1], 2);
	assert_int_equal(r.hello_len, 2 + 32 + 32 + 1 + strlen(id));
	assert_int_equal(r.hello[66], strlen(id));
	assert_memory_equal(r.hello + 67, id, strlen(id));

	randombytes_buf(nc, sizeof(nc));
	crypto_box_keypair(ec_pk, ec_sk);
	t[0] = 1;
	t[1] = 2;
	memcpy(t + 2, nc, 32);
	memcpy(t + 34, ec_pk, 32);
	t[66] = (uint8_t)strlen(id);
	memcpy(t + 67, id, strlen(id));
	t_len = 67 + strlen(id);

	assert_int_equal(wf_ctl_auth_init(&server, WF_CTL_SERVER, key, id), 0);
	assert_int_equal(wf_ctl_auth_step(&server, t, t_len, sh, sizeof(sh), &sh_len, &session, err,
	                                  sizeof(err)),
	                 0);
	assert_int_equal(sh_len, 2 + 32 + 32 + 32);
	assert_int_equal(sh[0], 2);
	assert_int_equal(sh[1], 2);
	memcpy(t + t_len, sh, 66);
	spec_prf(mac, key, "wgfwd ctl v2 server proof", t, t_len + 66);
	assert_memory_equal(sh + 66, mac, 32);
	memcpy(t + t_len, sh, sh_len);
	t_len += sh_len;

	t[t_len] = 3;
	spec_prf(t + t_len + 1, key, "wgfwd ctl v2 client proof", t, t_len);
	assert_int_equal(wf_ctl_auth_step(&server, t + t_len, 33, none, sizeof(none), &none_len,
	                                  &session, err, sizeof(err)),
	                 1);
	t_len += 33;

	assert_int_equal(crypto_scalarmult(dh, ec_sk, sh + 34), 0);
	memcpy(t + t_len, dh, 32);
	spec_prf(kcs, key, "wgfwd ctl v2 client to server", t, t_len + 32);
	spec_prf(ksc, key, "wgfwd ctl v2 server to client", t, t_len + 32);
	assert_memory_equal(session.rx_key, kcs, 32);
	assert_memory_equal(session.tx_key, ksc, 32);
	/* Nothing of the exchange stays behind in the server once the keys exist. */
	assert_true(sodium_is_zero(server.ephemeral_sk, sizeof(server.ephemeral_sk)));
	assert_true(sodium_is_zero(server.shared, sizeof(server.shared)));
}

/* Someone who recorded a whole session and later steals K can compute every proof and every
 * value the transcript and K give, but not the ephemeral exchange: the session stays closed. */
static void a_recorded_session_stays_closed_to_a_stolen_key(void **state)
{
	uint8_t t[WF_CTL_TRANSCRIPT_MAX], frame[256], guess[32];
	struct wf_ctl_session attacker = {0};
	size_t t_len, len;
	struct run r;

	handshake(&r, key, key);
	assert_int_equal(r.server_on_proof, 1);
	seal(&r.client_session, "{\"v\":2,\"type\":\"ping\"}", frame, &len);
	assert_true(sodium_is_zero(r.client.ephemeral_sk, sizeof(r.client.ephemeral_sk)));
	assert_true(sodium_is_zero(r.client.shared, sizeof(r.client.shared)));

	memcpy(t, r.hello, r.hello_len);
	memcpy(t + r.hello_len, r.server_hello, r.server_hello_len);
	memcpy(t + r.hello_len + r.server_hello_len, r.proof, r.proof_len);
	t_len = r.hello_len + r.server_hello_len + r.proof_len;
	spec_prf(guess, key, "wgfwd ctl v2 client to server", t, t_len);
	memcpy(attacker.rx_key, guess, 32);
	assert_int_equal(try_open(&attacker, frame, len), -EBADMSG);
	/* nor with the ephemeral public keys taken for the secret */
	memcpy(t + t_len, r.hello + 34, 32);
	spec_prf(guess, key, "wgfwd ctl v2 client to server", t, t_len + 32);
	memcpy(attacker.rx_key, guess, 32);
	assert_int_equal(try_open(&attacker, frame, len), -EBADMSG);
	/* while the server, which took part in the exchange, opens it */
	assert_opens_to(&r.server_session, frame, len, "{\"v\":2,\"type\":\"ping\"}");
}

static void ephemeral_key_of_small_order_is_refused(void **state)
{
	struct run r;

	/* The all-zero point: X25519 with it is zero whatever the secret. */
	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	memset(r.hello + 34, 0, 32);
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, -EACCES);
	assert_non_null(strstr(r.server_err, "small order"));

	/* A server hello with a small-order key and a valid proof (the server holds K). */
	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, 0);
	{
		uint8_t t[WF_CTL_TRANSCRIPT_MAX];

		memset(r.server_hello + 34, 0, 32);
		memcpy(t, r.hello, r.hello_len);
		memcpy(t + r.hello_len, r.server_hello, 66);
		spec_prf(r.server_hello + 66, key, "wgfwd ctl v2 server proof", t,
		         r.hello_len + 66);
	}
	client_takes_server_hello(&r);
	assert_int_equal(r.client_on_server_hello, -EACCES);
	assert_non_null(strstr(r.client_err, "small order"));
}

static void server_refuses_a_proof_made_with_another_key(void **state)
{
	uint8_t t[WF_CTL_TRANSCRIPT_MAX];
	struct run r;

	/* An impostor with the wrong key cannot check the server, but may send a proof anyway:
	 * the one it would compute over the real transcript with its key. */
	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, 0);
	memcpy(t, r.hello, r.hello_len);
	memcpy(t + r.hello_len, r.server_hello, r.server_hello_len);
	r.proof[0] = WF_CTL_HELLO_TYPE_PROOF;
	spec_prf(r.proof + 1, other_key, "wgfwd ctl v2 client proof", t,
	         r.hello_len + r.server_hello_len);
	r.proof_len = WF_CTL_CLIENT_PROOF_LEN;
	server_takes_proof(&r);
	assert_int_equal(r.server_on_proof, -EACCES);
	assert_non_null(strstr(r.server_err, "different key"));
	assert_int_equal(r.server.state, WF_CTL_AUTH_FAILED);

	/* and the same computation with the right key is what the server wants */
	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(&r);
	memcpy(t, r.hello, r.hello_len);
	memcpy(t + r.hello_len, r.server_hello, r.server_hello_len);
	spec_prf(r.proof + 1, key, "wgfwd ctl v2 client proof", t,
	         r.hello_len + r.server_hello_len);
	r.proof[0] = WF_CTL_HELLO_TYPE_PROOF;
	r.proof_len = WF_CTL_CLIENT_PROOF_LEN;
	server_takes_proof(&r);
	assert_int_equal(r.server_on_proof, 1);
}

static void forged_proof_is_refused(void **state)
{
	struct run r;

	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(&r);
	r.proof[0] = WF_CTL_HELLO_TYPE_PROOF;
	memset(r.proof + 1, 0xab, WF_CTL_MAC_LEN);
	r.proof_len = WF_CTL_CLIENT_PROOF_LEN;
	server_takes_proof(&r);
	assert_int_equal(r.server_on_proof, -EACCES);
}

static void any_change_to_the_client_hello_fails_the_handshake(void **state)
{
	for (size_t i = 0; i < WF_CTL_CLIENT_HELLO_MIN - 1 + strlen("192.168.160.2"); i++) {
		struct run r;

		start(&r, key, key, "192.168.160.2", NULL);
		r.hello[i] ^= 0x01;
		server_takes_hello(&r);
		if (r.server_on_hello < 0)
			continue;
		client_takes_server_hello(&r);
		if (r.client_on_server_hello != -EACCES)
			fail_msg("byte %zu of the client hello changed unnoticed", i);
	}
}

static void any_change_to_the_server_hello_fails_the_handshake(void **state)
{
	for (size_t i = 0; i < WF_CTL_SERVER_HELLO_LEN; i++) {
		struct run r;

		start(&r, key, key, "192.168.160.2", "192.168.160.2");
		server_takes_hello(&r);
		r.server_hello[i] ^= 0x80;
		client_takes_server_hello(&r);
		if (r.client_on_server_hello >= 0)
			fail_msg("byte %zu of the server hello changed unnoticed", i);
	}
}

static void any_change_to_the_proof_fails_the_handshake(void **state)
{
	for (size_t i = 0; i < WF_CTL_CLIENT_PROOF_LEN; i++) {
		struct run r;

		start(&r, key, key, "192.168.160.2", "192.168.160.2");
		server_takes_hello(&r);
		client_takes_server_hello(&r);
		assert_int_equal(r.client_on_server_hello, 1);
		r.proof[i] ^= 0x02;
		server_takes_proof(&r);
		if (r.server_on_proof >= 0)
			fail_msg("byte %zu of the proof changed unnoticed", i);
	}
}

static void truncated_or_padded_handshake_frames_are_refused(void **state)
{
	struct run r;

	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	r.hello_len--;
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, -EBADMSG);

	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(&r);
	r.server_hello_len--;
	client_takes_server_hello(&r);
	assert_int_equal(r.client_on_server_hello, -EBADMSG);

	start(&r, key, key, "192.168.160.2", "192.168.160.2");
	server_takes_hello(&r);
	client_takes_server_hello(&r);
	r.proof[r.proof_len++] = 0;
	server_takes_proof(&r);
	assert_int_equal(r.server_on_proof, -EBADMSG);
}

static void server_hello_from_another_session_is_refused(void **state)
{
	struct run a, b;

	handshake(&a, key, key);
	start(&b, key, key, "192.168.160.2", "192.168.160.2");
	memcpy(b.server_hello, a.server_hello, a.server_hello_len);
	b.server_hello_len = a.server_hello_len;
	client_takes_server_hello(&b);
	assert_int_equal(b.client_on_server_hello, -EACCES);
}

static void proof_from_another_session_is_refused(void **state)
{
	struct run a, b;

	handshake(&a, key, key);
	assert_int_equal(a.server_on_proof, 1);
	/* a recorded client hello and proof, replayed to a server that picks a fresh nonce */
	start(&b, key, key, "192.168.160.2", "192.168.160.2");
	memcpy(b.hello, a.hello, a.hello_len);
	b.hello_len = a.hello_len;
	server_takes_hello(&b);
	assert_int_equal(b.server_on_hello, 0);
	memcpy(b.proof, a.proof, a.proof_len);
	b.proof_len = a.proof_len;
	server_takes_proof(&b);
	assert_int_equal(b.server_on_proof, -EACCES);
}

static void client_claiming_another_identity_is_refused(void **state)
{
	struct run r;

	start(&r, key, key, "192.168.160.3", "192.168.160.2");
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, -EACCES);
	assert_non_null(strstr(r.server_err, "192.168.160.3"));
}

static void identities_compare_as_addresses(void **state)
{
	struct run r;

	start(&r, key, key, "fc00:0:0:160::2", "fc00:0:0:160:0:0:0:2");
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, 0);
	assert_string_equal(r.server.identity, "fc00:0:0:160::2");
	assert_true(wf_ctl_identity_equal("fc00::2", "fc00:0::2"));
	assert_false(wf_ctl_identity_equal("fc00::2", "fc00::3"));
	assert_false(wf_ctl_identity_equal("10.0.0.1", "::ffff:10.0.0.1"));
	assert_true(wf_ctl_identity_equal("peer-a", "peer-a"));
}

static void bad_identities_are_refused_at_init(void **state)
{
	struct wf_ctl_auth a;
	char long_id[80];

	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(wf_ctl_auth_init(&a, WF_CTL_CLIENT, key, ""), -EINVAL);
	assert_int_equal(wf_ctl_auth_init(&a, WF_CTL_CLIENT, key, NULL), -EINVAL);
	assert_int_equal(wf_ctl_auth_init(&a, WF_CTL_CLIENT, key, "a b"), -EINVAL);
	assert_int_equal(wf_ctl_auth_init(&a, WF_CTL_CLIENT, key, long_id), -EINVAL);
	assert_int_equal(wf_ctl_auth_init(&a, WF_CTL_SERVER, key, NULL), 0);
}

static void other_protocol_version_is_refused(void **state)
{
	struct run r;

	start(&r, key, key, "192.168.160.2", NULL);
	r.hello[1] = 1;
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, -EPROTO);
	assert_non_null(strstr(r.server_err, "version 1, this side speaks 2"));
}

static void frames_out_of_turn_are_refused_and_failure_sticks(void **state)
{
	struct run a, r;

	handshake(&a, key, key);
	start(&r, key, key, "192.168.160.2", NULL);
	/* a proof where the hello belongs */
	memcpy(r.hello, a.proof, a.proof_len);
	r.hello_len = a.proof_len;
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, -EPROTO);
	/* the real hello no longer helps */
	memcpy(r.hello, a.hello, a.hello_len);
	r.hello_len = a.hello_len;
	server_takes_hello(&r);
	assert_int_equal(r.server_on_hello, -EPROTO);
}

static void replayed_frame_is_refused(void **state)
{
	uint8_t frame[256];
	size_t len;
	struct run r;

	handshake(&r, key, key);
	seal(&r.client_session, "{\"v\":1,\"type\":\"ping\"}", frame, &len);
	assert_opens_to(&r.server_session, frame, len, "{\"v\":1,\"type\":\"ping\"}");
	assert_int_equal(try_open(&r.server_session, frame, len), -EBADMSG);
}

static void reordered_frames_are_refused(void **state)
{
	uint8_t first[256], second[256];
	size_t first_len, second_len;
	struct run r;

	handshake(&r, key, key);
	seal(&r.client_session, "{\"n\":1}", first, &first_len);
	seal(&r.client_session, "{\"n\":2}", second, &second_len);
	assert_int_equal(try_open(&r.server_session, second, second_len), -EBADMSG);
	/* a refused frame does not move the counter */
	assert_int_equal(r.server_session.rx_seq, 0);
	assert_opens_to(&r.server_session, first, first_len, "{\"n\":1}");
}

static void dropped_frame_is_noticed_by_the_next(void **state)
{
	uint8_t frame[256];
	size_t len;
	struct run r;

	handshake(&r, key, key);
	seal(&r.client_session, "{\"n\":1}", frame, &len);
	seal(&r.client_session, "{\"n\":2}", frame, &len);
	assert_int_equal(try_open(&r.server_session, frame, len), -EBADMSG);
}

static void truncated_or_altered_frame_is_refused(void **state)
{
	uint8_t frame[256];
	size_t len;
	struct run r;

	handshake(&r, key, key);
	seal(&r.client_session, "{\"v\":1,\"type\":\"ping\"}", frame, &len);
	assert_int_equal(try_open(&r.server_session, frame, len - 1), -EBADMSG);
	assert_int_equal(try_open(&r.server_session, frame, WF_CTL_TAG_LEN - 1), -EBADMSG);
	assert_int_equal(try_open(&r.server_session, frame, 0), -EBADMSG);
	frame[3] ^= 0x20;
	assert_int_equal(try_open(&r.server_session, frame, len), -EBADMSG);
	frame[3] ^= 0x20;
	assert_opens_to(&r.server_session, frame, len, "{\"v\":1,\"type\":\"ping\"}");
}

static void frame_reflected_back_to_its_sender_is_refused(void **state)
{
	uint8_t frame[256];
	size_t len;
	struct run r;

	handshake(&r, key, key);
	seal(&r.client_session, "{\"v\":1,\"type\":\"ping\"}", frame, &len);
	assert_int_equal(try_open(&r.client_session, frame, len), -EBADMSG);
}

static void frame_from_another_session_is_refused(void **state)
{
	uint8_t frame[256];
	size_t len;
	struct run a, b;

	handshake(&a, key, key);
	handshake(&b, key, key);
	seal(&a.client_session, "{\"v\":1,\"type\":\"ping\"}", frame, &len);
	assert_int_equal(try_open(&b.server_session, frame, len), -EBADMSG);
	assert_opens_to(&a.server_session, frame, len, "{\"v\":1,\"type\":\"ping\"}");
}

static void every_session_has_fresh_nonces_and_keys(void **state)
{
	struct run a, b;

	handshake(&a, key, key);
	handshake(&b, key, key);
	assert_memory_not_equal(a.client.client_nonce, b.client.client_nonce, WF_CTL_NONCE_LEN);
	assert_memory_not_equal(a.server.server_nonce, b.server.server_nonce, WF_CTL_NONCE_LEN);
	assert_memory_not_equal(a.client_session.tx_key, b.client_session.tx_key,
	                        WF_CTL_SESSION_KEY_LEN);
	assert_memory_not_equal(a.client_session.rx_key, b.client_session.rx_key,
	                        WF_CTL_SESSION_KEY_LEN);
	/* the nonces on the wire are the ones the sides chose */
	assert_memory_equal(a.hello + 2, a.client.client_nonce, WF_CTL_NONCE_LEN);
	assert_memory_equal(a.server_hello + 2, a.server.server_nonce, WF_CTL_NONCE_LEN);
}

static void key_never_appears_on_the_wire(void **state)
{
	struct run r;

	handshake(&r, key, key);
	assert_null(memmem(r.hello, r.hello_len, key, 8));
	assert_null(memmem(r.server_hello, r.server_hello_len, key, 8));
	assert_null(memmem(r.proof, r.proof_len, key, 8));
}

static void spent_send_counter_refuses_to_seal(void **state)
{
	struct wf_ctl_session s = {.tx_seq = UINT64_MAX};
	uint8_t out[64];

	assert_int_equal(wf_ctl_seal(&s, (const uint8_t *)"x", 1, out), -EOVERFLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(same_key_establishes_both_sides_and_frames_flow_both_ways),
	    cmocka_unit_test(handshake_follows_the_specification),
	    cmocka_unit_test(a_recorded_session_stays_closed_to_a_stolen_key),
	    cmocka_unit_test(ephemeral_key_of_small_order_is_refused),
	    cmocka_unit_test(client_refuses_a_server_with_another_key),
	    cmocka_unit_test(server_refuses_a_proof_made_with_another_key),
	    cmocka_unit_test(forged_proof_is_refused),
	    cmocka_unit_test(any_change_to_the_client_hello_fails_the_handshake),
	    cmocka_unit_test(any_change_to_the_server_hello_fails_the_handshake),
	    cmocka_unit_test(any_change_to_the_proof_fails_the_handshake),
	    cmocka_unit_test(truncated_or_padded_handshake_frames_are_refused),
	    cmocka_unit_test(server_hello_from_another_session_is_refused),
	    cmocka_unit_test(proof_from_another_session_is_refused),
	    cmocka_unit_test(client_claiming_another_identity_is_refused),
	    cmocka_unit_test(identities_compare_as_addresses),
	    cmocka_unit_test(bad_identities_are_refused_at_init),
	    cmocka_unit_test(other_protocol_version_is_refused),
	    cmocka_unit_test(frames_out_of_turn_are_refused_and_failure_sticks),
	    cmocka_unit_test(replayed_frame_is_refused),
	    cmocka_unit_test(reordered_frames_are_refused),
	    cmocka_unit_test(dropped_frame_is_noticed_by_the_next),
	    cmocka_unit_test(truncated_or_altered_frame_is_refused),
	    cmocka_unit_test(frame_reflected_back_to_its_sender_is_refused),
	    cmocka_unit_test(frame_from_another_session_is_refused),
	    cmocka_unit_test(every_session_has_fresh_nonces_and_keys),
	    cmocka_unit_test(key_never_appears_on_the_wire),
	    cmocka_unit_test(spent_send_counter_refuses_to_seal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
