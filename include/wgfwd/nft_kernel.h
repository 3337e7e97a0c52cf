/* nftables, the kernel side of the model in nft.h: one netlink socket per daemon, batches
 * that the kernel applies whole or not at all, tables read back so callers can reconcile, and
 * the comparison of what the kernel holds with what is wanted.
 *
 *   wf_nft_table --batch (nft_batch.c)--> commit (nft_commit.c) --> kernel
 *   kernel --read back (nft_read.c)--> wf_nft_table --compare (nft_compare.c)--> drift or not
 *
 * Kernel errors are mapped back to the object that caused them. It only ever names tables its
 * caller owns, except for single rules placed in another owner's chain (Docker's DOCKER-USER),
 * which are found and removed by shape.
 */
#ifndef WGFWD_NFT_KERNEL_H
#define WGFWD_NFT_KERNEL_H

#include <wgfwd/nft.h>

/* The netlink expressions a rule becomes in a table of this family, one per line, in the
 * notation of `nft --debug=netlink`: for tests and for explaining drift. */
int wf_nft_rule_bytecode(uint8_t family, const struct wf_nft_rule *r, char **out);
/* Hash of the rule's expressions as the kernel would report them, counter values zeroed. */
uint64_t wf_nft_rule_digest(uint8_t family, const struct wf_nft_rule *r);

/* One context per daemon, one netlink socket. */
struct wf_nft;

struct wf_nft_error {
	int err;          /* negative errno */
	char what[256];   /* the object the kernel refused, e.g. "rule in chain prerouting: dnat to
	                     ..." */
	char detail[256]; /* kernel extended ack message when given */
};

int wf_nft_open(struct wf_nft **out);
void wf_nft_close(struct wf_nft *n);

/* A batch collects operations; wf_nft_commit sends them as one transaction. Every message asks
 * for an acknowledgement, and the commit reads them all back. To change the data of a map
 * element, delete and add it in the same batch (adding a key that exists with other data
 * fails, and so does deleting one that is missing). An adder that fails leaves the batch
 * refused by wf_nft_commit; a batch is committed once. */
struct wf_nft_batch;
struct wf_nft_batch *wf_nft_batch_new(void);
/* A batch the kernel refuses whole, with -ERESTART, if the ruleset's generation (see
 * wf_nft_genid) is no longer `genid` when it commits: so a batch built on what was read at
 * that generation cannot land on top of someone else's change. */
struct wf_nft_batch *wf_nft_batch_new_at(uint32_t genid);
/* Guards a built batch on another generation: for a batch whose messages stay right on the
 * ruleset at `genid` (a change of elements nobody else's commit since touched). 0 or -EINVAL
 * (not guarded, or committed). */
int wf_nft_batch_guard_at(struct wf_nft_batch *b, uint32_t genid);
/* The generation the ruleset is at once a guarded batch committed (or, empty, was not sent):
 * false for an unguarded or uncommitted batch. */
bool wf_nft_batch_genid_after(const struct wf_nft_batch *b, uint32_t *genid);

/* Something a daemon committed, known to be in the kernel as written while the ruleset
 * generation stays where that commit left it. Zero-initialised: nothing known. */
struct wf_nft_known {
	bool valid;
	uint32_t genid;
};
/* Whether b is guarded by the generation k was committed at, or by a later one whose commits
 * the process's change watcher saw whole and found touching none of its watched tables
 * (nft_notify.h): then nobody changed what k stands for since. */
bool wf_nft_known_current(const struct wf_nft_known *k, const struct wf_nft_batch *b);
/* The same for what lives in one table alone: only commits touching that table count. */
bool wf_nft_known_current_table(const struct wf_nft_known *k, const struct wf_nft_batch *b,
                                uint8_t family, const char *table);
/* After the commit of b (commit_err its outcome): known at the generation it left, when b was
 * guarded and went through; unknown otherwise. */
void wf_nft_known_settle(struct wf_nft_known *k, const struct wf_nft_batch *b, int commit_err);
void wf_nft_batch_free(struct wf_nft_batch *b);
/* Create-or-replace: the table is deleted (if present) and rebuilt inside the same batch. */
int wf_nft_batch_replace_table(struct wf_nft_batch *b, const struct wf_nft_table *t);
int wf_nft_batch_delete_table(struct wf_nft_batch *b, uint8_t family, const char *name);
int wf_nft_batch_add_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                           const struct wf_nft_set *set_with_elems);
int wf_nft_batch_delete_elems(struct wf_nft_batch *b, uint8_t family, const char *table,
                              const struct wf_nft_set *set_with_elems);
/* Rules in chains someone else owns (DOCKER-USER): insert at the top / delete by handle.
 * Inserted rules are always encoded for iptables (see iptables_compat). */
int wf_nft_batch_insert_rule(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const struct wf_nft_rule *r);
int wf_nft_batch_delete_rule(struct wf_nft_batch *b, uint8_t family, const char *table,
                             const char *chain, uint64_t handle);
/* Number of messages queued (each object, each chunk of elements, each rule is one). */
size_t wf_nft_batch_size(const struct wf_nft_batch *b);

int wf_nft_commit(struct wf_nft *n, struct wf_nft_batch *b, struct wf_nft_error *err);

/* Read back a table: chains, sets with their elements, rules (with handles and comments).
 * Rules carry handle, comment and digest, not items: compare them with wf_nft_rule_equal.
 * Returns -ENOENT when the table does not exist. */
int wf_nft_table_get(struct wf_nft *n, uint8_t family, const char *name, struct wf_nft_table **out);
/* The ruleset generation: the kernel advances it with every committed transaction, anyone's. */
int wf_nft_genid(struct wf_nft *n, uint32_t *genid);
/* What this process has read back from the kernel since it started: whole tables
 * (wf_nft_table_get) and single chains (wf_nft_chain_rules_get). What the caches save. */
struct wf_nft_reads {
	uint64_t tables, chains;
};
void wf_nft_reads_get(struct wf_nft_reads *out);
/* Rules of one chain of any table, e.g. to find our rule in DOCKER-USER. -ENOENT if absent.
 * *rules is one allocation: free() it. Read-back rules carry handle, comment and digest only. */
int wf_nft_chain_rules_get(struct wf_nft *n, uint8_t family, const char *table, const char *chain,
                           struct wf_nft_rule **rules, size_t *n_rules);
/* True when the kernel's rule has exactly the expressions of the desired one (counter values
 * and handles ignored): how drift inside an owned table or a foreign chain is found. */
bool wf_nft_rule_equal(const struct wf_nft_rule *a, const struct wf_nft_rule *b);
/* True when the kernel table matches the desired one (chains, sets and elements, rules). */
bool wf_nft_table_equal(const struct wf_nft_table *kernel, const struct wf_nft_table *desired);

#endif
