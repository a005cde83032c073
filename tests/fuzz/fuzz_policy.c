/*
 * libFuzzer target: the policy parser (policy_load_string) with every feature
 * section parser registered in policy_sections.c.  Any text must give either a
 * policy or -EINVAL with a one-line "name:line:col: message"; nothing may
 * crash, leak or read out of bounds.  A policy that loads is freed again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vigil_policy *p = NULL;
	char err[1024];
	char *text;
	int r;

	if (size > 1 << 16)
		return 0;
	text = strndup((const char *)data, size);
	CHECK(text);
	err[0] = 0;
	r = policy_load_string(text, "fuzz.json", &p, err, sizeof(err));
	if (r == 0) {
		CHECK(p);
		policy_free(p);
	} else {
		CHECK(!p);
		CHECK(r < 0);
		/* one line, saying where */
		CHECK(err[0] && !strchr(err, '\n'));
		CHECK(!strncmp(err, "fuzz.json", 9));
	}
	free(text);
	return 0;
}
