/* Conntrack entries as a dump delivers them. Whatever parses must build into a delete that
 * reads back as the same original tuple, zone and id, and a match built from the entry must
 * select it, and stop selecting it once any one of its conditions differs. */
#include <wgfwd/conntrack.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void delete_roundtrip(const struct wf_ct_entry *e)
{
	char buf[WF_CT_MSG_SIZE] __attribute__((aligned(4)));
	struct wf_ct_entry back;
	int built = wf_ct_delete_build(buf, sizeof(buf), e);

	if (built < 0)
		return;
	if (wf_ct_entry_parse(buf, (size_t)built, &back))
		abort();
	if (back.family != e->family || back.l4proto != e->l4proto ||
	    memcmp(&back.orig, &e->orig, sizeof(e->orig)) || back.zone != e->zone ||
	    back.has_id != e->has_id || back.id != e->id)
		abort();
}

static void match_itself(const struct wf_ct_entry *e)
{
	struct wf_ct_match m = {.family = e->family,
	                        .l4proto = e->l4proto,
	                        .orig_dport = e->orig.dport,
	                        .has_orig_dst = true,
	                        .orig_dst = e->orig.dst,
	                        .has_reply_src = true,
	                        .reply_src = e->reply.src,
	                        .reply_sport = e->reply.sport,
	                        .status_set = e->status & IPS_DST_NAT,
	                        .status_clear = ~e->status & IPS_SEEN_REPLY};
	struct wf_ct_match other = m;

	if (!wf_ct_match_valid(&m))
		return;
	if (!wf_ct_entry_matches(&m, e))
		abort();
	other.orig_dport++;
	if (other.orig_dport && wf_ct_entry_matches(&other, e))
		abort();
	other = m;
	other.reply_src.ip4.s_addr ^= 1;
	if (wf_ct_entry_matches(&other, e))
		abort();
	other = m;
	other.status_set = m.status_set ^ IPS_DST_NAT;
	other.status_clear = 0;
	if (other.status_set && wf_ct_entry_matches(&other, e))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink messages are read from aligned buffers. */
	void *msg = malloc(size ? size : 1);
	struct wf_ct_entry e;

	if (!msg)
		return 0;
	memcpy(msg, data, size);
	if (!wf_ct_entry_parse(msg, size, &e)) {
		delete_roundtrip(&e);
		match_itself(&e);
	}
	free(msg);
	return 0;
}
