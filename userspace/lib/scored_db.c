/* vigil-scored storage: SQLite with WAL, schema migrations, tokens.  See scored.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "scored.h"
#include "util.h"

struct scored_db {
	sqlite3 *h;
	int version;
};

/*
 * The schema, one migration per version.  Append only: a database records
 * the last version applied in schema_version, and a new one is applied in
 * its own transaction at the next start.
 */
const struct scored_migration scored_migrations[] = {
	{ 1,
	  "CREATE TABLE tokens(hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
	  "  created_ns INTEGER NOT NULL);"
	  "CREATE INDEX tokens_name ON tokens(name);"
	  "CREATE TABLE hosts(name TEXT PRIMARY KEY, kernel TEXT, agent_version TEXT, backends TEXT,"
	  "  first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL, posture_time TEXT,"
	  "  posture_ns INTEGER, score REAL, spool_dropped INTEGER NOT NULL DEFAULT 0);"
	  "CREATE TABLE assessments(host TEXT NOT NULL, rec_id TEXT NOT NULL, control TEXT NOT NULL,"
	  "  title TEXT, description TEXT, severity TEXT, status TEXT NOT NULL, reason TEXT,"
	  "  evidence TEXT, remediation TEXT, fix_automated INTEGER NOT NULL DEFAULT 0,"
	  "  PRIMARY KEY(host, rec_id)) WITHOUT ROWID;"
	  "CREATE INDEX assessments_control ON assessments(control, status);"
	  "CREATE TABLE alerts(id TEXT PRIMARY KEY, host TEXT NOT NULL, time_ns INTEGER NOT NULL,"
	  "  rule TEXT NOT NULL, severity INTEGER NOT NULL, title TEXT, body TEXT NOT NULL,"
	  "  received_ns INTEGER NOT NULL);"
	  "CREATE INDEX alerts_time ON alerts(time_ns);"
	  "CREATE INDEX alerts_host_time ON alerts(host, time_ns);"
	  "CREATE INDEX alerts_rule_time ON alerts(rule, time_ns);"
	  "CREATE TABLE jit_requests(id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL,"
	  "  port INTEGER NOT NULL, protocol TEXT NOT NULL, source TEXT NOT NULL,"
	  "  duration_s INTEGER NOT NULL, justification TEXT NOT NULL, requestor TEXT NOT NULL,"
	  "  placed_by TEXT NOT NULL, state TEXT NOT NULL, created_ns INTEGER NOT NULL,"
	  "  delivered_ns INTEGER, updated_ns INTEGER, result TEXT);"
	  "CREATE INDEX jit_host_state ON jit_requests(host, state);" },
	/* incidents (scored_incidents.h): stages holds "first_ns,last_ns;" per kill-chain stage */
	{ 2,
	  "CREATE TABLE incidents(id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, scope TEXT NOT NULL,"
	  "  title TEXT NOT NULL, base_title TEXT NOT NULL, severity INTEGER NOT NULL,"
	  "  severity_set INTEGER NOT NULL DEFAULT 0, alert_severity INTEGER NOT NULL, status TEXT NOT NULL,"
	  "  owner TEXT, tags TEXT NOT NULL DEFAULT '[]', classification TEXT, classification_comment TEXT,"
	  "  closed_ns INTEGER, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,"
	  "  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, alerts INTEGER NOT NULL DEFAULT 0,"
	  "  stages TEXT NOT NULL, techniques TEXT NOT NULL DEFAULT '[]', products TEXT NOT NULL DEFAULT '[]',"
	  "  entities INTEGER NOT NULL DEFAULT 0, edges INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0);"
	  "CREATE INDEX incidents_last ON incidents(last_ns);"
	  "CREATE INDEX incidents_status ON incidents(status, last_ns);"
	  "CREATE INDEX incidents_host_open ON incidents(host, last_ns) WHERE status != 'closed';"
	  "CREATE TABLE incident_alerts(alert_id TEXT PRIMARY KEY, incident_id INTEGER NOT NULL,"
	  "  time_ns INTEGER NOT NULL, stage INTEGER NOT NULL, joined_by TEXT NOT NULL) WITHOUT ROWID;"
	  "CREATE INDEX incident_alerts_incident ON incident_alerts(incident_id, time_ns);"
	  "CREATE TABLE incident_keys(host TEXT NOT NULL, key TEXT NOT NULL, incident_id INTEGER NOT NULL,"
	  "  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, used_ns INTEGER NOT NULL, UNIQUE(host, key));"
	  "CREATE INDEX incident_keys_used ON incident_keys(used_ns);"
	  "CREATE TABLE incident_entities(incident_id INTEGER NOT NULL, type TEXT NOT NULL, eid TEXT NOT NULL,"
	  "  props TEXT NOT NULL, first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL, alerts INTEGER NOT NULL,"
	  "  PRIMARY KEY(incident_id, type, eid)) WITHOUT ROWID;"
	  "CREATE TABLE incident_edges(incident_id INTEGER NOT NULL, src TEXT NOT NULL, rel TEXT NOT NULL,"
	  "  dst TEXT NOT NULL, first_alert TEXT NOT NULL, alerts INTEGER NOT NULL,"
	  "  PRIMARY KEY(incident_id, src, rel, dst)) WITHOUT ROWID;"
	  "CREATE TABLE incident_activity(id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id INTEGER NOT NULL,"
	  "  time_ns INTEGER NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT);"
	  "CREATE INDEX incident_activity_incident ON incident_activity(incident_id, id);" },
	/* posture workloads (the containers a host runs): the array as posted, and how many the
	 * agent counted (listed + omitted); NULL for agents that do not report them */
	{ 3,
	  "ALTER TABLE hosts ADD COLUMN workloads TEXT;"
	  "ALTER TABLE hosts ADD COLUMN workloads_omitted INTEGER;"
	  "ALTER TABLE hosts ADD COLUMN workload_count INTEGER;" },
	{ 0, NULL },
};

static int sql_err(sqlite3 *h, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, h ? sqlite3_errmsg(h) : "out of memory");
	return -EIO;
}

int scored_db_open(const char *path, struct scored_db **out, char *err, size_t errlen)
{
	struct scored_db *db = calloc(1, sizeof(*db));
	sqlite3_stmt *st = NULL;
	char *emsg = NULL;
	int r = 0;

	if (!db)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		r = sql_err(db->h, err, errlen, path);
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	/* WAL: readers never block the writer; NORMAL sync is durable across process crashes */
	if (sqlite3_exec(db->h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
			 "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL, applied_ns INTEGER NOT NULL);",
			 NULL, NULL, &emsg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, emsg ? emsg : "cannot initialise");
		r = -EIO;
		goto fail;
	}
	if (sqlite3_prepare_v2(db->h, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		r = sql_err(db->h, err, errlen, path);
		goto fail;
	}
	db->version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	for (const struct scored_migration *m = scored_migrations; m->sql; m++) {
		char ins[128];

		if (m->version <= db->version)
			continue;
		snprintf(ins, sizeof(ins), "INSERT INTO schema_version VALUES(%d, %llu);", m->version,
			 (unsigned long long)util_now_ns());
		if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db->h, m->sql, NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db->h, ins, NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db->h, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
			snprintf(err, errlen, "%s: migration %d: %s", path, m->version, emsg ? emsg : "failed");
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			r = -EIO;
			goto fail;
		}
		db->version = m->version;
	}
	*out = db;
	return 0;
fail:
	sqlite3_free(emsg);
	sqlite3_finalize(st);
	scored_db_close(db);
	return r;
}

void scored_db_close(struct scored_db *db)
{
	if (!db)
		return;
	sqlite3_close_v2(db->h);
	free(db);
}

int scored_db_version(struct scored_db *db)
{
	return db->version;
}

struct sqlite3 *scored_db_handle(struct scored_db *db)
{
	return db->h;
}

static const char *const role_names[] = { [1] = "agent", [2] = "reader", [4] = "operator" };

int scored_role_parse(const char *s)
{
	for (int i = 1; s && i <= 4; i <<= 1)
		if (!strcmp(s, role_names[i]))
			return i;
	return -EINVAL;
}

const char *scored_role_name(int role)
{
	return role == 1 || role == 2 || role == 4 ? role_names[role] : "none";
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	util_hex(md, 32, out);
}

int scored_token_add(struct scored_db *db, const char *name, int role, char token[65])
{
	uint8_t raw[32];
	char hash[65];
	sqlite3_stmt *st;
	int r;

	if (!name || !*name || strlen(name) > 255 || scored_role_name(role)[0] == 'n')
		return -EINVAL;
	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return -EIO;
	util_hex(raw, sizeof(raw), token);
	sha256_hex(token, hash);
	if (sqlite3_prepare_v2(db->h, "INSERT INTO tokens(hash, name, role, created_ns) VALUES(?,?,?,?)", -1, &st,
			       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, scored_role_name(role), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)util_now_ns());
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int scored_token_revoke(struct scored_db *db, const char *name)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(db->h, "DELETE FROM tokens WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	if (!r && sqlite3_changes(db->h) == 0)
		r = -ENOENT;
	return r;
}

json_t *scored_token_list(struct scored_db *db)
{
	sqlite3_stmt *st;
	json_t *a = json_array();
	char ts[48];

	if (sqlite3_prepare_v2(db->h, "SELECT name, role, created_ns FROM tokens ORDER BY name", -1, &st, NULL)
	    != SQLITE_OK) {
		json_decref(a);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "name", (const char *)sqlite3_column_text(st, 0),
			"role", (const char *)sqlite3_column_text(st, 1),
			"created", util_rfc3339((uint64_t)sqlite3_column_int64(st, 2), ts, sizeof(ts))));
	sqlite3_finalize(st);
	return a;
}

int scored_token_check(struct scored_db *db, const char *token, char *name, size_t len, int *role)
{
	char hash[65];
	sqlite3_stmt *st;
	int r = -EACCES;

	if (!token || strlen(token) != 64)
		return -EACCES;
	sha256_hex(token, hash);
	if (sqlite3_prepare_v2(db->h, "SELECT name, role FROM tokens WHERE hash = ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(name, len, "%s", (const char *)sqlite3_column_text(st, 0));
		*role = scored_role_parse((const char *)sqlite3_column_text(st, 1));
		r = *role > 0 ? 0 : -EACCES;
	}
	sqlite3_finalize(st);
	return r;
}
