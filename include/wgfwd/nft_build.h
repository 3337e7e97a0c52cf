/* Short constructors over the nft data model, so the render modules read like the nft text
 * they stand for: `wf_nft_match_ifname(r, WF_NFT_F_IIFNAME, WF_NFT_OP_EQ, "wg0")` is
 * `iifname "wg0"`. Pure; each appends one item (or one object) and nothing else. */
#ifndef WGFWD_NFT_BUILD_H
#define WGFWD_NFT_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <wgfwd/nft.h>

struct wf_nft_rule *wf_nft_rule_begin(struct wf_nft_rule *r, const char *chain,
                                      const char *comment);
void wf_nft_match_ifname(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                         const char *name);
/* Fields whose values are plain 32-bit numbers: marks, ct state/status bits, ct direction,
 * tcp flags, fib address types. */
void wf_nft_match_u32(struct wf_nft_rule *r, enum wf_nft_field f, enum wf_nft_op op,
                      uint32_t value);
void wf_nft_match_nfproto(struct wf_nft_rule *r, uint8_t nfproto);
void wf_nft_match_l4proto(struct wf_nft_rule *r, uint8_t proto);
void wf_nft_match_dport(struct wf_nft_rule *r, uint16_t port);
void wf_nft_match_set(struct wf_nft_rule *r, const char *set, size_t n_keys,
                      const enum wf_nft_field *keys);
void wf_nft_add_simple(struct wf_nft_rule *r, enum wf_nft_item_kind kind);
void wf_nft_add_mark(struct wf_nft_rule *r, enum wf_nft_item_kind kind, uint32_t mark);
/* meta mark set meta mark & ~mask | mark: sets only the bits of mask, keeps the others */
void wf_nft_add_meta_mark_masked(struct wf_nft_rule *r, uint32_t mark, uint32_t mask);
void wf_nft_add_verdict(struct wf_nft_rule *r, enum wf_nft_verdict v);
void wf_nft_add_nat(struct wf_nft_rule *r, enum wf_nft_item_kind kind, uint8_t family);
/* dnat <family> to meta l4proto . th dport map @map */
void wf_nft_add_dnat_map(struct wf_nft_rule *r, uint8_t family, const char *map);
/* The same, and ct mark set ct mark | bits for each flow the map translates (and only those:
 * the mark follows the lookup in the kernel), the mark's other bits kept. */
void wf_nft_add_dnat_map_ct_mark(struct wf_nft_rule *r, uint8_t family, const char *map,
                                 uint32_t bits);

/* Table adders returning 0 or -ENOMEM, for render code that sums their results. */
int wf_nft_add_base_chain(struct wf_nft_table *t, const char *name, const char *type, int hook,
                          int priority, int policy);
int wf_nft_add_set(struct wf_nft_table *t, const char *name, size_t n_key,
                   const enum wf_nft_type *key, size_t n_data, const enum wf_nft_type *data);
int wf_nft_add_rule(struct wf_nft_table *t, const struct wf_nft_rule *r);

#endif
