/* What the kernel tests share: running a shell command (ip, nft, iptables) inside the test's
 * private network namespace. Include after cmocka.h. */
#ifndef WGFWD_KERNEL_TEST_H
#define WGFWD_KERNEL_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs the formatted command; the test fails, naming it, unless it exits 0. */
static inline void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("`%s' exited with %d", cmd, rc);
}

#endif
