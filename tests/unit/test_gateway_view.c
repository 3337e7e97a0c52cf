/* What the agent remembers of a gateway's acknowledgement: every forward it was sent, and a
 * reason for the few it refused, found by (proto, port, family). */
#include <wgfwd-agent/daemon_internal.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

static struct wf_ctl_forward fwd(uint8_t proto, uint16_t port, int family)
{
	return (struct wf_ctl_forward){
	    .proto = proto, .family = (uint8_t)family, .public_port = port, .target_port = port};
}

static void check_lookups(struct gateway_view *gw)
{
	size_t i;

	assert_true(wf_gateway_view_find(gw, IPPROTO_TCP, 443, AF_INET6, &i));
	assert_int_equal(gw->forwards[i].public_port, 443);
	assert_int_equal(gw->forwards[i].family, AF_INET6);
	assert_null(wf_gateway_view_refusal(gw, i));
	assert_true(wf_gateway_view_find(gw, IPPROTO_UDP, 53, AF_INET, &i));
	assert_string_equal(wf_gateway_view_refusal(gw, i), "port 53 is the gateway's own");
	assert_false(wf_gateway_view_find(gw, IPPROTO_UDP, 443, AF_INET, &i));
	assert_false(wf_gateway_view_find(gw, IPPROTO_TCP, 80, AF_INET6, &i));
}

static void forwards_are_found_sorted_or_not(void **state)
{
	struct wf_ctl_forward sorted[] = {
	    fwd(IPPROTO_TCP, 80, AF_INET), fwd(IPPROTO_TCP, 443, AF_INET),
	    fwd(IPPROTO_TCP, 443, AF_INET6), fwd(IPPROTO_UDP, 53, AF_INET),
	    fwd(IPPROTO_UDP, 9000, AF_INET)};
	struct gateway_refusal refused[1] = {
	    {.index = 3, .reason = "port 53 is the gateway's own"}};
	struct gateway_view gw = {
	    .forwards = sorted, .n = 5, .sorted = true, .refused = refused, .n_refused = 1};
	struct wf_ctl_forward shuffled[] = {sorted[4], sorted[3], sorted[0], sorted[2], sorted[1]};

	struct wf_ctl_forward wire[] = {sorted[0], sorted[1], sorted[2], sorted[3], sorted[4]};

	check_lookups(&gw);
	/* In another order, found all the same, by looking at each. */
	gw.forwards = shuffled;
	gw.sorted = false;
	refused[0].index = 1;
	check_lookups(&gw);
	/* In the wire's order (each protocol and family by port), as acknowledged states come:
	 * by bisection too. */
	wire[2] = fwd(IPPROTO_TCP, 8080, AF_INET); /* before tcp/443 IPv6 here */
	wire[3] = sorted[2];
	wire[4] = sorted[3];
	gw.forwards = wire;
	gw.wire_sorted = true;
	refused[0].index = 4;
	check_lookups(&gw);
}

static void no_refusals_means_every_forward_applied(void **state)
{
	struct wf_ctl_forward f[] = {fwd(IPPROTO_TCP, 80, AF_INET)};
	struct gateway_view gw = {.forwards = f, .n = 1, .sorted = true};
	size_t i;

	assert_true(wf_gateway_view_find(&gw, IPPROTO_TCP, 80, AF_INET, &i));
	assert_int_equal(i, 0);
	assert_null(wf_gateway_view_refusal(&gw, i));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(forwards_are_found_sorted_or_not),
	    cmocka_unit_test(no_refusals_means_every_forward_applied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
