/* A peer's change of forwards cut into slices: together they are the change, each within its
 * bound, a moved key never split, and what the peer holds between two slices is what the kernel
 * holds after applying them one by one. */
#include <wgfwd-gateway/entries.h>
#include <wgfwd-gateway/slices.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

static struct wf_ctl_forward fwd(int family, uint8_t proto, uint16_t port, uint16_t target)
{
	return (struct wf_ctl_forward){
	    .proto = proto, .family = (uint8_t)family, .public_port = port, .target_port = target};
}

static void entries_of(struct wf_gw_entries *e, const struct wf_ctl_forward *f, size_t n)
{
	assert_int_equal(wf_gw_entries_alloc(e, n, 0), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(wf_gw_entries_add_forward(e, &f[i]), 0);
}

static void a_change_within_the_bound_is_one_slice(void **state)
{
	struct wf_ctl_forward g[] = {fwd(AF_INET, IPPROTO_TCP, 80, 80)};
	struct wf_ctl_forward c[] = {fwd(AF_INET, IPPROTO_TCP, 443, 443),
	                             fwd(AF_INET6, IPPROTO_TCP, 443, 443)};
	struct wf_gw_entries gone, came;
	size_t gi = 0, ci = 0;

	(void)state;
	entries_of(&gone, g, 1);
	entries_of(&came, c, 2);
	assert_ptr_equal(wf_gw_slice_key(&gone, &came, 0, 0), &gone.forwards[0]);
	wf_gw_slice_next(&gone, &came, 3, &gi, &ci);
	assert_int_equal(gi, 1);
	assert_int_equal(ci, 2);
	assert_null(wf_gw_slice_key(&gone, &came, gi, ci));
	/* nothing left: the next slice is empty */
	wf_gw_slice_next(&gone, &came, 3, &gi, &ci);
	assert_int_equal(gi, 1);
	assert_int_equal(ci, 2);
	wf_gw_entries_free(&gone);
	wf_gw_entries_free(&came);
}

static void a_moved_key_goes_whole_into_one_slice(void **state)
{
	/* tcp/30 moves from 30 to 31: its deletion and addition are one slice's */
	struct wf_ctl_forward g[] = {fwd(AF_INET, IPPROTO_TCP, 10, 10),
	                             fwd(AF_INET, IPPROTO_TCP, 20, 20),
	                             fwd(AF_INET, IPPROTO_TCP, 30, 30)};
	struct wf_ctl_forward c[] = {fwd(AF_INET, IPPROTO_TCP, 30, 31),
	                             fwd(AF_INET, IPPROTO_TCP, 40, 40)};
	struct wf_gw_entries gone, came;
	size_t gi = 0, ci = 0;

	(void)state;
	entries_of(&gone, g, 3);
	entries_of(&came, c, 2);
	wf_gw_slice_next(&gone, &came, 3, &gi, &ci);
	assert_int_equal(gi, 2); /* tcp/10 and tcp/20: the move would make four */
	assert_int_equal(ci, 0);
	assert_int_equal(wf_gw_slice_key(&gone, &came, gi, ci)->public_port, 30);
	wf_gw_slice_next(&gone, &came, 3, &gi, &ci);
	assert_int_equal(gi, 3);
	assert_int_equal(ci, 2);
	/* a bound below a move still moves it, whole */
	gi = ci = 0;
	wf_gw_slice_next(&gone, &came, 1, &gi, &ci);
	assert_int_equal(gi, 1);
	wf_gw_slice_next(&gone, &came, 1, &gi, &ci);
	assert_int_equal(gi, 2);
	wf_gw_slice_next(&gone, &came, 1, &gi, &ci);
	assert_int_equal(gi, 3);
	assert_int_equal(ci, 1);
	wf_gw_entries_free(&gone);
	wf_gw_entries_free(&came);
}

static void between_slices_the_peer_holds_the_old_and_is_promised_the_new(void **state)
{
	struct wf_ctl_forward h[] = {fwd(AF_INET, IPPROTO_TCP, 10, 10),
	                             fwd(AF_INET, IPPROTO_TCP, 30, 30)};
	struct wf_ctl_forward n[] = {fwd(AF_INET, IPPROTO_TCP, 20, 20),
	                             fwd(AF_INET, IPPROTO_TCP, 30, 31),
	                             fwd(AF_INET, IPPROTO_TCP, 40, 40)};
	struct wf_ctl_forward from = fwd(AF_INET, IPPROTO_TCP, 30, 0);
	struct wf_gw_entries held, next, now, promised;

	(void)state;
	entries_of(&held, h, 2);
	entries_of(&next, n, 3);
	/* tcp/10 went and tcp/20 came; tcp/30 (moving) and tcp/40 (new) are still to go */
	assert_int_equal(wf_gw_slice_holds(&held, &next, &from, false, &now), 0);
	assert_int_equal(now.n_forwards, 2);
	assert_int_equal(now.forwards[0].public_port, 20);
	assert_int_equal(now.forwards[1].public_port, 30);
	assert_int_equal(now.forwards[1].target_port, 30);
	assert_int_equal(wf_gw_slice_holds(&held, &next, &from, true, &promised), 0);
	assert_int_equal(promised.n_forwards, 3);
	assert_int_equal(promised.forwards[1].target_port, 30);
	assert_int_equal(promised.forwards[2].public_port, 40);
	wf_gw_entries_free(&now);
	wf_gw_entries_free(&promised);
	/* all in: next; none in: held, and promised what next adds */
	assert_int_equal(wf_gw_slice_holds(&held, &next, NULL, false, &now), 0);
	assert_true(wf_gw_entries_equal(&now, &next));
	wf_gw_entries_free(&now);
	assert_int_equal(wf_gw_slice_holds(&held, &next, &h[0], false, &now), 0);
	assert_true(wf_gw_entries_equal(&now, &held));
	wf_gw_entries_free(&now);
	wf_gw_entries_free(&held);
	wf_gw_entries_free(&next);
}

/* ---- random changes ---- */

static uint32_t rng = 2463534242u;

static uint32_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Entries over a small key space so that changes keep, move, add and remove keys. */
static void random_entries(struct wf_gw_entries *e, unsigned keys)
{
	assert_int_equal(wf_gw_entries_alloc(e, 0, 0), 0);
	for (unsigned k = 0; k < keys; k++) {
		struct wf_ctl_forward f;

		if (next_random() % 3 == 0)
			continue;
		/* in the states' order: family, protocol, port */
		f = fwd(k < keys / 2 ? AF_INET : AF_INET6, k % 4 < 2 ? IPPROTO_TCP : IPPROTO_UDP,
		        (uint16_t)(1000 + k), (uint16_t)(1 + next_random() % 3));
		assert_int_equal(wf_gw_entries_add_forward(e, &f), 0);
	}
	qsort(e->forwards, e->n_forwards, sizeof(*e->forwards), wf_gw_forward_cmp);
}

/* The kernel's map of one peer, by key: the target port, 0 when absent. */
struct kernel_map {
	uint16_t target[2][2][2048];
};

static uint16_t *slot(struct kernel_map *m, const struct wf_ctl_forward *f)
{
	return &m->target[f->family == AF_INET6][f->proto == IPPROTO_UDP][f->public_port - 1000];
}

static void assert_map_holds(struct kernel_map *m, const struct wf_gw_entries *e)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n_forwards; i++) {
		assert_int_equal(*slot(m, &e->forwards[i]), e->forwards[i].target_port);
		if (i)
			assert_true(wf_gw_forward_cmp(&e->forwards[i - 1], &e->forwards[i]) < 0);
	}
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 2; b++)
			for (int k = 0; k < 2048; k++)
				n += m->target[a][b][k] != 0;
	assert_int_equal(n, e->n_forwards);
}

static size_t common_keys(const struct wf_gw_entries *a, const struct wf_gw_entries *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n_forwards; i++)
		n += wf_gw_entries_find_forward(a, &b->forwards[i]) != NULL;
	return n;
}

static void random_changes_slice_into_the_change_within_bounds(void **state)
{
	struct kernel_map *m = calloc(1, sizeof(*m));

	(void)state;
	assert_non_null(m);
	for (int round = 0; round < 300; round++) {
		unsigned keys = 1 + next_random() % 2000;
		size_t max = 1 + next_random() % (round % 3 ? 16 : 600);
		struct wf_gw_entries held, next, gone, came, now, promised;
		size_t gi = 0, ci = 0, slices = 0;

		random_entries(&held, keys);
		random_entries(&next, keys);
		assert_int_equal(wf_gw_entries_forward_diff(&held, &next, &gone, &came), 0);
		memset(m, 0, sizeof(*m));
		for (size_t i = 0; i < held.n_forwards; i++)
			*slot(m, &held.forwards[i]) = held.forwards[i].target_port;
		while (wf_gw_slice_key(&gone, &came, gi, ci)) {
			size_t g0 = gi, c0 = ci, changes;
			const struct wf_ctl_forward *key;

			wf_gw_slice_next(&gone, &came, max, &gi, &ci);
			changes = (gi - g0) + (ci - c0);
			/* each slice moves, within its bound (a lone move may take two) */
			assert_true(changes > 0);
			assert_true(changes <= max ||
			            (changes == 2 && gi - g0 == 1 && ci - c0 == 1));
			/* a key of this slice is in no later one: moves are never split */
			key = wf_gw_slice_key(&gone, &came, gi, ci);
			if (key && gi > g0)
				assert_true(wf_gw_forward_cmp(&gone.forwards[gi - 1], key) < 0);
			if (key && ci > c0)
				assert_true(wf_gw_forward_cmp(&came.forwards[ci - 1], key) < 0);
			/* the kernel: deletions of keys it holds as they are, then additions of
			 * keys it lacks, as one transaction would refuse otherwise */
			for (size_t i = g0; i < gi; i++) {
				assert_int_equal(*slot(m, &gone.forwards[i]),
				                 gone.forwards[i].target_port);
				*slot(m, &gone.forwards[i]) = 0;
			}
			for (size_t i = c0; i < ci; i++) {
				assert_int_equal(*slot(m, &came.forwards[i]), 0);
				*slot(m, &came.forwards[i]) = came.forwards[i].target_port;
			}
			/* what the daemon holds of the peer is what the kernel holds */
			assert_int_equal(wf_gw_slice_holds(&held, &next, key, false, &now), 0);
			assert_map_holds(m, &now);
			/* and what it is promised: every key of next, and those of held still in */
			assert_int_equal(wf_gw_slice_holds(&held, &next, key, true, &promised), 0);
			for (size_t i = 0; i < next.n_forwards; i++)
				assert_non_null(
				    wf_gw_entries_find_forward(&promised, &next.forwards[i]));
			for (size_t i = 0; i < now.n_forwards; i++)
				assert_non_null(
				    wf_gw_entries_find_forward(&promised, &now.forwards[i]));
			assert_int_equal(promised.n_forwards, now.n_forwards + next.n_forwards -
			                                          common_keys(&now, &next));
			wf_gw_entries_free(&now);
			wf_gw_entries_free(&promised);
			slices++;
		}
		/* the union of the slices is the change: all of it, nothing else */
		assert_int_equal(gi, gone.n_forwards);
		assert_int_equal(ci, came.n_forwards);
		assert_map_holds(m, &next);
		/* as few as the bound allows: a slice stops short only of a key that does not fit
		 */
		assert_true(slices <=
		            1 + (gone.n_forwards + came.n_forwards) / (max > 1 ? max - 1 : 1));
		wf_gw_entries_free(&held);
		wf_gw_entries_free(&next);
		wf_gw_entries_free(&gone);
		wf_gw_entries_free(&came);
	}
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_change_within_the_bound_is_one_slice),
	    cmocka_unit_test(a_moved_key_goes_whole_into_one_slice),
	    cmocka_unit_test(between_slices_the_peer_holds_the_old_and_is_promised_the_new),
	    cmocka_unit_test(random_changes_slice_into_the_change_within_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
