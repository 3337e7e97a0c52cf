/* Which rtnetlink notifications the agent looks again for: messages as the kernel sends them
 * (built here), read by the watcher's parser and judged by the agent's filter. */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netconf.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <wgfwd-agent/drift_filter.h>
#include <wgfwd/rtnl.h>

#define TABLE  51820
#define TUNNEL "wg1"

static char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));

static struct wf_agent_owned owned(void)
{
	struct wf_server_params p;
	struct wf_agent_owned own;

	wf_server_params_default(&p);
	strcpy(p.tunnel_ifname, TUNNEL);
	p.table = TABLE;
	wf_agent_owned_from(&p, NULL, 0, &own);
	return own;
}

/* The note the watcher reads from msg, judged. */
static unsigned looks(const struct nlmsghdr *nlh, const char *resolved_ifname)
{
	struct wf_agent_owned own = owned();
	struct wf_nlwatch_note n;

	assert_int_equal(wf_nlwatch_note_parse(nlh, &n), 0);
	if (resolved_ifname && !n.ifname[0])
		strcpy(n.ifname, resolved_ifname);
	return wf_agent_note_looks(&own, &n);
}

static struct nlmsghdr *rule_msg(uint16_t type, uint32_t table, uint8_t protocol)
{
	struct wf_rule r = {.family = AF_INET,
	                    .priority = 10000,
	                    .table = table,
	                    .has_fwmark = true,
	                    .fwmark = 0x77660001,
	                    .protocol = protocol};

	assert_true(wf_rtnl_rule_build(buf, sizeof(buf), type, 0, &r) > 0);
	return (struct nlmsghdr *)buf;
}

static struct nlmsghdr *route_msg(uint16_t type, uint32_t table, uint8_t protocol, int oif)
{
	struct wf_route r = {.family = AF_INET, .table = table, .protocol = protocol};

	assert_true(wf_rtnl_route_build(buf, sizeof(buf), type, 0, &r, (unsigned)oif) > 0);
	return (struct nlmsghdr *)buf;
}

static struct nlmsghdr *link_msg(uint16_t type, uint8_t family, int index, const char *name,
                                 uint32_t master)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	nlh->nlmsg_type = type;
	ifi->ifi_family = family;
	ifi->ifi_index = index;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_MTU, 1500);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, master);
	return nlh;
}

static struct nlmsghdr *addr_msg(uint16_t type, int index)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct in_addr a;

	nlh->nlmsg_type = type;
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 24;
	ifa->ifa_index = (unsigned)index;
	inet_pton(AF_INET, "10.9.9.1", &a);
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(a), &a);
	return nlh;
}

static struct nlmsghdr *netconf_msg(uint8_t family, int index)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct netconfmsg *ncm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ncm));

	nlh->nlmsg_type = RTM_NEWNETCONF;
	ncm->ncm_family = family;
	mnl_attr_put_u32(nlh, NETCONFA_IFINDEX, (uint32_t)index);
	mnl_attr_put_u32(nlh, NETCONFA_RP_FILTER, 1);
	return nlh;
}

static void notes_are_read_as_the_kernel_writes_them(void **state)
{
	struct wf_nlwatch_note n;

	assert_int_equal(wf_nlwatch_note_parse(rule_msg(RTM_DELRULE, TABLE, WF_RTPROT), &n), 0);
	assert_int_equal(n.kind, WF_NLWATCH_RULE);
	assert_true(n.removed);
	assert_int_equal(n.table, TABLE);
	assert_int_equal(n.protocol, WF_RTPROT);
	assert_int_equal(wf_nlwatch_note_parse(route_msg(RTM_NEWROUTE, TABLE, 3, 7), &n), 0);
	assert_int_equal(n.kind, WF_NLWATCH_ROUTE);
	assert_false(n.removed);
	assert_int_equal(n.table, TABLE);
	assert_int_equal(n.protocol, 3);
	assert_int_equal(n.ifindex, 7);
	assert_int_equal(
	    wf_nlwatch_note_parse(link_msg(RTM_NEWLINK, AF_UNSPEC, 5, "veth1a2b3c4", 3), &n), 0);
	assert_int_equal(n.kind, WF_NLWATCH_LINK);
	assert_int_equal(n.ifindex, 5);
	assert_string_equal(n.ifname, "veth1a2b3c4");
	assert_true(n.master);
	assert_int_equal(wf_nlwatch_note_parse(addr_msg(RTM_DELADDR, 9), &n), 0);
	assert_int_equal(n.kind, WF_NLWATCH_ADDR);
	assert_true(n.removed);
	assert_int_equal(n.ifindex, 9);
	assert_string_equal(n.ifname, "");
	assert_int_equal(wf_nlwatch_note_parse(netconf_msg(AF_INET, NETCONFA_IFINDEX_ALL), &n), 0);
	assert_int_equal(n.kind, WF_NLWATCH_NETCONF);
	assert_int_equal(n.family, AF_INET);
	assert_int_equal(n.ifindex, NETCONFA_IFINDEX_ALL);
}

static void a_malformed_or_foreign_message_is_told_apart(void **state)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, AF_UNSPEC, 5, "eth0", 0);
	struct wf_nlwatch_note n;

	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg) - 4);
	assert_int_equal(wf_nlwatch_note_parse(nlh, &n), -EINVAL);
	nlh = link_msg(RTM_NEWLINK, AF_UNSPEC, 5, "eth0", 0);
	nlh->nlmsg_len += 3; /* stray bytes after the last attribute */
	assert_int_equal(wf_nlwatch_note_parse(nlh, &n), -EINVAL);
	nlh = link_msg(RTM_NEWNEIGH, AF_UNSPEC, 5, "eth0", 0);
	assert_int_equal(wf_nlwatch_note_parse(nlh, &n), -EOPNOTSUPP);
}

static void the_agents_rules_and_routes_are_looked_at(void **state)
{
	/* by its protocol, wherever they are, and by its table, whoever wrote there */
	assert_int_equal(looks(rule_msg(RTM_DELRULE, TABLE, WF_RTPROT), NULL), WF_LOOK_RTNL);
	assert_int_equal(looks(rule_msg(RTM_NEWRULE, TABLE, 0), NULL), WF_LOOK_RTNL);
	assert_int_equal(looks(rule_msg(RTM_NEWRULE, 100, WF_RTPROT), NULL), WF_LOOK_RTNL);
	assert_int_equal(looks(route_msg(RTM_DELROUTE, TABLE, WF_RTPROT, 4), NULL), WF_LOOK_RTNL);
	assert_int_equal(looks(route_msg(RTM_NEWROUTE, TABLE, 4, 4), NULL), WF_LOOK_RTNL);
	assert_int_equal(looks(route_msg(RTM_DELROUTE, RT_TABLE_MAIN, WF_RTPROT, 4), NULL),
	                 WF_LOOK_RTNL);
}

static void rules_and_routes_of_others_are_not(void **state)
{
	/* Docker's link-local and bridge routes, the kernel's local ones */
	assert_int_equal(looks(route_msg(RTM_NEWROUTE, RT_TABLE_MAIN, RTPROT_KERNEL, 12), NULL), 0);
	assert_int_equal(looks(route_msg(RTM_NEWROUTE, RT_TABLE_LOCAL, RTPROT_KERNEL, 12), NULL),
	                 0);
	assert_int_equal(looks(route_msg(RTM_DELROUTE, RT_TABLE_MAIN, RTPROT_BOOT, 12), NULL), 0);
	assert_int_equal(looks(rule_msg(RTM_NEWRULE, 100, RTPROT_BOOT), NULL), 0);
}

static void a_gateways_table_counts_for_each_gateway(void **state)
{
	struct wf_server_gateway gws[2] = {{.ifname = "wg1", .table = 100},
	                                   {.ifname = "wg2", .table = 101}};
	struct wf_server_params p;
	struct wf_agent_owned own;
	struct wf_nlwatch_note n;

	wf_server_params_default(&p);
	wf_agent_owned_from(&p, gws, 2, &own);
	assert_int_equal(wf_nlwatch_note_parse(route_msg(RTM_DELROUTE, 101, RTPROT_BOOT, 3), &n),
	                 0);
	assert_int_equal(wf_agent_note_looks(&own, &n), WF_LOOK_RTNL);
	assert_int_equal(wf_nlwatch_note_parse(addr_msg(RTM_DELADDR, 3), &n), 0);
	strcpy(n.ifname, "wg2");
	assert_int_equal(wf_agent_note_looks(&own, &n), WF_LOOK_RTNL);
}

static void dockers_veths_and_bridges_wake_nothing(void **state)
{
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 12, "veth1a2b3c4", 0), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 12, "veth1a2b3c4", 3), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_DELLINK, AF_UNSPEC, 12, "veth1a2b3c4", 3), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_BRIDGE, 12, "veth1a2b3c4", 3), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 3, "docker0", 0), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 4, "br-0123456789ab", 0), NULL), 0);
	assert_int_equal(looks(addr_msg(RTM_NEWADDR, 12), "veth1a2b3c4"), 0);
	assert_int_equal(looks(addr_msg(RTM_NEWADDR, 3), "docker0"), 0);
	/* an address of an interface gone by the time it is read */
	assert_int_equal(looks(addr_msg(RTM_DELADDR, 12), NULL), 0);
	assert_int_equal(looks(netconf_msg(AF_INET, 12), "veth1a2b3c4"), 0);
	assert_int_equal(looks(netconf_msg(AF_INET6, 12), NULL), 0);
}

static void the_tunnel_is_looked_at_whatever_changes(void **state)
{
	/* IPv4 drops the routes through a link that goes down, or loses its last address,
	 * without a notification of its own */
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 7, TUNNEL, 0), NULL),
	                 WF_LOOK_RTNL | WF_LOOK_SYSCTLS);
	assert_int_equal(looks(link_msg(RTM_DELLINK, AF_UNSPEC, 7, TUNNEL, 0), NULL),
	                 WF_LOOK_RTNL | WF_LOOK_SYSCTLS);
	assert_int_equal(looks(addr_msg(RTM_DELADDR, 7), TUNNEL), WF_LOOK_RTNL);
	assert_int_equal(looks(netconf_msg(AF_INET, 7), TUNNEL), WF_LOOK_SYSCTLS);
}

static void forwarding_and_new_host_links_are_sysctls(void **state)
{
	assert_int_equal(looks(netconf_msg(AF_INET, NETCONFA_IFINDEX_ALL), NULL), WF_LOOK_SYSCTLS);
	assert_int_equal(looks(netconf_msg(AF_INET6, NETCONFA_IFINDEX_DEFAULT), NULL),
	                 WF_LOOK_SYSCTLS);
	/* a host link may hear router advertisements: its accept_ra is kept */
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 2, "eth1", 0), NULL),
	                 WF_LOOK_SYSCTLS);
	/* not once it is a bridge port, nor when it goes */
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 2, "eth1", 4), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_DELLINK, AF_UNSPEC, 2, "eth1", 0), NULL), 0);
	assert_int_equal(looks(link_msg(RTM_NEWLINK, AF_UNSPEC, 1, "lo", 0), NULL), 0);
}

static void lost_notifications_mean_everything(void **state)
{
	struct wf_agent_owned own = owned();
	struct wf_nlwatch_note n = {.kind = WF_NLWATCH_LOST};

	assert_int_equal(wf_agent_note_looks(&own, &n), WF_LOOK_RTNL | WF_LOOK_SYSCTLS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(notes_are_read_as_the_kernel_writes_them),
	    cmocka_unit_test(a_malformed_or_foreign_message_is_told_apart),
	    cmocka_unit_test(the_agents_rules_and_routes_are_looked_at),
	    cmocka_unit_test(rules_and_routes_of_others_are_not),
	    cmocka_unit_test(a_gateways_table_counts_for_each_gateway),
	    cmocka_unit_test(dockers_veths_and_bridges_wake_nothing),
	    cmocka_unit_test(the_tunnel_is_looked_at_whatever_changes),
	    cmocka_unit_test(forwarding_and_new_host_links_are_sysctls),
	    cmocka_unit_test(lost_notifications_mean_everything),
	};

	return cmocka_run_group_tests_name("drift_filter", tests, NULL, NULL);
}
