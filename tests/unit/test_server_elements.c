/* The element-only path against the whole-table path: on random sequences of container starts,
 * stops, removals and label or address changes, the forward maps of the state before with the
 * changes wf_server_render_elements makes from the desired-state diff applied (as
 * wf_nft_batch_sync_elements applies them to its cached index) equal the maps of a whole render
 * of the state after, and the kernel is sent no more than the whole-table comparison would send
 * (an element deleted and added again where only the container's name or gateways changed). */
#include <wgfwd-agent/render.h>
#include <wgfwd-agent/state.h>
#include <wgfwd/nft_diff.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "container_slots.h"

static const char *const port_specs[] = {
    "80", "8080:80", "1000-1019", "1010-1012/udp", "443,53/udp", "9000-9003:80-83", "80/tcp",
};
static const char *const gateway_specs[] = {"vps1", "vps2", "vps1,vps2"};

/* A random container in slot i: mostly a bridge with an address of its own, sometimes one
 * another container has too, none yet, IPv6 too, or the host's network. */
static void randomize(size_t i)
{
	struct slot *s = &slots[i];
	struct wf_container *c = &s->c;
	unsigned mode = rnd(12);

	memset(c, 0, sizeof(*c));
	memset(&s->net, 0, sizeof(s->net));
	snprintf(s->id, sizeof(s->id), "%064zx", i + 1);
	snprintf(s->name, sizeof(s->name), "c%zu-%u", i, rnd(2));
	c->id = s->id;
	c->name = s->name;
	c->created_ns = (int64_t)rnd(3);
	c->running = rnd(5) != 0;
	c->labels = s->labels;
	s->labels[c->n_labels++] = (struct wf_label){
	    WF_LABEL_PORTS, (char *)port_specs[rnd(sizeof(port_specs) / sizeof(port_specs[0]))]};
	if (rnd(4) == 0)
		s->labels[c->n_labels++] = (struct wf_label){
		    WF_LABEL_GATEWAYS,
		    (char *)gateway_specs[rnd(sizeof(gateway_specs) / sizeof(gateway_specs[0]))]};
	if (mode == 0) {
		c->netmode = WF_NETMODE_HOST;
		return;
	}
	slot_on_bridge(i, rnd(2) ? "br-web" : "br-web2");
	if (mode == 1)
		return;
	slot_address(i, mode == 2 ? 0 : (uint32_t)i + rnd(2));
}

static void params(struct wf_server_params *p)
{
	wf_server_params_default(p);
	p->has_tunnel_ip4 = p->has_tunnel_ip6 = true;
	inet_pton(AF_INET, "192.168.160.2", &p->tunnel_ip4);
	inet_pton(AF_INET6, "fc00:0:0:160::2", &p->tunnel_ip6);
	p->n_gateway_ip4 = 1;
	inet_pton(AF_INET, "203.0.113.1", &p->gateway_ip4[0]);
}

/* The whole render's maps, indexed. */
static void render_maps(const struct wf_server_params *p, const struct wf_desired *d,
                        struct wf_nft_elem_index ix[2])
{
	static const char *const names[2] = {WF_SERVER_MAP4, WF_SERVER_MAP6};
	struct wf_server_plan plan;

	assert_int_equal(wf_server_render(p, d, &plan), 0);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(
		    wf_nft_elem_index_build(wf_nft_table_find_set(plan.table, names[i]), &ix[i]),
		    0);
	wf_server_plan_free(&plan);
}

static void assert_index_equal(const struct wf_nft_elem_index *a, const struct wf_nft_elem_index *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->rec_len, b->rec_len);
	if (a->n)
		assert_memory_equal(a->recs, b->recs, a->n * a->rec_len);
}

static void element_path_equals_whole_table_path_on_random_changes(void **state)
{
	struct wf_container list[SLOTS];
	struct wf_desired held = {0};
	struct wf_server_params p;
	struct wf_nft_elem_index cached[2];
	size_t updates = 0, empty = 0, churn = 0;

	rng = 4242;
	params(&p);
	render_maps(&p, &held, cached);
	for (int step = 0; step < 3000; step++) {
		size_t i = slot_step(), n;
		struct wf_desired_diff diff;
		struct wf_server_elem_changes ch;
		struct wf_nft_elem_index whole[2];
		int r;

		n = gather(list);
		/* as the agent brings its state up to date: in place, or built whole and diffed */
		r = wf_desired_update_with(&held, list, n, slots[i].id, resolve, NULL, &diff);
		assert_true(r == 0 || r == 1);
		if (r == 1) {
			struct wf_desired built;

			assert_int_equal(wf_desired_build_with(list, n, resolve, NULL, &built), 0);
			assert_int_equal(wf_desired_diff(&held, &built, &diff), 0);
			wf_desired_free(&held);
			held = built;
		}
		assert_int_equal(wf_server_render_elements(&p, &diff, &ch), 0);
		render_maps(&p, &held, whole);
		for (size_t k = 0; k < 2; k++) {
			struct wf_nft_elem_index del, add;
			struct wf_nft_set wadd, wdel;

			assert_int_equal(wf_nft_elem_index_build(&ch.del[k], &del), 0);
			assert_int_equal(wf_nft_elem_index_build(&ch.add[k], &add), 0);
			assert_int_equal(
			    wf_nft_elem_index_diff(&cached[k], &whole[k], &wadd, &wdel), 0);
			/* the same updates, give or take an element deleted and added again */
			assert_true(del.n >= wdel.n_elems && add.n >= wadd.n_elems);
			assert_int_equal(del.n - wdel.n_elems, add.n - wadd.n_elems);
			churn += del.n - wdel.n_elems;
			empty += !del.n && !add.n;
			assert_int_equal(wf_nft_elem_index_apply(&cached[k], &del, &add), 0);
			assert_index_equal(&cached[k], &whole[k]);
			wf_nft_elem_index_free(&del);
			wf_nft_elem_index_free(&add);
			wf_nft_set_clear_elems(&wadd);
			wf_nft_set_clear_elems(&wdel);
			wf_nft_elem_index_free(&whole[k]);
		}
		updates += !wf_desired_diff_empty(&diff);
		wf_server_elem_changes_free(&ch);
		wf_desired_diff_free(&diff);
	}
	print_message("%zu changes, %zu map updates empty, %zu elements deleted and added again\n",
	              updates, empty, churn);
	assert_true(updates > 1000);
	for (size_t k = 0; k < 2; k++)
		wf_nft_elem_index_free(&cached[k]);
	wf_desired_free(&held);
}

/* One container of 10,000 forwards and a small one beside it: starting the small one is one
 * element to add, stopping it one to delete, whatever the size of the rest. */
static void one_small_container_is_one_element(void **state)
{
	struct wf_server_params p;
	struct wf_forward f = {
	    .proto = 6, .public_port = 18090, .target_port = 80, .has_ip4 = true};
	struct wf_desired_diff diff = {.forwards_added = &f, .n_forwards_added = 1};
	struct wf_server_elem_changes ch;
	struct wf_nft_value addr = {.type = WF_NFT_T_IPV4_ADDR};

	params(&p);
	inet_pton(AF_INET, "172.18.0.9", &f.ip4);
	addr.ip4 = f.ip4;
	assert_int_equal(wf_server_render_elements(&p, &diff, &ch), 0);
	assert_string_equal(ch.add[0].name, WF_SERVER_MAP4);
	assert_string_equal(ch.add[1].name, WF_SERVER_MAP6);
	assert_int_equal(ch.add[0].n_elems, 1);
	assert_int_equal(ch.add[1].n_elems + ch.del[0].n_elems + ch.del[1].n_elems, 0);
	assert_int_equal(ch.add[0].elems[0].key[1].port, 18090);
	assert_true(wf_nft_value_equal(&ch.add[0].elems[0].data[0], &addr));
	assert_int_equal(ch.add[0].elems[0].data[1].port, 80);
	wf_server_elem_changes_free(&ch);

	/* stopped: the same element, deleted; to the host: the tunnel address, both families */
	diff = (struct wf_desired_diff){.forwards_removed = &f, .n_forwards_removed = 1};
	assert_int_equal(wf_server_render_elements(&p, &diff, &ch), 0);
	assert_int_equal(ch.del[0].n_elems, 1);
	assert_int_equal(ch.add[0].n_elems + ch.add[1].n_elems + ch.del[1].n_elems, 0);
	wf_server_elem_changes_free(&ch);
	f.to_host = true;
	f.has_ip4 = false;
	diff = (struct wf_desired_diff){.forwards_added = &f, .n_forwards_added = 1};
	assert_int_equal(wf_server_render_elements(&p, &diff, &ch), 0);
	assert_int_equal(ch.add[0].n_elems, 1);
	assert_int_equal(ch.add[1].n_elems, 1);
	assert_true(ch.add[0].elems[0].data[0].ip4.s_addr == p.tunnel_ip4.s_addr);
	wf_server_elem_changes_free(&ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(element_path_equals_whole_table_path_on_random_changes),
	    cmocka_unit_test(one_small_container_is_one_element),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
