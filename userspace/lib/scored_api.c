/*
 * vigil-scored API handlers (versioned under /api/v1).  Every request is
 * authenticated by a bearer token (except /health and the Prometheus
 * GET /metrics, which holds counts only), validated completely
 * before anything is stored (a bad item rejects the whole request), and
 * touches SQLite only through prepared statements.  See scored.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sqlite3.h>

#include "metrics.h"
#include "policy.h"
#include "score.h"
#include "jsonx.h"
#include "scored.h"
#include "scored_incidents.h"
#include "util.h"

#define JIT_REDELIVER_NS   (60ull * 1000000000ull)   /* a delivered request without result is sent again */
#define LIST_LIMIT_DEF     100
#define LIST_LIMIT_MAX     1000
#define STR_MAX            4096

/* Why a request got a 4xx, for vigil_scored_requests_rejected_total{reason}. */
enum { REJ_INVALID, REJ_UNAUTHENTICATED, REJ_FORBIDDEN, REJ_NOT_FOUND, REJ_METHOD, REJ_CONFLICT, REJ_TOO_LARGE,
       REJ_OTHER, REJ_N };
static const char *const rej_names[REJ_N] = { "invalid", "unauthenticated", "forbidden", "not_found",
	"method_not_allowed", "conflict", "too_large", "other" };

/* Counters since scored_new(), updated with relaxed atomics (no lock on the reply path). */
struct scored_stats {
	uint64_t alerts[VIGIL_SEV_HIGH + 1];   /* alerts stored, by severity (duplicates not counted) */
	uint64_t alert_batches, postures;      /* accepted POST /alerts and POST /posture */
	uint64_t rejected[REJ_N];
	uint64_t *requests;                    /* [route (nroutes = unmatched)][status class 1xx..5xx] */
	size_t nroutes;
	uint64_t start_boot_ns, start_real_ns;
};

struct scored {
	struct scored_db *db;
	pthread_mutex_t mu;
	struct scored_stats st;
};

#define STAT_ADD(p, n) __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define STAT_GET(p)    __atomic_load_n((p), __ATOMIC_RELAXED)

struct scored *scored_new(struct scored_db *db)
{
	struct scored *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	while (scored_routes[s->st.nroutes].pattern)
		s->st.nroutes++;
	if (!(s->st.requests = calloc((s->st.nroutes + 1) * 5, sizeof(uint64_t)))) {
		free(s);
		return NULL;
	}
	s->st.start_boot_ns = util_boot_ns();
	s->st.start_real_ns = util_now_ns();
	s->db = db;
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void scored_free(struct scored *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->st.requests);
	free(s);
}

/* ------------------------------------------------------------------ helpers */

int scored_reply(struct scored_resp *rs, int status, json_t *body)
{
	json_decref(rs->body);
	free(rs->text);
	rs->text = NULL;
	rs->content_type = NULL;
	rs->status = status;
	rs->body = body ? body : json_object();
	return status;
}

int scored_error(struct scored_resp *rs, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the message may quote request bytes, or be cut inside a UTF-8 sequence: escape, never drop */
	return scored_reply(rs, status, json_pack("{s:o}", "error", jsonx_string_bytes(msg, strlen(msg), NULL)));
}

const char *scored_arg(const struct scored_ctx *c, const char *key)
{
	for (size_t i = 0; i < c->rq->nargs; i++)
		if (!strcmp(c->rq->args[i].key, key))
			return c->rq->args[i].value;
	return NULL;
}

int scored_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	const char *p;
	int64_t frac = 0, scale = 1000000000, off = 0;
	time_t t;

	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9') {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59)
			return -EINVAL;
		off = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1 && tm.tm_year != 69)
		return -EINVAL;
	if ((int64_t)t - off < -9223372035 || (int64_t)t - off > 9223372035)
		return -EINVAL;    /* outside int64 ns since the epoch (years 1678 to 2262) */
	*ns = ((int64_t)t - off) * 1000000000 + frac;
	return 0;
}

static char *rfc3339(int64_t ns, char *buf, size_t len)
{
	return util_rfc3339(ns > 0 ? (uint64_t)ns : 0, buf, len);
}

/* A string member: required or optional, 1..max bytes. */
static int get_str(const json_t *o, const char *key, bool required, size_t max, const char **out,
		   char *why, size_t wlen)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required) {
			snprintf(why, wlen, "\"%s\" is required", key);
			return -EINVAL;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(why, wlen, "\"%s\" must be a string", key);
		return -EINVAL;
	}
	if (json_string_length(v) == 0 || json_string_length(v) > max) {
		snprintf(why, wlen, "\"%s\" must be 1 to %zu bytes", key, max);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

static int parse_limit(const struct scored_ctx *c, struct scored_resp *rs, int *limit, int *offset)
{
	const char *l = scored_arg(c, "limit"), *o = scored_arg(c, "offset");
	char *end;

	*limit = LIST_LIMIT_DEF;
	*offset = 0;
	if (l) {
		long v = strtol(l, &end, 10);
		if (*end || end == l || v < 1 || v > LIST_LIMIT_MAX)
			return scored_error(rs, 400, "limit must be 1 to %d", LIST_LIMIT_MAX);
		*limit = (int)v;
	}
	if (o) {
		long v = strtol(o, &end, 10);
		if (*end || end == o || v < 0 || v > 100000000)
			return scored_error(rs, 400, "offset must be a non-negative integer");
		*offset = (int)v;
	}
	return 0;
}

static bool txt_eq(sqlite3_stmt *st, int col, const char *s)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	return t && s && !strcmp(t, s);
}

static json_t *col_json(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
	return v ? v : json_null();
}

static json_t *col_int_or_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(st, col));
}

static json_t *col_str(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	return t ? json_string(t) : json_null();
}

static int db_fail(struct scored_resp *rs, struct scored_ctx *c)
{
	return scored_error(rs, 500, "storage error: %s", sqlite3_errmsg(scored_db_handle(c->db)));
}

static bool host_known(struct scored_db *db, const char *host)
{
	sqlite3_stmt *st;
	bool r = false;

	if (sqlite3_prepare_v2(scored_db_handle(db), "SELECT 1 FROM hosts WHERE name = ?1 UNION ALL "
			       "SELECT 1 FROM tokens WHERE name = ?1 AND role = 'agent' LIMIT 1", -1, &st, NULL)
	    != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return r;
}

static int touch_host(struct scored_db *db, const char *host, int64_t now)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(scored_db_handle(db), "INSERT INTO hosts(name, first_seen_ns, last_seen_ns) "
			       "VALUES(?1, ?2, ?2) ON CONFLICT(name) DO UPDATE SET last_seen_ns = ?2", -1, &st, NULL)
	    != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

/* ------------------------------------------------------------------ score */

/* Control counts from assessments (all hosts, or one). */
static int load_controls(struct scored_db *db, const char *host, struct score_control *c, size_t nc)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < nc; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].def = &score_controls[i];
	}
	if (sqlite3_prepare_v2(scored_db_handle(db), "SELECT control, status, COUNT(*) FROM assessments "
			       "WHERE ?1 IS NULL OR host = ?1 GROUP BY control, status", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	if (host)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct score_control_def *d = score_control_find((const char *)sqlite3_column_text(st, 0));
		int s = score_status_parse((const char *)sqlite3_column_text(st, 1));
		if (d && s >= 0)
			c[d - score_controls].n[s] += (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	return 0;
}

json_t *scored_fleet_score(struct scored_db *db, const char *host)
{
	size_t nc = score_control_count();
	struct score_control *c = calloc(nc, sizeof(*c));
	struct score_result r;
	json_t *ca, *o;

	if (!c || load_controls(db, host, c, nc)) {
		free(c);
		return NULL;
	}
	score_total(c, nc, &r);
	ca = json_array();
	for (size_t i = 0; i < nc; i++) {
		uint64_t res = c[i].n[SCORE_HEALTHY] + c[i].n[SCORE_UNHEALTHY];
		json_array_append_new(ca, json_pack("{s:s, s:s, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:b}",
			"id", c[i].def->id, "title", c[i].def->title, "max", c[i].def->max,
			"current", score_round2(c[i].current),
			"potential_increase", score_round2(c[i].evaluable ? c[i].def->max - c[i].current : 0),
			"healthy", (json_int_t)c[i].n[SCORE_HEALTHY], "unhealthy", (json_int_t)c[i].n[SCORE_UNHEALTHY],
			"not_applicable", (json_int_t)c[i].n[SCORE_NOT_APPLICABLE],
			"unknown", (json_int_t)c[i].n[SCORE_UNKNOWN], "evaluable", res > 0));
	}
	o = json_pack("{s:{s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I}, s:o}",
		"score", "current", score_round2(r.current), "max", score_round2(r.max),
		"percent", score_round2(r.percent), "evaluable_controls", (json_int_t)r.evaluable,
		"healthy", (json_int_t)r.healthy, "unhealthy", (json_int_t)r.unhealthy,
		"not_applicable", (json_int_t)r.not_applicable, "unknown", (json_int_t)r.unknown,
		"controls", ca);
	free(c);
	return o;
}

static int h_score(struct scored_ctx *c, struct scored_resp *rs)
{
	const char *host = scored_arg(c, "host");
	int64_t t0 = (int64_t)util_now_ns();
	json_t *o;

	if (host && !host_known(c->db, host))
		return scored_error(rs, 404, "unknown host \"%s\"", host);
	o = scored_fleet_score(c->db, host);
	if (!o)
		return db_fail(rs, c);
	json_object_set_new(o, "hosts", json_integer(0));
	{
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT COUNT(*) FROM hosts WHERE posture_ns IS NOT NULL",
				       -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				json_object_set_new(o, "hosts", json_integer(host ? 1 : sqlite3_column_int64(st, 0)));
			sqlite3_finalize(st);
		}
	}
	json_object_set_new(o, "compute_ms", json_real(((int64_t)util_now_ns() - t0) / 1e6));
	return scored_reply(rs, 200, o);
}

static int sev_rank(const char *s)
{
	int v = severity_parse(s);
	return v < 0 ? -1 : v;
}

static int cmp_rec(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	double px = json_real_value(json_object_get(x, "potential_increase"));
	double py = json_real_value(json_object_get(y, "potential_increase"));
	int sx = sev_rank(json_string_value(json_object_get(x, "severity")));
	int sy = sev_rank(json_string_value(json_object_get(y, "severity")));

	if (px != py)
		return px < py ? 1 : -1;
	if (sx != sy)
		return sy - sx;
	return strcmp(json_string_value(json_object_get(x, "id")), json_string_value(json_object_get(y, "id")));
}

/* Recommendations ranked by potential score increase = (max / resources in the
 * control) x unhealthy resources (score.h). */
static int h_recommendations(struct scored_ctx *c, struct scored_resp *rs)
{
	const char *host = scored_arg(c, "host"), *status = scored_arg(c, "status");
	size_t nc = score_control_count(), n = 0;
	struct score_control *ctl = calloc(nc, sizeof(*ctl));
	sqlite3_stmt *st = NULL;
	json_t **v = NULL, *arr;
	int limit, offset, r;

	if (!ctl)
		return scored_error(rs, 500, "out of memory");
	if ((r = parse_limit(c, rs, &limit, &offset)))
		goto out;
	if (status && score_status_parse(status) < 0) {
		r = scored_error(rs, 400, "status must be healthy, unhealthy, not_applicable or unknown");
		goto out;
	}
	if (host && !host_known(c->db, host)) {
		r = scored_error(rs, 404, "unknown host \"%s\"", host);
		goto out;
	}
	if (load_controls(c->db, host, ctl, nc) ||
	    sqlite3_prepare_v2(scored_db_handle(c->db),
		"SELECT rec_id, control, MAX(title), MAX(severity), MAX(remediation), MAX(fix_automated),"
		" SUM(status = 'healthy'), SUM(status = 'unhealthy'), SUM(status = 'not_applicable'),"
		" SUM(status = 'unknown'), GROUP_CONCAT(CASE WHEN status = 'unhealthy' THEN host END, char(10))"
		" FROM assessments WHERE ?1 IS NULL OR host = ?1 GROUP BY rec_id", -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(rs, c);
		goto out;
	}
	if (host)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const struct score_control_def *d = score_control_find((const char *)sqlite3_column_text(st, 1));
		const struct score_control *sc = d ? &ctl[d - score_controls] : NULL;
		int64_t h = sqlite3_column_int64(st, 6), u = sqlite3_column_int64(st, 7);
		double pot = sc ? score_potential_increase(d->max, sc->n[SCORE_HEALTHY] + sc->n[SCORE_UNHEALTHY],
							   (uint64_t)u) : 0;
		const char *hosts = (const char *)sqlite3_column_text(st, 10);
		json_t *ha = json_array(), *o;

		if (status) {
			int want = score_status_parse(status);
			int64_t cnt = sqlite3_column_int64(st, 6 + want);
			if (!cnt)
				continue;
		}
		for (const char *p = hosts; p && *p && json_array_size(ha) < 20;) {
			const char *e = strchr(p, '\n');
			size_t l = e ? (size_t)(e - p) : strlen(p);
			json_array_append_new(ha, json_stringn(p, l));
			p = e ? e + 1 : p + l;
		}
		o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:f, s:I, s:I, s:I, s:I, s:o}",
			"id", (const char *)sqlite3_column_text(st, 0), "control", (const char *)sqlite3_column_text(st, 1),
			"title", col_str(st, 2), "severity", col_str(st, 3), "remediation", col_str(st, 4),
			"fix_automated", sqlite3_column_int(st, 5) != 0, "potential_increase", score_round2(pot),
			"healthy", (json_int_t)h, "unhealthy", (json_int_t)u,
			"not_applicable", (json_int_t)sqlite3_column_int64(st, 8),
			"unknown", (json_int_t)sqlite3_column_int64(st, 9), "unhealthy_hosts", ha);
		json_t **nv = realloc(v, (n + 1) * sizeof(*v));
		if (!o || !nv) {
			json_decref(o);
			r = scored_error(rs, 500, "out of memory");
			goto out;
		}
		v = nv;
		v[n++] = o;
	}
	if (n)     /* qsort(NULL, 0, ...) is undefined */
		qsort(v, n, sizeof(*v), cmp_rec);
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if ((int)i >= offset && (int)json_array_size(arr) < limit)
			json_array_append(arr, v[i]);
	}
	r = scored_reply(rs, 200, json_pack("{s:o, s:I}", "recommendations", arr, "total", (json_int_t)n));
out:
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
	free(v);
	sqlite3_finalize(st);
	free(ctl);
	return r;
}

/* ------------------------------------------------------------------ posture */

static int check_rec(const json_t *o, size_t i, char *why, size_t wlen)
{
	const char *s, *id;
	char w[256];

	if (!json_is_object(o)) {
		snprintf(why, wlen, "recommendations[%zu] must be an object", i);
		return -EINVAL;
	}
#define REQ(key, max, req) if (get_str(o, key, req, max, &s, w, sizeof(w))) { \
		snprintf(why, wlen, "recommendations[%zu]: %s", i, w); return -EINVAL; }
	REQ("id", 128, true);
	id = s;
	REQ("control", 64, true);
	REQ("status", 32, true);
	if (score_status_parse(s) < 0) {
		snprintf(why, wlen, "recommendations[%zu] (%s): unknown status \"%s\"", i, id, s);
		return -EINVAL;
	}
	REQ("severity", 32, true);
	if (severity_parse(s) < 0) {
		snprintf(why, wlen, "recommendations[%zu] (%s): unknown severity \"%s\"", i, id, s);
		return -EINVAL;
	}
	REQ("title", STR_MAX, false);
	REQ("description", STR_MAX, false);
	REQ("reason", STR_MAX, false);
	REQ("remediation", STR_MAX, false);
#undef REQ
	const json_t *fx = json_object_get(o, "fix");
	if (fx && !json_is_object(fx) && !json_is_null(fx)) {
		snprintf(why, wlen, "recommendations[%zu] (%s): \"fix\" must be an object", i, id);
		return -EINVAL;
	}
	return 0;
}

/* The snapshot's "workloads" (the containers the host runs, see posture.h): absent or null, or
 * an array of objects with a container id, the pod fields as strings of Kubernetes' sizes and a
 * process count; other keys pass through.  "workloads_omitted" is a count. */
static int check_workloads(const json_t *b, char *why, size_t wlen)
{
	const json_t *w = json_object_get(b, "workloads"), *om = json_object_get(b, "workloads_omitted"), *v;
	static const struct { const char *key; size_t max; bool req; } keys[] = {
		{ "id", 128, true }, { "runtime", 32, false }, { "pod_uid", 36, false }, { "pod", 253, false },
		{ "namespace", 63, false }, { "name", 253, false }, { "image", STR_MAX, false },
	};
	const char *s;
	char wy[256];
	size_t i;

	if (om && !json_is_null(om) && (!json_is_integer(om) || json_integer_value(om) < 0 ||
					 json_integer_value(om) > INT32_MAX)) {
		snprintf(why, wlen, "\"workloads_omitted\" must be a count");
		return -EINVAL;
	}
	if (!w || json_is_null(w))
		return 0;
	if (!json_is_array(w) || json_array_size(w) > SCORED_WORKLOADS_MAX) {
		snprintf(why, wlen, "\"workloads\" must be an array of at most %d objects", SCORED_WORKLOADS_MAX);
		return -EINVAL;
	}
	json_array_foreach(w, i, v) {
		const json_t *n = json_object_get(v, "processes");

		if (!json_is_object(v)) {
			snprintf(why, wlen, "workloads[%zu] must be an object", i);
			return -EINVAL;
		}
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			if (get_str(v, keys[k].key, keys[k].req, keys[k].max, &s, wy, sizeof(wy))) {
				snprintf(why, wlen, "workloads[%zu]: %s", i, wy);
				return -EINVAL;
			}
		}
		if (n && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) < 0)) {
			snprintf(why, wlen, "workloads[%zu]: \"processes\" must be a count", i);
			return -EINVAL;
		}
	}
	return 0;
}

static int h_posture(struct scored_ctx *c, struct scored_resp *rs)
{
	json_t *b = c->body, *recs = json_object_get(b, "recommendations"), *v, *ids = json_object();
	const char *host, *kernel, *ver, *time_s;
	char why[512];
	int64_t now = (int64_t)util_now_ns(), pns = now;
	sqlite3 *h = scored_db_handle(c->db);
	sqlite3_stmt *del = NULL, *ins = NULL, *up = NULL;
	size_t i, nc = score_control_count();
	struct score_control *ctl = NULL;
	struct score_result res;
	int r;

	if (get_str(b, "host", true, 255, &host, why, sizeof(why)) ||
	    get_str(b, "kernel", false, 256, &kernel, why, sizeof(why)) ||
	    get_str(b, "agent_version", false, 64, &ver, why, sizeof(why)) ||
	    get_str(b, "time", false, 64, &time_s, why, sizeof(why))) {
		r = scored_error(rs, 400, "%s", why);
		goto out;
	}
	if (strcmp(host, c->principal)) {
		r = scored_error(rs, 403, "this token belongs to host \"%s\", not \"%s\"", c->principal, host);
		goto out;
	}
	if (time_s && scored_parse_time(time_s, &pns)) {
		r = scored_error(rs, 400, "\"time\" must be an RFC 3339 time");
		goto out;
	}
	if (!json_is_array(recs) || json_array_size(recs) > SCORED_RECS_MAX) {
		r = scored_error(rs, 400, "\"recommendations\" must be an array of at most %d objects", SCORED_RECS_MAX);
		goto out;
	}
	if (json_object_get(b, "backends") && !json_is_object(json_object_get(b, "backends"))) {
		r = scored_error(rs, 400, "\"backends\" must be an object");
		goto out;
	}
	if (check_workloads(b, why, sizeof(why))) {
		r = scored_error(rs, 400, "%s", why);
		goto out;
	}
	json_array_foreach(recs, i, v) {
		if (check_rec(v, i, why, sizeof(why))) {
			r = scored_error(rs, 400, "%s", why);
			goto out;
		}
		const char *id = json_string_value(json_object_get(v, "id"));
		if (json_object_get(ids, id)) {
			r = scored_error(rs, 400, "recommendations[%zu]: duplicate id \"%s\"", i, id);
			goto out;
		}
		json_object_set_new(ids, id, json_true());
	}
	/* this host's score, from the service's own control maxima */
	ctl = calloc(nc, sizeof(*ctl));
	if (!ctl) {
		r = scored_error(rs, 500, "out of memory");
		goto out;
	}
	for (i = 0; i < nc; i++)
		ctl[i].def = &score_controls[i];
	json_array_foreach(recs, i, v) {
		const struct score_control_def *d = score_control_find(json_string_value(json_object_get(v, "control")));
		if (d)
			ctl[d - score_controls].n[score_status_parse(json_string_value(json_object_get(v, "status")))]++;
	}
	score_total(ctl, nc, &res);

	if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_fail(rs, c);
		goto out;
	}
	if (sqlite3_prepare_v2(h, "DELETE FROM assessments WHERE host = ?", -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "INSERT INTO assessments(host, rec_id, control, title, description, severity, status,"
			       " reason, evidence, remediation, fix_automated) VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL)
	    != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "INSERT INTO hosts(name, kernel, agent_version, backends, first_seen_ns, last_seen_ns,"
			       " posture_time, posture_ns, score, spool_dropped, workloads, workloads_omitted, workload_count)"
			       " VALUES(?1,?2,?3,?4,?5,?5,?6,?7,?8,?9,?10,?11,?12)"
			       " ON CONFLICT(name) DO UPDATE SET kernel = ?2, agent_version = ?3, backends = ?4,"
			       " last_seen_ns = ?5, posture_time = ?6, posture_ns = ?7, score = ?8, spool_dropped = ?9,"
			       " workloads = ?10, workloads_omitted = ?11, workload_count = ?12",
			       -1, &up, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_text(del, 1, host, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(del) != SQLITE_DONE)
		goto dberr;
	json_array_foreach(recs, i, v) {
		char *ev = json_dumps(json_object_get(v, "evidence") ? json_object_get(v, "evidence") : json_null(),
				      JSON_COMPACT | JSON_ENCODE_ANY);
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, host, -1, SQLITE_TRANSIENT);
		static const char *const cols[] = { "id", "control", "title", "description", "severity", "status", "reason" };
		for (int k = 0; k < 7; k++) {
			const char *s = json_string_value(json_object_get(v, cols[k]));
			if (s)
				sqlite3_bind_text(ins, 2 + k, s, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(ins, 2 + k);
		}
		sqlite3_bind_text(ins, 9, ev ? ev : "null", -1, SQLITE_TRANSIENT);
		free(ev);
		const char *rem = json_string_value(json_object_get(v, "remediation"));
		if (rem)
			sqlite3_bind_text(ins, 10, rem, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(ins, 10);
		sqlite3_bind_int(ins, 11, json_is_true(json_object_get(json_object_get(v, "fix"), "automated")));
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto dberr;
	}
	{
		char *bk = json_object_get(b, "backends") ? json_dumps(json_object_get(b, "backends"), JSON_COMPACT) : NULL;
		char ts[48];
		json_int_t dropped = json_integer_value(json_object_get(json_object_get(b, "forwarder"), "spool_dropped"));
		sqlite3_bind_text(up, 1, host, -1, SQLITE_TRANSIENT);
		kernel ? sqlite3_bind_text(up, 2, kernel, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(up, 2);
		ver ? sqlite3_bind_text(up, 3, ver, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(up, 3);
		bk ? sqlite3_bind_text(up, 4, bk, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(up, 4);
		free(bk);
		sqlite3_bind_int64(up, 5, now);
		sqlite3_bind_text(up, 6, rfc3339(pns, ts, sizeof(ts)), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 7, pns);
		sqlite3_bind_double(up, 8, score_round2(res.percent));
		sqlite3_bind_int64(up, 9, dropped > 0 ? dropped : 0);
		const json_t *wl = json_object_get(b, "workloads");
		char *ws = json_is_array(wl) ? json_dumps(wl, JSON_COMPACT) : NULL;
		json_int_t om = json_integer_value(json_object_get(b, "workloads_omitted"));
		if (ws) {
			sqlite3_bind_text(up, 10, ws, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(up, 11, om);
			sqlite3_bind_int64(up, 12, (json_int_t)json_array_size(wl) + om);
		} else {
			sqlite3_bind_null(up, 10);
			sqlite3_bind_null(up, 11);
			sqlite3_bind_null(up, 12);
		}
		free(ws);
		if (sqlite3_step(up) != SQLITE_DONE)
			goto dberr;
	}
	if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	STAT_ADD(&c->s->st.postures, 1);
	r = scored_reply(rs, 200, json_pack("{s:s, s:I, s:f}", "host", host, "recommendations",
					    (json_int_t)json_array_size(recs), "score", score_round2(res.percent)));
	goto out;
dberr:
	r = db_fail(rs, c);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(up);
	json_decref(ids);
	free(ctl);
	return r;
}

/* ------------------------------------------------------------------ alerts */

static bool id_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '-' || *s == '_'))
			return false;
	return true;
}

static int h_alerts_post(struct scored_ctx *c, struct scored_resp *rs)
{
	json_t *arr = json_object_get(c->body, "alerts"), *v;
	sqlite3 *h = scored_db_handle(c->db);
	sqlite3_stmt *ins = NULL;
	struct incident_batch *inc = NULL;
	int64_t now = (int64_t)util_now_ns(), *times = NULL;
	uint64_t by_sev[VIGIL_SEV_HIGH + 1] = { 0 };
	size_t i, accepted = 0;
	char why[300];
	int r;

	if (!json_is_array(arr) || json_array_size(arr) > SCORED_BATCH_MAX)
		return scored_error(rs, 400, "\"alerts\" must be an array of at most %d alerts", SCORED_BATCH_MAX);
	times = calloc(json_array_size(arr) + 1, sizeof(*times));
	if (!times)
		return scored_error(rs, 500, "out of memory");
	/* validate everything first: a bad alert rejects the batch, nothing is stored */
	json_array_foreach(arr, i, v) {
		const char *id, *t, *rule, *sev, *host, *title;
		if (!json_is_object(v)) {
			r = scored_error(rs, 400, "alerts[%zu] must be an object", i);
			goto out;
		}
		if (get_str(v, "id", true, 64, &id, why, sizeof(why)) || get_str(v, "time", true, 64, &t, why, sizeof(why)) ||
		    get_str(v, "rule", true, 128, &rule, why, sizeof(why)) ||
		    get_str(v, "severity", true, 32, &sev, why, sizeof(why)) ||
		    get_str(v, "host", true, 255, &host, why, sizeof(why)) ||
		    get_str(v, "title", false, STR_MAX, &title, why, sizeof(why))) {
			r = scored_error(rs, 400, "alerts[%zu]: %s", i, why);
			goto out;
		}
		if (!id_ok(id)) {
			r = scored_error(rs, 400, "alerts[%zu]: \"id\" may hold only letters, digits, '-' and '_'", i);
			goto out;
		}
		if (scored_parse_time(t, &times[i])) {
			r = scored_error(rs, 400, "alerts[%zu]: \"time\" must be an RFC 3339 time", i);
			goto out;
		}
		if (severity_parse(sev) < 0) {
			r = scored_error(rs, 400, "alerts[%zu]: unknown severity \"%s\"", i, sev);
			goto out;
		}
		if (strcmp(host, c->principal)) {
			r = scored_error(rs, 403, "alerts[%zu]: this token belongs to host \"%s\", not \"%s\"", i,
					 c->principal, host);
			goto out;
		}
	}
	if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_fail(rs, c);
		goto out;
	}
	/* at-least-once delivery: an id already stored is a retransmission, ignored */
	if (sqlite3_prepare_v2(h, "INSERT OR IGNORE INTO alerts(id, host, time_ns, rule, severity, title, body,"
			       " received_ns) VALUES(?,?,?,?,?,?,?,?)", -1, &ins, NULL) != SQLITE_OK ||
	    (scored_incidents_enabled() && scored_incidents_begin(c->db, &inc)))
		goto dberr;
	json_array_foreach(arr, i, v) {
		char *body = json_dumps(v, JSON_COMPACT);
		const char *title = json_string_value(json_object_get(v, "title"));
		if (!body)
			goto dberr;
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, json_string_value(json_object_get(v, "id")), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2, c->principal, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 3, times[i]);
		sqlite3_bind_text(ins, 4, json_string_value(json_object_get(v, "rule")), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ins, 5, severity_parse(json_string_value(json_object_get(v, "severity"))));
		title ? sqlite3_bind_text(ins, 6, title, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(ins, 6);
		sqlite3_bind_text(ins, 7, body, -1, free);
		sqlite3_bind_int64(ins, 8, now);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto dberr;
		int added = sqlite3_changes(h);
		/* correlated in this transaction: a batch joins incidents completely or not at all */
		if (added && inc && scored_incidents_add(inc, c->principal, v, times[i]) < 0)
			goto dberr;
		accepted += added;
		if (added)
			by_sev[severity_parse(json_string_value(json_object_get(v, "severity")))]++;
	}
	if (touch_host(c->db, c->principal, now) || sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	for (i = 0; i <= VIGIL_SEV_HIGH; i++)
		if (by_sev[i])
			STAT_ADD(&c->s->st.alerts[i], by_sev[i]);
	STAT_ADD(&c->s->st.alert_batches, 1);
	r = scored_reply(rs, 200, json_pack("{s:I, s:I}", "accepted", (json_int_t)accepted,
					    "duplicates", (json_int_t)(json_array_size(arr) - accepted)));
	goto out;
dberr:
	r = db_fail(rs, c);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(ins);
	scored_incidents_end(inc);
	free(times);
	return r;
}

static int h_alerts_get(struct scored_ctx *c, struct scored_resp *rs)
{
	const char *host = scored_arg(c, "host"), *rule = scored_arg(c, "rule"), *sev = scored_arg(c, "severity"),
		   *minsev = scored_arg(c, "min_severity"), *since = scored_arg(c, "since"), *until = scored_arg(c, "until");
	int64_t t0 = 0, t1 = 0;
	int limit, offset, sv = -1, msv = -1, r;
	sqlite3_stmt *st;
	json_t *arr;

	if ((r = parse_limit(c, rs, &limit, &offset)))
		return r;
	if ((sev && (sv = severity_parse(sev)) < 0) || (minsev && (msv = severity_parse(minsev)) < 0))
		return scored_error(rs, 400, "severity must be informational, low, medium or high");
	if ((since && scored_parse_time(since, &t0)) || (until && scored_parse_time(until, &t1)))
		return scored_error(rs, 400, "since and until must be RFC 3339 times");
	if (sqlite3_prepare_v2(scored_db_handle(c->db),
		"SELECT body FROM alerts WHERE (?1 IS NULL OR host = ?1) AND (?2 IS NULL OR rule = ?2)"
		" AND (?3 IS NULL OR severity = ?3) AND (?4 IS NULL OR severity >= ?4)"
		" AND (?5 IS NULL OR time_ns >= ?5) AND (?6 IS NULL OR time_ns < ?6)"
		" ORDER BY time_ns DESC, id LIMIT ?7 OFFSET ?8", -1, &st, NULL) != SQLITE_OK)
		return db_fail(rs, c);
	if (host)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	if (rule)
		sqlite3_bind_text(st, 2, rule, -1, SQLITE_TRANSIENT);
	if (sev)
		sqlite3_bind_int(st, 3, sv);
	if (minsev)
		sqlite3_bind_int(st, 4, msv);
	if (since)
		sqlite3_bind_int64(st, 5, t0);
	if (until)
		sqlite3_bind_int64(st, 6, t1);
	sqlite3_bind_int(st, 7, limit);
	sqlite3_bind_int(st, 8, offset);
	arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, col_json(st, 0));
	sqlite3_finalize(st);
	return scored_reply(rs, 200, json_pack("{s:o, s:I}", "alerts", arr, "count", (json_int_t)json_array_size(arr)));
}

/* ------------------------------------------------------------------ inventory */

static json_t *host_row(sqlite3_stmt *st)
{
	char ts[48];

	return json_pack("{s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:I, s:o}",
		"host", (const char *)sqlite3_column_text(st, 0), "kernel", col_str(st, 1),
		"agent_version", col_str(st, 2), "backends", col_json(st, 3),
		"first_seen", rfc3339(sqlite3_column_int64(st, 4), ts, sizeof(ts)),
		"last_seen", rfc3339(sqlite3_column_int64(st, 5), ts, sizeof(ts)),
		"posture_time", col_str(st, 6),
		"score", sqlite3_column_type(st, 7) == SQLITE_NULL ? json_null() : json_real(sqlite3_column_double(st, 7)),
		"spool_dropped", (json_int_t)sqlite3_column_int64(st, 8),
		"workload_count", col_int_or_null(st, 9));
}

/* The list shows how many containers a host runs; the host's page lists them. */
#define HOST_COLS "name, kernel, agent_version, backends, first_seen_ns, last_seen_ns, posture_time, score," \
		  " spool_dropped, workload_count"

static int h_hosts(struct scored_ctx *c, struct scored_resp *rs)
{
	sqlite3_stmt *st;
	json_t *arr;
	int limit, offset, r;

	if ((r = parse_limit(c, rs, &limit, &offset)))
		return r;
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT " HOST_COLS " FROM hosts ORDER BY name LIMIT ? OFFSET ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(rs, c);
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int(st, 2, offset);
	arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, host_row(st));
	sqlite3_finalize(st);
	return scored_reply(rs, 200, json_pack("{s:o}", "hosts", arr));
}

static int h_host(struct scored_ctx *c, struct scored_resp *rs)
{
	sqlite3_stmt *st;
	json_t *o = NULL, *recs, *sc;

	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT " HOST_COLS ", workloads, workloads_omitted"
			       " FROM hosts WHERE name = ?", -1, &st, NULL)
	    != SQLITE_OK)
		return db_fail(rs, c);
	sqlite3_bind_text(st, 1, c->params[0], -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		o = host_row(st);
		json_object_set_new(o, "workloads", col_json(st, 10));
		json_object_set_new(o, "workloads_omitted", col_int_or_null(st, 11));
	}
	sqlite3_finalize(st);
	if (!o)
		return scored_error(rs, 404, "unknown host \"%s\"", c->params[0]);
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT rec_id, control, title, severity, status, reason,"
			       " evidence, remediation, fix_automated FROM assessments WHERE host = ? ORDER BY rec_id",
			       -1, &st, NULL) != SQLITE_OK) {
		json_decref(o);
		return db_fail(rs, c);
	}
	sqlite3_bind_text(st, 1, c->params[0], -1, SQLITE_TRANSIENT);
	recs = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(recs, json_pack("{s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:b}",
			"id", (const char *)sqlite3_column_text(st, 0), "control", (const char *)sqlite3_column_text(st, 1),
			"title", col_str(st, 2), "severity", col_str(st, 3), "status", (const char *)sqlite3_column_text(st, 4),
			"reason", col_str(st, 5), "evidence", col_json(st, 6), "remediation", col_str(st, 7),
			"fix_automated", sqlite3_column_int(st, 8) != 0));
	sqlite3_finalize(st);
	json_object_set_new(o, "recommendations", recs);
	if ((sc = scored_fleet_score(c->db, c->params[0]))) {
		json_object_set(o, "secure_score", json_object_get(sc, "score"));
		json_object_set(o, "controls", json_object_get(sc, "controls"));
		json_decref(sc);
	}
	return scored_reply(rs, 200, o);
}

/* ------------------------------------------------------------------ JIT */

static json_t *jit_row(sqlite3_stmt *st)
{
	char ts[48];

	return json_pack("{s:I, s:s, s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:o}",
		"id", (json_int_t)sqlite3_column_int64(st, 0), "host", (const char *)sqlite3_column_text(st, 1),
		"port", sqlite3_column_int(st, 2), "protocol", (const char *)sqlite3_column_text(st, 3),
		"source", (const char *)sqlite3_column_text(st, 4), "duration_s", (json_int_t)sqlite3_column_int64(st, 5),
		"justification", (const char *)sqlite3_column_text(st, 6), "requestor", (const char *)sqlite3_column_text(st, 7),
		"placed_by", (const char *)sqlite3_column_text(st, 8), "state", (const char *)sqlite3_column_text(st, 9),
		"created", rfc3339(sqlite3_column_int64(st, 10), ts, sizeof(ts)), "result", col_json(st, 11));
}

#define JIT_COLS "id, host, port, protocol, source, duration_s, justification, requestor, placed_by, state, created_ns, result"

static int h_jit_create(struct scored_ctx *c, struct scored_resp *rs)
{
	json_t *b = c->body, *pv = json_object_get(b, "port"), *dv = json_object_get(b, "duration");
	const char *host, *proto, *src, *just, *who;
	char why[300];
	int64_t dur = -1, id;
	sqlite3_stmt *st;

	if (get_str(b, "host", true, 255, &host, why, sizeof(why)) ||
	    get_str(b, "protocol", false, 8, &proto, why, sizeof(why)) ||
	    get_str(b, "source", true, 64, &src, why, sizeof(why)) ||
	    get_str(b, "justification", true, 1024, &just, why, sizeof(why)) ||
	    get_str(b, "requestor", false, 255, &who, why, sizeof(why)))
		return scored_error(rs, 400, "%s", why);
	if (!json_is_integer(pv) || json_integer_value(pv) < 1 || json_integer_value(pv) > 65535)
		return scored_error(rs, 400, "\"port\" must be an integer 1 to 65535");
	if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return scored_error(rs, 400, "\"protocol\" must be tcp or udp");
	if (json_is_integer(dv))
		dur = json_integer_value(dv);
	else if (json_is_string(dv))
		dur = util_parse_duration(json_string_value(dv));
	else if (json_is_integer(json_object_get(b, "duration_s")))
		dur = json_integer_value(json_object_get(b, "duration_s"));
	if (dur < 1 || dur > 7 * 86400)
		return scored_error(rs, 400, "\"duration\" must be \"3h\"-style or seconds, 1 s to 7 days");
	const char *k;
	json_t *kv;
	json_object_foreach(b, k, kv)
		if (strcmp(k, "host") && strcmp(k, "port") && strcmp(k, "protocol") && strcmp(k, "source") &&
		    strcmp(k, "duration") && strcmp(k, "duration_s") && strcmp(k, "justification") && strcmp(k, "requestor"))
			return scored_error(rs, 400, "unknown member \"%s\"", k);
	if (!host_known(c->db, host))
		return scored_error(rs, 404, "unknown host \"%s\"", host);
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "INSERT INTO jit_requests(host, port, protocol, source, duration_s,"
			       " justification, requestor, placed_by, state, created_ns) VALUES(?,?,?,?,?,?,?,?,'pending',?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(rs, c);
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, (int)json_integer_value(pv));
	sqlite3_bind_text(st, 3, proto ? proto : "tcp", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, src, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, dur);
	sqlite3_bind_text(st, 6, just, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, who ? who : c->principal, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, c->principal, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)util_now_ns());
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		return db_fail(rs, c);
	}
	sqlite3_finalize(st);
	id = sqlite3_last_insert_rowid(scored_db_handle(c->db));
	return scored_reply(rs, 201, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "pending"));
}

static int h_jit_list(struct scored_ctx *c, struct scored_resp *rs)
{
	const char *host = scored_arg(c, "host"), *state = scored_arg(c, "state");
	sqlite3_stmt *st;
	json_t *arr;
	int limit, offset, r;

	if ((r = parse_limit(c, rs, &limit, &offset)))
		return r;
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT " JIT_COLS " FROM jit_requests WHERE (?1 IS NULL OR host = ?1)"
			       " AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4", -1, &st, NULL) != SQLITE_OK)
		return db_fail(rs, c);
	if (host)
		sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	if (state)
		sqlite3_bind_text(st, 2, state, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, limit);
	sqlite3_bind_int(st, 4, offset);
	arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, jit_row(st));
	sqlite3_finalize(st);
	return scored_reply(rs, 200, json_pack("{s:o}", "requests", arr));
}

static int h_jit_pending(struct scored_ctx *c, struct scored_resp *rs)
{
	sqlite3 *h = scored_db_handle(c->db);
	sqlite3_stmt *st = NULL, *up = NULL;
	int64_t now = (int64_t)util_now_ns();
	json_t *arr = json_array();
	int r;

	if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		json_decref(arr);
		return db_fail(rs, c);
	}
	if (sqlite3_prepare_v2(h, "SELECT " JIT_COLS " FROM jit_requests WHERE host = ?1 AND (state = 'pending' OR"
			       " (state = 'delivered' AND delivered_ns < ?2)) ORDER BY id LIMIT 100", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "UPDATE jit_requests SET state = 'delivered', delivered_ns = ?2 WHERE id = ?1", -1, &up,
			       NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_text(st, 1, c->principal, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now - (int64_t)JIT_REDELIVER_NS);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(arr, jit_row(st));
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, sqlite3_column_int64(st, 0));
		sqlite3_bind_int64(up, 2, now);
		if (sqlite3_step(up) != SQLITE_DONE)
			goto dberr;
	}
	touch_host(c->db, c->principal, now);
	if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	return scored_reply(rs, 200, json_pack("{s:o}", "requests", arr));
dberr:
	r = db_fail(rs, c);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	json_decref(arr);
	return r;
}

static int h_jit_result(struct scored_ctx *c, struct scored_resp *rs)
{
	const char *status, *state = NULL;
	char why[300], *end, *res;
	long long id = strtoll(c->params[0], &end, 10);
	sqlite3_stmt *st;
	bool found = false, mine = false;

	if (*end || end == c->params[0] || id <= 0)
		return scored_error(rs, 400, "bad request id \"%s\"", c->params[0]);
	if (get_str(c->body, "status", true, 16, &status, why, sizeof(why)))
		return scored_error(rs, 400, "%s", why);
	if (strcmp(status, "applied") && strcmp(status, "refused"))
		return scored_error(rs, 400, "\"status\" must be applied or refused");
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT host, state FROM jit_requests WHERE id = ?", -1, &st, NULL)
	    != SQLITE_OK)
		return db_fail(rs, c);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		found = true;
		mine = txt_eq(st, 0, c->principal);
		state = txt_eq(st, 1, "pending") || txt_eq(st, 1, "delivered") ? NULL : "final";
	}
	sqlite3_finalize(st);
	if (!found || !mine)
		return scored_error(rs, 404, "no JIT request %lld for host \"%s\"", id, c->principal);
	if (state)
		return scored_error(rs, 409, "JIT request %lld already has a result", id);
	res = json_dumps(c->body, JSON_COMPACT);
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "UPDATE jit_requests SET state = ?, result = ?, updated_ns = ?"
			       " WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
		free(res);
		return db_fail(rs, c);
	}
	sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, res ? res : "{}", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)util_now_ns());
	sqlite3_bind_int64(st, 4, id);
	free(res);
	int ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return db_fail(rs, c);
	return scored_reply(rs, 200, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", status));
}

static int h_health(struct scored_ctx *c, struct scored_resp *rs)
{
	return scored_reply(rs, 200, json_pack("{s:b, s:i, s:s}", "ok", 1, "schema_version",
					       scored_db_version(c->db), "version", VIGIL_VERSION));
}

/* ------------------------------------------------------------------ metrics */

/* One integer from a query (no parameters); -1 on error. */
static int64_t db_int(struct scored_db *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(scored_db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* GET /metrics: Prometheus text exposition format 0.0.4, written with metrics.h.
 * Unauthenticated, like node_exporter and most exporters: it holds counts only,
 * never a host name, alert or token (bind --listen to a private address, or
 * scrape through a proxy, where the counts themselves must stay private). */
static int h_metrics(struct scored_ctx *c, struct scored_resp *rs)
{
	struct scored_stats *st = &c->s->st;
	static const char *const cls[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct metrics_buf b;
	int64_t hosts, open, pages, psize;
	char *text;

	hosts = db_int(c->db, "SELECT COUNT(*) FROM hosts");
	open = db_int(c->db, "SELECT COUNT(*) FROM incidents WHERE status != 'closed'");
	pages = db_int(c->db, "PRAGMA page_count");
	psize = db_int(c->db, "PRAGMA page_size");
	if (hosts < 0 || open < 0 || pages < 0 || psize < 0)
		return db_fail(rs, c);
	metrics_buf_init(&b);
	metrics_family(&b, "vigil_scored_build_info", "gauge", "vigil-scored version (always 1).");
	metrics_sample(&b, "vigil_scored_build_info", (const char *const[]){ "version", VIGIL_VERSION, NULL }, 1);
	metrics_family(&b, "vigil_scored_start_time_seconds", "gauge", "Start time of the service since the epoch.");
	metrics_sample(&b, "vigil_scored_start_time_seconds", NULL, (double)(st->start_real_ns / 1000000) / 1e3);
	metrics_family(&b, "vigil_scored_uptime_seconds", "gauge", "Seconds since the service started.");
	metrics_sample(&b, "vigil_scored_uptime_seconds", NULL, (double)((util_boot_ns() - st->start_boot_ns) / 1000000) / 1e3);
	metrics_family(&b, "vigil_scored_requests_total", "counter",
		       "HTTP requests served, by method, route pattern (\"unmatched\" when no route) and status class.");
	for (size_t r = 0; r <= st->nroutes; r++)
		for (int k = 0; k < 5; k++) {
			uint64_t n = STAT_GET(&st->requests[r * 5 + k]);
			bool um = r == st->nroutes;
			if (!n)
				continue;
			metrics_sample(&b, "vigil_scored_requests_total", (const char *const[]){
				"method", um ? "other" : scored_routes[r].method, "route", um ? "unmatched" : scored_routes[r].pattern,
				"code", cls[k], NULL }, (double)n);
		}
	metrics_family(&b, "vigil_scored_requests_rejected_total", "counter",
		       "Requests answered with a 4xx status, by reason; nothing of them was stored.");
	for (int k = 0; k < REJ_N; k++)
		metrics_sample(&b, "vigil_scored_requests_rejected_total", (const char *const[]){ "reason", rej_names[k], NULL },
			       (double)STAT_GET(&st->rejected[k]));
	metrics_family(&b, "vigil_scored_alerts_ingested_total", "counter",
		       "Alerts stored, by severity (retransmitted duplicates not counted; sum() for the total).");
	for (int k = 0; k <= VIGIL_SEV_HIGH; k++)
		metrics_sample(&b, "vigil_scored_alerts_ingested_total", (const char *const[]){ "severity", severity_name(k), NULL },
			       (double)STAT_GET(&st->alerts[k]));
	metrics_family(&b, "vigil_scored_alert_batches_total", "counter", "Alert batches accepted (POST /api/v1/alerts).");
	metrics_sample(&b, "vigil_scored_alert_batches_total", NULL, (double)STAT_GET(&st->alert_batches));
	metrics_family(&b, "vigil_scored_posture_snapshots_total", "counter",
		       "Posture snapshots accepted (POST /api/v1/posture).");
	metrics_sample(&b, "vigil_scored_posture_snapshots_total", NULL, (double)STAT_GET(&st->postures));
	metrics_family(&b, "vigil_scored_hosts", "gauge", "Hosts known to the service (that posted or polled).");
	metrics_sample(&b, "vigil_scored_hosts", NULL, (double)hosts);
	metrics_family(&b, "vigil_scored_incidents_open", "gauge", "Incidents not closed.");
	metrics_sample(&b, "vigil_scored_incidents_open", NULL, (double)open);
	metrics_family(&b, "vigil_scored_store_bytes", "gauge", "Size of the SQLite database (page_count x page_size).");
	metrics_sample(&b, "vigil_scored_store_bytes", NULL, (double)(pages * psize));
	if (!(text = metrics_buf_take(&b)))
		return scored_error(rs, 500, "cannot render metrics: %s", strerror(errno));
	json_decref(rs->body);
	rs->body = NULL;
	free(rs->text);
	rs->text = text;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	rs->status = 200;
	return 200;
}

/* ------------------------------------------------------------------ routing */

#define RD (SCORED_ROLE_READER | SCORED_ROLE_OPERATOR)

/* The API.  Add routes here (first match wins; {x} matches one path segment). */
const struct scored_route scored_routes[] = {
	{ "GET",  "/api/v1/health", 0, false, h_health },
	{ "GET",  "/metrics", 0, false, h_metrics },
	{ "POST", "/api/v1/posture", SCORED_ROLE_AGENT, true, h_posture },
	{ "POST", "/api/v1/alerts", SCORED_ROLE_AGENT, true, h_alerts_post },
	{ "GET",  "/api/v1/alerts", RD, false, h_alerts_get },
	{ "GET",  "/api/v1/score", RD, false, h_score },
	{ "GET",  "/api/v1/recommendations", RD, false, h_recommendations },
	{ "GET",  "/api/v1/hosts", RD, false, h_hosts },
	{ "GET",  "/api/v1/hosts/{host}", RD, false, h_host },
	{ "GET",  "/api/v1/jit/pending", SCORED_ROLE_AGENT, false, h_jit_pending },
	{ "POST", "/api/v1/jit/{id}/result", SCORED_ROLE_AGENT, true, h_jit_result },
	{ "POST", "/api/v1/jit", SCORED_ROLE_OPERATOR, true, h_jit_create },
	{ "GET",  "/api/v1/jit", RD, false, h_jit_list },
	{ "GET",  "/api/v1/incidents", RD, false, scored_h_incidents_list },
	{ "GET",  "/api/v1/incidents/{id}", RD, false, scored_h_incident_get },
	{ "PATCH", "/api/v1/incidents/{id}", SCORED_ROLE_OPERATOR, true, scored_h_incident_update },
	{ "POST", "/api/v1/incidents/{id}/comments", SCORED_ROLE_OPERATOR, true, scored_h_incident_comment },
	{ "POST", "/api/v1/incidents/{id}/close", SCORED_ROLE_OPERATOR, true, scored_h_incident_close },
	{ NULL, NULL, 0, false, NULL },
};

/* Matches path against pattern; fills params.  Percent-decoding is not needed:
 * placeholders hold host names and ids. */
static bool match(const char *pattern, const char *path, struct scored_ctx *c)
{
	const char *p = pattern, *q = path;

	c->nparams = 0;
	while (*p && *q) {
		if (*p == '{') {
			const char *pe = strchr(p, '}'), *qe = q + strcspn(q, "/");
			if (!pe || qe == q || (size_t)(qe - q) >= sizeof(c->params[0]) || c->nparams >= 4)
				return false;
			memcpy(c->params[c->nparams], q, qe - q);
			c->params[c->nparams++][qe - q] = 0;
			p = pe + 1;
			q = qe;
			continue;
		}
		if (*p != *q)
			return false;
		p++;
		q++;
	}
	return !*p && (!*q || (q[0] == '/' && !q[1]));
}

/* Counts a served request: by route and status class, and a 4xx by reason. */
static void count_request(struct scored *s, const struct scored_route *rt, int status)
{
	size_t r = rt->pattern ? (size_t)(rt - scored_routes) : s->st.nroutes;
	int k = status / 100 - 1, why;

	STAT_ADD(&s->st.requests[r * 5 + (k < 0 ? 0 : k > 4 ? 4 : k)], 1);
	if (status < 400 || status >= 500)
		return;
	switch (status) {
	case 400: why = REJ_INVALID; break;
	case 401: why = REJ_UNAUTHENTICATED; break;
	case 403: why = REJ_FORBIDDEN; break;
	case 404: why = REJ_NOT_FOUND; break;
	case 405: why = REJ_METHOD; break;
	case 409: why = REJ_CONFLICT; break;
	case 413: why = REJ_TOO_LARGE; break;
	default: why = REJ_OTHER; break;
	}
	STAT_ADD(&s->st.rejected[why], 1);
}

void scored_handle(struct scored *s, const struct scored_req *rq, struct scored_resp *rs)
{
	const struct scored_route *rt;
	struct scored_ctx c = { .s = s, .db = s->db, .rq = rq };
	bool path_found = false;
	char name[256];
	json_error_t je;

	rs->status = 500;
	rs->body = NULL;
	rs->text = NULL;
	rs->content_type = NULL;
	for (rt = scored_routes; rt->pattern; rt++) {
		if (!match(rt->pattern, rq->path, &c))
			continue;
		path_found = true;
		if (!strcmp(rt->method, rq->method))
			break;
	}
	if (!rt->pattern) {
		if (path_found)
			scored_error(rs, 405, "method %s not allowed on %s", rq->method, rq->path);
		else
			scored_error(rs, 404, "no such endpoint %s", rq->path);
		count_request(s, rt, rs->status);
		return;
	}
	if (rq->body_len > SCORED_BODY_MAX) {
		scored_error(rs, 413, "request body larger than %u bytes", SCORED_BODY_MAX);
		count_request(s, rt, rs->status);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (rt->roles) {
		const char *a = rq->authorization;
		if (!a || strncasecmp(a, "Bearer ", 7)) {
			scored_error(rs, 401, "missing bearer token");
			goto out;
		}
		if (scored_token_check(s->db, a + 7, name, sizeof(name), &c.role)) {
			scored_error(rs, 401, "invalid token");
			goto out;
		}
		if (!(c.role & rt->roles)) {
			scored_error(rs, 403, "a %s token may not %s %s", scored_role_name(c.role), rq->method, rt->pattern);
			goto out;
		}
		c.principal = name;
	}
	if (rt->json_body) {
		if (!rq->body || !rq->body_len) {
			scored_error(rs, 400, "a JSON object body is required");
			goto out;
		}
		c.body = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
		if (!c.body) {
			scored_error(rs, 400, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
			goto out;
		}
		if (!json_is_object(c.body)) {
			scored_error(rs, 400, "the body must be a JSON object");
			goto out;
		}
	}
	rt->fn(&c, rs);
	if (!rs->body && !rs->text)
		scored_error(rs, 500, "handler gave no reply");
out:
	pthread_mutex_unlock(&s->mu);
	count_request(s, rt, rs->status);
	json_decref(c.body);
}
