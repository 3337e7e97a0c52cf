#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <wgfwd/nft_diff.h>

static struct wf_nft_set map4(void)
{
	struct wf_nft_set s = {.name = "fwd4",
	                       .key = {WF_NFT_T_INET_PROTO, WF_NFT_T_INET_SERVICE},
	                       .n_key = 2,
	                       .data = {WF_NFT_T_IPV4_ADDR, WF_NFT_T_INET_SERVICE},
	                       .n_data = 2};
	return s;
}

static void put(struct wf_nft_set *s, uint16_t port, const char *addr, uint16_t to)
{
	struct wf_nft_elem e = {0};

	e.key[0] = (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO, .proto = 6};
	e.key[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = port};
	e.data[0] = (struct wf_nft_value){.type = WF_NFT_T_IPV4_ADDR};
	inet_pton(AF_INET, addr, &e.data[0].ip4);
	e.data[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE, .port = to};
	assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
}

static void equal_sets_have_no_difference(void **state)
{
	struct wf_nft_set have = map4(), want = map4(), add, del;

	put(&have, 443, "172.18.0.2", 443);
	put(&have, 80, "172.18.0.2", 80);
	put(&want, 80, "172.18.0.2", 80); /* other order */
	put(&want, 443, "172.18.0.2", 443);
	assert_int_equal(wf_nft_set_diff(&have, &want, &add, &del), 0);
	assert_int_equal(add.n_elems, 0);
	assert_int_equal(del.n_elems, 0);
	wf_nft_set_clear_elems(&have);
	wf_nft_set_clear_elems(&want);
}

static void one_new_forward_is_one_added_element(void **state)
{
	struct wf_nft_set have = map4(), want = map4(), add, del;

	for (uint16_t p = 1000; p < 1100; p++) {
		put(&have, p, "172.18.0.2", p);
		put(&want, p, "172.18.0.2", p);
	}
	put(&want, 25, "172.18.0.9", 25);
	assert_int_equal(wf_nft_set_diff(&have, &want, &add, &del), 0);
	assert_int_equal(add.n_elems, 1);
	assert_int_equal(add.elems[0].key[1].port, 25);
	assert_string_equal(add.name, "fwd4");
	assert_int_equal(del.n_elems, 0);
	wf_nft_set_clear_elems(&add);
	wf_nft_set_clear_elems(&have);
	wf_nft_set_clear_elems(&want);
}

static void retargeted_forward_is_deleted_and_added(void **state)
{
	struct wf_nft_set have = map4(), want = map4(), add, del;
	char buf[INET_ADDRSTRLEN];

	put(&have, 443, "172.18.0.2", 443);
	put(&want, 443, "172.18.0.3", 443);
	assert_int_equal(wf_nft_set_diff(&have, &want, &add, &del), 0);
	assert_int_equal(add.n_elems, 1);
	assert_int_equal(del.n_elems, 1);
	inet_ntop(AF_INET, &del.elems[0].data[0].ip4, buf, sizeof(buf));
	assert_string_equal(buf, "172.18.0.2");
	inet_ntop(AF_INET, &add.elems[0].data[0].ip4, buf, sizeof(buf));
	assert_string_equal(buf, "172.18.0.3");
	wf_nft_set_clear_elems(&add);
	wf_nft_set_clear_elems(&del);
	wf_nft_set_clear_elems(&have);
	wf_nft_set_clear_elems(&want);
}

static void removed_forward_is_one_deleted_element(void **state)
{
	struct wf_nft_set have = map4(), want = map4(), add, del;

	put(&have, 443, "172.18.0.2", 443);
	put(&have, 80, "172.18.0.2", 80);
	put(&want, 443, "172.18.0.2", 443);
	assert_int_equal(wf_nft_set_diff(&have, &want, &add, &del), 0);
	assert_int_equal(add.n_elems, 0);
	assert_int_equal(del.n_elems, 1);
	assert_int_equal(del.elems[0].key[1].port, 80);
	wf_nft_set_clear_elems(&del);
	wf_nft_set_clear_elems(&have);
	wf_nft_set_clear_elems(&want);
}

static void values_compare_by_their_type_only(void **state)
{
	struct wf_nft_value a = {.type = WF_NFT_T_INET_SERVICE}, b;

	memset(&b, 0xff, sizeof(b));
	b.type = WF_NFT_T_INET_SERVICE;
	a.port = 53;
	b.port = 53;
	assert_true(wf_nft_value_equal(&a, &b));
	b.type = WF_NFT_T_INET_PROTO;
	assert_false(wf_nft_value_equal(&a, &b));
}

/* Ports sort numerically whatever the host's byte order: 256 is 0x0100, 255 is 0x00ff. */
static void index_is_in_numeric_key_order(void **state)
{
	struct wf_nft_set s = map4();
	struct wf_nft_elem_index ix;
	uint16_t ports[] = {256, 255, 1, 65535, 8080};
	uint16_t expect[] = {1, 255, 256, 8080, 65535};

	for (size_t i = 0; i < 5; i++)
		put(&s, ports[i], "172.18.0.2", 80);
	assert_int_equal(wf_nft_elem_index_build(&s, &ix), 0);
	assert_int_equal(ix.n, 5);
	for (size_t i = 0; i < 5; i++) {
		const uint8_t *port = ix.recs + i * ix.rec_len + 4; /* after the padded protocol */

		assert_int_equal(port[0] << 8 | port[1], expect[i]);
	}
	wf_nft_elem_index_free(&ix);
	wf_nft_set_clear_elems(&s);
}

/* What an index diff hands back decodes to the elements that went in. */
static void index_diff_returns_the_elements_themselves(void **state)
{
	struct wf_nft_set have = map4(), want = map4(), add, del;
	struct wf_nft_elem_index h, w;

	put(&have, 80, "172.18.0.2", 80);
	put(&have, 25, "172.18.0.3", 2525);
	put(&want, 80, "172.18.0.2", 80);
	put(&want, 587, "172.18.0.3", 587);
	assert_int_equal(wf_nft_elem_index_build(&have, &h), 0);
	assert_int_equal(wf_nft_elem_index_build(&want, &w), 0);
	assert_int_equal(wf_nft_elem_index_diff(&h, &w, &add, &del), 0);
	assert_int_equal(add.n_elems, 1);
	assert_int_equal(del.n_elems, 1);
	assert_true(wf_nft_value_equal(&add.elems[0].key[1], &want.elems[1].key[1]));
	assert_true(wf_nft_value_equal(&add.elems[0].data[0], &want.elems[1].data[0]));
	assert_true(wf_nft_value_equal(&del.elems[0].key[1], &have.elems[1].key[1]));
	assert_true(wf_nft_value_equal(&del.elems[0].data[1], &have.elems[1].data[1]));
	assert_string_equal(add.name, "fwd4");
	wf_nft_set_clear_elems(&add);
	wf_nft_set_clear_elems(&del);
	wf_nft_elem_index_free(&h);
	wf_nft_elem_index_free(&w);
	wf_nft_set_clear_elems(&have);
	wf_nft_set_clear_elems(&want);
}

/* What a commit of element updates did to a set: the index of the set before, with the
 * deleted records out and the added ones in, equals the index of the set after. */
static void index_apply_equals_the_index_of_the_new_set(void **state)
{
	struct wf_nft_set before = map4(), after = map4(), gone = map4(), came = map4();
	struct wf_nft_elem_index ix, want, g, c;

	put(&before, 80, "172.18.0.2", 80);
	put(&before, 443, "172.18.0.2", 443);
	put(&before, 993, "172.18.0.3", 993);
	put(&after, 443, "172.18.0.2", 8443);
	put(&after, 993, "172.18.0.3", 993);
	put(&after, 25, "172.18.0.4", 25);
	put(&after, 65535, "172.18.0.4", 1);
	put(&gone, 80, "172.18.0.2", 80);
	put(&gone, 443, "172.18.0.2", 443);
	put(&came, 443, "172.18.0.2", 8443);
	put(&came, 65535, "172.18.0.4", 1);
	put(&came, 25, "172.18.0.4", 25);
	assert_int_equal(wf_nft_elem_index_build(&before, &ix), 0);
	assert_int_equal(wf_nft_elem_index_build(&after, &want), 0);
	assert_int_equal(wf_nft_elem_index_build(&gone, &g), 0);
	assert_int_equal(wf_nft_elem_index_build(&came, &c), 0);
	assert_int_equal(wf_nft_elem_index_apply(&ix, &g, &c), 0);
	assert_int_equal(ix.n, want.n);
	assert_memory_equal(ix.recs, want.recs, want.n * want.rec_len);
	/* a record to delete that is not there, one to add that is */
	assert_int_equal(wf_nft_elem_index_apply(&ix, &g, &(struct wf_nft_elem_index){0}), -ENOENT);
	assert_int_equal(wf_nft_elem_index_apply(&want, &(struct wf_nft_elem_index){0}, &c),
	                 -EEXIST);
	wf_nft_elem_index_free(&ix);
	wf_nft_elem_index_free(&want);
	wf_nft_elem_index_free(&g);
	wf_nft_elem_index_free(&c);
	wf_nft_set_clear_elems(&before);
	wf_nft_set_clear_elems(&after);
	wf_nft_set_clear_elems(&gone);
	wf_nft_set_clear_elems(&came);
}

/* The same for a change of many records at once (written anew in one pass). */
static void index_apply_of_many_equals_the_index_of_the_new_set(void **state)
{
	struct wf_nft_set before = map4(), after = map4(), gone = map4(), came = map4();
	struct wf_nft_elem_index ix, want, g, c;

	for (uint16_t port = 1000; port < 1200; port++) {
		put(&before, port, "172.18.0.2", port);
		/* every third one goes, every fifth leads elsewhere, and some come */
		if (port % 3 == 0) {
			put(&gone, port, "172.18.0.2", port);
		} else if (port % 5 == 0) {
			put(&gone, port, "172.18.0.2", port);
			put(&came, port, "172.18.0.3", port);
			put(&after, port, "172.18.0.3", port);
		} else {
			put(&after, port, "172.18.0.2", port);
		}
		if (port % 7 == 0) {
			put(&came, (uint16_t)(port + 1000), "172.18.0.4", 1);
			put(&after, (uint16_t)(port + 1000), "172.18.0.4", 1);
		}
	}
	assert_int_equal(wf_nft_elem_index_build(&before, &ix), 0);
	assert_int_equal(wf_nft_elem_index_build(&after, &want), 0);
	assert_int_equal(wf_nft_elem_index_build(&gone, &g), 0);
	assert_int_equal(wf_nft_elem_index_build(&came, &c), 0);
	assert_true(g.n + c.n >= 64);
	assert_int_equal(wf_nft_elem_index_apply(&ix, &g, &c), 0);
	assert_int_equal(ix.n, want.n);
	assert_memory_equal(ix.recs, want.recs, want.n * want.rec_len);
	/* the deleted ones are not there any more, the added ones are */
	assert_int_equal(wf_nft_elem_index_apply(&ix, &g, &(struct wf_nft_elem_index){0}), -ENOENT);
	assert_int_equal(wf_nft_elem_index_apply(&ix, &(struct wf_nft_elem_index){0}, &c), -EEXIST);
	assert_int_equal(ix.n, want.n);
	wf_nft_elem_index_free(&ix);
	wf_nft_elem_index_free(&want);
	wf_nft_elem_index_free(&g);
	wf_nft_elem_index_free(&c);
	wf_nft_set_clear_elems(&before);
	wf_nft_set_clear_elems(&after);
	wf_nft_set_clear_elems(&gone);
	wf_nft_set_clear_elems(&came);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(equal_sets_have_no_difference),
	    cmocka_unit_test(one_new_forward_is_one_added_element),
	    cmocka_unit_test(retargeted_forward_is_deleted_and_added),
	    cmocka_unit_test(removed_forward_is_one_deleted_element),
	    cmocka_unit_test(values_compare_by_their_type_only),
	    cmocka_unit_test(index_is_in_numeric_key_order),
	    cmocka_unit_test(index_diff_returns_the_elements_themselves),
	    cmocka_unit_test(index_apply_equals_the_index_of_the_new_set),
	    cmocka_unit_test(index_apply_of_many_equals_the_index_of_the_new_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
