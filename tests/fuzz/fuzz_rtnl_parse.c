/* Replies from the kernel, read as rules and as routes. Whatever parses must build again into a
 * request that reads back as the same entry. */
#include <wgfwd/rtnl.h>

#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rule_roundtrip(const void *msg, size_t len)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_rule rule, back;
	int built;

	if (wf_rtnl_rule_parse(msg, len, &rule))
		return;
	/* Requests never go out unowned. */
	if (!rule.protocol)
		rule.protocol = WF_RTPROT;
	built = wf_rtnl_rule_build(buf, sizeof(buf), RTM_NEWRULE, 0, &rule);
	if (built < 0)
		return;
	if (wf_rtnl_rule_parse(buf, (size_t)built, &back) || !wf_rule_equal(&rule, &back))
		abort();
}

static void route_roundtrip(const void *msg, size_t len)
{
	char buf[WF_RTNL_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_route route, back;
	unsigned int oifindex, oifindex_back;
	int built;

	if (wf_rtnl_route_parse(msg, len, &route, &oifindex))
		return;
	if (!route.protocol)
		route.protocol = WF_RTPROT;
	if (route.type != RTN_UNICAST)
		oifindex = 0;
	built = wf_rtnl_route_build(buf, sizeof(buf), RTM_NEWROUTE, 0, &route, oifindex);
	if (built < 0)
		return;
	if (wf_rtnl_route_parse(buf, (size_t)built, &back, &oifindex_back) ||
	    oifindex_back != oifindex || !wf_route_equal(&route, &back))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink messages are read from aligned buffers. */
	void *msg = malloc(size ? size : 1);

	if (!msg)
		return 0;
	memcpy(msg, data, size);
	rule_roundtrip(msg, size);
	route_roundtrip(msg, size);
	free(msg);
	return 0;
}
