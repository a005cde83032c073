/*
 * Regression tests for bugs found by the sanitizer builds and the fuzzers
 * (tests/fuzz/).  Each test names the bug it pins; run them under
 * `make OUT=build-san SAN=address,undefined unit-test` to see the original
 * failure mode (a leak, an out-of-bounds read, undefined behaviour).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "detect.h"
#include "event.h"
#include "policy.h"
#include "proctab.h"
#include "scored.h"

/* detect_rules.c: a step capturing more than DETECT_SEQ_VARS variables read an
 * uninitialised index, so the error was "at most 4 variables" or, by chance,
 * -ENOMEM.  It must always be the positioned policy error. */
static void test_sequence_capture_overflow_is_a_policy_error(void **state)
{
	static const char doc[] =
		"{\"rules\": [{\"id\": \"seq\", \"title\": \"t\", \"description\": \"d\", \"remediation\": \"r\",\n \"severity\": \"low\",\n"
		" \"mitre\": {\"tactic\": \"TA0002\", \"tactic_name\": \"Execution\",\n"
		"            \"technique\": \"T1059\", \"technique_name\": \"Command\"},\n"
		" \"sequence\": {\"by\": \"process\", \"steps\": [\n"
		"  {\"event\": \"exec\", \"condition\": {\"field\": \"process.name\", \"equals\": \"a\"},\n"
		"   \"capture\": {\"v1\": \"process.exe\", \"v2\": \"process.exe\", \"v3\": \"process.exe\",\n"
		"               \"v4\": \"process.exe\", \"v5\": \"process.exe\"}},\n"
		"  {\"event\": \"exec\", \"condition\": {\"field\": \"process.name\", \"equals\": \"b\"}}]}}]}\n";
	struct detect_ruleset *rs = NULL;
	char err[512] = "";
	int r = detect_ruleset_load_string(doc, "r.json", &rs, err, sizeof(err));

	if (r != -EINVAL || !strstr(err, "at most 4 variables") || !strstr(err, "/capture/v5"))
		fail_msg("5 captures\n  expected: -EINVAL, \"... /capture/v5 ... at most 4 variables\"\n"
			 "      seen: %d, \"%s\"", r, err);
	assert_null(rs);
}

/* proctab.c: proctab_ancestry() leaked one JSON object per call when the parent
 * chain looped (pid reuse can make one); ASan's leak check fails this test. */
static void test_ancestry_loop_does_not_leak(void **state)
{
	struct proctab *t = proctab_new(16);
	struct proc *a = proctab_get(t, 10, 1), *b = proctab_get(t, 11, 1), *c = proctab_get(t, 12, 1);

	a->ppid = 11;
	b->ppid = 12;
	c->ppid = 10;
	for (int i = 0; i < 100; i++) {
		json_t *arr = proctab_ancestry(t, a, 8);
		if (json_array_size(arr) != 3)
			fail_msg("ancestry of a 3-loop\n  expected: 3 entries\n      seen: %zu", json_array_size(arr));
		json_decref(arr);
	}
	proctab_free(t);
}

/* proctab.c: proctab_fork() looked the parent up before creating the child, and
 * creating the child can free the parent: a fork record whose child pid equals the
 * parent's with another start time (pid reuse), or a full table evicting the exited
 * parent.  The copy then read freed memory (found by fuzz_event; its input is
 * tests/fuzz/event/crash-proctab-fork-uaf). */
static void test_fork_may_free_the_parent(void **state)
{
	struct proctab *t = proctab_new(2);
	struct proc *p = proctab_get(t, 7, 100), *c;

	proc_set_bytes(&p->exe, &p->exe_len, "/bin/parent", 11);
	c = proctab_fork(t, 7, 100, 7, 200);       /* same pid, new start: replaces the parent */
	assert_non_null(c);
	assert_int_equal(c->start_ns, 200);
	assert_null(c->exe);                       /* nothing inherited from itself */

	proctab_free(t);
	t = proctab_new(2);
	p = proctab_get(t, 1, 1);
	proc_set_bytes(&p->exe, &p->exe_len, "/bin/old", 8);
	proctab_get(t, 2, 1);
	proctab_exit(t, 1, 1, 0);                  /* the exited parent is the eviction victim */
	c = proctab_fork(t, 1, 1, 3, 1);
	assert_non_null(c);
	assert_int_equal(c->ppid, 1);
	assert_null(proctab_lookup(t, 1));
	proctab_free(t);
}

/* event.c: event_exec_check() (from agent.c's handle_exec) at its boundaries. */
static void test_exec_check_bounds(void **state)
{
	size_t base = sizeof(struct vigil_exec);
	struct vigil_exec *ev = calloc(1, base + 16);
	char *d = ev->data;

	assert_int_equal(event_exec_check(ev, base - 1), -EINVAL);
	assert_int_equal(event_exec_check(ev, base), 0);         /* no payload at all */
	memcpy(d, "/bin/x\0a\0b", 10);
	ev->exe_len = 7;
	ev->argv_len = 3;                                        /* "a\0b": argv may be cut */
	assert_int_equal(event_exec_check(ev, base + 10), 0);
	assert_int_equal(event_exec_check(ev, base + 9), -EINVAL);   /* argv past the end */
	ev->exe_len = 6;                                         /* exe not NUL-terminated */
	assert_int_equal(event_exec_check(ev, base + 10), -EINVAL);
	ev->exe_len = 7;
	ev->cwd_len = 1;                                         /* cwd past the end */
	assert_int_equal(event_exec_check(ev, base + 10), -EINVAL);
	ev->cwd_len = 0;
	ev->script_len = 0xffff;                                 /* no overflow in the sum */
	assert_int_equal(event_exec_check(ev, base + 10), -EINVAL);
	free(ev);
}

/* policy.c: an error naming a key with a newline in it ("ev\nt") broke the one-line
 * "file:line:col: message" contract (found by fuzz_rules; its input is
 * tests/fuzz/rules/crash-newline-in-error).  Control characters now show as '?'. */
static void test_policy_error_is_one_line(void **state)
{
	struct vigil_policy *p = NULL;
	char err[512] = "";
	int r = policy_load_string("{\"version\": 1, \"se\\nns\\u0001ors\": {}}", "p.json", &p, err, sizeof(err));

	assert_int_equal(r, -EINVAL);
	assert_null(p);
	if (strchr(err, '\n') || strchr(err, '\x01') || !strstr(err, "se?ns?ors"))
		fail_msg("error for a key with control characters\n  expected: one line naming \"se?ns?ors\"\n"
			 "      seen: \"%s\"", err);
}

/* scored_api.c: GET /api/v1/recommendations with no hosts called qsort(NULL, 0, ...),
 * undefined behaviour that UBSan reports (found by fuzz_scored; its input is
 * tests/fuzz/scored/crash-qsort-null-empty-recommendations). */
static void test_scored_recommendations_on_empty_db(void **state)
{
	struct scored_db *db = NULL;
	struct scored *s;
	char err[256], tok[65], auth[80];
	struct scored_req rq = { .method = "GET", .path = "/api/v1/recommendations" };
	struct scored_resp rs = { 0 };

	assert_int_equal(scored_db_open(":memory:", &db, err, sizeof(err)), 0);
	assert_non_null(s = scored_new(db));
	assert_int_equal(scored_token_add(db, "alice", SCORED_ROLE_READER, tok), 0);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	rq.authorization = auth;
	scored_handle(s, &rq, &rs);
	if (rs.status != 200 || !json_is_object(rs.body))
		fail_msg("recommendations on an empty db\n  expected: 200 and an object\n      seen: %d", rs.status);
	json_decref(rs.body);
	scored_free(s);
	scored_db_close(db);
}

/* detect_rules.c: jansson's parse error quotes the input, so a rule file with a raw
 * newline inside a string escape gave a two-line error (found by fuzz_rules; its input
 * is tests/fuzz/rules/crash-newline-in-json-error). */
static void test_rules_json_error_is_one_line(void **state)
{
	struct detect_ruleset *rs = NULL;
	char err[512] = "";
	int r = detect_ruleset_load_string("{\"rules\": [\"\\\n\"]}", "r.json", &rs, err, sizeof(err));

	assert_int_equal(r, -EINVAL);
	if (!err[0] || strchr(err, '\n') || strncmp(err, "r.json:", 7))
		fail_msg("JSON error\n  expected: one line \"r.json:L:C: ...\"\n      seen: \"%s\"", err);
}

/* scored_api.c: an error message quoting request bytes that are not UTF-8 (a path
 * with %80, or a long one cut inside a sequence) made json_pack fail, so the reply was
 * a 404 with {} and no "error" (found by fuzz_scored; its input is
 * tests/fuzz/scored/crash-error-not-utf8). */
static void test_scored_error_with_non_utf8_path(void **state)
{
	struct scored_db *db = NULL;
	struct scored *s;
	char err[256], path[700];
	struct scored_req rq = { .method = "GET", .path = path };
	struct scored_resp rs = { 0 };

	assert_int_equal(scored_db_open(":memory:", &db, err, sizeof(err)), 0);
	assert_non_null(s = scored_new(db));
	snprintf(path, sizeof(path), "/api/v1/x\x80y");
	scored_handle(s, &rq, &rs);
	const char *e = json_string_value(json_object_get(rs.body, "error"));
	if (rs.status != 404 || !e || !strstr(e, "x\xef\xbf\xbdy"))
		fail_msg("GET /api/v1/x\\x80y\n  expected: 404 {\"error\": \"... x\\ufffdy\"}\n      seen: %d %s",
			 rs.status, e ? e : "(no error)");
	json_decref(rs.body);
	rs.body = NULL;
	/* a long path of 2-byte characters: the 512-byte message is cut inside one */
	strcpy(path, "/");
	for (int i = 0; i < 300; i++)
		strcat(path, "\xc3\xa9");
	scored_handle(s, &rq, &rs);
	if (!json_is_string(json_object_get(rs.body, "error")))
		fail_msg("long UTF-8 path\n  expected: an \"error\" string\n      seen: status %d, none", rs.status);
	json_decref(rs.body);
	scored_free(s);
	scored_db_close(db);
}

/* scored_api.c: scored_parse_time() multiplied seconds by 10^9 without a range check,
 * a signed overflow for years before 1678 or after 2262 (found by fuzz_scored in a
 * posture "time"; its input is tests/fuzz/scored/crash-time-overflow). */
static void test_scored_time_out_of_range(void **state)
{
	int64_t ns = 0;

	assert_int_equal(scored_parse_time("1026-12-06T09:10:11Z", &ns), -EINVAL);
	assert_int_equal(scored_parse_time("9999-12-31T23:59:59.999Z", &ns), -EINVAL);
	assert_int_equal(scored_parse_time("2026-12-06T09:10:11.5+01:00", &ns), 0);
	assert_int_equal(ns, 1796544611500000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_capture_overflow_is_a_policy_error),
		cmocka_unit_test(test_ancestry_loop_does_not_leak),
		cmocka_unit_test(test_fork_may_free_the_parent),
		cmocka_unit_test(test_exec_check_bounds),
		cmocka_unit_test(test_policy_error_is_one_line),
		cmocka_unit_test(test_scored_recommendations_on_empty_db),
		cmocka_unit_test(test_rules_json_error_is_one_line),
		cmocka_unit_test(test_scored_error_with_non_utf8_path),
		cmocka_unit_test(test_scored_time_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
