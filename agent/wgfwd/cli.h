/* The wgfwd command: one function per subcommand, dispatched from a table in main.c. */
#ifndef WGFWD_CLI_H
#define WGFWD_CLI_H

int wf_cmd_genkey(int argc, char **argv);
int wf_cmd_status(int argc, char **argv);
int wf_cmd_doctor(int argc, char **argv);

#endif
