/* Unit tests for self-protection: the /proc/TID/syscall parser and the policy section. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"
#include "selfprot.h"

static void test_parse_syscall(void **state)
{
	long nr;
	uint64_t fl, how;

	/* openat(AT_FDCWD, path, O_WRONLY|O_CLOEXEC) */
	assert_int_equal(selfprot_parse_syscall("257 0xffffff9c 0x7ffd1000 0x80001 0x0 0x0 0x0 0x7ffd 0x7f00\n",
						&nr, &fl, &how), SELFPROT_WRITE);
	assert_int_equal(nr, 257);
	assert_int_equal(fl, O_WRONLY | O_CLOEXEC);
	/* openat read-only; open(path, O_RDONLY|O_TRUNC) counts as a write */
	assert_int_equal(selfprot_parse_syscall("257 0xffffff9c 0x1 0x80000 0x0 0x0 0x0 0x1 0x2", &nr, &fl, &how),
			 SELFPROT_READ);
	assert_int_equal(selfprot_parse_syscall("2 0x1000 0x200 0x0 0x0 0x0 0x0 0x1 0x2", &nr, &fl, &how),
			 SELFPROT_WRITE);
	assert_int_equal(selfprot_parse_syscall("85 0x1000 0x1a4 0x0 0x0 0x0 0x0 0x1 0x2", &nr, &fl, &how),
			 SELFPROT_WRITE);
	assert_int_equal(selfprot_parse_syscall("59 0x1000 0x2000 0x3000 0x0 0x0 0x0 0x1 0x2", &nr, &fl, &how),
			 SELFPROT_READ);
	assert_int_equal(selfprot_parse_syscall("437 0xffffff9c 0x1000 0x7ffe00 0x18 0x0 0x0 0x1 0x2", &nr, &fl, &how),
			 SELFPROT_NEED_HOW);
	assert_int_equal(how, 0x7ffe00);
	/* not in a known open: io_uring, blocked outside a syscall */
	assert_int_equal(selfprot_parse_syscall("426 0x3 0x1 0x0 0x0 0x0 0x0 0x1 0x2", &nr, &fl, &how), SELFPROT_UNKNOWN);
	assert_int_equal(selfprot_parse_syscall("-1 0x7ffd 0x7f00", &nr, &fl, &how), SELFPROT_UNKNOWN);
	assert_int_equal(selfprot_parse_syscall("running", &nr, &fl, &how), -EINVAL);
	assert_int_equal(selfprot_parse_syscall("257 0x1 0x2", &nr, &fl, &how), -EINVAL);
	assert_true(selfprot_flags_write(O_RDWR));
	assert_false(selfprot_flags_write(O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
}

static const char *section_err(const char *sec, void **cfg, char *err, size_t errlen)
{
	char doc[2048];
	struct vigil_policy *p = NULL;

	snprintf(doc, sizeof(doc), "{\"version\": 1,\n \"self_protection\": %s}\n", sec);
	err[0] = 0;
	if (policy_load_string(doc, "t.json", &p, err, errlen)) {
		*cfg = NULL;
		return err;
	}
	*cfg = p;
	return NULL;
}

static void test_policy(void **state)
{
	char err[512];
	void *p;
	const struct selfprot_config *c;

	assert_null(section_err("{\"deny_writes\": true, \"files\": [\"/etc/vigil\", \"/var/lib/vigil/\"], "
				"\"updaters\": [\"/usr/bin/dpkg\"], \"severity\": \"medium\"}", &p, err, sizeof(err)));
	c = ((struct vigil_policy *)p)->feature[POLICY_SELFPROT];
	assert_true(c->deny_writes && c->pins);
	assert_int_equal(c->severity, VIGIL_SEV_MEDIUM);
	assert_int_equal(c->files.n, 2);
	assert_string_equal(c->files.v[1], "/var/lib/vigil");
	assert_string_equal(c->updaters.v[0], "/usr/bin/dpkg");
	policy_free(p);
	/* absent section: no denial, pin checks on */
	assert_null(section_err("{}", &p, err, sizeof(err)));
	c = ((struct vigil_policy *)p)->feature[POLICY_SELFPROT];
	assert_false(c->deny_writes);
	assert_true(c->pins);
	policy_free(p);
	assert_non_null(section_err("{\"deny_writes\": true, \"files\": [\"/\"]}", &p, err, sizeof(err)));
	assert_non_null(strstr(err, "t.json:2:"));
	assert_non_null(strstr(err, "cannot be protected"));
	assert_non_null(section_err("{\"deny\": true}", &p, err, sizeof(err)));
	assert_non_null(strstr(err, "unknown key"));
	assert_non_null(section_err("{\"files\": [\"relative\"]}", &p, err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_syscall),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests_name("selfprot", tests, NULL, NULL);
}
