#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <string.h>

#include <wgfwd-agent/wg_handshake.h>

static void latest_handshake_of_every_peer(void **state)
{
	int64_t sec = -1;

	assert_int_equal(wf_wg_uapi_last_handshake("private_key=aa\nlisten_port=51820\n"
	                                           "public_key=bb\nlast_handshake_time_sec=100\n"
	                                           "last_handshake_time_nsec=5\n"
	                                           "public_key=cc\nlast_handshake_time_sec=1700\n"
	                                           "errno=0\n\n",
	                                           &sec),
	                 0);
	assert_int_equal(sec, 1700);
}

static void no_handshake_yet_is_zero(void **state)
{
	int64_t sec = -1;

	assert_int_equal(wf_wg_uapi_last_handshake("public_key=bb\nlast_handshake_time_sec=0\n"
	                                           "errno=0\n\n",
	                                           &sec),
	                 0);
	assert_int_equal(sec, 0);
}

static void an_error_or_a_cut_answer_is_refused(void **state)
{
	int64_t sec;

	assert_int_equal(wf_wg_uapi_last_handshake("errno=19\n\n", &sec), -EINVAL);
	assert_int_equal(wf_wg_uapi_last_handshake("last_handshake_time_sec=9\n", &sec), -EINVAL);
	assert_int_equal(wf_wg_uapi_last_handshake("", &sec), -EINVAL);
}

static void missing_socket_is_enoent(void **state)
{
	int64_t sec;

	assert_int_equal(wf_wg_last_handshake("wf-no-such-if", &sec), -ENOENT);
}

/* A WG_CMD_GET_DEVICE answer as the kernel writes it: peers nested by index. */
static struct nlmsghdr *device_msg(void *buf, uint8_t cmd, const int64_t *secs, size_t n)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	struct nlattr *peers;

	nlh->nlmsg_type = 0x20;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = WG_GENL_VERSION;
	mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	for (size_t i = 0; i < n; i++) {
		struct nlattr *peer = mnl_attr_nest_start(nlh, (uint16_t)i);
		int64_t ts[2] = {secs[i], 7};

		mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 32, (char[32]){0});
		mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), ts);
		mnl_attr_nest_end(nlh, peer);
	}
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

static void kernel_answer_gives_the_latest_peer_handshake(void **state)
{
	char buf[1024] __attribute__((aligned(4))) = {0};
	static const int64_t secs[] = {100, 1700, 50};
	struct nlmsghdr *nlh = device_msg(buf, WG_CMD_GET_DEVICE, secs, 3);
	int64_t sec = 0;

	assert_int_equal(wf_wg_genl_last_handshake(nlh, nlh->nlmsg_len, &sec), 0);
	assert_int_equal(sec, 1700);
	/* a later message of the same dump only raises it */
	sec = 2000;
	assert_int_equal(wf_wg_genl_last_handshake(nlh, nlh->nlmsg_len, &sec), 0);
	assert_int_equal(sec, 2000);
}

static void kernel_answer_of_another_command_or_cut_is_refused(void **state)
{
	char buf[1024] __attribute__((aligned(4))) = {0};
	static const int64_t secs[] = {100};
	struct nlmsghdr *nlh = device_msg(buf, WG_CMD_SET_DEVICE, secs, 1);
	int64_t sec = 0;

	assert_int_equal(wf_wg_genl_last_handshake(nlh, nlh->nlmsg_len, &sec), -EINVAL);
	nlh = device_msg(buf, WG_CMD_GET_DEVICE, secs, 1);
	assert_int_equal(wf_wg_genl_last_handshake(nlh, nlh->nlmsg_len - 1, &sec), -EINVAL);
	assert_int_equal(sec, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(latest_handshake_of_every_peer),
	    cmocka_unit_test(no_handshake_yet_is_zero),
	    cmocka_unit_test(an_error_or_a_cut_answer_is_refused),
	    cmocka_unit_test(missing_socket_is_enoent),
	    cmocka_unit_test(kernel_answer_gives_the_latest_peer_handshake),
	    cmocka_unit_test(kernel_answer_of_another_command_or_cut_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
