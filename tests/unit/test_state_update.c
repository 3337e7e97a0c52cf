/* wf_desired_update against wf_desired_build: on random sequences of container starts, stops,
 * removals and label or address changes, the state updated in place (or rebuilt where the
 * update declines) equals the state built from every container, and the update's diff equals
 * the diff of the two built states. */
#include <wgfwd-agent/state.h>

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
    "80",    "8080:80", "1000-1099", "1050-1060/udp",     "443,53/udp", "9000-9003:80-83",
    "70000", "80/tcp",  "2000-2999", "5000-5001/tcp+udp",
};
static const char *const egress_specs[] = {"smtp", "tcp/25",        "udp/123",
                                           "all",  "tcp/6000-6010", "bogus"};

/* A random container in slot i: mostly a bridge with its own address, sometimes one another
 * container has too, none yet, host network or another container's network. */
static void randomize(size_t i)
{
	struct slot *s = &slots[i];
	struct wf_container *c = &s->c;
	unsigned mode = rnd(20);

	memset(c, 0, sizeof(*c));
	memset(&s->net, 0, sizeof(s->net));
	snprintf(s->id, sizeof(s->id), "%064zx", i + 1);
	snprintf(s->name, sizeof(s->name), "c%zu", i);
	c->id = s->id;
	c->name = s->name;
	c->created_ns = (int64_t)rnd(3);
	c->running = rnd(5) != 0;
	c->paused = rnd(8) == 0;
	c->labels = s->labels;
	if (rnd(4))
		s->labels[c->n_labels++] = (struct wf_label){
		    WF_LABEL_PORTS,
		    (char *)port_specs[rnd(sizeof(port_specs) / sizeof(port_specs[0]))]};
	if (rnd(3) == 0)
		s->labels[c->n_labels++] = (struct wf_label){
		    WF_LABEL_EGRESS,
		    (char *)egress_specs[rnd(sizeof(egress_specs) / sizeof(egress_specs[0]))]};
	if (rnd(10) == 0)
		s->labels[c->n_labels++] =
		    (struct wf_label){WF_LABEL_ENABLE, rnd(2) ? "false" : "x"};
	if (rnd(10) == 0)
		s->labels[c->n_labels++] = (struct wf_label){"wgfwd.port", "80"};
	if (mode == 0) {
		c->netmode = WF_NETMODE_HOST;
		return;
	}
	if (mode == 1) {
		c->netmode = WF_NETMODE_CONTAINER;
		snprintf(s->target, sizeof(s->target), "c%u", rnd(SLOTS));
		c->netmode_target = s->target;
		return;
	}
	slot_on_bridge(i, "br-web");
	if (mode == 2)
		return;
	slot_address(i, mode == 3 ? 0 : (uint32_t)i + 1);
}

static void assert_diff_equal(const struct wf_desired_diff *a, const struct wf_desired_diff *b)
{
	assert_int_equal(a->n_forwards_added, b->n_forwards_added);
	assert_int_equal(a->n_forwards_removed, b->n_forwards_removed);
	assert_int_equal(a->n_egress_added, b->n_egress_added);
	assert_int_equal(a->n_egress_removed, b->n_egress_removed);
	for (size_t i = 0; i < a->n_forwards_added; i++)
		assert_memory_equal(&a->forwards_added[i], &b->forwards_added[i],
		                    sizeof(struct wf_forward));
	for (size_t i = 0; i < a->n_forwards_removed; i++)
		assert_memory_equal(&a->forwards_removed[i], &b->forwards_removed[i],
		                    sizeof(struct wf_forward));
	for (size_t i = 0; i < a->n_egress_added; i++)
		assert_memory_equal(&a->egress_added[i], &b->egress_added[i],
		                    sizeof(struct wf_egress));
	for (size_t i = 0; i < a->n_egress_removed; i++)
		assert_memory_equal(&a->egress_removed[i], &b->egress_removed[i],
		                    sizeof(struct wf_egress));
}

/* 5,000 random steps of the slots from seed, each container's change applied as an update
 * (given the container as the state last saw it, with_was, as the agent passes it: its forwards
 * are then found by the ports its labels name, even where a slot's labels change between two
 * steps): the update equals a build from scratch, or declines and the state is built. Counts
 * both. */
static void update_on_random_changes(unsigned seed, bool with_was, size_t *updated,
                                     size_t *declined)
{
	struct wf_container list[SLOTS], *seen[SLOTS] = {0};
	struct wf_desired held = {0};

	memset(slots, 0, sizeof(slots));
	rng = seed;
	*updated = *declined = 0;
	for (int step = 0; step < 5000; step++) {
		size_t i = slot_step(), n;
		struct wf_desired built;
		struct wf_desired_diff want, got;
		int r;

		n = gather(list);
		assert_int_equal(wf_desired_build_with(list, n, resolve, NULL, &built), 0);
		assert_int_equal(wf_desired_diff(&held, &built, &want), 0);
		if (with_was)
			r = wf_desired_update_was_with(&held, list, n, slots[i].id, seen[i],
			                               resolve, NULL, &got);
		else
			r = wf_desired_update_with(&held, list, n, slots[i].id, resolve, NULL,
			                           &got);
		assert_true(r == 0 || r == 1);
		if (r == 1) {
			(*declined)++;
			wf_desired_free(&held);
			assert_int_equal(wf_desired_build_with(list, n, resolve, NULL, &held), 0);
		} else {
			(*updated)++;
			assert_diff_equal(&got, &want);
			wf_desired_diff_free(&got);
		}
		assert_true(wf_desired_equal(&held, &built));
		wf_desired_diff_free(&want);
		wf_desired_free(&built);
		for (size_t k = 0; with_was && k < SLOTS; k++) {
			wf_container_free(seen[k]);
			seen[k] = slots[k].present ? wf_container_dup(&slots[k].c) : NULL;
			assert_true(!slots[k].present || seen[k]);
		}
	}
	for (size_t k = 0; k < SLOTS; k++)
		wf_container_free(seen[k]);
	wf_desired_free(&held);
	print_message("updated %zu, rebuilt %zu\n", *updated, *declined);
}

static void update_equals_build_on_random_changes(void **state)
{
	size_t updated, declined;

	update_on_random_changes(12345, false, &updated, &declined);
	/* Both paths must have been taken, the update most of the time. */
	assert_true(updated > 4 * declined / 10);
	assert_true(declined > 0);
}

static void update_was_equals_build_on_random_changes(void **state)
{
	size_t updated, declined;

	update_on_random_changes(54321, true, &updated, &declined);
	assert_true(updated > 4 * declined / 10);
}

/* A state of one big container: a small one starting beside it is an update, not a rebuild,
 * and the diff names only its forward. */
static void update_of_a_small_container_beside_a_big_one(void **state)
{
	struct wf_container list[2];
	struct wf_desired held, built;
	struct wf_desired_diff diff;

	memset(slots, 0, sizeof(slots));
	rng = 1;
	for (size_t i = 0; i < 2; i++) {
		do
			randomize(i);
		while (slots[i].c.netmode != WF_NETMODE_BRIDGE || !slots[i].net.has_ip4 ||
		       slots[i].net.ip4.s_addr == htonl(0xac120002));
		slots[i].c.running = true;
		slots[i].c.paused = false;
		slots[i].c.n_labels = 1;
	}
	slots[0].labels[0] =
	    (struct wf_label){WF_LABEL_PORTS, "20000-20999,21000-21999,22000-22999,23000-23999,"
	                                      "24000-24999,25000-25999,26000-26999,27000-27999,"
	                                      "28000-28999,29000-29999"};
	slots[1].labels[0] = (struct wf_label){WF_LABEL_PORTS, "18090:80"};
	list[0] = slots[0].c;
	list[1] = slots[1].c;
	assert_int_equal(wf_desired_build(list, 1, &held), 0);
	assert_int_equal(held.n_forwards, 10000);
	assert_int_equal(wf_desired_update(&held, list, 2, slots[1].id, &diff), 0);
	assert_int_equal(diff.n_forwards_added, 1);
	assert_int_equal(diff.n_forwards_removed, 0);
	assert_int_equal(diff.forwards_added[0].public_port, 18090);
	assert_int_equal(diff.forwards_added[0].target_port, 80);
	wf_desired_diff_free(&diff);
	assert_int_equal(wf_desired_build(list, 2, &built), 0);
	assert_true(wf_desired_equal(&held, &built));
	wf_desired_free(&built);
	/* ...and stopping it takes that forward away again, found by its label's port. */
	assert_int_equal(wf_desired_update_was(&held, list, 1, slots[1].id, &slots[1].c, &diff), 0);
	assert_int_equal(diff.n_forwards_added, 0);
	assert_int_equal(diff.n_forwards_removed, 1);
	assert_int_equal(held.n_forwards, 10000);
	wf_desired_diff_free(&diff);
	wf_desired_free(&held);
}

/* A port the other container holds: the update declines and leaves the state alone. */
static void update_declines_a_contested_port(void **state)
{
	struct wf_container list[2];
	struct wf_desired held, before;
	struct wf_desired_diff diff;

	memset(slots, 0, sizeof(slots));
	for (size_t i = 0; i < 2; i++) {
		randomize(i);
		slots[i].c.netmode = WF_NETMODE_BRIDGE;
		slots[i].c.networks = &slots[i].net;
		slots[i].c.n_networks = 1;
		slots[i].net.has_ip4 = true;
		slots[i].net.ip4.s_addr = htonl(0xac120010 + (uint32_t)i);
		slots[i].c.running = true;
		slots[i].c.n_labels = 1;
		slots[i].labels[0] = (struct wf_label){WF_LABEL_PORTS, "80"};
	}
	list[0] = slots[0].c;
	list[1] = slots[1].c;
	assert_int_equal(wf_desired_build(list, 1, &held), 0);
	assert_int_equal(wf_desired_build(list, 1, &before), 0);
	assert_int_equal(wf_desired_update(&held, list, 2, slots[1].id, &diff), 1);
	assert_true(wf_desired_equal(&held, &before));
	wf_desired_free(&before);
	wf_desired_free(&held);
}

/* Two containers with one address (a network namespace shared outside Docker's view, or an
 * address reused) and the same egress: kept once, so the update declines. */
static void update_declines_egress_kept_once_for_two(void **state)
{
	struct wf_container list[2];
	struct wf_desired held, built;
	struct wf_desired_diff diff;
	int r;

	memset(slots, 0, sizeof(slots));
	for (size_t i = 0; i < 2; i++) {
		randomize(i);
		slots[i].c.netmode = WF_NETMODE_BRIDGE;
		slots[i].c.networks = &slots[i].net;
		slots[i].c.n_networks = 1;
		slots[i].net =
		    (struct wf_network){.name = "web", .bridge = "br-web", .has_ip4 = true};
		slots[i].net.ip4.s_addr = htonl(0xac120010);
		slots[i].c.running = true;
		slots[i].c.paused = false;
		slots[i].c.created_ns = (int64_t)i;
		slots[i].c.n_labels = 1;
		slots[i].labels[0] = (struct wf_label){WF_LABEL_EGRESS, "tcp/25"};
		list[i] = slots[i].c;
	}
	assert_int_equal(wf_desired_build(list, 1, &held), 0);
	r = wf_desired_update(&held, list, 2, slots[1].id, &diff);
	assert_int_equal(r, 1);
	assert_int_equal(wf_desired_build(list, 2, &built), 0);
	assert_int_equal(built.n_egress, 1);
	wf_desired_free(&built);
	wf_desired_free(&held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(update_equals_build_on_random_changes),
	    cmocka_unit_test(update_was_equals_build_on_random_changes),
	    cmocka_unit_test(update_of_a_small_container_beside_a_big_one),
	    cmocka_unit_test(update_declines_a_contested_port),
	    cmocka_unit_test(update_declines_egress_kept_once_for_two),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
