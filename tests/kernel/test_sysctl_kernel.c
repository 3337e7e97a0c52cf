/* The agent's sysctl fix-up in a private network namespace: interfaces that would stop
 * hearing router advertisements get accept_ra 2 before IPv6 forwarding goes on, Docker's own
 * links and the tunnel are left alone, and --no-fix-sysctls only reports. Needs root. */
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
#include <wgfwd/sysctl.h>
#include <wgfwd/util.h>

static int accept_ra(const char *ifname)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", ifname);
	return wf_sysctl_read_int(path);
}

static int setup(void **state)
{
	/* a home uplink, Docker's bridge and a container link, the tunnel */
	if (system("ip link add home0 type veth peer name home1 && ip link add docker0 type bridge "
	           "&& ip link add veth1a2b3c4 type veth peer name eth9 && "
	           "ip link add wg7 type veth peer name wg8 && "
	           "sysctl -qw net.ipv6.conf.all.forwarding=0 net.ipv4.ip_forward=0"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	return system("ip link del home0; ip link del docker0; ip link del veth1a2b3c4; "
	              "ip link del wg7") < 0;
}

static struct wf_server_params params(void)
{
	struct wf_server_params p;

	wf_server_params_default(&p);
	WF_COPY(p.tunnel_ifname, "wg7");
	return p;
}

static void without_fixing_accept_ra_is_reported_and_left(void **state)
{
	struct wf_server_params p = params();

	assert_int_equal(accept_ra("home0"), 1);
	assert_int_equal(wf_dataplane_check_sysctls(&p, false, true), -EINVAL);
	assert_int_equal(accept_ra("home0"), 1);
	assert_int_equal(wf_sysctl_read_int("/proc/sys/net/ipv6/conf/all/forwarding"), 0);
}

static void fixing_sets_accept_ra_2_where_advertisements_arrive(void **state)
{
	struct wf_server_params p = params();

	assert_int_equal(wf_dataplane_check_sysctls(&p, true, true), 0);
	assert_int_equal(wf_sysctl_read_int("/proc/sys/net/ipv6/conf/all/forwarding"), 1);
	assert_int_equal(accept_ra("home0"), 2);
	assert_int_equal(accept_ra("eth9"), 2); /* a veth's far end is just an interface here */
	assert_int_equal(accept_ra("docker0"), 1);
	assert_int_equal(accept_ra("veth1a2b3c4"), 1);
	assert_int_equal(accept_ra("wg7"), 1);
	assert_int_equal(accept_ra("lo"), 1);
	/* nothing left to fix: a second pass changes nothing and is content */
	assert_int_equal(wf_dataplane_check_sysctls(&p, false, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(without_fixing_accept_ra_is_reported_and_left),
	    cmocka_unit_test(fixing_sets_accept_ra_2_where_advertisements_arrive),
	};

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (kernel tests need root)\n",
		        strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
