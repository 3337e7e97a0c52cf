/* sock_diag answers as a dump delivers them (and WireGuard's generic netlink answers). Whatever
 * parses must classify into public families the host ports then hold exactly, and nothing may
 * read beyond the message. */
#include <wgfwd-gateway/listeners.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void classify(const struct wf_gw_listener *l)
{
	struct wf_gw_params p = {.public_ifname = "eth0"};
	struct wf_gw_host_ports hp;
	int fams;

	inet_pton(AF_INET, "192.0.2.1", &p.public_ip4[p.n_public_ip4++]);
	inet_pton(AF_INET6, "2001:db8:1::1", &p.public_ip6[p.n_public_ip6++]);
	fams = wf_gw_listener_families(l, &p, 2);
	if (fams & ~(WF_GW_FAMILY4 | WF_GW_FAMILY6))
		abort();
	if (wf_gw_host_ports_build(l, 1, NULL, 0, &p, 2, NULL, 0, &hp))
		return;
	if (hp.n != (size_t) !!(fams & WF_GW_FAMILY4) + !!(fams & WF_GW_FAMILY6))
		abort();
	if (!!(fams & WF_GW_FAMILY4) != wf_gw_host_ports_has(&hp, AF_INET, l->proto, l->port) ||
	    !!(fams & WF_GW_FAMILY6) != wf_gw_host_ports_has(&hp, AF_INET6, l->proto, l->port))
		abort();
	wf_gw_host_ports_free(&hp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Netlink messages are read from aligned buffers. */
	void *msg = malloc(size ? size : 1);
	struct wf_gw_listener l;
	uint16_t v;

	if (!msg)
		return 0;
	memcpy(msg, data, size);
	if (!wf_gw_diag_parse(msg, size, IPPROTO_TCP, &l))
		classify(&l);
	if (!wf_gw_diag_parse(msg, size, IPPROTO_UDP, &l))
		classify(&l);
	wf_gw_genl_family_parse(msg, size, &v);
	wf_gw_wg_device_parse(msg, size, &v);
	free(msg);
	return 0;
}
