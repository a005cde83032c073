/*
 * Policy: one JSON document, parsed strictly (jansson, duplicate keys
 * rejected; unknown keys, wrong types and bad values are errors reported as
 * "file:line:column: message").  A policy is loaded whole or not at all.
 *
 * Each feature owns one top-level section and its parser (policy_parse_*);
 * policy.c knows the section names and the positions.
 */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum vigil_severity {
	VIGIL_SEV_INFORMATIONAL = 0,
	VIGIL_SEV_LOW = 1,
	VIGIL_SEV_MEDIUM = 2,
	VIGIL_SEV_HIGH = 3,
};
/* "informational" | "low" | "medium" | "high"; -EINVAL otherwise. */
int severity_parse(const char *s);
const char *severity_name(int sev);

struct policy_strv {
	char **v;
	size_t n;
};

/* Feature sections, each owned by one module (see policy_sections.c). */
enum policy_feature {
	POLICY_AAC,
	POLICY_JIT,
	POLICY_FIM,
	POLICY_DETECTIONS,
	POLICY_FORWARD,
	POLICY_SELFPROT,
	POLICY_FEATURE_MAX,
};

struct vigil_policy {
	char *source;                 /* file name the policy came from (owned) */
	char *host_name;              /* "host.name": override for the host field; NULL = uname */

	/* "sensors": which kernel sensors are attached */
	bool sensor_exec, sensor_file, sensor_network;
	/* "file": prefixes the file sensor reports (filtered in the kernel) */
	struct policy_strv file_watch;
	/* "telemetry": which events go to events.jsonl */
	bool tel_exec, tel_fork_exit, tel_file, tel_network;

	/* "output": alert/event log rotation */
	uint64_t out_max_bytes;
	int out_keep;
	bool out_compress;

	/* "control": group allowed on the control socket besides root (NULL = root only) */
	char *control_group;

	/* "rules.exec_world_writable" */
	bool rule_ww_enabled;
	int rule_ww_severity;
	struct policy_strv rule_ww_dirs;

	/* Feature sections ("aac", "jit", "fim", "detections", "forward"), parsed by
	 * their modules' parsers (policy_sections[]), indexed by enum policy_feature. */
	void *feature[POLICY_FEATURE_MAX];

	/* The parsed document (owned). */
	json_t *doc;
};

/*
 * Loads and validates path.  On success *out is a new policy (policy_free).
 * On failure returns -EINVAL (bad content), -errno (I/O) and writes one line
 * "file:line:column: message" (or "file: message" for I/O) to err.
 */
int policy_load(const char *path, struct vigil_policy **out, char *err, size_t errlen);
/* Same from a string; name is used in messages. */
int policy_load_string(const char *text, const char *name, struct vigil_policy **out,
		       char *err, size_t errlen);
/* NULL is a no-op. */
void policy_free(struct vigil_policy *p);

/* Locates the JSON pointer-like path (e.g. "/sensors/exec") in text; fills 1-based
 * line and column of the key (or of the value for array items).  0 or -ENOENT. */
int policy_locate(const char *text, const char *jpath, int *line, int *col);

/*
 * Helpers for section parsers (policy.c and the feature modules' policy_parse_*),
 * so that every section reports errors the same way.  A jpath is a JSON pointer
 * (RFC 6901: "/file/watch/3", "~1" for '/' and "~0" for '~' in keys); "" is the
 * document itself.
 */
struct policy_ctx {
	const char *text;             /* source text, for positions; NULL = no positions */
	const char *name;             /* file name used in messages */
	char *err;                    /* where the message goes (may be NULL) */
	size_t errlen;
};

/* Formats "name:line:column: jpath: message" into c->err, the position being
 * that of jpath in c->text (policy_locate); "name: jpath: message" when it
 * cannot be located.  Always returns -EINVAL, so parsers can `return policy_fail(...)`. */
int policy_fail(const struct policy_ctx *c, const char *jpath, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes parent + "/" + key (escaped per RFC 6901) or parent + "/" + index into
 * buf; 0 or -ENAMETOOLONG. */
int policy_jpath_key(char *buf, size_t len, const char *parent, const char *key);
int policy_jpath_index(char *buf, size_t len, const char *parent, size_t index);

/* Checks that v (at jpath) is an object whose keys are all in allowed (NULL-
 * terminated); 0 or -EINVAL with the first offending key reported. */
int policy_check_object(const struct policy_ctx *c, const char *jpath, const json_t *v,
			const char *const allowed[]);

/*
 * Typed getters for obj[key], obj being the object at jpath.  An absent key
 * leaves *out unchanged (callers pre-fill defaults) and returns 0; a present
 * key of the wrong type or with a bad value returns -EINVAL (policy_fail).
 */
int policy_get_bool(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		    const char *key, bool *out);
/* Integer in [min, max]; reals are rejected. */
int policy_get_int(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		   const char *key, json_int_t min, json_int_t max, json_int_t *out);
/* "informational" | "low" | "medium" | "high" -> enum vigil_severity. */
int policy_get_severity(const struct policy_ctx *c, const char *jpath, const json_t *obj,
			const char *key, int *out);

#define POLICY_STR_NULLABLE 0x1           /* JSON null is accepted and gives NULL */
#define POLICY_STR_ABSPATH  0x2           /* normalised absolute path (see policy.c) */
/* Non-empty string of fewer than maxlen bytes; *out is replaced by a new copy
 * (the old value is freed; caller frees the new one).  -ENOMEM on allocation failure. */
int policy_get_string(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		      const char *key, unsigned flags, size_t maxlen, char **out);
/* Array of at most max distinct absolute paths, each shorter than maxlen bytes;
 * trailing '/' is dropped.  *out is replaced (old entries freed). */
int policy_get_paths(const struct policy_ctx *c, const char *jpath, const json_t *obj,
		     const char *key, size_t max, size_t maxlen, struct policy_strv *out);
/* Frees the strings and the vector, leaves sv empty; NULL is a no-op. */
void policy_strv_free(struct policy_strv *sv);

/*
 * A feature section parser.  parse() validates v (the section object at jpath,
 * or NULL when the section is absent: defaults apply) and returns the feature's
 * own config in *out (a new allocation freed with free_fn), or -EINVAL through
 * policy_fail().  Parsers run inside policy_load(), so a bad section rejects
 * the whole policy with a file:line:column message.
 */
struct policy_section {
	const char *name;                  /* top-level key */
	enum policy_feature id;
	int (*parse)(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
	void (*free_fn)(void *cfg);
};
/* Registered parsers (policy_sections.c), ending with {NULL}. */
extern const struct policy_section policy_sections[];

#endif
