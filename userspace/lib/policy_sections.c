/*
 * Feature section parsers, one line per feature: each module owns its
 * section's schema and config struct; policy_load() runs them all.
 */
#include <stddef.h>
#include "policy.h"
#include "jit.h"

const struct policy_section policy_sections[] = {
	{ "jit", POLICY_JIT, jit_policy_parse, jit_policy_free },
	{ NULL, 0, NULL, NULL },
};
