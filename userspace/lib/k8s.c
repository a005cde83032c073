/* Pod metadata: Kubernetes API list/watch and the kubelet log layout.  See k8s.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "k8s.h"
#include "util.h"

#define K8S_BUCKETS        1024
#define K8S_LIST_MAX       (64u << 20)    /* bytes of one PodList response */
#define K8S_LINE_MAX       (8u << 20)     /* bytes of one watch event */
#define K8S_WATCH_S        300            /* server-side watch timeout (client-go uses 5-10 min) */
#define K8S_BACKOFF_MAX_S  30
#define K8S_PODLOG_RETRY_NS (250ull * 1000000ull)  /* rescans of the log dirs per pod uid */
#define K8S_MISS_SLOTS     64

struct kpod {
	char uid[37];
	char name[254], ns[64];
	bool from_api;
	uint64_t seq;
	struct kpod *next;
};

struct kctr {
	char id[65];
	char pod_uid[37];
	char name[254];
	char image[512];
	bool from_api;
	uint64_t seq;
	struct kctr *next;
};

struct kmiss {
	char uid[37];
	uint64_t at_ns;
};

struct k8s {
	struct k8s_opts o;
	char *api_url, *token_file, *ca_file, *node_name, *pod_log_dir, *ctr_log_dir;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	bool thr_started, stop;
	struct kpod *pods[K8S_BUCKETS];
	struct kctr *ctrs[K8S_BUCKETS];
	uint64_t seq;
	struct kmiss miss[K8S_MISS_SLOTS];
	unsigned miss_next;
	struct k8s_stats st;
};

/* ---------- cache (callers hold mu) ---------- */

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u;    /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % K8S_BUCKETS;
}

/* Copies src (NULL: "") into dst[n], truncating. */
static void copy(char *dst, size_t n, const char *src)
{
	size_t l = src ? strnlen(src, n - 1) : 0;

	if (l)
		memcpy(dst, src, l);
	dst[l] = 0;
}

static struct kpod *pod_find(struct k8s *k, const char *uid)
{
	for (struct kpod *p = k->pods[hash(uid)]; p; p = p->next)
		if (!strcmp(p->uid, uid))
			return p;
	return NULL;
}

static struct kctr *ctr_find(struct k8s *k, const char *id)
{
	for (struct kctr *c = k->ctrs[hash(id)]; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

static void pod_unlink(struct k8s *k, struct kpod *p)
{
	for (struct kpod **pp = &k->pods[hash(p->uid)]; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			free(p);
			k->st.pods--;
			return;
		}
	}
}

static void ctr_unlink(struct k8s *k, struct kctr *c)
{
	for (struct kctr **pp = &k->ctrs[hash(c->id)]; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			free(c);
			k->st.containers--;
			return;
		}
	}
}

/* Removes containers matching the filter: pod uid (NULL: any), API-sourced only, and
 * not among keep[0..nkeep). */
static void ctrs_remove(struct k8s *k, const char *uid, bool api_only, char (*keep)[65], size_t nkeep)
{
	for (size_t b = 0; b < K8S_BUCKETS; b++) {
		struct kctr **pp = &k->ctrs[b];
		while (*pp) {
			struct kctr *c = *pp;
			bool kept = false;
			for (size_t i = 0; i < nkeep && !kept; i++)
				kept = !strcmp(keep[i], c->id);
			if ((!uid || !strcmp(c->pod_uid, uid)) && (!api_only || c->from_api) && !kept) {
				*pp = c->next;
				free(c);
				k->st.containers--;
			} else {
				pp = &c->next;
			}
		}
	}
}

/* Evicts the oldest pod or container when a table is full (bounded, counted). */
static void evict_pod(struct k8s *k)
{
	struct kpod *old = NULL;

	for (size_t b = 0; b < K8S_BUCKETS; b++)
		for (struct kpod *p = k->pods[b]; p; p = p->next)
			if (!old || p->seq < old->seq)
				old = p;
	if (old) {
		pod_unlink(k, old);
		k->st.evictions++;
	}
}

static void evict_ctr(struct k8s *k)
{
	struct kctr *old = NULL;

	for (size_t b = 0; b < K8S_BUCKETS; b++)
		for (struct kctr *c = k->ctrs[b]; c; c = c->next)
			if (!old || c->seq < old->seq)
				old = c;
	if (old) {
		ctr_unlink(k, old);
		k->st.evictions++;
	}
}

static struct kpod *pod_put(struct k8s *k, const char *uid, const char *name, const char *ns, bool api)
{
	struct kpod *p = pod_find(k, uid);

	if (!p) {
		if (k->st.pods >= k->o.max_pods)
			evict_pod(k);
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		copy(p->uid, sizeof(p->uid), uid);
		unsigned h = hash(p->uid);
		p->next = k->pods[h];
		k->pods[h] = p;
		k->st.pods++;
	}
	copy(p->name, sizeof(p->name), name);
	copy(p->ns, sizeof(p->ns), ns);
	p->from_api = api;
	p->seq = ++k->seq;
	return p;
}

static struct kctr *ctr_put(struct k8s *k, const char *id, const char *uid, const char *name,
			    const char *image, bool api)
{
	struct kctr *c = ctr_find(k, id);

	if (!c) {
		if (k->st.containers >= k->o.max_containers)
			evict_ctr(k);
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		copy(c->id, sizeof(c->id), id);
		unsigned h = hash(c->id);
		c->next = k->ctrs[h];
		k->ctrs[h] = c;
		k->st.containers++;
	}
	copy(c->pod_uid, sizeof(c->pod_uid), uid);
	copy(c->name, sizeof(c->name), name);
	if (image || !api)
		copy(c->image, sizeof(c->image), image);
	c->from_api = api;
	c->seq = ++k->seq;
	return c;
}

/* ---------- pod objects ---------- */

int k8s_parse_container_id(const char *s, char id[65])
{
	const char *p = s ? strstr(s, "://") : NULL;

	p = p ? p + 3 : s;
	if (!p || strlen(p) != 64)
		return -EINVAL;
	for (int i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)p[i]))
			return -EINVAL;
		id[i] = tolower((unsigned char)p[i]);
	}
	id[64] = 0;
	return 0;
}

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool valid_uid(const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (n == 0 || n > 36)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)u[i]) && u[i] != '-')
			return false;
	return true;
}

/* Adds, replaces or (del) removes one Pod object.  0 or -EINVAL. */
static int apply_pod(struct k8s *k, json_t *pod, bool del)
{
	static const char *const lists[] = { "initContainerStatuses", "containerStatuses",
					     "ephemeralContainerStatuses" };
	json_t *md = json_object_get(pod, "metadata"), *status = json_object_get(pod, "status");
	const char *name = jstr(md, "name"), *ns = jstr(md, "namespace"), *uid = jstr(md, "uid");
	char keep[64][65], luid[37];
	size_t nkeep = 0;

	if (!json_is_object(pod) || !name || !ns || !valid_uid(uid) ||
	    (status && !json_is_object(status)))
		return -EINVAL;
	copy(luid, sizeof(luid), uid);
	for (char *c = luid; *c; c++)
		*c = tolower((unsigned char)*c);
	if (del) {
		struct kpod *p = pod_find(k, luid);
		if (p)
			pod_unlink(k, p);
		ctrs_remove(k, luid, false, NULL, 0);
		return 0;
	}
	if (!pod_put(k, luid, name, ns, true))
		return -ENOMEM;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_t *arr = json_object_get(status, lists[l]), *cs;
		size_t i;

		json_array_foreach(arr, i, cs) {
			char id[65];
			const char *cid = jstr(cs, "containerID");

			/* no id yet while the container is waiting to be created */
			if (!cid || k8s_parse_container_id(cid, id) || !jstr(cs, "name"))
				continue;
			if (ctr_put(k, id, luid, jstr(cs, "name"), jstr(cs, "image"), true) && nkeep < 64)
				memcpy(keep[nkeep++], id, 65);
		}
	}
	/* restarted containers got new ids: drop the old ones */
	if (nkeep < 64)
		ctrs_remove(k, luid, true, keep, nkeep);
	return 0;
}

static void set_rv(json_t *obj, char *rv, size_t rvlen)
{
	const char *v = jstr(json_object_get(obj, "metadata"), "resourceVersion");

	if (rv && v)
		snprintf(rv, rvlen, "%s", v);
}

int k8s_apply_list(struct k8s *k, const char *body, size_t len, char *rv, size_t rvlen)
{
	json_t *doc = json_loadb(body, len, 0, NULL), *items, *it;
	size_t i;
	int n = 0;

	items = json_object_get(doc, "items");
	if (!json_is_array(items)) {
		pthread_mutex_lock(&k->mu);
		k->st.malformed++;
		pthread_mutex_unlock(&k->mu);
		json_decref(doc);
		return -EINVAL;
	}
	set_rv(doc, rv, rvlen);
	pthread_mutex_lock(&k->mu);
	for (size_t b = 0; b < K8S_BUCKETS; b++) {
		struct kpod **pp = &k->pods[b];
		while (*pp) {
			struct kpod *p = *pp;
			if (p->from_api) {
				*pp = p->next;
				free(p);
				k->st.pods--;
			} else {
				pp = &p->next;
			}
		}
	}
	ctrs_remove(k, NULL, true, NULL, 0);
	json_array_foreach(items, i, it) {
		if (apply_pod(k, it, false))
			k->st.malformed++;
		else
			n++;
	}
	k->st.lists++;
	pthread_mutex_unlock(&k->mu);
	json_decref(doc);
	return n;
}

int k8s_apply_event(struct k8s *k, const char *line, size_t len, char *rv, size_t rvlen)
{
	json_t *ev = json_loadb(line, len, 0, NULL);
	json_t *obj = json_object_get(ev, "object");
	const char *type = jstr(ev, "type");
	int r = -EINVAL;

	pthread_mutex_lock(&k->mu);
	if (!type || !json_is_object(obj)) {
		r = -EINVAL;
	} else if (!strcmp(type, "ERROR")) {
		/* a metav1.Status; 410 Gone: our resourceVersion is too old */
		r = json_integer_value(json_object_get(obj, "code")) == 410 ? -ESTALE : -EPROTO;
	} else if (!strcmp(type, "BOOKMARK")) {
		set_rv(obj, rv, rvlen);
		r = 0;
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED")) {
		r = apply_pod(k, obj, type[0] == 'D');
		if (!r)
			set_rv(obj, rv, rvlen);
	}
	if (r == -EINVAL)
		k->st.malformed++;
	else if (!r)
		k->st.watch_events++;
	pthread_mutex_unlock(&k->mu);
	json_decref(ev);
	return r;
}

/* ---------- kubelet log layout ---------- */

int k8s_parse_podlog_name(const char *name, struct k8s_meta *out)
{
	/* namespaces and pod names are DNS names (no '_'), so the split is unambiguous */
	const char *a = strchr(name, '_'), *b = a ? strchr(a + 1, '_') : NULL;

	if (!a || !b || a == name || b == a + 1 || strchr(b + 1, '_') || !valid_uid(b + 1) ||
	    (size_t)(a - name) >= sizeof(out->ns) || (size_t)(b - a - 1) >= sizeof(out->pod))
		return -EINVAL;
	snprintf(out->ns, sizeof(out->ns), "%.*s", (int)(a - name), name);
	snprintf(out->pod, sizeof(out->pod), "%.*s", (int)(b - a - 1), a + 1);
	copy(out->pod_uid, sizeof(out->pod_uid), b + 1);
	return 0;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

/* Container name of id from "<pod>_<ns>_<container>-<id>.log" in the containers dir.
 * 0, -ENOENT, or -ENOTDIR when the directory cannot be read. */
static int ctrlog_name(const char *dir, const struct k8s_meta *m, const char *id, char *name, size_t len)
{
	char suffix[80], prefix[330];
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = -ENOENT;

	if (!d)
		return -ENOTDIR;
	snprintf(suffix, sizeof(suffix), "-%s.log", id);
	snprintf(prefix, sizeof(prefix), "%s_%s_", m->pod, m->ns);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), pl = strlen(prefix), sl = strlen(suffix);
		if (n > pl + sl && !strncmp(de->d_name, prefix, pl) && ends_with(de->d_name, suffix)) {
			snprintf(name, len, "%.*s", (int)(n - pl - sl), de->d_name + pl);
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

/* Fills out from the log dirs for pod uid (and container id).  0 when the pod was found. */
static int podlog_resolve(struct k8s *k, const char *id, const char *uid, struct k8s_meta *out)
{
	char path[PATH_MAX], suffix[40], cname[254] = "";
	struct k8s_meta m = { 0 };
	struct dirent *de;
	DIR *d = opendir(k->pod_log_dir);
	int found = -ENOENT;

	if (!d)
		return -ENOENT;
	snprintf(suffix, sizeof(suffix), "_%s", uid);
	while ((de = readdir(d))) {
		if (de->d_name[0] != '.' && ends_with(de->d_name, suffix) && !k8s_parse_podlog_name(de->d_name, &m)) {
			found = 0;
			break;
		}
	}
	closedir(d);
	if (found)
		return found;
	if (id && id[0]) {
		int r = k->ctr_log_dir ? ctrlog_name(k->ctr_log_dir, &m, id, cname, sizeof(cname)) : -ENOTDIR;

		if (r == -ENOTDIR) {
			/* no container links: a pod with a single container dir names it */
			int ndirs = 0;
			snprintf(path, sizeof(path), "%s/%s_%s_%s", k->pod_log_dir, m.ns, m.pod, m.pod_uid);
			d = opendir(path);
			while (d && (de = readdir(d))) {
				if (de->d_name[0] != '.' && de->d_type == DT_DIR && ndirs++ == 0)
					copy(cname, sizeof(cname), de->d_name);
			}
			if (d)
				closedir(d);
			if (ndirs != 1)
				cname[0] = 0;
		}
	}
	pthread_mutex_lock(&k->mu);
	if (!pod_find(k, uid) || !pod_find(k, uid)->from_api)
		pod_put(k, uid, m.pod, m.ns, false);
	if (cname[0] && !ctr_find(k, id))
		ctr_put(k, id, uid, cname, NULL, false);
	k->st.podlog_hits++;
	pthread_mutex_unlock(&k->mu);
	copy(out->pod, sizeof(out->pod), m.pod);
	copy(out->ns, sizeof(out->ns), m.ns);
	if (cname[0] && !out->container[0])
		copy(out->container, sizeof(out->container), cname);
	return 0;
}

/* Whether the log dirs may be scanned for uid now (at most every 250 ms per uid). */
static bool podlog_due(struct k8s *k, const char *uid)
{
	uint64_t now = util_boot_ns();
	bool due = true;

	pthread_mutex_lock(&k->mu);
	for (unsigned i = 0; i < K8S_MISS_SLOTS; i++) {
		if (!strcmp(k->miss[i].uid, uid)) {
			due = now - k->miss[i].at_ns >= K8S_PODLOG_RETRY_NS;
			if (due)
				k->miss[i].at_ns = now;
			goto out;
		}
	}
	copy(k->miss[k->miss_next].uid, sizeof(k->miss[0].uid), uid);
	k->miss[k->miss_next].at_ns = now;
	k->miss_next = (k->miss_next + 1) % K8S_MISS_SLOTS;
out:
	pthread_mutex_unlock(&k->mu);
	return due;
}

/* ---------- lookups ---------- */

int k8s_lookup(struct k8s *k, const char *id, const char *uid, struct k8s_meta *out)
{
	struct kctr *c;
	struct kpod *p;
	bool have_pod, have_ctr;

	memset(out, 0, sizeof(*out));
	if (!k)
		return -ENOENT;
	copy(out->pod_uid, sizeof(out->pod_uid), uid);
	pthread_mutex_lock(&k->mu);
	k->st.lookups++;
	c = id && id[0] ? ctr_find(k, id) : NULL;
	if (c) {
		copy(out->container, sizeof(out->container), c->name);
		copy(out->image, sizeof(out->image), c->image);
		copy(out->pod_uid, sizeof(out->pod_uid), c->pod_uid);
	}
	p = out->pod_uid[0] ? pod_find(k, out->pod_uid) : NULL;
	if (p) {
		copy(out->pod, sizeof(out->pod), p->name);
		copy(out->ns, sizeof(out->ns), p->ns);
	}
	have_pod = p != NULL;
	have_ctr = c != NULL || !id || !id[0];
	if (have_pod && have_ctr)
		k->st.hits++;
	pthread_mutex_unlock(&k->mu);
	if ((!have_pod || !have_ctr) && out->pod_uid[0] && k->pod_log_dir && podlog_due(k, out->pod_uid) &&
	    !podlog_resolve(k, id, out->pod_uid, out)) {
		have_pod = true;
		have_ctr = have_ctr || out->container[0];
	}
	if (have_pod && have_ctr)
		return 0;
	return have_pod || c ? -EAGAIN : -ENOENT;
}

int k8s_enrich(struct k8s *k, json_t *obj)
{
	struct k8s_meta m;
	const char *id = jstr(obj, "id"), *uid = jstr(obj, "pod_uid");
	int r;

	if (!k || (!id && !uid))
		return -ENOENT;
	r = k8s_lookup(k, id, uid, &m);
	if (m.pod[0]) {
		json_object_set_new(obj, "pod", json_string(m.pod));
		json_object_set_new(obj, "namespace", json_string(m.ns));
	}
	if (m.pod_uid[0] && !uid)
		json_object_set_new(obj, "pod_uid", json_string(m.pod_uid));
	if (m.container[0])
		json_object_set_new(obj, "name", json_string(m.container));
	if (m.image[0])
		json_object_set_new(obj, "image", json_string(m.image));
	return r;
}

void k8s_get_stats(struct k8s *k, struct k8s_stats *s)
{
	pthread_mutex_lock(&k->mu);
	*s = k->st;
	pthread_mutex_unlock(&k->mu);
}

const char *k8s_api_state_name(enum k8s_api_state s)
{
	switch (s) {
	case K8S_API_OFF: return "off";
	case K8S_API_CONNECTING: return "connecting";
	case K8S_API_OK: return "ok";
	case K8S_API_UNREACHABLE: return "unreachable";
	case K8S_API_FORBIDDEN: return "forbidden";
	}
	return "unknown";
}

/* ---------- API thread ---------- */

struct xfer {
	struct k8s *k;
	char *buf;
	size_t len, cap, max;
	bool watch, relist;
	char *rv;
	size_t rvlen;
};

static size_t on_data(char *ptr, size_t sz, size_t nm, void *ud)
{
	struct xfer *x = ud;
	size_t n = sz * nm;

	if (x->len + n + 1 > x->cap) {
		size_t ncap = x->cap ? x->cap : 65536;
		while (ncap < x->len + n + 1)
			ncap *= 2;
		if (ncap > x->max + 1)
			return 0;    /* over the bound: abort the transfer */
		char *nb = realloc(x->buf, ncap);
		if (!nb)
			return 0;
		x->buf = nb;
		x->cap = ncap;
	}
	memcpy(x->buf + x->len, ptr, n);
	x->len += n;
	if (x->watch) {
		char *s = x->buf, *nl;
		while ((nl = memchr(s, '\n', x->buf + x->len - s))) {
			int r = nl > s ? k8s_apply_event(x->k, s, nl - s, x->rv, x->rvlen) : 0;

			s = nl + 1;
			if (r == -ESTALE || r == -EPROTO) {
				x->relist = true;    /* an ERROR event: end this watch, list again */
				return 0;
			}
		}
		memmove(x->buf, s, x->buf + x->len - s);
		x->len = x->buf + x->len - s;
	}
	return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct xfer *x = ud;
	bool stop;

	pthread_mutex_lock(&x->k->mu);
	stop = x->k->stop;
	pthread_mutex_unlock(&x->k->mu);
	return stop;
}

static void set_state(struct k8s *k, enum k8s_api_state s, long http, const char *fmt, const char *detail)
{
	pthread_mutex_lock(&k->mu);
	k->st.api = s;
	k->st.last_http_status = http;
	if (s != K8S_API_OK)
		k->st.api_errors++;
	snprintf(k->st.last_error, sizeof(k->st.last_error), fmt ? fmt : "", detail ? detail : "");
	pthread_mutex_unlock(&k->mu);
}

/* One GET; 0 with *http set, or a curl error.  x receives the body. */
static CURLcode get(struct k8s *k, const char *url, struct xfer *x, long timeout_s, long *http)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	CURLcode cr;
	char *tok = NULL;

	*http = 0;
	if (!c)
		return CURLE_OUT_OF_MEMORY;
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (k->token_file && (tok = util_read_file(k->token_file, 65536, NULL))) {
		char *auth;
		tok[strcspn(tok, "\r\n")] = 0;
		if (asprintf(&auth, "Authorization: Bearer %s", tok) > 0) {
			hdr = curl_slist_append(hdr, auth);
			explicit_bzero(auth, strlen(auth));
			free(auth);
		}
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (k->ca_file && access(k->ca_file, R_OK) == 0)
		curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return cr;
}

/* Sleeps up to s seconds; false when asked to stop. */
static bool nap(struct k8s *k, int s)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	pthread_mutex_lock(&k->mu);
	while (!k->stop && pthread_cond_timedwait(&k->cv, &k->mu, &ts) != ETIMEDOUT)
		;
	stop = k->stop;
	pthread_mutex_unlock(&k->mu);
	return !stop;
}

static void fail(struct k8s *k, CURLcode cr, long http, const char *what)
{
	char msg[128];

	if (cr != CURLE_OK && http == 0)
		snprintf(msg, sizeof(msg), "%s: %s", what, curl_easy_strerror(cr));
	else
		snprintf(msg, sizeof(msg), "%s: HTTP %ld", what, http);
	set_state(k, http == 401 || http == 403 ? K8S_API_FORBIDDEN : K8S_API_UNREACHABLE, http, "%s", msg);
}

static void *api_thread(void *arg)
{
	struct k8s *k = arg;
	char base[2048], url[2600], rv[128];
	char *node = NULL;
	int backoff = 1;

	if (k->node_name) {
		CURL *c = curl_easy_init();
		char *e = c ? curl_easy_escape(c, k->node_name, 0) : NULL;
		if (e)
			node = strdup(e);
		curl_free(e);
		curl_easy_cleanup(c);
	}
	snprintf(base, sizeof(base), "%s/api/v1/pods?%s%s%s", k->api_url,
		 node ? "fieldSelector=spec.nodeName%3D" : "", node ? node : "", node ? "&" : "");
	free(node);
	for (;;) {
		struct xfer x = { .k = k, .max = K8S_LIST_MAX };
		long http;
		CURLcode cr;
		int n;

		if (!nap(k, 0))
			break;
		rv[0] = 0;
		snprintf(url, sizeof(url), "%sresourceVersion=0", base);   /* served from the API cache */
		cr = get(k, url, &x, 60, &http);
		n = cr == CURLE_OK && http == 200 ? k8s_apply_list(k, x.buf ? x.buf : "", x.len, rv, sizeof(rv)) : -1;
		free(x.buf);
		if (n < 0) {
			if (cr == CURLE_ABORTED_BY_CALLBACK)
				break;
			if (cr == CURLE_OK && http == 200)
				set_state(k, K8S_API_UNREACHABLE, http, "%s", "pod list: not a PodList");
			else
				fail(k, cr, http, "pod list");
			if (!nap(k, backoff))
				break;
			backoff = backoff * 2 > K8S_BACKOFF_MAX_S ? K8S_BACKOFF_MAX_S : backoff * 2;
			continue;
		}
		set_state(k, K8S_API_OK, http, NULL, NULL);
		backoff = 1;
		/* watch from the list's version until it ends, fails or asks for a relist */
		for (;;) {
			struct xfer w = { .k = k, .max = K8S_LINE_MAX, .watch = true, .rv = rv, .rvlen = sizeof(rv) };
			snprintf(url, sizeof(url), "%swatch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s",
				 base, K8S_WATCH_S, rv);
			cr = get(k, url, &w, K8S_WATCH_S + 30, &http);
			/* the last line may lack its newline when the server closes */
			int er = w.len && !w.relist ? k8s_apply_event(k, w.buf, w.len, rv, sizeof(rv)) : 0;
			free(w.buf);
			if (cr == CURLE_ABORTED_BY_CALLBACK)
				goto out;
			if (w.relist)
				break;
			if (cr != CURLE_OK || http != 200) {
				fail(k, cr, http, "pod watch");
				if (!nap(k, backoff))
					goto out;
				break;
			}
			if (er == -ESTALE || er == -EPROTO || !rv[0])
				break;
		}
	}
out:
	return NULL;
}

/* ---------- lifecycle ---------- */

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

struct k8s *k8s_new(const struct k8s_opts *o)
{
	struct k8s *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return NULL;
	k->o = *o;
	if (!k->o.max_pods)
		k->o.max_pods = K8S_DEFAULT_MAX_PODS;
	if (!k->o.max_containers)
		k->o.max_containers = K8S_DEFAULT_MAX_CONTAINERS;
	k->api_url = dup_or_null(o->api_url);
	k->token_file = dup_or_null(o->token_file);
	k->ca_file = dup_or_null(o->ca_file);
	k->node_name = dup_or_null(o->node_name);
	k->pod_log_dir = dup_or_null(o->pod_log_dir);
	k->ctr_log_dir = dup_or_null(o->container_log_dir);
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	if (k->api_url) {
		size_t n = strlen(k->api_url);
		while (n > 0 && k->api_url[n - 1] == '/')
			k->api_url[--n] = 0;
		k->st.api = K8S_API_CONNECTING;
		curl_global_init(CURL_GLOBAL_DEFAULT);
		r = pthread_create(&k->thr, NULL, api_thread, k);
		if (r) {
			k8s_free(k);
			errno = r;
			return NULL;
		}
		k->thr_started = true;
	}
	return k;
}

void k8s_free(struct k8s *k)
{
	if (!k)
		return;
	if (k->thr_started) {
		pthread_mutex_lock(&k->mu);
		k->stop = true;
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
		pthread_join(k->thr, NULL);
	}
	for (size_t b = 0; b < K8S_BUCKETS; b++) {
		while (k->pods[b]) {
			struct kpod *p = k->pods[b];
			k->pods[b] = p->next;
			free(p);
		}
		while (k->ctrs[b]) {
			struct kctr *c = k->ctrs[b];
			k->ctrs[b] = c->next;
			free(c);
		}
	}
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	free(k->api_url);
	free(k->token_file);
	free(k->ca_file);
	free(k->node_name);
	free(k->pod_log_dir);
	free(k->ctr_log_dir);
	free(k);
}
