/* The gateway's ruleset against the kernel: every test runs in a fresh network namespace and
 * checks what was applied through `nft -j`, the tool an operator would use. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd-gateway/apply.h>
#include <wgfwd-gateway/grants.h>
#include <wgfwd-gateway/host.h>
#include <wgfwd-gateway/render.h>

#include "kernel_test.h"

#define TUN "wfgw-wg"
#define PUB "wfgw-pub"

struct fixture {
	struct wf_nft *nft;
	struct wf_gw_apply_cache cache;
	struct wf_gw_config cfg;
	struct wf_gw_params params;
	struct wf_gw_state state;
};

static char *run(const char *cmd, int *status)
{
	char chunk[4096], *text = NULL;
	size_t len = 0, got;
	FILE *p = popen(cmd, "r");

	assert_non_null(p);
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		text = realloc(text, len + got + 1);
		assert_non_null(text);
		memcpy(text + len, chunk, got);
		len += got;
	}
	*status = pclose(p);
	if (!text)
		text = strdup("");
	text[len] = '\0';
	return text;
}

/* The "nftables" array of `nft -j list table inet NAME`, or NULL when there is no table. */
static json_object *nft_json(const char *table)
{
	char cmd[256], *text;
	json_object *root, *arr, *copy;
	int status;

	snprintf(cmd, sizeof(cmd), "nft -j list table inet %s 2>/dev/null", table);
	text = run(cmd, &status);
	if (status) {
		free(text);
		return NULL;
	}
	root = json_tokener_parse(text);
	if (!root || !json_object_object_get_ex(root, "nftables", &arr))
		fail_msg("`%s' printed no nftables array: %s", cmd, text);
	free(text);
	copy = json_object_get(arr);
	json_object_put(root);
	return copy;
}

/* The object of kind ("chain", "map", "set", "rule") and name in the listing. */
static json_object *find(json_object *arr, const char *kind, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i), *inner, *n;

		if (!json_object_object_get_ex(o, kind, &inner))
			continue;
		if (!name)
			return inner;
		if (json_object_object_get_ex(inner, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return inner;
	}
	return NULL;
}

static size_t count(json_object *arr, const char *kind)
{
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(arr); i++)
		n += json_object_object_get_ex(json_object_array_get_idx(arr, i), kind, NULL);
	return n;
}

static size_t elem_count(json_object *arr, const char *kind, const char *name)
{
	json_object *set = find(arr, kind, name), *elem;

	assert_non_null(set);
	if (!json_object_object_get_ex(set, "elem", &elem))
		return 0;
	return json_object_array_length(elem);
}

static const char *str_field(json_object *o, const char *name)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, name, &v));
	return json_object_get_string(v);
}

static int setup(void **state)
{
	const char *specs[] = {"192.168.160.2,fc00:0:0:160::2=/k/a", "192.168.160.3=/k/b"};
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";
	struct wf_gw_peer p;

	if (!f || unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	sh("set -e; ip link set lo up;"
	   "ip link add " PUB " type dummy 2>/dev/null || ip link add " PUB " type bridge;"
	   "ip link add " TUN " type dummy 2>/dev/null || ip link add " TUN " type bridge;"
	   "ip link set " PUB " up; ip link set " TUN " up");
	f->cfg.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	for (size_t i = 0; i < 2; i++) {
		if (wf_gw_peer_parse(specs[i], &p, err, sizeof(err)) ||
		    wf_gw_config_add_peer(&f->cfg, &p, err, sizeof(err)))
			return -1;
		free(p.keyfile);
	}
	if (wf_gw_config_grant(&f->cfg, WF_GW_GRANT_EGRESS, "192.168.160.2=all",
	                       wf_service_lookup_builtin, err, sizeof(err)) ||
	    wf_gw_config_grant(&f->cfg, WF_GW_GRANT_EGRESS, "192.168.160.3=all",
	                       wf_service_lookup_builtin, err, sizeof(err)))
		return -1;
	strcpy(f->params.tunnel_ifname, TUN);
	strcpy(f->params.public_ifname, PUB);
	f->params.control_port = WF_GW_DEFAULT_CONTROL_PORT;
	inet_pton(AF_INET, "203.0.113.1", &f->params.public_ip4[f->params.n_public_ip4++]);
	inet_pton(AF_INET6, "2001:db8::1", &f->params.public_ip6[f->params.n_public_ip6++]);
	if (wf_gw_state_init(&f->state, f->cfg.n_peers) || wf_nft_open(&f->nft))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	wf_nft_close(f->nft);
	wf_gw_apply_cache_free(&f->cache);
	wf_gw_state_free(&f->state);
	wf_gw_config_free(&f->cfg);
	free(f);
	return 0;
}

static void grant(struct fixture *f, size_t peer, struct wf_ctl_forward *fw, size_t nf,
                  struct wf_ctl_egress *g, size_t ng)
{
	struct wf_gw_entries want = {.forwards = fw, .n_forwards = nf, .egress = g, .n_egress = ng};
	struct wf_gw_state next;
	struct wf_gw_decision d;

	assert_int_equal(wf_gw_policy_decide(&f->cfg, &f->state, peer, &want, &next, &d), 0);
	assert_int_equal(d.n_refused, 0);
	wf_gw_decision_free(&d);
	wf_gw_state_free(&f->state);
	f->state = next;
}

static void apply(struct fixture *f, struct wf_gw_apply_result *res)
{
	struct wf_nft_table *t = NULL;
	int err;

	assert_int_equal(wf_gw_render(&f->params, &f->cfg, &f->state, &t), 0);
	err = wf_gw_apply(f->nft, &f->cache, t, res);
	if (err)
		fail_msg("apply: %s: %s (%s)", strerror(-err), res->error.what, res->error.detail);
	wf_nft_table_free(t);
}

static void grant_sample(struct fixture *f)
{
	struct wf_ctl_forward fa[] = {{IPPROTO_TCP, AF_INET, 443, 443},
	                              {IPPROTO_TCP, AF_INET6, 443, 443},
	                              {IPPROTO_UDP, AF_INET, 53, 5353}};
	struct wf_ctl_egress ga[] = {{IPPROTO_TCP, 25, 27}, {IPPROTO_UDP, 0, 0}};
	struct wf_ctl_egress gb[] = {{0, 0, 0}};

	grant(f, 0, fa, 3, ga, 2);
	grant(f, 1, NULL, 0, gb, 1);
}

static void rendered_ruleset_is_what_nft_lists(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	json_object *arr, *chain;

	grant_sample(f);
	apply(f, &res);
	assert_int_equal(res.table, WF_NFT_REPLACED);
	assert_true(res.anchor_written);

	arr = nft_json(WF_GW_TABLE);
	assert_non_null(arr);
	assert_int_equal(count(arr, "chain"), 6);
	chain = find(arr, "chain", "forward");
	assert_non_null(chain);
	assert_string_equal(str_field(chain, "policy"), "accept");
	assert_string_equal(str_field(chain, "hook"), "forward");
	chain = find(arr, "chain", "clamp");
	assert_string_equal(str_field(chain, "prio"), "-150");
	assert_int_equal(elem_count(arr, "map", WF_GW_MAP4), 2);
	assert_int_equal(elem_count(arr, "map", WF_GW_MAP6), 1);
	assert_int_equal(elem_count(arr, "set", WF_GW_PUBLIC4), 1);
	assert_int_equal(elem_count(arr, "set", WF_GW_EGRESS4), 3);
	assert_int_equal(elem_count(arr, "set", WF_GW_EGRESS6), 3);
	assert_int_equal(elem_count(arr, "set", WF_GW_EGRESS4_PROTO), 1);
	assert_int_equal(elem_count(arr, "set", WF_GW_EGRESS4_ALL), 1);
	assert_int_equal(count(arr, "rule"), 18);
	json_object_put(arr);

	arr = nft_json(WF_GW_ANCHOR_TABLE);
	assert_non_null(arr);
	assert_int_equal(count(arr, "chain"), 2);
	assert_int_equal(count(arr, "rule"), 1);
	json_object_put(arr);
}

static void nft_prints_the_rules_as_rendered(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	const char *expect[] = {
	    "ip daddr @public4 ct mark set ct mark | 0x08000000 dnat ip to meta l4proto . th dport "
	    "map @fwd4",
	    "ip6 daddr @public6 ct mark set ct mark | 0x08000000 dnat ip6 to meta l4proto . th "
	    "dport map @fwd6",
	    "tcp dport 51821 iifname != \"" TUN "\" iifname != \"lo\" drop",
	    "oifname \"" TUN "\" tcp flags syn tcp option maxseg size set rt mtu",
	    "ct state established,related accept",
	    "oifname \"" TUN "\" ct status dnat accept",
	    "iifname \"" TUN "\" oifname \"" PUB "\" ip saddr . meta l4proto . th dport "
	    "@egress4 accept",
	    "iifname \"" TUN "\" oifname \"" PUB "\" masquerade",
	    "oifname \"" TUN "\" drop",
	    "iifname \"" TUN "\" drop",
	    "tcp . 443 : 192.168.160.2 . 443",
	};
	char *text;
	int status;

	grant_sample(f);
	apply(f, &res);
	text = run("nft list table inet " WF_GW_TABLE, &status);
	assert_int_equal(status, 0);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		if (!strstr(text, expect[i]))
			fail_msg("`%s' missing from:\n%s", expect[i], text);
	free(text);
}

/* Handles of every rule, in listing order: they change only when rules are rewritten. */
static char *rule_handles(void)
{
	json_object *arr = nft_json(WF_GW_TABLE);
	char *out = calloc(1, 4096);
	size_t len = 0;

	assert_non_null(arr);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *r, *h;

		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "rule", &r))
			continue;
		assert_true(json_object_object_get_ex(r, "handle", &h));
		len += (size_t)snprintf(out + len, 4096 - len, "%d ", json_object_get_int(h));
	}
	json_object_put(arr);
	return out;
}

static void applying_the_same_state_again_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	char *before, *after;

	grant_sample(f);
	apply(f, &res);
	before = rule_handles();
	apply(f, &res);
	assert_int_equal(res.table, WF_NFT_UNCHANGED);
	assert_false(res.anchor_written);
	after = rule_handles();
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void a_new_forward_is_sent_as_elements_only(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	struct wf_ctl_forward fb[] = {{IPPROTO_TCP, AF_INET, 8080, 80}};
	char *before, *after;
	json_object *arr;

	grant_sample(f);
	apply(f, &res);
	before = rule_handles();
	grant(f, 1, fb, 1, NULL, 0);
	apply(f, &res);
	assert_int_equal(res.table, WF_NFT_ELEMENTS);
	assert_int_equal(res.elements_added, 1);
	/* peer 1 gave up its egress: one element gone */
	assert_int_equal(res.elements_removed, 1);
	after = rule_handles();
	assert_string_equal(before, after);
	arr = nft_json(WF_GW_TABLE);
	assert_int_equal(elem_count(arr, "map", WF_GW_MAP4), 3);
	assert_int_equal(elem_count(arr, "set", WF_GW_EGRESS4_ALL), 0);
	json_object_put(arr);
	free(before);
	free(after);
}

static void a_changed_table_is_repaired(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	json_object *arr;

	grant_sample(f);
	apply(f, &res);
	sh("nft flush chain inet " WF_GW_TABLE " forward; nft add rule inet " WF_GW_TABLE
	   " forward accept; nft delete element inet " WF_GW_TABLE " fwd4 '{ tcp . 443 }'");
	apply(f, &res);
	assert_int_not_equal(res.table, WF_NFT_UNCHANGED);
	apply(f, &res);
	assert_int_equal(res.table, WF_NFT_UNCHANGED);
	arr = nft_json(WF_GW_TABLE);
	assert_int_equal(elem_count(arr, "map", WF_GW_MAP4), 2);
	json_object_put(arr);
}

static void a_removed_anchor_comes_back(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	json_object *arr;

	apply(f, &res);
	sh("nft delete table inet " WF_GW_ANCHOR_TABLE);
	apply(f, &res);
	assert_true(res.anchor_written);
	assert_int_equal(res.table, WF_NFT_UNCHANGED);
	arr = nft_json(WF_GW_ANCHOR_TABLE);
	assert_non_null(arr);
	json_object_put(arr);
}

static void removing_the_table_keeps_the_anchor(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	struct wf_nft_error err = {0};
	json_object *arr;

	grant_sample(f);
	apply(f, &res);
	assert_int_equal(wf_gw_remove_table(f->nft, &err), 0);
	assert_null(nft_json(WF_GW_TABLE));
	arr = nft_json(WF_GW_ANCHOR_TABLE);
	assert_non_null(arr);
	json_object_put(arr);
	/* and again, with nothing left to remove */
	assert_int_equal(wf_gw_remove_table(f->nft, &err), 0);
}

/* Three hosts around the gateway, each in a namespace held by a sleeping process: the internet
 * on the public interface, a peer on the tunnel, and a container on a bridge of the VPS's own
 * (what Docker on the VPS makes). Returns the pids; the namespaces go when they exit. */
static void three_hosts(pid_t pid[3])
{
	static const char *const ifs[3] = {PUB, TUN, "wfgw-br"};
	static const char *const gw_addr[3] = {"203.0.113.1/24", "192.168.160.1/24",
	                                       "172.31.0.1/24"};
	static const char *const addr[3] = {"203.0.113.2/24", "192.168.160.2/24", "172.31.0.2/24"};
	char text[32];
	int status;

	sh("ip link del " PUB "; ip link del " TUN "; echo 1 > /proc/sys/net/ipv4/ip_forward");
	for (int i = 0; i < 3; i++) {
		char *out = run("unshare -n sleep 60 >/dev/null 2>&1 & echo $!", &status);

		assert_int_equal(status, 0);
		pid[i] = (pid_t)atoi(out);
		free(out);
		assert_true(pid[i] > 0);
		snprintf(text, sizeof(text), "%d", (int)pid[i]);
		sh("ip link add %s type veth peer name wfgw-h%d && ip link set wfgw-h%d netns %s "
		   "&& "
		   "ip addr add %s dev %s && ip link set %s up && "
		   "nsenter -t %s -n sh -c 'ip link set lo up; ip link set wfgw-h%d up; "
		   "ip addr add %s dev wfgw-h%d; ip route add default via %.*s'",
		   ifs[i], i, i, text, gw_addr[i], ifs[i], ifs[i], text, i, addr[i], i,
		   (int)strcspn(gw_addr[i], "/"), gw_addr[i]);
	}
}

static int ping_from(pid_t from, const char *to)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "nsenter -t %d -n ping -c 1 -W 1 %s >/dev/null 2>&1", (int)from,
	         to);
	return system(cmd);
}

static void forwarding_outside_the_tunnel_is_left_alone(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	struct wf_ctl_egress all[] = {{0, 0, 0}};
	pid_t pid[3];

	three_hosts(pid);
	apply(f, &res);
	/* The VPS's container reaches the internet and is reached from it. */
	assert_int_equal(ping_from(pid[2], "203.0.113.2"), 0);
	assert_int_equal(ping_from(pid[0], "172.31.0.2"), 0);
	/* The peer has no egress: neither the internet nor the VPS's bridge. */
	assert_int_not_equal(ping_from(pid[1], "203.0.113.2"), 0);
	assert_int_not_equal(ping_from(pid[1], "172.31.0.2"), 0);
	/* Nor does the VPS's bridge reach into the tunnel. */
	assert_int_not_equal(ping_from(pid[2], "192.168.160.2"), 0);
	/* Granted everything, the peer leaves by the public interface, and only by it. */
	grant(f, 0, NULL, 0, all, 1);
	apply(f, &res);
	assert_int_equal(ping_from(pid[1], "203.0.113.2"), 0);
	assert_int_not_equal(ping_from(pid[1], "172.31.0.2"), 0);
	for (int i = 0; i < 3; i++)
		kill(pid[i], SIGKILL);
}

static char *read_sysctl(const char *path)
{
	static char buf[32];
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static void forwarding_is_switched_on_for_both_families(void **state)
{
	sh("echo 0 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/" PUB
	   "/accept_ra");
	assert_int_equal(wf_gw_enable_forwarding(PUB), 0);
	assert_string_equal(read_sysctl("/proc/sys/net/ipv4/ip_forward"), "1");
	assert_string_equal(read_sysctl("/proc/sys/net/ipv6/conf/all/forwarding"), "1");
	assert_string_equal(read_sysctl("/proc/sys/net/ipv6/conf/" PUB "/accept_ra"), "2");
}

/* One datagram from the gateway itself to addr:port (its dnat_local chain translates it). */
static void udp_send(int family, const char *addr, int port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	int fd = socket(family, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	}
	assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&ss,
	                        family == AF_INET ? sizeof(*sin) : sizeof(*sin6)),
	                 1);
	close(fd);
}

/* The conntrack lines (both families) with every needle in them. */
static int ct_lines(const char *a, const char *b, const char *c)
{
	char cmd[512], *text;
	int status, n;

	snprintf(cmd, sizeof(cmd),
	         "{ conntrack -L -f ipv4; conntrack -L -f ipv6; } 2>/dev/null | grep -F -e '%s' "
	         "| grep -F -e '%s' | grep -F -c -e '%s'",
	         a, b, c);
	text = run(cmd, &status);
	n = atoi(text);
	free(text);
	return n;
}

/* Each flow a map translates gets the gateway's bit in its conntrack mark, beside the bits
 * something else gave it (here a table of another owner, between conntrack and NAT); a flow to
 * a port no map holds keeps its mark as it was. */
static void translated_flows_get_the_mark_bit_and_keep_the_others(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	struct wf_ctl_forward fa[] = {{IPPROTO_UDP, AF_INET, 53, 5353},
	                              {IPPROTO_UDP, AF_INET6, 53, 5353}};
	char with_bit[32];

	grant(f, 0, fa, 2, NULL, 0);
	apply(f, &res);
	sh("ip addr add 203.0.113.1/24 dev " PUB "; ip -6 addr add 2001:db8::1/64 dev " PUB
	   " nodad; ip addr add 192.168.160.1/24 dev " TUN
	   "; ip -6 addr add fc00:0:0:160::1/64 dev " TUN " nodad;"
	   "nft add table inet other; nft add chain inet other out "
	   "'{ type filter hook output priority -150; }';"
	   "nft add rule inet other out meta l4proto udp ct mark set 0x5");
	udp_send(AF_INET, "203.0.113.1", 53);
	udp_send(AF_INET, "203.0.113.1", 54);
	udp_send(AF_INET6, "2001:db8::1", 53);
	snprintf(with_bit, sizeof(with_bit), "mark=%u ", WF_GW_CT_MARK | 5);
	assert_int_equal(ct_lines("dport=53 ", "src=192.168.160.2 ", with_bit), 1);
	assert_int_equal(ct_lines("dport=53 ", "src=fc00:0:0:160::2 ", with_bit), 1);
	assert_int_equal(ct_lines("dport=54 ", "udp", "mark=5 "), 1);
	assert_int_equal(ct_lines("udp", "udp", "mark="), 3);
}

static void public_addresses_are_read_from_the_interface(void **state)
{
	struct in_addr ip4[WF_GW_PUBLIC_MAX];
	struct in6_addr ip6[WF_GW_PUBLIC_MAX];
	char text[INET6_ADDRSTRLEN];
	size_t n4, n6;

	sh("ip addr add 203.0.113.9/24 dev " PUB "; ip addr add 203.0.113.7/24 dev " PUB
	   "; ip -6 addr add 2001:db8::7/64 dev " PUB " nodad;"
	   "ip -6 addr add fe80::7/64 dev " PUB " nodad");
	assert_int_equal(wf_gw_interface_addresses(PUB, ip4, &n4, ip6, &n6), 0);
	assert_int_equal(n4, 2);
	assert_string_equal(inet_ntop(AF_INET, &ip4[0], text, sizeof(text)), "203.0.113.7");
	assert_int_equal(n6, 1);
	assert_string_equal(inet_ntop(AF_INET6, &ip6[0], text, sizeof(text)), "2001:db8::7");
	assert_int_equal(wf_gw_interface_addresses("wfgw-none", ip4, &n4, ip6, &n6), -ENODEV);
}

int main(void)
{
#define NS_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    NS_TEST(rendered_ruleset_is_what_nft_lists),
	    NS_TEST(nft_prints_the_rules_as_rendered),
	    NS_TEST(applying_the_same_state_again_changes_nothing),
	    NS_TEST(a_new_forward_is_sent_as_elements_only),
	    NS_TEST(a_changed_table_is_repaired),
	    NS_TEST(a_removed_anchor_comes_back),
	    NS_TEST(removing_the_table_keeps_the_anchor),
	    NS_TEST(forwarding_is_switched_on_for_both_families),
	    NS_TEST(public_addresses_are_read_from_the_interface),
	    NS_TEST(translated_flows_get_the_mark_bit_and_keep_the_others),
	    NS_TEST(forwarding_outside_the_tunnel_is_left_alone),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("gateway_ruleset", tests, NULL, NULL);
}
