/*
 * libFuzzer target: the detection rule compiler (detect_ruleset_load_string), which
 * reads operator-supplied rule files (policies/rules/*.json).  Any text must give a
 * ruleset or -EINVAL with a one-line "name:line:col: message"; a ruleset that
 * compiles is bound and freed again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct detect_ruleset *rs = NULL;
	struct detect_env env = { .log_dir = "/var/log/vigil", .state_dir = "/var/lib/vigil",
				  .policy = "/etc/vigil/policy.json", .exe = "/usr/sbin/vigild" };
	char err[1024];
	char *text;
	int r;

	if (size > 1 << 16)
		return 0;
	text = strndup((const char *)data, size);
	CHECK(text);
	err[0] = 0;
	r = detect_ruleset_load_string(text, "fuzz.json", &rs, err, sizeof(err));
	if (r == 0) {
		CHECK(rs);
		detect_ruleset_bind(rs, &env);
		detect_ruleset_free(rs);
	} else {
		CHECK(!rs && r < 0);
		if (r == -EINVAL)
			CHECK(err[0] && !strchr(err, '\n') && !strncmp(err, "fuzz.json", 9));
	}
	free(text);
	return 0;
}
