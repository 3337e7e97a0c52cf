/* The byte encoding of nftables datatypes: how set keys and map data, single or concatenated,
 * are laid out in kernel registers and set elements, and the type ids that describe them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_internal.h"

static const struct {
	uint32_t id;
	uint8_t len;
} type_table[] = {
    [WF_NFT_T_NONE] = {0, 0},           [WF_NFT_T_IPV4_ADDR] = {7, 4},
    [WF_NFT_T_IPV6_ADDR] = {8, 16},     [WF_NFT_T_INET_PROTO] = {12, 1},
    [WF_NFT_T_INET_SERVICE] = {13, 2},  [WF_NFT_T_MARK] = {19, 4},
    [WF_NFT_T_IFNAME] = {41, IFNAMSIZ},
};

#define N_TYPES (sizeof(type_table) / sizeof(type_table[0]))

static bool type_valid(enum wf_nft_type t)
{
	return t > WF_NFT_T_NONE && (size_t)t < N_TYPES;
}

size_t wf_nft_type_len(enum wf_nft_type t)
{
	return type_valid(t) ? type_table[t].len : 0;
}

static uint32_t round4(uint32_t n)
{
	return (n + 3) & ~3u;
}

/* A single type is stored at its own length; in a concatenation each field is padded. */
static uint32_t field_len(enum wf_nft_type t, size_t n)
{
	return n > 1 ? round4(type_table[t].len) : type_table[t].len;
}

int wf_nft_concat_encode_type(const enum wf_nft_type *types, size_t n, uint32_t *id, uint32_t *len)
{
	*id = 0;
	*len = 0;
	if (n == 0 || n > WF_NFT_CONCAT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!type_valid(types[i]))
			return -EINVAL;
		*id = (*id << WF_NFT_TYPE_BITS) | type_table[types[i]].id;
		*len += field_len(types[i], n);
	}
	return 0;
}

int wf_nft_concat_decode_type(uint32_t id, uint32_t len, enum wf_nft_type *types, size_t *n)
{
	enum wf_nft_type rev[WF_NFT_CONCAT_MAX];
	size_t count = 0;
	uint32_t total = 0;

	do {
		uint32_t sub = id & ((1u << WF_NFT_TYPE_BITS) - 1);
		size_t t;

		for (t = 1; t < N_TYPES; t++)
			if (type_table[t].id == sub)
				break;
		if (t == N_TYPES || count == WF_NFT_CONCAT_MAX)
			return -EPROTONOSUPPORT;
		rev[count++] = t;
		id >>= WF_NFT_TYPE_BITS;
	} while (id);
	for (size_t i = 0; i < count; i++) {
		types[i] = rev[count - 1 - i];
		total += field_len(types[i], count);
	}
	if (total != len)
		return -EPROTONOSUPPORT;
	*n = count;
	return 0;
}

void wf_nft_value_encode(enum wf_nft_type t, const struct wf_nft_value *v, uint8_t *buf)
{
	uint16_t port;

	switch (t) {
	case WF_NFT_T_IPV4_ADDR:
		memcpy(buf, &v->ip4, 4);
		break;
	case WF_NFT_T_IPV6_ADDR:
		memcpy(buf, &v->ip6, 16);
		break;
	case WF_NFT_T_INET_PROTO:
		buf[0] = v->proto;
		break;
	case WF_NFT_T_INET_SERVICE:
		port = htons(v->port);
		memcpy(buf, &port, 2);
		break;
	case WF_NFT_T_MARK:
		memcpy(buf, &v->mark, 4);
		break;
	case WF_NFT_T_IFNAME:
		memcpy(buf, v->ifname, strnlen(v->ifname, IFNAMSIZ - 1)); /* buf is zeroed */
		break;
	case WF_NFT_T_NONE:
		break;
	}
}

static void value_decode(enum wf_nft_type t, const uint8_t *buf, struct wf_nft_value *v)
{
	uint16_t port;

	memset(v, 0, sizeof(*v));
	v->type = t;
	switch (t) {
	case WF_NFT_T_IPV4_ADDR:
		memcpy(&v->ip4, buf, 4);
		break;
	case WF_NFT_T_IPV6_ADDR:
		memcpy(&v->ip6, buf, 16);
		break;
	case WF_NFT_T_INET_PROTO:
		v->proto = buf[0];
		break;
	case WF_NFT_T_INET_SERVICE:
		memcpy(&port, buf, 2);
		v->port = ntohs(port);
		break;
	case WF_NFT_T_MARK:
		memcpy(&v->mark, buf, 4);
		break;
	case WF_NFT_T_IFNAME:
		memcpy(v->ifname, buf, IFNAMSIZ - 1);
		break;
	case WF_NFT_T_NONE:
		break;
	}
}

int wf_nft_concat_encode(const enum wf_nft_type *types, size_t n, const struct wf_nft_value *v,
                         uint8_t *buf, uint32_t *len)
{
	uint32_t off = 0;

	if (n == 0 || n > WF_NFT_CONCAT_MAX)
		return -EINVAL;
	memset(buf, 0, WF_NFT_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!type_valid(types[i]))
			return -EINVAL;
		wf_nft_value_encode(types[i], &v[i], buf + off);
		off += field_len(types[i], n);
	}
	*len = off;
	return 0;
}

int wf_nft_concat_decode(const enum wf_nft_type *types, size_t n, const uint8_t *buf, uint32_t len,
                         struct wf_nft_value *v)
{
	uint32_t off = 0;

	for (size_t i = 0; i < n; i++) {
		if (!type_valid(types[i]) || off + type_table[types[i]].len > len)
			return -EPROTO;
		value_decode(types[i], buf + off, &v[i]);
		off += field_len(types[i], n);
	}
	return off == len ? 0 : -EPROTO;
}

int wf_nft_set_encode_elems(const struct wf_nft_set *s, uint8_t **out, size_t *kv_len)
{
	uint32_t key_len, data_len = 0, id;
	/* where each field of a record starts: key fields, then data fields */
	uint32_t off[2 * WF_NFT_CONCAT_MAX];
	uint8_t *buf;
	int ret;

	ret = wf_nft_concat_encode_type(s->key, s->n_key, &id, &key_len);
	if (ret)
		return ret;
	if (s->n_data) {
		ret = wf_nft_concat_encode_type(s->data, s->n_data, &id, &data_len);
		if (ret)
			return ret;
	}
	for (size_t k = 0, at = 0; k < s->n_key; at += field_len(s->key[k], s->n_key), k++)
		off[k] = (uint32_t)at;
	for (size_t k = 0, at = key_len; k < s->n_data; at += field_len(s->data[k], s->n_data), k++)
		off[WF_NFT_CONCAT_MAX + k] = (uint32_t)at;
	*kv_len = key_len + data_len;
	/* zeroed: the padding of each field, and what a short value leaves */
	buf = calloc(s->n_elems ? s->n_elems : 1, *kv_len);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_elems; i++) {
		uint8_t *p = buf + i * *kv_len;

		for (size_t k = 0; k < s->n_key; k++)
			wf_nft_value_encode(s->key[k], &s->elems[i].key[k], p + off[k]);
		for (size_t k = 0; k < s->n_data; k++)
			wf_nft_value_encode(s->data[k], &s->elems[i].data[k],
			                    p + off[WF_NFT_CONCAT_MAX + k]);
	}
	*out = buf;
	return 0;
}

static int cmp_bytes(const void *a, const void *b, void *len)
{
	return memcmp(a, b, *(size_t *)len);
}

int wf_nft_set_sorted_elems(const struct wf_nft_set *s, uint8_t **out, size_t *kv_len)
{
	int ret = wf_nft_set_encode_elems(s, out, kv_len);

	/* Renderers emit elements in key order, which the encoding keeps (network byte order):
	 * then checking is all the sorting there is to do. */
	for (size_t i = 1; !ret && i < s->n_elems; i++) {
		if (memcmp(*out + (i - 1) * *kv_len, *out + i * *kv_len, *kv_len) > 0) {
			qsort_r(*out, s->n_elems, *kv_len, cmp_bytes, kv_len);
			break;
		}
	}
	return ret;
}
