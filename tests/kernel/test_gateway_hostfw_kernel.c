/* The gateway's accept rules in the host's iptables chains, against the kernel: every test runs
 * in a fresh network namespace whose iptables-nft chains are made by `iptables` itself, and
 * checks what `iptables -S` / `ip6tables -S` read back. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <wgfwd-gateway/apply.h>
#include <wgfwd-gateway/render.h>
#include <wgfwd/hostfw.h>

#include "kernel_test.h"

#define TUN "wfhf-wg"
#define PUB "wfhf-pub"

struct fixture {
	struct wf_nft *nft;
	struct wf_gw_apply_cache cache;
	struct wf_gw_config cfg;
	struct wf_gw_params params;
	struct wf_gw_hostfw_spec spec;
	struct wf_gw_state state;
	struct wf_gw_hostfw hostfw;
};

/* stdout and stderr of cmd; the exit status must be 0. */
static char *run(const char *cmd)
{
	char chunk[4096], *text = NULL, full[512];
	size_t len = 0, got;
	FILE *p;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	p = popen(full, "r");
	assert_non_null(p);
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		text = realloc(text, len + got + 1);
		assert_non_null(text);
		memcpy(text + len, chunk, got);
		len += got;
	}
	if (pclose(p) != 0)
		fail_msg("`%s' failed: %s", cmd, text ? text : "");
	if (!text)
		text = strdup("");
	text[len] = '\0';
	return text;
}

static size_t occurrences(const char *text, const char *line)
{
	size_t n = 0, len = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += len)
		if ((p == text || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
			n++;
	return n;
}

/* Each rule of ours exactly `want` times, in both families, and no warning from iptables. */
static void assert_rules(unsigned want)
{
	static const char *const lines[] = {
	    "-A FORWARD -o " TUN " -m conntrack --ctstate DNAT -j ACCEPT",
	    "-A FORWARD -i " TUN " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	    "-A FORWARD -o " TUN " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
	    "-A FORWARD -i " TUN " -o " PUB " -j ACCEPT",
	    "-A INPUT -i " TUN " -p tcp -m tcp --dport 51821 -j ACCEPT",
	};

	for (int v6 = 0; v6 <= 1; v6++) {
		char *text = run(v6 ? "ip6tables -S" : "iptables -S");

		if (strstr(text, "ncompatible") || strstr(text, "arning"))
			fail_msg("%s -S cannot read the chains:\n%s", v6 ? "ip6tables" : "iptables",
			         text);
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
			if (occurrences(text, lines[i]) != want)
				fail_msg("%s -S: `%s' %zu times, wanted %u:\n%s",
				         v6 ? "ip6tables" : "iptables", lines[i],
				         occurrences(text, lines[i]), want, text);
		free(text);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	/* The rules name interfaces; they need not exist. */
	sh("ip link set lo up");
	strcpy(f->params.tunnel_ifname, TUN);
	strcpy(f->params.public_ifname, PUB);
	f->params.control_port = WF_GW_DEFAULT_CONTROL_PORT;
	f->cfg.max_entries = WF_GW_DEFAULT_MAX_ENTRIES;
	if (wf_gw_state_init(&f->state, 0) || wf_nft_open(&f->nft))
		return -1;
	wf_gw_hostfw_spec_from(&f->params, &f->spec);
	wf_gw_hostfw_render(&f->spec, true, &f->hostfw);
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

static void apply(struct fixture *f, struct wf_gw_apply_result *res)
{
	struct wf_nft_table *t = NULL;
	int err;

	assert_int_equal(wf_gw_render(&f->params, &f->cfg, &f->state, &t), 0);
	err = wf_gw_apply_hostfw(f->nft, &f->cache, t, &f->hostfw, res);
	if (err)
		fail_msg("apply: %s: %s (%s)", strerror(-err), res->error.what, res->error.detail);
	wf_nft_table_free(t);
}

/* ufw's shape: policy drop, its jumps appended to the built-in chains. */
static void host_firewall(void)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		const char *ipt = v6 ? "ip6tables" : "iptables";

		sh("set -e; %s -P INPUT DROP; %s -P FORWARD DROP; %s -N ufw-before-forward;"
		   "%s -A FORWARD -j ufw-before-forward; %s -A INPUT -i lo -j ACCEPT",
		   ipt, ipt, ipt, ipt, ipt);
	}
}

static void rules_are_added_where_iptables_reads_them(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	char *text;

	host_firewall();
	apply(f, &res);
	assert_int_equal(res.hostfw.chains, 4);
	assert_int_equal(res.hostfw.inserted, 10);
	assert_int_equal(res.hostfw.deleted, 0);
	assert_rules(1);
	/* at the top, before the host firewall's own jumps */
	text = run("iptables -S FORWARD");
	assert_non_null(strstr(text, "-P FORWARD DROP\n-A FORWARD -"));
	assert_true(strstr(text, "-j ufw-before-forward") > strstr(text, "--ctstate DNAT"));
	free(text);
}

static void applying_again_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;

	host_firewall();
	apply(f, &res);
	apply(f, &res);
	assert_int_equal(res.hostfw.inserted + res.hostfw.deleted, 0);
	assert_int_equal(res.hostfw.in_place, 10);
	/* and without the cache: the kernel is read and still nothing changes */
	wf_gw_apply_cache_free(&f->cache);
	apply(f, &res);
	assert_int_equal(res.hostfw.inserted + res.hostfw.deleted, 0);
	assert_int_equal(res.hostfw.in_place, 10);
	assert_rules(1);
}

/* A rule the operator wrote with iptables itself is the same rule: found, not doubled. */
static void rules_written_by_iptables_are_found_by_shape(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;

	host_firewall();
	sh("set -e; for t in iptables ip6tables; do"
	   " $t -A FORWARD -o " TUN " -m conntrack --ctstate DNAT -j ACCEPT;"
	   " $t -A FORWARD -i " TUN " -o " PUB " -j ACCEPT;"
	   " $t -A INPUT -i " TUN " -p tcp --dport 51821 -j ACCEPT; done");
	apply(f, &res);
	assert_int_equal(res.hostfw.in_place, 6);
	assert_int_equal(res.hostfw.inserted, 4);
	assert_rules(1);
}

static void duplicates_are_removed(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;

	host_firewall();
	apply(f, &res);
	sh("iptables -I FORWARD -o " TUN " -m conntrack --ctstate DNAT -j ACCEPT");
	sh("iptables -A FORWARD -o " TUN " -m conntrack --ctstate DNAT -j ACCEPT");
	apply(f, &res);
	assert_int_equal(res.hostfw.deleted, 2);
	assert_int_equal(res.hostfw.inserted, 0);
	assert_rules(1);
}

/* What ufw with MANAGE_BUILTINS=yes, or `iptables -F`, does. */
static void flushed_chains_are_repaired(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;

	host_firewall();
	apply(f, &res);
	sh("iptables -F FORWARD; iptables -A FORWARD -j ufw-before-forward; ip6tables -F INPUT;"
	   "iptables -D INPUT -i " TUN " -p tcp --dport 51821 -j ACCEPT");
	apply(f, &res);
	assert_int_equal(res.hostfw.inserted, 4 + 1 + 1);
	assert_rules(1);
}

/* No iptables table: nothing to pass through, and nothing is created. */
static void absent_chains_are_never_created(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	char *text;

	apply(f, &res);
	assert_int_equal(res.hostfw.chains, 0);
	assert_int_equal(res.hostfw.inserted, 0);
	text = run("nft list tables");
	assert_null(strstr(text, "filter"));
	free(text);

	/* A hand-written IPv4 forward policy: iptables-nft makes only the chains it is told
	 * about, so only FORWARD exists and only it gets rules. */
	sh("iptables -P FORWARD DROP");
	wf_gw_apply_cache_free(&f->cache);
	apply(f, &res);
	assert_int_equal(res.hostfw.chains, 1);
	assert_int_equal(res.hostfw.inserted, 4);
	text = run("nft list tables");
	assert_null(strstr(text, "ip6 filter"));
	free(text);
}

static void switched_off_removes_them(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;

	host_firewall();
	apply(f, &res);
	wf_gw_hostfw_spec_from(&f->params, &f->spec);
	wf_gw_hostfw_render(&f->spec, false, &f->hostfw);
	apply(f, &res);
	assert_int_equal(res.hostfw.deleted, 10);
	assert_rules(0);
	/* the host firewall's own rules stay */
	free(run("iptables -C FORWARD -j ufw-before-forward"));
	free(run("ip6tables -C INPUT -i lo -j ACCEPT"));
}

static void cleanup_removes_them(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	struct wf_nft_error err = {0};
	size_t removed = 0;

	host_firewall();
	apply(f, &res);
	assert_int_equal(wf_gw_remove_hostfw(f->nft, &f->hostfw, &removed, &err), 0);
	assert_int_equal(removed, 10);
	assert_rules(0);
	assert_int_equal(wf_gw_remove_hostfw(f->nft, &f->hostfw, &removed, &err), 0);
	assert_int_equal(removed, 0);
	free(run("iptables -C FORWARD -j ufw-before-forward"));
}

static void check_counts_without_writing(void **state)
{
	struct fixture *f = *state;
	struct wf_gw_apply_result res;
	struct wf_gw_hostfw_result r;

	host_firewall();
	assert_int_equal(wf_gw_hostfw_check(f->nft, &f->hostfw, &r), 0);
	assert_int_equal(r.chains, 4);
	assert_int_equal(r.in_place, 0);
	assert_rules(0);
	apply(f, &res);
	assert_int_equal(wf_gw_hostfw_check(f->nft, &f->hostfw, &r), 0);
	assert_int_equal(r.in_place, 10);
}

int main(void)
{
#define NS_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    NS_TEST(rules_are_added_where_iptables_reads_them),
	    NS_TEST(applying_again_changes_nothing),
	    NS_TEST(rules_written_by_iptables_are_found_by_shape),
	    NS_TEST(duplicates_are_removed),
	    NS_TEST(flushed_chains_are_repaired),
	    NS_TEST(absent_chains_are_never_created),
	    NS_TEST(switched_off_removes_them),
	    NS_TEST(cleanup_removes_them),
	    NS_TEST(check_counts_without_writing),
	};

	/* Never the machine's own namespace, whatever a test does. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests_name("gateway_hostfw_kernel", tests, NULL, NULL);
}
