/* The agent's data plane for two gateways against the kernel, in a private network namespace:
 * the kernel takes every rule the render makes (a mark, table and route per tunnel, egress
 * flows pinned to their gateway), egress moves by a policy rule when the first gateway is
 * down, and cleanup takes both tunnels' part away. Needs root, ip and nft. */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <wgfwd-agent/apply.h>
#include <wgfwd-agent/render.h>
#include <wgfwd/util.h>

#include "../unit/gateway_fixture.h"
#include "kernel_test.h"

static struct wf_dataplane *dp;

static int setup(void **state)
{
	/* Stand-ins for the two tunnels: what the data plane needs is an interface by name. */
	if (system("ip link add wg1 type veth peer name wg1p && "
	           "ip link add wg21 type veth peer name wg21p && "
	           "ip address add 192.168.160.2/24 dev wg1 && "
	           "ip address add 192.168.161.2/24 dev wg21 && "
	           "ip link set wg1 up && ip link set wg21 up && "
	           "ip link add br-mail type bridge && ip link set br-mail up"))
		return -1;
	return wf_dataplane_open(&dp) ? -1 : 0;
}

static int teardown(void **state)
{
	wf_dataplane_close(dp);
	return 0;
}

static void two_gateways(struct wf_server_params *p, struct wf_server_gateway g[2])
{
	wf_server_params_default(p);
	WF_COPY(p->tunnel_ifname, "wg1");
	p->has_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.160.2", &p->tunnel_ip4);
	p->has_gateway_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.160.1", &p->gateway_tunnel_ip4);
	wf_server_gateway_from_params(p, &g[0]);
	WF_COPY(g[0].name, "vps1");
	g[0].n_public_ip4 = 1;
	inet_pton(AF_INET, "192.0.2.1", &g[0].public_ip4[0]);

	second_gateway(p, "wg21", &g[1]);
}

static int apply(const struct wf_server_params *p, const struct wf_server_gateway *g,
                 const struct wf_desired *d)
{
	struct wf_server_plan plan;
	struct wf_apply_result res;
	int err;

	assert_int_equal(wf_server_render_gateways(p, g, 2, d, &plan), 0);
	err = wf_dataplane_apply(dp, &plan, &res);
	wf_server_plan_free(&plan);
	return err;
}

static void both_tunnels_get_their_mark_table_and_route(void **state)
{
	struct wf_server_params p;
	struct wf_server_gateway g[2];
	struct wf_egress e = {.proto = IPPROTO_TCP,
	                      .port_lo = 25,
	                      .port_hi = 25,
	                      .has_ip4 = true,
	                      .bridge = "br-mail",
	                      .container_name = "mail"};
	struct wf_desired d = {.egress = &e, .n_egress = 1};

	inet_pton(AF_INET, "172.19.0.3", &e.ip4);
	two_gateways(&p, g);
	assert_int_equal(apply(&p, g, &d), 0);
	sh("ip rule show | grep -q 'fwmark 0x77660001 lookup 51820'");
	sh("ip rule show | grep -q 'fwmark 0x77660011 lookup 51821'");
	sh("ip rule show | grep -q 'fwmark 0x77660019 lookup 51821'");
	sh("ip rule show | grep -q 'from 192.168.161.2 lookup 51821'");
	sh("ip route show table 51821 | grep -q 'default dev wg21'");
	sh("ip route show table main | grep -q '192.168.161.1 dev wg21'");
	sh("nft list table inet wgfwd | grep -q 'iifname \"wg21\" ct state new ct mark set "
	   "0x77660011'");
	sh("nft list table inet wgfwd | grep -q 'oifname \"wg21\" ct mark set 0x77660019 "
	   "masquerade'");
	sh("nft list table inet wgfwd | grep -q 'ct direction original ct mark 0x77660019 meta "
	   "mark set 0x77660019'");
	sh("ip rule show | grep -q 'from 172.19.0.3 iif br-mail ipproto tcp dport 25 lookup "
	   "51820'");

	/* vps1 down: the same egress now looks up vps2's table, and nothing else moves. */
	g[0].down = true;
	assert_int_equal(apply(&p, g, &d), 0);
	sh("ip rule show | grep -q 'from 172.19.0.3 iif br-mail ipproto tcp dport 25 lookup "
	   "51821'");
	sh("! ip rule show | grep -q 'from 172.19.0.3 iif br-mail ipproto tcp dport 25 lookup "
	   "51820'");
	sh("ip rule show | grep -q 'fwmark 0x77660001 lookup 51820'");
	sh("ip route show table 51820 | grep -q 'default dev wg1'");
}

static void cleanup_removes_both_tunnels_part(void **state)
{
	struct wf_server_params p;
	struct wf_server_gateway g[2];
	struct wf_desired d = {0};

	two_gateways(&p, g);
	assert_int_equal(apply(&p, g, &d), 0);
	assert_int_equal(wf_dataplane_cleanup_gateways(dp, &p, g, 2), 0);
	sh("! nft list table inet wgfwd >/dev/null 2>&1");
	sh("! ip rule show | grep -q 'lookup 5182[01]'");
	sh("[ -z \"$(ip route show table 51821 2>/dev/null)\" ]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(both_tunnels_get_their_mark_table_and_route),
	    cmocka_unit_test(cleanup_removes_both_tunnels_part),
	};

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (kernel tests need root)\n",
		        strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
