/* The ports the gateway's host serves: sock_diag and WireGuard answers parsed, which sockets a
 * forward could take, and the policy deciding with them. */
#include <wgfwd-gateway/listeners.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/wireguard.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP

static char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));

/* A SOCK_DIAG_BY_FAMILY answer as the kernel writes it; v6only < 0 leaves the attribute out. */
static size_t diag_msg(int family, uint8_t state, const char *addr, uint16_t port, int v6only)
{
	struct nlmsghdr *nlh;
	struct inet_diag_msg *m;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));
	m->idiag_family = (uint8_t)family;
	m->idiag_state = state;
	m->id.idiag_sport = htons(port);
	m->id.idiag_cookie[0] = 0x1234;
	m->idiag_inode = 4242;
	assert_int_equal(inet_pton(family, addr, m->id.idiag_src), 1);
	mnl_attr_put_u8(nlh, INET_DIAG_SHUTDOWN, 0);
	if (v6only >= 0)
		mnl_attr_put_u8(nlh, INET_DIAG_SKV6ONLY, (uint8_t)v6only);
	return nlh->nlmsg_len;
}

static struct wf_gw_params params(void)
{
	struct wf_gw_params p = {.public_ifname = "eth0", .tunnel_ifname = "wg0"};

	inet_pton(AF_INET, "192.0.2.1", &p.public_ip4[p.n_public_ip4++]);
	inet_pton(AF_INET6, "2001:db8:1::1", &p.public_ip6[p.n_public_ip6++]);
	return p;
}

static int families_of(int family, uint8_t proto, uint8_t state, const char *addr, uint16_t port,
                       int v6only)
{
	struct wf_gw_params p = params();
	struct wf_gw_listener l;
	size_t len = diag_msg(family, state, addr, port, v6only);

	assert_int_equal(wf_gw_diag_parse(buf, len, proto, &l), 0);
	return wf_gw_listener_families(&l, &p, 0);
}

static void diag_answer_parses(void **state)
{
	struct wf_gw_listener l;
	size_t len = diag_msg(AF_INET6, TCP_LISTEN, "2001:db8:1::1", 2222, 1);

	assert_int_equal(wf_gw_diag_parse(buf, len, TCP, &l), 0);
	assert_int_equal(l.family, AF_INET6);
	assert_int_equal(l.proto, TCP);
	assert_int_equal(l.state, TCP_LISTEN);
	assert_int_equal(l.port, 2222);
	assert_true(l.v6only);
	assert_int_equal(l.inode, 4242);
	len = diag_msg(AF_INET, TCP_CLOSE, "0.0.0.0", 53, -1);
	assert_int_equal(wf_gw_diag_parse(buf, len, UDP, &l), 0);
	assert_int_equal(l.family, AF_INET);
	assert_int_equal(l.addr.ip4.s_addr, 0);
	assert_false(l.v6only);
}

static void malformed_diag_answers_are_refused(void **state)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct inet_diag_msg *m;
	struct wf_gw_listener l;
	size_t len = diag_msg(AF_INET, TCP_LISTEN, "0.0.0.0", 80, -1);

	assert_int_equal(wf_gw_diag_parse(buf, len - 1, TCP, &l), -EINVAL);
	assert_int_equal(wf_gw_diag_parse(buf, sizeof(struct nlmsghdr) + 8, TCP, &l), -EINVAL);
	assert_int_equal(wf_gw_diag_parse(buf, len, IPPROTO_ICMP, &l), -EINVAL);
	nlh->nlmsg_type = NLMSG_DONE;
	assert_int_equal(wf_gw_diag_parse(buf, len, TCP, &l), -EINVAL);
	len = diag_msg(AF_INET, TCP_LISTEN, "0.0.0.0", 80, -1);
	m = mnl_nlmsg_get_payload(nlh);
	m->idiag_family = AF_UNIX;
	assert_int_equal(wf_gw_diag_parse(buf, len, TCP, &l), -EINVAL);
	/* An attribute of the wrong size, and stray bytes after the last one. */
	len = diag_msg(AF_INET6, TCP_LISTEN, "::", 80, -1);
	mnl_attr_put_u32(nlh, INET_DIAG_SKV6ONLY, 1);
	assert_int_equal(wf_gw_diag_parse(buf, nlh->nlmsg_len, TCP, &l), -EINVAL);
	len = diag_msg(AF_INET6, TCP_LISTEN, "::", 80, 0);
	nlh->nlmsg_len += 4;
	assert_int_equal(wf_gw_diag_parse(buf, nlh->nlmsg_len, TCP, &l), -EINVAL);
	/* A dump of tcp that answers with a udp socket is not an answer. */
	len = diag_msg(AF_INET, TCP_LISTEN, "0.0.0.0", 80, -1);
	mnl_attr_put_u8(nlh, INET_DIAG_PROTOCOL, UDP);
	assert_int_equal(wf_gw_diag_parse(buf, nlh->nlmsg_len, TCP, &l), -EINVAL);
	(void)len;
}

static void wildcard_and_public_sockets_count_loopback_and_tunnel_do_not(void **state)
{
	const int F4 = WF_GW_FAMILY4, F6 = WF_GW_FAMILY6;

	assert_int_equal(families_of(AF_INET, TCP, TCP_LISTEN, "0.0.0.0", 2222, -1), F4);
	assert_int_equal(families_of(AF_INET, TCP, TCP_LISTEN, "192.0.2.1", 2222, -1), F4);
	assert_int_equal(families_of(AF_INET, TCP, TCP_LISTEN, "127.0.0.1", 2222, -1), 0);
	assert_int_equal(families_of(AF_INET, TCP, TCP_LISTEN, "192.168.160.1", 51821, -1), 0);
	assert_int_equal(families_of(AF_INET, TCP, TCP_LISTEN, "192.0.2.99", 2222, -1), 0);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "::", 2222, 0), F4 | F6);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "::", 2222, 1), F6);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "2001:db8:1::1", 2222, 1), F6);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "::1", 2222, 1), 0);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "fc00:0:0:160::1", 2222, 1), 0);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "::ffff:192.0.2.1", 2222, 0), F4);
	assert_int_equal(families_of(AF_INET6, TCP, TCP_LISTEN, "::ffff:127.0.0.1", 2222, 0), 0);
	/* Not listening; port 0. */
	assert_int_equal(families_of(AF_INET, TCP, TCP_ESTABLISHED, "0.0.0.0", 2222, -1), 0);
	assert_int_equal(families_of(AF_INET, TCP, TCP_LISTEN, "0.0.0.0", 0, -1), 0);
	/* UDP: bound and unconnected counts, connected does not. */
	assert_int_equal(families_of(AF_INET, UDP, TCP_CLOSE, "0.0.0.0", 53, -1), F4);
	assert_int_equal(families_of(AF_INET6, UDP, TCP_CLOSE, "::", 53, 0), F4 | F6);
	assert_int_equal(families_of(AF_INET, UDP, TCP_ESTABLISHED, "0.0.0.0", 53, -1), 0);
}

static void a_socket_bound_to_another_device_does_not_count(void **state)
{
	struct wf_gw_params p = params();
	struct wf_gw_listener l;
	size_t len = diag_msg(AF_INET, TCP_LISTEN, "0.0.0.0", 2222, -1);
	struct inet_diag_msg *m = mnl_nlmsg_get_payload((struct nlmsghdr *)buf);

	m->id.idiag_if = 7;
	assert_int_equal(wf_gw_diag_parse(buf, len, TCP, &l), 0);
	assert_int_equal(wf_gw_listener_families(&l, &p, 3), 0);
	assert_int_equal(wf_gw_listener_families(&l, &p, 7), WF_GW_FAMILY4);
	assert_int_equal(wf_gw_listener_families(&l, &p, 0), WF_GW_FAMILY4);
}

static struct wf_gw_listener sock(int family, uint8_t proto, const char *addr, uint16_t port,
                                  bool v6only, uint32_t inode)
{
	struct wf_gw_listener l = {.family = (uint8_t)family,
	                           .proto = proto,
	                           .state = proto == TCP ? TCP_LISTEN : TCP_CLOSE,
	                           .port = port,
	                           .v6only = v6only,
	                           .inode = inode};

	assert_int_equal(inet_pton(family, addr, &l.addr), 1);
	return l;
}

static void host_ports_are_sorted_unique_and_skip_own_sockets(void **state)
{
	struct wf_gw_params p = params();
	struct wf_gw_listener l[] = {sock(AF_INET6, TCP, "::", 2222, false, 1),
	                             sock(AF_INET, TCP, "0.0.0.0", 2222, false, 2),
	                             sock(AF_INET, UDP, "192.0.2.1", 53, false, 3),
	                             sock(AF_INET, TCP, "0.0.0.0", 51821, false, 9),
	                             sock(AF_INET, TCP, "127.0.0.1", 25, false, 4)};
	uint16_t wg[] = {51820, 0};
	uint32_t skip[] = {9};
	struct wf_gw_host_ports hp, again;
	const struct wf_gw_host_port want[] = {{AF_INET, TCP, 2222},
	                                       {AF_INET, UDP, 53},
	                                       {AF_INET, UDP, 51820},
	                                       {AF_INET6, TCP, 2222},
	                                       {AF_INET6, UDP, 51820}};

	assert_int_equal(wf_gw_host_ports_build(l, 5, wg, 2, &p, 0, skip, 1, &hp), 0);
	assert_int_equal(hp.n, 5);
	assert_memory_equal(hp.v, want, sizeof(want));
	assert_true(wf_gw_host_ports_has(&hp, AF_INET6, TCP, 2222));
	assert_false(wf_gw_host_ports_has(&hp, AF_INET6, UDP, 53));
	assert_false(wf_gw_host_ports_has(&hp, AF_INET, TCP, 51821));
	assert_false(wf_gw_host_ports_has(NULL, AF_INET, TCP, 2222));
	/* The same sockets in another order make the same set. */
	assert_int_equal(wf_gw_host_ports_build(l + 1, 4, wg, 1, &p, 0, skip, 1, &again), 0);
	assert_false(wf_gw_host_ports_equal(&hp, &again));
	wf_gw_host_ports_free(&again);
	{
		struct wf_gw_listener r[] = {l[4], l[2], l[1], l[0], l[3]};

		assert_int_equal(wf_gw_host_ports_build(r, 5, wg, 2, &p, 0, skip, 1, &again), 0);
		assert_true(wf_gw_host_ports_equal(&hp, &again));
		wf_gw_host_ports_free(&again);
	}
	wf_gw_host_ports_free(&hp);
	assert_int_equal(wf_gw_host_ports_build(NULL, 0, NULL, 0, &p, 0, NULL, 0, &hp), 0);
	assert_int_equal(hp.n, 0);
	wf_gw_host_ports_free(&hp);
}

/* A read of TCP alone keeps the UDP ports of the read before, and drops its TCP ones. */
static void a_read_of_one_protocol_keeps_the_others_ports(void **state)
{
	const struct wf_gw_host_port was[] = {
	    {AF_INET, TCP, 22}, {AF_INET, UDP, 53}, {AF_INET6, TCP, 22}, {AF_INET6, UDP, 51820}};
	const struct wf_gw_host_port tcp[] = {{AF_INET, TCP, 2222}, {AF_INET6, TCP, 80}};
	const struct wf_gw_host_port want[] = {
	    {AF_INET, TCP, 2222}, {AF_INET, UDP, 53}, {AF_INET6, TCP, 80}, {AF_INET6, UDP, 51820}};
	struct wf_gw_host_ports old = {.v = (struct wf_gw_host_port *)was, .n = 4};
	struct wf_gw_host_ports fresh = {.v = (struct wf_gw_host_port *)tcp, .n = 2};
	struct wf_gw_host_ports out, none = {0};

	assert_int_equal(wf_gw_host_ports_join(&fresh, WF_GW_TCP, &old, &out), 0);
	assert_int_equal(out.n, 4);
	assert_memory_equal(out.v, want, sizeof(want));
	wf_gw_host_ports_free(&out);
	/* both read: nothing is kept */
	assert_int_equal(wf_gw_host_ports_join(&fresh, WF_GW_TCP | WF_GW_UDP, &old, &out), 0);
	assert_int_equal(out.n, 2);
	assert_memory_equal(out.v, tcp, sizeof(tcp));
	wf_gw_host_ports_free(&out);
	assert_int_equal(wf_gw_host_ports_join(&none, WF_GW_UDP, &none, &out), 0);
	assert_int_equal(out.n, 0);
	wf_gw_host_ports_free(&out);
	assert_int_equal(wf_gw_proto_bit(TCP), WF_GW_TCP);
	assert_int_equal(wf_gw_proto_bit(UDP), WF_GW_UDP);
	assert_int_equal(wf_gw_proto_bit(IPPROTO_ICMP), 0);
}

static size_t genl_msg(uint16_t type, uint8_t cmd)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 1;
	return nlh->nlmsg_len;
}

static void wireguard_answers_parse(void **state)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	uint16_t id = 0, port = 1;

	genl_msg(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 33);
	assert_int_equal(wf_gw_genl_family_parse(buf, nlh->nlmsg_len, &id), 0);
	assert_int_equal(id, 33);
	genl_msg(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	assert_int_equal(wf_gw_genl_family_parse(buf, nlh->nlmsg_len, &id), -EINVAL);

	genl_msg(33, WG_CMD_GET_DEVICE);
	mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 4);
	mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
	assert_int_equal(wf_gw_wg_device_parse(buf, nlh->nlmsg_len, &port), 0);
	assert_int_equal(port, 51820);
	/* A later message of the same answer carries peers only. */
	genl_msg(33, WG_CMD_GET_DEVICE);
	mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 4);
	assert_int_equal(wf_gw_wg_device_parse(buf, nlh->nlmsg_len, &port), -ENOENT);
	genl_msg(33, WG_CMD_GET_DEVICE);
	mnl_attr_put_u32(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
	assert_int_equal(wf_gw_wg_device_parse(buf, nlh->nlmsg_len, &port), -EINVAL);
	genl_msg(33, WG_CMD_SET_DEVICE);
	assert_int_equal(wf_gw_wg_device_parse(buf, nlh->nlmsg_len, &port), -EINVAL);
}

static void requests_are_built_as_the_kernel_wants_them(void **state)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	const struct inet_diag_req_v2 *r;
	int len = wf_gw_diag_request_build(buf, sizeof(buf), AF_INET6, UDP);

	assert_true(len > 0);
	assert_int_equal(nlh->nlmsg_type, SOCK_DIAG_BY_FAMILY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
	r = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(r->sdiag_family, AF_INET6);
	assert_int_equal(r->sdiag_protocol, UDP);
	assert_int_equal(r->idiag_states, 1u << TCP_CLOSE);
	assert_true(wf_gw_diag_request_build(buf, sizeof(buf), AF_INET, TCP) > 0);
	assert_int_equal(r->idiag_states, 1u << TCP_LISTEN);
	assert_int_equal(wf_gw_diag_request_build(buf, sizeof(buf), AF_UNSPEC, TCP), -EINVAL);
	assert_int_equal(wf_gw_diag_request_build(buf, sizeof(buf), AF_INET, IPPROTO_ICMP),
	                 -EINVAL);
	assert_int_equal(wf_gw_diag_request_build(buf, 16, AF_INET, TCP), -EINVAL);
	assert_true(wf_gw_genl_family_request_build(buf, sizeof(buf), WG_GENL_NAME) > 0);
	assert_int_equal(wf_gw_wg_device_request_build(buf, sizeof(buf), 33, 0), -EINVAL);
	assert_true(wf_gw_wg_device_request_build(buf, sizeof(buf), 33, 4) > 0);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
}

/* ---- the policy, deciding with the host's ports ---- */

static struct wf_gw_config cfg;

static int setup(void **state)
{
	char err[256] = "";
	struct wf_gw_peer p;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	assert_int_equal(
	    wf_gw_peer_parse("192.168.160.2,fc00:0:0:160::2=/k/a", &p, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)), 0);
	free(p.keyfile);
	assert_int_equal(wf_gw_peer_parse("192.168.160.3=/k/b", &p, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_config_add_peer(&cfg, &p, err, sizeof(err)), 0);
	free(p.keyfile);
	return 0;
}

static int teardown(void **state)
{
	wf_gw_config_free(&cfg);
	return 0;
}

static struct wf_ctl_forward fwd(int family, uint8_t proto, uint16_t pub)
{
	return (struct wf_ctl_forward){
	    .family = (uint8_t)family, .proto = proto, .public_port = pub, .target_port = 80};
}

static void decide(struct wf_gw_state *cur, size_t peer, struct wf_ctl_forward *f, size_t n,
                   struct wf_gw_decision *d)
{
	struct wf_gw_entries want = {.forwards = f, .n_forwards = n};
	struct wf_gw_state next;

	assert_int_equal(wf_gw_policy_decide(&cfg, cur, peer, &want, &next, d), 0);
	wf_gw_state_free(cur);
	*cur = next;
}

static void new_forward_of_a_host_port_is_refused_with_the_reason(void **state)
{
	struct wf_gw_host_port v[] = {{AF_INET, TCP, 2222}, {AF_INET, UDP, 53}};
	struct wf_gw_host_ports hp = {v, 2};
	struct wf_ctl_forward f[] = {fwd(AF_INET, TCP, 2222), fwd(AF_INET6, TCP, 2222),
	                             fwd(AF_INET, UDP, 2222), fwd(AF_INET, UDP, 53),
	                             fwd(AF_INET, TCP, 53),   fwd(AF_INET, TCP, 8080)};
	struct wf_gw_state cur;
	struct wf_gw_decision d;

	cfg.host_ports = &hp;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, f, 6, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_HOST_PORT);
	assert_string_equal(d.forwards[0].reason, "the gateway itself listens on tcp/2222");
	/* Only the protocol and family the host serves. */
	assert_int_equal(d.forwards[1].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[2].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[3].status, WF_GW_HOST_PORT);
	assert_string_equal(d.forwards[3].reason, "the gateway itself listens on udp/53");
	assert_int_equal(d.forwards[4].status, WF_GW_ACCEPTED);
	assert_int_equal(d.forwards[5].status, WF_GW_ACCEPTED);
	assert_int_equal(d.n_refused, 2);
	assert_int_equal(cur.peers[0].n_forwards, 4);
	assert_string_equal(wf_gw_status_name(WF_GW_HOST_PORT), "host_port");
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
	cfg.host_ports = NULL;
}

static void forward_granted_before_the_service_started_stays_and_is_a_clash(void **state)
{
	struct wf_gw_host_port v[] = {{AF_INET, TCP, 2222}};
	struct wf_gw_host_ports hp = {v, 1};
	struct wf_ctl_forward f[] = {fwd(AF_INET, TCP, 2222), fwd(AF_INET, TCP, 8080)};
	struct wf_ctl_forward g[] = {fwd(AF_INET, TCP, 2222)};
	struct wf_gw_state cur;
	struct wf_gw_decision d;
	struct wf_gw_clash *c;
	size_t n;

	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, f, 2, &d);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	/* The host's service starts; the peer asks again (another container changed). */
	cfg.host_ports = &hp;
	decide(&cur, 0, f, 2, &d);
	assert_int_equal(d.n_refused, 0);
	assert_int_equal(cur.peers[0].n_forwards, 2);
	wf_gw_decision_free(&d);
	assert_int_equal(wf_gw_host_clashes(&cur, &hp, &c, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].peer, 0);
	assert_int_equal(c[0].forward.public_port, 2222);
	assert_true(wf_gw_clash_in(&c[0], c, n));
	free(c);
	/* Another peer does not inherit it... */
	decide(&cur, 1, g, 1, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_HOST_PORT);
	wf_gw_decision_free(&d);
	/* ...and once the holder lets it go, it is not granted again. */
	decide(&cur, 0, f + 1, 1, &d);
	wf_gw_decision_free(&d);
	decide(&cur, 0, f, 2, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_HOST_PORT);
	wf_gw_decision_free(&d);
	assert_int_equal(wf_gw_host_clashes(&cur, &hp, &c, &n), 0);
	assert_int_equal(n, 0);
	free(c);
	/* The service stops: the port is free again. */
	hp.n = 0;
	decide(&cur, 0, f, 2, &d);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
	cfg.host_ports = NULL;
}

static void reserved_still_wins_over_host_port(void **state)
{
	struct wf_gw_host_port v[] = {{AF_INET, TCP, 22}};
	struct wf_gw_host_ports hp = {v, 1};
	struct wf_ctl_forward f[] = {fwd(AF_INET, TCP, 22)};
	struct wf_gw_state cur;
	struct wf_gw_decision d;

	assert_int_equal(wf_gw_config_reserve(&cfg, TCP, 22, 22), 0);
	cfg.host_ports = &hp;
	assert_int_equal(wf_gw_state_init(&cur, cfg.n_peers), 0);
	decide(&cur, 0, f, 1, &d);
	assert_int_equal(d.forwards[0].status, WF_GW_RESERVED);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&cur);
	cfg.host_ports = NULL;
}

/* A few host ports against many forwards and many host ports against a few find the same
 * clashes, in peer then forward order. */
static void clashes_are_found_whichever_side_is_longer(void **state)
{
	static struct wf_ctl_forward many[600];
	struct wf_ctl_forward few[] = {fwd(AF_INET, TCP, 22), fwd(AF_INET, UDP, 53),
	                               fwd(AF_INET6, TCP, 22)};
	struct wf_gw_host_port v[] = {{AF_INET, TCP, 22},    {AF_INET, TCP, 1100},
	                              {AF_INET, TCP, 1599},  {AF_INET, UDP, 53},
	                              {AF_INET6, TCP, 1100}, {AF_INET6, UDP, 53}};
	struct wf_gw_host_ports hp = {v, 6};
	struct wf_gw_entries peers[2] = {{.forwards = many, .n_forwards = 600},
	                                 {.forwards = few, .n_forwards = 3}};
	struct wf_gw_state cur = {.peers = peers, .n_peers = 2};
	struct wf_gw_clash *c;
	size_t n;

	for (int i = 0; i < 600; i++)
		many[i] = fwd(AF_INET, TCP, (uint16_t)(1000 + i));
	assert_int_equal(wf_gw_host_clashes(&cur, &hp, &c, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(c[0].peer, 0);
	assert_int_equal(c[0].forward.public_port, 1100);
	assert_int_equal(c[1].peer, 0);
	assert_int_equal(c[1].forward.public_port, 1599);
	assert_int_equal(c[2].peer, 1);
	assert_int_equal(c[2].forward.family, AF_INET);
	assert_int_equal(c[2].forward.proto, TCP);
	assert_int_equal(c[3].peer, 1);
	assert_int_equal(c[3].forward.proto, UDP);
	free(c);
	hp.n = 0;
	assert_int_equal(wf_gw_host_clashes(&cur, &hp, &c, &n), 0);
	assert_int_equal(n, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(diag_answer_parses),
	    cmocka_unit_test(malformed_diag_answers_are_refused),
	    cmocka_unit_test(wildcard_and_public_sockets_count_loopback_and_tunnel_do_not),
	    cmocka_unit_test(a_socket_bound_to_another_device_does_not_count),
	    cmocka_unit_test(host_ports_are_sorted_unique_and_skip_own_sockets),
	    cmocka_unit_test(a_read_of_one_protocol_keeps_the_others_ports),
	    cmocka_unit_test(wireguard_answers_parse),
	    cmocka_unit_test(clashes_are_found_whichever_side_is_longer),
	    cmocka_unit_test(requests_are_built_as_the_kernel_wants_them),
	    cmocka_unit_test_setup_teardown(new_forward_of_a_host_port_is_refused_with_the_reason,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        forward_granted_before_the_service_started_stays_and_is_a_clash, setup, teardown),
	    cmocka_unit_test_setup_teardown(reserved_still_wins_over_host_port, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
