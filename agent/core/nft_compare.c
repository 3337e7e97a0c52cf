/* Comparing what the kernel holds with what is wanted: rules by the expressions they become
 * (counters and handles aside), sets by their elements in any order, tables whole. */
#include <stdlib.h>
#include <string.h>

#include "nft_internal.h"

static uint64_t digest_of(const struct wf_nft_rule *r, uint8_t family, bool compat)
{
	return r->digest ? r->digest : wf_nft_rule_digest_as(family, r, compat);
}

bool wf_nft_rule_equal(const struct wf_nft_rule *a, const struct wf_nft_rule *b)
{
	uint8_t family = a->family ? a->family : b->family;
	bool compat = a->iptables_compat || b->iptables_compat;
	uint64_t da, db;

	/* Identical bytes are the same rule (a rendered rule against its copy kept from the last
	 * commit); anything else is decided by what the kernel would hold. */
	if (!memcmp(a, b, sizeof(*a)))
		return true;
	if (strcmp(a->chain, b->chain) || strcmp(a->comment, b->comment))
		return false;
	da = digest_of(a, family, compat);
	db = digest_of(b, family, compat);
	return da && da == db;
}

static bool chain_equal(const struct wf_nft_chain *a, const struct wf_nft_chain *b)
{
	if (strcmp(a->name, b->name) || a->base != b->base)
		return false;
	if (!a->base)
		return true;
	return !strcmp(a->type[0] ? a->type : "filter", b->type[0] ? b->type : "filter") &&
	       a->hook == b->hook && a->priority == b->priority && a->policy == b->policy;
}

static bool set_equal(const struct wf_nft_set *a, const struct wf_nft_set *b)
{
	uint8_t *ea = NULL, *eb = NULL;
	size_t la, lb;
	bool equal;

	if (strcmp(a->name, b->name) || a->n_key != b->n_key || a->n_data != b->n_data ||
	    !a->n_key || memcmp(a->key, b->key, a->n_key * sizeof(a->key[0])) ||
	    memcmp(a->data, b->data, a->n_data * sizeof(a->data[0])) || a->n_elems != b->n_elems)
		return false;
	if (wf_nft_set_sorted_elems(a, &ea, &la) || wf_nft_set_sorted_elems(b, &eb, &lb)) {
		free(ea);
		return false;
	}
	equal = !memcmp(ea, eb, a->n_elems * la);
	free(ea);
	free(eb);
	return equal;
}

static bool chain_rules_equal(const struct wf_nft_table *kernel, const struct wf_nft_table *desired,
                              const char *chain)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < kernel->n_rules && strcmp(kernel->rules[i].chain, chain))
			i++;
		while (j < desired->n_rules && strcmp(desired->rules[j].chain, chain))
			j++;
		if (i == kernel->n_rules || j == desired->n_rules)
			return i == kernel->n_rules && j == desired->n_rules;
		struct wf_nft_rule d = desired->rules[j];

		d.family = desired->family;
		if (!wf_nft_rule_equal(&kernel->rules[i], &d))
			return false;
		i++;
		j++;
	}
}

bool wf_nft_table_equal(const struct wf_nft_table *kernel, const struct wf_nft_table *desired)
{
	if (kernel->family != desired->family || strcmp(kernel->name, desired->name) ||
	    kernel->n_chains != desired->n_chains || kernel->n_sets != desired->n_sets ||
	    kernel->n_rules != desired->n_rules)
		return false;
	for (size_t i = 0; i < desired->n_chains; i++) {
		const struct wf_nft_chain *k =
		    wf_nft_table_find_chain(kernel, desired->chains[i].name);

		if (!k || !chain_equal(k, &desired->chains[i]))
			return false;
		if (!chain_rules_equal(kernel, desired, desired->chains[i].name))
			return false;
	}
	for (size_t i = 0; i < desired->n_sets; i++) {
		const struct wf_nft_set *k = wf_nft_table_find_set(kernel, desired->sets[i].name);

		if (!k || !set_equal(k, &desired->sets[i]))
			return false;
	}
	return true;
}
