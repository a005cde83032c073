/*
 * Forwarding to vigil-scored and the posture engine.
 *
 * Policy section "forward" (forward_policy_parse; absent or without "url" =
 * forwarding off, posture still runs with the defaults below):
 *   url              "http://127.0.0.1:8700" (http or https)
 *   token_file       file holding this host's bearer token (root-only: mode 0600)
 *   ca_file          CA bundle for https (null = system store)
 *   batch            alerts per request                          default 100
 *   spool_max_bytes  bound of the on-disk spool; overflow drops the oldest
 *                    alerts and is counted                       default 64 MiB
 *   interval_s       seconds between polls when idle (JIT requests) default 10
 *   connect_timeout_ms / timeout_ms   libcurl timeouts           default 3000 / 10000
 *   posture          {"interval_s": 3600, "sysctl_dir": "/etc/sysctl.d",
 *                     "fim_max_age_s": 2592000, "allowlist_max_age_s": 7776000}
 *
 * Delivery is at least once: alerts stay in the spool until the service
 * acknowledged them; the service stores each alert id once.
 */
#ifndef VIGIL_FORWARD_H
#define VIGIL_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "policy.h"

struct fwd_config {
	char *url;                     /* NULL = forwarding off */
	char *token_file;
	char *ca_file;
	uint32_t batch;
	uint64_t spool_max_bytes;
	uint32_t interval_s;
	uint32_t connect_timeout_ms, timeout_ms;
	uint32_t posture_interval_s;
	char *sysctl_dir;
	uint32_t fim_max_age_s, allowlist_max_age_s;
};

/* The "forward" section parser (policy_sections.c); v NULL gives the defaults. */
int forward_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
void forward_config_free(void *cfg);
/* The forward config of pol (defaults, forwarding off, when absent). */
const struct fwd_config *forward_config_of(const struct vigil_policy *pol);

/* ---- durable spool (forward_spool.c) ---- */

/*
 * A directory of append-only JSON-lines segments plus a cursor file ("seq
 * offset dropped").  Appends and reads may come from different threads.
 * Bounded by max_bytes: when full, whole oldest segments are dropped (their
 * unsent lines counted in dropped); a line that still does not fit is dropped
 * and counted.  A torn last line (crash in the middle of a write) is cut at
 * open.
 */
struct fwd_spool;
struct fwd_pos {
	uint64_t seq, off;
};

/* Opens (creating) dir.  NULL with errno. */
struct fwd_spool *fwd_spool_open(const char *dir, uint64_t max_bytes);
/* Appends one line (no newline inside; one is added).  0, -ENOBUFS when the bound
 * dropped it (counted), -errno on I/O errors. */
int fwd_spool_append(struct fwd_spool *s, const char *line, size_t len);
/* Changes the bound (a new policy). */
void fwd_spool_set_max(struct fwd_spool *s, uint64_t max_bytes);
/* The next at most max_items lines from the cursor, parsed: *items gets a new array
 * (lines that are not JSON objects are skipped and counted as corrupt), *end the
 * position after them.  0 (possibly with an empty array) or -errno. */
int fwd_spool_peek(struct fwd_spool *s, size_t max_items, json_t **items, struct fwd_pos *end);
/* Moves the cursor to end (durably) and deletes consumed segments.  A position
 * already behind the cursor (its segment was dropped meanwhile) is a no-op. 0 or -errno. */
int fwd_spool_commit(struct fwd_spool *s, const struct fwd_pos *end);
struct fwd_spool_stats {
	uint64_t bytes, segments, appended, dropped, corrupt;
};
void fwd_spool_stats(struct fwd_spool *s, struct fwd_spool_stats *st);
/* Closes; NULL is a no-op. */
void fwd_spool_close(struct fwd_spool *s);

/* ---- engines (forward.c, posture_engine.c) ---- */

struct forward;
extern const struct engine forward_engine;
extern const struct engine posture_engine;

/* Queues a posture snapshot (borrowed) for the service: written to the spool dir,
 * replacing an unsent older one.  0 or -errno; -ENOTCONN when forwarding is off. */
int forward_submit_posture(struct forward *f, const json_t *snapshot);
/* Alerts the spool dropped since the start (0 for NULL). */
uint64_t forward_dropped(struct forward *f);

#endif
