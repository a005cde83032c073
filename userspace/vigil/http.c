/* The CLI's HTTP client (libcurl): JSON requests to vigil-scored (vigil score, vigil incidents). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "http.h"
#include "util.h"

#define REPLY_MAX (64u << 20)           /* bytes: a larger reply is cut off as an error */

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	struct buf *b = ctx;
	size_t n = sz * nm;
	char *np;

	if (b->n + n > REPLY_MAX || !(np = realloc(b->p, b->n + n + 1)))
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

int cli_http_token(const char *file, char **token)
{
	const char *env = getenv("VIGIL_TOKEN");
	char *t;

	*token = NULL;
	if (!file)
		file = getenv("VIGIL_TOKEN_FILE");
	if (!file) {
		if (env && !(*token = strdup(env)))
			return -ENOMEM;
		return 0;
	}
	if (!(t = util_read_file(file, 4096, NULL))) {
		int err = errno ? errno : EIO;

		fprintf(stderr, "Error: cannot read token file %s: %s\n", file, strerror(err));
		return -err;
	}
	t[strcspn(t, " \t\r\n")] = 0;
	*token = t;
	return 0;
}

int cli_http_path(char *buf, size_t len, const char *base, const char *const *keys, const char *const *vals,
		  size_t n)
{
	CURL *cu = NULL;
	size_t o = snprintf(buf, len, "%s", base);
	int err = 0;

	for (size_t i = 0, k = 0; i < n && !err; i++) {
		char *e;

		if (!vals[i])
			continue;
		if ((!cu && !(cu = curl_easy_init())) || !(e = curl_easy_escape(cu, vals[i], 0))) {
			err = -ENOMEM;
			break;
		}
		o += snprintf(buf + (o < len ? o : len), o < len ? len - o : 0, "%c%s=%s", k++ ? '&' : '?', keys[i], e);
		curl_free(e);
	}
	curl_easy_cleanup(cu);
	if (!err && o >= len)
		err = -ENAMETOOLONG;
	return err;
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK: return 0;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	default: return -EIO;
	}
}

int cli_http_json(const char *server, const char *token, const char *method, const char *path, const json_t *body,
		  long *status, json_t **reply)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL, *h2;
	struct buf b = { 0 };
	char *url = malloc(strlen(server) + strlen(path) + 1), *auth = NULL, *data = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;     /* until the request is built and sent */

	*status = 0;
	*reply = NULL;
	if (!c || !url || asprintf(&auth, "Authorization: Bearer %s", token ? token : "") < 0) {
		auth = NULL;
		goto out;
	}
	strcpy(stpcpy(url, server), path);
	if (!(h = curl_slist_append(NULL, auth)))
		goto out;
	if (body) {
		if (!(data = json_dumps(body, JSON_COMPACT)) ||
		    !(h2 = curl_slist_append(h, "Content-Type: application/json")))
			goto out;
		h = h2;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if ((cc = curl_easy_perform(c)) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		*reply = b.p ? json_loads(b.p, 0, NULL) : NULL;
	}
out:
	if (cc != CURLE_OK)
		fprintf(stderr, "Error: %s%s: %s\n", server, path, curl_easy_strerror(cc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(data);
	free(auth);
	free(url);
	free(b.p);
	return curl_errno(cc);
}

const char *cli_http_reason(const json_t *reply)
{
	const char *s = json_string_value(json_object_get(reply, "error"));

	return s ? s : "unexpected reply";
}
