/* The memory floor of the agent's libraries: a program linked against the same libraries as
 * wgfwd-agent (the libcurl it links too: the minimal one built in, or the system's with its
 * TLS, SSH, LDAP and Kerberos libraries) that initialises them the way the agent does (libcurl's
 * global and multi state, a libevent base, libsodium) and holds nothing of its own, then prints
 * its VmRSS, RssAnon and PSS in kB. bench/lab_bench.sh sets the running agent's memory beside
 * it, so what the agent holds itself is told apart from what loading its libraries costs.
 *   wfb_floor */
#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static long field_kb(const char *path, const char *name)
{
	char line[256];
	long kb = -1;
	size_t len = strlen(name);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':') {
			sscanf(line + len + 1, "%ld", &kb);
			break;
		}
	fclose(f);
	return kb;
}

int main(void)
{
	struct event_base *base;
	struct nftnl_table *t;
	struct json_object *j;
	struct mnl_socket *nl;
	CURLM *multi;
	CURL *easy;

	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	multi = curl_multi_init();
	easy = curl_easy_init();
	base = event_base_new();
	j = json_tokener_parse("{\"a\":[1,2]}");
	t = nftnl_table_alloc();
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!multi || !easy || !base || !j || !t)
		return 1;
	printf("%ld %ld %ld\n", field_kb("/proc/self/status", "VmRSS"),
	       field_kb("/proc/self/status", "RssAnon"),
	       field_kb("/proc/self/smaps_rollup", "Pss"));
	if (nl)
		mnl_socket_close(nl);
	nftnl_table_free(t);
	json_object_put(j);
	event_base_free(base);
	curl_easy_cleanup(easy);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return 0;
}
