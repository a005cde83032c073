/* Detection rules: compiler errors, operators, sequences, de-duplication, bounds.
 * `test_detect --bench [N]` measures events/s through the evaluator with the built-in set
 * loaded vs no rules, and the sequence state under a flood of partial sequences. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "detect.h"
#include "detect_int.h"
#include "proctab.h"

#define MITRE "\"mitre\": {\"tactic\": \"TA0002\", \"tactic_name\": \"Execution\", " \
	      "\"technique\": \"T1059.004\", \"technique_name\": \"x\"}"
#define HEAD(id) "{\"id\": \"" id "\", \"title\": \"t\", \"description\": \"d\", \"severity\": \"high\", " \
		 "\"remediation\": \"r\", " MITRE ", "

static char err[1024];

static struct detect_ruleset *load(const char *text)
{
	struct detect_ruleset *rs = NULL;
	int r = detect_ruleset_load_string(text, "t.json", &rs, err, sizeof(err));

	if (r)
		fail_msg("load failed: %s", err);
	return rs;
}

static void expect_error(const char *text, const char *want)
{
	struct detect_ruleset *rs = NULL;
	int r = detect_ruleset_load_string(text, "t.json", &rs, err, sizeof(err));

	if (r != -EINVAL || !strstr(err, want))
		fail_msg("expected -EINVAL with \"%s\", seen %d \"%s\"", want, r, err);
	assert_null(rs);
}

static void test_compile_errors(void **s)
{
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\",\n \"condition\": {\"field\": \"process.nope\", \"equals\": \"x\"}}]}",
		     "t.json:2:16: /rules/0/condition/field: unknown field \"process.nope\"");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"process.uid\", \"prefix\": \"x\"}}]}",
		     "\"prefix\" applies to strings; field \"process.uid\" is an integer");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"file.path\", \"equals\": \"/x\"}}]}",
		     "field \"file.path\" does not exist for \"exec\" events");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"file\", \"condition\": {\"field\": \"file.name\", \"equals\": \"x\"}}]}",
		     "a \"file\" condition must restrict file.path");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\"}},"
		     HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"/b\"}}]}",
		     "rule id \"a\" is already defined");
	expect_error("{\"rules\": [{\"id\": \"a\", \"title\": \"t\", \"description\": \"d\", \"severity\": \"high\", \"remediation\": \"r\", "
		     "\"mitre\": {\"tactic\": \"X1\", \"tactic_name\": \"E\", \"technique\": \"T1059\", \"technique_name\": \"x\"}, "
		     "\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\"}}]}",
		     "is not a MITRE ATT&CK tactic id");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\", \"prefix\": \"/b\"}}]}",
		     "a condition has one operator");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"${vigil.nope}\"}}]}",
		     "unknown variable \"${vigil.nope}\"");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"colour\": 1, \"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\"}}]}",
		     "/rules/0/colour: unknown key");
	expect_error("{\"rules\": [" HEAD("a") "\"sequence\": {\"by\": \"lineage\", \"steps\": [{\"event\": \"exec\", "
		     "\"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\"}, \"same\": {\"process.exe\": \"f\"}}, "
		     "{\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\"}}]}}]}",
		     "expected a variable captured by an earlier step");
	expect_error("{\"rules\": [" HEAD("a") "\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"equals\": \"/a\"}}]",
		     "t.json:1:");
}

/* ---------- synthetic events ---------- */

static struct proctab *pt;

static struct proc *mkproc(uint32_t pid, uint32_t ppid, const char *exe, const char *argv, size_t argv_len,
			   uint32_t uid)
{
	struct proc *p = proctab_get(pt, pid, 1000 + pid);

	p->ppid = ppid;
	p->pstart_ns = ppid ? 1000 + ppid : 0;
	p->uid = uid;
	p->seeded = false;
	proc_set_bytes(&p->exe, &p->exe_len, exe, strlen(exe));
	proc_set_bytes(&p->argv, &p->argv_len, argv, argv_len);
	return p;
}

static struct vigil_hdr hdr_of(struct proc *p, uint64_t ts)
{
	struct vigil_hdr h = { .type = VIGIL_EV_EXEC, .ts_ns = ts, .pid = p->tgid, .tgid = p->tgid,
			       .start_ns = p->start_ns, .uid = p->uid };
	return h;
}

struct filerec {
	struct vigil_file f;
	char data[256];
};

static void mkfile(struct filerec *fr, unsigned op, const char *path, uint32_t arg)
{
	memset(fr, 0, sizeof(*fr));
	fr->f.op = op;
	fr->f.path_len = strlen(path) + 1;
	fr->f.uid_arg = arg;
	memcpy(fr->data, path, fr->f.path_len);
}

static int nalerts;
static json_t *last;

static int collect(void *ctx, json_t *al, const struct detect_event *ev)
{
	nalerts++;
	json_decref(last);
	last = json_deep_copy(al);
	json_object_set_new(al, "id", json_sprintf("id-%d", nalerts));
	return 0;
}

static int run_exec(struct detect_state *st, struct proc *p, uint64_t ts)
{
	struct vigil_hdr h = hdr_of(p, ts);
	struct detect_event ev = { .kind = DK_EXEC, .ts_ns = ts, .h = &h, .p = p, .pt = pt, .target_uid = -1 };
	int n = detect_state_event(st, &ev);

	detect_event_done(&ev);
	return n;
}

static int run_file(struct detect_state *st, struct proc *p, unsigned op, const char *path, uint32_t arg,
		    uint64_t ts)
{
	struct filerec fr;
	struct vigil_hdr h = hdr_of(p, ts);
	struct detect_event ev = { .kind = DK_FILE, .ts_ns = ts, .h = &h, .p = p, .pt = pt, .target_uid = -1 };
	int n;

	mkfile(&fr, op, path, arg);
	ev.file = &fr.f;
	ev.path = fr.data;
	n = detect_state_event(st, &ev);
	detect_event_done(&ev);
	return n;
}

static void test_operators(void **s)
{
	struct detect_ruleset *rs = load("{\"rules\": ["
		HEAD("ops") "\"event\": \"exec\", \"condition\": {\"all\": ["
		"{\"field\": \"process.name\", \"in\": [\"sh\", \"bash\"]},"
		"{\"field\": \"process.args\", \"glob\": \"-*c\"},"
		"{\"field\": \"process.cmdline\", \"contains\": \"evil\"},"
		"{\"field\": \"process.uid\", \"ge\": 1000},"
		"{\"field\": \"process.uid\", \"bits_any\": 1024},"
		"{\"field\": \"parent.name\", \"suffix\": \"sshd\"},"
		"{\"not\": {\"field\": \"container.id\", \"exists\": false}},"
		"{\"field\": \"ancestors.exe\", \"prefix\": \"/usr/sbin/\"}"
		"]}, \"exceptions\": [{\"field\": \"process.cmdline\", \"suffix\": \"allowed\"}]}]}");
	struct proc *parent, *p;
	struct vigil_hdr h;
	struct detect_event ev = { .kind = DK_EXEC, .target_uid = -1 };

	pt = proctab_new(1024);
	parent = mkproc(10, 1, "/usr/sbin/sshd", "sshd\0", 5, 0);
	p = mkproc(11, 10, "/usr/bin/bash", "bash\0-c\0evil thing\0", 19, 1024);
	h = hdr_of(p, 1);
	ev.h = &h;
	ev.p = p;
	ev.pt = pt;
	assert_int_equal(detect_rule_eval(rs, "ops", &ev), 1);
	detect_event_done(&ev);
	p->uid = h.uid = 999;                                     /* ge 1000 fails */
	assert_int_equal(detect_rule_eval(rs, "ops", &ev), 0);
	detect_event_done(&ev);
	p->uid = h.uid = 1024;
	proc_set_bytes(&p->argv, &p->argv_len, "bash\0-c\0evil allowed\0", 21);   /* exception */
	assert_int_equal(detect_rule_eval(rs, "ops", &ev), 0);
	detect_event_done(&ev);
	proc_set_bytes(&p->argv, &p->argv_len, "bash\0-x\0evil\0", 13);   /* no -*c arg */
	assert_int_equal(detect_rule_eval(rs, "ops", &ev), 0);
	detect_event_done(&ev);
	(void)parent;
	proctab_free(pt);
	detect_ruleset_free(rs);
}

static const char *seq_rules = "{\"rules\": [" HEAD("dropper")
	"\"sequence\": {\"by\": \"lineage\", \"window_s\": 10, \"steps\": ["
	"{\"event\": \"file\", \"condition\": {\"all\": [{\"field\": \"file.target\", \"prefix\": \"/tmp/\"},"
	"  {\"field\": \"process.name\", \"equals\": \"curl\"}]}, \"capture\": {\"f\": \"file.target\"}},"
	"{\"event\": \"file\", \"condition\": {\"all\": [{\"field\": \"file.path\", \"prefix\": \"/tmp/\"},"
	"  {\"field\": \"file.op\", \"equals\": \"chmod\"}, {\"field\": \"file.new_mode\", \"bits_any\": 73}]},"
	"  \"same\": {\"file.path\": \"f\"}},"
	"{\"event\": \"exec\", \"condition\": {\"field\": \"process.exe\", \"prefix\": \"/tmp/\"}, \"same\": {\"process.exe\": \"f\"}}"
	"]}}]}";

#define S 1000000000ull

static void test_sequence_order_and_window(void **s)
{
	struct detect_ruleset *rs = load(seq_rules);
	struct detect_limits lim = { .dedup_window_ns = 0, .seq_max = 64 };
	struct detect_state *st;
	struct proc *curl, *chmod_p, *payload, *other;

	pt = proctab_new(1024);
	st = detect_state_new(rs, &lim, collect, NULL);
	nalerts = 0;
	mkproc(100, 1, "/usr/bin/sh", "sh\0", 3, 0);
	curl = mkproc(101, 100, "/usr/bin/curl", "curl\0", 5, 0);
	chmod_p = mkproc(102, 100, "/usr/bin/chmod", "chmod\0", 6, 0);
	payload = mkproc(103, 100, "/tmp/x", "/tmp/x\0", 7, 0);
	other = mkproc(200, 1, "/tmp/x", "/tmp/x\0", 7, 0);     /* another lineage */

	/* out of order: chmod, download, exec -> nothing */
	run_file(st, chmod_p, VIGIL_FOP_CHMOD, "/tmp/x", 0755, 1 * S);
	run_file(st, curl, VIGIL_FOP_OPEN_WRITE, "/tmp/x", 0, 2 * S);
	run_exec(st, payload, 3 * S);
	assert_int_equal(nalerts, 0);
	/* the partial started by the download is still open; chmod of another file: no */
	run_file(st, chmod_p, VIGIL_FOP_CHMOD, "/tmp/y", 0755, 4 * S);
	run_exec(st, payload, 4 * S);
	assert_int_equal(nalerts, 0);
	/* chmod without an execute bit: no */
	run_file(st, chmod_p, VIGIL_FOP_CHMOD, "/tmp/x", 0644, 4 * S);
	assert_int_equal(nalerts, 0);
	/* the right chmod, then an exec in another lineage: no; then in the lineage: yes */
	run_file(st, chmod_p, VIGIL_FOP_CHMOD, "/tmp/x", 0755, 5 * S);
	run_exec(st, other, 6 * S);
	assert_int_equal(nalerts, 0);
	run_exec(st, payload, 7 * S);
	assert_int_equal(nalerts, 1);
	assert_int_equal(json_array_size(json_object_get(last, "sequence")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(last, "sequence"), 0),
							      "detail")), "/tmp/x");
	/* the full chain outside the window: no */
	run_file(st, curl, VIGIL_FOP_OPEN_WRITE, "/tmp/x", 0, 100 * S);
	run_file(st, chmod_p, VIGIL_FOP_CHMOD, "/tmp/x", 0755, 105 * S);
	run_exec(st, payload, 111 * S);
	assert_int_equal(nalerts, 1);
	detect_state_tick(st, 200 * S);
	assert_int_equal(detect_state_partials(st), 0);
	detect_state_free(st);
	json_decref(last);
	last = NULL;
	proctab_free(pt);
	detect_ruleset_free(rs);
}

static void test_sequence_memory_bounded(void **s)
{
	struct detect_ruleset *rs = load(seq_rules);
	struct detect_limits lim = { .seq_max = 500 };
	struct detect_state *st;
	struct proc *curl;
	char path[64];
	size_t peak = 0;

	pt = proctab_new(1024);
	st = detect_state_new(rs, &lim, collect, NULL);
	mkproc(100, 1, "/usr/bin/sh", "sh\0", 3, 0);
	curl = mkproc(101, 100, "/usr/bin/curl", "curl\0", 5, 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "/tmp/flood-%d", i);
		run_file(st, curl, VIGIL_FOP_OPEN_WRITE, path, 0, 1 * S + i);
		if (detect_state_seq_bytes(st) > peak)
			peak = detect_state_seq_bytes(st);
	}
	if (detect_state_partials(st) != 500)
		fail_msg("partials: expected 500 (the bound), seen %zu", detect_state_partials(st));
	if (peak > 500 * 2048)
		fail_msg("sequence state: expected <= %d bytes, seen %zu", 500 * 2048, peak);
	print_message("sequence state under a flood of 20000 partial sequences: %zu partials, %zu bytes (peak %zu)\n",
		      detect_state_partials(st), detect_state_seq_bytes(st), peak);
	detect_state_tick(st, 100 * S);
	assert_int_equal(detect_state_partials(st), 0);
	assert_int_equal(detect_state_seq_bytes(st), 0);
	detect_state_free(st);
	json_decref(last);
	last = NULL;
	proctab_free(pt);
	detect_ruleset_free(rs);
}

static void test_dedup_counts(void **s)
{
	struct detect_ruleset *rs = load("{\"rules\": [" HEAD("x") "\"event\": \"exec\", "
					 "\"condition\": {\"field\": \"process.exe\", \"prefix\": \"/tmp/\"}, "
					 "\"dedup\": [\"process.exe\"]}]}");
	struct detect_limits lim = { .dedup_window_ns = 10 * S };
	struct detect_state *st;
	struct proc *a, *b;

	pt = proctab_new(1024);
	nalerts = 0;
	st = detect_state_new(rs, &lim, collect, NULL);
	a = mkproc(300, 1, "/tmp/a", "a\0", 2, 0);
	b = mkproc(301, 1, "/tmp/b", "b\0", 2, 0);
	for (int i = 0; i < 5; i++)
		run_exec(st, a, 1 * S + i * 100);
	run_exec(st, b, 2 * S);
	assert_int_equal(nalerts, 2);                         /* first of a, first of b */
	detect_state_tick(st, 5 * S);
	assert_int_equal(nalerts, 2);                         /* window still open */
	detect_state_tick(st, 12 * S);
	assert_int_equal(nalerts, 3);                         /* summary of a; b had no repeat */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(last, "dedup"), "count")), 5);
	assert_string_equal(json_string_value(json_object_get(last, "summary_of")), "id-1");
	/* a new window after the old one closed: written at once again */
	run_exec(st, a, 20 * S);
	assert_int_equal(nalerts, 4);
	detect_state_free(st);                                /* no repeats: no summary */
	assert_int_equal(nalerts, 4);
	json_decref(last);
	last = NULL;
	proctab_free(pt);
	detect_ruleset_free(rs);
}

static void test_builtin_set_compiles(void **s)
{
	const char *files[] = { "policies/rules/builtin.json" };
	struct detect_ruleset *rs = NULL;
	struct policy_strv w = { 0 }, rp = { 0 };
	struct detect_env env = { .log_dir = "/var/log/vigil", .state_dir = "/var/lib/vigil", .policy = "/etc/vigil/policy.json",
				  .pin_dir = "/sys/fs/bpf/vigil", .exe = "/usr/sbin/vigild" };
	int r = detect_ruleset_load(files, 1, NULL, &rs, err, sizeof(err));

	if (r)
		fail_msg("built-in set: %s", err);
	assert_int_equal(detect_ruleset_bind(rs, &env), 0);
	assert_true(detect_ruleset_size(rs) >= 14);
	detect_ruleset_watch(rs, &w);
	detect_ruleset_read_paths(rs, &rp);
	{
		bool log = false, state = false;

		for (size_t i = 0; i < w.n; i++) {
			log |= !strcmp(w.v[i], "/var/log");
			state |= !strcmp(w.v[i], "/var/lib/vigil");
		}
		assert_true(log && state);
	}
	assert_string_equal(rp.v[0], "/etc/shadow");
	policy_strv_free(&w);
	policy_strv_free(&rp);
	detect_ruleset_free(rs);
}

/* ---------- bench ---------- */

static double bench_rate(struct detect_ruleset *rs, int n)
{
	struct detect_limits lim = { .dedup_window_ns = 60 * S };
	struct detect_state *st = detect_state_new(rs, &lim, collect, NULL);
	struct proc *p[4];
	struct timespec t0, t1;

	p[0] = mkproc(500, 1, "/usr/bin/bash", "bash\0-c\0ls\0", 11, 1000);
	p[1] = mkproc(501, 500, "/usr/bin/ls", "ls\0-l\0", 6, 1000);
	p[2] = mkproc(502, 500, "/usr/bin/curl", "curl\0-o\0/tmp/f\0", 16, 1000);
	p[3] = mkproc(503, 500, "/usr/bin/python3", "python3\0x.py\0", 13, 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		struct proc *q = p[i & 3];

		if (i % 3 == 0)
			run_exec(st, q, 1 * S + i);
		else
			run_file(st, q, i % 3 == 1 ? VIGIL_FOP_OPEN_WRITE : VIGIL_FOP_CHMOD, "/etc/hosts", 0644, 1 * S + i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	detect_state_free(st);
	return n / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static int bench(int n)
{
	const char *files[] = { "policies/rules/builtin.json" };
	struct detect_ruleset *rs = NULL, *none = NULL;
	double with[5], without[5], mw, mn;
	int r = detect_ruleset_load(files, 1, NULL, &rs, err, sizeof(err));

	if (r || detect_ruleset_load(NULL, 0, NULL, &none, err, sizeof(err))) {
		fprintf(stderr, "cannot load the rules: %s\n", err);
		return 2;
	}
	pt = proctab_new(1024);
	for (int round = 0; round < 5; round++) {          /* interleaved (BENCH.md) */
		without[round] = bench_rate(none, n);
		with[round] = bench_rate(rs, n);
	}
	for (int i = 0; i < 5; i++)                       /* medians */
		for (int j = i + 1; j < 5; j++) {
			if (with[j] < with[i]) { double t = with[i]; with[i] = with[j]; with[j] = t; }
			if (without[j] < without[i]) { double t = without[i]; without[i] = without[j]; without[j] = t; }
		}
	mw = with[2];
	mn = without[2];
	printf("detections bench: %d events/round, 5 rounds, medians: no rules %.0f events/s, built-in set "
	       "(%zu rules) %.0f events/s, ratio %.3f, %.2f us/event added\n", n, mn,
	       detect_ruleset_size(rs), mw, mw / mn, 1e6 / mw - 1e6 / mn);
	proctab_free(pt);
	json_decref(last);
	detect_ruleset_free(rs);
	detect_ruleset_free(none);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_sequence_order_and_window),
		cmocka_unit_test(test_sequence_memory_bounded),
		cmocka_unit_test(test_dedup_counts),
		cmocka_unit_test(test_builtin_set_compiles),
	};

	if (argc > 1 && !strcmp(argv[1], "--bench"))
		return bench(argc > 2 ? atoi(argv[2]) : 200000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
