/*
 * Self-protection: vigil guards its own files and BPF pins.
 *
 * Policy section "self_protection" (selfprot_policy_parse):
 *   deny_writes  true: opens for writing (O_WRONLY, O_RDWR, O_TRUNC, creat) of the
 *                protected files by any process other than vigild and the updaters
 *                fail with EPERM and raise vigil_selfprot_write_denied (default false
 *                when the section is absent; the shipped policy turns it on)
 *   files        protected paths (at most 64): a regular file is protected itself, a
 *                directory protects the regular files below it (at most 4096 in all);
 *                never "/"
 *   updaters     executables (exact /proc/PID/exe paths) allowed to write them, e.g.
 *                the package manager
 *   pins         true (default): check every second that vigil's pinned BPF objects
 *                (jit.pin_dir) still exist; a removed one raises vigil_tamper_unpin
 *   severity     of both alerts (default "high")
 *
 * Backend: a fanotify group of class FAN_CLASS_CONTENT with FAN_OPEN_PERM inode
 * marks on exactly the protected files (never a mount or filesystem mark).  One
 * decision thread answers every event at once: fanotify reports no open flags, so the
 * write intent comes from the blocked thread's /proc/TID/syscall (open, openat,
 * openat2, creat, open_by_handle_at; an open from any other context counts as a
 * write).  Internal errors answer FAN_ALLOW; closing the group (stop, crash) lets
 * every waiter through.  Limits: rename, unlink and truncate(2) by path do not open
 * the file and are only alerted (detections, FIM); a file the daemon replaces by
 * rename is re-marked within a second.
 */
#ifndef VIGIL_SELFPROT_H
#define VIGIL_SELFPROT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "policy.h"

#define SELFPROT_MAX_PATHS  64
#define SELFPROT_MAX_MARKS  4096

struct selfprot_config {
	bool deny_writes;
	bool pins;
	int severity;                 /* VIGIL_SEV_* */
	struct policy_strv files;
	struct policy_strv updaters;
};

/* Section parser and destructor (policy_sections.c); v NULL gives the defaults. */
int selfprot_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
void selfprot_config_free(void *cfg);

/* What a blocked open asks for, from one line of /proc/TID/syscall (x86_64 numbers). */
enum selfprot_intent {
	SELFPROT_READ,                /* an open for reading, or an exec */
	SELFPROT_WRITE,               /* write access or O_TRUNC */
	SELFPROT_UNKNOWN,             /* not in a known open syscall (io_uring, compat, ...) */
	SELFPROT_NEED_HOW,            /* openat2: *how_addr holds the user address of struct open_how */
};
/* Parses "NR arg0 arg1 ..." as /proc/TID/syscall prints it (proc(5)).  *nr gets the
 * syscall number (-1 when not in a syscall), *flags the open flags when known.
 * Returns an enum selfprot_intent, or -EINVAL for text it cannot parse. */
int selfprot_parse_syscall(const char *line, long *nr, uint64_t *flags, uint64_t *how_addr);
/* True when open flags ask for write access (accmode other than O_RDONLY, or O_TRUNC). */
bool selfprot_flags_write(uint64_t flags);

/*
 * For engines that find one of their state files corrupt at start-up: moves path aside to
 * "<path>.corrupt-<unix seconds>" (kept as evidence, never read again), logs one warning and
 * queues a vigil_state_corrupt alert (reason: what is wrong; consequence: what the engine does
 * instead) that the self-protection engine writes once the forwarder runs.  Main thread only.
 * Returns 0 or -errno of the rename (the alert is queued either way).
 */
int selfprot_state_corrupt(const char *path, const char *reason, const char *consequence);

extern const struct engine selfprot_engine;

#endif
