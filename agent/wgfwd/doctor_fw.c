#include "doctor_fw.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

struct out {
	struct wf_fw_findings *f;
	int err;
};

static struct wf_fw_finding *add(struct out *o, enum wf_fw_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct wf_fw_finding *add(struct out *o, enum wf_fw_level level, const char *fmt, ...)
{
	static struct wf_fw_finding scratch;
	struct wf_fw_finding *n;
	va_list ap;

	if (WF_ARRAY_RESERVE(o->f->v, o->f->n, o->f->cap, 1)) {
		o->err = -ENOMEM;
		memset(&scratch, 0, sizeof(scratch));
		return &scratch;
	}
	n = &o->f->v[o->f->n++];
	memset(n, 0, sizeof(*n));
	n->level = level;
	va_start(ap, fmt);
	vsnprintf(n->what, sizeof(n->what), fmt, ap);
	va_end(ap);
	return n;
}

static void fix(struct wf_fw_finding *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fix(struct wf_fw_finding *n, const char *fmt, ...)
{
	size_t len = strlen(n->fix);
	va_list ap;

	if (len >= sizeof(n->fix) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(n->fix + len, sizeof(n->fix) - len, fmt, ap);
	va_end(ap);
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static bool is_ours(const char *family, const char *table)
{
	return !strcmp(family, "inet") &&
	       (!strcmp(table, "wgfwd_gateway") || !strcmp(table, "wgfwd_anchor") ||
	        !strcmp(table, "wgfwd"));
}

/* Tables iptables-nft writes: wgfwd-gateway passes those drops itself. */
static bool is_iptables(const char *family, const char *table)
{
	return (!strcmp(family, "ip") || !strcmp(family, "ip6")) &&
	       (!strcmp(table, "filter") || !strcmp(table, "nat") || !strcmp(table, "mangle") ||
	        !strcmp(table, "raw") || !strcmp(table, "security"));
}

/* Rules of a chain that accept something on the tunnel interface, by their JSON text. */
static size_t tunnel_accepts(json_object *arr, const char *family, const char *table,
                             const char *chain, const char *tunnel)
{
	char quoted[64];
	size_t n = 0;

	snprintf(quoted, sizeof(quoted), "\"%s\"", tunnel);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *r, *expr;
		const char *text;

		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "rule", &r) ||
		    strcmp(str(r, "family"), family) || strcmp(str(r, "table"), table) ||
		    strcmp(str(r, "chain"), chain) || !json_object_object_get_ex(r, "expr", &expr))
			continue;
		text = json_object_to_json_string_ext(expr, JSON_C_TO_STRING_PLAIN);
		n += strstr(text, quoted) && strstr(text, "\"accept\"");
	}
	return n;
}

static void nft_commands(struct wf_fw_finding *n, const struct wf_fw_facts *f, const char *family,
                         const char *table, const char *chain, bool forward)
{
	const char *t = f->tunnel;

	if (forward) {
		fix(n, "nft insert rule %s %s %s oifname \"%s\" ct status dnat accept\n", family,
		    table, chain, t);
		fix(n,
		    "nft insert rule %s %s %s iifname \"%s\" ct state established,related accept\n",
		    family, table, chain, t);
		fix(n,
		    "nft insert rule %s %s %s oifname \"%s\" ct state established,related accept\n",
		    family, table, chain, t);
		fix(n, "nft insert rule %s %s %s iifname \"%s\" oifname \"%s\" accept\n", family,
		    table, chain, t, f->public_if);
	} else {
		fix(n, "nft insert rule %s %s %s iifname \"%s\" tcp dport %u accept\n", family,
		    table, chain, t, f->control_port);
	}
	fix(n, "(and the same in the file that defines table %s %s, so it survives a reboot)",
	    family, table);
}

struct seen {
	bool firewalld, ufw, iptables_drop;
	char iptables_drops[128];
};

static void scan_nft(struct out *o, const struct wf_fw_facts *f, json_object *arr, struct seen *s)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *item = json_object_array_get_idx(arr, i), *c;
		const char *family, *table, *name, *hook;
		bool forward;

		if (json_object_object_get_ex(item, "table", &c) &&
		    !strcmp(str(c, "name"), "firewalld"))
			s->firewalld = true;
		if (!json_object_object_get_ex(item, "chain", &c))
			continue;
		family = str(c, "family");
		table = str(c, "table");
		name = str(c, "name");
		hook = str(c, "hook");
		if (is_iptables(family, table) &&
		    (!strncmp(name, "ufw-", 4) || !strncmp(name, "ufw6-", 5)))
			s->ufw = true;
		forward = !strcmp(hook, "forward");
		if ((!forward && strcmp(hook, "input")) || strcmp(str(c, "policy"), "drop"))
			continue;
		if (is_ours(family, table) || !strcmp(table, "firewalld"))
			continue;
		if (is_iptables(family, table)) {
			size_t len = strlen(s->iptables_drops);

			s->iptables_drop = true;
			snprintf(s->iptables_drops + len, sizeof(s->iptables_drops) - len,
			         "%s%s %s", len ? ", " : "", family, name);
			continue;
		}
		if (tunnel_accepts(arr, family, table, name, f->tunnel) >= (forward ? 4u : 1u)) {
			add(o, WF_FW_OK,
			    "table %s %s, chain %s (%s hook, policy drop) accepts traffic on %s",
			    family, table, name, hook, f->tunnel);
			continue;
		}
		nft_commands(add(o, WF_FW_WARN,
		                 "table %s %s, chain %s (%s hook, policy drop) drops wgfwd's %s: "
		                 "wgfwd does not edit another owner's table",
		                 family, table, name, hook,
		                 forward ? "forwarded flows" : "control connections"),
		             f, family, table, name, forward);
	}
}

/* program: "iptables" or "iptables-legacy"; the IPv6 rules get ip6tables[-legacy]. */
static void iptables_commands(struct wf_fw_finding *n, const struct wf_fw_facts *f,
                              const char *program)
{
	for (size_t i = 0; f->rules && i < f->rules->n; i++) {
		const char *text = f->rules->text[i], *rest = strchr(text, ' ');
		bool v6 = !strncmp(text, "ip6tables", 9);

		if (rest)
			fix(n, "%s%s%s\n", v6 ? "ip6" : "ip", program + 2, rest);
	}
}

static void report_iptables(struct out *o, const struct wf_fw_facts *f, const struct seen *s)
{
	struct wf_fw_finding *n;
	const char *who = s->ufw ? "ufw is active" : "iptables has policy DROP";

	if (!s->ufw && !s->iptables_drop)
		return;
	if (!f->rules_known) {
		add(o, WF_FW_WARN, "%s; cannot read the iptables chains to see wgfwd's rules", who);
		return;
	}
	if (f->rules_found.wanted && f->rules_found.in_place >= f->rules_found.wanted) {
		add(o, WF_FW_OK,
		    "%s: wgfwd-gateway accepts its flows at the top of iptables FORWARD and INPUT "
		    "(%zu rules in place)%s%s",
		    who, f->rules_found.in_place, s->iptables_drop ? "; policy DROP in " : "",
		    s->iptables_drop ? s->iptables_drops : "");
		return;
	}
	n = add(o, WF_FW_WARN,
	        "%s and wgfwd-gateway's accept rules are not in place (%zu of %zu): it drops "
	        "wgfwd's forwards and control connections",
	        who, f->rules_found.in_place, f->rules_found.wanted);
	fix(n, "start wgfwd-gateway (without --no-host-firewall): it adds and keeps\n");
	iptables_commands(n, f, "iptables");
	if (s->ufw)
		fix(n,
		    "or let them through in ufw:\n"
		    "ufw route allow in on %s out on %s\n"
		    "ufw route allow in on %s out on %s\n"
		    "ufw allow in on %s to any port %u proto tcp",
		    f->public_if, f->tunnel, f->tunnel, f->public_if, f->tunnel, f->control_port);
}

static void report_firewalld(struct out *o, const struct wf_fw_facts *f)
{
	struct wf_fw_finding *n =
	    add(o, WF_FW_WARN,
	        "firewalld is running: its zones drop wgfwd's forwards and control connections "
	        "unless they are let through (wgfwd does not edit firewalld's table)");

	fix(n,
	    "firewall-cmd --permanent --new-zone=wgfwd\n"
	    "firewall-cmd --permanent --zone=wgfwd --add-interface=%s\n"
	    "firewall-cmd --permanent --zone=wgfwd --add-port=%u/tcp\n"
	    "firewall-cmd --permanent --new-policy=wgfwd-in\n"
	    "firewall-cmd --permanent --policy=wgfwd-in --add-ingress-zone=public\n"
	    "firewall-cmd --permanent --policy=wgfwd-in --add-egress-zone=wgfwd\n"
	    "firewall-cmd --permanent --policy=wgfwd-in --set-target=ACCEPT\n"
	    "firewall-cmd --permanent --new-policy=wgfwd-out\n"
	    "firewall-cmd --permanent --policy=wgfwd-out --add-ingress-zone=wgfwd\n"
	    "firewall-cmd --permanent --policy=wgfwd-out --add-egress-zone=public\n"
	    "firewall-cmd --permanent --policy=wgfwd-out --set-target=ACCEPT\n"
	    "firewall-cmd --reload\n"
	    "(`public' is the zone of %s: firewall-cmd --get-zone-of-interface=%s; wgfwd's own "
	    "table still drops whatever was not forwarded or granted)",
	    f->tunnel, f->control_port, f->public_if, f->public_if);
}

static bool has_words(const char *text)
{
	for (; text && *text; text++)
		if (*text != ' ' && *text != '\n' && *text != '\t')
			return true;
	return false;
}

static void report_legacy(struct out *o, const struct wf_fw_facts *f)
{
	bool loaded = has_words(f->ip_tables_names) || has_words(f->ip6_tables_names);
	bool rules = false;
	struct wf_fw_finding *n;

	if (f->legacy_rules)
		rules = strstr(f->legacy_rules, "-A ") || strstr(f->legacy_rules, " DROP") ||
		        strstr(f->legacy_rules, " REJECT");
	if (!loaded && !rules)
		return;
	if (!rules) {
		add(o, WF_FW_OK,
		    "iptables-legacy tables are loaded but hold no rule or drop policy");
		return;
	}
	n = add(o, WF_FW_FAIL,
	        "iptables-legacy holds rules: unsupported. wgfwd writes nftables and cannot pass "
	        "the legacy tables' drops, which apply to its flows all the same");
	fix(n, "move the firewall to iptables-nft:\n"
	       "update-alternatives --set iptables /usr/sbin/iptables-nft\n"
	       "update-alternatives --set ip6tables /usr/sbin/ip6tables-nft\n"
	       "then reload the firewall (ufw reload, or your rules script), empty the legacy "
	       "tables (iptables-legacy -F; iptables-legacy -X; iptables-legacy -P INPUT ACCEPT; "
	       "iptables-legacy -P FORWARD ACCEPT, and the same with ip6tables-legacy) and restart "
	       "wgfwd-gateway;\nor accept wgfwd's flows in the legacy chains yourself:\n");
	iptables_commands(n, f, "iptables-legacy");
}

int wf_doctor_fw(const struct wf_fw_facts *f, struct wf_fw_findings *out)
{
	struct out o = {out, 0};
	struct seen s = {.firewalld = f->firewalld_running, .ufw = f->ufw_enabled};
	json_object *root = NULL, *arr = NULL;
	int bad = 0;

	memset(out, 0, sizeof(*out));
	if (f->nft_json) {
		root = json_tokener_parse(f->nft_json);
		if (!root || !json_object_object_get_ex(root, "nftables", &arr) ||
		    !json_object_is_type(arr, json_type_array))
			bad = -EINVAL;
		else
			scan_nft(&o, f, arr, &s);
	}
	if (s.firewalld)
		report_firewalld(&o, f);
	report_iptables(&o, f, &s);
	report_legacy(&o, f);
	json_object_put(root);
	if (o.err) {
		wf_fw_findings_free(out);
		return o.err;
	}
	return bad;
}

void wf_fw_findings_free(struct wf_fw_findings *f)
{
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}
