/*
 * Feature section parsers, one line per feature: each module owns its
 * section's schema and config struct; policy_load() runs them all.
 */
#include <stddef.h>
#include "policy.h"
#include "forward.h"
#include "aac.h"
#include "jit.h"
#include "fim.h"
#include "detect.h"
#include "selfprot.h"

const struct policy_section policy_sections[] = {
	{ "aac", POLICY_AAC, aac_policy_parse, aac_config_free },
	{ "jit", POLICY_JIT, jit_policy_parse, jit_policy_free },
	{ "fim", POLICY_FIM, fim_policy_parse, fim_config_free },
	{ "detections", POLICY_DETECTIONS, detect_policy_parse, detect_config_free },
	{ "forward", POLICY_FORWARD, forward_policy_parse, forward_config_free },
	{ "self_protection", POLICY_SELFPROT, selfprot_policy_parse, selfprot_config_free },
	{ NULL, 0, NULL, NULL },
};
