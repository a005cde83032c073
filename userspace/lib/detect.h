/*
 * Detections: declarative rules (policies/rules/NAME.json) evaluated on enriched
 * events, mapped to MITRE ATT&CK.
 *
 * A rule file holds {"rules": [rule, ...]}.  A rule:
 *   {"id": "reverse_shell", "title": "...", "description": "...",
 *    "severity": "high", "enabled": true,
 *    "mitre": {"tactic": "TA0002", "tactic_name": "Execution",
 *              "technique": "T1059.004", "technique_name": "..."},
 *    "event": "exec",                         one of detect_kind_name()
 *    "condition": COND,                       must hold
 *    "exceptions": [COND, ...],               any of them holding suppresses
 *    "dedup": ["process.exe", ...],           key fields (default process.exe, container.id)
 *    "remediation": "..."}
 * or, instead of event/condition, a sequence:
 *    "sequence": {"by": "lineage" | "process" | "container", "window_s": 60,
 *                 "steps": [{"event": "file", "condition": COND,
 *                            "capture": {"f": "file.target"},
 *                            "same": {"process.exe": "f"}}, ...]}
 * COND is {"all": [COND...]}, {"any": [COND...]}, {"not": COND} or a leaf
 * {"field": "process.name", OP: VALUE} with OP one of equals, in, prefix,
 * suffix, contains, glob (fnmatch(3), FNM_PATHNAME off), gt, ge, lt, le,
 * bits_any, bits_all (integers), exists (boolean).  String values may use
 * ${vigil.log_dir}, ${vigil.state_dir}, ${vigil.policy}, ${vigil.pin_dir},
 * ${vigil.exe}: bound when the engine starts.
 */
#ifndef VIGIL_DETECT_H
#define VIGIL_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "policy.h"
#include "proctab.h"
#include "vigil_events.h"

/* Event kinds a rule can name (append-only). */
enum detect_kind {
	DK_EXEC,          /* process sensor */
	DK_FILE,          /* file sensor (watched roots) */
	DK_NETWORK,       /* network sensor */
	DK_PTRACE,        /* detect.bpf.c from here on */
	DK_MODULE,
	DK_SETNS,
	DK_UNSHARE,
	DK_SIGNAL,
	DK_FILE_READ,
	DK_EXEC_STDIO,
	DK_MAX,
};
const char *detect_kind_name(unsigned k);

/* Binding of the ${vigil.*} variables (any may be NULL: "" is used). */
struct detect_env {
	const char *log_dir, *state_dir, *policy, *pin_dir, *exe;
	uint32_t host_ns[VIGIL_NS_MAX];   /* inodes of pid 1's namespaces, 0 = unknown */
	uint32_t self_tgid;               /* vigild */
};

/* One event as the rules see it.  The engine fills what the kind has; every
 * pointer may be NULL.  Fields are computed from it on demand. */
struct detect_event {
	enum detect_kind kind;
	uint64_t ts_ns;                   /* CLOCK_BOOTTIME */
	const struct vigil_hdr *h;
	struct proc *p;                   /* actor */
	struct proctab *pt;               /* for parent/ancestors fields */
	const struct vigil_file *file;    /* DK_FILE */
	const char *path, *path2;         /* DK_FILE; DK_MODULE/DK_FILE_READ: path */
	const struct vigil_net *net;      /* DK_NETWORK */
	const struct vigil_det *det;      /* detect.bpf.c kinds */
	const struct detect_env *env;
	/* filled by the engine when known */
	int32_t target_uid;               /* ptrace/signal target's uid, -1 unknown */
	const char *target_exe;
	/* scratch of the evaluator (lazily built lists and strings) */
	char *scratch;
	size_t scratch_len, scratch_cap;
	int anc_off;                      /* offset of the ancestors list in scratch, -1 not built */
	size_t anc_len;
	int anc_name_off;
	size_t anc_name_len;
};

struct detect_ruleset;

/*
 * Parses and compiles the rule files (each a JSON document {"rules": [...]})
 * strictly: unknown keys, unknown fields, operators that do not fit a field's
 * type, fields the rule's event kind does not have and duplicate rule ids are
 * errors "file:line:column: jpath: message" in err.  disabled lists rule ids
 * to leave out (an id that no file defines is an error).  Returns 0 and a new
 * set in *out, or -EINVAL / -errno.
 */
int detect_ruleset_load(const char *const *files, size_t nfiles, const struct policy_strv *disabled,
			struct detect_ruleset **out, char *err, size_t errlen);
/* Compiles rules from one document (text, named name in messages).  Same contract. */
int detect_ruleset_load_string(const char *text, const char *name, struct detect_ruleset **out,
			       char *err, size_t errlen);
/* NULL is a no-op. */
void detect_ruleset_free(struct detect_ruleset *rs);
/* Substitutes ${vigil.*} in every string value.  0 or -ENOMEM. */
int detect_ruleset_bind(struct detect_ruleset *rs, const struct detect_env *env);

size_t detect_ruleset_size(const struct detect_ruleset *rs);       /* enabled rules */
/* Bit (1 << kind) for each event kind an enabled rule (or sequence step) uses. */
unsigned detect_ruleset_kinds(const struct detect_ruleset *rs);
/* Paths the file sensor must watch for the file rules (prefixes, equals and the literal
 * head of globs on file.path/file.path2/file.target at the top of each condition).
 * New strv in *out (caller frees with policy_strv_free).  0 or -ENOMEM. */
int detect_ruleset_watch(const struct detect_ruleset *rs, struct policy_strv *out);
/* Exact paths the file_read rules name (file.path equals/in): the kernel filters by
 * their inodes.  Same contract. */
int detect_ruleset_read_paths(const struct detect_ruleset *rs, struct policy_strv *out);

/* Evaluates one condition-only rule id on ev (tests): 1 match, 0 no match, -ENOENT. */
int detect_rule_eval(const struct detect_ruleset *rs, const char *id, struct detect_event *ev);

/* ---------- runtime: evaluation, sequences, de-duplication ---------- */

struct detect_state;

/* Called for each alert to write: a new alert object (rule, title, severity, mitre,
 * remediation, action, description, detection, dedup fields); the callback adds the
 * actor and writes it.  It must not keep al.  Returns 0 or -errno. */
typedef int (*detect_alert_fn)(void *ctx, json_t *al, const struct detect_event *ev);

struct detect_limits {
	uint64_t dedup_window_ns;         /* 0 = no de-duplication */
	size_t dedup_max;                 /* keys kept at most */
	size_t seq_max;                   /* partial sequences kept at most (all rules) */
};

/* New state for rs (not owned; must outlive the state or be replaced by
 * detect_state_reset).  NULL on ENOMEM. */
struct detect_state *detect_state_new(const struct detect_ruleset *rs, const struct detect_limits *lim,
				      detect_alert_fn fn, void *ctx);
/* Flushes pending dedup summaries through fn, then drops sequences and switches to rs. */
void detect_state_reset(struct detect_state *st, const struct detect_ruleset *rs,
			const struct detect_limits *lim);
/* Runs every rule of ev->kind; returns alerts produced (before dedup folding). */
int detect_state_event(struct detect_state *st, struct detect_event *ev);
/* Expires sequences and closes dedup windows older than now_ns (CLOCK_BOOTTIME). */
void detect_state_tick(struct detect_state *st, uint64_t now_ns);
/* Counters and sizes for vigil status.  New reference. */
json_t *detect_state_status(const struct detect_state *st);
/* Partial sequences held / bytes they use. */
size_t detect_state_partials(const struct detect_state *st);
size_t detect_state_seq_bytes(const struct detect_state *st);
/* Closes every open dedup window now (writing its summary); NULL is a no-op. */
void detect_state_flush(struct detect_state *st);
/* Flushes dedup summaries and frees; NULL is a no-op. */
void detect_state_free(struct detect_state *st);

/* Releases ev's scratch (the struct itself is the caller's). */
void detect_event_done(struct detect_event *ev);

/* ---------- policy section "detections" ---------- */

struct detect_config {
	bool enabled;
	char *rules_dir;                  /* resolved; NULL when rules lists files */
	bool rules_dir_missing;           /* default dir absent: no rules */
	struct policy_strv files;         /* the rule files loaded, in order */
	struct policy_strv disabled;
	uint64_t dedup_window_s;
	struct detect_ruleset *rules;     /* compiled (owned) */
};
int detect_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
void detect_config_free(void *cfg);

/* Appends to sv the roots the file sensor must watch for pol's detection rules (bound with
 * the variables of the engine eng, may be NULL), skipping those already present.  For the
 * agent's watch list.  0 or -ENOMEM. */
int detect_watch_roots(const struct vigil_policy *pol, void *eng, struct policy_strv *sv);

/* The engine (engines.c). */
struct engine;
extern const struct engine detect_engine;

#endif
