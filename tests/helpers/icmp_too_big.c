/*
 * icmp_too_big: sends one "packet too big" message to ADDR, as a router on a narrow path would:
 * ICMP destination unreachable / fragmentation needed for IPv4, ICMPv6 packet too big for IPv6.
 * The message quotes a made-up packet from ADDR to 192.0.2.99 / 2001:db8::99; the lab uses it to
 * check that its "ISP" drops such messages (a PMTUD black hole).
 *
 *   icmp_too_big ADDR [MTU]        (MTU defaults to 1280)
 */
#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t inet_checksum(const void *data, size_t len)
{
	const uint8_t *bytes = data;
	uint32_t sum = 0;

	for (; len > 1; bytes += 2, len -= 2)
		sum += (uint32_t)bytes[0] << 8 | bytes[1];
	if (len)
		sum += (uint32_t)bytes[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int send_raw(int family, int protocol, const void *msg, size_t len,
                    const struct sockaddr *sa, socklen_t sa_len)
{
	int fd;

	fd = socket(family, SOCK_RAW, protocol);
	if (fd < 0) {
		perror("icmp_too_big: socket");
		return 1;
	}
	if (sendto(fd, msg, len, 0, sa, sa_len) < 0) {
		perror("icmp_too_big: sendto");
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static int send_v4(const struct in_addr *dst, unsigned int mtu)
{
	struct {
		struct icmphdr icmp;
		struct iphdr quoted;
		uint8_t quoted_payload[8];
	} msg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = *dst};

	memset(&msg, 0, sizeof(msg));
	msg.icmp.type = ICMP_DEST_UNREACH;
	msg.icmp.code = ICMP_FRAG_NEEDED;
	msg.icmp.un.frag.mtu = htons((uint16_t)mtu);
	msg.quoted.version = 4;
	msg.quoted.ihl = 5;
	msg.quoted.tot_len = htons(1500);
	msg.quoted.frag_off = htons(IP_DF);
	msg.quoted.ttl = 64;
	msg.quoted.protocol = IPPROTO_TCP;
	msg.quoted.saddr = dst->s_addr;
	inet_pton(AF_INET, "192.0.2.99", &msg.quoted.daddr);
	msg.quoted.check = inet_checksum(&msg.quoted, sizeof(msg.quoted));
	msg.icmp.checksum = inet_checksum(&msg, sizeof(msg));
	return send_raw(AF_INET, IPPROTO_ICMP, &msg, sizeof(msg), (struct sockaddr *)&sa,
	                sizeof(sa));
}

static int send_v6(const struct in6_addr *dst, unsigned int mtu)
{
	struct {
		struct icmp6_hdr icmp;
		struct ip6_hdr quoted;
		uint8_t quoted_payload[8];
	} msg;
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = *dst};

	memset(&msg, 0, sizeof(msg));
	msg.icmp.icmp6_type = ICMP6_PACKET_TOO_BIG;
	msg.icmp.icmp6_mtu = htonl(mtu);
	msg.quoted.ip6_flow = htonl(6u << 28);
	msg.quoted.ip6_plen = htons(1460);
	msg.quoted.ip6_nxt = IPPROTO_TCP;
	msg.quoted.ip6_hlim = 64;
	msg.quoted.ip6_src = *dst;
	inet_pton(AF_INET6, "2001:db8::99", &msg.quoted.ip6_dst);

	/* The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets itself. */
	return send_raw(AF_INET6, IPPROTO_ICMPV6, &msg, sizeof(msg), (struct sockaddr *)&sa,
	                sizeof(sa));
}

int main(int argc, char **argv)
{
	struct in6_addr v6;
	struct in_addr v4;
	unsigned int mtu = 1280;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: icmp_too_big ADDR [MTU]\n");
		return 2;
	}
	if (argc == 3)
		mtu = (unsigned int)strtoul(argv[2], NULL, 10);
	if (inet_pton(AF_INET, argv[1], &v4) == 1)
		return send_v4(&v4, mtu);
	if (inet_pton(AF_INET6, argv[1], &v6) == 1)
		return send_v6(&v6, mtu);
	fprintf(stderr, "icmp_too_big: invalid address `%s'\n", argv[1]);
	return 2;
}
