/* Arbitrary bytes as the `nft -j list ruleset` text and the legacy iptables listing that
 * `wgfwd doctor --gateway` reads. Beyond memory errors: it returns 0 or -EINVAL, and every
 * finding is a terminated line of text with a known level. */
#include <wgfwd/doctor_fw.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wf_gw_hostfw rules;
	struct wf_gw_hostfw_spec p = {.control_port = 51821};
	struct wf_fw_facts f = {0};
	struct wf_fw_findings out;
	char *text = malloc(size + 1);
	int err;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	strcpy(p.tunnel_ifname, "wg0");
	strcpy(p.public_ifname, "eth0");
	wf_gw_hostfw_render(&p, true, &rules);
	f.nft_json = text;
	f.legacy_rules = text;
	f.ip_tables_names = text;
	f.tunnel = "wg0";
	f.public_if = "eth0";
	f.control_port = 51821;
	f.rules = &rules;
	f.rules_known = size & 1;
	err = wf_doctor_fw(&f, &out);
	CHECK(err == 0 || err == -EINVAL || err == -ENOMEM);
	for (size_t i = 0; i < out.n; i++) {
		CHECK(out.v[i].level <= WF_FW_FAIL);
		CHECK(memchr(out.v[i].what, '\0', sizeof(out.v[i].what)));
		CHECK(memchr(out.v[i].fix, '\0', sizeof(out.v[i].fix)));
	}
	wf_fw_findings_free(&out);
	free(text);
	return 0;
}
