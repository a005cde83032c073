/* Unit tests for application control logic (aac_policy.c, aac_dpkg.c, aac_learn.c): no root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "aac.h"
#include "policy.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct vigil_policy *load(const char *aac, char *err, size_t errlen)
{
	char text[8192];
	struct vigil_policy *p = NULL;

	snprintf(text, sizeof(text), "{\"version\": 1,\n\"aac\": %s}\n", aac);
	if (policy_load_string(text, "t.json", &p, err, errlen))
		return NULL;
	return p;
}

static void expect_fail(const char *aac, const char *want)
{
	char err[1024] = "";
	struct vigil_policy *p = load(aac, err, sizeof(err));

	if (p || !strstr(err, want)) {
		print_error("aac section %s\n  expected error containing: %s\n  seen: %s\n", aac, want, p ? "(accepted)" : err);
		policy_free(p);
		fail();
	}
}

static void test_defaults(void **state)
{
	char err[512];
	struct vigil_policy *p = load("{}", err, sizeof(err));
	const struct aac_config *c;

	assert_non_null(p);
	c = p->feature[POLICY_AAC];
	assert_int_equal(c->mode, AAC_MODE_LEARN);
	assert_true(c->on_error_allow);
	assert_int_equal(c->decision_timeout_ms, 2000);
	assert_int_equal(c->enforce_paths.n, 1);
	assert_string_equal(c->enforce_paths.v[0], "/");
	assert_int_equal(c->nrules, 0);
	policy_free(p);
}

static void test_parse_errors(void **state)
{
	expect_fail("{\"mode\": \"block\"}", "t.json:2:9: /aac/mode: unknown mode \"block\"");
	expect_fail("{\"on_error\": \"maybe\"}", "/aac/on_error: expected \"allow\" or \"deny\"");
	expect_fail("{\"rules\": [{\"kind\": \"hash\", \"sha256\": \"abc\"}]}",
		    "/aac/rules/0/sha256: sha256 must be 64 hexadecimal digits, got 3 characters");
	expect_fail("{\"rules\": [{\"kind\": \"hash\", \"sha256\": \"" SHA_A "a\"}]}", "got 65 characters");
	expect_fail("{\"rules\": [{\"kind\": \"hash\", \"sha256\": \"" "zaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"}]}",
		    "'z' at offset 0");
	expect_fail("{\"rules\": [{\"kind\": \"pkg\"}]}", "/aac/rules/0/kind: unknown rule kind \"pkg\"");
	expect_fail("{\"rules\": [{\"kind\": \"package\"}]}", "/aac/rules/0: missing \"package\"");
	expect_fail("{\"rules\": [{\"kind\": \"package\", \"package\": \"a b\"}]}", "is not a Debian package name");
	expect_fail("{\"rules\": [{\"kind\": \"glob\", \"pattern\": \"opt/*\"}]}", "glob must be absolute");
	expect_fail("{\"rules\": [{\"kind\": \"hash\", \"sha256\": \"" SHA_A "\", \"path\": \"/x\"}]}",
		    "/aac/rules/0/path");
	expect_fail("{\"rules\": [{\"kind\": \"glob\", \"pattern\": \"/x\", \"scope\": \"pod\"}]}", "unknown scope \"pod\"");
	expect_fail("{\"threads\": 0}", "/aac/threads");
	expect_fail("{\"rules\": {}}", "/aac/rules: expected array of rules");
}

static struct aac_config *cfg_rules(struct vigil_policy **pp, const char *rules)
{
	char aac[4096], err[512];

	snprintf(aac, sizeof(aac), "{\"mode\": \"enforce\", \"rules\": %s}", rules);
	*pp = load(aac, err, sizeof(err));
	if (!*pp)
		print_error("%s\n", err);
	assert_non_null(*pp);
	return (*pp)->feature[POLICY_AAC];
}

static void test_decide(void **state)
{
	struct vigil_policy *p;
	struct aac_config *c = cfg_rules(&p,
		"[{\"kind\": \"path_hash\", \"path\": \"/opt/a\", \"sha256\": \"" SHA_A "\"},"
		" {\"kind\": \"glob\", \"pattern\": \"/opt/app/*\", \"scope\": \"host\"},"
		" {\"kind\": \"hash\", \"sha256\": \"" SHA_B "\", \"scope\": {\"container\": \"abc*\"}}]");
	struct aac_subject s = { .path = "/opt/a", .sha256 = SHA_A };
	struct aac_verdict v;

	aac_decide(c, NULL, &s, &v);
	assert_true(v.allow);
	assert_int_equal(v.rule, 0);
	s.sha256 = SHA_B;                                /* new content at an allowed path */
	aac_decide(c, NULL, &s, &v);
	assert_false(v.allow);
	assert_int_equal(v.reason, AAC_REASON_MODIFIED);
	s.path = "/opt/app/x";                           /* glob, host only, no '/' crossing */
	aac_decide(c, NULL, &s, &v);
	assert_true(v.allow);
	assert_int_equal(v.rule, 1);
	s.path = "/opt/app/sub/x";
	aac_decide(c, NULL, &s, &v);
	assert_false(v.allow);
	assert_int_equal(v.reason, AAC_REASON_NOT_LISTED);
	s.path = "/opt/app/x";
	s.container_id = "abcdef";                       /* in a container: glob (host) skipped, hash matches */
	aac_decide(c, NULL, &s, &v);
	assert_true(v.allow);
	assert_int_equal(v.rule, 2);
	s.container_id = "ffff";
	aac_decide(c, NULL, &s, &v);
	assert_false(v.allow);
	/* fileless code: only hash rules */
	struct aac_subject m = { .path = "/memfd:x (deleted)", .sha256 = SHA_A, .fileless = true };
	aac_decide(c, NULL, &m, &v);
	assert_false(v.allow);
	json_t *rr = aac_remediation_rule(&m, &v);
	assert_string_equal(json_string_value(json_object_get(rr, "kind")), "hash");
	json_decref(rr);
	struct aac_subject u = { .path = "/opt/a" };     /* unknown content */
	aac_decide(c, NULL, &u, &v);
	assert_false(v.allow);
	policy_free(p);
}

/* A dpkg admin dir with package "tools" owning /bin/tool (usr-merged lookups) and a removed package. */
static char *make_dpkg(uint8_t md5[16])
{
	static char dir[] = "/tmp/test_aac_dpkgXXXXXX";
	char p[256];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/info", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/status", dir);
	f = fopen(p, "w");
	fputs("Package: tools\nStatus: install ok installed\n\nPackage: old\nStatus: deinstall ok config-files\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/info/tools:amd64.md5sums", dir);
	f = fopen(p, "w");
	fputs("0123456789abcdef0123456789ABCDEF  bin/tool\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/info/tools:amd64.list", dir);
	f = fopen(p, "w");
	fputs("/bin\n/bin/tool\n/usr/lib/tools/helper\n", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/info/old.md5sums", dir);
	f = fopen(p, "w");
	fputs("0123456789abcdef0123456789abcdef  usr/bin/old\n", f);
	fclose(f);
	static const uint8_t want[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					  0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
	memcpy(md5, want, 16);
	return dir;
}

static void rm_dpkg(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_dpkg_and_package_rules(void **state)
{
	uint8_t md5[16], got[16], other[16] = { 0 };
	char *dir = make_dpkg(md5);
	struct aac_dpkg *d = aac_dpkg_load(dir);
	struct vigil_policy *p;
	struct aac_config *c;
	struct aac_verdict v;

	assert_non_null(d);
	assert_int_equal(aac_dpkg_packages(d), 1);      /* "old" is not installed */
	assert_string_equal(aac_dpkg_owner(d, "/usr/bin/tool", got), "tools");  /* usr-merge alias */
	assert_memory_equal(got, md5, 16);
	assert_string_equal(aac_dpkg_owner(d, "/bin/tool", got), "tools");
	assert_string_equal(aac_dpkg_owner(d, "/usr/lib/tools/helper", got), "tools");
	assert_null(aac_dpkg_owner(d, "/usr/bin/old", got));
	assert_null(aac_dpkg_owner(d, "/usr/bin/none", got));

	c = cfg_rules(&p, "[{\"kind\": \"package\", \"package\": \"tools\"}]");
	struct aac_subject s = { .path = "/usr/bin/tool", .sha256 = SHA_A, .md5 = md5 };
	aac_decide(c, d, &s, &v);
	assert_true(v.allow);
	assert_true(v.package_verified);
	s.md5 = other;                                   /* content differs from the package's */
	aac_decide(c, d, &s, &v);
	assert_false(v.allow);
	assert_string_equal(v.package, "tools");
	assert_false(v.package_verified);
	json_t *rr = aac_remediation_rule(&s, &v);
	assert_string_equal(json_string_value(json_object_get(rr, "kind")), "path_hash");
	json_decref(rr);
	s.md5 = md5;
	s.path = "/usr/lib/tools/helper";                /* owned, but dpkg has no md5: never verified */
	aac_decide(c, d, &s, &v);
	assert_false(v.allow);
	policy_free(p);
	aac_dpkg_free(d);
	rm_dpkg(dir);
	errno = 0;
	assert_null(aac_dpkg_load("/nonexistent/dpkg"));
	assert_int_equal(errno, ENOENT);
}

static void test_learn_store(void **state)
{
	struct aac_learn *l = aac_learn_new(3);
	char path[] = "/tmp/test_aac_learnXXXXXX";
	int fd = mkstemp(path);
	struct aac_observation o = { .path = "/usr/bin/x", .sha256 = SHA_A, .size = 10, .user = "root",
				     .parent = "/bin/bash", .wall_ns = 1000 };

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(aac_learn_add(l, &o), 0);
	o.wall_ns = 2000;
	o.user = "alice";
	assert_int_equal(aac_learn_add(l, &o), 0);      /* same key: counted */
	assert_int_equal(aac_learn_size(l), 1);
	o.sha256 = SHA_B;
	assert_int_equal(aac_learn_add(l, &o), 0);      /* new content: new entry */
	o.path = "/tmp/dropper";
	assert_int_equal(aac_learn_add(l, &o), 0);
	o.path = "/usr/bin/y";
	assert_int_equal(aac_learn_add(l, &o), -ENOSPC);  /* bounded */
	assert_int_equal(aac_learn_dropped(l), 1);
	assert_true(aac_learn_has(l, "/usr/bin/x", SHA_A));
	assert_int_equal(aac_learn_save(l, path), 0);

	struct aac_learn *l2 = aac_learn_new(16);
	assert_int_equal(aac_learn_load(l2, path), 0);
	assert_int_equal(aac_learn_size(l2), 3);
	json_t *a = aac_learn_to_json(l2), *e = json_array_get(a, 0);
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
	assert_int_equal(json_array_size(json_object_get(e, "users")), 2);
	assert_int_equal(json_integer_value(json_object_get(e, "last_seen_ns")), 2000);
	json_decref(a);

	/* recommend: /usr/bin/x twice (two hashes) as path_hash, /tmp/dropper risky */
	json_t *prop = aac_recommend(l2, NULL, NULL);
	json_t *rules = json_object_get(json_object_get(prop, "aac"), "rules");
	json_t *risky = json_object_get(prop, "risky");
	assert_int_equal(json_array_size(rules), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 0), "kind")), "path_hash");
	assert_int_equal(json_array_size(risky), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(risky, 0), "path")), "/tmp/dropper");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(risky, 0), "reason")), "world-writable"));
	json_decref(prop);
	aac_learn_free(l);
	aac_learn_free(l2);
	unlink(path);
}

static void test_proposal_merge(void **state)
{
	const char *pol = "{\"version\": 1, \"aac\": {\"mode\": \"audit\", \"rules\": ["
			  "{\"kind\": \"hash\", \"sha256\": \"" SHA_A "\"}]}}";
	char err[1024] = "", *out = NULL;
	size_t added = 99;

	assert_int_equal(aac_proposal_merge(pol, "{\"aac\": {\"rules\": [{\"kind\": \"hash\", \"sha256\": \"" SHA_A "\"},\n"
					    "{\"kind\": \"package\", \"package\": \"bash\"}]}, \"risky\": []}",
					    "p.json", &out, &added, err, sizeof(err)), 0);
	assert_int_equal(added, 1);
	json_t *d = json_loads(out, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(json_object_get(d, "aac"), "rules")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "aac"), "mode")), "audit");
	json_decref(d);
	free(out);

	assert_int_equal(aac_proposal_merge(pol, "{\"aac\": {\"rules\": [\n  {\"kind\": \"hash\", \"sha256\": \"12\"}]}}",
					    "p.json", &out, &added, err, sizeof(err)), -EINVAL);
	assert_null(out);
	assert_non_null(strstr(err, "p.json:2:"));
	assert_non_null(strstr(err, "64 hexadecimal digits"));
	assert_int_equal(aac_proposal_merge(pol, "{\"aac\": {\"rules\": [}", "p.json", &out, &added, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "p.json:1:"));
	assert_int_equal(aac_proposal_merge(pol, "{\"aac\": {\"rules\": [], \"mode\": \"enforce\"}}", "p.json", &out, &added,
					    err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/aac/mode"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_dpkg_and_package_rules),
		cmocka_unit_test(test_learn_store),
		cmocka_unit_test(test_proposal_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
