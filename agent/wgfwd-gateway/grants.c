#include "grants.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_option[] = {
    [WF_GW_GRANT_PORTS] = "peer-ports",
    [WF_GW_GRANT_EGRESS] = "peer-egress",
};

/* ---- parsing ---- */

static int grant_ports(struct wf_gw_grants *g, const char *spec, const char *list, char *err,
                       size_t errlen)
{
	struct wf_gw_port_range *ranges = NULL;
	char *copy, *save = NULL, *item;
	size_t n = 0;
	int ret = 0;

	if (!strcmp(list, "any") || !strcmp(list, "none")) {
		if (g->ports_said || g->n_ports) {
			snprintf(
			    err, errlen,
			    "peer-ports `%s': `%s' cannot join ports given for this peer before",
			    spec, list);
			return -EINVAL;
		}
		g->ports_said = true;
		g->ports_limited = !strcmp(list, "none");
		return 0;
	}
	if (g->ports_said) {
		snprintf(err, errlen, "peer-ports `%s': this peer's ports were already `%s'", spec,
		         g->ports_limited ? "none" : "any");
		return -EINVAL;
	}
	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	/* Into a list of its own first: a bad item leaves the grants as they were. */
	for (item = strtok_r(copy, ", \t", &save); item && !ret;
	     item = strtok_r(NULL, ", \t", &save)) {
		char ignored[8];

		ret = wf_gw_reserved_parse(item, &ranges, &n, ignored, sizeof(ignored));
		if (ret == -EINVAL)
			snprintf(err, errlen,
			         "peer-ports `%s': `%s' is not PORT[-PORT][/tcp|/udp] with ports "
			         "1-65535 (or the list `any' or `none')",
			         spec, item);
	}
	free(copy);
	if (!ret && !n) {
		snprintf(err, errlen, "peer-ports `%s': no ports (write `none' for none)", spec);
		ret = -EINVAL;
	}
	if (!ret) {
		struct wf_gw_port_range *grown =
		    realloc(g->ports, (g->n_ports + n) * sizeof(*grown));

		if (!grown) {
			ret = -ENOMEM;
		} else {
			g->ports = grown;
			memcpy(g->ports + g->n_ports, ranges, n * sizeof(*ranges));
			g->n_ports += n;
			g->ports_limited = true;
		}
	}
	free(ranges);
	return ret;
}

struct first_error {
	char *buf;
	size_t len;
	const char *spec;
	bool seen;
};

static void keep_first_error(void *ctx, const char *message)
{
	struct first_error *fe = ctx;

	if (!fe->seen)
		snprintf(fe->buf, fe->len, "peer-egress `%s': %s", fe->spec, message);
	fe->seen = true;
}

static int grant_egress(struct wf_gw_grants *g, const char *spec, const char *list,
                        wf_service_resolver resolve, char *err, size_t errlen)
{
	struct first_error fe = {err, errlen, spec, false};
	struct wf_egress_entry *entries = NULL;
	struct wf_ctl_egress *grown;
	size_t n = 0;
	int ret;

	if (!strcmp(list, "none")) {
		if (g->egress_said || g->n_egress) {
			snprintf(err, errlen,
			         "peer-egress `%s': `none' cannot join egress granted to this peer "
			         "before",
			         spec);
			return -EINVAL;
		}
		g->egress_said = true;
		return 0;
	}
	if (g->egress_said) {
		snprintf(err, errlen, "peer-egress `%s': this peer's egress was already `none'",
		         spec);
		return -EINVAL;
	}
	/* The label grammar, so that a grant reads like the request it allows. */
	ret = wf_parse_egress(list, resolve, NULL, &entries, &n, keep_first_error, &fe);
	if (ret)
		return ret;
	if (!fe.seen && !n)
		snprintf(err, errlen, "peer-egress `%s': no egress (write `none' for none)", spec);
	if (fe.seen || !n) {
		free(entries);
		return -EINVAL;
	}
	grown = realloc(g->egress, (g->n_egress + n) * sizeof(*grown));
	if (!grown) {
		free(entries);
		return -ENOMEM;
	}
	g->egress = grown;
	for (size_t i = 0; i < n; i++)
		g->egress[g->n_egress++] = (struct wf_ctl_egress){
		    .proto = entries[i].proto,
		    .port_lo = entries[i].port_lo,
		    .port_hi = entries[i].port_hi,
		};
	free(entries);
	return 0;
}

int wf_gw_config_grant(struct wf_gw_config *cfg, enum wf_gw_grant_kind kind, const char *spec,
                       wf_service_resolver resolve, char *err, size_t errlen)
{
	const char *eq = strchr(spec, '='), *option = kind_option[kind];
	char name[WF_GW_NAME_MAX];
	size_t len;
	int peer;

	if (!eq || eq == spec || !eq[1]) {
		snprintf(err, errlen, "%s `%s': expected ADDR=LIST, ADDR a peer's tunnel address",
		         option, spec);
		return -EINVAL;
	}
	len = (size_t)(eq - spec);
	if (len >= sizeof(name)) {
		snprintf(err, errlen, "%s `%s': address part too long", option, spec);
		return -EINVAL;
	}
	memcpy(name, spec, len);
	name[len] = '\0';
	peer = wf_gw_config_find_peer_name(cfg, name);
	if (peer < 0) {
		snprintf(err, errlen, "%s `%s': `%s' is no --peer's tunnel address", option, spec,
		         name);
		return -EINVAL;
	}
	if (kind == WF_GW_GRANT_PORTS)
		return grant_ports(&cfg->peers[peer].grants, spec, eq + 1, err, errlen);
	return grant_egress(&cfg->peers[peer].grants, spec, eq + 1, resolve, err, errlen);
}

/* ---- checking ---- */

bool wf_gw_grants_allow_port(const struct wf_gw_grants *g, uint8_t proto, uint16_t port)
{
	if (!g->ports_limited)
		return true;
	for (size_t i = 0; i < g->n_ports; i++) {
		const struct wf_gw_port_range *r = &g->ports[i];

		if ((!r->proto || r->proto == proto) && r->lo <= port && port <= r->hi)
			return true;
	}
	return false;
}

/* The end of the granted run of ports of proto that contains port, or 0 when none does. */
static uint32_t granted_run_end(const struct wf_gw_grants *g, uint8_t proto, uint32_t port)
{
	uint32_t end = 0;

	for (size_t i = 0; i < g->n_egress; i++) {
		const struct wf_ctl_egress *e = &g->egress[i];

		if (e->proto != proto || !e->port_lo)
			continue;
		if (e->port_lo <= port && port <= e->port_hi && e->port_hi > end)
			end = e->port_hi;
	}
	return end;
}

bool wf_gw_grants_cover_egress(const struct wf_gw_grants *g, const struct wf_ctl_egress *want)
{
	uint32_t port;

	for (size_t i = 0; i < g->n_egress; i++) {
		const struct wf_ctl_egress *e = &g->egress[i];

		if (!e->proto)
			return true;
		if (want->proto && e->proto == want->proto && !e->port_lo)
			return true;
	}
	if (!want->proto || !want->port_lo)
		return false;
	/* Ranges granted apart may cover a request together: tcp/25 and tcp/26-30 cover
	 * tcp/25-30. */
	for (port = want->port_lo; port <= want->port_hi;) {
		uint32_t end = granted_run_end(g, want->proto, port);

		if (!end)
			return false;
		port = end + 1;
	}
	return true;
}

/* ---- text ---- */

static void append(char *buf, size_t len, size_t *used, const char *text)
{
	size_t n = strlen(text);

	if (*used >= len)
		return;
	if (*used + n + 1 > len) {
		/* Cut, and say so, keeping room for the NUL. */
		snprintf(buf + *used, len - *used, "%s", text);
		if (len >= 4)
			memcpy(buf + len - 4, "...", 4);
		*used = len;
		return;
	}
	memcpy(buf + *used, text, n + 1);
	*used += n;
}

void wf_gw_grants_ports_text(const struct wf_gw_grants *g, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (!g->ports_limited || !g->n_ports) {
		snprintf(buf, len, "%s", g->ports_limited ? "none" : "any");
		return;
	}
	for (size_t i = 0; i < g->n_ports; i++) {
		const struct wf_gw_port_range *r = &g->ports[i];
		char item[32];
		int n = r->lo == r->hi
		            ? snprintf(item, sizeof(item), "%s%u", i ? "," : "", r->lo)
		            : snprintf(item, sizeof(item), "%s%u-%u", i ? "," : "", r->lo, r->hi);

		if (r->proto)
			snprintf(item + n, sizeof(item) - (size_t)n, "/%s",
			         wf_gw_proto_name(r->proto));
		append(buf, len, &used, item);
	}
}

void wf_gw_egress_text(const struct wf_ctl_egress *e, char *buf, size_t len)
{
	if (!e->proto)
		snprintf(buf, len, "all");
	else if (!e->port_lo)
		snprintf(buf, len, "%s", wf_gw_proto_name(e->proto));
	else if (e->port_lo == e->port_hi)
		snprintf(buf, len, "%s/%u", wf_gw_proto_name(e->proto), e->port_lo);
	else
		snprintf(buf, len, "%s/%u-%u", wf_gw_proto_name(e->proto), e->port_lo, e->port_hi);
}

void wf_gw_grants_egress_text(const struct wf_gw_grants *g, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (!g->n_egress) {
		snprintf(buf, len, "none");
		return;
	}
	for (size_t i = 0; i < g->n_egress; i++) {
		char item[32];

		if (i)
			append(buf, len, &used, ",");
		wf_gw_egress_text(&g->egress[i], item, sizeof(item));
		append(buf, len, &used, item);
	}
}

/* ---- ownership ---- */

int wf_gw_grants_copy(struct wf_gw_grants *dst, const struct wf_gw_grants *src)
{
	*dst = *src;
	dst->ports = NULL;
	dst->egress = NULL;
	if (src->n_ports) {
		dst->ports = malloc(src->n_ports * sizeof(*dst->ports));
		if (!dst->ports)
			goto oom;
		memcpy(dst->ports, src->ports, src->n_ports * sizeof(*dst->ports));
	}
	if (src->n_egress) {
		dst->egress = malloc(src->n_egress * sizeof(*dst->egress));
		if (!dst->egress)
			goto oom;
		memcpy(dst->egress, src->egress, src->n_egress * sizeof(*dst->egress));
	}
	return 0;
oom:
	wf_gw_grants_free(dst);
	return -ENOMEM;
}

void wf_gw_grants_free(struct wf_gw_grants *g)
{
	free(g->ports);
	free(g->egress);
	memset(g, 0, sizeof(*g));
}
