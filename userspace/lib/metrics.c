/* Prometheus text exposition format writer and vigild's metrics.  See metrics.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "jsonx.h"
#include "metrics.h"

void metrics_buf_init(struct metrics_buf *b)
{
	*b = (struct metrics_buf){ 0 };
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->s);
	metrics_buf_init(b);
}

char *metrics_buf_take(struct metrics_buf *b)
{
	char *s = b->s;

	if (b->err || !s) {
		errno = b->err ? -b->err : ENOMEM;
		metrics_buf_free(b);
		return NULL;
	}
	metrics_buf_init(b);
	return s;
}

static int put(struct metrics_buf *b, const char *p, size_t n)
{
	if (b->err)
		return b->err;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *s;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(s = realloc(b->s, cap)))
			return b->err = -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = 0;
	return 0;
}

static int puts_(struct metrics_buf *b, const char *s)
{
	return put(b, s, strlen(s));
}

static int fail(struct metrics_buf *b, int e)
{
	if (!b->err)
		b->err = e;
	return b->err;
}

int metrics_name_ok(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == ':'))
			return 0;
	return 1;
}

static int label_name_ok(const char *s)
{
	return metrics_name_ok(s) && !strchr(s, ':') && strncmp(s, "__", 2);
}

/* Appends n bytes of s with backslash and newline escaped, and double quotes when quote. */
static int put_escaped(struct metrics_buf *b, const char *s, size_t n, bool quote)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '\n' ? "\\n" :
				  quote && s[i] == '"' ? "\\\"" : NULL;
		if (!esc)
			continue;
		put(b, s + from, i - from);
		puts_(b, esc);
		from = i + 1;
	}
	return put(b, s + from, n - from);
}

int metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	static const char *const types[] = { "counter", "gauge", "summary", "histogram", "untyped" };
	bool type_ok = false;

	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		type_ok |= !strcmp(type, types[i]);
	if (!metrics_name_ok(name) || !type_ok)
		return fail(b, -EINVAL);
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_escaped(b, help ? help : "", help ? strlen(help) : 0, false);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	return puts_(b, "\n");
}

int metrics_sample(struct metrics_buf *b, const char *name, const char *const *labels, double value)
{
	char num[64];

	if (!metrics_name_ok(name))
		return fail(b, -EINVAL);
	puts_(b, name);
	for (size_t i = 0; labels && labels[i]; i += 2) {
		json_t *v;

		if (!label_name_ok(labels[i]) || !labels[i + 1])
			return fail(b, -EINVAL);
		/* label values are UTF-8: anything else becomes U+FFFD, as in the JSON logs */
		v = jsonx_string_bytes(labels[i + 1], strlen(labels[i + 1]), NULL);
		if (!v)
			return fail(b, -ENOMEM);
		puts_(b, i ? "," : "{");
		puts_(b, labels[i]);
		puts_(b, "=\"");
		put_escaped(b, json_string_value(v), json_string_length(v), true);
		puts_(b, "\"");
		json_decref(v);
	}
	if (labels && labels[0])
		puts_(b, "}");
	if (isnan(value))
		snprintf(num, sizeof(num), "NaN");
	else if (isinf(value))
		snprintf(num, sizeof(num), value > 0 ? "+Inf" : "-Inf");
	else if (value == floor(value) && fabs(value) <= 9007199254740992.0)
		snprintf(num, sizeof(num), "%.0f", value);
	else
		for (int prec = 15; prec <= 17; prec++) {   /* the shortest form that reads back exactly */
			snprintf(num, sizeof(num), "%.*g", prec, value);
			if (strtod(num, NULL) == value)
				break;
		}
	puts_(b, " ");
	puts_(b, num);
	return puts_(b, "\n");
}

int metrics_parse_listen(const char *s, struct sockaddr_storage *ss, bool *dual)
{
	char host[64];
	const char *colon, *h = s;
	size_t hn;
	char *end;
	long port;

	*dual = false;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hn = rb - h;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hn = colon - s;
	}
	if (hn >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hn);
	host[hn] = 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
		return -EINVAL;
	if (!host[0]) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons(port);
		*dual = true;
		return 0;
	}
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons(port);
			return 0;
		}
		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons(port);
			return 0;
		}
	}
	{
		/* a name ("localhost"): its first address */
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;

		if (getaddrinfo(host, NULL, &hints, &ai) || !ai || ai->ai_addrlen > sizeof(*ss)) {
			if (ai)
				freeaddrinfo(ai);
			return -EINVAL;
		}
		memcpy(ss, ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
		if (ss->ss_family == AF_INET)
			((struct sockaddr_in *)ss)->sin_port = htons(port);
		else if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
		else
			return -EINVAL;
		return 0;
	}
}

/* ---- vigild ---- */

/* st[k1][k2]... as a number; false when absent or not a number. */
static bool num(const json_t *st, double *out, ...)
{
	va_list ap;
	const char *k;
	const json_t *v = st;

	va_start(ap, out);
	while (v && (k = va_arg(ap, const char *)))
		v = json_object_get(v, k);
	va_end(ap);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* A family with one unlabelled sample st[key] (skipped when absent). */
static void one(struct metrics_buf *b, const json_t *st, const char *key, double scale,
		const char *name, const char *type, const char *help)
{
	double v;

	if (!num(st, &v, key, NULL))
		return;
	metrics_family(b, name, type, help);
	metrics_sample(b, name, NULL, v * scale);
}

static void agent_core(struct metrics_buf *b, const json_t *st)
{
	const char *k, *k2;
	json_t *v, *v2;
	double x;

	if (json_is_string(json_object_get(st, "version"))) {
		metrics_family(b, "vigil_build_info", "gauge", "vigild version (always 1).");
		metrics_sample(b, "vigil_build_info",
			       (const char *[]){ "version", json_string_value(json_object_get(st, "version")), NULL }, 1);
	}
	one(b, st, "uptime_s", 1, "vigil_uptime_seconds", "gauge", "Seconds since vigild started.");

	metrics_family(b, "vigil_events_total", "counter",
		       "Kernel records the sensors sent to vigild, by event type (vigil status: events).");
	json_object_foreach((json_t *)json_object_get(st, "events"), k, v)
		if (json_is_number(v))
			metrics_sample(b, "vigil_events_total", (const char *[]){ "type", k, NULL },
				       json_number_value(v));

	metrics_family(b, "vigil_events_lost_total", "counter",
		       "Kernel events lost before vigild saw them, by event type and cause: ringbuf_full "
		       "(ring buffer reservation failed) or read_failed (a kernel read failed) (vigil status: loss).");
	json_object_foreach((json_t *)json_object_get(st, "loss"), k, v)
		json_object_foreach(v, k2, v2)
			if (json_is_number(v2))
				metrics_sample(b, "vigil_events_lost_total",
					       (const char *[]){ "type", k, "cause", k2, NULL }, json_number_value(v2));

	one(b, st, "records", 1, "vigil_records_total", "counter", "Ring buffer records vigild handled.");
	one(b, st, "malformed_records", 1, "vigil_records_malformed_total", "counter",
	    "Records dropped because they did not decode.");
	one(b, st, "events_written", 1, "vigil_events_written_total", "counter",
	    "Telemetry records written to events.jsonl.");
	one(b, st, "alerts_written", 1, "vigil_alerts_written_total", "counter",
	    "Alerts written to alerts.jsonl.");
	one(b, st, "log_write_failures", 1, "vigil_log_write_failures_total", "counter",
	    "Writes to the alert or event log that failed.");

	metrics_family(b, "vigil_alerts_total", "counter", "Alerts written, by rule and severity.");
	json_object_foreach((json_t *)json_object_get(st, "alerts_by_rule"), k, v)
		json_object_foreach(v, k2, v2)
			if (json_is_number(v2))
				metrics_sample(b, "vigil_alerts_total",
					       (const char *[]){ "rule", k, "severity", k2, NULL }, json_number_value(v2));

	if (num(st, &x, "process_table", "size", NULL)) {
		metrics_family(b, "vigil_process_table_entries", "gauge", "Processes in the process table.");
		metrics_sample(b, "vigil_process_table_entries", NULL, x);
	}
	if (num(st, &x, "process_table", "evictions", NULL)) {
		metrics_family(b, "vigil_process_table_evictions_total", "counter",
			       "Process-table entries evicted by its bound.");
		metrics_sample(b, "vigil_process_table_evictions_total", NULL, x);
	}
	if (num(st, &x, "hash_cache", "hits", NULL)) {
		metrics_family(b, "vigil_hash_cache_hits_total", "counter", "Executable SHA-256 cache hits.");
		metrics_sample(b, "vigil_hash_cache_hits_total", NULL, x);
	}
	if (num(st, &x, "hash_cache", "misses", NULL)) {
		metrics_family(b, "vigil_hash_cache_misses_total", "counter",
			       "Executable SHA-256 cache misses (files hashed).");
		metrics_sample(b, "vigil_hash_cache_misses_total", NULL, x);
	}
	one(b, st, "bpf_map_bytes", 1, "vigil_bpf_map_bytes", "gauge", "Memory of the sensors' BPF maps.");
	if (num(st, &x, "rss_kb", NULL) && x >= 0) {
		metrics_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
		metrics_sample(b, "process_resident_memory_bytes", NULL, x * 1024);
	}
}

/* Application control (aac engine status): decisions and their latency. */
static void agent_aac(struct metrics_buf *b, const json_t *st)
{
	static const char *const verdicts[][2] = {
		{ "allowed", "allow" }, { "denied", "deny" }, { "errors", "error" }, { "timeouts", "timeout" },
	};
	const json_t *fan = json_object_get(json_object_get(st, "aac"), "fanotify");
	double x;

	if (!json_is_true(json_object_get(fan, "usable")))
		return;
	metrics_family(b, "vigil_aac_decisions_total", "counter",
		       "Application-control permission decisions, by backend and verdict "
		       "(error and timeout: no verdict in time, answered per aac on_error).");
	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (num(fan, &x, verdicts[i][0], NULL))
			metrics_sample(b, "vigil_aac_decisions_total",
				       (const char *[]){ "backend", "fanotify", "verdict", verdicts[i][1], NULL }, x);
	/* the engine keeps a window of recent latencies and reports two quantiles, no buckets */
	metrics_family(b, "vigil_aac_decision_latency_seconds", "summary",
		       "Application-control decision latency over the engine's recent window "
		       "(quantiles only: the engine keeps no histogram).");
	if (num(fan, &x, "decision_p50_us", NULL))
		metrics_sample(b, "vigil_aac_decision_latency_seconds",
			       (const char *[]){ "backend", "fanotify", "quantile", "0.5", NULL }, x / 1e6);
	if (num(fan, &x, "decision_p99_us", NULL))
		metrics_sample(b, "vigil_aac_decision_latency_seconds",
			       (const char *[]){ "backend", "fanotify", "quantile", "0.99", NULL }, x / 1e6);
	if (num(fan, &x, "cache_hits", NULL)) {
		metrics_family(b, "vigil_aac_decision_cache_hits_total", "counter",
			       "Application-control decisions answered from the decision cache.");
		metrics_sample(b, "vigil_aac_decision_cache_hits_total", NULL, x);
	}
}

/* Forwarder (forward engine status): queue depth and failures. */
static void agent_forward(struct metrics_buf *b, const json_t *st)
{
	const json_t *f = json_object_get(st, "forward");
	double x;

	if (!json_is_object(f))
		return;
	metrics_family(b, "vigil_forward_enabled", "gauge", "1 when alerts are forwarded to vigil-scored.");
	metrics_sample(b, "vigil_forward_enabled", NULL, json_is_true(json_object_get(f, "enabled")));
	if (num(f, &x, "spool", "bytes", NULL)) {
		metrics_family(b, "vigil_forward_queue_bytes", "gauge",
			       "Bytes waiting in the forwarder's durable spool.");
		metrics_sample(b, "vigil_forward_queue_bytes", NULL, x);
	}
	if (num(f, &x, "spool", "segments", NULL)) {
		metrics_family(b, "vigil_forward_queue_segments", "gauge", "Segment files in the spool.");
		metrics_sample(b, "vigil_forward_queue_segments", NULL, x);
	}
	if (num(f, &x, "spool", "dropped", NULL)) {
		metrics_family(b, "vigil_forward_queue_dropped_total", "counter",
			       "Records the full spool turned away.");
		metrics_sample(b, "vigil_forward_queue_dropped_total", NULL, x);
	}
	one(b, f, "sent", 1, "vigil_forward_sent_total", "counter", "Alerts delivered to vigil-scored.");
	one(b, f, "failures", 1, "vigil_forward_failures_total", "counter",
	    "Delivery attempts that failed (retried with back-off).");
	one(b, f, "rejected", 1, "vigil_forward_rejected_total", "counter",
	    "Records vigil-scored refused (not retried).");
}

char *metrics_render_agent(const json_t *st)
{
	struct metrics_buf b;

	if (!json_is_object(st)) {
		errno = EINVAL;
		return NULL;
	}
	metrics_buf_init(&b);
	agent_core(&b, st);
	agent_aac(&b, st);
	agent_forward(&b, st);
	return metrics_buf_take(&b);
}
