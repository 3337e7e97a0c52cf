/* Which container engine and firewall backend the server runs, from the engine's own answers
 * to GET /version and GET /info (pure: no I/O). Docker reports its firewall backend in /info's
 * FirewallBackend.Driver from API 1.49 (Docker 28.1); older engines do not say, and Podman's
 * Docker-compatible API names itself in /version's Components. */
#ifndef WGFWD_ENGINE_INFO_H
#define WGFWD_ENGINE_INFO_H

#include <stddef.h>

struct wf_engine_info {
	char name[32];     /* "Docker", "Podman"; "" when /version could not be read */
	char version[64];  /* "20.10.24+dfsg1", "4.3.1" */
	char api[16];      /* "1.41" */
	char firewall[32]; /* "iptables", "nftables", "iptables+firewalld"; "" when not said */
};

/* Either document may be NULL (not fetched). 0, or -EBADMSG when /version is not a JSON
 * object with a Version. */
int wf_engine_info_parse(const char *version_json, size_t version_len, const char *info_json,
                         size_t info_len, struct wf_engine_info *out);

#endif
