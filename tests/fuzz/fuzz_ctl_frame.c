/* Arbitrary bytes against everything that reads the control channel before trusting it: the
 * message decoder (with an encode/decode round trip for what it accepts), and a byte stream
 * cut into frames and fed to the server's and the client's side of the handshake, then to
 * the sealed-frame opener. */
#include <wgfwd/ctl.h>
#include <wgfwd/ctl_proto.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[WF_CTL_KEY_LEN] = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz";

static bool same_entries(const struct wf_ctl_state *a, const struct wf_ctl_state *b)
{
	return wf_ctl_forwards_equal(a->forwards, a->n_forwards, b->forwards, b->n_forwards) &&
	       wf_ctl_egress_equal(a->egress, a->n_egress, b->egress, b->n_egress);
}

/* What a round trip must keep: every entry, in its order. */
static bool same_message(const struct wf_ctl_msg *a, const struct wf_ctl_msg *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == WF_CTL_MSG_STATE_DELTA)
		return a->state_delta.generation == b->state_delta.generation &&
		       a->state_delta.base == b->state_delta.base &&
		       same_entries(&a->state_delta.add, &b->state_delta.add) &&
		       same_entries(&a->state_delta.del, &b->state_delta.del);
	if (a->type == WF_CTL_MSG_STATE)
		return a->state.generation == b->state.generation &&
		       !strcmp(a->state.agent_version, b->state.agent_version) &&
		       a->state.n_forwards == b->state.n_forwards &&
		       a->state.n_egress == b->state.n_egress &&
		       !memcmp(a->state.forwards, b->state.forwards,
		               a->state.n_forwards * sizeof(*a->state.forwards)) &&
		       !memcmp(a->state.egress, b->state.egress,
		               a->state.n_egress * sizeof(*a->state.egress));
	if (a->type == WF_CTL_MSG_STATE_ACK || a->type == WF_CTL_MSG_DELTA_ACK) {
		const struct wf_ctl_state_ack *x = &a->state_ack, *y = &b->state_ack;

		if (x->generation != y->generation || x->applied != y->applied ||
		    x->resend != y->resend || strcmp(x->reason, y->reason) ||
		    x->n_forwards != y->n_forwards || x->n_egress != y->n_egress)
			return false;
		for (size_t i = 0; i < x->n_forwards; i++)
			if (x->forwards[i].accepted != y->forwards[i].accepted ||
			    strcmp(x->forwards[i].reason, y->forwards[i].reason))
				return false;
		for (size_t i = 0; i < x->n_egress; i++)
			if (x->egress[i].accepted != y->egress[i].accepted ||
			    strcmp(x->egress[i].reason, y->egress[i].reason))
				return false;
	}
	return true;
}

static void decode_and_round_trip(const uint8_t *data, size_t size)
{
	struct wf_ctl_msg m, again;
	char err[256], *json;
	size_t len;
	int ret;

	if (wf_ctl_msg_decode((const char *)data, size, &m, err, sizeof(err)) < 0)
		return;
	/* what the decoder accepts, the encoder must write and the decoder read back */
	ret = wf_ctl_msg_encode(&m, &json, &len, err, sizeof(err));
	if (ret == 0) {
		if (wf_ctl_msg_decode(json, len, &again, err, sizeof(err)) < 0 ||
		    !same_message(&m, &again))
			abort();
		wf_ctl_msg_clear(&again);
		free(json);
	} else {
		/* every message the decoder accepts fits (ctl.h, "Sizes") */
		abort();
	}
	wf_ctl_msg_clear(&m);
}

static void feed_stream(const uint8_t *data, size_t size, enum wf_ctl_role role)
{
	uint8_t out[WF_CTL_HANDSHAKE_FRAME_MAX];
	struct wf_ctl_session session;
	struct wf_ctl_auth auth;
	bool established = false, failed = false;
	size_t off = 0, out_len;
	char err[256];

	if (wf_ctl_auth_init(&auth, role, key, role == WF_CTL_CLIENT ? "192.168.160.2" : NULL) < 0)
		abort();
	if (role == WF_CTL_CLIENT && wf_ctl_auth_start(&auth, out, sizeof(out), &out_len) < 0)
		abort();
	for (;;) {
		size_t max = established ? WF_CTL_FRAME_MAX : WF_CTL_HANDSHAKE_FRAME_MAX;
		const uint8_t *body = data + off + WF_CTL_FRAME_HEADER_LEN;
		size_t body_len;
		int ret = wf_ctl_frame_parse(data + off, size - off, max, &body_len);

		if (ret <= 0)
			break;
		if (!established && !failed) {
			ret = wf_ctl_auth_step(&auth, body, body_len, out, sizeof(out), &out_len,
			                       &session, err, sizeof(err));
			if (out_len > sizeof(out))
				abort();
			failed = ret < 0;
			established = ret == 1;
		} else if (established) {
			uint8_t *plain = malloc(body_len);
			size_t plain_len;

			if (!plain)
				abort();
			if (wf_ctl_open(&session, body, body_len, plain, &plain_len) == 0)
				decode_and_round_trip(plain, plain_len);
			free(plain);
		}
		/* the decoder sees every body, as if it had been sealed and opened */
		decode_and_round_trip(body, body_len);
		off += WF_CTL_FRAME_HEADER_LEN + body_len;
	}
	wf_ctl_auth_clear(&auth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_and_round_trip(data, size);
	feed_stream(data, size, WF_CTL_SERVER);
	feed_stream(data, size, WF_CTL_CLIENT);
	return 0;
}
