/*
 * vigil-scored incident API: list and search, one incident with its alerts,
 * entities, relations and timeline, triage updates (status, owner, severity,
 * tags), comments and close with a classification.  Every update is validated
 * completely before anything changes, and recorded in the incident's timeline.
 * See scored_incidents.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "jsonx.h"
#include "scored_incidents.h"
#include "util.h"

#define LIMIT_DEF     100
#define LIMIT_MAX     1000
#define OWNER_MAX     255
#define TAGS_MAX      32
#define TAG_MAX       64
#define COMMENT_MAX   4096
#define SEARCH_MAX    256

static const char *const entity_groups[][2] = {
	{ "host", "hosts" }, { "process", "processes" }, { "file", "files" },
	{ "address", "addresses" }, { "user", "users" }, { "container", "containers" },
};

static json_t *ts(int64_t ns)
{
	char buf[48];

	return ns > 0 ? json_string(util_rfc3339((uint64_t)ns, buf, sizeof(buf))) : json_null();
}

static json_t *col_str(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	return t ? json_string(t) : json_null();
}

static json_t *col_json(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	json_t *v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
	return v ? v : json_null();
}

static int db_fail(struct scored_ctx *c, struct scored_resp *rs)
{
	return scored_error(rs, 500, "storage error: %s", sqlite3_errmsg(scored_db_handle(c->db)));
}

static int parse_id(const char *s, int64_t *id)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (!*s || *end || v <= 0)
		return -EINVAL;
	*id = v;
	return 0;
}

/* Tactics of a stages column ("first,last;" x 12), in kill-chain order. */
static json_t *tactics_json(const char *s)
{
	json_t *a = json_array();

	for (int i = 1; s && *s && i <= 12; i++) {
		char *end;
		long long f = strtoll(s, &end, 10), l;
		if (*end != ',')
			break;
		l = strtoll(end + 1, &end, 10);
		if (*end != ';')
			break;
		s = end + 1;
		if (f)
			json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o}", "id", incident_stage_tactic(i),
							   "name", incident_stage_name(i), "first", ts(f), "last", ts(l)));
	}
	return a;
}

#define INC_COLS "id, host, title, severity, status, owner, tags, created_ns, first_ns, last_ns, alerts, stages," \
		 " techniques, products, classification, classification_comment, closed_ns, updated_ns, entities," \
		 " dropped, severity_set, edges"

static json_t *inc_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "title", col_str(st, 2));
	json_object_set_new(o, "severity", json_string(incident_severity_name(sqlite3_column_int(st, 3))));
	json_object_set_new(o, "severity_source", json_string(sqlite3_column_int(st, 20) ? "analyst" : "correlation"));
	json_object_set_new(o, "status", col_str(st, 4));
	json_object_set_new(o, "owner", col_str(st, 5));
	json_object_set_new(o, "tags", col_json(st, 6));
	json_object_set_new(o, "host", col_str(st, 1));
	json_object_set_new(o, "created", ts(sqlite3_column_int64(st, 7)));
	json_object_set_new(o, "first_activity", ts(sqlite3_column_int64(st, 8)));
	json_object_set_new(o, "last_activity", ts(sqlite3_column_int64(st, 9)));
	json_object_set_new(o, "updated", ts(sqlite3_column_int64(st, 17)));
	json_object_set_new(o, "alert_count", json_integer(sqlite3_column_int(st, 10)));
	json_object_set_new(o, "tactics", tactics_json((const char *)sqlite3_column_text(st, 11)));
	json_object_set_new(o, "techniques", col_json(st, 12));
	json_object_set_new(o, "products", col_json(st, 13));
	json_object_set_new(o, "classification", col_str(st, 14));
	json_object_set_new(o, "classification_comment", col_str(st, 15));
	json_object_set_new(o, "closed", ts(sqlite3_column_int64(st, 16)));
	json_object_set_new(o, "entity_count", json_integer(sqlite3_column_int(st, 18)));
	json_object_set_new(o, "relation_count", json_integer(sqlite3_column_int(st, 21)));
	json_object_set_new(o, "entities_dropped", json_integer(sqlite3_column_int(st, 19)));
	return o;
}

/* The incident summary or NULL (not found / error: *err set to -ENOENT / -EIO). */
static json_t *inc_get(struct scored_ctx *c, int64_t id, int *err)
{
	sqlite3_stmt *st;
	json_t *o = NULL;

	*err = -EIO;
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT " INC_COLS " FROM incidents WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		o = inc_row(st);
	else if (r == SQLITE_DONE)
		*err = -ENOENT;
	sqlite3_finalize(st);
	return o;
}

/* ------------------------------------------------------------------ list */

static int qint(const struct scored_ctx *c, const char *k, long def, long lo, long hi, long *out)
{
	const char *s = scored_arg(c, k);
	char *end;

	*out = def;
	if (!s)
		return 0;
	*out = strtol(s, &end, 10);
	return !*s || *end || *out < lo || *out > hi ? -EINVAL : 0;
}

int scored_h_incidents_list(struct scored_ctx *c, struct scored_resp *rs)
{
	const char *status = scored_arg(c, "status"), *sev = scored_arg(c, "severity"), *owner = scored_arg(c, "owner"),
		   *host = scored_arg(c, "host"), *q = scored_arg(c, "search"), *minsev = scored_arg(c, "min_severity");
	char like[SEARCH_MAX * 2 + 3];
	long limit, offset;
	int sv = -1, msv = -1;
	sqlite3_stmt *st;
	json_t *arr;

	if (qint(c, "limit", LIMIT_DEF, 1, LIMIT_MAX, &limit) || qint(c, "offset", 0, 0, 100000000, &offset))
		return scored_error(rs, 400, "limit must be 1 to %d and offset a non-negative integer", LIMIT_MAX);
	if (status && strcmp(status, "new") && strcmp(status, "active") && strcmp(status, "closed") &&
	    strcmp(status, "open"))
		return scored_error(rs, 400, "status must be new, active, closed or open (new or active)");
	if ((sev && (sv = incident_severity_parse(sev)) < 0) || (minsev && (msv = incident_severity_parse(minsev)) < 0))
		return scored_error(rs, 400, "severity must be informational, low, medium, high or critical");
	if (q && strlen(q) > SEARCH_MAX)
		return scored_error(rs, 400, "search must be at most %d bytes", SEARCH_MAX);
	if (q) {
		/* a substring, LIKE's wildcards taken literally */
		size_t o = 0;
		like[o++] = '%';
		for (const char *p = q; *p; p++) {
			if (*p == '%' || *p == '_' || *p == '\\')
				like[o++] = '\\';
			like[o++] = *p;
		}
		like[o++] = '%';
		like[o] = 0;
	}
	if (sqlite3_prepare_v2(scored_db_handle(c->db), "SELECT " INC_COLS " FROM incidents WHERE"
		" (?1 IS NULL OR status = ?1 OR (?1 = 'open' AND status != 'closed'))"
		" AND (?2 IS NULL OR severity = ?2) AND (?3 IS NULL OR severity >= ?3)"
		" AND (?4 IS NULL OR owner = ?4) AND (?5 IS NULL OR host = ?5)"
		" AND (?6 IS NULL OR CAST(id AS TEXT) = ?7 OR title LIKE ?6 ESCAPE '\\' OR tags LIKE ?6 ESCAPE '\\'"
		"      OR owner LIKE ?6 ESCAPE '\\' OR products LIKE ?6 ESCAPE '\\')"
		" ORDER BY last_ns DESC, id DESC LIMIT ?8 OFFSET ?9", -1, &st, NULL) != SQLITE_OK)
		return db_fail(c, rs);
	if (status)
		sqlite3_bind_text(st, 1, status, -1, SQLITE_TRANSIENT);
	if (sev)
		sqlite3_bind_int(st, 2, sv);
	if (minsev)
		sqlite3_bind_int(st, 3, msv);
	if (owner)
		sqlite3_bind_text(st, 4, owner, -1, SQLITE_TRANSIENT);
	if (host)
		sqlite3_bind_text(st, 5, host, -1, SQLITE_TRANSIENT);
	if (q) {
		sqlite3_bind_text(st, 6, like, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 7, q[0] == '#' ? q + 1 : q, -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_int64(st, 8, limit);
	sqlite3_bind_int64(st, 9, offset);
	arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, inc_row(st));
	sqlite3_finalize(st);
	return scored_reply(rs, 200, json_pack("{s:o, s:I}", "incidents", arr, "count", (json_int_t)json_array_size(arr)));
}

/* ------------------------------------------------------------------ one incident */

static int cmp_time(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *tx = json_string_value(json_object_get(x, "time")), *ty = json_string_value(json_object_get(y, "time"));
	int r = strcmp(tx ? tx : "", ty ? ty : "");

	/* equal times: the order of insertion (seq) */
	return r ? r : (int)(json_integer_value(json_object_get(x, "seq")) - json_integer_value(json_object_get(y, "seq")));
}

static json_t *timeline_sorted(json_t *tl)
{
	size_t n = json_array_size(tl), i;
	json_t **v = calloc(n + 1, sizeof(*v)), *out = json_array();

	for (i = 0; v && i < n; i++)
		v[i] = json_array_get(tl, i);
	if (v)
		qsort(v, n, sizeof(*v), cmp_time);
	for (i = 0; v && i < n; i++) {
		json_object_del(v[i], "seq");
		json_array_append(out, v[i]);
	}
	free(v);
	json_decref(tl);
	return out;
}

int scored_h_incident_get(struct scored_ctx *c, struct scored_resp *rs)
{
	sqlite3 *h = scored_db_handle(c->db);
	sqlite3_stmt *st = NULL;
	json_t *o, *alerts, *ents, *rels, *tl, *comments;
	int64_t id;
	int err, seq = 0;

	if (parse_id(c->params[0], &id))
		return scored_error(rs, 400, "bad incident id \"%s\"", c->params[0]);
	if (!(o = inc_get(c, id, &err)))
		return err == -ENOENT ? scored_error(rs, 404, "no incident %lld", (long long)id) : db_fail(c, rs);
	alerts = json_array();
	tl = json_array();
	comments = json_array();
	ents = json_object();
	rels = json_array();
	json_object_set_new(o, "alerts", alerts);
	json_object_set_new(o, "entities", ents);
	json_object_set_new(o, "relations", rels);
	json_object_set_new(o, "comments", comments);
	/* alerts, in time order */
	if (sqlite3_prepare_v2(h, "SELECT ia.alert_id, ia.joined_by, ia.time_ns, a.body FROM incident_alerts ia"
			       " LEFT JOIN alerts a ON a.id = ia.alert_id WHERE ia.incident_id = ?"
			       " ORDER BY ia.time_ns, ia.alert_id LIMIT ?", -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, INCIDENT_ALERTS_SHOWN);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *a = col_json(st, 3), *m;
		if (!json_is_object(a)) {
			json_decref(a);
			a = json_pack("{s:s}", "id", (const char *)sqlite3_column_text(st, 0));
		}
		json_object_set_new(a, "joined_by", col_str(st, 1));
		m = json_object_get(a, "mitre");
		json_array_append_new(tl, json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i}",
			"time", ts(sqlite3_column_int64(st, 2)), "type", "alert",
			"alert_id", (const char *)sqlite3_column_text(st, 0),
			"rule", json_deep_copy(json_object_get(a, "rule") ?: json_null()),
			"title", json_deep_copy(json_object_get(a, "title") ?: json_null()),
			"severity", json_deep_copy(json_object_get(a, "severity") ?: json_null()),
			"tactic", json_deep_copy(json_object_get(m, "tactic_name") ?: json_object_get(m, "tactic") ?: json_null()),
			"technique", json_deep_copy(json_object_get(m, "technique") ?: json_null()),
			"process", json_deep_copy(json_object_get(json_object_get(a, "process"), "exe") ?: json_null()),
			"joined_by", col_str(st, 1), "seq", seq++));
		json_array_append_new(alerts, a);
	}
	sqlite3_finalize(st);
	st = NULL;
	/* entities by type */
	for (size_t i = 0; i < sizeof(entity_groups) / sizeof(entity_groups[0]); i++)
		json_object_set_new(ents, entity_groups[i][1], json_array());
	if (sqlite3_prepare_v2(h, "SELECT type, eid, props, first_ns, last_ns, alerts FROM incident_entities"
			       " WHERE incident_id = ? ORDER BY type, first_ns, eid", -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		json_t *e = col_json(st, 2), *grp = NULL;
		char node[1024];
		for (size_t i = 0; i < sizeof(entity_groups) / sizeof(entity_groups[0]); i++)
			if (!strcmp(type, entity_groups[i][0]))
				grp = json_object_get(ents, entity_groups[i][1]);
		if (!json_is_object(e)) {
			json_decref(e);
			e = json_object();
		}
		snprintf(node, sizeof(node), "%s:%s", type, (const char *)sqlite3_column_text(st, 1));
		json_object_set_new(e, "node", json_string(node));
		json_object_set_new(e, "first_seen", ts(sqlite3_column_int64(st, 3)));
		json_object_set_new(e, "last_seen", ts(sqlite3_column_int64(st, 4)));
		json_object_set_new(e, "alerts", json_integer(sqlite3_column_int(st, 5)));
		if (grp)
			json_array_append_new(grp, e);
		else
			json_decref(e);
	}
	sqlite3_finalize(st);
	st = NULL;
	/* relations: the investigation graph's edges */
	if (sqlite3_prepare_v2(h, "SELECT src, rel, dst, first_alert, alerts FROM incident_edges WHERE incident_id = ?"
			       " ORDER BY src, rel, dst", -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(rels, json_pack("{s:o, s:o, s:o, s:o, s:i}", "from", col_str(st, 0),
			"relation", col_str(st, 1), "to", col_str(st, 2), "first_alert", col_str(st, 3),
			"alerts", sqlite3_column_int(st, 4)));
	sqlite3_finalize(st);
	st = NULL;
	/* activity: creation, triage changes, comments */
	if (sqlite3_prepare_v2(h, "SELECT id, time_ns, actor, kind, detail FROM incident_activity WHERE incident_id = ?"
			       " ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 3);
		json_t *detail = col_json(st, 4);
		if (!strcmp(kind, "comment"))
			json_array_append_new(comments, json_pack("{s:I, s:o, s:o, s:O}", "id",
				(json_int_t)sqlite3_column_int64(st, 0), "time", ts(sqlite3_column_int64(st, 1)),
				"author", col_str(st, 2), "text", json_object_get(detail, "text") ?: json_null()));
		json_array_append_new(tl, json_pack("{s:o, s:s, s:o, s:o, s:i}", "time", ts(sqlite3_column_int64(st, 1)),
			"type", kind, "actor", col_str(st, 2), "detail", detail, "seq", seq++));
	}
	sqlite3_finalize(st);
	json_object_set_new(o, "timeline", timeline_sorted(tl));
	return scored_reply(rs, 200, o);
dberr:
	sqlite3_finalize(st);
	json_decref(o);
	json_decref(tl);
	return db_fail(c, rs);
}

/* ------------------------------------------------------------------ triage */

struct change {
	const char *status;                /* NULL: unchanged */
	bool owner_set;
	const char *owner;                 /* NULL with owner_set: unassign */
	int sev;                           /* -1: unchanged */
	json_t *tags;                      /* borrowed; NULL: unchanged */
	const char *classification, *comment;
};

static int str_member(const json_t *b, const char *k, size_t max, const char **out, char *why, size_t wlen)
{
	const json_t *v = json_object_get(b, k);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > max) {
		snprintf(why, wlen, "\"%s\" must be a string of 1 to %zu bytes", k, max);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

static int parse_change(const json_t *b, bool close_only, struct change *ch, char *why, size_t wlen)
{
	static const char *const keys[] = { "status", "owner", "severity", "tags", "classification", "comment" };
	const char *k, *sev = NULL;
	json_t *v;

	memset(ch, 0, sizeof(*ch));
	ch->sev = -1;
	json_object_foreach((json_t *)b, k, v) {
		size_t i;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(k, keys[i]) && (!close_only || !strcmp(k, "classification") || !strcmp(k, "comment")))
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			snprintf(why, wlen, "unknown member \"%s\"", k);
			return -EINVAL;
		}
	}
	if (str_member(b, "status", 16, &ch->status, why, wlen) || str_member(b, "severity", 16, &sev, why, wlen) ||
	    str_member(b, "classification", 64, &ch->classification, why, wlen) ||
	    str_member(b, "comment", COMMENT_MAX, &ch->comment, why, wlen))
		return -EINVAL;
	if (close_only)
		ch->status = "closed";
	if (ch->status && strcmp(ch->status, "new") && strcmp(ch->status, "active") && strcmp(ch->status, "closed")) {
		snprintf(why, wlen, "\"status\" must be new, active or closed");
		return -EINVAL;
	}
	if (sev && (ch->sev = incident_severity_parse(sev)) < 0) {
		snprintf(why, wlen, "\"severity\" must be informational, low, medium, high or critical");
		return -EINVAL;
	}
	if ((v = json_object_get(b, "owner"))) {
		ch->owner_set = true;
		if (!json_is_null(v) && str_member(b, "owner", OWNER_MAX, &ch->owner, why, wlen))
			return -EINVAL;
	}
	if ((v = json_object_get(b, "tags"))) {
		size_t i, j;
		json_t *t;
		if (!json_is_array(v) || json_array_size(v) > TAGS_MAX) {
			snprintf(why, wlen, "\"tags\" must be an array of at most %d strings", TAGS_MAX);
			return -EINVAL;
		}
		json_array_foreach(v, i, t) {
			if (!json_is_string(t) || !json_string_length(t) || json_string_length(t) > TAG_MAX) {
				snprintf(why, wlen, "tags[%zu] must be a string of 1 to %d bytes", i, TAG_MAX);
				return -EINVAL;
			}
			for (j = 0; j < i; j++)
				if (json_equal(t, json_array_get(v, j))) {
					snprintf(why, wlen, "tags[%zu]: duplicate tag \"%s\"", i, json_string_value(t));
					return -EINVAL;
				}
		}
		ch->tags = v;
	}
	if (ch->status && !strcmp(ch->status, "closed")) {
		if (!ch->classification) {
			snprintf(why, wlen, "closing an incident needs a \"classification\": true_positive, benign_positive,"
				 " false_positive_incorrect_logic, false_positive_incorrect_data or undetermined");
			return -EINVAL;
		}
		if (!incident_classification_valid(ch->classification)) {
			snprintf(why, wlen, "unknown classification \"%.64s\": true_positive, benign_positive,"
				 " false_positive_incorrect_logic, false_positive_incorrect_data or undetermined",
				 ch->classification);
			return -EINVAL;
		}
	} else if (ch->classification) {
		snprintf(why, wlen, "\"classification\" is given when closing (\"status\": \"closed\")");
		return -EINVAL;
	}
	if (!ch->status && !ch->owner_set && ch->sev < 0 && !ch->tags && !ch->comment) {
		snprintf(why, wlen, "nothing to update: give status, owner, severity, tags or comment");
		return -EINVAL;
	}
	return 0;
}

static int act(sqlite3 *h, int64_t id, int64_t now, const char *actor, const char *kind, json_t *detail)
{
	sqlite3_stmt *st;
	char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	int r = -EIO;

	json_decref(detail);
	if (sqlite3_prepare_v2(h, "INSERT INTO incident_activity(incident_id, time_ns, actor, kind, detail)"
			       " VALUES(?,?,?,?,?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, actor, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
		d ? sqlite3_bind_text(st, 5, d, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 5);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_finalize(st);
	}
	free(d);
	return r;
}

static int exec_upd(sqlite3 *h, const char *sql, int64_t id, const char *s, int64_t n)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	s ? sqlite3_bind_text(st, 2, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, n);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

static int apply(struct scored_ctx *c, struct scored_resp *rs, int64_t id, const struct change *ch)
{
	sqlite3 *h = scored_db_handle(c->db);
	int64_t now = (int64_t)util_now_ns();
	json_t *cur;
	const char *old_status;
	int err, r;

	if (!(cur = inc_get(c, id, &err)))
		return err == -ENOENT ? scored_error(rs, 404, "no incident %lld", (long long)id) : db_fail(c, rs);
	old_status = json_string_value(json_object_get(cur, "status"));
	if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		json_decref(cur);
		return db_fail(c, rs);
	}
	if (ch->status && strcmp(ch->status, old_status)) {
		bool closing = !strcmp(ch->status, "closed"), reopening = !strcmp(old_status, "closed");
		if (exec_upd(h, "UPDATE incidents SET status = ?2, closed_ns = CASE WHEN ?2 = 'closed' THEN ?3 END,"
			     " classification = CASE WHEN ?2 = 'closed' THEN classification END,"
			     " classification_comment = CASE WHEN ?2 = 'closed' THEN classification_comment END"
			     " WHERE id = ?1", id, ch->status, now) ||
		    act(h, id, now, c->principal, closing ? "closed" : reopening ? "reopened" : "status",
			json_pack("{s:s, s:s}", "from", old_status, "to", ch->status)))
			goto dberr;
	}
	if (ch->classification) {
		/* closing, or re-classifying a closed incident */
		if (exec_upd(h, "UPDATE incidents SET classification = ?2, classification_comment = NULL WHERE id = ?1",
			     id, ch->classification, 0) ||
		    (ch->comment && exec_upd(h, "UPDATE incidents SET classification_comment = ?2 WHERE id = ?1", id,
					     ch->comment, 0)) ||
		    act(h, id, now, c->principal, "classified", json_pack("{s:s, s:s?}", "classification",
			ch->classification, "comment", ch->comment)))
			goto dberr;
	}
	if (ch->owner_set) {
		const char *old = json_string_value(json_object_get(cur, "owner"));
		if ((!old != !ch->owner || (old && strcmp(old, ch->owner))) &&
		    (exec_upd(h, "UPDATE incidents SET owner = ?2 WHERE id = ?1", id, ch->owner, 0) ||
		     act(h, id, now, c->principal, "owner", json_pack("{s:s?, s:s?}", "from", old, "to", ch->owner))))
			goto dberr;
	}
	if (ch->sev >= 0) {
		if (exec_upd(h, "UPDATE incidents SET severity = ?3, severity_set = 1 WHERE id = ?1", id, NULL, ch->sev) ||
		    act(h, id, now, c->principal, "severity", json_pack("{s:O, s:s}", "from", json_object_get(cur, "severity"),
			"to", incident_severity_name(ch->sev))))
			goto dberr;
	}
	if (ch->tags) {
		char *t = json_dumps(ch->tags, JSON_COMPACT);
		r = t ? exec_upd(h, "UPDATE incidents SET tags = ?2 WHERE id = ?1", id, t, 0) : -ENOMEM;
		free(t);
		if (r || act(h, id, now, c->principal, "tags", json_pack("{s:O, s:O}", "from", json_object_get(cur, "tags"),
							   "to", ch->tags)))
			goto dberr;
	}
	if (ch->comment && act(h, id, now, c->principal, "comment", json_pack("{s:s}", "text", ch->comment)))
		goto dberr;
	if (exec_upd(h, "UPDATE incidents SET updated_ns = ?3 WHERE id = ?1", id, NULL, now) ||
	    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	json_decref(cur);
	if (!(cur = inc_get(c, id, &err)))
		return db_fail(c, rs);
	return scored_reply(rs, 200, cur);
dberr:
	r = db_fail(c, rs);
	sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
	json_decref(cur);
	return r;
}

int scored_h_incident_update(struct scored_ctx *c, struct scored_resp *rs)
{
	struct change ch;
	char why[400];
	int64_t id;

	if (parse_id(c->params[0], &id))
		return scored_error(rs, 400, "bad incident id \"%s\"", c->params[0]);
	if (parse_change(c->body, false, &ch, why, sizeof(why)))
		return scored_error(rs, 400, "%s", why);
	return apply(c, rs, id, &ch);
}

int scored_h_incident_close(struct scored_ctx *c, struct scored_resp *rs)
{
	struct change ch;
	char why[400];
	int64_t id;

	if (parse_id(c->params[0], &id))
		return scored_error(rs, 400, "bad incident id \"%s\"", c->params[0]);
	if (parse_change(c->body, true, &ch, why, sizeof(why)))
		return scored_error(rs, 400, "%s", why);
	return apply(c, rs, id, &ch);
}

int scored_h_incident_comment(struct scored_ctx *c, struct scored_resp *rs)
{
	sqlite3 *h = scored_db_handle(c->db);
	const char *text = NULL, *k;
	int64_t id, now = (int64_t)util_now_ns();
	char why[200];
	json_t *v, *cur;
	int err;

	if (parse_id(c->params[0], &id))
		return scored_error(rs, 400, "bad incident id \"%s\"", c->params[0]);
	json_object_foreach(c->body, k, v)
		if (strcmp(k, "text"))
			return scored_error(rs, 400, "unknown member \"%s\"", k);
	if (str_member(c->body, "text", COMMENT_MAX, &text, why, sizeof(why)) || !text)
		return scored_error(rs, 400, "\"text\" must be a string of 1 to %d bytes", COMMENT_MAX);
	if (!(cur = inc_get(c, id, &err)))
		return err == -ENOENT ? scored_error(rs, 404, "no incident %lld", (long long)id) : db_fail(c, rs);
	json_decref(cur);
	if (act(h, id, now, c->principal, "comment", json_pack("{s:s}", "text", text)) ||
	    exec_upd(h, "UPDATE incidents SET updated_ns = ?3 WHERE id = ?1", id, NULL, now))
		return db_fail(c, rs);
	return scored_reply(rs, 201, json_pack("{s:I, s:I, s:o, s:s, s:s}", "incident", (json_int_t)id, "id",
					       (json_int_t)sqlite3_last_insert_rowid(h), "time", ts(now), "author",
					       c->principal, "text", text));
}
