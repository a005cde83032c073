/* vigil-scored incidents: correlation of alerts at ingest.  See scored_incidents.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "policy.h"
#include "scored_incidents.h"
#include "util.h"

/* ------------------------------------------------------------------ vocabulary */

/* The kill chain of the issue / Defender for Cloud's kill-chain intents (ATT&CK). */
static const struct {
	const char *id, *name;
} stages[13] = {
	[1] = { "TA0001", "Initial Access" },       [2] = { "TA0002", "Execution" },
	[3] = { "TA0003", "Persistence" },          [4] = { "TA0004", "Privilege Escalation" },
	[5] = { "TA0005", "Defense Evasion" },      [6] = { "TA0006", "Credential Access" },
	[7] = { "TA0007", "Discovery" },            [8] = { "TA0008", "Lateral Movement" },
	[9] = { "TA0009", "Collection" },           [10] = { "TA0011", "Command and Control" },
	[11] = { "TA0010", "Exfiltration" },        [12] = { "TA0040", "Impact" },
};
#define NSTAGES 12

int incident_tactic_stage(const char *tactic)
{
	for (int i = 1; tactic && i <= NSTAGES; i++)
		if (!strcmp(tactic, stages[i].id))
			return i;
	return 0;
}

const char *incident_stage_tactic(int stage)
{
	return stage >= 1 && stage <= NSTAGES ? stages[stage].id : NULL;
}

const char *incident_stage_name(int stage)
{
	return stage >= 1 && stage <= NSTAGES ? stages[stage].name : NULL;
}

int incident_severity_parse(const char *s)
{
	if (s && !strcmp(s, "critical"))
		return INCIDENT_SEV_CRITICAL;
	return severity_parse(s) < 0 ? -EINVAL : severity_parse(s);
}

const char *incident_severity_name(int sev)
{
	return sev >= INCIDENT_SEV_CRITICAL ? "critical" : severity_name(sev < 0 ? 0 : sev);
}

bool incident_classification_valid(const char *s)
{
	static const char *const c[] = { "true_positive", "benign_positive", "false_positive_incorrect_logic",
					 "false_positive_incorrect_data", "undetermined" };

	for (size_t i = 0; s && i < sizeof(c) / sizeof(c[0]); i++)
		if (!strcmp(s, c[i]))
			return true;
	return false;
}

bool scored_incidents_enabled(void)
{
	static int on = -1;

	if (on < 0) {
		const char *e = getenv("VIGIL_SCORED_INCIDENTS");
		on = !(e && (!strcmp(e, "off") || !strcmp(e, "0")));
	}
	return on;
}

/* ------------------------------------------------------------------ statements */

enum {
	S_SEEN, S_KEY_GET, S_KEY_PUT, S_BY_ALERT, S_CHAIN, S_INC_NEW, S_INC_GET, S_INC_PUT, S_ALERT_ADD,
	S_ENT_UPD, S_ENT_INS, S_EDGE_UPD, S_EDGE_INS, S_ACT, S_MAX
};

static const char *const sqls[S_MAX] = {
	[S_SEEN] = "SELECT 1 FROM incident_alerts WHERE alert_id = ?",
	[S_KEY_GET] = "SELECT k.incident_id, k.first_ns, k.last_ns, i.last_ns, k.used_ns FROM incident_keys k"
		      " JOIN incidents i ON i.id = k.incident_id WHERE k.host = ?1 AND k.key = ?2 AND i.status != 'closed'",
	[S_KEY_PUT] = "INSERT INTO incident_keys(host, key, incident_id, first_ns, last_ns, used_ns)"
		      " VALUES(?1, ?2, ?3, ?4, ?4, ?5) ON CONFLICT(host, key) DO UPDATE SET"
		      " first_ns = CASE WHEN incident_id = ?3 THEN min(first_ns, ?4) ELSE ?4 END,"
		      " last_ns = CASE WHEN incident_id = ?3 THEN max(last_ns, ?4) ELSE ?4 END,"
		      " incident_id = ?3, used_ns = ?5",
	[S_BY_ALERT] = "SELECT a.incident_id, i.last_ns FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id"
		       " WHERE a.alert_id = ? AND i.status != 'closed'",
	/* the partial index incidents_host_open serves this: bounded by LIMIT */
	[S_CHAIN] = "SELECT id, first_ns, last_ns, stages, scope FROM incidents WHERE host = ?1 AND status != 'closed'"
		    " AND last_ns >= ?2 ORDER BY last_ns DESC LIMIT 8",
	[S_INC_NEW] = "INSERT INTO incidents(host, scope, title, base_title, severity, alert_severity, status,"
		      " created_ns, updated_ns, first_ns, last_ns, stages) VALUES(?1, ?2, ?3, ?3, ?4, ?4, 'new', ?5, ?5, ?6, ?6, '')",
	[S_INC_GET] = "SELECT first_ns, last_ns, alert_severity, severity, severity_set, stages, base_title, alerts,"
		      " entities, edges, dropped, techniques, products FROM incidents WHERE id = ?",
	[S_INC_PUT] = "UPDATE incidents SET first_ns = ?2, last_ns = ?3, alert_severity = ?4, severity = ?5, stages = ?6,"
		      " base_title = ?7, title = ?8, alerts = ?9, entities = ?10, edges = ?11, dropped = ?12,"
		      " techniques = ?13, products = ?14, updated_ns = ?15 WHERE id = ?1",
	[S_ALERT_ADD] = "INSERT INTO incident_alerts(alert_id, incident_id, time_ns, stage, joined_by) VALUES(?,?,?,?,?)",
	[S_ENT_UPD] = "UPDATE incident_entities SET first_ns = min(first_ns, ?4), last_ns = max(last_ns, ?4),"
		      " alerts = alerts + 1 WHERE incident_id = ?1 AND type = ?2 AND eid = ?3",
	[S_ENT_INS] = "INSERT INTO incident_entities(incident_id, type, eid, props, first_ns, last_ns, alerts)"
		      " VALUES(?1, ?2, ?3, ?5, ?4, ?4, 1)",
	[S_EDGE_UPD] = "UPDATE incident_edges SET alerts = alerts + 1 WHERE incident_id = ?1 AND src = ?2 AND rel = ?3"
		       " AND dst = ?4",
	[S_EDGE_INS] = "INSERT INTO incident_edges(incident_id, src, rel, dst, first_alert, alerts) VALUES(?1,?2,?3,?4,?5,1)",
	[S_ACT] = "INSERT INTO incident_activity(incident_id, time_ns, actor, kind, detail) VALUES(?,?,?,?,?)",
};

#define KEY_LEN  512
#define SEEN_MAX 24

struct ent_ctx {
	struct incident_batch *b;
	struct inc *in;
	const char *alert_id;
	int64_t t;
	char seen[SEEN_MAX][KEY_LEN];
	int nseen;
};

#define INC_CACHE 32

struct inc {
	int64_t id, first, last;
	int alert_sev, sev, sev_set, nalerts, nent, nedge, dropped;
	int64_t st[13][2];               /* per stage 1..12: first and last alert time, 0 = none */
	char *base_title;
	char *techniques, *products;     /* JSON arrays of strings, as stored */
};

/* A batch: its statements, and the incidents it touched (written through, kept
 * so that alerts of one incident in one batch read it once). */
struct incident_batch {
	sqlite3 *h;
	sqlite3_stmt *st[S_MAX];
	int64_t now;
	struct inc cache[INC_CACHE];
	unsigned ncache, next;
	struct ent_ctx *ent;             /* per-alert scratch */
};

static void inc_free(struct inc *in);

static int64_t last_prune_ns;

int scored_incidents_begin(struct scored_db *db, struct incident_batch **out)
{
	struct incident_batch *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->h = scored_db_handle(db);
	if (!(b->ent = malloc(sizeof(*b->ent)))) {
		free(b);
		return -ENOMEM;
	}
	b->now = (int64_t)util_now_ns();
	for (int i = 0; i < S_MAX; i++)
		if (sqlite3_prepare_v3(b->h, sqls[i], -1, 0, &b->st[i], NULL) != SQLITE_OK) {
			scored_incidents_end(b);
			return -EIO;
		}
	/* keys not used for a day can no longer correlate anything: drop a bounded number */
	if (b->now - last_prune_ns > 60ll * 1000000000ll) {
		sqlite3_stmt *p;
		last_prune_ns = b->now;
		if (sqlite3_prepare_v2(b->h, "DELETE FROM incident_keys WHERE rowid IN (SELECT rowid FROM incident_keys"
				       " WHERE used_ns < ? LIMIT 5000)", -1, &p, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(p, 1, b->now - INCIDENT_KEY_TTL_NS);
			sqlite3_step(p);
			sqlite3_finalize(p);
		}
	}
	*out = b;
	return 0;
}

void scored_incidents_end(struct incident_batch *b)
{
	if (!b)
		return;
	for (int i = 0; i < S_MAX; i++)
		sqlite3_finalize(b->st[i]);
	for (unsigned i = 0; i < b->ncache; i++)
		inc_free(&b->cache[i]);
	free(b->ent);
	free(b);
}

static sqlite3_stmt *stmt(struct incident_batch *b, int i)
{
	sqlite3_reset(b->st[i]);
	sqlite3_clear_bindings(b->st[i]);
	return b->st[i];
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* ------------------------------------------------------------------ facts of an alert */

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *base_name(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : p;
}

/* Ancestors shared by unrelated work: never a lineage key. */
static bool lineage_root(json_int_t pid, const char *exe)
{
	static const char *const names[] = { "systemd", "init", "containerd-shim", "containerd-shim-runc-v2", "conmon",
					     "runc", "crun", "containerd", "dockerd", "crio", "kubelet", "cron", "crond",
					     "atd", "vigild", "tini", "dumb-init", "s6-supervise", "runsv", "supervisord" };
	const char *b = base_name(exe);

	if (pid <= 2)
		return true;
	for (size_t i = 0; b && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(b, names[i]))
			return true;
	return false;
}

struct facts {
	const char *id, *rule, *title, *tactic, *technique, *summary_of;
	int sev, stage;
	const json_t *proc, *parents, *cont;
	json_int_t pid;
	const char *exe, *user, *cid;
	json_int_t uid, auid;           /* -1 unknown */
};

static void facts_get(const json_t *a, struct facts *f)
{
	const json_t *m = json_object_get(a, "mitre"), *v;

	memset(f, 0, sizeof(*f));
	f->id = jstr(a, "id");
	f->rule = jstr(a, "rule");
	f->title = jstr(a, "title");
	f->sev = severity_parse(jstr(a, "severity"));
	if (f->sev < 0)
		f->sev = 0;
	f->tactic = jstr(m, "tactic");
	f->technique = jstr(m, "technique");
	f->stage = incident_tactic_stage(f->tactic);
	f->summary_of = jstr(a, "summary_of");
	f->proc = json_is_object(json_object_get(a, "process")) ? json_object_get(a, "process") : NULL;
	f->parents = json_is_array(json_object_get(a, "parents")) ? json_object_get(a, "parents") : NULL;
	f->cont = json_is_object(json_object_get(a, "container")) ? json_object_get(a, "container") : NULL;
	f->pid = json_integer_value(json_object_get(f->proc, "pid"));
	f->exe = jstr(f->proc, "exe");
	f->user = jstr(f->proc, "user");
	f->uid = (v = json_object_get(f->proc, "uid")) && json_is_integer(v) ? json_integer_value(v) : -1;
	f->auid = (v = json_object_get(f->proc, "loginuid")) && json_is_integer(v) ? json_integer_value(v) : -1;
	f->cid = jstr(f->cont, "id");
	if (f->cid && !*f->cid)
		f->cid = NULL;
}

#define KEYS_MAX 6

struct keys {
	char k[KEYS_MAX][KEY_LEN];
	const char *why[KEYS_MAX];
	int64_t inc[KEYS_MAX], first[KEYS_MAX], last[KEYS_MAX], used[KEYS_MAX];   /* the stored key, when looked up */
	int n;
};

static void key_add(struct keys *ks, const char *why, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void key_add(struct keys *ks, const char *why, const char *fmt, ...)
{
	va_list ap;

	if (ks->n >= KEYS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(ks->k[ks->n], KEY_LEN, fmt, ap);
	va_end(ap);
	ks->why[ks->n++] = why;
}

/* Correlation keys in priority order: lineage (self, parent, grandparent), container, user. */
static void keys_get(const struct facts *f, struct keys *ks)
{
	memset(ks, 0, sizeof(*ks));
	if (f->proc && f->pid > 0 && !lineage_root(f->pid, f->exe))
		key_add(ks, "lineage", "p:%lld:%s", (long long)f->pid, f->exe ? f->exe : "");
	for (size_t i = 0; i < 2 && i < json_array_size(f->parents); i++) {
		const json_t *p = json_array_get(f->parents, i);
		json_int_t pid = json_integer_value(json_object_get(p, "pid"));
		const char *exe = jstr(p, "exe");
		if (pid <= 0 || lineage_root(pid, exe))
			break;      /* above a service manager everything is unrelated */
		key_add(ks, "lineage", "p:%lld:%s", (long long)pid, exe ? exe : "");
	}
	if (f->cid)
		key_add(ks, "container", "c:%s", f->cid);
	/* root is shared by every daemon: only a login session's user, or a regular user, correlates */
	json_int_t u = f->auid >= 0 && f->auid != 4294967295ll ? f->auid : f->uid;
	if (u > 0)
		key_add(ks, "user", "u:%lld", (long long)u);
}

/* ------------------------------------------------------------------ incident state */

static void stages_parse(const char *s, int64_t st[][2])
{
	memset(st, 0, sizeof(int64_t) * 2 * (NSTAGES + 1));
	for (int i = 1; s && *s && i <= NSTAGES; i++) {
		char *end;
		st[i][0] = strtoll(s, &end, 10);
		if (*end != ',')
			break;
		st[i][1] = strtoll(end + 1, &end, 10);
		if (*end != ';')
			break;
		s = end + 1;
	}
}

static void stages_format(int64_t st[][2], char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 1; i <= NSTAGES && o < len; i++)
		o += snprintf(buf + o, len - o, "%lld,%lld;", (long long)st[i][0], (long long)st[i][1]);
}

static int nstages(int64_t st[][2])
{
	int n = 0;

	for (int i = 1; i <= NSTAGES; i++)
		n += st[i][0] != 0;
	return n;
}

/* An alert of stage s at time t advances the incident along the kill chain: a new
 * tactic, every earlier alert of a lower stage, every later one of a higher stage. */
static bool chain_fits(int64_t st[][2], int s, int64_t t)
{
	if (s < 1 || st[s][0] || !nstages(st))
		return false;
	for (int i = 1; i <= NSTAGES; i++) {
		if (!st[i][0])
			continue;
		if (i < s && st[i][1] > t)
			return false;
		if (i > s && st[i][0] < t)
			return false;
	}
	return true;
}

static void inc_free(struct inc *in)
{
	free(in->base_title);
	free(in->techniques);
	free(in->products);
	memset(in, 0, sizeof(*in));
}

static char *col_dup(sqlite3_stmt *st, int col, const char *def)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	return strdup(t ? t : def);
}

static int inc_load(struct incident_batch *b, int64_t id, struct inc *in)
{
	sqlite3_stmt *st = stmt(b, S_INC_GET);

	memset(in, 0, sizeof(*in));
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		return -EIO;
	in->id = id;
	in->first = sqlite3_column_int64(st, 0);
	in->last = sqlite3_column_int64(st, 1);
	in->alert_sev = sqlite3_column_int(st, 2);
	in->sev = sqlite3_column_int(st, 3);
	in->sev_set = sqlite3_column_int(st, 4);
	stages_parse((const char *)sqlite3_column_text(st, 5), in->st);
	in->base_title = col_dup(st, 6, "");
	in->nalerts = sqlite3_column_int(st, 7);
	in->nent = sqlite3_column_int(st, 8);
	in->nedge = sqlite3_column_int(st, 9);
	in->dropped = sqlite3_column_int(st, 10);
	in->techniques = col_dup(st, 11, "[]");
	in->products = col_dup(st, 12, "[]");
	sqlite3_reset(st);
	if (!in->base_title || !in->techniques || !in->products) {
		inc_free(in);
		return -ENOMEM;
	}
	return 0;
}

/* The incident from the batch's cache, loaded on a miss (evicting round robin). */
static struct inc *inc_get(struct incident_batch *b, int64_t id)
{
	struct inc *in;

	for (unsigned i = 0; i < b->ncache; i++)
		if (b->cache[i].id == id)
			return &b->cache[i];
	if (b->ncache < INC_CACHE) {
		in = &b->cache[b->ncache++];
	} else {
		in = &b->cache[b->next++ % INC_CACHE];
		inc_free(in);
	}
	if (inc_load(b, id, in)) {
		in->id = 0;
		return NULL;
	}
	return in;
}

static void title_make(struct inc *in, const char *host, char *buf, size_t len)
{
	size_t o;

	if (nstages(in->st) < 2) {
		snprintf(buf, len, "%s", in->base_title);
		return;
	}
	o = snprintf(buf, len, "Multi-stage attack on %s:", host);
	for (int i = 1, k = 0; i <= NSTAGES && o < len; i++)
		if (in->st[i][0])
			o += snprintf(buf + o, len - o, "%s %s", k++ ? " ->" : "", stages[i].name);
}

static int inc_save(struct incident_batch *b, const char *host, struct inc *in)
{
	sqlite3_stmt *st = stmt(b, S_INC_PUT);
	char sbuf[NSTAGES * 48 + 1], title[1024];
	int r, sev = in->alert_sev + (nstages(in->st) >= 2 ? 1 : 0);

	if (!in->sev_set)
		in->sev = sev > INCIDENT_SEV_CRITICAL ? INCIDENT_SEV_CRITICAL : sev;
	stages_format(in->st, sbuf, sizeof(sbuf));
	title_make(in, host, title, sizeof(title));
	sqlite3_bind_int64(st, 1, in->id);
	sqlite3_bind_int64(st, 2, in->first);
	sqlite3_bind_int64(st, 3, in->last);
	sqlite3_bind_int(st, 4, in->alert_sev);
	sqlite3_bind_int(st, 5, in->sev);
	sqlite3_bind_text(st, 6, sbuf, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, in->base_title, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, title, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 9, in->nalerts);
	sqlite3_bind_int(st, 10, in->nent);
	sqlite3_bind_int(st, 11, in->nedge);
	sqlite3_bind_int(st, 12, in->dropped);
	sqlite3_bind_text(st, 13, in->techniques, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 14, in->products, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 15, b->now);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_reset(st);
	return r;
}

/* The product (vigil component) that raised an alert, from its rule id. */
static const char *product_of(const char *rule)
{
	if (!rule)
		return "vigil";
	if (!strncmp(rule, "aac_", 4))
		return "vigil application control";
	if (!strncmp(rule, "fim_", 4))
		return "vigil file integrity";
	if (!strncmp(rule, "jit_", 4))
		return "vigil just-in-time access";
	return "vigil runtime detections";
}

/* Adds s to *arr, the compact JSON text of an array of strings, unless present
 * or the text would pass max bytes (no parsing: this runs for every alert). */
static int set_add(char **arr, const char *s, size_t max)
{
	json_t *v;
	char *q, *n;
	size_t la = strlen(*arr), lq;
	const char *p;

	if (!s || !*s)
		return 0;
	if (!(v = json_string(s)))
		return 0;                 /* not UTF-8: not listed */
	q = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(v);
	if (!q)
		return -ENOMEM;
	lq = strlen(q);
	for (p = *arr; (p = strstr(p, q)); p++)
		if ((p[-1] == '[' || p[-1] == ',') && (p[lq] == ',' || p[lq] == ']')) {
			free(q);
			return 0;
		}
	if (la < 2 || la + lq + 1 > max || !(n = malloc(la + lq + 2))) {
		free(q);
		return la + lq + 1 > max ? 0 : -ENOMEM;
	}
	/* "[...]" -> "[...,q]" */
	memcpy(n, *arr, la - 1);
	snprintf(n + la - 1, lq + 3, "%s%s]", la > 2 ? "," : "", q);
	free(q);
	free(*arr);
	*arr = n;
	return 0;
}

/* ------------------------------------------------------------------ entities */


/* Refreshes entity type:eid of the incident: 0 done, 1 when it is new and must be
 * inserted (ent_insert), -EIO.  An entity counts once per alert. */
static int ent_touch(struct ent_ctx *e, const char *type, const char *eid)
{
	sqlite3_stmt *st;
	char node[KEY_LEN];

	snprintf(node, sizeof(node), "%s:%s", type, eid);
	for (int i = 0; i < e->nseen; i++)
		if (!strcmp(e->seen[i], node))
			return 0;
	if (e->nseen < SEEN_MAX)
		snprintf(e->seen[e->nseen++], KEY_LEN, "%s", node);
	st = stmt(e->b, S_ENT_UPD);
	sqlite3_bind_int64(st, 1, e->in->id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, eid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, e->t);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	if (sqlite3_changes(e->b->h))
		return 0;
	if (e->in->nent >= INCIDENT_ENTITIES_MAX) {
		e->in->dropped++;
		return 0;
	}
	return 1;
}

/* Inserts a new entity with its properties (props stolen). */
static int ent_insert(struct ent_ctx *e, const char *type, const char *eid, json_t *props)
{
	char *pj = json_dumps(props ? props : json_object(), JSON_COMPACT);
	sqlite3_stmt *st = stmt(e->b, S_ENT_INS);
	int r;

	json_decref(props);
	sqlite3_bind_int64(st, 1, e->in->id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, eid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, e->t);
	sqlite3_bind_text(st, 5, pj ? pj : "{}", -1, SQLITE_TRANSIENT);
	free(pj);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	if (!r)
		e->in->nent++;
	return r;
}

/* The entity's properties are built only when it is new. */
#define entity(e, type, eid, PROPS) ({ int _r = ent_touch(e, type, eid); \
	_r == 1 ? ent_insert(e, type, eid, PROPS) : _r; })

static int edge(struct ent_ctx *e, const char *st1, const char *s1, const char *rel, const char *st2, const char *s2)
{
	char a[KEY_LEN], z[KEY_LEN];
	sqlite3_stmt *st;

	snprintf(a, sizeof(a), "%s:%s", st1, s1);
	snprintf(z, sizeof(z), "%s:%s", st2, s2);
	st = stmt(e->b, S_EDGE_UPD);
	sqlite3_bind_int64(st, 1, e->in->id);
	sqlite3_bind_text(st, 2, a, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, rel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, z, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	if (sqlite3_changes(e->b->h))
		return 0;
	if (e->in->nedge >= INCIDENT_EDGES_MAX) {
		e->in->dropped++;
		return 0;
	}
	st = stmt(e->b, S_EDGE_INS);
	sqlite3_bind_int64(st, 1, e->in->id);
	sqlite3_bind_text(st, 2, a, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, rel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, z, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, e->alert_id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -EIO;
	e->in->nedge++;
	return 0;
}

static void pid_eid(json_int_t pid, const char *exe, char *buf, size_t len)
{
	snprintf(buf, len, "%lld:%s", (long long)pid, exe ? exe : "?");
}

static json_t *copy_fields(const json_t *src, const char *const *keys)
{
	json_t *o = json_object();

	for (; *keys; keys++) {
		json_t *v = json_object_get(src, *keys);
		if (v && !json_is_null(v))
			json_object_set(o, *keys, v);
	}
	return o;
}

/* The address entity of a {"remote": {"address", "port"}} member. */
static int address(struct ent_ctx *e, const char *pnode, const json_t *o, const char *rel)
{
	const json_t *rem = json_object_get(o, "remote");
	const char *addr = jstr(rem, "address");
	int r;

	if (!addr || !*addr)
		return 0;
	r = entity(e, "address", addr, json_pack("{s:s}", "address", addr));
	if (!r && pnode)
		r = edge(e, "process", pnode, rel, "address", addr);
	return r;
}

static int entities_add(struct ent_ctx *e, const char *host, const json_t *a, const struct facts *f)
{
	static const char *const pkeys[] = { "pid", "ppid", "exe", "cmdline", "args", "user", "uid", "loginuid", "sha256",
					     "cwd", "start_time", NULL };
	static const char *const ckeys[] = { "id", "runtime", "pod", "namespace", "pod_uid", "name", "image", NULL };
	static const char *const parkeys[] = { "pid", "exe", "arg0", NULL };
	char pnode[KEY_LEN], child[KEY_LEN], unode[128];
	const char *p = NULL;
	const json_t *fl;
	int r;

	if ((r = entity(e, "host", host, json_pack("{s:s}", "name", host))))
		return r;
	if (f->cid) {
		if ((r = entity(e, "container", f->cid, copy_fields(f->cont, ckeys))) ||
		    (r = edge(e, "container", f->cid, "runs_on", "host", host)))
			return r;
	}
	if (f->proc && f->pid > 0) {
		pid_eid(f->pid, f->exe, pnode, sizeof(pnode));
		p = pnode;
		if ((r = entity(e, "process", pnode, copy_fields(f->proc, pkeys))))
			return r;
		r = f->cid ? edge(e, "process", pnode, "in_container", "container", f->cid)
			   : edge(e, "process", pnode, "runs_on", "host", host);
		if (r)
			return r;
		if (f->exe && *f->exe &&
		    ((r = entity(e, "file", f->exe, f->proc && jstr(f->proc, "sha256")
				 ? json_pack("{s:s, s:s}", "path", f->exe, "sha256", jstr(f->proc, "sha256"))
				 : json_pack("{s:s}", "path", f->exe))) ||
		     (r = edge(e, "process", pnode, "image", "file", f->exe))))
			return r;
		if (f->user || f->uid >= 0) {
			if (f->user)
				snprintf(unode, sizeof(unode), "%s", f->user);
			else
				snprintf(unode, sizeof(unode), "uid %lld", (long long)f->uid);
			if ((r = entity(e, "user", unode, f->user ? json_pack("{s:s, s:I}", "name", f->user, "uid", f->uid)
							   : json_pack("{s:I}", "uid", f->uid))) ||
			    (r = edge(e, "process", pnode, "runs_as", "user", unode)))
				return r;
		}
		/* lineage: parent and grandparent */
		snprintf(child, sizeof(child), "%s", pnode);
		for (size_t i = 0; i < 2 && i < json_array_size(f->parents); i++) {
			const json_t *pp = json_array_get(f->parents, i);
			json_int_t ppid = json_integer_value(json_object_get(pp, "pid"));
			char pn[KEY_LEN];
			if (ppid <= 0)
				break;
			pid_eid(ppid, jstr(pp, "exe"), pn, sizeof(pn));
			if ((r = entity(e, "process", pn, copy_fields(pp, parkeys))) ||
			    (r = edge(e, "process", child, "child_of", "process", pn)))
				return r;
			snprintf(child, sizeof(child), "%s", pn);
		}
	}
	/* files the alert is about */
	if ((fl = json_object_get(a, "file")) && json_is_object(fl)) {
		const char *path = jstr(fl, "path"), *path2 = jstr(fl, "path2"), *op = jstr(fl, "op");
		if (path && *path) {
			if ((r = entity(e, "file", path, json_pack("{s:s}", "path", path))))
				return r;
			if (p && (r = edge(e, "process", p, op && *op ? op : "accessed", "file", path)))
				return r;
		}
		if (path2 && *path2) {
			if ((r = entity(e, "file", path2, json_pack("{s:s}", "path", path2))))
				return r;
			if (path && *path && (r = edge(e, "file", path, "renamed_to", "file", path2)))
				return r;
		}
	}
	if ((fl = json_object_get(a, "module")) && jstr(fl, "path") && *jstr(fl, "path")) {
		if ((r = entity(e, "file", jstr(fl, "path"), json_pack("{s:s}", "path", jstr(fl, "path")))) ||
		    (p && (r = edge(e, "process", p, "loaded_module", "file", jstr(fl, "path")))))
			return r;
	}
	/* addresses */
	if ((r = address(e, p, json_object_get(a, "network"), "connected_to")) ||
	    (r = address(e, p, json_object_get(a, "stdio"), "stdio_socket")))
		return r;
	return 0;
}

/* ------------------------------------------------------------------ correlation */

static int activity(struct incident_batch *b, int64_t id, int64_t t, const char *actor, const char *kind,
		    const char *detail)
{
	sqlite3_stmt *st = stmt(b, S_ACT);

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, t);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	bind_str(st, 5, detail);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
}

/* The open incident a key points to, when t is within the window of its use. */
static int64_t by_key(struct incident_batch *b, const char *host, struct keys *ks, int i, int64_t t, int64_t *last)
{
	sqlite3_stmt *st = stmt(b, S_KEY_GET);
	int64_t id = 0;

	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, ks->k[i], -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t f = sqlite3_column_int64(st, 1), l = sqlite3_column_int64(st, 2);
		ks->inc[i] = sqlite3_column_int64(st, 0);
		ks->first[i] = f;
		ks->last[i] = l;
		ks->used[i] = sqlite3_column_int64(st, 4);
		if (t >= f - INCIDENT_WINDOW_NS && t <= l + INCIDENT_WINDOW_NS) {
			id = sqlite3_column_int64(st, 0);
			*last = sqlite3_column_int64(st, 3);
		}
	}
	sqlite3_reset(st);
	return id;
}

static int64_t by_chain(struct incident_batch *b, const char *host, const char *scope, int stage, int64_t t)
{
	sqlite3_stmt *st = stmt(b, S_CHAIN);
	int64_t id = 0, sts[NSTAGES + 1][2];

	if (stage < 1)
		return 0;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, t - INCIDENT_CHAIN_WINDOW_NS);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *sc = (const char *)sqlite3_column_text(st, 4);
		if (sqlite3_column_int64(st, 1) > t + INCIDENT_CHAIN_WINDOW_NS || strcmp(sc ? sc : "", scope))
			continue;
		stages_parse((const char *)sqlite3_column_text(st, 3), sts);
		if (chain_fits(sts, stage, t)) {
			id = sqlite3_column_int64(st, 0);   /* the most recently active that fits */
			break;
		}
	}
	sqlite3_reset(st);
	return id;
}

int64_t scored_incidents_add(struct incident_batch *b, const char *host, const json_t *alert, int64_t t)
{
	struct facts f;
	struct keys ks;
	struct inc *in;
	struct ent_ctx *e = b->ent;
	sqlite3_stmt *st;
	const char *why = NULL;
	int64_t id = 0;
	int r = -EIO;

	facts_get(alert, &f);
	if (!f.id)
		return -EINVAL;
	st = stmt(b, S_SEEN);
	sqlite3_bind_text(st, 1, f.id, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st);
	sqlite3_reset(st);
	if (r == SQLITE_ROW)
		return 0;         /* redelivered: already part of an incident */
	if (r != SQLITE_DONE)
		return -EIO;
	keys_get(&f, &ks);
	/* a de-duplication summary belongs with the alert it summarises */
	if (f.summary_of) {
		st = stmt(b, S_BY_ALERT);
		sqlite3_bind_text(st, 1, f.summary_of, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			why = "summary";
		}
		sqlite3_reset(st);
	}
	/* first matching key by priority; within one kind, the most recently active incident */
	for (int i = 0; !id && i < ks.n;) {
		const char *kind = ks.why[i];
		int64_t cand = 0, best_last = 0;
		for (; i < ks.n && !strcmp(ks.why[i], kind); i++) {
			int64_t l = 0, x = by_key(b, host, &ks, i, t, &l);
			if (x && (!cand || l > best_last)) {
				cand = x;
				best_last = l;
			}
		}
		if (cand) {
			id = cand;
			why = kind;
		}
	}
	if (!id && (id = by_chain(b, host, f.cid ? f.cid : "", f.stage, t)))
		why = "kill_chain";
	if (!id) {
		st = stmt(b, S_INC_NEW);
		sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, f.cid ? f.cid : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, f.title && *f.title ? f.title : f.rule ? f.rule : "alert", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 4, f.sev);
		sqlite3_bind_int64(st, 5, b->now);
		sqlite3_bind_int64(st, 6, t);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -EIO;
		id = sqlite3_last_insert_rowid(b->h);
		why = "created";
		if (activity(b, id, b->now, "vigil-scored", "created", f.id))
			return -EIO;
	}
	if (!(in = inc_get(b, id)))
		return -EIO;
	r = -EIO;
	/* the incident's state with this alert */
	if (t < in->first || !in->nalerts) {
		if (in->nalerts && f.title && *f.title) {
			free(in->base_title);
			in->base_title = strdup(f.title);
			if (!in->base_title)
				goto out;
		}
		in->first = t;
	}
	if (t > in->last || !in->nalerts)
		in->last = t;
	in->nalerts++;
	if (f.sev > in->alert_sev)
		in->alert_sev = f.sev;
	if (f.stage) {
		if (!in->st[f.stage][0] || t < in->st[f.stage][0])
			in->st[f.stage][0] = t;
		if (t > in->st[f.stage][1])
			in->st[f.stage][1] = t;
	}
	if (set_add(&in->techniques, f.technique, 2048) || set_add(&in->products, product_of(f.rule), 1024))
		goto out;
	st = stmt(b, S_ALERT_ADD);
	sqlite3_bind_text(st, 1, f.id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, t);
	sqlite3_bind_int(st, 4, f.stage);
	sqlite3_bind_text(st, 5, why, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	/* the keys now lead to this incident */
	for (int i = 0; i < ks.n; i++) {
		/* already leading here over this time, and marked used recently: nothing to write */
		if (ks.inc[i] == id && ks.first[i] <= t && t <= ks.last[i] && b->now - ks.used[i] < 60ll * 1000000000ll)
			continue;
		st = stmt(b, S_KEY_PUT);
		sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, ks.k[i], -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, id);
		sqlite3_bind_int64(st, 4, t);
		sqlite3_bind_int64(st, 5, b->now);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto out;
	}
	e->b = b;
	e->in = in;
	e->alert_id = f.id;
	e->t = t;
	e->nseen = 0;
	if (entities_add(e, host, alert, &f) || inc_save(b, host, in))
		goto out;
	r = 0;
out:
	return r ? r : id;
}
