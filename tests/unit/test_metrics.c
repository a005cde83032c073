/*
 * Prometheus exposition format (metrics.h): HELP/TYPE lines, escaping of help
 * text and label values, name validation, number formatting, and the rendering
 * of vigild's status object, checked line by line against the format's grammar.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "metrics.h"

static void expect_text(const char *what, const char *seen, const char *expected)
{
	if (!seen || strcmp(seen, expected))
		fail_msg("%s\n  expected: \"%s\"\n      seen: \"%s\"", what, expected, seen ? seen : "(null)");
}

static void expect_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while (p && *p) {
		if (!strncmp(p, line, n) && (p[n] == '\n' || !p[n]))
			return;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	fail_msg("line\n  expected: \"%s\"\n      seen in: \"%s\"", line, text);
}

static void expect_no(const char *text, const char *needle)
{
	if (strstr(text, needle))
		fail_msg("absent\n  expected: no \"%s\"\n      seen in: \"%s\"", needle, text);
}

static void test_family_and_help_escaping(void **state)
{
	struct metrics_buf b;

	metrics_buf_init(&b);
	assert_int_equal(metrics_family(&b, "vigil_x_total", "counter", "Back\\slash and\nnewline \"quoted\"."), 0);
	assert_int_equal(metrics_sample(&b, "vigil_x_total", NULL, 3), 0);
	char *t = metrics_buf_take(&b);
	/* HELP escapes backslash and newline only; quotes stay as they are */
	expect_text("family", t,
		    "# HELP vigil_x_total Back\\\\slash and\\nnewline \"quoted\".\n"
		    "# TYPE vigil_x_total counter\n"
		    "vigil_x_total 3\n");
	free(t);
}

static void test_label_value_escaping(void **state)
{
	struct metrics_buf b;

	metrics_buf_init(&b);
	metrics_sample(&b, "m", (const char *[]){ "rule", "a\"b\\c\nd", "sev", "caf\xe9", NULL }, 1);
	metrics_sample(&b, "m", (const char *[]){ "rule", "", NULL }, 2);
	char *t = metrics_buf_take(&b);
	/* \xe9 alone is not UTF-8: U+FFFD (ef bf bd), as in the JSON logs */
	expect_text("labels", t,
		    "m{rule=\"a\\\"b\\\\c\\nd\",sev=\"caf\xef\xbf\xbd\"} 1\n"
		    "m{rule=\"\"} 2\n");
	free(t);
}

static void test_numbers(void **state)
{
	struct metrics_buf b;

	metrics_buf_init(&b);
	metrics_sample(&b, "a", NULL, 0);
	metrics_sample(&b, "a", NULL, 18446744073709551615.0);   /* beyond 2^53: %.17g */
	metrics_sample(&b, "a", NULL, 9007199254740992.0);
	metrics_sample(&b, "a", NULL, 0.000125);
	metrics_sample(&b, "a", NULL, -2);
	metrics_sample(&b, "a", NULL, NAN);
	metrics_sample(&b, "a", NULL, INFINITY);
	metrics_sample(&b, "a", NULL, -INFINITY);
	char *t = metrics_buf_take(&b);
	expect_text("numbers", t,
		    "a 0\na 1.8446744073709552e+19\na 9007199254740992\na 0.000125\na -2\n"
		    "a NaN\na +Inf\na -Inf\n");
	free(t);
}

static void test_bad_names_fail_and_stick(void **state)
{
	static const char *const bad_metric[] = { "", "1abc", "a-b", "a b", "é", NULL };
	static const char *const bad_label[] = { "__reserved", "a:b", "9x", "", NULL };
	struct metrics_buf b;

	for (int i = 0; bad_metric[i]; i++) {
		metrics_buf_init(&b);
		if (metrics_sample(&b, bad_metric[i], NULL, 1) != -EINVAL)
			fail_msg("metric name \"%s\"\n  expected: -EINVAL\n      seen: accepted", bad_metric[i]);
		assert_null(metrics_buf_take(&b));
		assert_int_equal(errno, EINVAL);
	}
	for (int i = 0; bad_label[i]; i++) {
		metrics_buf_init(&b);
		if (metrics_sample(&b, "ok_name", (const char *[]){ bad_label[i], "v", NULL }, 1) != -EINVAL)
			fail_msg("label name \"%s\"\n  expected: -EINVAL\n      seen: accepted", bad_label[i]);
		metrics_buf_free(&b);
	}
	metrics_buf_init(&b);
	assert_int_equal(metrics_family(&b, "x", "counterz", "h"), -EINVAL);
	/* the first error sticks: later good calls do not hide it */
	assert_int_equal(metrics_family(&b, "x", "counter", "h"), -EINVAL);
	assert_null(metrics_buf_take(&b));
	assert_true(metrics_name_ok("vigil:ok_1"));
}

/*
 * Checks every line against the text format: "# HELP name text", "# TYPE name
 * type", or name{label="value",...} value, each sample after its family's TYPE
 * line; families never repeat.  Returns the number of samples.
 */
static int check_grammar(const char *text)
{
	char family[128] = "", seen[64][128];
	int nseen = 0, samples = 0;
	const char *p = text;

	while (*p) {
		const char *e = strchr(p, '\n');
		char line[2048], name[128];
		size_t n;

		if (!e)
			fail_msg("grammar\n  expected: every line ends with \\n\n      seen: \"%s\"", p);
		n = e - p;
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = 0;
		p = e + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line + 7, "%127s", name), 1);
			assert_true(metrics_name_ok(name));
			for (int i = 0; i < nseen; i++)
				if (!strcmp(seen[i], name))
					fail_msg("grammar\n  expected: family %s once\n      seen: twice", name);
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
			snprintf(family, sizeof(family), "%s", name);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char type[32];
			assert_int_equal(sscanf(line + 7, "%127s %31s", name, type), 2);
			if (strcmp(name, family))
				fail_msg("grammar\n  expected: TYPE %s after its HELP\n      seen: \"%s\"", family, line);
			continue;
		}
		/* a sample */
		size_t k = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
		memcpy(name, line, k);
		name[k] = 0;
		if (!metrics_name_ok(name) || strncmp(name, family, strlen(family)))
			fail_msg("grammar\n  expected: a sample of %s\n      seen: \"%s\"", family, line);
		const char *q = line + k;
		if (*q == '{') {
			q++;
			while (*q != '}') {
				size_t ln = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
				if (!ln || q[ln] != '=' || q[ln + 1] != '"')
					fail_msg("grammar\n  expected: label=\"value\"\n      seen: \"%s\"", line);
				q += ln + 2;
				while (*q && *q != '"') {
					if (*q == '\\') {
						if (q[1] != '\\' && q[1] != '"' && q[1] != 'n')
							fail_msg("grammar\n  expected: \\\\ \\\" or \\n\n      seen: \"%s\"", line);
						q++;
					}
					q++;
				}
				if (*q != '"')
					fail_msg("grammar\n  expected: closing quote\n      seen: \"%s\"", line);
				q++;
				if (*q == ',')
					q++;
				else if (*q != '}')
					fail_msg("grammar\n  expected: , or }\n      seen: \"%s\"", line);
			}
			q++;
		}
		if (*q != ' ')
			fail_msg("grammar\n  expected: one space before the value\n      seen: \"%s\"", line);
		q++;
		char *end;
		if (strcmp(q, "NaN") && strcmp(q, "+Inf") && strcmp(q, "-Inf") && (strtod(q, &end), *end || end == q))
			fail_msg("grammar\n  expected: a number\n      seen: \"%s\"", line);
		samples++;
	}
	return samples;
}

static const char status_doc[] =
	"{\"version\": \"0.1.0\", \"uptime_s\": 42,"
	" \"events\": {\"exec\": 10, \"fork\": 11, \"exit\": 12, \"file\": 0, \"network\": 3},"
	" \"loss\": {\"exec\": {\"ringbuf_full\": 1, \"read_failed\": 0},"
	"          \"file\": {\"ringbuf_full\": 0, \"read_failed\": 2}},"
	" \"records\": 36, \"malformed_records\": 1, \"alerts_written\": 4, \"events_written\": 30,"
	" \"log_write_failures\": 0,"
	" \"alerts_by_rule\": {\"exec_world_writable\": {\"high\": 3}, \"we\\\"ird\\\\rule\": {\"low\": 1}},"
	" \"process_table\": {\"size\": 120, \"evictions\": 5},"
	" \"hash_cache\": {\"hits\": 7, \"misses\": 2}, \"bpf_map_bytes\": 1048576, \"rss_kb\": 10240,"
	" \"aac\": {\"backend\": \"fanotify\", \"fanotify\": {\"usable\": true, \"allowed\": 100, \"denied\": 2,"
	"          \"errors\": 0, \"timeouts\": 1, \"cache_hits\": 90, \"decision_p50_us\": 4.5,"
	"          \"decision_p99_us\": 250}},"
	" \"forward\": {\"enabled\": true, \"spool\": {\"bytes\": 4096, \"segments\": 1, \"dropped\": 0},"
	"          \"sent\": 9, \"failures\": 2, \"rejected\": 0}}";

static void test_render_agent_status(void **state)
{
	json_error_t je;
	json_t *st = json_loads(status_doc, 0, &je);
	char *t;

	assert_non_null(st);
	t = metrics_render_agent(st);
	assert_non_null(t);
	int n = check_grammar(t);
	if (n < 30)
		fail_msg("samples\n  expected: >= 30\n      seen: %d", n);
	expect_line(t, "# TYPE vigil_events_total counter");
	expect_line(t, "vigil_events_total{type=\"exec\"} 10");
	expect_line(t, "vigil_events_total{type=\"network\"} 3");
	expect_line(t, "vigil_events_lost_total{type=\"exec\",cause=\"ringbuf_full\"} 1");
	expect_line(t, "vigil_events_lost_total{type=\"file\",cause=\"read_failed\"} 2");
	expect_line(t, "vigil_alerts_total{rule=\"exec_world_writable\",severity=\"high\"} 3");
	expect_line(t, "vigil_alerts_total{rule=\"we\\\"ird\\\\rule\",severity=\"low\"} 1");
	expect_line(t, "vigil_records_malformed_total 1");
	expect_line(t, "vigil_process_table_entries 120");
	expect_line(t, "process_resident_memory_bytes 10485760");
	expect_line(t, "vigil_aac_decisions_total{backend=\"fanotify\",verdict=\"deny\"} 2");
	expect_line(t, "vigil_aac_decisions_total{backend=\"fanotify\",verdict=\"timeout\"} 1");
	expect_line(t, "vigil_aac_decision_latency_seconds{backend=\"fanotify\",quantile=\"0.99\"} 0.00025");
	expect_line(t, "vigil_forward_queue_bytes 4096");
	expect_line(t, "vigil_forward_failures_total 2");
	expect_line(t, "vigil_build_info{version=\"0.1.0\"} 1");
	free(t);

	/* without the engines' objects their metrics are absent, not zero */
	json_object_del(st, "aac");
	json_object_del(st, "forward");
	t = metrics_render_agent(st);
	check_grammar(t);
	expect_no(t, "vigil_aac_");
	expect_no(t, "vigil_forward_");
	free(t);
	json_decref(st);

	errno = 0;
	assert_null(metrics_render_agent(NULL));
	assert_int_equal(errno, EINVAL);
}

static void test_parse_listen(void **state)
{
	static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "1.2.3.4:-1",
					   "[::1:9100", "[::1]9100", ":x", "", NULL };
	struct sockaddr_storage ss;
	bool dual;

	assert_int_equal(metrics_parse_listen("127.0.0.1:9464", &ss, &dual), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
	assert_false(dual);
	assert_int_equal(metrics_parse_listen("[::1]:0", &ss, &dual), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(metrics_parse_listen(":9100", &ss, &dual), 0);
	assert_true(dual);
	for (int i = 0; bad[i]; i++)
		if (metrics_parse_listen(bad[i], &ss, &dual) != -EINVAL)
			fail_msg("listen \"%s\"\n  expected: -EINVAL\n      seen: accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_help_escaping),
		cmocka_unit_test(test_label_value_escaping),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_bad_names_fail_and_stick),
		cmocka_unit_test(test_render_agent_status),
		cmocka_unit_test(test_parse_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
