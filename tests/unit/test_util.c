#include <wgfwd/util.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct point {
	int x, y;
};

static void growing_one_at_a_time_keeps_every_element(void **state)
{
	struct point *v = NULL;
	size_t n = 0, cap = 0, reallocs = 0, last_cap = 0;

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(WF_ARRAY_RESERVE(v, n, cap, 1), 0);
		assert_true(cap > n);
		if (cap != last_cap)
			reallocs++;
		last_cap = cap;
		v[n++] = (struct point){i, -i};
	}
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(v[i].x, i);
		assert_int_equal(v[i].y, -i);
	}
	/* doubling: a handful of reallocations, not one per element */
	assert_true(reallocs <= 8);
	free(v);
}

static void new_room_is_zeroed(void **state)
{
	struct point *v = NULL;
	size_t n = 0, cap = 0;

	assert_int_equal(WF_ARRAY_RESERVE(v, n, cap, 3), 0);
	assert_true(cap >= 3);
	for (size_t i = 0; i < cap; i++) {
		assert_int_equal(v[i].x, 0);
		assert_int_equal(v[i].y, 0);
	}
	v[0].x = 7;
	n = 1;
	assert_int_equal(WF_ARRAY_RESERVE(v, n, cap, 100), 0);
	assert_true(cap >= 101);
	assert_int_equal(v[0].x, 7);
	for (size_t i = 1; i < cap; i++)
		assert_int_equal(v[i].x, 0);
	free(v);
}

/* A start-up's reservation of megabytes (huge pages, aligned) is zeroed as a small one is, and
 * keeps what it holds as it grows and is freed as any other. */
static void a_large_reservation_is_zeroed_aligned_and_grows(void **state)
{
	struct rec {
		char bytes[384];
	} *a = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	assert_int_equal(WF_ARRAY_RESERVE(a, n, cap, 10000), 0);
	assert_int_equal(cap, 10000);
	assert_int_equal((uintptr_t)a % (2u << 20), 0);
	for (size_t i = 0; i < cap; i++)
		for (size_t k = 0; k < sizeof(a[i].bytes); k++)
			if (a[i].bytes[k])
				fail_msg("byte %zu of record %zu is not zero", k, i);
	for (; n < cap; n++)
		memset(a[n].bytes, (int)(n % 251) + 1, sizeof(a[n].bytes));
	assert_int_equal(WF_ARRAY_RESERVE(a, n, cap, 1), 0);
	assert_int_equal(cap, 20000);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(a[i].bytes[383], (char)(i % 251 + 1));
	for (size_t i = n; i < cap; i++)
		assert_int_equal(a[i].bytes[0] | a[i].bytes[383], 0);
	free(a);
}

static void reserving_nothing_on_an_empty_array_succeeds(void **state)
{
	struct point *v = NULL;
	size_t cap = 0;

	assert_int_equal(WF_ARRAY_RESERVE(v, 0, cap, 0), 0);
	free(v);
}

static void an_impossible_size_fails_and_leaves_the_array(void **state)
{
	struct point *v = NULL;
	size_t n = 0, cap = 0;

	assert_int_equal(WF_ARRAY_RESERVE(v, n, cap, 2), 0);
	v[0].x = 5;
	n = 1;
	assert_int_equal(WF_ARRAY_RESERVE(v, n, cap, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(v[0].x, 5);
	assert_int_equal(WF_ARRAY_RESERVE(v, cap + 1, cap, 1), -ENOMEM);
	free(v);
}

static void copies_are_cut_and_terminated(void **state)
{
	char buf[4];

	WF_COPY(buf, "abcdef");
	assert_string_equal(buf, "abc");
	WF_COPY(buf, "x");
	assert_string_equal(buf, "x");
}

static int int_cmp(const void *element, const void *key)
{
	int a = *(const int *)element, b = *(const int *)key;

	return (a > b) - (a < b);
}

/* Against a scan, on every sorted array of up to 12 values from 0-4 and every key around them:
 * duplicates, the ends and the empty array included. */
static void bounds_are_where_a_scan_finds_them(void **state)
{
	int a[12];

	(void)state;
	for (unsigned seed = 1; seed < 3000; seed++) {
		size_t n = seed % 13;

		srand(seed);
		a[0] = rand() % 3;
		for (size_t i = 1; i < n; i++)
			a[i] = a[i - 1] + rand() % 2;
		for (int key = -1; key <= 14; key++) {
			size_t lower = 0, upper = 0;

			while (lower < n && a[lower] < key)
				lower++;
			while (upper < n && a[upper] <= key)
				upper++;
			assert_int_equal(wf_lower_bound(a, n, sizeof(*a), &key, int_cmp), lower);
			assert_int_equal(wf_upper_bound(a, n, sizeof(*a), &key, int_cmp), upper);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(growing_one_at_a_time_keeps_every_element),
	    cmocka_unit_test(new_room_is_zeroed),
	    cmocka_unit_test(a_large_reservation_is_zeroed_aligned_and_grows),
	    cmocka_unit_test(reserving_nothing_on_an_empty_array_succeeds),
	    cmocka_unit_test(an_impossible_size_fails_and_leaves_the_array),
	    cmocka_unit_test(copies_are_cut_and_terminated),
	    cmocka_unit_test(bounds_are_where_a_scan_finds_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
