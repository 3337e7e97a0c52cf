#include <stdio.h>
#include <sys/stat.h>

#include <sodium.h>

#include <wgfwd/cli.h>
#include <wgfwd/keyfile.h>

int wf_cmd_genkey(int argc, char **argv)
{
	uint8_t key[WF_KEY_LEN];
	char text[WF_KEY_BASE64_LEN];

	if (argc > 1) {
		fprintf(stderr, "Usage: wgfwd genkey > server.key\n");
		return 2;
	}
	/* Like `wg genkey`: whatever the shell redirects this into is created private. */
	umask(077);
	if (sodium_init() < 0 || wf_key_generate(key)) {
		fprintf(stderr, "wgfwd genkey: no randomness available\n");
		return 1;
	}
	wf_key_to_base64(key, text);
	sodium_memzero(key, sizeof(key));
	printf("%s\n", text);
	sodium_memzero(text, sizeof(text));
	return 0;
}
