/* Unit tests for vigil-scored's storage and API handlers (scored_db.c, scored_api.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include "scored.h"

struct fx {
	char path[64];
	struct scored_db *db;
	struct scored *s;
	char h1[65], h2[65], rd[65], op[65];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	int fd;

	strcpy(f->path, "/tmp/vigil-test-scored.XXXXXX");
	if ((fd = mkstemp(f->path)) < 0)
		return -1;
	close(fd);
	unlink(f->path);
	if (scored_db_open(f->path, &f->db, err, sizeof(err)))
		fail_msg("open: %s", err);
	f->s = scored_new(f->db);
	assert_int_equal(scored_token_add(f->db, "h1", SCORED_ROLE_AGENT, f->h1), 0);
	assert_int_equal(scored_token_add(f->db, "h2", SCORED_ROLE_AGENT, f->h2), 0);
	assert_int_equal(scored_token_add(f->db, "alice", SCORED_ROLE_READER, f->rd), 0);
	assert_int_equal(scored_token_add(f->db, "bob", SCORED_ROLE_OPERATOR, f->op), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[96];

	scored_free(f->s);
	scored_db_close(f->db);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	free(f);
	return 0;
}

/* One request; returns the status and the reply in *out (new reference; may be NULL). */
static int call(struct fx *f, const char *method, const char *path, const char *token, const char *body,
		json_t **out, ...)
{
	struct scored_arg args[8];
	size_t n = 0;
	char auth[128];
	va_list ap;
	const char *k;

	va_start(ap, out);
	while (n < 8 && (k = va_arg(ap, const char *))) {
		args[n].key = k;
		args[n++].value = va_arg(ap, const char *);
	}
	va_end(ap);
	snprintf(auth, sizeof(auth), "Bearer %s", token ? token : "");
	struct scored_req rq = { method, path, args, n, token ? auth : NULL, body, body ? strlen(body) : 0 };
	struct scored_resp rs = { 0 };
	scored_handle(f->s, &rq, &rs);
	assert_non_null(rs.body);
	if (rs.status >= 400 && !json_string_value(json_object_get(rs.body, "error")))
		fail_msg("%s %s: status %d without an error message", method, path, rs.status);
	if (out)
		*out = rs.body;
	else
		json_decref(rs.body);
	return rs.status;
}

#define EXPECT(f, status, ...) do { int _s = call(f, __VA_ARGS__); \
	if (_s != (status)) fail_msg("line %d: expected HTTP %d, seen %d", __LINE__, (status), _s); } while (0)

static long count(struct fx *f, const char *table)
{
	char sql[128];
	sqlite3_stmt *st;
	long n = -1;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(scored_db_handle(f->db), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_migrations(void **state)
{
	struct fx *f = *state;
	struct scored_db *db2;
	char err[256];
	int last = 0;

	for (const struct scored_migration *m = scored_migrations; m->sql; m++)
		last = m->version;
	assert_int_equal(scored_db_version(f->db), last);
	/* reopening applies nothing twice and keeps the data */
	assert_int_equal(scored_db_open(f->path, &db2, err, sizeof(err)), 0);
	assert_int_equal(scored_db_version(db2), last);
	json_t *l = scored_token_list(db2);
	assert_int_equal(json_array_size(l), 4);
	json_decref(l);
	scored_db_close(db2);
	assert_int_equal(count(f, "schema_version"), last);
}

static void test_auth(void **state)
{
	struct fx *f = *state;
	const char *ok = "{\"alerts\": []}";

	EXPECT(f, 200, "GET", "/api/v1/health", NULL, NULL, NULL, NULL);
	EXPECT(f, 401, "POST", "/api/v1/alerts", NULL, ok, NULL, NULL);
	EXPECT(f, 401, "POST", "/api/v1/alerts", "0000000000000000000000000000000000000000000000000000000000000000",
	       ok, NULL, NULL);
	EXPECT(f, 401, "GET", "/api/v1/score", "short", NULL, NULL, NULL);
	EXPECT(f, 403, "POST", "/api/v1/alerts", f->rd, ok, NULL, NULL);     /* a reader cannot post */
	EXPECT(f, 403, "GET", "/api/v1/score", f->h1, NULL, NULL, NULL);     /* an agent cannot read the fleet */
	EXPECT(f, 403, "POST", "/api/v1/jit", f->rd, "{}", NULL, NULL);       /* a reader cannot place JIT requests */
	EXPECT(f, 200, "POST", "/api/v1/alerts", f->h1, ok, NULL, NULL);
	EXPECT(f, 404, "GET", "/api/v1/nope", f->rd, NULL, NULL, NULL);
	EXPECT(f, 405, "DELETE", "/api/v1/score", f->rd, NULL, NULL, NULL);
	assert_int_equal(scored_token_revoke(f->db, "h1"), 0);
	EXPECT(f, 401, "POST", "/api/v1/alerts", f->h1, ok, NULL, NULL);
	assert_int_equal(scored_token_revoke(f->db, "h1"), -ENOENT);
}

static char *alert(const char *id, const char *host, const char *sev, const char *rule, const char *time)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "{\"id\": \"%s\", \"time\": \"%s\", \"rule\": \"%s\", \"title\": \"t\","
		 " \"severity\": \"%s\", \"host\": \"%s\", \"mitre\": {}, \"action\": \"audited\"}",
		 id, time, rule, sev, host);
	return buf;
}

static void test_alerts(void **state)
{
	struct fx *f = *state;
	char body[4096];
	json_t *o;

	snprintf(body, sizeof(body), "{\"alerts\": [%s,", alert("a1", "h1", "high", "r1", "2026-01-01T00:00:01.000001Z"));
	snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s,",
		 alert("a2", "h1", "low", "r2", "2026-01-01T00:00:02Z"));
	snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s]}",
		 alert("a3", "h1", "medium", "r1", "2026-01-01T01:00:03+01:00"));
	EXPECT(f, 200, "POST", "/api/v1/alerts", f->h1, body, &o, NULL);
	assert_int_equal(json_integer_value(json_object_get(o, "accepted")), 3);
	json_decref(o);
	/* at-least-once delivery: the same batch again stores nothing new */
	EXPECT(f, 200, "POST", "/api/v1/alerts", f->h1, body, &o, NULL);
	assert_int_equal(json_integer_value(json_object_get(o, "accepted")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "duplicates")), 3);
	json_decref(o);
	assert_int_equal(count(f, "alerts"), 3);

	/* bad input: 4xx with a message, nothing stored (not even the good alerts of the batch) */
	static const char *const bad[] = {
		"{\"alerts\": [",                                        /* malformed */
		"[1, 2]",                                                /* not an object */
		"{\"alerts\": {}}",                                      /* wrong type */
		"{\"alerts\": [{\"id\": 5}]}",
		"{\"alerts\": [{\"id\": \"x1\", \"time\": \"yesterday\", \"rule\": \"r\", \"severity\": \"high\", \"host\": \"h1\"}]}",
		"{\"alerts\": [{\"id\": \"x1\", \"time\": \"2026-01-01T00:00:00Z\", \"rule\": \"r\", \"severity\": \"urgent\", \"host\": \"h1\"}]}",
		"{\"alerts\": [{\"id\": \"x 1'; DROP TABLE alerts; --\", \"time\": \"2026-01-01T00:00:00Z\", \"rule\": \"r\", \"severity\": \"high\", \"host\": \"h1\"}]}",
		"{\"alerts\": [{\"id\": \"x1\", \"id\": \"x2\"}]}",     /* duplicate keys */
		"",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		int st = call(f, "POST", "/api/v1/alerts", f->h1, bad[i], NULL, NULL);
		if (st != 400)
			fail_msg("bad body %d: expected HTTP 400, seen %d", i, st);
	}
	snprintf(body, sizeof(body), "{\"alerts\": [%s,", alert("ok1", "h1", "high", "r1", "2026-01-01T00:00:00Z"));
	snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s]}", alert("ok2", "h1", "nope", "r1", "2026-01-01T00:00:00Z"));
	EXPECT(f, 400, "POST", "/api/v1/alerts", f->h1, body, NULL, NULL);
	/* an agent cannot post alerts of another host */
	snprintf(body, sizeof(body), "{\"alerts\": [%s]}", alert("ok3", "h2", "high", "r1", "2026-01-01T00:00:00Z"));
	EXPECT(f, 403, "POST", "/api/v1/alerts", f->h1, body, NULL, NULL);
	/* oversized */
	{
		struct scored_req rq = { "POST", "/api/v1/alerts", NULL, 0, NULL, "{}", SCORED_BODY_MAX + 1 };
		char auth[80];
		snprintf(auth, sizeof(auth), "Bearer %s", f->h1);
		rq.authorization = auth;
		struct scored_resp rs = { 0 };
		scored_handle(f->s, &rq, &rs);
		assert_int_equal(rs.status, 413);
		json_decref(rs.body);
	}
	assert_int_equal(count(f, "alerts"), 3);

	/* filters */
	EXPECT(f, 200, "GET", "/api/v1/alerts", f->rd, NULL, &o, "rule", "r1", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "alerts")), 2);
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/alerts", f->rd, NULL, &o, "severity", "low", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "alerts")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "alerts"), 0), "id")), "a2");
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/alerts", f->rd, NULL, &o, "min_severity", "medium", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "alerts")), 2);
	json_decref(o);
	/* a3 is 00:00:03Z (written with a +01:00 offset); newest first */
	EXPECT(f, 200, "GET", "/api/v1/alerts", f->rd, NULL, &o, "since", "2026-01-01T00:00:02Z", "host", "h1", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "alerts")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "alerts"), 0), "id")), "a3");
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/alerts", f->rd, NULL, &o, "host", "h2", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "alerts")), 0);
	json_decref(o);
	EXPECT(f, 400, "GET", "/api/v1/alerts", f->rd, NULL, NULL, "severity", "bad", NULL);
	EXPECT(f, 400, "GET", "/api/v1/alerts", f->rd, NULL, NULL, "limit", "0", NULL);
	EXPECT(f, 400, "GET", "/api/v1/alerts", f->rd, NULL, NULL, "since", "x", NULL);
}

/* A posture snapshot with n_bad unhealthy of n harden_os recommendations, plus one
 * mgmt_ports recommendation (healthy when port_ok) and one not-applicable one. */
static char *snapshot(const char *host, int n, int n_bad, bool port_ok)
{
	static char buf[8192];
	size_t l;

	l = snprintf(buf, sizeof(buf), "{\"host\": \"%s\", \"kernel\": \"6.18\", \"agent_version\": \"0.1.0\","
		     " \"backends\": {\"xdp\": true}, \"time\": \"2026-01-01T00:00:00Z\", \"recommendations\": [", host);
	for (int i = 0; i < n; i++)
		l += snprintf(buf + l, sizeof(buf) - l, "{\"id\": \"os.%d\", \"title\": \"T%d\", \"control\": \"harden_os\","
			      " \"severity\": \"medium\", \"status\": \"%s\", \"evidence\": {\"v\": %d},"
			      " \"fix\": {\"automated\": true}},", i, i, i < n_bad ? "unhealthy" : "healthy", i);
	l += snprintf(buf + l, sizeof(buf) - l, "{\"id\": \"ports\", \"title\": \"P\", \"control\": \"mgmt_ports\","
		      " \"severity\": \"high\", \"status\": \"%s\"},", port_ok ? "healthy" : "unhealthy");
	snprintf(buf + l, sizeof(buf) - l, "{\"id\": \"ssh\", \"control\": \"protect_accounts\", \"severity\": \"high\","
		 " \"status\": \"not_applicable\", \"reason\": \"no sshd\"}]}");
	return buf;
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static void test_score_and_ranking(void **state)
{
	struct fx *f = *state;
	json_t *o, *c, *v;
	size_t i;

	/* h1: 4 harden_os, 1 bad, port unhealthy.  h2: 4 harden_os, 3 bad, port healthy. */
	EXPECT(f, 200, "POST", "/api/v1/posture", f->h1, snapshot("h1", 4, 1, false), &o, NULL);
	/* h1 alone: harden_os 4 x 3/4 = 3, mgmt_ports 0 of 8: 3 / 12 = 25% */
	assert_true(fabs(num(o, "score") - 25.0) < 0.01);
	json_decref(o);
	EXPECT(f, 200, "POST", "/api/v1/posture", f->h2, snapshot("h2", 4, 3, true), NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/score", f->rd, NULL, &o, NULL);
	/* fleet: harden_os 4 x 4/8 = 2; mgmt_ports 8 x 1/2 = 4; protect_accounts not evaluable:
	 * (2 + 4) / (4 + 8) = 50% */
	c = json_object_get(o, "score");
	if (fabs(num(c, "percent") - 50.0) > 0.01)
		fail_msg("fleet score: expected 50.00, seen %.2f", num(c, "percent"));
	assert_true(fabs(num(c, "max") - 12.0) < 1e-9);
	assert_int_equal(json_integer_value(json_object_get(o, "hosts")), 2);
	json_array_foreach(json_object_get(o, "controls"), i, v) {
		const char *id = json_string_value(json_object_get(v, "id"));
		if (!strcmp(id, "protect_accounts")) {
			assert_false(json_is_true(json_object_get(v, "evaluable")));
			assert_int_equal(json_integer_value(json_object_get(v, "not_applicable")), 2);
		}
		if (!strcmp(id, "harden_os"))
			assert_true(fabs(num(v, "current") - 2.0) < 1e-9);
	}
	json_decref(o);
	/* ranking: ports (8/2 x 1 = 4) first, then os.0 (4/8 x 2 = 1), then os.1 and os.2 (0.5) */
	EXPECT(f, 200, "GET", "/api/v1/recommendations", f->rd, NULL, &o, NULL);
	json_t *r = json_object_get(o, "recommendations");
	static const char *const order[] = { "ports", "os.0", "os.1", "os.2" };
	static const double pots[] = { 4.0, 1.0, 0.5, 0.5 };
	for (i = 0; i < 4; i++) {
		v = json_array_get(r, i);
		if (strcmp(json_string_value(json_object_get(v, "id")), order[i]) || fabs(num(v, "potential_increase") - pots[i]) > 1e-9)
			fail_msg("rank %zu: expected %s (+%.2f), seen %s (+%.2f)", i, order[i], pots[i],
				 json_string_value(json_object_get(v, "id")), num(v, "potential_increase"));
	}
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(r, 0), "unhealthy_hosts"), 0)), "h1");
	json_decref(o);
	/* per host */
	EXPECT(f, 200, "GET", "/api/v1/score", f->rd, NULL, &o, "host", "h2", NULL);
	/* h2: harden_os 1, mgmt_ports 8: 9 / 12 = 75% */
	assert_true(fabs(num(json_object_get(o, "score"), "percent") - 75.0) < 0.01);
	json_decref(o);
	EXPECT(f, 404, "GET", "/api/v1/score", f->rd, NULL, NULL, "host", "nobody", NULL);
	EXPECT(f, 200, "GET", "/api/v1/hosts", f->rd, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "hosts")), 2);
	v = json_array_get(json_object_get(o, "hosts"), 1);
	assert_string_equal(json_string_value(json_object_get(v, "host")), "h2");
	assert_string_equal(json_string_value(json_object_get(v, "kernel")), "6.18");
	assert_true(fabs(num(v, "score") - 75.0) < 0.01);
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/hosts/h1", f->rd, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "recommendations")), 6);
	json_decref(o);
	EXPECT(f, 404, "GET", "/api/v1/hosts/nobody", f->rd, NULL, NULL, NULL);

	/* a new snapshot replaces the host's assessments */
	EXPECT(f, 200, "POST", "/api/v1/posture", f->h1, snapshot("h1", 4, 0, true), NULL, NULL);
	assert_int_equal(count(f, "assessments"), 12);
	/* bad snapshots change nothing */
	EXPECT(f, 403, "POST", "/api/v1/posture", f->h1, snapshot("h2", 4, 4, false), NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [{\"id\": \"x\","
	       " \"control\": \"harden_os\", \"severity\": \"high\", \"status\": \"passing\"}]}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": 3}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [{\"id\": \"a\","
	       " \"control\": \"harden_os\", \"severity\": \"high\", \"status\": \"healthy\"}, {\"id\": \"a\","
	       " \"control\": \"harden_os\", \"severity\": \"high\", \"status\": \"healthy\"}]}", NULL, NULL);
	assert_int_equal(count(f, "assessments"), 12);
}

static void test_empty_fleet(void **state)
{
	struct fx *f = *state;
	json_t *o;

	EXPECT(f, 200, "GET", "/api/v1/score", f->rd, NULL, &o, NULL);
	json_t *s = json_object_get(o, "score");
	assert_true(json_is_real(json_object_get(s, "percent")));
	assert_true(num(s, "percent") == 0.0);
	assert_int_equal(json_integer_value(json_object_get(s, "evaluable_controls")), 0);
	json_decref(o);
}

static void test_jit(void **state)
{
	struct fx *f = *state;
	json_t *o;
	char path[64];
	long long id;

	EXPECT(f, 404, "POST", "/api/v1/jit", f->op, "{\"host\": \"nobody\", \"port\": 22, \"source\": \"10.0.0.1\","
	       " \"duration\": \"1h\", \"justification\": \"x\"}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/jit", f->op, "{\"host\": \"h1\", \"port\": 70000, \"source\": \"10.0.0.1\","
	       " \"duration\": \"1h\", \"justification\": \"x\"}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/jit", f->op, "{\"host\": \"h1\", \"port\": 22, \"source\": \"10.0.0.1\","
	       " \"duration\": \"1h\"}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/jit", f->op, "{\"host\": \"h1\", \"port\": 22, \"source\": \"10.0.0.1\","
	       " \"duration\": \"1h\", \"justification\": \"x\", \"extra\": 1}", NULL, NULL);
	assert_int_equal(count(f, "jit_requests"), 0);
	EXPECT(f, 201, "POST", "/api/v1/jit", f->op, "{\"host\": \"h1\", \"port\": 22, \"source\": \"10.0.0.1\","
	       " \"duration\": \"1h\", \"justification\": \"incident 42\", \"requestor\": \"carol\"}", &o, NULL);
	id = json_integer_value(json_object_get(o, "id"));
	json_decref(o);
	/* h2 does not see h1's request; h1 gets it once (then it is delivered) */
	EXPECT(f, 200, "GET", "/api/v1/jit/pending", f->h2, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "requests")), 0);
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/jit/pending", f->h1, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "requests")), 1);
	json_t *rq = json_array_get(json_object_get(o, "requests"), 0);
	assert_int_equal(json_integer_value(json_object_get(rq, "duration_s")), 3600);
	assert_string_equal(json_string_value(json_object_get(rq, "requestor")), "carol");
	assert_string_equal(json_string_value(json_object_get(rq, "placed_by")), "bob");
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/jit/pending", f->h1, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "requests")), 0);
	json_decref(o);
	snprintf(path, sizeof(path), "/api/v1/jit/%lld/result", id);
	EXPECT(f, 404, "POST", path, f->h2, "{\"status\": \"applied\"}", NULL, NULL);
	EXPECT(f, 400, "POST", path, f->h1, "{\"status\": \"maybe\"}", NULL, NULL);
	EXPECT(f, 200, "POST", path, f->h1, "{\"status\": \"refused\", \"reason\": \"port not protected\"}", NULL, NULL);
	EXPECT(f, 409, "POST", path, f->h1, "{\"status\": \"applied\"}", NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/jit", f->rd, NULL, &o, "host", "h1", NULL);
	rq = json_array_get(json_object_get(o, "requests"), 0);
	assert_string_equal(json_string_value(json_object_get(rq, "state")), "refused");
	assert_string_equal(json_string_value(json_object_get(json_object_get(rq, "result"), "reason")), "port not protected");
	json_decref(o);
}

/* GET /metrics through the route table: the text reply (s->text) in the exposition format. */
static char *scrape(struct fx *f)
{
	struct scored_req rq = { "GET", "/metrics", NULL, 0, NULL, NULL, 0 };
	struct scored_resp rs = { 0 };

	scored_handle(f->s, &rq, &rs);
	if (rs.status != 200 || !rs.text)
		fail_msg("GET /metrics: expected 200 with text, seen %d (%s)", rs.status, rs.text ? "text" : "no text");
	assert_null(rs.body);
	assert_non_null(rs.content_type);
	assert_non_null(strstr(rs.content_type, "version=0.0.4"));
	return rs.text;
}

/* The value of the sample line "series value" (series with its labels, as rendered); NAN when absent. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

#define EXPECT_SAMPLE(text, series, want) do { double _v = sample(text, series); \
	if (!(_v == (double)(want))) fail_msg("%s: expected %g, seen %g\n%s", series, (double)(want), _v, text); } while (0)

static void test_metrics(void **state)
{
	struct fx *f = *state;
	char body[4096], *m;
	int64_t open_incidents;

	m = scrape(f);
	EXPECT_SAMPLE(m, "vigil_scored_alerts_ingested_total{severity=\"high\"}", 0);
	EXPECT_SAMPLE(m, "vigil_scored_hosts", 0);
	free(m);
	snprintf(body, sizeof(body), "{\"alerts\": [%s,", alert("a1", "h1", "high", "r1", "2026-01-01T00:00:01Z"));
	snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s,", alert("a2", "h1", "low", "r2", "2026-01-01T00:00:02Z"));
	snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s]}", alert("a3", "h1", "high", "r1", "2026-01-01T00:00:03Z"));
	EXPECT(f, 200, "POST", "/api/v1/alerts", f->h1, body, NULL, NULL);
	EXPECT(f, 200, "POST", "/api/v1/alerts", f->h1, body, NULL, NULL);          /* duplicates: not ingested again */
	EXPECT(f, 200, "POST", "/api/v1/alerts", f->h2, "{\"alerts\": []}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/alerts", f->h1, "{\"alerts\": 3}", NULL, NULL);
	EXPECT(f, 401, "POST", "/api/v1/alerts", NULL, body, NULL, NULL);
	EXPECT(f, 403, "GET", "/api/v1/score", f->h1, NULL, NULL, NULL);
	EXPECT(f, 404, "GET", "/api/v1/nope", f->rd, NULL, NULL, NULL);
	EXPECT(f, 405, "DELETE", "/api/v1/score", f->rd, NULL, NULL, NULL);
	EXPECT(f, 200, "POST", "/api/v1/posture", f->h1, snapshot("h1", 4, 1, false), NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": 3}", NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/score", f->rd, NULL, NULL, NULL);
	{       /* an oversized body is refused before it is read */
		struct scored_req rq = { "POST", "/api/v1/alerts", NULL, 0, NULL, "{}", SCORED_BODY_MAX + 1 };
		struct scored_resp rs = { 0 };
		scored_handle(f->s, &rq, &rs);
		assert_int_equal(rs.status, 413);
		json_decref(rs.body);
	}

	m = scrape(f);
	EXPECT_SAMPLE(m, "vigil_scored_alerts_ingested_total{severity=\"high\"}", 2);
	EXPECT_SAMPLE(m, "vigil_scored_alerts_ingested_total{severity=\"low\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_alerts_ingested_total{severity=\"medium\"}", 0);
	EXPECT_SAMPLE(m, "vigil_scored_alerts_ingested_total{severity=\"informational\"}", 0);
	EXPECT_SAMPLE(m, "vigil_scored_alert_batches_total", 3);
	EXPECT_SAMPLE(m, "vigil_scored_posture_snapshots_total", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"POST\",route=\"/api/v1/alerts\",code=\"2xx\"}", 3);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"POST\",route=\"/api/v1/alerts\",code=\"4xx\"}", 3);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"POST\",route=\"/api/v1/posture\",code=\"2xx\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"POST\",route=\"/api/v1/posture\",code=\"4xx\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"GET\",route=\"/api/v1/score\",code=\"2xx\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"GET\",route=\"/api/v1/score\",code=\"4xx\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"other\",route=\"unmatched\",code=\"4xx\"}", 2);
	EXPECT_SAMPLE(m, "vigil_scored_requests_total{method=\"GET\",route=\"/metrics\",code=\"2xx\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_rejected_total{reason=\"invalid\"}", 2);
	EXPECT_SAMPLE(m, "vigil_scored_requests_rejected_total{reason=\"unauthenticated\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_rejected_total{reason=\"forbidden\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_rejected_total{reason=\"not_found\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_rejected_total{reason=\"method_not_allowed\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_requests_rejected_total{reason=\"too_large\"}", 1);
	EXPECT_SAMPLE(m, "vigil_scored_hosts", 2);         /* h1 posted posture and alerts; h2 an empty batch */
	{
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(scored_db_handle(f->db), "SELECT COUNT(*) FROM incidents WHERE"
						    " status != 'closed'", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		open_incidents = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	EXPECT_SAMPLE(m, "vigil_scored_incidents_open", open_incidents);
	if (!(sample(m, "vigil_scored_store_bytes") >= 4096))
		fail_msg("vigil_scored_store_bytes: expected >= 4096, seen %g", sample(m, "vigil_scored_store_bytes"));
	if (!(sample(m, "vigil_scored_uptime_seconds") >= 0 && sample(m, "vigil_scored_uptime_seconds") < 60))
		fail_msg("vigil_scored_uptime_seconds: expected 0..60, seen %g", sample(m, "vigil_scored_uptime_seconds"));
	assert_non_null(strstr(m, "# TYPE vigil_scored_alerts_ingested_total counter\n"));
	assert_non_null(strstr(m, "# TYPE vigil_scored_hosts gauge\n"));
	/* every line is a comment or "series value" */
	for (char *p = m, *e; *p; p = e + 1) {
		char *sp;
		e = strchr(p, '\n');
		assert_non_null(e);
		*e = 0;
		sp = strrchr(p, ' ');
		if (p[0] != '#' && (!sp || sp == p))
			fail_msg("not a sample line: \"%s\"", p);
	}
	free(m);
}

static void test_parse_time(void **state)
{
	int64_t ns;

	assert_int_equal(scored_parse_time("1970-01-01T00:00:01.5Z", &ns), 0);
	assert_true(ns == 1500000000LL);
	assert_int_equal(scored_parse_time("1970-01-01T01:00:00+01:00", &ns), 0);
	assert_true(ns == 0);
	assert_true(scored_parse_time("1970-01-01T00:00:00", &ns) < 0);
	assert_true(scored_parse_time("1970-01-01T00:00:00Zjunk", &ns) < 0);
	assert_true(scored_parse_time("", &ns) < 0);
}

/* Posture workloads (the containers a host runs) are stored with the snapshot and served by the
 * host's page; the host list shows their count; a snapshot without them (an older agent) shows
 * null; malformed ones are refused and change nothing. */
static void test_posture_workloads(void **state)
{
	struct fx *f = *state;
	json_t *o, *w, *v;
	static const char *const good = "{\"host\": \"h1\", \"recommendations\": [], \"workloads_omitted\": 3,"
		" \"workloads\": [{\"id\": \"a1b2\", \"runtime\": \"containerd\", \"pod_uid\": "
		"\"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\", \"pod\": \"api-7f9c6b5d4-rt2xz\", \"namespace\": \"payments\","
		" \"name\": \"api\", \"image\": \"registry.example/api:1.4\", \"processes\": 2},"
		" {\"id\": \"c3d4\", \"runtime\": \"docker\", \"processes\": 1}]}";

	EXPECT(f, 200, "POST", "/api/v1/posture", f->h1, good, NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/hosts/h1", f->rd, NULL, &o, NULL);
	w = json_object_get(o, "workloads");
	if (json_array_size(w) != 2)
		fail_msg("workloads stored: expected 2, seen %zu", json_array_size(w));
	v = json_array_get(w, 0);
	assert_string_equal(json_string_value(json_object_get(v, "pod")), "api-7f9c6b5d4-rt2xz");
	assert_string_equal(json_string_value(json_object_get(v, "namespace")), "payments");
	assert_string_equal(json_string_value(json_object_get(v, "pod_uid")), "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f");
	assert_string_equal(json_string_value(json_object_get(v, "image")), "registry.example/api:1.4");
	assert_int_equal(json_integer_value(json_object_get(v, "processes")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "workloads_omitted")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "workload_count")), 5);
	json_decref(o);
	/* h2 posts no workloads: null, not an empty list */
	EXPECT(f, 200, "POST", "/api/v1/posture", f->h2, snapshot("h2", 1, 0, true), NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/hosts", f->rd, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "hosts")), 2);
	v = json_array_get(json_object_get(o, "hosts"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "host")), "h1");
	assert_int_equal(json_integer_value(json_object_get(v, "workload_count")), 5);
	assert_null(json_object_get(v, "workloads"));      /* the list stays small */
	assert_true(json_is_null(json_object_get(json_array_get(json_object_get(o, "hosts"), 1), "workload_count")));
	json_decref(o);
	EXPECT(f, 200, "GET", "/api/v1/hosts/h2", f->rd, NULL, &o, NULL);
	assert_true(json_is_null(json_object_get(o, "workloads")));
	json_decref(o);
	/* malformed: refused, h1's workloads unchanged */
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [],"
	       " \"workloads\": {\"id\": \"x\"}}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [],"
	       " \"workloads\": [{\"pod\": \"no-id\"}]}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [],"
	       " \"workloads\": [{\"id\": \"x\", \"processes\": -1}]}", NULL, NULL);
	EXPECT(f, 400, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [],"
	       " \"workloads\": [], \"workloads_omitted\": \"many\"}", NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/hosts/h1", f->rd, NULL, &o, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "workloads")), 2);
	json_decref(o);
	/* a new snapshot replaces them: no container runs any more */
	EXPECT(f, 200, "POST", "/api/v1/posture", f->h1, "{\"host\": \"h1\", \"recommendations\": [],"
	       " \"workloads\": [], \"workloads_omitted\": 0}", NULL, NULL);
	EXPECT(f, 200, "GET", "/api/v1/hosts/h1", f->rd, NULL, &o, NULL);
	assert_true(json_is_array(json_object_get(o, "workloads")));
	assert_int_equal(json_array_size(json_object_get(o, "workloads")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "workload_count")), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_score_and_ranking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posture_workloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_fleet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test(test_parse_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
