#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <wgfwd/keyfile.h>

#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: wgfwd genkey [FILE]\n"
	           "  FILE     write the key there, created with mode 0600; an existing FILE is\n"
	           "           never overwritten\n"
	           "  (none)   print the key; `wgfwd genkey > FILE' makes FILE private when the\n"
	           "           shell has just created it empty\n");
}

/* `wgfwd genkey > FILE': the shell created FILE under its own umask, often 0644, and the
 * daemons would refuse it. An empty regular file of ours is what the shell just made for this
 * key: make it private before the key goes in. Anything else is only warned about. */
static int private_stdout(void)
{
	char link[64], path[PATH_MAX], word[1024];
	struct stat st;
	ssize_t n;

	if (fstat(STDOUT_FILENO, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !(st.st_mode & (S_IRWXG | S_IRWXO)))
		return 0;
	if (st.st_size == 0 && st.st_uid == geteuid() && fchmod(STDOUT_FILENO, 0600) == 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", STDOUT_FILENO);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		snprintf(path, sizeof(path), "FILE");
	else
		path[n] = '\0';
	wf_shell_word(path, word, sizeof(word));
	fprintf(stderr,
	        "wgfwd genkey: %s has mode %04o and the daemons will refuse it: chmod 600 %s "
	        "(or use `wgfwd genkey FILE')\n",
	        path, (unsigned)(st.st_mode & 07777), word);
	return 1;
}

int wf_cmd_genkey(int argc, char **argv)
{
	uint8_t key[WF_KEY_LEN];
	char text[WF_KEY_TEXT_LEN], err[PATH_MAX + 256];
	const char *file = NULL;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc > 2 || (argc == 2 && (argv[1][0] == '-' || !argv[1][0]))) {
		usage(stderr);
		return 2;
	}
	if (argc == 2)
		file = argv[1];
	/* Like `wg genkey`: anything created meanwhile is private. */
	umask(077);
	if (sodium_init() < 0 || wf_key_generate(key)) {
		fprintf(stderr, "wgfwd genkey: no randomness available\n");
		return 1;
	}
	if (file) {
		ret = wf_keyfile_write(file, key, err, sizeof(err));
		sodium_memzero(key, sizeof(key));
		if (ret) {
			fprintf(stderr, "wgfwd genkey: %s\n", err);
			return 1;
		}
		return 0;
	}
	private_stdout();
	wf_key_to_text(key, text);
	sodium_memzero(key, sizeof(key));
	printf("%s\n", text);
	sodium_memzero(text, sizeof(text));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "wgfwd genkey: cannot write the key: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
