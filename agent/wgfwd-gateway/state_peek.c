/* Reading a state's generation from its text without decoding it, for the control server
 * (control.c): under a flood most states are superseded before their turn and are never
 * decoded. Pure, so it stands apart from the connections. */
#include "state_peek.h"

#include <string.h>

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Whether json is a state, and its generation, without decoding it: under a flood most states
 * are superseded before their turn, and decoding each took most of the gateway's time. Only
 * plain members of the top-level object count; anything unusual (an escaped or repeated key,
 * a generation that is not a plain integer, bytes after the object) answers false, and the
 * message is decoded as any other. */
bool wf_gw_peek_state(const char *json, size_t len, uint64_t *generation)
{
	return wf_gw_peek_message(json, len, "state", generation);
}

bool wf_gw_peek_message(const char *json, size_t len, const char *type, uint64_t *generation)
{
	size_t i = 0, depth = 0, type_len = strlen(type);
	bool expect_key = false, state = false, have_gen = false;

	while (i < len && is_space(json[i]))
		i++;
	if (i == len || json[i] != '{')
		return false;
	while (i < len) {
		char ch = json[i];

		if (ch == '"') {
			size_t start = ++i, end;
			bool escaped = false;

			for (; i < len && json[i] != '"'; i++) {
				if (json[i] == '\\') {
					escaped = true;
					i++;
				}
			}
			if (i >= len)
				return false;
			end = i++;
			if (depth != 1 || !expect_key)
				continue;
			expect_key = false;
			if (escaped)
				return false;
			while (i < len && is_space(json[i]))
				i++;
			if (i == len || json[i] != ':')
				return false;
			for (i++; i < len && is_space(json[i]);)
				i++;
			if (end - start == 4 && !memcmp(json + start, "type", 4)) {
				if (state || len - i < type_len + 2 || json[i] != '"' ||
				    memcmp(json + i + 1, type, type_len) ||
				    json[i + 1 + type_len] != '"')
					return false;
				state = true;
				i += type_len + 2;
			} else if (end - start == 10 && !memcmp(json + start, "generation", 10)) {
				uint64_t g = 0;
				size_t digits = 0;

				if (have_gen)
					return false;
				for (; i < len && json[i] >= '0' && json[i] <= '9'; i++, digits++) {
					if (g > (UINT64_MAX - 9) / 10)
						return false;
					g = g * 10 + (uint64_t)(json[i] - '0');
				}
				if (!digits || (i < len && (json[i] == '.' || json[i] == 'e' ||
				                            json[i] == 'E')))
					return false;
				*generation = g;
				have_gen = true;
			}
			continue;
		}
		if (ch == '{' || ch == '[') {
			depth++;
			expect_key = depth == 1;
		} else if (ch == '}' || ch == ']') {
			if (depth-- == 0)
				return false;
			if (depth == 0)
				break;
		} else if (ch == ',') {
			expect_key = depth == 1;
		}
		i++;
	}
	if (i == len || depth != 0)
		return false;
	for (i++; i < len && is_space(json[i]);)
		i++;
	return i == len && state && have_gen;
}
