/* The version of this build, from the Makefile (VERSION in a release tarball, `git describe`
 * in a checkout), and the line each program prints for --version. */
#ifndef WGFWD_VERSION_H
#define WGFWD_VERSION_H

#include <stdio.h>

extern const char wf_version[];

/* "PROGRAM VERSION (control channel: message version M, handshake version H)" */
void wf_version_print(FILE *f, const char *program);

#endif
