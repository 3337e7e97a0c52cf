#include "wg_handshake.h"

#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <wgfwd/netlink.h>

int wf_wg_uapi_last_handshake(const char *answer, int64_t *sec)
{
	bool done = false;

	*sec = 0;
	for (const char *line = answer; line && *line;) {
		const char *nl = strchr(line, '\n');
		long long v;

		if (sscanf(line, "last_handshake_time_sec=%lld", &v) == 1 && v > *sec)
			*sec = v;
		else if (!strncmp(line, "errno=", 6))
			done = atoi(line + 6) == 0;
		line = nl ? nl + 1 : NULL;
	}
	return done ? 0 : -EINVAL;
}

static int peer_attr(const struct nlattr *attr, void *data)
{
	int64_t *sec = data;
	int64_t ts[2];

	if (mnl_attr_get_type(attr) != WGPEER_A_LAST_HANDSHAKE_TIME)
		return 0;
	if (mnl_attr_get_payload_len(attr) != sizeof(ts))
		return -1;
	/* netlink aligns attributes to 4 bytes only */
	memcpy(ts, mnl_attr_get_payload(attr), sizeof(ts));
	if (ts[0] > *sec)
		*sec = ts[0];
	return 0;
}

static int peers_attr(const struct nlattr *attr, void *data)
{
	return wf_nl_nested_walk(attr, peer_attr, data) ? -1 : 0;
}

static int device_attr(const struct nlattr *attr, void *data)
{
	if ((mnl_attr_get_type(attr) & NLA_TYPE_MASK) != WGDEVICE_A_PEERS)
		return 0;
	return wf_nl_nested_walk(attr, peers_attr, data) ? -1 : 0;
}

int wf_wg_genl_last_handshake(const void *msg, size_t len, int64_t *sec)
{
	const struct nlmsghdr *nlh = msg;
	const struct genlmsghdr *g;

	if (len < sizeof(*nlh) || nlh->nlmsg_len > len ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)) || nlh->nlmsg_type < NLMSG_MIN_TYPE)
		return -EINVAL;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->cmd != WG_CMD_GET_DEVICE)
		return -EINVAL;
	return wf_nl_attrs_walk((const char *)g + MNL_ALIGN(sizeof(*g)),
	                        (const char *)msg + nlh->nlmsg_len, device_attr, sec)
	           ? -EINVAL
	           : 0;
}

static int family_attr(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_get_payload_len(attr) == sizeof(uint16_t))
		*(uint16_t *)data = mnl_attr_get_u16(attr);
	return 0;
}

static int family_reply(const struct nlmsghdr *nlh, void *data)
{
	const char *attrs = (const char *)mnl_nlmsg_get_payload(nlh) + GENL_HDRLEN;

	if (nlh->nlmsg_len < mnl_nlmsg_size(GENL_HDRLEN))
		return -EBADMSG;
	return wf_nl_attrs_walk(attrs, (const char *)nlh + nlh->nlmsg_len, family_attr, data)
	           ? -EBADMSG
	           : 0;
}

static int device_reply(const struct nlmsghdr *nlh, void *data)
{
	return wf_wg_genl_last_handshake(nlh, nlh->nlmsg_len, data) ? -EBADMSG : 0;
}

static struct nlmsghdr *genl_request(void *buf, uint16_t type, uint16_t flags, uint8_t cmd,
                                     uint8_t version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

static int kernel_last_handshake(const char *ifname, int64_t *sec)
{
	char req[256] __attribute__((aligned(NLMSG_ALIGNTO))) = {0};
	unsigned ifindex = if_nametoindex(ifname);
	struct nlmsghdr *nlh;
	uint16_t id = 0;
	struct wf_nl nl;
	int err;

	if (!ifindex)
		return -ENOENT;
	err = wf_nl_open(&nl, NETLINK_GENERIC, 1 << 16);
	if (err)
		return err;
	nlh = genl_request(req, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY, 1);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	err = wf_nl_talk(&nl, nlh, family_reply, &id);
	if (!err && id < NLMSG_MIN_TYPE)
		err = -ENOENT;
	if (!err) {
		memset(req, 0, sizeof(req));
		/* WG_CMD_GET_DEVICE is a dump only, even for one device. */
		nlh = genl_request(req, id, NLM_F_DUMP, WG_CMD_GET_DEVICE, WG_GENL_VERSION);
		mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, ifindex);
		*sec = 0;
		err = wf_nl_talk(&nl, nlh, device_reply, sec);
	}
	wf_nl_close(&nl);
	/* no kernel WireGuard, or not one of its interfaces */
	return err == -EOPNOTSUPP || err == -ENODEV ? -ENOENT : err;
}

static int uapi_last_handshake(const char *ifname, int64_t *sec)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char buf[16384];
	size_t len = 0;
	int fd, err = 0;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s.sock", WF_WG_UAPI_DIR,
	                     ifname) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) || write(fd, "get=1\n\n", 7) != 7) {
		err = errno == ECONNREFUSED ? -ENOENT : -errno;
		goto out;
	}
	/* The answer ends with a blank line; a stuck implementation must not stall the agent. */
	while (len < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 200) != 1) {
			err = -ETIMEDOUT;
			goto out;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\n\n"))
			break;
	}
	buf[len] = '\0';
	err = wf_wg_uapi_last_handshake(buf, sec);
out:
	close(fd);
	return err;
}

int wf_wg_last_handshake(const char *ifname, int64_t *sec)
{
	int err = uapi_last_handshake(ifname, sec);

	return err == -ENOENT ? kernel_last_handshake(ifname, sec) : err;
}
