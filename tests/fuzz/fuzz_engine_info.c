/* Arbitrary bytes as an engine's /version and /info answers (split at the first NUL byte, or
 * /version alone without one). Beyond memory errors: a successful parse names an engine, and
 * every field is a NUL-terminated string of its buffer. */
#include <wgfwd/engine_info.h>

#include <stdint.h>
#include <string.h>

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(data, '\0', size);
	size_t vlen = nul ? (size_t)(nul - text) : size;
	struct wf_engine_info e;

	if (wf_engine_info_parse(text, vlen, nul ? nul + 1 : NULL, nul ? size - vlen - 1 : 0, &e) ==
	    0)
		CHECK(!strcmp(e.name, "Docker") || !strcmp(e.name, "Podman"));
	CHECK(memchr(e.name, '\0', sizeof(e.name)) && memchr(e.version, '\0', sizeof(e.version)));
	CHECK(memchr(e.api, '\0', sizeof(e.api)) && memchr(e.firewall, '\0', sizeof(e.firewall)));
	return 0;
}
