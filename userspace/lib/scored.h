/*
 * vigil-scored, the scoring service: storage (SQLite, WAL) and the HTTP/JSON
 * API, independent of the HTTP server so tests drive the handlers directly.
 * userspace/scored/main.c only binds libmicrohttpd to scored_handle().
 *
 * Extending the service (e.g. incidents): add a migration at the end of
 * scored_migrations[] (scored_db.c; never edit an applied one) and rows to
 * scored_routes[] (scored_api.c) with handlers that use scored_db_handle().
 */
#ifndef VIGIL_SCORED_H
#define VIGIL_SCORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct sqlite3;

/* ---- storage (scored_db.c) ---- */

struct scored_migration {
	int version;             /* 1, 2, ...: applied in order, each in one transaction */
	const char *sql;
};
/* Ends with {0, NULL}. */
extern const struct scored_migration scored_migrations[];

struct scored_db;

/* Opens (creating) path, sets WAL and applies the pending migrations.  ":memory:"
 * works for tests.  0 or -errno with a reason in err. */
int scored_db_open(const char *path, struct scored_db **out, char *err, size_t errlen);
/* NULL is a no-op. */
void scored_db_close(struct scored_db *db);
/* The schema version (last applied migration). */
int scored_db_version(struct scored_db *db);
/* The SQLite handle, for handlers (callers hold the service lock). */
struct sqlite3 *scored_db_handle(struct scored_db *db);

/* Token roles (bit mask in routes). */
enum scored_role {
	SCORED_ROLE_AGENT = 1,       /* a host: posts its posture and alerts, picks up JIT requests */
	SCORED_ROLE_READER = 2,      /* reads scores, recommendations, alerts, inventory */
	SCORED_ROLE_OPERATOR = 4,    /* reader + places JIT requests */
};
/* "agent" | "reader" | "operator"; -EINVAL otherwise. */
int scored_role_parse(const char *s);
const char *scored_role_name(int role);

/* Creates a token for name (a host name for agents) and writes it (64 hex digits)
 * to token[65]; only its SHA-256 is stored.  0 or -errno. */
int scored_token_add(struct scored_db *db, const char *name, int role, char token[65]);
/* Removes every token of name; 0 or -ENOENT. */
int scored_token_revoke(struct scored_db *db, const char *name);
/* [{name, role, created}] (new reference), NULL on error. */
json_t *scored_token_list(struct scored_db *db);
/* Looks a bearer token up: 0 with name and role, or -EACCES. */
int scored_token_check(struct scored_db *db, const char *token, char *name, size_t len, int *role);

/* ---- service (scored_api.c) ---- */

#define SCORED_BODY_MAX    (8u << 20)   /* bytes: larger requests get 413 */
#define SCORED_BATCH_MAX   10000        /* alerts per request */
#define SCORED_RECS_MAX    1000         /* recommendations per posture snapshot */
#define SCORED_WORKLOADS_MAX 4096       /* workloads (containers) per posture snapshot */

struct scored;

/* A service on db (borrowed; the caller closes it after scored_free). NULL on ENOMEM. */
struct scored *scored_new(struct scored_db *db);
void scored_free(struct scored *s);

struct scored_arg {
	const char *key, *value;
};

struct scored_req {
	const char *method;               /* "GET", "POST", ... */
	const char *path;                 /* without the query string */
	const struct scored_arg *args;    /* decoded query arguments */
	size_t nargs;
	const char *authorization;        /* the Authorization header or NULL */
	const char *body;                 /* may be NULL */
	size_t body_len;
};

struct scored_resp {
	int status;                       /* HTTP status */
	json_t *body;                     /* new reference: the JSON reply ({"error": ...} on 4xx/5xx) */
	char *text;                       /* or a malloc'd non-JSON reply (the caller frees; GET /metrics) */
	const char *content_type;         /* static; set with text */
};

/* Serves one request (thread-safe: handlers run under the service lock). */
void scored_handle(struct scored *s, const struct scored_req *rq, struct scored_resp *rs);

/* A handler's view of a request: params are the {placeholders} of the route. */
struct scored_ctx {
	struct scored *s;
	struct scored_db *db;
	const struct scored_req *rq;
	const char *principal;            /* token name (the host for agents) */
	int role;
	char params[4][256];
	size_t nparams;
	json_t *body;                     /* parsed JSON body (routes with json_body) */
};

struct scored_route {
	const char *method;
	const char *pattern;              /* "/api/v1/jit/{id}/result" */
	int roles;                        /* SCORED_ROLE_* allowed; 0 = no authentication */
	bool json_body;                   /* the body must be a JSON object */
	int (*fn)(struct scored_ctx *c, struct scored_resp *rs);  /* fills rs; returns rs->status */
};
/* The API, ending with {NULL}. */
extern const struct scored_route scored_routes[];

/* Helpers for handlers. */
int scored_error(struct scored_resp *rs, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int scored_reply(struct scored_resp *rs, int status, json_t *body);   /* steals body */
/* The query argument key or NULL. */
const char *scored_arg(const struct scored_ctx *c, const char *key);

/* Fleet secure score (or one host's when host is non-NULL): {"score": {...},
 * "controls": [...]}.  New reference, NULL on a database error. */
json_t *scored_fleet_score(struct scored_db *db, const char *host);

/* RFC 3339 ("2026-12-06T09:10:11.123456Z", offsets allowed) to ns since the epoch.
 * 0 or -EINVAL. */
int scored_parse_time(const char *s, int64_t *ns);

#endif
