/* A decision's refusals as text for the log (policy.h): one short line however many entries
 * were refused, so that a peer cannot make the gateway write one line per entry. */
#include <stdarg.h>
#include <stdio.h>

#include "policy.h"

/* Appends to buf as snprintf would, never past its end. */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	*len = n < 0 ? *len : *len + (size_t)n >= size ? size - 1 : *len + (size_t)n;
}

const char *wf_gw_refusals_text(const struct wf_gw_decision *dec,
                                const struct wf_ctl_forward *forwards, size_t named, char *buf,
                                size_t size)
{
	size_t len = 0, n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < dec->n_forwards + dec->n_egress && n < named; i++) {
		bool fw = i < dec->n_forwards;
		const struct wf_gw_result *r =
		    fw ? &dec->forwards[i] : &dec->egress[i - dec->n_forwards];

		if (r->status == WF_GW_ACCEPTED)
			continue;
		if (fw)
			append(buf, size, &len, "%sforward %s/%u: %s", n ? "; " : "",
			       wf_gw_proto_name(forwards[i].proto), forwards[i].public_port,
			       r->reason);
		else
			append(buf, size, &len, "%segress: %s", n ? "; " : "", r->reason);
		n++;
	}
	if (dec->n_refused > n)
		append(buf, size, &len, "%s...", n ? "; " : "");
	return buf;
}

const char *wf_gw_refusal_kinds_text(const struct wf_gw_decision *dec, char *buf, size_t size)
{
	size_t by_kind[WF_GW_STATUS_MAX] = {0}, len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < dec->n_forwards; i++)
		by_kind[dec->forwards[i].status]++;
	for (size_t i = 0; i < dec->n_egress; i++)
		by_kind[dec->egress[i].status]++;
	for (int k = WF_GW_ACCEPTED + 1; k < WF_GW_STATUS_MAX; k++)
		if (by_kind[k])
			append(buf, size, &len, "%s%s %zu", len ? ", " : "", wf_gw_status_name(k),
			       by_kind[k]);
	return buf;
}
