/* A table replaced from a sync's sorted index sends the kernel what a replacement that encodes
 * the table's elements itself sends, message for message and byte for byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>
#include <libnftnl/batch.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <wgfwd/nft_kernel.h>
#include "../../agent/core/nft_internal.h"

static uint32_t rnd_state;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static void set_header(struct wf_nft_set *s, const char *name, enum wf_nft_type addr, bool map)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->name, name);
	s->n_key = 2;
	s->key[0] = WF_NFT_T_INET_PROTO;
	s->key[1] = WF_NFT_T_INET_SERVICE;
	if (map) {
		s->n_data = 2;
		s->data[0] = addr;
		s->data[1] = WF_NFT_T_INET_SERVICE;
	}
}

/* n distinct keys (proto . port) in random order, random targets. */
static void fill(struct wf_nft_set *s, size_t n, uint16_t first_port)
{
	size_t *order = malloc(n * sizeof(*order));

	assert_non_null(order);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd() % i, t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		struct wf_nft_elem e;

		memset(&e, 0, sizeof(e));
		e.key[0] = (struct wf_nft_value){.type = WF_NFT_T_INET_PROTO,
		                                 .proto = order[i] & 1 ? 17 : 6};
		e.key[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE,
		                                 .port = (uint16_t)(first_port + order[i] / 2)};
		if (s->n_data) {
			e.data[0].type = s->data[0];
			if (s->data[0] == WF_NFT_T_IPV4_ADDR) {
				e.data[0].ip4.s_addr = htonl(0xac120000u | (rnd() & 0xffff));
			} else {
				for (size_t k = 0; k < 16; k++)
					e.data[0].ip6.s6_addr[k] = (uint8_t)rnd();
			}
			e.data[1] = (struct wf_nft_value){.type = WF_NFT_T_INET_SERVICE,
			                                  .port = (uint16_t)(1 + rnd() % 65535)};
		}
		assert_int_equal(wf_nft_set_add_elem(s, &e), 0);
	}
	free(order);
}

/* Zeroes the padding after each attribute in [p, end), whose contents the batch's buffer
 * leaves as it found them; nested(type) says which attributes hold attributes, at each depth
 * of an element list. */
static void zero_padding(uint8_t *p, uint8_t *end, int depth, bool elems)
{
	while (p + sizeof(struct nlattr) <= end) {
		struct nlattr *a = (struct nlattr *)p;
		uint16_t type = a->nla_type & NLA_TYPE_MASK;
		size_t len = a->nla_len, aligned = NLA_ALIGN(len);
		/* an element list: ELEMENTS > LIST_ELEM > KEY or DATA > DATA_VALUE */
		bool nest =
		    elems &&
		    ((depth == 0 && type == NFTA_SET_ELEM_LIST_ELEMENTS) || depth == 1 ||
		     (depth == 2 && (type == NFTA_SET_ELEM_KEY || type == NFTA_SET_ELEM_DATA)));

		assert_true(len >= sizeof(*a) && p + len <= end);
		if (p + aligned > end)
			aligned = (size_t)(end - p);
		memset(p + len, 0, aligned - len);
		if (nest)
			zero_padding(p + NLA_HDRLEN, p + len, depth + 1, elems);
		p += aligned;
	}
}

/* The batch's bytes with every sequence number and padding zeroed: two batches never share
 * the former, and the latter is whatever the buffer held. */
static uint8_t *batch_bytes(const struct wf_nft_batch *b, size_t *len)
{
	int n = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)n, sizeof(*iov));
	uint8_t *buf;
	size_t total = 0;

	assert_non_null(iov);
	nftnl_batch_iovec(b->nb, iov, (uint32_t)n);
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	buf = malloc(total + 1);
	assert_non_null(buf);
	total = 0;
	for (int i = 0; i < n; i++) {
		memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	free(iov);
	for (size_t off = 0; off + sizeof(struct nlmsghdr) <= total;) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(buf + off);

		assert_true(nlh->nlmsg_len >= sizeof(*nlh));
		nlh->nlmsg_seq = 0;
		if (nlh->nlmsg_len > NLMSG_HDRLEN + sizeof(struct nfgenmsg))
			zero_padding((uint8_t *)nlh + NLMSG_HDRLEN + sizeof(struct nfgenmsg),
			             (uint8_t *)nlh + nlh->nlmsg_len, 0,
			             (nlh->nlmsg_type & 0xff) == NFT_MSG_NEWSETELEM);
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	*len = total;
	return buf;
}

static struct wf_nft_table *random_table(size_t n4, size_t n6, size_t nset)
{
	struct wf_nft_table *t = wf_nft_table_new(NFPROTO_INET, "wgfwd_test");
	struct wf_nft_chain c = {.name = "pre",
	                         .base = true,
	                         .type = "nat",
	                         .hook = NF_INET_PRE_ROUTING,
	                         .priority = -100,
	                         .policy = NF_ACCEPT};
	struct wf_nft_set s;

	assert_non_null(t);
	assert_non_null(wf_nft_table_add_chain(t, &c));
	set_header(&s, "fwd4", WF_NFT_T_IPV4_ADDR, true);
	fill(&s, n4, 1000);
	assert_non_null(wf_nft_table_add_set(t, &s));
	wf_nft_set_clear_elems(&s);
	set_header(&s, "fwd6", WF_NFT_T_IPV6_ADDR, true);
	fill(&s, n6, 2000);
	assert_non_null(wf_nft_table_add_set(t, &s));
	wf_nft_set_clear_elems(&s);
	set_header(&s, "open", WF_NFT_T_NONE, false);
	fill(&s, nset, 3000);
	assert_non_null(wf_nft_table_add_set(t, &s));
	wf_nft_set_clear_elems(&s);
	return t;
}

/* t with each set's elements in index order: what the encoding replacement is given to send
 * the same elements in the same order. */
static struct wf_nft_table *sorted_copy(const struct wf_nft_table *t,
                                        const struct wf_nft_elem_index *ix)
{
	struct wf_nft_table *c = wf_nft_table_new(t->family, t->name);

	assert_non_null(c);
	for (size_t i = 0; i < t->n_chains; i++)
		assert_non_null(wf_nft_table_add_chain(c, &t->chains[i]));
	for (size_t i = 0; i < t->n_sets; i++) {
		struct wf_nft_set s = t->sets[i];

		s.elems = NULL;
		s.n_elems = s.cap_elems = 0;
		for (size_t k = 0; k < ix[i].n; k++) {
			const uint8_t *rec = ix[i].recs + k * ix[i].rec_len;
			struct wf_nft_elem e;

			memset(&e, 0, sizeof(e));
			assert_int_equal(wf_nft_concat_decode(s.key, s.n_key, rec,
			                                      (uint32_t)ix[i].key_len, e.key),
			                 0);
			if (s.n_data)
				assert_int_equal(
				    wf_nft_concat_decode(s.data, s.n_data, rec + ix[i].key_len,
				                         (uint32_t)(ix[i].rec_len - ix[i].key_len),
				                         e.data),
				    0);
			assert_int_equal(wf_nft_set_add_elem(&s, &e), 0);
		}
		assert_non_null(wf_nft_table_add_set(c, &s));
		wf_nft_set_clear_elems(&s);
	}
	return c;
}

static void check_same_batch(size_t n4, size_t n6, size_t nset)
{
	struct wf_nft_table *t = random_table(n4, n6, nset), *sorted, *shape;
	struct wf_nft_elem_index ix[3];
	struct wf_nft_batch *enc = wf_nft_batch_new(), *idx = wf_nft_batch_new();
	uint8_t *a, *b;
	size_t la, lb;

	assert_int_equal(t->n_sets, 3);
	for (size_t i = 0; i < t->n_sets; i++)
		assert_int_equal(wf_nft_elem_index_build(&t->sets[i], &ix[i]), 0);
	sorted = sorted_copy(t, ix);
	/* the indexed replacement ignores the shape's own elements: give it none */
	shape = sorted_copy(t, (struct wf_nft_elem_index[3]){{.n = 0}, {.n = 0}, {.n = 0}});
	assert_int_equal(wf_nft_batch_replace_table(enc, sorted), 0);
	assert_int_equal(wf_nft_batch_replace_table_indexed(idx, shape, ix), 0);
	a = batch_bytes(enc, &la);
	b = batch_bytes(idx, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	assert_int_equal(enc->n_msgs, idx->n_msgs);
	for (size_t i = 0; i < enc->n_msgs; i++)
		assert_string_equal(enc->msgs[i].what, idx->msgs[i].what);
	free(a);
	free(b);
	wf_nft_batch_free(enc);
	wf_nft_batch_free(idx);
	for (size_t i = 0; i < 3; i++)
		wf_nft_elem_index_free(&ix[i]);
	wf_nft_table_free(t);
	wf_nft_table_free(sorted);
	wf_nft_table_free(shape);
}

static void indexed_replacement_sends_what_encoding_sends(void **state)
{
	(void)state;
	rnd_state = 18;
	for (int round = 0; round < 40; round++)
		check_same_batch(rnd() % 300, rnd() % 100, rnd() % 50);
}

/* Several element messages per set: the split falls where the encoding's falls. */
static void indexed_replacement_of_many_elements_splits_alike(void **state)
{
	(void)state;
	rnd_state = 7;
	check_same_batch(20000, 3000, 0);
	check_same_batch(0, 0, 0);
}

static void an_index_with_records_shorter_than_keys_is_refused(void **state)
{
	struct wf_nft_table *t = random_table(3, 0, 0);
	struct wf_nft_elem_index ix[3];
	struct wf_nft_batch *b = wf_nft_batch_new();

	(void)state;
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(wf_nft_elem_index_build(&t->sets[i], &ix[i]), 0);
	ix[0].rec_len = ix[0].key_len - 1;
	assert_int_equal(wf_nft_batch_replace_table_indexed(b, t, ix), -EINVAL);
	for (size_t i = 0; i < 3; i++)
		wf_nft_elem_index_free(&ix[i]);
	wf_nft_batch_free(b);
	wf_nft_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(indexed_replacement_sends_what_encoding_sends),
	    cmocka_unit_test(indexed_replacement_of_many_elements_splits_alike),
	    cmocka_unit_test(an_index_with_records_shorter_than_keys_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
