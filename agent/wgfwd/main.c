/* wgfwd: the command-line tool. One subcommand per file, dispatched from this table. */
#include <stdio.h>
#include <string.h>

#include <wgfwd/version.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"status", wf_cmd_status, "show forwards, egress and control channel state"},
    {"doctor", wf_cmd_doctor, "check the host settings wgfwd depends on"},
    {"genkey", wf_cmd_genkey, "make a new control-channel key (into FILE, mode 0600)"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: wgfwd <command> [options]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nOptions:\n  %-10s %s\n  %-10s %s\n", "--help", "show this help", "--version",
	        "show the version and the control message version");
	fprintf(f, "\nDry run of the agent: wgfwd-agent --dry-run [--json]\n"
	           "`wgfwd <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		wf_version_print(stdout, "wgfwd");
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "wgfwd: unknown command `%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
