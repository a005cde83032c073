/*
 * JSON-lines sink with built-in size rotation (N kept files, gzip with zlib),
 * reopen on request (SIGHUP) and when an external logrotate moved or truncated
 * the file.  One writer thread; every line is written whole with one write(2)
 * on an O_APPEND descriptor, so readers never see half lines.
 */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stdint.h>
#include <stdbool.h>
#include <jansson.h>

struct sink_opts {
	uint64_t max_bytes;   /* rotate when the live file would exceed this; 0 = never */
	int keep;             /* rotated files kept: name.1[.gz] .. name.N[.gz]; 0 = the live file is deleted and restarted */
	bool compress;        /* gzip every rotated file: name.1.gz .. name.N.gz */
	bool compress_async;  /* gzip name.1 in a thread; until it is done name.1 stays plain */
	int mode;             /* file mode, e.g. 0640 */
	size_t buffer_bytes;  /* > 0: lines wait in a buffer of this size until sink_flush(), a full
			       * buffer, a rotation or a reopen; 0: each line is written at once */
};

struct sink;

/* Opens (creating) dir/name.  Returns NULL and sets errno on failure. */
struct sink *sink_open(const char *dir, const char *name, const struct sink_opts *opts);
/* Appends obj as one line.  Returns 0 or -errno (the failure is also counted). */
int sink_write_json(struct sink *s, const json_t *obj);
/* Appends one line (a '\n' is added).  Returns 0 or -errno.  With buffer_bytes the line may
 * only be queued: a later write failure is counted when sink_flush() runs. */
int sink_write_line(struct sink *s, const char *line, size_t len);
/* Writes the buffered lines with one write(2).  0 or -errno; on failure the buffered lines
 * are dropped and counted as failures (a partial write is taken back). */
int sink_flush(struct sink *s);
/* Closes and reopens the file by name (SIGHUP).  0 or -errno. */
int sink_reopen(struct sink *s);
/* Reopens if the file at the path is no longer ours (moved, deleted) or was truncated.
 * Returns 0 (unchanged), 1 (reopened or truncation detected) or -errno. */
int sink_check_external(struct sink *s);
/* Counters: lines written (flushed), write failures, rotations. */
uint64_t sink_lines(const struct sink *s);
uint64_t sink_failures(const struct sink *s);
uint64_t sink_rotations(const struct sink *s);
/* Path of the live file (owned by the sink). */
const char *sink_path(const struct sink *s);
/* Closes; NULL is a no-op. */
void sink_free(struct sink *s);

/* Pure rotation plan, for unit tests: name of the rotated file number i (1..keep). */
int sink_rotated_name(const char *path, int i, bool compress, char *out, size_t len);

#endif
