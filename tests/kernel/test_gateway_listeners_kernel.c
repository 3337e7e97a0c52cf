/* The host ports the gateway reads from the kernel, in a network namespace of its own: real
 * sockets of every kind a VPS runs (wildcard, public address, loopback, tunnel address; tcp and
 * udp; IPv4, IPv6 with and without IPV6_V6ONLY; connected udp; a bound tcp socket that does not
 * listen), and exactly the ones a forward could take come back. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd-gateway/listeners.h>

#include "kernel_test.h"

#define PUB  "wfl-pub"
#define TUN  "wfl-tun"
#define PUB4 "192.0.2.1"
#define PUB6 "2001:db8:1::1"
#define TUN4 "192.168.160.1"
#define TUN6 "fc00:0:0:160::1"

static struct wf_gw_params params(void)
{
	struct wf_gw_params p = {.public_ifname = PUB, .tunnel_ifname = TUN};

	inet_pton(AF_INET, PUB4, &p.public_ip4[p.n_public_ip4++]);
	inet_pton(AF_INET6, PUB6, &p.public_ip6[p.n_public_ip6++]);
	return p;
}

/* A socket bound to addr:port; v6only < 0 leaves IPV6_V6ONLY at the system's default. TCP
 * listens unless told not to; UDP connects to a peer when connect_to is given. */
static int open_sock(int type, const char *addr, uint16_t port, int v6only, bool listen_,
                     const char *connect_to)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	int fd = socket(family, type, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6 && v6only >= 0)
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)),
		                 0);
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &s->sin_addr), 1);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, addr, &s->sin6_addr), 1);
		len = sizeof(*s);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		fail_msg("bind %s port %u: %s", addr, port, strerror(errno));
	if (type == SOCK_STREAM && listen_)
		assert_int_equal(listen(fd, 4), 0);
	if (connect_to) {
		struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(9)};

		assert_int_equal(inet_pton(AF_INET, connect_to, &peer.sin_addr), 1);
		assert_int_equal(connect(fd, (struct sockaddr *)&peer, sizeof(peer)), 0);
	}
	return fd;
}

static void read_host_ports(struct wf_gw_host_ports *hp, const uint32_t *skip, size_t n_skip)
{
	struct wf_gw_params p = params();
	struct wf_gw_listener *l = NULL;
	size_t n = 0;

	assert_int_equal(wf_gw_listeners_read(&l, &n), 0);
	assert_int_equal(
	    wf_gw_host_ports_build(l, n, NULL, 0, &p, if_nametoindex(PUB), skip, n_skip, hp), 0);
	free(l);
}

/* The set as "tcp/2001/4 ..." in sorted order. */
static void text_of(const struct wf_gw_host_ports *hp, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < hp->n && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s/%u/%c", i ? " " : "",
		                         wf_gw_proto_name(hp->v[i].proto), hp->v[i].port,
		                         hp->v[i].family == AF_INET6 ? '6' : '4');
}

static void exactly_the_sockets_a_forward_could_take(void **state)
{
	struct wf_gw_host_ports hp;
	char text[1024];
	int fds[32];
	size_t n = 0;

	fds[n++] = open_sock(SOCK_STREAM, "0.0.0.0", 2001, -1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, PUB4, 2002, -1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, "127.0.0.1", 2003, -1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, TUN4, 2004, -1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, "::", 2005, 0, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, "::", 2006, 1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, PUB6, 2007, 1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, "::1", 2008, 1, true, NULL);
	fds[n++] = open_sock(SOCK_STREAM, "0.0.0.0", 2009, -1, false, NULL); /* bound only */
	fds[n++] = open_sock(SOCK_STREAM, TUN6, 2010, 1, true, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, "0.0.0.0", 3001, -1, false, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, "127.0.0.1", 3002, -1, false, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, "::", 3003, 0, false, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, PUB6, 3004, 1, false, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, "0.0.0.0", 3005, -1, false, "127.0.0.1"); /* connected */
	fds[n++] = open_sock(SOCK_DGRAM, "::", 3006, 1, false, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, PUB4, 3007, -1, false, NULL);
	fds[n++] = open_sock(SOCK_DGRAM, TUN4, 3008, -1, false, NULL);

	read_host_ports(&hp, NULL, 0);
	text_of(&hp, text, sizeof(text));
	assert_string_equal(text, "tcp/2001/4 tcp/2002/4 tcp/2005/4 udp/3001/4 udp/3003/4 "
	                          "udp/3007/4 tcp/2005/6 tcp/2006/6 tcp/2007/6 udp/3003/6 "
	                          "udp/3004/6 udp/3006/6");
	wf_gw_host_ports_free(&hp);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static void sockets_are_followed_as_they_come_and_go(void **state)
{
	struct wf_gw_host_ports hp;
	struct stat st;
	uint32_t own;
	int a, b;

	read_host_ports(&hp, NULL, 0);
	assert_int_equal(hp.n, 0);
	wf_gw_host_ports_free(&hp);
	a = open_sock(SOCK_STREAM, "0.0.0.0", 2222, -1, true, NULL);
	b = open_sock(SOCK_STREAM, "0.0.0.0", 2223, -1, true, NULL);
	read_host_ports(&hp, NULL, 0);
	assert_true(wf_gw_host_ports_has(&hp, AF_INET, IPPROTO_TCP, 2222));
	assert_true(wf_gw_host_ports_has(&hp, AF_INET, IPPROTO_TCP, 2223));
	wf_gw_host_ports_free(&hp);
	/* The gateway's own sockets are left out by inode. */
	assert_int_equal(fstat(b, &st), 0);
	own = (uint32_t)st.st_ino;
	read_host_ports(&hp, &own, 1);
	assert_int_equal(hp.n, 1);
	assert_true(wf_gw_host_ports_has(&hp, AF_INET, IPPROTO_TCP, 2222));
	wf_gw_host_ports_free(&hp);
	close(a);
	read_host_ports(&hp, &own, 1);
	assert_int_equal(hp.n, 0);
	wf_gw_host_ports_free(&hp);
	close(b);
}

static bool listed(const struct wf_gw_listener *l, size_t n, uint8_t family, uint8_t proto,
                   uint16_t port)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].family == family && l[i].proto == proto && l[i].port == port)
			return true;
	return false;
}

/* The daemon keeps its sockets open between reads: each read still asks the kernel afresh. */
static void sockets_kept_open_see_every_listener_come_and_go(void **state)
{
	struct wf_gw_nl_socks socks = {0};
	struct wf_gw_listener *l = NULL;
	uint16_t *wg = NULL;
	size_t n = 0, n_wg = 0;
	int a, b, c, err;

	assert_int_equal(wf_gw_listeners_read_on(&socks, &l, &n), 0);
	assert_false(listed(l, n, AF_INET, IPPROTO_TCP, 2231));
	free(l);
	assert_true(socks.has_diag);
	a = open_sock(SOCK_STREAM, "0.0.0.0", 2231, -1, true, NULL);
	b = open_sock(SOCK_DGRAM, "0.0.0.0", 3231, -1, false, NULL);
	c = open_sock(SOCK_STREAM, "::", 2232, 1, true, NULL);
	assert_int_equal(wf_gw_listeners_read_on(&socks, &l, &n), 0);
	assert_true(listed(l, n, AF_INET, IPPROTO_TCP, 2231));
	assert_true(listed(l, n, AF_INET, IPPROTO_UDP, 3231));
	assert_true(listed(l, n, AF_INET6, IPPROTO_TCP, 2232));
	free(l);
	close(a);
	close(b);
	close(c);
	assert_int_equal(wf_gw_listeners_read_on(&socks, &l, &n), 0);
	assert_false(listed(l, n, AF_INET, IPPROTO_TCP, 2231));
	assert_false(listed(l, n, AF_INET, IPPROTO_UDP, 3231));
	assert_false(listed(l, n, AF_INET6, IPPROTO_TCP, 2232));
	free(l);
	/* The same answer twice from one socket, and no WireGuard module is no broken socket. */
	err = wf_gw_wireguard_ports_on(&socks, &wg, &n_wg);
	free(wg);
	assert_int_equal(wf_gw_wireguard_ports_on(&socks, &wg, &n_wg), err);
	free(wg);
	if (err == -ENOENT || !err)
		assert_true(socks.has_genl);
	wf_gw_nl_socks_close(&socks);
	assert_false(socks.has_diag);
	assert_false(socks.has_genl);
}

static void many_sockets_span_several_dump_messages(void **state)
{
	struct wf_gw_host_ports hp;
	int fds[300];

	for (int i = 0; i < 300; i++)
		fds[i] = open_sock(SOCK_STREAM, "0.0.0.0", (uint16_t)(10000 + i), -1, true, NULL);
	read_host_ports(&hp, NULL, 0);
	assert_int_equal(hp.n, 300);
	assert_true(wf_gw_host_ports_has(&hp, AF_INET, IPPROTO_TCP, 10299));
	wf_gw_host_ports_free(&hp);
	for (int i = 0; i < 300; i++)
		close(fds[i]);
}

/* This machine has no WireGuard module (the lab runs wireguard-go): the family is absent, and
 * that is said as -ENOENT, not as a failure. Where the module is loaded, a WireGuard interface
 * is made and its port read. */
static void wireguard_ports_come_from_the_kernel_or_are_absent(void **state)
{
	uint16_t *ports = NULL;
	size_t n = 99;
	int err = wf_gw_wireguard_ports(&ports, &n);

	if (err == -ENOENT) {
		assert_int_equal(n, 0);
		assert_null(ports);
		return;
	}
	assert_int_equal(err, 0);
	free(ports);
	if (system("ip link add wfl-wg type wireguard 2>/dev/null") != 0)
		skip();
	if (system("wg set wfl-wg listen-port 51999 2>/dev/null") != 0) {
		sh("ip link del wfl-wg");
		skip();
	}
	assert_int_equal(wf_gw_wireguard_ports(&ports, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], 51999);
	free(ports);
	sh("ip link del wfl-wg");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exactly_the_sockets_a_forward_could_take),
	    cmocka_unit_test(sockets_are_followed_as_they_come_and_go),
	    cmocka_unit_test(sockets_kept_open_see_every_listener_come_and_go),
	    cmocka_unit_test(many_sockets_span_several_dump_messages),
	    cmocka_unit_test(wireguard_ports_come_from_the_kernel_or_are_absent),
	};

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	/* A veth pair stands for the public interface and the tunnel (no dummy module here). */
	if (system("ip link set lo up && ip link add " PUB " type veth peer name " TUN
	           " && ip link set " PUB " up && ip link set " TUN " up && "
	           "ip addr add " PUB4 "/24 dev " PUB " && ip addr add " PUB6 "/64 dev " PUB
	           " nodad && ip addr add " TUN4 "/24 dev " TUN " && ip addr add " TUN6
	           "/64 dev " TUN " nodad") != 0) {
		fprintf(stderr, "cannot set up the namespace's interfaces\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
