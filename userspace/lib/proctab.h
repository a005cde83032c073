/*
 * Process table: what vigild knows about every live (and recently exited)
 * process.  Seeded from /proc at start, then fed only by kernel events, so a
 * process that lived for a microsecond is still complete.  A process is
 * (tgid, start_ns), never a pid alone.  The table is bounded: when full the
 * oldest exited entries go first, then the least recently used; evictions are
 * counted.
 */
#ifndef VIGIL_PROCTAB_H
#define VIGIL_PROCTAB_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "container.h"

struct proc {
	uint32_t tgid;
	uint64_t start_ns;        /* boot ns; /proc-seeded entries have clock-tick precision */
	uint32_t ppid;            /* original parent (at fork/exec), kept when reparented */
	uint64_t pstart_ns;
	uint32_t real_ppid;       /* current real parent when it differs (reparented), else 0 */
	uint32_t uid, gid, euid, loginuid;
	char comm[16];
	char *exe;                /* absolute path, NULL until known */
	size_t exe_len;           /* bytes of exe (paths may hold any byte but NUL) */
	char *argv;               /* NUL-separated arguments */
	size_t argv_len;
	bool argv_trunc;
	char *cwd;
	char *script;             /* the script when an interpreter runs it, else NULL */
	char sha256[65];          /* hex, "" when unknown */
	uint32_t exe_flags;       /* VIGIL_F_EXE_* */
	uint64_t exe_dev, exe_ino;
	uint64_t cgroup_id;
	struct container_info container;
	uint32_t pidns, mntns;
	bool exited;
	int exit_code;
	uint64_t exit_mono_ns;    /* when the exit was seen, CLOCK_MONOTONIC */
	bool seeded;              /* came from /proc, not from an exec event */
	/* table internals */
	struct proc *hnext;
	struct proc *lru_prev, *lru_next;
};

struct proctab;

/* New table holding at most max entries.  NULL on ENOMEM. */
struct proctab *proctab_new(size_t max);
/* NULL is a no-op. */
void proctab_free(struct proctab *t);
/* Reads every /proc/<pid> below proc_root ("/proc").  Returns entries added or -errno. */
int proctab_seed(struct proctab *t, const char *proc_root);
/* Looks up tgid; returns NULL when unknown. Marks the entry recently used. */
struct proc *proctab_lookup(struct proctab *t, uint32_t tgid);
/* Returns the entry for tgid, creating it when absent or when start_ns shows the pid was
 * reused (the old entry is replaced).  start_ns 0 = unknown.  NULL when allocation fails. */
struct proc *proctab_get(struct proctab *t, uint32_t tgid, uint64_t start_ns);
/* Fork: child inherits the parent's exe, argv, cwd, container; ancestry = parent. */
struct proc *proctab_fork(struct proctab *t, uint32_t ptgid, uint64_t pstart, uint32_t ctgid, uint64_t cstart);
/* Marks tgid exited with code; kept for a grace period for late events. */
void proctab_exit(struct proctab *t, uint32_t tgid, uint64_t start_ns, int code);
/* Removes exited entries older than grace_ns.  Returns how many. */
size_t proctab_sweep(struct proctab *t, uint64_t grace_ns);
/* Replaces a string field (exe/argv/cwd/script) with a copy of buf[0..len). 0 or -ENOMEM. */
int proc_set_bytes(char **field, size_t *flen, const char *buf, size_t len);

size_t proctab_size(const struct proctab *t);
/* Calls fn for every entry, live and exited, in no particular order, without changing the
 * LRU order; fn must not add or remove entries. */
void proctab_foreach(const struct proctab *t, void (*fn)(const struct proc *p, void *ctx), void *ctx);
uint64_t proctab_evictions(const struct proctab *t);

/* JSON object for the alert/event "process" field: pid, ppid, uid, user, exe, cmdline, args,
 * cwd, comm, sha256, start_time. New reference. */
json_t *proc_to_json(const struct proc *p);
/* Parent chain as a JSON array of {pid, exe, cmdline}, nearest first, at most depth. */
json_t *proctab_ancestry(struct proctab *t, const struct proc *p, int depth);
/* Container object {id, runtime, pod_uid} or NULL when not in a container. */
json_t *proc_container_json(const struct proc *p);
/* User name for uid (cached getpwuid_r); "" when none.  Returned string is owned by the cache. */
const char *proctab_user_name(uint32_t uid);

#endif
