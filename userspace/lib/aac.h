/*
 * Adaptive application control (AAC): learns which executables a machine
 * runs, recommends an allowlist, and audits or blocks everything else.
 *
 * Pieces (one module each):
 *   aac_policy.c  the "aac" policy section (modes, rules, scope) and rule matching
 *   aac_dpkg.c    the dpkg database: which installed package owns a path, and its md5
 *   aac_learn.c   the bounded, persistent learning store and `recommend`
 *   aac_fan.c     the fanotify permission-event backend (decision threads, verdict cache)
 *   aac_lsm.c     the BPF object: BPF LSM backend probe, fileless-exec guard
 *   aac.c         the engine vigild runs (modes, alerts, control commands)
 *
 * Scope: application control covers executables on the filesystems holding
 * the "enforce_paths" mount points, plus fileless executables (memfd,
 * O_TMPFILE, unlinked) wherever they come from.
 */
#ifndef VIGIL_AAC_H
#define VIGIL_AAC_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "policy.h"

enum aac_mode { AAC_MODE_OFF = 0, AAC_MODE_LEARN, AAC_MODE_AUDIT, AAC_MODE_ENFORCE };

enum aac_rule_kind {
	AAC_RULE_PACKAGE = 0,      /* files of an installed package whose content matches dpkg's md5 */
	AAC_RULE_HASH,             /* SHA-256 anywhere (the only kind that can allow fileless code) */
	AAC_RULE_PATH_HASH,        /* this path with this SHA-256 */
	AAC_RULE_GLOB,             /* path glob (fnmatch, FNM_PATHNAME): weaker, flagged in posture */
};

enum aac_scope_kind { AAC_SCOPE_ANY = 0, AAC_SCOPE_HOST, AAC_SCOPE_CONTAINER };

struct aac_rule {
	enum aac_rule_kind kind;
	char *package;             /* PACKAGE */
	char *path;                /* PATH_HASH */
	char *pattern;             /* GLOB */
	char sha256[65];           /* HASH, PATH_HASH: lowercase hex */
	enum aac_scope_kind scope;
	char *container;           /* optional glob on the container id (scope container) */
	char *cgroup;              /* optional glob on the cgroup v2 path */
};

#define AAC_MAX_RULES        65536
#define AAC_MAX_ENFORCE      16

struct aac_config {
	enum aac_mode mode;
	bool on_error_allow;            /* verdict on internal error or decision timeout */
	uint32_t decision_timeout_ms;
	struct policy_strv enforce_paths;   /* mount points whose filesystems are controlled */
	struct aac_rule *rules;
	size_t nrules;
	uint32_t learn_max;             /* learning-store entries */
	uint32_t aggregate_s;           /* identical violations within this window are counted */
	uint32_t threads;               /* fanotify decision threads */
	char *dpkg_dir;                 /* dpkg admin dir ("/var/lib/dpkg") */
};

/* The engine vigild registers (engines.c). */
struct engine;
extern const struct engine aac_engine;

/* ---- policy section (aac_policy.c) ---- */

/* The "aac" section parser (policy_sections.c); v NULL gives the defaults. */
int aac_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
void aac_config_free(void *cfg);
/* Parses one rules array v (at jpath) into *rules and *n (new allocation; aac_rules_free). */
int aac_rules_parse(const struct policy_ctx *c, const char *jpath, const json_t *v,
		    struct aac_rule **rules, size_t *n);
void aac_rules_free(struct aac_rule *rules, size_t n);
/* New JSON object for a rule, in the policy's format. */
json_t *aac_rule_to_json(const struct aac_rule *r);
/* Whether two rules allow the same thing (same kind, key and scope). */
bool aac_rule_equal(const struct aac_rule *a, const struct aac_rule *b);

const char *aac_mode_name(enum aac_mode m);
/* -EINVAL for an unknown name. */
int aac_mode_parse(const char *s);

/* ---- dpkg database (aac_dpkg.c) ---- */

struct aac_dpkg;

/* Reads <admin_dir>/status (installed packages) and <admin_dir>/info/<pkg>.md5sums and
 * .list into a compact table (64-bit path hash -> package, md5).  NULL with errno
 * (ENOENT when there is no dpkg database). */
struct aac_dpkg *aac_dpkg_load(const char *admin_dir);
void aac_dpkg_free(struct aac_dpkg *d);
/* Owner of path (usr-merged aliases /bin <-> /usr/bin etc. tried too).  Returns the package
 * name (owned by d) and copies the 16-byte md5 into md5 (all zero when dpkg has none),
 * or NULL when no installed package owns it. */
const char *aac_dpkg_owner(const struct aac_dpkg *d, const char *path, uint8_t md5[16]);
size_t aac_dpkg_files(const struct aac_dpkg *d);
size_t aac_dpkg_packages(const struct aac_dpkg *d);

/* ---- decisions (aac_policy.c) ---- */

/* What is known about the executable being decided. */
struct aac_subject {
	const char *path;           /* resolved path, or a description for fileless code */
	const char *sha256;         /* lowercase hex; "" or NULL when unknown */
	const uint8_t *md5;         /* 16 bytes of content md5, NULL when not computed */
	bool fileless;              /* memfd, O_TMPFILE or unlinked: only hash rules apply */
	const char *container_id;   /* "" or NULL on the host */
	const char *cgroup;         /* cgroup v2 path or NULL */
	/* identity, for hard links: a file with several names matches a path_hash rule
	 * naming any of them (nlink 0 = unknown) */
	dev_t dev;
	uint64_t ino;
	uint32_t nlink;
};

enum aac_reason {
	AAC_REASON_RULE = 0,        /* allowed by rules[rule] */
	AAC_REASON_NOT_LISTED,      /* no rule matched */
	AAC_REASON_MODIFIED,        /* a path_hash rule names this path with other content */
	AAC_REASON_NO_HASH,         /* no rule matched and the content could not be hashed */
};

struct aac_verdict {
	bool allow;
	int rule;                   /* index of the deciding rule, -1 when none */
	enum aac_reason reason;
	const char *package;        /* dpkg owner when content matches (owned by the dpkg db), or NULL */
	bool package_verified;      /* content md5 equals dpkg's */
};

/* First match wins; default deny.  dpkg may be NULL (package rules then never match).
 * Pure function of its inputs. */
void aac_decide(const struct aac_config *cfg, const struct aac_dpkg *dpkg,
		const struct aac_subject *s, struct aac_verdict *v);
/* The rule (policy format) that would allow s: a package rule when dpkg verifies the
 * content, a hash rule for fileless code, else path_hash.  New reference or NULL. */
json_t *aac_remediation_rule(const struct aac_subject *s, const struct aac_verdict *v);
/* Whether path is in a world- or user-writable location: the file or a parent directory is
 * writable by group/other or owned by a non-root user.  why gets a short reason. */
bool aac_path_risky(const char *path, char *why, size_t len);

/* ---- learning store (aac_learn.c) ---- */

struct aac_learn;

struct aac_observation {
	const char *path;
	const char *sha256;         /* hex, "" unknown */
	uint64_t size;
	const char *package;        /* dpkg owner or NULL */
	bool package_verified;
	bool fileless;
	const char *parent;         /* parent exe or NULL */
	const char *user;
	const char *container;      /* container id or "" */
	uint64_t wall_ns;
};

/* New store bounded to max entries.  NULL on ENOMEM. */
struct aac_learn *aac_learn_new(size_t max);
void aac_learn_free(struct aac_learn *l);
/* Records one exec (key: path + sha256).  0, -ENOSPC when the bound turned it away
 * (counted), -ENOMEM. */
int aac_learn_add(struct aac_learn *l, const struct aac_observation *o);
size_t aac_learn_size(const struct aac_learn *l);
uint64_t aac_learn_dropped(const struct aac_learn *l);
bool aac_learn_dirty(const struct aac_learn *l);
/* Whether (path, sha256) was learned. */
bool aac_learn_has(const struct aac_learn *l, const char *path, const char *sha256);
/* Saves to / loads from path (JSON, atomic replace).  Load of a missing file is 0. */
int aac_learn_save(struct aac_learn *l, const char *path);
int aac_learn_load(struct aac_learn *l, const char *path);
void aac_learn_clear(struct aac_learn *l);
/* The learned entries as a JSON array (new reference). */
json_t *aac_learn_to_json(const struct aac_learn *l);
/*
 * Allowlist proposal from what was learned: {"aac": {"rules": [...]}, "risky": [...],
 * "summary": {...}}.  Package rules for files owned by installed packages whose content
 * matches (dpkg md5), path_hash rules for other binaries; binaries in world- or
 * user-writable locations and fileless code go to "risky" and are never proposed.
 * Rules already in existing (may be NULL) are left out.  New reference or NULL.
 */
json_t *aac_recommend(const struct aac_learn *l, const struct aac_dpkg *dpkg,
		      const struct aac_config *existing);

/* ---- proposal / apply (aac_policy.c) ---- */

/*
 * Merges the rules of a proposal (text, named name in messages) into the policy document
 * text policy_text.  Checks the proposal strictly (top-level keys "aac", "risky",
 * "summary"; "aac" holds only "rules"); errors are "name:line:col: message".  On success
 * *out is the new policy text (caller frees) and *added the number of new rules.
 * -EINVAL on bad input, -ENOMEM.
 */
int aac_proposal_merge(const char *policy_text, const char *proposal, const char *name,
		       char **out, size_t *added, char *err, size_t errlen);

/* ---- backends ---- */

enum aac_backend { AAC_BACKEND_NONE = 0, AAC_BACKEND_BPF_LSM, AAC_BACKEND_FANOTIFY, AAC_BACKEND_AUDIT_ONLY };
const char *aac_backend_name(enum aac_backend b);

/* Content hashes of an open file: sha256 hex always, md5 when want_md5.  Reads with
 * pread, stops with -ETIMEDOUT when deadline_ns (CLOCK_MONOTONIC, 0 = none) passes. */
int aac_hash_fd(int fd, char sha_hex[65], uint8_t md5[16], bool want_md5, uint64_t deadline_ns);

/* A decision the fanotify backend took that the engine reports (alerts run on the main thread). */
struct aac_fan_report {
	pid_t pid;                  /* the process that asked (the exec caller) */
	char path[4096];
	char sha256[65];
	char package[128];
	bool package_verified;
	bool fileless;
	bool via_loader;            /* an ELF opened by the dynamic loader (ld.so PROG) */
	bool allow;
	bool error;                 /* decided by on_error (internal error or timeout) */
	int err;                    /* -errno of that error */
	int rule;
	enum aac_reason reason;
	uint64_t wall_ns;
	uint64_t latency_ns;
};

struct aac_fan;
struct aac_fan_stats {
	uint64_t events, exec_events, open_events, allowed, denied, errors, timeouts, self;
	uint64_t cache_hits, cache_misses, ignore_marks, reports_dropped;
	uint64_t lat_p50_ns, lat_p99_ns;
};

/* Opens a fanotify group (FAN_CLASS_CONTENT), starts nthreads decision threads.  Marks
 * nothing yet.  NULL with errno. */
struct aac_fan *aac_fan_new(unsigned nthreads);
/*
 * Installs cfg (borrowed until the next call or aac_fan_free; the caller keeps it alive)
 * and the dpkg db (borrowed likewise): marks new enforce paths before unmarking old ones,
 * bumps the verdict generation and flushes ignore marks.  enforce=false removes every
 * mark (the group stays).  0 or -errno with a reason in err (a path that is not a mount
 * point, a mark that failed); on error the previous marks stay.
 */
int aac_fan_configure(struct aac_fan *f, const struct aac_config *cfg, const struct aac_dpkg *dpkg,
		      bool enforce, char *err, size_t errlen);
/* eventfd readable when reports are queued; aac_fan_pop() takes one (0, or -EAGAIN). */
int aac_fan_report_fd(const struct aac_fan *f);
int aac_fan_pop(struct aac_fan *f, struct aac_fan_report *out);
void aac_fan_stats(struct aac_fan *f, struct aac_fan_stats *s);
/* Stops the threads, answers everything pending (the kernel allows what the closed group
 * did not answer) and frees.  NULL is a no-op. */
void aac_fan_free(struct aac_fan *f);

/* BPF object (aac_lsm.c): tries the BPF LSM programs (probe), and runs the fileless guard
 * (tp_btf/sched_process_exec; SIGKILL or SIGSTOP for a userspace decision). */
struct aac_bpf;
enum aac_fileless_action { AAC_FILELESS_OFF = 0, AAC_FILELESS_KILL = 1, AAC_FILELESS_STOP = 2 };
/* NULL with errno when even the guard cannot load; *lsm_err gets the LSM errno (0 = usable). */
struct aac_bpf *aac_bpf_open(int *lsm_err);
int aac_bpf_set_fileless(struct aac_bpf *b, enum aac_fileless_action act, uint32_t self_tgid);
uint64_t aac_bpf_fileless_hits(struct aac_bpf *b);
void aac_bpf_free(struct aac_bpf *b);

#endif
