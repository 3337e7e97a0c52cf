#include <wgfwd/ctl.h>
#include <wgfwd/version.h>

void wf_version_print(FILE *f, const char *program)
{
	fprintf(f, "%s %s (control channel: message version %d, handshake version %d)\n", program,
	        wf_version, WF_CTL_MSG_VERSION, WF_CTL_HANDSHAKE_VERSION);
}
