/* Unit tests for vigil-scored incidents: correlation of synthetic alerts at ingest
 * (scored_incidents.c) and the triage API (scored_incidents_api.c), driven
 * through scored_handle() as the HTTP server would. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <sqlite3.h>

#include "scored.h"
#include "scored_incidents.h"

struct fx {
	struct scored_db *db;
	struct scored *s;
	char h1[65], h2[65], rd[65], op[65];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (scored_db_open(":memory:", &f->db, err, sizeof(err)))
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

	scored_free(f->s);
	scored_db_close(f->db);
	free(f);
	return 0;
}

/* One request; the status, and the reply in *out (new reference) when out is set.
 * Variadic: query key/value pairs ending with NULL. */
static int call(struct fx *f, const char *method, const char *path, const char *token, const char *body,
		json_t **out, ...)
{
	struct scored_arg args[8];
	size_t n = 0;
	char auth[128];
	const char *k;
	va_list ap;

	va_start(ap, out);
	while (n < 8 && (k = va_arg(ap, const char *))) {
		args[n].key = k;
		args[n++].value = va_arg(ap, const char *);
	}
	va_end(ap);
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	struct scored_req rq = { method, path, args, n, auth, body, body ? strlen(body) : 0 };
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

/* A synthetic alert as vigild writes it, at 2026-01-01T00:00:00Z + sec. */
static json_t *mk(const char *id, const char *host, int sec, const char *rule, const char *sev, const char *tactic,
		  int pid, const char *exe, int ppid, const char *pexe, int uid)
{
	char t[64];
	json_t *a;

	snprintf(t, sizeof(t), "2026-01-01T%02d:%02d:%02dZ", sec / 3600, sec / 60 % 60, sec % 60);
	a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s}", "id", id, "time", t, "rule", rule,
		      "title", rule, "severity", sev, "host", host, "mitre", "tactic", tactic, "technique", "T0000",
		      "action", "audited", "remediation", "r");
	json_object_set_new(a, "process", json_pack("{s:i, s:i, s:s, s:i, s:s, s:s}", "pid", pid, "ppid", ppid,
		"exe", exe, "uid", uid, "user", uid ? "alice" : "root", "cmdline", exe));
	json_object_set_new(a, "parents", json_pack("[{s:i, s:s}, {s:i, s:s}]", "pid", ppid, "exe", pexe,
		"pid", 1, "exe", "/usr/lib/systemd/systemd"));
	json_object_set_new(a, "container", json_null());
	return a;
}

/* POSTs the alerts (stolen) as one batch of host's agent; returns "accepted". */
static long post(struct fx *f, const char *tok, int n, ...)
{
	json_t *arr = json_array(), *o;
	char *body;
	va_list ap;
	long acc;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, va_arg(ap, json_t *));
	va_end(ap);
	o = json_pack("{s:o}", "alerts", arr);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	int st = call(f, "POST", "/api/v1/alerts", tok, body, &o, NULL);
	if (st != 200)
		fail_msg("POST alerts: HTTP %d: %s", st, json_string_value(json_object_get(o, "error")));
	acc = (long)json_integer_value(json_object_get(o, "accepted"));
	json_decref(o);
	free(body);
	return acc;
}

static json_t *list(struct fx *f, ...)
{
	json_t *o;
	const char *k[6] = { 0 };
	va_list ap;

	va_start(ap, f);
	for (int i = 0; i < 6 && (k[i] = va_arg(ap, const char *)); i++)
		;
	va_end(ap);
	EXPECT(f, 200, "GET", "/api/v1/incidents", f->rd, NULL, &o, k[0], k[1], k[2], k[3], NULL);
	return o;
}

static json_t *incident(struct fx *f, json_int_t id)
{
	char path[64];
	json_t *o;

	snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)id);
	EXPECT(f, 200, "GET", path, f->rd, NULL, &o, NULL);
	return o;
}

static size_t nincidents(struct fx *f)
{
	json_t *o = list(f, NULL);
	size_t n = json_array_size(json_object_get(o, "incidents"));
	json_decref(o);
	return n;
}

/* The incident holding alert id (0 if none), from the store. */
static json_int_t incident_of(struct fx *f, const char *alert_id)
{
	sqlite3_stmt *st;
	json_int_t id = 0;

	assert_int_equal(sqlite3_prepare_v2(scored_db_handle(f->db), "SELECT incident_id FROM incident_alerts"
					    " WHERE alert_id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, alert_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

static bool has_entity(json_t *inc, const char *group, const char *key, const char *value)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(json_object_get(inc, "entities"), group), i, e)
		if (json_string_value(json_object_get(e, key)) && !strcmp(json_string_value(json_object_get(e, key)), value))
			return true;
	return false;
}

static bool has_relation(json_t *inc, const char *from, const char *rel, const char *to)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(inc, "relations"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "from")), from) &&
		    !strcmp(json_string_value(json_object_get(e, "relation")), rel) &&
		    !strcmp(json_string_value(json_object_get(e, "to")), to))
			return true;
	return false;
}

/* A multi-step intrusion by one shell (pid 50): its children download and run a
 * payload, it writes authorized_keys, a copied cat reads /etc/shadow.  Posted out
 * of order across two batches, one alert redelivered. */
static void test_lineage_multistage(void **state)
{
	struct fx *f = *state;
	json_t *a1 = mk("a1", "h1", 10, "download_chmod_exec", "high", "TA0011", 100, "/tmp/x/stage1", 50, "/usr/bin/dash", 0);
	json_t *a2 = mk("a2", "h1", 20, "ssh_authorized_keys_write", "high", "TA0003", 50, "/usr/bin/dash", 10,
			"/usr/bin/python3", 0);
	json_t *a3 = mk("a3", "h1", 30, "shadow_read", "medium", "TA0006", 101, "/tmp/x/mycat", 50, "/usr/bin/dash", 0);
	json_t *o, *tl;

	json_object_set_new(a2, "file", json_pack("{s:s, s:s}", "path", "/home/u/.ssh/authorized_keys", "op", "open_write"));
	json_object_set_new(a3, "file", json_pack("{s:s, s:s}", "path", "/etc/shadow", "op", "open_read"));
	assert_int_equal(post(f, f->h1, 2, a3, json_incref(a1)), 2);
	assert_int_equal(post(f, f->h1, 2, a2, a1), 1);        /* a1 again: a retransmission */
	assert_int_equal(nincidents(f), 1);
	json_int_t id = incident_of(f, "a1");
	assert_true(id > 0);
	assert_true(incident_of(f, "a2") == id && incident_of(f, "a3") == id);
	o = incident(f, id);
	assert_int_equal(json_integer_value(json_object_get(o, "alert_count")), 3);
	assert_int_equal(json_array_size(json_object_get(o, "alerts")), 3);
	/* three tactics: one step above the highest alert */
	assert_string_equal(json_string_value(json_object_get(o, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(o, "status")), "new");
	assert_string_equal(json_string_value(json_object_get(o, "title")),
			    "Multi-stage attack on h1: Persistence -> Credential Access -> Command and Control");
	assert_int_equal(json_array_size(json_object_get(o, "tactics")), 3);
	assert_true(has_entity(o, "hosts", "name", "h1"));
	assert_true(has_entity(o, "processes", "exe", "/tmp/x/stage1"));
	assert_true(has_entity(o, "processes", "exe", "/usr/bin/dash"));
	assert_true(has_entity(o, "processes", "exe", "/tmp/x/mycat"));
	assert_true(has_entity(o, "files", "path", "/etc/shadow"));
	assert_true(has_entity(o, "files", "path", "/home/u/.ssh/authorized_keys"));
	assert_true(has_entity(o, "files", "path", "/tmp/x/stage1"));
	assert_true(has_entity(o, "users", "name", "root"));
	assert_true(has_relation(o, "process:100:/tmp/x/stage1", "child_of", "process:50:/usr/bin/dash"));
	assert_true(has_relation(o, "process:101:/tmp/x/mycat", "open_read", "file:/etc/shadow"));
	assert_true(has_relation(o, "process:50:/usr/bin/dash", "open_write", "file:/home/u/.ssh/authorized_keys"));
	assert_true(has_relation(o, "process:100:/tmp/x/stage1", "image", "file:/tmp/x/stage1"));
	/* timeline: the alerts by their time, whatever the order of arrival */
	tl = json_object_get(o, "timeline");
	const char *want[] = { "a1", "a2", "a3" };
	size_t k = 0, i;
	json_t *e;
	json_array_foreach(tl, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "type")), "alert")) {
			assert_true(k < 3);
			assert_string_equal(json_string_value(json_object_get(e, "alert_id")), want[k++]);
		}
	assert_int_equal(k, 3);
	json_decref(o);
}

static void test_unrelated_alerts_stay_apart(void **state)
{
	struct fx *f = *state;

	/* same tactic, different lineages, root: no key in common, no kill-chain advance */
	post(f, f->h1, 2, mk("u1", "h1", 10, "r", "high", "TA0002", 200, "/tmp/a", 20, "/usr/bin/bash", 0),
	     mk("u2", "h1", 20, "r", "high", "TA0002", 300, "/tmp/b", 30, "/usr/bin/bash", 0));
	assert_true(incident_of(f, "u1") != incident_of(f, "u2"));
	/* the same lineage on another host is another incident */
	post(f, f->h2, 1, mk("u3", "h2", 30, "r", "high", "TA0002", 200, "/tmp/a", 20, "/usr/bin/bash", 0));
	assert_true(incident_of(f, "u3") != incident_of(f, "u1"));
	/* the same lineage within the window (1 h) joins, and the window slides with it */
	post(f, f->h1, 1, mk("u5", "h1", 1800, "r", "low", "TA0002", 200, "/tmp/a", 20, "/usr/bin/bash", 0));
	assert_true(incident_of(f, "u5") == incident_of(f, "u1"));
	/* beyond it: a new incident */
	post(f, f->h1, 1, mk("u4", "h1", 1800 + 3601, "r", "high", "TA0002", 200, "/tmp/a", 20, "/usr/bin/bash", 0));
	assert_true(incident_of(f, "u4") != incident_of(f, "u1"));
	/* single-tactic incident: the highest alert severity, the alert's title */
	json_t *o = incident(f, incident_of(f, "u1"));
	assert_string_equal(json_string_value(json_object_get(o, "severity")), "high");
	assert_string_equal(json_string_value(json_object_get(o, "title")), "r");
	json_decref(o);
	assert_int_equal(nincidents(f), 4);
}

static void test_container_and_user_keys(void **state)
{
	struct fx *f = *state;
	json_t *c1 = mk("c1", "h1", 10, "r", "medium", "TA0002", 400, "/bin/a", 40, "/bin/sh", 0);
	json_t *c2 = mk("c2", "h1", 20, "r", "medium", "TA0002", 500, "/bin/b", 41, "/bin/sh", 0);

	json_object_set_new(c1, "container", json_pack("{s:s}", "id", "abcdef012345"));
	json_object_set_new(c2, "container", json_pack("{s:s}", "id", "abcdef012345"));
	post(f, f->h1, 2, c1, c2);
	assert_true(incident_of(f, "c1") == incident_of(f, "c2"));
	json_t *o = incident(f, incident_of(f, "c1"));
	assert_true(has_entity(o, "containers", "id", "abcdef012345"));
	assert_true(has_relation(o, "process:400:/bin/a", "in_container", "container:abcdef012345"));
	json_decref(o);
	/* a regular user's processes correlate; root's do not */
	post(f, f->h1, 2, mk("n1", "h1", 10, "r", "low", "TA0007", 600, "/bin/x", 60, "/bin/sh", 1000),
	     mk("n2", "h1", 20, "r", "low", "TA0007", 700, "/bin/y", 70, "/bin/sh", 1000));
	assert_true(incident_of(f, "n1") == incident_of(f, "n2"));
	post(f, f->h1, 2, mk("r1", "h1", 10, "r", "low", "TA0007", 800, "/bin/x", 80, "/bin/sh", 0),
	     mk("r2", "h1", 20, "r", "low", "TA0007", 900, "/bin/y", 90, "/bin/sh", 0));
	assert_true(incident_of(f, "r1") != incident_of(f, "r2"));
	/* a service manager as common ancestor is no lineage */
	post(f, f->h1, 2, mk("s1", "h1", 10, "r", "low", "TA0043", 1000, "/bin/x", 1, "/sbin/init", 0),
	     mk("s2", "h1", 20, "r", "low", "TA0043", 1100, "/bin/y", 1, "/sbin/init", 0));
	assert_true(incident_of(f, "s1") != incident_of(f, "s2"));
}

static void test_kill_chain(void **state)
{
	struct fx *f = *state;

	/* no shared entity: execution, persistence, credential access in order; delivered
	 * out of order (credential access first) */
	post(f, f->h1, 1, mk("k3", "h1", 120, "r3", "medium", "TA0006", 4000, "/bin/c", 400, "/bin/sh", 0));
	post(f, f->h1, 2, mk("k1", "h1", 0, "r1", "low", "TA0002", 2000, "/bin/a", 200, "/bin/sh", 0),
	     mk("k2", "h1", 60, "r2", "medium", "TA0003", 3000, "/bin/b", 300, "/bin/sh", 0));
	json_int_t id = incident_of(f, "k1");
	assert_true(id > 0 && incident_of(f, "k2") == id && incident_of(f, "k3") == id);
	json_t *o = incident(f, id);
	assert_string_equal(json_string_value(json_object_get(o, "severity")), "high");   /* medium + multi-stage */
	size_t i, chain = 0;
	json_t *a;
	json_array_foreach(json_object_get(o, "alerts"), i, a)
		chain += !strcmp(json_string_value(json_object_get(a, "joined_by")), "kill_chain");
	assert_int_equal(chain, 2);
	json_decref(o);
	/* a tactic already seen, or going backwards in time, does not advance: a new incident */
	post(f, f->h1, 1, mk("k4", "h1", 180, "r1", "low", "TA0002", 5000, "/bin/d", 500, "/bin/sh", 0));
	assert_true(incident_of(f, "k4") != id);
	post(f, f->h1, 1, mk("k5", "h1", 30, "r5", "low", "TA0040", 6000, "/bin/e", 600, "/bin/sh", 0));
	assert_true(incident_of(f, "k5") != id);
	/* beyond the kill-chain window (30 min): a new incident */
	post(f, f->h1, 1, mk("k6", "h1", 120 + 1801, "r6", "low", "TA0007", 7000, "/bin/f", 700, "/bin/sh", 0));
	assert_true(incident_of(f, "k6") != id);
	/* within it, a later stage joins */
	post(f, f->h1, 1, mk("k7", "h1", 900, "r7", "low", "TA0009", 8000, "/bin/g", 800, "/bin/sh", 0));
	assert_true(incident_of(f, "k7") == id);
}

static void test_redelivery_and_summary(void **state)
{
	struct fx *f = *state;
	json_t *a = mk("d1", "h1", 10, "shadow_read", "medium", "TA0006", 100, "/tmp/c", 1, "/sbin/init", 0), *o;

	assert_int_equal(post(f, f->h1, 1, json_incref(a)), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(post(f, f->h1, 1, json_incref(a)), 0);
	json_decref(a);
	json_int_t id = incident_of(f, "d1");
	o = incident(f, id);
	assert_int_equal(json_integer_value(json_object_get(o, "alert_count")), 1);
	json_decref(o);
	/* the de-duplication summary joins the alert it summarises, even with no other key */
	a = mk("d2", "h1", 70, "shadow_read", "medium", "TA0006", 150, "/tmp/c", 1, "/sbin/init", 0);
	json_object_set_new(a, "summary_of", json_string("d1"));
	post(f, f->h1, 1, a);
	assert_true(incident_of(f, "d2") == id);
	/* the scored itself refuses a correlation of an alert id twice */
	struct incident_batch *b;
	assert_int_equal(sqlite3_exec(scored_db_handle(f->db), "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(scored_incidents_begin(f->db, &b), 0);
	a = mk("d1", "h1", 10, "shadow_read", "medium", "TA0006", 100, "/tmp/c", 1, "/sbin/init", 0);
	assert_int_equal(scored_incidents_add(b, "h1", a, 10000000000ll), 0);
	json_decref(a);
	scored_incidents_end(b);
	assert_int_equal(sqlite3_exec(scored_db_handle(f->db), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	o = incident(f, id);
	assert_int_equal(json_integer_value(json_object_get(o, "alert_count")), 2);
	json_decref(o);
}

static void test_triage(void **state)
{
	struct fx *f = *state;
	char path[96], cpath[128], clpath[128];
	json_t *o, *before;

	post(f, f->h1, 1, mk("t1", "h1", 10, "reverse_shell", "high", "TA0002", 100, "/bin/sh", 1, "/sbin/init", 0));
	post(f, f->h1, 1, mk("t2", "h1", 10, "fim_change", "low", "TA0043", 200, "/bin/vi", 1, "/sbin/init", 0));
	json_int_t id = incident_of(f, "t1");
	snprintf(path, sizeof(path), "/api/v1/incidents/%lld", (long long)id);
	snprintf(cpath, sizeof(cpath), "%s/comments", path);
	snprintf(clpath, sizeof(clpath), "%s/close", path);
	/* readers read, operators triage, agents neither */
	EXPECT(f, 403, "PATCH", path, f->rd, "{\"owner\": \"alice\"}", NULL, NULL);
	EXPECT(f, 403, "GET", path, f->h1, NULL, NULL, NULL);
	EXPECT(f, 404, "GET", "/api/v1/incidents/99999", f->rd, NULL, NULL, NULL);
	EXPECT(f, 400, "GET", "/api/v1/incidents/abc", f->rd, NULL, NULL, NULL);
	EXPECT(f, 404, "PATCH", "/api/v1/incidents/99999", f->op, "{\"owner\": \"x\"}", NULL, NULL);
	/* bad updates: 400 and nothing changed */
	before = incident(f, id);
	static const char *const bad[] = {
		"{\"status\": \"resolved\"}", "{\"status\": \"closed\"}",
		"{\"status\": \"closed\", \"classification\": \"maybe\"}", "{\"classification\": \"true_positive\"}",
		"{\"severity\": \"urgent\"}", "{\"tags\": \"x\"}", "{\"tags\": [\"a\", \"a\"]}", "{\"owner\": 5}",
		"{\"owner\": \"bob\", \"status\": \"wrong\"}", "{\"colour\": \"red\"}", "{}",
		"{\"owner\": \"bob\", \"status\": \"closed\"}", NULL,
	};
	for (int i = 0; bad[i]; i++) {
		int st = call(f, "PATCH", path, f->op, bad[i], NULL, NULL);
		if (st != 400)
			fail_msg("bad update %s: expected HTTP 400, seen %d", bad[i], st);
	}
	EXPECT(f, 400, "POST", clpath, f->op, "{\"comment\": \"done\"}", NULL, NULL);
	EXPECT(f, 400, "POST", clpath, f->op, "{\"classification\": \"true_positive\", \"owner\": \"x\"}", NULL, NULL);
	EXPECT(f, 400, "POST", cpath, f->op, "{\"text\": \"\"}", NULL, NULL);
	o = incident(f, id);
	json_object_del(o, "updated");
	json_object_del(before, "updated");
	assert_true(json_equal(o, before));
	json_decref(o);
	json_decref(before);
	/* the round trip */
	EXPECT(f, 200, "PATCH", path, f->op, "{\"owner\": \"carol\", \"status\": \"active\", \"tags\": [\"webshell\", \"prod\"]}",
	       &o, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "owner")), "carol");
	assert_string_equal(json_string_value(json_object_get(o, "status")), "active");
	json_decref(o);
	EXPECT(f, 200, "PATCH", path, f->op, "{\"severity\": \"medium\"}", &o, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "severity")), "medium");
	assert_string_equal(json_string_value(json_object_get(o, "severity_source")), "analyst");
	json_decref(o);
	EXPECT(f, 201, "POST", cpath, f->op, "{\"text\": \"checked the parent\"}", NULL, NULL);
	/* filters and search */
	o = list(f, "owner", "carol", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "incidents")), 1);
	json_decref(o);
	o = list(f, "status", "new", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "incidents")), 1);   /* t2's */
	json_decref(o);
	o = list(f, "severity", "medium", "status", "active", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "incidents")), 1);
	json_decref(o);
	static const char *const hits[] = { "webshell", "CAROL", "reverse", "runtime detections", NULL };
	for (int i = 0; hits[i]; i++) {
		o = list(f, "search", hits[i], NULL);
		if (json_array_size(json_object_get(o, "incidents")) != 1 ||
		    json_integer_value(json_object_get(json_array_get(json_object_get(o, "incidents"), 0), "id")) != id)
			fail_msg("search \"%s\": expected incident %lld only, seen %s", hits[i], (long long)id,
				 json_dumps(o, JSON_COMPACT));
		json_decref(o);
	}
	char idq[32];
	snprintf(idq, sizeof(idq), "%lld", (long long)id);
	o = list(f, "search", idq, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "incidents")), 1);
	json_decref(o);
	o = list(f, "search", "%", NULL);
	assert_int_equal(json_array_size(json_object_get(o, "incidents")), 0);   /* LIKE wildcards are literal */
	json_decref(o);
	EXPECT(f, 400, "GET", "/api/v1/incidents", f->rd, NULL, NULL, "status", "bogus", NULL);
	EXPECT(f, 400, "GET", "/api/v1/incidents", f->rd, NULL, NULL, "severity", "bogus", NULL);
	/* close with a classification */
	EXPECT(f, 200, "POST", clpath, f->op, "{\"classification\": \"true_positive\", \"comment\": \"web shell, host rebuilt\"}",
	       &o, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "closed");
	assert_string_equal(json_string_value(json_object_get(o, "classification")), "true_positive");
	assert_string_equal(json_string_value(json_object_get(o, "classification_comment")), "web shell, host rebuilt");
	json_decref(o);
	/* the timeline records who did what */
	o = incident(f, id);
	static const char *const kinds[] = { "created", "alert", "status", "owner", "tags", "severity", "comment",
					     "closed", "classified", NULL };
	for (int i = 0; kinds[i]; i++) {
		size_t j;
		json_t *e;
		bool seen = false;
		json_array_foreach(json_object_get(o, "timeline"), j, e)
			seen |= !strcmp(json_string_value(json_object_get(e, "type")), kinds[i]);
		if (!seen)
			fail_msg("timeline lacks a \"%s\" entry: %s", kinds[i], json_dumps(json_object_get(o, "timeline"), 0));
	}
	assert_int_equal(json_array_size(json_object_get(o, "comments")), 2);
	json_decref(o);
	/* a closed incident takes no new alerts: the same lineage opens a new one */
	post(f, f->h1, 1, mk("t3", "h1", 20, "reverse_shell", "high", "TA0002", 100, "/bin/sh", 1, "/sbin/init", 0));
	assert_true(incident_of(f, "t3") != id);
	/* reopening clears the classification */
	EXPECT(f, 200, "PATCH", path, f->op, "{\"status\": \"active\"}", &o, NULL);
	assert_true(json_is_null(json_object_get(o, "classification")));
	json_decref(o);
}

/* Work per alert does not grow with the number of incidents: count the SQLite VM
 * steps of one ingest with few and with thousands of open incidents on the host. */
static uint64_t steps;

static int prof(unsigned type, void *ctx, void *p, void *x)
{
	steps += (uint64_t)sqlite3_stmt_status(p, SQLITE_STMTSTATUS_VM_STEP, 0);
	return 0;
}

static uint64_t one_ingest_steps(struct fx *f, const char *id, int sec)
{
	steps = 0;
	sqlite3_trace_v2(scored_db_handle(f->db), SQLITE_TRACE_PROFILE, prof, NULL);
	post(f, f->h1, 1, mk(id, "h1", sec, "r", "low", "TA0002", 99999, "/bin/z", 99998, "/bin/sh", 0));
	sqlite3_trace_v2(scored_db_handle(f->db), 0, NULL, NULL);
	return steps;
}

static void test_bounded_work(void **state)
{
	struct fx *f = *state;
	json_t *arr;
	char id[32], *body;
	uint64_t few, many;

	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "w%d", i);
		post(f, f->h1, 1, mk(id, "h1", 100, "r", "low", "TA0002", 10 + i, "/bin/w", 5000 + i, "/bin/sh", 0));
	}
	few = one_ingest_steps(f, "probe1", 100);
	for (int b = 0; b < 6; b++) {
		arr = json_array();
		for (int i = 0; i < 500; i++) {
			snprintf(id, sizeof(id), "m%d-%d", b, i);
			json_array_append_new(arr, mk(id, "h1", 100, "r", "low", "TA0002", 20000 + b * 500 + i, "/bin/w",
						      40000 + b * 500 + i, "/bin/sh", 0));
		}
		arr = json_pack("{s:o}", "alerts", arr);
		body = json_dumps(arr, JSON_COMPACT);
		json_decref(arr);
		EXPECT(f, 200, "POST", "/api/v1/alerts", f->h1, body, NULL, NULL);
		free(body);
	}
	assert_int_equal(nincidents(f), 100);      /* the default page; 3010 incidents in all */
	many = one_ingest_steps(f, "probe2", 100);
	print_message("SQLite VM steps for one alert: %llu with 10 open incidents, %llu with 3010\n",
		      (unsigned long long)few, (unsigned long long)many);
	if (many > few * 2 + 200)
		fail_msg("VM steps per alert: %llu with 10 incidents, %llu with 3000: work grows with incidents",
			 (unsigned long long)few, (unsigned long long)many);
}

static void test_vocabulary(void **state)
{
	assert_int_equal(incident_tactic_stage("TA0001"), 1);
	assert_int_equal(incident_tactic_stage("TA0011"), 10);   /* command and control before exfiltration */
	assert_int_equal(incident_tactic_stage("TA0010"), 11);
	assert_int_equal(incident_tactic_stage("TA0040"), 12);
	assert_int_equal(incident_tactic_stage("TA0043"), 0);
	assert_int_equal(incident_tactic_stage(NULL), 0);
	assert_int_equal(incident_severity_parse("critical"), INCIDENT_SEV_CRITICAL);
	assert_int_equal(incident_severity_parse("high"), 3);
	assert_true(incident_severity_parse("urgent") < 0);
	assert_true(incident_classification_valid("false_positive_incorrect_data"));
	assert_false(incident_classification_valid("false_positive"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lineage_multistage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrelated_alerts_stay_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_container_and_user_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redelivery_and_summary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_triage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_work, setup, teardown),
		cmocka_unit_test(test_vocabulary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
