/*
 * Feature section parsers, one line per feature: each module owns its
 * section's schema and config struct; policy_load() runs them all.
 */
#include <stddef.h>
#include "policy.h"

const struct policy_section policy_sections[] = {
	{ NULL, 0, NULL, NULL },
};
