/* The agent's element-only path against the kernel, in a private network namespace, with the
 * change watcher the agent runs: on a random sequence of forwards coming and going beside a big
 * container, element updates leave the kernel's table exactly as a whole render describes it;
 * another process's commit elsewhere leaves the element path working, a change someone else
 * made to the table (drift) stops it, and the whole path then repairs the table. Needs root, ip
 * and nft. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <linux/netfilter.h>
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
#include <wgfwd/nft_kernel.h>
#include <wgfwd/nft_notify.h>
#include <wgfwd/nlwatch.h>
#include <wgfwd/util.h>

#include "kernel_test.h"

#define BIG 2000 /* forwards of the big container: ports 20000.. */

static struct wf_dataplane *dp;
static struct wf_nft *nft;
static struct event_base *base;
static struct wf_nlwatch *watch;
static struct wf_server_params params;
static unsigned rng = 777;

static unsigned rnd(unsigned n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 16) % n;
}

static void on_kernel_change(void *ctx)
{
}

static int setup(void **state)
{
	if (system("ip link add wg0 type veth peer name wg0p && ip link set wg0 up && "
	           "ip address add 192.168.160.2/24 dev wg0"))
		return -1;
	wf_server_params_default(&params);
	params.has_tunnel_ip4 = true;
	inet_pton(AF_INET, "192.168.160.2", &params.tunnel_ip4);
	params.n_gateway_ip4 = 1;
	inet_pton(AF_INET, "203.0.113.1", &params.gateway_ip4[0]);
	base = event_base_new();
	if (!base || wf_nlwatch_new(&watch, base, on_kernel_change, NULL) || wf_nft_open(&nft))
		return -1;
	/* the tables the agent watches (daemon.c) */
	wf_nlwatch_watch_nft(watch, NFPROTO_INET, WF_SERVER_TABLE);
	wf_nlwatch_watch_nft(watch, NFPROTO_IPV4, WF_DOCKER_USER_TABLE);
	wf_nlwatch_watch_nft(watch, NFPROTO_IPV6, WF_DOCKER_USER_TABLE);
	wf_nlwatch_watch_nft(watch, 0, WF_DOCKER_NFT_TABLE);
	return wf_dataplane_open(&dp) ? -1 : 0;
}

static int teardown(void **state)
{
	wf_dataplane_close(dp);
	wf_nft_close(nft);
	wf_nlwatch_free(watch);
	event_base_free(base);
	return 0;
}

/* The watcher reads what the kernel said meanwhile, as the agent's loop would. */
static void settle(void)
{
	struct timeval tv = {0, 50000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* The state: the big container's forwards and, for each bit of `small' set, one small
 * container's forward (port 18000 + i, its address and port changing with `moved'). Sorted as
 * wf_desired_build sorts. */
static void desired(struct wf_desired *d, uint32_t small, uint32_t moved)
{
	memset(d, 0, sizeof(*d));
	d->forwards = calloc(BIG + 32, sizeof(*d->forwards));
	assert_non_null(d->forwards);
	for (unsigned i = 0; i < 32; i++) {
		struct wf_forward *f = &d->forwards[d->n_forwards];
		bool m = moved >> i & 1;

		if (!(small >> i & 1))
			continue;
		*f = (struct wf_forward){.proto = IPPROTO_TCP,
		                         .public_port = (uint16_t)(18000 + i),
		                         .target_port = m ? 8080 : 80,
		                         .has_ip4 = true,
		                         .has_ip6 = i % 3 == 0};
		f->ip4.s_addr = htonl(0xac120010 + i + (m ? 100 : 0));
		inet_pton(AF_INET6, "fd00::10", &f->ip6);
		f->ip6.s6_addr[15] = (uint8_t)(i + (m ? 100 : 0));
		WF_COPY(f->bridge, "br-web");
		snprintf(f->container_name, sizeof(f->container_name), "small%u", i);
		d->n_forwards++;
	}
	for (unsigned i = 0; i < BIG; i++) {
		struct wf_forward *f = &d->forwards[d->n_forwards++];

		*f = (struct wf_forward){.proto = IPPROTO_TCP,
		                         .public_port = (uint16_t)(20000 + i),
		                         .target_port = (uint16_t)(20000 + i),
		                         .has_ip4 = true};
		f->ip4.s_addr = htonl(0xac120002);
		WF_COPY(f->bridge, "br-big");
		WF_COPY(f->container_name, "big");
	}
}

static void apply_whole(const struct wf_desired *d)
{
	struct wf_server_plan plan;
	struct wf_apply_result res;

	assert_int_equal(wf_server_render(&params, d, &plan), 0);
	assert_int_equal(wf_dataplane_apply(dp, &plan, &res), 0);
	wf_server_plan_free(&plan);
}

static int apply_elements(const struct wf_desired *from, const struct wf_desired *to,
                          struct wf_apply_result *res)
{
	struct wf_desired_diff diff;
	struct wf_server_elem_changes ch;
	int err;

	assert_int_equal(wf_desired_diff(from, to, &diff), 0);
	assert_int_equal(wf_server_render_elements(&params, &diff, &ch), 0);
	err = wf_dataplane_apply_elements(dp, &ch, false, res);
	wf_server_elem_changes_free(&ch);
	wf_desired_diff_free(&diff);
	return err;
}

/* The kernel's table, read back, is the whole render's table of d. */
static void assert_kernel_holds(const struct wf_desired *d)
{
	struct wf_server_plan plan;
	struct wf_nft_table *k = NULL;

	assert_int_equal(wf_server_render(&params, d, &plan), 0);
	assert_int_equal(wf_nft_table_get(nft, NFPROTO_INET, WF_SERVER_TABLE, &k), 0);
	if (!wf_nft_table_equal(k, plan.table))
		fail_msg("the kernel's table differs from the whole render");
	wf_nft_table_free(k);
	wf_server_plan_free(&plan);
}

static void element_updates_leave_the_table_a_whole_apply_would(void **state)
{
	struct wf_desired d, next;
	uint32_t small = 0, moved = 0;
	size_t elements = 0;

	desired(&d, small, moved);
	apply_whole(&d);
	for (int step = 0; step < 60; step++) {
		struct wf_apply_result res;
		unsigned i = rnd(32);

		if (rnd(3))
			small ^= 1u << i; /* started or stopped */
		else
			moved ^= 1u << i; /* recreated elsewhere: another address and port */
		desired(&next, small, moved);
		if (apply_elements(&d, &next, &res))
			fail_msg("step %d (small %08x moved %08x) nft %d", step, small, moved,
			         res.nft);
		assert_true(res.element_path);
		elements += res.elements_added + res.elements_removed;
		if (step % 6 == 0)
			assert_kernel_holds(&next);
		wf_desired_free(&d);
		d = next;
	}
	assert_kernel_holds(&d);
	assert_true(elements >= 60);
	wf_desired_free(&d);
}

/* Someone commits elsewhere: the element path goes on. Someone deletes one of the table's
 * elements: the element path declines (it no longer knows the table), the whole path puts the
 * element back, and the element path works again. */
static void drift_in_the_table_falls_back_to_a_whole_apply(void **state)
{
	struct wf_desired d, next;
	struct wf_apply_result res;

	desired(&d, 2, 0);
	apply_whole(&d);
	settle();
	sh("nft add table ip someone_else");
	settle();
	desired(&next, 2, 2);
	assert_int_equal(apply_elements(&d, &next, &res), 0);
	assert_int_equal(res.elements_added, 1);
	assert_kernel_holds(&next);
	wf_desired_free(&d);
	d = next;

	settle();
	sh("nft delete element inet " WF_SERVER_TABLE " " WF_SERVER_MAP4 " '{ tcp . 20007 }'");
	settle();
	desired(&next, 3, 2);
	assert_int_equal(apply_elements(&d, &next, &res), -ESTALE);
	sh("! nft list map inet " WF_SERVER_TABLE " " WF_SERVER_MAP4 " | grep -q '18000 :'");
	apply_whole(&next);
	assert_kernel_holds(&next);
	wf_desired_free(&d);
	d = next;

	desired(&next, 7, 2);
	assert_int_equal(apply_elements(&d, &next, &res), 0);
	assert_int_equal(res.nft, WF_NFT_ELEMENTS);
	assert_int_equal(res.elements_added, 1);
	assert_kernel_holds(&next);
	wf_desired_free(&d);
	wf_desired_free(&next);
}

/* A change the element path cannot square with what it knows (an element to delete that the
 * table lacks) is refused before anything is sent, and the next apply is a whole one. */
static void elements_the_cache_disagrees_with_are_refused(void **state)
{
	struct wf_desired d, next, wrong;
	struct wf_apply_result res;

	desired(&d, 1, 0);
	apply_whole(&d);
	desired(&wrong, 2, 0); /* not what the kernel holds */
	desired(&next, 0, 0);
	assert_int_equal(apply_elements(&wrong, &next, &res), -ESTALE);
	sh("nft list map inet " WF_SERVER_TABLE " " WF_SERVER_MAP4 " | grep -q '18000 :'");
	/* nothing is known any more: even a right change waits for a whole apply */
	assert_int_equal(apply_elements(&d, &next, &res), -ESTALE);
	apply_whole(&next);
	assert_kernel_holds(&next);
	wf_desired_free(&d);
	wf_desired_free(&next);
	wf_desired_free(&wrong);
}

/* The element path guards its batch on the generation it knows without asking the kernel: a
 * commit nobody has read of (here: no watcher follows any more) makes the kernel refuse the
 * batch, nothing of it goes in, and the whole path then applies the change. Runs last: it
 * leaves nobody following. */
static void a_commit_not_seen_makes_the_kernel_refuse_the_batch(void **state)
{
	struct wf_desired d, next;
	struct wf_apply_result res;

	desired(&d, 1, 0);
	apply_whole(&d);
	settle();
	wf_nft_unfollow(watch);
	sh("nft add table ip someone_unseen");
	desired(&next, 3, 0);
	assert_int_equal(apply_elements(&d, &next, &res), -ESTALE);
	sh("! nft list map inet " WF_SERVER_TABLE " " WF_SERVER_MAP4 " | grep -q '18001 :'");
	apply_whole(&next);
	assert_kernel_holds(&next);
	wf_desired_free(&d);
	d = next;

	/* with nothing committed since, the generation known is right */
	desired(&next, 7, 0);
	assert_int_equal(apply_elements(&d, &next, &res), 0);
	assert_int_equal(res.elements_added, 1);
	assert_kernel_holds(&next);
	wf_desired_free(&d);
	wf_desired_free(&next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(element_updates_leave_the_table_a_whole_apply_would),
	    cmocka_unit_test(drift_in_the_table_falls_back_to_a_whole_apply),
	    cmocka_unit_test(elements_the_cache_disagrees_with_are_refused),
	    cmocka_unit_test(a_commit_not_seen_makes_the_kernel_refuse_the_batch),
	};

	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (kernel tests need root)\n",
		        strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
