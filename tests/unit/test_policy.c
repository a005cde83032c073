/* Unit tests for the policy parser (userspace/lib/policy.c): no root needed. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"

/* Source tree root: $VIGIL_SRCDIR, else derived from this file's path. */
static const char *srcdir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("VIGIL_SRCDIR");
	const char *tail = "tests/unit/test_policy.c";
	size_t n = strlen(__FILE__), t = strlen(tail);

	if (env && *env)
		return env;
	if (!dir[0]) {
		if (n >= t && strcmp(__FILE__ + n - t, tail) == 0 && n - t < sizeof(dir) - 1)
			memcpy(dir, __FILE__, n - t);
		if (!dir[0])
			strcpy(dir, "./");
	}
	return dir;
}

static void srcpath(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s%s", srcdir(), rel);
}

/* Loads text that must be rejected with exactly `want`. */
#define expect_error(text, want) check_error(text, want, __FILE__, __LINE__)
static void check_error(const char *text, const char *want, const char *file, int line)
{
	struct vigil_policy *p = (struct vigil_policy *)&p;
	char err[1024] = "";
	int r = policy_load_string(text, "t.json", &p, err, sizeof(err));

	if (r != -EINVAL || p != NULL || strcmp(err, want) != 0) {
		print_error("policy_load_string\n"
			    "  expected: rc %d, out NULL, \"%s\"\n"
			    "      seen: rc %d, out %s, \"%s\"\n",
			    -EINVAL, want, r, p ? "set" : "NULL", err);
		if (r == 0)
			policy_free(p);
		_fail(file, line);
	}
}

/* Loads text that must be accepted; returns the policy. */
#define load_ok(text) check_load_ok(text, __FILE__, __LINE__)
static struct vigil_policy *check_load_ok(const char *text, const char *file, int line)
{
	struct vigil_policy *p = NULL;
	char err[1024] = "";
	int r = policy_load_string(text, "t.json", &p, err, sizeof(err));

	if (r != 0 || !p) {
		print_error("policy_load_string\n  expected: rc 0\n      seen: rc %d, \"%s\"\n", r, err);
		_fail(file, line);
	}
	return p;
}

#define expect_loc(text, path, l, c) check_loc(text, path, l, c, __FILE__, __LINE__)
static void check_loc(const char *text, const char *path, int wl, int wc, const char *file, int line)
{
	int l = -1, c = -1;
	int r = policy_locate(text, path, &l, &c);

	if (r != 0 || l != wl || c != wc) {
		print_error("policy_locate(\"%s\")\n  expected: rc 0, %d:%d\n      seen: rc %d, %d:%d\n",
			    path, wl, wc, r, l, c);
		_fail(file, line);
	}
}

#define expect_noloc(text, path) check_noloc(text, path, __FILE__, __LINE__)
static void check_noloc(const char *text, const char *path, const char *file, int line)
{
	int l = -1, c = -1;
	int r = policy_locate(text, path, &l, &c);

	if (r != -ENOENT) {
		print_error("policy_locate(\"%s\")\n  expected: rc %d\n      seen: rc %d, %d:%d\n",
			    path, -ENOENT, r, l, c);
		_fail(file, line);
	}
}

static void assert_strv(const struct policy_strv *sv, const char *const *want, size_t n)
{
	assert_int_equal(sv->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(sv->v[i], want[i]);
}

static const char *const def_watch[] = {
	"/etc", "/usr/bin", "/usr/sbin", "/usr/lib/systemd/system", "/boot", "/root/.ssh",
};
static const char *const def_dirs[] = { "/tmp", "/var/tmp", "/dev/shm" };

static void assert_defaults(const struct vigil_policy *p)
{
	assert_null(p->host_name);
	assert_true(p->sensor_exec);
	assert_true(p->sensor_file);
	assert_true(p->sensor_network);
	assert_strv(&p->file_watch, def_watch, 6);
	assert_true(p->tel_exec);
	assert_false(p->tel_fork_exit);
	assert_true(p->tel_file);
	assert_true(p->tel_network);
	assert_int_equal(p->out_max_bytes, 67108864);
	assert_int_equal(p->out_keep, 5);
	assert_true(p->out_compress);
	assert_null(p->control_group);
	assert_true(p->rule_ww_enabled);
	assert_int_equal(p->rule_ww_severity, VIGIL_SEV_MEDIUM);
	assert_strv(&p->rule_ww_dirs, def_dirs, 3);
	assert_non_null(p->doc);
}

/* ---- good policies ---- */

static void test_default_policy_loads(void **state)
{
	struct vigil_policy *p = NULL;
	char path[PATH_MAX], err[1024] = "";
	int r;

	srcpath(path, sizeof(path), "policies/default.json");
	r = policy_load(path, &p, err, sizeof(err));
	if (r != 0)
		fail_msg("policy_load(%s)\n  expected: rc 0\n      seen: rc %d, \"%s\"", path, r, err);
	assert_string_equal(p->source, path);
	assert_defaults(p);
	policy_free(p);
}

/* The built-in defaults are the shipped default policy. */
static void test_minimal_gets_defaults(void **state)
{
	struct vigil_policy *p = load_ok("{\"version\": 1}");

	assert_string_equal(p->source, "t.json");
	assert_defaults(p);
	policy_free(p);
}

static void test_examples_load(void **state)
{
	char pat[PATH_MAX];
	glob_t g;

	srcpath(pat, sizeof(pat), "policies/examples/*.json");
	assert_int_equal(glob(pat, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 2);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct vigil_policy *p = NULL;
		char err[1024] = "";
		int r = policy_load(g.gl_pathv[i], &p, err, sizeof(err));

		if (r != 0)
			fail_msg("policy_load(%s)\n  expected: rc 0\n      seen: rc %d, \"%s\"",
				 g.gl_pathv[i], r, err);
		policy_free(p);
	}
	globfree(&g);
}

static void test_all_fields(void **state)
{
	static const char *const watch[] = { "/", "/srv/www", "/home/a b/.ssh" };
	static const char *const dirs[] = { "/scratch" };
	struct vigil_policy *p = load_ok(
		"{\"version\": 1,\n"
		" \"host\": {\"name\": \"web-01\"},\n"
		" \"sensors\": {\"exec\": false, \"file\": true, \"network\": false},\n"
		" \"file\": {\"watch\": [\"/\", \"/srv/www/\", \"/home/a b/.ssh\"]},\n"
		" \"telemetry\": {\"exec\": false, \"fork_exit\": true, \"file\": false, \"network\": false},\n"
		" \"output\": {\"max_bytes\": 4096, \"keep\": 100, \"compress\": false},\n"
		" \"control\": {\"group\": \"vigil\"},\n"
		" \"rules\": {\"exec_world_writable\": {\"enabled\": false, \"severity\": \"high\",\n"
		"                                    \"dirs\": [\"/scratch\"]}},\n"
		" \"fim\": {\"enabled\": false},\n"
		" \"aac\": {}, \"jit\": {}, \"detections\": {}, \"forward\": {}}\n");

	assert_string_equal(p->host_name, "web-01");
	assert_false(p->sensor_exec);
	assert_true(p->sensor_file);
	assert_false(p->sensor_network);
	assert_strv(&p->file_watch, watch, 3);
	assert_false(p->tel_exec);
	assert_true(p->tel_fork_exit);
	assert_false(p->tel_file);
	assert_false(p->tel_network);
	assert_int_equal(p->out_max_bytes, 4096);
	assert_int_equal(p->out_keep, 100);
	assert_false(p->out_compress);
	assert_string_equal(p->control_group, "vigil");
	assert_false(p->rule_ww_enabled);
	assert_int_equal(p->rule_ww_severity, VIGIL_SEV_HIGH);
	assert_strv(&p->rule_ww_dirs, dirs, 1);
	assert_true(json_is_false(json_object_get(json_object_get(p->doc, "fim"), "enabled")));
	policy_free(p);

	p = load_ok("{\"version\": 1, \"output\": {\"max_bytes\": 0, \"keep\": 0},"
		    " \"control\": {\"group\": null}, \"file\": {\"watch\": []}}");
	assert_int_equal(p->out_max_bytes, 0);
	assert_int_equal(p->out_keep, 0);
	assert_null(p->control_group);
	assert_int_equal(p->file_watch.n, 0);
	policy_free(p);
}

/* ---- each kind of error, with its exact message ---- */

static void test_err_unknown_top_key(void **state)
{
	expect_error("{\n"
		     "  \"version\": 1,\n"
		     "  \"sensor\": {}\n"
		     "}\n",
		     "t.json:3:3: /sensor: unknown key (allowed: version, host, sensors, file, "
		     "telemetry, output, control, rules, aac, jit, fim, detections, forward, self_protection)");
}

static void test_err_unknown_nested_key(void **state)
{
	expect_error("{\"version\": 1,\n"
		     " \"sensors\": {\"exec\": true, \"exce\": false}}",
		     "t.json:2:28: /sensors/exce: unknown key (allowed: exec, file, network)");
	expect_error("{\"version\": 1,\n"
		     " \"rules\": {\n"
		     "   \"exec_world_writable\": {\n"
		     "\t\"enabled\": true, \"dir\": []}}}",
		     "t.json:4:19: /rules/exec_world_writable/dir: unknown key "
		     "(allowed: enabled, severity, dirs)");
	expect_error("{\"version\": 1, \"rules\": {\"ww\": {}}}",
		     "t.json:1:26: /rules/ww: unknown key (allowed: exec_world_writable)");
}

static void test_err_wrong_type(void **state)
{
	expect_error("{\"version\": 1,\n"
		     "  \"telemetry\": {\n"
		     "    \"exec\": \"yes\"\n"
		     "  }\n"
		     "}",
		     "t.json:3:5: /telemetry/exec: expected boolean, got string");
	expect_error("{\"version\": 1, \"output\": {\"keep\": 5.0}}",
		     "t.json:1:27: /output/keep: expected integer, got real");
	expect_error("{\"version\": 1, \"sensors\": []}",
		     "t.json:1:16: /sensors: expected object, got array");
	expect_error("{\"version\": 1, \"file\": {\"watch\": \"/etc\"}}",
		     "t.json:1:25: /file/watch: expected array, got string");
	expect_error("{\"version\": 1, \"file\": {\"watch\": [\"/etc\", 7]}}",
		     "t.json:1:43: /file/watch/1: expected string, got integer");
	expect_error("{\"version\": 1, \"host\": {\"name\": null}}",
		     "t.json:1:25: /host/name: expected string, got null");
	expect_error("{\"version\": 1, \"control\": {\"group\": false}}",
		     "t.json:1:28: /control/group: expected string or null, got boolean");
	expect_error("{\"version\": 1, \"aac\": [1]}",
		     "t.json:1:16: /aac: expected object, got array");
	expect_error("[\"version\", 1]", "t.json:1:1: a policy is a JSON object, got array");
}

static void test_err_bad_severity(void **state)
{
	expect_error("{\"version\": 1,\n"
		     " \"rules\": {\"exec_world_writable\": {\"severity\": \"critical\"}}}",
		     "t.json:2:36: /rules/exec_world_writable/severity: unknown severity \"critical\" "
		     "(allowed: informational, low, medium, high)");
	expect_error("{\"version\": 1,\n"
		     " \"rules\": {\"exec_world_writable\": {\"severity\": 3}}}",
		     "t.json:2:36: /rules/exec_world_writable/severity: expected string, got integer");
}

static void test_err_bad_values(void **state)
{
	expect_error("{\"version\": 1, \"output\": {\"keep\": 101}}",
		     "t.json:1:27: /output/keep: 101 is out of range 0..100");
	expect_error("{\"version\": 1, \"output\": {\"keep\": -1}}",
		     "t.json:1:27: /output/keep: -1 is out of range 0..100");
	expect_error("{\"version\": 1, \"output\": {\"max_bytes\": 4095}}",
		     "t.json:1:27: /output/max_bytes: 4095 is too small (0 = no rotation, "
		     "otherwise at least 4096)");
	expect_error("{\"version\": 1, \"output\": {\"max_bytes\": -4096}}",
		     "t.json:1:27: /output/max_bytes: -4096 is out of range 0..9223372036854775807");
	expect_error("{\"version\": 1, \"host\": {\"name\": \"\"}}",
		     "t.json:1:25: /host/name: empty string");
	expect_error("{\"version\": 1, \"control\": {\"group\": \"\"}}",
		     "t.json:1:28: /control/group: empty string");
	expect_error("{\"version\": 1, \"control\": {\"group\": \"a-group-name-of-33-characters-xyz\"}}",
		     "t.json:1:28: /control/group: string is 33 bytes, at most 32 allowed");
}

static void test_err_duplicate_key(void **state)
{
	expect_error("{\"version\": 1,\n"
		     " \"sensors\": {\"exec\": true,\n"
		     "             \"exec\" : false}}",
		     "t.json:3:14: duplicate key \"exec\"");
	/* the key's own escaped quote must not be mistaken for its start */
	expect_error("{\"version\": 1, \"fim\": {\"a\\\"b\": 1, \"a\\\"b\": 2}}",
		     "t.json:1:35: duplicate key \"a\\\"b\"");
	expect_error("{\"version\": 1, \"version\": 1}", "t.json:1:16: duplicate key \"version\"");
}

static void test_err_syntax(void **state)
{
	expect_error("{\"version\": 1,\n  \"sensors\": {\"exec\": tru}}",
		     "t.json:2:25: invalid token near 'tru'");
	expect_error("{\"version\": 1,\n}", "t.json:2:1: string or '}' expected near '}'");
	expect_error("{\"version\": 1} x", "t.json:1:16: end of file expected near 'x'");
	expect_error("", "t.json:1:1: '[' or '{' expected near end of file");
	expect_error("{\"version\": 1,\n", "t.json:2:1: string or '}' expected near end of file");
}

static void test_err_paths(void **state)
{
	char text[4096], want[512], longp[300];
	size_t k;

	expect_error("{\"version\": 1,\n"
		     " \"file\": {\"watch\": [\"/etc\",\n"
		     "                     \"usr/bin\"]}}",
		     "t.json:3:22: /file/watch/1: \"usr/bin\" is not an absolute path");
	expect_error("{\"version\": 1, \"rules\": {\"exec_world_writable\": {\"dirs\": [\"tmp\"]}}}",
		     "t.json:1:59: /rules/exec_world_writable/dirs/0: \"tmp\" is not an absolute path");
	expect_error("{\"version\": 1, \"file\": {\"watch\": [\"\"]}}",
		     "t.json:1:35: /file/watch/0: empty path");
	expect_error("{\"version\": 1, \"file\": {\"watch\": [\"/etc/../tmp\"]}}",
		     "t.json:1:35: /file/watch/0: \"/etc/../tmp\" is not a normalised path "
		     "(empty, \".\" or \"..\" component)");
	expect_error("{\"version\": 1, \"file\": {\"watch\": [\"/etc//ssh\"]}}",
		     "t.json:1:35: /file/watch/0: \"/etc//ssh\" is not a normalised path "
		     "(empty, \".\" or \"..\" component)");
	expect_error("{\"version\": 1, \"file\": {\"watch\": [\"/etc\", \"/etc/\"]}}",
		     "t.json:1:43: /file/watch/1: \"/etc\" is listed twice (also entry 0)");

	/* 256 bytes: one too many for the kernel's prefix slot */
	longp[0] = '/';
	memset(longp + 1, 'a', 255);
	longp[256] = '\0';
	snprintf(text, sizeof(text), "{\"version\": 1, \"file\": {\"watch\": [\"%s\"]}}", longp);
	expect_error(text, "t.json:1:35: /file/watch/0: path is 256 bytes, at most 255 allowed");
	longp[255] = '\0';
	snprintf(text, sizeof(text), "{\"version\": 1, \"file\": {\"watch\": [\"%s\"]}}", longp);
	policy_free(load_ok(text));

	/* 65 entries, one per line: the 65th is reported */
	k = (size_t)snprintf(text, sizeof(text), "{\"version\": 1, \"file\": {\"watch\": [\n");
	for (int i = 0; i < 65; i++)
		k += (size_t)snprintf(text + k, sizeof(text) - k, "  \"/d%d\"%s\n", i, i < 64 ? "," : "");
	snprintf(text + k, sizeof(text) - k, "]}}\n");
	snprintf(want, sizeof(want), "t.json:66:3: /file/watch/64: too many entries (at most 64)");
	expect_error(text, want);
}

static void test_err_version(void **state)
{
	expect_error("{\n  \"sensors\": {}\n}",
		     "t.json:1:1: missing required key \"version\" (this vigil reads version 1)");
	expect_error("  {}", "t.json:1:3: missing required key \"version\" (this vigil reads version 1)");
	expect_error("{\"sensors\": {}, \"version\": 2}",
		     "t.json:1:17: /version: unsupported version 2 (this vigil reads version 1)");
	expect_error("{\"version\": \"1\"}", "t.json:1:2: /version: expected integer, got string");
	expect_error("{\"version\": 1.0}", "t.json:1:2: /version: expected integer, got real");
	/* a future version is reported as such, not as its unknown keys */
	expect_error("{\"new_section\": {}, \"version\": 2}",
		     "t.json:1:21: /version: unsupported version 2 (this vigil reads version 1)");
}

/* One message only; within a section unknown keys are reported before bad values. */
static void test_err_only_first(void **state)
{
	expect_error("{\"version\": 1, \"sensors\": {\"exec\": 1, \"bogus\": 2}}",
		     "t.json:1:39: /sensors/bogus: unknown key (allowed: exec, file, network)");
	expect_error("{\"version\": 1, \"sensors\": {\"exec\": 1, \"file\": 2}}",
		     "t.json:1:28: /sensors/exec: expected boolean, got integer");
}

static void test_io_errors(void **state)
{
	struct vigil_policy *p = (struct vigil_policy *)&p;
	char err[256] = "";
	int r = policy_load("/nonexistent/vigil/policy.json", &p, err, sizeof(err));

	assert_int_equal(r, -ENOENT);
	assert_null(p);
	assert_string_equal(err, "/nonexistent/vigil/policy.json: No such file or directory");

	r = policy_load("/", &p, err, sizeof(err));
	assert_int_equal(r, -EISDIR);
	assert_string_equal(err, "/: Is a directory");
}

/* A policy is bounded (16 MiB): a huge file is refused before parsing. */
static void test_too_large(void **state)
{
	char path[] = "/tmp/test_policy.XXXXXX";
	struct vigil_policy *p = NULL;
	char want[256], err[512] = "";
	int fd = mkstemp(path), r;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
	close(fd);
	r = policy_load(path, &p, err, sizeof(err));
	unlink(path);
	snprintf(want, sizeof(want), "%s: File too large", path);
	assert_int_equal(r, -EFBIG);
	assert_null(p);
	assert_string_equal(err, want);
}

static void test_file_name_in_messages(void **state)
{
	char path[] = "/tmp/test_policy.XXXXXX";
	char want[256], err[512] = "";
	struct vigil_policy *p = NULL;
	const char *text = "{\"version\": 1,\n \"output\": {\"keep\": true}}\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(want, sizeof(want), "%s:2:13: /output/keep: expected integer, got boolean", path);
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_null(p);
	assert_string_equal(err, want);
}

/* A NUL byte ends a C string but not a file: the file is rejected, not truncated. */
static void test_nul_in_file(void **state)
{
	char path[] = "/tmp/test_policy.XXXXXX";
	struct vigil_policy *p = NULL;
	const char text[] = "{\"version\": 1}\0garbage";
	char err[512] = "";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), -EINVAL);
	unlink(path);
	assert_null(p);
	assert_non_null(strstr(err, ": end of file expected"));
}

/* ---- policy_locate on tricky text ---- */

static void test_locate(void **state)
{
	const char *t =
		"{\"a\\\"b\": \"x\\\"}, \\\"k\\\": [\",\n"         /* line 1: escaped quotes */
		"  \"k\": [[1, [2, \"]\"]], {\"k\": \"v\"},\n"     /* line 2: nested arrays */
		"         3, \"\\u00e9\\\\\"],\n"                    /* line 3 */
		"  \"\\u006by\": {\"a/b\": {\"m~n\": null}},\n"      /* line 4: escaped key */
		"  \"\xc3\xa9t\xc3\xa9\": true, \"z\": 0\r\n"        /* line 5: UTF-8, CRLF */
		"}";

	expect_loc(t, "", 1, 1);
	expect_loc(t, "/a\"b", 1, 2);
	expect_loc(t, "/k", 2, 3);
	expect_loc(t, "/k/0", 2, 9);
	expect_loc(t, "/k/0/1", 2, 13);
	expect_loc(t, "/k/0/1/1", 2, 17);
	expect_loc(t, "/k/1", 2, 24);
	expect_loc(t, "/k/1/k", 2, 25);
	expect_loc(t, "/k/2", 3, 10);
	expect_loc(t, "/k/3", 3, 13);
	expect_loc(t, "/ky", 4, 3);
	expect_loc(t, "/ky/a~1b", 4, 15);
	expect_loc(t, "/ky/a~1b/m~0n", 4, 23);
	expect_loc(t, "/\xc3\xa9t\xc3\xa9", 5, 3);
	expect_loc(t, "/z", 5, 16);

	expect_noloc(t, "/x");            /* inside a string value, not a key */
	expect_noloc(t, "/K");
	expect_noloc(t, "/k/4");
	expect_noloc(t, "/k/01");
	expect_noloc(t, "/k/-");
	expect_noloc(t, "/z/0");          /* through a scalar */
	expect_noloc(t, "/a~2");          /* bad escape in the pointer */
	expect_noloc(t, "k");             /* not a pointer */
	expect_noloc("", "");
	expect_noloc("{\"a\": [1, 2", "/a/5");  /* truncated text */
	expect_noloc("{\"a\": \"unterminated", "/b");

	/* leading whitespace and the root */
	expect_loc("\n\n   [true, {\"x\": 1}]", "", 3, 4);
	expect_loc("\n\n   [true, {\"x\": 1}]", "/1/x", 3, 12);
}

static void test_severity(void **state)
{
	static const char *const names[] = { "informational", "low", "medium", "high" };

	for (int i = 0; i < 4; i++) {
		assert_int_equal(severity_parse(names[i]), i);
		assert_string_equal(severity_name(i), names[i]);
	}
	assert_int_equal(severity_parse("HIGH"), -EINVAL);
	assert_int_equal(severity_parse("critical"), -EINVAL);
	assert_int_equal(severity_parse(""), -EINVAL);
	assert_int_equal(severity_parse(NULL), -EINVAL);
	assert_string_equal(severity_name(4), "unknown");
	assert_string_equal(severity_name(-1), "unknown");
}

static void test_jpath(void **state)
{
	char b[16];

	assert_int_equal(policy_jpath_key(b, sizeof(b), "/fim", "a/b~c"), 0);
	assert_string_equal(b, "/fim/a~1b~0c");
	assert_int_equal(policy_jpath_index(b, sizeof(b), "/w", 12), 0);
	assert_string_equal(b, "/w/12");
	assert_int_equal(policy_jpath_key(b, sizeof(b), "/long-parent", "key"), -ENAMETOOLONG);
	assert_int_equal(policy_jpath_index(b, sizeof(b), "/long-parent", 123), -ENAMETOOLONG);
}

static void test_free_null(void **state)
{
	policy_free(NULL);
	policy_strv_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_policy_loads),
		cmocka_unit_test(test_minimal_gets_defaults),
		cmocka_unit_test(test_examples_load),
		cmocka_unit_test(test_all_fields),
		cmocka_unit_test(test_err_unknown_top_key),
		cmocka_unit_test(test_err_unknown_nested_key),
		cmocka_unit_test(test_err_wrong_type),
		cmocka_unit_test(test_err_bad_severity),
		cmocka_unit_test(test_err_bad_values),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_paths),
		cmocka_unit_test(test_err_version),
		cmocka_unit_test(test_err_only_first),
		cmocka_unit_test(test_io_errors),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_file_name_in_messages),
		cmocka_unit_test(test_nul_in_file),
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_severity),
		cmocka_unit_test(test_jpath),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
