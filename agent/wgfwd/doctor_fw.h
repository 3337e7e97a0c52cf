/* `wgfwd doctor --gateway`: what the VPS's other firewalls do to wgfwd's flows (pure: the
 * caller gathers the facts, this turns them into findings, each with the exact commands that
 * let wgfwd's traffic through).
 *
 *   nft -j list ruleset, /proc/net/ip{,6}_tables_names, iptables-legacy -S, firewalld's pid,
 *   ufw.conf, the gateway's own rules found by shape --wf_doctor_fw--> findings
 *
 * - iptables-nft tables (ip/ip6 filter) with ufw's chains or a drop policy: wgfwd-gateway
 *   handles them itself (<wgfwd/hostfw.h>); the finding says whether its rules are in place.
 * - firewalld (its table, or its pid file): firewall-cmd commands for a zone holding the
 *   tunnel interface and policies that forward between it and the public zone.
 * - any other nftables base chain on the forward or input hook with policy drop: wgfwd never
 *   edits another owner's table, so it prints the `nft insert rule` commands instead.
 * - iptables-legacy tables in use: unsupported (wgfwd writes nftables and cannot pass legacy
 *   drops); what to do. */
#ifndef WGFWD_DOCTOR_FW_H
#define WGFWD_DOCTOR_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wgfwd/hostfw.h>

struct wf_fw_facts {
	const char *nft_json;         /* `nft -j list ruleset`; NULL when unavailable */
	const char *ip_tables_names;  /* /proc/net/ip_tables_names; NULL when unreadable */
	const char *ip6_tables_names; /* /proc/net/ip6_tables_names */
	const char *legacy_rules;     /* `iptables-legacy -S; ip6tables-legacy -S`, or NULL */
	bool firewalld_running;       /* its pid file exists */
	bool ufw_enabled;             /* /etc/ufw/ufw.conf says ENABLED=yes */
	const char *tunnel, *public_if;
	uint16_t control_port;
	const struct wf_gw_hostfw *rules; /* what the gateway would place (enabled) */
	bool rules_known;                 /* the kernel could be read: rules_found is valid */
	struct wf_gw_hostfw_result rules_found;
};

enum wf_fw_level { WF_FW_OK, WF_FW_WARN, WF_FW_FAIL };

struct wf_fw_finding {
	enum wf_fw_level level;
	char what[256];
	char fix[2048]; /* one command or sentence a line; "" when nothing is to be done */
};

struct wf_fw_findings {
	struct wf_fw_finding *v;
	size_t n, cap;
};

/* 0, -ENOMEM, or -EINVAL when nft_json is not nftables' JSON (the other facts still count). */
int wf_doctor_fw(const struct wf_fw_facts *f, struct wf_fw_findings *out);
void wf_fw_findings_free(struct wf_fw_findings *f);

#endif
