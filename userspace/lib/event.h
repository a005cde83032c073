/*
 * Decoding of kernel records (bpf/vigil_events.h) into JSON telemetry
 * objects.  One decoder per sensor: event_exec.c, event_file.c, event_net.c.
 * Decoders only translate the record's own fields; process, user and
 * container enrichment is added by the caller (vigild) from the process table.
 */
#ifndef VIGIL_EVENT_H
#define VIGIL_EVENT_H

#include <stddef.h>
#include <jansson.h>
#include "vigil_events.h"

/*
 * Each decoder validates len against the record (fixed part and every
 * variable-length field: lengths must fit, strings must be NUL-terminated
 * inside their field) and adds its fields to obj.  Returns 0 or -EINVAL for
 * a malformed record (obj may be partly filled: discard it).
 */
int event_file_to_json(const struct vigil_file *ev, size_t len, json_t *obj);
/* Validation of event_file_to_json() alone: 0 or -EINVAL. */
int event_file_check(const struct vigil_file *ev, size_t len);
/* The "file" object of event_file_to_json() written as JSON text into b (the same bytes
 * jsonx_dump_line() gives for it).  0, -EINVAL (malformed) or -ENOMEM. */
struct jsonx_buf;
int event_file_write(const struct vigil_file *ev, size_t len, struct jsonx_buf *b);
int event_net_to_json(const struct vigil_net *ev, size_t len, json_t *obj);

/* Names of enum values ("open_write", "rename", ...; "connect", ...); "unknown" otherwise. */
const char *event_file_op_name(unsigned op);
const char *event_net_op_name(unsigned op);

/* Checks an exec record (struct vigil_exec) of len bytes: the fixed part fits and exe,
 * argv, cwd and script lie inside len in that order; exe, cwd and script end with a NUL
 * inside their field (argv need not: it is NUL-separated and may be cut).  0 or -EINVAL. */
int event_exec_check(const struct vigil_exec *ev, size_t len);

/* Checks a variable-length field: off+n must be within len and, when n > 0,
 * base[off+n-1] must be NUL.  Returns 0 or -EINVAL. */
int event_check_str(const void *base, size_t len, size_t off, size_t n);

#endif
