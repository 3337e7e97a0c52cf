#include "gateway_spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits at the first comma: the field is copied into out, *rest moves past the comma. */
static int field(const char **rest, char *out, size_t size)
{
	const char *s = *rest, *comma = strchr(s, ',');
	size_t n = comma ? (size_t)(comma - s) : strlen(s);

	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(out, s, n);
	out[n] = '\0';
	*rest = comma ? comma + 1 : NULL;
	return 0;
}

static int parse_address(char *text, struct wf_gateway_spec *out)
{
	struct in6_addr a6;
	struct in_addr a4;
	char *port = NULL, *end;
	unsigned long v;

	if (text[0] == '[') {
		char *close = strchr(text, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		*close = '\0';
		port = close[1] ? close + 2 : NULL;
		text++;
		if (inet_pton(AF_INET6, text, &a6) != 1)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, text, &a6) != 1) {
		port = strchr(text, ':');
		if (port)
			*port++ = '\0';
		if (inet_pton(AF_INET, text, &a4) != 1)
			return -EINVAL;
	}
	if (strlen(text) >= sizeof(out->address))
		return -EINVAL;
	memcpy(out->address, text, strlen(text) + 1);
	if (!port)
		return 0;
	errno = 0;
	v = strtoul(port, &end, 10);
	if (!*port || *end || errno || v < 1 || v > 65535)
		return -EINVAL;
	out->port = (uint16_t)v;
	return 0;
}

int wf_gateway_spec_parse(const char *text, struct wf_gateway_spec *out, char *err, size_t err_len)
{
	const char *rest = text;
	char addr[INET6_ADDRSTRLEN + 16], check[WF_GATEWAY_LIST_MAX], why[256];

	memset(out, 0, sizeof(*out));
	if (field(&rest, out->name, sizeof(out->name)) || !rest ||
	    field(&rest, out->ifname, sizeof(out->ifname)) || !rest ||
	    field(&rest, addr, sizeof(addr)) ||
	    (rest && field(&rest, out->key_file, sizeof(out->key_file))) || rest) {
		snprintf(err, err_len, "`%s' is not NAME,IFNAME,ADDR[:PORT][,KEYFILE]", text);
		return -EINVAL;
	}
	if (wf_gateways_parse(out->name, check, why, sizeof(why)) || strchr(check, ',')) {
		snprintf(err, err_len,
		         "`%s': the name `%s' is not one of letters, digits, `.', `_', `-'", text,
		         out->name);
		return -EINVAL;
	}
	if (!out->ifname[0]) {
		snprintf(err, err_len, "`%s': no interface", text);
		return -EINVAL;
	}
	if (parse_address(addr, out)) {
		snprintf(err, err_len, "`%s': `%s' is not ADDR or ADDR:PORT ([ADDR]:PORT for IPv6)",
		         text, addr);
		return -EINVAL;
	}
	return 0;
}
