/*
 * Prometheus metrics: a writer for the text exposition format (version 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/) and the
 * rendering of vigild's status object into it.  The metrics engine
 * (metrics_engine.c) serves the result on GET /metrics with libmicrohttpd;
 * vigil-scored can serve its own numbers with the same writer.
 *
 * Every vigild metric is rendered from agent_status_json(), the object `vigil
 * status --json` prints, so the two never disagree.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <jansson.h>

/* A growing text buffer.  The first failure (ENOMEM, an invalid name) sticks in err
 * and later calls do nothing, so a renderer checks once, at metrics_buf_take(). */
struct metrics_buf {
	char *s;
	size_t len, cap;
	int err;                 /* 0 or a negative errno */
};

/* Zeroes b (an empty buffer). */
void metrics_buf_init(struct metrics_buf *b);
/* Frees the text; b is empty again. */
void metrics_buf_free(struct metrics_buf *b);
/* The text (a new malloc'd, NUL-terminated string the caller frees), or NULL with
 * errno set to the first error (b is freed either way). */
char *metrics_buf_take(struct metrics_buf *b);

/*
 * Starts a metric family: "# HELP name help" and "# TYPE name type".  type is
 * "counter", "gauge", "summary", "histogram" or "untyped".  help may hold any
 * text: backslash and newline are escaped as the format requires.  Samples of
 * the family follow with metrics_sample().  0 or -EINVAL (bad name or type).
 */
int metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/*
 * One sample line: name{k1="v1",...} value.  labels is NULL or an array of
 * label name/value pairs ending with NULL ({"type", "exec", NULL}).  Label
 * values may hold any UTF-8 text: backslash, double quote and newline are
 * escaped; invalid UTF-8 bytes become U+FFFD.  Integral values up to 2^53
 * print exactly, others in the shortest %g form that reads back to the same
 * double; NaN and infinities print as NaN, +Inf, -Inf.  0 or -EINVAL (bad
 * metric or label name, or a "__" label name, which Prometheus reserves).
 */
int metrics_sample(struct metrics_buf *b, const char *name, const char *const *labels, double value);

/* 1 when s is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), else 0. */
int metrics_name_ok(const char *s);

/*
 * Renders vigild's status object (agent_status_json) as exposition text: events
 * by type, losses by type and cause, records, alerts by rule and severity, log
 * writes, process table, hash cache, BPF map memory, RSS, and, when their
 * engines report them, application-control decisions and latency and the
 * forwarder's queue and failures.  Keys missing from st are left out.  New
 * malloc'd string (caller frees) or NULL with errno (ENOMEM).
 */
char *metrics_render_agent(const json_t *st);

/*
 * Parses a listen address: "ADDRESS:PORT", "[IPV6]:PORT", "NAME:PORT" (the name's
 * first address) or ":PORT" (every address, IPv6 and IPv4: *dual is set) into ss.
 * 0 or -EINVAL.
 */
int metrics_parse_listen(const char *s, struct sockaddr_storage *ss, bool *dual);

/* The engine serving GET /metrics when vigild runs with --metrics (metrics_engine.c). */
struct engine;
extern const struct engine metrics_engine;

#endif
