/* One gateway as the agent's configuration names it: --gateway-link
 * NAME,IFNAME,ADDR[:PORT][,KEYFILE] (an IPv6 ADDR with a port in brackets: [fc00::1]:51821).
 * Pure: no I/O. */
#ifndef WGFWD_AGENT_GATEWAY_SPEC_H
#define WGFWD_AGENT_GATEWAY_SPEC_H

#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

struct wf_gateway_spec {
	char name[WF_GATEWAY_NAME_MAX];
	char ifname[IF_NAMESIZE];
	char address[INET6_ADDRSTRLEN]; /* a literal address, as given */
	uint16_t port;                  /* 0: not given */
	char key_file[PATH_MAX];        /* "": not given */
};

/* 0, or -EINVAL with what was wrong in err. */
int wf_gateway_spec_parse(const char *text, struct wf_gateway_spec *out, char *err, size_t err_len);

#endif
