/* The nftables model without a kernel: builders, the nft-syntax printer, the netlink
 * expressions rules become (compared with what `nft --debug=netlink` prints for the same
 * rule), set type encoding, and rule/table equality. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include <wgfwd/nft_kernel.h>
#include "../../agent/core/nft_internal.h"

static struct wf_nft_value ifname(const char *name)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IFNAME};

	snprintf(v.ifname, sizeof(v.ifname), "%s", name);
	return v;
}

static struct wf_nft_value mark(uint32_t m)
{
	return (struct wf_nft_value){.type = WF_NFT_T_MARK, .mark = m};
}

static struct wf_nft_value proto(uint8_t p)
{
	return (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = p};
}

static struct wf_nft_value port(uint16_t p)
{
	return (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = p};
}

static struct wf_nft_value ip4(const char *s)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IPV4_ADDR};

	assert_int_equal(inet_pton(AF_INET, s, &v.ip4), 1);
	return v;
}

static struct wf_nft_value ip6(const char *s)
{
	struct wf_nft_value v = {.type = WF_NFT_T_IPV6_ADDR};

	assert_int_equal(inet_pton(AF_INET6, s, &v.ip6), 1);
	return v;
}

static void add(struct wf_nft_rule *r, struct wf_nft_item it)
{
	wf_nft_rule_item(r, &it);
}

static void match(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                  struct wf_nft_value v)
{
	wf_nft_rule_match(r, f, op, &v);
}

static struct wf_nft_rule dnat_map_rule(uint8_t family, const char *map)
{
	struct wf_nft_rule r = {.chain = "prerouting"};
	struct wf_nft_item it = {
	    .kind = WF_NFT_DNAT_MAP,
	    .keys = {WF_NFT_F_L4PROTO, WF_NFT_F_TH_DPORT},
	    .n_keys = 2,
	    .family = family,
	};

	snprintf(it.set, sizeof(it.set), "%s", map);
	add(&r, it);
	return r;
}

static struct wf_nft_rule docker_user_rule(void)
{
	struct wf_nft_rule r = {.chain = "DOCKER-USER"};

	match(&r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	match(&r, WF_NFT_F_CT_STATUS, WF_NFT_OP_ANY_BITS, mark(IPS_DST_NAT));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_COUNTER});
	add(&r, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_ACCEPT});
	return r;
}

static void assert_rule_prints(const struct wf_nft_rule *r, const char *expected)
{
	char *out = NULL;

	assert_int_equal(wf_nft_rule_print(r, &out), 0);
	assert_string_equal(out, expected);
	free(out);
}

static void assert_bytecode(uint8_t family, const struct wf_nft_rule *r, const char *expected)
{
	char *out = NULL;

	assert_int_equal(wf_nft_rule_bytecode(family, r, &out), 0);
	assert_string_equal(out, expected);
	free(out);
}

static void dnat_map_rule_prints_as_nft_writes_it(void **state)
{
	struct wf_nft_rule r = dnat_map_rule(NFPROTO_IPV4, "dnat4");

	assert_rule_prints(&r, "dnat ip to meta l4proto . th dport map @dnat4");
	r = dnat_map_rule(NFPROTO_IPV6, "dnat6");
	assert_rule_prints(&r, "dnat ip6 to meta l4proto . th dport map @dnat6");
}

static void dnat_map_takes_the_port_from_the_register_after_the_address(void **state)
{
	struct wf_nft_rule r = dnat_map_rule(NFPROTO_IPV4, "dnat4");

	/* ipv4_addr . inet_service: the port lands in 32-bit register 1 (NFT_REG32_01 = 9) */
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load l4proto => reg 1 ]\n"
	                "[ payload load 2b @ transport header + 2 => reg 9 ]\n"
	                "[ lookup reg 1 set dnat4 dreg 1 0x0 ]\n"
	                "[ nat dnat ip addr_min reg 1 proto_min reg 9 ]\n");
	/* ipv6_addr . inet_service: 32-bit register 4, which nft and the kernel name by its
	 * 128-bit register, reg 2 */
	r = dnat_map_rule(NFPROTO_IPV6, "dnat6");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load l4proto => reg 1 ]\n"
	                "[ payload load 2b @ transport header + 2 => reg 9 ]\n"
	                "[ lookup reg 1 set dnat6 dreg 1 0x0 ]\n"
	                "[ nat dnat ip6 addr_min reg 1 proto_min reg 2 ]\n");
}

/* The mark only once the lookup found a target, in a register the map's data leaves alone:
 * an IPv6 address and a port fill registers 1 and 2. */
static void dnat_map_sets_ct_mark_bits_after_the_lookup_in_a_register_of_its_own(void **state)
{
	struct wf_nft_rule r = dnat_map_rule(NFPROTO_IPV6, "dnat6");

	r.items[0].mark = r.items[0].mark_mask = 0x08000000;
	assert_rule_prints(&r, "ct mark set ct mark | 0x08000000 dnat ip6 to meta l4proto . th "
	                       "dport map @dnat6");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load l4proto => reg 1 ]\n"
	                "[ payload load 2b @ transport header + 2 => reg 9 ]\n"
	                "[ lookup reg 1 set dnat6 dreg 1 0x0 ]\n"
	                "[ ct load mark => reg 3 ]\n"
	                "[ bitwise reg 3 = ( reg 3 & 0xf7ffffff ) ^ 0x08000000 ]\n"
	                "[ ct set mark with reg 3 ]\n"
	                "[ nat dnat ip6 addr_min reg 1 proto_min reg 2 ]\n");
	r.items[0].mark = 0;
	assert_rule_prints(&r, "ct mark set ct mark & 0xf7ffffff | 0x00000000 dnat ip6 to meta "
	                       "l4proto . th dport map @dnat6");
}

static void mss_clamp_converts_the_mtu_to_network_order_before_writing(void **state)
{
	struct wf_nft_rule r = {.chain = "forward"};

	match(&r, WF_NFT_F_TCP_FLAGS, WF_NFT_OP_ANY_BITS, mark(0x02));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_MSS_CLAMP});
	assert_rule_prints(&r, "tcp flags syn tcp option maxseg size set rt mtu");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load l4proto => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000006 ]\n"
	                "[ payload load 1b @ transport header + 13 => reg 1 ]\n"
	                "[ bitwise reg 1 = ( reg 1 & 0x00000002 ) ^ 0x00000000 ]\n"
	                "[ cmp neq reg 1 0x00000000 ]\n"
	                "[ rt load tcpmss => reg 1 ]\n"
	                "[ byteorder reg 1 = hton(reg 1, 2, 2) ]\n"
	                "[ exthdr write tcpopt reg 1 => 2b @ 2 + 2 ]\n");
}

static void ct_mark_rules_print_and_encode_like_nft(void **state)
{
	struct wf_nft_rule in = {.chain = "prerouting"}, back = {.chain = "prerouting"};

	match(&in, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, ifname("wg0"));
	match(&in, WF_NFT_F_CT_STATE, WF_NFT_OP_ANY_BITS, mark(NF_CT_STATE_BIT(IP_CT_NEW)));
	add(&in, (struct wf_nft_item){.kind = WF_NFT_CT_MARK_SET, .mark = 0x100});
	assert_rule_prints(&in, "iifname \"wg0\" ct state new ct mark set 0x00000100");
	assert_bytecode(NFPROTO_INET, &in,
	                "[ meta load iifname => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00306777 0x00000000 0x00000000 0x00000000 ]\n"
	                "[ ct load state => reg 1 ]\n"
	                "[ bitwise reg 1 = ( reg 1 & 0x00000008 ) ^ 0x00000000 ]\n"
	                "[ cmp neq reg 1 0x00000000 ]\n"
	                "[ immediate reg 1 0x00000100 ]\n"
	                "[ ct set mark with reg 1 ]\n");

	match(&back, WF_NFT_F_CT_DIRECTION, WF_NFT_OP_EQ, proto(1));
	match(&back, WF_NFT_F_CT_MARK, WF_NFT_OP_EQ, mark(0x100));
	add(&back, (struct wf_nft_item){.kind = WF_NFT_META_MARK_FROM_CT});
	assert_rule_prints(&back, "ct direction reply ct mark 0x00000100 meta mark set ct mark");
	assert_bytecode(NFPROTO_INET, &back,
	                "[ ct load direction => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000001 ]\n"
	                "[ ct load mark => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000100 ]\n"
	                "[ ct load mark => reg 1 ]\n"
	                "[ meta set mark with reg 1 ]\n");
}

static void docker_user_rule_is_encoded_as_iptables_writes_it(void **state)
{
	struct wf_nft_rule r = docker_user_rule();
	char *out = NULL;

	assert_rule_prints(&r, "iifname \"wg0\" ct status dnat counter accept");
	assert_bytecode(NFPROTO_IPV4, &r,
	                "[ meta load iifname => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00306777 0x00000000 0x00000000 0x00000000 ]\n"
	                "[ ct load status => reg 1 ]\n"
	                "[ bitwise reg 1 = ( reg 1 & 0x00000020 ) ^ 0x00000000 ]\n"
	                "[ cmp neq reg 1 0x00000000 ]\n"
	                "[ counter pkts 0 bytes 0 ]\n"
	                "[ immediate reg 0 accept ]\n");
	/* iptables 1.8 reads neither native ct expressions nor anything but its xt match */
	r.iptables_compat = true;
	assert_bytecode(NFPROTO_IPV4, &r,
	                "[ meta load iifname => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00306777 ]\n"
	                "[ match name conntrack rev 3 ]\n"
	                "[ counter pkts 0 bytes 0 ]\n"
	                "[ immediate reg 0 accept ]\n");
	assert_int_equal(wf_nft_rule_bytecode(NFPROTO_IPV4, &r, &out), 0);
	free(out);
}

static void masquerade_and_nat_items_print_their_family(void **state)
{
	struct wf_nft_rule r = {.chain = "postrouting"};

	match(&r, WF_NFT_F_OIFNAME, WF_NFT_OP_EQ, ifname("eth0"));
	add(&r, (struct wf_nft_item){.kind = WF_NFT_MASQUERADE});
	assert_rule_prints(&r, "oifname \"eth0\" masquerade");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load oifname => reg 1 ]\n"
	                "[ cmp eq reg 1 0x30687465 0x00000000 0x00000000 0x00000000 ]\n"
	                "[ masq ]\n");

	r = (struct wf_nft_rule){.chain = "postrouting"};
	add(&r, (struct wf_nft_item){.kind = WF_NFT_SNAT_KEEP_SOURCE, .family = NFPROTO_IPV4});
	assert_rule_prints(&r, "snat ip to ip saddr");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load nfproto => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000002 ]\n"
	                "[ payload load 4b @ network header + 12 => reg 1 ]\n"
	                "[ nat snat ip addr_min reg 1 ]\n");

	r = (struct wf_nft_rule){.chain = "postrouting"};
	add(&r, (struct wf_nft_item){.kind = WF_NFT_SNAT_KEEP_SOURCE, .family = NFPROTO_IPV6});
	assert_rule_prints(&r, "snat ip6 to ip6 saddr");

	r = (struct wf_nft_rule){.chain = "prerouting"};
	match(&r, WF_NFT_F_L4PROTO, WF_NFT_OP_EQ, proto(6));
	add(&r, (struct wf_nft_item){
	            .kind = WF_NFT_DNAT, .nat_addr = ip6("2001:db8::7"), .nat_port = 8080});
	assert_rule_prints(&r, "meta l4proto tcp dnat ip6 to [2001:db8::7]:8080");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load l4proto => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000006 ]\n"
	                "[ immediate reg 1 0xb80d0120 0x00000000 0x00000000 0x07000000 ]\n"
	                "[ immediate reg 2 0x0000901f ]\n"
	                "[ nat dnat ip6 addr_min reg 1 proto_min reg 2 flags 0x2 ]\n");

	r = (struct wf_nft_rule){.chain = "postrouting"};
	add(&r, (struct wf_nft_item){.kind = WF_NFT_SNAT, .nat_addr = ip4("192.0.2.9")});
	assert_rule_prints(&r, "snat ip to 192.0.2.9");
}

static void address_matches_check_the_family_only_in_inet_tables(void **state)
{
	struct wf_nft_rule r = {.chain = "c"};

	match(&r, WF_NFT_F_IP_SADDR, WF_NFT_OP_EQ, ip4("10.1.0.0"));
	r.items[0].prefix_len = 16;
	match(&r, WF_NFT_F_IP_DADDR, WF_NFT_OP_NEQ, ip4("10.16.0.0"));
	r.items[1].prefix_len = 12;
	assert_rule_prints(&r, "ip saddr 10.1.0.0/16 ip daddr != 10.16.0.0/12");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load nfproto => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000002 ]\n"
	                "[ payload load 2b @ network header + 12 => reg 1 ]\n"
	                "[ cmp eq reg 1 0x0000010a ]\n"
	                "[ payload load 4b @ network header + 16 => reg 1 ]\n"
	                "[ bitwise reg 1 = ( reg 1 & 0x0000f0ff ) ^ 0x00000000 ]\n"
	                "[ cmp neq reg 1 0x0000100a ]\n");
	assert_bytecode(NFPROTO_IPV4, &r,
	                "[ payload load 2b @ network header + 12 => reg 1 ]\n"
	                "[ cmp eq reg 1 0x0000010a ]\n"
	                "[ payload load 4b @ network header + 16 => reg 1 ]\n"
	                "[ bitwise reg 1 = ( reg 1 & 0x0000f0ff ) ^ 0x00000000 ]\n"
	                "[ cmp neq reg 1 0x0000100a ]\n");
}

static void port_ranges_and_fib_types_encode_like_nft(void **state)
{
	struct wf_nft_rule r = {.chain = "c"};

	add(&r, (struct wf_nft_item){.kind = WF_NFT_MATCH,
	                             .field = WF_NFT_F_TH_SPORT,
	                             .op = WF_NFT_OP_RANGE,
	                             .value = port(1000),
	                             .value_hi = port(2000)});
	match(&r, WF_NFT_F_TH_DPORT, WF_NFT_OP_NEQ, port(22));
	match(&r, WF_NFT_F_FIB_DADDR_TYPE, WF_NFT_OP_EQ, mark(2 /* RTN_LOCAL */));
	add(&r,
	    (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_JUMP, .chain = "next"});
	assert_rule_prints(&r, "th sport 1000-2000 th dport != 22 fib daddr type local jump next");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ payload load 2b @ transport header + 0 => reg 1 ]\n"
	                "[ cmp gte reg 1 0x0000e803 ]\n"
	                "[ cmp lte reg 1 0x0000d007 ]\n"
	                "[ payload load 2b @ transport header + 2 => reg 1 ]\n"
	                "[ cmp neq reg 1 0x00001600 ]\n"
	                "[ fib daddr type => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000002 ]\n"
	                "[ immediate reg 0 jump -> next ]\n");
}

static void set_lookup_loads_concatenations_into_padded_registers(void **state)
{
	struct wf_nft_rule r = {.chain = "c"};
	struct wf_nft_item it = {
	    .kind = WF_NFT_MATCH_SET,
	    .keys = {WF_NFT_F_IP_DADDR, WF_NFT_F_L4PROTO, WF_NFT_F_TH_DPORT},
	    .n_keys = 3,
	    .set = "published",
	    .negate = true,
	};

	add(&r, it);
	add(&r, (struct wf_nft_item){.kind = WF_NFT_VERDICT, .verdict = WF_NFT_DROP});
	assert_rule_prints(&r, "ip daddr . meta l4proto . th dport != @published drop");
	assert_bytecode(NFPROTO_INET, &r,
	                "[ meta load nfproto => reg 1 ]\n"
	                "[ cmp eq reg 1 0x00000002 ]\n"
	                "[ payload load 4b @ network header + 16 => reg 1 ]\n"
	                "[ meta load l4proto => reg 9 ]\n"
	                "[ payload load 2b @ transport header + 2 => reg 10 ]\n"
	                "[ lookup reg 1 set published 0x1 ]\n"
	                "[ immediate reg 0 drop ]\n");
}

static void rule_comment_is_printed_last(void **state)
{
	struct wf_nft_rule r = {.chain = "c", .comment = "forward web"};

	add(&r, (struct wf_nft_item){.kind = WF_NFT_COUNTER});
	assert_rule_prints(&r, "counter comment \"forward web\"");
}

static void set_types_encode_as_nft_concatenations(void **state)
{
	enum wf_nft_type key[] = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE};
	enum wf_nft_type data4[] = {WF_NFT_T_IPV4_ADDR, WF_NFT_T_INET_SERVICE};
	enum wf_nft_type data6[] = {WF_NFT_T_IPV6_ADDR, WF_NFT_T_INET_SERVICE};
	enum wf_nft_type odd[] = {WF_NFT_T_MARK, WF_NFT_T_IFNAME, WF_NFT_T_IPV6_ADDR};
	enum wf_nft_type single[] = {WF_NFT_T_INET_SERVICE};
	enum wf_nft_type back[WF_NFT_CONCAT_MAX];
	uint32_t id, len;
	size_t n;

	/* numbers as nft itself sends them (seen with nft --debug=mnl) */
	assert_int_equal(wf_nft_concat_encode_type(key, 2, &id, &len), 0);
	assert_int_equal(id, (12 << 6) | 13);
	assert_int_equal(len, 8);
	assert_int_equal(wf_nft_concat_encode_type(data4, 2, &id, &len), 0);
	assert_int_equal(id, (7 << 6) | 13);
	assert_int_equal(len, 8);
	assert_int_equal(wf_nft_concat_encode_type(data6, 2, &id, &len), 0);
	assert_int_equal(id, (8 << 6) | 13);
	assert_int_equal(len, 20);
	assert_int_equal(wf_nft_concat_encode_type(odd, 3, &id, &len), 0);
	assert_int_equal(id, 0x13a48);
	assert_int_equal(len, 36);
	assert_int_equal(wf_nft_concat_encode_type(single, 1, &id, &len), 0);
	assert_int_equal(id, 13);
	assert_int_equal(len, 2);

	assert_int_equal(wf_nft_concat_decode_type(0x13a48, 36, back, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(back, odd, sizeof(odd));
	assert_int_not_equal(wf_nft_concat_decode_type(0x13a48, 40, back, &n), 0);
}

static void elements_pad_every_concatenated_field_to_four_bytes(void **state)
{
	enum wf_nft_type data4[] = {WF_NFT_T_IPV4_ADDR, WF_NFT_T_INET_SERVICE};
	struct wf_nft_value v[] = {ip4("192.0.2.5"), port(8443)}, back[2];
	const uint8_t expected[] = {192, 0, 2, 5, 0x20, 0xfb, 0, 0};
	uint8_t buf[WF_NFT_KEY_MAX];
	uint32_t len;

	assert_int_equal(wf_nft_concat_encode(data4, 2, v, buf, &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(buf, expected, sizeof(expected));
	assert_int_equal(wf_nft_concat_decode(data4, 2, buf, len, back), 0);
	assert_int_equal(back[1].port, 8443);
	assert_memory_equal(&back[0].ip4, &v[0].ip4, 4);
}

static struct wf_nft_table *sample_table(void)
{
	struct wf_nft_table *t = wf_nft_table_new(NFPROTO_INET, "wgfwd");
	struct wf_nft_chain pre = {.name = "prerouting",
	                           .base = true,
	                           .type = "nat",
	                           .hook = NF_INET_PRE_ROUTING,
	                           .priority = -100,
	                           .policy = NF_ACCEPT};
	struct wf_nft_chain fwd = {.name = "forward",
	                           .base = true,
	                           .type = "filter",
	                           .hook = NF_INET_FORWARD,
	                           .priority = 0,
	                           .policy = NF_DROP};
	struct wf_nft_set map = {
	    .name = "dnat4",
	    .key = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE},
	    .n_key = 2,
	    .data = {WF_NFT_T_IPV4_ADDR, WF_NFT_T_INET_SERVICE},
	    .n_data = 2,
	};
	struct wf_nft_elem e1 = {.key = {proto(17), port(53)},
	                         .data = {ip4("192.0.2.5"), port(53)}};
	struct wf_nft_elem e2 = {.key = {proto(6), port(443)},
	                         .data = {ip4("192.0.2.5"), port(8443)}};
	struct wf_nft_rule r = dnat_map_rule(NFPROTO_IPV4, "dnat4");
	struct wf_nft_rule syn = {.chain = "forward"};

	assert_non_null(t);
	assert_non_null(wf_nft_table_add_chain(t, &pre));
	assert_non_null(wf_nft_table_add_chain(t, &fwd));
	assert_int_equal(wf_nft_set_add_elem(&map, &e1), 0);
	assert_int_equal(wf_nft_set_add_elem(&map, &e2), 0);
	assert_non_null(wf_nft_table_add_set(t, &map));
	wf_nft_set_clear_elems(&map);
	snprintf(r.comment, sizeof(r.comment), "published ports");
	assert_non_null(wf_nft_table_add_rule(t, &r));
	match(&syn, WF_NFT_F_TCP_FLAGS, WF_NFT_OP_ANY_BITS, mark(0x02));
	add(&syn, (struct wf_nft_item){.kind = WF_NFT_MSS_CLAMP});
	assert_non_null(wf_nft_table_add_rule(t, &syn));
	return t;
}

static uint32_t rnd_state = 42;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static struct wf_nft_value random_value(enum wf_nft_type t)
{
	struct wf_nft_value v;

	memset(&v, 0, sizeof(v));
	v.type = t;
	switch (t) {
	case WF_NFT_T_IPV4_ADDR:
		v.ip4.s_addr = rnd();
		break;
	case WF_NFT_T_IPV6_ADDR:
		for (size_t k = 0; k < 16; k++)
			v.ip6.s6_addr[k] = (uint8_t)rnd();
		break;
	case WF_NFT_T_INET_PROTO:
		v.proto = (uint8_t)rnd();
		break;
	case WF_NFT_T_INET_SERVICE:
		v.port = (uint16_t)rnd();
		break;
	case WF_NFT_T_MARK:
		v.mark = rnd();
		break;
	case WF_NFT_T_IFNAME:
		for (size_t k = 0, n = rnd() % IFNAMSIZ; k < n; k++)
			v.ifname[k] = (char)('a' + rnd() % 26);
		break;
	case WF_NFT_T_NONE:
		break;
	}
	return v;
}

/* A set's records, encoded field by field in place, are each element's key and data as
 * wf_nft_concat_encode lays them out: for every type, alone and concatenated. */
static void set_records_are_the_concatenated_encodings(void **state)
{
	static const enum wf_nft_type types[] = {WF_NFT_T_IPV4_ADDR,  WF_NFT_T_IPV6_ADDR,
	                                         WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE,
	                                         WF_NFT_T_MARK,       WF_NFT_T_IFNAME};

	for (int round = 0; round < 300; round++) {
		struct wf_nft_set s;
		uint8_t *recs, key[WF_NFT_KEY_MAX], data[WF_NFT_KEY_MAX];
		uint32_t key_len, data_len = 0;
		size_t rec_len;

		memset(&s, 0, sizeof(s));
		strcpy(s.name, "m");
		s.n_key = 1 + rnd() % WF_NFT_CONCAT_MAX;
		s.n_data = rnd() % (WF_NFT_CONCAT_MAX + 1);
		for (size_t k = 0; k < s.n_key; k++)
			s.key[k] = types[rnd() % 6];
		for (size_t k = 0; k < s.n_data; k++)
			s.data[k] = types[rnd() % 6];
		for (size_t i = 0, n = rnd() % 20; i < n; i++) {
			struct wf_nft_elem e;

			memset(&e, 0, sizeof(e));
			for (size_t k = 0; k < s.n_key; k++)
				e.key[k] = random_value(s.key[k]);
			for (size_t k = 0; k < s.n_data; k++)
				e.data[k] = random_value(s.data[k]);
			assert_int_equal(wf_nft_set_add_elem(&s, &e), 0);
		}
		assert_int_equal(wf_nft_set_encode_elems(&s, &recs, &rec_len), 0);
		for (size_t i = 0; i < s.n_elems; i++) {
			assert_int_equal(
			    wf_nft_concat_encode(s.key, s.n_key, s.elems[i].key, key, &key_len), 0);
			if (s.n_data)
				assert_int_equal(wf_nft_concat_encode(s.data, s.n_data,
				                                      s.elems[i].data, data,
				                                      &data_len),
				                 0);
			assert_int_equal(rec_len, key_len + data_len);
			assert_memory_equal(recs + i * rec_len, key, key_len);
			if (s.n_data)
				assert_memory_equal(recs + i * rec_len + key_len, data, data_len);
		}
		free(recs);
		wf_nft_set_clear_elems(&s);
	}
}

static void table_prints_sets_then_chains_with_sorted_elements(void **state)
{
	struct wf_nft_table *t = sample_table();
	char *out = NULL;

	assert_int_equal(wf_nft_table_print(t, &out), 0);
	assert_string_equal(out, "table inet wgfwd {\n"
	                         "\tmap dnat4 {\n"
	                         "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"
	                         "\t\telements = { tcp . 443 : 192.0.2.5 . 8443,\n"
	                         "\t\t\t     udp . 53 : 192.0.2.5 . 53 }\n"
	                         "\t}\n"
	                         "\n"
	                         "\tchain prerouting {\n"
	                         "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	                         "\t\tdnat ip to meta l4proto . th dport map @dnat4 comment "
	                         "\"published ports\"\n"
	                         "\t}\n"
	                         "\n"
	                         "\tchain forward {\n"
	                         "\t\ttype filter hook forward priority filter; policy drop;\n"
	                         "\t\ttcp flags syn tcp option maxseg size set rt mtu\n"
	                         "\t}\n"
	                         "}\n");
	free(out);
	wf_nft_table_free(t);
}

static void builders_copy_what_they_are_given_and_find_by_name(void **state)
{
	struct wf_nft_table *t = sample_table();
	struct wf_nft_set *s = wf_nft_table_find_set(t, "dnat4");

	assert_non_null(s);
	assert_int_equal(s->n_elems, 2);
	assert_null(wf_nft_table_find_set(t, "nope"));
	assert_non_null(wf_nft_table_find_chain(t, "forward"));
	assert_null(wf_nft_table_find_chain(t, "nope"));
	assert_int_equal(t->rules[0].family, NFPROTO_INET);
	for (int i = 0; i < 100; i++)
		assert_non_null(wf_nft_table_add_chain(t, &(struct wf_nft_chain){.name = "x"}));
	assert_int_equal(t->n_chains, 102);
	wf_nft_table_free(t);
}

static void equal_tables_ignore_element_order(void **state)
{
	struct wf_nft_table *a = sample_table(), *b = sample_table();
	struct wf_nft_set *s = wf_nft_table_find_set(b, "dnat4");
	struct wf_nft_elem tmp = s->elems[0];

	s->elems[0] = s->elems[1];
	s->elems[1] = tmp;
	assert_true(wf_nft_table_equal(a, b));
	s->elems[0].data[1].port = 9999;
	assert_false(wf_nft_table_equal(a, b));
	wf_nft_table_free(a);
	wf_nft_table_free(b);
}

static void rules_differ_when_an_item_or_the_comment_differs(void **state)
{
	struct wf_nft_table *a = sample_table(), *b = sample_table();

	assert_true(wf_nft_rule_equal(&a->rules[0], &b->rules[0]));
	b->rules[0].handle = 42;
	assert_true(wf_nft_rule_equal(&a->rules[0], &b->rules[0]));
	snprintf(b->rules[0].comment, sizeof(b->rules[0].comment), "other");
	assert_false(wf_nft_rule_equal(&a->rules[0], &b->rules[0]));
	assert_false(wf_nft_table_equal(a, b));
	b->rules[0].comment[0] = '\0';
	snprintf(b->rules[0].comment, sizeof(b->rules[0].comment), "published ports");
	b->rules[0].items[0].keys[1] = WF_NFT_F_TH_SPORT;
	assert_false(wf_nft_rule_equal(&a->rules[0], &b->rules[0]));
	assert_int_not_equal(wf_nft_rule_digest(NFPROTO_INET, &a->rules[0]),
	                     wf_nft_rule_digest(NFPROTO_INET, &b->rules[0]));
	wf_nft_table_free(a);
	wf_nft_table_free(b);
}

static void desired_rule_without_family_takes_the_other_side(void **state)
{
	struct wf_nft_rule kernel_side = {.chain = "c", .family = NFPROTO_IPV4};
	struct wf_nft_rule desired = {.chain = "c"};

	match(&kernel_side, WF_NFT_F_IP_SADDR, WF_NFT_OP_EQ, ip4("10.0.0.1"));
	match(&desired, WF_NFT_F_IP_SADDR, WF_NFT_OP_EQ, ip4("10.0.0.1"));
	kernel_side.digest = wf_nft_rule_digest(NFPROTO_IPV4, &kernel_side);
	assert_true(wf_nft_rule_equal(&kernel_side, &desired));
	/* the same match in an inet table carries a dependency, so it is another rule */
	kernel_side.digest = wf_nft_rule_digest(NFPROTO_INET, &kernel_side);
	assert_false(wf_nft_rule_equal(&kernel_side, &desired));
}

static void invalid_items_are_refused(void **state)
{
	struct wf_nft_rule r = {.chain = "c"};
	char *out = NULL;

	/* ranges over host-order fields would compare bytes in the wrong order */
	add(&r, (struct wf_nft_item){.kind = WF_NFT_MATCH,
	                             .field = WF_NFT_F_META_MARK,
	                             .op = WF_NFT_OP_RANGE,
	                             .value = mark(1),
	                             .value_hi = mark(5)});
	assert_int_equal(wf_nft_rule_bytecode(NFPROTO_INET, &r, &out), -EINVAL);
	r = dnat_map_rule(0, "dnat");
	assert_int_equal(wf_nft_rule_bytecode(NFPROTO_INET, &r, &out), -EINVAL);
	assert_int_equal(wf_nft_rule_digest(NFPROTO_INET, &r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dnat_map_rule_prints_as_nft_writes_it),
	    cmocka_unit_test(dnat_map_takes_the_port_from_the_register_after_the_address),
	    cmocka_unit_test(dnat_map_sets_ct_mark_bits_after_the_lookup_in_a_register_of_its_own),
	    cmocka_unit_test(mss_clamp_converts_the_mtu_to_network_order_before_writing),
	    cmocka_unit_test(ct_mark_rules_print_and_encode_like_nft),
	    cmocka_unit_test(set_records_are_the_concatenated_encodings),
	    cmocka_unit_test(docker_user_rule_is_encoded_as_iptables_writes_it),
	    cmocka_unit_test(masquerade_and_nat_items_print_their_family),
	    cmocka_unit_test(address_matches_check_the_family_only_in_inet_tables),
	    cmocka_unit_test(port_ranges_and_fib_types_encode_like_nft),
	    cmocka_unit_test(set_lookup_loads_concatenations_into_padded_registers),
	    cmocka_unit_test(rule_comment_is_printed_last),
	    cmocka_unit_test(set_types_encode_as_nft_concatenations),
	    cmocka_unit_test(elements_pad_every_concatenated_field_to_four_bytes),
	    cmocka_unit_test(table_prints_sets_then_chains_with_sorted_elements),
	    cmocka_unit_test(builders_copy_what_they_are_given_and_find_by_name),
	    cmocka_unit_test(equal_tables_ignore_element_order),
	    cmocka_unit_test(rules_differ_when_an_item_or_the_comment_differs),
	    cmocka_unit_test(desired_rule_without_family_takes_the_other_side),
	    cmocka_unit_test(invalid_items_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
