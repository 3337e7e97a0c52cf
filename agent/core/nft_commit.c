/* Committing a batch: sent as one transaction, every acknowledgement read back, and a refusal
 * mapped to the object, element or rule item that caused it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <libnftnl/batch.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft_internal.h"

#define ACK_SIZE_GUESS   1024 /* receive buffer per acknowledged message (skb truesize) */
#define REPLY_TIMEOUT_MS 5000

static struct wf_nft_batch_msg *msg_by_seq(struct wf_nft_batch *b, uint32_t seq)
{
	uint32_t off = seq - b->seq_begin; /* wraps as the kernel's numbers do */

	if (off == 0 || off - 1 >= b->n_msgs)
		return NULL;
	return &b->msgs[off - 1];
}

struct commit_state {
	struct wf_nft_batch *b;
	size_t answered;
	int batch_err; /* an error for the batch as a whole (begin message) */
	char *batch_ext_msg;
};

static void on_ack(const struct wf_nl_ack *ack, void *data)
{
	struct commit_state *st = data;
	struct wf_nft_batch_msg *m = msg_by_seq(st->b, ack->seq);

	if (!m) {
		if (ack->error && !st->batch_err) {
			st->batch_err = ack->error;
			st->batch_ext_msg = ack->ext_msg ? strdup(ack->ext_msg) : NULL;
		}
		return;
	}
	if (!m->answered)
		st->answered++;
	m->answered = true;
	m->err = ack->error;
	m->err_offset = ack->offset;
	if (ack->ext_msg && !m->ext_msg)
		m->ext_msg = strdup(ack->ext_msg);
}

static bool all_answered(void *data)
{
	struct commit_state *st = data;

	return st->answered >= st->b->n_msgs || st->batch_err;
}

/* The message with this seq, found again in the batch pages. */
static const struct nlmsghdr *find_sent_msg(struct wf_nft_batch *b, uint32_t seq)
{
	int n = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)n, sizeof(*iov));
	const struct nlmsghdr *found = NULL;

	if (!iov)
		return NULL;
	nftnl_batch_iovec(b->nb, iov, (uint32_t)n);
	for (int i = 0; i < n && !found; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int len = (int)iov[i].iov_len;

		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq == seq) {
				found = nlh;
				break;
			}
		}
	}
	free(iov);
	return found;
}

/* Index of the nested attribute at offset among the children of the list at list_type. */
static const struct nlattr *child_at(const struct nlmsghdr *nlh, uint16_t list_type,
                                     uint32_t offset, int *index)
{
	const struct nlattr *attr, *child;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(attr) != list_type)
			continue;
		*index = 0;
		mnl_attr_for_each_nested(child, attr)
		{
			if ((const char *)child - (const char *)nlh == (long)offset)
				return child;
			(*index)++;
		}
	}
	return NULL;
}

static void name_element(FILE *f, const struct wf_nft_batch_msg *m, const struct nlattr *elem)
{
	struct wf_nft_set s = {0};
	struct wf_nft_elem e = {0};
	const struct nlattr *attr, *val;
	bool have_key = false;

	memcpy(s.key, m->key, sizeof(s.key));
	s.n_key = m->n_key;
	mnl_attr_for_each_nested(attr, elem)
	{
		uint16_t type = mnl_attr_get_type(attr);

		if (type != NFTA_SET_ELEM_KEY && type != NFTA_SET_ELEM_DATA)
			continue;
		mnl_attr_for_each_nested(val, attr)
		{
			if (mnl_attr_get_type(val) != NFTA_DATA_VALUE)
				continue;
			if (type == NFTA_SET_ELEM_KEY)
				have_key = !wf_nft_concat_decode(
				    m->key, m->n_key, mnl_attr_get_payload(val),
				    mnl_attr_get_payload_len(val), e.key);
			else if (!wf_nft_concat_decode(m->data, m->n_data,
			                               mnl_attr_get_payload(val),
			                               mnl_attr_get_payload_len(val), e.data)) {
				memcpy(s.data, m->data, sizeof(s.data));
				s.n_data = m->n_data;
			}
		}
	}
	if (have_key) {
		fputs(": element ", f);
		wf_nft_elem_fprint(f, &s, &e);
	}
}

static void name_item(FILE *f, const struct wf_nft_batch_msg *m, int expr)
{
	const char *p = m->items;
	int item;

	if (expr < 0 || (size_t)expr >= m->n_exprs || !p)
		return;
	item = m->expr_item[expr];
	if (item < 0) {
		fputs(": at an implicit dependency", f);
		return;
	}
	for (int i = 0; i < item; i++)
		p += strlen(p) + 1;
	fprintf(f, ": at `%s'", p);
}

static void describe_error(struct wf_nft_batch *b, const struct wf_nft_batch_msg *m,
                           struct wf_nft_error *err)
{
	const struct nlmsghdr *sent = NULL;
	const struct nlattr *child = NULL;
	char *detail = NULL;
	size_t size;
	int index = -1;
	FILE *f;

	err->err = m->err;
	snprintf(err->what, sizeof(err->what), "%s", m->what);
	if (m->err_offset && m->kind != WF_NFT_MSG_OTHER)
		sent = find_sent_msg(b, m->seq);
	if (sent && m->kind == WF_NFT_MSG_ELEMS)
		child = child_at(sent, NFTA_SET_ELEM_LIST_ELEMENTS, m->err_offset, &index);
	else if (sent && m->kind == WF_NFT_MSG_RULE)
		child = child_at(sent, NFTA_RULE_EXPRESSIONS, m->err_offset, &index);
	f = open_memstream(&detail, &size);
	if (!f)
		return;
	fputs(m->ext_msg ? m->ext_msg : strerror(-m->err), f);
	if (child && m->kind == WF_NFT_MSG_ELEMS)
		name_element(f, m, child);
	else if (child && m->kind == WF_NFT_MSG_RULE)
		name_item(f, m, index);
	if (!fclose(f))
		snprintf(err->detail, sizeof(err->detail), "%s", detail);
	free(detail);
}

static int send_batch(struct wf_nft *n, struct wf_nft_batch *b)
{
	int iovlen = nftnl_batch_iovec_len(b->nb);
	struct iovec *iov = calloc((size_t)iovlen, sizeof(*iov));
	size_t total = 0;
	int ret;

	if (!iov)
		return -ENOMEM;
	nftnl_batch_iovec(b->nb, iov, (uint32_t)iovlen);
	for (int i = 0; i < iovlen; i++)
		total += iov[i].iov_len;
	wf_nl_reserve(&n->nl, total + 4096, (b->n_msgs + 2) * ACK_SIZE_GUESS + 65536);
	ret = wf_nl_send_iov(&n->nl, iov, (size_t)iovlen);
	free(iov);
	return ret;
}

int wf_nft_commit(struct wf_nft *n, struct wf_nft_batch *b, struct wf_nft_error *err)
{
	struct commit_state st = {.b = b};
	int ret = 0;

	memset(err, 0, sizeof(*err));
	if (b->error || b->ended) {
		err->err = b->error ? b->error : -EINVAL;
		snprintf(err->what, sizeof(err->what), "%s",
		         b->error ? "batch could not be built" : "batch already committed");
		return err->err;
	}
	if (b->n_msgs == 0)
		return 0;
	nftnl_batch_end(nftnl_batch_buffer(b->nb), b->seq_next);
	nftnl_batch_update(b->nb);
	b->ended = true;

	wf_nl_drain(&n->nl);
	ret = send_batch(n, b);
	if (ret) {
		snprintf(err->what, sizeof(err->what), "sending the batch (%zu messages)",
		         b->n_msgs);
		goto out;
	}
	/* The kernel handles the batch inside sendmsg, so every answer is queued by now; the
	 * timeout only guards against a kernel that answers less than asked. */
	ret = wf_nl_acks(&n->nl, on_ack, all_answered, &st, REPLY_TIMEOUT_MS);
	if (ret == -ETIMEDOUT)
		snprintf(err->what, sizeof(err->what), "waiting for answers (%zu of %zu received)",
		         st.answered, b->n_msgs);
	else if (ret == -EBADMSG)
		snprintf(err->what, sizeof(err->what), "parsing answers");
	else if (ret)
		snprintf(err->what, sizeof(err->what),
		         "reading answers (%zu of %zu received; outcome unknown)", st.answered,
		         b->n_msgs);
	if (ret)
		goto out;
	if (st.batch_err) {
		ret = st.batch_err;
		snprintf(err->what, sizeof(err->what), "the batch as a whole");
		snprintf(err->detail, sizeof(err->detail), "%s",
		         st.batch_ext_msg ? st.batch_ext_msg : strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < b->n_msgs; i++) {
		if (b->msgs[i].err) {
			describe_error(b, &b->msgs[i], err);
			ret = b->msgs[i].err;
			break;
		}
	}
	b->committed = !ret;
out:
	if (ret && !err->err)
		err->err = ret;
	free(st.batch_ext_msg);
	return ret;
}
