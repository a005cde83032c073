/*
 * File integrity monitoring (FIM).
 *
 * - Policy section "fim" (fim_policy.c): watch specs (path or glob, recursive,
 *   exclusions, attributes that count, severity), quiet period, file bound.
 * - Entries and databases (fim_db.c): one entry per watched name, keyed by path
 *   and indexed by (dev, inode) so every name of a hard-linked file is known.
 *   Stored zlib-compressed and authenticated with HMAC-SHA256 (RFC 2104) keyed
 *   by a root-only key file in the state dir; the host identity (machine-id and
 *   host name) is recorded and a database from another host is refused.
 * - Scans (fim_scan.c): walk the specs, hash regular files with SHA-256
 *   (OpenSSL EVP) on one worker thread per core, large files streamed.
 * - The engine (fim.c): baseline at first start, offline comparison at start,
 *   real-time checks from the kernel file events, rescans after event loss,
 *   control commands fim_status / fim_baseline / fim_check / fim_accept.
 */
#ifndef VIGIL_FIM_H
#define VIGIL_FIM_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "policy.h"

struct engine;

/* Attributes a watch spec can count (bit mask). ACLs are the system.posix_acl_*
 * xattrs and file capabilities are security.capability: both under FIM_A_XATTRS. */
enum {
	FIM_A_SHA256 = 1u << 0,
	FIM_A_MODE   = 1u << 1,
	FIM_A_UID    = 1u << 2,
	FIM_A_GID    = 1u << 3,
	FIM_A_SIZE   = 1u << 4,
	FIM_A_LINK   = 1u << 5,   /* symlink target */
	FIM_A_INODE  = 1u << 6,   /* the name now refers to another inode (replaced) */
	FIM_A_XATTRS = 1u << 7,
	FIM_A_TYPE   = 1u << 8,   /* file type (always counted) */
	FIM_A_ALL    = (1u << 9) - 1,
};
/* Name of one FIM_A_* bit ("sha256", "mode", ...), NULL for others. */
const char *fim_attr_name(unsigned bit);

/* ---------- policy ---------- */

struct fim_spec {
	char *path;               /* absolute path or glob (fnmatch(3) with FNM_PATHNAME) */
	bool glob;                /* path holds *, ? or [ */
	bool recursive;           /* directories: the whole subtree (else direct entries only) */
	unsigned attrs;           /* FIM_A_* that count */
	int severity;             /* VIGIL_SEV_* of a change */
	struct policy_strv exclude; /* globs or path prefixes; a pattern without '/' matches base names */
};

struct fim_config {
	bool enabled;
	struct fim_spec *specs;
	size_t nspecs;
	uint32_t quiet_ms;        /* a writer that keeps a file open is hashed after this long without change */
	uint64_t max_files;       /* bound on watched names; what it turns away is counted and warned */
	uint32_t workers;         /* hashing threads; 0 = one per online CPU */
};

/* Policy section parser and destructor (registered in policy_sections.c). */
int fim_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
void fim_config_free(void *cfg);
/* Deep copy (fim_config_free); NULL on ENOMEM. */
struct fim_config *fim_config_dup(const struct fim_config *src);
/* The FIM config of pol (a disabled default when the section is absent). */
const struct fim_config *fim_config_of(const struct vigil_policy *pol);

/* Adds the roots the kernel file sensor must watch for FIM to sv (the spec path,
 * or for a glob the directory before its first wildcard; with the running
 * engine eng (may be NULL) also the watched files that have hard links, so
 * writes through a name outside the tree are seen), skipping those already
 * present.  0 or -ENOMEM. */
int fim_watch_roots(const struct vigil_policy *pol, void *eng, struct policy_strv *sv);

/* Index of the most specific spec covering path (longest spec path), or -1 when
 * no spec covers it or an exclusion matches. */
int fim_spec_match(const struct fim_config *cfg, const char *path);

/* ---------- entries and databases ---------- */

#define FIM_E_HASHED  0x1         /* sha holds the content hash */
#define FIM_E_ABSENT  0x2         /* drift: the name does not exist (deleted) */

struct fim_entry {
	char *path;
	char *link;               /* symlink target, NULL otherwise */
	char *xattrs;             /* "name=base64,..." sorted by name, or "sha256:<hex>" when long; NULL = none */
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode, uid, gid, nlink;
	uint32_t flags;           /* FIM_E_* */
	int32_t err;              /* errno of a failed read (unreadable file), 0 otherwise */
	uint8_t sha[32];
	/* internal */
	bool dead;
	size_t next_ino;          /* index chain in the (dev, ino) index */
};

struct fim_db;

struct fim_db_meta {
	char machine_id[64];
	char hostname[256];
	uint64_t created_ns;      /* wall ns of the first baseline */
	uint64_t updated_ns;      /* wall ns of the last change (accept, rebuild) */
	uint64_t saved_ns;        /* wall ns when written (drift: the end of monitoring) */
	char specs[16384];        /* watch spec paths the baseline covers, one per line ("" = unknown) */
};

/* Writes the spec paths of cfg, one per line, into buf (truncated at len). */
void fim_spec_list(const struct fim_config *cfg, char *buf, size_t len);

/* New empty database; NULL on ENOMEM. */
struct fim_db *fim_db_new(void);
/* NULL is a no-op. */
void fim_db_free(struct fim_db *db);
/* Entry for path or NULL. The pointer is valid until the next put/del. */
struct fim_entry *fim_db_find(struct fim_db *db, const char *path);
/* Inserts or replaces a deep copy of e (keyed by e->path).  0 or -ENOMEM. */
int fim_db_put(struct fim_db *db, const struct fim_entry *e);
/* Removes path; 0 or -ENOENT. */
int fim_db_del(struct fim_db *db, const char *path);
/* Live entries. */
size_t fim_db_count(const struct fim_db *db);
/* Iterates: *i starts at 0; returns the next live entry or NULL at the end. */
struct fim_entry *fim_db_next(struct fim_db *db, size_t *i);
/* Calls fn for each live entry with (dev, ino); returns how many. */
size_t fim_db_by_inode(struct fim_db *db, uint64_t dev, uint64_t ino,
		       void (*fn)(void *ctx, struct fim_entry *e), void *ctx);
/* The metadata (host identity, times); writable. */
struct fim_db_meta *fim_db_meta(struct fim_db *db);

/* Frees the strings of an entry (not the entry). */
void fim_entry_clear(struct fim_entry *e);

/* This host's identity: /etc/machine-id (or "" when absent) and the node name. */
void fim_host_identity(char machine_id[64], char hostname[256]);

/* Loads the HMAC key at path (32 random bytes, mode 0600), creating it when
 * absent and create is true.  0, -ENOENT, -EPERM when the file is readable by
 * others than root (mode & 077) or not owned by root, or -errno. */
int fim_key_load(const char *path, bool create, uint8_t key[32]);

/* Writes db to path atomically (temp, fsync, rename; mode 0600): header, zlib
 * payload, HMAC-SHA256 over everything before it.  Sets meta.saved_ns.  0 or -errno. */
int fim_db_save(struct fim_db *db, const char *path, const uint8_t key[32]);
/* Loads and authenticates path.  0 with a new db in *out; -ENOENT when absent;
 * -EBADMSG when it is truncated, malformed or the HMAC does not match (tampered);
 * -EXDEV when it was made on another host (machine-id or host name differ). */
int fim_db_load(const char *path, const uint8_t key[32], struct fim_db **out);

/* Reads one name (lstat, xattrs, link target; SHA-256 of regular files when
 * hash) into e (e->path is set to a copy of path).  0, -ENOENT when it does not
 * exist, or -errno for lstat; an unreadable file gives 0 with e->err set. */
int fim_entry_read(const char *path, bool hash, struct fim_entry *e);

/* Same with a caller-owned I/O buffer and digest context (for worker threads). */
struct evp_md_ctx_st;
int fim_entry_read_buf(const char *path, bool hash, struct fim_entry *e,
		       unsigned char *buf, size_t buflen, struct evp_md_ctx_st *ctx);

/* Bits of attrs (FIM_A_*) on which a and b differ.  Directory sizes never count. */
unsigned fim_entry_diff(const struct fim_entry *a, const struct fim_entry *b, unsigned attrs);
/* New JSON value of one attribute of e (FIM_A_* bit): "sha256" hex, "mode" octal
 * string, ints, strings; null when absent. */
json_t *fim_attr_json(const struct fim_entry *e, unsigned bit);

/* ---------- scans ---------- */

struct fim_scan_stats {
	uint64_t files, dirs, bytes, unreadable, skipped_max; /* skipped_max: names the bound turned away */
	double seconds;
};

struct fim_scan_progress {
	volatile uint64_t files_done, bytes_done;
	volatile uint64_t files_total, bytes_total;
	volatile int phase;       /* 0 walking, 1 hashing, 2 done */
	volatile int cancel;      /* set to stop early (the scan returns -ECANCELED) */
};

/*
 * Scans what cfg watches (scope NULL) or only the names under the given scope
 * paths (each a file or directory, still filtered by the specs), hashing with
 * workers threads (0 = one per CPU).  *out gets a new db of what is on disk;
 * warnings (may be NULL) gets strings (missing paths, unreadable files, the
 * max_files bound).  skip (may be NULL) names paths never scanned (vigil's own
 * state files).  0 or -errno.
 */
int fim_scan(const struct fim_config *cfg, const char *const *scope, size_t nscope,
	     const char *const *skip, unsigned workers, struct fim_scan_progress *prog,
	     struct fim_db **out, json_t *warnings, struct fim_scan_stats *st);

/* ---------- comparison ---------- */

/* One difference between a reference db and the disk. */
struct fim_diff {
	const char *path;
	const char *kind;         /* "added" | "deleted" | "modified" | "replaced" | "metadata" */
	const struct fim_entry *before;  /* NULL when added */
	const struct fim_entry *after;   /* NULL when deleted */
	unsigned changed;         /* FIM_A_* */
	int spec;                 /* index in cfg->specs */
};

/* Classifies a change from before to after (either may be NULL) under attrs;
 * returns the kind or NULL when nothing that counts changed (*changed set). */
const char *fim_classify(const struct fim_entry *before, const struct fim_entry *after,
			 unsigned attrs, unsigned *changed);

/* Compares ref with cur within scope (NULL = everything; otherwise names equal to
 * or under a scope path); calls fn for each difference in path order... (any
 * order).  Entries no spec covers any more are ignored.  Returns differences. */
size_t fim_compare(const struct fim_config *cfg, struct fim_db *ref, struct fim_db *cur,
		   const char *const *scope, size_t nscope,
		   void (*fn)(void *ctx, const struct fim_diff *d), void *ctx);

/* JSON object {attr: {"before": v, "after": v}} for the changed bits. New reference. */
json_t *fim_changes_json(const struct fim_entry *before, const struct fim_entry *after, unsigned changed);

/* The engine (registered in engines.c). */
extern const struct engine fim_engine;
/* Paths of watched files with more than one link (engine state eng), bounded. */
size_t fim_engine_link_roots(void *eng, const char ***out);

/* Scan warnings "<path>: <note>" for watch paths that are not there (yet): normal on a
 * host without that software, so vigild logs them together as information. */
#define FIM_MISSING_NOTE "does not exist (watched when it appears)"
#define FIM_NOMATCH_NOTE "matches nothing yet (watched when a match appears)"

/* State file names in the state dir. */
#define FIM_DB_NAME    "fim.db"
#define FIM_DRIFT_NAME "fim.drift"
#define FIM_KEY_NAME   "fim.key"

#endif
