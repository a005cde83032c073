/*
 * The forwarder engine: alerts written by the agent go to a durable spool
 * (forward_spool.c); a sender thread posts them in batches to vigil-scored
 * with libcurl (connect and total timeouts, exponential backoff with jitter
 * on failure), posts the latest posture snapshot, and fetches JIT requests
 * placed on the service for this host.  Requests are applied on the agent's
 * thread through the JIT engine's own validation (jit_request_apply) and the
 * results posted back.  See forward.h.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <curl/curl.h>

#include "engine.h"
#include "forward.h"
#include "jit.h"
#include "jsonx.h"
#include "log.h"
#include "util.h"

/* Hook into the JIT engine (jit.c): weak, so an agent built without it still links;
 * a request then comes back refused with a reason. */
#pragma weak jit_request_apply

#define RESP_MAX        (4u << 20)
#define BACKOFF_MIN_MS  1000
#define BACKOFF_MAX_MS  (60 * 1000)     /* as Filebeat's backoff.max: a returning service gets the backlog within a minute */
#define BATCH_WAIT_MS   100          /* after the first new alert, wait this long to fill a batch */
#define JIT_SEEN_MAX    4096

/* ------------------------------------------------------------------ policy */

static const struct fwd_config fwd_defaults = {
	.batch = 100,
	.spool_max_bytes = 64ull << 20,
	.interval_s = 10,
	.connect_timeout_ms = 3000,
	.timeout_ms = 10000,
	.posture_interval_s = 3600,
	.fim_max_age_s = 30 * 86400,
	.allowlist_max_age_s = 90 * 86400,
};

void forward_config_free(void *p)
{
	struct fwd_config *c = p;

	if (!c)
		return;
	free(c->url);
	free(c->token_file);
	free(c->ca_file);
	free(c->sysctl_dir);
	free(c);
}

const struct fwd_config *forward_config_of(const struct vigil_policy *pol)
{
	static const struct fwd_config off = {
		.batch = 100, .spool_max_bytes = 64ull << 20, .interval_s = 10,
		.connect_timeout_ms = 3000, .timeout_ms = 10000, .posture_interval_s = 3600,
		.fim_max_age_s = 30 * 86400, .allowlist_max_age_s = 90 * 86400,
	};
	const struct fwd_config *c = pol ? pol->feature[POLICY_FORWARD] : NULL;

	return c ? c : &off;
}

static int get_u64(const struct policy_ctx *c, const char *jpath, const json_t *obj, const char *key,
		   json_int_t min, json_int_t max, uint64_t *out)
{
	json_int_t n = (json_int_t)*out;
	int r = policy_get_int(c, jpath, obj, key, min, max, &n);

	if (!r)
		*out = (uint64_t)n;
	return r;
}

static int get_u32(const struct policy_ctx *c, const char *jpath, const json_t *obj, const char *key,
		   json_int_t min, json_int_t max, uint32_t *out)
{
	uint64_t v = *out;
	int r = get_u64(c, jpath, obj, key, min, max, &v);

	*out = (uint32_t)v;
	return r;
}

int forward_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out)
{
	static const char *const keys[] = { "url", "token_file", "ca_file", "batch", "spool_max_bytes",
		"interval_s", "connect_timeout_ms", "timeout_ms", "posture", NULL };
	static const char *const pkeys[] = { "interval_s", "sysctl_dir", "fim_max_age_s",
		"allowlist_max_age_s", NULL };
	struct fwd_config *f = calloc(1, sizeof(*f));
	char jp[1024];
	int r;

	if (!f)
		return -ENOMEM;
	*f = fwd_defaults;
	if (!(f->sysctl_dir = strdup("/etc/sysctl.d"))) {
		free(f);
		return -ENOMEM;
	}
	if (!v)
		goto done;
	if ((r = policy_check_object(c, jpath, v, keys)) < 0)
		goto fail;
	if ((r = policy_get_string(c, jpath, v, "url", POLICY_STR_NULLABLE, 1024, &f->url)) < 0 ||
	    (r = policy_get_string(c, jpath, v, "token_file", POLICY_STR_ABSPATH, PATH_MAX, &f->token_file)) < 0 ||
	    (r = policy_get_string(c, jpath, v, "ca_file", POLICY_STR_ABSPATH | POLICY_STR_NULLABLE, PATH_MAX,
				   &f->ca_file)) < 0)
		goto fail;
	if (f->url && strncmp(f->url, "http://", 7) && strncmp(f->url, "https://", 8)) {
		policy_jpath_key(jp, sizeof(jp), jpath, "url");
		r = policy_fail(c, jp, "expected an http:// or https:// URL, got \"%s\"", f->url);
		goto fail;
	}
	if (f->url && !f->token_file) {
		policy_jpath_key(jp, sizeof(jp), jpath, "url");
		r = policy_fail(c, jp, "forwarding needs \"token_file\" (the host's bearer token)");
		goto fail;
	}
	if ((r = get_u32(c, jpath, v, "batch", 1, 10000, &f->batch)) < 0 ||
	    (r = get_u64(c, jpath, v, "spool_max_bytes", 64 << 10, 1ll << 36, &f->spool_max_bytes)) < 0 ||
	    (r = get_u32(c, jpath, v, "interval_s", 1, 86400, &f->interval_s)) < 0 ||
	    (r = get_u32(c, jpath, v, "connect_timeout_ms", 100, 60000, &f->connect_timeout_ms)) < 0 ||
	    (r = get_u32(c, jpath, v, "timeout_ms", 500, 600000, &f->timeout_ms)) < 0)
		goto fail;
	{
		const json_t *p = json_object_get(v, "posture");
		if (p) {
			const char *pj = jp;
			policy_jpath_key(jp, sizeof(jp), jpath, "posture");
			if ((r = policy_check_object(c, pj, p, pkeys)) < 0)
				goto fail;
			if ((r = get_u32(c, pj, p, "interval_s", 10, 7 * 86400, &f->posture_interval_s)) < 0 ||
			    (r = get_u32(c, pj, p, "fim_max_age_s", 3600, 3650 * 86400, &f->fim_max_age_s)) < 0 ||
			    (r = get_u32(c, pj, p, "allowlist_max_age_s", 3600, 3650 * 86400,
					 &f->allowlist_max_age_s)) < 0 ||
			    (r = policy_get_string(c, pj, p, "sysctl_dir", POLICY_STR_ABSPATH, PATH_MAX,
						   &f->sysctl_dir)) < 0)
				goto fail;
		}
	}
done:
	*out = f;
	return 0;
fail:
	forward_config_free(f);
	return r;
}

/* ------------------------------------------------------------------ engine state */

struct forward {
	struct agent *a;
	char dir[PATH_MAX];
	struct fwd_spool *spool;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool th_started, stop, wake;

	/* copy of the config the sender uses (under mu) */
	char *url, *token, *ca_file;
	uint32_t batch, interval_s, connect_ms, timeout_ms;

	uint64_t posture_gen;            /* bumped for each submitted snapshot */
	json_t *jit_in;                  /* fetched requests for the agent thread */
	json_t *jit_out;                 /* results to post */
	json_t *jit_seen;                /* request ids already applied: {id: result} */

	/* counters (under mu) */
	uint64_t sent, batches, failures, rejected, posture_sent, jit_applied, jit_refused;
	uint64_t last_ok_ns;
	uint32_t backoff_ms;
	char last_error[256];
};

static void set_error(struct forward *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct forward *f, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&f->mu);
	va_start(ap, fmt);
	vsnprintf(f->last_error, sizeof(f->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&f->mu);
}

/* ------------------------------------------------------------------ HTTP */

struct buf {
	char *p;
	size_t n;
	bool over;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	struct buf *b = ctx;
	size_t n = sz * nm;

	if (b->over || b->n + n > RESP_MAX) {
		b->over = true;
		return n;
	}
	char *np = realloc(b->p, b->n + n + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

struct conn {
	char *url, *token, *ca_file;
	uint32_t connect_ms, timeout_ms;
};

/* One request.  Returns the HTTP status (>= 100) or -errno for transport errors
 * (reason in err); *resp gets the parsed JSON body when resp is non-NULL. */
static long http(CURL *c, const struct conn *k, const char *method, const char *path, const char *body,
		 json_t **resp, char *err, size_t errlen)
{
	char url[2048], auth[400];
	struct curl_slist *h = NULL;
	struct buf b = { 0 };
	long status = 0;
	CURLcode cc;

	snprintf(url, sizeof(url), "%s%s", k->url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k->token ? k->token : "");
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)k->connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (k->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	cc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s %.200s%s: %s", method, k->url, path, curl_easy_strerror(cc));
		free(b.p);
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (resp)
		*resp = b.p ? json_loads(b.p, 0, NULL) : NULL;
	if (status >= 300) {
		json_t *e = b.p ? json_loads(b.p, 0, NULL) : NULL;
		snprintf(err, errlen, "%s %s: HTTP %ld%s%s", method, path, status, e ? ": " : "",
			 e ? (json_string_value(json_object_get(e, "error")) ?: "") : "");
		json_decref(e);
	}
	free(b.p);
	return status;
}

static bool is_ok(long st)
{
	return st >= 200 && st < 300;
}

/* Client errors that retrying cannot fix (the batch itself is bad). */
static bool is_poison(long st)
{
	return st == 400 || st == 413 || st == 422;
}

/* ------------------------------------------------------------------ sender thread */

static int send_posture(struct forward *f, CURL *c, const struct conn *k, char *err, size_t errlen)
{
	char p[PATH_MAX + 16], *body;
	uint64_t gen;
	long st;

	snprintf(p, sizeof(p), "%s/posture.json", f->dir);
	pthread_mutex_lock(&f->mu);
	gen = f->posture_gen;
	pthread_mutex_unlock(&f->mu);
	if (!(body = util_read_file(p, 16 << 20, NULL)))
		return errno == ENOENT ? 0 : -errno;
	st = http(c, k, "POST", "/api/v1/posture", body, NULL, err, errlen);
	free(body);
	if (!is_ok(st) && !is_poison(st))
		return st < 0 ? (int)st : -EIO;
	pthread_mutex_lock(&f->mu);
	if (f->posture_gen == gen)          /* a newer snapshot stays for the next round */
		unlink(p);
	if (is_ok(st))
		f->posture_sent++;
	else
		f->rejected++;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

/* Sends one batch.  1 when more may be waiting, 0 when the spool is drained, -errno. */
static int send_alerts(struct forward *f, CURL *c, const struct conn *k, uint32_t batch, char *err, size_t errlen)
{
	json_t *items = NULL, *req;
	struct fwd_pos end;
	char *body;
	long st;
	int r = fwd_spool_peek(f->spool, batch, &items, &end);
	size_t n;

	if (r)
		return r;
	n = json_array_size(items);
	if (!n) {
		json_decref(items);
		fwd_spool_commit(f->spool, &end);      /* skips corrupt lines */
		return 0;
	}
	req = json_pack("{s:o}", "alerts", items);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return -ENOMEM;
	st = http(c, k, "POST", "/api/v1/alerts", body, NULL, err, errlen);
	free(body);
	if (!is_ok(st) && !is_poison(st))
		return st < 0 ? (int)st : -EIO;
	/* a poisoned batch is dropped (and counted), otherwise it would block the spool forever */
	fwd_spool_commit(f->spool, &end);
	pthread_mutex_lock(&f->mu);
	if (is_ok(st)) {
		f->sent += n;
		f->batches++;
		f->last_ok_ns = util_now_ns();
	} else {
		f->rejected += n;
	}
	pthread_mutex_unlock(&f->mu);
	return n >= batch;
}

static int send_jit_results(struct forward *f, CURL *c, const struct conn *k, char *err, size_t errlen)
{
	for (;;) {
		json_t *res;
		char path[160], *body;
		long st;

		pthread_mutex_lock(&f->mu);
		res = json_array_size(f->jit_out) ? json_incref(json_array_get(f->jit_out, 0)) : NULL;
		pthread_mutex_unlock(&f->mu);
		if (!res)
			return 0;
		snprintf(path, sizeof(path), "/api/v1/jit/%lld/result",
			 (long long)json_integer_value(json_object_get(res, "id")));
		body = json_dumps(res, JSON_COMPACT);
		json_decref(res);
		st = body ? http(c, k, "POST", path, body, NULL, err, errlen) : -ENOMEM;
		free(body);
		if (!is_ok(st) && !is_poison(st) && st != 404 && st != 409)
			return st < 0 ? (int)st : -EIO;
		pthread_mutex_lock(&f->mu);
		json_array_remove(f->jit_out, 0);
		pthread_mutex_unlock(&f->mu);
	}
}

static int fetch_jit(struct forward *f, CURL *c, const struct conn *k, char *err, size_t errlen)
{
	json_t *resp = NULL, *reqs, *v;
	size_t i;
	long st = http(c, k, "GET", "/api/v1/jit/pending", NULL, &resp, err, errlen);

	if (!is_ok(st)) {
		json_decref(resp);
		return st < 0 ? (int)st : -EIO;
	}
	reqs = json_object_get(resp, "requests");
	pthread_mutex_lock(&f->mu);
	json_array_foreach(reqs, i, v)
		if (json_is_object(v) && json_is_integer(json_object_get(v, "id")))
			json_array_append(f->jit_in, v);
	pthread_mutex_unlock(&f->mu);
	json_decref(resp);
	return 0;
}

static void *sender(void *arg)
{
	struct forward *f = arg;
	CURL *c = curl_easy_init();
	uint64_t next_jit = 0;
	uint32_t backoff = 0;
	char err[512];

	if (!c) {
		set_error(f, "cannot initialise libcurl");
		return NULL;
	}
	for (;;) {
		struct conn k;
		uint32_t batch, interval;
		int r = 0, more = 0;

		pthread_mutex_lock(&f->mu);
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		k = (struct conn){ f->url ? strdup(f->url) : NULL, f->token ? strdup(f->token) : NULL,
				   f->ca_file ? strdup(f->ca_file) : NULL, f->connect_ms, f->timeout_ms };
		batch = f->batch;
		interval = f->interval_s;
		pthread_mutex_unlock(&f->mu);

		err[0] = 0;
		if (k.url) {
			r = send_posture(f, c, &k, err, sizeof(err));
			if (!r)
				r = more = send_alerts(f, c, &k, batch, err, sizeof(err));
			if (r >= 0)
				r = send_jit_results(f, c, &k, err, sizeof(err));
			if (r >= 0 && util_boot_ns() >= next_jit) {
				r = fetch_jit(f, c, &k, err, sizeof(err));
				if (r >= 0)
					next_jit = util_boot_ns() + (uint64_t)interval * 1000000000ull;
			}
		}
		free(k.url);
		free(k.token);
		free(k.ca_file);

		uint32_t wait_ms;
		if (r < 0) {
			uint32_t j;
			backoff = backoff ? (backoff >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : backoff * 2) : BACKOFF_MIN_MS;
			if (getrandom(&j, sizeof(j), 0) != sizeof(j))
				j = (uint32_t)util_now_ns();
			wait_ms = backoff / 2 + j % (backoff / 2 + 1);   /* "equal jitter" */
			pthread_mutex_lock(&f->mu);
			f->failures++;
			f->backoff_ms = wait_ms;
			snprintf(f->last_error, sizeof(f->last_error), "%s", err[0] ? err : strerror(-r));
			pthread_mutex_unlock(&f->mu);
			vlog_ratelimited(VLOG_WARN, "forward: %s (retry in %u ms)", err[0] ? err : strerror(-r), wait_ms);
		} else {
			backoff = 0;
			pthread_mutex_lock(&f->mu);
			f->backoff_ms = 0;
			pthread_mutex_unlock(&f->mu);
			if (more > 0)
				continue;
			wait_ms = interval * 1000;
		}

		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&f->mu);
		/* after a failure only the deadline (or stop) ends the wait: no retry storm */
		while (!f->stop && (r < 0 || !f->wake) &&
		       pthread_cond_timedwait(&f->cv, &f->mu, &ts) != ETIMEDOUT)
			;
		bool woke = f->wake;
		f->wake = false;
		pthread_mutex_unlock(&f->mu);
		if (woke && r >= 0) {
			struct timespec d = { 0, BATCH_WAIT_MS * 1000000L };
			nanosleep(&d, NULL);
		}
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* ------------------------------------------------------------------ engine callbacks */

static int read_token(const char *path, char **out, char *err, size_t errlen)
{
	struct stat st;
	char *t;

	if (stat(path, &st)) {
		snprintf(err, errlen, "forward: cannot read token file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "forward: token file %s is accessible to others (mode %04o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (!(t = util_read_file(path, 4096, NULL))) {
		snprintf(err, errlen, "forward: cannot read token file %s: %s", path, strerror(errno));
		return -errno;
	}
	t[strcspn(t, " \t\r\n")] = 0;
	if (!t[0] || strlen(t) > 256) {
		free(t);
		snprintf(err, errlen, "forward: token file %s holds no token", path);
		return -EINVAL;
	}
	*out = t;
	return 0;
}

static void stop_thread(struct forward *f)
{
	if (!f->th_started)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	f->th_started = false;
	f->stop = false;
}

static int fwd_apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct forward *f = st;
	const struct fwd_config *c = forward_config_of(pol);
	char *token = NULL, *url = NULL, *ca = NULL;
	int r;

	if (c->url) {
		if ((r = read_token(c->token_file, &token, err, errlen)))
			return r;
		url = strdup(c->url);
		while (url && strlen(url) > 8 && url[strlen(url) - 1] == '/')
			url[strlen(url) - 1] = 0;
		ca = c->ca_file ? strdup(c->ca_file) : NULL;
		if (!url || (c->ca_file && !ca)) {
			free(token);
			free(url);
			free(ca);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		if (!f->spool) {
			f->spool = fwd_spool_open(f->dir, c->spool_max_bytes);
			if (!f->spool) {
				r = -errno;
				snprintf(err, errlen, "forward: cannot open the spool %s: %s", f->dir, strerror(errno));
				free(token);
				free(url);
				free(ca);
				return r;
			}
		}
		fwd_spool_set_max(f->spool, c->spool_max_bytes);
	}
	pthread_mutex_lock(&f->mu);
	free(f->url);
	free(f->token);
	free(f->ca_file);
	f->url = url;
	f->token = token;
	f->ca_file = ca;
	f->batch = c->batch;
	f->interval_s = c->interval_s;
	f->connect_ms = c->connect_timeout_ms;
	f->timeout_ms = c->timeout_ms;
	f->wake = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (url && !f->th_started) {
		if ((r = pthread_create(&f->th, NULL, sender, f))) {
			snprintf(err, errlen, "forward: cannot start the sender thread: %s", strerror(r));
			return -r;
		}
		f->th_started = true;
	} else if (!url) {
		stop_thread(f);
	}
	return 0;
}

static void fwd_destroy(void *st);

static void *fwd_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct forward *f = calloc(1, sizeof(*f));

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->a = a;
	pthread_mutex_init(&f->mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&f->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	f->jit_in = json_array();
	f->jit_out = json_array();
	f->jit_seen = json_object();
	snprintf(f->dir, sizeof(f->dir), "%s/forward", agent_state_dir(a));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "forward: cannot initialise libcurl");
		fwd_destroy(f);
		return NULL;
	}
	if (fwd_apply(f, pol, err, errlen)) {
		fwd_destroy(f);
		return NULL;
	}
	return f;
}

static void fwd_on_alert(void *st, const json_t *alert)
{
	struct forward *f = st;
	char *line;
	int r;

	if (!f->spool || !f->th_started)
		return;
	if (!(line = jsonx_dump_line(alert)))
		return;
	r = fwd_spool_append(f->spool, line, strlen(line));
	free(line);
	if (r && r != -ENOBUFS)
		vlog_ratelimited(VLOG_ERR, "forward: cannot spool an alert in %s: %s", f->dir, strerror(-r));
	pthread_mutex_lock(&f->mu);
	if (!f->wake) {
		f->wake = true;
		pthread_cond_signal(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

/* JIT requests fetched by the sender are applied here, on the agent's thread. */
static void fwd_tick(void *st, uint64_t boot_ns)
{
	struct forward *f = st;
	json_t *in, *v, *results = json_array();
	size_t i;

	pthread_mutex_lock(&f->mu);
	in = f->jit_in;
	f->jit_in = json_array();
	pthread_mutex_unlock(&f->mu);
	json_array_foreach(in, i, v) {
		json_int_t id = json_integer_value(json_object_get(v, "id"));
		char key[32], reason[512] = "";
		json_t *grant = NULL, *res;
		void *jit = agent_engine(f->a, "jit");
		int r;

		snprintf(key, sizeof(key), "%lld", (long long)id);
		if ((res = json_object_get(f->jit_seen, key))) {
			/* delivered again (our result was lost): report the same outcome */
			json_array_append(results, res);
			continue;
		}
		if (!jit || !jit_request_apply) {
			r = -EOPNOTSUPP;
			snprintf(reason, sizeof(reason), "the JIT engine is not running on this agent");
		} else {
			struct jit_request rq = {
				.port = (int)json_integer_value(json_object_get(v, "port")),
				.proto = json_string_value(json_object_get(v, "protocol")),
				.source = json_string_value(json_object_get(v, "source")),
				.duration_s = json_integer_value(json_object_get(v, "duration_s")),
				.justification = json_string_value(json_object_get(v, "justification")),
			};
			struct jit_requestor who = {
				.uid = 0, .pid = 0,
				.user = json_string_value(json_object_get(v, "requestor")),
				.via = "scored",
			};
			r = jit_request_apply(jit, &rq, &who, &grant, reason, sizeof(reason));
		}
		res = json_pack("{s:I, s:s, s:s?, s:o?}", "id", (json_int_t)id, "status", r ? "refused" : "applied",
				"reason", r ? reason : NULL, "grant", grant);
		if (!res)
			continue;
		pthread_mutex_lock(&f->mu);
		if (r)
			f->jit_refused++;
		else
			f->jit_applied++;
		pthread_mutex_unlock(&f->mu);
		if (json_object_size(f->jit_seen) >= JIT_SEEN_MAX)
			json_object_clear(f->jit_seen);
		json_object_set(f->jit_seen, key, res);
		json_array_append_new(results, res);
	}
	json_decref(in);
	if (json_array_size(results)) {
		pthread_mutex_lock(&f->mu);
		json_array_extend(f->jit_out, results);
		f->wake = true;
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	json_decref(results);
}

static json_t *fwd_status(void *st)
{
	struct forward *f = st;
	struct fwd_spool_stats ss = { 0 };
	char ts[48];
	json_t *o;

	if (f->spool)
		fwd_spool_stats(f->spool, &ss);
	pthread_mutex_lock(&f->mu);
	o = json_pack("{s:b, s:s?, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s?, s:s?}",
		"enabled", f->url != NULL, "url", f->url,
		"spool", "bytes", (json_int_t)ss.bytes, "segments", (json_int_t)ss.segments,
		"appended", (json_int_t)ss.appended, "dropped", (json_int_t)ss.dropped, "corrupt", (json_int_t)ss.corrupt,
		"sent", (json_int_t)f->sent, "batches", (json_int_t)f->batches, "failures", (json_int_t)f->failures,
		"rejected", (json_int_t)f->rejected, "posture_sent", (json_int_t)f->posture_sent,
		"jit_applied", (json_int_t)f->jit_applied, "jit_refused", (json_int_t)f->jit_refused,
		"backoff_ms", (int)f->backoff_ms,
		"last_error", f->last_error[0] ? f->last_error : NULL,
		"last_success", f->last_ok_ns ? util_rfc3339(f->last_ok_ns, ts, sizeof(ts)) : NULL);
	pthread_mutex_unlock(&f->mu);
	return o;
}

static void fwd_destroy(void *st)
{
	struct forward *f = st;

	if (!f)
		return;
	stop_thread(f);
	fwd_spool_close(f->spool);
	free(f->url);
	free(f->token);
	free(f->ca_file);
	json_decref(f->jit_in);
	json_decref(f->jit_out);
	json_decref(f->jit_seen);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

int forward_submit_posture(struct forward *f, const json_t *snapshot)
{
	char p[PATH_MAX + 16], *s;
	int r;

	if (!f || !f->th_started)
		return -ENOTCONN;
	if (!(s = json_dumps(snapshot, JSON_COMPACT)))
		return -ENOMEM;
	snprintf(p, sizeof(p), "%s/posture.json", f->dir);
	pthread_mutex_lock(&f->mu);
	r = util_write_file_atomic(p, s, strlen(s), 0600);
	f->posture_gen++;
	f->wake = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	free(s);
	return r;
}

uint64_t forward_dropped(struct forward *f)
{
	struct fwd_spool_stats ss = { 0 };

	if (f && f->spool)
		fwd_spool_stats(f->spool, &ss);
	return ss.dropped;
}

const struct engine forward_engine = {
	.name = "forward",
	.create = fwd_create,
	.apply = fwd_apply,
	.tick = fwd_tick,
	.status = fwd_status,
	.destroy = fwd_destroy,
	.on_alert = fwd_on_alert,
};
